//! Dataset commands: `query-datasets`, `find-dataset`, `query-data-ids`, `associate`,
//! `certify-calibrations`, `decertify-calibrations`.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use valet::collection_writes::{CertifyOptions, DecertifyOptions};
use valet::prune::PruneOptions;
use valet::queries::{
    parse_binds, DatasetRow, DatasetRows, DatasetSearch, FindDatasetOptions, QueryDataIdsOptions,
    QueryDatasetsOptions,
};
use valet::registry::glob::is_glob;
use valet::{RegistryError, Value};

use crate::args::{as_of, parse_data_id, split_commas, timespan};
use crate::output::{
    push_plain, to_json, write_cells, write_reference_table, Align, CellKind, Format, Table,
};
use crate::CliResult;

/// Options shared by commands that search for datasets.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Collections to search, in order (comma-separated or repeated).
    #[arg(long, short = 'c')]
    pub collections: Vec<String>,
    /// Filter expression, e.g. "visit IN (1..10) AND band = 'r'".
    #[arg(long = "where", default_value = "")]
    pub where_: String,
    /// Values for names used in --where, as NAME=VALUE.
    #[arg(long)]
    pub bind: Vec<String>,
    /// Resolve chains as they were at this UTC time (ISO).
    #[arg(long)]
    pub as_of: Option<String>,
}

impl SearchArgs {
    /// The search these options describe, over dataset types given as names or globs.
    pub fn to_search(
        &self,
        dataset_types: &[String],
        find_first: bool,
    ) -> Result<DatasetSearch, RegistryError> {
        Ok(DatasetSearch {
            dataset_types: split_commas(dataset_types),
            collections: split_commas(&self.collections),
            where_: self.where_.clone(),
            bind: parse_binds(&self.bind)?,
            find_first,
            timespan: None,
            as_of: as_of(&self.as_of)?,
        })
    }
}

/// List datasets.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Dataset types or globs (default: all).
    pub glob: Vec<String>,
    #[command(flatten)]
    pub search: SearchArgs,
    /// One dataset per data ID, from the first collection that has one.
    #[arg(long, overrides_with = "no_find_first")]
    pub find_first: bool,
    /// Every matching dataset (the default, as in the reference).
    #[arg(long)]
    pub no_find_first: bool,
    /// Show at most this many datasets in all; 0 shows every one, and a negative
    /// value is a cap that warns when it cuts (the reference's default).
    #[arg(long, default_value_t = -20_000, allow_negative_numbers = true)]
    pub limit: i64,
    /// Sort by these columns (prefix with '-' for descending), before the limit.
    #[arg(long, allow_hyphen_values = true)]
    pub order_by: Vec<String>,
    /// For calibrations: the instant (ISO TAI) validity ranges must contain.
    #[arg(long)]
    pub at: Option<String>,
    /// Add a column with the URI of each dataset's file.
    #[arg(long)]
    pub show_uri: bool,
    /// Only datasets whose RUN has this owner type (user, group, project, production).
    #[arg(long, value_parser = ["user", "group", "project", "production"], ignore_case = true)]
    pub owner_type: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t, ignore_case = true)]
    pub format: Format,
}

/// Run `valet query-datasets`.
pub fn query(args: &QueryArgs) -> CliResult {
    let repo = crate::target::Target::open(&args.repo)?;
    let mut search = args
        .search
        .to_search(&args.glob, args.find_first && !args.no_find_first)?;
    search.timespan = args
        .at
        .as_deref()
        .map(|t| timespan(&Some(t.to_owned()), &Some(t.to_owned())))
        .transpose()?;
    let found = repo.query_datasets(&QueryDatasetsOptions {
        search,
        owner_type: args.owner_type.as_deref().map(str::to_ascii_lowercase),
        limit: (args.limit != 0).then_some(args.limit.unsigned_abs() as usize),
        order_by: split_commas(&args.order_by),
        with_uris: args.show_uri,
    })?;
    if found.limited && args.limit < 0 {
        crate::warning!(
            "Requested limit of {} hit for number of datasets returned. Use --limit to increase this limit.",
            args.limit.unsigned_abs()
        );
    }
    for t in &found.missing_types {
        crate::warning!("Dataset type '{t}' does not exist.");
    }
    // One dataset type named outright and nothing found: the reference's error.
    if let [only] = args.glob.as_slice() {
        if found.is_empty() && found.missing_types.is_empty() && !is_glob(only) {
            return Err(RegistryError::NotFound(format!(
                "no {only} datasets match the query in the collections searched"
            ))
            .into());
        }
    }
    if args.format == Format::Table {
        print_dataset_tables(&found, args.show_uri)?;
    } else {
        print_dataset_rows(&found, args.format, args.show_uri)?;
    }
    forget_at_exit(found);
    Ok(())
}

