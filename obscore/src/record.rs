//! The content of one ObsCore row, as the reference's record factory builds it.

use std::collections::BTreeMap;

use uuid::Uuid;
use valet_registry::region::Region;
use valet_registry::{Record, Timespan, Value};

use crate::config::{ExtraColumn, ObsCoreConfig};
use crate::format::{python_str, render, Field};
use crate::sky::spatial_columns;
use crate::time::tai_ns_to_mjd_utc;
use crate::ObsCoreError;

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum ObsValue {
    /// NULL.
    Null,
    /// Integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// Text.
    Text(String),
    /// Boolean.
    Bool(bool),
}

/// What a row is built from: the dataset, its full data ID and the dimension records
/// it expands to.
#[derive(Debug, Clone)]
pub struct DatasetContext<'a> {
    /// Dataset type name.
    pub dataset_type: &'a str,
    /// Dataset id.
    pub id: Uuid,
    /// Its RUN.
    pub run: &'a str,
    /// Required and implied dimension values.
    pub data_id: &'a BTreeMap<String, Value>,
    /// Dimension records by element.
    pub records: &'a BTreeMap<String, &'a Record>,
    /// The data ID's timespan (TAI).
    pub timespan: Option<Timespan>,
    /// The data ID's region, in the reference's encoding.
    pub region: Option<&'a [u8]>,
}

const STATIC: [&str; 26] = [
    "dataproduct_type",
    "dataproduct_subtype",
    "facility_name",
    "calib_level",
    "target_name",
    "obs_id",
    "obs_collection",
    "obs_publisher_did",
    "access_url",
    "access_format",
    "s_resolution",
    "s_xel1",
    "s_xel2",
    "t_xel",
    "t_min",
    "t_max",
    "t_exptime",
    "t_resolution",
    "em_xel",
    "em_min",
    "em_max",
    "em_res_power",
    "em_filter_name",
    "o_ucd",
    "pol_xel",
    "instrument_name",
];

const SPATIAL: [&str; 4] = ["s_ra", "s_dec", "s_fov", "s_region"];

/// The table's columns: the static ObsCore ones, the extra columns, then the default
/// spatial plugin's.
pub fn columns(config: &ObsCoreConfig) -> Vec<String> {
    STATIC
        .iter()
        .map(|s| s.to_string())
        .chain(config.extra_order.iter().cloned())
        .chain(SPATIAL.iter().map(|s| s.to_string()))
        .collect()
}

fn text(v: Option<&String>) -> ObsValue {
    v.map(|s| ObsValue::Text(s.clone()))
        .unwrap_or(ObsValue::Null)
}

fn from_value(v: &Value) -> ObsValue {
    match v {
        Value::Null => ObsValue::Null,
        Value::Int(i) => ObsValue::Int(*i),
        Value::Float(f) => ObsValue::Float(*f),
        Value::Text(s) => ObsValue::Text(s.clone()),
        Value::Bool(b) => ObsValue::Bool(*b),
        other => ObsValue::Text(python_str(other)),
    }
}

fn cast(rendered: &str, ty: &str) -> ObsValue {
    match ty {
        "int" => rendered
            .parse::<i64>()
            .ok()
            .or_else(|| rendered.parse::<f64>().ok().map(|f| f as i64))
            .map(ObsValue::Int)
            .unwrap_or(ObsValue::Null),
        "float" => rendered
            .parse::<f64>()
            .map(ObsValue::Float)
            .unwrap_or(ObsValue::Null),
        "bool" => ObsValue::Bool(matches!(rendered, "True" | "true" | "1")),
        _ => ObsValue::Text(rendered.to_owned()),
    }
}

