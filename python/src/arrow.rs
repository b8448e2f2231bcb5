//! Query results as Arrow, built in the engine and handed to pyarrow through the
//! Arrow C stream interface: no Python object per row.

use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::RecordBatchIterator;
use arrow_schema::ArrowError;
use valet::arrow_rows::ARROW_BATCH_ROWS;
use valet::queries::DatasetSearch;
use valet::{Repo, RepoError};

/// The datasets of one type that a search finds, as an Arrow C stream of the
/// batches [`Repo::datasets_arrow`] builds (all built before the stream is handed
/// over, so that Python reads it without calling back into the engine).
pub fn datasets_table(
    repo: &Repo,
    dataset_type: &str,
    search: &DatasetSearch,
) -> Result<FFI_ArrowArrayStream, RepoError> {
    let schema = repo.datasets_arrow_schema(dataset_type)?;
    let mut batches = Vec::new();
    repo.datasets_arrow(dataset_type, search, ARROW_BATCH_ROWS, &mut |b| {
        batches.push(Ok::<_, ArrowError>(b));
        Ok(())
    })?;
    let reader = RecordBatchIterator::new(batches, schema);
    Ok(FFI_ArrowArrayStream::new(Box::new(reader)))
}
