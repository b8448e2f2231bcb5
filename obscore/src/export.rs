//! Exporting ObsCore rows straight from a find-first search: every configured dataset
//! type, resolved through the collections, each data ID expanded to its dimension
//! records (exposure-based datasets take the region of the matching
//! `visit_detector_region` through `visit_definition`).
//!
//! The search runs on the calling thread (it holds the connection) and hands chunks of
//! found datasets to worker threads, which build each chunk's output — CSV text or an
//! Arrow batch — straight from the records; a writer thread puts the outputs in the
//! file in search order, so the file is the same whatever the number of workers.

use std::io::Write;

use crate::parquet_out::{schema, BatchBuilder, ParquetSink};
use crate::{columns, CellSink, CsvLine, DatasetContext, ObsCoreConfig, RowPlan};
use crate::{ObsCoreError, ObsValue};
use valet_collections::{DatasetQuery, Found};
use valet_registry::{DatasetRef, DatasetType, Record, RegistryError, Timespan, Value};

use crate::parallel::in_parallel;
use valet_collections::Resolver;
use valet_registry::expand::RecordCache;
use valet_registry::Registry;

/// Called with the number of rows written so far, as an export advances.
pub type RowsProgress = std::sync::Arc<dyn Fn(u64) + Send + Sync>;

/// What to export.
#[derive(Clone, Default)]
pub struct ObsCoreExportOptions {
    /// Collections searched find-first, in order (default: the configuration's
    /// `collections`).
    pub collections: Vec<String>,
    /// Only these dataset types, each of which must be configured (default: all
    /// configured).
    pub dataset_types: Vec<String>,
    /// A `--where` expression (default: the configuration's `where`).
    pub where_: String,
    /// Progress reports, for a progress display.
    pub progress: Option<RowsProgress>,
}

impl ObsCoreExportOptions {
    /// The options with the configuration's defaults filled in, as the reference
    /// exporter: collections and `where` from the configuration unless given, and
    /// every requested dataset type configured.
    pub fn resolved(&self, config: &ObsCoreConfig) -> Result<ObsCoreExportOptions, ObsCoreError> {
        let mut out = self.clone();
        if out.collections.is_empty() {
            out.collections = config.collections.clone().unwrap_or_default();
        }
        if out.collections.is_empty() {
            return Err(ObsCoreError::Invalid(
                "no collections to search: give --collections or set `collections` in the \
                 ObsCore configuration"
                    .into(),
            ));
        }
        if out.where_.is_empty() {
            out.where_ = config.where_.clone().unwrap_or_default();
        }
        let unknown: Vec<&str> = out
            .dataset_types
            .iter()
            .filter(|d| config.dataset_type(d).is_none())
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(ObsCoreError::Invalid(format!(
                "dataset types {} are not defined in the ObsCore configuration",
                unknown.join(", ")
            )));
        }
        Ok(out)
    }
}

/// Write the CSV header line: the column names, quoted.
pub(crate) fn write_csv_header(
    config: &ObsCoreConfig,
    out: &mut dyn Write,
) -> Result<(), ObsCoreError> {
    let header: Vec<String> = columns(config).iter().map(|c| format!("\"{c}\"")).collect();
    Ok(writeln!(out, "{}", header.join(","))?)
}

/// Write the ObsCore rows of a search as CSV (header, then one line per dataset).
/// Returns the number of rows.
pub fn export_obscore_csv(
    registry: &Registry,
    resolver: &Resolver,
    config: &ObsCoreConfig,
    options: &ObsCoreExportOptions,
    out: &mut (dyn Write + Send),
) -> Result<u64, ObsCoreError> {
    let options = &options.resolved(config)?;
    write_csv_header(config, out)?;
    let encode = |plan: &RowPlan<'_>, cache: &RecordCache, t: &DatasetType, chunk: &[Found]| {
        let mut text = String::with_capacity(chunk.len() * 640);
        let mut scratch = String::new();
        for found in chunk {
            let mut line = CsvLine::new(&mut text);
            obscore_row_into(plan, cache, t, &found.dataset, &mut line, &mut scratch)?;
            line.finish();
        }
        Ok(text)
    };
    export_chunks(
        registry,
        resolver,
        config,
        options,
        &encode,
        &mut |text: String| Ok(out.write_all(text.as_bytes())?),
    )
}

