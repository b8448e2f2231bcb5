//! Reading the reference's export YAML, including its custom tags (`!uuid`,
//! `!lsst.daf.butler.Timespan`, `!butler_time/tai/iso`, regions, `!!binary`) and its
//! older formats (`version: 0`, legacy `run` entries, scalar ids and data IDs, integer
//! ids, `{begin, end}` validity ranges).

use serde_yaml_ng::Value as Yaml;
use uuid::Uuid;
use valet_registry::timespan::parse_tai_iso;
use valet_registry::{CollectionType, DataId, Record, Timespan, Value};

use super::model::{Association, CollectionEntry, DatasetFile, Entry, ExportFile};
use crate::RepoError;

/// The namespace the reference maps legacy integer dataset ids into (with UUID v3).
const LEGACY_ID_NAMESPACE: Uuid = Uuid::from_bytes([
    0x4d, 0x48, 0x51, 0xf4, 0x28, 0x90, 0x4d, 0x41, 0x87, 0x79, 0x5f, 0x38, 0xa3, 0xf5, 0x06, 0x2b,
]);

/// A reading error, before the file and line are attached.
type ReadResult<T> = Result<T, String>;

fn tag_of(v: &Yaml) -> Option<String> {
    match v {
        Yaml::Tagged(t) => Some(t.tag.to_string().trim_start_matches('!').to_owned()),
        _ => None,
    }
}

fn untag(v: &Yaml) -> &Yaml {
    match v {
        Yaml::Tagged(t) => untag(&t.value),
        other => other,
    }
}

fn get<'a>(v: &'a Yaml, key: &str) -> Option<&'a Yaml> {
    untag(v).as_mapping().and_then(|m| m.get(key))
}

fn get_str(v: &Yaml, key: &str) -> ReadResult<String> {
    match get(v, key).map(untag) {
        Some(Yaml::String(s)) => Ok(s.clone()),
        Some(Yaml::Number(n)) => Ok(n.to_string()),
        Some(other) => Err(format!("field {key:?} should be text, found {other:?}")),
        None => Err(format!("missing field {key:?}")),
    }
}

fn opt_str(v: &Yaml, key: &str) -> Option<String> {
    match get(v, key).map(untag) {
        Some(Yaml::String(s)) => Some(s.clone()),
        _ => None,
    }
}

/// A time: `!butler_time/tai/iso` text, `!butler_time/tai/nsec` integer, or null.
fn time(v: &Yaml) -> ReadResult<Option<i64>> {
    let tag = tag_of(v).unwrap_or_default();
    match untag(v) {
        Yaml::Null => Ok(None),
        Yaml::Number(n) if tag.ends_with("nsec") || tag.is_empty() => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("time {n} is not integer nanoseconds")),
        Yaml::String(s) => parse_tai_iso(s).map(Some).map_err(|e| e.to_string()),
        other => Err(format!("cannot read a time from {other:?}")),
    }
}

fn timespan(v: &Yaml) -> ReadResult<Timespan> {
    let begin = get(v, "begin").map(time).transpose()?.flatten();
    let end = get(v, "end").map(time).transpose()?.flatten();
    Ok(Timespan::new(begin, end))
}

fn uuid(v: &Yaml) -> ReadResult<Uuid> {
    match untag(v) {
        Yaml::String(s) => Uuid::parse_str(s).map_err(|e| format!("invalid dataset id {s:?}: {e}")),
        Yaml::Number(n) => n
            .as_i64()
            .map(|i| Uuid::new_v3(&LEGACY_ID_NAMESPACE, i.to_string().as_bytes()))
            .ok_or_else(|| format!("invalid dataset id {n}")),
        other => Err(format!("invalid dataset id {other:?}")),
    }
}

fn list_or_scalar(v: Option<&Yaml>) -> Vec<&Yaml> {
    match v.map(untag) {
        Some(Yaml::Sequence(s)) => s.iter().collect(),
        Some(Yaml::Null) | None => vec![],
        Some(_) => vec![v.expect("checked above")],
    }
}

/// A scalar record or data-ID value.
fn scalar(v: &Yaml) -> ReadResult<Value> {
    match untag(v) {
        Yaml::Null => Ok(Value::Null),
        Yaml::Bool(b) => Ok(Value::Bool(*b)),
        Yaml::Number(n) => Ok(match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        }),
        Yaml::String(s) => Ok(Value::Text(s.clone())),
        other => Err(format!("expected a plain value, found {other:?}")),
    }
}

