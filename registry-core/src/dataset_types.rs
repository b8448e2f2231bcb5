//! Dataset types: registration with the reference's rules, look-up and removal.

use std::sync::OnceLock;

use regex::Regex;
use valet_config::{DimensionGroup, Universe};

use crate::db::{Conn, Value};
use crate::error::{RegistryError, Result};
use crate::schema::{calibs_table_name, create_calibs_table, create_tags_table, tags_table_name};

/// A registered dataset type.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DatasetType {
    /// Synthetic key.
    pub id: i64,
    /// Name (never a component).
    pub name: String,
    /// Storage class name.
    pub storage_class: String,
    /// Normalized dimensions.
    pub dimensions: DimensionGroup,
    /// True for calibration types (certifiable into CALIBRATION collections).
    pub is_calibration: bool,
    /// The dimension group's key.
    pub group_id: i64,
    /// The tags table that holds this type's RUN and TAGGED memberships.
    pub tags_table: String,
    /// The calibs table, for calibration types.
    pub calibs_table: Option<String>,
}

fn name_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^[a-zA-Z_][a-zA-Z0-9_]*(\.[a-zA-Z_][a-zA-Z0-9_]*)*$").expect("valid regex")
    })
}

fn storage_class_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[a-zA-Z_][a-zA-Z0-9_.]*$").expect("valid regex"))
}

/// Check a dataset type name: the reference's regex, no components, at most 128
/// characters.
pub fn validate_name(name: &str) -> Result<()> {
    if !name_regex().is_match(name) {
        return Err(RegistryError::Invalid(format!(
            "invalid dataset type name {name:?}: it must match [a-zA-Z_][a-zA-Z0-9_]*(.[a-zA-Z_][a-zA-Z0-9_]*)*"
        )));
    }
    if name.contains('.') {
        return Err(RegistryError::Invalid(format!(
            "{name:?} is a component dataset type; components are derived from their parent and cannot be registered"
        )));
    }
    if name.len() > 128 {
        return Err(RegistryError::Invalid(format!(
            "dataset type name {name:?} is longer than 128 characters"
        )));
    }
    Ok(())
}

