//! `_valet.Repo`: one valet repository, each method one call of a `valet::Repo`
//! method with the GIL released.

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use uuid::Uuid;
use valet::collection_queries::{ChainsView, QueryCollectionsOptions};
use valet::collection_writes::RegisterCollectionOptions;
use valet::dataset_type_writes::DatasetTypeSpec;
use valet::dimension_writes::ExistingRecords;
use valet::ingest::FileToIngest;
use valet::prune::PruneOptions;
use valet::queries::{Binds, DatasetSearch, FindDatasetOptions, Literal};
use valet::transfers::{ExportOptions, ImportOptions};
use valet::{
    ChainMode, CollectionType, CreateOptions, DataId, IdGenerationMode, Record, Repo, TransferMode,
};

use crate::arrow::datasets_table;
use crate::compact;
use crate::errors::IntoPy;
use crate::refs::{PyDataCoordinate, PyDatasetRef, PyDatasetType, RefShape};
use crate::values::{data_id_from_py, span, timespan, value_from_py, value_to_py};
use valet::RepoError;
use valet_client::Target;

/// A valet repository, open.
#[pyclass(name = "Repo", module = "valet._valet", frozen)]
pub struct PyRepo {
    /// The repository here, or behind `valet serve`.
    target: Target,
    types: Mutex<HashMap<String, Arc<RefShape>>>,
}

fn invalid(message: String) -> PyErr {
    PyValueError::new_err(message)
}

fn parse<T: FromStr<Err = String>>(text: &str) -> PyResult<T> {
    text.parse().map_err(invalid)
}

/// Dataset ids from their text; a malformed one is a `ValueError` naming it.
pub(crate) fn uuids(ids: Vec<String>) -> PyResult<Vec<Uuid>> {
    ids.iter()
        .map(|s| Uuid::parse_str(s).map_err(|e| invalid(format!("dataset id {s:?}: {e}"))))
        .collect()
}

fn collection_type(code: u8) -> PyResult<CollectionType> {
    match code {
        1 => Ok(CollectionType::Run),
        2 => Ok(CollectionType::Tagged),
        3 => Ok(CollectionType::Chained),
        4 => Ok(CollectionType::Calibration),
        other => Err(invalid(format!("unknown collection type {other}"))),
    }
}

fn binds(bind: Option<&Bound<'_, PyDict>>) -> PyResult<Binds> {
    let mut out = Binds::new();
    for (k, v) in bind.iter().flat_map(|d| d.iter()) {
        let name: String = k.extract()?;
        let value = value_from_py(&v, &format!("bind value {name:?}"))?;
        let shown = value.to_string();
        let literal = Literal::from_value(value)
            .ok_or_else(|| invalid(format!("bind value {name:?}: {shown} is not usable")))?;
        out.insert(name, literal);
    }
    Ok(out)
}

fn records_from_py(records: &Bound<'_, PyList>) -> PyResult<Vec<Record>> {
    records
        .iter()
        .map(|r| {
            let d = r.cast::<PyDict>()?;
            let mut record = Record::new();
            for (k, v) in d.iter() {
                let key: String = k.extract()?;
                let value = value_from_py(&v, &format!("record field {key:?}"))?;
                record.insert(key, value);
            }
            Ok(record)
        })
        .collect()
}

/// Run `build` with Python's cyclic garbage collector paused: refs hold no cycles,
/// and a collection every few hundred new objects would cost more than building
/// them.
fn without_gc<T>(py: Python<'_>, build: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    let gc = py.import("gc")?;
    let was_enabled: bool = gc.call_method0("isenabled")?.extract()?;
    if was_enabled {
        gc.call_method0("disable")?;
    }
    let built = build();
    if was_enabled {
        gc.call_method0("enable")?;
    }
    built
}

/// The Python value of an expanded data ID.
fn coordinate(e: valet::dataset_records::ExpandedDataId) -> PyDataCoordinate {
    let implied: Vec<String> = e.dimensions[e.required..].to_vec();
    let values = e
        .dimensions
        .iter()
        .map(|d| e.data_id.get(d).cloned().unwrap_or(valet::Value::Null))
        .collect();
    PyDataCoordinate::new(
        Arc::new(e.dimensions),
        values,
        e.required,
        Arc::new(implied),
        Some(e.records),
    )
}

impl PyRepo {
    fn wrap(repo: Repo) -> Self {
        PyRepo {
            target: Target::Local(repo),
            types: Mutex::new(HashMap::new()),
        }
    }

