//! `valet._valet`: valet's engine for Python. Each method of [`repo::PyRepo`] parses
//! its arguments, calls one `valet::Repo` method with the GIL released, and turns the
//! answer into Python values; the reference's API is shaped around it in the `valet`
//! package (`python/valet/`).

use pyo3::prelude::*;

mod arrow;
mod compact;
mod dregs;
mod errors;
mod refs;
mod repo;
mod values;

/// The extension module.
#[pymodule]
fn _valet(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<repo::PyRepo>()?;
    m.add_class::<dregs::PyDregs>()?;
    m.add_class::<refs::PyDatasetType>()?;
    m.add_class::<refs::PyDatasetRef>()?;
    m.add_class::<refs::PyDataCoordinate>()?;
    m.add_class::<refs::PyDimensionGroup>()?;
    m.add_class::<refs::PyDimensionRecord>()?;
    Ok(())
}
