//! Exporting the live ObsCore table as it stands: the rows the registry keeps current
//! (see [`crate::obscore_live`]), written as CSV or Parquet in dataset-id order,
//! without searching or building a row.

use std::io::Write;

use crate::parquet_out::{column_types, schema, BatchBuilder, ParquetSink};
use crate::{columns, CellSink, CsvLine, ObsCoreConfig};
use arrow_schema::DataType;
use valet_registry::db::{quote_ident as q, ConnHandle, DbError, DbErrorKind, Value};
use valet_registry::Conn;

use crate::export::write_csv_header;
use crate::live::{enabled_config, table_name};
use crate::parallel::CHUNK_ROWS;
use crate::ObsCoreError;
use valet_registry::Registry;

/// Write the live table as CSV (header, then one line per row). Returns the number
/// of rows.
pub fn export_table_csv(registry: &Registry, out: &mut dyn Write) -> Result<u64, ObsCoreError> {
    let (mut conn, config) = open(registry)?;
    write_csv_header(&config, out)?;
    let types = column_types(&config);
    let mut text = String::new();
    scan(&mut conn, &config, &mut |row| {
        text.clear();
        let mut line = CsvLine::new(&mut text);
        cells(row, &types, &mut line);
        line.finish();
        Ok(out.write_all(text.as_bytes())?)
    })
}

/// Write the live table as Parquet. Returns the number of rows.
pub fn export_table_parquet<W: Write + Send>(
    registry: &Registry,
    out: W,
) -> Result<u64, ObsCoreError> {
    let (mut conn, config) = open(registry)?;
    let schema = schema(&config);
    let types = column_types(&config);
    let mut sink = ParquetSink::new(schema.clone(), out)?;
    let mut batch = BatchBuilder::new(schema.clone(), CHUNK_ROWS);
    let mut rows = 0;
    let n = scan(&mut conn, &config, &mut |row| {
        cells(row, &types, &mut batch);
        batch.end_row()?;
        rows += 1;
        if rows == CHUNK_ROWS {
            let full = std::mem::replace(&mut batch, BatchBuilder::new(schema.clone(), CHUNK_ROWS));
            sink.write(&full.finish()?)?;
            rows = 0;
        }
        Ok(())
    })?;
    if rows > 0 {
        sink.write(&batch.finish()?)?;
    }
    sink.finish()?;
    Ok(n)
}

/// A connection and the live table's configuration; an error if there is no table.
pub(crate) fn open(registry: &Registry) -> Result<(ConnHandle, ObsCoreConfig), ObsCoreError> {
    let mut conn = registry.db.conn()?;
    let config = enabled_config(&mut conn)?.ok_or_else(|| {
        ObsCoreError::Invalid(
            "ObsCore is not enabled in this repository (valet obscore enable)".into(),
        )
    })?;
    Ok((conn, config))
}

/// Hand every row of the live table, in dataset-id order, to `each`. Returns the
/// number of rows.
fn scan(
    conn: &mut Conn,
    config: &ObsCoreConfig,
    each: &mut dyn FnMut(&[Value]) -> Result<(), ObsCoreError>,
) -> Result<u64, ObsCoreError> {
    let sql = format!(
        "SELECT {} FROM {} ORDER BY registry_dataset_id",
        columns(config)
            .iter()
            .map(|c| q(c))
            .collect::<Vec<_>>()
            .join(", "),
        table_name(config)
    );
    let mut n = 0;
    let mut failure = None;
    let result = conn.query_each(&sql, &[], &mut |row| {
        n += 1;
        each(row).map_err(|e| {
            failure = Some(e);
            // Only stops the scan; the failure itself is returned below.
            DbError {
                kind: DbErrorKind::Other,
                message: "stopped".into(),
            }
        })
    });
    if let Some(e) = failure {
        return Err(e);
    }
    result?;
    Ok(n)
}

/// Hand a stored row's values to `sink` as cells of the table's column types
/// (SQLite keeps booleans as integers).
fn cells(row: &[Value], types: &[DataType], sink: &mut dyn CellSink) {
    for (v, ty) in row.iter().zip(types) {
        match (v, ty) {
            (Value::Null, _) => sink.null(),
            (Value::Int(i), DataType::Boolean) => sink.boolean(*i != 0),
            (Value::Int(i), _) => sink.int(*i),
            (Value::Float(f), _) => sink.float(*f),
            (Value::Bool(b), _) => sink.boolean(*b),
            (Value::Text(s), _) => sink.text(s),
            (other, _) => sink.text(&other.to_string()),
        }
    }
}