    /// The local repository, for calls a server does not answer (yet).
    fn local(&self) -> Result<&Repo, RepoError> {
        match &self.target {
            Target::Local(repo) => Ok(repo),
            Target::Remote(_) => Err(RepoError::Invalid(
                "this call needs a local repository: a Butler on a server answers dataset type, \
                 collection, find_dataset and query look-ups"
                    .into(),
            )),
        }
    }

    /// The shared parts of refs of a dataset type, looked up once.
    fn type_info(&self, py: Python<'_>, name: &str) -> PyResult<Arc<RefShape>> {
        if let Some(t) = self.types.lock().ok().and_then(|m| m.get(name).cloned()) {
            return Ok(t);
        }
        let t = py
            .detach(|| match &self.target {
                Target::Local(repo) => repo.dataset_type(name),
                Target::Remote(client) => {
                    let found = client.query_dataset_types(&[name.to_owned()])?;
                    found.into_iter().find(|t| t.name == name).ok_or_else(|| {
                        RepoError::Registry(valet::RegistryError::NotFound(format!(
                            "dataset type {name:?} is not registered"
                        )))
                    })
                }
            })
            .py()?;
        let info = Arc::new(RefShape {
            required: Arc::new(t.dimensions.required.clone()),
            implied: Arc::new(t.dimensions.implied.clone()),
            dataset_type: Py::new(py, PyDatasetType::from_valet(&t))?,
        });
        if let Ok(mut m) = self.types.lock() {
            m.insert(name.to_owned(), info.clone());
        }
        Ok(info)
    }

    fn forget_types(&self) {
        if let Ok(mut m) = self.types.lock() {
            m.clear();
        }
    }

    /// Python refs for valet's, each type looked up once and each RUN's name made
    /// once.
    fn refs_to_py(
        &self,
        py: Python<'_>,
        refs: Vec<valet::DatasetRef>,
    ) -> PyResult<Vec<Py<PyDatasetRef>>> {
        // Pausing the collector costs three Python calls: worth it for many refs only.
        if refs.len() < 1000 {
            return self.build_refs(py, refs);
        }
        without_gc(py, || self.build_refs(py, refs))
    }

    fn build_refs(
        &self,
        py: Python<'_>,
        refs: Vec<valet::DatasetRef>,
    ) -> PyResult<Vec<Py<PyDatasetRef>>> {
        let mut shapes: HashMap<String, Arc<RefShape>> = HashMap::new();
        let mut runs: HashMap<String, Py<PyString>> = HashMap::new();
        refs.into_iter()
            .map(|r| {
                let shape = match shapes.get(&r.dataset_type) {
                    Some(s) => s.clone(),
                    None => {
                        let s = self.type_info(py, &r.dataset_type)?;
                        shapes.insert(r.dataset_type.clone(), s.clone());
                        s
                    }
                };
                let run = match runs.get(&r.run) {
                    Some(name) => name.clone_ref(py),
                    None => {
                        let name: Py<PyString> = PyString::new(py, &r.run).unbind();
                        runs.insert(r.run.clone(), name.clone_ref(py));
                        name
                    }
                };
                Py::new(py, PyDatasetRef::new(r, run, shape))
            })
            .collect()
    }
}

#[pymethods]
impl PyRepo {
    /// Open the repository at `root`.
    #[new]
    fn open(py: Python<'_>, root: PathBuf) -> PyResult<Self> {
        let target = py.detach(|| Target::open(&root)).py()?;
        Ok(PyRepo {
            target,
            types: Mutex::new(HashMap::new()),
        })
    }

    /// Create a repository at `root` (`db`: a registry URL; `dimension_config`: a
    /// universe file).
    #[staticmethod]
    #[pyo3(signature = (root, db=None, dimension_config=None))]
    fn create(
        py: Python<'_>,
        root: PathBuf,
        db: Option<String>,
        dimension_config: Option<PathBuf>,
    ) -> PyResult<Self> {
        let options = CreateOptions {
            db,
            dimension_config,
            ..Default::default()
        };
        Ok(Self::wrap(
            py.detach(|| Repo::create(&root, &options)).py()?,
        ))
    }

    /// The repository root.
    #[getter]
    fn root(&self) -> PathBuf {
        match &self.target {
            Target::Local(repo) => repo.root().to_owned(),
            Target::Remote(client) => PathBuf::from(client.url()),
        }
    }

