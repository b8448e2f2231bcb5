//! The `valet` command: `valet <command>` mirrors `butler <command>`.

mod commands;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use commands::{dataset_types, dimensions, repo};

/// What every command returns; errors are printed as one line by `main`.
pub type CliResult = Result<(), Box<dyn std::error::Error>>;

/// valet: a data registry engine in the style of the LSST Butler.
#[derive(Debug, Parser)]
#[command(name = "valet", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create an empty repository.
    Create(repo::CreateArgs),
    /// Register a dataset type.
    RegisterDatasetType(dataset_types::RegisterArgs),
    /// List dataset types.
    QueryDatasetTypes(dataset_types::QueryArgs),
    /// Remove dataset types (refused while datasets of them exist).
    RemoveDatasetType(dataset_types::RemoveArgs),
    /// List the records of a dimension element.
    QueryDimensionRecords(dimensions::QueryRecordsArgs),
}

fn run(cli: &Cli) -> CliResult {
    match &cli.command {
        Command::Create(a) => repo::create(a),
        Command::RegisterDatasetType(a) => dataset_types::register(a),
        Command::QueryDatasetTypes(a) => dataset_types::query(a),
        Command::RemoveDatasetType(a) => dataset_types::remove(a),
        Command::QueryDimensionRecords(a) => dimensions::query_records(a),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, whatever the error carried.
            let msg = e.to_string().replace('\n', " ");
            eprintln!("valet: error: {msg}");
            ExitCode::FAILURE
        }
    }
}
