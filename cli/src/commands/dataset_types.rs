//! `valet register-dataset-type`, `query-dataset-types`, `remove-dataset-type`.

use std::path::PathBuf;

use clap::Args;
use serde_json::Value as Json;
use valet::registry::{dataset_types, glob};
use valet::Repo;

use crate::output::{Format, Table};
use crate::CliResult;

/// Register a dataset type.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Dataset type name.
    pub name: String,
    /// Storage class name.
    pub storage_class: String,
    /// Dimensions of the dataset type.
    pub dimensions: Vec<String>,
    /// Register a calibration dataset type.
    #[arg(long)]
    pub is_calibration: bool,
}

/// Run `valet register-dataset-type`.
pub fn register(args: &RegisterArgs) -> CliResult {
    let repo = Repo::open(&args.repo)?;
    let dims: Vec<String> = args
        .dimensions
        .iter()
        .flat_map(|d| d.split(','))
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty())
        .collect();
    let (_, inserted) = repo.registry().register_dataset_type(
        &args.name,
        &args.storage_class,
        &dims,
        args.is_calibration,
    )?;
    if !inserted {
        eprintln!(
            "dataset type {} is already registered with this definition",
            args.name
        );
    }
    Ok(())
}

/// List dataset types.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Names or globs to list (default: all).
    pub glob: Vec<String>,
    /// Show dimensions, storage class and whether it is a calibration type.
    #[arg(short, long)]
    pub verbose: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Run `valet query-dataset-types`.
pub fn query(args: &QueryArgs) -> CliResult {
    let repo = Repo::open(&args.repo)?;
    let mut conn = repo.registry().db.conn()?;
    let all = dataset_types::all_dataset_types(&mut conn)?;
    let patterns = args
        .glob
        .iter()
        .map(|g| glob::glob_to_regex(g))
        .collect::<Result<Vec<_>, _>>()?;
    let mut table = if args.verbose {
        Table::new(["name", "dimensions", "storage_class", "is_calibration"])
    } else {
        Table::new(["name"])
    };
    for t in all {
        if !patterns.is_empty() && !patterns.iter().any(|p| p.is_match(&t.name)) {
            continue;
        }
        let mut row = vec![Json::String(t.name.clone())];
        if args.verbose {
            let dims: Vec<&str> = t.dimensions.required.iter().map(String::as_str).collect();
            row.push(Json::String(format!("[{}]", dims.join(", "))));
            row.push(Json::String(t.storage_class.clone()));
            row.push(Json::Bool(t.is_calibration));
        }
        table.rows.push(row);
    }
    table.print(args.format)?;
    Ok(())
}

/// Remove dataset types.
#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Names or globs of the dataset types to remove.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// Run `valet remove-dataset-type`: all named types go, or none do.
pub fn remove(args: &RemoveArgs) -> CliResult {
    let repo = Repo::open(&args.repo)?;
    repo.registry().transaction(|conn, _| {
        let all = dataset_types::all_dataset_types(conn)?;
        for pattern in &args.names {
            if glob::is_glob(pattern) {
                let re = glob::glob_to_regex(pattern)?;
                for t in all.iter().filter(|t| re.is_match(&t.name)) {
                    dataset_types::remove_dataset_type(conn, &t.name)?;
                }
            } else {
                dataset_types::remove_dataset_type(conn, pattern)?;
            }
        }
        Ok(())
    })?;
    Ok(())
}
