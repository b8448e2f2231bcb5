//! The live ObsCore table of a repository (see [`valet_obscore::live`]), as [`Repo`]
//! reaches it.

pub use valet_obscore::live::{enabled_config, ExpectedDatasets, CONFIG_ATTRIBUTE};

use crate::obscore_export::RowsProgress;
use crate::{Repo, RepoError};

/// Enable the live table (admins only): store the configuration, (re)create the
/// table and fill it. Changing the configuration later is the same call.
pub fn enable(repo: &Repo, config_text: &str) -> Result<u64, RepoError> {
    enable_reporting(repo, config_text, None)
}

/// [`enable`], reporting the rows filled so far to `progress`.
pub fn enable_reporting(
    repo: &Repo,
    config_text: &str,
    progress: Option<&RowsProgress>,
) -> Result<u64, RepoError> {
    Ok(valet_obscore::live::enable_reporting(
        &repo.registry,
        &repo.resolver,
        config_text,
        progress,
    )?)
}

/// Refill the live table from the registry (after enabling, or to repair it).
pub fn update_table(repo: &Repo) -> Result<u64, RepoError> {
    update_table_reporting(repo, None)
}

/// [`update_table`], reporting the rows filled so far to `progress`.
pub fn update_table_reporting(
    repo: &Repo,
    progress: Option<&RowsProgress>,
) -> Result<u64, RepoError> {
    Ok(valet_obscore::live::update_table_reporting(
        &repo.registry,
        &repo.resolver,
        progress,
    )?)
}

/// Compare the live table with what the registry says it should hold.
pub fn check_table(repo: &Repo) -> Result<Vec<String>, RepoError> {
    Ok(valet_obscore::live::check_table(
        &repo.registry,
        &repo.resolver,
    )?)
}
