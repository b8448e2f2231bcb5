//! Writing export files in the reference's format 1.0.2, with its YAML tags, so the
//! reference Butler (and valet) can import them.

use std::io::{self, Write};

use base64::Engine;
use valet_registry::region::kind_of_type_byte;
use valet_registry::timespan::format_tai_iso;
use valet_registry::{CollectionType, Record, Timespan, Value};

use super::model::{Association, Entry, ExportFile};

/// Quote a string when YAML would otherwise read it as something else.
fn text(s: &str) -> String {
    let plain = !s.is_empty()
        && !s.starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@` ".contains(c))
        && !s.ends_with(' ')
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.contains(['\n', '\t'])
        && s.parse::<f64>().is_err()
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "null" | "~" | "true" | "false" | "yes" | "no" | "on" | "off" | ".inf" | ".nan"
        );
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

fn float(f: f64) -> String {
    if f.is_nan() {
        ".nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { ".inf" } else { "-.inf" }.into()
    } else {
        format!("{f:?}")
    }
}

fn time(ns: Option<i64>) -> String {
    match ns {
        Some(t) => format!("!butler_time/tai/iso '{}'", format_tai_iso(t)),
        None => "null".into(),
    }
}

fn value(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => float(*f),
        Value::Text(s) => text(s),
        Value::Bool(b) => b.to_string(),
        Value::Bytes(b) => format!(
            "!!binary {}",
            base64::engine::general_purpose::STANDARD.encode(b)
        ),
        Value::Uuid(u) => format!("!uuid '{u}'"),
    }
}

fn record(out: &mut impl Write, r: &Record, indent: &str) -> io::Result<()> {
    let mut first = true;
    let mut line = |out: &mut dyn Write, k: &str, v: String| -> io::Result<()> {
        let lead = if first { "- " } else { "  " };
        first = false;
        writeln!(out, "{indent}{lead}{k}: {v}")
    };
    for (k, v) in r {
        match (k.as_str(), v) {
            ("timespan_begin", _) => line(out, "datetime_begin", time(v.as_i64()))?,
            ("timespan_end", _) => line(out, "datetime_end", time(v.as_i64()))?,
            // Tagged with the sphgeom class the type byte names, as the reference.
            ("region", Value::Bytes(b)) => line(
                out,
                k,
                format!(
                    "!<lsst.sphgeom.{}> {{encoded: {}}}",
                    b.first()
                        .copied()
                        .and_then(kind_of_type_byte)
                        .unwrap_or("Region"),
                    text(&hex::encode(b))
                ),
            )?,
            _ => line(out, k, value(v))?,
        }
    }
    if first {
        writeln!(out, "{indent}- {{}}")?;
    }
    Ok(())
}

fn timespan(t: &Timespan) -> String {
    format!(
        "!lsst.daf.butler.Timespan {{begin: {}, end: {}}}",
        time(t.begin),
        time(t.end)
    )
}

fn uuids(ids: &[uuid::Uuid]) -> String {
    let items: Vec<String> = ids.iter().map(|u| format!("!uuid '{u}'")).collect();
    format!("[{}]", items.join(", "))
}

/// Write an export file.
pub fn write_export(file: &ExportFile, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "description: Butler Data Repository Export")?;
    writeln!(out, "version: {}", file.version)?;
    writeln!(out, "universe_version: {}", file.universe_version)?;
    writeln!(out, "universe_namespace: {}", file.universe_namespace)?;
    writeln!(out, "data:")?;
    for (_, e) in &file.entries {
        match e {
            Entry::Dimension { element, records } => {
                writeln!(
                    out,
                    "- type: dimension\n  element: {}\n  records:",
                    text(element)
                )?;
                for r in records {
                    record(out, r, "  ")?;
                }
            }
            Entry::Collection(c) => {
                writeln!(out, "- type: collection")?;
                writeln!(out, "  collection_type: {}", c.kind.name())?;
                writeln!(out, "  name: {}", text(&c.name))?;
                if let Some(doc) = &c.doc {
                    writeln!(out, "  doc: {}", text(doc))?;
                }
                match c.kind {
                    CollectionType::Run => writeln!(
                        out,
                        "  host: null\n  timespan_begin: null\n  timespan_end: null"
                    )?,
                    CollectionType::Chained => {
                        writeln!(out, "  children:")?;
                        for child in &c.children {
                            writeln!(out, "  - {}", text(child))?;
                        }
                        if c.children.is_empty() {
                            writeln!(out, "  - []")?;
                        }
                    }
                    _ => {}
                }
            }
            Entry::DatasetType {
                name,
                dimensions,
                storage_class,
                is_calibration,
            } => {
                writeln!(out, "- type: dataset_type\n  name: {}", text(name))?;
                let dims: Vec<String> = dimensions.iter().map(|d| text(d)).collect();
                writeln!(out, "  dimensions: [{}]", dims.join(", "))?;
                writeln!(out, "  storage_class: {}", text(storage_class))?;
                writeln!(out, "  is_calibration: {is_calibration}")?;
            }
            Entry::Datasets {
                dataset_type,
                run,
                files,
            } => {
                writeln!(
                    out,
                    "- type: dataset\n  dataset_type: {}\n  run: {}\n  records:",
                    text(dataset_type),
                    text(run)
                )?;
                for f in files {
                    writeln!(out, "  - dataset_id: {}", uuids(&f.ids))?;
                    writeln!(out, "    data_id:")?;
                    for d in &f.data_ids {
                        let parts: Vec<String> = d
                            .iter()
                            .map(|(k, v)| format!("{k}: {}", value(v)))
                            .collect();
                        writeln!(out, "    - {{{}}}", parts.join(", "))?;
                    }
                    if let Some(p) = &f.path {
                        writeln!(out, "    path: {}", text(p))?;
                    }
                    if let Some(fm) = &f.formatter {
                        writeln!(out, "    formatter: {}", text(fm))?;
                    }
                }
            }
            Entry::Associations {
                collection,
                association,
            } => {
                writeln!(
                    out,
                    "- type: associations\n  collection: {}",
                    text(collection)
                )?;
                match association {
                    Association::Tagged(ids) => writeln!(
                        out,
                        "  collection_type: TAGGED\n  dataset_ids: {}",
                        uuids(ids)
                    )?,
                    Association::Calibration(ranges) => {
                        writeln!(out, "  collection_type: CALIBRATION\n  validity_ranges:")?;
                        for (t, ids) in ranges {
                            writeln!(out, "  - timespan: {}", timespan(t))?;
                            writeln!(out, "    dataset_ids: {}", uuids(ids))?;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfers::read_export;

    #[test]
    fn strings_that_look_like_other_things_are_quoted() {
        assert_eq!(text("0"), "'0'");
        assert_eq!(text("1.5"), "'1.5'");
        assert_eq!(text("null"), "'null'");
        assert_eq!(text("a: b"), "'a: b'");
        assert_eq!(text("it's"), "it's");
        assert_eq!(text("'x"), "'''x'");
        assert_eq!(text("HSC/raw/all"), "HSC/raw/all");
        assert_eq!(text(""), "''");
    }

    #[test]
    fn the_sample_round_trips_through_yaml() {
        let shape = crate::workload::Shape {
            detectors: 3,
            visits: 4,
            runs: 2,
            reprocessed_percent: 50,
        };
        let model = crate::workload::generate(&shape);
        let mut buf = Vec::new();
        write_export(&model, &mut buf).unwrap();
        let back = read_export(std::str::from_utf8(&buf).unwrap(), "sample").unwrap();
        assert_eq!(back.entries.len(), model.entries.len());
        for ((_, a), (_, b)) in model.entries.iter().zip(back.entries.iter()) {
            assert_eq!(a, b);
        }
    }

    #[test]
    fn regions_are_tagged_with_their_kind() {
        use valet_registry::region::Region;
        let regions = [
            Region::ConvexPolygon(vec![[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),
            Region::Circle {
                center: [0.0, 0.0, 1.0],
                squared_chord_length: 0.01,
                opening_angle: 0.1,
            },
            Region::Box {
                lon: [0.0, 0.1],
                lat: [0.0, 0.1],
            },
            Region::Union(vec![]),
        ];
        let records = regions
            .iter()
            .enumerate()
            .map(|(i, r)| {
                Record::from([
                    ("id".to_owned(), Value::Int(i as i64)),
                    ("instrument".to_owned(), Value::Text("Cam1".into())),
                    ("region".to_owned(), Value::Bytes(r.encode())),
                ])
            })
            .collect();
        let model = ExportFile {
            version: "1.0.2".into(),
            universe_version: 8,
            universe_namespace: "daf_butler".into(),
            entries: vec![(
                0,
                Entry::Dimension {
                    element: "visit".into(),
                    records,
                },
            )],
        };
        let mut buf = Vec::new();
        write_export(&model, &mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        for kind in ["ConvexPolygon", "Circle", "Box", "UnionRegion"] {
            assert_eq!(
                text.matches(&format!("region: !<lsst.sphgeom.{kind}> "))
                    .count(),
                1,
                "{text}"
            );
        }
        let back = read_export(&text, "regions").unwrap();
        assert_eq!(back.entries[0].1, model.entries[0].1);
    }
}
