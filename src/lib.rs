//! valet: a Butler-style data registry engine.
//!
//! [`Repo`] ties a repository directory (its `valet.yaml`) to its registry database,
//! and is the one way in: every read and write is a method of it, in the module of its
//! kind ([`queries`], [`collection_queries`], [`collection_writes`],
//! [`dataset_type_writes`], [`provenance`], [`obscore_api`], [`ingest`], [`instruments`],
//! [`transfers`], [`check`], [`retrieve`]); [`transfers`] reads and writes the
//! reference Butler's export files.

pub mod adopt;
pub mod arrow_rows;
pub mod artifact_zip;
pub mod check;
pub mod collection_queries;
pub mod collection_writes;
pub mod config_commands;
pub mod data_ids;
pub mod dataset_records;
pub mod dataset_rows;
pub mod dataset_type_writes;
pub mod datastore;
pub mod dimension_writes;
pub mod dregs;
pub mod error;
pub mod ingest;
pub mod instruments;
pub mod obscore_api;
pub mod provenance;
pub mod prune;
pub mod queries;
pub mod raws;
pub mod region_export;
pub mod repo;
pub mod retrieve;
pub mod sample_raws;
pub mod tokens;
pub mod transaction;
pub mod transfers;
pub mod workload;

pub use repo::{CreateOptions, ErrorKind, Repo, RepoError};
pub use valet_collections as collections;
pub use valet_collections::chains::ChainMode;
pub use valet_config::{InstrumentDefinition, Universe};
pub use valet_datastore as datastore_crate;
pub use valet_datastore::TransferMode;
pub use valet_obscore as obscore;
pub use valet_registry as registry;
pub use valet_registry::expand;
pub use valet_registry::{
    Backend, CollectionRecord, CollectionType, DataId, DatasetRef, DatasetType, IdGenerationMode,
    Record, RegistryError, Timespan, Value,
};
