//! Exporting ObsCore rows straight from a find-first search: every configured dataset
//! type, resolved through the collections, each data ID expanded to its dimension
//! records (exposure-based datasets take the region of the matching
//! `visit_detector_region` through `visit_definition`).

use std::io::Write;

use valet_collections::DatasetQuery;
use valet_obscore::record::csv_line;
use valet_obscore::{build_row, columns, DatasetContext, ObsCoreConfig, ObsValue};
use valet_registry::{Record, RegistryError, Timespan, Value};

use crate::expand::RecordCache;
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

fn io(e: std::io::Error) -> RepoError {
    RepoError::Invalid(format!("writing ObsCore output: {e}"))
}

/// Write the ObsCore rows of a search as CSV (header, then one line per dataset).
/// Returns the number of rows.
pub fn export_obscore_csv(
    repo: &Repo,
    config: &ObsCoreConfig,
    options: &ObsCoreExportOptions,
    out: &mut dyn Write,
) -> Result<u64, RepoError> {
    let header: Vec<String> = columns(config).iter().map(|c| format!("\"{c}\"")).collect();
    writeln!(out, "{}", header.join(",")).map_err(io)?;
    export_obscore(repo, config, options, &mut |row| {
        writeln!(out, "{}", csv_line(&row)).map_err(io)
    })
}

/// Write the ObsCore rows of a search as Parquet. Returns the number of rows.
pub fn export_obscore_parquet<W: Write + Send>(
    repo: &Repo,
    config: &ObsCoreConfig,
    options: &ObsCoreExportOptions,
    out: W,
) -> Result<u64, RepoError> {
    let invalid = |e: valet_obscore::ObsCoreError| RepoError::Invalid(e.to_string());
    let mut sink = valet_obscore::parquet_out::ParquetSink::new(config, out).map_err(invalid)?;
    let n = export_obscore(repo, config, options, &mut |row| {
        sink.push(row).map_err(invalid)
    })?;
    sink.finish().map_err(invalid)?;
    Ok(n)
}

/// The ObsCore row of one dataset, from records in `cache` (loaded for the type).
pub fn obscore_row(
    config: &ObsCoreConfig,
    cache: &RecordCache<'_>,
    t: &valet_registry::DatasetType,
    dataset: &valet_registry::DatasetRef,
) -> Result<Vec<ObsValue>, RepoError> {
    let expanded = cache.expand(&t.dimensions.required, &dataset.data_id)?;
    let span = |r: Option<&Record>| -> Option<Timespan> {
        let r = r?;
        let b = r.get("timespan_begin").and_then(Value::as_i64);
        let e = r.get("timespan_end").and_then(Value::as_i64);
        (b.is_some() || e.is_some()).then(|| Timespan::new(b, e))
    };
    let records = &expanded.records;
    let timespan = span(records.get("exposure").copied())
        .or_else(|| span(records.get("visit").copied()))
        .or_else(|| span(records.get("day_obs").copied()));
    let ctx = DatasetContext {
        dataset_type: &t.name,
        id: dataset.id,
        run: &dataset.run,
        data_id: &expanded.data_id,
        records,
        timespan,
        region: cache.region(&expanded),
    };
    build_row(config, &ctx).map_err(|e| RepoError::Invalid(e.to_string()))
}

/// Build the ObsCore rows of a search and hand each to `sink`, in column order.
/// Returns the number of rows.
pub fn export_obscore(
    repo: &Repo,
    config: &ObsCoreConfig,
    options: &ObsCoreExportOptions,
    sink: &mut dyn FnMut(Vec<ObsValue>) -> Result<(), RepoError>,
) -> Result<u64, RepoError> {
    let universe = repo.registry.universe.clone();
    let mut conn = repo.registry.db.conn()?;
    let mut cache = RecordCache::new(&universe);
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
        let dims: Vec<String> = t.dimensions.names().map(str::to_owned).collect();
        cache.load_for(&mut conn, &dims)?;
        let mut failure: Option<RepoError> = None;
        let mut write = |found: valet_collections::Found| -> Result<bool, RegistryError> {
            let built = obscore_row(config, &cache, &t, &found.dataset);
            match built {
                Err(RepoError::Registry(e)) => Err(e),
                Err(e) => {
                    failure = Some(e);
                    Ok(false)
                }
                Ok(row) => {
                    if let Err(e) = sink(row) {
                        failure = Some(e);
                        return Ok(false);
                    }
                    n += 1;
                    Ok(true)
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
