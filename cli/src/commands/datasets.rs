//! Dataset commands: `query-datasets`, `find-dataset`, `query-data-ids`, `associate`,
//! `certify-calibrations`, `decertify-calibrations`.

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;

use clap::Args;
use serde_json::{json, Value as Json};
use valet::collections::calibration::{certify, decertify};
use valet::collections::{DatasetQuery, FindRequest, Found};
use valet::registry::collections::{find_collection, register_collection};
use valet::registry::{dataset_types, expr, glob, CollectionType, RegistryError, Timespan};
use valet::Repo;

use crate::args::{as_of, parse_data_id, split_commas, timespan};
use crate::output::{to_json, Format, Table};
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

/// Dataset types matching names or globs (all if none given).
pub(crate) fn matching_types(
    repo: &Repo,
    patterns: &[String],
) -> Result<Vec<String>, RegistryError> {
    let mut conn = repo.registry().db.conn()?;
    let all = dataset_types::all_dataset_types(&mut conn)?;
    if patterns.is_empty() {
        return Ok(all.into_iter().map(|t| t.name).collect());
    }
    let mut out = Vec::new();
    for p in patterns {
        if glob::is_glob(p) {
            let re = glob::glob_to_regex(p)?;
            out.extend(
                all.iter()
                    .filter(|t| re.is_match(&t.name))
                    .map(|t| t.name.clone()),
            );
        } else {
            dataset_types::get_dataset_type(&mut conn, p)?;
            out.push(p.clone());
        }
    }
    out.dedup();
    Ok(out)
}

