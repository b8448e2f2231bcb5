//! `modify`: change one of the columns DESC's registry lets users change after
//! registration (descriptions, access API, external locations, creation date).

use valet_registry::timespan::parse_utc_iso;
use valet_registry::{Conn, RegistryError, Result, Value};

use crate::query::{column, Kind};
use crate::rules::check_dataset_write;

/// The tables `modify` knows and their modifiable columns (DESC's `modifiable`).
const MODIFIABLE: [(&str, &[&str]); 4] = [
    (
        "dataset",
        &[
            "creation_date",
            "access_api",
            "access_api_configuration",
            "description",
            "url",
            "contact_email",
        ],
    ),
    ("execution", &["description"]),
    ("dataset_alias", &["access_api", "access_api_configuration"]),
    ("keyword", &[]),
];

/// The modifiable columns of `table`.
pub fn modifiable_columns(table: &str) -> Result<Vec<&'static str>> {
    MODIFIABLE
        .iter()
        .find(|(t, _)| *t == table)
        .map(|(_, c)| c.to_vec())
        .ok_or_else(|| {
            RegistryError::Invalid(format!(
                "table_name must be one of dataset, execution, dataset_alias, keyword (not {table:?})"
            ))
        })
}

/// Parse a date as users write it: ISO 8601 (`2023-05-17`, `2023-05-17T12:00:00`,
/// UTC) or `May 17, 2023`. Returns UTC nanoseconds.
pub fn parse_date(text: &str) -> Result<i64> {
    let t = text.trim();
    for fmt in ["%B %d, %Y", "%b %d, %Y", "%d %B %Y"] {
        if let Some(dt) = chrono::NaiveDate::parse_from_str(t, fmt)
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
        {
            return Ok(dt.and_utc().timestamp_nanos_opt().unwrap_or_default());
        }
    }
    parse_utc_iso(t.trim_end_matches('Z')).map_err(|_| {
        RegistryError::Invalid(format!(
            "{text:?} is not a date: use YYYY-MM-DD, an ISO 8601 time or 'May 17, 2023'"
        ))
    })
}

/// Set `column` of row `id` of `table` (`dataset`, `execution` or `dataset_alias`)
/// to `value` (`None` clears it). Refuses unknown and unmodifiable columns.
pub fn modify(
    conn: &mut Conn,
    table: &str,
    id: i64,
    column_name: &str,
    value: Option<&str>,
) -> Result<()> {
    let allowed = modifiable_columns(table)?;
    let col = column(table, column_name).ok_or_else(|| {
        RegistryError::Invalid(format!(
            "The column {column_name} does not exist in the schema of table {table}"
        ))
    })?;
    if !allowed.contains(&column_name) {
        return Err(RegistryError::Invalid(format!(
            "The column {column_name} is not modifiable in table {table} (modifiable: {})",
            allowed.join(", ")
        )));
    }
    let value: Value = match (value, col.kind) {
        (None, _) => Value::Null,
        (Some(v), Kind::Date) => parse_date(v)?.into(),
        (Some(v), _) => v.to_owned().into(),
    };
    let (sql_table, key) = match table {
        "dataset" => {
            let d = crate::get_dataset(conn, id)?;
            check_dataset_write(conn, &d, "modify")?;
            ("dregs_dataset", "dataset_id")
        }
        "execution" => ("execution", "execution_id"),
        "dataset_alias" => ("dregs_alias", "alias_id"),
        other => {
            return Err(RegistryError::Invalid(format!(
                "table {other} has no modifiable columns"
            )))
        }
    };
    let stored = col.stored.unwrap_or(column_name);
    let n = conn.execute(
        &format!("UPDATE {sql_table} SET {stored} = ? WHERE {key} = ?"),
        &[value, id.into()],
    )?;
    if n == 0 {
        return Err(RegistryError::NotFound(format!(
            "Entry {id} not found in {table}"
        )));
    }
    Ok(())
}
