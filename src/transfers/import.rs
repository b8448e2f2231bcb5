//! Importing export files into a repository, all in one transaction: a failed import
//! leaves the repository exactly as it was.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use valet_collections::calibration::certify;
use valet_collections::chains::{collection_chain, ChainMode};
use valet_collections::tagged::associate;
use valet_config::{ColumnType, Universe};
use valet_datastore::{SourceRule, TransferMode};
use valet_registry::artifacts::insert_artifacts;
use valet_registry::collections::register_collection;
use valet_registry::dataset_types::{get_dataset_type, register_dataset_type};
use valet_registry::datasets::insert_datasets;
use valet_registry::dimensions::insert_records;
use valet_registry::races::lock_collection_structure;
use valet_registry::{
    CollectionType, Conn, IdGenerationMode, NewDataset, Record, RegistryError, Value,
};

use super::model::{Association, CollectionEntry, Entry, ExportFile};
use crate::datastore::{Datastore, WriteLog};
use crate::expand::RecordCache;
use crate::{Repo, RepoError};

/// Called as an import advances: (items done, items in all the files), where items
/// are dimension records and datasets.
pub type ProgressFn = std::sync::Arc<dyn Fn(u64, u64) + Send + Sync>;

/// Options for an import.
#[derive(Clone, Default)]
pub struct ImportOptions {
    /// Dimension elements whose records are not imported.
    pub skip_dimensions: Vec<String>,
    /// How files come into the datastore; `None` records datasets only.
    pub transfer: Option<TransferMode>,
    /// Where relative file paths are found (default: each export file's directory).
    pub directory: Option<PathBuf>,
    /// Progress reports, for a progress bar.
    pub progress: Option<ProgressFn>,
    /// Read files the export lists outside `directory` (absolute paths, symlinks
    /// leading out); by default they are refused, except with `direct` transfers,
    /// which copy nothing.
    pub allow_outside: bool,
}

impl std::fmt::Debug for ImportOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportOptions")
            .field("skip_dimensions", &self.skip_dimensions)
            .field("transfer", &self.transfer)
            .field("directory", &self.directory)
            .field("progress", &self.progress.is_some())
            .field("allow_outside", &self.allow_outside)
            .finish()
    }
}

/// Items (dimension records and datasets) in export files, for progress totals.
fn count_items(files: &[(ExportFile, String)]) -> u64 {
    files
        .iter()
        .flat_map(|(f, _)| f.entries.iter())
        .map(|(_, e)| match e {
            Entry::Dimension { records, .. } => records.len() as u64,
            Entry::Datasets { files, .. } => files.iter().map(|f| f.ids.len() as u64).sum(),
            _ => 0,
        })
        .sum()
}

/// Counts items done and reports them.
pub(crate) struct Progress {
    pub(crate) report: Option<ProgressFn>,
    pub(crate) done: u64,
    pub(crate) total: u64,
}

impl Progress {
    /// Count `n` more items done and report.
    pub(crate) fn advance(&mut self, n: u64) {
        self.done += n;
        if let Some(f) = &self.report {
            f(self.done, self.total);
        }
    }
}

/// Where files go and how.
struct FileImport<'a> {
    store: &'a Datastore,
    mode: TransferMode,
    base: PathBuf,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Dimension records inserted (existing ones are skipped).
    pub dimension_records: u64,
    /// Distinct dataset types in the files.
    pub dataset_types: usize,
    /// Collections in the files.
    pub collections: usize,
    /// Datasets inserted.
    pub datasets: usize,
    /// TAGGED memberships added.
    pub associations: usize,
    /// Validity ranges certified.
    pub validity_ranges: usize,
    /// Record fields dropped because the universe no longer has them.
    pub dropped_fields: usize,
    /// Files transferred into the datastore.
    pub files: usize,
}

/// Where an entry came from, for error messages.
struct Origin<'a> {
    source: &'a str,
    line: usize,
    what: String,
}

fn at(origin: &Origin<'_>, e: impl std::fmt::Display) -> RepoError {
    RepoError::Invalid(format!(
        "{}:{}: {}: {e}",
        origin.source, origin.line, origin.what
    ))
}