/// Leave a large answer to the end of the process instead of freeing it piece by
/// piece: the operating system takes the memory back at once.
fn forget_at_exit<T>(value: T) {
    std::mem::forget(value);
}

/// Print datasets as JSON or CSV: one table of every type's rows, whose columns are
/// every dimension the types have (empty where a type lacks one).
fn print_dataset_rows(found: &DatasetRows, format: Format, show_uri: bool) -> CliResult {
    let mut columns = vec!["type".to_owned(), "run".into(), "id".into()];
    columns.extend(found.dimensions.iter().cloned());
    if show_uri {
        columns.push("URI".into());
    }
    let uri_column = 3 + found.dimensions.len();
    let cell = |r: usize, c: usize, buf: &mut String| -> CellKind {
        let Some(row) = found.row(r) else {
            return CellKind::Null;
        };
        match c {
            0 => text(buf, row.dataset_type()),
            1 => text(buf, row.run()),
            2 => push_plain(buf, "id", &Value::Uuid(row.id())),
            c if c == uri_column => row.uri().map_or(CellKind::Null, |u| text(buf, u)),
            c => {
                // Where this type's rows keep the column, if they have it.
                let column = &found.dimensions[c - 3];
                match row
                    .columns()
                    .iter()
                    .position(|k| k == column)
                    .and_then(|p| row.value_at(p))
                {
                    Some(v) => push_plain(buf, column, v),
                    None => CellKind::Null,
                }
            }
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    write_cells(&mut out, format, &columns, found.len(), &cell)?;
    out.flush()?;
    Ok(())
}

/// Append text as a cell.
fn text(buf: &mut String, s: &str) -> CellKind {
    buf.push_str(s);
    CellKind::Text
}

/// Print datasets as the reference does: a table per dataset type with its own
/// columns, each after an empty line, and an empty line at the end.
fn print_dataset_tables(found: &DatasetRows, show_uri: bool) -> CliResult {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let rows: Vec<DatasetRow<'_>> = found.iter().collect();
    for group in rows.chunk_by(|a, b| a.dataset_type() == b.dataset_type()) {
        let dataset_type = group[0].dataset_type();
        let dimensions = group[0].columns();
        let mut columns = vec!["type".to_owned(), "run".into(), "id".into()];
        columns.extend(dimensions.iter().cloned());
        if show_uri {
            columns.push("URI".into());
        }
        let uri_column = 3 + dimensions.len();
        let cell = |r: usize, c: usize, buf: &mut String| {
            let row = &group[r];
            match c {
                0 => buf.push_str(dataset_type),
                1 => buf.push_str(row.run()),
                2 => {
                    push_plain(buf, "id", &Value::Uuid(row.id()));
                }
                c if c == uri_column => buf.push_str(row.uri().unwrap_or_default()),
                c => {
                    // The table's columns are the type's own, as the row keeps them.
                    if let Some(v) = row.value_at(c - 3) {
                        push_plain(buf, &dimensions[c - 3], v);
                    }
                }
            }
        };
        out.write_all(b"\n")?;
        write_reference_table(&mut out, &columns, group.len(), &cell, Align::Right)?;
    }
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// Find one dataset by type and data ID (the reference's `find_dataset`).
#[derive(Debug, Args)]
pub struct FindArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Dataset type.
    pub dataset_type: String,
    /// Collections to search, in order.
    #[arg(long, short = 'c', required = true)]
    pub collections: Vec<String>,
    /// Data ID values, as DIMENSION=VALUE (comma-separated or repeated).
    #[arg(long, short = 'd', required = true)]
    pub data_id: Vec<String>,
    /// For calibrations: the instant (ISO TAI) the validity range must contain.
    #[arg(long, conflicts_with = "timespan")]
    pub at: Option<String>,
    /// For calibrations: a range (ISO TAI BEGIN END) the validity range must overlap.
    #[arg(long, num_args = 2, value_names = ["BEGIN", "END"])]
    pub timespan: Vec<String>,
    /// Resolve chains as they were at this UTC time (ISO).
    #[arg(long)]
    pub as_of: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t, ignore_case = true)]
    pub format: Format,
}

