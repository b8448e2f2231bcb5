//! The live ObsCore table: enabled per repository with the reference's configuration
//! (stored in the registry), filled from what exists, checked against the registry,
//! and kept current by [`crate::obscore_observer`] in the same transaction as the
//! writes that change it.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::CollectionKind;
use crate::parquet_out::column_types;
use crate::{columns, ObsCoreConfig, ObsValue, RowPlan};
use arrow_schema::DataType;
use regex::Regex;
use uuid::Uuid;
use valet_collections::{query_collections, CollectionQuery, DatasetQuery};
use valet_registry::db::{quote_ident as q, Backend, Value};
use valet_registry::{Conn, DatasetRef, DatasetType, RegistryError};

use crate::export::{obscore_row, RowsProgress};
use crate::parallel::{in_parallel, CHUNK_ROWS};
use crate::sky_index;
use crate::ObsCoreError;
use valet_collections::Resolver;
use valet_config::Universe;
use valet_registry::expand::RecordCache;
use valet_registry::Registry;

/// Where the configuration is kept.
pub const CONFIG_ATTRIBUTE: &str = "obscore_config";

/// The configuration of the live table, if it is enabled.
pub fn enabled_config(conn: &mut Conn) -> Result<Option<ObsCoreConfig>, ObsCoreError> {
    match valet_registry::schema::get_attribute(conn, CONFIG_ATTRIBUTE)? {
        Some(text) => Ok(Some(ObsCoreConfig::from_yaml(&text)?)),
        None => Ok(None),
    }
}

fn sql_type(backend: Backend, ty: &DataType) -> &'static str {
    match (backend, ty) {
        (_, DataType::Int64) => "BIGINT",
        (Backend::Sqlite, DataType::Float64) => "REAL",
        (Backend::Postgres, DataType::Float64) => "DOUBLE PRECISION",
        (Backend::Sqlite, DataType::Boolean) => "INTEGER",
        (Backend::Postgres, DataType::Boolean) => "BOOLEAN",
        _ => "TEXT",
    }
}

/// The live table's quoted name.
pub(crate) fn table_name(config: &ObsCoreConfig) -> String {
    q(&config.table_name)
}

/// Enable the live table (admins only): store the configuration, (re)create the
/// table and fill it. Changing the configuration later is the same call.
pub fn enable(
    registry: &Registry,
    resolver: &Resolver,
    config_text: &str,
) -> Result<u64, ObsCoreError> {
    enable_reporting(registry, resolver, config_text, None)
}

