//! valet's errors as the reference's Python exceptions. The classes live in
//! `valet/_exceptions.py` (with the reference's hierarchy); here a `RepoError` picks
//! one by its kind and by the thing its message names first (valet's messages begin
//! with it: "collection …", "dataset type …", "data ID …").

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use valet::{ErrorKind, RepoError};

/// The name of the exception class (in `valet._exceptions`) for an error.
fn class_name(e: &RepoError, message: &str) -> &'static str {
    let starts = |p: &str| message.starts_with(p);
    match e.kind() {
        ErrorKind::NotFound if starts("dataset type") => "MissingDatasetTypeError",
        ErrorKind::NotFound if starts("collection") || starts("chain") => "MissingCollectionError",
        ErrorKind::NotFound if starts("dataset ") => "DatasetNotFoundError",
        ErrorKind::NotFound if starts("data ID") => "DataIdValueError",
        ErrorKind::NotFound => "LookupError",
        ErrorKind::Conflict => "ConflictingDefinitionError",
        ErrorKind::Denied => "PermissionError",
        ErrorKind::InvalidInput if message.contains("would create a cycle") => {
            "CollectionCycleError"
        }
        ErrorKind::InvalidInput if names_collection_type(message) => "CollectionTypeError",
        ErrorKind::InvalidInput if message.contains("calibration") && message.contains("time") => {
            "CalibrationLookupError"
        }
        ErrorKind::InvalidInput if starts("data ID") => "DataIdValueError",
        ErrorKind::InvalidInput if message.contains("where") || message.contains("expression") => {
            "InvalidQueryError"
        }
        ErrorKind::InvalidInput => "ValueError",
        ErrorKind::Io | ErrorKind::Datastore => "OSError",
        ErrorKind::ObsCore | ErrorKind::Database => "RuntimeError",
    }
}

/// Whether a message says a collection is of the wrong type ("… is RUN; …",
/// "… is TAGGED, not CHAINED").
fn names_collection_type(message: &str) -> bool {
    ["RUN", "TAGGED", "CHAINED", "CALIBRATION"]
        .iter()
        .any(|t| message.contains(&format!(" is {t};")) || message.contains(&format!(" is {t},")))
}

/// The Python exception for a valet error, with valet's one-line message.
pub fn to_py(e: RepoError) -> PyErr {
    let message = e.to_string();
    let name = class_name(&e, &message);
    Python::attach(|py| {
        let made = py
            .import("valet._exceptions")
            .and_then(|m| m.getattr(name))
            .and_then(|class| class.call1((message.clone(),)));
        match made {
            Ok(exception) => PyErr::from_value(exception),
            Err(_) => PyRuntimeError::new_err(message),
        }
    })
}

/// Shorthand: a valet result as a Python result.
pub trait IntoPy<T> {
    /// Map the error to the reference's exception.
    fn py(self) -> PyResult<T>;
}

impl<T, E: Into<RepoError>> IntoPy<T> for Result<T, E> {
    fn py(self) -> PyResult<T> {
        self.map_err(|e| to_py(e.into()))
    }
}
