//! `valet check`.

use std::path::PathBuf;

use clap::Args;
use valet::check::CheckOptions;
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
    /// Finish interrupted removals and remove what interrupted writes left (admins
    /// only; waits for writes in progress).
    #[arg(long)]
    pub repair: bool,
    /// With --repair: also remove files under the root that no dataset knows and
    /// valet did not write (see them first with --dry-run).
    #[arg(long)]
    pub remove_orphans: bool,
    /// Say what --repair (and --remove-orphans) would do; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Run `valet check`: prints every discrepancy; fails while any remain.
pub fn check(args: &CheckArgs) -> CliResult {
    if (args.remove_orphans || args.dry_run) && !args.repair {
        return Err("--remove-orphans and --dry-run go with --repair".into());
    }
    let repo = Repo::open(&args.repo)?;
    let report = repo.check(CheckOptions {
        deep: args.deep,
        repair: args.repair,
        remove_orphans: args.remove_orphans,
        dry_run: args.dry_run,
        waiting: Some(Box::new(|| {
            crate::info!("valet: waiting for the writes in progress to finish before repairing")
        })),
    })?;
    let done = if args.dry_run { "dry run" } else { "repaired" };
    for r in &report.repaired {
        crate::out!("{done}: {r}");
    }
    for p in &report.problems {
        crate::out!("problem: {p}");
    }
    if report.problems.is_empty() {
        crate::out!("ok");
        Ok(())
    } else {
        Err(format!("{} problem(s) remain", report.problems.len()).into())
    }
}
