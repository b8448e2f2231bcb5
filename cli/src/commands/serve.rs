//! `valet serve` and `valet token create|list|revoke`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use valet::registry::tokens::Scope;
use valet::Repo;
use valet_server::ServeOptions;

use crate::output::stdout_line;
use crate::CliResult;

/// Serve a repository over HTTP.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Address and port to listen on (TLS belongs to a reverse proxy in front).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Refuse requests without a token, reads included.
    #[arg(long)]
    pub no_anonymous_reads: bool,
    /// The largest request body accepted, in bytes.
    #[arg(long, default_value_t = 16 << 20)]
    pub max_body_bytes: usize,
    /// Streaming answers (dataset searches, files) one user may have open at once;
    /// one more is refused with 429.
    #[arg(long, default_value_t = 4)]
    pub max_streams_per_user: usize,
    /// Seconds a streamed answer waits for its client to take data before it is cut
    /// short (the client sees a broken answer), freeing its database connection.
    #[arg(long, default_value_t = 30.0)]
    pub stall_timeout: f64,
}

/// Run `valet serve`.
pub fn serve(args: &ServeArgs) -> CliResult {
    let repo = Repo::open(&args.repo)?;
    let options = ServeOptions {
        listen: args.listen,
        anonymous_reads: !args.no_anonymous_reads,
        max_body_bytes: args.max_body_bytes,
        max_streams_per_user: args.max_streams_per_user,
        stall_timeout: std::time::Duration::try_from_secs_f64(args.stall_timeout)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                format!(
                    "--stall-timeout {}: give a positive number of seconds",
                    args.stall_timeout
                )
            })?,
    };
    valet_server::serve(repo, options).map_err(|e| format!("serve on {}: {e}", args.listen))?;
    Ok(())
}

/// Bearer tokens for `valet serve`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token for a user (admins only); the token is printed once, alone on
    /// the last line.
    Create {
        /// Repository.
        repo: PathBuf,
        /// The user the token acts for.
        #[arg(value_name = "USER")]
        name: String,
        /// What it may do: read, write, or admin (its user's admin rights too).
        #[arg(long, default_value = "write")]
        scope: String,
        /// Days until it expires (default: never).
        #[arg(long)]
        expires_days: Option<f64>,
    },
    /// List tokens (admins only): id, user, scope, state.
    List {
        /// Repository.
        repo: PathBuf,
    },
    /// Revoke a token by id (admins only).
    Revoke {
        /// Repository.
        repo: PathBuf,
        /// The token's id (the part after `valet_`, before the next `_`).
        id: String,
    },
}

/// Run a `valet token` command.
pub fn token(cmd: &TokenCommand) -> CliResult {
    match cmd {
        TokenCommand::Create {
            repo,
            name,
            scope,
            expires_days,
        } => {
            let scope: Scope = scope.parse()?;
            if expires_days.is_some_and(|d| !(d > 0.0 && d.is_finite())) {
                return Err("--expires-days must be a positive number of days".into());
            }
            let expires_at = expires_days
                .map(|d| valet::registry::identity::now_utc_ns() + (d * 86_400e9) as i64);
            let (info, token) = Repo::open(repo)?.create_token(name, scope, expires_at)?;
            crate::info!(
                "token {} for {} ({}); it is shown once:",
                info.id,
                info.user,
                info.scope.as_str()
            );
            stdout_line(&token)?;
        }
        TokenCommand::List { repo } => {
            let now = valet::registry::identity::now_utc_ns();
            for t in Repo::open(repo)?.list_tokens()? {
                let state = if t.revoked_at.is_some() {
                    "revoked"
                } else if t.expires_at.is_some_and(|e| e <= now) {
                    "expired"
                } else {
                    "active"
                };
                stdout_line(&format!("{} {} {} {state}", t.id, t.user, t.scope.as_str()))?;
            }
        }
        TokenCommand::Revoke { repo, id } => {
            let t = Repo::open(repo)?.revoke_token(id)?;
            crate::info!("revoked token {} of {}", t.id, t.user);
        }
    }
    Ok(())
}
