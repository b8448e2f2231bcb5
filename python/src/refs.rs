//! The reference's value types that queries return by the thousand, built in Rust so
//! that a result costs one small object per row: `DatasetType`, `DataCoordinate`,
//! `DatasetRef`, `DimensionGroup` and dimension records.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use pyo3::exceptions::{PyAttributeError, PyKeyError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use valet::registry::ids::dataset_id;
use valet::{DataId, IdGenerationMode, Record, Value};

use crate::values::{uuid_to_py, value_to_py};

/// A set of dimensions: the required ones, then those they imply.
#[pyclass(name = "DimensionGroup", module = "valet", frozen, eq, hash)]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PyDimensionGroup {
    required: Vec<String>,
    implied: Vec<String>,
}

impl PyDimensionGroup {
    /// A group from its required and implied dimension names.
    pub fn new(required: Vec<String>, implied: Vec<String>) -> Self {
        PyDimensionGroup { required, implied }
    }

    fn all(&self) -> impl Iterator<Item = &String> {
        self.required.iter().chain(&self.implied)
    }
}

#[pymethods]
impl PyDimensionGroup {
    /// Every dimension name, required first.
    #[getter]
    fn names(&self) -> Vec<String> {
        self.all().cloned().collect()
    }

    /// The required dimension names.
    #[getter]
    fn required(&self) -> Vec<String> {
        self.required.clone()
    }

    /// The implied dimension names.
    #[getter]
    fn implied(&self) -> Vec<String> {
        self.implied.clone()
    }

    fn __contains__(&self, name: &str) -> bool {
        self.all().any(|n| n == name)
    }

    fn __len__(&self) -> usize {
        self.required.len() + self.implied.len()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(PyList::new(py, self.all())?.try_iter()?.into_any())
    }

    fn __repr__(&self) -> String {
        format!("{{{}}}", self.all().cloned().collect::<Vec<_>>().join(", "))
    }
}

/// A registered dataset type.
#[pyclass(name = "DatasetType", module = "valet", frozen)]
#[derive(Clone)]
pub struct PyDatasetType {
    name: String,
    dimensions: PyDimensionGroup,
    storage_class: String,
    is_calibration: bool,
}

impl PyDatasetType {
    /// The Python value of a registered type.
    pub fn from_valet(t: &valet::DatasetType) -> Self {
        PyDatasetType {
            name: t.name.clone(),
            dimensions: PyDimensionGroup::new(
                t.dimensions.required.clone(),
                t.dimensions.implied.clone(),
            ),
            storage_class: t.storage_class.clone(),
            is_calibration: t.is_calibration,
        }
    }

    /// The dataset type's required dimensions, in order.
    pub fn required(&self) -> &[String] {
        &self.dimensions.required
    }

    /// The dataset type's implied dimensions.
    pub fn implied(&self) -> &[String] {
        &self.dimensions.implied
    }

    /// Its name.
    pub fn type_name(&self) -> &str {
        &self.name
    }
}

#[pymethods]
impl PyDatasetType {
    /// A dataset type to register: its name, dimension names (or a group), storage
    /// class name and whether it is a calibration type. The universe completes the
    /// dimensions when it is registered.
    #[new]
    #[pyo3(signature = (name, dimensions, storageClass, universe=None, isCalibration=false))]
    #[allow(non_snake_case)]
    fn py_new(
        name: String,
        dimensions: &Bound<'_, PyAny>,
        storageClass: &Bound<'_, PyAny>,
        universe: Option<&Bound<'_, PyAny>>,
        isCalibration: bool,
    ) -> PyResult<Self> {
        let _ = universe;
        let dimensions = match dimensions.cast::<PyDimensionGroup>() {
            Ok(g) => g.get().clone(),
            Err(_) => PyDimensionGroup::new(dimensions.extract()?, vec![]),
        };
        let storage_class = match storageClass.extract::<String>() {
            Ok(s) => s,
            Err(_) => storageClass.getattr("name")?.extract()?,
        };
        Ok(PyDatasetType {
            name,
            dimensions,
            storage_class,
            is_calibration: isCalibration,
        })
    }