/// Run `valet find-dataset`; exits non-zero when nothing is found.
pub fn find(args: &FindArgs) -> CliResult {
    let repo = crate::target::Target::open(&args.repo)?;
    let data_id = parse_data_id(&args.data_id)?;
    let collections = split_commas(&args.collections);
    let ts = match (&args.at, args.timespan.as_slice()) {
        (Some(t), _) => Some(timespan(&Some(t.clone()), &Some(t.clone()))?),
        (None, [b, e]) => Some(
            timespan(&Some(b.clone()), &Some(e.clone()))
                .map_err(|err| RegistryError::Invalid(format!("--timespan {b} {e}: {err}")))?,
        ),
        _ => None,
    };
    let options = FindDatasetOptions {
        dataset_type: args.dataset_type.clone(),
        data_id,
        collections,
        timespan: ts,
        as_of: as_of(&args.as_of)?,
        calibrations_need_time: true,
    };
    let Some(f) = repo.find_dataset(&options)? else {
        return Err(format!(
            "no {} dataset with data ID {} in collections {}",
            options.dataset_type,
            valet::registry::datasets::describe_data_id(
                &options.data_id,
                &options.data_id.keys().cloned().collect::<Vec<_>>()
            ),
            options.collections.join(", ")
        )
        .into());
    };
    let mut columns = vec![
        "type".to_owned(),
        "run".into(),
        "id".into(),
        "collection".into(),
    ];
    columns.extend(f.dimensions.iter().cloned());
    let mut table = Table::new(columns);
    let d = &f.found.dataset;
    let mut row = vec![
        json!(d.dataset_type),
        json!(d.run),
        json!(d.id.to_string()),
        json!(f.found.collection),
    ];
    row.extend(f.dimensions.iter().map(|k| to_json(k, &d.data_id[k])));
    table.rows.push(row);
    table.print(args.format)?;
    Ok(())
}

/// List the distinct data IDs of datasets.
#[derive(Debug, Args)]
pub struct DataIdsArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Dimensions to show (default: all required dimensions of the datasets).
    pub dimensions: Vec<String>,
    /// Dataset types whose data IDs are listed; without it, the data IDs the
    /// dimensions' records make.
    #[arg(long)]
    pub datasets: Vec<String>,
    #[command(flatten)]
    pub search: SearchArgs,
    #[command(flatten)]
    pub page: crate::args::PageArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t, ignore_case = true)]
    pub format: Format,
}

/// Run `valet query-data-ids`.
pub fn data_ids(args: &DataIdsArgs) -> CliResult {
    if !args.search.collections.is_empty() && args.datasets.is_empty() {
        return Err("--collections may only be used with --datasets".into());
    }
    let repo = crate::target::Target::open(&args.repo)?;
    let found = repo.query_data_ids(&QueryDataIdsOptions {
        search: args.search.to_search(&args.datasets, false)?,
        dimensions: split_commas(&args.dimensions),
        limit: args.page.limit(),
        order_by: args.page.order_by(),
        offset: args.page.offset,
    })?;
    args.page.warn_if_capped(found.limited);
    if found.rows.is_empty() && args.format == Format::Table {
        if args.dimensions.is_empty() && args.datasets.is_empty() {
            println!(
                "Result has one logical row but no columns because no dimensions were requested."
            );
            println!("No results. Try requesting some dimensions or datasets, see --help for more information.");
        } else {
            println!("No results. Try --help for more information.");
        }
        return Ok(());
    }
    let mut table = Table::new(found.dimensions.iter().cloned());
    table.rows = found
        .rows
        .iter()
        .map(|r| {
            found
                .dimensions
                .iter()
                .zip(r)
                .map(|(c, v)| to_json(c, v))
                .collect()
        })
        .collect();
    let headers: Vec<&str> = found.dimensions.iter().map(String::as_str).collect();
    table.print_as_reference(args.format, &headers, Align::Right)?;
    Ok(())
}

/// Add datasets found by a search to a TAGGED collection (created if missing).
#[derive(Debug, Args)]
pub struct AssociateArgs {
    /// Repository.
    pub repo: PathBuf,
    /// The TAGGED collection.
    pub collection: String,
    /// Dataset types or globs.
    #[arg(long = "dataset-type", short = 'd', required = true)]
    pub dataset_type: Vec<String>,
    #[command(flatten)]
    pub search: SearchArgs,
    /// Only the first dataset per data ID.
    #[arg(long)]
    pub find_first: bool,
}

/// Run `valet associate`.
pub fn associate_cmd(args: &AssociateArgs) -> CliResult {
    let repo = crate::target::Target::open(&args.repo)?;
    let search = args.search.to_search(&args.dataset_type, args.find_first)?;
    let n = repo.associate_matching(&args.collection, &search)?;
    crate::out!("associated {n} dataset(s) with {}", args.collection);
    Ok(())
}

/// Certify calibrations found in INPUT into the CALIBRATION collection OUTPUT.
#[derive(Debug, Args)]
pub struct CertifyArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Collection to read the calibrations from.
    pub input: String,
    /// CALIBRATION collection to certify them into (created if missing).
    pub output: String,
    /// Calibration dataset type.
    pub dataset_type: String,
    /// Start of the validity range (ISO TAI); default unbounded.
    #[arg(long)]
    pub begin_date: Option<String>,
    /// End of the validity range (ISO TAI); default unbounded.
    #[arg(long)]
    pub end_date: Option<String>,
    /// Search every child of a CHAINED input, not just its first.
    #[arg(long)]
    pub search_all_inputs: bool,
}

