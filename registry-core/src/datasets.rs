//! Datasets: bulk insertion into a RUN, and reading them back.

use std::collections::{BTreeMap, HashMap, HashSet};

use uuid::Uuid;
use valet_config::Universe;

use crate::collections::CollectionType;
use crate::dataset_types::DatasetType;
use crate::db::{quote_ident as q, Conn, DbErrorKind, Row, Value};
use crate::dimensions::coerce;
use crate::error::{RegistryError, Result};
use crate::ids::{dataset_id, IdGenerationMode};
use crate::races::{lock_collection, RowLock};
use crate::schema::dimension_reference;

/// A data ID: dimension name → value.
pub type DataId = BTreeMap<String, Value>;

/// A resolved dataset: what the reference calls a `DatasetRef`.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetRef {
    /// The dataset's id.
    pub id: Uuid,
    /// Dataset type name.
    pub dataset_type: String,
    /// The RUN it lives in.
    pub run: String,
    /// Required dimension values.
    pub data_id: DataId,
}

/// A dataset to insert: its data ID and, when imported, the id it already has.
#[derive(Debug, Clone)]
pub struct NewDataset {
    /// Preserved id (import), or `None` to generate one.
    pub id: Option<Uuid>,
    /// The data ID (required dimensions; implied ones are accepted and ignored).
    pub data_id: DataId,
}

