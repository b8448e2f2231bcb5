//! Writes to collections through [`Repo`]: chain edits, TAGGED associations and
//! collection removal. Each is one transaction; derived state follows through the
//! registry's observers.

use uuid::Uuid;
use valet_collections::chains::{collection_chain, ChainMode};
use valet_collections::removal::remove_collections;
use valet_collections::tagged::associate;
use valet_registry::collections::{find_collection, register_collection};
use valet_registry::{CollectionRecord, CollectionType};

use crate::{Repo, RepoError};

impl Repo {
    /// Define or edit the chain `parent` (created for redefine, extend and prepend if
    /// missing, with `doc`); returns its new children.
    pub fn collection_chain(
        &self,
        parent: &str,
        mode: ChainMode,
        children: &[String],
        flatten: bool,
        doc: Option<&str>,
    ) -> Result<Vec<CollectionRecord>, RepoError> {
        Ok(self
            .registry
            .transaction(|conn, _| collection_chain(conn, parent, mode, children, flatten, doc))?)
    }

    /// Remove TAGGED, CALIBRATION and CHAINED collections, unlinking them from the
    /// chains that list them when `remove_from_parents`.
    pub fn remove_collections(
        &self,
        names: &[String],
        remove_from_parents: bool,
    ) -> Result<(), RepoError> {
        Ok(self
            .registry
            .transaction(|conn, _| remove_collections(conn, names, remove_from_parents))?)
    }

    /// Add datasets to the TAGGED collection `collection` (registered if missing);
    /// returns how many memberships are new.
    pub fn associate(&self, collection: &str, ids: &[Uuid]) -> Result<usize, RepoError> {
        Ok(self.registry.transaction(|conn, universe| {
            if find_collection(conn, collection)?.is_none() {
                register_collection(conn, collection, CollectionType::Tagged, None)?;
            }
            associate(conn, universe, collection, ids)
        })?)
    }
}
