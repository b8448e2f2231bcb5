//! The repository handle: a directory with `valet.yaml`, a registry database and (by
//! default) the files under the same root.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use valet_collections::Resolver;

use valet_config::repo_config::{UniverseRef, CONFIG_FILE, DEFAULT_SQLITE_FILE};
use valet_config::{RepoConfig, Universe};
use valet_registry::{Backend, Registry};

pub use crate::error::{ErrorKind, RepoError};

/// The error of a filesystem operation on `path`.
pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RepoError + '_ {
    move |source| RepoError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Make PostgreSQL's role the acting user of this thread: the database's own
/// authentication then decides who is acting.
fn adopt_database_role(url: &str) -> Result<(), RepoError> {
    let db = valet_registry::Db::connect(url)?;
    let role = db
        .conn()?
        .query_opt("SELECT CAST(current_user AS TEXT)", &[])?
        .and_then(|r| r[0].as_str().map(str::to_owned))
        .ok_or_else(|| {
            RepoError::Invalid("the database did not say who the current role is".into())
        })?;
    valet_registry::identity::set_thread_user(Some(&role));
    Ok(())
}

/// Options for [`Repo::create`].
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Registry database URL; `None` puts an SQLite database inside the repository.
    pub db: Option<String>,
    /// A dimension universe file in the reference's format; `None` uses the default.
    pub dimension_config: Option<PathBuf>,
    /// `database-role` makes PostgreSQL's role the acting user (see `valet.yaml`).
    pub identity: Option<String>,
}

impl CreateOptions {
    /// These options with what a Butler seed configuration (`butler create
    /// --seed-config`) says that valet takes: `registry.db`, a PostgreSQL URL
    /// (`postgresql+psycopg2://…` too). An SQLite URL leaves the registry in the
    /// repository, where valet keeps SQLite. Returns the settings valet does not take,
    /// by dotted name, for a warning. A URL that contradicts `db` is refused.
    pub fn with_seed_config(
        mut self,
        text: &str,
        source: &str,
    ) -> Result<(CreateOptions, Vec<String>), RepoError> {
        let seed: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)
            .map_err(|e| RepoError::Invalid(format!("seed config {source}: {e}")))?;
        let mut ignored = Vec::new();
        let Some(top) = seed.as_mapping() else {
            return match seed {
                serde_yaml_ng::Value::Null => Ok((self, ignored)),
                _ => Err(RepoError::Invalid(format!(
                    "seed config {source}: expected a mapping of settings"
                ))),
            };
        };
        for (key, value) in top {
            let key = key.as_str().unwrap_or_default();
            let settings = value.as_mapping().into_iter().flatten();
            for (inner, v) in settings {
                let inner = inner.as_str().unwrap_or_default();
                if (key, inner) != ("registry", "db") {
                    ignored.push(format!("{key}.{inner}"));
                    continue;
                }
                let url = v.as_str().ok_or_else(|| {
                    RepoError::Invalid(format!("seed config {source}: registry.db is not a URL"))
                })?;
                let Some(rest) = url
                    .strip_prefix("postgresql")
                    .and_then(|r| r.split_once("://").map(|(_, rest)| rest))
                else {
                    if !url.starts_with("sqlite") {
                        return Err(RepoError::Invalid(format!(
                            "seed config {source}: registry.db {url:?} is neither PostgreSQL nor SQLite"
                        )));
                    }
                    ignored.push("registry.db (valet keeps SQLite in the repository)".into());
                    continue;
                };
                let url = format!("postgresql://{rest}");
                if self.db.as_ref().is_some_and(|db| *db != url) {
                    return Err(RepoError::Invalid(format!(
                        "seed config {source}: registry.db {url:?} contradicts --db"
                    )));
                }
                self.db = Some(url);
            }
            if value.as_mapping().is_none() {
                ignored.push(key.to_owned());
            }
        }
        Ok((self, ignored))
    }
}

/// A repository being created: the registry transaction that creates it, open for
/// the first contents (see `Repo::create_filled`).
pub(crate) struct Filling<'a> {
    /// The transaction.
    pub conn: &'a mut valet_registry::Conn,
    /// The universe the registry is being created with.
    pub universe: &'a Arc<Universe>,
    /// The repository root.
    pub root: &'a Path,
    /// Its configuration (not yet written).
    pub config: &'a RepoConfig,
}

