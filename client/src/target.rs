//! A repository here or behind a server, answering the same calls with the same
//! types: what front ends hold so that they print or return a server's answer as
//! they do a local one.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use petgraph::graph::DiGraph;
use uuid::Uuid;
use valet::artifact_zip::{IngestZipOptions, IngestZipSummary};
use valet::collection_queries::{CollectionRow, QueryCollectionsOptions};
use valet::collection_writes::{
    CertifyOptions, DecertifyOptions, RegisterCollectionOptions, RunsRemoved,
};
use valet::collections::chains::ChainEdit;
use valet::dataset_rows::DatasetRows;
use valet::dataset_type_writes::DatasetTypeSpec;
use valet::ingest::IngestTableOptions;
use valet::provenance::{DatasetKey, LineageNode};
use valet::prune::{PruneOptions, PruneReport};
use valet::queries::{
    DataIdRows, DatasetSearch, DimensionRecordQuery, DimensionRecords, FindDatasetOptions,
    FoundDataset, LineageOptions, QueryDataIdsOptions, QueryDatasetsOptions,
};
use valet::retrieve::RetrieveOptions;
use valet::transfers::{ImportOptions, ImportSummary};
use valet::{
    ChainMode, CollectionRecord, CollectionType, DatasetRef, DatasetType, Repo, RepoError, Universe,
};

use crate::{is_server_url, Client};

/// A repository, here or behind a server.
pub enum Target {
    /// A repository on this machine.
    Local(Repo),
    /// A repository behind `valet serve`.
    Remote(Client),
}

/// Forward a call to whichever repository this is.
macro_rules! either {
    ($target:expr, $t:ident => $call:expr) => {
        match $target {
            Target::Local($t) => $call,
            Target::Remote($t) => $call,
        }
    };
}

impl Target {
    /// The repository `repo` names: a server when it is a URL, else a directory.
    pub fn open(repo: &Path) -> Result<Target, RepoError> {
        match repo.to_str().filter(|r| is_server_url(r)) {
            Some(url) => Ok(Target::Remote(Client::new(url)?)),
            None => Ok(Target::Local(Repo::open(repo)?)),
        }
    }

