//! Find-first resolution and dataset queries.
//!
//! A search path is flattened once (depth-first, first occurrence wins) and cached
//! with a rank per collection, keyed by the collection expression; a counter in the
//! database, advanced by every structural change, tells each process when its cache
//! is stale. Resolution then never loops over collections:
//!
//! - one data ID: one index probe of the tags table (every collection that holds the
//!   data ID comes back together) and, for calibrations at a time, one probe of the
//!   calibs table; the lowest rank wins;
//! - bulk: one scan of the type's rows in data-ID order, grouped on the fly, the lowest
//!   rank per group streamed out. Cost grows with the rows read, not with the chain.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use uuid::Uuid;
use valet_config::Universe;
use valet_registry::dataset_storage::{LookupSource, Scan};
use valet_registry::dataset_types::get_dataset_type;
use valet_registry::datasets::{standardize_data_id, DataId};
use valet_registry::db::{quote_ident as q, DbError, Value};
use valet_registry::expr::Literal;
use valet_registry::glob::is_glob;
use valet_registry::schema::read_generation;
use valet_registry::{
    CollectionRecord, CollectionType, Conn, DatasetRef, DatasetType, RegistryError, Result,
    Timespan,
};

use crate::calibration::describe_timespan;
use crate::chains::flatten;
use crate::query::{query_collections, CollectionQuery};
pub use crate::where_filter::{data_id_filter, dataset_filter, DatasetFilter, FilteredRows};

/// A flattened search path with each collection's rank.
#[derive(Debug, Clone)]
pub struct SearchPath {
    /// Non-chain collections in search order.
    pub collections: Vec<CollectionRecord>,
    /// Looked up for every row a scan reads: a fast hash, not a DoS-resistant one.
    rank: foldhash::HashMap<i64, usize>,
}

impl SearchPath {
    fn new(collections: Vec<CollectionRecord>) -> SearchPath {
        let rank = collections
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id, i))
            .collect();
        SearchPath { collections, rank }
    }

    /// The rank of a collection (0 is searched first), if it is in the path.
    pub fn rank(&self, collection_id: i64) -> Option<usize> {
        self.rank.get(&collection_id).copied()
    }
}

#[derive(Default)]
struct Cache {
    generation: Option<i64>,
    paths: HashMap<Vec<String>, Arc<SearchPath>>,
    types: HashMap<String, DatasetType>,
    run_names: HashMap<i64, String>,
}

/// Resolves datasets through collections, with caches that stay valid across calls.
#[derive(Default)]
pub struct Resolver {
    cache: Mutex<Cache>,
}

/// A single look-up (the reference's `find_dataset`).
#[derive(Debug, Clone)]
pub struct FindRequest<'a> {
    /// Dataset type name.
    pub dataset_type: &'a str,
    /// Data ID (required dimensions; implied ones are ignored).
    pub data_id: &'a DataId,
    /// Collection names, searched in order (chains expanded).
    pub collections: &'a [String],
    /// For calibrations: the time the validity range must overlap. Without it,
    /// CALIBRATION collections are skipped, as the reference does.
    pub timespan: Option<Timespan>,
    /// Resolve chains as they were at this time (UTC nanoseconds).
    pub as_of: Option<i64>,
}

/// A bulk dataset query (the reference's `query_datasets`).
#[derive(Debug, Clone, Default)]
pub struct DatasetQuery {
    /// Dataset type name.
    pub dataset_type: String,
    /// Collection names (globs allowed only without find-first).
    pub collections: Vec<String>,
    /// One dataset per data ID, from the first collection that has one.
    pub find_first: bool,
    /// A `--where` expression.
    pub where_: String,
    /// Values for bind names in `where_`.
    pub bind: BTreeMap<String, Literal>,
    /// For calibrations in find-first searches: the time ranges must overlap.
    pub timespan: Option<Timespan>,
    /// Resolve chains as they were at this time (UTC nanoseconds).
    pub as_of: Option<i64>,
}

/// One query result: the dataset and the collection it was found in.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Found {
    /// The dataset.
    pub dataset: DatasetRef,
    /// The collection it was found through.
    pub collection: String,
}