/// Records from universes before `group` and `day_obs` were dimensions (the
/// reference's version 7 and older) carry `group_name` and an integer `day_obs` on
/// exposures. Point the exposures at those and return the `day_obs` and `group`
/// records to insert first, as the reference's migration does.
fn migrate_exposures(
    universe: &Universe,
    records: &mut [Record],
) -> Vec<(&'static str, Vec<Record>)> {
    if universe.element("group").is_none() || universe.element("day_obs").is_none() {
        return vec![];
    }
    let mut days = BTreeMap::new();
    let mut groups = BTreeMap::new();
    for r in records.iter_mut() {
        let Some(instrument) = r.get("instrument").cloned() else {
            continue;
        };
        if !r.contains_key("group") {
            if let Some(name) = r.get("group_name").cloned() {
                r.insert("group".into(), name);
            }
        }
        if let Some(g) = r.get("group").filter(|v| !v.is_null()) {
            let key = format!("{instrument}\u{1f}{g}");
            groups.entry(key).or_insert_with(|| {
                Record::from([
                    ("instrument".to_owned(), instrument.clone()),
                    ("name".to_owned(), g.clone()),
                ])
            });
        }
        if let Some(d) = r.get("day_obs").filter(|v| !v.is_null()) {
            let key = format!("{instrument}\u{1f}{d}");
            days.entry(key).or_insert_with(|| {
                Record::from([
                    ("instrument".to_owned(), instrument.clone()),
                    ("id".to_owned(), d.clone()),
                ])
            });
        }
    }
    vec![
        ("day_obs", days.into_values().collect()),
        ("group", groups.into_values().collect()),
    ]
}

/// Prepare records for this universe: decode `!!binary` hashes (read as base64 text)
/// and, for files written with an older universe, drop fields it no longer has.
fn adapt_records(
    universe: &Universe,
    element: &str,
    records: &[Record],
    older_universe: bool,
    dropped: &mut usize,
) -> Result<Vec<Record>, String> {
    let e = universe.get(element).map_err(|e| e.to_string())?;
    let columns: HashSet<String> = valet_registry::schema::element_columns(universe, e)
        .map_err(|e| e.to_string())?
        .into_iter()
        .collect();
    let hashes: HashSet<&str> = e
        .keys
        .iter()
        .chain(e.metadata.iter())
        .filter(|c| matches!(c.ty, ColumnType::Hash(_)))
        .map(|c| c.name.as_str())
        .collect();
    records
        .iter()
        .map(|r| {
            let mut out = Record::new();
            for (k, v) in r {
                if older_universe && !columns.contains(k) {
                    *dropped += 1;
                    continue;
                }
                let v = match v {
                    Value::Text(s) if hashes.contains(k.as_str()) => {
                        // Block-style `!!binary |` text ends in a newline.
                        let compact: String = s.split_whitespace().collect();
                        Value::Bytes(
                            base64::engine::general_purpose::STANDARD
                                .decode(compact)
                                .map_err(|_| format!("field {k:?} is not base64 binary"))?,
                        )
                    }
                    _ => v.clone(),
                };
                out.insert(k.clone(), v);
            }
            Ok(out)
        })
        .collect()
}

fn register(conn: &mut Conn, c: &CollectionEntry) -> Result<(), RegistryError> {
    if c.kind == CollectionType::Chained {
        collection_chain(
            conn,
            &c.name,
            ChainMode::Redefine,
            &c.children,
            false,
            c.doc.as_deref(),
        )?;
    } else {
        register_collection(conn, &c.name, c.kind, c.doc.as_deref())?;
    }
    Ok(())
}

/// One export file being applied, and where its entries come from (for messages).
struct FileContext<'a> {
    universe: &'a Arc<Universe>,
    file: &'a ExportFile,
    source: &'a str,
}