    /// The name.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// The dimensions of its data IDs.
    #[getter]
    fn dimensions(&self) -> PyDimensionGroup {
        self.dimensions.clone()
    }

    /// The name of its storage class.
    #[getter(storageClass_name)]
    fn storage_class_name(&self) -> &str {
        &self.storage_class
    }

    /// Whether it can be certified into CALIBRATION collections.
    #[pyo3(name = "isCalibration")]
    fn is_calibration(&self) -> bool {
        self.is_calibration
    }

    /// Whether it is a component type (valet registers none).
    #[pyo3(name = "isComponent")]
    fn is_component(&self) -> bool {
        false
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<PyDatasetType>().is_ok_and(|o| {
            let o = o.get();
            o.name == self.name
                && o.dimensions == self.dimensions
                && o.storage_class == self.storage_class
                && o.is_calibration == self.is_calibration
        })
    }

    /// What pickle rebuilds it from.
    #[allow(clippy::type_complexity)]
    fn __getnewargs__(&self) -> (String, Vec<String>, String, Option<bool>, bool) {
        (
            self.name.clone(),
            self.dimensions.required.clone(),
            self.storage_class.clone(),
            None,
            self.is_calibration,
        )
    }

    fn __hash__(&self) -> u64 {
        hash_of(&self.name)
    }

    fn __repr__(&self) -> String {
        let calibration = if self.is_calibration {
            ", isCalibration=True"
        } else {
            ""
        };
        format!(
            "DatasetType({:?}, {}, {}{calibration})",
            self.name,
            self.dimensions.__repr__(),
            self.storage_class
        )
    }
}

/// A data ID: values for a group of dimensions (the required ones at least), and
/// with the records of its elements when expanded.
#[pyclass(name = "DataCoordinate", module = "valet", frozen)]
pub struct PyDataCoordinate {
    keys: Arc<Vec<String>>,
    values: Vec<Value>,
    required: usize,
    implied: Arc<Vec<String>>,
    records: Option<BTreeMap<String, Record>>,
}

impl PyDataCoordinate {
    /// A data ID of these required dimensions (values in the same order), and
    /// optionally the implied ones after them with their values and the records.
    pub fn new(
        keys: Arc<Vec<String>>,
        values: Vec<Value>,
        required: usize,
        implied: Arc<Vec<String>>,
        records: Option<BTreeMap<String, Record>>,
    ) -> Self {
        PyDataCoordinate {
            keys,
            values,
            required,
            implied,
            records,
        }
    }

    fn get(&self, key: &str) -> Option<&Value> {
        let i = self.keys.iter().position(|k| k == key)?;
        self.values.get(i)
    }

    fn required_pairs(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.keys.iter().zip(&self.values).take(self.required)
    }
}

/// Values of the required dimensions of `data_id`, in the order of `keys`.
pub fn values_in_order(mut data_id: DataId, keys: &[String]) -> Vec<Value> {
    keys.iter()
        .map(|k| data_id.remove(k).unwrap_or(Value::Null))
        .collect()
}

#[pymethods]
impl PyDataCoordinate {
    fn __getitem__<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyAny>> {
        match self.get(key) {
            Some(v) => value_to_py(py, v),
            None => Err(PyKeyError::new_err(key.to_owned())),
        }
    }

    fn __contains__(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    fn __len__(&self) -> usize {
        self.required
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(PyList::new(py, self.keys.iter().take(self.required))?
            .try_iter()?
            .into_any())
    }

    /// The required dimension names.
    fn keys(&self) -> Vec<String> {
        self.keys.iter().take(self.required).cloned().collect()
    }

    /// The value of a dimension, or `default`.
    #[pyo3(signature = (key, default=None))]
    fn get_value<'py>(
        &self,
        py: Python<'py>,
        key: &str,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match self.get(key) {
            Some(v) => value_to_py(py, v),
            None => Ok(default.unwrap_or_else(|| py.None().into_bound(py))),
        }
    }

