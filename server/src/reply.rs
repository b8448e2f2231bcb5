//! Answers: JSON bodies, and errors as a status with a one-line message.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use valet::{ErrorKind, RepoError};

/// A failed request: its status and one line saying why.
pub(crate) struct Failure {
    pub status: StatusCode,
    pub message: String,
}

impl Failure {
    /// A failure with this status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
        }
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
        Failure::new(status, e.to_string())
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
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
