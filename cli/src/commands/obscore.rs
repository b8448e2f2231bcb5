//! `valet obscore export`: the reference exporter's command shape.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use valet::obscore_api::{
    ObsCoreConfig, ObsCoreExportOptions, ObsCoreFormat, ObsCoreSource, RowsProgress,
};
use valet::Repo;

use crate::args::split_commas;
use crate::CliResult;

/// ObsCore commands.
#[derive(Debug, Subcommand)]
pub enum ObsCoreCommand {
    /// Export ObsCore rows of a find-first search (or the live table) to a file.
    Export(ExportArgs),
    /// Keep a live ObsCore table in the repository, maintained on every write.
    Enable {
        /// Repository.
        repo: PathBuf,
        /// ObsCore configuration (the reference's format).
        config: PathBuf,
    },
    /// Refill the live table from the registry.
    UpdateTable {
        /// Repository.
        repo: PathBuf,
        /// List what the refill would put right (missing, stray and differing rows)
        /// and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// File formats of `obscore export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Comma-separated values, NULL as `\N`.
    Csv,
    /// Apache Parquet (snappy-compressed).
    Parquet,
}

/// Export ObsCore rows.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Output file.
    pub destination: PathBuf,
    /// ObsCore configuration (the reference's format).
    #[arg(long, short = 'c', required_unless_present = "live")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "parquet", ignore_case = true)]
    pub format: ExportFormat,
    /// Collections searched find-first, in order (default: the configuration's
    /// `collections`).
    #[arg(long)]
    pub collections: Vec<String>,
    /// Only these dataset types, each defined in the configuration (default: every
    /// configured one).
    #[arg(long, short = 'd')]
    pub dataset_type: Vec<String>,
    /// Only datasets matching this expression (default: the configuration's `where`).
    #[arg(long = "where", default_value = "")]
    pub where_: String,
    /// Write the repository's live ObsCore table as it stands instead of searching.
    #[arg(long, conflicts_with_all = ["config", "collections", "dataset_type", "where_"])]
    pub live: bool,
}

/// A running count of ObsCore rows on stderr, only when a person is watching.
fn row_counter(doing: &str) -> Option<indicatif::ProgressBar> {
    std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template(&format!(
                "{doing} ObsCore rows {{spinner}} {{human_pos}} ({{elapsed}})"
            ))
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        b
    })
}

/// Progress reports that move `counter`.
fn reporter(counter: &Option<indicatif::ProgressBar>) -> Option<RowsProgress> {
    counter.as_ref().map(|b| {
        let b = b.clone();
        let report: RowsProgress = std::sync::Arc::new(move |rows| b.set_position(rows));
        report
    })
}

/// Run a `valet obscore` command.
pub fn run(cmd: &ObsCoreCommand) -> CliResult {
    match cmd {
        ObsCoreCommand::Export(args) => export(args),
        ObsCoreCommand::Enable { repo, config } => {
            let text = std::fs::read_to_string(config)
                .map_err(|e| format!("{}: {e}", config.display()))?;
            let repo = Repo::open(repo)?;
            let counter = row_counter("filling");
            let n = repo.enable_obscore(&text, reporter(&counter).as_ref());
            if let Some(b) = &counter {
                b.finish_and_clear();
            }
            let n = n?;
            eprintln!("ObsCore table enabled with {n} row(s)");
            Ok(())
        }
        ObsCoreCommand::UpdateTable { repo, dry_run } => {
            let repo = Repo::open(repo)?;
            if *dry_run {
                let problems = repo.check_obscore_table()?;
                for p in &problems {
                    crate::out!("{p}");
                }
                eprintln!(
                    "dry run: the refill would put {} row(s) right; nothing changed",
                    problems.len()
                );
                return Ok(());
            }
            let counter = row_counter("refilling");
            let n = repo.update_obscore_table(reporter(&counter).as_ref());
            if let Some(b) = &counter {
                b.finish_and_clear();
            }
            let n = n?;
            eprintln!("ObsCore table refilled with {n} row(s)");
            Ok(())
        }
    }
}

fn export(args: &ExportArgs) -> CliResult {
    let config = match &args.config {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            Some(ObsCoreConfig::from_yaml(&text).map_err(|e| format!("{}: {e}", path.display()))?)
        }
        None => None,
    };
    let repo = Repo::open(&args.repo)?;
    let counter = row_counter("exporting");
    let source = match config {
        Some(config) => ObsCoreSource::Search {
            config: Box::new(config),
            options: ObsCoreExportOptions {
                collections: split_commas(&args.collections),
                dataset_types: split_commas(&args.dataset_type),
                where_: args.where_.clone(),
                progress: reporter(&counter),
            },
        },
        None => ObsCoreSource::Live,
    };
    let format = match args.format {
        ExportFormat::Csv => ObsCoreFormat::Csv,
        ExportFormat::Parquet => ObsCoreFormat::Parquet,
    };
    let written = repo.export_obscore(&args.destination, format, &source);
    if let Some(b) = &counter {
        b.finish_and_clear();
    }
    let n = written?;
    eprintln!("wrote {n} ObsCore row(s) to {}", args.destination.display());
    Ok(())
}
