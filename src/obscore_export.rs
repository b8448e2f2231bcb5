//! Exporting ObsCore rows straight from a find-first search: every configured dataset
//! type, resolved through the collections, each data ID expanded to its dimension
//! records (exposure-based datasets take the region of the matching
//! `visit_detector_region` through `visit_definition`).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use valet_collections::DatasetQuery;
use valet_config::Universe;
use valet_obscore::record::csv_line;
use valet_obscore::{build_row, columns, DatasetContext, ObsCoreConfig};
use valet_registry::dimensions::query_records;
use valet_registry::schema::element_key_columns;
use valet_registry::{Conn, Record, RegistryError, Timespan, Value};

use crate::{Repo, RepoError};

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct ObsCoreExportOptions {
    /// Collections searched find-first, in order.
    pub collections: Vec<String>,
    /// Only these configured dataset types (default: all configured).
    pub dataset_types: Vec<String>,
    /// A `--where` expression.
    pub where_: String,
}

fn key(values: impl Iterator<Item = String>) -> String {
    values.collect::<Vec<_>>().join("\u{1f}")
}

/// Dimension records loaded once per element and indexed by primary key.
struct RecordCache<'u> {
    universe: &'u Universe,
    tables: HashMap<String, (Vec<String>, HashMap<String, Record>)>,
}

impl RecordCache<'_> {
    fn load(&mut self, conn: &mut Conn, element: &str) -> Result<(), RegistryError> {
        if self.tables.contains_key(element) {
            return Ok(());
        }
        let e = self.universe.get(element)?;
        if !e.has_table() {
            return Ok(());
        }
        let keys = element_key_columns(self.universe, e)?;
        let (_, records) = query_records(conn, self.universe, element, None)?;
        let mut index = HashMap::with_capacity(records.len());
        for r in records {
            let k = key(keys
                .iter()
                .map(|c| r.get(c).map(|v| v.to_string()).unwrap_or_default()));
            index.insert(k, r);
        }
        self.tables.insert(element.to_owned(), (keys, index));
        Ok(())
    }

    /// The record of `element` that a data ID points at.
    fn get(&self, element: &str, data_id: &BTreeMap<String, Value>) -> Option<&Record> {
        let (keys, index) = self.tables.get(element)?;
        let pk = self
            .universe
            .element(element)?
            .primary_key()
            .map(|k| k.name.clone());
        let k = key(keys.iter().map(|c| {
            let name = if Some(c) == pk.as_ref() {
                element
            } else {
                c.as_str()
            };
            data_id.get(name).map(|v| v.to_string()).unwrap_or_default()
        }));
        index.get(&k)
    }
}

