//! Where a command runs: a local repository, or a server (`valet --server URL …`,
//! or a REPO that is an `http(s)://` URL). Both answer the engine's own types, so a
//! command prints the same whichever it is.

use std::ffi::OsString;

use valet_client::is_server_url;
pub use valet_client::Target;

/// The commands that can run against a server.
pub const REMOTE_COMMANDS: [&str; 22] = [
    "query-collections",
    "query-dataset-types",
    "query-datasets",
    "find-dataset",
    "query-data-ids",
    "query-dimension-records",
    "collection-chain",
    "chain-history",
    "register-collection",
    "register-dataset-type",
    "remove-dataset-type",
    "associate",
    "certify-calibrations",
    "decertify-calibrations",
    "remove-collections",
    "remove-runs",
    "prune-datasets",
    "lineage",
    "retrieve-artifacts",
    "ingest-zip",
    "import",
    "ingest-files",
];

/// `valet --server URL COMMAND …` is `valet COMMAND URL …`: the URL takes the place
/// of the REPO argument, which every command's first. Refuses a command that
/// cannot run against a server, and a URL given as REPO to one.
pub fn place_server(mut argv: Vec<OsString>, commands: &[String]) -> Result<Vec<OsString>, String> {
    let mut server = None;
    let mut i = 1;
    while i < argv.len() {
        let arg = argv[i].to_string_lossy().into_owned();
        if arg == "--server" {
            if i + 1 >= argv.len() {
                return Err("--server needs a URL".into());
            }
            server = Some(argv.remove(i + 1));
            argv.remove(i);
            continue;
        }
        if let Some(url) = arg.strip_prefix("--server=") {
            server = Some(OsString::from(url));
            argv.remove(i);
            continue;
        }
        i += 1;
    }
    let at = argv
        .iter()
        .position(|a| commands.iter().any(|c| a.to_str() == Some(c.as_str())));
    let command = at.and_then(|at| argv[at].to_str().map(str::to_owned));
    let remote_capable = command
        .as_deref()
        .is_some_and(|c| REMOTE_COMMANDS.contains(&c));
    if let Some(url) = server {
        let url_text = url.to_string_lossy().into_owned();
        if !is_server_url(&url_text) {
            return Err(format!(
                "--server {url_text:?}: give http://HOST:PORT or https://…"
            ));
        }
        match (at, command) {
            (Some(at), Some(_)) if remote_capable => argv.insert(at + 1, url),
            (_, Some(c)) => return Err(not_remote(&c)),
            _ => {}
        }
    } else if let (Some(at), Some(c)) = (at, command) {
        let names_server = argv
            .get(at + 1)
            .and_then(|a| a.to_str())
            .is_some_and(is_server_url);
        if names_server && !remote_capable {
            return Err(not_remote(&c));
        }
    }
    Ok(argv)
}

fn not_remote(command: &str) -> String {
    format!(
        "`valet {command}` runs on a local repository only; against a server: {}",
        REMOTE_COMMANDS.join(", ")
    )
}
