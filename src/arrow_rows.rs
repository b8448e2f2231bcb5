//! Query results as Arrow record batches, built column by column: no object per row.

use std::sync::Arc;

use arrow_array::builder::{Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};

use crate::queries::DatasetSearch;
use crate::{Repo, RepoError, Value};

/// One column of dimension values, typed by the values it holds.
enum Column {
    Int(Int64Builder),
    Text(StringBuilder),
}

impl Column {
    fn push(&mut self, v: Option<&Value>) {
        match (self, v) {
            (Column::Int(b), Some(Value::Int(i))) => b.append_value(*i),
            (Column::Int(b), _) => b.append_null(),
            (Column::Text(b), Some(Value::Text(s))) => b.append_value(s),
            (Column::Text(b), Some(other)) => b.append_value(other.to_string()),
            (Column::Text(b), None) => b.append_null(),
        }
    }

    fn finish(self) -> (DataType, ArrayRef) {
        match self {
            Column::Int(mut b) => (DataType::Int64, Arc::new(b.finish())),
            Column::Text(mut b) => (DataType::Utf8, Arc::new(b.finish())),
        }
    }
}

impl Repo {
    /// The datasets of one type that a search finds, as one Arrow record batch: `id`
    /// (the UUID as text), `run`, then each required dimension, built column by column
    /// without an object per row (for Python's `as_arrow` and the server's Arrow IPC).
    pub fn datasets_arrow(
        &self,
        dataset_type: &str,
        search: &DatasetSearch,
    ) -> Result<RecordBatch, RepoError> {
        let repo = self;
        let t = repo.dataset_type(dataset_type)?;
        let dimensions = t.dimensions.required.clone();
        let mut ids = StringBuilder::new();
        let mut runs = StringBuilder::new();
        // A column's type is fixed by the universe: integers for integer keys, text
        // otherwise; the first value decides, before which a column is undecided.
        let mut columns: Vec<Option<Column>> = dimensions.iter().map(|_| None).collect();
        let mut pending_nulls = vec![0usize; dimensions.len()];
        let mut uuid_text = uuid::Uuid::encode_buffer();
        repo.search_dataset_rows(search, &mut |found| {
            ids.append_value(found.id.hyphenated().encode_lower(&mut uuid_text));
            runs.append_value(found.run);
            for i in 0..dimensions.len() {
                let v = found.values.get(i);
                let column = match (&mut columns[i], v) {
                    (Some(c), _) => c,
                    (slot @ None, Some(v)) if !v.is_null() => {
                        let mut c = match v {
                            Value::Int(_) => Column::Int(Int64Builder::new()),
                            _ => Column::Text(StringBuilder::new()),
                        };
                        for _ in 0..pending_nulls[i] {
                            c.push(None);
                        }
                        slot.insert(c)
                    }
                    (None, _) => {
                        pending_nulls[i] += 1;
                        continue;
                    }
                };
                column.push(v);
            }
            Ok(true)
        })?;
        let mut fields = vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("run", DataType::Utf8, false),
        ];
        let mut arrays: Vec<ArrayRef> = vec![Arc::new(ids.finish()), Arc::new(runs.finish())];
        for ((name, column), nulls) in dimensions.iter().zip(columns).zip(pending_nulls) {
            let column = column.unwrap_or_else(|| {
                let mut c = Column::Text(StringBuilder::new());
                for _ in 0..nulls {
                    c.push(None);
                }
                c
            });
            let (data_type, array) = column.finish();
            fields.push(Field::new(name, data_type, true));
            arrays.push(array);
        }
        let schema = Arc::new(Schema::new(fields));
        RecordBatch::try_new(schema, arrays)
            .map_err(|e| RepoError::Invalid(format!("building the Arrow table: {e}")))
    }
}
