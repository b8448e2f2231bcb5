//! Reading the reference's export YAML, including its custom tags (`!uuid`,
//! `!lsst.daf.butler.Timespan`, `!butler_time/tai/iso`, regions, `!!binary`) and its
//! older formats (`version: 0`, legacy `run` entries, scalar ids and data IDs, integer
//! ids, `{begin, end}` validity ranges). Tags the reference does not write are
//! refused, as its reader refuses them.

use std::borrow::Cow;

use serde_yaml_ng::Value as Yaml;
use uuid::Uuid;
use valet_registry::region::{Region, REGION_KINDS};
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

/// Tag of a dataset id.
const UUID_TAG: &str = "uuid";
/// Tag of a timespan.
const TIMESPAN_TAG: &str = "lsst.daf.butler.Timespan";
/// Tag of a time as TAI ISO text.
const TAI_ISO_TAG: &str = "butler_time/tai/iso";
/// Tag of a time as TAI nanoseconds.
const TAI_NSEC_TAG: &str = "butler_time/tai/nsec";
/// What the tag of a region starts with; the sphgeom class name follows.
const SPHGEOM_TAG_PREFIX: &str = "lsst.sphgeom.";

/// The sphgeom class a region tag (without its `!`) names, if it names one.
fn region_kind_of_tag(tag: &str) -> Option<&'static str> {
    let kind = tag.strip_prefix(SPHGEOM_TAG_PREFIX)?;
    REGION_KINDS
        .iter()
        .map(|(name, _)| *name)
        .find(|name| *name == kind)
}

/// True for the tags the reference writes (besides YAML's own `!!` ones).
fn known_tag(tag: &str) -> bool {
    [UUID_TAG, TIMESPAN_TAG, TAI_ISO_TAG, TAI_NSEC_TAG].contains(&tag)
        || region_kind_of_tag(tag).is_some()
}

/// The first tag in `v` that the reference does not write.
fn unknown_tag(v: &Yaml) -> Option<String> {
    match v {
        Yaml::Tagged(t) => tag_of(v)
            .filter(|tag| !known_tag(tag))
            .or_else(|| unknown_tag(&t.value)),
        Yaml::Sequence(items) => items.iter().find_map(unknown_tag),
        Yaml::Mapping(m) => m
            .iter()
            .find_map(|(k, v)| unknown_tag(k).or_else(|| unknown_tag(v))),
        _ => None,
    }
}

/// The 1-based line of `text` where local tag `!tag` is written, if it can be found.
fn line_of_tag(text: &str, tag: &str) -> Option<usize> {
    let written = format!("!{tag}");
    text.lines()
        .position(|line| {
            line.match_indices(&written).any(|(i, _)| {
                line[i + written.len()..]
                    .chars()
                    .next()
                    .is_none_or(|c| c.is_whitespace() || ",]}".contains(c))
            })
        })
        .map(|i| i + 1)
}

/// The YAML reader drops verbatim tags (`!<…>`), the form the reference writes region
/// tags in. Rewrite `!<lsst.sphgeom.KIND>` as the local tag `!lsst.sphgeom.KIND`,
/// padded to the same width so columns in errors stay right, so that the reader keeps
/// it; leave YAML's own `!<tag:yaml.org,2002:…>` alone; refuse any other, with its
/// 1-based line. Only tags where a node may start are considered: at the start of a
/// line or after `:`, `-`, `?`, `[`, `{` or `,`, outside quotes and comments.
fn expose_verbatim_tags(text: &str) -> Result<Cow<'_, str>, (usize, String)> {
    if !text.contains("!<") {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line.contains("!<") {
            rewrite_verbatim_tags(line, &mut out).map_err(|m| (i + 1, m))?;
        } else {
            out.push_str(line);
        }
    }
    Ok(Cow::Owned(out))
}

