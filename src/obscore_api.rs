//! ObsCore through [`Repo`]: enabling, refilling and checking the live table
//! ([`crate::obscore_live`]), and exporting rows to a file, from a search
//! ([`crate::obscore_export`]) or from the live table as it stands
//! ([`crate::obscore_table_export`]).

use std::io::{BufWriter, Write};
use std::path::Path;

use crate::obscore_export::{export_obscore_csv, export_obscore_parquet};
use crate::obscore_live::{check_table, enable_reporting, enabled_config, update_table_reporting};
use crate::obscore_table_export::{export_table_csv, export_table_parquet};
use crate::repo::io_err;
use crate::{Repo, RepoError};

pub use crate::obscore_export::{ObsCoreExportOptions, RowsProgress};
pub use valet_obscore::ObsCoreConfig;

/// File formats of [`Repo::export_obscore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObsCoreFormat {
    /// Comma-separated values, NULL as `\N`.
    Csv,
    /// Apache Parquet (snappy-compressed).
    Parquet,
}

/// Where the rows of [`Repo::export_obscore`] come from.
#[derive(Clone)]
pub enum ObsCoreSource {
    /// A find-first search, rows built with this configuration.
    Search {
        /// The ObsCore configuration (the reference's format).
        config: Box<ObsCoreConfig>,
        /// What to search.
        options: ObsCoreExportOptions,
    },
    /// The repository's live table as it stands.
    Live,
}

impl Repo {
    /// Keep a live ObsCore table, maintained on every write (admins only): store the
    /// configuration (its YAML text), create the table and fill it. Returns the rows.
    pub fn enable_obscore(
        &self,
        config_text: &str,
        progress: Option<&RowsProgress>,
    ) -> Result<u64, RepoError> {
        enable_reporting(self, config_text, progress)
    }

    /// Refill the live ObsCore table from the registry; returns the rows.
    pub fn update_obscore_table(&self, progress: Option<&RowsProgress>) -> Result<u64, RepoError> {
        update_table_reporting(self, progress)
    }

    /// What a refill of the live ObsCore table would put right (missing, stray and
    /// differing rows), changing nothing; refused when ObsCore is not enabled.
    pub fn check_obscore_table(&self) -> Result<Vec<String>, RepoError> {
        if enabled_config(&mut self.registry.db.conn()?)?.is_none() {
            return Err(RepoError::Invalid(
                "ObsCore is not enabled in this repository".into(),
            ));
        }
        check_table(self)
    }

    /// Write ObsCore rows to `destination`, through a file beside it that is renamed
    /// into place once complete, so a failed export leaves no half file. Returns the
    /// rows written.
    pub fn export_obscore(
        &self,
        destination: &Path,
        format: ObsCoreFormat,
        source: &ObsCoreSource,
    ) -> Result<u64, RepoError> {
        let partial = destination.with_extension("partial");
        let file = std::fs::File::create(&partial).map_err(io_err(&partial))?;
        let mut out = BufWriter::new(file);
        let written = match (source, format) {
            (ObsCoreSource::Search { config, options }, ObsCoreFormat::Csv) => {
                export_obscore_csv(self, config, options, &mut out)
            }
            (ObsCoreSource::Search { config, options }, ObsCoreFormat::Parquet) => {
                export_obscore_parquet(self, config, options, &mut out)
            }
            (ObsCoreSource::Live, ObsCoreFormat::Csv) => export_table_csv(self, &mut out),
            (ObsCoreSource::Live, ObsCoreFormat::Parquet) => export_table_parquet(self, &mut out),
        }
        .and_then(|n| {
            out.flush()
                .map(|_| n)
                .map_err(|e| RepoError::Invalid(e.to_string()))
        });
        drop(out);
        match written {
            Ok(n) => {
                std::fs::rename(&partial, destination).map_err(io_err(destination))?;
                Ok(n)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                Err(e)
            }
        }
    }
}
