//! Instrument definitions: what `register-instrument` writes (the instrument record,
//! its detectors, physical filters and visit systems) and how `ingest-raws` reads the
//! instrument's raw headers (its translator). The format is described in the README;
//! definitions for the sample instrument, DECam and HSC ship with valet.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// An instrument definition (YAML).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentDefinition {
    /// The instrument's name (the `instrument` dimension's key).
    pub name: String,
    /// The reference's Python class for the instrument (the record's `class_name`).
    pub class_name: String,
    /// Visit ids are below this.
    pub visit_max: i64,
    /// Exposure ids are below this.
    pub exposure_max: i64,
    /// Detector ids are below this.
    pub detector_max: i64,
    /// The preferred visit system's id (the record's `visit_system`), if any.
    #[serde(default)]
    pub visit_system: Option<i64>,
    /// Visit systems (`visit_system` records).
    #[serde(default)]
    pub visit_systems: Vec<VisitSystemDefinition>,
    /// Seconds after TAI midnight at which an observing day (`day_obs`) begins.
    #[serde(default)]
    pub day_obs_offset: i64,
    /// The file template raws are stored under, if not the repository's.
    #[serde(default)]
    pub raw_template: Option<String>,
    /// Physical filters and their bands.
    pub physical_filters: Vec<FilterDefinition>,
    /// Detectors.
    pub detectors: Vec<DetectorDefinition>,
    /// How raw headers are read; without one, raws of this instrument cannot be
    /// ingested from their files.
    #[serde(default)]
    pub translator: Option<TranslatorSpec>,
}

/// A visit system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisitSystemDefinition {
    /// Its id.
    pub id: i64,
    /// Its name (`one-to-one`, `by-group`, …).
    pub name: String,
}

/// A physical filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterDefinition {
    /// The filter's name as raws name it.
    pub name: String,
    /// Its band.
    pub band: String,
}

/// A detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorDefinition {
    /// Its id.
    pub id: i64,
    /// Its name, unique in the instrument.
    pub full_name: String,
    /// Its name within its raft (or group).
    pub name_in_raft: String,
    /// Its raft (or group).
    pub raft: String,
    /// `SCIENCE`, `WAVEFRONT`, `GUIDE`, `FOCUS`, …
    pub purpose: String,
}

/// How an instrument's raw headers become the observation's properties.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranslatorSpec {
    /// Conditions any one of which recognises a header as this instrument's (without
    /// them, a header is this instrument's when its `instrument` property is).
    #[serde(default)]
    pub recognize: Vec<When>,
    /// Which HDUs hold raws. Without it, the primary header alone describes the one
    /// raw of a file; with it, each extension with the key (and a value in range) is a
    /// raw, its header read over the primary's.
    #[serde(default)]
    pub detector_hdus: Option<HduSelector>,
    /// Observation types in which the detector sees the sky.
    #[serde(default)]
    pub sky_types: Vec<String>,
    /// Observation types in which it does not.
    #[serde(default)]
    pub non_sky_types: Vec<String>,
    /// A rule per property (see [`PROPERTIES`]).
    pub properties: BTreeMap<String, Rule>,
}

/// The extension HDUs that hold raws.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HduSelector {
    /// The keyword a detector HDU has.
    pub key: String,
    /// Its largest value for a raw (guide and focus detectors above it are left out).
    #[serde(default)]
    pub max: Option<i64>,
}

/// Keys to read, in order of preference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Keys {
    /// One key.
    One(String),
    /// The first of these that the header has.
    Many(Vec<String>),
}

impl Keys {
    /// The keys, in order.
    pub fn list(&self) -> Vec<&str> {
        match self {
            Keys::One(k) => vec![k.as_str()],
            Keys::Many(ks) => ks.iter().map(String::as_str).collect(),
        }
    }
}

