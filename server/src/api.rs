//! The JSON API under `/api/v1/`: collections, chains, dataset types, look-ups and
//! searches, datasets and their files, TAGGED and CALIBRATION writes. Every handler
//! finds its caller, checks the token's scope, and makes one `Repo` call as the
//! caller; the engine's access rules decide the rest.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value as Json_};
use uuid::Uuid;
use valet::collection_writes::RegisterCollectionOptions;
use valet::queries::{json_value, value_json, FindDatasetOptions};
use valet::registry::tokens::Scope;
use valet::{ChainMode, CollectionType, DataId, DatasetRef, Timespan, Value};

use crate::auth::{act, caller, require};
use crate::reply::{json, Failure, Reply};
use crate::Shared;

type St = State<Arc<Shared>>;

/// A dataset as JSON: id, run, dataset type and data ID.
pub(crate) fn ref_json(r: &DatasetRef) -> Json_ {
    let data_id: serde_json::Map<String, Json_> = r
        .data_id
        .iter()
        .map(|(k, v)| (k.clone(), value_json(v)))
        .collect();
    json!({"id": r.id.to_string(), "run": r.run, "dataset_type": r.dataset_type, "data_id": data_id})
}

pub(crate) fn value_from_json(v: &Json_, what: &str) -> Result<Value, Failure> {
    json_value(v)
        .ok_or_else(|| Failure::bad_request(format!("{what}: {v} is not a dimension value")))
}

/// A data ID from a JSON object.
pub(crate) fn data_id(map: &serde_json::Map<String, Json_>) -> Result<DataId, Failure> {
    map.iter()
        .map(|(k, v)| Ok((k.clone(), value_from_json(v, &format!("data_id.{k}"))?)))
        .collect()
}

pub(crate) fn timespan(bounds: &Option<[Option<i64>; 2]>) -> Result<Option<Timespan>, Failure> {
    bounds
        .map(|[b, e]| {
            Timespan::checked(b, e).map_err(|e| Failure::bad_request(format!("timespan: {e}")))
        })
        .transpose()
}

/// A dataset id from its text.
pub(crate) fn uuid(text: &str) -> Result<Uuid, Failure> {
    Uuid::parse_str(text).map_err(|e| Failure::bad_request(format!("dataset id {text:?}: {e}")))
}

/// Dataset ids from their texts.
pub(crate) fn uuids(ids: &[String]) -> Result<Vec<Uuid>, Failure> {
    ids.iter().map(|s| uuid(s)).collect()
}

fn collection_type(name: &str) -> Result<CollectionType, Failure> {
    match name.to_ascii_uppercase().as_str() {
        "RUN" => Ok(CollectionType::Run),
        "TAGGED" => Ok(CollectionType::Tagged),
        "CHAINED" => Ok(CollectionType::Chained),
        "CALIBRATION" => Ok(CollectionType::Calibration),
        other => Err(Failure::bad_request(format!(
            "unknown collection type {other:?}: use RUN, TAGGED, CHAINED or CALIBRATION"
        ))),
    }
}

/// The API's description (OpenAPI 3.1), as `docs/server.md` lays it out.
const OPENAPI: &str = include_str!("../openapi.json");

