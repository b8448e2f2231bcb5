//! Writing ObsCore rows as Parquet, in row groups, with the column types the
//! reference's table uses (text, integers, floats, booleans).

use std::io::Write;
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::config::{ExtraColumn, ObsCoreConfig};
use crate::record::{columns, CellSink};
use crate::ObsCoreError;

/// Rows per Parquet row group: large enough for good compression, small enough that
/// readers can skip through the file.
const ROWS_PER_GROUP: usize = 131_072;

/// The Arrow type of each column.
pub fn column_types(config: &ObsCoreConfig) -> Vec<DataType> {
    let ints = [
        "calib_level",
        "s_xel1",
        "s_xel2",
        "t_xel",
        "em_xel",
        "pol_xel",
    ];
    let floats = [
        "s_resolution",
        "t_min",
        "t_max",
        "t_exptime",
        "t_resolution",
        "em_min",
        "em_max",
        "em_res_power",
        "s_ra",
        "s_dec",
        "s_fov",
    ];
    let extra_type = |name: &str| -> Option<DataType> {
        let spec = config.extra_columns.get(name).or_else(|| {
            config
                .types
                .iter()
                .find_map(|(_, t)| t.extra_columns.get(name))
        })?;
        Some(match spec {
            ExtraColumn::Template { ty, .. } => match ty.as_str() {
                "int" => DataType::Int64,
                "float" => DataType::Float64,
                "bool" => DataType::Boolean,
                _ => DataType::Utf8,
            },
            ExtraColumn::Literal(v) => match v {
                serde_yaml_ng::Value::Number(n) if n.is_i64() => DataType::Int64,
                serde_yaml_ng::Value::Number(_) => DataType::Float64,
                serde_yaml_ng::Value::Bool(_) => DataType::Boolean,
                _ => DataType::Utf8,
            },
        })
    };
    columns(config)
        .iter()
        .map(|c| {
            if ints.contains(&c.as_str()) {
                DataType::Int64
            } else if floats.contains(&c.as_str()) {
                DataType::Float64
            } else {
                extra_type(c).unwrap_or(DataType::Utf8)
            }
        })
        .collect()
}

/// The Arrow schema of the table: [`columns`] with [`column_types`], all nullable.
pub fn schema(config: &ObsCoreConfig) -> Arc<Schema> {
    let fields: Vec<Field> = columns(config)
        .into_iter()
        .zip(column_types(config))
        .map(|(name, ty)| Field::new(name, ty, true))
        .collect();
    Arc::new(Schema::new(fields))
}

/// One column being built.
enum Column {
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Text(StringBuilder),
}

/// Builds one Arrow record batch row by row: a [`CellSink`] whose cells fill the
/// columns in order, so rows never exist as values in between.
pub struct BatchBuilder {
    schema: Arc<Schema>,
    columns: Vec<Column>,
    next: usize,
}

