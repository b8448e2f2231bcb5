//! Transactions that span many calls (the reference's `butler.transaction()` and
//! `registry.transaction()`): everything the calling thread does between
//! [`Repo::begin_transaction`] and [`Repo::end_transaction`] commits or rolls back as
//! one, files included.

use crate::{Repo, RepoError};

impl Repo {
    /// Open a transaction on the calling thread (a savepoint inside the open one, if
    /// any). Every call the thread makes on this repository until the matching
    /// [`Repo::end_transaction`] belongs to it; other threads do not see its changes
    /// until it commits.
    pub fn begin_transaction(&self) -> Result<(), RepoError> {
        Ok(self.registry.db.begin_outer()?)
    }

    /// End the calling thread's innermost transaction: commit it, or roll it back
    /// with the files its calls stored. Files of datasets it removed are deleted only
    /// once the outermost transaction commits.
    pub fn end_transaction(&self, commit: bool) -> Result<(), RepoError> {
        let result = self.registry.db.end_outer(commit);
        if !commit || result.is_err() {
            // The caches may hold what was just rolled back.
            self.resolver.forget();
        }
        Ok(result?)
    }
}
