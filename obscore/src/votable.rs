//! ObsCore rows as a VOTable 1.4 document (TABLEDATA), each column with the UCD,
//! utype and unit ObsCore gives it, as the reference's exporter describes them; and
//! VOTable error documents, as SIAv2 asks a service to answer a failed query.

use std::io::{self, Write};

use arrow_schema::DataType;
use valet_registry::db::Value;

/// ObsCore's description of a column: UCD, utype (after `obscore:`) and unit.
fn described(column: &str) -> Option<(&'static str, &'static str, &'static str)> {
    Some(match column {
        "dataproduct_type" => ("meta.code.class", "ObsDataset.dataProductType", ""),
        "dataproduct_subtype" => ("meta.code.class", "ObsDataset.dataProductSubtype", ""),
        "calib_level" => ("meta.code;obs.calib", "ObsDataset.calibLevel", ""),
        "obs_collection" => ("meta.id", "DataID.collection", ""),
        "obs_id" => ("meta.id", "DataID.observationID", ""),
        "obs_publisher_did" => ("meta.ref.ivoid", "Curation.publisherDID", ""),
        "access_url" => ("meta.ref.url", "Access.reference", ""),
        "access_format" => ("meta.code.mime", "Access.format", ""),
        "access_estsize" => ("phys.size;meta.file", "Access.size", "kbyte"),
        "target_name" => ("meta.id;src", "Target.name", ""),
        "s_ra" => (
            "pos.eq.ra",
            "Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C1",
            "deg",
        ),
        "s_dec" => (
            "pos.eq.dec",
            "Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C2",
            "deg",
        ),
        "s_fov" => (
            "phys.angSize;instr.fov",
            "Char.SpatialAxis.Coverage.Bounds.Extent.diameter",
            "deg",
        ),
        "s_region" => (
            "pos.outline;obs.field",
            "Char.SpatialAxis.Coverage.Support.Area",
            "",
        ),
        "s_resolution" => (
            "pos.angResolution",
            "Char.SpatialAxis.Resolution.Refval.value",
            "arcsec",
        ),
        "s_xel1" => ("meta.number", "Char.SpatialAxis.numBins1", ""),
        "s_xel2" => ("meta.number", "Char.SpatialAxis.numBins2", ""),
        "t_min" => (
            "time.start;obs.exposure",
            "Char.TimeAxis.Coverage.Bounds.Limits.StartTime",
            "d",
        ),
        "t_max" => (
            "time.end;obs.exposure",
            "Char.TimeAxis.Coverage.Bounds.Limits.StopTime",
            "d",
        ),
        "t_exptime" => (
            "time.duration;obs.exposure",
            "Char.TimeAxis.Coverage.Support.Extent",
            "s",
        ),
        "t_resolution" => (
            "time.resolution",
            "Char.TimeAxis.Resolution.Refval.value",
            "s",
        ),
        "t_xel" => ("meta.number", "Char.TimeAxis.numBins", ""),
        "em_min" => (
            "em.wl;stat.min",
            "Char.SpectralAxis.Coverage.Bounds.Limits.LoLimit",
            "m",
        ),
        "em_max" => (
            "em.wl;stat.max",
            "Char.SpectralAxis.Coverage.Bounds.Limits.HiLimit",
            "m",
        ),
        "em_res_power" => (
            "spect.resolution",
            "Char.SpectralAxis.Resolution.ResolPower.refVal",
            "",
        ),
        "em_xel" => ("meta.number", "Char.SpectralAxis.numBins", ""),
        "em_filter_name" => ("meta.id;instr.filter", "", ""),
        "o_ucd" => ("meta.ucd", "Char.ObservableAxis.ucd", ""),
        "pol_states" => (
            "meta.code;phys.polarization",
            "Char.PolarizationAxis.stateList",
            "",
        ),
        "pol_xel" => ("meta.number", "Char.PolarizationAxis.numBins", ""),
        "facility_name" => (
            "meta.id;instr.tel",
            "Provenance.ObsConfig.Facility.name",
            "",
        ),
        "instrument_name" => ("meta.id;instr", "Provenance.ObsConfig.Instrument.name", ""),
        _ => return None,
    })
}

