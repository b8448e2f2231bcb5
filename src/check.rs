//! `valet check`: compare the registry's artifact records with the files under the
//! datastore root (existence, size, and with `deep` the checksum), and find what a
//! crash can leave behind: a trash not yet emptied, the journals of writes that died,
//! staging files, files no record knows.
//!
//! Repair (an admin operation) first takes the datastore's repair lock, so no write
//! that may still commit is alive while it works. It then removes only what valet
//! itself wrote and can prove abandoned: the trash, the files listed in dead writers'
//! journals that no record claims (a moved file goes back to where it came from), and
//! staging names. Any other unknown file is listed, and removed only with
//! `remove_orphans`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use valet_config::repo_config::{CONFIG_FILE, DEFAULT_SQLITE_FILE};
use valet_datastore::transfer::STAGING_PREFIX;
use valet_datastore::{checksum, journals, JournalEntry, RepairLock, CONTROL_DIR};
use valet_registry::artifacts::{all_artifacts, trash_contents};

use crate::datastore::empty_trash;
use crate::{Repo, RepoError};

/// What a check found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// Discrepancies that remain.
    pub problems: Vec<String>,
    /// What `repair` fixed (with `dry_run`: what it would fix).
    pub repaired: Vec<String>,
}

/// What [`Repo::check`] does beyond looking.
#[derive(Default)]
pub struct CheckOptions {
    /// Also compare checksums (reads every file).
    pub deep: bool,
    /// Fix what is safe to fix (admins only).
    pub repair: bool,
    /// Also remove files under the root that no dataset knows and valet did not write
    /// (admins only; implies `repair`).
    pub remove_orphans: bool,
    /// Say what repair would do, and change nothing.
    pub dry_run: bool,
    /// Called once if repair has to wait for writes in progress.
    pub waiting: Option<Box<dyn FnOnce()>>,
}

impl std::fmt::Debug for CheckOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckOptions")
            .field("deep", &self.deep)
            .field("repair", &self.repair)
            .field("remove_orphans", &self.remove_orphans)
            .field("dry_run", &self.dry_run)
            .finish()
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
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

/// What repair does with one file, said and (unless a dry run) done.
struct Fixer<'a> {
    root: &'a Path,
    act: bool,
    report: &'a mut CheckReport,
}

impl Fixer<'_> {
    fn shown<'p>(&self, p: &'p Path) -> std::path::Display<'p> {
        p.strip_prefix(self.root).unwrap_or(p).display()
    }

    fn remove(&mut self, what: &str, file: &Path) {
        let shown = self.shown(file).to_string();
        if !self.act {
            self.report
                .repaired
                .push(format!("would remove {what} {shown}"));
            return;
        }
        match std::fs::remove_file(file) {
            Ok(()) => self.report.repaired.push(format!("removed {what} {shown}")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => self
                .report
                .problems
                .push(format!("{what} {shown}: could not remove: {e}")),
        }
    }

    /// A file a dead `move` took from `source`: put it back where the user had it.
    fn put_back(&mut self, file: &Path, source: &Path) {
        let shown = self.shown(file).to_string();
        if !self.act {
            self.report
                .repaired
                .push(format!("would move {shown} back to {}", source.display()));
            return;
        }
        match std::fs::rename(file, source) {
            Ok(()) => self
                .report
                .repaired
                .push(format!("moved {shown} back to {}", source.display())),
            Err(e) => self.report.problems.push(format!(
                "{shown}: could not move it back to {}: {e}",
                source.display()
            )),
        }
    }
}

