//! Putting a file into the datastore with the reference's transfer modes. Every mode
//! that writes inside the root writes to a staging name in the destination directory
//! and renames it into place, so a crash never leaves a half-written artifact under
//! its final name (`check --repair` removes stale staging files).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use blake2::{Blake2b512, Digest};

use crate::journal::{JournalEntry, WriteLease};
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
        // Case does not matter, as in the reference's command line.
        Ok(match s.to_ascii_lowercase().as_str() {
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

impl TransferMode {
    /// The mode for files leaving a repository (an export, a retrieval, a transfer
    /// to another repository): `auto` copies, as the reference's do; `move` and
    /// `inplace` are refused, since the files stay the repository's (and so is
    /// `direct`, unless `direct_ok`: an export may record absolute paths).
    pub fn leaving_repository(self, what: &str, direct_ok: bool) -> Result<TransferMode, String> {
        match self {
            TransferMode::Auto => Ok(TransferMode::Copy),
            TransferMode::Direct if direct_ok => Ok(self),
            TransferMode::Move | TransferMode::InPlace | TransferMode::Direct => Err(format!(
                "{what} cannot use {} mode: the files stay the repository's (copy or link them)",
                self.name()
            )),
            other => Ok(other),
        }
    }

    /// The mode's name as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            TransferMode::Auto => "auto",
            TransferMode::Copy => "copy",
            TransferMode::Move => "move",
            TransferMode::Link => "link",
            TransferMode::Hardlink => "hardlink",
            TransferMode::Symlink => "symlink",
            TransferMode::Relsymlink => "relsymlink",
            TransferMode::Direct => "direct",
            TransferMode::InPlace => "inplace",
        }
    }
}

