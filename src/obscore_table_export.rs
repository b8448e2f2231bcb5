//! Export of the live ObsCore table as it stands (see [`valet_obscore::table_export`]).

use std::io::Write;

use crate::{Repo, RepoError};

/// Write the live table as CSV; returns the number of rows.
pub fn export_table_csv(repo: &Repo, out: &mut dyn Write) -> Result<u64, RepoError> {
    Ok(valet_obscore::table_export::export_table_csv(
        &repo.registry,
        out,
    )?)
}

/// Write the live table as Parquet; returns the number of rows.
pub fn export_table_parquet<W: Write + Send>(repo: &Repo, out: W) -> Result<u64, RepoError> {
    Ok(valet_obscore::table_export::export_table_parquet(
        &repo.registry,
        out,
    )?)
}