/// [`expose_verbatim_tags`] for one line, appended to `out`.
fn rewrite_verbatim_tags(line: &str, out: &mut String) -> ReadResult<()> {
    let node_may_start =
        |prev: Option<u8>| matches!(prev, None | Some(b':' | b'-' | b'?' | b'[' | b'{' | b','));
    let bytes = line.as_bytes();
    let mut quote: Option<u8> = None;
    // The last byte outside quotes that is not a space.
    let mut prev: Option<u8> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if let Some(q) = quote {
            if q == b'"' && b == b'\\' {
                i += 2;
                continue;
            }
            if b == q {
                if q == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                    i += 2;
                    continue;
                }
                quote = None;
                prev = Some(b);
            }
            i += 1;
            continue;
        }
        match b {
            b'"' | b'\'' if node_may_start(prev) => quote = Some(b),
            b'#' if i == 0 || matches!(bytes[i - 1], b' ' | b'\t') => break,
            b'!' if bytes.get(i + 1) == Some(&b'<') && node_may_start(prev) => {
                // An unterminated tag is left to the YAML reader to report.
                if let Some(close) = line[i..].find('>').map(|c| c + i) {
                    let tag = &line[i + 2..close];
                    if region_kind_of_tag(tag).is_some() {
                        out.push_str(&line[copied..i]);
                        out.push('!');
                        out.push_str(tag);
                        out.push_str("  ");
                        copied = close + 1;
                    } else if !tag.starts_with("tag:yaml.org,2002:") {
                        return Err(format!("unknown YAML tag !<{tag}>"));
                    }
                    i = close;
                }
                prev = Some(b'>');
            }
            b' ' | b'\t' | b'\r' | b'\n' => {}
            _ => prev = Some(b),
        }
        i += 1;
    }
    out.push_str(&line[copied..]);
    Ok(())
}

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

/// A time: `!butler_time/tai/iso` text, `!butler_time/tai/nsec` integer (either also
/// untagged), or null.
fn time(v: &Yaml) -> ReadResult<Option<i64>> {
    let tag = tag_of(v);
    match (tag.as_deref(), untag(v)) {
        (None, Yaml::Null) => Ok(None),
        (None | Some(TAI_NSEC_TAG), Yaml::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("time {n} is not integer nanoseconds")),
        (None | Some(TAI_ISO_TAG), Yaml::String(s)) => {
            parse_tai_iso(s).map(Some).map_err(|e| e.to_string())
        }
        (Some(tag), other) => Err(format!("cannot read a time from !{tag} {other:?}")),
        (None, other) => Err(format!("cannot read a time from {other:?}")),
    }
}

fn timespan(v: &Yaml) -> ReadResult<Timespan> {
    let begin = get(v, "begin").map(time).transpose()?.flatten();
    let end = get(v, "end").map(time).transpose()?.flatten();
    Ok(Timespan::new(begin, end))
}

