//! CALIBRATION collections: certify datasets over validity ranges, which never overlap
//! for the same (type, data ID) in one collection, and decertify a time range, splitting
//! ranges that straddle it exactly as the reference does.

use uuid::Uuid;
use valet_config::Universe;
use valet_registry::collections::get_collection;
use valet_registry::dataset_types::get_dataset_type;
use valet_registry::datasets::{
    describe_data_id, get_datasets, standardize_data_id, update_summaries, DataId,
};
use valet_registry::db::{quote_ident as q, DbErrorKind, Value};
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

fn calibs_table(t: &DatasetType) -> Result<&str> {
    match (&t.calibs_table, t.is_calibration) {
        (Some(table), true) => Ok(table),
        _ => Err(RegistryError::Invalid(format!(
            "dataset type {:?} is not a calibration type; only calibrations can be certified",
            t.name
        ))),
    }
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
        let table = calibs_table(&t)?.to_owned();
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
        let mut cond = vec![
            "dataset_type_id = ?".to_owned(),
            "collection_id = ?".to_owned(),
        ];
        cond.extend(required.iter().map(|d| format!("{} = ?", q(d))));
        cond.push("timespan_end > ? AND ? > timespan_begin".into());
        let probe = format!(
            "SELECT dataset_id, timespan_begin, timespan_end FROM {table} WHERE {} LIMIT 1",
            cond.join(" AND ")
        );
        let mut rows = Vec::with_capacity(refs.len());
        for r in &refs {
            let mut params: Vec<Value> = vec![t.id.into(), collection_id.into()];
            params.extend(required.iter().map(|d| r.data_id[d].clone()));
            params.push(timespan.begin_or_min().into());
            params.push(timespan.end_or_max().into());
            if let Some(row) = conn.query_opt(&probe, &params)? {
                let existing = Timespan::from_stored(
                    row[1].as_i64().unwrap_or_default(),
                    row[2].as_i64().unwrap_or_default(),
                );
                return Err(RegistryError::Conflict(format!(
                    "cannot certify {} {} ({}) in {collection:?} over {}: it overlaps the range {} of dataset {}",
                    t.name,
                    describe_data_id(&r.data_id, required),
                    r.id,
                    describe_timespan(&timespan),
                    describe_timespan(&existing),
                    row[0].as_uuid().map(|u| u.to_string()).unwrap_or_default()
                )));
            }
            let mut row = vec![t.id.into(), Value::Uuid(r.id), collection_id.into()];
            row.extend(required.iter().map(|d| r.data_id[d].clone()));
            row.push(timespan.begin_or_min().into());
            row.push(timespan.end_or_max().into());
            rows.push(row);
        }
        insert_calib_rows(conn, &table, required, &rows)?;
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

fn insert_calib_rows(
    conn: &mut Conn,
    table: &str,
    required: &[String],
    rows: &[Vec<Value>],
) -> Result<()> {
    let mut cols = vec![
        "dataset_type_id".to_owned(),
        "dataset_id".into(),
        "collection_id".into(),
    ];
    cols.extend(required.iter().map(|d| q(d)));
    cols.push("timespan_begin".into());
    cols.push("timespan_end".into());
    let cols: Vec<&str> = cols.iter().map(String::as_str).collect();
    match conn.savepoint(|c| c.insert_rows(table, &cols, rows, None)) {
        Ok(_) => Ok(()),
        // PostgreSQL's exclusion constraint is the last line of defence against a
        // concurrent writer that slipped between the probe and the insert.
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
    let table = calibs_table(&t)?.to_owned();
    let required = t.dimensions.required.clone();
    let dims: Vec<String> = required.iter().map(|d| q(d)).collect();
    let mut cond = vec![
        "dataset_type_id = ?".to_owned(),
        "collection_id = ?".to_owned(),
    ];
    cond.push("timespan_end > ? AND ? > timespan_begin".into());
    let base: Vec<Value> = vec![
        t.id.into(),
        collection_id.into(),
        timespan.begin_or_min().into(),
        timespan.end_or_max().into(),
    ];
    let mut filters: Vec<Vec<Value>> = match data_ids {
        None => vec![vec![]],
        Some(ids) => ids
            .iter()
            .map(|d| standardize_data_id(universe, &t, d))
            .collect::<Result<_>>()?,
    };
    // A data ID named twice is cut once (its pieces would otherwise go in twice).
    let mut seen = std::collections::HashSet::new();
    filters.retain(|f| seen.insert(format!("{f:?}")));
    let select_cols = if dims.is_empty() {
        String::new()
    } else {
        format!(", {}", dims.join(", "))
    };
    let mut affected = Vec::new();
    for f in &filters {
        let mut c = cond.clone();
        let mut params = base.clone();
        if !f.is_empty() {
            c.extend(dims.iter().map(|d| format!("{d} = ?")));
            params.extend(f.iter().cloned());
        }
        let sql = format!(
            "SELECT id, dataset_id, timespan_begin, timespan_end{select_cols} FROM {table} WHERE {}",
            c.join(" AND ")
        );
        affected.extend(conn.query(&sql, &params)?);
    }
    let mut new_rows = Vec::new();
    for row in &affected {
        conn.execute(
            &format!("DELETE FROM {table} WHERE id = ?"),
            &[row[0].clone()],
        )?;
        let (b, e) = (
            row[2].as_i64().unwrap_or_default(),
            row[3].as_i64().unwrap_or_default(),
        );
        for (pb, pe) in difference(b, e, timespan.begin_or_min(), timespan.end_or_max()) {
            let mut r = vec![t.id.into(), row[1].clone(), collection_id.into()];
            r.extend(row[4..].iter().cloned());
            r.push(pb.into());
            r.push(pe.into());
            new_rows.push(r);
        }
    }
    if !new_rows.is_empty() {
        insert_calib_rows(conn, &table, &required, &new_rows)?;
    }
    let data_ids: Vec<DataId> = affected
        .iter()
        .map(|row| {
            required
                .iter()
                .cloned()
                .zip(row[4..].iter().cloned())
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
    let table = calibs_table(&t)?.to_owned();
    let dims: Vec<String> = t.dimensions.required.iter().map(|d| q(d)).collect();
    let select_cols = if dims.is_empty() {
        String::new()
    } else {
        format!(", {}", dims.join(", "))
    };
    let order = if dims.is_empty() {
        String::new()
    } else {
        format!("{}, ", dims.join(", "))
    };
    let sql = format!(
        "SELECT dataset_id, timespan_begin, timespan_end{select_cols} FROM {table} \
         WHERE dataset_type_id = ? AND collection_id = ? ORDER BY {order}timespan_begin"
    );
    let rows = conn.query(&sql, &[t.id.into(), collection_id.into()])?;
    Ok(rows
        .into_iter()
        .map(|r| ValidityRange {
            dataset_id: r[0].as_uuid().unwrap_or_default(),
            timespan: Timespan::from_stored(
                r[1].as_i64().unwrap_or_default(),
                r[2].as_i64().unwrap_or_default(),
            ),
            data_id: t
                .dimensions
                .required
                .iter()
                .cloned()
                .zip(r[3..].iter().cloned())
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
