//! Jobs over HTTP: run one (waiting for the returns, or `async` for the
//! jid at once), list them, and one job's detail with its returns and the
//! minions that did not return. Running is the publisher ACL's decision
//! for the API user, as for a local user of the CLI.

use axum::extract::State;
use axum::Json;
use brine_proto::targeting::TargetType;
use brine_proto::CliReply;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::auth::Authed;
use super::extract::{JsonBody, Path, Query};
use super::{runner, ApiError, ApiState};
use crate::acl::Action;
use crate::auth::Area;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RunRequest {
    /// Target expression.
    pub tgt: String,
    /// glob (default), pcre, list, grain, grain_pcre, pillar, compound, ipcidr, nodegroup.
    #[serde(default)]
    #[schema(value_type = Option<super::schema::TgtType>)]
    pub tgt_type: Option<String>,
    /// `module.function`, e.g. `test.ping`.
    #[schema(pattern = r"\.")]
    pub fun: String,
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub arg: Vec<Value>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub kwarg: Map<String, Value>,
    /// Seconds to wait for returns (default: the master's `timeout`), at
    /// most a day.
    #[serde(default, deserialize_with = "whole_seconds")]
    #[schema(minimum = 0, maximum = 86400)]
    pub timeout: Option<u64>,
    /// Answer with the jid at once instead of waiting for returns.
    #[serde(default, rename = "async")]
    pub detach: bool,
}

/// The longest wait for returns a request may ask: a day. Bounded so
/// the deadline (now + timeout) cannot overflow.
pub const MAX_TIMEOUT: u64 = 86_400;

