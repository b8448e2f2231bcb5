//! `valet check`.

use std::path::PathBuf;

use clap::Args;
use valet::Repo;

use crate::CliResult;

/// Compare the registry with the files, and repair what is safe to repair.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Also compare checksums (reads every file).
    #[arg(long)]
    pub deep: bool,
    /// Finish interrupted removals and remove staging and orphaned files.
    #[arg(long)]
    pub repair: bool,
}

/// Run `valet check`: prints every discrepancy; fails while any remain.
pub fn check(args: &CheckArgs) -> CliResult {
    let repo = Repo::open(&args.repo)?;
    let report = valet::check::check(&repo, args.deep, args.repair)?;
    for r in &report.repaired {
        println!("repaired: {r}");
    }
    for p in &report.problems {
        println!("problem: {p}");
    }
    if report.problems.is_empty() {
        println!("ok");
        Ok(())
    } else {
        Err(format!("{} problem(s) remain", report.problems.len()).into())
    }
}
