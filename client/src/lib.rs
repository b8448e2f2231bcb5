//! A client of `valet serve` (`valet --server URL …`): the repository's calls made
//! over HTTP through the server's client protocol (`/api/v1/repo/`), each answering
//! the same engine type a local [`Repo`](valet::Repo) call does, so a front end
//! prints both alike. Identity is the bearer token in `VALET_TOKEN`; without one the
//! server decides whether anonymous reads are allowed. A failure the server reports
//! comes back as a [`RepoError`] of the kind and with the message it had there.

mod target;

use std::path::{Path, PathBuf};
use std::time::Duration;

use petgraph::graph::DiGraph;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;
use valet::artifact_zip::{IngestZipOptions, IngestZipSummary};
use valet::collection_queries::{CollectionRow, QueryCollectionsOptions};
use valet::collection_writes::{
    CertifyOptions, DecertifyOptions, RegisterCollectionOptions, RunsRemoved,
};
use valet::collections::chains::ChainEdit;
use valet::dataset_rows::DatasetRows;
use valet::dataset_type_writes::DatasetTypeSpec;
use valet::datastore_crate::{Transfer, TransferMode};
use valet::ingest::IngestTableOptions;
use valet::provenance::{DatasetKey, LineageNode};
use valet::prune::{PruneOptions, PruneReport};
use valet::queries::{
    DataIdRows, DatasetSearch, DimensionRecordQuery, DimensionRecords, FindDatasetOptions,
    FoundDataset, LineageOptions, QueryDataIdsOptions, QueryDatasetsOptions,
};
use valet::retrieve::RetrieveOptions;
use valet::transfers::bundle::{
    copies_only, write_import_bundle, write_ingest_bundle, SENT_ARE_COPIED,
};
use valet::transfers::{ImportOptions, ImportSummary};
use valet::{
    ChainMode, CollectionRecord, CollectionType, DatasetRef, DatasetType, ErrorKind, RepoError,
    Universe,
};

pub use target::Target;

/// The environment variable holding the bearer token.
pub const TOKEN_VARIABLE: &str = "VALET_TOKEN";

/// Whether a repository argument names a server rather than a directory.
pub fn is_server_url(repo: &str) -> bool {
    repo.starts_with("http://") || repo.starts_with("https://")
}

