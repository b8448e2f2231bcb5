//! The content of one ObsCore row, as the reference's record factory builds it.

use std::collections::BTreeMap;

use uuid::Uuid;
use valet_registry::region::Region;
use valet_registry::{Record, Timespan, Value};

use crate::config::{DatasetTypeConfig, ExtraColumn, ObsCoreConfig};
use crate::format::{push_python_str, Field, Template};
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

/// Receives a row's cells in column order. Rows go straight into their destination —
/// a CSV line, Arrow column builders, a vector for the live table — without a
/// per-cell allocation.
pub trait CellSink {
    /// A NULL cell.
    fn null(&mut self);
    /// An integer cell.
    fn int(&mut self, v: i64);
    /// A floating-point cell.
    fn float(&mut self, v: f64);
    /// A text cell.
    fn text(&mut self, v: &str);
    /// A boolean cell.
    fn boolean(&mut self, v: bool);
}

impl CellSink for Vec<ObsValue> {
    fn null(&mut self) {
        self.push(ObsValue::Null);
    }
    fn int(&mut self, v: i64) {
        self.push(ObsValue::Int(v));
    }
    fn float(&mut self, v: f64) {
        self.push(ObsValue::Float(v));
    }
    fn text(&mut self, v: &str) {
        self.push(ObsValue::Text(v.to_owned()));
    }
    fn boolean(&mut self, v: bool) {
        self.push(ObsValue::Bool(v));
    }
}

fn text_or_null(sink: &mut dyn CellSink, v: Option<&str>) {
    match v {
        Some(s) => sink.text(s),
        None => sink.null(),
    }
}

fn float_or_null(sink: &mut dyn CellSink, v: Option<f64>) {
    match v {
        Some(f) => sink.float(f),
        None => sink.null(),
    }
}

/// A record value as a cell, as the reference's factory copies it.
fn value_cell(sink: &mut dyn CellSink, v: Option<&Value>, scratch: &mut String) {
    match v {
        None | Some(Value::Null) => sink.null(),
        Some(Value::Int(i)) => sink.int(*i),
        Some(Value::Float(f)) => sink.float(*f),
        Some(Value::Text(s)) => sink.text(s),
        Some(Value::Bool(b)) => sink.boolean(*b),
        Some(other) => {
            scratch.clear();
            push_python_str(scratch, other);
            sink.text(scratch);
        }
    }
}

/// An extra column's rendered text converted to its configured type.
fn cast_cell(sink: &mut dyn CellSink, rendered: &str, ty: &str) {
    match ty {
        "int" => match rendered
            .parse::<i64>()
            .ok()
            .or_else(|| rendered.parse::<f64>().ok().map(|f| f as i64))
        {
            Some(i) => sink.int(i),
            None => sink.null(),
        },
        "float" => float_or_null(sink, rendered.parse::<f64>().ok()),
        "bool" => sink.boolean(matches!(rendered, "True" | "true" | "1")),
        _ => sink.text(rendered),
    }
}

/// A literal extra column as a cell.
fn literal_cell(sink: &mut dyn CellSink, v: &serde_yaml_ng::Value) {
    match v {
        serde_yaml_ng::Value::Number(n) if n.is_i64() => sink.int(n.as_i64().unwrap_or_default()),
        serde_yaml_ng::Value::Number(n) => sink.float(n.as_f64().unwrap_or_default()),
        serde_yaml_ng::Value::Bool(b) => sink.boolean(*b),
        serde_yaml_ng::Value::String(s) => sink.text(s),
        _ => sink.null(),
    }
}

/// What an extra column is for one dataset type.
enum Extra<'c> {
    /// Not configured for this type.
    Null,
    /// A literal value.
    Literal(&'c serde_yaml_ng::Value),
    /// A template and its type; `None` when the template cannot be parsed (every
    /// row gets NULL, as a template with missing fields does).
    Template(Option<Template<'c>>, &'c str),
}

/// How to build the rows of one dataset type, worked out once from the
/// configuration: its settings, every template parsed, every extra column resolved.
pub struct RowPlan<'c> {
    config: &'c ObsCoreConfig,
    t: &'c DatasetTypeConfig,
    obs_id: Option<Template<'c>>,
    publisher_did: Option<Template<'c>>,
    access_url: Option<Template<'c>>,
    extras: Vec<Extra<'c>>,
}

