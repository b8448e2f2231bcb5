//! A repository's POSIX datastore: where a dataset's file goes (its template), the
//! file side of one registry write ([`WriteLog`]), and emptying the trash after a
//! removal has committed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use uuid::Uuid;
use valet_config::Universe;
use valet_registry::artifacts::{clear_trash, trash_contents, ArtifactRecord};
use valet_registry::expand::Expanded;
use valet_registry::{DatasetType, Db};

use valet_config::repo_config::TemplateSpec;

use crate::templates::{TemplateContext, Templates};
use crate::transfer::{SourceRule, Transfer, TransferError, TransferMode};

/// The datastore of a repository: its root and its file templates.
pub struct Datastore {
    /// Its root directory.
    pub root: PathBuf,
    templates: Templates,
    /// Whether stored files get a checksum (their size is always recorded).
    checksums: bool,
}

impl Datastore {
    /// The datastore at `root`, with the repository's template overrides.
    pub fn new(
        root: PathBuf,
        overrides: &BTreeMap<String, TemplateSpec>,
    ) -> Result<Datastore, TransferError> {
        Ok(Datastore {
            root,
            templates: Templates::with_overrides(overrides)?,
            checksums: true,
        })
    }

    /// This datastore, storing files without computing their checksums (the
    /// reference's `--no-track-file-attrs`, for large files read in place).
    pub fn without_checksums(mut self) -> Datastore {
        self.checksums = false;
        self
    }

    /// What is wrong with the templates datasets of type `t` would be stored under:
    /// the general one and, for a type with an instrument dimension, each
    /// instrument's override; one line each, none when all are usable.
    pub fn template_problems(&self, universe: &Universe, t: &DatasetType) -> Vec<String> {
        let mut instruments: Vec<Option<&str>> = vec![None];
        if t.dimensions.names().any(|d| d == "instrument") {
            instruments.extend(self.templates.instruments().map(Some));
        }
        let mut problems = Vec::new();
        for instrument in instruments {
            let whose = instrument
                .map(|i| format!(" (instrument {i})"))
                .unwrap_or_default();
            let found = self.templates.lookup(
                universe,
                &t.name,
                &t.dimensions,
                &t.storage_class,
                instrument,
            );
            let problem = match found {
                None => Some("no file template applies".to_owned()),
                Some(template) => template
                    .validate_for(universe, &t.dimensions)
                    .err()
                    .map(|e| e.to_string()),
            };
            if let Some(p) = problem {
                let line = format!("dataset type {}{whose}: {p}", t.name);
                if !problems.contains(&line) {
                    problems.push(line);
                }
            }
        }
        problems
    }

    /// The path (relative to the root, without extension) the templates give a dataset.
    pub fn path_for(
        &self,
        universe: &Universe,
        t: &DatasetType,
        run: &str,
        id: Uuid,
        expanded: &Expanded,
    ) -> Result<String, TransferError> {
        let template = self
            .templates
            .lookup(
                universe,
                &t.name,
                &t.dimensions,
                &t.storage_class,
                expanded.data_id.get("instrument").and_then(|v| v.as_str()),
            )
            .ok_or_else(|| TransferError::NoTemplate(t.name.clone()))?;
        Ok(template.format(&TemplateContext {
            run,
            dataset_type: &t.name,
            id,
            component: None,
            data_id: &expanded.data_id,
            records: &expanded.records,
        })?)
    }

    /// Absolute location of a recorded path.
    pub fn location(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.root.join(p)
        }
    }

    /// Put one file holding `ids` (which share a data ID's template) into the
    /// datastore at its templated path plus the source's extension, through `log`
    /// (so a failed write can undo it), and return the artifact records to insert.
    #[allow(clippy::too_many_arguments)]
    pub fn store_file(
        &self,
        universe: &Universe,
        t: &DatasetType,
        run: &str,
        ids: &[Uuid],
        expanded: &Expanded,
        source: &Path,
        mode: TransferMode,
        formatter: Option<String>,
        log: &mut WriteLog,
    ) -> Result<Vec<ArtifactRecord>, TransferError> {
        let first = *ids.first().ok_or_else(|| TransferError::Io {
            path: source.display().to_string(),
            message: "a file with no dataset".into(),
        })?;
        let mut relative = self.path_for(universe, t, run, first, expanded)?;
        relative.push_str(&file_extension(source));
        let stored = log.file(source, &relative, mode, self.checksums)?;
        Ok(ids
            .iter()
            .map(|id| ArtifactRecord {
                dataset_id: *id,
                path: stored.path.clone(),
                formatter: formatter.clone(),
                storage_class: Some(t.storage_class.clone()),
                checksum: stored.checksum.clone(),
                file_size: Some(stored.size),
            })
            .collect())
    }
}

