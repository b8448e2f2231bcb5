//! Path safety: every artifact path is relative, normalized, and stays inside the
//! datastore root, whatever a run name, data-ID value or export entry says.

use std::path::{Component, Path, PathBuf};

/// A path that would leave the datastore root, or is otherwise unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unsafe datastore path {path:?}: {why}")]
pub struct PathError {
    /// The path as given.
    pub path: String,
    /// Why it was refused.
    pub why: &'static str,
}

/// Normalize a datastore-relative path: collapse `.` and empty segments, refuse `..`,
/// absolute paths and NUL bytes. The result can be joined to the root without escaping
/// it.
pub fn safe_relative_path(path: &str) -> Result<PathBuf, PathError> {
    let refuse = |why| {
        Err(PathError {
            path: path.to_owned(),
            why,
        })
    };
    if path.is_empty() {
        return refuse("it is empty");
    }
    if path.contains('\0') {
        return refuse("it contains a NUL byte");
    }
    let mut out = PathBuf::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(c) => out.push(c),
            Component::CurDir => {}
            Component::ParentDir => return refuse("it contains a '..' segment"),
            Component::RootDir | Component::Prefix(_) => return refuse("it is absolute"),
        }
    }
    if out.as_os_str().is_empty() {
        return refuse("it names the root itself");
    }
    Ok(out)
}

/// Where `path` is, resolved as far as it exists (symlinks included) and taken
/// literally beyond: for comparing a destination that may not exist yet with a
/// directory that does.
pub fn resolved_destination(path: &Path) -> std::io::Result<PathBuf> {
    let absolute = std::path::absolute(path)?;
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        match std::fs::canonicalize(existing) {
            Ok(c) => {
                let mut out = c;
                for part in rest.iter().rev() {
                    out.push(part);
                }
                return Ok(out);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (Some(parent), Some(name)) = (existing.parent(), existing.file_name()) else {
                    return Err(e);
                };
                rest.push(name.to_owned());
                existing = parent;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Refuse a destination at or inside `protected` (a datastore root): a copy out of
/// the datastore must never land on, and so truncate or replace, its own sources.
pub fn refuse_inside(destination: &Path, protected: &Path, what: &str) -> std::io::Result<()> {
    let dest = resolved_destination(destination)?;
    let root = std::fs::canonicalize(protected)?;
    if dest.starts_with(&root) {
        return Err(std::io::Error::other(format!(
            "{what} destination {} is inside the repository's datastore {}; choose a directory outside it",
            destination.display(),
            protected.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_paths_are_kept() {
        assert_eq!(
            safe_relative_path("HSC/raw/all/./raw//x.fits").unwrap(),
            PathBuf::from("HSC/raw/all/raw/x.fits")
        );
    }

    #[test]
    fn escapes_are_refused() {
        for bad in ["../x", "a/../../x", "/etc/passwd", "", ".", "a\0b"] {
            assert!(safe_relative_path(bad).is_err(), "{bad:?} accepted");
        }
    }
}

#[cfg(test)]
mod destination_tests {
    use super::*;

    #[test]
    fn destinations_inside_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::os::unix::fs::symlink(&root, dir.path().join("alias")).unwrap();
        for inside in [
            root.clone(),
            root.join("a/new/deeper"),
            dir.path().join("alias/x"),
        ] {
            assert!(
                refuse_inside(&inside, &root, "retrieve").is_err(),
                "{inside:?}"
            );
        }
        assert!(refuse_inside(&dir.path().join("out/x"), &root, "retrieve").is_ok());
        assert_eq!(
            resolved_destination(&dir.path().join("alias/n/m")).unwrap(),
            std::fs::canonicalize(&root).unwrap().join("n/m")
        );
    }
}