/// [`enable`], reporting the rows filled so far to `progress`.
pub fn enable_reporting(
    registry: &Registry,
    resolver: &Resolver,
    config_text: &str,
    progress: Option<&RowsProgress>,
) -> Result<u64, ObsCoreError> {
    let config = ObsCoreConfig::from_yaml(config_text)?;
    registry.db.transaction(|conn| -> Result<(), ObsCoreError> {
        valet_registry::access::check_admin(conn, "enable ObsCore")?;
        for name in config.dataset_types.keys() {
            let name = name.as_str().unwrap_or_default();
            if valet_registry::dataset_types::find_dataset_type(conn, name)?.is_none() {
                return Err(RegistryError::NotFound(format!(
                    "the ObsCore configuration names dataset type {name:?}, which this repository does not have"
                ))
                .into());
            }
        }
        let backend = conn.backend();
        if let Some(old) = enabled_config(conn)? {
            conn.batch(&format!(
                "DROP TABLE IF EXISTS {};{}",
                table_name(&old),
                sky_index::drop_ddl(backend, &old.table_name)
            ))?;
        }
        valet_registry::schema::set_attribute(conn, CONFIG_ATTRIBUTE, config_text)?;
        valet_registry::schema::set_attribute(conn, sky_index::ATTRIBUTE, "1")?;
        let uuid = if backend == Backend::Sqlite {
            "BLOB"
        } else {
            "UUID"
        };
        let mut defs = vec![format!(
            "registry_dataset_id {uuid} PRIMARY KEY REFERENCES dataset (id) ON DELETE CASCADE"
        )];
        for (c, ty) in columns(&config).iter().zip(column_types(&config)) {
            defs.push(format!("{} {}", q(c), sql_type(backend, &ty)));
        }
        for c in sky_index::BOX_COLUMNS {
            defs.push(format!("{} {}", q(c), sql_type(backend, &DataType::Float64)));
        }
        let t = table_name(&config);
        let mut ddl = format!("CREATE TABLE {t} (\n    {}\n);\n", defs.join(",\n    "));
        // Positions are indexed so a cone or box search reads a declination band only.
        ddl.push_str(&format!(
            "CREATE INDEX {} ON {t} (s_dec, s_ra);\n",
            q(&format!("{}_position", config.table_name))
        ));
        // The largest footprint bounds how far a matching center can be from a
        // searched shape (SIAv2 POS); indexed, it is one probe.
        ddl.push_str(&format!(
            "CREATE INDEX {} ON {t} (s_fov);\n",
            q(&format!("{}_fov", config.table_name))
        ));
        for (name, cols) in &config.indices {
            let cols: Vec<String> = match cols {
                serde_yaml_ng::Value::String(s) => vec![q(s)],
                serde_yaml_ng::Value::Sequence(v) => {
                    v.iter().filter_map(|c| c.as_str()).map(q).collect()
                }
                _ => continue,
            };
            ddl.push_str(&format!(
                "CREATE INDEX {} ON {t} ({});\n",
                q(name),
                cols.join(", ")
            ));
        }
        ddl.push_str(&sky_index::create_ddl(backend, &config.table_name));
        conn.batch(&ddl)?;
        Ok(())
    })?;
    update_table_reporting(registry, resolver, progress)
}

/// Refill the live table from the registry (after enabling, or to repair it).
pub fn update_table(registry: &Registry, resolver: &Resolver) -> Result<u64, ObsCoreError> {
    update_table_reporting(registry, resolver, None)
}

/// [`update_table`], reporting the rows filled so far to `progress`.
pub fn update_table_reporting(
    registry: &Registry,
    resolver: &Resolver,
    progress: Option<&RowsProgress>,
) -> Result<u64, ObsCoreError> {
    registry.db.transaction(|conn| {
        let Some(config) = enabled_config(conn)? else {
            return Err(ObsCoreError::Invalid(
                "ObsCore is not enabled in this repository".into(),
            ));
        };
        refill(conn, &registry.universe, resolver, &config, progress)
    })
}

/// Refill the live table of `config` in the caller's transaction: every row deleted,
/// then every dataset the configuration selects added again. Returns the rows.
pub fn refill(
    conn: &mut Conn,
    universe: &Arc<Universe>,
    resolver: &Resolver,
    config: &ObsCoreConfig,
    progress: Option<&RowsProgress>,
) -> Result<u64, ObsCoreError> {
    conn.execute(&format!("DELETE FROM {}", table_name(config)), &[])?;
    let mut cache = RecordCache::new(universe.clone());
    let mut n = 0;
    for expected in expected_datasets(conn, resolver, universe, config)? {
        let done = n;
        let report = |k: u64| {
            if let Some(p) = progress {
                p(done + k);
            }
        };
        n += add_expected(conn, config, &mut cache, &expected, &report)?;
    }
    if config.collection_type == CollectionKind::Chained {
        if let Some(chain) = config.collections.as_ref().and_then(|c| c.first()) {
            let path = crate::observer::current_path(conn, chain)?;
            crate::observer::store_path(conn, &path)?;
        }
    }
    Ok(n)
}

/// The datasets of one type the live table should hold, kept compact — a data ID as
/// its required values, a RUN as an index — so that millions of them fit in memory.
pub struct ExpectedDatasets {
    /// Their dataset type.
    pub dataset_type: DatasetType,
    runs: Vec<String>,
    run_index: HashMap<String, u32>,
    items: Vec<(Uuid, u32, Box<[Value]>)>,
}

