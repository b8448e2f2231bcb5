//! `valet query-dimension-records`.

use std::path::PathBuf;

use clap::Args;
use valet::registry::{dimensions, expr};
use valet::Repo;

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
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Run `valet query-dimension-records`.
pub fn query_records(args: &QueryRecordsArgs) -> CliResult {
    let repo = Repo::open(&args.repo)?;
    let universe = &repo.registry().universe;
    let binds = expr::parse_binds(&args.bind)?;
    let filter = if args.where_.trim().is_empty() {
        None
    } else {
        Some(dimensions::record_filter(
            universe,
            &args.element,
            &args.where_,
            &binds,
        )?)
    };
    let mut conn = repo.registry().db.conn()?;
    let (columns, records) = dimensions::query_records(
        &mut conn,
        universe,
        &args.element,
        filter
            .as_ref()
            .map(|(sql, params)| (sql.as_str(), params.as_slice())),
    )?;
    let mut table = Table::new(columns.iter().cloned());
    for r in records.iter().take(args.limit.unwrap_or(usize::MAX)) {
        table.rows.push(
            columns
                .iter()
                .map(|c| to_json(c, r.get(c).unwrap_or(&valet::registry::Value::Null)))
                .collect(),
        );
    }
    table.print(args.format)?;
    Ok(())
}
