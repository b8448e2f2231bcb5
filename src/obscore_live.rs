//! The live ObsCore table: enabled per repository with the reference's configuration
//! (stored in the registry), filled from what exists, and kept current in the same
//! transaction as the writes that change it — dataset inserts (import, ingest, put,
//! pipeline stages) in RUN mode; associations and disassociations of the configured
//! collection, and its removal, in TAGGED mode. Rows of removed datasets go with them
//! (the table's key is a foreign key to the dataset, with cascade).

use std::collections::HashMap;

use arrow_schema::DataType;
use regex::Regex;
use uuid::Uuid;
use valet_collections::{query_collections, CollectionQuery, DatasetQuery};
use valet_obscore::config::CollectionKind;
use valet_obscore::parquet_out::column_types;
use valet_obscore::{columns, ObsCoreConfig, ObsValue, RowPlan};
use valet_registry::db::{quote_ident as q, Backend, Value};
use valet_registry::{Conn, DatasetRef, DatasetType, RegistryError};

use crate::expand::RecordCache;
use crate::obscore_export::{invalid, obscore_row, RowsProgress};
use crate::parallel::{in_parallel, CHUNK_ROWS};
use crate::{Repo, RepoError};

/// Where the configuration is kept.
pub const CONFIG_ATTRIBUTE: &str = "obscore_config";

