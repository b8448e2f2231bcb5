//! `valet._valet.Dregs`: DESC's data registry calls on a repository, for
//! `valet.dregs` (python/valet/dregs.py), which gives them DESC's names. Each method
//! calls one `Repo` method with the GIL released.

use std::path::PathBuf;

use pyo3::exceptions::{PyOSError, PyPermissionError, PyValueError};
use pyo3::prelude::*;
use valet::dregs::aliases::AliasTarget;
use valet::dregs::model::{LocationType, NamedDataset};
use valet::dregs::modify::parse_date;
use valet::dregs::query::{Filter, FilterValue, Find, Kind, StatusFilter};
use valet::dregs::register::Registration;
use valet::provenance::ExecutionSpec;

use crate::repo::uuids;
use valet::registry::timespan::format_utc_iso;
use valet::{ErrorKind, Repo, RepoError};

use crate::values::{value_from_py, value_to_py};

/// DESC's registry raises `ValueError` for what it refuses; valet keeps its one-line
/// message, and says permission and file errors as such.
fn dregs_err(e: RepoError) -> PyErr {
    let message = e.to_string();
    match e.kind() {
        ErrorKind::Denied => PyPermissionError::new_err(message),
        ErrorKind::Io => PyOSError::new_err(message),
        _ => PyValueError::new_err(message),
    }
}

trait OrPy<T> {
    fn or_py(self) -> PyResult<T>;
}

impl<T> OrPy<T> for Result<T, RepoError> {
    fn or_py(self) -> PyResult<T> {
        self.map_err(dregs_err)
    }
}

fn date(text: Option<String>) -> PyResult<Option<i64>> {
    text.map(|t| parse_date(&t).map_err(|e| PyValueError::new_err(e.to_string())))
        .transpose()
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Int => "int",
        Kind::Float => "float",
        Kind::Text => "text",
        Kind::Bool => "bool",
        Kind::Date => "date",
    }
}

/// A named dataset as a dict of DESC's column names (dates as ISO text).
fn dataset_dict<'py>(
    py: Python<'py>,
    d: &NamedDataset,
) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
    use valet::registry::timespan::format_utc_iso;
    let out = pyo3::types::PyDict::new(py);
    let date = |ns: Option<i64>| ns.map(format_utc_iso);
    out.set_item("dataset_id", d.dataset_id)?;
    out.set_item("name", &d.name)?;
    out.set_item("version_string", d.version.to_string())?;
    out.set_item("version_major", d.version.major)?;
    out.set_item("version_minor", d.version.minor)?;
    out.set_item("version_patch", d.version.patch)?;
    out.set_item("owner", &d.owner)?;
    out.set_item("owner_type", &d.owner_type)?;
    out.set_item("relative_path", &d.relative_path)?;
    out.set_item("location_type", &d.location_type)?;
    out.set_item("data_org", &d.data_org)?;
    out.set_item("nfiles", d.nfiles)?;
    out.set_item("total_disk_space", d.total_size as f64 / 1048576.0)?;
    out.set_item("checksum", &d.checksum)?;
    out.set_item("description", &d.description)?;
    out.set_item("access_api", &d.access_api)?;
    out.set_item("access_api_configuration", &d.access_api_configuration)?;
    out.set_item("url", &d.url)?;
    out.set_item("contact_email", &d.contact_email)?;
    out.set_item("creation_date", date(d.creation_date))?;
    out.set_item("register_date", date(Some(d.register_date)))?;
    out.set_item("creator_uid", &d.creator_uid)?;
    out.set_item("is_overwritable", d.is_overwritable)?;
    out.set_item("status", d.status)?;
    out.set_item("delete_date", date(d.delete_date))?;
    out.set_item("delete_uid", &d.delete_uid)?;
    out.set_item("replace_id", d.replace_id)?;
    out.set_item("replace_iteration", d.replace_iteration)?;
    out.set_item("execution_id", d.execution_id)?;
    Ok(out)
}

