//! Datasets: bulk insertion into a RUN, and reading them back.

use std::collections::{BTreeMap, HashMap, HashSet};

use uuid::Uuid;
use valet_config::Universe;

use crate::collections::CollectionType;
use crate::dataset_types::DatasetType;
use crate::db::{quote_ident as q, Conn, DbErrorKind, Value};
use crate::dimensions::coerce;
use crate::error::{RegistryError, Result};
use crate::ids::{dataset_id, IdGenerationMode};
use crate::races::{lock_collection, RowLock};
use crate::schema::dimension_reference;

/// A data ID: dimension name → value.
pub type DataId = BTreeMap<String, Value>;

/// A resolved dataset: what the reference calls a `DatasetRef`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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
        // The distinct keys, looked up a chunk at a time in one statement each (a
        // bulk import inserts hundreds of (type, RUN) batches over the same records).
        let mut distinct: Vec<(Vec<Value>, &Vec<Value>)> = Vec::new();
        let mut checked = HashSet::new();
        for row in rows {
            let parts: Vec<KeyPart<'_>> = positions.iter().map(|&p| key_part(&row[p])).collect();
            if checked.insert(parts) {
                distinct.push((positions.iter().map(|&p| row[p].clone()).collect(), row));
            }
        }
        let columns: Vec<String> = target.iter().map(|c| q(c)).collect();
        // Each key as `(a = ? AND b = ?)`, so that both backends type the parameters
        // from the columns.
        let one_key = format!(
            "({})",
            columns
                .iter()
                .map(|c| format!("{c} = ?"))
                .collect::<Vec<_>>()
                .join(" AND ")
        );
        for chunk in distinct.chunks(200) {
            let sql = format!(
                "SELECT {} FROM {} WHERE {}",
                columns.join(", "),
                q(dim),
                vec![one_key.as_str(); chunk.len()].join(" OR ")
            );
            let params: Vec<Value> = chunk.iter().flat_map(|(k, _)| k.iter().cloned()).collect();
            let found: HashSet<Vec<String>> = conn
                .query(&sql, &params)?
                .into_iter()
                .map(|r| r.iter().map(|v| v.to_string()).collect())
                .collect();
            let missing = chunk.iter().find(|(k, _)| {
                !found.contains(&k.iter().map(|v| v.to_string()).collect::<Vec<_>>())
            });
            if let Some((key, row)) = missing {
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
    let mut rows: Vec<(Uuid, Vec<Value>)> = Vec::with_capacity(datasets.len());
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
        refs.push(DatasetRef {
            id,
            dataset_type: dataset_type.name.clone(),
            run: run.to_owned(),
            data_id: required.iter().cloned().zip(v.iter().cloned()).collect(),
        });
        rows.push((id, v));
    }
    let storage = dataset_type.storage();
    let inserted = conn.savepoint(|c| storage.insert_new(c, run_record.id, ingest_date, &rows));
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
        let values = values_in_order(&r.data_id, required);
        let holder = match dataset_type.storage().holder(conn, run_id, &values) {
            Ok(holder) => holder,
            Err(e) => return Some(e),
        };
        if let Some(other) = holder {
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
    dataset_type.storage().holder(conn, collection_id, &values)
}

pub use crate::dataset_storage::Holding;

/// The values of a data ID's `required` dimensions, in order (missing ones as NULL,
/// which matches nothing).
pub fn values_in_order(data_id: &DataId, required: &[String]) -> Vec<Value> {
    required
        .iter()
        .map(|k| data_id.get(k).cloned().unwrap_or(Value::Null))
        .collect()
}

/// Every RUN and TAGGED membership of datasets of `dataset_type` with one of
/// `data_ids` (required dimensions): see [`DatasetStorage::holdings`].
///
/// [`DatasetStorage::holdings`]: crate::dataset_storage::DatasetStorage::holdings
pub fn holdings(
    conn: &mut Conn,
    dataset_type: &DatasetType,
    data_ids: &[DataId],
) -> Result<Vec<Holding>> {
    let required = &dataset_type.dimensions.required;
    let values: Vec<Vec<Value>> = data_ids
        .iter()
        .map(|d| values_in_order(d, required))
        .collect();
    dataset_type.storage().holdings(conn, &values)
}

/// The ids of the dataset types a (non-chain) collection has ever held: its summary.
pub fn summary_type_ids(conn: &mut Conn, collection_id: i64) -> Result<HashSet<i64>> {
    Ok(conn
        .query(
            "SELECT dataset_type_id FROM collection_summary_dataset_type WHERE collection_id = ?",
            &[collection_id.into()],
        )?
        .iter()
        .filter_map(|r| r[0].as_i64())
        .collect())
}

/// Every dataset of a RUN, with its type, by type (one query a type).
pub fn run_contents(
    conn: &mut Conn,
    run: &crate::collections::CollectionRecord,
) -> Result<Vec<(DatasetType, DatasetRef)>> {
    let type_ids = summary_type_ids(conn, run.id)?;
    let mut out = Vec::new();
    for t in crate::dataset_types::all_dataset_types(conn)? {
        if !type_ids.contains(&t.id) {
            continue;
        }
        let required = &t.dimensions.required;
        for (id, values) in t.storage().members(conn, run.id)? {
            let r = DatasetRef {
                id,
                dataset_type: t.name.clone(),
                run: run.name.clone(),
                data_id: required.iter().cloned().zip(values).collect(),
            };
            out.push((t.clone(), r));
        }
    }
    Ok(out)
}

/// Read datasets back by id, with their type, RUN and data ID. Unknown ids are an
/// error naming the first one.
pub fn get_datasets(conn: &mut Conn, ids: &[Uuid]) -> Result<Vec<(DatasetType, DatasetRef)>> {
    let types = types_by_id(conn)?;
    ids.iter()
        .map(|id| {
            read_dataset(conn, &types, *id)?
                .ok_or_else(|| RegistryError::NotFound(format!("dataset {id} does not exist")))
        })
        .collect()
}

/// The datasets among `ids` that exist, read back as [`get_datasets`] reads them;
/// unknown ids are left out.
pub fn existing_datasets(conn: &mut Conn, ids: &[Uuid]) -> Result<Vec<(DatasetType, DatasetRef)>> {
    let types = types_by_id(conn)?;
    let mut out = Vec::new();
    for id in ids {
        out.extend(read_dataset(conn, &types, *id)?);
    }
    Ok(out)
}

fn types_by_id(conn: &mut Conn) -> Result<HashMap<i64, DatasetType>> {
    Ok(crate::dataset_types::all_dataset_types(conn)?
        .into_iter()
        .map(|t| (t.id, t))
        .collect())
}

/// One dataset by id, `None` if there is none.
fn read_dataset(
    conn: &mut Conn,
    types: &HashMap<i64, DatasetType>,
    id: Uuid,
) -> Result<Option<(DatasetType, DatasetRef)>> {
    let Some(row) = conn.query_opt(
        "SELECT d.dataset_type_id, d.run_id, c.name FROM dataset d \
         JOIN collection c ON c.collection_id = d.run_id WHERE d.id = ?",
        &[Value::Uuid(id)],
    )?
    else {
        return Ok(None);
    };
    let t = types
        .get(&row[0].as_i64().unwrap_or_default())
        .ok_or_else(|| RegistryError::Schema(format!("dataset {id} has an unknown type")))?;
    let required = &t.dimensions.required;
    let run_id = row[1].as_i64().unwrap_or_default();
    let dims = t
        .storage()
        .values_of(conn, id, run_id)?
        .ok_or_else(|| RegistryError::Schema(format!("dataset {id} has no RUN row")))?;
    Ok(Some((
        t.clone(),
        DatasetRef {
            id,
            dataset_type: t.name.clone(),
            run: row[2].as_str().unwrap_or_default().to_owned(),
            data_id: required.iter().cloned().zip(dims).collect(),
        },
    )))
}
