//! The POSIX file datastore. Files live under the repository's datastore root at paths
//! rendered from RUN-name templates; nothing may ever be written outside that root.

pub mod paths;

pub use paths::{safe_relative_path, PathError};