    /// The required dimensions and their values.
    #[getter]
    fn required<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in self.required_pairs() {
            d.set_item(k, value_to_py(py, v)?)?;
        }
        Ok(d)
    }

    /// Every dimension known, required and implied, and its value.
    #[getter]
    fn mapping<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in self.keys.iter().zip(&self.values) {
            d.set_item(k, value_to_py(py, v)?)?;
        }
        Ok(d)
    }

    /// The dimensions of the data ID.
    #[getter]
    fn dimensions(&self) -> PyDimensionGroup {
        PyDimensionGroup::new(
            self.keys.iter().take(self.required).cloned().collect(),
            (*self.implied).clone(),
        )
    }

    /// Whether the implied dimensions' values are here too.
    #[pyo3(name = "hasFull")]
    fn has_full(&self) -> bool {
        self.keys.len() == self.required + self.implied.len()
    }

    /// Whether the records of its elements are here.
    #[pyo3(name = "hasRecords")]
    fn has_records(&self) -> bool {
        self.records.is_some()
    }

    /// The record of each element, by element name (expanded data IDs only).
    #[getter]
    fn records<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (element, record) in self.records.iter().flatten() {
            d.set_item(element, PyDimensionRecord::new(element, record))?;
        }
        Ok(d)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        if let Ok(o) = other.cast::<PyDataCoordinate>() {
            let o = o.get();
            return Ok(o.required_pairs().eq(self.required_pairs()));
        }
        if let Ok(d) = other.cast::<PyDict>() {
            let py = other.py();
            return self.required(py)?.eq(d);
        }
        Ok(false)
    }

    fn __hash__(&self) -> u64 {
        let mut h = DefaultHasher::new();
        for (k, v) in self.required_pairs() {
            k.hash(&mut h);
            v.to_string().hash(&mut h);
        }
        h.finish()
    }

    fn __repr__(&self) -> String {
        let shown: Vec<String> = self
            .keys
            .iter()
            .zip(&self.values)
            .map(|(k, v)| format!("{k}: {}", python_repr(v)))
            .collect();
        format!("{{{}}}", shown.join(", "))
    }
}

/// A value as Python's `repr` shows it.
fn python_repr(v: &Value) -> String {
    match v {
        Value::Text(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        other => other.to_string(),
    }
}

fn hash_of(s: &str) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// One record of a dimension element, its fields as attributes.
#[pyclass(name = "DimensionRecord", module = "valet", frozen)]
pub struct PyDimensionRecord {
    element: String,
    fields: Vec<(String, Value)>,
}

impl PyDimensionRecord {
    /// The Python value of a record of `element`.
    pub fn new(element: &str, record: &Record) -> Self {
        PyDimensionRecord {
            element: element.to_owned(),
            fields: record.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }
}

#[pymethods]
impl PyDimensionRecord {
    fn __getattr__<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        match self.fields.iter().find(|(k, _)| k == name) {
            Some((_, v)) => value_to_py(py, v),
            None => Err(PyAttributeError::new_err(format!(
                "{} record has no field {name:?}",
                self.element
            ))),
        }
    }

    /// The element's name.
    #[getter]
    fn definition(&self) -> &str {
        &self.element
    }

    /// The fields as a dictionary.
    #[pyo3(name = "toDict")]
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in &self.fields {
            d.set_item(k, value_to_py(py, v)?)?;
        }
        Ok(d)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyDimensionRecord>()
            .is_ok_and(|o| o.get().element == self.element && o.get().fields == self.fields)
    }

    fn __repr__(&self) -> String {
        let shown: Vec<String> = self
            .fields
            .iter()
            .map(|(k, v)| format!("{k}={}", python_repr(v)))
            .collect();
        format!("{}.RecordClass({})", self.element, shown.join(", "))
    }
}

