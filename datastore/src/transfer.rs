//! Putting a file into the datastore with the reference's transfer modes. Every mode
//! that writes inside the root writes to a staging name in the destination directory
//! and renames it into place, so a crash never leaves a half-written artifact under
//! its final name (`check --repair` removes stale staging files).

use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use blake2::{Blake2b512, Digest};

use crate::paths::safe_relative_path;

/// Prefix of staging files.
pub const STAGING_PREFIX: &str = ".valet-staging-";

/// How a file gets into the datastore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferMode {
    /// In place if the file is already under the root, else `link`.
    Auto,
    /// Copy.
    Copy,
    /// Move.
    Move,
    /// Hard link, falling back to a symlink.
    Link,
    /// Hard link.
    Hardlink,
    /// Absolute symlink.
    Symlink,
    /// Relative symlink.
    Relsymlink,
    /// No transfer: the absolute path is recorded.
    Direct,
    /// The file is already under the root, where it stays.
    InPlace,
}

impl std::str::FromStr for TransferMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "auto" => TransferMode::Auto,
            "copy" => TransferMode::Copy,
            "move" => TransferMode::Move,
            "link" => TransferMode::Link,
            "hardlink" => TransferMode::Hardlink,
            "symlink" => TransferMode::Symlink,
            "relsymlink" => TransferMode::Relsymlink,
            "direct" => TransferMode::Direct,
            "none" | "inplace" => TransferMode::InPlace,
            _ => {
                return Err(format!(
                    "unknown transfer mode {s:?}: use auto, copy, move, link, hardlink, symlink, relsymlink or direct"
                ))
            }
        })
    }
}

/// A transfer failure, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The destination path is unsafe.
    #[error(transparent)]
    Path(#[from] crate::paths::PathError),
    /// A filesystem operation failed.
    #[error("{path}: {message}")]
    Io {
        /// The file involved.
        path: String,
        /// What happened.
        message: String,
    },
}

fn io(path: &Path, e: impl std::fmt::Display) -> TransferError {
    TransferError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Where an artifact ended up: a path relative to the root, or (for `direct`) an
/// absolute one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Recorded path.
    pub path: String,
    /// Size in bytes.
    pub size: i64,
    /// blake2b-512 hex digest, as the reference's datastore computes it.
    pub checksum: Option<String>,
    /// True if a file (or link) was written under the root; false for `direct` and
    /// in-place transfers.
    pub written: bool,
}

