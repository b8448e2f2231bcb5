//! Searches over HTTP: datasets (streamed as JSON lines, or as Arrow IPC), data IDs,
//! dimension records and lineage. Each parses its request, makes one `Repo` call as
//! the caller, and answers.

use std::io::Write;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value as Json_};
use valet::arrow_rows::ARROW_BATCH_ROWS;
use valet::queries::{
    value_json, Binds, DatasetSearch, DimensionRecordQuery, LineageOptions, Literal,
    QueryDataIdsOptions,
};
use valet::RepoError;

use crate::api::{timespan, value_from_json};
use crate::auth::{act, caller};
use crate::reply::{json, Failure, Reply};
use crate::stream::{content_type, streamed};
use crate::Shared;

type St = State<Arc<Shared>>;

/// The media type of Arrow's IPC stream format.
pub(crate) const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

/// Bind values from a JSON object: numbers, text and booleans.
fn binds(map: &serde_json::Map<String, Json_>) -> Result<Binds, Failure> {
    let mut bind = Binds::new();
    for (k, v) in map {
        let literal = Literal::from_value(value_from_json(v, &format!("bind.{k}"))?)
            .ok_or_else(|| Failure::bad_request(format!("bind.{k}: give a number or text")))?;
        bind.insert(k.clone(), literal);
    }
    Ok(bind)
}

/// What selects datasets, in every search's body.
#[derive(Deserialize)]
pub(crate) struct SearchBody {
    #[serde(default)]
    dataset_types: Vec<String>,
    #[serde(default)]
    collections: Vec<String>,
    #[serde(default)]
    find_first: bool,
    #[serde(default, rename = "where")]
    where_: String,
    #[serde(default)]
    bind: serde_json::Map<String, Json_>,
    #[serde(default)]
    timespan: Option<[Option<i64>; 2]>,
}

impl SearchBody {
    fn search(&self) -> Result<DatasetSearch, Failure> {
        Ok(DatasetSearch {
            dataset_types: self.dataset_types.clone(),
            collections: self.collections.clone(),
            where_: self.where_.clone(),
            bind: binds(&self.bind)?,
            find_first: self.find_first,
            timespan: timespan(&self.timespan)?,
            as_of: None,
        })
    }
}

fn wants_arrow(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains(ARROW_STREAM))
}