/// What a look-up from cached type and path found, unless the caches were stale.
enum Lookup {
    Done(Option<Found>),
    Stale,
}

/// One query result as the search holds it, borrowed: what [`Found`] owns, without a
/// map or a string made per row (for callers that stream many rows).
#[derive(Debug, Clone, Copy)]
pub struct FoundRow<'a> {
    /// The dataset's id.
    pub id: uuid::Uuid,
    /// Its dataset type's name.
    pub dataset_type: &'a str,
    /// Its RUN.
    pub run: &'a str,
    /// The collection it was found through.
    pub collection: &'a str,
    /// The dataset type's required dimensions.
    pub dimensions: &'a [String],
    /// Their values, in the same order.
    pub values: &'a [Value],
}

impl FoundRow<'_> {
    /// The owned result.
    pub fn to_found(&self) -> Found {
        Found {
            dataset: DatasetRef {
                id: self.id,
                dataset_type: self.dataset_type.to_owned(),
                run: self.run.to_owned(),
                data_id: self.data_id(),
            },
            collection: self.collection.to_owned(),
        }
    }

    /// Its data ID.
    pub fn data_id(&self) -> DataId {
        data_id_of(self.dimensions, self.values)
    }
}

fn mismatch() -> RegistryError {
    RegistryError::Schema("unexpected row shape from the registry".into())
}

impl Resolver {
    /// A resolver with empty caches.
    pub fn new() -> Resolver {
        Resolver::default()
    }

    /// Drop everything cached: what it was built from may have been rolled back, and
    /// the structure counter it is keyed by rolled back with it.
    pub fn forget(&self) {
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = Cache::default();
    }

