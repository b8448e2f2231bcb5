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
/// Safe to run at any time; what fails stays in the trash. Inside an outer
/// transaction (`butler.transaction()`) nothing is deleted until it commits, since a
/// rollback brings the trashed datasets back: the report is then empty.
pub fn empty_trash(repo: &Repo) -> Result<TrashReport, RepoError> {
    let db = repo.registry.db.clone();
    let store = repo.datastore()?;
    if db.in_outer() {
        let later = db.clone();
        db.after_transaction(move |committed| {
            if committed {
                // What cannot be deleted now stays in the trash for `check --fix`.
                let _ = valet_datastore::empty_trash(&later, &store);
            }
        });
        return Ok(TrashReport::default());
    }
    Ok(valet_datastore::empty_trash(&db, &store)?)
}

/// Close the file side of a registry write whose transaction just ended (`failed`
/// if it rolled back): the files are undone or kept now, or, inside an outer
/// transaction, when that ends.
pub fn finish_write(repo: &Repo, log: WriteLog, failed: bool) {
    if failed {
        log.end(true);
    } else {
        repo.registry
            .db
            .after_transaction(move |committed| log.end(!committed));
    }
}