/// One dimension record: timespans become `timespan_begin`/`timespan_end` (TAI ns),
/// regions their encoded bytes.
fn record(v: &Yaml) -> ReadResult<Record> {
    let map = untag(v)
        .as_mapping()
        .ok_or_else(|| format!("a dimension record should be a mapping, found {v:?}"))?;
    let mut out = Record::new();
    for (k, val) in map {
        let key = k
            .as_str()
            .ok_or_else(|| format!("record key {k:?} is not text"))?;
        let tag = tag_of(val).unwrap_or_default();
        match key {
            "datetime_begin" | "timespan_begin" => {
                out.insert("timespan_begin".into(), time(val)?.into());
            }
            "datetime_end" | "timespan_end" => {
                out.insert("timespan_end".into(), time(val)?.into());
            }
            "timespan" => {
                let t = timespan(val)?;
                out.insert("timespan_begin".into(), t.begin.into());
                out.insert("timespan_end".into(), t.end.into());
            }
            _ if tag.ends_with("Timespan") => {
                return Err(format!("unexpected timespan in field {key:?}"));
            }
            _ => {
                let value = match untag(val) {
                    // Regions: `!<lsst.sphgeom.…> {encoded: hex}`; the YAML reader drops
                    // verbatim tags, so recognize the shape.
                    Yaml::Mapping(m) => match m.get("encoded").and_then(Yaml::as_str) {
                        Some(hex) => Value::Bytes(
                            hex::decode(hex)
                                .map_err(|_| format!("field {key:?}: bad region encoding"))?,
                        ),
                        None => return Err(format!("field {key:?}: unexpected mapping")),
                    },
                    other => scalar(other)?,
                };
                out.insert(key.to_owned(), value);
            }
        }
    }
    Ok(out)
}

fn data_id(v: &Yaml) -> ReadResult<DataId> {
    let map = untag(v)
        .as_mapping()
        .ok_or_else(|| format!("a data ID should be a mapping, found {v:?}"))?;
    map.iter()
        .map(|(k, val)| {
            let key = k
                .as_str()
                .ok_or_else(|| format!("data ID key {k:?} is not text"))?;
            Ok((key.to_owned(), scalar(val)?))
        })
        .collect()
}

fn collection_type(text: &str) -> ReadResult<CollectionType> {
    text.parse()
        .map_err(|e: valet_registry::RegistryError| e.to_string())
}

