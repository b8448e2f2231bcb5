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