/// Run `valet certify-calibrations`.
pub fn certify_cmd(args: &CertifyArgs) -> CliResult {
    let repo = crate::target::Target::open(&args.repo)?;
    let n = repo.certify_calibrations(&CertifyOptions {
        input: args.input.clone(),
        output: args.output.clone(),
        dataset_type: args.dataset_type.clone(),
        timespan: timespan(&args.begin_date, &args.end_date)?,
        search_all_inputs: args.search_all_inputs,
    })?;
    crate::out!("certified {n} dataset(s) into {}", args.output);
    Ok(())
}

/// Remove a time range from the validity ranges in a CALIBRATION collection.
#[derive(Debug, Args)]
pub struct DecertifyArgs {
    /// Repository.
    pub repo: PathBuf,
    /// The CALIBRATION collection.
    pub collection: String,
    /// Calibration dataset type.
    pub dataset_type: String,
    /// Start of the range to remove (ISO TAI); default unbounded.
    #[arg(long)]
    pub begin_date: Option<String>,
    /// End of the range to remove (ISO TAI); default unbounded.
    #[arg(long)]
    pub end_date: Option<String>,
    /// Only these data IDs (DIMENSION=VALUE,…; repeat for several).
    #[arg(long, short = 'd')]
    pub data_id: Vec<String>,
}

/// Run `valet decertify-calibrations`.
pub fn decertify_cmd(args: &DecertifyArgs) -> CliResult {
    let repo = crate::target::Target::open(&args.repo)?;
    let timespan = timespan(&args.begin_date, &args.end_date)?;
    let data_ids = args
        .data_id
        .iter()
        .map(|d| parse_data_id(std::slice::from_ref(d)))
        .collect::<Result<_, _>>()?;
    let n = repo.decertify_calibrations(&DecertifyOptions {
        collection: args.collection.clone(),
        dataset_type: args.dataset_type.clone(),
        timespan,
        data_ids,
    })?;
    crate::out!("{n} validity range(s) changed");
    Ok(())
}

/// Remove datasets from TAGGED collections, unstore them, or purge them.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Collections to search for the datasets.
    pub collections: Vec<String>,
    /// Dataset types or globs (default: all).
    #[arg(long)]
    pub datasets: Vec<String>,
    /// Filter expression.
    #[arg(long = "where", default_value = "")]
    pub where_: String,
    /// Every matching dataset, not only the first per data ID.
    #[arg(long)]
    pub find_all: bool,
    /// Remove them from this TAGGED collection (repeatable).
    #[arg(long)]
    pub disassociate: Vec<String>,
    /// Delete them (and their files); they must be in this RUN.
    #[arg(long)]
    pub purge: Option<String>,
    /// Delete their files, keep them registered.
    #[arg(long)]
    pub unstore: bool,
    /// Show what would be pruned and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask before pruning.
    #[arg(long)]
    pub no_confirm: bool,
}

/// Run `valet prune-datasets`.
pub fn prune(args: &PruneArgs) -> CliResult {
    let repo = crate::target::Target::open(&args.repo)?;
    let found = repo.find_datasets(&DatasetSearch {
        dataset_types: split_commas(&args.datasets),
        collections: split_commas(&args.collections),
        where_: args.where_.clone(),
        find_first: !args.find_all,
        ..Default::default()
    })?;
    let mut table = Table::new(["type", "run", "id"]);
    for d in &found {
        table.rows.push(vec![
            json!(d.dataset_type),
            json!(d.run),
            json!(d.id.to_string()),
        ]);
    }
    if args.dry_run || !args.no_confirm {
        table.print(Format::Table)?;
    }
    if args.dry_run {
        crate::info!("dry run: {} dataset(s) would be pruned", found.len());
        return Ok(());
    }
    if !args.no_confirm {
        return Err("refusing to prune without confirmation; pass --no-confirm to proceed".into());
    }
    let ids: Vec<_> = found.iter().map(|d| d.id).collect();
    let report = repo.prune_datasets(
        &ids,
        &PruneOptions {
            purge: args.purge.clone(),
            unstore: args.unstore || args.purge.is_some(),
            disassociate: split_commas(&args.disassociate),
        },
    )?;
    crate::out!(
        "pruned {} dataset(s): {} purged, {} membership(s) removed, {} file(s) deleted",
        ids.len(),
        report.purged,
        report.disassociated,
        report.files_deleted
    );
    Ok(())
}
