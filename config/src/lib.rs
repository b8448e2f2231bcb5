//! valet configuration: the repository file (`valet.yaml`) and the dimension universe.
//!
//! Parsing and validation only; the only I/O is reading and writing these files.

pub mod instrument;
pub mod repo_config;
pub mod universe;

pub use instrument::InstrumentDefinition;
pub use repo_config::RepoConfig;
pub use universe::{ColumnSpec, ColumnType, DimensionGroup, Element, Universe};

/// Errors from reading or validating configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The dimension universe is malformed or a name is not in it.
    #[error("{0}")]
    Universe(String),
    /// The repository configuration is malformed.
    #[error("{path}: {message}")]
    Repo {
        /// The file that was read.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}
