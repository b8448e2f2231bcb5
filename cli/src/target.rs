//! Where a command runs: a local repository, or a server (`valet --server URL …`,
//! or a REPO that is an `http(s)://` URL). Both answer the engine's own types, so a
//! command prints the same whichever it is.

use std::borrow::Cow;
use std::ffi::OsString;
use std::path::Path;

use valet::collection_queries::{CollectionRow, QueryCollectionsOptions};
use valet::collection_writes::RegisterCollectionOptions;
use valet::collections::chains::ChainEdit;
use valet::dataset_rows::DatasetRows;
use valet::queries::{
    DataIdRows, DimensionRecordQuery, DimensionRecords, FindDatasetOptions, FoundDataset,
    QueryDataIdsOptions, QueryDatasetsOptions,
};
use valet::{ChainMode, CollectionRecord, CollectionType, DatasetType, Repo, RepoError, Universe};
use valet_client::{is_server_url, Client};

/// The commands that can run against a server.
pub const REMOTE_COMMANDS: [&str; 9] = [
    "query-collections",
    "query-dataset-types",
    "query-datasets",
    "find-dataset",
    "query-data-ids",
    "query-dimension-records",
    "collection-chain",
    "chain-history",
    "register-collection",
];

/// A repository, here or behind a server.
pub enum Target {
    /// A repository on this machine.
    Local(Repo),
    /// A repository behind `valet serve`.
    Remote(Client),
}

/// Forward a call to whichever repository this is.
macro_rules! either {
    ($target:expr, $t:ident => $call:expr) => {
        match $target {
            Target::Local($t) => $call,
            Target::Remote($t) => $call,
        }
    };
}

impl Target {
    /// The repository `repo` names: a server when it is a URL, else a directory.
    pub fn open(repo: &Path) -> Result<Target, RepoError> {
        match repo.to_str().filter(|r| is_server_url(r)) {
            Some(url) => Ok(Target::Remote(Client::new(url)?)),
            None => Ok(Target::Local(Repo::open(repo)?)),
        }
    }

    /// The dimension universe.
    pub fn universe(&self) -> Result<Cow<'_, Universe>, RepoError> {
        match self {
            Target::Local(repo) => Ok(Cow::Borrowed(repo.universe())),
            Target::Remote(client) => Ok(Cow::Owned(client.universe()?)),
        }
    }

    /// See [`Repo::query_collections`].
    pub fn query_collections(
        &self,
        options: &QueryCollectionsOptions,
    ) -> Result<Vec<CollectionRow>, RepoError> {
        either!(self, t => t.query_collections(options))
    }

    /// See [`Repo::query_dataset_types`].
    pub fn query_dataset_types(&self, globs: &[String]) -> Result<Vec<DatasetType>, RepoError> {
        either!(self, t => t.query_dataset_types(globs))
    }

    /// See [`Repo::query_datasets`].
    pub fn query_datasets(&self, options: &QueryDatasetsOptions) -> Result<DatasetRows, RepoError> {
        either!(self, t => t.query_datasets(options))
    }

    /// See [`Repo::find_dataset`].
    pub fn find_dataset(
        &self,
        options: &FindDatasetOptions,
    ) -> Result<Option<FoundDataset>, RepoError> {
        either!(self, t => t.find_dataset(options))
    }

    /// See [`Repo::query_data_ids`].
    pub fn query_data_ids(&self, options: &QueryDataIdsOptions) -> Result<DataIdRows, RepoError> {
        either!(self, t => t.query_data_ids(options))
    }

    /// See [`Repo::query_dimension_records`].
    pub fn query_dimension_records(
        &self,
        query: &DimensionRecordQuery,
    ) -> Result<DimensionRecords, RepoError> {
        either!(self, t => t.query_dimension_records(query))
    }

    /// See [`Repo::chain_history`].
    pub fn chain_history(&self, chain: &str) -> Result<Vec<ChainEdit>, RepoError> {
        either!(self, t => t.chain_history(chain))
    }

    /// See [`Repo::collection_chain`].
    pub fn collection_chain(
        &self,
        parent: &str,
        mode: ChainMode,
        children: &[String],
        flatten: bool,
        doc: Option<&str>,
    ) -> Result<Vec<CollectionRecord>, RepoError> {
        either!(self, t => t.collection_chain(parent, mode, children, flatten, doc))
    }

    /// See [`Repo::register_collection`].
    pub fn register_collection(
        &self,
        name: &str,
        kind: CollectionType,
        options: &RegisterCollectionOptions,
    ) -> Result<bool, RepoError> {
        either!(self, t => t.register_collection(name, kind, options))
    }
}

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
