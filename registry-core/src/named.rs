//! The tables of DESC's data registry model ("named datasets"): datasets registered by
//! name and version under an owner, with no dimensions, their files, aliases, keywords
//! and the executions that read them. They live in the same database as the Butler
//! tables and share `execution`, so lineage crosses from one side to the other.
//!
//! The tables are made on first use (repositories made before they existed gain them
//! on their first named-dataset write); reads of a repository without them see none.

use crate::db::{Backend, Conn};
use crate::error::Result;
use crate::schema::{table_exists, types};

/// The named-dataset table (DESC's `dataset`).
pub const DATASET_TABLE: &str = "dregs_dataset";
/// The keywords DESC's registry ships as system keywords.
pub const SYSTEM_KEYWORDS: [&str; 4] = ["simulation", "observation", "dc2", "deprecated"];

fn ddl(backend: Backend) -> String {
    let t = types(backend);
    format!(
        r#"
CREATE TABLE dregs_dataset (
    dataset_id {autoinc},
    name TEXT NOT NULL,
    version_major BIGINT NOT NULL,
    version_minor BIGINT NOT NULL,
    version_patch BIGINT NOT NULL,
    version_string VARCHAR(64) NOT NULL,
    owner VARCHAR(128) NOT NULL,
    owner_type VARCHAR(16) NOT NULL,
    relative_path TEXT,
    location_type VARCHAR(16) NOT NULL,
    data_org VARCHAR(16),
    nfiles BIGINT NOT NULL,
    total_size BIGINT NOT NULL,
    checksum VARCHAR(128),
    description TEXT,
    access_api VARCHAR(128),
    access_api_configuration TEXT,
    url TEXT,
    contact_email TEXT,
    creation_date BIGINT,
    register_date BIGINT NOT NULL,
    creator_uid VARCHAR(128) NOT NULL,
    is_overwritable {bool_} NOT NULL,
    status BIGINT NOT NULL,
    delete_date BIGINT,
    delete_uid VARCHAR(128),
    replace_id BIGINT,
    replace_iteration BIGINT NOT NULL,
    execution_id BIGINT REFERENCES execution (execution_id),
    register_root_dir TEXT,
    fetch_date BIGINT,
    move_date BIGINT,
    restore_date BIGINT,
    archive_id BIGINT,
    UNIQUE (name, version_string, owner, owner_type, replace_iteration)
);
CREATE INDEX dregs_dataset_path ON dregs_dataset (relative_path, owner, owner_type);
CREATE INDEX dregs_dataset_execution ON dregs_dataset (execution_id);
CREATE TABLE dregs_dataset_file (
    dataset_id BIGINT NOT NULL REFERENCES dregs_dataset (dataset_id),
    path TEXT NOT NULL,
    file_size BIGINT NOT NULL,
    checksum VARCHAR(128),
    PRIMARY KEY (dataset_id, path)
);
CREATE INDEX dregs_dataset_file_path ON dregs_dataset_file (path);
CREATE TABLE dregs_alias (
    alias_id {autoinc},
    alias TEXT NOT NULL,
    dataset_id BIGINT REFERENCES dregs_dataset (dataset_id),
    ref_alias_id BIGINT REFERENCES dregs_alias (alias_id),
    supersede_date BIGINT,
    creator_uid VARCHAR(128) NOT NULL,
    register_date BIGINT NOT NULL,
    access_api VARCHAR(128),
    access_api_configuration TEXT
);
CREATE INDEX dregs_alias_name ON dregs_alias (alias);
CREATE TABLE dregs_keyword (
    keyword_id {autoinc},
    keyword VARCHAR(250) NOT NULL UNIQUE,
    system {bool_} NOT NULL,
    active {bool_} NOT NULL,
    creator_uid VARCHAR(128) NOT NULL,
    creation_date BIGINT NOT NULL
);
CREATE TABLE dregs_dataset_keyword (
    dataset_id BIGINT NOT NULL REFERENCES dregs_dataset (dataset_id),
    keyword_id BIGINT NOT NULL REFERENCES dregs_keyword (keyword_id),
    PRIMARY KEY (dataset_id, keyword_id)
);
CREATE INDEX dregs_dataset_keyword_keyword ON dregs_dataset_keyword (keyword_id);
CREATE TABLE dregs_dependency (
    execution_id BIGINT NOT NULL REFERENCES execution (execution_id) ON DELETE CASCADE,
    input_id BIGINT NOT NULL REFERENCES dregs_dataset (dataset_id),
    register_date BIGINT NOT NULL,
    PRIMARY KEY (execution_id, input_id)
);
CREATE INDEX dregs_dependency_input ON dregs_dependency (input_id);
"#,
        autoinc = t.autoinc_pk,
        bool_ = t.bool_,
    )
}

/// True if this registry has the named-dataset tables.
pub fn has_tables(conn: &mut Conn) -> Result<bool> {
    table_exists(conn, DATASET_TABLE)
}

/// Make the named-dataset tables (and the system keywords) unless they exist; call
/// inside the transaction of the first write that needs them.
pub fn ensure_tables(conn: &mut Conn) -> Result<()> {
    if has_tables(conn)? {
        return Ok(());
    }
    conn.batch(&ddl(conn.backend()))?;
    let now = crate::identity::now_utc_ns();
    let rows: Vec<Vec<crate::Value>> = SYSTEM_KEYWORDS
        .iter()
        .map(|k| {
            vec![
                (*k).into(),
                crate::Value::Bool(true),
                crate::Value::Bool(true),
                "system".into(),
                now.into(),
            ]
        })
        .collect();
    conn.insert_rows(
        "dregs_keyword",
        &[
            "keyword",
            "system",
            "active",
            "creator_uid",
            "creation_date",
        ],
        &rows,
        None,
    )?;
    Ok(())
}

/// A named dataset as lineage shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NamedNode {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its version string.
    pub version: String,
}

/// The named dataset with this id, for lineage (`None` if there is none).
pub fn named_node(conn: &mut Conn, id: i64) -> Result<Option<NamedNode>> {
    if !has_tables(conn)? {
        return Ok(None);
    }
    Ok(conn
        .query_opt(
            "SELECT dataset_id, name, version_string FROM dregs_dataset WHERE dataset_id = ?",
            &[id.into()],
        )?
        .map(|r| NamedNode {
            id: r[0].as_i64().unwrap_or_default(),
            name: r[1].as_str().unwrap_or_default().to_owned(),
            version: r[2].as_str().unwrap_or_default().to_owned(),
        }))
}
