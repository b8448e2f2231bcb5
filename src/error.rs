//! [`RepoError`]: what any operation on a repository can fail with, keeping the kind
//! of failure (and its cause) so that front ends can tell the kinds apart — a Python
//! exception class, an HTTP status, an exit code — while every message stays one line.

use valet_config::ConfigError;
use valet_registry::db::{DbError, DbErrorKind};
use valet_registry::RegistryError;

/// Errors from opening or creating a repository, or from any operation on it.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// A registry operation failed (its kind is in the registry error).
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The configuration is unreadable or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A datastore transfer failed (the message names the file).
    #[error(transparent)]
    Datastore(#[from] valet_datastore::TransferError),
    /// The ObsCore configuration or a row built from it is wrong.
    #[error(transparent)]
    ObsCore(valet_obscore::ObsCoreError),
    /// A filesystem operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The request cannot be carried out as asked (the message says where).
    #[error("{0}")]
    Invalid(String),
    /// A server carrying out the request failed; its kind and message as it
    /// reported them (`valet --server`).
    #[error("{1}")]
    Remote(ErrorKind, String),
}

impl From<valet_obscore::ObsCoreError> for RepoError {
    fn from(e: valet_obscore::ObsCoreError) -> Self {
        match e {
            // A registry failure keeps its own kind.
            valet_obscore::ObsCoreError::Registry(r) => RepoError::Registry(r),
            other => RepoError::ObsCore(other),
        }
    }
}

impl From<DbError> for RepoError {
    fn from(e: DbError) -> Self {
        RepoError::Registry(e.into())
    }
}

/// The kinds of failure a front end tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ErrorKind {
    /// A named collection, dataset type, dataset or record does not exist.
    NotFound,
    /// The request conflicts with what the repository holds (already exists, overlaps,
    /// still in use).
    Conflict,
    /// The acting user may not do this.
    Denied,
    /// The input itself is malformed (an expression, a file, a name).
    InvalidInput,
    /// A file could not be read or written.
    Io,
    /// A file could not be put into or taken out of the datastore.
    Datastore,
    /// The ObsCore configuration or table is wrong.
    ObsCore,
    /// The database failed, or holds a schema this build does not understand.
    Database,
}

impl RepoError {
    /// What kind of failure this is, looking through the layers it passed.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RepoError::Registry(r) => registry_kind(r),
            RepoError::Config(_) | RepoError::Invalid(_) => ErrorKind::InvalidInput,
            RepoError::Datastore(_) => ErrorKind::Datastore,
            RepoError::ObsCore(_) => ErrorKind::ObsCore,
            RepoError::Io { .. } => ErrorKind::Io,
            RepoError::Remote(kind, _) => *kind,
        }
    }
}

fn registry_kind(e: &RegistryError) -> ErrorKind {
    match e {
        RegistryError::NotFound(_) => ErrorKind::NotFound,
        RegistryError::Conflict(_) => ErrorKind::Conflict,
        RegistryError::Denied(_) => ErrorKind::Denied,
        RegistryError::Invalid(_) | RegistryError::Config(_) => ErrorKind::InvalidInput,
        RegistryError::Db(d) if d.kind == DbErrorKind::Unique => ErrorKind::Conflict,
        RegistryError::Db(_) | RegistryError::Schema(_) => ErrorKind::Database,
        RegistryError::Observer(inner) => match inner.downcast_ref::<RepoError>() {
            Some(r) => r.kind(),
            None => ErrorKind::Database,
        },
    }
}
