//! CHAINED collections: reading children, flattening a search path depth-first (each
//! collection once, first occurrence wins), edits with the reference's modes, cycle
//! checks, and a history of every edit so chains can be resolved as they were.

use std::collections::HashSet;
use std::str::FromStr;

use petgraph::graphmap::DiGraphMap;
use valet_registry::collections::{
    collection_by_id, find_collection, get_collection, record_from_row, register_collection,
};
use valet_registry::db::Value;
use valet_registry::identity::{current_user, now_utc_ns};
use valet_registry::races::lock_collection_structure;
use valet_registry::schema::bump_generation;
use valet_registry::{CollectionRecord, CollectionType, Conn, RegistryError, Result};

/// How `collection-chain` changes a chain (the reference's `--mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ChainMode {
    /// Replace the children.
    Redefine,
    /// Add children at the end (children already present move there).
    Extend,
    /// Add children at the front (children already present move there).
    Prepend,
    /// Remove the named children (names not present are ignored).
    Remove,
    /// Remove children by position (negative counts from the end).
    Pop,
}

impl FromStr for ChainMode {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "redefine" => ChainMode::Redefine,
            "extend" => ChainMode::Extend,
            "prepend" => ChainMode::Prepend,
            "remove" => ChainMode::Remove,
            "pop" => ChainMode::Pop,
            _ => {
                return Err(RegistryError::Invalid(format!(
                    "unknown chain mode {s:?}: use redefine, extend, prepend, remove or pop"
                )))
            }
        })
    }
}

/// The children of a CHAINED collection, in search order.
pub fn get_chain(conn: &mut Conn, parent: &str) -> Result<Vec<CollectionRecord>> {
    let record = get_collection(conn, parent)?;
    require_chain(&record)?;
    children_of(conn, record.id)
}

fn require_chain(record: &CollectionRecord) -> Result<()> {
    if record.kind != CollectionType::Chained {
        return Err(RegistryError::Invalid(format!(
            "collection {:?} is {}, not CHAINED",
            record.name, record.kind
        )));
    }
    Ok(())
}

/// The current children of a chain, by id.
pub fn children_of(conn: &mut Conn, parent_id: i64) -> Result<Vec<CollectionRecord>> {
    let rows = conn.query(
        "SELECT c.collection_id, c.name, c.type, c.doc, c.owner, c.owner_type FROM collection_chain h \
         JOIN collection c ON c.collection_id = h.child WHERE h.parent = ? ORDER BY h.position",
        &[parent_id.into()],
    )?;
    rows.iter().map(|r| record_from_row(r)).collect()
}

/// The children of a chain as they were at `as_of` (UTC nanoseconds), from the edit
/// history. A chain with no edit before then had no children then.
pub fn children_as_of(conn: &mut Conn, parent: &str, as_of: i64) -> Result<Vec<CollectionRecord>> {
    let row = conn.query_opt(
        "SELECT new_children FROM collection_chain_history WHERE parent_name = ? AND edited_at <= ? \
         ORDER BY edited_at DESC, id DESC LIMIT 1",
        &[parent.into(), as_of.into()],
    )?;
    let Some(row) = row else { return Ok(vec![]) };
    let names: Vec<String> = serde_json_names(row[0].as_str().unwrap_or("[]"))?;
    names
        .iter()
        .map(|n| {
            find_collection(conn, n)?.ok_or_else(|| {
                RegistryError::NotFound(format!(
                    "collection {n:?}, a child of {parent:?} at that time, no longer exists"
                ))
            })
        })
        .collect()
}

fn serde_json_names(text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text)
        .map_err(|e| RegistryError::Schema(format!("corrupt chain history entry: {e}")))
}

/// Children of a chain now, or as of a time.
fn children(
    conn: &mut Conn,
    record: &CollectionRecord,
    as_of: Option<i64>,
) -> Result<Vec<CollectionRecord>> {
    match as_of {
        Some(t) => children_as_of(conn, &record.name, t),
        None => children_of(conn, record.id),
    }
}

