//! The inventory over HTTP: the minion list with a target filter, one
//! minion's page and grain history, inventory queries (JSON or CSV), and
//! the audit log.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::auth::Authed;
use super::extract::{Path, Query};
use super::{runner, ApiError, ApiState};
use crate::auth::Area;

/// Fields of the minion list.
const LIST_FIELDS: &str = "id,key,connected,os,osrelease,appcode,owner";

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TargetQuery {
    /// A target expression (default `*`).
    pub tgt: Option<String>,
    /// glob, pcre, list, grain, grain_pcre, compound (default), ipcidr, nodegroup.
    #[param(value_type = Option<super::schema::TgtType>)]
    pub tgt_type: Option<String>,
    /// Most rows returned (default: every one), in id order.
    #[param(minimum = 1, maximum = 100000)]
    pub limit: Option<u32>,
    /// Rows skipped first (default 0): with `limit`, a page.
    #[param(minimum = 0, maximum = 10000000)]
    pub offset: Option<u32>,
}

fn kw(pairs: &[(&str, Option<String>)]) -> Map<String, Value> {
    pairs
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), Value::String(v))))
        .collect()
}

/// The minions a target selects, one row each, in id order; every one, or
/// a page with `limit` and `offset`.
#[utoipa::path(get, path = "/minions", tag = "inventory", params(TargetQuery), security(("token" = [])),
    responses((status = 200, description = "one object per minion: id, key, connected, os, osrelease, appcode, owner", body = Vec<Object>),
              (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn list(
    State(state): State<ApiState>,
    who: Authed,
    Query(q): Query<TargetQuery>,
) -> Result<Json<Value>, ApiError> {
    who.require(Area::Inventory)?;
    let kwarg = kw(&[
        ("tgt", Some(q.tgt.unwrap_or_else(|| "*".into()))),
        ("tgt_type", q.tgt_type),
        ("fields", Some(LIST_FIELDS.into())),
        (
            "limit",
            super::extract::bounded("limit", q.limit, 1, 100_000)?.map(|l| l.to_string()),
        ),
        (
            "offset",
            super::extract::bounded("offset", q.offset, 0, 10_000_000)?.map(|o| o.to_string()),
        ),
    ]);
    runner(
        &state,
        &who.principal.name,
        "inventory.query",
        vec![],
        kwarg,
    )
    .await
    .map(Json)
}

/// One minion: key, presence, ownership, last state run, grains.
#[utoipa::path(get, path = "/minions/{id}", tag = "inventory", params(("id" = String, Path, description = "minion id")),
    security(("token" = [])),
    responses((status = 200, body = Object), (status = 401, body = super::ErrorBody),
              (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn detail(
    State(state): State<ApiState>,
    who: Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    who.require(Area::Inventory)?;
    runner(
        &state,
        &who.principal.name,
        "inventory.minion",
        vec![Value::String(id)],
        Map::new(),
    )
    .await
    .map(Json)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Most versions returned, newest first (default 50).
    #[param(minimum = 1, maximum = 100000)]
    pub limit: Option<u32>,
    /// Only versions since this time (`2h`, unix seconds, `2026-12-04T10:00`).
    pub since: Option<String>,
    /// With `to`: the grains that changed between two times instead.
    pub from: Option<String>,
    pub to: Option<String>,
}

/// A minion's grain history (or, with `from`, the diff between two times).
#[utoipa::path(get, path = "/minions/{id}/history", tag = "inventory",
    params(("id" = String, Path, description = "minion id"), HistoryQuery), security(("token" = [])),
    responses((status = 200, description = "the versions (an array, newest first), or with `from` the diff (an object)", body = serde_json::Value),
              (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody),
              (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn history(
    State(state): State<ApiState>,
    who: Authed,
    Path(id): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<Value>, ApiError> {
    who.require(Area::Inventory)?;
    let user = who.principal.name.clone();
    if q.from.is_some() {
        let kwarg = kw(&[("from", q.from), ("to", q.to)]);
        return runner(
            &state,
            &user,
            "inventory.diff",
            vec![Value::String(id)],
            kwarg,
        )
        .await
        .map(Json);
    }
    let kwarg = kw(&[
        (
            "limit",
            super::extract::bounded("limit", q.limit, 1, 100_000)?.map(|l| l.to_string()),
        ),
        ("since", q.since),
    ]);
    runner(
        &state,
        &user,
        "inventory.history",
        vec![Value::String(id)],
        kwarg,
    )
    .await
    .map(Json)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InventoryQuery {
    pub tgt: Option<String>,
    #[param(value_type = Option<super::schema::TgtType>)]
    pub tgt_type: Option<String>,
    /// Comma-separated fields: grains (`a:b` for nested), id, key, connected.
    pub fields: Option<String>,
    /// Counts per value of this field instead of rows.
    pub group_by: Option<String>,
    /// json (default) or csv.
    #[param(value_type = Option<super::schema::QueryFormat>)]
    pub format: Option<String>,
    /// Most rows returned (default: every one), in id order; not with group_by.
    #[param(minimum = 1, maximum = 100000)]
    pub limit: Option<u32>,
    /// Rows skipped first (default 0).
    #[param(minimum = 0, maximum = 10000000)]
    pub offset: Option<u32>,
}

/// Inventory query: rows of chosen fields, or counts, as JSON or CSV.
#[utoipa::path(get, path = "/inventory/query", tag = "inventory", params(InventoryQuery), security(("token" = [])),
    responses((status = 200, description = "rows (JSON array of objects), or with format=csv text/csv",
               content((Vec<Object> = "application/json"), (String = "text/csv"))),
              (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn query(
    State(state): State<ApiState>,
    who: Authed,
    Query(q): Query<InventoryQuery>,
) -> Result<Response, ApiError> {
    who.require(Area::Inventory)?;
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format must be json or csv, not '{other}'"
            )))
        }
    };
    let kwarg = kw(&[
        ("tgt", Some(q.tgt.unwrap_or_else(|| "*".into()))),
        ("tgt_type", q.tgt_type),
        ("fields", q.fields),
        ("group_by", q.group_by),
        (
            "limit",
            super::extract::bounded("limit", q.limit, 1, 100_000)?.map(|l| l.to_string()),
        ),
        (
            "offset",
            super::extract::bounded("offset", q.offset, 0, 10_000_000)?.map(|o| o.to_string()),
        ),
    ]);
    let rows = runner(
        &state,
        &who.principal.name,
        "inventory.query",
        vec![],
        kwarg,
    )
    .await?;
    if !csv {
        return Ok(Json(rows).into_response());
    }
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        to_csv(&rows),
    )
        .into_response())
}

/// Rows (objects with the same keys, in order) as CSV with a header.
fn to_csv(rows: &Value) -> String {
    let items = rows.as_array().cloned().unwrap_or_default();
    let columns: Vec<String> = items
        .first()
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(&columns);
    for item in &items {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| match item.get(c) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(Value::Bool(b)) => if *b { "True" } else { "False" }.to_string(),
                Some(other) => other.to_string(),
            })
            .collect();
        let _ = w.write_record(&cells);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Since when (default 1d): `2h`, unix seconds, `2026-12-04T10:00`.
    pub since: Option<String>,
    pub user: Option<String>,
    /// job, runner or key.
    pub action: Option<String>,
    /// allowed or denied.
    pub outcome: Option<String>,
    #[param(minimum = 1, maximum = 100000)]
    pub limit: Option<u32>,
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditQuery), security(("token" = [])),
    responses((status = 200, body = Vec<Object>), (status = 400, body = super::ErrorBody),
              (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn audit(
    State(state): State<ApiState>,
    who: Authed,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    who.require(Area::Audit)?;
    let kwarg = kw(&[
        ("since", q.since),
        ("user", q.user),
        ("action", q.action),
        ("outcome", q.outcome),
        (
            "limit",
            super::extract::bounded("limit", q.limit, 1, 100_000)?.map(|l| l.to_string()),
        ),
    ]);
    runner(&state, &who.principal.name, "audit.list", vec![], kwarg)
        .await
        .map(Json)
}