/// `timeout` as whole seconds: an integer, or a number with no fraction
/// (JSON Schema's integer: `5.0` is one), from 0 to `MAX_TIMEOUT`.
fn whole_seconds<'de, D>(d: D) -> Result<Option<u64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    let secs = match (n.as_u64(), n.as_f64()) {
        (Some(u), _) => Some(u),
        (None, Some(f)) if f.fract() == 0.0 && (0.0..=MAX_TIMEOUT as f64).contains(&f) => {
            Some(f as u64)
        }
        _ => None,
    };
    match secs {
        Some(s) if s <= MAX_TIMEOUT => Ok(Some(s)),
        _ => Err(D::Error::custom(format!(
            "timeout must be whole seconds from 0 to {MAX_TIMEOUT}, not {n}"
        ))),
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MissingMinion {
    pub id: String,
    /// not connected, timed out, or still running.
    pub reason: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RunReply {
    pub jid: String,
    /// The minions the target selected.
    pub minions: Vec<String>,
    /// Each minion's return (absent with `async`).
    #[schema(value_type = Object)]
    pub returns: Map<String, Value>,
    /// Each returning minion's exit code (0: success).
    #[schema(value_type = Object)]
    pub retcodes: Map<String, Value>,
    pub missing: Vec<MissingMinion>,
}

/// Runs a job on the minions a target selects.
#[utoipa::path(post, path = "/jobs", tag = "jobs", request_body = RunRequest, security(("token" = [])),
    responses((status = 200, body = RunReply), (status = 400, body = super::ErrorBody),
              (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
              (status = 404, description = "no minion matches the target", body = super::ErrorBody),
              (status = 413, description = "the body is over 2 MiB", body = super::ErrorBody),
              (status = 415, description = "the body is not Content-Type: application/json", body = super::ErrorBody)))]
pub async fn run(
    State(state): State<ApiState>,
    who: Authed,
    JsonBody(req): JsonBody<RunRequest>,
) -> Result<Json<RunReply>, ApiError> {
    let master = &state.master;
    let tgt_type: TargetType = match &req.tgt_type {
        Some(t) => t
            .parse()
            .map_err(|e| ApiError::bad_request(format!("tgt_type: {e}")))?,
        None => TargetType::Glob,
    };
    if req.fun.is_empty() || !req.fun.contains('.') {
        return Err(ApiError::bad_request("fun must be module.function"));
    }
    let reached = crate::jobs::resolve_target(master, &req.tgt, tgt_type)
        .map(|(t, tt, expr)| crate::clisock::reachable_minions(master, &t, tt, &expr))
        .map_err(ApiError::bad_request)?;
    let action = Action::Publish {
        tgt: &req.tgt,
        minions: &reached,
        fun: &req.fun,
        arg: &req.arg,
        kwarg: &req.kwarg,
    };
    let caller = who.principal.acl_caller();
    let minions_of = |tgt: &str| -> Result<Vec<String>, String> {
        let (_, _, expr) = crate::jobs::resolve_target(master, tgt, TargetType::Compound)?;
        Ok(crate::jobs::expected_minions(master, &expr))
    };
    if let Err(denied) = master
        .config
        .publisher_acl
        .check(&caller, &action, &minions_of)
    {
        tracing::warn!(user = %caller.name, source = %who.peer, tgt = %req.tgt, fun = %req.fun, "API refused: {denied}");
        let audited = crate::audit::record(
            master,
            &caller.name,
            &who.source(),
            &action,
            crate::audit::Outcome::Denied,
            &denied.to_string(),
        )
        .await;
        if let Err(error) = audited {
            tracing::error!(%error, "a refusal could not be written to the audit log");
        }
        return Err(ApiError::forbidden(format!(
            "authorization error: {denied}"
        )));
    }
    crate::audit::record(
        master,
        &caller.name,
        &who.source(),
        &action,
        crate::audit::Outcome::Allowed,
        "",
    )
    .await
    .map_err(ApiError::internal)?;
    let publish = crate::jobs::PublishRequest {
        tgt: req.tgt.clone(),
        tgt_type,
        fun: req.fun.clone(),
        arg: req.arg.clone(),
        kwarg: req.kwarg.clone(),
        timeout: req.timeout,
        detach: req.detach,
        user: caller.name.clone(),
    };
    let mut reply = RunReply {
        jid: String::new(),
        minions: Vec::new(),
        returns: Map::new(),
        retcodes: Map::new(),
        missing: Vec::new(),
    };
    let mut failure = None;
    crate::jobs::publish_each(master, publish, |frame| match frame {
        CliReply::Published { jid, expected } => {
            reply.jid = jid.to_string();
            reply.minions = expected;
            !req.detach
        }
        CliReply::NoMatch => {
            failure = Some(ApiError::not_found(format!(
                "no minion matches '{}'",
                req.tgt
            )));
            false
        }
        CliReply::Return(r) => {
            let code = if r.success {
                r.retcode
            } else {
                r.retcode.max(1)
            };
            reply.retcodes.insert(r.id.clone(), Value::from(code));
            reply.returns.insert(r.id.clone(), r.ret);
            true
        }
        CliReply::Done { missing, .. } => {
            reply.missing = missing
                .into_iter()
                .map(|m| MissingMinion {
                    id: m.id,
                    reason: m.reason.describe().to_string(),
                })
                .collect();
            false
        }
        CliReply::Error { message } => {
            failure = Some(ApiError::bad_request(message));
            false
        }
        _ => true,
    })
    .await;
    if let Some(error) = failure {
        return Err(error);
    }
    Ok(Json(reply))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// Glob on the function.
    pub function: Option<String>,
    /// Glob on the target as typed.
    pub target: Option<String>,
    pub user: Option<String>,
    /// Only jobs whose target selected this minion id.
    pub minion: Option<String>,
    /// Since when (`2h`, unix seconds, a date).
    pub since: Option<String>,
    /// Most jobs, newest first.
    #[param(minimum = 1, maximum = 100000)]
    pub limit: Option<u32>,
}

/// Recent jobs, newest first.
#[utoipa::path(get, path = "/jobs", tag = "jobs", params(JobsQuery), security(("token" = [])),
    responses((status = 200, body = Object), (status = 400, body = super::ErrorBody),
              (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn list(
    State(state): State<ApiState>,
    who: Authed,
    Query(q): Query<JobsQuery>,
) -> Result<Json<Value>, ApiError> {
    who.require(Area::Jobs)?;
    let mut kwarg = Map::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            kwarg.insert(k.to_string(), Value::String(v));
        }
    };
    put("search_function", q.function);
    put("search_target", q.target);
    put("user", q.user);
    put("search_minion", q.minion);
    if let Some(since) = q.since {
        let ms = crate::cmdb::when::parse_when(&since, crate::store::now_ms())
            .map_err(ApiError::bad_request)?;
        put("start_time", Some(crate::cmdb::when::iso(ms)));
    }
    let limit = super::extract::bounded("limit", q.limit, 1, 100_000)?;
    put("count", limit.map(|l| l.to_string()));
    runner(&state, &who.principal.name, "jobs.list_jobs", vec![], kwarg)
        .await
        .map(Json)
}

/// One job: what ran where, every return, and who did not return and why.
#[utoipa::path(get, path = "/jobs/{jid}", tag = "jobs", params(("jid" = String, Path, description = "the job id", pattern = "^[0-9]{20}$")),
    security(("token" = [])),
    responses((status = 200, body = Object), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody),
              (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn detail(
    State(state): State<ApiState>,
    who: Authed,
    Path(jid): Path<String>,
) -> Result<Json<Value>, ApiError> {
    who.require(Area::Jobs)?;
    if jid.parse::<brine_proto::JobId>().is_err() {
        return Err(ApiError::bad_request(format!("'{jid}' is not a jid")));
    }
    let user = who.principal.name.clone();
    let printed = runner(
        &state,
        &user,
        "jobs.print_job",
        vec![Value::String(jid.clone())],
        Map::new(),
    )
    .await?;
    let job = printed
        .get(&jid)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no job {jid}")))?;
    let looked = runner(
        &state,
        &user,
        "jobs.lookup_jid",
        vec![Value::String(jid.clone())],
        Map::new(),
    )
    .await?;
    let missing: Vec<Value> = looked
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(id, v)| {
            let text = v.as_str()?;
            let reason = text
                .strip_prefix("Minion did not return. [")?
                .trim_end_matches(']');
            Some(serde_json::json!({"id": id, "reason": reason}))
        })
        .collect();
    let mut out = job.as_object().cloned().unwrap_or_default();
    out.insert("jid".into(), Value::String(jid));
    out.insert("Missing".into(), Value::Array(missing));
    Ok(Json(Value::Object(out)))
}
