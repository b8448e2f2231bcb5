//! Values between Python and valet: dimension values, data IDs, timespans.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyString};
use valet::{DataId, Timespan, Value};

/// A dimension or record value as a Python object.
pub fn value_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::Float(x) => x.into_pyobject(py)?.into_any(),
        Value::Text(s) => s.into_pyobject(py)?.into_any(),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Bytes(b) => PyBytes::new(py, b).into_any(),
        Value::Uuid(u) => uuid_to_py(py, u)?,
    })
}

/// A `uuid.UUID`.
pub fn uuid_to_py<'py>(py: Python<'py>, u: &uuid::Uuid) -> PyResult<Bound<'py, PyAny>> {
    let kwargs = PyDict::new(py);
    kwargs.set_item("bytes", PyBytes::new(py, u.as_bytes()))?;
    py.import("uuid")?.getattr("UUID")?.call((), Some(&kwargs))
}

/// A Python value as a dimension value; `what` names it in errors.
pub fn value_from_py(v: &Bound<'_, PyAny>, what: &str) -> PyResult<Value> {
    if v.is_none() {
        Ok(Value::Null)
    } else if v.is_instance_of::<PyBool>() {
        Ok(Value::Bool(v.extract()?))
    } else if v.is_instance_of::<PyInt>() {
        Ok(Value::Int(v.extract()?))
    } else if v.is_instance_of::<PyFloat>() {
        Ok(Value::Float(v.extract()?))
    } else if v.is_instance_of::<PyString>() {
        Ok(Value::Text(v.extract()?))
    } else if v.is_instance_of::<PyBytes>() {
        Ok(Value::Bytes(v.extract()?))
    } else if let Ok(i) = v.call_method0("__index__") {
        // numpy integers and other integer-like values.
        Ok(Value::Int(i.extract()?))
    } else {
        Err(PyTypeError::new_err(format!(
            "{what}: {} is not a dimension value (int, str, float or bool)",
            v.repr().map(|r| r.to_string()).unwrap_or_default()
        )))
    }
}

/// A data ID from a mapping of dimension names to values.
pub fn data_id_from_py(d: Option<&Bound<'_, PyDict>>) -> PyResult<DataId> {
    let mut out = DataId::new();
    if let Some(d) = d {
        for (k, v) in d.iter() {
            let key: String = k.extract()?;
            let value = value_from_py(&v, &format!("data ID value of {key:?}"))?;
            out.insert(key, value);
        }
    }
    Ok(out)
}

/// A timespan from TAI nanosecond bounds (`None`: unbounded).
pub fn timespan(bounds: Option<(Option<i64>, Option<i64>)>) -> PyResult<Option<Timespan>> {
    bounds.map(span).transpose()
}

/// A bounded or half-bounded timespan from TAI nanosecond bounds.
pub fn span(bounds: (Option<i64>, Option<i64>)) -> PyResult<Timespan> {
    Timespan::checked(bounds.0, bounds.1).map_err(|e| PyValueError::new_err(e.to_string()))
}
