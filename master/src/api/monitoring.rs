//! The monitoring routes (`/metrics`, `/sd`, `crate::http`) on the API
//! server too, behind its authentication (a token or an API client
//! certificate), so Prometheus can scrape and discover over HTTPS with a
//! client certificate instead of the plain `metrics_port`. `/sd` lists the
//! fleet's inventory: it needs the `inventory` area; `/metrics` any
//! authenticated user.

use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::Authed;
use super::ApiState;
use crate::auth::Area;

/// `/metrics` and `/sd`, guarded.
pub fn routes(state: ApiState) -> axum::Router {
    crate::http::router(state.master.clone())
        .layer(axum::middleware::from_fn_with_state(state, guard))
}

async fn guard(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let who = match Authed::from_request_parts(&mut parts, &state).await {
        Ok(who) => who,
        Err(e) => return e.into_response(),
    };
    if parts.uri.path() == "/sd" {
        if let Err(e) = who.require(Area::Inventory) {
            return e.into_response();
        }
    }
    next.run(Request::from_parts(parts, body)).await
}

/// What `/openapi.json` says of these routes (their handlers live in
/// `crate::http`, outside the API).
#[derive(utoipa::OpenApi)]
#[openapi(paths(metrics, sd))]
pub struct MonitoringDoc;

/// The master's metrics in Prometheus's text format (OpenMetrics when the
/// `Accept` header asks for it). Any authenticated user.
#[utoipa::path(get, path = "/metrics", tag = "monitoring",
    security(("token" = []), ("x_auth_token" = []), ("client_certificate" = [])),
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"),
              (status = 401, body = super::ErrorBody)))]
#[allow(dead_code)]
fn metrics() {}

/// Prometheus HTTP service discovery over the inventory: one target group
/// per accepted minion the target selects. Needs the `inventory` area.
#[utoipa::path(get, path = "/sd", tag = "monitoring",
    params(
        ("tgt" = Option<String>, Query, description = "Which minions (default `*`)"),
        ("tgt_type" = Option<String>, Query, description = "How tgt targets (default `glob`)"),
        ("port" = Option<String>, Query, description = "Port added to each address (default 9100)"),
        ("address" = Option<String>, Query, description = "The grain giving each address"),
        ("grains" = Option<String>, Query, description = "Comma-separated grains that become labels (`*`: all)"),
    ),
    security(("token" = []), ("x_auth_token" = []), ("client_certificate" = [])),
    responses((status = 200, description = "Prometheus http_sd target groups", content_type = "application/json"),
              (status = 400, description = "A bad target or parameter"),
              (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
#[allow(dead_code)]
fn sd() {}