/// What every ref of a dataset type shares: the type's Python value and the names of
/// its dimensions.
pub struct RefShape {
    /// The dataset type.
    pub dataset_type: Py<PyDatasetType>,
    /// Its required dimensions, in order.
    pub required: Arc<Vec<String>>,
    /// Its implied dimensions.
    pub implied: Arc<Vec<String>>,
}

/// A resolved dataset: id, dataset type, data ID and RUN.
#[pyclass(name = "DatasetRef", module = "valet", frozen)]
pub struct PyDatasetRef {
    id: uuid::Uuid,
    run: Py<PyString>,
    shape: Arc<RefShape>,
    values: Vec<Value>,
    /// The expanded data ID (implied values and records), when there is one.
    expanded: Option<Py<PyDataCoordinate>>,
}

impl PyDatasetRef {
    /// A ref of the dataset type `shape` describes, from valet's, in `run` (the
    /// Python string of `r.run`, shared by the refs of a RUN).
    pub fn new(r: valet::DatasetRef, run: Py<PyString>, shape: Arc<RefShape>) -> Self {
        let values = values_in_order(r.data_id, &shape.required);
        Self::from_values(r.id, run, shape, values)
    }

    /// A ref from its parts: `values` follow the shape's required dimensions.
    pub fn from_values(
        id: uuid::Uuid,
        run: Py<PyString>,
        shape: Arc<RefShape>,
        values: Vec<Value>,
    ) -> Self {
        PyDatasetRef {
            id,
            run,
            values,
            shape,
            expanded: None,
        }
    }

    /// The dataset's id.
    pub fn uuid(&self) -> uuid::Uuid {
        self.id
    }

    /// Its dataset type's name.
    pub fn type_name(&self) -> String {
        self.shape.dataset_type.get().type_name().to_owned()
    }

    /// Its data ID's required dimensions and their values.
    pub fn required_data_id(&self) -> DataId {
        self.shape
            .required
            .iter()
            .cloned()
            .zip(self.values.iter().cloned())
            .collect()
    }

    /// The same ref with an expanded data ID.
    pub fn with_data_id(&self, py: Python<'_>, data_id: Py<PyDataCoordinate>) -> Self {
        PyDatasetRef {
            id: self.id,
            run: self.run.clone_ref(py),
            shape: self.shape.clone(),
            values: self.values.clone(),
            expanded: Some(data_id),
        }
    }
}

#[pymethods]
impl PyDatasetRef {
    /// A ref to ingest or put: its dataset type, data ID (a mapping or a
    /// `DataCoordinate` with at least the type's required dimensions) and RUN; `id`
    /// (a `uuid.UUID`) is made new when not given.
    #[new]
    #[pyo3(signature = (datasetType, dataId, run, *, id=None, conform=true, id_generation_mode=None))]
    #[allow(non_snake_case)]
    fn py_new(
        py: Python<'_>,
        datasetType: Bound<'_, PyDatasetType>,
        dataId: &Bound<'_, PyAny>,
        run: String,
        id: Option<&Bound<'_, PyAny>>,
        conform: bool,
        id_generation_mode: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let _ = conform;
        let t = datasetType.get();
        let values = t
            .required()
            .iter()
            .map(|k| {
                let v = dataId.get_item(k).map_err(|_| {
                    PyKeyError::new_err(format!(
                        "data ID of {} has no value for {k:?}",
                        t.type_name()
                    ))
                })?;
                crate::values::value_from_py(&v, &format!("data ID value of {k:?}"))
            })
            .collect::<PyResult<Vec<Value>>>()?;
        let id = match id {
            Some(u) => {
                let bytes: Vec<u8> = u.getattr("bytes")?.extract()?;
                uuid::Uuid::from_slice(&bytes)
                    .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?
            }
            None => {
                let mode = match id_generation_mode {
                    Some(m) => {
                        let name = match m.getattr("name") {
                            Ok(n) => n.extract::<String>()?,
                            Err(_) => m.str()?.to_string(),
                        };
                        name.parse::<IdGenerationMode>()
                            .map_err(pyo3::exceptions::PyValueError::new_err)?
                    }
                    None => IdGenerationMode::Unique,
                };
                let pairs: Vec<(&str, String)> = t
                    .required()
                    .iter()
                    .map(String::as_str)
                    .zip(values.iter().map(Value::to_string))
                    .collect();
                dataset_id(mode, t.type_name(), &run, &pairs)
            }
        };
        let shape = Arc::new(RefShape {
            required: Arc::new(t.required().to_vec()),
            implied: Arc::new(t.implied().to_vec()),
            dataset_type: datasetType.clone().unbind(),
        });
        Ok(Self::from_values(
            id,
            PyString::new(py, &run).unbind(),
            shape,
            values,
        ))
    }

