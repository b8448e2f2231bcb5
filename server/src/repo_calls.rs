//! The client protocol under `/api/v1/repo/`: what `valet --server` speaks. Each
//! endpoint is one `Repo` method; its body is that method's options and its answer
//! that method's result, as the engine's types serialize to JSON, so a client
//! rebuilds exactly what a local call returns and prints it the same way. An error
//! carries the engine's kind besides its message.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::Json;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use valet::collection_queries::QueryCollectionsOptions;
use valet::collection_writes::RegisterCollectionOptions;
use valet::queries::{
    DimensionRecordQuery, FindDatasetOptions, QueryDataIdsOptions, QueryDatasetsOptions,
};
use valet::registry::tokens::Scope;
use valet::{ChainMode, CollectionType, Repo, RepoError};

use crate::auth::{act, caller, require};
use crate::reply::Reply;
use crate::Shared;

type St = State<Arc<Shared>>;

/// Parse the body as `O`, run `call` as the caller (who needs `scope`), answer `R`.
async fn typed<O, R>(
    s: Arc<Shared>,
    headers: HeaderMap,
    scope: Scope,
    options: O,
    call: impl FnOnce(&Repo, O) -> Result<R, RepoError> + Send + 'static,
) -> Reply
where
    O: DeserializeOwned + Send + 'static,
    R: Serialize + Send + 'static,
{
    let c = caller(&s, &headers).await?;
    require(&c, scope)?;
    let answer = act(&s, &c, move |repo| call(repo, options)).await?;
    Ok(Json(answer).into_response())
}

/// `POST /api/v1/repo/query-collections`: [`Repo::query_collections`].
pub(crate) async fn query_collections(
    State(s): St,
    headers: HeaderMap,
    Json(o): Json<QueryCollectionsOptions>,
) -> Reply {
    typed(s, headers, Scope::Read, o, |repo, o| {
        repo.query_collections(&o)
    })
    .await
}

/// `POST /api/v1/repo/query-dataset-types` (globs): [`Repo::query_dataset_types`].
pub(crate) async fn query_dataset_types(
    State(s): St,
    headers: HeaderMap,
    Json(globs): Json<Vec<String>>,
) -> Reply {
    typed(s, headers, Scope::Read, globs, |repo, g| {
        repo.query_dataset_types(&g)
    })
    .await
}

/// `POST /api/v1/repo/query-datasets`: [`Repo::query_datasets`].
pub(crate) async fn query_datasets(
    State(s): St,
    headers: HeaderMap,
    Json(o): Json<QueryDatasetsOptions>,
) -> Reply {
    typed(s, headers, Scope::Read, o, |repo, o| {
        repo.query_datasets(&o)
    })
    .await
}

/// `POST /api/v1/repo/find-dataset`: [`Repo::find_dataset`] (`null` when nothing
/// is found).
pub(crate) async fn find_dataset(
    State(s): St,
    headers: HeaderMap,
    Json(o): Json<FindDatasetOptions>,
) -> Reply {
    typed(s, headers, Scope::Read, o, |repo, o| repo.find_dataset(&o)).await
}

/// `POST /api/v1/repo/query-data-ids`: [`Repo::query_data_ids`].
pub(crate) async fn query_data_ids(
    State(s): St,
    headers: HeaderMap,
    Json(o): Json<QueryDataIdsOptions>,
) -> Reply {
    typed(s, headers, Scope::Read, o, |repo, o| {
        repo.query_data_ids(&o)
    })
    .await
}

/// `POST /api/v1/repo/query-dimension-records`: [`Repo::query_dimension_records`].
pub(crate) async fn query_dimension_records(
    State(s): St,
    headers: HeaderMap,
    Json(o): Json<DimensionRecordQuery>,
) -> Reply {
    typed(s, headers, Scope::Read, o, |repo, o| {
        repo.query_dimension_records(&o)
    })
    .await
}

/// `GET /api/v1/repo/universe`: the dimension universe's definition (YAML), for
/// clients that lay records out as the reference does.
pub(crate) async fn universe(State(s): St, headers: HeaderMap) -> Reply {
    typed(s, headers, Scope::Read, (), |repo, ()| {
        Ok(repo.universe().source.clone())
    })
    .await
}