/// Build one row, in [`columns`] order.
pub fn build_row(
    config: &ObsCoreConfig,
    ctx: &DatasetContext<'_>,
) -> Result<Vec<ObsValue>, ObsCoreError> {
    let t = config.dataset_type(ctx.dataset_type).ok_or_else(|| {
        ObsCoreError::Config(format!(
            "dataset type {:?} is not configured",
            ctx.dataset_type
        ))
    })?;
    let lookup = |f: &Field<'_>| -> Option<Value> {
        match (f.name, f.key, f.attr) {
            ("records", Some(element), Some(attr)) => ctx
                .records
                .get(element)
                .and_then(|r| r.get(attr))
                .filter(|v| !v.is_null())
                .cloned(),
            ("id", None, None) => Some(Value::Text(ctx.id.to_string())),
            ("run", None, None) => Some(Value::Text(ctx.run.to_owned())),
            ("dataset_type", None, None) => Some(Value::Text(ctx.dataset_type.to_owned())),
            (name, None, None) => ctx
                .data_id
                .get(name)
                .or_else(|| {
                    // As the reference: a data ID with an exposure but no visit uses
                    // the exposure for `visit`.
                    (name == "visit")
                        .then(|| ctx.data_id.get("exposure"))
                        .flatten()
                })
                .filter(|v| !v.is_null())
                .cloned(),
            _ => None,
        }
    };
    let instrument = ctx
        .data_id
        .get("instrument")
        .and_then(|v| v.as_str().map(str::to_owned))
        .or_else(|| config.fallback_instrument.clone());
    let facility = instrument
        .as_ref()
        .and_then(|i| config.facility_map.get(i))
        .cloned()
        .unwrap_or_else(|| config.facility_name.clone());
    let observation = ctx
        .records
        .get("exposure")
        .or_else(|| ctx.records.get("visit"));
    let from_observation = |field: &str| {
        observation
            .and_then(|r| r.get(field))
            .map(from_value)
            .unwrap_or(ObsValue::Null)
    };
    let optional = |fmt: &Option<String>| -> Result<ObsValue, ObsCoreError> {
        fmt.as_ref()
            .map(|f| render(f, &lookup).map(ObsValue::Text))
            .transpose()
            .map(|v| v.unwrap_or(ObsValue::Null))
    };
    let band = ctx
        .data_id
        .get("band")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let filter = ctx.data_id.get("physical_filter").and_then(|v| v.as_str());
    let spectral = filter
        .and_then(|f| config.spectral_ranges.get(f))
        .or_else(|| band.as_ref().and_then(|b| config.spectral_ranges.get(b)));
    let em = |i: usize| {
        spectral
            .and_then(|r| r[i])
            .map(ObsValue::Float)
            .unwrap_or(ObsValue::Null)
    };
    let mjd = |v: Option<i64>| {
        v.map(|ns| ObsValue::Float(tai_ns_to_mjd_utc(ns)))
            .unwrap_or(ObsValue::Null)
    };
    let (t_min, t_max) = match ctx.timespan {
        Some(ts) => (mjd(ts.begin), mjd(ts.end)),
        None => (ObsValue::Null, ObsValue::Null),
    };
    let xel = |i: usize| {
        t.s_xel
            .map(|x| ObsValue::Int(x[i]))
            .unwrap_or(ObsValue::Null)
    };
    let mut row = vec![
        ObsValue::Text(t.dataproduct_type.clone()),
        text(t.dataproduct_subtype.as_ref()),
        ObsValue::Text(facility),
        ObsValue::Int(t.calib_level),
        from_observation("target_name"),
        optional(&t.obs_id_fmt)?,
        text(t.obs_collection.as_ref().or(config.obs_collection.as_ref())),
        optional(&config.obs_publisher_did_fmt)?,
        optional(&t.datalink_url_fmt)?,
        text(t.access_format.as_ref()),
        ObsValue::Null,
        xel(0),
        xel(1),
        ObsValue::Null,
        t_min,
        t_max,
        from_observation("exposure_time"),
        ObsValue::Null,
        ObsValue::Null,
        em(0),
        em(1),
        ObsValue::Null,
        text(band.as_ref()),
        text(t.o_ucd.as_ref()),
        ObsValue::Null,
        text(instrument.as_ref()),
    ];
    for name in &config.extra_order {
        let spec = t
            .extra_columns
            .get(name)
            .or_else(|| config.extra_columns.get(name));
        row.push(match spec {
            None => ObsValue::Null,
            Some(ExtraColumn::Literal(v)) => match v {
                serde_yaml_ng::Value::Number(n) if n.is_i64() => {
                    ObsValue::Int(n.as_i64().unwrap_or_default())
                }
                serde_yaml_ng::Value::Number(n) => ObsValue::Float(n.as_f64().unwrap_or_default()),
                serde_yaml_ng::Value::Bool(b) => ObsValue::Bool(*b),
                serde_yaml_ng::Value::String(s) => ObsValue::Text(s.clone()),
                _ => ObsValue::Null,
            },
            // A template whose fields this dataset lacks gives NULL, as the reference.
            Some(ExtraColumn::Template { template, ty, .. }) => match render(template, &lookup) {
                Ok(s) => cast(&s, ty),
                Err(_) => ObsValue::Null,
            },
        });
    }
    match ctx
        .region
        .map(Region::decode)
        .as_ref()
        .and_then(spatial_columns)
    {
        Some((ra, dec, fov, region)) => row.extend([
            ObsValue::Float(ra),
            ObsValue::Float(dec),
            ObsValue::Float(fov),
            ObsValue::Text(region),
        ]),
        None => row.extend(std::iter::repeat_n(ObsValue::Null, 4)),
    }
    Ok(row)
}

/// Write one CSV line in the reference exporter's style: text quoted, numbers bare,
/// NULL as `\N`.
pub fn csv_line(values: &[ObsValue]) -> String {
    values
        .iter()
        .map(|v| match v {
            ObsValue::Null => "\\N".to_owned(),
            ObsValue::Int(i) => i.to_string(),
            ObsValue::Float(f) => format!("{f:?}"),
            ObsValue::Bool(b) => b.to_string(),
            ObsValue::Text(s) => format!("\"{}\"", s.replace('"', "\"\"")),
        })
        .collect::<Vec<_>>()
        .join(",")
}
