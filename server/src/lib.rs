//! `valet serve`: a repository's API over HTTP for many users, each request acting
//! as the user its bearer token names (never as anyone the request body claims), and
//! IVOA SIAv2 over the live ObsCore table. Handlers parse, call one `Repo` method on
//! a blocking thread, and answer; the access rules are the engine's.

mod api;
mod auth;
mod files;
mod queries;
mod reply;
mod repo_calls;
mod sia;
mod stream;
mod writes;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use valet::Repo;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where to listen (TLS is a reverse proxy's job).
    pub listen: SocketAddr,
    /// Whether requests without a token may read.
    pub anonymous_reads: bool,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Streaming answers (query-datasets, files) one user may have open at once.
    pub max_streams_per_user: usize,
    /// How long a streamed answer waits for its client to take data before it is
    /// cut short, freeing the database connection it holds.
    pub stall_timeout: std::time::Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            anonymous_reads: true,
            max_body_bytes: 16 << 20,
            max_streams_per_user: 4,
            stall_timeout: std::time::Duration::from_secs(30),
        }
    }
}

/// What every handler shares.
pub(crate) struct Shared {
    pub repo: Repo,
    pub options: ServeOptions,
    /// The streams each user has open.
    pub streams: stream::StreamBounds,
    /// One permit per database connection: engine calls wait here, first come first
    /// served, rather than in the pool, which wakes waiters in no order and can
    /// leave a writer behind readers for seconds.
    pub engine_slots: Arc<tokio::sync::Semaphore>,
}

impl Shared {
    /// Wait for a turn to use the engine.
    pub(crate) async fn engine_slot(
        &self,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, reply::Failure> {
        self.engine_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| {
                reply::Failure::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            })
    }
}

/// The routes.
fn router(shared: Arc<Shared>) -> Router {
    let limit = shared.options.max_body_bytes;
    Router::new()
        .route("/api/v1/whoami", get(api::whoami))
        .route(
            "/api/v1/collections",
            get(api::list_collections).post(api::register_collection),
        )
        .route(
            "/api/v1/collections/{*name}",
            get(api::collection).delete(api::remove_collection),
        )
        .route(
            "/api/v1/chains/{*name}",
            get(api::chain).put(api::edit_chain),
        )
        .route("/api/v1/chain-history/{*name}", get(api::chain_history))
        .route("/api/v1/dataset-types", get(api::dataset_types))
        .route("/api/v1/find-dataset", post(api::find_dataset))
        .route("/api/v1/query-datasets", post(queries::query_datasets))
        .route("/api/v1/query-data-ids", post(queries::query_data_ids))
        .route(
            "/api/v1/query-dimension-records",
            post(queries::query_dimension_records),
        )
        .route("/api/v1/datasets/{id}", get(api::dataset))
        .route("/api/v1/datasets/{id}/file", get(files::dataset_file))
        .route("/api/v1/datasets/{id}/lineage", get(queries::lineage))
        .route("/api/v1/associate", post(api::associate))
        .route("/api/v1/certify", post(api::certify))
        .route("/api/v1/remove-runs", post(writes::remove_runs))
        .route("/api/v1/prune-datasets", post(writes::prune_datasets))
        .route("/api/v1/import", post(writes::import))
        .route("/api/v1/ingest", post(writes::ingest))
        .route("/api/v1/openapi.json", get(api::openapi))
        .route(
            "/api/v1/repo/query-collections",
            post(repo_calls::query_collections),
        )
        .route(
            "/api/v1/repo/query-dataset-types",
            post(repo_calls::query_dataset_types),
        )
        .route(
            "/api/v1/repo/query-datasets",
            post(repo_calls::query_datasets),
        )
        .route("/api/v1/repo/find-dataset", post(repo_calls::find_dataset))
        .route(
            "/api/v1/repo/query-data-ids",
            post(repo_calls::query_data_ids),
        )
        .route(
            "/api/v1/repo/query-dimension-records",
            post(repo_calls::query_dimension_records),
        )
        .route("/api/v1/repo/universe", get(repo_calls::universe))
        .route(
            "/api/v1/repo/chain-history/{*name}",
            get(repo_calls::chain_history),
        )
        .route(
            "/api/v1/repo/collection-chain",
            post(repo_calls::collection_chain),
        )
        .route(
            "/api/v1/repo/register-collection",
            post(repo_calls::register_collection),
        )
        .route(
            "/api/v1/repo/collection/{*name}",
            get(repo_calls::collection),
        )
        .route(
            "/api/v1/repo/chain-children/{*name}",
            get(repo_calls::chain_children),
        )
        .route(
            "/api/v1/repo/chain-parents/{*name}",
            get(repo_calls::chain_parents),
        )
        .route(
            "/api/v1/repo/collections-in-search-order",
            post(repo_calls::collections_in_search_order),
        )
        .route("/api/v1/repo/get-datasets", post(repo_calls::get_datasets))
        .route(
            "/api/v1/repo/associate-matching",
            post(repo_calls::associate_matching),
        )
        .route(
            "/api/v1/repo/certify-calibrations",
            post(repo_calls::certify_calibrations),
        )
        .route(
            "/api/v1/repo/decertify-calibrations",
            post(repo_calls::decertify_calibrations),
        )
        .route(
            "/api/v1/repo/register-dataset-type",
            post(repo_calls::register_dataset_type),
        )
        .route(
            "/api/v1/repo/remove-dataset-types",
            post(repo_calls::remove_dataset_types),
        )
        .route(
            "/api/v1/repo/matching-collections",
            post(repo_calls::matching_collections),
        )
        .route(
            "/api/v1/repo/remove-collections",
            post(repo_calls::remove_collections),
        )
        .route("/api/v1/repo/remove-runs", post(repo_calls::remove_runs))
        .route(
            "/api/v1/repo/find-datasets",
            post(repo_calls::find_datasets),
        )
        .route(
            "/api/v1/repo/prune-datasets",
            post(repo_calls::prune_datasets),
        )
        .route("/api/v1/repo/lineage", post(repo_calls::lineage))
        .route(
            "/api/v1/repo/artifacts-to-retrieve",
            post(repo_calls::artifacts_to_retrieve),
        )
        .route(
            "/api/v1/repo/ingest-zip",
            post(repo_calls::ingest_zip).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(
            "/api/v1/repo/import-bundle",
            post(repo_calls::import_bundle).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(
            "/api/v1/repo/ingest-bundle",
            post(repo_calls::ingest_bundle).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/sia/query", get(sia::query))
        .route("/sia/availability", get(sia::availability))
        .route("/sia/capabilities", get(sia::capabilities))
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .with_state(shared)
}

/// Serve `repo` until interrupted (Ctrl-C). Prints the address it listens on to
/// stderr once it does.
pub fn serve(repo: Repo, options: ServeOptions) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(options.listen).await?;
        eprintln!(
            "valet serve: listening on http://{}",
            listener.local_addr()?
        );
        let slots = repo.registry().db.max_connections();
        let app = router(Arc::new(Shared {
            repo,
            options,
            streams: stream::StreamBounds::default(),
            engine_slots: Arc::new(tokio::sync::Semaphore::new(slots)),
        }));
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
    })
}