    /// Lock the cache after making sure it matches the database's structure counter.
    fn synced(&self, conn: &mut Conn) -> Result<MutexGuard<'_, Cache>> {
        let generation = read_generation(conn)?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.generation != Some(generation) {
            *cache = Cache {
                generation: Some(generation),
                ..Cache::default()
            };
        }
        Ok(cache)
    }

    /// The flattened search path of a collection expression (explicit names only).
    pub fn search_path(
        &self,
        conn: &mut Conn,
        collections: &[String],
        as_of: Option<i64>,
    ) -> Result<Arc<SearchPath>> {
        if collections.is_empty() {
            return Err(RegistryError::Invalid(
                "no collections given to search (use --collections)".into(),
            ));
        }
        if let Some(g) = collections.iter().find(|c| is_glob(c)) {
            return Err(RegistryError::Invalid(format!(
                "collection pattern {g:?} is not allowed in a find-first search: the search order must be explicit"
            )));
        }
        if as_of.is_some() {
            return Ok(Arc::new(SearchPath::new(flatten(
                conn,
                collections,
                as_of,
            )?)));
        }
        if let Some(p) = self.synced(conn)?.paths.get(collections) {
            return Ok(p.clone());
        }
        let path = Arc::new(SearchPath::new(flatten(conn, collections, None)?));
        self.synced(conn)?
            .paths
            .insert(collections.to_vec(), path.clone());
        Ok(path)
    }

    /// A dataset type and a search path from the caches, without reading the
    /// structure counter, with the counter they were cached at: the caller checks it.
    fn cached_type_and_path(
        &self,
        name: &str,
        collections: &[String],
    ) -> Option<(DatasetType, Arc<SearchPath>, i64)> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        Some((
            cache.types.get(name)?.clone(),
            cache.paths.get(collections)?.clone(),
            cache.generation?,
        ))
    }

    /// A dataset type by name, cached.
    pub fn dataset_type(&self, conn: &mut Conn, name: &str) -> Result<DatasetType> {
        if let Some(t) = self.synced(conn)?.types.get(name) {
            return Ok(t.clone());
        }
        let t = get_dataset_type(conn, name)?;
        self.synced(conn)?.types.insert(name.to_owned(), t.clone());
        Ok(t)
    }

    fn run_id_of(&self, conn: &mut Conn, dataset: Uuid) -> Result<i64> {
        conn.query_opt(
            "SELECT run_id FROM dataset WHERE id = ?",
            &[Value::Uuid(dataset)],
        )?
        .and_then(|r| r[0].as_i64())
        .ok_or_else(mismatch)
    }

    /// A RUN's name by id. The cache is not synced first: a look-up has just synced
    /// it, and the name of a RUN id never changes while the RUN exists.
    fn run_name(&self, conn: &mut Conn, run_id: i64) -> Result<String> {
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .run_names
            .get(&run_id)
            .cloned();
        if let Some(n) = cached {
            return Ok(n);
        }
        let name = valet_registry::collections::collection_by_id(conn, run_id)?.name;
        self.synced(conn)?.run_names.insert(run_id, name.clone());
        Ok(name)
    }

    /// Whether a look-up of this type through these collections without a time
    /// passes over CALIBRATION collections (which are searched only at a time).
    pub fn skips_calibrations(
        &self,
        conn: &mut Conn,
        dataset_type: &str,
        collections: &[String],
        as_of: Option<i64>,
    ) -> Result<bool> {
        let t = self.dataset_type(conn, dataset_type)?;
        if !t.is_calibration {
            return Ok(false);
        }
        let path = self.search_path(conn, collections, as_of)?;
        Ok(path
            .collections
            .iter()
            .any(|c| c.kind == CollectionType::Calibration))
    }

    /// Find one dataset by type and data ID through the collections, first match wins.
    pub fn find_dataset(
        &self,
        conn: &mut Conn,
        universe: &Universe,
        req: &FindRequest<'_>,
    ) -> Result<Option<Found>> {
        // From the caches, the look-up reads the structure counter in its own
        // statement: one round trip, then a second try with fresh caches in the rare
        // case that they were stale.
        if req.as_of.is_none() {
            if let Some((t, path, cached_at)) =
                self.cached_type_and_path(req.dataset_type, req.collections)
            {
                match self.find_in(conn, universe, req, &t, &path, Some(cached_at))? {
                    Lookup::Done(found) => return Ok(found),
                    Lookup::Stale => self.forget(),
                }
            }
        }
        let t = self.dataset_type(conn, req.dataset_type)?;
        let path = self.search_path(conn, req.collections, req.as_of)?;
        match self.find_in(conn, universe, req, &t, &path, None)? {
            Lookup::Done(found) => Ok(found),
            Lookup::Stale => Err(mismatch()),
        }
    }

    /// [`Resolver::find_dataset`] with the type and search path decided; with
    /// `cached_at`, `Stale` if the structure counter has moved since.
    fn find_in(
        &self,
        conn: &mut Conn,
        universe: &Universe,
        req: &FindRequest<'_>,
        t: &DatasetType,
        path: &SearchPath,
        cached_at: Option<i64>,
    ) -> Result<Lookup> {
        let values = standardize_data_id(universe, t, req.data_id)?;
        let dims = &t.dimensions.required;
        let search_calibs = t.is_calibration
            && req.timespan.is_some()
            && path
                .collections
                .iter()
                .any(|c| c.kind == CollectionType::Calibration);
        let calib_ts = if search_calibs { req.timespan } else { None };
        // RUN/TAGGED rows and, for calibrations at a time, overlapping validity ranges
        // come back in one round trip.
        let mut best: Option<(usize, Uuid)> = None;
        let mut matches: BTreeMap<usize, Vec<Uuid>> = BTreeMap::new();
        let mut calib_runs: HashMap<Uuid, i64> = HashMap::new();
        let generation = t.storage().lookup(
            conn,
            &values,
            calib_ts,
            cached_at.is_some(),
            &mut |source, collection_id, id, run_id| {
                let Some(r) = path.rank(collection_id) else {
                    return;
                };
                match source {
                    LookupSource::Calibs => {
                        matches.entry(r).or_default().push(id);
                        if let Some(run_id) = run_id {
                            calib_runs.insert(id, run_id);
                        }
                    }
                    LookupSource::Tags if best.is_none_or(|(b, _)| r < b) => {
                        best = Some((r, id));
                    }
                    LookupSource::Tags => {}
                }
            },
        )?;
        if cached_at.is_some() && generation != cached_at {
            return Ok(Lookup::Stale);
        }
        if let Some(ts) = calib_ts {
            if let Some((&r, ids)) = matches.iter().next() {
                if best.is_none_or(|(b, _)| r < b) {
                    if ids.len() > 1 {
                        return Err(RegistryError::Conflict(format!(
                            "ambiguous calibration lookup: {} validity ranges of {} {} in {:?} overlap {}",
                            ids.len(),
                            t.name,
                            valet_registry::datasets::describe_data_id(req.data_id, dims),
                            path.collections[r].name,
                            describe_timespan(&ts)
                        )));
                    }
                    best = Some((r, ids[0]));
                }
            }
        }

        let Some((rank, id)) = best else {
            return Ok(Lookup::Done(None));
        };
        let collection = &path.collections[rank];
        let run = if collection.kind == CollectionType::Run {
            collection.name.clone()
        } else {
            let run_id = match calib_runs.get(&id) {
                Some(&run_id) => run_id,
                None => self.run_id_of(conn, id)?,
            };
            self.run_name(conn, run_id)?
        };
        Ok(Lookup::Done(Some(Found {
            dataset: DatasetRef {
                id,
                dataset_type: t.name.clone(),
                run,
                data_id: dims.iter().cloned().zip(values).collect(),
            },
            collection: collection.name.clone(),
        })))
    }

    /// Stream the datasets a query selects to `emit`, which returns `false` to stop.
    /// Find-first results come in data-ID order.
    ///
    /// The steps: the search path; the sources to scan (the tags table for RUN and
    /// TAGGED collections, the calibs table for CALIBRATION ones); one scan of each,
    /// grouped by data ID on the fly, or merged by data ID when there are two.
    pub fn query_datasets(
        &self,
        conn: &mut Conn,
        universe: &Universe,
        query: &DatasetQuery,
        emit: &mut dyn FnMut(Found) -> Result<bool>,
    ) -> Result<()> {
        self.query_dataset_rows(conn, universe, query, &mut |row| emit(row.to_found()))
    }

    /// [`Resolver::query_datasets`], each result handed over borrowed.
    pub fn query_dataset_rows(
        &self,
        conn: &mut Conn,
        universe: &Universe,
        query: &DatasetQuery,
        emit: &mut dyn FnMut(FoundRow<'_>) -> Result<bool>,
    ) -> Result<()> {
        let t = self.dataset_type(conn, &query.dataset_type)?;
        let path = self.query_path(conn, query)?;
        let calibs_in_path = path
            .collections
            .iter()
            .any(|c| c.kind == CollectionType::Calibration);
        if query.find_first && t.is_calibration && calibs_in_path && query.timespan.is_none() {
            return Err(RegistryError::Invalid(format!(
                "a find-first search of calibration type {:?} through CALIBRATION collections needs a time (--at or --timespan)",
                t.name
            )));
        }
        let filter = dataset_filter(
            universe,
            &t,
            "t",
            &query.where_,
            &query.bind,
            conn.backend(),
        )?;
        let condition = seekable_condition(universe, &t, &filter.condition);
        let sources = scan_sources(&t, &path, query);
        let need_runs = path
            .collections
            .iter()
            .any(|c| c.kind != CollectionType::Run);
        let results = Results {
            t: &t,
            dims: &t.dimensions.required,
            names: path.collections.iter().map(|c| (c.id, c)).collect(),
            // Rows found through TAGGED or CALIBRATION collections carry their RUN's
            // id (joined from `dataset`); their names are read once, up front.
            run_names: if need_runs {
                run_names(conn)?
            } else {
                HashMap::new()
            },
        };
        let holding = collections_holding(conn, &t)?;
        let mut state = Stream {
            find_first: query.find_first,
            current: None,
            open: false,
            seen: HashSet::new(),
            stopped: false,
        };
        let merge = sources.len() > 1 && query.find_first;
        let mut pending: Vec<Candidate> = Vec::new();
        let ndims = results.dims.len();
        for source in &sources {
            // The scan reads every row of the type either way; an IN list only saves
            // decoding rows of collections outside the path, and costs a probe per
            // row, so it is used only when most collections holding the type are not
            // searched. Rows outside the path are dropped as they arrive.
            let restrict = source.collection_ids.len() * 2 < holding;
            let scan = Scan {
                calibs: source.calibs,
                collections: restrict.then_some(source.collection_ids.as_slice()),
                timespan: source.timespan,
                with_run: need_runs,
                joins: &filter.joins,
                condition: &condition,
                params: &filter.params,
                ordered: query.find_first,
                distinct: filter.repeats_rows,
            };
            let mut emit_err = None;
            t.storage().scan(conn, &scan, &mut |row| {
                if state.stopped {
                    return Ok(());
                }
                let Some(cand) = Candidate::in_row(row, ndims, &path)? else {
                    return Ok(());
                };
                if merge {
                    // RUN/TAGGED and CALIBRATION rows must be merged by data ID.
                    pending.push(cand.to_owned());
                } else if let Err(e) = state.push(cand, &mut |c| results.finish(c, emit)) {
                    emit_err = Some(e);
                    state.stopped = true;
                }
                Ok(())
            })?;
            if let Some(e) = emit_err {
                return Err(e);
            }
        }
        if !pending.is_empty() {
            pending.sort_by(|a, b| compare_keys(&a.key, &b.key).then(a.rank.cmp(&b.rank)));
            for cand in &pending {
                if state.stopped {
                    break;
                }
                state.push(cand.borrowed(), &mut |c| results.finish(c, emit))?;
            }
        }
        if !state.stopped {
            state.flush(&mut |c| results.finish(c, emit))?;
        }
        Ok(())
    }

    /// The collections a query searches: the flattened, ranked path for find-first,
    /// every matching non-chain collection otherwise.
    fn query_path(&self, conn: &mut Conn, query: &DatasetQuery) -> Result<Arc<SearchPath>> {
        if query.find_first {
            return self.search_path(conn, &query.collections, query.as_of);
        }
        let records = query_collections(
            conn,
            &CollectionQuery {
                patterns: query.collections.clone(),
                flatten_chains: true,
                as_of: query.as_of,
                ..Default::default()
            },
        )?;
        Ok(Arc::new(SearchPath::new(records)))
    }
}

