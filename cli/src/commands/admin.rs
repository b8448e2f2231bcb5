//! `valet admin add|remove|list`.

use std::path::PathBuf;

use clap::Subcommand;
use valet::registry::access;
use valet::Repo;

use crate::CliResult;

/// Repository admins.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Make a user an admin (admins only).
    Add {
        /// Repository.
        repo: PathBuf,
        /// User name.
        user: String,
    },
    /// Remove an admin (admins only; never the last one).
    Remove {
        /// Repository.
        repo: PathBuf,
        /// User name.
        user: String,
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
        AdminCommand::Add { repo, user } => {
            let repo = Repo::open(repo)?;
            repo.registry
                .transaction(|c, _| access::add_admin(c, user))?;
        }
        AdminCommand::Remove { repo, user } => {
            let repo = Repo::open(repo)?;
            repo.registry
                .transaction(|c, _| access::remove_admin(c, user))?;
        }
        AdminCommand::List { repo } => {
            let repo = Repo::open(repo)?;
            let mut conn = repo.registry.db.conn()?;
            for a in access::admins(&mut conn)? {
                println!("{a}");
            }
        }
    }
    Ok(())
}
