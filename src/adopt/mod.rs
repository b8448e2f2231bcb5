//! Adopting an existing Butler repository: its registry's tables read directly
//! (SQLite or PostgreSQL, read-only) into a new valet repository, in the one
//! transaction that creates it. The files stay where they are (`direct`, the default)
//! or are transferred as an import transfers them.
//!
//! `butler_config` reads `butler.yaml`; `source` opens the registry read-only and
//! streams rows; `versions` refuses manager versions valet does not read; `catalog`
//! reads the small tables and applies `-c`/`-d`; `write` fills the new repository.

mod butler_config;
mod catalog;
mod source;
mod versions;
mod write;

use std::path::Path;

pub use butler_config::{ButlerConfig, SourceDb};

use crate::datastore::WriteLog;
use crate::transfers::export::name_patterns;
use crate::transfers::import::{Progress, ProgressFn};
use crate::transfers::ImportSummary;
use crate::{CreateOptions, Repo, RepoError, TransferMode};
use catalog::{sql_list, Catalog};
use source::{literal, Source};
use write::{Fill, Plan, WHOLE};

/// Options for [`Repo::adopt`].
#[derive(Clone)]
pub struct AdoptOptions {
    /// The new repository's registry database; `None` puts SQLite inside it.
    pub db: Option<String>,
    /// How files come in: `Direct` (the default) records the reference's files where
    /// they are; the others transfer them as an import does (`Move` is refused: the
    /// source is never written).
    pub transfer: TransferMode,
    /// Collections (names or globs) to adopt, with everything their chains reach and
    /// the RUNs of the datasets their TAGGED and CALIBRATION collections hold; empty
    /// adopts every collection.
    pub collections: Vec<String>,
    /// Dataset types (names or globs) to adopt; empty adopts every type.
    pub dataset_types: Vec<String>,
    /// Progress reports (dimension records and datasets written, of the total).
    pub progress: Option<ProgressFn>,
}

impl Default for AdoptOptions {
    fn default() -> AdoptOptions {
        AdoptOptions {
            db: None,
            transfer: TransferMode::Direct,
            collections: Vec::new(),
            dataset_types: Vec::new(),
            progress: None,
        }
    }
}

impl std::fmt::Debug for AdoptOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdoptOptions")
            .field("db", &self.db.as_deref().map(source::redact))
            .field("transfer", &self.transfer)
            .field("collections", &self.collections)
            .field("dataset_types", &self.dataset_types)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl Repo {
    /// Create a valet repository at `dest` from the Butler repository at `butler`
    /// (its directory or its `butler.yaml`): universe, dimension records, dataset
    /// types, collections, datasets with their ids, memberships, validity ranges and
    /// file records. The source is only read; a failure leaves no repository.
    pub fn adopt(
        dest: &Path,
        butler: &Path,
        options: &AdoptOptions,
    ) -> Result<(Repo, ImportSummary), RepoError> {
        if options.transfer == TransferMode::Move {
            return Err(RepoError::Invalid(
                "adopt never moves the Butler repository's files: use direct, copy or a link"
                    .into(),
            ));
        }
        let config = ButlerConfig::read(butler)?;
        let mut source = match &config.db {
            SourceDb::Sqlite(path) => Source::sqlite(path)?,
            SourceDb::Postgres { url, namespace } => Source::postgres(url, namespace.clone())?,
        };
        versions::check(&mut source)?;
        let universe_text = versions::stored_universe(&mut source)?;
        let universe = valet_config::Universe::from_yaml(&universe_text).map_err(|e| {
            RepoError::Invalid(format!(
                "the Butler registry's dimension configuration: {e}"
            ))
        })?;
        let catalog = Catalog::read(&mut source)?;
        let plan = plan(&mut source, &catalog, &config, options)?;
        let total = count(&mut source, &universe, &plan)?;

        let mut progress = Progress {
            report: options.progress.clone(),
            done: 0,
            total,
        };
        let mut log: Option<WriteLog> = None;
        let mut summary = ImportSummary::default();
        let create = CreateOptions {
            db: options.db.clone(),
            ..Default::default()
        };
        let repo = Repo::create_filled(dest, &create, universe, |f| {
            let log = match &mut log {
                Some(log) => {
                    // A retried transaction: take back what the last attempt stored.
                    log.undo();
                    log
                }
                None => log.insert(match plan.transfer {
                    TransferMode::Direct => WriteLog::default(),
                    _ => {
                        let store = crate::datastore::Datastore::new(
                            f.config.datastore_path(f.root),
                            &f.config.templates,
                        )?;
                        WriteLog::begin(Some(&store), None)?
                    }
                }),
            };
            progress.done = 0;
            let result = Fill {
                source: &mut source,
                catalog: &catalog,
                plan: &plan,
                log,
                progress: &mut progress,
            }
            .run(f);
            match result {
                Ok(s) => {
                    summary = s;
                    Ok(())
                }
                Err(e) => {
                    // Files go before the directory holding them is removed.
                    log.undo();
                    Err(e)
                }
            }
        });
        if let Some(log) = log {
            log.end(repo.is_err());
        }
        Ok((repo?, summary))
    }
}

