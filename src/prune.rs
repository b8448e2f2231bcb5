//! Pruning datasets (the reference's `prune-datasets`): disassociate them from TAGGED
//! collections, unstore their files, or purge them entirely. Registry changes are one
//! transaction; files go after it commits, through the trash.

use uuid::Uuid;
use valet_collections::tagged::disassociate;
use valet_registry::artifacts::trash_datasets;
use valet_registry::datasets::{delete_datasets, get_datasets};
use valet_registry::RegistryError;

use crate::datastore::empty_trash;
use crate::{Repo, RepoError};

/// What to do to the datasets.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct PruneOptions {
    /// Delete the datasets (and files); every one must be in this RUN.
    pub purge: Option<String>,
    /// Delete the files but keep the datasets registered.
    pub unstore: bool,
    /// Remove the datasets from these TAGGED collections.
    pub disassociate: Vec<String>,
}

/// What a prune did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PruneReport {
    /// Datasets deleted.
    pub purged: u64,
    /// Memberships removed.
    pub disassociated: u64,
    /// Files deleted.
    pub files_deleted: usize,
}

/// Prune datasets.
pub fn prune(repo: &Repo, ids: &[Uuid], options: &PruneOptions) -> Result<PruneReport, RepoError> {
    if options.purge.is_some() && !options.disassociate.is_empty() {
        return Err(RepoError::Invalid(
            "--purge cannot be combined with --disassociate (purging removes every membership)"
                .into(),
        ));
    }
    if options.purge.is_none() && !options.unstore && options.disassociate.is_empty() {
        return Err(RepoError::Invalid(
            "nothing to do: give --purge RUN, --unstore or --disassociate TAG".into(),
        ));
    }
    let mut report = PruneReport::default();
    repo.registry.transaction(|conn, _| {
        // A retried attempt counts afresh.
        report = PruneReport::default();
        // Deleting a dataset or its file writes its RUN.
        if options.purge.is_some() || options.unstore {
            for (_, r) in get_datasets(conn, ids)? {
                valet_registry::access::check_write(conn, &r.run)?;
                valet_registry::access::check_not_production(conn, &r.run, "delete datasets or files of")?;
            }
        }
        if let Some(run) = &options.purge {
            for (_, r) in get_datasets(conn, ids)? {
                if &r.run != run {
                    return Err(RegistryError::Invalid(format!(
                        "dataset {} is in run {:?}, not {run:?}; --purge removes datasets of the named RUN only",
                        r.id, r.run
                    )));
                }
            }
            trash_datasets(conn, ids)?;
            report.purged += delete_datasets(conn, ids)?;
        } else {
            if options.unstore {
                trash_datasets(conn, ids)?;
            }
            for tag in &options.disassociate {
                report.disassociated += disassociate(conn, tag, ids)? as u64;
            }
        }
        Ok(())
    })?;
    report.files_deleted = empty_trash(repo)?.deleted;
    Ok(report)
}