/// A connection to a server.
pub struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Client {
    /// A client of the server at `url` (`http://…` or `https://…`), with the token
    /// in `VALET_TOKEN` if there is one.
    pub fn new(url: &str) -> Result<Client, RepoError> {
        if !is_server_url(url) {
            return Err(RepoError::Invalid(format!(
                "{url:?} is not a server URL: give http://HOST:PORT or https://…"
            )));
        }
        let token = std::env::var(TOKEN_VARIABLE)
            .ok()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        Ok(Client {
            base: url.trim_end_matches('/').to_owned(),
            token,
            agent: ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(10))
                .build(),
        })
    }

    /// The server's URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    fn request(&self, method: &str, path: &str) -> ureq::Request {
        let request = self.agent.request(method, &format!("{}{path}", self.base));
        match &self.token {
            Some(t) => request.set("Authorization", &format!("Bearer {t}")),
            None => request,
        }
    }

    /// The answer of a request, read as `R`, or the failure it reported.
    fn answer<R: DeserializeOwned>(
        &self,
        path: &str,
        sent: Result<ureq::Response, ureq::Error>,
    ) -> Result<R, RepoError> {
        let response = self.accepted(sent)?;
        serde_json::from_reader(response.into_reader()).map_err(|e| {
            RepoError::Invalid(format!(
                "{}{path}: an answer this client cannot read: {e}",
                self.base
            ))
        })
    }

    /// The response of a request the server accepted, or the failure it reported
    /// (or the connection's).
    fn accepted(
        &self,
        sent: Result<ureq::Response, ureq::Error>,
    ) -> Result<ureq::Response, RepoError> {
        match sent {
            Ok(response) => Ok(response),
            Err(ureq::Error::Status(status, response)) => Err(self.failure(status, response)),
            Err(ureq::Error::Transport(t)) => Err(RepoError::Io {
                path: self.base.clone(),
                source: std::io::Error::other(t.to_string()),
            }),
        }
    }

    /// A dataset's file, as the server streams it.
    fn file_response(&self, id: Uuid) -> Result<ureq::Response, RepoError> {
        let sent = self
            .request("GET", &format!("/api/v1/datasets/{id}/file"))
            .call();
        self.accepted(sent)
    }

    /// The error a failed request reports: the engine's kind and message when the
    /// server sent them, else its status.
    fn failure(&self, status: u16, response: ureq::Response) -> RepoError {
        let text = response.into_string().unwrap_or_default();
        let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let message = body["error"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{}: HTTP {status} {}", self.base, text.trim()));
        let kind = serde_json::from_value(body["kind"].clone()).unwrap_or(match status {
            401 | 403 => ErrorKind::Denied,
            404 => ErrorKind::NotFound,
            409 => ErrorKind::Conflict,
            400..=499 => ErrorKind::InvalidInput,
            _ => ErrorKind::Database,
        });
        RepoError::Remote(kind, message)
    }

    fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R, RepoError> {
        let sent = self.request("POST", path).send_json(body);
        self.answer(path, sent)
    }

    fn get<R: DeserializeOwned>(&self, path: &str) -> Result<R, RepoError> {
        let sent = self.request("GET", path).call();
        self.answer(path, sent)
    }

    /// [`Repo::query_collections`](valet::Repo::query_collections).
    pub fn query_collections(
        &self,
        options: &QueryCollectionsOptions,
    ) -> Result<Vec<CollectionRow>, RepoError> {
        self.post("/api/v1/repo/query-collections", options)
    }

    /// [`Repo::query_dataset_types`](valet::Repo::query_dataset_types).
    pub fn query_dataset_types(&self, globs: &[String]) -> Result<Vec<DatasetType>, RepoError> {
        self.post("/api/v1/repo/query-dataset-types", &globs)
    }

    /// [`Repo::query_datasets`](valet::Repo::query_datasets).
    pub fn query_datasets(&self, options: &QueryDatasetsOptions) -> Result<DatasetRows, RepoError> {
        self.post("/api/v1/repo/query-datasets", options)
    }

    /// [`Repo::find_dataset`](valet::Repo::find_dataset).
    pub fn find_dataset(
        &self,
        options: &FindDatasetOptions,
    ) -> Result<Option<FoundDataset>, RepoError> {
        self.post("/api/v1/repo/find-dataset", options)
    }

    /// [`Repo::query_data_ids`](valet::Repo::query_data_ids).
    pub fn query_data_ids(&self, options: &QueryDataIdsOptions) -> Result<DataIdRows, RepoError> {
        self.post("/api/v1/repo/query-data-ids", options)
    }

    /// [`Repo::query_dimension_records`](valet::Repo::query_dimension_records).
    pub fn query_dimension_records(
        &self,
        query: &DimensionRecordQuery,
    ) -> Result<DimensionRecords, RepoError> {
        self.post("/api/v1/repo/query-dimension-records", query)
    }

    /// The server's dimension universe.
    pub fn universe(&self) -> Result<Universe, RepoError> {
        let source: String = self.get("/api/v1/repo/universe")?;
        Ok(Universe::from_yaml(&source)?)
    }

    /// [`Repo::chain_history`](valet::Repo::chain_history).
    pub fn chain_history(&self, chain: &str) -> Result<Vec<ChainEdit>, RepoError> {
        self.get(&format!("/api/v1/repo/chain-history/{chain}"))
    }

    /// [`Repo::collection_chain`](valet::Repo::collection_chain).
    pub fn collection_chain(
        &self,
        parent: &str,
        mode: ChainMode,
        children: &[String],
        flatten: bool,
        doc: Option<&str>,
    ) -> Result<Vec<CollectionRecord>, RepoError> {
        self.post(
            "/api/v1/repo/collection-chain",
            &json!({"parent": parent, "mode": mode, "children": children,
                    "flatten": flatten, "doc": doc}),
        )
    }

    /// [`Repo::register_collection`](valet::Repo::register_collection).
    pub fn register_collection(
        &self,
        name: &str,
        kind: CollectionType,
        options: &RegisterCollectionOptions,
    ) -> Result<bool, RepoError> {
        self.post(
            "/api/v1/repo/register-collection",
            &json!({"name": name, "kind": kind, "options": options}),
        )
    }

    /// [`Repo::collection`](valet::Repo::collection).
    pub fn collection(&self, name: &str) -> Result<CollectionRecord, RepoError> {
        self.get(&format!("/api/v1/repo/collection/{name}"))
    }

    /// [`Repo::chain_children`](valet::Repo::chain_children).
    pub fn chain_children(&self, chain: &str) -> Result<Vec<String>, RepoError> {
        self.get(&format!("/api/v1/repo/chain-children/{chain}"))
    }

    /// [`Repo::chain_parents`](valet::Repo::chain_parents).
    pub fn chain_parents(&self, name: &str) -> Result<Vec<String>, RepoError> {
        self.get(&format!("/api/v1/repo/chain-parents/{name}"))
    }

    /// [`Repo::collections_in_search_order`](valet::Repo::collections_in_search_order).
    pub fn collections_in_search_order(
        &self,
        patterns: &[String],
        types: &[CollectionType],
        include_chains: bool,
    ) -> Result<Vec<CollectionRecord>, RepoError> {
        self.post(
            "/api/v1/repo/collections-in-search-order",
            &json!({"patterns": patterns, "types": types, "include_chains": include_chains}),
        )
    }

    /// [`Repo::get_datasets`](valet::Repo::get_datasets).
    pub fn get_datasets(&self, ids: &[Uuid]) -> Result<Vec<(DatasetType, DatasetRef)>, RepoError> {
        self.post("/api/v1/repo/get-datasets", &ids)
    }

    /// [`Repo::associate_matching`](valet::Repo::associate_matching).
    pub fn associate_matching(
        &self,
        collection: &str,
        search: &DatasetSearch,
    ) -> Result<usize, RepoError> {
        self.post(
            "/api/v1/repo/associate-matching",
            &json!({"collection": collection, "search": search}),
        )
    }

    /// [`Repo::certify_calibrations`](valet::Repo::certify_calibrations).
    pub fn certify_calibrations(&self, options: &CertifyOptions) -> Result<usize, RepoError> {
        self.post("/api/v1/repo/certify-calibrations", options)
    }

    /// [`Repo::decertify_calibrations`](valet::Repo::decertify_calibrations).
    pub fn decertify_calibrations(&self, options: &DecertifyOptions) -> Result<usize, RepoError> {
        self.post("/api/v1/repo/decertify-calibrations", options)
    }

    /// [`Repo::register_dataset_type`](valet::Repo::register_dataset_type).
    pub fn register_dataset_type(
        &self,
        name: &str,
        spec: &DatasetTypeSpec,
    ) -> Result<(DatasetType, bool), RepoError> {
        self.post(
            "/api/v1/repo/register-dataset-type",
            &json!({"name": name, "spec": spec}),
        )
    }

    /// [`Repo::remove_dataset_types`](valet::Repo::remove_dataset_types).
    pub fn remove_dataset_types(&self, patterns: &[String]) -> Result<Vec<String>, RepoError> {
        self.post("/api/v1/repo/remove-dataset-types", &patterns)
    }

    /// [`Repo::matching_collections`](valet::Repo::matching_collections).
    pub fn matching_collections(
        &self,
        patterns: &[String],
        types: &[CollectionType],
    ) -> Result<Vec<String>, RepoError> {
        self.post(
            "/api/v1/repo/matching-collections",
            &json!({"patterns": patterns, "types": types}),
        )
    }

    /// [`Repo::remove_collections`](valet::Repo::remove_collections).
    pub fn remove_collections(
        &self,
        names: &[String],
        remove_from_parents: bool,
    ) -> Result<(), RepoError> {
        self.post(
            "/api/v1/repo/remove-collections",
            &json!({"names": names, "unlink_from_parents": remove_from_parents}),
        )
    }

    /// [`Repo::remove_runs`](valet::Repo::remove_runs).
    pub fn remove_runs(
        &self,
        names: &[String],
        unlink_from_parents: bool,
    ) -> Result<RunsRemoved, RepoError> {
        self.post(
            "/api/v1/repo/remove-runs",
            &json!({"names": names, "unlink_from_parents": unlink_from_parents}),
        )
    }

    /// [`Repo::find_datasets`](valet::Repo::find_datasets).
    pub fn find_datasets(&self, search: &DatasetSearch) -> Result<Vec<DatasetRef>, RepoError> {
        self.post("/api/v1/repo/find-datasets", search)
    }

    /// [`Repo::prune_datasets`](valet::Repo::prune_datasets).
    pub fn prune_datasets(
        &self,
        ids: &[Uuid],
        options: &PruneOptions,
    ) -> Result<PruneReport, RepoError> {
        self.post(
            "/api/v1/repo/prune-datasets",
            &json!({"ids": ids, "options": options}),
        )
    }

    /// [`Repo::lineage`](valet::Repo::lineage).
    pub fn lineage(
        &self,
        dataset: DatasetKey,
        options: LineageOptions,
    ) -> Result<DiGraph<LineageNode, ()>, RepoError> {
        self.post(
            "/api/v1/repo/lineage",
            &json!({"dataset": dataset, "options": options}),
        )
    }

    /// `retrieve-artifacts` from a server: the files of the datasets a query selects,
    /// fetched over HTTP into `destination` (created if missing) under the names the
    /// server gives, each copied into place only once every one has arrived, so a
    /// failure leaves the destination as it was. Files can only be copied from a
    /// server: a link transfer is refused.
    pub fn retrieve_matching(
        &self,
        query: &QueryDatasetsOptions,
        destination: &Path,
        options: RetrieveOptions,
    ) -> Result<(Vec<PathBuf>, bool), RepoError> {
        if let Some(mode) = options.transfer {
            copies_only(mode, "files from a server can only be copied")?;
        }
        let (artifacts, limited): (Vec<(Uuid, String)>, bool) = self.post(
            "/api/v1/repo/artifacts-to-retrieve",
            &json!({"query": query, "preserve_path": options.preserve_path}),
        )?;
        let io = |path: &Path| {
            let shown = path.display().to_string();
            move |source| RepoError::Io {
                path: shown,
                source,
            }
        };
        let staging = tempfile::tempdir().map_err(io(Path::new("a temporary directory")))?;
        let mut fetched = Vec::with_capacity(artifacts.len());
        for (i, (id, relative)) in artifacts.into_iter().enumerate() {
            let response = self.file_response(id)?;
            let local = staging.path().join(i.to_string());
            let mut file = std::fs::File::create(&local).map_err(io(&local))?;
            std::io::copy(&mut response.into_reader(), &mut file).map_err(io(&local))?;
            fetched.push((local, relative));
        }
        let mut transfer = Transfer::creating(destination)?.with_clobber(options.clobber);
        let mut out = Vec::with_capacity(fetched.len());
        for (local, relative) in &fetched {
            match transfer.file(local, relative, TransferMode::Copy, false) {
                Ok(stored) => out.push(transfer.root().join(stored.path)),
                Err(e) => {
                    transfer.undo();
                    return Err(e.into());
                }
            }
        }
        transfer.finish();
        Ok((out, limited))
    }

    /// [`Repo::ingest_zip`](valet::Repo::ingest_zip): the zip sent to the server as
    /// the request's body, streamed from disk.
    pub fn ingest_zip(
        &self,
        zip_path: &Path,
        options: IngestZipOptions,
    ) -> Result<IngestZipSummary, RepoError> {
        let file = std::fs::File::open(zip_path).map_err(|source| RepoError::Io {
            path: zip_path.display().to_string(),
            source,
        })?;
        let path = format!(
            "/api/v1/repo/ingest-zip?transfer_dimensions={}&dry_run={}",
            options.transfer_dimensions, options.dry_run
        );
        let sent = self
            .request("POST", &path)
            .set("Content-Type", "application/zip")
            .send(file);
        self.answer(&path, sent)
    }

    /// `valet import` to a server: the export files `patterns` select under
    /// `directory` and (unless registry-only) the files they name, packed into one
    /// bundle, streamed up, and imported there in one transaction with the files
    /// copied into its datastore. Only copying can carry files to a server.
    pub fn import_directory(
        &self,
        directory: &Path,
        patterns: &[String],
        options: &ImportOptions,
    ) -> Result<ImportSummary, RepoError> {
        if options.allow_outside {
            return Err(RepoError::Invalid(
                "--allow-outside: a server can be sent only files under the export directory"
                    .into(),
            ));
        }
        if let Some(mode) = options.transfer {
            copies_only(mode, SENT_ARE_COPIED)?;
        }
        self.post_bundle("/api/v1/repo/import-bundle", &mut |staged| {
            write_import_bundle(
                directory,
                patterns,
                options.transfer.is_some(),
                &options.skip_dimensions,
                staged,
            )
        })
    }

    /// Write a bundle into a temporary file with `write`, then send it as the body of
    /// a POST to `path` and take the answer.
    fn post_bundle<T: DeserializeOwned>(
        &self,
        path: &str,
        write: &mut dyn FnMut(&mut std::fs::File) -> Result<(), RepoError>,
    ) -> Result<T, RepoError> {
        let temporary = |source| RepoError::Io {
            path: "a temporary file".into(),
            source,
        };
        let mut staged = tempfile::tempfile().map_err(temporary)?;
        write(&mut staged)?;
        std::io::Seek::rewind(&mut staged).map_err(temporary)?;
        let sent = self
            .request("POST", path)
            .set("Content-Type", "application/zip")
            .send(staged);
        self.answer(path, sent)
    }

    /// `valet ingest-files` to a server: the files the table lists, packed with the
    /// options into one bundle, streamed up, and ingested there in one transaction,
    /// copied into its datastore.
    pub fn ingest_table(
        &self,
        table: &Path,
        options: &IngestTableOptions,
    ) -> Result<Vec<DatasetRef>, RepoError> {
        self.post_bundle("/api/v1/repo/ingest-bundle", &mut |staged| {
            write_ingest_bundle(table, options, staged).map(|_| ())
        })
    }

    /// The bytes of a dataset's file (`GET /api/v1/datasets/{id}/file`).
    pub fn dataset_file(&self, id: Uuid) -> Result<Vec<u8>, RepoError> {
        let response = self.file_response(id)?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut response.into_reader(), &mut bytes).map_err(|source| {
            RepoError::Io {
                path: format!("{}/api/v1/datasets/{id}/file", self.base),
                source,
            }
        })?;
        Ok(bytes)
    }
}
