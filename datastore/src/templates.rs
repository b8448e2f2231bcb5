//! File templates in the reference's syntax: `{run:/}`, `{datasetType}`, dimension
//! values, record attributes (`{exposure.obs_id}`), alternatives (`{a|b}`), optional
//! fields (`:?`, which drop the literal before them unless it holds a `/`), `/` → `_`
//! in values except with `:/`, and the file name's `.` → `_`.

use std::collections::BTreeMap;

use uuid::Uuid;
use valet_config::repo_config::TemplateSpec;
use valet_config::{DimensionGroup, Universe};
use valet_registry::{DataId, Record, Value};

/// A template that cannot be used, or a dataset it cannot name.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("file template {template:?}: {message}")]
pub struct TemplateError {
    /// The template.
    pub template: String,
    /// What is wrong.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Field {
        alternatives: Vec<String>,
        optional: bool,
        keep_slash: bool,
    },
}

/// A parsed, validated template.
#[derive(Debug, Clone, PartialEq)]
pub struct FileTemplate {
    text: String,
    parts: Vec<Part>,
}

/// What a template is rendered from.
#[derive(Debug, Clone)]
pub struct TemplateContext<'a> {
    /// RUN name.
    pub run: &'a str,
    /// Dataset type (parent) name.
    pub dataset_type: &'a str,
    /// Dataset id.
    pub id: Uuid,
    /// Component, for component datasets.
    pub component: Option<&'a str>,
    /// Required and implied dimension values.
    pub data_id: &'a DataId,
    /// Dimension records by element.
    pub records: &'a BTreeMap<String, &'a Record>,
}

const SPECIAL: [&str; 4] = ["run", "id", "datasetType", "component"];

impl FileTemplate {
    /// Parse and validate: the template must use `{run}` or `{id}` (`{id}` only in the
    /// file name), must not climb with `../`, and may not use `collection`.
    pub fn parse(text: &str) -> Result<FileTemplate, TemplateError> {
        let err = |m: &str| TemplateError {
            template: text.to_owned(),
            message: m.to_owned(),
        };
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let close = rest[open..].find('}').ok_or_else(|| err("unclosed '{'"))? + open;
            let inner = &rest[open + 1..close];
            let (name, spec) = inner.split_once(':').unwrap_or((inner, ""));
            if name.is_empty() {
                return Err(err("empty field"));
            }
            let alternatives: Vec<String> = name.split('|').map(str::to_owned).collect();
            if alternatives.iter().any(|a| a == "collection") {
                return Err(err(
                    "the 'collection' placeholder is not allowed; use 'run'",
                ));
            }
            parts.push(Part::Field {
                alternatives,
                optional: spec.contains('?'),
                keep_slash: spec.contains('/'),
            });
            rest = &rest[close + 1..];
        }
        if rest.contains('}') {
            return Err(err("unmatched '}'"));
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        let names: Vec<&str> = parts
            .iter()
            .filter_map(|p| match p {
                Part::Field { alternatives, .. } => Some(alternatives.iter().map(String::as_str)),
                _ => None,
            })
            .flatten()
            .collect();
        if !names.contains(&"run") && !names.contains(&"id") {
            return Err(err("it must contain {run} or {id}"));
        }
        if text.contains("../") || text.starts_with("..") {
            return Err(err("'../' would leave the datastore root"));
        }
        if let Some(i) = text.find("{id") {
            if text[i..].contains('/') {
                return Err(err("{id} may only appear in the file name"));
            }
        }
        Ok(FileTemplate {
            text: text.to_owned(),
            parts,
        })
    }