impl Repo {
    /// Check the repository; with `repair`, first finish the trash and remove what
    /// dead writes left (see the module documentation).
    pub fn check(&self, options: CheckOptions) -> Result<CheckReport, RepoError> {
        let repair = options.repair || options.remove_orphans;
        let act = repair && !options.dry_run;
        let store = self.datastore()?;
        let _lock = if repair {
            self.require_admin("repair the repository")?;
            let waiting = options.waiting;
            Some(RepairLock::acquire(&store.root, move || {
                if let Some(w) = waiting {
                    w()
                }
            })?)
        } else {
            None
        };
        let mut report = CheckReport::default();
        let pending = {
            let mut c = self.registry.db.conn()?;
            trash_contents(&mut c)?
        };
        if !pending.is_empty() {
            if act {
                let r = empty_trash(self)?;
                report.repaired.push(format!(
                    "emptied the trash: {} file(s) deleted, {} kept in use",
                    r.deleted, r.kept
                ));
                report.problems.extend(
                    r.failed
                        .into_iter()
                        .map(|f| format!("trash: could not delete {f}")),
                );
            } else if repair {
                report.repaired.push(format!(
                    "would empty the trash of {} artifact(s)",
                    pending.len()
                ));
            } else {
                report.problems.push(format!(
                    "{} trashed artifact(s) not yet deleted (an interrupted removal)",
                    pending.len()
                ));
            }
        }
        let records = {
            let mut c = self.registry.db.conn()?;
            all_artifacts(&mut c)?
        };
        // Journals name files under the canonical root; so must everything compared.
        let root = std::fs::canonicalize(&store.root).map_err(|e| RepoError::Io {
            path: store.root.display().to_string(),
            source: e,
        })?;
        let locate = |p: &str| {
            let p = Path::new(p);
            if p.is_absolute() {
                p.to_owned()
            } else {
                root.join(p)
            }
        };
        // Files in a trash that repair did not empty are accounted for above.
        let mut known: HashSet<PathBuf> = if act {
            HashSet::new()
        } else {
            pending.iter().map(|(_, p, _)| locate(p)).collect()
        };
        for r in &records {
            let file = locate(&r.path);
            check_artifact(r.into(), &file, options.deep, &mut report)?;
            known.insert(file);
        }
        self.check_named_files(&root, &mut known, options.deep, (repair, act), &mut report)?;
        let handled = self.check_journals(&root, &known, act, repair, &mut report)?;
        // The live ObsCore table must say what the registry says.
        let obscore = self.obscore_problems()?;
        if !obscore.is_empty() {
            if act {
                let n = self.update_obscore_table(None)?;
                report
                    .repaired
                    .push(format!("refilled the ObsCore table ({n} rows)"));
                report.problems.extend(self.obscore_problems()?);
            } else {
                report.problems.extend(obscore);
            }
        }
        self.check_unknown_files(
            &root,
            &known,
            &handled,
            (repair, act, options.remove_orphans),
            &mut report,
        )?;
        Ok(report)
    }

    /// Compare named datasets' files with their records; the files of deleted ones
    /// that no live dataset shares (a deletion interrupted after its commit) are
    /// reported, or removed by repair.
    fn check_named_files(
        &self,
        root: &Path,
        known: &mut HashSet<PathBuf>,
        deep: bool,
        (repair, act): (bool, bool),
        report: &mut CheckReport,
    ) -> Result<(), RepoError> {
        let files = {
            let mut c = self.registry.db.conn()?;
            valet_dregs::removal::all_files(&mut c)?
        };
        let live: HashSet<&str> = files
            .iter()
            .filter(|f| f.live)
            .map(|f| f.path.as_str())
            .collect();
        let mut leftovers = Vec::new();
        for f in &files {
            let file = root.join(&f.path);
            if f.live {
                let expected = Expected {
                    owner: format!("named dataset {}", f.dataset_id),
                    path: &f.path,
                    size: Some(f.size),
                    checksum: f.checksum.as_deref(),
                };
                check_artifact(expected, &file, deep, report)?;
                known.insert(file);
            } else if !live.contains(f.path.as_str()) && std::fs::symlink_metadata(&file).is_ok() {
                known.insert(file);
                leftovers.push(f.path.clone());
            }
        }
        leftovers.dedup();
        if leftovers.is_empty() {
            return Ok(());
        }
        if act {
            let failed = crate::dregs::files::remove_files(root, &leftovers);
            report.repaired.push(format!(
                "removed {} file(s) of deleted named datasets",
                leftovers.len() - failed.len()
            ));
            report.problems.extend(failed);
        } else if repair {
            report.repaired.push(format!(
                "would remove {} file(s) of deleted named datasets",
                leftovers.len()
            ));
        } else {
            report.problems.extend(leftovers.iter().map(|p| {
                format!("file of a deleted named dataset: {p} (check --repair removes it)")
            }));
        }
        Ok(())
    }

    /// Deal with the journals under the datastore: a live writer's files are left
    /// alone (and returned, so the walk skips them); a dead writer's debris is reported,
    /// or with `act` removed (moved files put back) and its journal forgotten.
    fn check_journals(
        &self,
        root: &Path,
        known: &HashSet<PathBuf>,
        act: bool,
        repair: bool,
        report: &mut CheckReport,
    ) -> Result<HashSet<PathBuf>, RepoError> {
        let mut handled = HashSet::new();
        for journal in journals(root)? {
            let mut debris = Vec::new();
            let mut dirs = Vec::new();
            for e in &journal.entries {
                match e {
                    JournalEntry::Dir(d) => dirs.push(d.clone()),
                    JournalEntry::File {
                        staging,
                        dest,
                        moved_from,
                    } => {
                        handled.insert(staging.clone());
                        handled.insert(dest.clone());
                        if journal.live {
                            continue;
                        }
                        if std::fs::symlink_metadata(staging).is_ok() {
                            debris.push((staging.clone(), moved_from.clone()));
                        }
                        if !known.contains(dest) && std::fs::symlink_metadata(dest).is_ok() {
                            debris.push((dest.clone(), moved_from.clone()));
                        }
                    }
                }
            }
            if journal.live {
                continue;
            }
            let mut fix = Fixer { root, act, report };
            for (file, moved_from) in debris {
                if !repair {
                    let shown = fix.shown(&file).to_string();
                    fix.report.problems.push(format!(
                        "file left by an interrupted write: {shown} (check --repair removes it)"
                    ));
                    continue;
                }
                match moved_from {
                    Some(src) if std::fs::symlink_metadata(&src).is_err() => {
                        fix.put_back(&file, &src)
                    }
                    _ => fix.remove("file left by an interrupted write", &file),
                }
            }
            if act {
                // Deepest first; a directory that holds anything stays.
                for d in dirs.iter().rev() {
                    let _ = std::fs::remove_dir(d);
                }
                journal.remove()?;
            }
        }
        Ok(handled)
    }