    /// The registered dataset type of this name.
    fn dataset_type(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyDatasetType>> {
        Ok(self.type_info(py, name)?.dataset_type.clone_ref(py))
    }

    /// The registered dataset types matching the globs (all if none), by name.
    fn dataset_types(&self, py: Python<'_>, globs: Vec<String>) -> PyResult<Vec<PyDatasetType>> {
        let types = py.detach(|| self.target.query_dataset_types(&globs)).py()?;
        Ok(types.iter().map(PyDatasetType::from_valet).collect())
    }

    /// Register a dataset type; `False` when an identical one exists.
    fn register_dataset_type(
        &self,
        py: Python<'_>,
        name: &str,
        dimensions: Vec<String>,
        storage_class: String,
        is_calibration: bool,
    ) -> PyResult<bool> {
        let spec = DatasetTypeSpec {
            storage_class,
            dimensions,
            is_calibration,
        };
        let (_, created) = py
            .detach(|| self.local()?.register_dataset_type(name, &spec))
            .py()?;
        Ok(created)
    }

    /// Remove the dataset types that names or globs mean; returns their names.
    fn remove_dataset_types(&self, py: Python<'_>, patterns: Vec<String>) -> PyResult<Vec<String>> {
        self.forget_types();
        py.detach(|| self.local()?.remove_dataset_types(&patterns))
            .py()
    }

    /// Find one dataset; returns the ref and the collection it was found in.
    #[pyo3(signature = (dataset_type, data_id, collections, timespan_ns=None, as_of=None))]
    fn find_dataset(
        &self,
        py: Python<'_>,
        dataset_type: String,
        data_id: Option<Bound<'_, PyDict>>,
        collections: Vec<String>,
        timespan_ns: Option<(Option<i64>, Option<i64>)>,
        as_of: Option<i64>,
    ) -> PyResult<Option<(Py<PyDatasetRef>, String)>> {
        let options = FindDatasetOptions {
            data_id: data_id_from_py(data_id.as_ref())?,
            dataset_type,
            collections,
            timespan: timespan(timespan_ns)?,
            as_of,
            calibrations_need_time: false,
        };
        let Some(found) = py.detach(|| self.target.find_dataset(&options)).py()? else {
            return Ok(None);
        };
        let collection = found.found.collection;
        let mut refs = self.refs_to_py(py, vec![found.found.dataset])?;
        Ok(refs.pop().map(|r| (r, collection)))
    }

    /// The datasets a search selects, as refs.
    #[pyo3(signature = (dataset_types, collections, find_first, where_, bind=None, timespan_ns=None, as_of=None))]
    #[allow(clippy::too_many_arguments)]
    fn query_datasets(
        &self,
        py: Python<'_>,
        dataset_types: Vec<String>,
        collections: Vec<String>,
        find_first: bool,
        where_: String,
        bind: Option<Bound<'_, PyDict>>,
        timespan_ns: Option<(Option<i64>, Option<i64>)>,
        as_of: Option<i64>,
    ) -> PyResult<Vec<Py<PyDatasetRef>>> {
        let search = DatasetSearch {
            dataset_types,
            collections,
            where_,
            bind: binds(bind.as_ref())?,
            find_first,
            timespan: timespan(timespan_ns)?,
            as_of,
        };
        let local = match &self.target {
            Target::Local(repo) => repo,
            Target::Remote(client) => {
                let options = valet::queries::QueryDatasetsOptions {
                    search,
                    ..Default::default()
                };
                let rows = py.detach(|| client.query_datasets(&options)).py()?;
                return self.refs_to_py(py, rows.refs());
            }
        };
        let found = py.detach(|| compact::find(local, &search)).py()?;
        let shapes = found
            .types
            .iter()
            .map(|t| self.type_info(py, t))
            .collect::<PyResult<Vec<_>>>()?;
        let runs: Vec<Py<PyString>> = found
            .runs
            .iter()
            .map(|r| PyString::new(py, r).unbind())
            .collect();
        without_gc(py, || {
            found
                .rows
                .into_iter()
                .map(|row| {
                    let shape = shapes[row.type_index].clone();
                    let run = runs[row.run_index].clone_ref(py);
                    Py::new(
                        py,
                        PyDatasetRef::from_values(row.id, run, shape, row.values),
                    )
                })
                .collect()
        })
    }

    /// The datasets of one type a search selects, as an Arrow C stream capsule
    /// (record batches: `id`, `run`, then the required dimensions).
    #[pyo3(signature = (dataset_type, collections, find_first, where_, bind=None, timespan_ns=None, as_of=None))]
    #[allow(clippy::too_many_arguments)]
    fn query_datasets_arrow<'py>(
        &self,
        py: Python<'py>,
        dataset_type: String,
        collections: Vec<String>,
        find_first: bool,
        where_: String,
        bind: Option<Bound<'_, PyDict>>,
        timespan_ns: Option<(Option<i64>, Option<i64>)>,
        as_of: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let search = DatasetSearch {
            dataset_types: vec![dataset_type.clone()],
            collections,
            where_,
            bind: binds(bind.as_ref())?,
            find_first,
            timespan: timespan(timespan_ns)?,
            as_of,
        };
        let stream = py
            .detach(|| datasets_table(self.local()?, &dataset_type, &search))
            .py()?;
        Ok(pyo3::types::PyCapsule::new_with_value(py, stream, c"arrow_array_stream")?.into_any())
    }