/// Render a data ID for messages: `{instrument: HSC, detector: 16}`.
pub fn describe_data_id(data_id: &DataId, order: &[String]) -> String {
    let parts: Vec<String> = order
        .iter()
        .filter_map(|k| data_id.get(k).map(|v| format!("{k}: {v}")))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// Standardize a data ID to the type's required dimensions, in order, with each value
/// coerced to its dimension's key type.
pub fn standardize_data_id(
    universe: &Universe,
    dataset_type: &DatasetType,
    data_id: &DataId,
) -> Result<Vec<Value>> {
    let group = &dataset_type.dimensions;
    for k in data_id.keys() {
        if !group.names().any(|n| n == k) {
            return Err(RegistryError::Invalid(format!(
                "data ID {} has {k:?}, which is not a dimension of dataset type {:?} ({})",
                describe_data_id(
                    data_id,
                    &group.names().map(str::to_owned).collect::<Vec<_>>()
                ),
                dataset_type.name,
                group.names().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    group
        .required
        .iter()
        .map(|d| {
            let v = data_id.get(d).filter(|v| !v.is_null()).ok_or_else(|| {
                RegistryError::Invalid(format!(
                    "data ID {} for dataset type {:?} is missing required dimension {d:?}",
                    describe_data_id(data_id, &group.required),
                    dataset_type.name
                ))
            })?;
            let ty = &universe
                .get(d)?
                .primary_key()
                .ok_or_else(|| RegistryError::Invalid(format!("{d:?} is not a dimension")))?
                .ty;
            coerce(v, ty).map_err(|m| {
                RegistryError::Invalid(format!(
                    "data ID value for {d:?} in {}: {m}",
                    describe_data_id(data_id, &group.required)
                ))
            })
        })
        .collect()
}

/// Current time as TAI nanoseconds (UTC + 37 s, the offset since 2017).
pub fn now_tai_ns() -> i64 {
    let utc = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or_default();
    utc + 37_000_000_000
}

/// A data-ID value borrowed as a hash key (dimension keys are integers or text), so
/// that checking 100k data IDs allocates no strings.
#[derive(Debug, Hash, PartialEq, Eq)]
enum KeyPart<'a> {
    Int(i64),
    Text(&'a str),
    Other(String),
}

fn key_part(v: &Value) -> KeyPart<'_> {
    match v {
        Value::Int(i) => KeyPart::Int(*i),
        Value::Text(s) => KeyPart::Text(s),
        other => KeyPart::Other(other.to_string()),
    }
}

/// Check that every data ID names existing dimension records; each distinct key is
/// probed once.
fn check_dimension_records(
    conn: &mut Conn,
    universe: &Universe,
    dataset_type: &DatasetType,
    rows: &[Vec<Value>],
) -> Result<()> {
    let required = &dataset_type.dimensions.required;
    for dim in required {
        if !universe.get(dim)?.has_table() {
            continue;
        }
        let (source, target) = dimension_reference(universe, dim)?;
        let positions: Vec<usize> = source
            .iter()
            .map(|c| required.iter().position(|r| r == c).unwrap_or(0))
            .collect();
        let cond: Vec<String> = target.iter().map(|c| format!("{} = ?", q(c))).collect();
        let sql = format!(
            "SELECT 1 FROM {} WHERE {} LIMIT 1",
            q(dim),
            cond.join(" AND ")
        );
        let mut checked = HashSet::new();
        for row in rows {
            let parts: Vec<KeyPart<'_>> = positions.iter().map(|&p| key_part(&row[p])).collect();
            if !checked.insert(parts) {
                continue;
            }
            let key: Vec<Value> = positions.iter().map(|&p| row[p].clone()).collect();
            if conn.query_opt(&sql, &key)?.is_none() {
                let shown: Vec<String> = target
                    .iter()
                    .zip(key.iter())
                    .map(|(c, v)| format!("{c}: {v}"))
                    .collect();
                let data_id: DataId = required.iter().cloned().zip(row.iter().cloned()).collect();
                return Err(RegistryError::NotFound(format!(
                    "data ID {} of dataset type {:?}: {dim} record {{{}}} does not exist",
                    describe_data_id(&data_id, required),
                    dataset_type.name,
                    shown.join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// Insert datasets of one type into one RUN, in the caller's transaction. Every data
/// ID must name existing dimension records and be new in the RUN; preserved ids must
/// be new. Returns the refs in input order.
pub fn insert_datasets(
    conn: &mut Conn,
    universe: &Universe,
    dataset_type: &DatasetType,
    run: &str,
    datasets: &[NewDataset],
    mode: IdGenerationMode,
) -> Result<Vec<DatasetRef>> {
    // Held until commit, so the RUN cannot be removed under the new datasets.
    let run_record = lock_collection(conn, run, RowLock::KeyShare)?;
    if run_record.kind != CollectionType::Run {
        return Err(RegistryError::Invalid(format!(
            "datasets can only be inserted into a RUN collection; {run:?} is {}",
            run_record.kind
        )));
    }
    crate::access::check_write(conn, run)?;
    let required = &dataset_type.dimensions.required;
    let values = datasets
        .iter()
        .map(|d| standardize_data_id(universe, dataset_type, &d.data_id))
        .collect::<Result<Vec<_>>>()?;
    let mut seen = HashSet::with_capacity(values.len());
    for v in &values {
        if !seen.insert(v.iter().map(key_part).collect::<Vec<_>>()) {
            let data_id: DataId = required.iter().cloned().zip(v.iter().cloned()).collect();
            return Err(RegistryError::Conflict(format!(
                "data ID {} of dataset type {:?} appears twice in one insert into run {run:?}",
                describe_data_id(&data_id, required),
                dataset_type.name
            )));
        }
    }
    drop(seen);
    check_dimension_records(conn, universe, dataset_type, &values)?;

    let ingest_date = now_tai_ns();
    let mut refs = Vec::with_capacity(datasets.len());
    let mut dataset_rows: Vec<Row> = Vec::with_capacity(datasets.len());
    let mut tag_rows: Vec<Row> = Vec::with_capacity(datasets.len());
    for (d, v) in datasets.iter().zip(values) {
        let id = match d.id {
            Some(id) => id,
            None => {
                let pairs: Vec<(&str, String)> = required
                    .iter()
                    .map(String::as_str)
                    .zip(v.iter().map(|x| x.to_string()))
                    .collect();
                dataset_id(mode, &dataset_type.name, run, &pairs)
            }
        };
        dataset_rows.push(vec![
            Value::Uuid(id),
            dataset_type.id.into(),
            run_record.id.into(),
            ingest_date.into(),
        ]);
        let mut tag = vec![
            dataset_type.id.into(),
            Value::Uuid(id),
            run_record.id.into(),
        ];
        tag.extend(v.iter().cloned());
        tag_rows.push(tag);
        refs.push(DatasetRef {
            id,
            dataset_type: dataset_type.name.clone(),
            run: run.to_owned(),
            data_id: required.iter().cloned().zip(v).collect(),
        });
    }
    let mut tag_columns = vec![
        "dataset_type_id".to_owned(),
        "dataset_id".into(),
        "collection_id".into(),
    ];
    tag_columns.extend(required.iter().map(|d| q(d)));
    let tag_columns: Vec<&str> = tag_columns.iter().map(String::as_str).collect();
    let inserted = conn.savepoint(|c| {
        c.insert_rows(
            "dataset",
            &["id", "dataset_type_id", "run_id", "ingest_date"],
            &dataset_rows,
            None,
        )?;
        c.insert_rows(&dataset_type.tags_table, &tag_columns, &tag_rows, None)
    });
    match inserted {
        Ok(_) => {}
        Err(e) if e.kind == DbErrorKind::Unique => {
            return Err(
                explain_conflict(conn, dataset_type, run_record.id, run, &refs)
                    .unwrap_or(RegistryError::Conflict(e.message)),
            );
        }
        Err(e) => return Err(e.into()),
    }
    update_summaries(conn, universe, dataset_type, run_record.id, &refs)?;
    conn.notify(&crate::events::Event::DatasetsInserted {
        dataset_type,
        run,
        datasets: &refs,
    })?;
    Ok(refs)
}

/// Delete datasets (with every membership; their artifact records must already be in
/// the trash), in the caller's transaction, and tell the observers what went.
/// Returns how many were deleted; unknown ids are an error.
pub fn delete_datasets(conn: &mut Conn, ids: &[Uuid]) -> Result<u64> {
    let gone = if conn.observed()? {
        get_datasets(conn, ids)?
    } else {
        Vec::new()
    };
    let mut n = 0;
    for id in ids {
        n += conn.execute("DELETE FROM dataset WHERE id = ?", &[Value::Uuid(*id)])?;
    }
    if !gone.is_empty() {
        conn.notify(&crate::events::Event::DatasetsRemoved { datasets: &gone })?;
    }
    Ok(n)
}

/// Record that a collection now holds datasets of this type and these governor values.
pub fn update_summaries(
    conn: &mut Conn,
    universe: &Universe,
    dataset_type: &DatasetType,
    collection_id: i64,
    refs: &[DatasetRef],
) -> Result<()> {
    conn.execute(
        "INSERT INTO collection_summary_dataset_type (collection_id, dataset_type_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        &[collection_id.into(), dataset_type.id.into()],
    )?;
    for gov in universe.governors() {
        if !dataset_type.dimensions.required.contains(&gov.name) {
            continue;
        }
        let mut values: HashMap<KeyPart<'_>, &Value> = HashMap::new();
        for r in refs {
            if let Some(v) = r.data_id.get(&gov.name) {
                values.entry(key_part(v)).or_insert(v);
            }
        }
        let sql = format!(
            "INSERT INTO {} (collection_id, {}) VALUES (?, ?) ON CONFLICT DO NOTHING",
            q(&format!("collection_summary_{}", gov.name)),
            q(&gov.name)
        );
        for v in values.into_values() {
            conn.execute(&sql, &[collection_id.into(), v.clone()])?;
        }
    }
    Ok(())
}

/// After a unique violation, find the dataset that caused it and say which.
fn explain_conflict(
    conn: &mut Conn,
    dataset_type: &DatasetType,
    run_id: i64,
    run: &str,
    refs: &[DatasetRef],
) -> Option<RegistryError> {
    let required = &dataset_type.dimensions.required;
    let mut cond = vec![
        "dataset_type_id = ?".to_owned(),
        "collection_id = ?".to_owned(),
    ];
    cond.extend(required.iter().map(|d| format!("{} = ?", q(d))));
    let sql = format!(
        "SELECT dataset_id FROM {} WHERE {}",
        dataset_type.tags_table,
        cond.join(" AND ")
    );
    for r in refs {
        // A database failure while explaining is the answer, rather than a guess.
        let existing =
            match conn.query_opt("SELECT 1 FROM dataset WHERE id = ?", &[Value::Uuid(r.id)]) {
                Ok(row) => row,
                Err(e) => return Some(e.into()),
            };
        if existing.is_some() {
            return Some(RegistryError::Conflict(format!(
                "dataset id {} ({} {}) already exists",
                r.id,
                dataset_type.name,
                describe_data_id(&r.data_id, required)
            )));
        }
        let mut params: Vec<Value> = vec![dataset_type.id.into(), run_id.into()];
        params.extend(required.iter().map(|d| r.data_id[d].clone()));
        let holder = match conn.query_opt(&sql, &params) {
            Ok(row) => row,
            Err(e) => return Some(e.into()),
        };
        if let Some(row) = holder {
            let other = row[0].as_uuid().map(|u| u.to_string()).unwrap_or_default();
            return Some(RegistryError::Conflict(format!(
                "run {run:?} already holds a {} dataset with data ID {} (id {other})",
                dataset_type.name,
                describe_data_id(&r.data_id, required)
            )));
        }
    }
    None
}

/// Find the dataset of a type with a data ID in one collection (RUN or TAGGED): one
/// indexed probe.
pub fn find_in_collection(
    conn: &mut Conn,
    universe: &Universe,
    dataset_type: &DatasetType,
    collection_id: i64,
    data_id: &DataId,
) -> Result<Option<Uuid>> {
    let values = standardize_data_id(universe, dataset_type, data_id)?;
    let mut cond = vec!["dataset_type_id = ?".to_owned()];
    cond.extend(
        dataset_type
            .dimensions
            .required
            .iter()
            .map(|d| format!("{} = ?", q(d))),
    );
    cond.push("collection_id = ?".into());
    let sql = format!(
        "SELECT dataset_id FROM {} WHERE {}",
        dataset_type.tags_table,
        cond.join(" AND ")
    );
    let mut params = vec![Value::Int(dataset_type.id)];
    params.extend(values);
    params.push(collection_id.into());
    Ok(conn.query_opt(&sql, &params)?.and_then(|r| r[0].as_uuid()))
}

/// A collection's hold on a dataset of one of the data IDs given to [`holdings`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    /// Which of the data IDs.
    pub index: usize,
    /// The dataset.
    pub dataset_id: Uuid,
    /// The collection holding it (its RUN, or a TAGGED collection).
    pub collection_id: i64,
    /// The dataset's RUN.
    pub run_id: i64,
}

/// Every RUN and TAGGED membership of datasets of `dataset_type` with one of
/// `data_ids` (required dimensions), a few hundred data IDs per query: what a
/// find-first of many data IDs through any search path needs.
pub fn holdings(
    conn: &mut Conn,
    dataset_type: &DatasetType,
    data_ids: &[DataId],
) -> Result<Vec<Holding>> {
    const CHUNK: usize = 200;
    let required = &dataset_type.dimensions.required;
    let key = |values: &mut dyn Iterator<Item = &Value>| -> String {
        values
            .map(|v| format!("{v:?}"))
            .collect::<Vec<_>>()
            .join("\u{1}")
    };
    let mut index: HashMap<String, usize> = HashMap::with_capacity(data_ids.len());
    for (i, d) in data_ids.iter().enumerate() {
        index
            .entry(key(&mut required
                .iter()
                .map(|k| d.get(k).unwrap_or(&Value::Null))))
            .or_insert(i);
    }
    let mut out = Vec::new();
    let select: Vec<String> = required.iter().map(|d| format!("t.{}", q(d))).collect();
    // Each alternative names the whole index prefix (type, then dimensions), so both
    // backends probe the index once per data ID instead of scanning the type.
    let mut one = vec!["t.dataset_type_id = ?".to_owned()];
    one.extend(required.iter().map(|d| format!("t.{} = ?", q(d))));
    let one = format!("({})", one.join(" AND "));
    for chunk in data_ids.chunks(CHUNK) {
        let sql = format!(
            "SELECT t.dataset_id, t.collection_id, d.run_id{}{} FROM {} t JOIN dataset d ON d.id = t.dataset_id \
             WHERE {}",
            if select.is_empty() { "" } else { ", " },
            select.join(", "),
            dataset_type.tags_table,
            vec![one.as_str(); chunk.len()].join(" OR ")
        );
        let mut params = Vec::with_capacity(chunk.len() * (required.len() + 1));
        for d in chunk {
            params.push(Value::Int(dataset_type.id));
            params.extend(
                required
                    .iter()
                    .map(|k| d.get(k).cloned().unwrap_or(Value::Null)),
            );
        }
        conn.query_each(&sql, &params, &mut |r| {
            let (Some(dataset_id), Some(collection_id), Some(run_id)) =
                (r[0].as_uuid(), r[1].as_i64(), r[2].as_i64())
            else {
                return Ok(());
            };
            if let Some(&index) = index.get(&key(&mut r[3..].iter())) {
                out.push(Holding {
                    index,
                    dataset_id,
                    collection_id,
                    run_id,
                });
            }
            Ok(())
        })?;
    }
    Ok(out)
}

/// Every dataset of a RUN, with its type, by type (one query a type).
pub fn run_contents(
    conn: &mut Conn,
    run: &crate::collections::CollectionRecord,
) -> Result<Vec<(DatasetType, DatasetRef)>> {
    let type_ids: HashSet<i64> = conn
        .query(
            "SELECT dataset_type_id FROM collection_summary_dataset_type WHERE collection_id = ?",
            &[run.id.into()],
        )?
        .iter()
        .filter_map(|r| r[0].as_i64())
        .collect();
    let mut out = Vec::new();
    for t in crate::dataset_types::all_dataset_types(conn)? {
        if !type_ids.contains(&t.id) {
            continue;
        }
        let required = &t.dimensions.required;
        let mut cols = vec!["dataset_id".to_owned()];
        cols.extend(required.iter().map(|d| q(d)));
        let sql = format!(
            "SELECT {} FROM {} WHERE dataset_type_id = ? AND collection_id = ?",
            cols.join(", "),
            t.tags_table
        );
        let mut refs = Vec::new();
        conn.query_each(&sql, &[t.id.into(), run.id.into()], &mut |r| {
            if let Some(id) = r[0].as_uuid() {
                refs.push(DatasetRef {
                    id,
                    dataset_type: t.name.clone(),
                    run: run.name.clone(),
                    data_id: required
                        .iter()
                        .cloned()
                        .zip(r[1..].iter().cloned())
                        .collect(),
                });
            }
            Ok(())
        })?;
        out.extend(refs.into_iter().map(|r| (t.clone(), r)));
    }
    Ok(out)
}

/// Read datasets back by id, with their type, RUN and data ID. Unknown ids are an
/// error naming the first one.
pub fn get_datasets(conn: &mut Conn, ids: &[Uuid]) -> Result<Vec<(DatasetType, DatasetRef)>> {
    let types: HashMap<i64, DatasetType> = crate::dataset_types::all_dataset_types(conn)?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let row = conn
            .query_opt(
                "SELECT d.dataset_type_id, d.run_id, c.name FROM dataset d \
                 JOIN collection c ON c.collection_id = d.run_id WHERE d.id = ?",
                &[Value::Uuid(*id)],
            )?
            .ok_or_else(|| RegistryError::NotFound(format!("dataset {id} does not exist")))?;
        let t = types
            .get(&row[0].as_i64().unwrap_or_default())
            .ok_or_else(|| RegistryError::Schema(format!("dataset {id} has an unknown type")))?;
        let required = &t.dimensions.required;
        let sql = format!(
            "SELECT {} FROM {} WHERE dataset_id = ? AND collection_id = ?",
            if required.is_empty() {
                "1".to_owned()
            } else {
                required.iter().map(|d| q(d)).collect::<Vec<_>>().join(", ")
            },
            t.tags_table
        );
        let dims = conn
            .query_opt(&sql, &[Value::Uuid(*id), row[1].clone()])?
            .ok_or_else(|| RegistryError::Schema(format!("dataset {id} has no RUN row")))?;
        out.push((
            t.clone(),
            DatasetRef {
                id: *id,
                dataset_type: t.name.clone(),
                run: row[2].as_str().unwrap_or_default().to_owned(),
                data_id: required.iter().cloned().zip(dims).collect(),
            },
        ));
    }
    Ok(out)
}
