//! `valet query-dimension-records` and `valet insert-dimension-records`.

use std::path::PathBuf;

use clap::Args;
use valet::queries::{parse_binds, DimensionRecordQuery};
use valet::{Repo, Value};

use crate::output::{to_json, Format, Table};
use crate::CliResult;

/// List the records of one dimension element.
#[derive(Debug, Args)]
pub struct QueryRecordsArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Dimension element (instrument, detector, visit, …).
    pub element: String,
    /// Filter expression, e.g. "instrument = 'HSC' AND id IN (1..10)".
    #[arg(long = "where", default_value = "")]
    pub where_: String,
    /// Values for names used in --where, as NAME=VALUE.
    #[arg(long)]
    pub bind: Vec<String>,
    /// Show at most this many records.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t, ignore_case = true)]
    pub format: Format,
}

/// Run `valet query-dimension-records`.
pub fn query_records(args: &QueryRecordsArgs) -> CliResult {
    let repo = Repo::open(&args.repo)?;
    let found = repo.query_dimension_records(&DimensionRecordQuery {
        element: args.element.clone(),
        where_: args.where_.clone(),
        bind: parse_binds(&args.bind)?,
        limit: args.limit,
    })?;
    let mut table = Table::new(found.columns.iter().cloned());
    for r in &found.records {
        table.rows.push(
            found
                .columns
                .iter()
                .map(|c| to_json(c, r.get(c).unwrap_or(&Value::Null)))
                .collect(),
        );
    }
    table.print(args.format)?;
    Ok(())
}

/// Insert dimension records from a file.
#[derive(Debug, Args)]
pub struct InsertRecordsArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Dimension element (tract, patch, visit_system, …).
    pub element: String,
    /// The records: YAML or JSON (a list of mappings), or CSV with a header row.
    pub file: PathBuf,
    /// Leave records that exist already as they are.
    #[arg(long, conflicts_with = "update")]
    pub skip_existing: bool,
    /// Give records that exist already the file's values.
    #[arg(long)]
    pub update: bool,
}

/// Run `valet insert-dimension-records`.
pub fn insert_records(args: &InsertRecordsArgs) -> CliResult {
    use valet::dimension_writes::ExistingRecords;
    let existing = if args.update {
        ExistingRecords::Update
    } else if args.skip_existing {
        ExistingRecords::Skip
    } else {
        ExistingRecords::Refuse
    };
    let s = Repo::open(&args.repo)?.insert_dimension_records_from(
        &args.element,
        &args.file,
        existing,
    )?;
    eprintln!(
        "{} {} record(s): {} inserted, {} updated, {} left as they were",
        s.records,
        args.element,
        s.inserted,
        s.updated,
        s.records - s.inserted - s.updated
    );
    Ok(())
}