/// `GET /api/v1/repo/chain-history/{name}`: [`Repo::chain_history`].
pub(crate) async fn chain_history(
    State(s): St,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Reply {
    typed(s, headers, Scope::Read, name, |repo, name| {
        repo.chain_history(&name)
    })
    .await
}

/// The arguments of [`Repo::collection_chain`].
#[derive(Deserialize)]
pub(crate) struct ChainCall {
    /// The chain.
    pub parent: String,
    /// How its children change.
    pub mode: ChainMode,
    /// The children given.
    pub children: Vec<String>,
    /// Replace chains among them by their leaves.
    pub flatten: bool,
    /// Documentation for a chain made by the call.
    pub doc: Option<String>,
}

/// `POST /api/v1/repo/collection-chain`: [`Repo::collection_chain`].
pub(crate) async fn collection_chain(
    State(s): St,
    headers: HeaderMap,
    Json(o): Json<ChainCall>,
) -> Reply {
    typed(s, headers, Scope::Write, o, |repo, o| {
        repo.collection_chain(&o.parent, o.mode, &o.children, o.flatten, o.doc.as_deref())
    })
    .await
}

/// The arguments of [`Repo::register_collection`].
#[derive(Deserialize)]
pub(crate) struct RegisterCall {
    /// The collection.
    pub name: String,
    /// Its type.
    pub kind: CollectionType,
    /// Its documentation and owner type.
    pub options: RegisterCollectionOptions,
}

/// `POST /api/v1/repo/register-collection`: [`Repo::register_collection`].
pub(crate) async fn register_collection(
    State(s): St,
    headers: HeaderMap,
    Json(o): Json<RegisterCall>,
) -> Reply {
    typed(s, headers, Scope::Write, o, |repo, o| {
        repo.register_collection(&o.name, o.kind, &o.options)
    })
    .await
}

/// `GET /api/v1/repo/collection/{name}`: [`Repo::collection`].
pub(crate) async fn collection(
    State(s): St,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Reply {
    typed(s, headers, Scope::Read, name, |repo, n| repo.collection(&n)).await
}

/// `GET /api/v1/repo/chain-children/{name}`: [`Repo::chain_children`].
pub(crate) async fn chain_children(
    State(s): St,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Reply {
    typed(s, headers, Scope::Read, name, |repo, n| {
        repo.chain_children(&n)
    })
    .await
}

/// `GET /api/v1/repo/chain-parents/{name}`: [`Repo::chain_parents`].
pub(crate) async fn chain_parents(
    State(s): St,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Reply {
    typed(s, headers, Scope::Read, name, |repo, n| {
        repo.chain_parents(&n)
    })
    .await
}

/// The arguments of [`Repo::collections_in_search_order`].
#[derive(Deserialize)]
pub(crate) struct SearchOrderCall {
    patterns: Vec<String>,
    types: Vec<CollectionType>,
    include_chains: bool,
}

/// `POST /api/v1/repo/collections-in-search-order`:
/// [`Repo::collections_in_search_order`].
pub(crate) async fn collections_in_search_order(
    State(s): St,
    headers: HeaderMap,
    Json(o): Json<SearchOrderCall>,
) -> Reply {
    typed(s, headers, Scope::Read, o, |repo, o| {
        repo.collections_in_search_order(&o.patterns, &o.types, o.include_chains)
    })
    .await
}

/// `POST /api/v1/repo/get-datasets` (ids): [`Repo::get_datasets`].
pub(crate) async fn get_datasets(
    State(s): St,
    headers: HeaderMap,
    Json(ids): Json<Vec<uuid::Uuid>>,
) -> Reply {
    typed(s, headers, Scope::Read, ids, |repo, ids| {
        repo.get_datasets(&ids)
    })
    .await
}

/// The arguments of [`Repo::associate_matching`].
#[derive(Deserialize)]
pub(crate) struct AssociateCall {
    collection: String,
    search: valet::queries::DatasetSearch,
}

/// `POST /api/v1/repo/associate-matching`: [`Repo::associate_matching`].
pub(crate) async fn associate_matching(
    State(s): St,
    headers: HeaderMap,
    Json(o): Json<AssociateCall>,
) -> Reply {
    typed(s, headers, Scope::Write, o, |repo, o| {
        repo.associate_matching(&o.collection, &o.search)
    })
    .await
}

/// `POST /api/v1/repo/certify-calibrations`: [`Repo::certify_calibrations`].
pub(crate) async fn certify_calibrations(
    State(s): St,
    headers: HeaderMap,
    Json(o): Json<valet::collection_writes::CertifyOptions>,
) -> Reply {
    typed(s, headers, Scope::Write, o, |repo, o| {
        repo.certify_calibrations(&o)
    })
    .await
}

/// `POST /api/v1/repo/decertify-calibrations`: [`Repo::decertify_calibrations`].
pub(crate) async fn decertify_calibrations(
    State(s): St,
    headers: HeaderMap,
    Json(o): Json<valet::collection_writes::DecertifyOptions>,
) -> Reply {
    typed(s, headers, Scope::Write, o, |repo, o| {
        repo.decertify_calibrations(&o)
    })
    .await
}

/// The arguments of [`Repo::register_dataset_type`].
#[derive(Deserialize)]
pub(crate) struct DatasetTypeCall {
    name: String,
    spec: valet::dataset_type_writes::DatasetTypeSpec,
}

/// `POST /api/v1/repo/register-dataset-type`: [`Repo::register_dataset_type`].
pub(crate) async fn register_dataset_type(
    State(s): St,
    headers: HeaderMap,
    Json(o): Json<DatasetTypeCall>,
) -> Reply {
    typed(s, headers, Scope::Write, o, |repo, o| {
        repo.register_dataset_type(&o.name, &o.spec)
    })
    .await
}

/// `POST /api/v1/repo/remove-dataset-types` (names or globs):
/// [`Repo::remove_dataset_types`].
pub(crate) async fn remove_dataset_types(
    State(s): St,
    headers: HeaderMap,
    Json(patterns): Json<Vec<String>>,
) -> Reply {
    typed(s, headers, Scope::Write, patterns, |repo, p| {
        repo.remove_dataset_types(&p)
    })
    .await
}

/// The arguments of [`Repo::matching_collections`].
#[derive(Deserialize)]
pub(crate) struct MatchingCall {
    patterns: Vec<String>,
    types: Vec<CollectionType>,
}

/// `POST /api/v1/repo/matching-collections`: [`Repo::matching_collections`].
pub(crate) async fn matching_collections(
    State(s): St,
    headers: HeaderMap,
    Json(o): Json<MatchingCall>,
) -> Reply {
    typed(s, headers, Scope::Read, o, |repo, o| {
        repo.matching_collections(&o.patterns, &o.types)
    })
    .await
}

/// The arguments of [`Repo::remove_collections`] and [`Repo::remove_runs`].
#[derive(Deserialize)]
pub(crate) struct RemovalCall {
    names: Vec<String>,
    unlink_from_parents: bool,
}

/// `POST /api/v1/repo/remove-collections`: [`Repo::remove_collections`].
pub(crate) async fn remove_collections(
    State(s): St,
    headers: HeaderMap,
    Json(o): Json<RemovalCall>,
) -> Reply {
    typed(s, headers, Scope::Write, o, |repo, o| {
        repo.remove_collections(&o.names, o.unlink_from_parents)
    })
    .await
}

/// `POST /api/v1/repo/remove-runs`: [`Repo::remove_runs`].
pub(crate) async fn remove_runs(
    State(s): St,
    headers: HeaderMap,
    Json(o): Json<RemovalCall>,
) -> Reply {
    typed(s, headers, Scope::Write, o, |repo, o| {
        repo.remove_runs(&o.names, o.unlink_from_parents)
    })
    .await
}

/// `POST /api/v1/repo/find-datasets`: [`Repo::find_datasets`].
pub(crate) async fn find_datasets(
    State(s): St,
    headers: HeaderMap,
    Json(o): Json<valet::queries::DatasetSearch>,
) -> Reply {
    typed(s, headers, Scope::Read, o, |repo, o| repo.find_datasets(&o)).await
}

/// The arguments of [`Repo::prune_datasets`].
#[derive(Deserialize)]
pub(crate) struct PruneCall {
    ids: Vec<uuid::Uuid>,
    options: valet::prune::PruneOptions,
}

/// `POST /api/v1/repo/prune-datasets`: [`Repo::prune_datasets`].
pub(crate) async fn prune_datasets(
    State(s): St,
    headers: HeaderMap,
    Json(o): Json<PruneCall>,
) -> Reply {
    typed(s, headers, Scope::Write, o, |repo, o| {
        repo.prune_datasets(&o.ids, &o.options)
    })
    .await
}

/// The arguments of [`Repo::lineage`].
#[derive(Deserialize)]
pub(crate) struct LineageCall {
    dataset: valet::provenance::DatasetKey,
    options: valet::queries::LineageOptions,
}

/// `POST /api/v1/repo/lineage`: [`Repo::lineage`] (the graph as petgraph writes it).
pub(crate) async fn lineage(State(s): St, headers: HeaderMap, Json(o): Json<LineageCall>) -> Reply {
    typed(s, headers, Scope::Read, o, |repo, o| {
        repo.lineage(o.dataset, o.options)
    })
    .await
}

/// The arguments of [`Repo::artifacts_to_retrieve`].
#[derive(Deserialize)]
pub(crate) struct ArtifactsCall {
    query: QueryDatasetsOptions,
    preserve_path: bool,
}

/// `POST /api/v1/repo/artifacts-to-retrieve`: [`Repo::artifacts_to_retrieve`]; the
/// files themselves come from `GET /api/v1/datasets/{id}/file`.
pub(crate) async fn artifacts_to_retrieve(
    State(s): St,
    headers: HeaderMap,
    Json(o): Json<ArtifactsCall>,
) -> Reply {
    typed(s, headers, Scope::Read, o, |repo, o| {
        repo.artifacts_to_retrieve(&o.query, o.preserve_path)
    })
    .await
}

/// `POST /api/v1/repo/ingest-zip?transfer_dimensions=…&dry_run=…` with a zip (as
/// `retrieve-artifacts --zip` writes it) as the body: [`Repo::ingest_zip`]. The body
/// is streamed to a temporary file first, however large.
pub(crate) async fn ingest_zip(
    State(s): St,
    headers: HeaderMap,
    axum::extract::Query(options): axum::extract::Query<valet::artifact_zip::IngestZipOptions>,
    body: axum::body::Body,
) -> Reply {
    with_upload(s, headers, body, move |repo, path| {
        repo.ingest_zip(path, options)
    })
    .await
}

/// Receive an upload into a temporary file, then run `call` on it as the caller
/// (who must be allowed to write) and answer its result.
async fn with_upload<R: Serialize + Send + 'static>(
    s: Arc<Shared>,
    headers: HeaderMap,
    body: axum::body::Body,
    call: impl FnOnce(&Repo, &std::path::Path) -> Result<R, RepoError> + Send + 'static,
) -> Reply {
    let c = match uploader(&s, &headers).await {
        Ok(c) => c,
        Err(refused) => {
            discard_body(body).await;
            return Err(refused);
        }
    };
    let staged = receive_body(body).await?;
    let path = staged.path().to_path_buf();
    let answer = act(&s, &c, move |repo| call(repo, &path)).await;
    drop(staged);
    Ok(Json(answer?).into_response())
}

/// The caller of an upload, who must be allowed to write.
async fn uploader(
    s: &Arc<Shared>,
    headers: &HeaderMap,
) -> Result<crate::auth::Caller, crate::reply::Failure> {
    let c = caller(s, headers).await?;
    require(&c, Scope::Write)?;
    Ok(c)
}

/// Read a refused upload's body to its end, so that the client, still sending,
/// reads the refusal instead of a broken connection.
async fn discard_body(body: axum::body::Body) {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    while let Some(Ok(_)) = stream.next().await {}
}

/// A request's body, streamed into a temporary file (removed when dropped).
async fn receive_body(
    body: axum::body::Body,
) -> Result<tempfile::NamedTempFile, crate::reply::Failure> {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    let failed = |e: &dyn std::fmt::Display| {
        crate::reply::Failure::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("receiving the request body: {e}"),
        )
    };
    let staged = tempfile::NamedTempFile::new().map_err(|e| failed(&e))?;
    let mut file = tokio::fs::File::create(staged.path())
        .await
        .map_err(|e| failed(&e))?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| failed(&e))?;
        file.write_all(&chunk).await.map_err(|e| failed(&e))?;
    }
    file.flush().await.map_err(|e| failed(&e))?;
    Ok(staged)
}

/// `POST /api/v1/repo/import-bundle` with a bundle (`valet::transfers::bundle`) as
/// the body: [`Repo::import_bundle`].
pub(crate) async fn import_bundle(
    State(s): St,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Reply {
    with_upload(s, headers, body, |repo, path| repo.import_bundle(path)).await
}

/// `POST /api/v1/repo/ingest-bundle` with an ingest bundle
/// (`valet::transfers::bundle`) as the body: [`Repo::ingest_bundle`].
pub(crate) async fn ingest_bundle(
    State(s): St,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Reply {
    with_upload(s, headers, body, |repo, path| repo.ingest_bundle(path)).await
}