/// Write the ObsCore rows of a search as Parquet. Returns the number of rows.
pub fn export_obscore_parquet<W: Write + Send>(
    registry: &Registry,
    resolver: &Resolver,
    config: &ObsCoreConfig,
    options: &ObsCoreExportOptions,
    out: W,
) -> Result<u64, ObsCoreError> {
    let options = &options.resolved(config)?;
    let schema = schema(config);
    let mut sink = ParquetSink::new(schema.clone(), out)?;
    let encode = |plan: &RowPlan<'_>, cache: &RecordCache, t: &DatasetType, chunk: &[Found]| {
        let mut batch = BatchBuilder::new(schema.clone(), chunk.len());
        let mut scratch = String::new();
        for found in chunk {
            obscore_row_into(plan, cache, t, &found.dataset, &mut batch, &mut scratch)?;
            batch.end_row()?;
        }
        batch.finish()
    };
    let n = export_chunks(registry, resolver, config, options, &encode, &mut |batch| {
        sink.write(&batch)
    })?;
    sink.finish()?;
    Ok(n)
}

/// The ObsCore row of one dataset as values, from records in `cache` (loaded for the
/// type with [`RecordCache::load_regions_for`]).
pub fn obscore_row(
    plan: &RowPlan<'_>,
    cache: &RecordCache,
    t: &DatasetType,
    dataset: &DatasetRef,
) -> Result<Vec<ObsValue>, ObsCoreError> {
    let mut row = Vec::new();
    obscore_row_into(plan, cache, t, dataset, &mut row, &mut String::new())?;
    Ok(row)
}

/// The ObsCore row of one dataset, cell by cell into `sink`; `scratch` is a reusable
/// text buffer.
pub fn obscore_row_into(
    plan: &RowPlan<'_>,
    cache: &RecordCache,
    t: &DatasetType,
    dataset: &DatasetRef,
    sink: &mut dyn CellSink,
    scratch: &mut String,
) -> Result<(), ObsCoreError> {
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
    plan.build(&ctx, sink, scratch)
}

/// Builds one chunk's output from the records of its dataset type.
type Encode<'a, O> = dyn Fn(&RowPlan<'_>, &RecordCache, &DatasetType, &[Found]) -> Result<O, ObsCoreError>
    + Sync
    + 'a;

/// Run the find-first search of every configured type (options resolved), encode chunks of what it finds
/// on worker threads, and hand the outputs to `write` in search order. Returns the
/// number of rows.
fn export_chunks<O: Send>(
    registry: &Registry,
    resolver: &Resolver,
    config: &ObsCoreConfig,
    options: &ObsCoreExportOptions,
    encode: &Encode<'_, O>,
    write: &mut (dyn FnMut(O) -> Result<(), ObsCoreError> + Send),
) -> Result<u64, ObsCoreError> {
    let universe = registry.universe.clone();
    let mut conn = registry.db.conn()?;
    let mut cache = RecordCache::new(universe.clone());
    let mut n = 0;
    for (type_name, _) in &config.types {
        if !options.dataset_types.is_empty() && !options.dataset_types.contains(type_name) {
            continue;
        }
        let t = match resolver.dataset_type(&mut conn, type_name) {
            Ok(t) => t,
            Err(RegistryError::NotFound(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        let dims: Vec<String> = t.dimensions.names().map(str::to_owned).collect();
        cache.load_regions_for(&mut conn, &dims)?;
        let query = DatasetQuery {
            dataset_type: type_name.clone(),
            collections: options.collections.clone(),
            find_first: true,
            where_: options.where_.clone(),
            ..Default::default()
        };
        let search = |sink: &mut dyn FnMut(Found) -> Result<bool, RegistryError>| {
            resolver.query_datasets(&mut conn, &universe, &query, sink)
        };
        let plan = RowPlan::new(config, type_name)?;
        let encode_chunk = |chunk: &[Found]| encode(&plan, &cache, &t, chunk);
        let before = n;
        let mut written = 0;
        let mut write_and_report = |(rows, out): (u64, O)| {
            write(out)?;
            written += rows;
            if let Some(report) = &options.progress {
                report(before + written);
            }
            Ok(())
        };
        let encode_counted = |chunk: &[Found]| Ok((chunk.len() as u64, encode_chunk(chunk)?));
        n += in_parallel(search, &encode_counted, &mut write_and_report)?;
    }
    Ok(n)
}