/// One table to scan for a query and the collections of the path it serves.
struct Source {
    calibs: bool,
    collection_ids: Vec<i64>,
    timespan: Option<Timespan>,
}

/// The tags table for RUN and TAGGED collections in the path and, for calibrations,
/// the calibs table for CALIBRATION ones (at the query's time, or at any time).
fn scan_sources(t: &DatasetType, path: &SearchPath, query: &DatasetQuery) -> Vec<Source> {
    let of_kind = |keep: &dyn Fn(CollectionType) -> bool| -> Vec<i64> {
        path.collections
            .iter()
            .filter(|c| keep(c.kind))
            .map(|c| c.id)
            .collect()
    };
    let mut sources = vec![Source {
        calibs: false,
        collection_ids: of_kind(&|k| {
            k != CollectionType::Calibration && k != CollectionType::Chained
        }),
        timespan: None,
    }];
    if t.calibs_table.is_some() {
        let calib_ids = of_kind(&|k| k == CollectionType::Calibration);
        if !calib_ids.is_empty() {
            sources.push(Source {
                calibs: true,
                collection_ids: calib_ids,
                timespan: query.timespan.or(Some(Timespan::new(None, None))),
            });
        }
    }
    sources.retain(|s| !s.collection_ids.is_empty());
    sources
}