/// DESC's data registry on a valet repository.
#[pyclass(name = "Dregs", module = "valet._valet", frozen)]
pub struct PyDregs {
    repo: Repo,
}

#[pymethods]
impl PyDregs {
    /// Open the repository at `root`.
    #[new]
    fn open(py: Python<'_>, root: PathBuf) -> PyResult<Self> {
        let repo = py.detach(|| Repo::open(&root)).or_py()?;
        Ok(PyDregs { repo })
    }

    /// The directory below which named datasets' areas lie.
    #[getter]
    fn root_dir(&self) -> PathBuf {
        self.repo.dregs_root()
    }

    /// Register (or, with `replace`, replace) a dataset; returns (dataset id,
    /// execution id).
    #[pyo3(signature = (name, version, *, replace=false, relative_path=None, old_location=None,
        owner=None, owner_type=None, location_type="dataregistry", is_overwritable=false,
        description=None, access_api=None, access_api_configuration=None, url=None,
        contact_email=None, creation_date=None, execution_id=None, execution_name=None,
        execution_description=None, execution_start=None, execution_site=None,
        execution_configuration=None, input_datasets=vec![], input_butler_datasets=vec![],
        keywords=vec![]))]
    #[allow(clippy::too_many_arguments)]
    fn register(
        &self,
        py: Python<'_>,
        name: String,
        version: String,
        replace: bool,
        relative_path: Option<String>,
        old_location: Option<PathBuf>,
        owner: Option<String>,
        owner_type: Option<String>,
        location_type: &str,
        is_overwritable: bool,
        description: Option<String>,
        access_api: Option<String>,
        access_api_configuration: Option<String>,
        url: Option<String>,
        contact_email: Option<String>,
        creation_date: Option<String>,
        execution_id: Option<i64>,
        execution_name: Option<String>,
        execution_description: Option<String>,
        execution_start: Option<String>,
        execution_site: Option<String>,
        execution_configuration: Option<String>,
        input_datasets: Vec<i64>,
        input_butler_datasets: Vec<String>,
        keywords: Vec<String>,
    ) -> PyResult<(i64, i64)> {
        let reg = Registration {
            relative_path,
            owner,
            owner_type,
            location_type: location_type
                .parse::<LocationType>()
                .map_err(|e| PyValueError::new_err(e.to_string()))?,
            is_overwritable,
            description,
            access_api,
            access_api_configuration,
            url,
            contact_email,
            creation_date: date(creation_date)?,
            execution_id,
            execution: ExecutionSpec {
                name: execution_name.unwrap_or_default(),
                description: execution_description,
                site: execution_site,
                configuration: execution_configuration,
                started_at: date(execution_start)?,
                inputs: uuids(input_butler_datasets)?,
                named_inputs: input_datasets,
                runs: Vec::new(),
            },
            keywords,
            ..Registration::new(name, version)
        };
        let made = py
            .detach(|| {
                if replace {
                    self.repo.dregs_replace(&reg, old_location.as_deref())
                } else {
                    self.repo.dregs_register(&reg, old_location.as_deref())
                }
            })
            .or_py()?;
        Ok((made.dataset_id, made.execution_id))
    }

    /// Record an execution; returns its id.
    #[pyo3(signature = (name, description=None, execution_start=None, site=None,
        configuration=None, input_datasets=vec![], input_butler_datasets=vec![]))]
    #[allow(clippy::too_many_arguments)]
    fn register_execution(
        &self,
        py: Python<'_>,
        name: String,
        description: Option<String>,
        execution_start: Option<String>,
        site: Option<String>,
        configuration: Option<String>,
        input_datasets: Vec<i64>,
        input_butler_datasets: Vec<String>,
    ) -> PyResult<i64> {
        let spec = ExecutionSpec {
            name,
            description,
            site,
            configuration,
            started_at: date(execution_start)?,
            inputs: uuids(input_butler_datasets)?,
            named_inputs: input_datasets,
            runs: Vec::new(),
        };
        py.detach(|| self.repo.register_execution(&spec)).or_py()
    }

    /// Delete dataset `id`; returns how many files were removed.
    fn delete(&self, py: Python<'_>, id: i64) -> PyResult<usize> {
        Ok(py.detach(|| self.repo.dregs_delete(id)).or_py()?.removed)
    }

    /// The id of the latest iteration of `name` `version` in this owner's area.
    fn find_by_name(
        &self,
        py: Python<'_>,
        name: &str,
        version: &str,
        owner: &str,
        owner_type: &str,
    ) -> PyResult<i64> {
        Ok(py
            .detach(|| {
                self.repo
                    .dregs_find_by_name(name, version, owner, owner_type)
            })
            .or_py()?
            .dataset_id)
    }

    /// Dataset `id` as a dict, or `None`.
    fn dataset<'py>(
        &self,
        py: Python<'py>,
        id: i64,
    ) -> PyResult<Option<Bound<'py, pyo3::types::PyDict>>> {
        match py.detach(|| self.repo.dregs_dataset(id)) {
            Ok(d) => Ok(Some(dataset_dict(py, &d)?)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(dregs_err(e)),
        }
    }

    /// Set a modifiable column of row `id` of `table`.
    #[pyo3(signature = (table, id, column, value))]
    fn modify(
        &self,
        py: Python<'_>,
        table: &str,
        id: i64,
        column: &str,
        value: Option<String>,
    ) -> PyResult<()> {
        py.detach(|| self.repo.dregs_modify(table, id, column, value.as_deref()))
            .or_py()
    }

    /// Register an alias of a dataset or of another alias; `None` if the alias
    /// exists and `supersede` is false.
    #[pyo3(signature = (alias, dataset_id=None, ref_alias_id=None, supersede=false))]
    fn alias(
        &self,
        py: Python<'_>,
        alias: &str,
        dataset_id: Option<i64>,
        ref_alias_id: Option<i64>,
        supersede: bool,
    ) -> PyResult<Option<i64>> {
        let target = match (dataset_id, ref_alias_id) {
            (Some(d), _) => AliasTarget::Dataset(d),
            (None, Some(a)) => AliasTarget::Alias(a),
            (None, None) => {
                return Err(PyValueError::new_err(
                    "one of dataset_id, ref_alias_id must have a value",
                ))
            }
        };
        py.detach(|| self.repo.dregs_alias(alias, target, supersede))
            .or_py()
    }

    /// The current row of an alias: (alias id, "dataset" or "alias", target id).
    fn resolve_alias(
        &self,
        py: Python<'_>,
        alias: &str,
    ) -> PyResult<Option<(i64, &'static str, i64)>> {
        Ok(py
            .detach(|| self.repo.dregs_alias_row(alias))
            .or_py()?
            .map(|(id, t)| match t {
                AliasTarget::Dataset(d) => (id, "dataset", d),
                AliasTarget::Alias(a) => (id, "alias", a),
            }))
    }

    /// The dataset an alias finally names.
    fn resolve_alias_fully(&self, py: Python<'_>, alias: &str) -> PyResult<Option<i64>> {
        py.detach(|| self.repo.dregs_resolve_alias(alias)).or_py()
    }

    /// The dataset an alias, by its id, finally names.
    fn follow_alias(&self, py: Python<'_>, alias_id: i64) -> PyResult<Option<i64>> {
        py.detach(|| self.repo.dregs_follow_alias(alias_id)).or_py()
    }

    /// Register new keywords.
    fn create_keywords(&self, py: Python<'_>, keywords: Vec<String>) -> PyResult<Vec<i64>> {
        py.detach(|| self.repo.dregs_create_keywords(&keywords))
            .or_py()
    }

    /// Tag dataset `id` with registered keywords.
    fn add_keywords(&self, py: Python<'_>, id: i64, keywords: Vec<String>) -> PyResult<()> {
        py.detach(|| self.repo.dregs_add_keywords(id, &keywords))
            .or_py()
    }

    /// The keywords of dataset `id`.
    fn dataset_keywords(&self, py: Python<'_>, id: i64) -> PyResult<Vec<String>> {
        py.detach(|| self.repo.dregs_dataset_keywords(id)).or_py()
    }

    /// The columns of `table` (`dataset`, `execution`, `dataset_alias`) that
    /// `modify` may change.
    #[staticmethod]
    fn modifiable_columns(table: &str) -> PyResult<Vec<&'static str>> {
        valet::dregs::modify::modifiable_columns(table)
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Every keyword: (keyword, system, active).
    fn keywords(&self, py: Python<'_>) -> PyResult<Vec<(String, bool, bool)>> {
        Ok(py
            .detach(|| self.repo.dregs_keywords())
            .or_py()?
            .into_iter()
            .map(|k| (k.keyword, k.system, k.active))
            .collect())
    }

    /// The absolute path of dataset `id`'s data; `None` for data the registry does
    /// not manage (external, meta-only).
    fn path(&self, py: Python<'_>, id: i64) -> PyResult<Option<PathBuf>> {
        let d = py.detach(|| self.repo.dregs_dataset(id)).or_py()?;
        if d.location().is_none() {
            return Ok(None);
        }
        py.detach(|| self.repo.dregs_path(id)).or_py().map(Some)
    }

    /// DESC's `find_datasets`: (columns, kinds, rows) for `columns` (default every
    /// dataset column) of what the filters `(column, op, value)` and `where` select.
    #[pyo3(signature = (columns=None, filters=vec![], r#where=None, limit=None, status="all"))]
    #[allow(clippy::type_complexity)]
    fn find<'py>(
        &self,
        py: Python<'py>,
        columns: Option<Vec<String>>,
        filters: Vec<(String, String, Bound<'py, PyAny>)>,
        r#where: Option<String>,
        limit: Option<usize>,
        status: &str,
    ) -> PyResult<(Vec<String>, Vec<&'static str>, Vec<Vec<Bound<'py, PyAny>>>)> {
        let mut parsed = Vec::with_capacity(filters.len());
        for (column, op, value) in filters {
            let v = match value_from_py(&value, &format!("filter value of {column}"))? {
                valet::Value::Int(i) => FilterValue::Int(i),
                valet::Value::Float(x) => FilterValue::Float(x),
                valet::Value::Bool(b) => FilterValue::Bool(b),
                valet::Value::Text(t) => FilterValue::Text(t),
                valet::Value::Null => FilterValue::Null,
                other => {
                    return Err(PyValueError::new_err(format!(
                        "filter value of {column}: {other} is not usable"
                    )))
                }
            };
            parsed.push(Filter::new(&column, &op, v));
        }
        let status = match status.to_lowercase().as_str() {
            "all" => StatusFilter::All,
            "valid" => StatusFilter::Valid,
            "invalid" => StatusFilter::Invalid,
            other => {
                return Err(PyValueError::new_err(format!(
                    "{other} is not an acceptable status value (value=['valid', 'invalid', 'all'])"
                )))
            }
        };
        let query = Find {
            columns,
            filters: parsed,
            where_expr: r#where,
            status,
            limit,
        };
        let result = py.detach(|| self.repo.dregs_find(&query)).or_py()?;
        // Dates as ISO text (the Python layer makes datetimes), booleans as bool
        // (SQLite stores integers), the rest as they are.
        let mut rows = Vec::with_capacity(result.rows.len());
        for row in &result.rows {
            let mut out = Vec::with_capacity(row.len());
            for (v, k) in row.iter().zip(&result.kinds) {
                out.push(match (k, v) {
                    (Kind::Date, valet::Value::Int(ns)) => {
                        format_utc_iso(*ns).into_pyobject(py)?.into_any()
                    }
                    (Kind::Bool, v) if !v.is_null() => {
                        pyo3::types::PyBool::new(py, v.as_i64().is_some_and(|i| i != 0))
                            .to_owned()
                            .into_any()
                    }
                    _ => value_to_py(py, v)?,
                });
            }
            rows.push(out);
        }
        Ok((
            result.columns,
            result.kinds.iter().map(|k| kind_name(*k)).collect(),
            rows,
        ))
    }
}
