//! Writes over HTTP beyond collections and chains: removing RUNs, pruning datasets,
//! importing an export file, and ingesting files already under the datastore root.
//! Each needs a write-scoped token and acts as its user under the engine's rules.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{json, Value as Json_};
use valet::ingest::FileToIngest;
use valet::prune::PruneOptions;
use valet::registry::tokens::Scope;
use valet::transfers::ImportOptions;
use valet::{IdGenerationMode, TransferMode};

use crate::api::{data_id, uuid, uuids};
use crate::auth::{act, caller, require};
use crate::reply::{json, Failure, Reply};
use crate::Shared;

type St = State<Arc<Shared>>;

#[derive(Deserialize)]
pub(crate) struct RemoveRunsBody {
    names: Vec<String>,
    #[serde(default)]
    unlink_from_parents: bool,
}

/// `POST /api/v1/remove-runs` `{"names", "unlink_from_parents"}`: remove RUNs with
/// their datasets and files.
pub(crate) async fn remove_runs(
    State(s): St,
    headers: HeaderMap,
    axum::Json(body): axum::Json<RemoveRunsBody>,
) -> Reply {
    let c = caller(&s, &headers).await?;
    require(&c, Scope::Write)?;
    let removed = act(&s, &c, move |repo| {
        repo.remove_runs(&body.names, body.unlink_from_parents)
    })
    .await?;
    json(json!({
        "datasets": removed.datasets,
        "files_deleted": removed.files.deleted,
        "files_kept": removed.files.kept,
        "files_failed": removed.files.failed,
    }))
}

#[derive(Deserialize)]
pub(crate) struct PruneBody {
    ids: Vec<String>,
    #[serde(default)]
    purge: Option<String>,
    #[serde(default)]
    unstore: bool,
    #[serde(default)]
    disassociate: Vec<String>,
}

/// `POST /api/v1/prune-datasets` `{"ids", "purge": RUN, "unstore", "disassociate"}`:
/// delete datasets (every one in the RUN `purge` names), their files only, or their
/// memberships of TAGGED collections.
pub(crate) async fn prune_datasets(
    State(s): St,
    headers: HeaderMap,
    axum::Json(body): axum::Json<PruneBody>,
) -> Reply {
    let c = caller(&s, &headers).await?;
    require(&c, Scope::Write)?;
    let ids = uuids(&body.ids)?;
    let options = PruneOptions {
        purge: body.purge,
        unstore: body.unstore,
        disassociate: body.disassociate,
    };
    let done = act(&s, &c, move |repo| repo.prune_datasets(&ids, &options)).await?;
    json(json!({
        "purged": done.purged,
        "disassociated": done.disassociated,
        "files_deleted": done.files_deleted,
    }))
}

#[derive(Deserialize)]
pub(crate) struct ImportQuery {
    #[serde(default)]
    directory: Option<String>,
    #[serde(default)]
    skip_dimensions: Option<String>,
}

/// `POST /api/v1/import?directory=DIR&skip_dimensions=a,b` with an export file
/// (YAML) as the body: import it in one transaction. The files it lists are read
/// from `DIR` under the datastore root and stay where they are; without `directory`
/// only the registry side is imported.
pub(crate) async fn import(
    State(s): St,
    headers: HeaderMap,
    Query(q): Query<ImportQuery>,
    text: String,
) -> Reply {
    let c = caller(&s, &headers).await?;
    require(&c, Scope::Write)?;
    let skip_dimensions: Vec<String> = q
        .skip_dimensions
        .iter()
        .flat_map(|s| s.split(','))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let summary = act(&s, &c, move |repo| {
        let directory = q
            .directory
            .as_deref()
            .map(|d| repo.path_in_datastore(d))
            .transpose()?;
        let options = ImportOptions {
            skip_dimensions,
            transfer: directory.as_ref().map(|_| TransferMode::Auto),
            directory,
            progress: None,
            allow_outside: false,
        };
        repo.import_text(&text, "the request body", &options)
    })
    .await?;
    json(json!({
        "dimension_records": summary.dimension_records,
        "dataset_types": summary.dataset_types,
        "collections": summary.collections,
        "datasets": summary.datasets,
        "associations": summary.associations,
        "validity_ranges": summary.validity_ranges,
        "files": summary.files,
    }))
}

#[derive(Deserialize)]
pub(crate) struct IngestFile {
    path: String,
    data_id: serde_json::Map<String, Json_>,
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct IngestBody {
    dataset_type: String,
    run: String,
    files: Vec<IngestFile>,
    #[serde(default)]
    id_generation_mode: Option<String>,
}

/// `POST /api/v1/ingest` `{"dataset_type", "run", "files": [{"path", "data_id",
/// "id"}], "id_generation_mode"}`: register files already under the datastore root
/// (paths relative to it) as new datasets, in place, in one transaction.
pub(crate) async fn ingest(
    State(s): St,
    headers: HeaderMap,
    axum::Json(body): axum::Json<IngestBody>,
) -> Reply {
    let c = caller(&s, &headers).await?;
    require(&c, Scope::Write)?;
    let id_mode: IdGenerationMode = match body.id_generation_mode.as_deref() {
        None => IdGenerationMode::default(),
        Some(m) => m
            .parse()
            .map_err(|e: String| Failure::bad_request(format!("id_generation_mode: {e}")))?,
    };
    let mut wanted = Vec::with_capacity(body.files.len());
    for (i, f) in body.files.iter().enumerate() {
        let id = f.id.as_deref().map(uuid).transpose()?;
        let data_id = data_id(&f.data_id)
            .map_err(|e| Failure::bad_request(format!("files[{i}]: {}", e.message)))?;
        wanted.push((f.path.clone(), data_id, id));
    }
    let refs = act(&s, &c, move |repo| {
        let files = wanted
            .into_iter()
            .map(|(path, data_id, id)| {
                Ok(FileToIngest {
                    path: repo.path_in_datastore(&path)?,
                    data_id,
                    id,
                })
            })
            .collect::<Result<Vec<_>, valet::RepoError>>()?;
        repo.ingest_files(
            &body.dataset_type,
            &body.run,
            &files,
            TransferMode::Auto,
            id_mode,
        )
    })
    .await?;
    json(Json_::Array(
        refs.iter().map(crate::api::ref_json).collect(),
    ))
}
