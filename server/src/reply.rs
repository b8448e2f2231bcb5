//! Answers: JSON bodies, and errors as a status with a one-line message.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use valet::{ErrorKind, RepoError};

/// A failed request: its status and one line saying why.
pub(crate) struct Failure {
    pub status: StatusCode,
    pub message: String,
    /// Headers the answer carries besides the message (`Content-Range` on a 416);
    /// boxed, since few failures have any.
    pub headers: Option<Box<HeaderMap>>,
    /// The engine's kind of failure, for clients that rebuild the error.
    pub kind: Option<ErrorKind>,
}

impl Failure {
    /// A failure with this status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
            headers: None,
            kind: None,
        }
    }

    /// The failure, answered with this header too.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Failure {
        self.headers
            .get_or_insert_with(Default::default)
            .insert(name, value);
        self
    }

    /// 400: the request itself is wrong.
    pub fn bad_request(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<RepoError> for Failure {
    fn from(e: RepoError) -> Failure {
        let status = match e.kind() {
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Denied => StatusCode::FORBIDDEN,
            ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
            ErrorKind::Io | ErrorKind::Datastore | ErrorKind::ObsCore | ErrorKind::Database => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let mut failure = Failure::new(status, e.to_string());
        failure.kind = Some(e.kind());
        failure
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (
            self.status,
            self.headers.map(|h| *h).unwrap_or_default(),
            Json(match self.kind {
                Some(kind) => serde_json::json!({ "error": self.message, "kind": kind }),
                None => serde_json::json!({ "error": self.message }),
            }),
        )
            .into_response()
    }
}

/// A handler's result.
pub(crate) type Reply = Result<Response, Failure>;

/// A JSON answer.
pub(crate) fn json(value: serde_json::Value) -> Reply {
    Ok(Json(value).into_response())
}