/// The reference's checksum: blake2b (512-bit) of the content, hex.
pub fn checksum(path: &Path) -> Result<String, TransferError> {
    let mut f = fs::File::open(path).map_err(|e| io(path, e))?;
    let mut h = Blake2b512::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

fn relative_target(from_dir: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from_dir.components().collect();
    let to_c: Vec<_> = to.components().collect();
    let common = from
        .iter()
        .zip(to_c.iter())
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to_c[common..] {
        out.push(c);
    }
    out
}

/// Transfer `source` into the datastore at `root`/`relative` (for modes that write),
/// recording size and, when `with_checksum`, the checksum. Refuses to overwrite.
pub fn transfer_file(
    source: &Path,
    root: &Path,
    relative: &str,
    mode: TransferMode,
    with_checksum: bool,
) -> Result<Stored, TransferError> {
    Transfer::new(root)?.file(source, relative, mode, with_checksum)
}

/// Transfers into one datastore root. It remembers the canonical root and the
/// directories it has made, and names staging files uniquely, so many files cost few
/// system calls.
pub struct Transfer {
    root: PathBuf,
    made: HashSet<PathBuf>,
    counter: u64,
    pid: u32,
}

impl Transfer {
    /// Transfers into `root`.
    pub fn new(root: &Path) -> Result<Transfer, TransferError> {
        Ok(Transfer {
            root: fs::canonicalize(root).map_err(|e| io(root, e))?,
            made: HashSet::new(),
            counter: 0,
            pid: std::process::id(),
        })
    }

    /// Transfer one file (see [`transfer_file`]).
    pub fn file(
        &mut self,
        source: &Path,
        relative: &str,
        mode: TransferMode,
        with_checksum: bool,
    ) -> Result<Stored, TransferError> {
        // An absolute path is taken as given (resolving every component costs a
        // system call each, per file); relative ones are resolved.
        let source_abs = if source.is_absolute() {
            source.to_path_buf()
        } else {
            fs::canonicalize(source).map_err(|e| io(source, e))?
        };
        let inside = source_abs.starts_with(&self.root)
            || (mode == TransferMode::Auto
                && fs::canonicalize(&source_abs).is_ok_and(|c| c.starts_with(&self.root)));
        let mode = match mode {
            TransferMode::Auto if inside => TransferMode::InPlace,
            TransferMode::Auto => TransferMode::Link,
            m => m,
        };
        let meta = fs::metadata(&source_abs).map_err(|e| io(source, e))?;
        let sum = |p: &Path| {
            if with_checksum {
                checksum(p).map(Some)
            } else {
                Ok(None)
            }
        };
        match mode {
            TransferMode::Direct => {
                return Ok(Stored {
                    path: source_abs.display().to_string(),
                    size: meta.len() as i64,
                    checksum: sum(&source_abs)?,
                    written: false,
                })
            }
            TransferMode::InPlace => {
                let resolved = fs::canonicalize(&source_abs).map_err(|e| io(source, e))?;
                let rel = resolved.strip_prefix(&self.root).map_err(|_| {
                    io(
                        source,
                        "an in-place transfer needs the file under the datastore root",
                    )
                })?;
                return Ok(Stored {
                    path: rel.display().to_string(),
                    size: meta.len() as i64,
                    checksum: sum(&source_abs)?,
                    written: false,
                });
            }
            _ => {}
        }
        let rel = safe_relative_path(relative)?;
        let dest = self.root.join(&rel);
        if fs::symlink_metadata(&dest).is_ok() {
            return Err(io(&dest, "already exists; refusing to overwrite"));
        }
        let dir = dest.parent().unwrap_or(&self.root).to_path_buf();
        if !self.made.contains(&dir) {
            fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
            self.made.insert(dir.clone());
        }
        self.counter += 1;
        let staging = dir.join(format!("{STAGING_PREFIX}{}-{}", self.pid, self.counter));
        let place = |staging: &Path| match mode {
            TransferMode::Copy => fs::copy(&source_abs, staging).map(|_| ()),
            TransferMode::Move => fs::rename(&source_abs, staging).or_else(|_| {
                fs::copy(&source_abs, staging).and_then(|_| fs::remove_file(&source_abs))
            }),
            TransferMode::Hardlink => fs::hard_link(&source_abs, staging),
            TransferMode::Link => fs::hard_link(&source_abs, staging)
                .or_else(|_| std::os::unix::fs::symlink(&source_abs, staging)),
            TransferMode::Symlink => std::os::unix::fs::symlink(&source_abs, staging),
            TransferMode::Relsymlink => {
                std::os::unix::fs::symlink(relative_target(&dir, &source_abs), staging)
            }
            _ => unreachable!("handled above"),
        };
        match place(&staging) {
            // A staging file left by an earlier crash of a process with our pid.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let _ = fs::remove_file(&staging);
                place(&staging).map_err(|e| io(source, e))?;
            }
            other => other.map_err(|e| io(source, e))?,
        }
        let stored = Stored {
            path: rel.display().to_string(),
            size: meta.len() as i64,
            checksum: sum(&staging)?,
            written: true,
        };
        fs::rename(&staging, &dest).map_err(|e| io(&dest, e))?;
        Ok(stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(&root).unwrap();
        let src_dir = dir.path().join("src");
        fs::create_dir_all(&src_dir).unwrap();
        for (i, mode) in [
            "copy",
            "move",
            "link",
            "hardlink",
            "symlink",
            "relsymlink",
            "direct",
            "auto",
        ]
        .iter()
        .enumerate()
        {
            let src = src_dir.join(format!("f{i}.json"));
            fs::write(&src, b"{\"x\": 1}").unwrap();
            let m: TransferMode = mode.parse().unwrap();
            let s = transfer_file(&src, &root, &format!("a/b/f{i}.json"), m, true).unwrap();
            assert_eq!(s.size, 8, "{mode}");
            assert_eq!(s.checksum.as_ref().map(String::len), Some(128));
            if m == TransferMode::Direct {
                assert!(Path::new(&s.path).is_absolute());
                continue;
            }
            let dest = root.join(&s.path);
            assert_eq!(fs::read(&dest).unwrap(), b"{\"x\": 1}", "{mode}");
            let link = fs::symlink_metadata(&dest)
                .unwrap()
                .file_type()
                .is_symlink();
            assert_eq!(
                link,
                matches!(m, TransferMode::Symlink | TransferMode::Relsymlink),
                "{mode}"
            );
            if m == TransferMode::Relsymlink {
                assert!(fs::read_link(&dest).unwrap().is_relative());
            }
            assert_eq!(src.exists(), m != TransferMode::Move, "{mode}");
        }
        // In place: a file already under the root stays where it is.
        let inside = root.join("x/in.json");
        fs::create_dir_all(inside.parent().unwrap()).unwrap();
        fs::write(&inside, b"1").unwrap();
        let s = transfer_file(&inside, &root, "ignored", TransferMode::Auto, false).unwrap();
        assert_eq!(s.path, "x/in.json");
        // Refusals: overwrite, escape.
        let src = src_dir.join("g.json");
        fs::write(&src, b"2").unwrap();
        assert!(transfer_file(&src, &root, "a/b/f0.json", TransferMode::Copy, false).is_err());
        assert!(transfer_file(&src, &root, "../escape.json", TransferMode::Copy, false).is_err());
        assert!(!dir.path().join("escape.json").exists());
        // No staging files are left behind.
        let staged = fs::read_dir(root.join("a/b")).unwrap().filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(STAGING_PREFIX)
        });
        assert_eq!(staged.count(), 0);
    }
}
