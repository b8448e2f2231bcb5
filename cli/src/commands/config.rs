//! `config-dump` and `config-validate`.

use std::path::PathBuf;

use clap::Args;
use valet::Repo;

use crate::args::split_commas;
use crate::CliResult;

/// Print the repository's configuration.
#[derive(Debug, Args)]
pub struct DumpArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Only this part: a key such as `.universe.version` (a leading punctuation
    /// character is the delimiter of the hierarchy).
    #[arg(long, short = 's')]
    pub subset: Option<String>,
    /// Write to this file instead of standard output.
    #[arg(long)]
    pub file: Option<PathBuf>,
}

/// Run `valet config-dump`.
pub fn dump(args: &DumpArgs) -> CliResult {
    let repo = Repo::open(&args.repo)?;
    let text = repo.config_dump(args.subset.as_deref())?;
    match &args.file {
        Some(path) if path.as_os_str() != "-" => {
            std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        _ => crate::output::stdout_text(&text)?,
    }
    Ok(())
}

/// Check the configuration against the registered dataset types.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Do not report individual failures.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Only these dataset types (names or globs).
    #[arg(long, short = 'd')]
    pub dataset_type: Vec<String>,
    /// Dataset types to leave out (names or globs).
    #[arg(long, short = 'i')]
    pub ignore: Vec<String>,
}

/// Run `valet config-validate`: the reference's message when all is well, else each
/// problem on standard error and a non-zero exit.
pub fn validate(args: &ValidateArgs) -> CliResult {
    let repo = Repo::open(&args.repo)?;
    let problems = repo.validate_config(
        &split_commas(&args.dataset_type),
        &split_commas(&args.ignore),
    )?;
    if problems.is_empty() {
        println!("No problems encountered with configuration.");
        return Ok(());
    }
    if !args.quiet {
        for p in &problems {
            crate::log::emit(crate::log::Level::Error, &p.to_string());
        }
    }
    Err(format!("{} configuration problem(s)", problems.len()).into())
}