impl ExpectedDatasets {
    fn new(dataset_type: DatasetType) -> ExpectedDatasets {
        ExpectedDatasets {
            dataset_type,
            runs: Vec::new(),
            run_index: HashMap::new(),
            items: Vec::new(),
        }
    }

    fn push(&mut self, r: DatasetRef) {
        let run = match self.run_index.get(&r.run) {
            Some(&i) => i,
            None => {
                self.runs.push(r.run.clone());
                let i = (self.runs.len() - 1) as u32;
                self.run_index.insert(r.run, i);
                i
            }
        };
        let values = self
            .dataset_type
            .dimensions
            .required
            .iter()
            .map(|d| r.data_id.get(d).cloned().unwrap_or(Value::Null))
            .collect();
        self.items.push((r.id, run, values));
    }

    /// How many datasets.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The `i`-th dataset.
    pub fn get(&self, i: usize) -> Option<DatasetRef> {
        let (id, run, values) = self.items.get(i)?;
        let dims = &self.dataset_type.dimensions.required;
        Some(DatasetRef {
            id: *id,
            dataset_type: self.dataset_type.name.clone(),
            run: self.runs.get(*run as usize)?.clone(),
            data_id: dims.iter().cloned().zip(values.iter().cloned()).collect(),
        })
    }
}

/// The datasets the live table should hold, by type.
pub fn expected_datasets(
    conn: &mut Conn,
    resolver: &valet_collections::Resolver,
    universe: &valet_config::Universe,
    config: &ObsCoreConfig,
) -> Result<Vec<ExpectedDatasets>, ObsCoreError> {
    let collections: Vec<String> = match config.collection_type {
        // A collection that does not exist yet holds nothing (a table may be enabled
        // before its chain is defined).
        CollectionKind::Tagged | CollectionKind::Chained => {
            let mut existing = Vec::new();
            for c in config.collections.clone().unwrap_or_default() {
                if valet_registry::collections::find_collection(conn, &c)?.is_some() {
                    existing.push(c);
                }
            }
            existing
        }
        CollectionKind::Run => {
            let patterns = run_patterns(config)?;
            query_collections(
                conn,
                &CollectionQuery {
                    types: vec![valet_registry::CollectionType::Run],
                    ..Default::default()
                },
            )?
            .into_iter()
            .map(|c| c.name)
            .filter(|n| patterns.is_empty() || patterns.iter().any(|p| p.is_match(n)))
            .collect()
        }
    };
    let mut out = Vec::new();
    if collections.is_empty() {
        return Ok(out);
    }
    for (type_name, _) in &config.types {
        let Some(t) = valet_registry::dataset_types::find_dataset_type(conn, type_name)? else {
            continue;
        };
        let mut expected = ExpectedDatasets::new(t);
        resolver.query_datasets(
            conn,
            universe,
            &DatasetQuery {
                dataset_type: type_name.clone(),
                collections: collections.clone(),
                // A CHAINED table holds the chain's find-first resolution.
                find_first: config.collection_type == CollectionKind::Chained,
                ..Default::default()
            },
            &mut |f| {
                expected.push(f.dataset);
                Ok(true)
            },
        )?;
        out.push(expected);
    }
    Ok(out)
}