fn entry(v: &Yaml) -> ReadResult<Entry> {
    let kind = get_str(v, "type")?;
    Ok(match kind.as_str() {
        "dimension" => Entry::Dimension {
            element: get_str(v, "element")?,
            records: list_or_scalar(get(v, "records"))
                .into_iter()
                .map(record)
                .collect::<ReadResult<_>>()?,
        },
        "collection" => {
            let kind = collection_type(&get_str(v, "collection_type")?)?;
            let children = list_or_scalar(get(v, "children"))
                .into_iter()
                .map(|c| match untag(c) {
                    Yaml::String(s) => Ok(s.clone()),
                    // Legacy `[child, dataset types]` pairs: the restriction is ignored.
                    Yaml::Sequence(pair) => pair
                        .first()
                        .and_then(|x| untag(x).as_str())
                        .map(str::to_owned)
                        .ok_or_else(|| format!("bad chain child {c:?}")),
                    other => Err(format!("bad chain child {other:?}")),
                })
                .collect::<ReadResult<_>>()?;
            Entry::Collection(CollectionEntry {
                name: get_str(v, "name")?,
                kind,
                doc: opt_str(v, "doc"),
                children,
            })
        }
        "run" => Entry::Collection(CollectionEntry {
            name: get_str(v, "name")?,
            kind: CollectionType::Run,
            doc: opt_str(v, "doc"),
            children: vec![],
        }),
        "dataset_type" => Entry::DatasetType {
            name: get_str(v, "name")?,
            dimensions: list_or_scalar(get(v, "dimensions"))
                .into_iter()
                .map(|d| {
                    untag(d)
                        .as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| format!("bad dimension {d:?}"))
                })
                .collect::<ReadResult<_>>()?,
            storage_class: get_str(v, "storage_class")?,
            is_calibration: get(v, "is_calibration")
                .and_then(|b| untag(b).as_bool())
                .unwrap_or(false),
        },
        "dataset" => {
            let files = list_or_scalar(get(v, "records"))
                .into_iter()
                .map(|r| {
                    let ids = list_or_scalar(get(r, "dataset_id"))
                        .into_iter()
                        .map(uuid)
                        .collect::<ReadResult<Vec<_>>>()?;
                    let data_ids = list_or_scalar(get(r, "data_id"))
                        .into_iter()
                        .map(data_id)
                        .collect::<ReadResult<Vec<_>>>()?;
                    if ids.len() != data_ids.len() {
                        return Err(format!(
                            "a file lists {} dataset ids but {} data IDs",
                            ids.len(),
                            data_ids.len()
                        ));
                    }
                    Ok(DatasetFile {
                        ids,
                        data_ids,
                        path: opt_str(r, "path"),
                        formatter: opt_str(r, "formatter"),
                    })
                })
                .collect::<ReadResult<_>>()?;
            Entry::Datasets {
                dataset_type: get_str(v, "dataset_type")?,
                run: get_str(v, "run")?,
                files,
            }
        }
        "associations" => {
            let collection = get_str(v, "collection")?;
            let kind = collection_type(&get_str(v, "collection_type")?)?;
            let association = match kind {
                CollectionType::Tagged => Association::Tagged(
                    list_or_scalar(get(v, "dataset_ids"))
                        .into_iter()
                        .map(uuid)
                        .collect::<ReadResult<_>>()?,
                ),
                CollectionType::Calibration => Association::Calibration(
                    list_or_scalar(get(v, "validity_ranges"))
                        .into_iter()
                        .map(|r| {
                            let t = match get(r, "timespan") {
                                Some(t) => timespan(t)?,
                                None => timespan(r)?,
                            };
                            let ids = list_or_scalar(get(r, "dataset_ids"))
                                .into_iter()
                                .map(uuid)
                                .collect::<ReadResult<_>>()?;
                            Ok((t, ids))
                        })
                        .collect::<ReadResult<_>>()?,
                ),
                other => return Err(format!("associations cannot target a {other} collection")),
            };
            Entry::Associations {
                collection,
                association,
            }
        }
        other => return Err(format!("unknown entry type {other:?}")),
    })
}

/// The `data:` list of an export, split into its entries without parsing them:
/// `(first line, 1-based; the entry's text)`, plus the rest of the document. Parsing
/// entry by entry keeps memory to one entry's tree instead of the whole file's.
/// `None` when the list is not in block style (then the document is parsed whole).
fn split_entries(text: &str) -> Option<(String, Vec<(usize, &str)>)> {
    let mut header = String::new();
    let mut entries: Vec<(usize, usize, usize)> = Vec::new(); // (line, start, end) bytes
    let mut in_data = false;
    let mut done = false;
    let mut prefix: Option<String> = None;
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let start = offset;
        offset += line.len();
        let bare = line.trim_end_matches(['\n', '\r']);
        if !in_data || done {
            if !done && bare.starts_with("data:") {
                if !bare["data:".len()..].trim().is_empty() {
                    return None;
                }
                in_data = true;
                continue;
            }
            header.push_str(line);
            continue;
        }
        let trimmed = bare.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            if let Some(last) = entries.last_mut() {
                last.2 = offset;
            }
            continue;
        }
        if !bare.starts_with(' ') && !bare.starts_with('-') {
            done = true;
            header.push_str(line);
            continue;
        }
        let indent = &bare[..bare.len() - trimmed.len()];
        let p = prefix.get_or_insert_with(|| format!("{indent}- "));
        if bare.starts_with(p.as_str()) {
            entries.push((i + 1, start, offset));
        } else if let Some(last) = entries.last_mut() {
            last.2 = offset;
        } else {
            return None;
        }
    }
    Some((
        header,
        entries
            .into_iter()
            .map(|(l, a, b)| (l, &text[a..b]))
            .collect(),
    ))
}