    /// The template text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Check the template against the dimensions of a dataset type, as the
    /// reference's `validateTemplate` does: every field it cannot do without names
    /// one of the type's dimensions (or a special field), and its fields together
    /// name every required dimension, so that no two datasets of a RUN share a path.
    /// A sky-pixel dimension is named by `{skypix}`.
    pub fn validate_for(
        &self,
        universe: &Universe,
        dimensions: &DimensionGroup,
    ) -> Result<(), TemplateError> {
        let skypix = |d: &str| universe.element(d).is_some_and(|e| e.skypix);
        let named = |d: &str| if skypix(d) { "skypix" } else { d }.to_owned();
        let maximal: std::collections::BTreeSet<String> = dimensions.names().map(named).collect();
        let minimal: std::collections::BTreeSet<String> =
            dimensions.required.iter().map(|d| named(d)).collect();
        let primary = |a: &str| a.split('.').next().unwrap_or(a).to_owned();
        let mut all = std::collections::BTreeSet::new();
        for part in &self.parts {
            let Part::Field {
                alternatives,
                optional,
                ..
            } = part
            else {
                continue;
            };
            let primaries: Vec<String> = alternatives.iter().map(|a| primary(a)).collect();
            let usable = |p: &String| SPECIAL.contains(&p.as_str()) || maximal.contains(p);
            if !optional && !primaries.iter().any(usable) {
                return Err(TemplateError {
                    template: self.text.clone(),
                    message: format!(
                        "{{{}}} is not among the dimensions {}",
                        alternatives.join("|"),
                        join(&maximal)
                    ),
                });
            }
            all.extend(primaries);
        }
        let missing: std::collections::BTreeSet<String> =
            minimal.difference(&all).cloned().collect();
        if !missing.is_empty() {
            return Err(TemplateError {
                template: self.text.clone(),
                message: format!(
                    "it does not name the dimensions {}, so datasets could share a path",
                    join(&missing)
                ),
            });
        }
        Ok(())
    }

    fn value(&self, name: &str, ctx: &TemplateContext<'_>) -> Option<String> {
        if let Some((element, attr)) = name.split_once('.') {
            return ctx
                .records
                .get(element)
                .and_then(|r| r.get(attr))
                .filter(|v| !v.is_null())
                .map(show);
        }
        match name {
            "run" => Some(ctx.run.to_owned()),
            "id" => Some(ctx.id.to_string()),
            "datasetType" => Some(ctx.dataset_type.to_owned()),
            "component" => ctx.component.map(str::to_owned),
            _ => ctx.data_id.get(name).filter(|v| !v.is_null()).map(show),
        }
    }

    /// Render the path (without extension) of a dataset, relative to the root.
    pub fn format(&self, ctx: &TemplateContext<'_>) -> Result<String, TemplateError> {
        let mut pieces: Vec<(bool, String)> = Vec::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => pieces.push((true, s.clone())),
                Part::Field {
                    alternatives,
                    optional,
                    keep_slash,
                } => {
                    let primary = |a: &str| a.split('.').next().unwrap_or(a).to_owned();
                    let present = |a: &str| {
                        let p = primary(a);
                        ctx.data_id.contains_key(&p) || SPECIAL.contains(&p.as_str())
                    };
                    let chosen = alternatives
                        .iter()
                        .find(|a| present(a))
                        .unwrap_or(&alternatives[0]);
                    match self.value(chosen, ctx) {
                        Some(v) => {
                            let v = if *keep_slash { v } else { v.replace('/', "_") };
                            let v: String = v
                                .chars()
                                .map(|c| {
                                    if " <>:\"\\|?*".contains(c) && !(*keep_slash && c == '/') {
                                        '_'
                                    } else {
                                        c
                                    }
                                })
                                .collect();
                            pieces.push((false, v));
                        }
                        None if *optional => {
                            if matches!(pieces.last(), Some((true, lit)) if !lit.contains('/')) {
                                pieces.pop();
                            }
                        }
                        None => {
                            return Err(TemplateError {
                                template: self.text.clone(),
                                message: format!(
                                    "no value for {chosen:?} in data ID of {} {:?}",
                                    ctx.dataset_type, ctx.data_id
                                ),
                            })
                        }
                    }
                }
            }
        }
        let joined: String = pieces.into_iter().map(|(_, s)| s).collect();
        let mut segments: Vec<String> = joined
            .split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .map(str::to_owned)
            .collect();
        if let Some(last) = segments.last_mut() {
            *last = last.replace('.', "_").replace('#', "HASH");
        }
        if segments.iter().any(|s| s == "..") {
            return Err(TemplateError {
                template: self.text.clone(),
                message: "a value would make the path leave the datastore root".into(),
            });
        }
        Ok(segments.join("/"))
    }
}

fn join(names: &std::collections::BTreeSet<String>) -> String {
    names.iter().cloned().collect::<Vec<_>>().join(", ")
}

