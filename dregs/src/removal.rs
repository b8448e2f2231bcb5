//! Deleting a named dataset: the row stays, with the deleted bit, the date and who;
//! its files go (after the commit, by the caller) unless another live dataset
//! describes the same files.

use valet_registry::identity::{current_user, now_utc_ns};
use valet_registry::{Conn, RegistryError, Result};

use crate::model::{status, NamedDataset};
use crate::register::latest_iteration;
use crate::rules::check_dataset_write;

/// The latest iteration of `name` `version` in this owner's area, or a "not found".
pub fn find_by_name(
    conn: &mut Conn,
    name: &str,
    version: &str,
    owner: &str,
    owner_type: &str,
) -> Result<NamedDataset> {
    if !valet_registry::named::has_tables(conn)? {
        return Err(not_found_by_name(name, version, owner, owner_type));
    }
    latest_iteration(conn, name, version, owner, owner_type)?
        .ok_or_else(|| not_found_by_name(name, version, owner, owner_type))
}

fn not_found_by_name(name: &str, version: &str, owner: &str, owner_type: &str) -> RegistryError {
    RegistryError::NotFound(format!(
        "No datasets found with combination {name} {version} {owner} {owner_type}"
    ))
}

/// The files of a dataset that no other live dataset records.
pub fn files_only_of(conn: &mut Conn, dataset_id: i64) -> Result<Vec<String>> {
    Ok(conn
        .query(
            "SELECT f.path FROM dregs_dataset_file f WHERE f.dataset_id = ? AND NOT EXISTS ( \
               SELECT 1 FROM dregs_dataset_file g JOIN dregs_dataset d ON d.dataset_id = g.dataset_id \
               WHERE g.path = f.path AND g.dataset_id <> f.dataset_id AND d.status / 2 % 2 = 0) \
             ORDER BY f.path",
            &[dataset_id.into()],
        )?
        .iter()
        .filter_map(|r| r[0].as_str().map(str::to_owned))
        .collect())
}

/// Mark dataset `id` deleted (its creator or an admin; never production). Returns
/// the dataset as it was and the files to remove once the transaction commits.
pub fn mark_deleted(conn: &mut Conn, id: i64) -> Result<(NamedDataset, Vec<String>)> {
    let d = crate::get_dataset(conn, id)?;
    if d.is_deleted() {
        return Err(RegistryError::Conflict(format!(
            "Dataset {id} ({} {}) previously deleted",
            d.name, d.version
        )));
    }
    check_dataset_write(conn, &d, "delete")?;
    let files = files_only_of(conn, id)?;
    conn.execute(
        "UPDATE dregs_dataset SET status = ?, delete_date = ?, delete_uid = ? WHERE dataset_id = ?",
        &[
            (d.status | status::DELETED).into(),
            now_utc_ns().into(),
            current_user()?.into(),
            id.into(),
        ],
    )?;
    Ok((d, files))
}

/// One recorded file of a named dataset, for `check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedFile {
    /// The dataset.
    pub dataset_id: i64,
    /// Path relative to the datastore root.
    pub path: String,
    /// Size in bytes.
    pub size: i64,
    /// BLAKE2b.
    pub checksum: Option<String>,
    /// False if the dataset is deleted (its files should be gone).
    pub live: bool,
}

/// Every file every named dataset records.
pub fn all_files(conn: &mut Conn) -> Result<Vec<RecordedFile>> {
    if !valet_registry::named::has_tables(conn)? {
        return Ok(Vec::new());
    }
    Ok(conn
        .query(
            "SELECT f.dataset_id, f.path, f.file_size, f.checksum, d.status FROM dregs_dataset_file f \
             JOIN dregs_dataset d ON d.dataset_id = f.dataset_id ORDER BY f.path, f.dataset_id",
            &[],
        )?
        .iter()
        .map(|r| RecordedFile {
            dataset_id: r[0].as_i64().unwrap_or_default(),
            path: r[1].as_str().unwrap_or_default().to_owned(),
            size: r[2].as_i64().unwrap_or_default(),
            checksum: r[3].as_str().map(str::to_owned),
            live: r[4].as_i64().unwrap_or_default() & status::DELETED == 0,
        })
        .collect())
}
