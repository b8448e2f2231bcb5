//! Which export files an import reads: names and shell globs (`*`, `?`, `[…]` in any
//! path component, relative to the import directory), as a team restoring a
//! repository from per-type export folders writes them
//! (`--export-file 'calexp/_export_*.yaml'`).
//!
//! - A name without wildcards is read as given.
//! - A glob selects the export files it matches: names ending in `.yaml` or `.yml`,
//!   or an edited copy of one (`.yaml.mod`). Other files it matches — `_files.txt`
//!   lists of the files an export refers to, data files — are not export files and
//!   are left out; names starting with `.` only match a component that starts with
//!   `.` too. A glob that selects nothing is an error naming it.
//! - Files come in name order, each once however many patterns select it.
//! - An export file and its edited copy (`X.yaml` and `X.yaml.mod`) are never read
//!   together: they describe the same datasets, so which one the user means is
//!   theirs to say.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use valet_registry::glob::{glob_to_regex, is_glob};

use crate::repo::io_err;
use crate::RepoError;

/// What an edited copy of an export file adds to its name.
const EDITED_COPY_SUFFIX: &str = ".mod";

/// True for the names a glob selects: export files and their edited copies.
fn is_export_name(name: &str) -> bool {
    let name = name.strip_suffix(EDITED_COPY_SUFFIX).unwrap_or(name);
    name.ends_with(".yaml") || name.ends_with(".yml")
}

/// The export files `patterns` select under `directory` (absolute patterns stand
/// alone); with no pattern, `directory/export.yaml`.
pub fn select_export_files(
    directory: &Path,
    patterns: &[String],
) -> Result<Vec<PathBuf>, RepoError> {
    if patterns.is_empty() {
        return Ok(vec![directory.join("export.yaml")]);
    }
    let mut selected = BTreeSet::new();
    for pattern in patterns {
        let path = Path::new(pattern);
        let full = if path.is_absolute() {
            path.to_path_buf()
        } else {
            directory.join(path)
        };
        if !is_glob(pattern) {
            selected.insert(full);
            continue;
        }
        let matches = expand(&full)?;
        if matches.is_empty() {
            return Err(RepoError::Invalid(format!(
                "--export-file {pattern:?} matches no export file in {}",
                directory.display()
            )));
        }
        selected.extend(matches);
    }
    for path in &selected {
        let mut copy = path.clone().into_os_string();
        copy.push(EDITED_COPY_SUFFIX);
        if selected.contains(Path::new(&copy)) {
            return Err(RepoError::Invalid(format!(
                "{} and its edited copy {} are both selected: they hold the same datasets, select one",
                path.display(),
                Path::new(&copy).display()
            )));
        }
    }
    Ok(selected.into_iter().collect())
}

/// The export files a glob path matches, component by component.
fn expand(pattern: &Path) -> Result<Vec<PathBuf>, RepoError> {
    let mut current: Vec<PathBuf> = vec![PathBuf::new()];
    let components: Vec<_> = pattern.components().collect();
    for (i, component) in components.iter().enumerate() {
        let last = i + 1 == components.len();
        let text = component.as_os_str().to_string_lossy();
        if !is_glob(&text) {
            current = current
                .into_iter()
                .map(|p| p.join(component))
                .filter(|p| if last { p.is_file() } else { p.exists() })
                .collect();
            continue;
        }
        let re = glob_to_regex(&text)?;
        let hidden_ok = text.starts_with('.');
        let mut next = Vec::new();
        for dir in &current {
            let listing = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir.as_path()
            };
            // A file where a directory was expected matches nothing below it.
            if !listing.is_dir() {
                continue;
            }
            let entries = std::fs::read_dir(listing).map_err(io_err(listing))?;
            for entry in entries {
                let entry = entry.map_err(io_err(listing))?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                if (name.starts_with('.') && !hidden_ok) || !re.is_match(name) {
                    continue;
                }
                let path = dir.join(name);
                let keep = if last {
                    path.is_file() && is_export_name(name)
                } else {
                    path.is_dir()
                };
                if keep {
                    next.push(path);
                }
            }
        }
        current = next;
    }
    current.sort();
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, rel: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "").unwrap();
    }

    #[test]
    fn globs_select_export_files_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "raw/_export_001.yaml",
            "raw/_export_000.yaml",
            "calexp/_export_000.yaml",
            "bfk/_export_000.yaml",
            "bfk/_export_000.yaml.mod",
            "bfk/_files.txt",
            "bfk/.hidden.yaml",
        ] {
            touch(root, f);
        }
        let rel = |paths: Vec<PathBuf>| -> Vec<String> {
            paths
                .iter()
                .map(|p| p.strip_prefix(root).unwrap().display().to_string())
                .collect()
        };
        let got = select_export_files(
            root,
            &["raw/_export_*.yaml".into(), "*/_export_000.yaml".into()],
        )
        .unwrap();
        assert_eq!(
            rel(got),
            [
                "bfk/_export_000.yaml",
                "calexp/_export_000.yaml",
                "raw/_export_000.yaml",
                "raw/_export_001.yaml"
            ]
        );
        // The edited copy alone, by its own glob.
        let got = select_export_files(root, &["bfk/*.mod".into()]).unwrap();
        assert_eq!(rel(got), ["bfk/_export_000.yaml.mod"]);
        // `_files.txt` is no export file; an original with its edited copy is refused.
        let err = select_export_files(root, &["bfk/*".into()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("_export_000.yaml.mod are both selected"),
            "{err}"
        );
        let err = select_export_files(root, &["bfk/*.txt".into()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--export-file \"bfk/*.txt\" matches no export file"),
            "{err}"
        );
        let err = select_export_files(root, &["nowhere/*.yaml".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"nowhere/*.yaml\""), "{err}");
        assert_eq!(
            select_export_files(root, &[]).unwrap(),
            [root.join("export.yaml")]
        );
    }
}