    /// The datasets with these ids (strings), as refs.
    fn get_datasets(&self, py: Python<'_>, ids: Vec<String>) -> PyResult<Vec<Py<PyDatasetRef>>> {
        let ids = uuids(ids)?;
        let found = py.detach(|| self.target.get_datasets(&ids)).py()?;
        self.refs_to_py(py, found.into_iter().map(|(_, r)| r).collect())
    }

    /// Register datasets without files in a RUN.
    fn insert_datasets(
        &self,
        py: Python<'_>,
        dataset_type: &str,
        run: &str,
        data_ids: Vec<Bound<'_, PyDict>>,
        id_mode: &str,
    ) -> PyResult<Vec<Py<PyDatasetRef>>> {
        let data_ids = data_ids
            .iter()
            .map(|d| data_id_from_py(Some(d)))
            .collect::<PyResult<Vec<DataId>>>()?;
        let mode: IdGenerationMode = parse(id_mode)?;
        let refs = py
            .detach(|| {
                self.local()?
                    .insert_datasets(dataset_type, run, &data_ids, mode)
            })
            .py()?;
        self.refs_to_py(py, refs)
    }

    /// A data ID completed with implied dimensions and records.
    fn expand_data_id(
        &self,
        py: Python<'_>,
        dimensions: Vec<String>,
        data_id: Bound<'_, PyDict>,
    ) -> PyResult<PyDataCoordinate> {
        let data_id = data_id_from_py(Some(&data_id))?;
        let e = py
            .detach(|| self.local()?.expand_data_id(&dimensions, &data_id))
            .py()?;
        Ok(coordinate(e))
    }

    /// Data IDs of these dimensions (dictionaries of their required values at
    /// least), expanded, the records read once.
    fn expand_data_ids(
        &self,
        py: Python<'_>,
        dimensions: Vec<String>,
        data_ids: Vec<Bound<'_, PyDict>>,
    ) -> PyResult<Vec<PyDataCoordinate>> {
        let data_ids = data_ids
            .iter()
            .map(|d| data_id_from_py(Some(d)))
            .collect::<PyResult<Vec<_>>>()?;
        let expanded = py
            .detach(|| self.local()?.expand_data_ids(&dimensions, &data_ids))
            .py()?;
        Ok(expanded.into_iter().map(coordinate).collect())
    }

