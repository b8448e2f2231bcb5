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

    /// The file or directory `relative` names under the datastore root, refused
    /// (one line naming it) when it is absolute, climbs out with `..`, does not
    /// exist, or leads out of the root through a symbolic link: how a remote caller
    /// names files already in the datastore without reaching anything else.
    pub fn path_in_datastore(&self, relative: &str) -> Result<std::path::PathBuf, RepoError> {
        use std::path::Component;
        let given = std::path::Path::new(relative);
        if given
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(RepoError::Invalid(format!(
                "{relative:?}: give a path relative to the datastore root, without '..'"
            )));
        }
        let configured = self.config.datastore_path(&self.root);
        let io = |p: &std::path::Path| {
            let shown = p.display().to_string();
            move |source| RepoError::Io {
                path: shown,
                source,
            }
        };
        let root = configured.canonicalize().map_err(io(&configured))?;
        let joined = root.join(given);
        let real = joined.canonicalize().map_err(io(&joined))?;
        if !real.starts_with(&root) {
            return Err(RepoError::Invalid(format!(
                "{relative:?} leads out of the datastore root through a symbolic link"
            )));
        }
        // As the datastore spells its root, so that it sees the file as its own.
        Ok(configured.join(given))
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
