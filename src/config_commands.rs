//! `config-dump` and `config-validate`: the repository's configuration as it is in
//! effect, and whether its file templates suit every registered dataset type.

use serde_yaml_ng::Value as Yaml;
use valet_registry::dataset_types::all_dataset_types;

use crate::transfers::export::name_patterns;
use crate::{Repo, RepoError};

impl Repo {
    /// The configuration in effect as YAML: `valet.yaml` with its defaults filled in
    /// and the reference's default file templates beside the repository's own. With
    /// `subset` (a `.`-separated key, or separated by the character it starts with, as
    /// the reference takes it), only that part; a
    /// plain value is printed as `key: value`.
    pub fn config_dump(&self, subset: Option<&str>) -> Result<String, RepoError> {
        let invalid = |e: serde_yaml_ng::Error| RepoError::Invalid(format!("configuration: {e}"));
        let mut config = serde_yaml_ng::to_value(&self.config).map_err(invalid)?;
        if let Yaml::Mapping(m) = &mut config {
            let mut templates = serde_yaml_ng::Mapping::new();
            for (key, text) in valet_datastore::templates::default_templates() {
                templates.insert(key.into(), text.into());
            }
            for (key, spec) in &self.config.templates {
                templates.insert(
                    key.clone().into(),
                    serde_yaml_ng::to_value(spec).map_err(invalid)?,
                );
            }
            m.insert("templates".into(), Yaml::Mapping(templates));
        }
        let Some(subset) = subset else {
            return serde_yaml_ng::to_string(&config).map_err(invalid);
        };
        // As the reference reads it: a leading punctuation character is the
        // delimiter of the hierarchy (`.datastore_root`, `:universe:version`).
        let delimiter = subset
            .chars()
            .next()
            .filter(|c| !c.is_alphanumeric() && *c != '_')
            .unwrap_or('.');
        let mut here = &config;
        for key in subset.split(delimiter).filter(|k| !k.is_empty()) {
            here = match here.get(key) {
                Some(v) => v,
                None => {
                    let names: Vec<String> = match &config {
                        Yaml::Mapping(m) => m
                            .keys()
                            .filter_map(|k| k.as_str().map(str::to_owned))
                            .collect(),
                        _ => Vec::new(),
                    };
                    return Err(RepoError::Invalid(format!(
                        "{subset} not found in the configuration of {} (it has {})",
                        self.root.display(),
                        names.join(", ")
                    )));
                }
            };
        }
        match here {
            Yaml::Mapping(_) | Yaml::Sequence(_) => serde_yaml_ng::to_string(here).map_err(invalid),
            scalar => {
                let text = serde_yaml_ng::to_string(scalar).map_err(invalid)?;
                Ok(format!("{subset}: {}\n", text.trim_end()))
            }
        }
    }

    /// Check the configuration against the registered dataset types (those named by
    /// `dataset_types`, names or globs, or all; less those in `ignore`): every type
    /// must have a file template that can name its datasets. Returns the problems,
    /// one line each.
    pub fn validate_config(
        &self,
        dataset_types: &[String],
        ignore: &[String],
    ) -> Result<Vec<String>, RepoError> {
        let wanted = name_patterns(dataset_types)?;
        let ignored = name_patterns(ignore)?;
        let mut conn = self.registry.db.conn()?;
        let types = all_dataset_types(&mut conn)?;
        if let Some(unknown) = dataset_types
            .iter()
            .zip(&wanted)
            .find(|(_, p)| !types.iter().any(|t| p.is_match(&t.name)))
        {
            return Err(RepoError::Invalid(format!(
                "dataset type {} is not registered",
                unknown.0
            )));
        }
        let store = self.datastore()?;
        let universe = &self.registry.universe;
        Ok(types
            .iter()
            .filter(|t| wanted.is_empty() || wanted.iter().any(|p| p.is_match(&t.name)))
            .filter(|t| !ignored.iter().any(|p| p.is_match(&t.name)))
            .flat_map(|t| store.template_problems(universe, t))
            .collect())
    }
}
