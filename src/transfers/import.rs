//! Importing export files into a repository, all in one transaction: a failed import
//! leaves the repository exactly as it was.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use uuid::Uuid;
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
    CollectionType, Conn, IdGenerationMode, NewDataset, Record, RegistryError, Timespan, Value,
};

use super::model::{Association, CollectionEntry, DatasetFile, Entry, ExportFile};
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
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// Apply every file inside the caller's transaction, each step across all of them
/// (so that what one file needs may come from any other): dataset types,
/// collections, dimension records, datasets with their files, then memberships.
#[allow(clippy::too_many_arguments)]
fn import_all(
    conn: &mut Conn,
    files: &[FileContext<'_>],
    plan: &Plan,
    options: &ImportOptions,
    transfers: &[Option<FileImport<'_>>],
    log: &mut WriteLog,
    progress: &mut Progress,
    summary: &mut ImportSummary,
) -> Result<(), RepoError> {
    register_types(conn, files, summary)?;
    register_collections(conn, files, summary)?;
    insert_dimension_records(conn, files, options, progress, summary)?;
    for (index, (cx, transfer)) in files.iter().zip(transfers).enumerate() {
        insert_file_datasets(
            conn,
            cx,
            index,
            plan,
            transfer.as_ref(),
            log,
            progress,
            summary,
        )?;
    }
    insert_memberships(conn, files, summary)
}

/// Step 1: dataset types.
fn register_types(
    conn: &mut Conn,
    files: &[FileContext<'_>],
    summary: &mut ImportSummary,
) -> Result<(), RepoError> {
    let mut type_names: HashSet<&str> = HashSet::new();
    for cx in files {
        for (line, e) in &cx.file.entries {
            if let Entry::DatasetType {
                name,
                dimensions,
                storage_class,
                is_calibration,
            } = e
            {
                if !type_names.insert(name.as_str()) {
                    // Defined again (the plan checked that both agree).
                    continue;
                }
                register_dataset_type(
                    conn,
                    cx.universe,
                    name,
                    storage_class,
                    dimensions,
                    *is_calibration,
                )
                .map_err(|x| at(&cx.origin(*line, e), x))?;
            }
        }
    }
    summary.dataset_types += type_names.len();
    Ok(())
}

/// Steps 2 and 3: RUN, TAGGED and CALIBRATION collections of every file, then chains,
/// each after its children wherever they are defined (the files list them in that
/// order, but older ones, and sets of files, may not).
fn register_collections(
    conn: &mut Conn,
    files: &[FileContext<'_>],
    summary: &mut ImportSummary,
) -> Result<(), RepoError> {
    let mut names: HashSet<&str> = HashSet::new();
    let mut chains: Vec<(&FileContext<'_>, usize, &Entry, &CollectionEntry)> = Vec::new();
    for cx in files {
        for (line, e) in &cx.file.entries {
            let Entry::Collection(c) = e else { continue };
            let first = names.insert(c.name.as_str());
            if c.kind != CollectionType::Chained {
                if first {
                    register(conn, c).map_err(|x| at(&cx.origin(*line, e), x))?;
                }
                continue;
            }
            // A chain defined twice is defined once, if both say the same.
            match chains.iter().find(|(_, _, _, other)| other.name == c.name) {
                Some((_, _, _, other)) if other.children == c.children => {}
                Some((other, _, _, _)) if other.source == cx.source => {
                    return Err(at(
                        &cx.origin(*line, e),
                        "this file defines the chain more than once, with different children",
                    ));
                }
                Some((ocx, oline, _, _)) => {
                    return Err(at(
                        &cx.origin(*line, e),
                        format!(
                            "{}:{oline} defines the chain with different children",
                            ocx.source
                        ),
                    ))
                }
                None => chains.push((cx, *line, e, c)),
            }
        }
    }
    summary.collections += names.len();
    let defined: HashSet<&str> = chains.iter().map(|(_, _, _, c)| c.name.as_str()).collect();
    let mut done: HashSet<&str> = HashSet::new();
    while done.len() < chains.len() {
        let before = done.len();
        for (cx, line, e, c) in &chains {
            if done.contains(c.name.as_str()) {
                continue;
            }
            let ready = c
                .children
                .iter()
                .all(|k| !defined.contains(k.as_str()) || done.contains(k.as_str()));
            if ready {
                register(conn, c).map_err(|x| at(&cx.origin(*line, e), x))?;
                done.insert(c.name.as_str());
            }
        }
        if done.len() == before {
            if let Some((cx, line, e, _)) = chains
                .iter()
                .find(|(_, _, _, c)| !done.contains(c.name.as_str()))
            {
                return Err(at(&cx.origin(*line, e), "these chains form a cycle"));
            }
            break;
        }
    }
    Ok(())
}

/// Step 4: dimension records of every file, in universe order so references come
/// first (records another file needs included).
fn insert_dimension_records(
    conn: &mut Conn,
    files: &[FileContext<'_>],
    options: &ImportOptions,
    progress: &mut Progress,
    summary: &mut ImportSummary,
) -> Result<(), RepoError> {
    // (universe order, file, line, entry) of every file's dimension records.
    let mut dims: Vec<(usize, &FileContext<'_>, usize, &Entry)> = files
        .iter()
        .flat_map(|cx| {
            cx.file.entries.iter().filter_map(move |(line, e)| match e {
                Entry::Dimension { element, .. } => {
                    let order = cx
                        .universe
                        .element(element)
                        .map(|x| x.index)
                        .unwrap_or(usize::MAX);
                    Some((order, cx, *line, e))
                }
                _ => None,
            })
        })
        .collect();
    // Stable: files keep their order within an element.
    dims.sort_by_key(|d| d.0);
    for (_, cx, line, e) in dims {
        let Entry::Dimension { element, records } = e else {
            continue;
        };
        let universe = cx.universe;
        let older = cx.file.universe_version < universe.version;
        if options.skip_dimensions.iter().any(|s| s == element) {
            continue;
        }
        let o = cx.origin(line, e);
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

/// Step 5: datasets, ids preserved, and their files; a dataset an earlier file
/// already brought (the same id, type, RUN and data ID) is left out.
#[allow(clippy::too_many_arguments)]
fn insert_file_datasets(
    conn: &mut Conn,
    cx: &FileContext<'_>,
    file_index: usize,
    plan: &Plan,
    transfer: Option<&FileImport<'_>>,
    log: &mut WriteLog,
    progress: &mut Progress,
    summary: &mut ImportSummary,
) -> Result<(), RepoError> {
    let (universe, file) = (cx.universe, cx.file);
    let origin = |line, e| cx.origin(line, e);
    let mut cache: Option<RecordCache> = None;
    for (entry_index, (line, e)) in file.entries.iter().enumerate() {
        if let Entry::Datasets {
            dataset_type,
            run,
            files,
        } = e
        {
            let o = origin(*line, e);
            // Counted as listed, the datasets left out included, as the total is.
            let listed: u64 = files.iter().map(|f| f.ids.len() as u64).sum();
            let here = (file_index, entry_index);
            let mine = |id: &Uuid| plan.first_of(id).is_none_or(|first| first == here);
            let files: Vec<&DatasetFile> =
                files.iter().filter(|f| f.ids.iter().any(mine)).collect();
            let t = get_dataset_type(conn, dataset_type).map_err(|x| at(&o, x))?;
            let items: Vec<NewDataset> = files
                .iter()
                .flat_map(|f| {
                    f.ids
                        .iter()
                        .zip(f.data_ids.iter())
                        .filter(|(id, _)| mine(id))
                        .map(|(id, d)| NewDataset {
                            id: Some(*id),
                            data_id: d.clone(),
                        })
                })
                .collect();
            let refs = insert_datasets(conn, universe, &t, run, &items, IdGenerationMode::Unique)
                .map_err(|x| at(&o, x))?;
            summary.datasets += refs.len();
            progress.advance(listed);
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

/// Steps 6 and 7: TAGGED memberships of every file, then validity ranges; a
/// membership or range that an earlier file already gave is given once.
fn insert_memberships(
    conn: &mut Conn,
    files: &[FileContext<'_>],
    summary: &mut ImportSummary,
) -> Result<(), RepoError> {
    let several = files.len() > 1;
    let mut tagged: HashSet<(&str, Uuid)> = HashSet::new();
    for cx in files {
        for (line, e) in &cx.file.entries {
            if let Entry::Associations {
                collection,
                association: Association::Tagged(ids),
            } = e
            {
                let ids: Vec<Uuid> = if several {
                    ids.iter()
                        .copied()
                        .filter(|id| tagged.insert((collection.as_str(), *id)))
                        .collect()
                } else {
                    ids.clone()
                };
                if ids.is_empty() {
                    continue;
                }
                summary.associations += associate(conn, cx.universe, collection, &ids)
                    .map_err(|x| at(&cx.origin(*line, e), x))?;
            }
        }
    }
    let mut certified: HashSet<(&str, Timespan, Uuid)> = HashSet::new();
    for cx in files {
        for (line, e) in &cx.file.entries {
            if let Entry::Associations {
                collection,
                association: Association::Calibration(ranges),
            } = e
            {
                for (timespan, ids) in ranges {
                    let ids: Vec<Uuid> = if several {
                        ids.iter()
                            .copied()
                            .filter(|id| certified.insert((collection.as_str(), *timespan, *id)))
                            .collect()
                    } else {
                        ids.clone()
                    };
                    if ids.is_empty() {
                        continue;
                    }
                    summary.validity_ranges +=
                        certify(conn, cx.universe, collection, &ids, *timespan)
                            .map_err(|x| at(&cx.origin(*line, e), x))?;
                }
            }
        }
    }
    Ok(())
}

/// What several files say together, checked before anything is written: a dataset
/// type or collection two files both define must be defined alike, and a dataset two
/// files both list (as per-type exports of one repository do with shared
/// calibrations) must be the same dataset; it is then imported once, from the first.
#[derive(Default)]
struct Plan {
    /// Where each dataset id is first listed: (file, entry, file of the entry,
    /// position in it). Empty for a single file, which is imported as written.
    first: HashMap<Uuid, (usize, usize, usize, usize)>,
}

impl Plan {
    /// The (file, entry) that first lists a dataset id, when files are several.
    fn first_of(&self, id: &Uuid) -> Option<(usize, usize)> {
        self.first.get(id).map(|&(f, e, _, _)| (f, e))
    }

    /// Check the files against each other and note where each dataset is first.
    fn of(files: &[(ExportFile, String)]) -> Result<Plan, RepoError> {
        let mut plan = Plan::default();
        if files.len() < 2 {
            return Ok(plan);
        }
        let here = |f: usize, line: usize| format!("{}:{line}", files[f].1);
        let mut types: HashMap<&str, (usize, usize, &Entry)> = HashMap::new();
        let mut collections: HashMap<&str, (usize, usize, CollectionType)> = HashMap::new();
        for (fi, (file, _)) in files.iter().enumerate() {
            for (ei, (line, e)) in file.entries.iter().enumerate() {
                let fail = |msg: String| {
                    RepoError::Invalid(format!("{}: {}: {msg}", here(fi, *line), e.describe()))
                };
                match e {
                    Entry::DatasetType { name, .. } => match types.get(name.as_str()) {
                        Some((of, ol, other)) if !same_type(other, e) => {
                            return Err(fail(format!("defined differently at {}", here(*of, *ol))))
                        }
                        Some(_) => {}
                        None => {
                            types.insert(name, (fi, *line, e));
                        }
                    },
                    Entry::Collection(c) => match collections.get(c.name.as_str()) {
                        Some((of, ol, kind)) if *kind != c.kind => {
                            return Err(fail(format!(
                                "defined as {} here but as {kind} at {}",
                                c.kind,
                                here(*of, *ol)
                            )))
                        }
                        Some(_) => {}
                        None => {
                            collections.insert(&c.name, (fi, *line, c.kind));
                        }
                    },
                    Entry::Datasets {
                        dataset_type,
                        run,
                        files: held,
                    } => {
                        for (di, f) in held.iter().enumerate() {
                            for (pos, id) in f.ids.iter().enumerate() {
                                let Some(&(of, oe, odi, opos)) = plan.first.get(id) else {
                                    plan.first.insert(*id, (fi, ei, di, pos));
                                    continue;
                                };
                                let (oline, other) = &files[of].0.entries[oe];
                                let Entry::Datasets {
                                    dataset_type: otype,
                                    run: orun,
                                    files: oheld,
                                } = other
                                else {
                                    continue;
                                };
                                let ofile = &oheld[odi];
                                let where_else = here(of, *oline);
                                if orun != run {
                                    return Err(fail(format!(
                                        "dataset {id} is also in run {orun:?} at {where_else}"
                                    )));
                                }
                                if otype != dataset_type
                                    || ofile.data_ids.get(opos) != f.data_ids.get(pos)
                                    || ofile.path != f.path
                                {
                                    return Err(fail(format!(
                                        "dataset {id} is listed differently at {where_else}"
                                    )));
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(plan)
    }
}

/// True if two dataset type definitions agree (dimensions in any order).
fn same_type(a: &Entry, b: &Entry) -> bool {
    let parts = |e: &Entry| match e {
        Entry::DatasetType {
            dimensions,
            storage_class,
            is_calibration,
            ..
        } => {
            let mut d = dimensions.clone();
            d.sort();
            Some((d, storage_class.clone(), *is_calibration))
        }
        _ => None,
    };
    parts(a) == parts(b)
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
    let plan = Plan::of(files)?;
    let contexts: Vec<FileContext<'_>> = files
        .iter()
        .map(|(file, source)| FileContext {
            universe: &universe,
            file,
            source,
        })
        .collect();
    let transfers: Vec<Option<FileImport<'_>>> = files
        .iter()
        .map(|(_, source)| match (&store, options.transfer) {
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
        })
        .collect();
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
        import_all(
            conn,
            &contexts,
            &plan,
            options,
            &transfers,
            &mut log,
            &mut progress,
            &mut summary,
        )?;
        Ok(summary)
    });
    // When the registry rolled back, the files go back too.
    crate::datastore::finish_write(repo, log, result.is_err());
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