    /// The dataset's id, a `uuid.UUID`.
    #[getter]
    fn id<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        uuid_to_py(py, &self.id)
    }

    /// The RUN collection it lives in.
    #[getter]
    fn run(&self, py: Python<'_>) -> Py<PyString> {
        self.run.clone_ref(py)
    }

    /// Its dataset type.
    #[getter(datasetType)]
    fn dataset_type(&self, py: Python<'_>) -> Py<PyDatasetType> {
        self.shape.dataset_type.clone_ref(py)
    }

    /// Its data ID.
    #[getter(dataId)]
    fn data_id(&self, py: Python<'_>) -> PyResult<Py<PyDataCoordinate>> {
        if let Some(e) = &self.expanded {
            return Ok(e.clone_ref(py));
        }
        Py::new(
            py,
            PyDataCoordinate::new(
                self.shape.required.clone(),
                self.values.clone(),
                self.shape.required.len(),
                self.shape.implied.clone(),
                None,
            ),
        )
    }

    /// The same ref with `dataId` (an expanded `DataCoordinate` of the same values).
    #[pyo3(name = "expanded")]
    #[allow(non_snake_case)]
    fn py_expanded(&self, py: Python<'_>, dataId: Bound<'_, PyDataCoordinate>) -> PyResult<Self> {
        let same = dataId.get().required_pairs().eq(self
            .shape
            .required
            .iter()
            .zip(self.values.iter()));
        if !same {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "the data ID given to expanded() differs from the ref's",
            ));
        }
        Ok(self.with_data_id(py, dataId.unbind()))
    }

    /// What pickle rebuilds it from: type, required data ID, RUN and id.
    fn __getnewargs_ex__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyTuple>, Bound<'py, PyDict>)> {
        let data_id = PyDict::new(py);
        for (k, v) in self.shape.required.iter().zip(self.values.iter()) {
            data_id.set_item(k, value_to_py(py, v)?)?;
        }
        let args = PyTuple::new(
            py,
            [
                self.shape
                    .dataset_type
                    .clone_ref(py)
                    .into_any()
                    .into_bound(py),
                data_id.into_any(),
                self.run.clone_ref(py).into_any().into_bound(py),
            ],
        )?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("id", uuid_to_py(py, &self.id)?)?;
        Ok((args, kwargs))
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyDatasetRef>()
            .is_ok_and(|o| o.get().id == self.id)
    }

    fn __hash__(&self) -> u64 {
        let (hi, lo) = self.id.as_u64_pair();
        hi ^ lo
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let values: Vec<String> = self
            .shape
            .required
            .iter()
            .zip(&self.values)
            .map(|(k, v)| format!("{k}: {}", python_repr(v)))
            .collect();
        format!(
            "DatasetRef({}, {{{}}}, run={:?}, id={})",
            self.shape.dataset_type.get().__repr__(),
            values.join(", "),
            self.run.bind(py).to_string(),
            self.id
        )
    }
}
