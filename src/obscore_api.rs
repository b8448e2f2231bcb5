//! ObsCore through [`Repo`]: enabling, refilling and checking the live table (kept by
//! the observer in [`valet_obscore::live`]), and writing rows from a find-first search
//! or from the live table as it stands, to a file or any writer.

use std::io::{BufWriter, Write};
use std::path::Path;

use crate::repo::io_err;
use crate::{Repo, RepoError};

pub use valet_obscore::export::{obscore_row, ObsCoreExportOptions, RowsProgress};
pub use valet_obscore::exposure_regions::{ExposureRegionOptions, ExposureRegionReport};
pub use valet_obscore::live::{enabled_config, ExpectedDatasets, CONFIG_ATTRIBUTE};
pub use valet_obscore::sia::{SiaAnswer, SiaQuery};
pub use valet_obscore::ObsCoreConfig;

use valet_obscore::votable::write_votable;

/// Write a file through a sibling that is renamed into place once complete, so a
/// failure leaves no half file. Returns what `write` returns.
pub(crate) fn write_atomically(
    destination: &Path,
    write: &mut dyn FnMut(&mut (dyn Write + Send)) -> Result<u64, RepoError>,
) -> Result<u64, RepoError> {
    let partial = destination.with_extension("partial");
    let file = std::fs::File::create(&partial).map_err(io_err(&partial))?;
    let mut out = BufWriter::new(file);
    let written = write(&mut out).and_then(|n| out.flush().map(|_| n).map_err(io_err(&partial)));
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

/// File formats of [`Repo::export_obscore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObsCoreFormat {
    /// Comma-separated values, NULL as `\N`.
    Csv,
    /// Apache Parquet (snappy-compressed).
    Parquet,
    /// A VOTable 1.4 document, each column with ObsCore's UCD, utype and unit (of the
    /// live table).
    Votable,
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

impl ObsCoreSource {
    /// A find-first search with this configuration and these options.
    pub fn search(config: &ObsCoreConfig, options: &ObsCoreExportOptions) -> ObsCoreSource {
        ObsCoreSource::Search {
            config: Box::new(config.clone()),
            options: options.clone(),
        }
    }
}

impl Repo {
    /// Keep a live ObsCore table, maintained on every write (admins only): store the
    /// configuration (its YAML text), create the table and fill it. Returns the rows.
    pub fn enable_obscore(
        &self,
        config_text: &str,
        progress: Option<&RowsProgress>,
    ) -> Result<u64, RepoError> {
        Ok(valet_obscore::live::enable_reporting(
            &self.registry,
            &self.resolver,
            config_text,
            progress,
        )?)
    }

    /// Refill the live ObsCore table from the registry; returns the rows.
    pub fn update_obscore_table(&self, progress: Option<&RowsProgress>) -> Result<u64, RepoError> {
        Ok(valet_obscore::live::update_table_reporting(
            &self.registry,
            &self.resolver,
            progress,
        )?)
    }

    /// How many rows of the live ObsCore table `options` selects lack a region
    /// (`obscore set-exposure-regions --check`).
    pub fn count_missing_exposure_regions(
        &self,
        options: &ExposureRegionOptions,
    ) -> Result<u64, RepoError> {
        Ok(valet_obscore::exposure_regions::count_missing(
            &self.registry,
            options,
        )?)
    }

    /// Give the live ObsCore table's exposure rows (raws) that lack a region the
    /// region of their detector in a visit of their exposure, in one transaction
    /// (admins only, unless a dry run): rows written before their visits were
    /// defined get their footprints.
    pub fn set_exposure_regions(
        &self,
        options: &ExposureRegionOptions,
    ) -> Result<ExposureRegionReport, RepoError> {
        if !options.dry_run {
            self.require_admin("update regions in the ObsCore table")?;
        }
        Ok(valet_obscore::exposure_regions::set_exposure_regions(
            &self.registry,
            options,
        )?)
    }

    /// What a refill of the live ObsCore table would put right (missing, stray and
    /// differing rows), changing nothing; refused when ObsCore is not enabled.
    pub fn check_obscore_table(&self) -> Result<Vec<String>, RepoError> {
        if enabled_config(&mut *self.registry.db.conn()?)?.is_none() {
            return Err(RepoError::Invalid(
                "ObsCore is not enabled in this repository".into(),
            ));
        }
        self.obscore_problems()
    }

    /// What is wrong with the live ObsCore table; nothing when it is not enabled.
    pub(crate) fn obscore_problems(&self) -> Result<Vec<String>, RepoError> {
        Ok(valet_obscore::live::check_table(
            &self.registry,
            &self.resolver,
        )?)
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
        write_atomically(destination, &mut |out| {
            self.write_obscore(out, format, source)
        })
    }

    /// Answer a SIAv2 query from the live ObsCore table.
    pub fn siav2_query(&self, query: &SiaQuery) -> Result<SiaAnswer, RepoError> {
        Ok(valet_obscore::sia::query(&self.registry, query)?)
    }

    /// Answer a SIAv2 query from the live table as a VOTable document written to
    /// `destination` (complete, or not at all). Returns the rows written.
    pub fn export_siav2(&self, destination: &Path, query: &SiaQuery) -> Result<u64, RepoError> {
        let answer = self.siav2_query(query)?;
        write_atomically(destination, &mut |out| {
            write_votable(
                out,
                &answer.columns,
                &answer.types,
                &answer.rows,
                answer.overflow,
            )
            .map_err(io_err(destination))?;
            Ok(answer.rows.len() as u64)
        })
    }

    /// Write ObsCore rows to `out` (CSV: a header, then a line per row; Parquet: the
    /// whole file). Returns the rows written.
    pub fn write_obscore(
        &self,
        out: &mut (dyn Write + Send),
        format: ObsCoreFormat,
        source: &ObsCoreSource,
    ) -> Result<u64, RepoError> {
        use valet_obscore::{export, table_export};
        let (registry, resolver) = (&self.registry, &self.resolver);
        Ok(match (source, format) {
            (ObsCoreSource::Search { config, options }, ObsCoreFormat::Csv) => {
                export::export_obscore_csv(registry, resolver, config, options, out)?
            }
            (ObsCoreSource::Search { config, options }, ObsCoreFormat::Parquet) => {
                export::export_obscore_parquet(registry, resolver, config, options, out)?
            }
            (ObsCoreSource::Live, ObsCoreFormat::Csv) => {
                table_export::export_table_csv(registry, out)?
            }
            (ObsCoreSource::Live, ObsCoreFormat::Parquet) => {
                table_export::export_table_parquet(registry, out)?
            }
            (ObsCoreSource::Live, ObsCoreFormat::Votable) => {
                let all = self.siav2_query(&SiaQuery::default())?;
                write_votable(out, &all.columns, &all.types, &all.rows, false)
                    .map_err(valet_obscore::ObsCoreError::from)?;
                all.rows.len() as u64
            }
            (ObsCoreSource::Search { .. }, ObsCoreFormat::Votable) => {
                return Err(RepoError::Invalid(
                    "VOTable is written from the live table: export with --live, or query it with obscore siav2".into(),
                ))
            }
        })
    }
}