/// An open repository: the one way in. Every read and write a user can ask for is a
/// method of it (or of a handle it returns), whatever the front end.
#[derive(Clone)]
pub struct Repo {
    /// The repository root.
    pub(crate) root: PathBuf,
    /// Its configuration.
    pub(crate) config: RepoConfig,
    /// Its registry.
    pub(crate) registry: Registry,
    /// The find-first resolver, with caches shared by every clone of this handle.
    pub(crate) resolver: Arc<Resolver>,
}

impl Repo {
    /// Create a new repository at `root`. Refuses if one is already there; on failure
    /// nothing is left behind.
    pub fn create(root: &Path, options: &CreateOptions) -> Result<Repo, RepoError> {
        let universe = match &options.dimension_config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(io_err(path))?;
                Universe::from_yaml(&text)
                    .map_err(|e| RepoError::Invalid(format!("{}: {e}", path.display())))?
            }
            None => Universe::default_universe(),
        };
        Repo::create_filled(root, options, universe, |_| Ok(()))
    }

    /// Create a new repository at `root` with `universe` (`options.dimension_config`
    /// is not read) and fill it with `fill` in the transaction that creates its
    /// registry: a failure anywhere leaves no repository behind, neither files nor
    /// tables.
    pub(crate) fn create_filled(
        root: &Path,
        options: &CreateOptions,
        universe: Universe,
        mut fill: impl FnMut(&mut Filling<'_>) -> Result<(), RepoError>,
    ) -> Result<Repo, RepoError> {
        if root.join(CONFIG_FILE).exists() {
            return Err(RepoError::Invalid(format!(
                "{} already holds a repository ({CONFIG_FILE} exists); refusing to overwrite it",
                root.display()
            )));
        }
        let created_dir = !root.exists();
        std::fs::create_dir_all(root).map_err(io_err(root))?;
        let config = RepoConfig {
            db: options
                .db
                .clone()
                .unwrap_or_else(|| format!("sqlite:{DEFAULT_SQLITE_FILE}")),
            datastore_root: ".".into(),
            universe: UniverseRef {
                namespace: universe.namespace.clone(),
                version: universe.version,
            },
            templates: Default::default(),
            identity: options.identity.clone(),
        };
        let sqlite_file = root.join(DEFAULT_SQLITE_FILE);
        let sqlite_existed = sqlite_file.exists();
        let result = Repo::check_identity(root, &config)
            .and_then(|()| {
                Registry::create_filled(&config.resolved_db_url(root), universe, |conn, u| {
                    fill(&mut Filling {
                        conn,
                        universe: u,
                        root,
                        config: &config,
                    })
                })
            })
            .and_then(|(registry, ())| {
                config.write(root)?;
                Ok(registry)
            });
        match result {
            Ok(registry) => Ok(Repo::assemble(root, config, registry)),
            Err(e) => {
                // Leave nothing half-made behind.
                if options.db.is_none() && !sqlite_existed {
                    for suffix in ["", "-wal", "-shm"] {
                        let _ = std::fs::remove_file(format!("{}{suffix}", sqlite_file.display()));
                    }
                }
                if created_dir {
                    let _ = std::fs::remove_dir_all(root);
                }
                Err(e)
            }
        }
    }

    /// Refuse an identity setting that cannot work here, and take the database's role
    /// as the acting user when asked to.
    fn check_identity(root: &Path, config: &RepoConfig) -> Result<(), RepoError> {
        if let Some(i) = &config.identity {
            let postgres = config.db.starts_with("postgres");
            if i != "login" && !(i == "database-role" && postgres) {
                return Err(RepoError::Invalid(format!(
                    "identity {i:?} is not supported here: use login, or database-role with PostgreSQL"
                )));
            }
        }
        if config.identity.as_deref() == Some("database-role") {
            adopt_database_role(&config.resolved_db_url(root))?;
        }
        Ok(())
    }

    /// Open the repository at `root`.
    pub fn open(root: &Path) -> Result<Repo, RepoError> {
        if !root.join(CONFIG_FILE).exists() {
            return Err(RepoError::Invalid(format!(
                "{} is not a valet repository (no {CONFIG_FILE})",
                root.display()
            )));
        }
        let config = RepoConfig::read(root)?;
        if let Some(file) = config.resolved_db_url(root).strip_prefix("sqlite:") {
            // Opening would create an empty database in its place.
            if !Path::new(file).exists() {
                return Err(RepoError::Invalid(format!(
                    "{}: the registry database {file} is missing (restore it; valet creates nothing here while {CONFIG_FILE} exists)",
                    root.display()
                )));
            }
        }
        if config.identity.as_deref() == Some("database-role") {
            adopt_database_role(&config.resolved_db_url(root))?;
        }
        let registry = Registry::open(&config.resolved_db_url(root))?;
        if registry.universe.namespace != config.universe.namespace
            || registry.universe.version != config.universe.version
        {
            return Err(RepoError::Invalid(format!(
                "{}: {CONFIG_FILE} names universe {} {} but the registry holds {} {}",
                root.display(),
                config.universe.namespace,
                config.universe.version,
                registry.universe.namespace,
                registry.universe.version
            )));
        }
        Ok(Repo::assemble(root, config, registry))
    }

    /// The handle over an open registry, with the observers that keep derived state
    /// current registered on its connection pool: from here on every write through
    /// it, whatever its front end, keeps them current.
    fn assemble(root: &Path, config: RepoConfig, registry: Registry) -> Repo {
        registry
            .db
            .add_observer(Arc::new(valet_obscore::observer::ObsCoreObserver::new(
                registry.universe.clone(),
            )));
        Repo {
            root: root.to_owned(),
            config,
            registry,
            resolver: Arc::new(Resolver::new()),
        }
    }
}

