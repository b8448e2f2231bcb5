//! Query results as Arrow record batches, built column by column: no object per row.

use std::sync::Arc;

use arrow_array::builder::{ArrayBuilder, Int32Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, DictionaryArray, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use valet_registry::schema::dimension_is_numeric;

use crate::queries::DatasetSearch;
use crate::{Repo, RepoError, Value};

/// Rows per record batch: large enough that per-batch costs vanish, small enough
/// that a batch's buffers are allocated once at their full size and memory stays
/// bounded however many rows a search finds.
pub const ARROW_BATCH_ROWS: usize = 65_536;

/// A text column whose values repeat (run names, instrument names), dictionary
/// encoded so that each distinct value is stored once per batch. Consecutive rows
/// mostly repeat the previous value, which is checked before any hashing.
struct Repeated {
    keys: Int32Builder,
    values: Vec<String>,
    index: foldhash::HashMap<String, i32>,
    last: Option<i32>,
}

impl Repeated {
    fn with_capacity(rows: usize) -> Repeated {
        Repeated {
            keys: Int32Builder::with_capacity(rows),
            values: Vec::new(),
            index: Default::default(),
            last: None,
        }
    }

    fn append_value(&mut self, v: &str) {
        let key = match self.last {
            Some(k) if self.values[k as usize] == v => k,
            _ => match self.index.get(v) {
                Some(&k) => k,
                None => {
                    let k = self.values.len() as i32;
                    self.values.push(v.to_owned());
                    self.index.insert(v.to_owned(), k);
                    k
                }
            },
        };
        self.last = Some(key);
        self.keys.append_value(key);
    }

    fn append_null(&mut self) {
        self.keys.append_null();
    }

    /// The column so far; the dictionary starts over for the next batch.
    fn finish(&mut self) -> ArrayRef {
        let keys = self.keys.finish();
        let values = StringArray::from(std::mem::take(&mut self.values));
        self.index.clear();
        self.last = None;
        // The keys index `values` by construction, so this cannot fail.
        Arc::new(DictionaryArray::new(keys, Arc::new(values)))
    }
}

/// One column of dimension values, typed by the dimension's key in the universe.
enum Column {
    Int(Int64Builder),
    Text(Repeated),
}

impl Column {
    fn new(numeric: bool, rows: usize) -> Column {
        if numeric {
            Column::Int(Int64Builder::with_capacity(rows))
        } else {
            Column::Text(Repeated::with_capacity(rows))
        }
    }

    fn data_type(numeric: bool) -> DataType {
        if numeric {
            DataType::Int64
        } else {
            repeated_type()
        }
    }

    fn push(&mut self, v: Option<&Value>) {
        match (self, v) {
            (Column::Int(b), Some(Value::Int(i))) => b.append_value(*i),
            (Column::Int(b), _) => b.append_null(),
            (Column::Text(b), Some(Value::Text(s))) => b.append_value(s),
            (Column::Text(b), Some(Value::Null) | None) => b.append_null(),
            (Column::Text(b), Some(other)) => b.append_value(&other.to_string()),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Column::Int(b) => Arc::new(b.finish()),
            Column::Text(b) => b.finish(),
        }
    }
}

fn repeated_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// The columns of one batch being filled.
struct BatchBuilder {
    schema: SchemaRef,
    numeric: Vec<bool>,
    ids: StringBuilder,
    runs: Repeated,
    columns: Vec<Column>,
    capacity: usize,
}

impl BatchBuilder {
    fn new(schema: SchemaRef, numeric: Vec<bool>, rows: usize) -> BatchBuilder {
        let columns = numeric.iter().map(|&n| Column::new(n, rows)).collect();
        BatchBuilder {
            schema,
            numeric,
            ids: StringBuilder::with_capacity(rows, rows * uuid::fmt::Hyphenated::LENGTH),
            runs: Repeated::with_capacity(rows),
            columns,
            capacity: rows,
        }
    }

    /// The rows filled so far.
    fn len(&self) -> usize {
        self.ids.len()
    }

    /// The rows so far as a batch, the builders made again at full size: taking a
    /// batch leaves Arrow's builders without capacity, and growing them row by row
    /// would copy each buffer several times.
    fn take(&mut self) -> Result<RecordBatch, RepoError> {
        let fresh = BatchBuilder::new(self.schema.clone(), self.numeric.clone(), self.capacity);
        let mut full = std::mem::replace(self, fresh);
        let mut arrays: Vec<ArrayRef> = vec![Arc::new(full.ids.finish()), full.runs.finish()];
        arrays.extend(full.columns.iter_mut().map(Column::finish));
        RecordBatch::try_new(full.schema, arrays)
            .map_err(|e| RepoError::Invalid(format!("building the Arrow table: {e}")))
    }
}

impl Repo {
    /// The Arrow schema of [`Repo::datasets_arrow`]'s batches for a dataset type:
    /// `id` (the UUID as text), `run` (dictionary-encoded text), then each required
    /// dimension: integers for integer keys, dictionary-encoded text otherwise.
    pub fn datasets_arrow_schema(&self, dataset_type: &str) -> Result<SchemaRef, RepoError> {
        Ok(self.arrow_layout(dataset_type)?.0)
    }

    fn arrow_layout(&self, dataset_type: &str) -> Result<(SchemaRef, Vec<bool>), RepoError> {
        let t = self.dataset_type(dataset_type)?;
        let universe = &self.registry.universe;
        let numeric: Vec<bool> = t
            .dimensions
            .required
            .iter()
            .map(|d| dimension_is_numeric(universe, d))
            .collect();
        let mut fields = vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("run", repeated_type(), false),
        ];
        for (name, &n) in t.dimensions.required.iter().zip(&numeric) {
            fields.push(Field::new(name, Column::data_type(n), true));
        }
        Ok((Arc::new(Schema::new(fields)), numeric))
    }

    /// The datasets of one type that a search finds, as Arrow record batches of up to
    /// `batch_rows` rows ([`ARROW_BATCH_ROWS`] unless testing) handed to `each` as
    /// they fill (schema:
    /// [`Repo::datasets_arrow_schema`]). Built column by column without an object
    /// per row, for Python's `as_arrow` and the server's Arrow IPC stream. An error
    /// from `each` stops the search and is returned.
    pub fn datasets_arrow(
        &self,
        dataset_type: &str,
        search: &DatasetSearch,
        batch_rows: usize,
        each: &mut dyn FnMut(RecordBatch) -> Result<(), RepoError>,
    ) -> Result<(), RepoError> {
        let (schema, numeric) = self.arrow_layout(dataset_type)?;
        let batch_rows = batch_rows.max(1);
        let mut batch = BatchBuilder::new(schema, numeric, batch_rows);
        let mut uuid_text = uuid::Uuid::encode_buffer();
        let mut failed = None;
        let mut search = search.clone();
        search.dataset_types = vec![dataset_type.to_owned()];
        self.search_dataset_rows(&search, &mut |found| {
            batch
                .ids
                .append_value(found.id.hyphenated().encode_lower(&mut uuid_text));
            batch.runs.append_value(found.run);
            for (i, column) in batch.columns.iter_mut().enumerate() {
                column.push(found.values.get(i));
            }
            if batch.len() == batch_rows {
                if let Err(e) = batch.take().and_then(&mut *each) {
                    failed = Some(e);
                    return Ok(false);
                }
            }
            Ok(true)
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        if batch.len() > 0 {
            each(batch.take()?)?;
        }
        Ok(())
    }
}
