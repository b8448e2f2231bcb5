//! valet: a Butler-style data registry engine.
//!
//! [`Repo`] ties a repository directory (its `valet.yaml`) to its registry database.

pub mod repo;

pub use repo::{CreateOptions, Repo, RepoError};
pub use valet_config::Universe;
pub use valet_registry as registry;