/// Every RUN's name by id.
fn run_names(conn: &mut Conn) -> Result<HashMap<i64, String>> {
    Ok(conn
        .query(
            "SELECT collection_id, name FROM collection WHERE type = ?",
            &[Value::Int(CollectionType::Run as i64)],
        )?
        .into_iter()
        .map(|r| {
            (
                r[0].as_i64().unwrap_or_default(),
                r[1].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect())
}

/// How many collections have ever held datasets of the type (from the summaries).
fn collections_holding(conn: &mut Conn, t: &DatasetType) -> Result<usize> {
    Ok(conn
        .query_opt(
            "SELECT COUNT(*) FROM collection_summary_dataset_type WHERE dataset_type_id = ?",
            &[Value::Int(t.id)],
        )?
        .and_then(|r| r[0].as_i64())
        .unwrap_or(0) as usize)
}

/// What turns a query's winning rows into results.
struct Results<'a> {
    t: &'a DatasetType,
    dims: &'a [String],
    names: foldhash::HashMap<i64, &'a CollectionRecord>,
    run_names: HashMap<i64, String>,
}

impl Results<'_> {
    /// Turn a winning candidate into a result and hand it on.
    fn finish(
        &self,
        c: &Group,
        emit: &mut dyn FnMut(FoundRow<'_>) -> Result<bool>,
    ) -> Result<bool> {
        let (t, dims) = (self.t, self.dims);
        if c.count_at_best > 1 {
            let data_id: DataId = dims
                .iter()
                .cloned()
                .zip(c.best.key.iter().cloned())
                .collect();
            return Err(RegistryError::Conflict(format!(
                "ambiguous calibration lookup: {} validity ranges of {} {} overlap the time searched",
                c.count_at_best,
                t.name,
                valet_registry::datasets::describe_data_id(&data_id, dims)
            )));
        }
        let cand = &c.best;
        let collection = self.names.get(&cand.collection_id).ok_or_else(mismatch)?;
        // A dataset found through its RUN needs no look-up for the run name.
        let run = if collection.kind == CollectionType::Run {
            collection.name.as_str()
        } else {
            self.run_names
                .get(&cand.run_id)
                .map(String::as_str)
                .ok_or_else(mismatch)?
        };
        emit(FoundRow {
            id: cand.dataset_id,
            dataset_type: &t.name,
            run,
            collection: &collection.name,
            dimensions: dims,
            values: &cand.key,
        })
    }
}

/// Pair required dimension names with values. Inserting in order is cheaper than
/// collecting, which sorts and deduplicates first.
fn data_id_of(dims: &[String], values: &[Value]) -> DataId {
    let mut d = DataId::new();
    for (k, v) in dims.iter().zip(values) {
        d.insert(k.clone(), v.clone());
    }
    d
}

/// A row read from a tags or calibs table.
#[derive(Debug, Clone)]
struct Candidate {
    key: Vec<Value>,
    collection_id: i64,
    dataset_id: uuid::Uuid,
    run_id: i64,
    rank: usize,
}

/// A row read from a tags or calibs table, borrowed from the row.
#[derive(Debug, Clone, Copy)]
struct CandidateRef<'r> {
    key: &'r [Value],
    collection_id: i64,
    dataset_id: uuid::Uuid,
    run_id: i64,
    rank: usize,
}

impl Candidate {
    /// The candidate in a row, or `None` when its collection is not searched.
    fn in_row<'r>(
        row: &'r [Value],
        ndims: usize,
        path: &SearchPath,
    ) -> Result<Option<CandidateRef<'r>>, DbError> {
        let bad = || DbError::other("unexpected row shape from a dataset table");
        let collection_id = row.get(ndims).and_then(Value::as_i64).ok_or_else(bad)?;
        let Some(rank) = path.rank(collection_id) else {
            return Ok(None);
        };
        Ok(Some(CandidateRef {
            key: &row[..ndims],
            collection_id,
            dataset_id: row
                .get(ndims + 1)
                .and_then(Value::as_uuid)
                .ok_or_else(bad)?,
            run_id: row.get(ndims + 2).and_then(Value::as_i64).ok_or_else(bad)?,
            rank,
        }))
    }

    fn borrowed(&self) -> CandidateRef<'_> {
        CandidateRef {
            key: &self.key,
            collection_id: self.collection_id,
            dataset_id: self.dataset_id,
            run_id: self.run_id,
            rank: self.rank,
        }
    }

    /// Take on `c`'s values, keeping the allocations already made.
    fn assign(&mut self, c: CandidateRef<'_>) {
        let kept = self.key.len().min(c.key.len());
        self.key.truncate(kept);
        for (mine, theirs) in self.key.iter_mut().zip(c.key) {
            match (mine, theirs) {
                (Value::Text(mine), Value::Text(theirs)) if mine == theirs => {}
                (Value::Text(mine), Value::Text(theirs)) => {
                    mine.clear();
                    mine.push_str(theirs);
                }
                (mine, theirs) => *mine = theirs.clone(),
            }
        }
        self.key.extend_from_slice(&c.key[kept..]);
        self.assign_except_key(c);
    }

    fn assign_except_key(&mut self, c: CandidateRef<'_>) {
        self.collection_id = c.collection_id;
        self.dataset_id = c.dataset_id;
        self.run_id = c.run_id;
        self.rank = c.rank;
    }
}

