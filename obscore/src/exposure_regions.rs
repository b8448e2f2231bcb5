//! `obscore set-exposure-regions`: rows of exposures (raws) written before their
//! visits were defined have no footprint. Each such row takes the region of its
//! detector in a visit its exposure belongs to (any one: the visits of an exposure
//! share their footprint), as the reference's command does, found by the record
//! cache as when the row is built.

use uuid::Uuid;
use valet_registry::db::{quote_ident as q, Value};
use valet_registry::expand::RecordCache;
use valet_registry::region::Region;
use valet_registry::{Conn, DataId, Registry};

use crate::live::{enabled_config, table_name};
use crate::sky::spatial_columns;
use crate::sky_index::{self, footprint_cells, BOX_COLUMNS};
use crate::{columns, ObsCoreError};

/// Which rows lack a region and where their exposure and detector are.
#[derive(Debug, Clone)]
pub struct ExposureRegionOptions {
    /// `dataproduct_type` of the rows (the reference's default: `image`).
    pub dataproduct_type: String,
    /// `dataproduct_subtype` of the rows (default `lsst.raw`).
    pub dataproduct_subtype: String,
    /// Only rows of this instrument.
    pub instrument: Option<String>,
    /// The column holding the exposure id (default `lsst_exposure`).
    pub exposure_column: String,
    /// The column holding the detector id (default `lsst_detector`).
    pub detector_column: String,
    /// Columns that must all be NULL for a row to be updated (default `s_region`,
    /// `s_ra`, `s_dec`, `s_fov`).
    pub region_columns: Vec<String>,
    /// Find what would change, change nothing.
    pub dry_run: bool,
}

/// What [`set_exposure_regions`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExposureRegionReport {
    /// Rows with no region before.
    pub missing: u64,
    /// Distinct exposures among them.
    pub exposures: u64,
    /// Rows a visit's detector region was found for.
    pub found: u64,
    /// Rows updated (0 on a dry run).
    pub updated: u64,
    /// Rows still without a region afterwards.
    pub remaining: u64,
}

/// The condition selecting the rows `options` describes (over the table aliased
/// `o`), with its parameters; the columns it names are checked against the table's.
fn missing_condition(
    all_columns: &[String],
    options: &ExposureRegionOptions,
) -> Result<(String, Vec<Value>), ObsCoreError> {
    if options.region_columns.is_empty() {
        return Err(ObsCoreError::Invalid(
            "--region-columns needs at least one column".into(),
        ));
    }
    let named = [&options.exposure_column, &options.detector_column]
        .into_iter()
        .chain(&options.region_columns);
    for c in named {
        if !all_columns.contains(c) {
            return Err(ObsCoreError::Invalid(format!(
                "column {c:?} is not in the ObsCore table (columns: {})",
                all_columns.join(", ")
            )));
        }
    }
    let mut terms = vec![
        "o.dataproduct_type = ?".to_owned(),
        "o.dataproduct_subtype = ?".to_owned(),
    ];
    let mut params = vec![
        Value::from(options.dataproduct_type.as_str()),
        Value::from(options.dataproduct_subtype.as_str()),
    ];
    terms.extend(
        options
            .region_columns
            .iter()
            .map(|c| format!("o.{} IS NULL", q(c))),
    );
    if let Some(instrument) = &options.instrument {
        terms.push("o.instrument_name = ?".into());
        params.push(instrument.as_str().into());
    }
    Ok((terms.join(" AND "), params))
}

fn count(
    conn: &mut Conn,
    table: &str,
    condition: &str,
    params: &[Value],
) -> Result<u64, ObsCoreError> {
    let row = conn.query_opt(
        &format!("SELECT COUNT(*) FROM {table} o WHERE {condition}"),
        params,
    )?;
    Ok(row.and_then(|r| r[0].as_i64()).unwrap_or(0) as u64)
}

/// The table's name and the missing-row condition with its parameters, or an error
/// when the repository has no live table.
fn prepare(
    conn: &mut Conn,
    options: &ExposureRegionOptions,
) -> Result<(String, String, Vec<Value>), ObsCoreError> {
    let Some(config) = enabled_config(conn)? else {
        return Err(ObsCoreError::Invalid(
            "this repository does not have an ObsCore table (valet obscore enable)".into(),
        ));
    };
    let (condition, params) = missing_condition(&columns(&config), options)?;
    Ok((table_name(&config), condition, params))
}