/// Flatten collection names into the search path of non-chain collections:
/// depth-first in child order, each collection visited the first time it appears.
/// With `as_of`, chains are resolved as they were at that time.
pub fn flatten(
    conn: &mut Conn,
    names: &[String],
    as_of: Option<i64>,
) -> Result<Vec<CollectionRecord>> {
    walk(conn, names, as_of, true)
}

/// Expand names depth-first, chains included before their children (the reference's
/// `flatten_chains=True, include_chains=True`).
pub fn expand_tree(
    conn: &mut Conn,
    names: &[String],
    as_of: Option<i64>,
) -> Result<Vec<CollectionRecord>> {
    walk(conn, names, as_of, false)
}

/// Depth-first over the named collections, each visited once; chains themselves are
/// listed unless `leaves_only`.
fn walk(
    conn: &mut Conn,
    names: &[String],
    as_of: Option<i64>,
    leaves_only: bool,
) -> Result<Vec<CollectionRecord>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for name in names {
        let record = get_collection(conn, name)?;
        visit(conn, record, as_of, leaves_only, &mut seen, &mut out)?;
    }
    Ok(out)
}

fn visit(
    conn: &mut Conn,
    record: CollectionRecord,
    as_of: Option<i64>,
    leaves_only: bool,
    seen: &mut HashSet<i64>,
    out: &mut Vec<CollectionRecord>,
) -> Result<()> {
    if !seen.insert(record.id) {
        return Ok(());
    }
    if record.kind == CollectionType::Chained {
        let kids = children(conn, &record, as_of)?;
        if !leaves_only {
            out.push(record);
        }
        for child in kids {
            visit(conn, child, as_of, leaves_only, seen, out)?;
        }
    } else {
        out.push(record);
    }
    Ok(())
}

/// The chains that list `name` directly.
pub fn parents_of(conn: &mut Conn, name: &str) -> Result<Vec<CollectionRecord>> {
    let record = get_collection(conn, name)?;
    let rows = conn.query(
        "SELECT DISTINCT parent FROM collection_chain WHERE child = ? ORDER BY parent",
        &[record.id.into()],
    )?;
    rows.iter()
        .map(|r| collection_by_id(conn, r[0].as_i64().unwrap_or_default()))
        .collect()
}

/// Refuse an edit that would make the chain reach itself.
fn check_cycles(
    conn: &mut Conn,
    parent: &CollectionRecord,
    new_children: &[CollectionRecord],
) -> Result<()> {
    let edges = conn.query("SELECT parent, child FROM collection_chain", &[])?;
    let mut graph: DiGraphMap<i64, ()> = DiGraphMap::new();
    for e in &edges {
        let (p, c) = (
            e[0].as_i64().unwrap_or_default(),
            e[1].as_i64().unwrap_or_default(),
        );
        if p != parent.id {
            graph.add_edge(p, c, ());
        }
    }
    for child in new_children {
        if child.id == parent.id
            || petgraph::algo::has_path_connecting(&graph, child.id, parent.id, None)
        {
            return Err(RegistryError::Invalid(format!(
                "adding {:?} to chain {:?} would create a cycle",
                child.name, parent.name
            )));
        }
        graph.add_edge(parent.id, child.id, ());
    }
    Ok(())
}

/// Whether a chain write applies the rule that a shared chain lists no personal
/// collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PersonalChildren {
    /// Refused in a shared chain (every edit).
    Refused,
    /// Kept as found (an adoption records a repository as it is).
    AsFound,
}