/// A field's value for one dataset.
enum FieldValue<'a> {
    Value(&'a Value),
    Text(&'a str),
    Id(Uuid),
}

fn field_value<'a>(ctx: &'a DatasetContext<'_>, f: &Field<'_>) -> Option<FieldValue<'a>> {
    let v = match (f.name, f.key, f.attr) {
        ("records", Some(element), Some(attr)) => {
            ctx.records.get(element).and_then(|r| r.get(attr))
        }
        ("id", None, None) => return Some(FieldValue::Id(ctx.id)),
        ("run", None, None) => return Some(FieldValue::Text(ctx.run)),
        ("dataset_type", None, None) => return Some(FieldValue::Text(ctx.dataset_type)),
        // As the reference: a data ID with an exposure but no visit uses the exposure
        // for `visit`.
        ("visit", None, None) => ctx
            .data_id
            .get("visit")
            .or_else(|| ctx.data_id.get("exposure")),
        (name, None, None) => ctx.data_id.get(name),
        _ => None,
    };
    v.filter(|v| !v.is_null()).map(FieldValue::Value)
}

fn push_field(out: &mut String, v: FieldValue<'_>) {
    match v {
        FieldValue::Value(v) => push_python_str(out, v),
        FieldValue::Text(t) => out.push_str(t),
        FieldValue::Id(id) => {
            let mut buf = Uuid::encode_buffer();
            out.push_str(id.hyphenated().encode_lower(&mut buf));
        }
    }
}

fn parse_optional(t: &Option<String>) -> Result<Option<Template<'_>>, ObsCoreError> {
    t.as_deref().map(Template::parse).transpose()
}

impl<'c> RowPlan<'c> {
    /// The plan for a configured dataset type; malformed obs_id, publisher DID or
    /// access URL templates are errors.
    pub fn new(config: &'c ObsCoreConfig, dataset_type: &str) -> Result<RowPlan<'c>, ObsCoreError> {
        let t = config.dataset_type(dataset_type).ok_or_else(|| {
            ObsCoreError::Config(format!("dataset type {dataset_type:?} is not configured"))
        })?;
        let extras = config
            .extra_order
            .iter()
            .map(|name| {
                match t
                    .extra_columns
                    .get(name)
                    .or_else(|| config.extra_columns.get(name))
                {
                    None => Extra::Null,
                    Some(ExtraColumn::Literal(v)) => Extra::Literal(v),
                    Some(ExtraColumn::Template { template, ty, .. }) => {
                        Extra::Template(Template::parse(template).ok(), ty)
                    }
                }
            })
            .collect();
        Ok(RowPlan {
            config,
            t,
            obs_id: parse_optional(&t.obs_id_fmt)?,
            publisher_did: parse_optional(&config.obs_publisher_did_fmt)?,
            access_url: parse_optional(&t.datalink_url_fmt)?,
            extras,
        })
    }

    /// Build one row into `sink`, in [`columns`] order; `scratch` is a reusable
    /// buffer for rendered text. On error, `sink` may have received part of the row.
    pub fn build(
        &self,
        ctx: &DatasetContext<'_>,
        sink: &mut dyn CellSink,
        scratch: &mut String,
    ) -> Result<(), ObsCoreError> {
        let (config, t) = (self.config, self.t);
        let lookup = |f: &Field<'_>, out: &mut String| -> bool {
            match field_value(ctx, f) {
                Some(v) => {
                    push_field(out, v);
                    true
                }
                None => false,
            }
        };
        let instrument = ctx
            .data_id
            .get("instrument")
            .and_then(|v| v.as_str())
            .or(config.fallback_instrument.as_deref());
        let facility = instrument
            .and_then(|i| config.facility_map.get(i))
            .unwrap_or(&config.facility_name);
        let observation = ctx
            .records
            .get("exposure")
            .or_else(|| ctx.records.get("visit"));
        let band = ctx.data_id.get("band").and_then(|v| v.as_str());
        let filter = ctx.data_id.get("physical_filter").and_then(|v| v.as_str());
        let spectral = filter
            .and_then(|f| config.spectral_ranges.get(f))
            .or_else(|| band.and_then(|b| config.spectral_ranges.get(b)));
        let em = |i: usize| spectral.and_then(|r| r[i]);
        let mjd = |v: Option<i64>| v.map(tai_ns_to_mjd_utc);
        let (t_min, t_max) = match ctx.timespan {
            Some(ts) => (mjd(ts.begin), mjd(ts.end)),
            None => (None, None),
        };
        let rendered =
            |sink: &mut dyn CellSink, template: &Option<Template<'_>>, scratch: &mut String| {
                match template {
                    Some(template) => {
                        scratch.clear();
                        template.render_into(&lookup, scratch)?;
                        sink.text(scratch);
                    }
                    None => sink.null(),
                }
                Ok::<(), ObsCoreError>(())
            };
        let xel = |sink: &mut dyn CellSink, i: usize| match t.s_xel {
            Some(x) => sink.int(x[i]),
            None => sink.null(),
        };

