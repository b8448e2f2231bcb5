//! Butler export files: reading every format the reference writes (and its older
//! ones), importing them atomically, and writing exports the reference can read.

pub mod between;
pub mod bundle;
pub mod calibs;
pub mod export;
pub mod import;
pub mod model;
pub mod select;
pub mod yaml_read;
pub mod yaml_write;

pub use between::TransferOptions;
pub use export::{build_export, export_files, ExportOptions};
pub use import::{import_export, ImportOptions, ImportSummary};
pub use model::{Association, CollectionEntry, DatasetFile, Entry, ExportFile};
pub use select::select_export_files;
pub use yaml_read::{read_export, read_records};
pub use yaml_write::write_export;
