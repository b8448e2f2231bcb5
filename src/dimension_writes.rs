//! Dimension records from a file (the reference's `insert-dimension-records`): for
//! what instrument definitions and raws do not give — skymaps' tracts and patches,
//! extra visit systems, corrections.

use std::path::Path;

use valet_registry::dimensions::{insert_records, sync_records, SyncOutcome};
use valet_registry::{Record, Value};

use crate::repo::io_err;
use crate::{Repo, RepoError};

/// How [`Repo::insert_dimension_records_from`] treats records that exist already.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ExistingRecords {
    /// A record whose key exists is an error.
    #[default]
    Refuse,
    /// Records whose key exists are left as they are.
    Skip,
    /// Records whose key exists take the new values.
    Update,
}

/// What [`Repo::insert_dimension_records_from`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InsertRecordsSummary {
    /// Records in the file.
    pub records: usize,
    /// Records inserted.
    pub inserted: usize,
    /// Records updated (with [`ExistingRecords::Update`]).
    pub updated: usize,
}

/// Split one CSV line into fields (double quotes around a field, `""` inside one).
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    out.push(field);
    out
}

/// Records from CSV: a header row of field names, then one record a row. Integers
/// and numbers are read as such, empty fields as null, the rest as text (timespan
/// fields take ISO TAI times; regions hex).
pub fn read_csv_records(text: &str, source: &str) -> Result<Vec<Record>, RepoError> {
    let (header, lines) = crate::ingest::table_lines(text, source)?;
    let names: Vec<String> = csv_fields(header)
        .iter()
        .map(|n| n.trim().to_owned())
        .collect();
    lines
        .map(|(i, line)| {
            let cells = csv_fields(line);
            if cells.len() != names.len() {
                return Err(RepoError::Invalid(format!(
                    "{source}:{}: {} fields for {} columns",
                    i + 1,
                    cells.len(),
                    names.len()
                )));
            }
            Ok(names
                .iter()
                .zip(cells)
                .map(|(n, c)| {
                    let c = c.trim();
                    let v = if c.is_empty() {
                        Value::Null
                    } else if let Ok(i) = c.parse::<i64>() {
                        Value::Int(i)
                    } else if let Ok(x) = c.parse::<f64>() {
                        Value::Float(x)
                    } else {
                        Value::Text(c.to_owned())
                    };
                    (n.clone(), v)
                })
                .collect())
        })
        .collect()
}

impl Repo {
    /// Insert the records of one dimension element from a YAML, JSON or CSV file
    /// (admins only), in one transaction, with the foreign-key checks and messages of
    /// an import.
    pub fn insert_dimension_records_from(
        &self,
        element: &str,
        file: &Path,
        existing: ExistingRecords,
    ) -> Result<InsertRecordsSummary, RepoError> {
        let text = std::fs::read_to_string(file).map_err(io_err(file))?;
        let source = file.display().to_string();
        let is_csv = file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        let records = if is_csv {
            read_csv_records(&text, &source)?
        } else {
            crate::transfers::read_records(&text, &source)?
        };
        self.insert_dimension_records(element, &records, existing)
    }

    /// Insert records of one dimension element (admins only), in one transaction,
    /// with the foreign-key checks and messages of an import.
    pub fn insert_dimension_records(
        &self,
        element: &str,
        records: &[Record],
        existing: ExistingRecords,
    ) -> Result<InsertRecordsSummary, RepoError> {
        self.require_admin(&format!("insert {element} records"))?;
        self.registry.db.transaction(|conn| {
            let universe = self.registry.universe.clone();
            let mut s = InsertRecordsSummary {
                records: records.len(),
                ..Default::default()
            };
            if records.is_empty() {
                return Ok::<_, RepoError>(s);
            }
            match existing {
                ExistingRecords::Refuse | ExistingRecords::Skip => {
                    s.inserted = insert_records(
                        conn,
                        &universe,
                        element,
                        records,
                        existing == ExistingRecords::Skip,
                    )? as usize;
                }
                ExistingRecords::Update => {
                    for o in sync_records(conn, &universe, element, records, true)? {
                        match o {
                            SyncOutcome::Inserted => s.inserted += 1,
                            SyncOutcome::Updated => s.updated += 1,
                            SyncOutcome::Unchanged => {}
                        }
                    }
                }
            }
            Ok(s)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_and_types() {
        assert_eq!(
            csv_fields(r#"a,"b,c","d""e",,f"#),
            vec!["a", "b,c", "d\"e", "", "f"]
        );
        let r = read_csv_records("skymap,id,note\nsky,3,\"x, y\"\nsky,4,\n", "t.csv").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0]["id"], Value::Int(3));
        assert_eq!(r[0]["note"], Value::Text("x, y".into()));
        assert_eq!(r[1]["note"], Value::Null);
        let e = read_csv_records("a,b\n1\n", "t.csv")
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.csv:2: 1 fields for 2 columns"), "{e}");
    }
}