/// How many rows lack a region (`--check`).
pub fn count_missing(
    registry: &Registry,
    options: &ExposureRegionOptions,
) -> Result<u64, ObsCoreError> {
    let mut conn = registry.db.conn()?;
    let (table, condition, params) = prepare(&mut conn, options)?;
    count(&mut conn, &table, &condition, &params)
}

/// Give the rows that lack a region their detector's region in a visit of their
/// exposure, in one transaction (nothing changes on a dry run or a failure).
pub fn set_exposure_regions(
    registry: &Registry,
    options: &ExposureRegionOptions,
) -> Result<ExposureRegionReport, ObsCoreError> {
    registry.db.transaction(|conn| {
        let (table, condition, params) = prepare(conn, options)?;
        let mut report = ExposureRegionReport {
            missing: count(conn, &table, &condition, &params)?,
            ..Default::default()
        };
        let exposures = conn.query(
            &format!(
                "SELECT COUNT(*) FROM (SELECT DISTINCT o.instrument_name, o.{} FROM {table} o WHERE {condition}) e",
                q(&options.exposure_column)
            ),
            &params,
        )?;
        report.exposures = exposures
            .first()
            .and_then(|r| r[0].as_i64())
            .unwrap_or(0) as u64;
        // Each missing row's region, by the rule every ObsCore row is built with (the
        // record cache: its detector's region in a visit of its exposure).
        let (exposure, detector) = (q(&options.exposure_column), q(&options.detector_column));
        let rows = conn.query(
            &format!(
                "SELECT o.registry_dataset_id, o.instrument_name, o.{exposure}, o.{detector} \
                 FROM {table} o WHERE {condition}"
            ),
            &params,
        )?;
        let dims: Vec<String> = ["instrument", "detector", "exposure"].map(String::from).into();
        let missing: Vec<(Uuid, DataId)> = rows
            .into_iter()
            .filter_map(|r| {
                let [id, instrument, exposure, detector] = <[Value; 4]>::try_from(r).ok()?;
                let values = dims.iter().cloned().zip([instrument, detector, exposure]);
                Some((id.as_uuid()?, values.collect()))
            })
            .collect();
        let mut cache = RecordCache::new(registry.universe.clone());
        cache.load_regions_for_data_ids(conn, &dims, missing.iter().map(|(_, d)| d))?;
        let mut updates: Vec<(Uuid, Vec<Value>)> = Vec::new();
        let mut s_region = String::new();
        for (id, data_id) in &missing {
            let expanded = cache.expand(&dims, data_id)?;
            let Some(blob) = cache.region(&expanded) else {
                continue;
            };
            s_region.clear();
            let Some((ra, dec, fov)) = spatial_columns(&Region::decode(blob), &mut s_region) else {
                continue;
            };
            let mut cells = vec![
                Value::Float(ra),
                Value::Float(dec),
                Value::Float(fov),
                Value::Text(s_region.clone()),
            ];
            cells.extend(footprint_cells(&cells[0], &cells[1], &cells[2]));
            updates.push((*id, cells));
        }
        report.found = updates.len() as u64;
        if options.dry_run {
            report.remaining = report.missing;
            return Ok(report);
        }
        let mut set: Vec<String> = ["s_ra", "s_dec", "s_fov", "s_region"]
            .iter()
            .map(|c| format!("{} = ?", q(c)))
            .collect();
        let with_box = sky_index::present(conn)?;
        if with_box {
            set.extend(BOX_COLUMNS.iter().map(|c| format!("{} = ?", q(c))));
        }
        let sql = format!(
            "UPDATE {table} SET {} WHERE registry_dataset_id = ?",
            set.join(", ")
        );
        for (id, mut cells) in updates {
            if !with_box {
                cells.truncate(4);
            }
            cells.push(Value::Uuid(id));
            report.updated += conn.execute(&sql, &cells)?;
        }
        report.remaining = count(conn, &table, &condition, &params)?;
        Ok(report)
    })
}
