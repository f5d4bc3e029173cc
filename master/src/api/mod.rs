//! The HTTP API (issue 15): JSON over axum, every endpoint behind
//! authentication (a login token, `Authorization: Bearer` or Salt's
//! `X-Auth-Token`), what a user may run decided by the one publisher ACL
//! (`crate::acl`), what a user may read by the areas of its `api_users`
//! entry, every job and key action audited (`crate::audit`). The OpenAPI
//! description at `/openapi.json` is generated from the handlers.

pub mod auth;
pub mod certs;
pub mod console;
pub mod events;
pub mod extract;
pub mod jobs;
pub mod keys;
pub mod minions;
pub mod monitoring;
pub mod openapi;
pub mod schema;
pub mod serve;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::auth::tokens::Authenticator;
use crate::state::Master;

/// What every handler reaches.
#[derive(Clone)]
pub struct ApiState {
    pub master: Arc<Master>,
    pub auth: Arc<Authenticator>,
}

/// An error answer: `{"error": message}` with its status.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for a person to read.
    pub error: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response()
    }
}

/// The caller's address as the connection gave it, and the client
/// certificate it presented (verified against the CA by the TLS layer).
#[derive(Clone, Debug)]
pub struct Peer(pub SocketAddr, pub Option<certs::ClientCert>);

/// Runs a runner (blocking: it may read the store) as the API's answer.
pub async fn runner(
    state: &ApiState,
    user: &str,
    fun: &str,
    arg: Vec<serde_json::Value>,
    kwarg: serde_json::Map<String, serde_json::Value>,
) -> Result<serde_json::Value, ApiError> {
    let master = state.master.clone();
    let (fun, user) = (fun.to_string(), user.to_string());
    let reply = tokio::task::spawn_blocking(move || {
        crate::runners::run(&master, &user, &fun, &arg, &kwarg)
    })
    .await
    .map_err(|e| ApiError::internal(format!("runner failed: {e}")))?;
    match reply {
        brine_proto::CliReply::Value { value } => Ok(value),
        brine_proto::CliReply::Error { message } => Err(classify(message)),
        other => Err(ApiError::internal(format!(
            "unexpected runner reply: {other:?}"
        ))),
    }
}

/// A runner's error as an HTTP status: what names something missing is
/// 404, a bad argument 400.
fn classify(message: String) -> ApiError {
    if message.starts_with("no minion")
        || message.contains("not found")
        || message.starts_with("no baseline")
        || message.contains("no job with jid")
    {
        ApiError::not_found(message)
    } else {
        ApiError::bad_request(message)
    }
}

/// The router: every endpoint, with the state.
pub fn router(state: ApiState) -> axum::Router {
    use axum::routing::{delete, get, post};
    axum::Router::new()
        .route("/login", post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/minions", get(minions::list))
        .route("/minions/{id}", get(minions::detail))
        .route("/minions/{id}/history", get(minions::history))
        .route("/inventory/query", get(minions::query))
        .route("/jobs", get(jobs::list).post(jobs::run))
        .route("/jobs/{jid}", get(jobs::detail))
        .route("/keys", get(keys::list))
        .route("/keys/{id}/accept", post(keys::accept))
        .route("/keys/{id}/reject", post(keys::reject))
        .route("/keys/{id}", delete(keys::remove))
        .route("/events", get(events::stream))
        .route("/audit", get(minions::audit))
        .route("/openapi.json", get(openapi::document))
        .route("/", get(console::root))
        .route("/console/", get(console::index))
        .route("/console/{file}", get(console::file))
        // Unknown paths and methods answer JSON like every endpoint.
        .fallback(extract::not_found)
        .method_not_allowed_fallback(extract::method_not_allowed)
        .with_state(state.clone())
        .merge(monitoring::routes(state))
}

/// Serves the API on `listener` (HTTPS with `tls`, else plain HTTP)
/// until the task is aborted.
pub async fn serve(
    state: ApiState,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    let app = router(state);
    match tls {
        Some(config) => match tls::TlsListener::new(listener, config) {
            Ok(l) => serve::serve(l, app).await,
            Err(error) => tracing::error!(%error, "the HTTP API could not start"),
        },
        None => serve::serve(listener, app).await,
    }
}