/// Run a dataset search for each type, streaming results to `f`.
pub(crate) fn search(
    repo: &Repo,
    types: &[String],
    s: &SearchArgs,
    find_first: bool,
    timespan: Option<Timespan>,
    f: &mut dyn FnMut(Found) -> Result<bool, RegistryError>,
) -> Result<(), RegistryError> {
    let collections = split_commas(&s.collections);
    if collections.is_empty() {
        return Err(RegistryError::Invalid(
            "no collections given: use --collections".into(),
        ));
    }
    let bind = expr::parse_binds(&s.bind)?;
    let at = as_of(&s.as_of)?;
    let mut conn = repo.registry().db.conn()?;
    for t in types {
        repo.resolver().query_datasets(
            &mut conn,
            &repo.registry().universe,
            &DatasetQuery {
                dataset_type: t.clone(),
                collections: collections.clone(),
                find_first,
                where_: s.where_.clone(),
                bind: bind.clone(),
                timespan,
                as_of: at,
            },
            f,
        )?;
    }
    Ok(())
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
    /// Show at most this many datasets.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Sort by these columns (prefix with '-' for descending).
    #[arg(long)]
    pub order_by: Vec<String>,
    /// For calibrations: the instant (ISO TAI) validity ranges must contain.
    #[arg(long)]
    pub at: Option<String>,
    /// Add a column with the URI of each dataset's file.
    #[arg(long)]
    pub show_uri: bool,
    /// Only datasets whose RUN has this owner type (user, group, project, production).
    #[arg(long, value_parser = ["user", "group", "project", "production"])]
    pub owner_type: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

fn sort_rows(table: &mut Table, order_by: &[String]) -> Result<(), RegistryError> {
    let mut keys = Vec::new();
    for o in split_commas(order_by) {
        let (desc, name) = match o.strip_prefix('-') {
            Some(n) => (true, n.to_owned()),
            None => (false, o.clone()),
        };
        let idx = table
            .columns
            .iter()
            .position(|c| *c == name)
            .ok_or_else(|| {
                RegistryError::Invalid(format!(
                    "--order-by {name:?}: no such column (columns: {})",
                    table.columns.join(", ")
                ))
            })?;
        keys.push((idx, desc));
    }
    table.rows.sort_by(|a, b| {
        for &(i, desc) in &keys {
            let o = compare_cells(&a[i], &b[i]);
            let o = if desc { o.reverse() } else { o };
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    });
    Ok(())
}

/// Dimension names in universe order (instrument before detector before visit).
fn universe_order(repo: &Repo, names: impl IntoIterator<Item = String>) -> Vec<String> {
    let u = &repo.registry().universe;
    let mut v: Vec<String> = names.into_iter().collect();
    v.sort_by_key(|n| u.element(n).map(|e| e.index).unwrap_or(usize::MAX));
    v
}

/// Compare JSON cells: numbers numerically, everything else as text.
fn compare_cells(a: &Json, b: &Json) -> std::cmp::Ordering {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(std::cmp::Ordering::Equal),
        (x, y) => x.to_string().cmp(&y.to_string()),
    }
}

/// Run `valet query-datasets`.
pub fn query(args: &QueryArgs) -> CliResult {
    let repo = Repo::open(&args.repo)?;
    let types = matching_types(&repo, &args.glob)?;
    let at = args
        .at
        .as_deref()
        .map(|t| timespan(&Some(t.to_owned()), &Some(t.to_owned())))
        .transpose()?;
    let mut rows: Vec<Found> = Vec::new();
    let limit = args.limit.unwrap_or(usize::MAX);
    let owner_of_run: std::collections::HashMap<String, String> = match &args.owner_type {
        Some(_) => {
            let mut conn = repo.registry().db.conn()?;
            valet::registry::collections::all_collections(&mut conn)?
                .into_iter()
                .map(|c| (c.name, c.owner_type))
                .collect()
        }
        None => Default::default(),
    };
    search(
        &repo,
        &types,
        &args.search,
        args.find_first && !args.no_find_first,
        at,
        &mut |f| {
            if let Some(want) = &args.owner_type {
                if owner_of_run.get(&f.dataset.run) != Some(want) {
                    return Ok(true);
                }
            }
            rows.push(f);
            Ok(rows.len() < limit)
        },
    )?;
    let dims: BTreeSet<String> = rows
        .iter()
        .flat_map(|f| f.dataset.data_id.keys().cloned())
        .collect();
    let dim_order = universe_order(&repo, dims);
    let mut columns = vec!["type".to_owned(), "run".into(), "id".into()];
    columns.extend(dim_order.iter().cloned());
    if args.show_uri {
        columns.push("uri".into());
    }
    let store = valet::datastore::Datastore::of(&repo)?;
    let mut conn = repo.registry().db.conn()?;
    let mut table = Table::new(columns);
    for f in rows {
        let uri = if args.show_uri {
            match valet::registry::artifacts::get_artifact(&mut conn, f.dataset.id)? {
                Some(a) => json!(format!("file://{}", store.location(&a.path).display())),
                None => Json::Null,
            }
        } else {
            Json::Null
        };
        let mut row = vec![
            json!(f.dataset.dataset_type),
            json!(f.dataset.run),
            json!(f.dataset.id.to_string()),
        ];
        for d in &dim_order {
            row.push(
                f.dataset
                    .data_id
                    .get(d)
                    .map(|v| to_json(d, v))
                    .unwrap_or(Json::Null),
            );
        }
        if args.show_uri {
            row.push(uri);
        }
        table.rows.push(row);
    }
    if !args.order_by.is_empty() {
        sort_rows(&mut table, &args.order_by)?;
    }
    table.print(args.format)?;
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
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Run `valet find-dataset`; exits non-zero when nothing is found.
pub fn find(args: &FindArgs) -> CliResult {
    let repo = Repo::open(&args.repo)?;
    let data_id = parse_data_id(&args.data_id)?;
    let collections = split_commas(&args.collections);
    let ts = match (&args.at, args.timespan.as_slice()) {
        (Some(t), _) => Some(timespan(&Some(t.clone()), &Some(t.clone()))?),
        (None, [b, e]) => Some(timespan(&Some(b.clone()), &Some(e.clone()))?),
        _ => None,
    };
    let mut conn = repo.registry().db.conn()?;
    let found = repo.resolver().find_dataset(
        &mut conn,
        &repo.registry().universe,
        &FindRequest {
            dataset_type: &args.dataset_type,
            data_id: &data_id,
            collections: &collections,
            timespan: ts,
            as_of: as_of(&args.as_of)?,
        },
    )?;
    let Some(f) = found else {
        return Err(format!(
            "no {} dataset with data ID {} in collections {}",
            args.dataset_type,
            valet::registry::datasets::describe_data_id(
                &data_id,
                &data_id.keys().cloned().collect::<Vec<_>>()
            ),
            collections.join(", ")
        )
        .into());
    };
    let dims = universe_order(&repo, f.dataset.data_id.keys().cloned());
    let mut columns = vec![
        "type".to_owned(),
        "run".into(),
        "id".into(),
        "collection".into(),
    ];
    columns.extend(dims.iter().cloned());
    let mut table = Table::new(columns);
    let mut row = vec![
        json!(f.dataset.dataset_type),
        json!(f.dataset.run),
        json!(f.dataset.id.to_string()),
        json!(f.collection),
    ];
    row.extend(dims.iter().map(|k| to_json(k, &f.dataset.data_id[k])));
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
    /// Dataset types whose data IDs are listed.
    #[arg(long, required = true)]
    pub datasets: Vec<String>,
    #[command(flatten)]
    pub search: SearchArgs,
    /// Show at most this many data IDs.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Run `valet query-data-ids`.
pub fn data_ids(args: &DataIdsArgs) -> CliResult {
    let repo = Repo::open(&args.repo)?;
    let types = matching_types(&repo, &split_commas(&args.datasets))?;
    let wanted = split_commas(&args.dimensions);
    let mut seen: HashSet<String> = HashSet::new();
    let mut rows: Vec<Vec<Json>> = Vec::new();
    let mut columns: Vec<String> = wanted.clone();
    search(&repo, &types, &args.search, false, None, &mut |f| {
        if columns.is_empty() {
            columns = universe_order(&repo, f.dataset.data_id.keys().cloned());
        }
        let mut row = Vec::new();
        for c in &columns {
            let v = f.dataset.data_id.get(c).ok_or_else(|| {
                RegistryError::Invalid(format!(
                    "{c:?} is not a required dimension of {}",
                    f.dataset.dataset_type
                ))
            })?;
            row.push(to_json(c, v));
        }
        if seen.insert(serde_json::to_string(&row).unwrap_or_default()) {
            rows.push(row);
        }
        Ok(true)
    })?;
    rows.sort_by(|a, b| {
        a.iter()
            .zip(b.iter())
            .map(|(x, y)| compare_cells(x, y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut table = Table::new(columns);
    table.rows = rows
        .into_iter()
        .take(args.limit.unwrap_or(usize::MAX))
        .collect();
    table.print(args.format)?;
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
    let repo = Repo::open(&args.repo)?;
    let types = matching_types(&repo, &split_commas(&args.dataset_type))?;
    let mut ids = Vec::new();
    search(
        &repo,
        &types,
        &args.search,
        args.find_first,
        None,
        &mut |f| {
            ids.push(f.dataset.id);
            Ok(true)
        },
    )?;
    let n = repo.associate(&args.collection, &ids)?;
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
    let repo = Repo::open(&args.repo)?;
    let ts = timespan(&args.begin_date, &args.end_date)?;
    let input = {
        let mut conn = repo.registry().db.conn()?;
        let record = valet::registry::collections::get_collection(&mut conn, &args.input)?;
        if record.kind == CollectionType::Chained && !args.search_all_inputs {
            // As the reference: only the chain's first child unless told otherwise.
            let kids = valet::collections::chains::children_of(&mut conn, record.id)?;
            vec![kids
                .first()
                .ok_or_else(|| RegistryError::Invalid(format!("chain {:?} is empty", args.input)))?
                .name
                .clone()]
        } else {
            vec![args.input.clone()]
        }
    };
    let mut ids = Vec::new();
    let s = SearchArgs {
        collections: input,
        where_: String::new(),
        bind: vec![],
        as_of: None,
    };
    search(
        &repo,
        std::slice::from_ref(&args.dataset_type),
        &s,
        true,
        None,
        &mut |f| {
            ids.push(f.dataset.id);
            Ok(true)
        },
    )?;
    let n = repo.registry().transaction(|conn, u| {
        if find_collection(conn, &args.output)?.is_none() {
            register_collection(conn, &args.output, CollectionType::Calibration, None)?;
        }
        certify(conn, u, &args.output, &ids, ts)
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
    let repo = Repo::open(&args.repo)?;
    let ts = timespan(&args.begin_date, &args.end_date)?;
    let ids: Vec<_> = args
        .data_id
        .iter()
        .map(|d| parse_data_id(std::slice::from_ref(d)))
        .collect::<Result<_, _>>()?;
    let n = repo.registry().transaction(|conn, u| {
        decertify(
            conn,
            u,
            &args.collection,
            &args.dataset_type,
            ts,
            (!ids.is_empty()).then_some(ids.as_slice()),
        )
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
    let repo = Repo::open(&args.repo)?;
    let types = matching_types(&repo, &split_commas(&args.datasets))?;
    let s = SearchArgs {
        collections: split_commas(&args.collections),
        where_: args.where_.clone(),
        bind: vec![],
        as_of: None,
    };
    let mut found = Vec::new();
    search(&repo, &types, &s, !args.find_all, None, &mut |f| {
        found.push(f.dataset);
        Ok(true)
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
        eprintln!("dry run: {} dataset(s) would be pruned", found.len());
        return Ok(());
    }
    if !args.no_confirm {
        return Err("refusing to prune without confirmation; pass --no-confirm to proceed".into());
    }
    let ids: Vec<_> = found.iter().map(|d| d.id).collect();
    let report = valet::prune::prune(
        &repo,
        &ids,
        &valet::prune::PruneOptions {
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
