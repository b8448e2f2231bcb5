//! The repository's POSIX datastore: where a dataset's file goes (its template), and
//! emptying the trash after a removal has committed.

use std::path::{Path, PathBuf};

use uuid::Uuid;
use valet_datastore::{SourceRule, TemplateContext, Templates, Transfer, TransferMode};
use valet_registry::artifacts::{clear_trash, trash_contents, ArtifactRecord};
use valet_registry::DatasetType;

use crate::expand::Expanded;
use crate::{Repo, RepoError};

/// The datastore of a repository.
pub struct Datastore {
    /// Its root directory.
    pub root: PathBuf,
    templates: Templates,
}

impl Datastore {
    /// The datastore of an open repository.
    pub fn of(repo: &Repo) -> Result<Datastore, RepoError> {
        Ok(Datastore {
            root: repo.config.datastore_path(&repo.root),
            templates: Templates::with_overrides(&repo.config.templates)
                .map_err(|e| RepoError::Invalid(e.to_string()))?,
        })
    }

    /// The path (relative to the root, without extension) the templates give a dataset.
    pub fn path_for(
        &self,
        repo: &Repo,
        t: &DatasetType,
        run: &str,
        id: Uuid,
        expanded: &Expanded,
    ) -> Result<String, RepoError> {
        let template = self
            .templates
            .lookup(
                &repo.registry.universe,
                &t.name,
                &t.dimensions,
                &t.storage_class,
                expanded.data_id.get("instrument").and_then(|v| v.as_str()),
            )
            .ok_or_else(|| {
                RepoError::Invalid(format!(
                    "no file template applies to dataset type {:?}",
                    t.name
                ))
            })?;
        template
            .format(&TemplateContext {
                run,
                dataset_type: &t.name,
                id,
                component: None,
                data_id: &expanded.data_id,
                records: &expanded.records,
            })
            .map_err(|e| RepoError::Invalid(e.to_string()))
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
}

/// The file side of one registry write: a [`Transfer`] into the datastore, taken
/// (with its write lease) before the transaction begins, undone if the transaction
/// fails and finished once it commits. A write that stores no file holds no lease.
#[derive(Default)]
pub(crate) struct FileLog {
    transfer: Option<Transfer>,
}

impl FileLog {
    /// A log for a write that will store files in `store` (taking the lease now), or
    /// for one that stores none (`store` is `None`).
    pub(crate) fn begin(
        store: Option<&Datastore>,
        sources: Option<&SourceRule>,
    ) -> Result<FileLog, RepoError> {
        let Some(store) = store else {
            return Ok(FileLog::default());
        };
        let mut transfer = Transfer::into_datastore(&store.root).map_err(RepoError::from)?;
        if let Some(rule) = sources {
            transfer = transfer.with_sources(rule).map_err(RepoError::from)?;
        }
        Ok(FileLog {
            transfer: Some(transfer),
        })
    }

    /// Take back the files stored so far and go on (a retried transaction).
    pub(crate) fn undo(&mut self) {
        if let Some(t) = &mut self.transfer {
            t.take_back();
        }
    }

    /// Close the write: undo its files when `failed`, else keep them.
    pub(crate) fn end(self, failed: bool) {
        if let Some(t) = self.transfer {
            if failed {
                t.undo();
            } else {
                t.finish();
            }
        }
    }
}

impl Datastore {
    /// Put one file holding `ids` (which share a data ID's template) into the
    /// datastore at its templated path plus the source's extension, and return the
    /// artifact records to insert. The file is logged so a failed write can undo it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn store_file(
        &self,
        repo: &Repo,
        t: &DatasetType,
        run: &str,
        ids: &[Uuid],
        expanded: &Expanded,
        source: &Path,
        mode: TransferMode,
        formatter: Option<String>,
        log: &mut FileLog,
    ) -> Result<Vec<ArtifactRecord>, RepoError> {
        let first = *ids.first().ok_or_else(|| {
            RepoError::Invalid(format!("{}: a file with no dataset", source.display()))
        })?;
        let mut relative = self.path_for(repo, t, run, first, expanded)?;
        if let Some(ext) = source.extension() {
            relative.push('.');
            relative.push_str(&ext.to_string_lossy());
        }
        let transfer = log.transfer.as_mut().ok_or_else(|| {
            RepoError::Invalid("a file was stored by a write that began without a datastore".into())
        })?;
        let stored = transfer
            .file(source, &relative, mode, true)
            .map_err(RepoError::from)?;
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

/// What emptying the trash did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
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
pub fn empty_trash(repo: &Repo) -> Result<TrashReport, RepoError> {
    let store = Datastore::of(repo)?;
    let entries = {
        let mut conn = repo.registry.db.conn()?;
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
    repo.registry.transaction(|c, _| clear_trash(c, &done))?;
    Ok(report)
}
