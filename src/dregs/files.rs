//! The file side of named datasets: copying a file or a directory tree in (staged,
//! journaled and taken back on failure, as every datastore write), inspecting data
//! already in place, and removing the files of a deleted dataset.

use std::path::{Path, PathBuf};

use valet_datastore::transfer::{checksum, checksum_bytes};
use valet_datastore::{TransferMode, WriteLog};
use valet_dregs::{DataFacts, FileFact};

use crate::repo::io_err;
use crate::RepoError;

/// The directory below the datastore root that holds named datasets' areas.
pub const AREA_ROOT: &str = "dregs";

/// The path, relative to the datastore root, of a location `<owner_type>/<owner>/…`.
pub fn stored_path(location: &str) -> String {
    format!("{AREA_ROOT}/{location}")
}

fn ctime_ns(meta: &std::fs::Metadata) -> i64 {
    use std::os::unix::fs::MetadataExt;
    meta.ctime()
        .saturating_mul(1_000_000_000)
        .saturating_add(meta.ctime_nsec())
}

/// Every regular file below `dir` (symbolic links inside followed, as DESC's copy
/// does), as paths relative to `dir`, sorted.
fn tree_files(dir: &Path) -> Result<Vec<PathBuf>, RepoError> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    let mut seen_dirs = std::collections::HashSet::new();
    while let Some(rel) = stack.pop() {
        let here = dir.join(&rel);
        let real = std::fs::canonicalize(&here).map_err(io_err(&here))?;
        if !seen_dirs.insert(real) {
            return Err(RepoError::Invalid(format!(
                "{}: a symbolic link loops back into the tree being registered",
                here.display()
            )));
        }
        for entry in std::fs::read_dir(&here).map_err(io_err(&here))? {
            let entry = entry.map_err(io_err(&here))?;
            let path = entry.path();
            let meta = std::fs::metadata(&path).map_err(io_err(&path))?;
            let sub = rel.join(entry.file_name());
            if meta.is_dir() {
                stack.push(sub);
            } else if meta.is_file() {
                out.push(sub);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn whole_checksum(files: &[FileFact], single: bool, base: &str) -> Option<String> {
    if single {
        return files.first().and_then(|f| f.checksum.clone());
    }
    let mut listing = String::new();
    for f in files {
        let rel = f.path.strip_prefix(base).unwrap_or(&f.path);
        listing.push_str(rel.trim_start_matches('/'));
        listing.push('\t');
        listing.push_str(f.checksum.as_deref().unwrap_or(""));
        listing.push('\n');
    }
    Some(checksum_bytes(listing.as_bytes()))
}

/// Refuse a source DESC's registry refuses: missing, a symbolic link, not a file or
/// directory.
pub fn check_source(source: &Path) -> Result<std::fs::Metadata, RepoError> {
    let meta = std::fs::symlink_metadata(source)
        .map_err(|e| RepoError::Invalid(format!("old_location {}: {e}", source.display())))?;
    if meta.file_type().is_symlink() {
        return Err(RepoError::Invalid(format!(
            "old_location {}: the data registry does not support symlinks; give the file or directory itself",
            source.display()
        )));
    }
    if !meta.is_file() && !meta.is_dir() {
        return Err(RepoError::Invalid(format!(
            "old_location {} is neither a file nor a directory",
            source.display()
        )));
    }
    Ok(meta)
}

/// Copy `source` (a file or a directory tree, as [`check_source`] found it: `meta`)
/// to `dest` (relative to the datastore root) through `log`. With `replacing`, files
/// of the dataset being replaced may be overwritten; otherwise anything already at
/// `dest` is refused.
pub fn copy_in(
    log: &mut WriteLog,
    root: &Path,
    source: &Path,
    meta: &std::fs::Metadata,
    dest: &str,
    replacing: bool,
) -> Result<DataFacts, RepoError> {
    if !replacing && std::fs::symlink_metadata(root.join(dest)).is_ok() {
        return Err(RepoError::Invalid(format!(
            "data already exists at {}: the destination of a new dataset must be empty",
            root.join(dest).display()
        )));
    }
    let single = meta.is_file();
    let sources: Vec<(PathBuf, String)> = if single {
        vec![(source.to_owned(), dest.to_owned())]
    } else {
        tree_files(source)?
            .into_iter()
            .map(|rel| {
                let d = format!("{dest}/{}", rel.display());
                (source.join(rel), d)
            })
            .collect()
    };
    let mut files = Vec::with_capacity(sources.len());
    for (src, d) in sources {
        let stored = log.file(&src, &d, TransferMode::Copy, true)?;
        files.push(FileFact {
            path: stored.path,
            size: stored.size,
            checksum: stored.checksum,
        });
    }
    Ok(DataFacts {
        data_org: Some(if single { "file" } else { "directory" }.into()),
        creation_date: Some(ctime_ns(meta)),
        checksum: whole_checksum(&files, single, dest),
        files,
        root_dir: None,
    })
}

/// Describe data already at `dest` (relative to the datastore root): what it is,
/// every file with its size and checksum.
pub fn inspect_in_place(root: &Path, dest: &str) -> Result<DataFacts, RepoError> {
    let path = root.join(dest);
    let meta = std::fs::metadata(&path).map_err(|e| {
        RepoError::Invalid(format!(
            "Dataset {} not found ({e}): register data in place once it is there, or give old_location to copy it in",
            path.display()
        ))
    })?;
    let single = meta.is_file();
    let rels: Vec<(PathBuf, String)> = if single {
        vec![(path.clone(), dest.to_owned())]
    } else {
        tree_files(&path)?
            .into_iter()
            .map(|rel| (path.join(&rel), format!("{dest}/{}", rel.display())))
            .collect()
    };
    let mut files = Vec::with_capacity(rels.len());
    for (abs, rel) in rels {
        let size = std::fs::metadata(&abs).map_err(io_err(&abs))?.len() as i64;
        files.push(FileFact {
            path: rel,
            size,
            checksum: Some(checksum(&abs)?),
        });
    }
    Ok(DataFacts {
        data_org: Some(if single { "file" } else { "directory" }.into()),
        creation_date: Some(ctime_ns(&meta)),
        checksum: whole_checksum(&files, single, dest),
        files,
        root_dir: None,
    })
}

/// Remove these files (relative to `root`), then every directory left empty up to
/// (not including) `AREA_ROOT/<owner_type>/<owner>`. Returns what could not be
/// removed (a later `check --repair` finishes it).
pub fn remove_files(root: &Path, files: &[String]) -> Vec<String> {
    let mut failed = Vec::new();
    let mut dirs = std::collections::BTreeSet::new();
    for f in files {
        let p = root.join(f);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => failed.push(format!("{}: {e}", p.display())),
        }
        let mut d = Path::new(f).parent();
        while let Some(dir) = d {
            // Stop at the owner's area: dregs/<owner_type>/<owner>.
            if dir.components().count() <= 3 {
                break;
            }
            dirs.insert(dir.to_path_buf());
            d = dir.parent();
        }
    }
    // Deepest first; a directory that still holds anything stays.
    for d in dirs.iter().rev() {
        let _ = std::fs::remove_dir(root.join(d));
    }
    failed
}
