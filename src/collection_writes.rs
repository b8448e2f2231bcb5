//! Writes to collections through [`Repo`]: registration, chain edits, TAGGED
//! associations, calibration validity ranges, pruning datasets and collection removal.
//! Registry changes are one transaction each, and derived state follows through the
//! registry's observers; files go after the transaction commits, through the trash.

use uuid::Uuid;
use valet_collections::calibration::{certify, decertify};
use valet_collections::chains::{children_of, collection_chain, ChainMode};
use valet_collections::removal::{remove_collections, remove_runs};
use valet_collections::tagged::{associate, disassociate};
use valet_registry::collections::{
    find_collection, get_collection, register_collection, register_owned_collection,
};
use valet_registry::{CollectionRecord, CollectionType, DataId, RegistryError, Timespan};

use crate::datastore::{empty_trash, TrashReport};
use crate::prune::{prune, PruneOptions, PruneReport};
use crate::queries::DatasetSearch;
use crate::{Repo, RepoError};

/// How [`Repo::register_collection`] registers a collection.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct RegisterCollectionOptions {
    /// Documentation.
    pub doc: Option<String>,
    /// Owner type: user, group, project or production (`None`: user for `u/…`
    /// names, project otherwise).
    pub owner_type: Option<String>,
}

/// What [`Repo::remove_runs`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunsRemoved {
    /// Datasets removed with the runs.
    pub datasets: u64,
    /// What became of their files (those that could not be deleted stay in the trash
    /// for `check --repair`).
    pub files: TrashReport,
}

/// Certify calibrations found in one collection into a CALIBRATION collection.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CertifyOptions {
    /// The collection the calibrations are read from.
    pub input: String,
    /// The CALIBRATION collection they are certified into (registered if missing).
    pub output: String,
    /// The calibration dataset type.
    pub dataset_type: String,
    /// Their validity range.
    pub timespan: Timespan,
    /// Search every child of a CHAINED input, not just its first.
    pub search_all_inputs: bool,
}

/// Remove a time range from validity ranges in a CALIBRATION collection.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DecertifyOptions {
    /// The CALIBRATION collection.
    pub collection: String,
    /// The calibration dataset type.
    pub dataset_type: String,
    /// The range to remove.
    pub timespan: Timespan,
    /// Only these data IDs (empty: all).
    pub data_ids: Vec<DataId>,
}

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

    /// Add the datasets a search finds to the TAGGED collection `collection`
    /// (registered if missing); returns how many memberships are new.
    pub fn associate_matching(
        &self,
        collection: &str,
        search: &DatasetSearch,
    ) -> Result<usize, RepoError> {
        let ids: Vec<Uuid> = self.find_datasets(search)?.iter().map(|d| d.id).collect();
        self.associate(collection, &ids)
    }

    /// Register a RUN, TAGGED, CALIBRATION or (empty) CHAINED collection; returns
    /// whether it is new (an existing one of the same type is left as it is).
    pub fn register_collection(
        &self,
        name: &str,
        kind: CollectionType,
        options: &RegisterCollectionOptions,
    ) -> Result<bool, RepoError> {
        let (_, created) = self.registry.transaction(|conn, _| {
            register_owned_collection(
                conn,
                name,
                kind,
                options.doc.as_deref(),
                options.owner_type.as_deref(),
            )
        })?;
        Ok(created)
    }

    /// Remove RUN collections and their datasets, unlinking them from the chains that
    /// list them when `unlink_from_parents`; their files are deleted once the removal
    /// has committed.
    pub fn remove_runs(
        &self,
        names: &[String],
        unlink_from_parents: bool,
    ) -> Result<RunsRemoved, RepoError> {
        let datasets = self
            .registry
            .transaction(|conn, _| remove_runs(conn, names, unlink_from_parents))?;
        let files = empty_trash(self)?;
        Ok(RunsRemoved { datasets, files })
    }

    /// Certify calibrations into a CALIBRATION collection (registered if missing): the
    /// find-first datasets of the type in the input (a chain's first child only,
    /// unless `search_all_inputs`). Returns how many were certified.
    pub fn certify_calibrations(&self, options: &CertifyOptions) -> Result<usize, RepoError> {
        let input = {
            let mut conn = self.registry.db.conn()?;
            let record = get_collection(&mut conn, &options.input)?;
            if record.kind == CollectionType::Chained && !options.search_all_inputs {
                // As the reference: only the chain's first child unless told otherwise.
                let kids = children_of(&mut conn, record.id)?;
                let first = kids.first().ok_or_else(|| {
                    RegistryError::Invalid(format!("chain {:?} is empty", options.input))
                })?;
                vec![first.name.clone()]
            } else {
                vec![options.input.clone()]
            }
        };
        let search = DatasetSearch {
            collections: input,
            find_first: true,
            ..Default::default()
        };
        let mut ids = Vec::new();
        self.search_types(
            std::slice::from_ref(&options.dataset_type),
            &search,
            &mut |f| {
                ids.push(f.dataset.id);
                Ok(true)
            },
        )?;
        Ok(self.registry.transaction(|conn, u| {
            if find_collection(conn, &options.output)?.is_none() {
                register_collection(conn, &options.output, CollectionType::Calibration, None)?;
            }
            certify(conn, u, &options.output, &ids, options.timespan)
        })?)
    }

    /// Certify these datasets into an existing CALIBRATION collection for a validity
    /// range (the reference's `Registry.certify`); returns how many were certified.
    pub fn certify(
        &self,
        collection: &str,
        ids: &[Uuid],
        timespan: Timespan,
    ) -> Result<usize, RepoError> {
        Ok(self
            .registry
            .transaction(|conn, u| certify(conn, u, collection, ids, timespan))?)
    }

    /// Remove datasets from a TAGGED collection; returns how many were members.
    pub fn disassociate(&self, collection: &str, ids: &[Uuid]) -> Result<usize, RepoError> {
        Ok(self
            .registry
            .transaction(|conn, _| disassociate(conn, collection, ids))?)
    }

    /// Remove a time range from the validity ranges of a calibration type in a
    /// CALIBRATION collection; returns how many ranges changed.
    pub fn decertify_calibrations(&self, options: &DecertifyOptions) -> Result<usize, RepoError> {
        let ids = &options.data_ids;
        Ok(self.registry.transaction(|conn, u| {
            decertify(
                conn,
                u,
                &options.collection,
                &options.dataset_type,
                options.timespan,
                (!ids.is_empty()).then_some(ids.as_slice()),
            )
        })?)
    }

    /// Prune datasets: remove them from TAGGED collections, delete their files, or
    /// purge them (see [`crate::prune`]).
    pub fn prune_datasets(
        &self,
        ids: &[Uuid],
        options: &PruneOptions,
    ) -> Result<PruneReport, RepoError> {
        prune(self, ids, options)
    }
}
