//! `valet create`.

use std::path::PathBuf;

use clap::Args;
use valet::{Backend, CreateOptions, Repo};

use crate::CliResult;

/// Create an empty repository.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Repository directory to create.
    pub repo: PathBuf,
    /// Registry database URL (postgresql://…); default: an SQLite file in the repository.
    #[arg(long)]
    pub db: Option<String>,
    /// Dimension universe file in the reference Butler's format; default: universe 8.
    #[arg(long)]
    pub dimension_config: Option<PathBuf>,
    /// Who the acting user is: login (default) or database-role (PostgreSQL only).
    #[arg(long, value_parser = ["login", "database-role"], ignore_case = true)]
    pub identity: Option<String>,
}

/// Run `valet create`.
pub fn create(args: &CreateArgs) -> CliResult {
    let repo = Repo::create(
        &args.repo,
        &CreateOptions {
            db: args.db.clone(),
            dimension_config: args.dimension_config.clone(),
            identity: args.identity.as_deref().map(str::to_ascii_lowercase),
        },
    )?;
    crate::info!(
        "created repository {} (universe {} {}, {})",
        repo.root().display(),
        repo.universe().namespace,
        repo.universe().version,
        match repo.backend() {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    );
    Ok(())
}
