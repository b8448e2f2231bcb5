//! `valet register-instrument`.

use std::path::PathBuf;

use clap::Args;
use valet::Repo;

use crate::output::stdout_line;
use crate::CliResult;

/// Register an instrument from a definition.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// Repository.
    pub repo: PathBuf,
    /// A shipped instrument (DECam, HSC, LSSTCam-imSim) or a definition YAML file.
    #[arg(value_name = "NAME_OR_FILE")]
    pub instrument: String,
    /// Replace the records of an instrument registered with another definition.
    #[arg(long)]
    pub update: bool,
}

/// Run `valet register-instrument`.
pub fn register(args: &RegisterArgs) -> CliResult {
    let s = Repo::open(&args.repo)?.register_instrument_from(&args.instrument, args.update)?;
    if s.is_no_op() {
        stdout_line(&format!(
            "instrument {} is already registered with this definition; nothing changed",
            s.instrument
        ))?;
    } else {
        stdout_line(&format!(
            "instrument {}: {} records inserted, {} updated, {} unchanged",
            s.instrument, s.inserted, s.updated, s.unchanged
        ))?;
    }
    Ok(())
}