/// Compare the live table with what the registry says it should hold: missing rows,
/// rows that should not be there, and rows whose content differs. Rows are read a
/// chunk of datasets at a time, so a table of millions of rows is checked in
/// bounded memory.
pub fn check_table(registry: &Registry, resolver: &Resolver) -> Result<Vec<String>, ObsCoreError> {
    const CHECK_CHUNK: usize = 1_000;
    let mut conn = registry.db.conn()?;
    let Some(config) = enabled_config(&mut conn)? else {
        return Ok(vec![]);
    };
    let universe = registry.universe.clone();
    let mut cache = RecordCache::new(universe.clone());
    let cols = columns(&config);
    let table = table_name(&config);
    let select = format!(
        "SELECT registry_dataset_id, {} FROM {table} WHERE registry_dataset_id IN ",
        cols.iter().map(|c| q(c)).collect::<Vec<_>>().join(", "),
    );
    let mut problems = Vec::new();
    let mut expected_ids = std::collections::HashSet::new();
    for expected in expected_datasets(&mut conn, resolver, &universe, &config)? {
        let t = &expected.dataset_type;
        let dims: Vec<String> = t.dimensions.names().map(str::to_owned).collect();
        cache.load_regions_for(&mut conn, &dims)?;
        let plan = RowPlan::new(&config, &t.name)?;
        for start in (0..expected.len()).step_by(CHECK_CHUNK) {
            let refs: Vec<DatasetRef> = (start..(start + CHECK_CHUNK).min(expected.len()))
                .filter_map(|i| expected.get(i))
                .collect();
            let ids: Vec<Value> = refs.iter().map(|r| Value::Uuid(r.id)).collect();
            let mut actual: HashMap<Uuid, Vec<Value>> = HashMap::new();
            let sql = format!("{select}({})", vec!["?"; ids.len()].join(", "));
            conn.query_each(&sql, &ids, &mut |r| {
                if let Some(id) = r[0].as_uuid() {
                    actual.insert(id, r[1..].to_vec());
                }
                Ok(())
            })?;
            for r in refs {
                expected_ids.insert(r.id);
                let Some(row) = actual.remove(&r.id) else {
                    problems.push(format!("ObsCore: no row for {} dataset {}", t.name, r.id));
                    continue;
                };
                let want: Vec<Value> = obscore_row(&plan, &cache, t, &r)?
                    .into_iter()
                    .map(to_value)
                    .collect();
                if let Some(k) = (0..cols.len()).find(|&k| !same_value(&row[k], &want[k])) {
                    problems.push(format!(
                        "ObsCore: row of dataset {} disagrees with the registry in {} ({} vs {})",
                        r.id, cols[k], row[k], want[k]
                    ));
                }
            }
        }
    }
    conn.query_each(
        &format!("SELECT registry_dataset_id FROM {table}"),
        &[],
        &mut |r| {
            if let Some(id) = r[0].as_uuid().filter(|id| !expected_ids.contains(id)) {
                problems.push(format!(
                    "ObsCore: row for dataset {id}, which the table should not hold"
                ));
            }
            Ok(())
        },
    )?;
    Ok(problems)
}

/// Equal, allowing for floats written and read back (and SQLite's integer booleans).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()),
        (Value::Int(i), Value::Bool(v)) | (Value::Bool(v), Value::Int(i)) => (*i != 0) == *v,
        (Value::Int(i), Value::Float(f)) | (Value::Float(f), Value::Int(i)) => *i as f64 == *f,
        _ => a == b,
    }
}

pub(crate) fn run_patterns(config: &ObsCoreConfig) -> Result<Vec<Regex>, ObsCoreError> {
    config
        .collections
        .clone()
        .unwrap_or_default()
        .iter()
        .map(|p| valet_registry::glob::full_regex(p).map_err(ObsCoreError::from))
        .collect()
}

fn to_value(v: ObsValue) -> Value {
    match v {
        ObsValue::Null => Value::Null,
        ObsValue::Int(i) => Value::Int(i),
        ObsValue::Float(f) => Value::Float(f),
        ObsValue::Text(s) => Value::Text(s),
        ObsValue::Bool(b) => Value::Bool(b),
    }
}

/// Insert the rows of these datasets (existing rows are left alone).
pub(crate) fn add_rows(
    conn: &mut Conn,
    config: &ObsCoreConfig,
    cache: &mut RecordCache,
    t: &DatasetType,
    refs: &[DatasetRef],
) -> Result<u64, ObsCoreError> {
    let mut refs = refs.iter();
    add_rows_from(
        conn,
        config,
        cache,
        t,
        refs.len(),
        &mut |_| refs.next(),
        &|_| {},
    )
}

