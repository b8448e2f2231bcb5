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
    /// A Butler seed configuration (YAML): valet takes `registry.db` from it.
    #[arg(long)]
    pub seed_config: Option<PathBuf>,
    /// Taken for the reference's command line: valet always writes its whole
    /// configuration into the repository.
    #[arg(long)]
    pub standalone: bool,
    /// Taken for the reference's command line: the seed configuration's values win.
    #[arg(long = "override")]
    pub override_: bool,
}

/// Run `valet create`.
pub fn create(args: &CreateArgs) -> CliResult {
    let mut options = CreateOptions {
        db: args.db.clone(),
        dimension_config: args.dimension_config.clone(),
        identity: args.identity.as_deref().map(str::to_ascii_lowercase),
    };
    if let Some(seed) = &args.seed_config {
        let text = std::fs::read_to_string(seed)
            .map_err(|e| format!("seed config {}: {e}", seed.display()))?;
        let ignored;
        (options, ignored) = options.with_seed_config(&text, &seed.display().to_string())?;
        if !ignored.is_empty() {
            crate::warning!(
                "seed config {}: valet does not take {}",
                seed.display(),
                ignored.join(", ")
            );
        }
    }
    let repo = Repo::create(&args.repo, &options)?;
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
