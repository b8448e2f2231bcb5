//! What valet needs from a Butler repository's `butler.yaml`: where its registry
//! database is (and in which schema), and where its file datastore keeps files.

use std::path::{Path, PathBuf};

use serde_yaml_ng::Value as Yaml;

use crate::repo::io_err;
use crate::RepoError;

/// The reference's default registry location, used when `butler.yaml` names none.
const DEFAULT_DB: &str = "sqlite:///<butlerRoot>/gen3.sqlite3";

/// Where a Butler repository's registry and files are.
#[derive(Debug, Clone, PartialEq)]
pub struct ButlerConfig {
    /// The repository root (the directory holding `butler.yaml`), absolute.
    pub root: PathBuf,
    /// The registry database.
    pub db: SourceDb,
    /// The file datastore's root, absolute.
    pub datastore_root: PathBuf,
    /// The table of the file datastore's records.
    pub records_table: String,
}

/// A registry database named by `registry.db`.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceDb {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL (driver suffix removed), with `registry.namespace` if set.
    Postgres {
        /// Connection URL, `postgresql://…`.
        url: String,
        /// The schema holding the tables.
        namespace: Option<String>,
    },
}

fn text<'a>(v: &'a Yaml, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(*k))?.as_str()
}

impl ButlerConfig {
    /// Read `butler.yaml` from `repo` (a directory, or the file itself).
    pub fn read(repo: &Path) -> Result<ButlerConfig, RepoError> {
        let file = if repo.is_dir() {
            repo.join("butler.yaml")
        } else {
            repo.to_path_buf()
        };
        if !file.is_file() {
            return Err(RepoError::Invalid(format!(
                "{} is not a Butler repository (no butler.yaml)",
                repo.display()
            )));
        }
        let body = std::fs::read_to_string(&file).map_err(io_err(&file))?;
        let root =
            std::path::absolute(file.parent().unwrap_or(Path::new("."))).map_err(io_err(&file))?;
        ButlerConfig::parse(&body, &root)
            .map_err(|e| RepoError::Invalid(format!("{}: {e}", file.display())))
    }

    /// Parse the text of a `butler.yaml` whose repository root is `root`.
    pub fn parse(body: &str, root: &Path) -> Result<ButlerConfig, String> {
        let yaml: Yaml = serde_yaml_ng::from_str(body).map_err(|e| e.to_string())?;
        let butler_root = root.display().to_string();
        let expand = |s: &str| s.replace("<butlerRoot>", &butler_root);
        if let Some(cls) = text(&yaml, &["datastore", "cls"]) {
            if !cls.ends_with(".FileDatastore") {
                return Err(format!(
                    "datastore {cls} is not a file datastore; valet adopts file datastores only"
                ));
            }
        }
        let db = expand(text(&yaml, &["registry", "db"]).unwrap_or(DEFAULT_DB));
        let namespace = text(&yaml, &["registry", "namespace"]).map(str::to_owned);
        let db = source_db(&db, namespace)?;
        let datastore_root = expand(text(&yaml, &["datastore", "root"]).unwrap_or("<butlerRoot>"));
        let datastore_root = datastore_root
            .strip_prefix("file://")
            .unwrap_or(&datastore_root)
            .to_owned();
        if datastore_root.contains("://") {
            return Err(format!(
                "datastore root {datastore_root} is not a local directory; valet's datastore is POSIX"
            ));
        }
        let records_table = text(&yaml, &["datastore", "records", "table"])
            .unwrap_or("file_datastore_records")
            .to_owned();
        Ok(ButlerConfig {
            root: root.to_path_buf(),
            db,
            datastore_root: root.join(datastore_root),
            records_table,
        })
    }
}

/// Read a SQLAlchemy URL: `sqlite:///relative`, `sqlite:////absolute`,
/// `postgresql[+driver]://…`.
fn source_db(url: &str, namespace: Option<String>) -> Result<SourceDb, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("registry.db {url:?} is not a database URL"))?;
    let dialect = scheme.split('+').next().unwrap_or(scheme);
    match dialect {
        "sqlite" => {
            let path = rest.strip_prefix('/').unwrap_or(rest);
            if path.is_empty() || path == ":memory:" {
                return Err("registry.db names an in-memory SQLite database".into());
            }
            Ok(SourceDb::Sqlite(PathBuf::from(path)))
        }
        "postgresql" | "postgres" => Ok(SourceDb::Postgres {
            url: format!("postgresql://{rest}"),
            namespace,
        }),
        other => Err(format!(
            "registry.db uses {other}; valet reads SQLite and PostgreSQL registries"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_forms_the_reference_writes() {
        let c = ButlerConfig::parse(
            "registry:\n  db: sqlite:///<butlerRoot>/gen3.sqlite3\ndatastore:\n  cls: lsst.daf.butler.datastores.fileDatastore.FileDatastore\n  root: <butlerRoot>\n",
            Path::new("/data/repo"),
        )
        .unwrap();
        assert_eq!(c.db, SourceDb::Sqlite("/data/repo/gen3.sqlite3".into()));
        assert_eq!(c.datastore_root, PathBuf::from("/data/repo"));
        let c = ButlerConfig::parse(
            "registry:\n  db: postgresql+psycopg2://u@h:5432/db\n  namespace: dp02\n",
            Path::new("/r"),
        )
        .unwrap();
        assert_eq!(
            c.db,
            SourceDb::Postgres {
                url: "postgresql://u@h:5432/db".into(),
                namespace: Some("dp02".into())
            }
        );
        assert_eq!(c.records_table, "file_datastore_records");
        let e = ButlerConfig::parse("registry:\n  db: oracle://x\n", Path::new("/r")).unwrap_err();
        assert!(e.contains("oracle"), "{e}");
    }
}