/// Insert the rows of a type's expected datasets.
pub(crate) fn add_expected(
    conn: &mut Conn,
    config: &ObsCoreConfig,
    cache: &mut RecordCache,
    expected: &ExpectedDatasets,
    report: &(dyn Fn(u64) + Sync),
) -> Result<u64, ObsCoreError> {
    let t = &expected.dataset_type;
    let mut dataset = |i| expected.get(i);
    add_rows_from(conn, config, cache, t, expected.len(), &mut dataset, report)
}

/// Insert the rows of `count` datasets, the `i`-th given by `dataset(i)`, calling
/// `report` with the rows inserted so far after each chunk. Large
/// batches are built on worker threads while this thread inserts, a chunk at a
/// time, so refilling a table of millions of rows never holds more than a few
/// chunks of rows.
fn add_rows_from<R: std::borrow::Borrow<DatasetRef> + Send>(
    conn: &mut Conn,
    config: &ObsCoreConfig,
    cache: &mut RecordCache,
    t: &DatasetType,
    count: usize,
    dataset: &mut dyn FnMut(usize) -> Option<R>,
    report: &(dyn Fn(u64) + Sync),
) -> Result<u64, ObsCoreError> {
    if count == 0 || config.dataset_type(&t.name).is_none() {
        return Ok(0);
    }
    let dims: Vec<String> = t.dimensions.names().map(str::to_owned).collect();
    // A small write (the common case: a few datasets into a large repository) reads
    // the regions of its own visits only; a large one reads them all at once.
    let small: Option<Vec<R>> = if count <= CHUNK_ROWS {
        let chunk: Vec<R> = (0..count).map_while(&mut *dataset).collect();
        cache.load_regions_for_data_ids(conn, &dims, chunk.iter().map(|r| &r.borrow().data_id))?;
        Some(chunk)
    } else {
        cache.load_regions_for(conn, &dims)?;
        None
    };
    let plan = RowPlan::new(config, &t.name)?;
    let cache = &*cache;
    let mut cols = vec!["registry_dataset_id".to_owned()];
    let names = columns(config);
    cols.extend(names.iter().map(|c| q(c)));
    // Where the center and size are in a row (after its id), for the footprint's
    // box, when the table has the box columns.
    let boxed = sky_index::present(conn)?;
    let at = |name: &str| names.iter().position(|c| c == name).map(|i| i + 1);
    let spatial = match (at("s_ra"), at("s_dec"), at("s_fov")) {
        (Some(ra), Some(dec), Some(fov)) if boxed => {
            cols.extend(sky_index::BOX_COLUMNS.map(q));
            Some((ra, dec, fov))
        }
        _ => None,
    };
    let cols: Vec<&str> = cols.iter().map(String::as_str).collect();
    let table = table_name(config);
    let build = |chunk: &[R]| -> Result<Vec<Vec<Value>>, ObsCoreError> {
        let mut rows = Vec::with_capacity(chunk.len());
        for r in chunk {
            let r = r.borrow();
            let mut row = vec![Value::Uuid(r.id)];
            row.extend(obscore_row(&plan, cache, t, r)?.into_iter().map(to_value));
            if let Some((ra, dec, fov)) = spatial {
                let cells = sky_index::footprint_cells(&row[ra], &row[dec], &row[fov]);
                row.extend(cells);
            }
            rows.push(row);
        }
        Ok(rows)
    };
    let mut added = 0;
    let mut insert = |rows: Vec<Vec<Value>>| -> Result<(), ObsCoreError> {
        added += conn.insert_rows(
            &table,
            &cols,
            &rows,
            Some("ON CONFLICT (registry_dataset_id) DO NOTHING"),
        )?;
        report(added);
        Ok(())
    };
    if let Some(chunk) = small {
        insert(build(&chunk)?)?;
    } else {
        let items = |each: &mut dyn FnMut(R) -> Result<bool, RegistryError>| {
            for i in 0..count {
                let Some(r) = dataset(i) else { break };
                if !each(r)? {
                    break;
                }
            }
            Ok(())
        };
        in_parallel(items, &build, &mut insert)?;
    }
    Ok(added)
}