/// Write the ObsCore rows of a search as CSV (header, then one line per dataset).
/// Returns the number of rows.
pub fn export_obscore_csv(
    repo: &Repo,
    config: &ObsCoreConfig,
    options: &ObsCoreExportOptions,
    out: &mut dyn Write,
) -> Result<u64, RepoError> {
    let universe = repo.registry.universe.clone();
    let mut conn = repo.registry.db.conn()?;
    let io = |e: std::io::Error| RepoError::Invalid(format!("writing ObsCore output: {e}"));
    let header: Vec<String> = columns(config).iter().map(|c| format!("\"{c}\"")).collect();
    writeln!(out, "{}", header.join(",")).map_err(io)?;
    let mut cache = RecordCache {
        universe: &universe,
        tables: HashMap::new(),
    };
    let mut n = 0;
    for (type_name, _) in &config.types {
        if !options.dataset_types.is_empty() && !options.dataset_types.contains(type_name) {
            continue;
        }
        let t = match repo.resolver.dataset_type(&mut conn, type_name) {
            Ok(t) => t,
            Err(RegistryError::NotFound(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        let mut elements: Vec<String> = t.dimensions.names().map(str::to_owned).collect();
        elements.extend([
            "visit_definition".to_owned(),
            "visit_detector_region".to_owned(),
        ]);
        for e in &elements {
            cache.load(&mut conn, e)?;
        }
        // exposure → visit, through visit_definition (first visit of each exposure).
        let mut visit_of: HashMap<String, Value> = HashMap::new();
        if let Some((_, defs)) = cache.tables.get("visit_definition") {
            for r in defs.values() {
                if let (Some(i), Some(e), Some(v)) =
                    (r.get("instrument"), r.get("exposure"), r.get("visit"))
                {
                    let k = key([i.to_string(), e.to_string()].into_iter());
                    visit_of
                        .entry(k)
                        .and_modify(|old| {
                            if v.as_i64() < old.as_i64() {
                                *old = v.clone();
                            }
                        })
                        .or_insert_with(|| v.clone());
                }
            }
        }
        let mut failure: Option<RepoError> = None;
        let mut write = |found: valet_collections::Found| -> Result<bool, RegistryError> {
            let mut data_id = found.dataset.data_id.clone();
            let mut records: BTreeMap<String, Record> = BTreeMap::new();
            // Required records, then what they imply (physical_filter → band).
            for d in &t.dimensions.required {
                if let Some(r) = cache.get(d, &data_id) {
                    records.insert(d.clone(), r.clone());
                }
            }
            for _ in 0..2 {
                for (element, record) in records.clone() {
                    for implied in &universe.get(&element)?.implies {
                        if let Some(v) = record.get(implied).filter(|v| !v.is_null()) {
                            data_id.entry(implied.clone()).or_insert_with(|| v.clone());
                            if let Some(r) = cache.get(implied, &data_id) {
                                records.entry(implied.clone()).or_insert_with(|| r.clone());
                            }
                        }
                    }
                }
            }
            let span = |r: Option<&Record>| -> Option<Timespan> {
                let r = r?;
                let b = r.get("timespan_begin").and_then(Value::as_i64);
                let e = r.get("timespan_end").and_then(Value::as_i64);
                (b.is_some() || e.is_some()).then(|| Timespan::new(b, e))
            };
            let timespan = span(records.get("exposure"))
                .or_else(|| span(records.get("visit")))
                .or_else(|| span(records.get("day_obs")));
            let mut region_id = data_id.clone();
            if !region_id.contains_key("visit") {
                if let (Some(i), Some(e)) = (region_id.get("instrument"), region_id.get("exposure"))
                {
                    if let Some(v) = visit_of.get(&key([i.to_string(), e.to_string()].into_iter()))
                    {
                        region_id.insert("visit".into(), v.clone());
                    }
                }
            }
            let region = if region_id.contains_key("detector") && region_id.contains_key("visit") {
                cache
                    .get("visit_detector_region", &region_id)
                    .and_then(|r| r.get("region"))
            } else if data_id.contains_key("visit") {
                records.get("visit").and_then(|r| r.get("region"))
            } else {
                None
            };
            let region = match region {
                Some(Value::Bytes(b)) => Some(b.as_slice()),
                _ => None,
            };
            let ctx = DatasetContext {
                dataset_type: &t.name,
                id: found.dataset.id,
                run: &found.dataset.run,
                data_id: &data_id,
                records: &records,
                timespan,
                region,
            };
            match build_row(config, &ctx) {
                Ok(row) => {
                    if let Err(e) = writeln!(out, "{}", csv_line(&row)) {
                        failure = Some(io(e));
                        return Ok(false);
                    }
                    n += 1;
                    Ok(true)
                }
                Err(e) => {
                    failure = Some(RepoError::Invalid(e.to_string()));
                    Ok(false)
                }
            }
        };
        repo.resolver.query_datasets(
            &mut conn,
            &universe,
            &DatasetQuery {
                dataset_type: type_name.clone(),
                collections: options.collections.clone(),
                find_first: true,
                where_: options.where_.clone(),
                ..Default::default()
            },
            &mut write,
        )?;
        if let Some(e) = failure {
            return Err(e);
        }
    }
    Ok(n)
}
