//! Errors raised by the registry.

use crate::db::DbError;

/// Everything that can go wrong in a registry operation. Each message is one line that
/// names the thing that was wrong.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Configuration or universe problem.
    #[error(transparent)]
    Config(#[from] valet_config::ConfigError),
    /// A named thing (collection, dataset type, record) does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with what the registry already holds.
    #[error("{0}")]
    Conflict(String),
    /// The request itself is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The acting user may not do this.
    #[error("{0}")]
    Denied(String),
    /// An observer of the write (derived state such as the live ObsCore table)
    /// failed; the write is rolled back.
    #[error(transparent)]
    Observer(Box<dyn std::error::Error + Send + Sync>),
    /// The database schema is not one this build of valet understands.
    #[error("{0}")]
    Schema(String),
}

/// Shorthand result type.
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;