fn split_names(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

const SELECT: &str = "SELECT t.id, t.name, t.storage_class, t.is_calibration, t.tags_table, \
     t.calibs_table, g.id, g.required, g.implied \
     FROM dataset_type t JOIN dimension_group g ON g.id = t.dimension_group_id";

fn from_row(row: &[Value]) -> DatasetType {
    let text = |i: usize| row[i].as_str().unwrap_or_default().to_owned();
    DatasetType {
        id: row[0].as_i64().unwrap_or_default(),
        name: text(1),
        storage_class: text(2),
        is_calibration: row[3].as_i64().unwrap_or_default() != 0,
        tags_table: text(4),
        calibs_table: row[5].as_str().map(str::to_owned),
        group_id: row[6].as_i64().unwrap_or_default(),
        dimensions: DimensionGroup {
            required: split_names(&text(7)),
            implied: split_names(&text(8)),
        },
    }
}

/// Look a dataset type up by name.
pub fn find_dataset_type(conn: &mut Conn, name: &str) -> Result<Option<DatasetType>> {
    Ok(conn
        .query_opt(&format!("{SELECT} WHERE t.name = ?"), &[name.into()])?
        .map(|r| from_row(&r)))
}

/// Look a dataset type up by name, failing clearly if it is missing.
pub fn get_dataset_type(conn: &mut Conn, name: &str) -> Result<DatasetType> {
    if name.contains('.') {
        return Err(RegistryError::Invalid(format!(
            "{name:?} is a component; use its parent dataset type"
        )));
    }
    find_dataset_type(conn, name)?
        .ok_or_else(|| RegistryError::NotFound(format!("dataset type {name:?} is not registered")))
}

/// Every dataset type, by name.
pub fn all_dataset_types(conn: &mut Conn) -> Result<Vec<DatasetType>> {
    Ok(conn
        .query(&format!("{SELECT} ORDER BY t.name"), &[])?
        .iter()
        .map(|r| from_row(r))
        .collect())
}

/// Find or create the dimension-group row (and its tags table).
fn ensure_group(conn: &mut Conn, universe: &Universe, group: &DimensionGroup) -> Result<i64> {
    let key = group.key(universe);
    if let Some(row) = conn.query_opt(
        "SELECT id FROM dimension_group WHERE key = ?",
        &[key.clone().into()],
    )? {
        return Ok(row[0].as_i64().unwrap_or_default());
    }
    conn.execute(
        "INSERT INTO dimension_group (key, required, implied) VALUES (?, ?, ?)",
        &[
            key.clone().into(),
            group.required.join(",").into(),
            group.implied.join(",").into(),
        ],
    )?;
    let id = conn
        .query_opt(
            "SELECT id FROM dimension_group WHERE key = ?",
            &[key.into()],
        )?
        .and_then(|r| r[0].as_i64())
        .ok_or_else(|| RegistryError::Schema("dimension group vanished after insert".into()))?;
    create_tags_table(conn, universe, id, &group.required)?;
    Ok(id)
}

/// Register a dataset type. Returns the type and whether it was newly inserted; an
/// identical existing definition is a no-op, a different one is an error.
pub fn register_dataset_type(
    conn: &mut Conn,
    universe: &Universe,
    name: &str,
    storage_class: &str,
    dimensions: &[String],
    is_calibration: bool,
) -> Result<(DatasetType, bool)> {
    validate_name(name)?;
    if !storage_class_regex().is_match(storage_class) || storage_class.len() > 64 {
        return Err(RegistryError::Invalid(format!(
            "invalid storage class name {storage_class:?} for dataset type {name:?}"
        )));
    }
    let group = universe
        .group(dimensions)
        .map_err(|e| RegistryError::Invalid(format!("dataset type {name:?}: {e}")))?;
    // A concurrent registration of the same type, or of another with the same
    // dimensions (one dimension group and tags table), can win the insert.
    crate::races::insert_unless_found(conn, |conn| {
        register_new(conn, universe, name, storage_class, &group, is_calibration)
    })
}

/// The look-up and insert of [`register_dataset_type`], for a validated definition.
fn register_new(
    conn: &mut Conn,
    universe: &Universe,
    name: &str,
    storage_class: &str,
    group: &DimensionGroup,
    is_calibration: bool,
) -> Result<(DatasetType, bool)> {
    if let Some(existing) = find_dataset_type(conn, name)? {
        let same = existing.storage_class == storage_class
            && existing.is_calibration == is_calibration
            && existing.dimensions.key(universe) == group.key(universe);
        if same {
            return Ok((existing, false));
        }
        return Err(RegistryError::Conflict(format!(
            "dataset type {name:?} is already registered as {} with dimensions {{{}}}{}; refusing a different definition ({storage_class}, {{{}}}{})",
            existing.storage_class,
            existing.dimensions.key(universe).replace('+', ", "),
            if existing.is_calibration { ", calibration" } else { "" },
            group.key(universe).replace('+', ", "),
            if is_calibration { ", calibration" } else { "" },
        )));
    }
    crate::access::check_admin(conn, &format!("register dataset type {name:?}"))?;
    let group_id = ensure_group(conn, universe, group)?;
    let calibs_table = if is_calibration {
        let table = calibs_table_name(group_id);
        // The table outlives the types that used it (removing a type keeps it), so
        // ask the database rather than the dataset_type rows.
        if !crate::schema::table_exists(conn, &table)? {
            create_calibs_table(conn, universe, group_id, &group.required)?;
        }
        Some(table)
    } else {
        None
    };
    conn.execute(
        "INSERT INTO dataset_type (name, storage_class, dimension_group_id, is_calibration, tags_table, calibs_table) VALUES (?, ?, ?, ?, ?, ?)",
        &[
            name.into(),
            storage_class.into(),
            group_id.into(),
            Value::Bool(is_calibration),
            tags_table_name(group_id).into(),
            calibs_table.into(),
        ],
    )?;
    Ok((get_dataset_type(conn, name)?, true))
}

/// Remove a dataset type; refused while any dataset of it exists.
pub fn remove_dataset_type(conn: &mut Conn, name: &str) -> Result<()> {
    crate::races::lock_collection_structure(conn)?;
    let t = get_dataset_type(conn, name)?;
    crate::access::check_admin(conn, &format!("remove dataset type {name:?}"))?;
    // Existence is one probe; the count is only for the message.
    if t.storage().any(conn)? {
        let n = conn
            .query_opt(
                "SELECT COUNT(*) FROM dataset WHERE dataset_type_id = ?",
                &[t.id.into()],
            )?
            .and_then(|r| r[0].as_i64())
            .unwrap_or(0);
        return Err(RegistryError::Conflict(format!(
            "cannot remove dataset type {name:?}: {n} dataset(s) of it still exist"
        )));
    }
    conn.execute(
        "DELETE FROM collection_summary_dataset_type WHERE dataset_type_id = ?",
        &[t.id.into()],
    )?;
    conn.execute("DELETE FROM dataset_type WHERE id = ?", &[t.id.into()])?;
    crate::schema::bump_generation(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_reference_regex() {
        assert!(validate_name("calexp").is_ok());
        assert!(validate_name("_x1").is_ok());
        assert!(validate_name("calexp.wcs").is_err());
        assert!(validate_name("1abc").is_err());
        assert!(validate_name("a-b").is_err());
    }
}
