//! `valet register-execution` and `valet lineage`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use valet::provenance::{lineage_dot, lineage_json, ExecutionSpec};
use valet::queries::LineageOptions;
use valet::Repo;

use crate::args::{dataset_keys, file_text, split_commas};
use crate::CliResult;

/// Record a pipeline stage: what it read and the RUNs it wrote.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Stage name.
    pub name: String,
    /// Ids of the datasets it read: UUIDs of Butler datasets, integers of named ones.
    #[arg(long, num_args = 1..)]
    pub input_datasets: Vec<String>,
    /// RUN(s) holding its outputs.
    #[arg(long)]
    pub run: Vec<String>,
    /// Description.
    #[arg(long)]
    pub description: Option<String>,
    /// Where it ran.
    #[arg(long)]
    pub site: Option<String>,
    /// A configuration file, whose text is stored.
    #[arg(long)]
    pub configuration: Option<PathBuf>,
}

/// Run `valet register-execution`; prints the new execution's id.
pub fn register(args: &RegisterArgs) -> CliResult {
    let repo = Repo::open(&args.repo)?;
    let (inputs, named_inputs) = dataset_keys(&args.input_datasets)?;
    let configuration = file_text(&args.configuration)?;
    let spec = ExecutionSpec {
        name: args.name.clone(),
        description: args.description.clone(),
        site: args.site.clone(),
        configuration,
        started_at: None,
        inputs,
        named_inputs,
        runs: split_commas(&args.run),
    };
    let id = repo.register_execution(&spec)?;
    crate::out!("{id}");
    Ok(())
}

/// Output formats of `lineage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LineageFormat {
    /// Nodes and edges as JSON.
    #[default]
    Json,
    /// Graphviz dot.
    Dot,
}

/// Show what produced a dataset (`--up`) or what was built from it (`--down`).
#[derive(Debug, Args)]
pub struct LineageArgs {
    /// Repository.
    pub repo: PathBuf,
    /// The dataset's id.
    pub dataset_id: String,
    /// Walk towards inputs.
    #[arg(long, conflicts_with = "down")]
    pub up: bool,
    /// Walk towards outputs.
    #[arg(long)]
    pub down: bool,
    /// At most this many dataset-to-dataset steps.
    #[arg(long, default_value_t = 100)]
    pub depth: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t, ignore_case = true)]
    pub format: LineageFormat,
}

/// Run `valet lineage`.
pub fn show(args: &LineageArgs) -> CliResult {
    if !args.up && !args.down {
        return Err("give --up or --down".into());
    }
    let repo = crate::target::Target::open(&args.repo)?;
    let id: valet::provenance::DatasetKey = args.dataset_id.parse()?;
    let graph = repo.lineage(
        id,
        LineageOptions {
            up: args.up,
            depth: args.depth,
        },
    )?;
    match args.format {
        LineageFormat::Json => {
            crate::out!("{}", serde_json::to_string_pretty(&lineage_json(&graph))?)
        }
        LineageFormat::Dot => crate::output::stdout_text(&lineage_dot(&graph))?,
    }
    Ok(())
}