/// Replace a chain's rows with `children` (deduplicated, first occurrence kept) and
/// record the edit.
fn write_chain(
    conn: &mut Conn,
    parent: &CollectionRecord,
    old: &[CollectionRecord],
    children: Vec<CollectionRecord>,
    personal: PersonalChildren,
) -> Result<Vec<CollectionRecord>> {
    let mut seen = HashSet::new();
    let children: Vec<CollectionRecord> =
        children.into_iter().filter(|c| seen.insert(c.id)).collect();
    valet_registry::access::check_write(conn, &parent.name)?;
    let names: Vec<String> = children.iter().map(|c| c.name.clone()).collect();
    if personal == PersonalChildren::Refused {
        valet_registry::access::check_chain_children(&parent.name, &names)?;
    }
    check_cycles(conn, parent, &children)?;
    bump_generation(conn)?;
    conn.execute(
        "DELETE FROM collection_chain WHERE parent = ?",
        &[parent.id.into()],
    )?;
    let rows: Vec<Vec<Value>> = children
        .iter()
        .enumerate()
        .map(|(i, c)| vec![parent.id.into(), (i as i64).into(), c.id.into()])
        .collect();
    conn.insert_rows(
        "collection_chain",
        &["parent", "position", "child"],
        &rows,
        None,
    )?;
    let names = |v: &[CollectionRecord]| {
        serde_json::to_string(&v.iter().map(|c| c.name.as_str()).collect::<Vec<_>>())
            .unwrap_or_else(|_| "[]".into())
    };
    conn.execute(
        "INSERT INTO collection_chain_history (parent_name, edited_at, edited_by, old_children, new_children) VALUES (?, ?, ?, ?, ?)",
        &[
            parent.name.clone().into(),
            now_utc_ns().into(),
            current_user()?.into(),
            names(old).into(),
            names(&children).into(),
        ],
    )?;
    conn.notify(&valet_registry::events::Event::ChainEdited {
        chain: &parent.name,
    })?;
    Ok(children)
}

/// Resolve child names; with `flatten`, chains among them are replaced by their
/// non-chain leaves.
fn resolve_children(
    conn: &mut Conn,
    names: &[String],
    flatten_children: bool,
) -> Result<Vec<CollectionRecord>> {
    if flatten_children {
        flatten(conn, names, None)
    } else {
        names.iter().map(|n| get_collection(conn, n)).collect()
    }
}

/// Edit a chain in the caller's transaction. For `Pop`, `children` are positions
/// (default `0`). Returns the chain's new children.
pub fn edit_chain(
    conn: &mut Conn,
    parent: &str,
    mode: ChainMode,
    children: &[String],
    flatten_children: bool,
) -> Result<Vec<CollectionRecord>> {
    // Before anything is read: concurrent edits of this chain then apply one after
    // another, each to the children the one before left, and none deadlocks with a
    // run removal.
    lock_collection_structure(conn)?;
    let record = get_collection(conn, parent)?;
    require_chain(&record)?;
    if flatten_children && matches!(mode, ChainMode::Remove | ChainMode::Pop) {
        return Err(RegistryError::Invalid(
            "--flatten applies only to redefine, extend and prepend".into(),
        ));
    }
    let old = children_of(conn, record.id)?;
    let new: Vec<CollectionRecord> = match mode {
        ChainMode::Redefine => resolve_children(conn, children, flatten_children)?,
        ChainMode::Extend | ChainMode::Prepend => {
            let added = resolve_children(conn, children, flatten_children)?;
            let ids: HashSet<i64> = added.iter().map(|c| c.id).collect();
            let kept: Vec<CollectionRecord> = old
                .iter()
                .filter(|c| !ids.contains(&c.id))
                .cloned()
                .collect();
            if mode == ChainMode::Extend {
                kept.into_iter().chain(added).collect()
            } else {
                added.into_iter().chain(kept).collect()
            }
        }
        ChainMode::Remove => {
            let names: HashSet<&str> = children.iter().map(String::as_str).collect();
            for n in &names {
                get_collection(conn, n)?;
            }
            old.iter()
                .filter(|c| !names.contains(c.name.as_str()))
                .cloned()
                .collect()
        }
        ChainMode::Pop => {
            let positions: Vec<String> = if children.is_empty() {
                vec!["0".into()]
            } else {
                children.to_vec()
            };
            let mut drop = HashSet::new();
            for p in &positions {
                let i: i64 = p.parse().map_err(|_| {
                    RegistryError::Invalid(format!(
                        "pop takes positions, and {p:?} is not an integer"
                    ))
                })?;
                let idx = if i < 0 { old.len() as i64 + i } else { i };
                if idx < 0 || idx >= old.len() as i64 {
                    return Err(RegistryError::Invalid(format!(
                        "position {i} is out of range for chain {parent:?} of {} children",
                        old.len()
                    )));
                }
                drop.insert(idx as usize);
            }
            old.iter()
                .enumerate()
                .filter(|(i, _)| !drop.contains(i))
                .map(|(_, c)| c.clone())
                .collect()
        }
    };
    write_chain(conn, &record, &old, new, PersonalChildren::Refused)
}

