//! Key management over HTTP, for admins only: list, accept, reject,
//! delete, each change audited and fired as `brine/key` like `brine-key`.

use axum::extract::State;
use axum::Json;
use brine_proto::{CliReply, KeyCommand};
use serde::Serialize;
use serde_json::Value;

use super::auth::Authed;
use super::extract::Path;
use super::{ApiError, ApiState};
use crate::acl::Action;
use crate::auth::Area;

#[derive(Serialize, utoipa::ToSchema)]
pub struct KeyRow {
    pub id: String,
    /// accepted, pending, rejected or denied.
    pub state: String,
    pub fingerprint: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct KeysReply {
    pub keys: Vec<KeyRow>,
    /// The ids this call changed.
    pub changed: Vec<String>,
}

fn admin(who: &Authed) -> Result<(), ApiError> {
    who.require(Area::Keys)?;
    if !who.principal.admin {
        tracing::warn!(user = %who.principal.name, source = %who.peer, "API refused: key management needs admin");
        return Err(ApiError::forbidden(format!(
            "user '{}' may not manage keys (admin only)",
            who.principal.name
        )));
    }
    Ok(())
}

async fn command(
    state: &ApiState,
    who: &Authed,
    cmd: KeyCommand,
) -> Result<Json<KeysReply>, ApiError> {
    admin(who)?;
    let (fun, id) = match &cmd {
        KeyCommand::Accept { glob, .. } => ("key.accept", Some(glob.clone())),
        KeyCommand::Reject { glob, .. } => ("key.reject", Some(glob.clone())),
        KeyCommand::Delete { glob } => ("key.delete", Some(glob.clone())),
        _ => ("key.list_all", None),
    };
    if let Some(id) = &id {
        let arg = [Value::String(id.clone())];
        let action = Action::Wheel { fun, arg: &arg };
        crate::audit::record(
            &state.master,
            &who.principal.name,
            &who.source(),
            &action,
            crate::audit::Outcome::Allowed,
            "",
        )
        .await
        .map_err(ApiError::internal)?;
    }
    match crate::keys::key_command(&state.master, cmd).await {
        CliReply::Keys { keys, changed, .. } => {
            if id.is_some() && changed.is_empty() {
                return Err(ApiError::not_found(format!(
                    "no key '{}' in a state this action applies to",
                    id.unwrap_or_default()
                )));
            }
            Ok(Json(KeysReply {
                keys: keys
                    .into_iter()
                    .map(|k| KeyRow {
                        id: k.id,
                        state: k.state.as_str().to_string(),
                        fingerprint: k.fingerprint,
                    })
                    .collect(),
                changed,
            }))
        }
        CliReply::Error { message } => Err(ApiError::bad_request(message)),
        other => Err(ApiError::internal(format!("unexpected reply: {other:?}"))),
    }
}

/// Every key and its state.
#[utoipa::path(get, path = "/keys", tag = "keys", security(("token" = [])),
    responses((status = 200, body = KeysReply), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn list(State(state): State<ApiState>, who: Authed) -> Result<Json<KeysReply>, ApiError> {
    command(&state, &who, KeyCommand::List).await
}

/// Accepts a pending (or rejected) key.
#[utoipa::path(post, path = "/keys/{id}/accept", tag = "keys", params(("id" = String, Path, description = "minion id")),
    security(("token" = [])),
    responses((status = 200, body = KeysReply), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody),
              (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn accept(
    State(state): State<ApiState>,
    who: Authed,
    Path(id): Path<String>,
) -> Result<Json<KeysReply>, ApiError> {
    command(
        &state,
        &who,
        KeyCommand::Accept {
            glob: literal(&id)?,
            include_rejected: true,
        },
    )
    .await
}

/// Rejects a key (an accepted one is cut off at once).
#[utoipa::path(post, path = "/keys/{id}/reject", tag = "keys", params(("id" = String, Path, description = "minion id")),
    security(("token" = [])),
    responses((status = 200, body = KeysReply), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody),
              (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn reject(
    State(state): State<ApiState>,
    who: Authed,
    Path(id): Path<String>,
) -> Result<Json<KeysReply>, ApiError> {
    command(
        &state,
        &who,
        KeyCommand::Reject {
            glob: literal(&id)?,
            include_accepted: true,
        },
    )
    .await
}

/// Deletes a key (the minion is cut off and comes back pending).
#[utoipa::path(delete, path = "/keys/{id}", tag = "keys", params(("id" = String, Path, description = "minion id")),
    security(("token" = [])),
    responses((status = 200, body = KeysReply), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody),
              (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn remove(
    State(state): State<ApiState>,
    who: Authed,
    Path(id): Path<String>,
) -> Result<Json<KeysReply>, ApiError> {
    command(
        &state,
        &who,
        KeyCommand::Delete {
            glob: literal(&id)?,
        },
    )
    .await
}

/// One id, never a glob: an HTTP client deleting `*` by accident must not
/// delete every key.
fn literal(id: &str) -> Result<String, ApiError> {
    brine_proto::minion_id::check_minion_id(id)
        .map_err(|e| ApiError::bad_request(format!("'{id}': {e}")))?;
    if id.contains(['*', '?', '[', ']']) {
        return Err(ApiError::bad_request("one minion id, not a glob"));
    }
    Ok(id.to_string())
}
