//! Collection records: the rows every collection type shares. The semantics of chains,
//! tags and calibrations live in the `valet-collections` crate.

use std::fmt;
use std::str::FromStr;

use crate::db::{Conn, Value};
use crate::error::{RegistryError, Result};

/// The reference's maximum collection-name length.
pub const COLLECTION_NAME_MAX_LENGTH: usize = 64;

/// The four collection types, with the reference's stored integers.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum CollectionType {
    /// Where datasets are created; each dataset is in exactly one RUN.
    Run = 1,
    /// A hand-picked set of datasets.
    Tagged = 2,
    /// An ordered list of other collections.
    Chained = 3,
    /// Calibration datasets with validity ranges.
    Calibration = 4,
}

impl CollectionType {
    /// From the stored integer.
    pub fn from_i64(v: i64) -> Option<CollectionType> {
        Some(match v {
            1 => CollectionType::Run,
            2 => CollectionType::Tagged,
            3 => CollectionType::Chained,
            4 => CollectionType::Calibration,
            _ => return None,
        })
    }

    /// The reference's name (`RUN`, `TAGGED`, `CHAINED`, `CALIBRATION`).
    pub fn name(self) -> &'static str {
        match self {
            CollectionType::Run => "RUN",
            CollectionType::Tagged => "TAGGED",
            CollectionType::Chained => "CHAINED",
            CollectionType::Calibration => "CALIBRATION",
        }
    }

    /// All four types.
    pub fn all() -> [CollectionType; 4] {
        [
            CollectionType::Run,
            CollectionType::Tagged,
            CollectionType::Chained,
            CollectionType::Calibration,
        ]
    }
}

impl fmt::Display for CollectionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CollectionType {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self> {
        CollectionType::all()
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                RegistryError::Invalid(format!(
                    "unknown collection type {s:?}: use RUN, TAGGED, CHAINED or CALIBRATION"
                ))
            })
    }
}

/// One collection row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CollectionRecord {
    /// Synthetic key.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Type.
    pub kind: CollectionType,
    /// Documentation, if any.
    pub doc: Option<String>,
    /// Who owns it (the user who registered it).
    pub owner: Option<String>,
    /// `user`, `group`, `project` or `production`, as in DESC's registry.
    pub owner_type: String,
}

/// The owner types of DESC's registry.
pub const OWNER_TYPES: [&str; 4] = ["user", "group", "project", "production"];

/// The columns [`record_from_row`] reads, in order.
pub const RECORD_COLUMNS: &str = "collection_id, name, type, doc, owner, owner_type";

/// Refuse names that are too long, empty, absolute, contain `..` segments, control or
/// invisible formatting characters, or would be read as globs.
pub fn validate_collection_name(name: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(RegistryError::Invalid(format!(
            "invalid collection name {name:?}: {why}"
        )))
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.chars().count() > COLLECTION_NAME_MAX_LENGTH {
        return bad(&format!(
            "it is longer than {COLLECTION_NAME_MAX_LENGTH} characters"
        ));
    }
    if name.starts_with('/') {
        return bad("it starts with '/'");
    }
    if name.ends_with('/') || name.contains("//") {
        return bad("it has an empty path segment");
    }
    if name.split('/').any(|seg| seg == ".." || seg == ".") {
        return bad("it has a '.' or '..' segment");
    }
    if let Some(c) = crate::text::first_invisible(name) {
        let what = if c.is_control() {
            "a control character"
        } else {
            "an invisible formatting character"
        };
        return bad(&format!("it contains U+{:04X}, {what}", c as u32));
    }
    if name.contains(['*', '?', '[', ']']) {
        return bad("it contains a glob character (* ? [ ])");
    }
    Ok(())
}

/// Build a record from the [`RECORD_COLUMNS`] columns.
pub fn record_from_row(row: &[Value]) -> Result<CollectionRecord> {
    let kind = row[2]
        .as_i64()
        .and_then(CollectionType::from_i64)
        .ok_or_else(|| RegistryError::Schema(format!("collection has unknown type {}", row[2])))?;
    Ok(CollectionRecord {
        id: row[0].as_i64().unwrap_or_default(),
        name: row[1].as_str().unwrap_or_default().to_owned(),
        kind,
        doc: row[3].as_str().map(str::to_owned),
        owner: row[4].as_str().map(str::to_owned),
        owner_type: row[5].as_str().unwrap_or("project").to_owned(),
    })
}

/// Look a collection up by name.
pub fn find_collection(conn: &mut Conn, name: &str) -> Result<Option<CollectionRecord>> {
    conn.query_opt(
        &format!("SELECT {RECORD_COLUMNS} FROM collection WHERE name = ?"),
        &[name.into()],
    )?
    .map(|r| record_from_row(&r))
    .transpose()
}

/// Look a collection up by name, failing clearly if it is missing; a missing name that
/// could never be registered (one with an invisible character, say) says why instead.
pub fn get_collection(conn: &mut Conn, name: &str) -> Result<CollectionRecord> {
    match find_collection(conn, name)? {
        Some(record) => Ok(record),
        None => {
            validate_collection_name(name)?;
            Err(RegistryError::NotFound(format!(
                "collection {name:?} does not exist"
            )))
        }
    }
}