impl CandidateRef<'_> {
    fn to_owned(self) -> Candidate {
        Candidate {
            key: self.key.to_vec(),
            collection_id: self.collection_id,
            dataset_id: self.dataset_id,
            run_id: self.run_id,
            rank: self.rank,
        }
    }
}

/// The rows seen so far for one data ID.
struct Group {
    best: Candidate,
    count_at_best: usize,
}

/// Groups consecutive rows by data ID (find-first) or passes rows on once per dataset.
/// The group in hand is reused from one data ID to the next, so that a scan of many
/// rows allocates nothing per row.
struct Stream {
    find_first: bool,
    current: Option<Group>,
    /// `current` holds a group not yet handed on.
    open: bool,
    seen: HashSet<uuid::Uuid>,
    stopped: bool,
}

fn compare_keys(a: &[Value], b: &[Value]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b.iter()) {
        let o = match (x, y) {
            (Value::Int(p), Value::Int(q)) => p.cmp(q),
            (Value::Text(p), Value::Text(q)) => p.cmp(q),
            _ => x.to_string().cmp(&y.to_string()),
        };
        if o != std::cmp::Ordering::Equal {
            return o;
        }
    }
    std::cmp::Ordering::Equal
}

impl Stream {
    fn push(
        &mut self,
        c: CandidateRef<'_>,
        out: &mut dyn FnMut(&Group) -> Result<bool>,
    ) -> Result<()> {
        if !self.find_first {
            if self.seen.insert(c.dataset_id) {
                let g = self.start(c);
                if !out(g)? {
                    self.stopped = true;
                }
            }
            return Ok(());
        }
        if self.open {
            if let Some(g) = self.current.as_mut().filter(|g| g.best.key[..] == *c.key) {
                if c.rank < g.best.rank {
                    g.best.assign_except_key(c);
                    g.count_at_best = 1;
                } else if c.rank == g.best.rank {
                    g.count_at_best += 1;
                }
                return Ok(());
            }
            if let Some(g) = &self.current {
                if !out(g)? {
                    self.stopped = true;
                }
            }
        }
        self.start(c);
        self.open = true;
        Ok(())
    }

