//! `valet admin add|remove|list`.

use std::path::PathBuf;

use clap::Subcommand;
use valet::Repo;

use crate::output::stdout_line;
use crate::CliResult;

/// Repository admins.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Make a user an admin (admins only).
    Add {
        /// Repository.
        repo: PathBuf,
        /// The user to make an admin (who acts is `--user`, not this).
        #[arg(value_name = "USER")]
        name: String,
    },
    /// Remove an admin (admins only; never the last one).
    Remove {
        /// Repository.
        repo: PathBuf,
        /// The admin to remove.
        #[arg(value_name = "USER")]
        name: String,
    },
    /// List the admins.
    List {
        /// Repository.
        repo: PathBuf,
    },
}

/// Run a `valet admin` command.
pub fn run(cmd: &AdminCommand) -> CliResult {
    match cmd {
        AdminCommand::Add { repo, name } => Repo::open(repo)?.add_admin(name)?,
        AdminCommand::Remove { repo, name } => Repo::open(repo)?.remove_admin(name)?,
        AdminCommand::List { repo } => {
            for a in Repo::open(repo)?.admins()? {
                stdout_line(&a)?;
            }
        }
    }
    Ok(())
}