/// Parse an export file's text. `source` names it in errors.
pub fn read_export(text: &str, source: &str) -> Result<ExportFile, RepoError> {
    let fail = |line: usize, msg: String| {
        RepoError::Invalid(if line > 0 {
            format!("{source}:{line}: {msg}")
        } else {
            format!("{source}: {msg}")
        })
    };
    let yaml_error = |offset: usize, e: serde_yaml_ng::Error| {
        let line = e.location().map(|l| l.line() + offset).unwrap_or(0);
        fail(line, format!("invalid YAML: {e}"))
    };
    let split = split_entries(text);
    let header_text = split.as_ref().map(|(h, _)| h.as_str()).unwrap_or(text);
    let doc: Yaml = serde_yaml_ng::from_str(header_text).map_err(|e| yaml_error(0, e))?;
    let version = match get(&doc, "version").map(untag) {
        Some(Yaml::Number(n)) if n.as_i64() == Some(0) => "1.0.0".to_owned(),
        Some(Yaml::Number(n)) => n.to_string(),
        Some(Yaml::String(s)) => s.clone(),
        _ => return Err(fail(0, "missing export format version".into())),
    };
    let major = version.split('.').next().unwrap_or("");
    if major != "1" {
        return Err(fail(
            0,
            format!("export format version {version} is not supported (this valet reads 1.x)"),
        ));
    }
    let universe_version = get(&doc, "universe_version")
        .and_then(|v| untag(v).as_u64())
        .unwrap_or(0) as u32;
    let universe_namespace =
        opt_str(&doc, "universe_namespace").unwrap_or_else(|| "daf_butler".into());
    let mut entries = Vec::new();
    match &split {
        Some((_, chunks)) => {
            entries.reserve(chunks.len());
            for (i, (line, chunk)) in chunks.iter().enumerate() {
                let items: Vec<Yaml> =
                    serde_yaml_ng::from_str(chunk).map_err(|e| yaml_error(line - 1, e))?;
                let v = items
                    .first()
                    .ok_or_else(|| fail(*line, format!("entry {} is empty", i + 1)))?;
                let e = entry(v).map_err(|m| fail(*line, format!("entry {}: {m}", i + 1)))?;
                entries.push((*line, e));
            }
        }
        None => {
            for (i, v) in list_or_scalar(get(&doc, "data")).into_iter().enumerate() {
                let e = entry(v).map_err(|m| fail(0, format!("entry {}: {m}", i + 1)))?;
                entries.push((0, e));
            }
        }
    }
    Ok(ExportFile {
        version,
        universe_version,
        universe_namespace,
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tags_and_legacy_forms() {
        let text = "description: x\nversion: 0\ndata:\n- type: run\n  name: r\n- type: dataset\n  dataset_type: bias\n  run: r\n  records:\n  - dataset_id: 5\n    data_id: {instrument: Cam1, detector: 1}\n    path: p\n- type: associations\n  collection: c\n  collection_type: CALIBRATION\n  validity_ranges:\n  - begin: !butler_time/tai/iso '2020-01-01 00:00:00.000000000'\n    end: null\n    dataset_ids: [!uuid '01a203b0-c267-7733-8854-d5f0208e32f8']\n";
        let f = read_export(text, "t.yaml").unwrap();
        assert_eq!(f.version, "1.0.0");
        assert_eq!(f.universe_version, 0);
        assert_eq!(f.entries.len(), 3);
        assert_eq!(f.entries[1].0, 6);
        let Entry::Datasets { files, .. } = &f.entries[1].1 else {
            panic!()
        };
        assert_eq!(files[0].ids[0], Uuid::new_v3(&LEGACY_ID_NAMESPACE, b"5"));
        assert_eq!(files[0].data_ids[0]["detector"], Value::Int(1));
        let Entry::Associations {
            association: Association::Calibration(r),
            ..
        } = &f.entries[2].1
        else {
            panic!()
        };
        assert_eq!(r[0].0.begin, Some(1_577_836_800_000_000_000));
        assert_eq!(r[0].0.end, None);
    }

    #[test]
    fn errors_name_file_and_line() {
        let text = "version: 1.0.2\ndata:\n- type: run\n  name: r\n- type: spaceship\n";
        let msg = read_export(text, "e.yaml").unwrap_err().to_string();
        assert!(
            msg.starts_with("e.yaml:5: entry 2: unknown entry type"),
            "{msg}"
        );
        let msg = read_export("version: 2.0.0\ndata: []\n", "f.yaml")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("2.0.0 is not supported"), "{msg}");
        let msg = read_export("data: [\n", "g.yaml").unwrap_err().to_string();
        assert!(msg.contains("invalid YAML"), "{msg}");
        let msg = read_export(
            "version: 1.0.2\ndata:\n- type: run\n  name: r\n- type: run\n  name: [\n",
            "h.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(msg.starts_with("h.yaml:7: invalid YAML"), "{msg}");
        // Flow-style lists are read whole.
        let f = read_export("version: 1.0.2\ndata: [{type: run, name: r}]\n", "i.yaml").unwrap();
        assert_eq!(f.entries.len(), 1);
    }
}