fn written(e: impl std::fmt::Display) -> RepoError {
    RepoError::Io {
        path: "the response".into(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// `POST /api/v1/query-datasets`: the datasets a search selects, streamed as they
/// are found: JSON lines (one dataset a line), or, with `Accept:
/// application/vnd.apache.arrow.stream` and one dataset type, an Arrow IPC stream
/// (`id`, `run`, then each required dimension).
pub(crate) async fn query_datasets(
    State(s): St,
    headers: HeaderMap,
    axum::Json(body): axum::Json<SearchBody>,
) -> Reply {
    let c = caller(&s, &headers).await?;
    let search = body.search()?;
    let permit = s.streams.acquire(&c.user, s.options.max_streams_per_user)?;
    if wants_arrow(&headers) {
        let [dataset_type] = &search.dataset_types[..] else {
            return Err(Failure::bad_request(
                "an Arrow answer holds one table: name exactly one dataset type",
            ));
        };
        let dataset_type = dataset_type.clone();
        return streamed(
            &s,
            &c,
            Some(permit),
            true,
            StatusCode::OK,
            content_type(ARROW_STREAM),
            move |repo, out| {
                let schema = repo.datasets_arrow_schema(&dataset_type)?;
                let mut writer =
                    arrow_ipc::writer::StreamWriter::try_new(out, &schema).map_err(written)?;
                // Each batch goes out as it fills: memory stays bounded by one batch.
                repo.datasets_arrow(&dataset_type, &search, ARROW_BATCH_ROWS, &mut |batch| {
                    writer.write(&batch).map_err(written)
                })?;
                writer.finish().map_err(written)
            },
        )
        .await;
    }
    streamed(
        &s,
        &c,
        Some(permit),
        true,
        StatusCode::OK,
        content_type("application/x-ndjson"),
        move |repo, out| {
            let mut failed: Option<std::io::Error> = None;
            repo.search_dataset_rows(&search, &mut |row| {
                let data_id: serde_json::Map<String, Json_> = row
                    .dimensions
                    .iter()
                    .zip(row.values)
                    .map(|(k, v)| (k.clone(), value_json(v)))
                    .collect();
                let line = json!({"id": row.id.to_string(), "run": row.run,
                                  "dataset_type": row.dataset_type, "data_id": data_id});
                let done = serde_json::to_writer(&mut *out, &line)
                    .map_err(std::io::Error::from)
                    .and_then(|()| out.write_all(b"\n"));
                // A client that went away ends the search.
                match done {
                    Ok(()) => Ok(true),
                    Err(e) => {
                        failed = Some(e);
                        Ok(false)
                    }
                }
            })?;
            match failed {
                Some(e) => Err(written(e)),
                None => Ok(()),
            }
        },
    )
    .await
}

/// Which rows of a sorted listing are answered.
#[derive(Deserialize)]
pub(crate) struct Page {
    #[serde(default)]
    order_by: Vec<String>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    offset: usize,
}

#[derive(Deserialize)]
pub(crate) struct DataIdsBody {
    #[serde(flatten)]
    search: SearchBody,
    #[serde(flatten)]
    page: Page,
    #[serde(default)]
    dimensions: Vec<String>,
}

/// `POST /api/v1/query-data-ids` `{"dimensions", "dataset_types", "collections",
/// "where", "bind", "order_by", "limit", "offset"}`: distinct data IDs, sorted as
/// `valet query-data-ids` sorts them.
pub(crate) async fn query_data_ids(
    State(s): St,
    headers: HeaderMap,
    axum::Json(body): axum::Json<DataIdsBody>,
) -> Reply {
    let c = caller(&s, &headers).await?;
    let options = QueryDataIdsOptions {
        search: body.search.search()?,
        dimensions: body.dimensions,
        limit: body.page.limit,
        order_by: body.page.order_by,
        offset: body.page.offset,
    };
    let found = act(&s, &c, move |repo| repo.query_data_ids(&options)).await?;
    let rows: Vec<Json_> = found
        .rows
        .iter()
        .map(|r| Json_::Array(r.iter().map(value_json).collect()))
        .collect();
    json(json!({
        "dimensions": found.dimensions,
        "required": found.required,
        "rows": rows,
        "limited": found.limited,
    }))
}

#[derive(Deserialize)]
pub(crate) struct RecordsBody {
    element: String,
    #[serde(default, rename = "where")]
    where_: String,
    #[serde(default)]
    bind: serde_json::Map<String, Json_>,
    #[serde(default)]
    datasets: Vec<String>,
    #[serde(default)]
    collections: Vec<String>,
    #[serde(flatten)]
    page: Page,
}

/// `POST /api/v1/query-dimension-records` `{"element", "where", "bind", "datasets",
/// "collections", "order_by", "limit", "offset"}`: one element's records.
pub(crate) async fn query_dimension_records(
    State(s): St,
    headers: HeaderMap,
    axum::Json(body): axum::Json<RecordsBody>,
) -> Reply {
    let c = caller(&s, &headers).await?;
    let query = DimensionRecordQuery {
        element: body.element,
        where_: body.where_,
        bind: binds(&body.bind)?,
        limit: body.page.limit,
        datasets: body.datasets,
        collections: body.collections,
        order_by: body.page.order_by,
        offset: body.page.offset,
    };
    let found = act(&s, &c, move |repo| repo.query_dimension_records(&query)).await?;
    let records: Vec<Json_> = found
        .records
        .iter()
        .map(|r| {
            Json_::Object(
                found
                    .columns
                    .iter()
                    .map(|c| (c.clone(), r.get(c).map_or(Json_::Null, value_json)))
                    .collect(),
            )
        })
        .collect();
    json(json!({"columns": found.columns, "records": records, "limited": found.limited}))
}

#[derive(Deserialize)]
pub(crate) struct LineageQuery {
    #[serde(default)]
    direction: Option<String>,
    #[serde(default)]
    depth: Option<usize>,
}

/// `GET /api/v1/datasets/{id}/lineage?direction=up|down&depth=N`: what a dataset
/// was made from (up, the default) or what was made from it (down), as a graph.
pub(crate) async fn lineage(
    State(s): St,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<LineageQuery>,
) -> Reply {
    let c = caller(&s, &headers).await?;
    let id: valet::provenance::DatasetKey = id.parse().map_err(Failure::bad_request)?;
    let up = match q.direction.as_deref().unwrap_or("up") {
        "up" => true,
        "down" => false,
        other => {
            return Err(Failure::bad_request(format!(
                "direction {other:?}: use up or down"
            )))
        }
    };
    let options = LineageOptions {
        up,
        depth: q.depth.unwrap_or(100),
    };
    let graph = act(&s, &c, move |repo| repo.lineage(id, options)).await?;
    json(valet::provenance::lineage_json(&graph))
}
