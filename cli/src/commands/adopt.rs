//! `valet adopt`.

use std::path::PathBuf;

use clap::Args;
use valet::adopt::AdoptOptions;
use valet::{Repo, TransferMode};

use crate::args::split_commas;
use crate::CliResult;

/// Create a valet repository from an existing Butler repository.
#[derive(Debug, Args)]
pub struct AdoptArgs {
    /// The valet repository to create.
    pub repo: PathBuf,
    /// The Butler repository (its directory or its butler.yaml); only read.
    pub butler_repo: PathBuf,
    /// The new repository's registry database URL (postgresql://…); default: an
    /// SQLite file in the repository.
    #[arg(long)]
    pub db: Option<String>,
    /// How the files come in: direct (default) records them where they are.
    #[arg(long, short = 't', default_value = "direct", value_parser = ["direct", "auto", "copy", "link", "symlink", "hardlink", "relsymlink"], ignore_case = true)]
    pub transfer: String,
    /// Collections (names or globs) to adopt, with what their chains reach; default: all.
    #[arg(long, short = 'c')]
    pub collections: Vec<String>,
    /// Dataset types (names or globs) to adopt; default: all.
    #[arg(long, short = 'd')]
    pub dataset_types: Vec<String>,
}

/// Run `valet adopt`.
pub fn adopt(args: &AdoptArgs) -> CliResult {
    let bar =
        crate::output::progress_bar("adopting {bar:40} {pos}/{len} records and datasets ({eta})");
    let result = Repo::adopt(
        &args.repo,
        &args.butler_repo,
        &AdoptOptions {
            db: args.db.clone(),
            transfer: args.transfer.parse::<TransferMode>()?,
            collections: split_commas(&args.collections),
            dataset_types: split_commas(&args.dataset_types),
            progress: crate::output::progress_reports(&bar),
        },
    );
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let (_, summary) = result?;
    crate::info!(
        "adopted {} into {}",
        super::transfers::describe_summary(&summary),
        args.repo.display()
    );
    Ok(())
}