impl Repo {
    /// The repository root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Its configuration (`valet.yaml`).
    pub fn config(&self) -> &RepoConfig {
        &self.config
    }

    /// Its registry: the connection pool and the universe, for work below this API.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The find-first resolver, with caches shared by every clone of this handle.
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    /// The dimension universe the registry holds.
    pub fn universe(&self) -> &Universe {
        &self.registry.universe
    }

    /// The database the registry is kept in.
    pub fn backend(&self) -> Backend {
        self.registry.db.backend()
    }
}

impl Repo {
    /// Read export files and import them in one transaction (see
    /// [`crate::transfers::import_export`]).
    pub fn import_files(
        &self,
        paths: &[PathBuf],
        options: &crate::transfers::ImportOptions,
    ) -> Result<crate::transfers::ImportSummary, RepoError> {
        let mut files = Vec::with_capacity(paths.len());
        for p in paths {
            let text = std::fs::read_to_string(p).map_err(io_err(p))?;
            let source = p.display().to_string();
            files.push((crate::transfers::read_export(&text, &source)?, source));
        }
        crate::transfers::import_export(self, &files, options)
    }

    /// Import one export file's text in one transaction, as [`Repo::import_files`]
    /// does; `source` names it in messages.
    pub fn import_text(
        &self,
        text: &str,
        source: &str,
        options: &crate::transfers::ImportOptions,
    ) -> Result<crate::transfers::ImportSummary, RepoError> {
        let files = [(
            crate::transfers::read_export(text, source)?,
            source.to_owned(),
        )];
        crate::transfers::import_export(self, &files, options)
    }

    /// `valet import REPO DIRECTORY --export-file PATTERN…`: the export files the
    /// names and globs select under `directory` (see
    /// [`crate::transfers::select_export_files`]; none: `export.yaml`), imported
    /// together in one transaction as [`Repo::import_files`] does, with relative file
    /// paths read from `directory`.
    pub fn import_directory(
        &self,
        directory: &Path,
        patterns: &[String],
        options: &crate::transfers::ImportOptions,
    ) -> Result<crate::transfers::ImportSummary, RepoError> {
        let paths = crate::transfers::select_export_files(directory, patterns)?;
        let options = crate::transfers::ImportOptions {
            directory: Some(directory.to_path_buf()),
            ..options.clone()
        };
        self.import_files(&paths, &options)
    }
}

impl Repo {
    /// Make `user` an admin (admins only, except for the first).
    pub fn add_admin(&self, user: &str) -> Result<(), RepoError> {
        Ok(self
            .registry
            .transaction(|c, _| valet_registry::access::add_admin(c, user))?)
    }

    /// Remove an admin (admins only; never the last one).
    pub fn remove_admin(&self, user: &str) -> Result<(), RepoError> {
        Ok(self
            .registry
            .transaction(|c, _| valet_registry::access::remove_admin(c, user))?)
    }

    /// The admins, by name.
    pub fn admins(&self) -> Result<Vec<String>, RepoError> {
        let mut conn = self.registry.db.conn()?;
        Ok(valet_registry::access::admins(&mut conn)?)
    }

    /// Refuse unless the acting user is an admin; `what` names the operation.
    pub fn require_admin(&self, what: &str) -> Result<(), RepoError> {
        let mut conn = self.registry.db.conn()?;
        Ok(valet_registry::access::check_admin(&mut conn, what)?)
    }
}