/// What an integer column's NULL is written as.
const INT_NULL: i64 = i64::MIN;

/// `text` with XML's special characters escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

const HEADER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
"#;

fn field(out: &mut dyn Write, name: &str, ty: &DataType) -> io::Result<()> {
    let (datatype, arraysize) = match ty {
        DataType::Int64 => ("long", ""),
        DataType::Float64 => ("double", ""),
        DataType::Boolean => ("boolean", ""),
        _ => ("char", r#" arraysize="*""#),
    };
    let mut attributes = format!(
        r#"name="{}" datatype="{datatype}"{arraysize}"#,
        escape(name)
    );
    if let Some((ucd, utype, unit)) = described(name) {
        attributes.push_str(&format!(r#" ucd="{ucd}""#));
        if !utype.is_empty() {
            attributes.push_str(&format!(r#" utype="obscore:{utype}""#));
        }
        if !unit.is_empty() {
            attributes.push_str(&format!(r#" unit="{unit}""#));
        }
    }
    if *ty == DataType::Int64 {
        writeln!(
            out,
            r#"<FIELD {attributes}><VALUES null="{INT_NULL}"/></FIELD>"#
        )
    } else {
        writeln!(out, "<FIELD {attributes}/>")
    }
}

fn cell(out: &mut dyn Write, value: &Value, ty: &DataType) -> io::Result<()> {
    match (value, ty) {
        (Value::Null, DataType::Int64) => write!(out, "<TD>{INT_NULL}</TD>"),
        (Value::Null, _) => write!(out, "<TD/>"),
        (Value::Int(i), DataType::Boolean) => write!(out, "<TD>{}</TD>", *i != 0),
        (Value::Int(i), DataType::Float64) => write!(out, "<TD>{}</TD>", *i as f64),
        (Value::Int(i), _) => write!(out, "<TD>{i}</TD>"),
        (Value::Float(x), _) => write!(out, "<TD>{x:?}</TD>"),
        (Value::Bool(b), _) => write!(out, "<TD>{b}</TD>"),
        (Value::Text(s), _) => write!(out, "<TD>{}</TD>", escape(s)),
        (other, _) => write!(out, "<TD>{}</TD>", escape(&other.to_string())),
    }
}

/// Write rows of these columns as a VOTable results document; `overflow` says that
/// more rows matched than were written (SIAv2's `QUERY_STATUS` of `OVERFLOW`).
pub fn write_votable(
    out: &mut dyn Write,
    columns: &[String],
    types: &[DataType],
    rows: &[Vec<Value>],
    overflow: bool,
) -> io::Result<()> {
    out.write_all(HEADER.as_bytes())?;
    writeln!(out, r#"<RESOURCE type="results">"#)?;
    let status = if overflow { "OVERFLOW" } else { "OK" };
    writeln!(out, r#"<INFO name="QUERY_STATUS" value="{status}"/>"#)?;
    writeln!(out, r#"<TABLE name="obscore">"#)?;
    for (name, ty) in columns.iter().zip(types) {
        field(out, name, ty)?;
    }
    writeln!(out, "<DATA><TABLEDATA>")?;
    for row in rows {
        write!(out, "<TR>")?;
        for (v, ty) in row.iter().zip(types) {
            cell(out, v, ty)?;
        }
        writeln!(out, "</TR>")?;
    }
    writeln!(out, "</TABLEDATA></DATA>")?;
    writeln!(out, "</TABLE>")?;
    writeln!(out, "</RESOURCE>")?;
    writeln!(out, "</VOTABLE>")
}

/// Write a VOTable error document (`QUERY_STATUS` of `ERROR`) with a message.
pub fn write_votable_error(out: &mut dyn Write, message: &str) -> io::Result<()> {
    out.write_all(HEADER.as_bytes())?;
    writeln!(out, r#"<RESOURCE type="results">"#)?;
    writeln!(
        out,
        r#"<INFO name="QUERY_STATUS" value="ERROR">{}</INFO>"#,
        escape(message)
    )?;
    writeln!(out, "</RESOURCE>")?;
    writeln!(out, "</VOTABLE>")
}
