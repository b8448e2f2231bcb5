//! The POSIX file datastore. Files live under the repository's datastore root at paths
//! rendered from RUN-name templates; nothing may ever be written outside that root.

pub mod paths;
pub mod templates;
pub mod transfer;

pub use paths::{safe_relative_path, PathError};
pub use templates::{FileTemplate, TemplateContext, TemplateError, Templates};
pub use transfer::{checksum, transfer_file, Stored, Transfer, TransferError, TransferMode};
