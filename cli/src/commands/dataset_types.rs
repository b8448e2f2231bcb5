//! `valet register-dataset-type`, `query-dataset-types`, `remove-dataset-type`.

use std::path::PathBuf;

use clap::Args;
use serde_json::Value as Json;
use valet::dataset_type_writes::DatasetTypeSpec;

use crate::args::split_commas;
use crate::output::{Align, Format, Table};
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
    let repo = crate::target::Target::open(&args.repo)?;
    let (_, inserted) = repo.register_dataset_type(
        &args.name,
        &DatasetTypeSpec {
            storage_class: args.storage_class.clone(),
            dimensions: split_commas(&args.dimensions),
            is_calibration: args.is_calibration,
        },
    )?;
    if !inserted {
        crate::info!(
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
    #[arg(long, value_enum, default_value_t, ignore_case = true)]
    pub format: Format,
}

/// Run `valet query-dataset-types`.
pub fn query(args: &QueryArgs) -> CliResult {
    let repo = crate::target::Target::open(&args.repo)?;
    let types = repo.query_dataset_types(&args.glob)?;
    if args.verbose && args.format == Format::Table {
        let universe = repo.universe()?;
        // As the reference: every dimension, in its order, as a Python list.
        let mut table = Table::new(["name", "dimensions", "storage class"]);
        for t in types {
            let all: Vec<String> = t.dimensions.names().map(str::to_owned).collect();
            let listed: Vec<String> = universe
                .reference_order(&all)
                .iter()
                .map(|d| format!("'{d}'"))
                .collect();
            table.rows.push(vec![
                Json::String(t.name.clone()),
                Json::String(format!("[{}]", listed.join(", "))),
                Json::String(t.storage_class.clone()),
            ]);
        }
        table.print_as_reference(
            args.format,
            &["name", "dimensions", "storage class"],
            Align::Left,
        )?;
        return Ok(());
    }
    let mut table = if args.verbose {
        Table::new(["name", "dimensions", "storage_class", "is_calibration"])
    } else {
        Table::new(["name"])
    };
    for t in types {
        let mut row = vec![Json::String(t.name.clone())];
        if args.verbose {
            let dims: Vec<&str> = t.dimensions.required.iter().map(String::as_str).collect();
            row.push(Json::String(format!("[{}]", dims.join(", "))));
            row.push(Json::String(t.storage_class.clone()));
            row.push(Json::Bool(t.is_calibration));
        }
        table.rows.push(row);
    }
    if args.verbose {
        table.print(args.format)?;
    } else {
        table.print_as_reference(args.format, &["name"], Align::Left)?;
    }
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
    crate::target::Target::open(&args.repo)?.remove_dataset_types(&args.names)?;
    Ok(())
}
