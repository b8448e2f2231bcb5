//! TAGGED collections: associate and disassociate datasets. A collection holds at most
//! one dataset per (type, data ID); a conflicting associate fails whole.

use std::collections::BTreeMap;

use uuid::Uuid;
use valet_config::Universe;
use valet_registry::collections::get_collection;
use valet_registry::datasets::{describe_data_id, get_datasets, update_summaries, values_in_order};
use valet_registry::db::{DbErrorKind, Value};
use valet_registry::events::Event;
use valet_registry::{CollectionType, Conn, DatasetRef, DatasetType, RegistryError, Result};

fn require_tagged(conn: &mut Conn, name: &str) -> Result<i64> {
    let c = get_collection(conn, name)?;
    valet_registry::access::check_write(conn, name)?;
    if c.kind != CollectionType::Tagged {
        return Err(RegistryError::Invalid(format!(
            "collection {name:?} is {}; datasets can only be associated with TAGGED collections",
            c.kind
        )));
    }
    Ok(c.id)
}

/// Group refs by dataset type.
pub(crate) fn by_type(
    refs: Vec<(DatasetType, DatasetRef)>,
) -> BTreeMap<i64, (DatasetType, Vec<DatasetRef>)> {
    let mut groups: BTreeMap<i64, (DatasetType, Vec<DatasetRef>)> = BTreeMap::new();
    for (t, r) in refs {
        groups
            .entry(t.id)
            .or_insert_with(|| (t, Vec::new()))
            .1
            .push(r);
    }
    groups
}

/// Associate datasets with a TAGGED collection. Re-associating a member is a no-op;
/// a different dataset with the same type and data ID is an error and nothing changes.
pub fn associate(
    conn: &mut Conn,
    universe: &Universe,
    collection: &str,
    ids: &[Uuid],
) -> Result<usize> {
    let collection_id = require_tagged(conn, collection)?;
    let datasets = get_datasets(conn, ids)?;
    let mut n = 0;
    for (_, (t, refs)) in by_type(datasets.clone()) {
        let rows: Vec<(Uuid, Vec<Value>)> = refs
            .iter()
            .map(|r| (r.id, values_in_order(&r.data_id, &t.dimensions.required)))
            .collect();
        let storage = t.storage();
        let inserted = conn.savepoint(|c| storage.tag(c, collection_id, &rows));
        match inserted {
            Ok(k) => n += k as usize,
            Err(e) if e.kind == DbErrorKind::Unique => {
                return Err(explain_conflict(conn, &t, collection_id, collection, &refs)
                    .unwrap_or(RegistryError::Conflict(e.message)))
            }
            Err(e) => return Err(e.into()),
        }
        update_summaries(conn, universe, &t, collection_id, &refs)?;
    }
    conn.notify(&Event::Associated {
        collection,
        datasets: &datasets,
    })?;
    Ok(n)
}

fn explain_conflict(
    conn: &mut Conn,
    t: &DatasetType,
    collection_id: i64,
    collection: &str,
    refs: &[DatasetRef],
) -> Option<RegistryError> {
    let required = &t.dimensions.required;
    let mut seen: BTreeMap<String, Uuid> = BTreeMap::new();
    for r in refs {
        let key = describe_data_id(&r.data_id, required);
        if let Some(other) = seen.insert(key.clone(), r.id) {
            if other != r.id {
                return Some(RegistryError::Conflict(format!(
                    "datasets {other} and {} are both {} {key}; a TAGGED collection holds one per data ID",
                    r.id, t.name
                )));
            }
        }
        let values = values_in_order(&r.data_id, required);
        // A database failure while explaining is the answer, rather than a guess.
        let holder = match t.storage().holder(conn, collection_id, &values) {
            Ok(holder) => holder,
            Err(e) => return Some(e),
        };
        if let Some(existing) = holder {
            if existing != r.id {
                return Some(RegistryError::Conflict(format!(
                    "collection {collection:?} already holds {} {key} as dataset {existing}; cannot associate {}",
                    t.name, r.id
                )));
            }
        }
    }
    None
}

/// Remove datasets from a TAGGED collection; ids that are not members are ignored.
pub fn disassociate(conn: &mut Conn, collection: &str, ids: &[Uuid]) -> Result<usize> {
    valet_registry::access::check_not_production(conn, collection, "remove datasets from")?;
    let collection_id = require_tagged(conn, collection)?;
    let datasets = get_datasets(conn, ids)?;
    let mut n = 0;
    for (_, (t, refs)) in by_type(datasets.clone()) {
        let ids: Vec<Uuid> = refs.iter().map(|r| r.id).collect();
        n += t.storage().untag(conn, collection_id, &ids)? as usize;
    }
    conn.notify(&Event::Disassociated {
        collection,
        datasets: &datasets,
    })?;
    Ok(n)
}