    /// The refs with expanded data IDs (implied values and records), the records of
    /// each dataset type's dimensions read once.
    fn expand_refs(
        &self,
        py: Python<'_>,
        refs: Vec<Py<PyDatasetRef>>,
    ) -> PyResult<Vec<Py<PyDatasetRef>>> {
        let mut by_type: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, r) in refs.iter().enumerate() {
            by_type.entry(r.get().type_name()).or_default().push(i);
        }
        let mut out: Vec<Option<Py<PyDatasetRef>>> = (0..refs.len()).map(|_| None).collect();
        for (name, members) in by_type {
            let dimensions = self.type_info(py, &name)?.required.to_vec();
            let data_ids: Vec<valet::DataId> = members
                .iter()
                .map(|&i| refs[i].get().required_data_id())
                .collect();
            let expanded = py
                .detach(|| self.local()?.expand_data_ids(&dimensions, &data_ids))
                .py()?;
            for (&i, e) in members.iter().zip(expanded) {
                let data_id = Py::new(py, coordinate(e))?;
                out[i] = Some(Py::new(py, refs[i].get().with_data_id(py, data_id))?);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// Insert dimension records (dictionaries of fields); `existing` is `refuse`,
    /// `skip` or `update`. Returns (inserted, updated).
    fn insert_dimension_records(
        &self,
        py: Python<'_>,
        element: &str,
        records: Bound<'_, PyList>,
        existing: &str,
    ) -> PyResult<(usize, usize)> {
        let records = records_from_py(&records)?;
        let existing = match existing {
            "refuse" => ExistingRecords::Refuse,
            "skip" => ExistingRecords::Skip,
            "update" => ExistingRecords::Update,
            other => {
                return Err(invalid(format!(
                    "unknown handling of existing records {other:?}"
                )))
            }
        };
        let s = py
            .detach(|| {
                self.local()?
                    .insert_dimension_records(element, &records, existing)
            })
            .py()?;
        Ok((s.inserted, s.updated))
    }

    /// The records of a dimension element matching a `where` expression, by key.
    #[pyo3(signature = (element, where_, bind=None, limit=None))]
    fn dimension_records<'py>(
        &self,
        py: Python<'py>,
        element: String,
        where_: String,
        bind: Option<Bound<'_, PyDict>>,
        limit: Option<usize>,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let query = valet::queries::DimensionRecordQuery {
            element,
            where_,
            bind: binds(bind.as_ref())?,
            limit,
            ..Default::default()
        };
        let found = py
            .detach(|| self.target.query_dimension_records(&query))
            .py()?;
        found
            .records
            .iter()
            .map(|r| {
                let d = PyDict::new(py);
                for c in &found.columns {
                    if let Some(v) = r.get(c) {
                        d.set_item(c, value_to_py(py, v)?)?;
                    }
                }
                Ok(d)
            })
            .collect()
    }

    /// Register a collection (type 1 RUN, 2 TAGGED, 3 CHAINED, 4 CALIBRATION);
    /// `False` if it exists with that type.
    #[pyo3(signature = (name, kind, doc=None))]
    fn register_collection(
        &self,
        py: Python<'_>,
        name: &str,
        kind: u8,
        doc: Option<String>,
    ) -> PyResult<bool> {
        let kind = collection_type(kind)?;
        let options = RegisterCollectionOptions {
            doc,
            ..Default::default()
        };
        py.detach(|| self.target.register_collection(name, kind, &options))
            .py()
    }

    /// A collection's name, type code and documentation.
    fn collection_info(&self, py: Python<'_>, name: &str) -> PyResult<(String, u8, String)> {
        let c = py.detach(|| self.target.collection(name)).py()?;
        Ok((c.name, c.kind as u8, c.doc.unwrap_or_default()))
    }

    /// The children of a chain, in order.
    fn chain_children(&self, py: Python<'_>, name: &str) -> PyResult<Vec<String>> {
        py.detach(|| self.target.chain_children(name)).py()
    }

    /// The chains listing a collection.
    fn chain_parents(&self, py: Python<'_>, name: &str) -> PyResult<Vec<String>> {
        py.detach(|| self.target.chain_parents(name)).py()
    }

    /// Edit a chain: `mode` is redefine, extend, prepend or remove.
    #[pyo3(signature = (parent, mode, children, flatten=false, doc=None))]
    fn edit_chain(
        &self,
        py: Python<'_>,
        parent: &str,
        mode: &str,
        children: Vec<String>,
        flatten: bool,
        doc: Option<String>,
    ) -> PyResult<Vec<String>> {
        let mode = match mode {
            "redefine" => ChainMode::Redefine,
            "extend" => ChainMode::Extend,
            "prepend" => ChainMode::Prepend,
            "remove" => ChainMode::Remove,
            other => return Err(invalid(format!("unknown chain edit {other:?}"))),
        };
        let kids = py
            .detach(|| {
                self.local()?
                    .collection_chain(parent, mode, &children, flatten, doc.as_deref())
            })
            .py()?;
        Ok(kids.into_iter().map(|c| c.name).collect())
    }

    /// The names (and type codes) of the collections that patterns mean, chains
    /// flattened into their children when asked (with the chains themselves first
    /// when `include_chains`).
    #[pyo3(signature = (patterns, types, flatten=false, include_chains=true))]
    fn query_collections(
        &self,
        py: Python<'_>,
        patterns: Vec<String>,
        types: Vec<u8>,
        flatten: bool,
        include_chains: bool,
    ) -> PyResult<Vec<(String, u8)>> {
        let types: Vec<CollectionType> = types
            .into_iter()
            .map(collection_type)
            .collect::<PyResult<_>>()?;
        let records = if flatten {
            py.detach(|| {
                self.target
                    .collections_in_search_order(&patterns, &types, include_chains)
            })
            .py()?
        } else {
            let options = QueryCollectionsOptions {
                patterns,
                types,
                chains: ChainsView::NoChildren,
                ..Default::default()
            };
            let rows = py.detach(|| self.target.query_collections(&options)).py()?;
            rows.into_iter()
                .map(|r| r.record)
                .filter(|r| include_chains || r.kind != CollectionType::Chained)
                .collect()
        };
        Ok(records
            .into_iter()
            .map(|r| (r.name, r.kind as u8))
            .collect())
    }

    /// The dataset types a collection has held.
    fn collection_dataset_types(&self, py: Python<'_>, name: &str) -> PyResult<Vec<String>> {
        py.detach(|| self.local()?.collection_dataset_types(name))
            .py()
    }

    /// Remove collections (not RUNs with datasets; see `remove_runs`).
    fn remove_collections(&self, py: Python<'_>, names: Vec<String>, unlink: bool) -> PyResult<()> {
        py.detach(|| self.local()?.remove_collections(&names, unlink))
            .py()
    }

    /// Remove RUNs with their datasets and files; returns how many datasets went.
    fn remove_runs(&self, py: Python<'_>, names: Vec<String>, unlink: bool) -> PyResult<u64> {
        Ok(py
            .detach(|| self.local()?.remove_runs(&names, unlink))
            .py()?
            .datasets)
    }

    /// Add datasets (ids) to a TAGGED collection.
    fn associate(&self, py: Python<'_>, collection: &str, ids: Vec<String>) -> PyResult<usize> {
        let ids = uuids(ids)?;
        py.detach(|| self.local()?.associate(collection, &ids)).py()
    }

    /// Remove datasets (ids) from a TAGGED collection.
    fn disassociate(&self, py: Python<'_>, collection: &str, ids: Vec<String>) -> PyResult<usize> {
        let ids = uuids(ids)?;
        py.detach(|| self.local()?.disassociate(collection, &ids))
            .py()
    }

    /// Certify datasets (ids) into a CALIBRATION collection for a validity range.
    fn certify(
        &self,
        py: Python<'_>,
        collection: &str,
        ids: Vec<String>,
        timespan_ns: (Option<i64>, Option<i64>),
    ) -> PyResult<usize> {
        let ids = uuids(ids)?;
        let span = span(timespan_ns)?;
        py.detach(|| self.local()?.certify(collection, &ids, span))
            .py()
    }

    /// Remove a time range from validity ranges of a type (of these data IDs only,
    /// if any are given).
    fn decertify(
        &self,
        py: Python<'_>,
        collection: String,
        dataset_type: String,
        timespan_ns: (Option<i64>, Option<i64>),
        data_ids: Vec<Bound<'_, PyDict>>,
    ) -> PyResult<usize> {
        let options = valet::collection_writes::DecertifyOptions {
            collection,
            dataset_type,
            timespan: span(timespan_ns)?,
            data_ids: data_ids
                .iter()
                .map(|d| data_id_from_py(Some(d)))
                .collect::<PyResult<_>>()?,
        };
        py.detach(|| self.local()?.decertify_calibrations(&options))
            .py()
    }

    /// Import export files (YAML) and, with a transfer mode, their files.
    #[pyo3(signature = (paths, directory=None, transfer=None, skip_dimensions=vec![]))]
    fn import_files(
        &self,
        py: Python<'_>,
        paths: Vec<PathBuf>,
        directory: Option<PathBuf>,
        transfer: Option<String>,
        skip_dimensions: Vec<String>,
    ) -> PyResult<usize> {
        let options = ImportOptions {
            skip_dimensions,
            transfer: transfer.as_deref().map(parse::<TransferMode>).transpose()?,
            directory,
            ..Default::default()
        };
        self.forget_types();
        Ok(py
            .detach(|| self.local()?.import_files(&paths, &options))
            .py()?
            .datasets)
    }

    /// Zip the files of datasets (ids) into `destination` as the reference does;
    /// returns the zip's path (`None` when none of them has a file).
    fn retrieve_artifacts_zip(
        &self,
        py: Python<'_>,
        ids: Vec<String>,
        destination: PathBuf,
        overwrite: bool,
    ) -> PyResult<Option<PathBuf>> {
        let ids = uuids(ids)?;
        py.detach(|| {
            self.local()?
                .retrieve_artifacts_zip_of(&ids, &destination, overwrite)
        })
        .py()
    }

    /// Ingest a zip of datasets (`retrieve-artifacts --zip`, valet's or the
    /// reference's); returns how many datasets came in (or would, dry).
    #[pyo3(signature = (path, transfer_dimensions=false, dry_run=false))]
    fn ingest_zip(
        &self,
        py: Python<'_>,
        path: PathBuf,
        transfer_dimensions: bool,
        dry_run: bool,
    ) -> PyResult<usize> {
        let options = valet::artifact_zip::IngestZipOptions {
            transfer_dimensions,
            dry_run,
        };
        self.forget_types();
        Ok(py
            .detach(|| self.local()?.ingest_zip(&path, options))
            .py()?
            .datasets)
    }

    /// Export collections and datasets (only those of `ids`, when given) to
    /// `directory`, with their files when `transfer`; returns the export file.
    #[pyo3(signature = (directory, collections, dataset_types, where_, transfer=None, ids=None))]
    #[allow(clippy::too_many_arguments)]
    fn export(
        &self,
        py: Python<'_>,
        directory: PathBuf,
        collections: Vec<String>,
        dataset_types: Vec<String>,
        where_: String,
        transfer: Option<String>,
        ids: Option<Vec<String>>,
    ) -> PyResult<PathBuf> {
        let options = ExportOptions {
            collections,
            dataset_types,
            where_,
            datasets: ids.map(uuids).transpose()?.map(|v| v.into_iter().collect()),
        };
        let transfer = transfer.as_deref().map(parse::<TransferMode>).transpose()?;
        Ok(py
            .detach(|| self.local()?.export(&directory, &options, transfer))
            .py()?
            .export_file)
    }

    /// Distinct data IDs of `dimensions` (of the datasets of `datasets` in
    /// `collections` when given, else of the dimension records), sorted as the
    /// reference sorts them or by `order_by`, at most `limit`.
    #[pyo3(signature = (dimensions, datasets=vec![], collections=vec![], where_=String::new(), bind=None, order_by=vec![], limit=None))]
    #[allow(clippy::too_many_arguments)]
    fn data_ids(
        &self,
        py: Python<'_>,
        dimensions: Vec<String>,
        datasets: Vec<String>,
        collections: Vec<String>,
        where_: String,
        bind: Option<Bound<'_, PyDict>>,
        order_by: Vec<String>,
        limit: Option<usize>,
    ) -> PyResult<Vec<PyDataCoordinate>> {
        let options = valet::queries::QueryDataIdsOptions {
            search: valet::queries::DatasetSearch {
                dataset_types: datasets,
                collections,
                where_,
                bind: binds(bind.as_ref())?,
                ..Default::default()
            },
            dimensions,
            limit,
            order_by,
            offset: 0,
        };
        let found = py.detach(|| self.target.query_data_ids(&options)).py()?;
        let columns = Arc::new(found.dimensions.clone());
        let implied = Arc::new(found.dimensions[found.required..].to_vec());
        Ok(found
            .rows
            .into_iter()
            .map(|values| {
                PyDataCoordinate::new(
                    columns.clone(),
                    values,
                    found.required,
                    implied.clone(),
                    None,
                )
            })
            .collect())
    }

    /// Copy the datasets `ids` of `source`, with their files, RUNs and (with
    /// `transfer_dimensions`) dimension records, into this repository; returns the
    /// ids transferred (those with a file).
    #[pyo3(signature = (source, ids, transfer="auto", register_dataset_types=false, transfer_dimensions=false))]
    fn transfer_from(
        &self,
        py: Python<'_>,
        source: PyRef<'_, PyRepo>,
        ids: Vec<String>,
        transfer: &str,
        register_dataset_types: bool,
        transfer_dimensions: bool,
    ) -> PyResult<Vec<String>> {
        let options = valet::transfers::TransferOptions {
            search: Default::default(),
            ids: Some(uuids(ids)?),
            transfer: parse::<TransferMode>(transfer)?,
            register_dataset_types,
            transfer_dimensions,
            progress: None,
        };
        self.forget_types();
        let source = source.local().py()?;
        let moved = py
            .detach(|| self.local()?.transfer_from(source, &options))
            .py()?;
        Ok(moved.iter().map(Uuid::to_string).collect())
    }

    /// Ingest files (path, data ID, id or None for a new one) as datasets of one type into a RUN.
    fn ingest(
        &self,
        py: Python<'_>,
        dataset_type: &str,
        run: &str,
        files: Vec<(PathBuf, Bound<'_, PyDict>, Option<String>)>,
        transfer: &str,
        id_mode: &str,
    ) -> PyResult<Vec<Py<PyDatasetRef>>> {
        let files = files
            .into_iter()
            .map(|(path, d, id)| {
                Ok(FileToIngest {
                    path,
                    data_id: data_id_from_py(Some(&d))?,
                    id: id
                        .map(|i| uuids(vec![i]))
                        .transpose()?
                        .and_then(|v| v.first().copied()),
                })
            })
            .collect::<PyResult<Vec<_>>>()?;
        let mode: TransferMode = parse(transfer)?;
        let id_mode: IdGenerationMode = parse(id_mode)?;
        let refs = py
            .detach(|| {
                self.local()?
                    .ingest_files(dataset_type, run, &files, mode, id_mode)
            })
            .py()?;
        self.refs_to_py(py, refs)
    }

    /// Store bytes as a new dataset in a RUN; `extension` names the file type.
    fn put(
        &self,
        py: Python<'_>,
        data: Vec<u8>,
        dataset_type: &str,
        data_id: Bound<'_, PyDict>,
        run: &str,
        extension: &str,
    ) -> PyResult<Py<PyDatasetRef>> {
        let data_id = data_id_from_py(Some(&data_id))?;
        let r = py
            .detach(|| {
                self.local()?
                    .put(&data, dataset_type, &data_id, run, extension)
            })
            .py()?;
        let mut refs = self.refs_to_py(py, vec![r])?;
        refs.pop()
            .ok_or_else(|| invalid("put returned no dataset".into()))
    }

    /// The path of a dataset's file.
    fn file_path(&self, py: Python<'_>, id: String) -> PyResult<PathBuf> {
        let ids = uuids(vec![id])?;
        let found = py.detach(|| self.target.get_datasets(&ids)).py()?;
        let (_, r) = found
            .into_iter()
            .next()
            .ok_or_else(|| invalid("no dataset".into()))?;
        py.detach(|| self.local()?.get_path(&r)).py()
    }

    /// The bytes of a dataset's file (from a server, fetched over HTTP).
    fn file_bytes<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = match &self.target {
            Target::Local(_) => {
                let path = self.file_path(py, id)?;
                py.detach(|| {
                    std::fs::read(&path).map_err(|source| RepoError::Io {
                        path: path.display().to_string(),
                        source,
                    })
                })
                .py()?
            }
            Target::Remote(client) => {
                let id = uuids(vec![id])?[0];
                py.detach(|| client.dataset_file(id)).py()?
            }
        };
        Ok(PyBytes::new(py, &bytes))
    }

    /// Prune datasets: disassociate from TAGGED collections, unstore, or purge
    /// (delete, every one in `purge_run`). Returns (purged, disassociated).
    #[pyo3(signature = (ids, disassociate, unstore, purge_run=None))]
    fn prune(
        &self,
        py: Python<'_>,
        ids: Vec<String>,
        disassociate: Vec<String>,
        unstore: bool,
        purge_run: Option<String>,
    ) -> PyResult<(u64, u64)> {
        let ids = uuids(ids)?;
        let options = PruneOptions {
            purge: purge_run,
            unstore,
            disassociate,
        };
        let r = py
            .detach(|| self.local()?.prune_datasets(&ids, &options))
            .py()?;
        Ok((r.purged, r.disassociated))
    }

    /// The edits of a chain, oldest first: (time in UTC ns, user, children after).
    fn chain_history(
        &self,
        py: Python<'_>,
        chain: &str,
    ) -> PyResult<Vec<(i64, String, Vec<String>)>> {
        let edits = py.detach(|| self.target.chain_history(chain)).py()?;
        Ok(edits
            .into_iter()
            .map(|e| (e.edited_at, e.edited_by, e.new_children))
            .collect())
    }

    /// What produced a dataset (`up`) or was built from it, as the JSON text of
    /// `valet lineage --format json`.
    fn lineage(&self, py: Python<'_>, dataset: &str, up: bool, depth: usize) -> PyResult<String> {
        let key: valet::provenance::DatasetKey = parse(dataset)?;
        let graph = py
            .detach(|| {
                self.local()?
                    .lineage(key, valet::queries::LineageOptions { up, depth })
            })
            .py()?;
        Ok(valet::provenance::lineage_json(&graph).to_string())
    }

    /// Open a transaction on the calling thread (nested ones are savepoints).
    fn begin_transaction(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.local()?.begin_transaction()).py()
    }

    /// Commit or roll back the calling thread's innermost transaction.
    fn end_transaction(&self, py: Python<'_>, commit: bool) -> PyResult<()> {
        let result = py.detach(|| self.local()?.end_transaction(commit)).py();
        if !commit || result.is_err() {
            // A dataset type registered inside may be gone.
            self.forget_types();
        }
        result
    }
}
