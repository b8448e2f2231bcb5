//! CHAINED collections: reading children and flattening a search path depth-first
//! (each collection once, first occurrence wins), as the reference does.

use std::collections::HashSet;

use valet_registry::collections::{collection_by_id, get_collection};
use valet_registry::{CollectionRecord, CollectionType, Conn, RegistryError, Result};

/// The children of a CHAINED collection, in search order.
pub fn get_chain(conn: &mut Conn, parent: &str) -> Result<Vec<CollectionRecord>> {
    let record = get_collection(conn, parent)?;
    if record.kind != CollectionType::Chained {
        return Err(RegistryError::Invalid(format!(
            "collection {parent:?} is {}, not CHAINED",
            record.kind
        )));
    }
    children_of(conn, record.id)
}

fn children_of(conn: &mut Conn, parent_id: i64) -> Result<Vec<CollectionRecord>> {
    let rows = conn.query(
        "SELECT child FROM collection_chain WHERE parent = ? ORDER BY position",
        &[parent_id.into()],
    )?;
    rows.iter()
        .map(|r| collection_by_id(conn, r[0].as_i64().unwrap_or_default()))
        .collect()
}

/// Flatten a list of collection names into the search path of non-chain collections:
/// depth-first in child order, each collection visited the first time it appears.
pub fn flatten(conn: &mut Conn, names: &[String]) -> Result<Vec<CollectionRecord>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for name in names {
        let record = get_collection(conn, name)?;
        visit(conn, record, &mut seen, &mut out)?;
    }
    Ok(out)
}

fn visit(
    conn: &mut Conn,
    record: CollectionRecord,
    seen: &mut HashSet<i64>,
    out: &mut Vec<CollectionRecord>,
) -> Result<()> {
    if !seen.insert(record.id) {
        return Ok(());
    }
    if record.kind == CollectionType::Chained {
        for child in children_of(conn, record.id)? {
            visit(conn, child, seen, out)?;
        }
    } else {
        out.push(record);
    }
    Ok(())
}
