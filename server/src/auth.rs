//! Who a request acts for: the user and scope of its bearer token, or an anonymous
//! reader. Engine calls run on a blocking thread that acts as that user.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use valet::registry::identity::{set_thread_may_administer, set_thread_user};
use valet::registry::tokens::Scope;
use valet::{Repo, RepoError};

use crate::reply::Failure;
use crate::Shared;

/// The user a request acts for.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub user: String,
    pub scope: Scope,
}

/// The name requests without a token act under.
const ANONYMOUS: &str = "anonymous";

/// The caller a request's `Authorization` header names. A bad token is a 401;
/// no token is an anonymous reader, when the server allows one.
pub(crate) async fn caller(shared: &Arc<Shared>, headers: &HeaderMap) -> Result<Caller, Failure> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .map(|h| h.to_str().unwrap_or_default().trim().to_owned());
    let Some(header) = header else {
        if shared.options.anonymous_reads {
            return Ok(Caller {
                user: ANONYMOUS.into(),
                scope: Scope::Read,
            });
        }
        return Err(Failure::new(
            StatusCode::UNAUTHORIZED,
            "this server needs a token: send Authorization: Bearer <token>",
        ));
    };
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or_else(|| {
            Failure::new(
                StatusCode::UNAUTHORIZED,
                "the Authorization header must be: Bearer <token>",
            )
        })?
        .trim()
        .to_owned();
    let slot = shared.engine_slot().await?;
    let shared = shared.clone();
    let found = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        shared.repo.authenticate_token(&token)
    })
    .await
    .map_err(|e| Failure::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match found {
        Ok(info) => Ok(Caller {
            user: info.user,
            scope: info.scope,
        }),
        Err(e) if e.kind() == valet::ErrorKind::Denied => {
            Err(Failure::new(StatusCode::UNAUTHORIZED, e.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Refuse a caller whose token's scope is below `needed`.
pub(crate) fn require(caller: &Caller, needed: Scope) -> Result<(), Failure> {
    if caller.scope >= needed {
        return Ok(());
    }
    if caller.user == ANONYMOUS {
        return Err(Failure::new(
            StatusCode::UNAUTHORIZED,
            "writing needs a token: send Authorization: Bearer <token>",
        ));
    }
    Err(Failure::new(
        StatusCode::FORBIDDEN,
        format!(
            "the token of {:?} has scope {}, and this needs {} (rule: token-scope)",
            caller.user,
            caller.scope.as_str(),
            needed.as_str()
        ),
    ))
}

/// Run `work` on a blocking thread acting as the caller.
pub(crate) async fn act<T: Send + 'static>(
    shared: &Arc<Shared>,
    caller: &Caller,
    work: impl FnOnce(&Repo) -> Result<T, RepoError> + Send + 'static,
) -> Result<T, Failure> {
    let slot = shared.engine_slot().await?;
    let shared = shared.clone();
    let caller = caller.clone();
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        as_caller(&caller, || work(&shared.repo))
    })
    .await
    .map_err(|e| Failure::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(Failure::from)
}

/// Run `work` on this (blocking) thread acting as the caller, then as nobody again.
pub(crate) fn as_caller<T>(caller: &Caller, work: impl FnOnce() -> T) -> T {
    set_thread_user(Some(&caller.user));
    set_thread_may_administer(caller.scope == Scope::Admin);
    let result = work();
    set_thread_user(None);
    set_thread_may_administer(true);
    result
}
