//! ObsCore export of a find-first search (see [`valet_obscore::export`]), as [`Repo`]
//! runs it.

use std::io::Write;

pub use valet_obscore::export::{obscore_row, ObsCoreExportOptions, RowsProgress};
use valet_obscore::ObsCoreConfig;

use crate::{Repo, RepoError};

/// Write the ObsCore rows of a search as CSV (header, then one line per dataset).
/// Returns the number of rows.
pub fn export_obscore_csv(
    repo: &Repo,
    config: &ObsCoreConfig,
    options: &ObsCoreExportOptions,
    out: &mut (dyn Write + Send),
) -> Result<u64, RepoError> {
    Ok(valet_obscore::export::export_obscore_csv(
        &repo.registry,
        &repo.resolver,
        config,
        options,
        out,
    )?)
}

/// Write the ObsCore rows of a search as Parquet. Returns the number of rows.
pub fn export_obscore_parquet<W: Write + Send>(
    repo: &Repo,
    config: &ObsCoreConfig,
    options: &ObsCoreExportOptions,
    out: W,
) -> Result<u64, RepoError> {
    Ok(valet_obscore::export::export_obscore_parquet(
        &repo.registry,
        &repo.resolver,
        config,
        options,
        out,
    )?)
}
