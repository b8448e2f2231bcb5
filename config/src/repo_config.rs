//! The repository configuration file, `valet.yaml`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// The name of the configuration file at the root of every repository.
pub const CONFIG_FILE: &str = "valet.yaml";

/// The SQLite database file name used when no `--db` is given.
pub const DEFAULT_SQLITE_FILE: &str = "registry.sqlite3";

/// What `valet.yaml` holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    /// Registry database URL: `sqlite:<path>` (relative to the repository root) or
    /// `postgresql://…`.
    pub db: String,
    /// Datastore root, relative to the repository root (the reference keeps files
    /// directly under the repository root).
    #[serde(default = "default_datastore_root")]
    pub datastore_root: String,
    /// Dimension universe in use: namespace and version (the definition itself is kept
    /// in the database).
    pub universe: UniverseRef,
    /// File templates overriding the reference's defaults, keyed by dataset type,
    /// dimension group (`a+b+c`), storage class or `default`; an `instrument<NAME>`
    /// key holds overrides for that instrument only, as in the reference.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub templates: std::collections::BTreeMap<String, TemplateSpec>,
    /// Who the acting user is: `login` (the default: `--user`, `VALET_USER`, the
    /// login name) or `database-role` (PostgreSQL's `current_user`, so the database's
    /// own authentication decides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
}

/// One entry of the `templates` section.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum TemplateSpec {
    /// A template.
    Template(String),
    /// `instrument<NAME>`: overrides for one instrument.
    PerInstrument(std::collections::BTreeMap<String, String>),
}

/// Names a dimension universe.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UniverseRef {
    /// Universe namespace, e.g. `daf_butler`.
    pub namespace: String,
    /// Universe version.
    pub version: u32,
}

fn default_datastore_root() -> String {
    ".".into()
}

impl RepoConfig {
    /// Read `valet.yaml` from a repository directory.
    pub fn read(repo: &Path) -> Result<RepoConfig, ConfigError> {
        let path = repo.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        serde_yaml_ng::from_str(&text).map_err(|e| ConfigError::Repo {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// Write `valet.yaml` into a repository directory.
    pub fn write(&self, repo: &Path) -> Result<(), ConfigError> {
        let path = repo.join(CONFIG_FILE);
        let text = serde_yaml_ng::to_string(self).map_err(|e| ConfigError::Repo {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        std::fs::write(&path, text).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    /// The database URL with a relative SQLite path made absolute against the
    /// repository root, so a repository can be moved.
    pub fn resolved_db_url(&self, repo: &Path) -> String {
        match self.db.strip_prefix("sqlite:") {
            Some(p) if !Path::new(p).is_absolute() => {
                format!("sqlite:{}", repo.join(p).display())
            }
            _ => self.db.clone(),
        }
    }

    /// The datastore root as an absolute path without `.` components (so URIs built
    /// from it read as the reference's `file:///…`).
    pub fn datastore_path(&self, repo: &Path) -> PathBuf {
        let joined = repo.join(&self.datastore_root);
        let absolute = std::path::absolute(&joined).unwrap_or(joined);
        absolute
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_sqlite_paths_follow_the_repository() {
        let c = RepoConfig {
            db: format!("sqlite:{DEFAULT_SQLITE_FILE}"),
            datastore_root: ".".into(),
            universe: UniverseRef {
                namespace: "daf_butler".into(),
                version: 8,
            },
            templates: Default::default(),
            identity: None,
        };
        assert_eq!(
            c.resolved_db_url(Path::new("/data/repo")),
            "sqlite:/data/repo/registry.sqlite3"
        );
        let text = serde_yaml_ng::to_string(&c).unwrap();
        let back: RepoConfig = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn templates_with_instrument_sections() {
        let text = "db: sqlite:r.sqlite3\nuniverse: {namespace: daf_butler, version: 8}\ntemplates:\n  calexp: '{run:/}/{visit}'\n  instrument<HSC>:\n    calexp: '{run:/}/hsc/{visit}'\n";
        let c: RepoConfig = serde_yaml_ng::from_str(text).unwrap();
        assert_eq!(
            c.templates["calexp"],
            TemplateSpec::Template("{run:/}/{visit}".into())
        );
        let TemplateSpec::PerInstrument(hsc) = &c.templates["instrument<HSC>"] else {
            panic!("not a section")
        };
        assert_eq!(hsc["calexp"], "{run:/}/hsc/{visit}");
        assert!(serde_yaml_ng::from_str::<RepoConfig>(
            "db: x\nuniverse: {namespace: a, version: 1}\nbogus: 1\n"
        )
        .is_err());
    }
}