fn uuid(v: &Yaml) -> ReadResult<Uuid> {
    if let Some(tag) = tag_of(v).filter(|t| t != UUID_TAG) {
        return Err(format!(
            "a dataset id is tagged !{tag}, not !{UUID_TAG}: {:?}",
            untag(v)
        ));
    }
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
                    // Regions: `!<lsst.sphgeom.KIND> {encoded: hex}`.
                    Yaml::Mapping(m) => match m.get("encoded").map(untag) {
                        Some(Yaml::String(hex)) => Value::Bytes(region(key, &tag, hex)?),
                        Some(other) => {
                            return Err(format!(
                                "field {key:?}: a region's encoding should be hex text, found {other:?}"
                            ))
                        }
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

/// A region's bytes from its hex encoding, checked to be a sphgeom region of the kind
/// its tag (empty: none) names.
fn region(key: &str, tag: &str, hex: &str) -> ReadResult<Vec<u8>> {
    let tagged = region_kind_of_tag(tag);
    if tagged.is_none() && !tag.is_empty() {
        return Err(format!(
            "field {key:?}: a region is tagged !<{SPHGEOM_TAG_PREFIX}KIND>, not !{tag}"
        ));
    }
    let bytes =
        hex::decode(hex).map_err(|e| format!("field {key:?}: region encoding is not hex: {e}"))?;
    let kind = Region::parse(&bytes)
        .map_err(|e| format!("field {key:?}: {e}"))?
        .kind()
        .unwrap_or("region");
    match tagged {
        Some(tagged) if tagged != kind => Err(format!(
            "field {key:?}: tagged !<{SPHGEOM_TAG_PREFIX}{tagged}> but encodes a {kind}"
        )),
        _ => Ok(bytes),
    }
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
    let tag_error = |first: usize, (line, m): (usize, String)| fail(first.max(1) + line - 1, m);
    let split = split_entries(text);
    // Without entries to read one by one, the document is read whole.
    let header_text = match &split {
        Some((header, _)) => Cow::Borrowed(header.as_str()),
        None => expose_verbatim_tags(text).map_err(|e| tag_error(1, e))?,
    };
    let doc: Yaml = serde_yaml_ng::from_str(&header_text).map_err(|e| yaml_error(0, e))?;
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
    // Read one entry whose text starts at line `first` (0: the line is not known).
    let read_entry = |i: usize, first: usize, v: &Yaml, text: &str| {
        let at = |m: String| fail(first, format!("entry {}: {m}", i + 1));
        if let Some(tag) = unknown_tag(v) {
            let line = line_of_tag(text, &tag).map_or(first, |l| first.max(1) + l - 1);
            return Err(fail(
                line,
                format!("entry {}: unknown YAML tag !{tag}", i + 1),
            ));
        }
        entry(v).map_err(at)
    };
    let mut entries = Vec::new();
    match &split {
        Some((_, chunks)) => {
            entries.reserve(chunks.len());
            for (i, (line, chunk)) in chunks.iter().enumerate() {
                let chunk = expose_verbatim_tags(chunk).map_err(|e| tag_error(*line, e))?;
                let items: Vec<Yaml> =
                    serde_yaml_ng::from_str(&chunk).map_err(|e| yaml_error(line - 1, e))?;
                let v = items
                    .first()
                    .ok_or_else(|| fail(*line, format!("entry {} is empty", i + 1)))?;
                entries.push((*line, read_entry(i, *line, v, &chunk)?));
            }
        }
        None => {
            for (i, v) in list_or_scalar(get(&doc, "data")).into_iter().enumerate() {
                entries.push((0, read_entry(i, 0, v, &header_text)?));
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

/// Dimension records from YAML or JSON text: a list of records, or a mapping whose
/// `records` are (an export's entry). Fields are read as an export's are (timespans,
/// tagged regions); `source` names the text in errors.
pub fn read_records(text: &str, source: &str) -> Result<Vec<Record>, RepoError> {
    let doc: Yaml =
        serde_yaml_ng::from_str(text).map_err(|e| RepoError::Invalid(format!("{source}: {e}")))?;
    let list = match untag(&doc) {
        Yaml::Sequence(items) => items,
        Yaml::Mapping(_) => match get(&doc, "records").map(untag) {
            Some(Yaml::Sequence(items)) => items,
            _ => {
                return Err(RepoError::Invalid(format!(
                    "{source}: expected a list of records, or a mapping with `records:`"
                )))
            }
        },
        _ => {
            return Err(RepoError::Invalid(format!(
                "{source}: expected a list of records"
            )))
        }
    };
    list.iter()
        .enumerate()
        .map(|(i, v)| {
            record(v).map_err(|e| RepoError::Invalid(format!("{source}: record {}: {e}", i + 1)))
        })
        .collect()
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

    /// An export of one visit record whose region is `region` (a YAML value).
    fn visit_with_region(region: &str) -> String {
        format!(
            "version: 1.0.2\ndata:\n- type: dimension\n  element: visit\n  records:\n  - instrument: Cam1\n    id: 1\n    region: {region}\n"
        )
    }

    fn region_bytes(f: &ExportFile) -> &[u8] {
        let Entry::Dimension { records, .. } = &f.entries[0].1 else {
            panic!()
        };
        match &records[0]["region"] {
            Value::Bytes(b) => b,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn dataset_ids_take_only_the_uuid_tag() {
        let export = |id: &str| {
            format!(
                "version: 1.0.2\ndata:\n- type: run\n  name: r\n- type: dataset\n  dataset_type: bias\n  run: r\n  records:\n  - data_id: [{{instrument: Cam1, detector: 1}}]\n    dataset_id:\n    - {id}\n"
            )
        };
        let id = "'01a203b0-c267-7733-8854-d5f0208e32f8'";
        let error = |text: String| read_export(&text, "x.yaml").unwrap_err().to_string();
        assert!(read_export(&export(&format!("!uuid {id}")), "ok.yaml").is_ok());
        assert_eq!(
            error(export(&format!("!uuidx {id}"))),
            "x.yaml:11: entry 2: unknown YAML tag !uuidx"
        );
        let msg = error(export(&format!("!lsst.daf.butler.Timespan {id}")));
        assert!(
            msg.starts_with(
                "x.yaml:5: entry 2: a dataset id is tagged !lsst.daf.butler.Timespan, not !uuid"
            ),
            "{msg}"
        );
        assert_eq!(
            error(export(&format!("!<tag:example.com,2000:id> {id}"))),
            "x.yaml:11: unknown YAML tag !<tag:example.com,2000:id>"
        );
        // Flow-style documents are read whole, and still say where.
        assert_eq!(
            error(format!("version: 1.0.2\ndata: [{{type: associations, collection: t,\n  collection_type: TAGGED, dataset_ids: [!uuidz {id}]}}]\n")),
            "x.yaml:3: entry 1: unknown YAML tag !uuidz"
        );
        // A tag-like text inside quotes is text.
        let quoted =
            "version: 1.0.2\ndata:\n- type: run\n  name: r\n  doc: 'see: !<x> and !uuidx'\n";
        let f = read_export(quoted, "q.yaml").unwrap();
        let Entry::Collection(c) = &f.entries[0].1 else {
            panic!()
        };
        assert_eq!(c.doc.as_deref(), Some("see: !<x> and !uuidx"));
    }

    #[test]
    fn regions_are_decoded_by_kind() {
        let circle = Region::Circle {
            center: [0.0, 0.0, 1.0],
            squared_chord_length: 0.01,
            opening_angle: 0.1,
        }
        .encode();
        let polygon =
            Region::ConvexPolygon(vec![[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]).encode();
        let tagged = |kind: &str, bytes: &[u8]| {
            visit_with_region(&format!(
                "!<lsst.sphgeom.{kind}> {{encoded: {}}}",
                hex::encode(bytes)
            ))
        };
        let f = read_export(&tagged("Circle", &circle), "c.yaml").unwrap();
        assert_eq!(region_bytes(&f), circle.as_slice());
        assert!(matches!(
            Region::decode(region_bytes(&f)),
            Region::Circle { .. }
        ));
        // Block style, as the reference writes it.
        let block = visit_with_region(&format!(
            "!<lsst.sphgeom.ConvexPolygon>\n      encoded: {}",
            hex::encode(&polygon)
        ));
        assert_eq!(
            region_bytes(&read_export(&block, "b.yaml").unwrap()),
            polygon.as_slice()
        );
        let refused = |text: &str, want: &str| {
            let msg = read_export(text, "r.yaml").unwrap_err().to_string();
            assert!(msg.starts_with("r.yaml:") && msg.contains(want), "{msg}");
            assert_eq!(msg.lines().count(), 1);
        };
        refused(
            &tagged("Circle", &polygon),
            "tagged !<lsst.sphgeom.Circle> but encodes a ConvexPolygon",
        );
        refused(
            &tagged("Torus", &circle),
            "r.yaml:8: unknown YAML tag !<lsst.sphgeom.Torus>",
        );
        refused(
            &tagged("Circle", &circle[..40]),
            "Circle encoding is 41 bytes, not 40",
        );
        refused(
            &tagged("ConvexPolygon", b"zz"),
            "type byte 0x7a is not a sphgeom region",
        );
        refused(
            &visit_with_region("!uuid {encoded: '63'}"),
            "a region is tagged !<lsst.sphgeom.KIND>, not !uuid",
        );
        refused(
            &visit_with_region("{encoded: 'nothex'}"),
            "region encoding is not hex",
        );
    }
}