    /// Make `current` a group of `c` alone.
    fn start(&mut self, c: CandidateRef<'_>) -> &Group {
        if let Some(g) = &mut self.current {
            g.best.assign(c);
            g.count_at_best = 1;
        }
        self.current.get_or_insert_with(|| Group {
            best: c.to_owned(),
            count_at_best: 1,
        })
    }

    fn flush(&mut self, out: &mut dyn FnMut(&Group) -> Result<bool>) -> Result<()> {
        if std::mem::take(&mut self.open) {
            if let Some(g) = &self.current {
                out(g)?;
            }
        }
        Ok(())
    }
}

/// A `--where` condition that the table's primary key can answer by seeking. The key
/// leads with the type's governor (`instrument`), which a condition on `detector`
/// and `visit` seldom names; without it the database reads every row of the type.
/// Naming every governor value (a handful) lets it seek: `visit = 17 AND detector IN
/// (3, 4)` over a million calexps reads two rows instead of all of them.
fn seekable_condition(universe: &Universe, t: &DatasetType, condition: &str) -> String {
    if condition.is_empty() {
        return String::new();
    }
    let governor = t.dimensions.required.first().and_then(|d| {
        let e = universe.element(d)?;
        let key = e.primary_key()?;
        (e.governor && e.has_table()).then(|| (d, key.name.clone()))
    });
    match governor {
        Some((d, key)) => format!(
            "t.{} IN (SELECT {} FROM {}) AND ({condition})",
            q(d),
            q(&key),
            q(d)
        ),
        None => condition.to_owned(),
    }
}
