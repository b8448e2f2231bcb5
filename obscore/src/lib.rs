//! The IVOA ObsCore table: the reference's configuration format, its record
//! content (obs_id and access_url templates, MJD UTC times from TAI timespans,
//! spectral ranges, regions as ADQL polygons with bounding circles), and CSV output.

pub mod config;
pub mod format;
pub mod parquet_out;
pub mod record;
pub mod sky;
pub mod time;

pub use config::ObsCoreConfig;
pub use record::{columns, CellSink, CsvLine, DatasetContext, ObsValue, RowPlan};
pub use time::{tai_minus_utc_seconds, tai_ns_to_mjd_utc};

/// Errors from ObsCore configuration or record building.
#[derive(Debug, thiserror::Error)]
pub enum ObsCoreError {
    /// The configuration is malformed.
    #[error("ObsCore configuration: {0}")]
    Config(String),
    /// A template could not be formatted.
    #[error("ObsCore template {template:?}: {message}")]
    Template {
        /// The template.
        template: String,
        /// What went wrong.
        message: String,
    },
}
