//! The IVOA ObsCore table: the reference's configuration format, its record
//! content (obs_id and access_url templates, MJD UTC times from TAI timespans,
//! spectral ranges, regions as ADQL polygons with bounding circles), and CSV output.

pub mod config;
pub mod export;
pub mod exposure_regions;
pub mod format;
pub mod live;
pub mod observer;
mod parallel;
pub mod parquet_out;
pub mod record;
pub mod sia;
pub mod sky;
pub mod sky_index;
pub mod table_export;
pub mod time;
pub mod votable;

pub use config::ObsCoreConfig;
pub use record::{columns, CellSink, CsvLine, DatasetContext, ObsValue, RowPlan};
pub use time::{tai_minus_utc_seconds, tai_ns_to_mjd_utc};

/// Errors from ObsCore configuration, record building, the live table and exports.
#[derive(Debug, thiserror::Error)]
pub enum ObsCoreError {
    /// The registry failed under the table or an export.
    #[error(transparent)]
    Registry(#[from] valet_registry::RegistryError),
    /// Writing an export failed.
    #[error("writing ObsCore output: {0}")]
    Output(#[from] std::io::Error),
    /// The request cannot be carried out as asked.
    #[error("{0}")]
    Invalid(String),
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

impl From<valet_registry::db::DbError> for ObsCoreError {
    fn from(e: valet_registry::db::DbError) -> Self {
        ObsCoreError::Registry(e.into())
    }
}
