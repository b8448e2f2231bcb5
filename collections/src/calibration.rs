//! CALIBRATION collections: certify datasets over validity ranges, which never overlap
//! for the same (type, data ID) in one collection, and decertify a time range, splitting
//! ranges that straddle it exactly as the reference does.

use uuid::Uuid;
use valet_config::Universe;
use valet_registry::collections::get_collection;
use valet_registry::dataset_types::get_dataset_type;
use valet_registry::datasets::{
    describe_data_id, get_datasets, standardize_data_id, update_summaries, values_in_order, DataId,
};
use valet_registry::db::{DbErrorKind, Value};
use valet_registry::events::Event;
use valet_registry::timespan::format_tai_iso;
use valet_registry::{CollectionType, Conn, DatasetType, RegistryError, Result, Timespan};

use crate::tagged::by_type;

fn require_calibration(conn: &mut Conn, name: &str) -> Result<i64> {
    let c = get_collection(conn, name)?;
    if c.kind != CollectionType::Calibration {
        return Err(RegistryError::Invalid(format!(
            "collection {name:?} is {}; certification needs a CALIBRATION collection",
            c.kind
        )));
    }
    Ok(c.id)
}

/// Show a timespan for messages.
pub fn describe_timespan(t: &Timespan) -> String {
    let show = |v: Option<i64>| v.map(format_tai_iso).unwrap_or_else(|| "unbounded".into());
    format!("[{}, {})", show(t.begin), show(t.end))
}

/// Certify datasets into a CALIBRATION collection over `timespan`. Refused whole if
/// any would overlap an existing range (or another in the same call) for the same
/// type and data ID.
pub fn certify(
    conn: &mut Conn,
    universe: &Universe,
    collection: &str,
    ids: &[Uuid],
    timespan: Timespan,
) -> Result<usize> {
    if timespan.begin_or_min() >= timespan.end_or_max() {
        return Err(RegistryError::Invalid(format!(
            "validity range {} is empty",
            describe_timespan(&timespan)
        )));
    }
    let collection_id = require_calibration(conn, collection)?;
    valet_registry::access::check_write(conn, collection)?;
    // A dataset named twice is certified once.
    let mut seen = std::collections::HashSet::new();
    let ids: Vec<Uuid> = ids.iter().copied().filter(|id| seen.insert(*id)).collect();
    let refs = get_datasets(conn, &ids)?;
    let mut n = 0;
    for (_, (t, refs)) in by_type(refs) {
        let storage = t.storage();
        storage.calibs()?;
        let required = &t.dimensions.required;
        // Within one call, one range per data ID (they would all overlap each other).
        let mut keys = std::collections::HashMap::new();
        for r in &refs {
            let key = describe_data_id(&r.data_id, required);
            if let Some(other) = keys.insert(key.clone(), r.id) {
                return Err(RegistryError::Conflict(format!(
                    "datasets {other} and {} are both {} {key}; their validity ranges {} would overlap",
                    r.id,
                    t.name,
                    describe_timespan(&timespan)
                )));
            }
        }
        let mut rows = Vec::with_capacity(refs.len());
        for r in &refs {
            let values = values_in_order(&r.data_id, required);
            if let Some((other, existing)) =
                storage.overlapping_range(conn, collection_id, &values, timespan)?
            {
                return Err(RegistryError::Conflict(format!(
                    "cannot certify {} {} ({}) in {collection:?} over {}: it overlaps the range {} of dataset {other}",
                    t.name,
                    describe_data_id(&r.data_id, required),
                    r.id,
                    describe_timespan(&timespan),
                    describe_timespan(&existing),
                )));
            }
            rows.push((r.id, values, timespan.begin_or_min(), timespan.end_or_max()));
        }
        insert_ranges(conn, &t, collection_id, &rows)?;
        update_summaries(conn, universe, &t, collection_id, &refs)?;
        n += rows.len();
        let data_ids: Vec<DataId> = refs.into_iter().map(|r| r.data_id).collect();
        conn.notify(&Event::CalibrationsChanged {
            collection,
            dataset_type: &t,
            data_ids: &data_ids,
        })?;
    }
    Ok(n)
}

/// Insert validity ranges, reading PostgreSQL's exclusion constraint — the last line
/// of defence against a concurrent writer that slipped between the probe and the
/// insert — as a conflict.
fn insert_ranges(
    conn: &mut Conn,
    t: &DatasetType,
    collection_id: i64,
    rows: &[(Uuid, Vec<Value>, i64, i64)],
) -> Result<()> {
    let storage = t.storage();
    match conn.savepoint(|c| storage.insert_ranges(c, collection_id, rows)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind == DbErrorKind::Exclusion => Err(RegistryError::Conflict(format!(
            "validity ranges would overlap: {}",
            e.message
        ))),
        Err(e) => Err(e.into()),
    }
}