fn show(v: &Value) -> String {
    match v {
        Value::Text(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_owned(),
        other => other.to_string(),
    }
}

/// The reference's default template.
pub const DEFAULT_TEMPLATE: &str = "{run:/}/{datasetType}.{component:?}/{tract:?}/{patch:?}/{day_obs|visit.day_obs|exposure.day_obs:?}/{band:?}/{subfilter:?}/{physical_filter:?}/{visit:?}/{exposure.obs_id|group:?}/{datasetType}_{component:?}_{instrument:?}_{tract:?}_{patch:?}_{band:?}_{physical_filter:?}_{visit:?}_{exposure.obs_id|group:?}_{detector.full_name:?}_{skymap:?}_{skypix:?}_{ssp_hypothesis_table:?}_{ssp_hypothesis_bundle:?}_{ssp_balanced_index:?}_{run}";

/// The reference's template for raw-like datasets.
pub const EXPOSURE_TEMPLATE: &str = "{run:/}/{datasetType}.{component:?}/{day_obs|exposure.day_obs}/{exposure.obs_id}/{datasetType}_{component:?}_{instrument:?}_{physical_filter}_{exposure.obs_id}_{detector.full_name}_{run}";

/// The reference's default templates, by look-up key.
pub fn default_templates() -> [(&'static str, &'static str); 2] {
    [
        ("default", DEFAULT_TEMPLATE),
        ("physical_filter+detector+exposure", EXPOSURE_TEMPLATE),
    ]
}

/// A set of templates with the reference's look-up order: dataset type name, then
/// dimension group (`a+b+c`, compared after normalizing through the universe), then
/// storage class, then `default`.
#[derive(Debug, Clone)]
pub struct Templates {
    entries: Vec<(String, FileTemplate)>,
    per_instrument: BTreeMap<String, Vec<(String, FileTemplate)>>,
}

impl Templates {
    /// The reference's defaults plus `overrides` from the repository configuration.
    pub fn with_overrides(
        overrides: &BTreeMap<String, TemplateSpec>,
    ) -> Result<Templates, TemplateError> {
        let mut entries = default_templates()
            .into_iter()
            .map(|(key, text)| Ok((key.to_owned(), FileTemplate::parse(text)?)))
            .collect::<Result<Vec<_>, TemplateError>>()?;
        let mut per_instrument = BTreeMap::new();
        for (k, v) in overrides {
            match v {
                TemplateSpec::Template(text) => {
                    entries.retain(|(e, _)| e != k);
                    entries.push((k.clone(), FileTemplate::parse(text)?));
                }
                TemplateSpec::PerInstrument(map) => {
                    let name = k
                        .strip_prefix("instrument<")
                        .and_then(|r| r.strip_suffix('>'))
                        .ok_or_else(|| TemplateError {
                            template: k.clone(),
                            message: "a section of templates must be named instrument<NAME>".into(),
                        })?;
                    let parsed = map
                        .iter()
                        .map(|(key, text)| Ok((key.clone(), FileTemplate::parse(text)?)))
                        .collect::<Result<Vec<_>, TemplateError>>()?;
                    per_instrument.insert(name.to_owned(), parsed);
                }
            }
        }
        Ok(Templates {
            entries,
            per_instrument,
        })
    }

    /// The instruments that have overrides of their own.
    pub fn instruments(&self) -> impl Iterator<Item = &str> {
        self.per_instrument.keys().map(String::as_str)
    }

    /// The template for a dataset type: the instrument's overrides first (when the
    /// data ID has one), then the general ones, each in the reference's order.
    pub fn lookup(
        &self,
        universe: &Universe,
        dataset_type: &str,
        dimensions: &DimensionGroup,
        storage_class: &str,
        instrument: Option<&str>,
    ) -> Option<&FileTemplate> {
        let key = (universe, dataset_type, dimensions, storage_class);
        instrument
            .and_then(|i| self.per_instrument.get(i))
            .and_then(|entries| find_in(entries, key, false))
            .or_else(|| find_in(&self.entries, key, true))
    }
}

/// Look a template up in one list: type name, dimension group, storage class, then
/// (with `fallback`) `default`.
fn find_in<'a>(
    entries: &'a [(String, FileTemplate)],
    (universe, dataset_type, dimensions, storage_class): (&Universe, &str, &DimensionGroup, &str),
    fallback: bool,
) -> Option<&'a FileTemplate> {
    let find = |k: &str| entries.iter().find(|(e, _)| e == k).map(|(_, t)| t);
    if let Some(t) = find(dataset_type) {
        return Some(t);
    }
    let mine: std::collections::BTreeSet<&str> = dimensions.names().collect();
    for (key, t) in entries {
        if !key.contains('+') && universe.element(key).is_none() {
            continue;
        }
        let names: Vec<&str> = key.split('+').collect();
        if let Ok(g) = universe.group(&names) {
            let theirs: std::collections::BTreeSet<&str> = g.names().collect();
            if theirs == mine {
                return Some(t);
            }
        }
    }
    find(storage_class).or_else(|| if fallback { find("default") } else { None })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx_data() -> (DataId, BTreeMap<String, Record>) {
        let data_id: DataId = [
            ("instrument", Value::from("HSC")),
            ("detector", Value::Int(53)),
            ("exposure", Value::Int(903334)),
            ("physical_filter", Value::from("HSC-R")),
            ("band", Value::from("r")),
            ("day_obs", Value::Int(20130617)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let mut records = BTreeMap::new();
        records.insert(
            "exposure".to_owned(),
            Record::from([("obs_id".to_owned(), Value::from("HSCA90333400"))]),
        );
        records.insert(
            "detector".to_owned(),
            Record::from([("full_name".to_owned(), Value::from("1_53"))]),
        );
        (data_id, records)
    }

    #[test]
    fn reference_examples() {
        let (data_id, records) = ctx_data();
        let ctx = TemplateContext {
            run: "HSC/raw/all",
            dataset_type: "raw",
            id: Uuid::nil(),
            component: None,
            data_id: &data_id,
            records: &records.iter().map(|(k, v)| (k.clone(), v)).collect(),
        };
        let raw = FileTemplate::parse(EXPOSURE_TEMPLATE).unwrap();
        assert_eq!(
            raw.format(&ctx).unwrap(),
            "HSC/raw/all/raw/20130617/HSCA90333400/raw_HSC_HSC-R_HSCA90333400_1_53_HSC_raw_all"
        );
        let default = FileTemplate::parse(DEFAULT_TEMPLATE).unwrap();
        assert_eq!(
            default.format(&ctx).unwrap(),
            "HSC/raw/all/raw/20130617/r/HSC-R/HSCA90333400/raw_HSC_r_HSC-R_HSCA90333400_1_53_HSC_raw_all"
        );
    }

    #[test]
    fn per_instrument_overrides() {
        let u = Universe::default_universe();
        let overrides: BTreeMap<String, TemplateSpec> = [
            (
                "calexp".to_owned(),
                TemplateSpec::Template("{run:/}/c/{visit}_{detector}".into()),
            ),
            (
                "instrument<HSC>".to_owned(),
                TemplateSpec::PerInstrument(
                    [(
                        "calexp".to_owned(),
                        "{run:/}/hsc/{visit}_{detector}".to_owned(),
                    )]
                    .into(),
                ),
            ),
        ]
        .into();
        let t = Templates::with_overrides(&overrides).unwrap();
        let g = u.group(&["instrument", "visit", "detector"]).unwrap();
        assert!(t
            .lookup(&u, "calexp", &g, "ExposureF", Some("HSC"))
            .unwrap()
            .text()
            .contains("/hsc/"));
        assert!(t
            .lookup(&u, "calexp", &g, "ExposureF", Some("LSSTCam"))
            .unwrap()
            .text()
            .contains("/c/"));
        // Types the instrument does not override fall back to the general list.
        assert_eq!(
            t.lookup(&u, "bias", &g, "ExposureF", Some("HSC"))
                .unwrap()
                .text(),
            DEFAULT_TEMPLATE
        );
        let raw = u.group(&["instrument", "exposure", "detector"]).unwrap();
        assert_eq!(
            t.lookup(&u, "raw", &raw, "Exposure", None).unwrap().text(),
            EXPOSURE_TEMPLATE
        );
        let bad: BTreeMap<String, TemplateSpec> = [(
            "HSC".to_owned(),
            TemplateSpec::PerInstrument(BTreeMap::new()),
        )]
        .into();
        assert!(Templates::with_overrides(&bad).is_err());
    }

    #[test]
    fn validation() {
        for bad in [
            "{datasetType}/{visit}",
            "../{run}/x",
            "{run}/{collection}",
            "{run}/{id}/x",
            "{run",
        ] {
            assert!(FileTemplate::parse(bad).is_err(), "{bad} accepted");
        }
        assert!(FileTemplate::parse("{run:/}/{id}").is_ok());
        let (data_id, records) = ctx_data();
        let ctx = TemplateContext {
            run: "../../etc",
            dataset_type: "raw",
            id: Uuid::nil(),
            component: None,
            data_id: &data_id,
            records: &records.iter().map(|(k, v)| (k.clone(), v)).collect(),
        };
        assert!(FileTemplate::parse("{run:/}/{datasetType}")
            .unwrap()
            .format(&ctx)
            .is_err());
    }
}