/// Decide what to adopt from the options, refusing what cannot be adopted before
/// anything is created.
fn plan(
    source: &mut Source,
    catalog: &Catalog,
    config: &ButlerConfig,
    options: &AdoptOptions,
) -> Result<Plan, RepoError> {
    let collection_patterns = name_patterns(&options.collections)?;
    let collections = catalog.select_collections(&options.collections, &collection_patterns)?;
    let type_patterns = name_patterns(&options.dataset_types)?;
    let types = catalog.select_types(&type_patterns);
    for (p, re) in options.dataset_types.iter().zip(&type_patterns) {
        if !valet_registry::glob::is_glob(p) && !types.iter().any(|t| re.is_match(&t.name)) {
            return Err(RepoError::Invalid(format!(
                "the Butler repository has no dataset type {p:?}"
            )));
        }
    }
    let records_table = if source.has_table(&config.records_table)? {
        Some(config.records_table.clone())
    } else {
        None
    };
    if let Some(table) = &records_table {
        let ids: Vec<i64> = types.iter().map(|t| t.id).collect();
        let sql = format!(
            "SELECT r.dataset_id, r.component FROM {} r JOIN {} d ON d.id = r.dataset_id WHERE r.component <> {} AND d.dataset_type_id IN {} LIMIT 1",
            source.table(table),
            source.table("dataset"),
            literal(WHOLE),
            sql_list(&ids)
        );
        if let Some(r) = source.all(&sql)?.into_iter().next() {
            return Err(RepoError::Invalid(format!(
                "dataset {} is stored disassembled (component {}); valet keeps one file per dataset, so leave its type out with -d",
                r[0], r[1]
            )));
        }
    }
    Ok(Plan {
        types,
        collections,
        everything: options.collections.is_empty(),
        records_table,
        datastore_root: config.datastore_root.clone(),
        transfer: options.transfer,
    })
}

/// Items to write (dimension records and datasets), for the progress total.
fn count(
    source: &mut Source,
    universe: &valet_config::Universe,
    plan: &Plan,
) -> Result<u64, RepoError> {
    let mut total = 0;
    let mut add = |source: &mut Source, sql: String| -> Result<(), RepoError> {
        if let Some(n) = source.all(&sql)?.first().and_then(|r| r[0].as_i64()) {
            total += n.max(0) as u64;
        }
        Ok(())
    };
    for e in universe.elements.iter().filter(|e| e.has_table()) {
        if source.has_table(&e.name)? {
            add(
                source,
                format!("SELECT count(*) FROM {}", source.table(&e.name)),
            )?;
        }
    }
    let ids: Vec<i64> = plan.types.iter().map(|t| t.id).collect();
    add(
        source,
        format!(
            "SELECT count(*) FROM {} WHERE dataset_type_id IN {}",
            source.table("dataset"),
            sql_list(&ids)
        ),
    )?;
    Ok(total)
}