/// The file side of one registry write: a [`Transfer`] into the datastore, taken
/// (with its write lease) before the transaction begins, undone if the transaction
/// fails and finished once it commits. A write that stores no file holds no lease.
#[derive(Default)]
pub struct WriteLog {
    transfer: Option<Transfer>,
}

impl WriteLog {
    /// A log for a write that will store files in `store` (taking the lease now), or
    /// for one that stores none (`store` is `None`).
    pub fn begin(
        store: Option<&Datastore>,
        sources: Option<&SourceRule>,
    ) -> Result<WriteLog, TransferError> {
        let Some(store) = store else {
            return Ok(WriteLog::default());
        };
        let mut transfer = Transfer::into_datastore(&store.root)?;
        if let Some(rule) = sources {
            transfer = transfer.with_sources(rule)?;
        }
        Ok(WriteLog {
            transfer: Some(transfer),
        })
    }

    /// Replace files already at a destination (see [`Transfer::with_clobber`]).
    pub fn clobbering(mut self, clobber: bool) -> WriteLog {
        self.transfer = self.transfer.map(|t| t.with_clobber(clobber));
        self
    }

    /// Put `source` at `relative` below the root with `mode` (see [`Transfer::file`]).
    pub fn file(
        &mut self,
        source: &Path,
        relative: &str,
        mode: TransferMode,
        with_checksum: bool,
    ) -> Result<crate::transfer::Stored, TransferError> {
        let transfer = self.transfer.as_mut().ok_or_else(|| TransferError::Io {
            path: source.display().to_string(),
            message: "stored by a write that began without a datastore".into(),
        })?;
        transfer.file(source, relative, mode, with_checksum)
    }

    /// Take back the files stored so far and go on (a retried transaction).
    pub fn undo(&mut self) {
        if let Some(t) = &mut self.transfer {
            t.take_back();
        }
    }

    /// Close the write: undo its files when `failed`, else keep them.
    pub fn end(self, failed: bool) {
        if let Some(t) = self.transfer {
            if failed {
                t.undo();
            } else {
                t.finish();
            }
        }
    }
}

/// What emptying the trash did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TrashReport {
    /// Files deleted.
    pub deleted: usize,
    /// Files kept because a live dataset still uses them, or they were outside the
    /// datastore (`direct` transfers are never deleted).
    pub kept: usize,
    /// Files that could not be deleted (left in the trash for a later try).
    pub failed: Vec<String>,
}

/// Delete the files of trashed datasets that no live dataset uses, then forget them.
/// Safe to run at any time; what fails stays in the trash.
pub fn empty_trash(db: &Db, store: &Datastore) -> Result<TrashReport, TransferError> {
    let entries = {
        let mut conn = db.conn().map_err(valet_registry::RegistryError::from)?;
        trash_contents(&mut conn)?
    };
    let mut report = TrashReport::default();
    let mut done = Vec::new();
    for (id, path, in_use) in entries {
        let absolute = Path::new(&path).is_absolute();
        if in_use || absolute {
            report.kept += 1;
            done.push(id);
            continue;
        }
        let file = store.location(&path);
        match std::fs::remove_file(&file) {
            Ok(()) => {
                report.deleted += 1;
                done.push(id);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => done.push(id),
            Err(e) => report.failed.push(format!("{}: {e}", file.display())),
        }
    }
    db.transaction(|c| clear_trash(c, &done))?;
    Ok(report)
}

/// A file's extension as the reference's resources take it: the last one, with the
/// one before it when the last names a compression (`.fits.fz`, `.fits.gz`).
pub fn file_extension(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut parts: Vec<&str> = name.trim_start_matches('.').split('.').skip(1).collect();
    let Some(last) = parts.pop() else {
        return String::new();
    };
    match parts.last() {
        Some(before) if ["gz", "fz", "bz2", "xz", "zst"].contains(&last) && !before.is_empty() => {
            format!(".{before}.{last}")
        }
        _ => format!(".{last}"),
    }
}

#[cfg(test)]
mod tests {
    use super::file_extension;
    use std::path::Path;

    #[test]
    fn compressed_files_keep_both_extensions() {
        assert_eq!(file_extension(Path::new("/d/a.fits")), ".fits");
        assert_eq!(file_extension(Path::new("a.fits.fz")), ".fits.fz");
        assert_eq!(file_extension(Path::new("x.y.fits.gz")), ".fits.gz");
        assert_eq!(file_extension(Path::new("a.gz")), ".gz");
        assert_eq!(file_extension(Path::new("noext")), "");
        assert_eq!(file_extension(Path::new(".hidden")), "");
        assert_eq!(file_extension(Path::new("a.json")), ".json");
    }
}