/// A transfer failure, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The destination path is unsafe.
    #[error(transparent)]
    Path(#[from] crate::paths::PathError),
    /// A source lies outside the directory the transfer may read from.
    #[error("{path} is outside {base}; name it with --allow-outside, or use -t direct to record it where it is")]
    Outside {
        /// The source as given.
        path: String,
        /// The directory it had to be in.
        base: String,
    },
    /// A file template is malformed, or cannot be formatted for a dataset.
    #[error(transparent)]
    Template(#[from] crate::templates::TemplateError),
    /// No file template applies to a dataset type.
    #[error("no file template applies to dataset type {0:?}")]
    NoTemplate(String),
    /// The registry failed while the datastore worked with it (the trash).
    #[error(transparent)]
    Registry(#[from] valet_registry::RegistryError),
    /// A filesystem operation failed.
    #[error("{path}: {message}")]
    Io {
        /// The file involved.
        path: String,
        /// What happened.
        message: String,
    },
}

pub(crate) fn io(path: &Path, e: impl std::fmt::Display) -> TransferError {
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

/// The same checksum of bytes in memory (a directory's listing, for example).
pub fn checksum_bytes(data: &[u8]) -> String {
    let mut h = Blake2b512::new();
    h.update(data);
    hex::encode(h.finalize())
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
    let mut t = Transfer::new(root)?;
    let stored = t.file(source, relative, mode, with_checksum)?;
    t.finish();
    Ok(stored)
}

/// Where a transfer may read from: files under `base`, found without following a
/// symlink out of it; with `allow_absolute`, also any absolute path as given (the user
/// named it).
#[derive(Debug, Clone)]
pub struct SourceRule {
    /// The directory sources must stay inside.
    pub base: PathBuf,
    /// Whether absolute paths are taken as named.
    pub allow_absolute: bool,
}

/// [`SourceRule`] at work: the canonical base and the parent directories already
/// resolved, so each file costs one `lstat` beyond the first in its directory.
pub struct SourceCheck {
    base: PathBuf,
    shown_base: PathBuf,
    allow_absolute: bool,
    parents: HashMap<PathBuf, bool>,
}

impl SourceCheck {
    /// Check sources against `rule`.
    pub fn new(rule: &SourceRule) -> Result<SourceCheck, TransferError> {
        Ok(SourceCheck {
            base: fs::canonicalize(&rule.base).map_err(|e| io(&rule.base, e))?,
            shown_base: rule.base.clone(),
            allow_absolute: rule.allow_absolute,
            parents: HashMap::new(),
        })
    }

    fn outside(&self, source: &Path) -> TransferError {
        TransferError::Outside {
            path: source.display().to_string(),
            base: self.shown_base.display().to_string(),
        }
    }

    /// The absolute path to read `source` at, if it lies inside the base.
    pub fn resolve(&mut self, source: &Path) -> Result<PathBuf, TransferError> {
        if self.allow_absolute && source.is_absolute() {
            return Ok(source.to_path_buf());
        }
        let name = source.file_name().ok_or_else(|| self.outside(source))?;
        let parent = match source.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let canonical_parent = fs::canonicalize(&parent).map_err(|e| io(source, e))?;
        let inside = *self
            .parents
            .entry(parent)
            .or_insert_with(|| canonical_parent.starts_with(&self.base));
        if !inside {
            return Err(self.outside(source));
        }
        let file = canonical_parent.join(name);
        let link = fs::symlink_metadata(&file).map_err(|e| io(source, e))?;
        if link.file_type().is_symlink() {
            let target = fs::canonicalize(&file).map_err(|e| io(source, e))?;
            if !target.starts_with(&self.base) {
                return Err(self.outside(source));
            }
        }
        Ok(file)
    }
}

/// A file a transfer put in place, so that a failed write can take it back.
struct Written {
    dest: PathBuf,
    /// Where a `move` took it from.
    moved_from: Option<PathBuf>,
    /// Where a clobbered file waits until the write is over.
    backup: Option<PathBuf>,
}

/// Transfers into one destination tree: the datastore ([`Transfer::into_datastore`],
/// under a write lease and journal that `check --repair` respects) or any directory
/// ([`Transfer::new`]: exports, retrieved artifacts). It remembers the canonical root
/// and the directories it has checked, names staging files uniquely, never writes
/// through a symlink below the root, and keeps a log of what it made, so a failed
/// write is taken back with [`Transfer::undo`] and a finished one closed with
/// [`Transfer::finish`].
pub struct Transfer {
    root: PathBuf,
    dirs: HashSet<PathBuf>,
    created: Vec<PathBuf>,
    written: Vec<Written>,
    counter: u64,
    pid: u32,
    lease: Option<WriteLease>,
    sources: Option<SourceCheck>,
    clobber: bool,
}

impl Transfer {
    /// Transfers into the directory `root`, which must exist.
    pub fn new(root: &Path) -> Result<Transfer, TransferError> {
        let root = fs::canonicalize(root).map_err(|e| io(root, e))?;
        Ok(Transfer {
            dirs: HashSet::from([root.clone()]),
            root,
            created: Vec::new(),
            written: Vec::new(),
            counter: 0,
            pid: std::process::id(),
            lease: None,
            sources: None,
            clobber: false,
        })
    }

    /// Transfers into the directory `root`, created (with any missing parents) if
    /// need be; what this creates goes again on [`Transfer::undo`].
    pub fn creating(root: &Path) -> Result<Transfer, TransferError> {
        let mut missing = Vec::new();
        let mut p = std::path::absolute(root).map_err(|e| io(root, e))?;
        while fs::symlink_metadata(&p).is_err() {
            missing.push(p.clone());
            if !p.pop() {
                break;
            }
        }
        fs::create_dir_all(root).map_err(|e| io(root, e))?;
        let mut t = Transfer::new(root)?;
        // Outermost last, so the undo (newest first) removes the deepest first.
        t.created = missing.into_iter().rev().collect();
        Ok(t)
    }

    /// Transfers into the datastore at `root`, under a write lease taken now (so take
    /// it before the database transaction whose files these are).
    pub fn into_datastore(root: &Path) -> Result<Transfer, TransferError> {
        let mut t = Transfer::new(root)?;
        t.lease = Some(WriteLease::acquire(&t.root)?);
        Ok(t)
    }

    /// Read only where `rule` allows (`direct` transfers read nothing and are exempt).
    pub fn with_sources(mut self, rule: &SourceRule) -> Result<Transfer, TransferError> {
        self.sources = Some(SourceCheck::new(rule)?);
        Ok(self)
    }

    /// Replace files already at a destination (never a directory, never the source
    /// itself); the old file comes back if the write is undone.
    pub fn with_clobber(mut self, clobber: bool) -> Transfer {
        self.clobber = clobber;
        self
    }

    /// The canonical root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn journal(&mut self, entry: JournalEntry) -> Result<(), TransferError> {
        match &mut self.lease {
            Some(lease) => lease.record(&entry),
            None => Ok(()),
        }
    }

    /// Make `dir` (under the root) a real directory, refusing any symlink on the way.
    fn ensure_dir(&mut self, dir: &Path) -> Result<(), TransferError> {
        if self.dirs.contains(dir) {
            return Ok(());
        }
        let below = dir
            .strip_prefix(&self.root)
            .map_err(|_| io(dir, "outside the destination"))?
            .to_path_buf();
        let mut current = self.root.clone();
        for part in below.components() {
            current.push(part);
            if self.dirs.contains(&current) {
                continue;
            }
            match fs::symlink_metadata(&current) {
                Ok(m) if m.is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(io(
                        &current,
                        "is a symbolic link; refusing to write through it",
                    ))
                }
                Ok(_) => return Err(io(&current, "exists and is not a directory")),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    self.journal(JournalEntry::Dir(current.clone()))?;
                    match fs::create_dir(&current) {
                        Ok(()) => self.created.push(current.clone()),
                        // Made by a concurrent writer: check what it is.
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                            if !fs::symlink_metadata(&current).is_ok_and(|m| m.is_dir()) {
                                return Err(io(&current, "exists and is not a directory"));
                            }
                        }
                        Err(e) => return Err(io(&current, e)),
                    }
                }
                Err(e) => return Err(io(&current, e)),
            }
            self.dirs.insert(current.clone());
        }
        Ok(())
    }

    fn staging_name(&mut self, dir: &Path, what: &str) -> PathBuf {
        self.counter += 1;
        dir.join(format!(
            "{STAGING_PREFIX}{}-{}{what}",
            self.pid, self.counter
        ))
    }

    /// Transfer one file (see [`transfer_file`]).
    pub fn file(
        &mut self,
        source: &Path,
        relative: &str,
        mode: TransferMode,
        with_checksum: bool,
    ) -> Result<Stored, TransferError> {
        let source_abs = match &mut self.sources {
            Some(guard) if mode != TransferMode::Direct => guard.resolve(source)?,
            // An absolute path is taken as given (resolving every component costs a
            // system call each, per file); relative ones are resolved.
            _ if source.is_absolute() => source.to_path_buf(),
            _ => fs::canonicalize(source).map_err(|e| io(source, e))?,
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
        if meta.is_dir() {
            return Err(io(source, "is a directory, not a file"));
        }
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
        let dir = dest.parent().unwrap_or(&self.root).to_path_buf();
        self.ensure_dir(&dir)?;
        let backup = match fs::symlink_metadata(&dest) {
            Err(_) => None,
            Ok(_) if !self.clobber => {
                return Err(io(&dest, "already exists; refusing to overwrite"))
            }
            Ok(m) if m.is_dir() => return Err(io(&dest, "is a directory; refusing to replace it")),
            Ok(m) => {
                if m.dev() == meta.dev() && m.ino() == meta.ino() {
                    return Err(io(
                        &dest,
                        "is the file being transferred; refusing to overwrite it with itself",
                    ));
                }
                // Renamed aside, not opened: a symlink is replaced, never written through.
                let backup = self.staging_name(&dir, ".old");
                fs::rename(&dest, &backup).map_err(|e| io(&dest, e))?;
                Some(backup)
            }
        };
        let staging = self.staging_name(&dir, "");
        let moved_from = (mode == TransferMode::Move).then(|| source_abs.clone());
        self.journal(JournalEntry::File {
            staging: staging.clone(),
            dest: dest.clone(),
            moved_from: moved_from.clone(),
        })?;
        let placed = self
            .place(&source_abs, &staging, &dir, mode)
            .and_then(|()| {
                let stored = Stored {
                    path: rel.display().to_string(),
                    size: meta.len() as i64,
                    checksum: sum(&staging)?,
                    written: true,
                };
                fs::rename(&staging, &dest).map_err(|e| io(&dest, e))?;
                Ok(stored)
            });
        match placed {
            Ok(stored) => {
                self.written.push(Written {
                    dest,
                    moved_from,
                    backup,
                });
                Ok(stored)
            }
            Err(e) => {
                if let Some(src) = &moved_from {
                    let _ = fs::rename(&staging, src);
                }
                let _ = fs::remove_file(&staging);
                if let Some(b) = backup {
                    let _ = fs::rename(b, &dest);
                }
                Err(e)
            }
        }
    }

    /// Put the source at its staging name, as the mode says.
    fn place(
        &self,
        source: &Path,
        staging: &Path,
        dir: &Path,
        mode: TransferMode,
    ) -> Result<(), TransferError> {
        let place = |staging: &Path| match mode {
            TransferMode::Copy => fs::copy(source, staging).map(|_| ()),
            TransferMode::Move => fs::rename(source, staging)
                .or_else(|_| fs::copy(source, staging).and_then(|_| fs::remove_file(source))),
            TransferMode::Hardlink => fs::hard_link(source, staging),
            TransferMode::Link => fs::hard_link(source, staging)
                .or_else(|_| std::os::unix::fs::symlink(source, staging)),
            TransferMode::Symlink => std::os::unix::fs::symlink(source, staging),
            TransferMode::Relsymlink => {
                std::os::unix::fs::symlink(relative_target(dir, source), staging)
            }
            TransferMode::Auto | TransferMode::Direct | TransferMode::InPlace => {
                Err(std::io::Error::other("this mode writes no file"))
            }
        };
        match place(staging) {
            // A staging file left by an earlier crash of a process with our pid.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let _ = fs::remove_file(staging);
                place(staging).map_err(|e| io(source, e))
            }
            other => other.map_err(|e| io(source, e)),
        }
    }

    /// Take back everything this transfer wrote, newest first: moved files go back
    /// to their sources, clobbered files come back, directories it made go if empty.
    pub fn undo(mut self) {
        self.take_back();
        if let Some(lease) = self.lease.take() {
            lease.finish();
        }
    }

    /// [`Transfer::undo`], keeping the lease: for a write that starts again (a
    /// database transaction retried after losing a conflict).
    pub fn take_back(&mut self) {
        for w in self.written.drain(..).rev() {
            match &w.moved_from {
                Some(src) => {
                    let _ = fs::rename(&w.dest, src);
                }
                None => {
                    let _ = fs::remove_file(&w.dest);
                }
            }
            if let Some(b) = &w.backup {
                let _ = fs::rename(b, &w.dest);
            }
        }
        // A directory a concurrent writer has since used is not empty, and stays.
        for d in self.created.drain(..).rev() {
            let _ = fs::remove_dir(&d);
            self.dirs.remove(&d);
        }
    }

    /// The write is complete (its transaction, if any, committed): drop the files a
    /// clobber replaced and release the lease.
    pub fn finish(mut self) {
        for w in &self.written {
            if let Some(b) = &w.backup {
                let _ = fs::remove_file(b);
            }
        }
        if let Some(lease) = self.lease.take() {
            lease.finish();
        }
    }

    /// How many files this transfer has written.
    pub fn written(&self) -> usize {
        self.written.len()
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