    /// Walk the datastore for files that no record, trash entry or journal accounts
    /// for: staging names (valet's, and abandoned while repair holds the lock) and
    /// orphans (removed only when asked).
    fn check_unknown_files(
        &self,
        root: &Path,
        known: &HashSet<PathBuf>,
        handled: &HashSet<PathBuf>,
        (repair, act, remove_orphans): (bool, bool, bool),
        report: &mut CheckReport,
    ) -> Result<(), RepoError> {
        let mut files = Vec::new();
        if root.exists() {
            walk(root, &mut files).map_err(|e| RepoError::Io {
                path: root.display().to_string(),
                source: e,
            })?;
        }
        let control = root.join(CONTROL_DIR);
        let own = |p: &Path| {
            p.starts_with(&control)
                || p.strip_prefix(root)
                    .ok()
                    .and_then(|r| r.to_str())
                    .is_some_and(|r| r == CONFIG_FILE || r.starts_with(DEFAULT_SQLITE_FILE))
        };
        let mut fix = Fixer { root, act, report };
        for f in files {
            if known.contains(&f) || handled.contains(&f) || own(&f) {
                continue;
            }
            let staging = f
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(STAGING_PREFIX));
            let shown = fix.shown(&f).to_string();
            if staging && repair {
                fix.remove("staging file of an interrupted write", &f);
            } else if staging {
                fix.report
                    .problems
                    .push(format!("staging file of an interrupted write: {shown}"));
            } else if remove_orphans {
                fix.remove("file no dataset knows", &f);
            } else {
                let hint = if repair {
                    " (not written by valet: --remove-orphans removes it)"
                } else {
                    ""
                };
                fix.report
                    .problems
                    .push(format!("file no dataset knows: {shown}{hint}"));
            }
        }
        Ok(())
    }
}

/// What a file should be, as a record says.
struct Expected<'a> {
    /// Whose file it is, for messages ("dataset <uuid>", "named dataset 7").
    owner: String,
    /// The recorded path.
    path: &'a str,
    /// The recorded size.
    size: Option<i64>,
    /// The recorded checksum.
    checksum: Option<&'a str>,
}

impl<'a> From<&'a valet_registry::artifacts::ArtifactRecord> for Expected<'a> {
    fn from(r: &'a valet_registry::artifacts::ArtifactRecord) -> Expected<'a> {
        Expected {
            owner: format!("dataset {}", r.dataset_id),
            path: &r.path,
            size: r.file_size,
            checksum: r.checksum.as_deref(),
        }
    }
}

/// Compare one record with its file.
fn check_artifact(
    r: Expected<'_>,
    file: &Path,
    deep: bool,
    report: &mut CheckReport,
) -> Result<(), RepoError> {
    let m = match std::fs::metadata(file) {
        Err(_) => {
            report
                .problems
                .push(format!("{}: file {} is missing", r.owner, r.path));
            return Ok(());
        }
        Ok(m) => m,
    };
    if let Some(size) = r.size.filter(|s| *s >= 0) {
        if m.len() as i64 != size {
            report.problems.push(format!(
                "{}: file {} has {} bytes, the registry says {size}",
                r.owner,
                r.path,
                m.len()
            ));
            return Ok(());
        }
    }
    if deep {
        if let Some(want) = r.checksum {
            if checksum(file)? != want {
                report
                    .problems
                    .push(format!("{}: file {} checksum differs", r.owner, r.path));
            }
        }
    }
    Ok(())
}

/// Check a repository (see [`Repo::check`]); `repair` fixes what is safe.
pub fn check(repo: &Repo, deep: bool, repair: bool) -> Result<CheckReport, RepoError> {
    repo.check(CheckOptions {
        deep,
        repair,
        ..Default::default()
    })
}