/// The `collection-chain` command: create the chain if it is missing (for redefine,
/// extend and prepend), then edit it. Returns the new children.
pub fn collection_chain(
    conn: &mut Conn,
    parent: &str,
    mode: ChainMode,
    children: &[String],
    flatten_children: bool,
    doc: Option<&str>,
) -> Result<Vec<CollectionRecord>> {
    // Taken before the chain is created too, so that creating a chain never holds its
    // new row while waiting for this lock (the order an import, which holds the lock
    // from its start, would deadlock with).
    lock_collection_structure(conn)?;
    if find_collection(conn, parent)?.is_none() {
        if matches!(mode, ChainMode::Remove | ChainMode::Pop) {
            return Err(RegistryError::NotFound(format!(
                "chain {parent:?} does not exist"
            )));
        }
        register_collection(conn, parent, CollectionType::Chained, doc)?;
    }
    edit_chain(conn, parent, mode, children, flatten_children)
}

/// Define a chain exactly as an existing Butler repository has it, for an adoption
/// (run by the new repository's first admin, in the transaction that creates it): as
/// [`collection_chain`] in redefine mode, except that a shared chain listing personal
/// (`u/…`) collections is kept as found rather than refused. The rule still holds for
/// every later edit, and `lint-collections` reports such chains.
pub fn adopt_chain(
    conn: &mut Conn,
    parent: &str,
    children: &[String],
    doc: Option<&str>,
) -> Result<Vec<CollectionRecord>> {
    lock_collection_structure(conn)?;
    if find_collection(conn, parent)?.is_none() {
        register_collection(conn, parent, CollectionType::Chained, doc)?;
    }
    let record = get_collection(conn, parent)?;
    require_chain(&record)?;
    let old = children_of(conn, record.id)?;
    let new = resolve_children(conn, children, false)?;
    write_chain(conn, &record, &old, new, PersonalChildren::AsFound)
}

/// One recorded chain edit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChainEdit {
    /// When (UTC nanoseconds).
    pub edited_at: i64,
    /// Who.
    pub edited_by: String,
    /// Children before.
    pub old_children: Vec<String>,
    /// Children after.
    pub new_children: Vec<String>,
}

/// Every recorded edit of a chain, oldest first.
pub fn chain_history(conn: &mut Conn, parent: &str) -> Result<Vec<ChainEdit>> {
    let rows = conn.query(
        "SELECT edited_at, edited_by, old_children, new_children FROM collection_chain_history \
         WHERE parent_name = ? ORDER BY edited_at, id",
        &[parent.into()],
    )?;
    if rows.is_empty() && find_collection(conn, parent)?.is_none() {
        return Err(RegistryError::NotFound(format!(
            "chain {parent:?} does not exist and has no history"
        )));
    }
    rows.iter()
        .map(|r| {
            Ok(ChainEdit {
                edited_at: r[0].as_i64().unwrap_or_default(),
                edited_by: r[1].as_str().unwrap_or_default().to_owned(),
                old_children: serde_json_names(r[2].as_str().unwrap_or("[]"))?,
                new_children: serde_json_names(r[3].as_str().unwrap_or("[]"))?,
            })
        })
        .collect()
}