/// Look a collection up by id.
pub fn collection_by_id(conn: &mut Conn, id: i64) -> Result<CollectionRecord> {
    conn.query_opt(
        &format!("SELECT {RECORD_COLUMNS} FROM collection WHERE collection_id = ?"),
        &[id.into()],
    )?
    .map(|r| record_from_row(&r))
    .transpose()?
    .ok_or_else(|| RegistryError::NotFound(format!("collection with id {id} does not exist")))
}

/// Every collection, ordered by id (creation order).
pub fn all_collections(conn: &mut Conn) -> Result<Vec<CollectionRecord>> {
    let rows = conn.query(
        &format!("SELECT {RECORD_COLUMNS} FROM collection ORDER BY collection_id"),
        &[],
    )?;
    rows.iter().map(|r| record_from_row(r)).collect()
}

/// Register a collection. Returns the record and whether it was created. Registering
/// an existing name with the same type is a no-op; with a different type it is an
/// error (the reference silently keeps the old type, which hides mistakes).
pub fn register_collection(
    conn: &mut Conn,
    name: &str,
    kind: CollectionType,
    doc: Option<&str>,
) -> Result<(CollectionRecord, bool)> {
    register_owned_collection(conn, name, kind, doc, None)
}

/// Register a collection with an owner type (`None`: `user` for `u/…` names,
/// `project` otherwise). The owner is the acting user. `production` collections are
/// shared and, once registered, their datasets are never removed.
pub fn register_owned_collection(
    conn: &mut Conn,
    name: &str,
    kind: CollectionType,
    doc: Option<&str>,
    owner_type: Option<&str>,
) -> Result<(CollectionRecord, bool)> {
    validate_collection_name(name)?;
    let personal = crate::access::is_personal(name);
    let owner_type = owner_type.unwrap_or(if personal { "user" } else { "project" });
    if !OWNER_TYPES.contains(&owner_type) {
        return Err(RegistryError::Invalid(format!(
            "unknown owner type {owner_type:?}: use user, group, project or production"
        )));
    }
    if personal && owner_type == "production" {
        return Err(RegistryError::Invalid(format!(
            "personal collection {name:?} cannot be owned by production"
        )));
    }
    // A concurrent registration of the same name can win the insert.
    crate::races::insert_unless_found(conn, |conn| register_new(conn, name, kind, doc, owner_type))
}

/// The look-up and insert of [`register_owned_collection`], for a validated request.
fn register_new(
    conn: &mut Conn,
    name: &str,
    kind: CollectionType,
    doc: Option<&str>,
    owner_type: &str,
) -> Result<(CollectionRecord, bool)> {
    if let Some(existing) = find_collection(conn, name)? {
        if existing.kind != kind {
            return Err(RegistryError::Conflict(format!(
                "collection {name:?} already exists as {}, not {kind}",
                existing.kind
            )));
        }
        return Ok((existing, false));
    }
    crate::access::check_write(conn, name)?;
    conn.execute(
        "INSERT INTO collection (name, type, doc, owner, owner_type) VALUES (?, ?, ?, ?, ?)",
        &[
            name.into(),
            (kind as i64).into(),
            doc.map(str::to_owned).into(),
            crate::identity::current_user()?.into(),
            owner_type.into(),
        ],
    )?;
    let record = get_collection(conn, name)?;
    if kind == CollectionType::Run {
        conn.execute(
            "INSERT INTO run (collection_id) VALUES (?)",
            &[record.id.into()],
        )?;
    }
    Ok((record, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        assert!(validate_collection_name("HSC/runs/RC2/w_2024_10/DM-12345").is_ok());
        assert!(validate_collection_name("2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905").is_ok());
        for bad in ["", "/abs", "a/../b", "a\nb", "a*", "a//b", &"x".repeat(65)] {
            assert!(validate_collection_name(bad).is_err(), "{bad:?} accepted");
        }
        for (c, code) in [
            ('\u{200B}', "U+200B"),
            ('\u{200F}', "U+200F"),
            ('\u{202E}', "U+202E"),
            ('\u{2066}', "U+2066"),
            ('\u{2069}', "U+2069"),
            ('\u{FEFF}', "U+FEFF"),
            ('\u{00AD}', "U+00AD"),
            ('\u{2028}', "U+2028"),
            ('\u{E0041}', "U+E0041"),
            ('\u{7F}', "U+007F"),
        ] {
            let name = format!("HSC/runs/{c}RC2");
            let msg = validate_collection_name(&name).unwrap_err().to_string();
            assert!(msg.contains(code), "{msg}");
            assert!(!msg.contains(c), "the character is not escaped: {msg}");
            assert_eq!(msg.lines().count(), 1);
        }
        // Visible non-ASCII letters are fine.
        assert!(validate_collection_name("u/jöns/Σ-run").is_ok());
    }
}
