//! IVOA SIAv2 endpoints: `/sia/query` answers from the live ObsCore table as
//! VOTable (errors as VOTable error documents), and the VOSI `/sia/availability`
//! and `/sia/capabilities` documents through which clients such as pyvo find it.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use valet::obscore::votable::{write_votable, write_votable_error};
use valet::obscore_api::SiaQuery;

use crate::auth::{act, caller};
use crate::Shared;

const VOTABLE: &str = "application/x-votable+xml";

fn votable_error(status: StatusCode, message: &str) -> Response {
    let mut out = Vec::new();
    let _ = write_votable_error(&mut out, message);
    (status, [(header::CONTENT_TYPE, VOTABLE)], out).into_response()
}

/// The parameters of a query string, names in any case, values repeated.
fn parameters(raw: Option<&str>) -> Result<SiaQuery, String> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(raw.unwrap_or_default()).map_err(|e| e.to_string())?;
    let mut query = SiaQuery::default();
    for (name, value) in pairs {
        if name.eq_ignore_ascii_case("RESPONSEFORMAT") {
            let v = value.to_ascii_lowercase();
            if !(v == "votable" || v.starts_with("application/x-votable+xml") || v == "text/xml") {
                return Err(format!("RESPONSEFORMAT={value:?}: only VOTable is offered"));
            }
            continue;
        }
        query.add(&name, &value).map_err(|e| e.to_string())?;
    }
    Ok(query)
}

/// `GET /sia/query?POS=…&BAND=…`: the matching ObsCore rows as VOTable.
pub(crate) async fn query(
    State(s): State<std::sync::Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let c = match caller(&s, &headers).await {
        Ok(c) => c,
        Err(f) => return votable_error(f.status, &f.message),
    };
    let query = match parameters(raw.as_deref()) {
        Ok(q) => q,
        Err(message) => return votable_error(StatusCode::BAD_REQUEST, &message),
    };
    match act(&s, &c, move |repo| repo.siav2_query(&query)).await {
        Ok(answer) => {
            let mut out = Vec::new();
            if let Err(e) = write_votable(
                &mut out,
                &answer.columns,
                &answer.types,
                &answer.rows,
                answer.overflow,
            ) {
                return votable_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
            }
            ([(header::CONTENT_TYPE, VOTABLE)], out).into_response()
        }
        Err(f) => votable_error(f.status, &f.message),
    }
}

/// `GET /sia/availability`: VOSI availability.
pub(crate) async fn availability() -> Response {
    let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<vosi:availability xmlns:vosi="http://www.ivoa.net/xml/VOSIAvailability/v1.0">
<vosi:available>true</vosi:available>
</vosi:availability>
"#;
    ([(header::CONTENT_TYPE, "text/xml")], body).into_response()
}

/// `GET /sia/capabilities`: VOSI capabilities, naming the SIAv2 query endpoint.
pub(crate) async fn capabilities(headers: HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let base = format!("http://{host}/sia");
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<vosi:capabilities xmlns:vosi="http://www.ivoa.net/xml/VOSICapabilities/v1.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1">
<capability standardID="ivo://ivoa.net/std/VOSI#capabilities"><interface xsi:type="vs:ParamHTTP"><accessURL use="full">{base}/capabilities</accessURL></interface></capability>
<capability standardID="ivo://ivoa.net/std/VOSI#availability"><interface xsi:type="vs:ParamHTTP"><accessURL use="full">{base}/availability</accessURL></interface></capability>
<capability standardID="ivo://ivoa.net/std/SIA#query-2.0"><interface xsi:type="vs:ParamHTTP" role="std" version="2.0"><accessURL use="base">{base}/query</accessURL></interface></capability>
</vosi:capabilities>
"#
    );
    ([(header::CONTENT_TYPE, "text/xml")], body).into_response()
}