impl BatchBuilder {
    /// An empty batch of `schema`, sized for about `rows` rows.
    pub fn new(schema: Arc<Schema>, rows: usize) -> BatchBuilder {
        let columns = schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Int64 => Column::Int(Int64Builder::with_capacity(rows)),
                DataType::Float64 => Column::Float(Float64Builder::with_capacity(rows)),
                DataType::Boolean => Column::Bool(BooleanBuilder::with_capacity(rows)),
                _ => Column::Text(StringBuilder::with_capacity(rows, rows * 32)),
            })
            .collect();
        BatchBuilder {
            schema,
            columns,
            next: 0,
        }
    }

    fn column(&mut self) -> Option<&mut Column> {
        let c = self.columns.get_mut(self.next);
        self.next += 1;
        c
    }

    /// End the current row; it must have had a cell for every column.
    pub fn end_row(&mut self) -> Result<(), ObsCoreError> {
        let cells = std::mem::replace(&mut self.next, 0);
        if cells != self.columns.len() {
            return Err(ObsCoreError::Config(format!(
                "ObsCore row has {cells} cells for {} columns",
                self.columns.len()
            )));
        }
        Ok(())
    }

    /// The finished batch.
    pub fn finish(mut self) -> Result<RecordBatch, ObsCoreError> {
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter_mut()
            .map(|c| -> ArrayRef {
                match c {
                    Column::Int(b) => Arc::new(b.finish()),
                    Column::Float(b) => Arc::new(b.finish()),
                    Column::Bool(b) => Arc::new(b.finish()),
                    Column::Text(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        RecordBatch::try_new(self.schema, arrays).map_err(err)
    }
}

impl CellSink for BatchBuilder {
    fn null(&mut self) {
        match self.column() {
            Some(Column::Int(b)) => b.append_null(),
            Some(Column::Float(b)) => b.append_null(),
            Some(Column::Bool(b)) => b.append_null(),
            Some(Column::Text(b)) => b.append_null(),
            None => {}
        }
    }
    fn int(&mut self, v: i64) {
        match self.column() {
            Some(Column::Int(b)) => b.append_value(v),
            Some(Column::Float(b)) => b.append_value(v as f64),
            Some(Column::Bool(b)) => b.append_value(v != 0),
            Some(Column::Text(b)) => b.append_value(v.to_string()),
            None => {}
        }
    }
    fn float(&mut self, v: f64) {
        match self.column() {
            Some(Column::Int(b)) => b.append_value(v as i64),
            Some(Column::Float(b)) => b.append_value(v),
            Some(Column::Bool(b)) => b.append_value(v != 0.0),
            Some(Column::Text(b)) => b.append_value(v.to_string()),
            None => {}
        }
    }
    fn text(&mut self, v: &str) {
        match self.column() {
            Some(Column::Text(b)) => b.append_value(v),
            Some(Column::Int(b)) => b.append_option(v.parse().ok()),
            Some(Column::Float(b)) => b.append_option(v.parse().ok()),
            Some(Column::Bool(b)) => b.append_option(v.parse().ok()),
            None => {}
        }
    }
    fn boolean(&mut self, v: bool) {
        match self.column() {
            Some(Column::Bool(b)) => b.append_value(v),
            Some(Column::Int(b)) => b.append_value(v as i64),
            Some(Column::Float(b)) => b.append_value(v as i64 as f64),
            Some(Column::Text(b)) => b.append_value(if v { "true" } else { "false" }),
            None => {}
        }
    }
}

/// Writes record batches into a Parquet file.
pub struct ParquetSink<W: Write + Send> {
    writer: ArrowWriter<W>,
}

fn err(e: impl std::fmt::Display) -> ObsCoreError {
    ObsCoreError::Config(format!("writing Parquet: {e}"))
}

/// Columns whose values are (nearly) all distinct: a dictionary would only cost time.
const DISTINCT_COLUMNS: [&str; 4] = ["obs_id", "obs_publisher_did", "access_url", "s_region"];

impl<W: Write + Send> ParquetSink<W> {
    /// A sink writing batches of `schema` to `out`.
    pub fn new(schema: Arc<Schema>, out: W) -> Result<ParquetSink<W>, ObsCoreError> {
        let mut props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROWS_PER_GROUP));
        for c in DISTINCT_COLUMNS {
            props = props.set_column_dictionary_enabled(ColumnPath::from(c), false);
        }
        let writer = ArrowWriter::try_new(out, schema, Some(props.build())).map_err(err)?;
        Ok(ParquetSink { writer })
    }

    /// Add a batch (any number of rows; row groups are cut at a fixed size).
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), ObsCoreError> {
        self.writer.write(batch).map_err(err)
    }

    /// Write what is pending and the file footer.
    pub fn finish(self) -> Result<(), ObsCoreError> {
        self.writer.close().map_err(err)?;
        Ok(())
    }
}
