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

use crate::config::{ExtraColumn, ObsCoreConfig};
use crate::record::{columns, ObsValue};
use crate::ObsCoreError;

const ROWS_PER_GROUP: usize = 65_536;

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

/// Streams rows into a Parquet file.
pub struct ParquetSink<W: Write + Send> {
    writer: ArrowWriter<W>,
    schema: Arc<Schema>,
    types: Vec<DataType>,
    pending: Vec<Vec<ObsValue>>,
}

fn err(e: impl std::fmt::Display) -> ObsCoreError {
    ObsCoreError::Config(format!("writing Parquet: {e}"))
}

impl<W: Write + Send> ParquetSink<W> {
    /// A sink writing to `out`.
    pub fn new(config: &ObsCoreConfig, out: W) -> Result<ParquetSink<W>, ObsCoreError> {
        let types = column_types(config);
        let fields: Vec<Field> = columns(config)
            .into_iter()
            .zip(types.iter())
            .map(|(name, ty)| Field::new(name, ty.clone(), true))
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let writer = ArrowWriter::try_new(out, schema.clone(), Some(props)).map_err(err)?;
        Ok(ParquetSink {
            writer,
            schema,
            types,
            pending: Vec::new(),
        })
    }

    /// Add one row (in `columns` order).
    pub fn push(&mut self, row: Vec<ObsValue>) -> Result<(), ObsCoreError> {
        self.pending.push(row);
        if self.pending.len() >= ROWS_PER_GROUP {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ObsCoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.pending);
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.types.len());
        for (i, ty) in self.types.iter().enumerate() {
            let array: ArrayRef = match ty {
                DataType::Int64 => {
                    let mut b = Int64Builder::with_capacity(rows.len());
                    for r in &rows {
                        match &r[i] {
                            ObsValue::Int(v) => b.append_value(*v),
                            ObsValue::Float(f) => b.append_value(*f as i64),
                            _ => b.append_null(),
                        }
                    }
                    Arc::new(b.finish())
                }
                DataType::Float64 => {
                    let mut b = Float64Builder::with_capacity(rows.len());
                    for r in &rows {
                        match &r[i] {
                            ObsValue::Float(v) => b.append_value(*v),
                            ObsValue::Int(v) => b.append_value(*v as f64),
                            _ => b.append_null(),
                        }
                    }
                    Arc::new(b.finish())
                }
                DataType::Boolean => {
                    let mut b = BooleanBuilder::with_capacity(rows.len());
                    for r in &rows {
                        match &r[i] {
                            ObsValue::Bool(v) => b.append_value(*v),
                            _ => b.append_null(),
                        }
                    }
                    Arc::new(b.finish())
                }
                _ => {
                    let mut b = StringBuilder::with_capacity(rows.len(), rows.len() * 16);
                    for r in &rows {
                        match &r[i] {
                            ObsValue::Text(s) => b.append_value(s),
                            ObsValue::Int(v) => b.append_value(v.to_string()),
                            ObsValue::Float(v) => b.append_value(v.to_string()),
                            ObsValue::Bool(v) => b.append_value(v.to_string()),
                            ObsValue::Null => b.append_null(),
                        }
                    }
                    Arc::new(b.finish())
                }
            };
            arrays.push(array);
        }
        let batch = RecordBatch::try_new(self.schema.clone(), arrays).map_err(err)?;
        self.writer.write(&batch).map_err(err)
    }

    /// Write what is pending and the file footer.
    pub fn finish(mut self) -> Result<(), ObsCoreError> {
        self.flush()?;
        self.writer.close().map_err(err)?;
        Ok(())
    }
}