    /// The dimension universe.
    pub fn universe(&self) -> Result<Cow<'_, Universe>, RepoError> {
        match self {
            Target::Local(repo) => Ok(Cow::Borrowed(repo.universe())),
            Target::Remote(client) => Ok(Cow::Owned(client.universe()?)),
        }
    }

    /// See [`Repo::query_collections`].
    pub fn query_collections(
        &self,
        options: &QueryCollectionsOptions,
    ) -> Result<Vec<CollectionRow>, RepoError> {
        either!(self, t => t.query_collections(options))
    }

    /// See [`Repo::query_dataset_types`].
    pub fn query_dataset_types(&self, globs: &[String]) -> Result<Vec<DatasetType>, RepoError> {
        either!(self, t => t.query_dataset_types(globs))
    }

    /// See [`Repo::query_datasets`].
    pub fn query_datasets(&self, options: &QueryDatasetsOptions) -> Result<DatasetRows, RepoError> {
        either!(self, t => t.query_datasets(options))
    }

    /// See [`Repo::find_dataset`].
    pub fn find_dataset(
        &self,
        options: &FindDatasetOptions,
    ) -> Result<Option<FoundDataset>, RepoError> {
        either!(self, t => t.find_dataset(options))
    }

    /// See [`Repo::query_data_ids`].
    pub fn query_data_ids(&self, options: &QueryDataIdsOptions) -> Result<DataIdRows, RepoError> {
        either!(self, t => t.query_data_ids(options))
    }

    /// See [`Repo::query_dimension_records`].
    pub fn query_dimension_records(
        &self,
        query: &DimensionRecordQuery,
    ) -> Result<DimensionRecords, RepoError> {
        either!(self, t => t.query_dimension_records(query))
    }

    /// See [`Repo::chain_history`].
    pub fn chain_history(&self, chain: &str) -> Result<Vec<ChainEdit>, RepoError> {
        either!(self, t => t.chain_history(chain))
    }

    /// See [`Repo::collection_chain`].
    pub fn collection_chain(
        &self,
        parent: &str,
        mode: ChainMode,
        children: &[String],
        flatten: bool,
        doc: Option<&str>,
    ) -> Result<Vec<CollectionRecord>, RepoError> {
        either!(self, t => t.collection_chain(parent, mode, children, flatten, doc))
    }

    /// See [`Repo::register_collection`].
    pub fn register_collection(
        &self,
        name: &str,
        kind: CollectionType,
        options: &RegisterCollectionOptions,
    ) -> Result<bool, RepoError> {
        either!(self, t => t.register_collection(name, kind, options))
    }

    /// See [`Repo::collection`].
    pub fn collection(&self, name: &str) -> Result<CollectionRecord, RepoError> {
        either!(self, t => t.collection(name))
    }

    /// See [`Repo::chain_children`].
    pub fn chain_children(&self, chain: &str) -> Result<Vec<String>, RepoError> {
        either!(self, t => t.chain_children(chain))
    }

    /// See [`Repo::chain_parents`].
    pub fn chain_parents(&self, name: &str) -> Result<Vec<String>, RepoError> {
        either!(self, t => t.chain_parents(name))
    }

    /// See [`Repo::collections_in_search_order`].
    pub fn collections_in_search_order(
        &self,
        patterns: &[String],
        types: &[CollectionType],
        include_chains: bool,
    ) -> Result<Vec<CollectionRecord>, RepoError> {
        either!(self, t => t.collections_in_search_order(patterns, types, include_chains))
    }

    /// See [`Repo::get_datasets`].
    pub fn get_datasets(&self, ids: &[Uuid]) -> Result<Vec<(DatasetType, DatasetRef)>, RepoError> {
        either!(self, t => t.get_datasets(ids))
    }

    /// See [`Repo::associate_matching`].
    pub fn associate_matching(
        &self,
        collection: &str,
        search: &DatasetSearch,
    ) -> Result<usize, RepoError> {
        either!(self, t => t.associate_matching(collection, search))
    }

    /// See [`Repo::certify_calibrations`].
    pub fn certify_calibrations(&self, options: &CertifyOptions) -> Result<usize, RepoError> {
        either!(self, t => t.certify_calibrations(options))
    }

    /// See [`Repo::decertify_calibrations`].
    pub fn decertify_calibrations(&self, options: &DecertifyOptions) -> Result<usize, RepoError> {
        either!(self, t => t.decertify_calibrations(options))
    }

    /// See [`Repo::register_dataset_type`].
    pub fn register_dataset_type(
        &self,
        name: &str,
        spec: &DatasetTypeSpec,
    ) -> Result<(DatasetType, bool), RepoError> {
        either!(self, t => t.register_dataset_type(name, spec))
    }

    /// See [`Repo::remove_dataset_types`].
    pub fn remove_dataset_types(&self, patterns: &[String]) -> Result<Vec<String>, RepoError> {
        either!(self, t => t.remove_dataset_types(patterns))
    }

    /// See [`Repo::matching_collections`].
    pub fn matching_collections(
        &self,
        patterns: &[String],
        types: &[CollectionType],
    ) -> Result<Vec<String>, RepoError> {
        either!(self, t => t.matching_collections(patterns, types))
    }

    /// See [`Repo::remove_collections`].
    pub fn remove_collections(
        &self,
        names: &[String],
        remove_from_parents: bool,
    ) -> Result<(), RepoError> {
        either!(self, t => t.remove_collections(names, remove_from_parents))
    }

    /// See [`Repo::remove_runs`].
    pub fn remove_runs(
        &self,
        names: &[String],
        unlink_from_parents: bool,
    ) -> Result<RunsRemoved, RepoError> {
        either!(self, t => t.remove_runs(names, unlink_from_parents))
    }

    /// See [`Repo::find_datasets`].
    pub fn find_datasets(&self, search: &DatasetSearch) -> Result<Vec<DatasetRef>, RepoError> {
        either!(self, t => t.find_datasets(search))
    }

    /// See [`Repo::prune_datasets`].
    pub fn prune_datasets(
        &self,
        ids: &[Uuid],
        options: &PruneOptions,
    ) -> Result<PruneReport, RepoError> {
        either!(self, t => t.prune_datasets(ids, options))
    }

    /// See [`Repo::lineage`].
    pub fn lineage(
        &self,
        dataset: DatasetKey,
        options: LineageOptions,
    ) -> Result<DiGraph<LineageNode, ()>, RepoError> {
        either!(self, t => t.lineage(dataset, options))
    }

    /// See [`Repo::retrieve_matching`] (from a server, files are fetched over HTTP).
    pub fn retrieve_matching(
        &self,
        query: &QueryDatasetsOptions,
        destination: &Path,
        options: RetrieveOptions,
    ) -> Result<(Vec<PathBuf>, bool), RepoError> {
        either!(self, t => t.retrieve_matching(query, destination, options))
    }

    /// The local repository, for what only it can do (with the command's name for
    /// the refusal).
    pub fn local(&self, command: &str) -> Result<&Repo, RepoError> {
        match self {
            Target::Local(repo) => Ok(repo),
            Target::Remote(_) => Err(RepoError::Invalid(format!(
                "{command} runs on a local repository only"
            ))),
        }
    }

    /// See [`Repo::ingest_zip`] (to a server, the zip is sent over HTTP).
    pub fn ingest_zip(
        &self,
        zip_path: &Path,
        options: IngestZipOptions,
    ) -> Result<IngestZipSummary, RepoError> {
        either!(self, t => t.ingest_zip(zip_path, options))
    }

    /// See [`Repo::ingest_table`] (to a server, the files are sent over HTTP).
    pub fn ingest_table(
        &self,
        table: &Path,
        options: &IngestTableOptions,
    ) -> Result<Vec<DatasetRef>, RepoError> {
        either!(self, t => t.ingest_table(table, options))
    }

    /// See [`Repo::import_directory`] (to a server, the files are sent over HTTP).
    pub fn import_directory(
        &self,
        directory: &Path,
        patterns: &[String],
        options: &ImportOptions,
    ) -> Result<ImportSummary, RepoError> {
        either!(self, t => t.import_directory(directory, patterns, options))
    }
}