        sink.text(&t.dataproduct_type);
        text_or_null(sink, t.dataproduct_subtype.as_deref());
        sink.text(facility);
        sink.int(t.calib_level);
        value_cell(
            sink,
            observation.and_then(|r| r.get("target_name")),
            scratch,
        );
        rendered(sink, &self.obs_id, scratch)?;
        text_or_null(
            sink,
            t.obs_collection
                .as_deref()
                .or(config.obs_collection.as_deref()),
        );
        rendered(sink, &self.publisher_did, scratch)?;
        rendered(sink, &self.access_url, scratch)?;
        text_or_null(sink, t.access_format.as_deref());
        sink.null(); // s_resolution
        xel(sink, 0);
        xel(sink, 1);
        sink.null(); // t_xel
        float_or_null(sink, t_min);
        float_or_null(sink, t_max);
        value_cell(
            sink,
            observation.and_then(|r| r.get("exposure_time")),
            scratch,
        );
        sink.null(); // t_resolution
        sink.null(); // em_xel
        float_or_null(sink, em(0));
        float_or_null(sink, em(1));
        sink.null(); // em_res_power
        text_or_null(sink, band);
        text_or_null(sink, t.o_ucd.as_deref());
        sink.null(); // pol_xel
        text_or_null(sink, instrument);
        for extra in &self.extras {
            match extra {
                Extra::Null | Extra::Template(None, _) => sink.null(),
                Extra::Literal(v) => literal_cell(sink, v),
                Extra::Template(Some(template), ty) => {
                    // A lone integer field goes in as it is, without a round trip
                    // through text.
                    if let (Some(f), &"int") = (template.single_field(), ty) {
                        if let Some(FieldValue::Value(Value::Int(i))) = field_value(ctx, f) {
                            sink.int(*i);
                            continue;
                        }
                    }
                    scratch.clear();
                    // A template whose fields this dataset lacks gives NULL, as the
                    // reference.
                    match template.render_into(&lookup, scratch) {
                        Ok(()) => cast_cell(sink, scratch, ty),
                        Err(_) => sink.null(),
                    }
                }
            }
        }
        scratch.clear();
        match ctx
            .region
            .map(Region::decode)
            .as_ref()
            .and_then(|r| spatial_columns(r, scratch))
        {
            Some((ra, dec, fov)) => {
                sink.float(ra);
                sink.float(dec);
                sink.float(fov);
                sink.text(scratch);
            }
            None => (0..SPATIAL.len()).for_each(|_| sink.null()),
        }
        Ok(())
    }
}

/// Append one CSV line (with its newline) in the reference exporter's style: text
/// quoted, numbers bare, NULL as `\N`.
pub struct CsvLine<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> CsvLine<'a> {
    /// A line appended to `out`.
    pub fn new(out: &'a mut String) -> CsvLine<'a> {
        CsvLine { out, first: true }
    }

    fn separate(&mut self) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
    }

    /// End the line.
    pub fn finish(self) {
        self.out.push('\n');
    }
}

impl CellSink for CsvLine<'_> {
    fn null(&mut self) {
        self.separate();
        self.out.push_str("\\N");
    }
    fn int(&mut self, v: i64) {
        use std::fmt::Write;
        self.separate();
        let _ = write!(self.out, "{v}");
    }
    fn float(&mut self, v: f64) {
        use std::fmt::Write;
        self.separate();
        let _ = write!(self.out, "{v:?}");
    }
    fn text(&mut self, v: &str) {
        self.separate();
        self.out.push('"');
        for (i, part) in v.split('"').enumerate() {
            if i > 0 {
                self.out.push_str("\"\"");
            }
            self.out.push_str(part);
        }
        self.out.push('"');
    }
    fn boolean(&mut self, v: bool) {
        self.separate();
        self.out.push_str(if v { "true" } else { "false" });
    }
}