/// `[b, e)` minus `[tb, te)`: zero, one or two pieces, in stored form.
fn difference(b: i64, e: i64, tb: i64, te: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    if b < tb {
        out.push((b, e.min(tb)));
    }
    if te < e {
        out.push((b.max(te), e));
    }
    out
}

/// Remove `timespan` from the validity ranges of a calibration type in a collection,
/// optionally only for some data IDs. Ranges inside it disappear; ranges that
/// straddle it are cut, and one that spans it is split in two.
pub fn decertify(
    conn: &mut Conn,
    universe: &Universe,
    collection: &str,
    dataset_type: &str,
    timespan: Timespan,
    data_ids: Option<&[DataId]>,
) -> Result<usize> {
    if timespan.begin_or_min() >= timespan.end_or_max() {
        return Err(RegistryError::Invalid(format!(
            "validity range {} is empty",
            describe_timespan(&timespan)
        )));
    }
    let collection_id = require_calibration(conn, collection)?;
    valet_registry::access::check_not_production(conn, collection, "decertify in")?;
    valet_registry::access::check_write(conn, collection)?;
    let t = get_dataset_type(conn, dataset_type)?;
    let storage = t.storage();
    storage.calibs()?;
    let required = t.dimensions.required.clone();
    let mut filters: Vec<Option<Vec<Value>>> = match data_ids {
        None => vec![None],
        Some(ids) => ids
            .iter()
            .map(|d| standardize_data_id(universe, &t, d).map(Some))
            .collect::<Result<_>>()?,
    };
    // A data ID named twice is cut once (its pieces would otherwise go in twice).
    let mut seen = std::collections::HashSet::new();
    filters.retain(|f| seen.insert(format!("{f:?}")));
    let mut affected = Vec::new();
    for f in &filters {
        affected.extend(storage.ranges_overlapping(conn, collection_id, timespan, f.as_deref())?);
    }
    let row_ids: Vec<i64> = affected.iter().map(|r| r.row_id).collect();
    storage.delete_ranges(conn, &row_ids)?;
    let mut pieces = Vec::new();
    for range in &affected {
        let (b, e) = (range.timespan.begin_or_min(), range.timespan.end_or_max());
        for (pb, pe) in difference(b, e, timespan.begin_or_min(), timespan.end_or_max()) {
            pieces.push((range.dataset_id, range.values.clone(), pb, pe));
        }
    }
    if !pieces.is_empty() {
        insert_ranges(conn, &t, collection_id, &pieces)?;
    }
    let data_ids: Vec<DataId> = affected
        .iter()
        .map(|r| {
            required
                .iter()
                .cloned()
                .zip(r.values.iter().cloned())
                .collect()
        })
        .collect();
    conn.notify(&Event::CalibrationsChanged {
        collection,
        dataset_type: &t,
        data_ids: &data_ids,
    })?;
    Ok(affected.len())
}

/// One validity range in a CALIBRATION collection.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidityRange {
    /// The dataset.
    pub dataset_id: Uuid,
    /// Its data ID (required dimensions).
    pub data_id: DataId,
    /// The range.
    pub timespan: Timespan,
}

/// Every validity range of a calibration type in a collection, ordered by data ID and
/// start.
pub fn validity_ranges(
    conn: &mut Conn,
    collection: &str,
    dataset_type: &str,
) -> Result<Vec<ValidityRange>> {
    let collection_id = require_calibration(conn, collection)?;
    let t = get_dataset_type(conn, dataset_type)?;
    Ok(t.storage()
        .ranges(conn, collection_id)?
        .into_iter()
        .map(|r| ValidityRange {
            dataset_id: r.dataset_id,
            timespan: r.timespan,
            data_id: t
                .dimensions
                .required
                .iter()
                .cloned()
                .zip(r.values)
                .collect(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn difference_pieces() {
        assert_eq!(difference(0, 100, 10, 20), vec![(0, 10), (20, 100)]);
        assert_eq!(difference(0, 100, -5, 20), vec![(20, 100)]);
        assert_eq!(difference(0, 100, 50, 200), vec![(0, 50)]);
        assert_eq!(difference(0, 100, -5, 200), vec![]);
    }
}
