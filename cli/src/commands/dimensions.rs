//! `valet query-dimension-records` and `valet insert-dimension-records`.

use std::path::PathBuf;

use clap::Args;
use std::io::Write;
use valet::queries::{parse_binds, DimensionRecordQuery};

use valet::registry::timespan::format_tai_iso;
use valet::{Record, Repo, Value};

use crate::args::split_commas;
use crate::output::{push_plain, to_json, write_reference_table, Align, Format, Table};
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
    /// Only records that datasets of these types (names or globs) point at.
    #[arg(long)]
    pub datasets: Vec<String>,
    /// Collections searched for --datasets (default: all).
    #[arg(long, short = 'c')]
    pub collections: Vec<String>,
    #[command(flatten)]
    pub page: crate::args::PageArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t, ignore_case = true)]
    pub format: Format,
}

/// Run `valet query-dimension-records`.
pub fn query_records(args: &QueryRecordsArgs) -> CliResult {
    if !args.collections.is_empty() && args.datasets.is_empty() {
        return Err("--collections may only be used with --datasets".into());
    }
    let repo = crate::target::Target::open(&args.repo)?;
    let found = repo.query_dimension_records(&DimensionRecordQuery {
        element: args.element.clone(),
        where_: args.where_.clone(),
        bind: parse_binds(&args.bind)?,
        limit: args.page.limit(),
        datasets: split_commas(&args.datasets),
        collections: split_commas(&args.collections),
        order_by: args.page.order_by(),
        offset: args.page.offset,
    })?;
    args.page.warn_if_capped(found.limited);
    if found.records.is_empty() && args.format == Format::Table {
        println!("No results. Try --help for more information.");
        return Ok(());
    }
    if args.format == Format::Table {
        print_records_as_reference(&repo, &args.element, &found.records)?;
        return Ok(());
    }
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

/// Print records as the reference's `query-dimension-records` does: its column order
/// (dependencies, primary key, implied dimensions, other keys, metadata, region,
/// timespan), regions elided, a timespan as `[begin, end)` in
/// TAI, laid out as its table.
fn print_records_as_reference(
    repo: &crate::target::Target,
    element: &str,
    records: &[Record],
) -> CliResult {
    let universe = repo.universe()?;
    let e = universe.get(element)?;
    let pk = e.primary_key().map(|k| k.name.clone());
    let mut columns: Vec<String> = universe
        .required_of(element)?
        .into_iter()
        .filter(|d| d != element)
        .collect();
    columns.extend(pk.clone());
    let mut implied = e.implies.clone();
    implied.sort();
    columns.extend(implied);
    columns.extend(
        e.keys
            .iter()
            .map(|k| k.name.clone())
            .filter(|k| Some(k) != pk.as_ref()),
    );
    columns.extend(e.metadata.iter().map(|m| m.name.clone()));
    if e.spatial {
        columns.push("region".into());
    }
    if e.temporal {
        columns.push("timespan".into());
    }
    let headers: Vec<String> = columns
        .iter()
        .map(|c| {
            if c == "timespan" {
                "timespan (TAI)".to_owned()
            } else {
                c.clone()
            }
        })
        .collect();
    let cell = |r: usize, c: usize, buf: &mut String| {
        let record = &records[r];
        match columns[c].as_str() {
            "timespan" => buf.push_str(&timespan_text(
                record.get("timespan_begin"),
                record.get("timespan_end"),
            )),
            "region" => buf.push_str(match record.get("region") {
                Some(v) if !v.is_null() => "(elided)",
                _ => "None",
            }),
            column => match record.get(column) {
                None | Some(Value::Null) => buf.push_str("None"),
                Some(Value::Bool(b)) => buf.push_str(if *b { "True" } else { "False" }),
                Some(Value::Bytes(b)) => {
                    buf.push_str("0x");
                    buf.push_str(&b.iter().map(|x| format!("{x:02x}")).collect::<String>());
                }
                Some(v) => {
                    push_plain(buf, column, v);
                }
            },
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    write_reference_table(&mut out, &headers, records.len(), &cell, Align::Right)?;
    out.flush()?;
    Ok(())
}

/// A timespan as the reference prints one: `[begin, end)` in TAI, to the second.
fn timespan_text(begin: Option<&Value>, end: Option<&Value>) -> String {
    let at = |v: Option<&Value>| -> Option<String> {
        let ns = v?.as_i64()?;
        let text = format_tai_iso(ns);
        Some(text.get(..19).unwrap_or(&text).replacen(' ', "T", 1))
    };
    let head = at(begin).map_or("(-∞, ".to_owned(), |b| format!("[{b}, "));
    let tail = at(end).map_or("∞)".to_owned(), |e| format!("{e})"));
    head + &tail
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
    crate::info!(
        "{} {} record(s): {} inserted, {} updated, {} left as they were",
        s.records,
        args.element,
        s.inserted,
        s.updated,
        s.records - s.inserted - s.updated
    );
    Ok(())
}
