//! The reference's ObsCore configuration (`ObsCoreManagerConfig`).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::ObsCoreError;

/// Which collections feed the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CollectionKind {
    /// RUN collections whose names fullmatch one of the patterns (all if none).
    Run,
    /// Exactly one TAGGED collection.
    Tagged,
    /// Exactly one CHAINED collection: the table holds its find-first resolution
    /// (beyond the reference).
    Chained,
}

/// An extra column: a literal, or a template with a type.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ExtraColumn {
    /// A template rendered per dataset and cast to `type`.
    Template {
        /// Python-format template.
        template: String,
        /// `int`, `float`, `string` or `bool`.
        #[serde(rename = "type", default = "default_type")]
        ty: String,
        /// String length (informational).
        length: Option<u32>,
        /// Description.
        doc: Option<String>,
    },
    /// A literal value.
    Literal(serde_yaml_ng::Value),
}

fn default_type() -> String {
    "string".into()
}

/// Per dataset type settings.
#[derive(Debug, Clone, Deserialize)]
pub struct DatasetTypeConfig {
    /// `dataproduct_type`.
    pub dataproduct_type: String,
    /// `dataproduct_subtype`.
    pub dataproduct_subtype: Option<String>,
    /// `calib_level`.
    pub calib_level: i64,
    /// `o_ucd`.
    pub o_ucd: Option<String>,
    /// `access_format`.
    pub access_format: Option<String>,
    /// Template of `obs_id`.
    pub obs_id_fmt: Option<String>,
    /// Template of `access_url`.
    pub datalink_url_fmt: Option<String>,
    /// Overrides the global `obs_collection`.
    pub obs_collection: Option<String>,
    /// `s_xel1`, `s_xel2`.
    pub s_xel: Option<[i64; 2]>,
    /// Extra columns for this type.
    #[serde(default)]
    pub extra_columns: BTreeMap<String, ExtraColumn>,
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
pub struct ObsCoreConfig {
    /// Namespace.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Version; bump on any schema or content change.
    pub version: i64,
    /// Table name.
    #[serde(default = "default_table")]
    pub table_name: String,
    /// RUN or TAGGED.
    pub collection_type: CollectionKind,
    /// RUN regexes, or the one TAGGED collection.
    #[serde(default)]
    pub collections: Option<Vec<String>>,
    /// Dataset types that get rows, in the order their rows are exported.
    pub dataset_types: serde_yaml_ng::Mapping,
    /// `facility_name`.
    pub facility_name: String,
    /// Facility per instrument.
    #[serde(default)]
    pub facility_map: BTreeMap<String, String>,
    /// `obs_collection`.
    pub obs_collection: Option<String>,
    /// Instrument name when a data ID has none.
    pub fallback_instrument: Option<String>,
    /// Template of `obs_publisher_did`.
    pub obs_publisher_did_fmt: Option<String>,
    /// Extra columns for every type.
    #[serde(default)]
    pub extra_columns: BTreeMap<String, ExtraColumn>,
    /// The exporter's default `--where` expression.
    #[serde(default, rename = "where")]
    pub where_: Option<String>,
    /// Index definitions.
    #[serde(default)]
    pub indices: BTreeMap<String, serde_yaml_ng::Value>,
    /// Wavelength ranges (metres) by physical filter or band.
    #[serde(default)]
    pub spectral_ranges: BTreeMap<String, [Option<f64>; 2]>,
    /// Spatial plugins (only the default one is implemented).
    #[serde(default)]
    pub spatial_plugins: BTreeMap<String, serde_yaml_ng::Value>,
    /// Parsed `dataset_types`, in file order.
    #[serde(skip)]
    pub types: Vec<(String, DatasetTypeConfig)>,
    /// Extra column names in file order (global first, then per type).
    #[serde(skip)]
    pub extra_order: Vec<String>,
}

fn default_namespace() -> String {
    "daf_butler_obscore".into()
}

fn default_table() -> String {
    "obscore".into()
}

impl ObsCoreConfig {
    /// Parse and validate a configuration.
    pub fn from_yaml(text: &str) -> Result<ObsCoreConfig, ObsCoreError> {
        let mut c: ObsCoreConfig =
            serde_yaml_ng::from_str(text).map_err(|e| ObsCoreError::Config(e.to_string()))?;
        for (k, v) in &c.dataset_types {
            let name = k.as_str().ok_or_else(|| {
                ObsCoreError::Config(format!("dataset type key {k:?} is not text"))
            })?;
            let t: DatasetTypeConfig = serde_yaml_ng::from_value(v.clone())
                .map_err(|e| ObsCoreError::Config(format!("dataset_types.{name}: {e}")))?;
            c.types.push((name.to_owned(), t));
        }
        if c.collection_type != CollectionKind::Run
            && c.collections.as_ref().is_none_or(|v| v.len() != 1)
        {
            return Err(ObsCoreError::Config(
                "collection_type TAGGED or CHAINED needs exactly one collection".into(),
            ));
        }
        // Extra columns keep the order the file gives them.
        let doc: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(text).map_err(|e| ObsCoreError::Config(e.to_string()))?;
        let mut order = Vec::new();
        let mut push = |m: Option<&serde_yaml_ng::Value>| {
            if let Some(serde_yaml_ng::Value::Mapping(m)) = m {
                for k in m.keys().filter_map(|k| k.as_str()) {
                    if !order.iter().any(|o: &String| o == k) {
                        order.push(k.to_owned());
                    }
                }
            }
        };
        push(doc.get("extra_columns"));
        if let Some(serde_yaml_ng::Value::Mapping(types)) = doc.get("dataset_types") {
            for v in types.values() {
                push(v.get("extra_columns"));
            }
        }
        c.extra_order = order;
        Ok(c)
    }

    /// The settings of a dataset type, if it gets rows.
    pub fn dataset_type(&self, name: &str) -> Option<&DatasetTypeConfig> {
        self.types.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}