/// `GET /api/v1/openapi.json`: the API's description; needs no token.
pub(crate) async fn openapi() -> Reply {
    Ok(([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response())
}

/// `GET /api/v1/whoami`: the caller.
pub(crate) async fn whoami(State(s): St, headers: HeaderMap) -> Reply {
    let c = caller(&s, &headers).await?;
    json(json!({"user": c.user, "scope": c.scope.as_str()}))
}

#[derive(Deserialize)]
pub(crate) struct CollectionFilter {
    glob: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// `GET /api/v1/collections?glob=…&type=…`: collections by name.
pub(crate) async fn list_collections(
    State(s): St,
    headers: HeaderMap,
    Query(f): Query<CollectionFilter>,
) -> Reply {
    let c = caller(&s, &headers).await?;
    let patterns: Vec<String> = f.glob.into_iter().collect();
    let types: Vec<CollectionType> = f
        .kind
        .as_deref()
        .map(collection_type)
        .transpose()?
        .into_iter()
        .collect();
    let names = act(&s, &c, move |repo| {
        repo.matching_collections(&patterns, &types)
    })
    .await?;
    let infos = act(&s, &c, move |repo| {
        names
            .iter()
            .map(|n| repo.collection(n))
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    json(Json_::Array(
        infos
            .iter()
            .map(|r| json!({"name": r.name, "type": r.kind.to_string(), "doc": r.doc}))
            .collect(),
    ))
}

#[derive(Deserialize)]
pub(crate) struct NewCollection {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    doc: Option<String>,
}

/// `POST /api/v1/collections` `{"name", "type", "doc"}`: register a collection.
pub(crate) async fn register_collection(
    State(s): St,
    headers: HeaderMap,
    Json(body): Json<NewCollection>,
) -> Reply {
    let c = caller(&s, &headers).await?;
    require(&c, Scope::Write)?;
    let kind = collection_type(&body.kind)?;
    let options = RegisterCollectionOptions {
        doc: body.doc,
        ..Default::default()
    };
    let name = body.name.clone();
    let created = act(&s, &c, move |repo| {
        repo.register_collection(&name, kind, &options)
    })
    .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({"name": body.name, "registered": created})),
    )
        .into_response())
}

/// `GET /api/v1/collections/{name}`: one collection.
pub(crate) async fn collection(
    State(s): St,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Reply {
    let c = caller(&s, &headers).await?;
    let r = act(&s, &c, move |repo| repo.collection(&name)).await?;
    json(json!({"name": r.name, "type": r.kind.to_string(), "doc": r.doc, "owner": r.owner}))
}

/// `DELETE /api/v1/collections/{name}`: remove a collection (not a RUN with datasets).
pub(crate) async fn remove_collection(
    State(s): St,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Reply {
    let c = caller(&s, &headers).await?;
    require(&c, Scope::Write)?;
    act(&s, &c, move |repo| repo.remove_collections(&[name], false)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v1/chains/{name}`: a chain's children.
pub(crate) async fn chain(State(s): St, headers: HeaderMap, Path(name): Path<String>) -> Reply {
    let c = caller(&s, &headers).await?;
    let children = act(&s, &c, move |repo| repo.chain_children(&name)).await?;
    json(json!({"children": children}))
}

#[derive(Deserialize)]
pub(crate) struct ChainEditBody {
    children: Vec<String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    flatten: bool,
}

/// `PUT /api/v1/chains/{name}` `{"children", "mode"}`: define or edit a chain
/// (`mode`: redefine (default), extend, prepend, remove).
pub(crate) async fn edit_chain(
    State(s): St,
    headers: HeaderMap,
    Path(name): Path<String>,
    Json(body): Json<ChainEditBody>,
) -> Reply {
    let c = caller(&s, &headers).await?;
    require(&c, Scope::Write)?;
    let mode = match body.mode.as_deref().unwrap_or("redefine") {
        "redefine" => ChainMode::Redefine,
        "extend" => ChainMode::Extend,
        "prepend" => ChainMode::Prepend,
        "remove" => ChainMode::Remove,
        other => {
            return Err(Failure::bad_request(format!(
                "unknown chain edit {other:?}: use redefine, extend, prepend or remove"
            )))
        }
    };
    let children = act(&s, &c, move |repo| {
        repo.collection_chain(&name, mode, &body.children, body.flatten, None)
    })
    .await?;
    json(json!({"children": children.iter().map(|c| c.name.clone()).collect::<Vec<_>>()}))
}

/// `GET /api/v1/chain-history/{name}`: every edit of a chain, oldest first.
pub(crate) async fn chain_history(
    State(s): St,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Reply {
    let c = caller(&s, &headers).await?;
    let edits = act(&s, &c, move |repo| repo.chain_history(&name)).await?;
    json(Json_::Array(
        edits
            .iter()
            .map(|e| {
                json!({"edited_at": e.edited_at, "edited_by": e.edited_by,
                       "old_children": e.old_children, "new_children": e.new_children})
            })
            .collect(),
    ))
}

/// `GET /api/v1/dataset-types`: the registered dataset types.
pub(crate) async fn dataset_types(State(s): St, headers: HeaderMap) -> Reply {
    let c = caller(&s, &headers).await?;
    let types = act(&s, &c, |repo| repo.query_dataset_types(&[])).await?;
    json(Json_::Array(
        types
            .iter()
            .map(|t| {
                json!({"name": t.name, "storage_class": t.storage_class,
                       "dimensions": t.dimensions.required, "is_calibration": t.is_calibration})
            })
            .collect(),
    ))
}

#[derive(Deserialize)]
pub(crate) struct FindBody {
    dataset_type: String,
    #[serde(default)]
    data_id: serde_json::Map<String, Json_>,
    collections: Vec<String>,
    #[serde(default)]
    timespan: Option<[Option<i64>; 2]>,
}

/// `POST /api/v1/find-dataset` `{"dataset_type", "data_id", "collections",
/// "timespan": [begin, end]}` (TAI ns): the first dataset found, or 404.
pub(crate) async fn find_dataset(
    State(s): St,
    headers: HeaderMap,
    Json(body): Json<FindBody>,
) -> Reply {
    let c = caller(&s, &headers).await?;
    let options = FindDatasetOptions {
        dataset_type: body.dataset_type,
        data_id: data_id(&body.data_id)?,
        collections: body.collections,
        timespan: timespan(&body.timespan)?,
        ..Default::default()
    };
    let described = format!(
        "no {} dataset with that data ID in {:?}",
        options.dataset_type, options.collections
    );
    match act(&s, &c, move |repo| repo.find_dataset(&options)).await? {
        Some(found) => {
            let mut out = ref_json(&found.found.dataset);
            out["collection"] = json!(found.found.collection);
            json(out)
        }
        None => Err(Failure::new(StatusCode::NOT_FOUND, described)),
    }
}

/// The dataset with this id (text), or 404.
pub(crate) async fn one_dataset(
    s: &Arc<Shared>,
    c: &crate::auth::Caller,
    id: &str,
) -> Result<DatasetRef, Failure> {
    let ids = uuids(&[id.to_owned()])?;
    let found = act(s, c, move |repo| repo.get_datasets(&ids)).await?;
    found.into_iter().next().map(|(_, r)| r).ok_or_else(|| {
        Failure::new(
            StatusCode::NOT_FOUND,
            format!("dataset {id} does not exist"),
        )
    })
}

/// `GET /api/v1/datasets/{id}`: one dataset.
pub(crate) async fn dataset(State(s): St, headers: HeaderMap, Path(id): Path<String>) -> Reply {
    let c = caller(&s, &headers).await?;
    let r = one_dataset(&s, &c, &id).await?;
    json(ref_json(&r))
}

#[derive(Deserialize)]
pub(crate) struct MembershipBody {
    collection: String,
    ids: Vec<String>,
    #[serde(default)]
    timespan: Option<[Option<i64>; 2]>,
}

/// `POST /api/v1/associate` `{"collection", "ids"}`: add datasets to a TAGGED
/// collection.
pub(crate) async fn associate(
    State(s): St,
    headers: HeaderMap,
    Json(body): Json<MembershipBody>,
) -> Reply {
    let c = caller(&s, &headers).await?;
    require(&c, Scope::Write)?;
    let ids = uuids(&body.ids)?;
    let n = act(&s, &c, move |repo| repo.associate(&body.collection, &ids)).await?;
    json(json!({"associated": n}))
}

/// `POST /api/v1/certify` `{"collection", "ids", "timespan": [begin, end]}`:
/// certify calibrations for a validity range (TAI ns).
pub(crate) async fn certify(
    State(s): St,
    headers: HeaderMap,
    Json(body): Json<MembershipBody>,
) -> Reply {
    let c = caller(&s, &headers).await?;
    require(&c, Scope::Write)?;
    let ids = uuids(&body.ids)?;
    let span = timespan(&body.timespan)?
        .ok_or_else(|| Failure::bad_request("certify needs a timespan: [begin, end] in TAI ns"))?;
    let n = act(&s, &c, move |repo| {
        repo.certify(&body.collection, &ids, span)
    })
    .await?;
    json(json!({"certified": n}))
}