/// How one property is found. A rule reads `key` (or is the constant `value`), then
/// applies, in order: `regex` (its first group), `lower`/`upper`, `map`, `unit`,
/// `factor`, `offset`, `wrap`, `min`/`max`; `when` replaces or maps the value when
/// another keyword matches. A missing keyword gives `default`, else the property is
/// unknown (an error for the properties a record needs). Dates use `date` (with
/// `time`), else `mjd`, in the time scale `timesys` (or the one `timesys_key` names).
/// `compute` names one of the few built-in computations a header format needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Keyword(s) to read.
    #[serde(default)]
    pub key: Option<Keys>,
    /// A constant.
    #[serde(default)]
    pub value: Option<serde_yaml_ng::Value>,
    /// The value when no key is present.
    #[serde(default)]
    pub default: Option<serde_yaml_ng::Value>,
    /// A regular expression whose first group is the value.
    #[serde(default)]
    pub regex: Option<String>,
    /// Lower-case the text.
    #[serde(default)]
    pub lower: bool,
    /// Upper-case the text.
    #[serde(default)]
    pub upper: bool,
    /// Replace values (compared as text) by others.
    #[serde(default)]
    pub map: BTreeMap<String, serde_yaml_ng::Value>,
    /// `deg` (default for angles), `hourangle`, `arcsec`, `rad`; sexagesimal text is
    /// read in this unit.
    #[serde(default)]
    pub unit: Option<String>,
    /// Multiply by this.
    #[serde(default)]
    pub factor: Option<f64>,
    /// Then add this.
    #[serde(default)]
    pub offset: Option<f64>,
    /// Then wrap into `[0, wrap)`.
    #[serde(default)]
    pub wrap: Option<f64>,
    /// Clip to at least this.
    #[serde(default)]
    pub min: Option<f64>,
    /// Clip to at most this.
    #[serde(default)]
    pub max: Option<f64>,
    /// A condition on another keyword, and what it changes.
    #[serde(default)]
    pub when: Option<When>,
    /// A date keyword (ISO, or a date alone with `time`).
    #[serde(default)]
    pub date: Option<Keys>,
    /// The time-of-day keyword that goes with a date-only `date`.
    #[serde(default)]
    pub time: Option<String>,
    /// An MJD keyword, used when `date` is absent.
    #[serde(default)]
    pub mjd: Option<String>,
    /// The time scale of the date (`utc` or `tai`; default `utc`).
    #[serde(default)]
    pub timesys: Option<String>,
    /// The keyword that names the time scale (for example `TIMESYS`).
    #[serde(default)]
    pub timesys_key: Option<String>,
    /// A built-in computation (see the README).
    #[serde(default)]
    pub compute: Option<String>,
}

/// A condition on a keyword and what it does to a rule's value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    /// The keyword.
    pub key: String,
    /// Holds when the keyword's text contains one of these (case-insensitively).
    #[serde(default)]
    pub contains: Vec<String>,
    /// Holds when the keyword's number is at least this…
    #[serde(default)]
    pub min: Option<f64>,
    /// …and below this.
    #[serde(default)]
    pub below: Option<f64>,
    /// The value when it holds.
    #[serde(default)]
    pub value: Option<serde_yaml_ng::Value>,
    /// Or: values mapped when it holds.
    #[serde(default)]
    pub map: BTreeMap<String, serde_yaml_ng::Value>,
}

/// The properties a translator can give, as `astro_metadata_translator`'s
/// `ObservationInfo` names them (`tracking_ra`/`tracking_dec` and
/// `altitude`/`azimuth` split its coordinate pairs; `tracking_frame` and
/// `tracking_equinox` say what frame the tracking coordinates are in).
pub const PROPERTIES: &[&str] = &[
    "instrument",
    "detector",
    "physical_filter",
    "exposure_id",
    "observation_id",
    "datetime_begin",
    "datetime_end",
    "exposure_time",
    "dark_time",
    "observation_type",
    "observation_reason",
    "science_program",
    "object",
    "tracking_ra",
    "tracking_dec",
    "tracking_frame",
    "tracking_equinox",
    "altitude",
    "azimuth",
    "boresight_rotation_angle",
    "boresight_rotation_coord",
    "observing_day",
    "observation_counter",
    "group",
    "has_simulated_content",
];

/// The definitions valet ships, by instrument name.
pub const SHIPPED: &[(&str, &str)] = &[
    ("DECam", include_str!("../instruments/DECam.yaml")),
    ("HSC", include_str!("../instruments/HSC.yaml")),
    (
        "LSSTCam-imSim",
        include_str!("../instruments/LSSTCam-imSim.yaml"),
    ),
];

