//! The POSIX file datastore. Files live under the repository's datastore root at paths
//! rendered from RUN-name templates; nothing may ever be written outside that root.

pub mod journal;
pub mod paths;
pub mod store;
pub mod templates;
pub mod transfer;

pub use journal::{journals, Journal, JournalEntry, RepairLock, WriteLease, CONTROL_DIR};
pub use paths::{refuse_inside, resolved_destination, safe_relative_path, PathError};
pub use store::{empty_trash, Datastore, TrashReport, WriteLog};
pub use templates::{FileTemplate, TemplateContext, TemplateError, Templates};
pub use transfer::{
    checksum, transfer_file, SourceCheck, SourceRule, Stored, Transfer, TransferError, TransferMode,
};