impl<'a> FileContext<'a> {
    fn origin(&self, line: usize, e: &'a Entry) -> Origin<'a> {
        Origin {
            source: self.source,
            line,
            what: e.describe(),
        }
    }
}

/// Apply one export file inside the caller's transaction, in the order references
/// need: dataset types, collections, dimension records, datasets with their files,
/// then memberships.
#[allow(clippy::too_many_arguments)]
fn import_file(
    conn: &mut Conn,
    universe: &Arc<Universe>,
    file: &ExportFile,
    source: &str,
    options: &ImportOptions,
    transfer: Option<&FileImport<'_>>,
    log: &mut WriteLog,
    progress: &mut Progress,
    summary: &mut ImportSummary,
) -> Result<(), RepoError> {
    let cx = FileContext {
        universe,
        file,
        source,
    };
    register_types(conn, &cx, summary)?;
    register_collections(conn, &cx, summary)?;
    insert_dimension_records(conn, &cx, options, progress, summary)?;
    insert_file_datasets(conn, &cx, transfer, log, progress, summary)?;
    insert_memberships(conn, &cx, summary)
}

/// Step 1: dataset types.
fn register_types(
    conn: &mut Conn,
    cx: &FileContext<'_>,
    summary: &mut ImportSummary,
) -> Result<(), RepoError> {
    let (universe, file) = (cx.universe, cx.file);
    let origin = |line, e| cx.origin(line, e);
    let mut type_names: HashSet<&str> = HashSet::new();
    for (line, e) in &file.entries {
        if let Entry::DatasetType {
            name,
            dimensions,
            storage_class,
            is_calibration,
        } = e
        {
            register_dataset_type(
                conn,
                universe,
                name,
                storage_class,
                dimensions,
                *is_calibration,
            )
            .map_err(|x| at(&origin(*line, e), x))?;
            type_names.insert(name.as_str());
        }
    }
    summary.dataset_types += type_names.len();
    Ok(())
}

/// Steps 2 and 3: RUN, TAGGED and CALIBRATION collections, then chains, each after
/// its children (the files list them in that order, but older ones may not).
fn register_collections(
    conn: &mut Conn,
    cx: &FileContext<'_>,
    summary: &mut ImportSummary,
) -> Result<(), RepoError> {
    let file = cx.file;
    let origin = |line, e| cx.origin(line, e);
    let mut chains: Vec<(usize, &Entry, &CollectionEntry)> = Vec::new();
    for (line, e) in &file.entries {
        if let Entry::Collection(c) = e {
            summary.collections += 1;
            if c.kind != CollectionType::Chained {
                register(conn, c).map_err(|x| at(&origin(*line, e), x))?;
                continue;
            }
            // A chain defined twice is defined once, if both say the same.
            match chains.iter().find(|(_, _, other)| other.name == c.name) {
                Some((_, _, other)) if other.children == c.children => {}
                Some(_) => {
                    return Err(at(
                        &origin(*line, e),
                        "this file defines the chain more than once, with different children",
                    ))
                }
                None => chains.push((*line, e, c)),
            }
        }
    }
    let defined: HashSet<&str> = chains.iter().map(|(_, _, c)| c.name.as_str()).collect();
    let mut done: HashSet<&str> = HashSet::new();
    while done.len() < chains.len() {
        let before = done.len();
        for (line, e, c) in &chains {
            if done.contains(c.name.as_str()) {
                continue;
            }
            let ready = c
                .children
                .iter()
                .all(|k| !defined.contains(k.as_str()) || done.contains(k.as_str()));
            if ready {
                register(conn, c).map_err(|x| at(&origin(*line, e), x))?;
                done.insert(c.name.as_str());
            }
        }
        if done.len() == before {
            if let Some((line, e, _)) = chains
                .iter()
                .find(|(_, _, c)| !done.contains(c.name.as_str()))
            {
                return Err(at(&origin(*line, e), "chains in this file form a cycle"));
            }
            break;
        }
    }
    Ok(())
}

/// Step 4: dimension records, in universe order so references come first.
fn insert_dimension_records(
    conn: &mut Conn,
    cx: &FileContext<'_>,
    options: &ImportOptions,
    progress: &mut Progress,
    summary: &mut ImportSummary,
) -> Result<(), RepoError> {
    let (universe, file) = (cx.universe, cx.file);
    let origin = |line, e| cx.origin(line, e);
    let older = file.universe_version < universe.version;
    let mut dims: Vec<(usize, usize, &Entry, &String, &Vec<Record>)> = file
        .entries
        .iter()
        .filter_map(|(line, e)| match e {
            Entry::Dimension { element, records } => {
                let order = universe
                    .element(element)
                    .map(|x| x.index)
                    .unwrap_or(usize::MAX);
                Some((order, *line, e, element, records))
            }
            _ => None,
        })
        .collect();
    dims.sort_by_key(|d| d.0);
    for (_, line, e, element, records) in dims {
        if options.skip_dimensions.iter().any(|s| s == element) {
            continue;
        }
        let o = origin(line, e);
        let Some(el) = universe.element(element) else {
            if older {
                continue;
            }
            return Err(at(&o, format!("unknown dimension element {element:?}")));
        };
        if !el.has_table() {
            // Derived elements (band) have nothing to store.
            continue;
        }
        let mut records = records.clone();
        if older && element == "exposure" {
            for (prerequisite, extra) in migrate_exposures(universe, &mut records) {
                summary.dimension_records +=
                    insert_records(conn, universe, prerequisite, &extra, true)
                        .map_err(|x| at(&o, x))?;
            }
        }
        let records = adapt_records(
            universe,
            element,
            &records,
            older,
            &mut summary.dropped_fields,
        )
        .map_err(|x| at(&o, x))?;
        summary.dimension_records +=
            insert_records(conn, universe, element, &records, true).map_err(|x| at(&o, x))?;
        progress.advance(records.len() as u64);
    }
    Ok(())
}

/// Step 5: datasets, ids preserved, and their files.
fn insert_file_datasets(
    conn: &mut Conn,
    cx: &FileContext<'_>,
    transfer: Option<&FileImport<'_>>,
    log: &mut WriteLog,
    progress: &mut Progress,
    summary: &mut ImportSummary,
) -> Result<(), RepoError> {
    let (universe, file) = (cx.universe, cx.file);
    let origin = |line, e| cx.origin(line, e);
    let mut cache: Option<RecordCache> = None;
    for (line, e) in &file.entries {
        if let Entry::Datasets {
            dataset_type,
            run,
            files,
        } = e
        {
            let o = origin(*line, e);
            let t = get_dataset_type(conn, dataset_type).map_err(|x| at(&o, x))?;
            let items: Vec<NewDataset> = files
                .iter()
                .flat_map(|f| {
                    f.ids
                        .iter()
                        .zip(f.data_ids.iter())
                        .map(|(id, d)| NewDataset {
                            id: Some(*id),
                            data_id: d.clone(),
                        })
                })
                .collect();
            let refs = insert_datasets(conn, universe, &t, run, &items, IdGenerationMode::Unique)
                .map_err(|x| at(&o, x))?;
            summary.datasets += refs.len();
            progress.advance(items.len() as u64);
            if let Some(fi) = transfer {
                if cache.is_none() {
                    cache = Some(RecordCache::new(universe.clone()));
                }
                let cache = cache.as_mut().expect("set above");
                let dims: Vec<String> = t.dimensions.names().map(str::to_owned).collect();
                cache.load_for(conn, &dims).map_err(|x| at(&o, x))?;
                let mut artifacts = Vec::new();
                for f in files {
                    let (Some(path), Some(first)) = (&f.path, f.data_ids.first()) else {
                        continue;
                    };
                    let source = if Path::new(path).is_absolute() {
                        PathBuf::from(path)
                    } else {
                        valet_datastore::safe_relative_path(path)
                            .map(|p| fi.base.join(p))
                            .map_err(|x| at(&o, x))?
                    };
                    let expanded = cache
                        .expand(&t.dimensions.required, first)
                        .map_err(|x| at(&o, x))?;
                    artifacts.extend(
                        fi.store
                            .store_file(
                                universe,
                                &t,
                                run,
                                &f.ids,
                                &expanded,
                                &source,
                                fi.mode,
                                f.formatter.clone(),
                                log,
                            )
                            .map_err(|x| at(&o, x))?,
                    );
                    summary.files += 1;
                }
                insert_artifacts(conn, &artifacts).map_err(|x| at(&o, x))?;
            }
        }
    }
    Ok(())
}

/// Steps 6 and 7: TAGGED memberships, then validity ranges.
fn insert_memberships(
    conn: &mut Conn,
    cx: &FileContext<'_>,
    summary: &mut ImportSummary,
) -> Result<(), RepoError> {
    let (universe, file) = (cx.universe, cx.file);
    let origin = |line, e| cx.origin(line, e);
    for (line, e) in &file.entries {
        if let Entry::Associations {
            collection,
            association: Association::Tagged(ids),
        } = e
        {
            summary.associations +=
                associate(conn, universe, collection, ids).map_err(|x| at(&origin(*line, e), x))?;
        }
    }
    for (line, e) in &file.entries {
        if let Entry::Associations {
            collection,
            association: Association::Calibration(ranges),
        } = e
        {
            for (timespan, ids) in ranges {
                summary.validity_ranges += certify(conn, universe, collection, ids, *timespan)
                    .map_err(|x| at(&origin(*line, e), x))?;
            }
        }
    }
    Ok(())
}

/// Import export files (already read) into the repository in one transaction.
pub fn import_export(
    repo: &Repo,
    files: &[(ExportFile, String)],
    options: &ImportOptions,
) -> Result<ImportSummary, RepoError> {
    let universe = repo.registry.universe.clone();
    for (f, source) in files {
        if f.universe_namespace != universe.namespace {
            return Err(RepoError::Invalid(format!(
                "{source}: written with universe namespace {:?}, but the repository uses {:?}",
                f.universe_namespace, universe.namespace
            )));
        }
        if f.universe_version > universe.version {
            return Err(RepoError::Invalid(format!(
                "{source}: written with universe version {}, newer than the repository's {}",
                f.universe_version, universe.version
            )));
        }
    }
    let store = match options.transfer {
        Some(_) => Some(repo.datastore()?),
        None => None,
    };
    let sources = source_rule(files, options);
    let mut log = WriteLog::begin(store.as_ref(), sources.as_ref())?;
    let mut progress = Progress {
        report: options.progress.clone(),
        done: 0,
        total: count_items(files),
    };
    let has_chains = files.iter().any(|(f, _)| {
        f.entries
            .iter()
            .any(|(_, e)| matches!(e, Entry::Collection(c) if c.kind == CollectionType::Chained))
    });
    let result = repo.registry.db.transaction(|conn| {
        // A transaction that lost a conflict runs again from here: first take back the
        // files the failed attempt stored, so they are neither stored twice (the
        // datastore refuses to overwrite) nor left behind, and count progress afresh.
        log.undo();
        progress.done = 0;
        if has_chains {
            // The chains would take this lock midway, while holding rows that a chain
            // edit or run removal holding it may be waiting for; taking it first rules
            // that deadlock out (see `lock_collection_structure`).
            lock_collection_structure(conn)?;
        }
        let mut summary = ImportSummary::default();
        for (f, source) in files {
            let transfer = match (&store, options.transfer) {
                (Some(store), Some(mode)) => Some(FileImport {
                    store,
                    mode,
                    base: options.directory.clone().unwrap_or_else(|| {
                        Path::new(source)
                            .parent()
                            .map(Path::to_path_buf)
                            .unwrap_or_default()
                    }),
                }),
                _ => None,
            };
            import_file(
                conn,
                &universe,
                f,
                source,
                options,
                transfer.as_ref(),
                &mut log,
                &mut progress,
                &mut summary,
            )?;
        }
        Ok(summary)
    });
    // When the registry rolled back, the files go back too.
    log.end(result.is_err());
    result
}

/// Where an import may read files: under its directory (or the first export file's),
/// unless the caller allows more or the transfer copies nothing.
fn source_rule(files: &[(ExportFile, String)], options: &ImportOptions) -> Option<SourceRule> {
    let copies = options.transfer.is_some_and(|m| m != TransferMode::Direct);
    if options.allow_outside || !copies {
        return None;
    }
    let base = options.directory.clone().or_else(|| {
        files
            .first()
            .and_then(|(_, source)| Path::new(source).parent().map(Path::to_path_buf))
    })?;
    Some(SourceRule {
        base: if base.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            base
        },
        allow_absolute: false,
    })
}