impl InstrumentDefinition {
    /// A shipped definition, by instrument name.
    pub fn shipped(name: &str) -> Option<Result<InstrumentDefinition, ConfigError>> {
        SHIPPED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, text)| InstrumentDefinition::from_yaml(text, &format!("the shipped {n}")))
    }

    /// Parse and check a definition; `source` names it in errors.
    pub fn from_yaml(text: &str, source: &str) -> Result<InstrumentDefinition, ConfigError> {
        let def: InstrumentDefinition =
            serde_yaml_ng::from_str(text).map_err(|e| ConfigError::Repo {
                path: source.to_owned(),
                message: format!("not an instrument definition: {e}"),
            })?;
        def.check().map_err(|message| ConfigError::Repo {
            path: source.to_owned(),
            message,
        })?;
        Ok(def)
    }

    /// The definition as YAML (what a repository keeps of it).
    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(self).unwrap_or_default()
    }

    /// Check that ids and names are unique and in range, and the translator's
    /// properties known.
    pub fn check(&self) -> Result<(), String> {
        if self.name.is_empty() || self.name.len() > 32 {
            return Err(format!(
                "instrument name {:?} must have 1 to 32 characters",
                self.name
            ));
        }
        let mut ids = BTreeSet::new();
        let mut names = BTreeSet::new();
        for d in &self.detectors {
            if d.id < 0 || d.id >= self.detector_max {
                return Err(format!(
                    "detector {} is outside 0..{} (detector_max)",
                    d.id, self.detector_max
                ));
            }
            if !ids.insert(d.id) {
                return Err(format!("detector {} is defined twice", d.id));
            }
            if !names.insert(d.full_name.as_str()) {
                return Err(format!(
                    "detector full_name {:?} is used twice",
                    d.full_name
                ));
            }
        }
        let mut filters = BTreeSet::new();
        for f in &self.physical_filters {
            if !filters.insert(f.name.as_str()) {
                return Err(format!("physical filter {:?} is defined twice", f.name));
            }
        }
        let systems: BTreeSet<i64> = self.visit_systems.iter().map(|s| s.id).collect();
        if systems.len() != self.visit_systems.len() {
            return Err("a visit system id is used twice".into());
        }
        if let Some(v) = self.visit_system {
            if !systems.contains(&v) {
                return Err(format!("visit_system {v} is not among the visit_systems"));
            }
        }
        if let Some(t) = &self.translator {
            for (p, rule) in &t.properties {
                if !PROPERTIES.contains(&p.as_str()) {
                    return Err(format!(
                        "translator property {p:?} is not one of {}",
                        PROPERTIES.join(", ")
                    ));
                }
                if rule.key.is_none()
                    && rule.value.is_none()
                    && rule.date.is_none()
                    && rule.mjd.is_none()
                    && rule.compute.is_none()
                    && rule.default.is_none()
                {
                    return Err(format!(
                        "translator property {p:?} has no key, value, date, mjd, compute or default"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The detector with this id.
    pub fn detector(&self, id: i64) -> Option<&DetectorDefinition> {
        self.detectors.iter().find(|d| d.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_definitions_parse() {
        for (name, _) in SHIPPED {
            let def = InstrumentDefinition::shipped(name).unwrap().unwrap();
            assert_eq!(&def.name, name);
            assert!(def.translator.is_some(), "{name} has a translator");
            let back = InstrumentDefinition::from_yaml(&def.to_yaml(), "back").unwrap();
            assert_eq!(back, def);
        }
        let hsc = InstrumentDefinition::shipped("HSC").unwrap().unwrap();
        assert_eq!(hsc.detectors.len(), 112);
        assert_eq!(hsc.detector(0).unwrap().full_name, "1_53");
        let decam = InstrumentDefinition::shipped("DECam").unwrap().unwrap();
        assert_eq!(decam.detectors.len(), 62);
        assert_eq!(decam.detector(25).unwrap().full_name, "S1");
        assert!(InstrumentDefinition::shipped("nope").is_none());
    }

    #[test]
    fn bad_definitions_are_refused() {
        let base = "name: X\nclass_name: c\nvisit_max: 10\nexposure_max: 10\ndetector_max: 2\nphysical_filters: []\n";
        let dup = format!("{base}detectors:\n- {{id: 0, full_name: a, name_in_raft: a, raft: r, purpose: SCIENCE}}\n- {{id: 0, full_name: b, name_in_raft: b, raft: r, purpose: SCIENCE}}\n");
        let e = InstrumentDefinition::from_yaml(&dup, "x.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("x.yaml") && e.contains("detector 0 is defined twice"),
            "{e}"
        );
        let range = format!("{base}detectors:\n- {{id: 5, full_name: a, name_in_raft: a, raft: r, purpose: SCIENCE}}\n");
        let e = InstrumentDefinition::from_yaml(&range, "x.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("detector_max"), "{e}");
        let unknown = format!("{base}detectors: []\ncolour: red\n");
        let e = InstrumentDefinition::from_yaml(&unknown, "x.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("colour"), "{e}");
        let prop =
            format!("{base}detectors: []\ntranslator:\n  properties:\n    colour: {{key: C}}\n");
        let e = InstrumentDefinition::from_yaml(&prop, "x.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("colour"), "{e}");
    }
}
