//! `retrieve-artifacts`: copying the files of datasets out of the datastore.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use valet_datastore::{Transfer, TransferMode};
use valet_registry::artifacts::get_artifact;
use valet_registry::DatasetRef;

use crate::datastore::Datastore;
use crate::{Repo, RepoError};

/// How [`Repo::retrieve_artifacts`] lays the files out.
#[derive(Debug, Clone, Copy, Default)]
pub struct RetrieveOptions {
    /// Keep the datastore's directory layout (else file names only).
    pub preserve_path: bool,
    /// Replace files already at the destination.
    pub clobber: bool,
    /// How the files get there (`None`: as `auto`, copied; see
    /// [`TransferMode::leaving_repository`]).
    pub transfer: Option<TransferMode>,
}

impl RetrieveOptions {
    fn mode(&self) -> Result<TransferMode, RepoError> {
        self.transfer
            .unwrap_or(TransferMode::Auto)
            .leaving_repository("retrieve-artifacts", false)
            .map_err(RepoError::Invalid)
    }
}

impl Repo {
    /// Copy the files of `datasets` into `destination` (created if missing) and return
    /// where they went. The destination may not lie inside the datastore; nothing is
    /// written through a symlink below it; a file is replaced only with `clobber`, by
    /// renaming a new copy over it (never by writing into it). On failure the
    /// destination is left as it was.
    pub fn retrieve_artifacts(
        &self,
        datasets: &[DatasetRef],
        destination: &Path,
        options: RetrieveOptions,
    ) -> Result<Vec<PathBuf>, RepoError> {
        let store = self.datastore()?;
        valet_datastore::refuse_inside(destination, &store.root, "retrieve-artifacts").map_err(
            |e| RepoError::Io {
                path: destination.display().to_string(),
                source: e,
            },
        )?;
        let mode = options.mode()?;
        let mut transfer = Transfer::creating(destination)?.with_clobber(options.clobber);
        let copied = self.copy_artifacts(datasets, &store, &mut transfer, options, mode);
        match copied {
            Ok(out) => {
                transfer.finish();
                Ok(out)
            }
            Err(e) => {
                transfer.undo();
                Err(e)
            }
        }
    }

    fn copy_artifacts(
        &self,
        datasets: &[DatasetRef],
        store: &Datastore,
        transfer: &mut Transfer,
        options: RetrieveOptions,
        mode: TransferMode,
    ) -> Result<Vec<PathBuf>, RepoError> {
        let mut conn = self.registry.db.conn()?;
        let mut targets = HashSet::new();
        let mut out = Vec::new();
        for d in datasets {
            // A dataset without a file (registry-only import) has nothing to copy.
            let Some(artifact) = get_artifact(&mut conn, d.id)? else {
                continue;
            };
            let source = store.location(&artifact.path);
            let relative = if options.preserve_path && Path::new(&artifact.path).is_relative() {
                artifact.path.clone()
            } else {
                file_name_of(d.id, &artifact.path)?
            };
            // Datasets sharing one file (a multi-extension raw) are copied once.
            if !targets.insert(relative.clone()) {
                continue;
            }
            let stored = transfer.file(&source, &relative, mode, false)?;
            out.push(transfer.root().join(stored.path));
        }
        Ok(out)
    }
}

impl Repo {
    /// What `retrieve-artifacts` of a query copies, for a client that fetches the
    /// files itself (`valet --server`): each dataset with a file and the name its
    /// copy takes under the destination (the datastore's relative path with
    /// `preserve_path`, else the file's name), each file once; and whether the limit
    /// cut the query short.
    pub fn artifacts_to_retrieve(
        &self,
        query: &crate::queries::QueryDatasetsOptions,
        preserve_path: bool,
    ) -> Result<(Vec<(uuid::Uuid, String)>, bool), RepoError> {
        let found = self.query_datasets(query)?;
        let mut conn = self.registry.db.conn()?;
        let mut targets = HashSet::new();
        let mut out = Vec::new();
        for d in found.iter() {
            let Some(artifact) = get_artifact(&mut conn, d.id())? else {
                continue;
            };
            let relative = if preserve_path && Path::new(&artifact.path).is_relative() {
                artifact.path.clone()
            } else {
                file_name_of(d.id(), &artifact.path)?
            };
            if targets.insert(relative.clone()) {
                out.push((d.id(), relative));
            }
        }
        Ok((out, found.limited))
    }
}

/// The name of a dataset's file (the last part of its path), for a copy of it.
pub(crate) fn file_name_of(id: uuid::Uuid, path: &str) -> Result<String, RepoError> {
    Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| RepoError::Invalid(format!("dataset {id}: its file {path} has no name")))
}