/// The configuration of the live table, if it is enabled.
pub fn enabled_config(conn: &mut Conn) -> Result<Option<ObsCoreConfig>, RepoError> {
    match valet_registry::schema::get_attribute(conn, CONFIG_ATTRIBUTE)? {
        Some(text) => Ok(Some(ObsCoreConfig::from_yaml(&text).map_err(invalid)?)),
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
pub fn enable(repo: &Repo, config_text: &str) -> Result<u64, RepoError> {
    enable_reporting(repo, config_text, None)
}

/// [`enable`], reporting the rows filled so far to `progress`.
pub fn enable_reporting(
    repo: &Repo,
    config_text: &str,
    progress: Option<&RowsProgress>,
) -> Result<u64, RepoError> {
    let config = ObsCoreConfig::from_yaml(config_text).map_err(invalid)?;
    repo.registry.transaction(|conn, _| {
        valet_registry::access::check_admin(conn, "enable ObsCore")?;
        for name in config.dataset_types.keys() {
            let name = name.as_str().unwrap_or_default();
            if valet_registry::dataset_types::find_dataset_type(conn, name)?.is_none() {
                return Err(RegistryError::NotFound(format!(
                    "the ObsCore configuration names dataset type {name:?}, which this repository does not have"
                )));
            }
        }
        if let Some(old) =
            enabled_config(conn).map_err(|e| RegistryError::Invalid(e.to_string()))?
        {
            conn.batch(&format!("DROP TABLE IF EXISTS {}", table_name(&old)))?;
        }
        conn.execute(
            "DELETE FROM valet_attributes WHERE name = ?",
            &[CONFIG_ATTRIBUTE.into()],
        )?;
        conn.execute(
            "INSERT INTO valet_attributes (name, value) VALUES (?, ?)",
            &[CONFIG_ATTRIBUTE.into(), config_text.into()],
        )?;
        let backend = conn.backend();
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
        let t = table_name(&config);
        let mut ddl = format!("CREATE TABLE {t} (\n    {}\n);\n", defs.join(",\n    "));
        // Positions are indexed so a cone or box search reads a declination band only.
        ddl.push_str(&format!(
            "CREATE INDEX {} ON {t} (s_dec, s_ra);\n",
            q(&format!("{}_position", config.table_name))
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
        conn.batch(&ddl)?;
        Ok(())
    })?;
    update_table_reporting(repo, progress)
}

/// Refill the live table from the registry (after enabling, or to repair it).
pub fn update_table(repo: &Repo) -> Result<u64, RepoError> {
    update_table_reporting(repo, None)
}

/// [`update_table`], reporting the rows filled so far to `progress`.
pub fn update_table_reporting(
    repo: &Repo,
    progress: Option<&RowsProgress>,
) -> Result<u64, RepoError> {
    repo.registry.db.transaction(|conn| {
        let Some(config) = enabled_config(conn)? else {
            return Err(RepoError::Invalid(
                "ObsCore is not enabled in this repository".into(),
            ));
        };
        conn.execute(&format!("DELETE FROM {}", table_name(&config)), &[])?;
        let universe = repo.registry.universe.clone();
        let mut cache = RecordCache::new(&universe);
        let mut n = 0;
        for expected in expected_datasets(conn, repo, &config)? {
            let done = n;
            let report = |k: u64| {
                if let Some(p) = progress {
                    p(done + k);
                }
            };
            n += add_expected(conn, &config, &mut cache, &expected, &report)?;
        }
        Ok(n)
    })
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
    repo: &Repo,
    config: &ObsCoreConfig,
) -> Result<Vec<ExpectedDatasets>, RepoError> {
    let universe = repo.registry.universe.clone();
    let collections: Vec<String> = match config.collection_type {
        CollectionKind::Tagged | CollectionKind::Chained => {
            config.collections.clone().unwrap_or_default()
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
        let Ok(t) = repo.resolver.dataset_type(conn, type_name) else {
            continue;
        };
        let mut expected = ExpectedDatasets::new(t);
        repo.resolver.query_datasets(
            conn,
            &universe,
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
pub fn check_table(repo: &Repo) -> Result<Vec<String>, RepoError> {
    const CHECK_CHUNK: usize = 1_000;
    let mut conn = repo.registry.db.conn()?;
    let Some(config) = enabled_config(&mut conn)? else {
        return Ok(vec![]);
    };
    let universe = repo.registry.universe.clone();
    let mut cache = RecordCache::new(&universe);
    let cols = columns(&config);
    let table = table_name(&config);
    let select = format!(
        "SELECT registry_dataset_id, {} FROM {table} WHERE registry_dataset_id IN ",
        cols.iter().map(|c| q(c)).collect::<Vec<_>>().join(", "),
    );
    let mut problems = Vec::new();
    let mut expected_ids = std::collections::HashSet::new();
    for expected in expected_datasets(&mut conn, repo, &config)? {
        let t = &expected.dataset_type;
        let dims: Vec<String> = t.dimensions.names().map(str::to_owned).collect();
        cache.load_regions_for(&mut conn, &dims)?;
        let plan = RowPlan::new(&config, &t.name).map_err(invalid)?;
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

fn run_patterns(config: &ObsCoreConfig) -> Result<Vec<Regex>, RepoError> {
    config
        .collections
        .clone()
        .unwrap_or_default()
        .iter()
        .map(|p| valet_registry::glob::full_regex(p).map_err(RepoError::from))
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
fn add_rows(
    conn: &mut Conn,
    config: &ObsCoreConfig,
    cache: &mut RecordCache<'_>,
    t: &DatasetType,
    refs: &[DatasetRef],
) -> Result<u64, RepoError> {
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
fn add_expected(
    conn: &mut Conn,
    config: &ObsCoreConfig,
    cache: &mut RecordCache<'_>,
    expected: &ExpectedDatasets,
    report: &(dyn Fn(u64) + Sync),
) -> Result<u64, RepoError> {
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
    cache: &mut RecordCache<'_>,
    t: &DatasetType,
    count: usize,
    dataset: &mut dyn FnMut(usize) -> Option<R>,
    report: &(dyn Fn(u64) + Sync),
) -> Result<u64, RepoError> {
    if count == 0 || config.dataset_type(&t.name).is_none() {
        return Ok(0);
    }
    let dims: Vec<String> = t.dimensions.names().map(str::to_owned).collect();
    cache.load_regions_for(conn, &dims)?;
    let plan = RowPlan::new(config, &t.name).map_err(invalid)?;
    let cache = &*cache;
    let mut cols = vec!["registry_dataset_id".to_owned()];
    cols.extend(columns(config).iter().map(|c| q(c)));
    let cols: Vec<&str> = cols.iter().map(String::as_str).collect();
    let table = table_name(config);
    let build = |chunk: &[R]| -> Result<Vec<Vec<Value>>, RepoError> {
        let mut rows = Vec::with_capacity(chunk.len());
        for r in chunk {
            let r = r.borrow();
            let mut row = vec![Value::Uuid(r.id)];
            row.extend(obscore_row(&plan, cache, t, r)?.into_iter().map(to_value));
            rows.push(row);
        }
        Ok(rows)
    };
    let mut added = 0;
    let mut insert = |rows: Vec<Vec<Value>>| -> Result<(), RepoError> {
        added += conn.insert_rows(
            &table,
            &cols,
            &rows,
            Some("ON CONFLICT (registry_dataset_id) DO NOTHING"),
        )?;
        report(added);
        Ok(())
    };
    if count <= CHUNK_ROWS {
        let chunk: Vec<R> = (0..count).map_while(&mut *dataset).collect();
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

/// Keeps the live table current during one write (one transaction).
pub struct ObsCoreMaintainer<'u> {
    config: Option<ObsCoreConfig>,
    patterns: Vec<Regex>,
    cache: RecordCache<'u>,
    universe: &'u valet_config::Universe,
    resolver: valet_collections::Resolver,
}

impl<'u> ObsCoreMaintainer<'u> {
    /// Read the configuration (if the table is enabled) in the write's transaction.
    pub fn new(
        conn: &mut Conn,
        universe: &'u valet_config::Universe,
    ) -> Result<ObsCoreMaintainer<'u>, RepoError> {
        let config = enabled_config(conn)?;
        let patterns = match &config {
            Some(c) if c.collection_type == CollectionKind::Run => run_patterns(c)?,
            _ => vec![],
        };
        Ok(ObsCoreMaintainer {
            config,
            patterns,
            cache: RecordCache::new(universe),
            universe,
            resolver: valet_collections::Resolver::new(),
        })
    }

    /// The chain of a CHAINED table.
    fn chain(&self) -> Option<(ObsCoreConfig, String)> {
        let c = self.config.as_ref()?;
        if c.collection_type != CollectionKind::Chained {
            return None;
        }
        let name = c.collections.as_ref()?.first()?.clone();
        Some((c.clone(), name))
    }

    /// The flattened search path of a CHAINED table's chain (empty otherwise), for
    /// [`Self::chain_changed`].
    pub fn chain_path(&self, conn: &mut Conn) -> Result<Vec<String>, RepoError> {
        match self.chain() {
            // A chain that does not exist yet has an empty path.
            Some((_, chain))
                if valet_registry::collections::find_collection(conn, &chain)?.is_some() =>
            {
                Ok(valet_collections::flatten(conn, &[chain], None)?
                    .into_iter()
                    .map(|c| c.name)
                    .collect())
            }
            _ => Ok(vec![]),
        }
    }

    /// Make the rows of one data ID match the chain's find-first answer: the winner's
    /// row in, every other dataset of that type and data ID out.
    fn resolve_data_id(
        &mut self,
        conn: &mut Conn,
        config: &ObsCoreConfig,
        chain: &str,
        t: &DatasetType,
        data_id: &valet_registry::DataId,
    ) -> Result<(), RepoError> {
        let found = self.resolver.find_dataset(
            conn,
            self.universe,
            &valet_collections::FindRequest {
                dataset_type: &t.name,
                data_id,
                collections: &[chain.to_owned()],
                timespan: None,
                as_of: None,
            },
        )?;
        let dims = &t.dimensions.required;
        let mut cond = vec!["dataset_type_id = ?".to_owned()];
        cond.extend(dims.iter().map(|d| format!("{} = ?", q(d))));
        let mut params = vec![Value::Int(t.id)];
        params.extend(
            dims.iter()
                .map(|d| data_id.get(d).cloned().unwrap_or(Value::Null)),
        );
        let all = conn.query(
            &format!(
                "SELECT DISTINCT dataset_id FROM {} WHERE {}",
                t.tags_table,
                cond.join(" AND ")
            ),
            &params,
        )?;
        let winner = found.as_ref().map(|f| f.dataset.id);
        let delete = format!(
            "DELETE FROM {} WHERE registry_dataset_id = ?",
            table_name(config)
        );
        for r in all {
            if let Some(id) = r[0].as_uuid().filter(|id| Some(*id) != winner) {
                conn.execute(&delete, &[Value::Uuid(id)])?;
            }
        }
        if let Some(f) = found {
            add_rows(
                conn,
                config,
                &mut self.cache,
                t,
                std::slice::from_ref(&f.dataset),
            )?;
        }
        Ok(())
    }

    /// A chain edit changed the CHAINED table's search path from `old` to `new`.
    /// Collections added or removed only affect the data IDs they hold, which are
    /// re-resolved one by one; a reordering of existing members rebuilds the table.
    pub fn chain_changed(
        &mut self,
        conn: &mut Conn,
        repo: &Repo,
        old: &[String],
        new: &[String],
    ) -> Result<(), RepoError> {
        let Some((config, chain)) = self.chain() else {
            return Ok(());
        };
        if old == new {
            return Ok(());
        }
        let old_set: std::collections::HashSet<&String> = old.iter().collect();
        let new_set: std::collections::HashSet<&String> = new.iter().collect();
        let kept_old: Vec<&String> = old.iter().filter(|c| new_set.contains(c)).collect();
        let kept_new: Vec<&String> = new.iter().filter(|c| old_set.contains(c)).collect();
        if kept_old != kept_new {
            conn.execute(&format!("DELETE FROM {}", table_name(&config)), &[])?;
            for expected in expected_datasets(conn, repo, &config)? {
                add_expected(conn, &config, &mut self.cache, &expected, &|_| {})?;
            }
            return Ok(());
        }
        let affected: Vec<String> = old
            .iter()
            .filter(|c| !new_set.contains(c))
            .chain(new.iter().filter(|c| !old_set.contains(c)))
            .cloned()
            .collect();
        for (type_name, _) in &config.types {
            let Ok(t) = valet_registry::dataset_types::get_dataset_type(conn, type_name) else {
                continue;
            };
            let mut ids: Vec<valet_registry::DataId> = Vec::new();
            let mut seen = std::collections::HashSet::new();
            self.resolver.query_datasets(
                conn,
                self.universe,
                &DatasetQuery {
                    dataset_type: type_name.clone(),
                    collections: affected.clone(),
                    find_first: false,
                    ..Default::default()
                },
                &mut |f| {
                    if seen.insert(format!("{:?}", f.dataset.data_id)) {
                        ids.push(f.dataset.data_id);
                    }
                    Ok(true)
                },
            )?;
            for d in ids {
                self.resolve_data_id(conn, &config, &chain, &t, &d)?;
            }
        }
        Ok(())
    }

    /// Datasets were inserted into `run`.
    pub fn inserted(
        &mut self,
        conn: &mut Conn,
        t: &DatasetType,
        run: &str,
        refs: &[DatasetRef],
    ) -> Result<(), RepoError> {
        if let Some((config, chain)) = self.chain() {
            if config.dataset_type(&t.name).is_none()
                || !self.chain_path(conn)?.iter().any(|c| c == run)
            {
                return Ok(());
            }
            for r in refs {
                self.resolve_data_id(conn, &config, &chain, t, &r.data_id)?;
            }
            return Ok(());
        }
        let Some(config) = &self.config else {
            return Ok(());
        };
        if config.collection_type != CollectionKind::Run
            || !(self.patterns.is_empty() || self.patterns.iter().any(|p| p.is_match(run)))
        {
            return Ok(());
        }
        add_rows(conn, config, &mut self.cache, t, refs).map(|_| ())
    }

    fn is_tagged_target(&self, collection: &str) -> Option<&ObsCoreConfig> {
        self.config.as_ref().filter(|c| {
            c.collection_type == CollectionKind::Tagged
                && c.collections
                    .as_ref()
                    .is_some_and(|v| v.iter().any(|x| x == collection))
        })
    }

    /// Datasets were associated with `collection`.
    pub fn associated(
        &mut self,
        conn: &mut Conn,
        collection: &str,
        ids: &[Uuid],
    ) -> Result<(), RepoError> {
        let Some(config) = self.is_tagged_target(collection).cloned() else {
            return Ok(());
        };
        let mut by_type: HashMap<i64, (DatasetType, Vec<DatasetRef>)> = HashMap::new();
        for (t, r) in valet_registry::datasets::get_datasets(conn, ids)? {
            by_type.entry(t.id).or_insert_with(|| (t, vec![])).1.push(r);
        }
        for (_, (t, refs)) in by_type {
            add_rows(conn, &config, &mut self.cache, &t, &refs)?;
        }
        Ok(())
    }

    /// Datasets were removed from `collection`.
    pub fn disassociated(
        &mut self,
        conn: &mut Conn,
        collection: &str,
        ids: &[Uuid],
    ) -> Result<(), RepoError> {
        let Some(config) = self.is_tagged_target(collection) else {
            return Ok(());
        };
        let sql = format!(
            "DELETE FROM {} WHERE registry_dataset_id = ?",
            table_name(config)
        );
        for id in ids {
            conn.execute(&sql, &[Value::Uuid(*id)])?;
        }
        Ok(())
    }

    /// `collection` was removed; unlike the reference, its rows go with it.
    pub fn collection_removed(
        &mut self,
        conn: &mut Conn,
        collection: &str,
    ) -> Result<(), RepoError> {
        let Some(config) = self.is_tagged_target(collection) else {
            return Ok(());
        };
        conn.execute(&format!("DELETE FROM {}", table_name(config)), &[])?;
        Ok(())
    }
}
