//! Query results as Arrow, built in the engine and handed to pyarrow through the
//! Arrow C stream interface: no Python object per row.

use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::RecordBatchIterator;
use arrow_schema::ArrowError;
use valet::queries::DatasetSearch;
use valet::{Repo, RepoError};

/// The datasets of one type that a search finds, as an Arrow C stream of one batch
/// (see [`Repo::datasets_arrow`]).
pub fn datasets_table(
    repo: &Repo,
    dataset_type: &str,
    search: &DatasetSearch,
) -> Result<FFI_ArrowArrayStream, RepoError> {
    let batch = repo.datasets_arrow(dataset_type, search)?;
    let schema = batch.schema();
    let reader = RecordBatchIterator::new(std::iter::once(Ok::<_, ArrowError>(batch)), schema);
    Ok(FFI_ArrowArrayStream::new(Box::new(reader)))
}
