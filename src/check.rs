//! `valet check`: compare the registry's artifact records with the files under the
//! datastore root (existence, size, and with `deep` the checksum), and find what a
//! crash can leave behind: a trash not yet emptied, staging files, files no record
//! knows. `repair` fixes what is safe to fix and says what it could not.

use std::collections::HashSet;
use std::path::Path;

use valet_config::repo_config::{CONFIG_FILE, DEFAULT_SQLITE_FILE};
use valet_datastore::checksum;
use valet_datastore::transfer::STAGING_PREFIX;
use valet_registry::artifacts::{all_artifacts, trash_contents};

use crate::datastore::{empty_trash, Datastore};
use crate::{Repo, RepoError};

/// What a check found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// Discrepancies that remain.
    pub problems: Vec<String>,
    /// What `repair` fixed.
    pub repaired: Vec<String>,
}

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let t = e.file_type()?;
        if t.is_dir() {
            walk(&e.path(), out)?;
        } else {
            out.push(e.path());
        }
    }
    Ok(())
}

/// Check a repository; with `repair`, finish the trash and remove staging and
/// orphaned files first.
pub fn check(repo: &Repo, deep: bool, repair: bool) -> Result<CheckReport, RepoError> {
    let mut report = CheckReport::default();
    let store = Datastore::of(repo)?;
    let pending = {
        let mut c = repo.registry.db.conn()?;
        trash_contents(&mut c)?
    };
    if !pending.is_empty() {
        if repair {
            let r = empty_trash(repo)?;
            report.repaired.push(format!(
                "emptied the trash: {} file(s) deleted, {} kept in use",
                r.deleted, r.kept
            ));
            report.problems.extend(
                r.failed
                    .into_iter()
                    .map(|f| format!("trash: could not delete {f}")),
            );
        } else {
            report.problems.push(format!(
                "{} trashed artifact(s) not yet deleted (an interrupted removal)",
                pending.len()
            ));
        }
    }
    let records = {
        let mut c = repo.registry.db.conn()?;
        all_artifacts(&mut c)?
    };
    // Files in a trash that repair did not empty are accounted for by that problem.
    let mut known: HashSet<std::path::PathBuf> = if repair {
        HashSet::new()
    } else {
        pending.iter().map(|(_, p, _)| store.location(p)).collect()
    };
    for r in &records {
        let file = store.location(&r.path);
        known.insert(file.clone());
        match std::fs::metadata(&file) {
            Err(_) => report.problems.push(format!(
                "dataset {}: file {} is missing",
                r.dataset_id, r.path
            )),
            Ok(m) => {
                if let Some(size) = r.file_size.filter(|s| *s >= 0) {
                    if m.len() as i64 != size {
                        report.problems.push(format!(
                            "dataset {}: file {} has {} bytes, the registry says {size}",
                            r.dataset_id,
                            r.path,
                            m.len()
                        ));
                        continue;
                    }
                }
                if deep {
                    if let Some(want) = &r.checksum {
                        let got = checksum(&file).map_err(|e| RepoError::Invalid(e.to_string()))?;
                        if &got != want {
                            report.problems.push(format!(
                                "dataset {}: file {} checksum differs",
                                r.dataset_id, r.path
                            ));
                        }
                    }
                }
            }
        }
    }
    // The live ObsCore table must say what the registry says.
    let obscore = crate::obscore_live::check_table(repo)?;
    if !obscore.is_empty() {
        if repair {
            let n = crate::obscore_live::update_table(repo)?;
            report
                .repaired
                .push(format!("refilled the ObsCore table ({n} rows)"));
            report
                .problems
                .extend(crate::obscore_live::check_table(repo)?);
        } else {
            report.problems.extend(obscore);
        }
    }
    let mut files = Vec::new();
    if store.root.exists() {
        walk(&store.root, &mut files)
            .map_err(|e| RepoError::Invalid(format!("{}: {e}", store.root.display())))?;
    }
    let own = |p: &Path| {
        p.strip_prefix(&store.root)
            .ok()
            .and_then(|r| r.to_str())
            .is_some_and(|r| r == CONFIG_FILE || r.starts_with(DEFAULT_SQLITE_FILE))
    };
    for f in files {
        if known.contains(&f) || own(&f) {
            continue;
        }
        let staging = f
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(STAGING_PREFIX));
        let what = if staging {
            "staging file of an interrupted write"
        } else {
            "file no dataset knows"
        };
        let shown = f
            .strip_prefix(&store.root)
            .unwrap_or(&f)
            .display()
            .to_string();
        if repair {
            match std::fs::remove_file(&f) {
                Ok(()) => report.repaired.push(format!("removed {what} {shown}")),
                Err(e) => report
                    .problems
                    .push(format!("{what} {shown}: could not remove: {e}")),
            }
        } else {
            report.problems.push(format!("{what}: {shown}"));
        }
    }
    Ok(report)
}
