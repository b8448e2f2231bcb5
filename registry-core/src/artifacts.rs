//! Where datasets' files are: one record per stored dataset (several datasets may
//! share a path), and a trash for two-phase removal. A stored dataset cannot be
//! deleted until its record is moved to the trash (the foreign key has no cascade);
//! files are deleted after the commit, and only when no live record uses their path.

use uuid::Uuid;

use crate::db::{Conn, Value};
use crate::error::Result;

/// One artifact record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactRecord {
    /// The dataset.
    pub dataset_id: Uuid,
    /// Path relative to the datastore root, or absolute for `direct` transfers.
    pub path: String,
    /// Formatter class name, if known.
    pub formatter: Option<String>,
    /// Storage class.
    pub storage_class: Option<String>,
    /// blake2b hex digest.
    pub checksum: Option<String>,
    /// Size in bytes.
    pub file_size: Option<i64>,
}

/// Record artifacts.
pub fn insert_artifacts(conn: &mut Conn, records: &[ArtifactRecord]) -> Result<()> {
    let rows: Vec<Vec<Value>> = records
        .iter()
        .map(|r| {
            vec![
                Value::Uuid(r.dataset_id),
                r.path.clone().into(),
                r.formatter.clone().into(),
                r.storage_class.clone().into(),
                r.checksum.clone().into(),
                r.file_size.into(),
            ]
        })
        .collect();
    conn.insert_rows(
        "datastore_record",
        &[
            "dataset_id",
            "path",
            "formatter",
            "storage_class",
            "checksum",
            "file_size",
        ],
        &rows,
        None,
    )?;
    Ok(())
}

fn from_row(r: &[Value]) -> ArtifactRecord {
    ArtifactRecord {
        dataset_id: r[0].as_uuid().unwrap_or_default(),
        path: r[1].as_str().unwrap_or_default().to_owned(),
        formatter: r[2].as_str().map(str::to_owned),
        storage_class: r[3].as_str().map(str::to_owned),
        checksum: r[4].as_str().map(str::to_owned),
        file_size: r[5].as_i64(),
    }
}

const COLUMNS: &str = "dataset_id, path, formatter, storage_class, checksum, file_size";

/// The artifact of a dataset, if it has one.
pub fn get_artifact(conn: &mut Conn, id: Uuid) -> Result<Option<ArtifactRecord>> {
    Ok(conn
        .query_opt(
            &format!("SELECT {COLUMNS} FROM datastore_record WHERE dataset_id = ?"),
            &[Value::Uuid(id)],
        )?
        .map(|r| from_row(&r)))
}

/// Every artifact record, by path.
pub fn all_artifacts(conn: &mut Conn) -> Result<Vec<ArtifactRecord>> {
    Ok(conn
        .query(
            &format!("SELECT {COLUMNS} FROM datastore_record ORDER BY path"),
            &[],
        )?
        .iter()
        .map(|r| from_row(r))
        .collect())
}

/// Move the records of every dataset in a RUN to the trash (inside the transaction
/// that deletes the datasets).
pub fn trash_run(conn: &mut Conn, run_id: i64) -> Result<u64> {
    conn.execute(
        "INSERT INTO datastore_trash (dataset_id, path) SELECT r.dataset_id, r.path FROM datastore_record r \
         JOIN dataset d ON d.id = r.dataset_id WHERE d.run_id = ?",
        &[run_id.into()],
    )?;
    conn.execute(
        "DELETE FROM datastore_record WHERE dataset_id IN (SELECT id FROM dataset WHERE run_id = ?)",
        &[run_id.into()],
    )
    .map_err(Into::into)
}

/// Move the records of some datasets to the trash.
pub fn trash_datasets(conn: &mut Conn, ids: &[Uuid]) -> Result<u64> {
    let mut n = 0;
    for id in ids {
        conn.execute(
            "INSERT INTO datastore_trash (dataset_id, path) SELECT dataset_id, path FROM datastore_record WHERE dataset_id = ?",
            &[Value::Uuid(*id)],
        )?;
        n += conn.execute(
            "DELETE FROM datastore_record WHERE dataset_id = ?",
            &[Value::Uuid(*id)],
        )?;
    }
    Ok(n)
}

/// The trash: `(dataset id, path, still used by a live record)`.
pub fn trash_contents(conn: &mut Conn) -> Result<Vec<(Uuid, String, bool)>> {
    Ok(conn
        .query(
            "SELECT t.dataset_id, t.path, (SELECT COUNT(*) FROM datastore_record r WHERE r.path = t.path) FROM datastore_trash t",
            &[],
        )?
        .iter()
        .map(|r| {
            (
                r[0].as_uuid().unwrap_or_default(),
                r[1].as_str().unwrap_or_default().to_owned(),
                r[2].as_i64().unwrap_or(0) > 0,
            )
        })
        .collect())
}

/// Forget trash entries whose files have been dealt with.
pub fn clear_trash(conn: &mut Conn, ids: &[Uuid]) -> Result<()> {
    for id in ids {
        conn.execute(
            "DELETE FROM datastore_trash WHERE dataset_id = ?",
            &[Value::Uuid(*id)],
        )?;
    }
    Ok(())
}
