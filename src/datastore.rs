//! The repository's datastore (see [`valet_datastore::store`]), as [`Repo`] opens it.

pub use valet_datastore::{Datastore, TrashReport, WriteLog};

use crate::{Repo, RepoError};

impl Repo {
    /// The repository's datastore: its root and file templates.
    pub fn datastore(&self) -> Result<Datastore, RepoError> {
        Ok(Datastore::new(
            self.config.datastore_path(&self.root),
            &self.config.templates,
        )?)
    }
}

/// Delete the files of trashed datasets that no live dataset uses, then forget them.
/// Safe to run at any time; what fails stays in the trash.
pub fn empty_trash(repo: &Repo) -> Result<TrashReport, RepoError> {
    Ok(valet_datastore::empty_trash(
        &repo.registry.db,
        &repo.datastore()?,
    )?)
}
