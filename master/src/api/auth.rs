//! Logging in and out, and the extractor every other handler uses to know
//! who calls: a token from `POST /login`, sent as `Authorization: Bearer
//! TOKEN` or `X-Auth-Token: TOKEN` (salt-api's header).

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::certs::ClientCert;
use super::extract::JsonBody;
use super::{ApiError, ApiState, Peer};
use crate::auth::{Area, AuthError, Principal};

/// An authenticated caller, and where it called from.
pub struct Authed {
    pub principal: Principal,
    pub peer: std::net::SocketAddr,
    /// The token it used (for logout); empty with a client certificate.
    pub token: String,
}

impl Authed {
    /// 403 unless the caller may read `area`.
    pub fn require(&self, area: Area) -> Result<(), ApiError> {
        if self.principal.may_read(area) {
            return Ok(());
        }
        tracing::warn!(user = %self.principal.name, source = %self.peer, area = area.name(), "API refused: area not granted");
        Err(ApiError::forbidden(format!(
            "user '{}' may not read {}",
            self.principal.name,
            area.name()
        )))
    }

    /// Where the caller is, for the audit log; a caller that proved who
    /// it is with a client certificate is marked so.
    pub fn source(&self) -> String {
        match self.principal.via {
            crate::auth::Via::Certificate => format!("{} via=certificate", self.peer.ip()),
            _ => self.peer.ip().to_string(),
        }
    }
}

fn token_of(parts: &Parts) -> Option<String> {
    if let Some(v) = parts.headers.get(axum::http::header::AUTHORIZATION) {
        let v = v.to_str().ok()?;
        let (scheme, token) = v.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string());
    }
    parts
        .headers
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
}

fn peer_of(parts: &Parts) -> (std::net::SocketAddr, Option<ClientCert>) {
    match parts.extensions.get::<ConnectInfo<Peer>>() {
        Some(ConnectInfo(Peer(addr, cert))) => (*addr, cert.clone()),
        None => (std::net::SocketAddr::from(([0, 0, 0, 0], 0)), None),
    }
}

impl FromRequestParts<ApiState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        let (peer, cert) = peer_of(parts);
        // A token, when sent, decides; else the client certificate.
        let Some(token) = token_of(parts) else {
            let Some(cert) = cert else {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "authentication required: POST /login, then send the token as Authorization: Bearer TOKEN (or present an API client certificate)",
                ));
            };
            return match super::certs::principal_of(&state.master, &cert).await {
                Ok(principal) => {
                    tracing::debug!(user = %principal.name, source = %peer, "API caller authenticated by client certificate");
                    Ok(Authed {
                        principal,
                        peer,
                        token: String::new(),
                    })
                }
                Err(AuthError::Store(e)) => Err(ApiError::internal(e)),
                Err(e) => {
                    tracing::warn!(source = %peer, "API refused: {e}");
                    Err(ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()))
                }
            };
        };
        match state.auth.check_token(&state.master.store, &token).await {
            Ok(principal) => Ok(Authed {
                principal,
                peer,
                token,
            }),
            Err(AuthError::Store(e)) => Err(ApiError::internal(e)),
            Err(e) => {
                tracing::warn!(source = %peer, "API refused: {e}");
                Err(ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()))
            }
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// Salt's `eauth`: accepted and must be `brine` when given.
    #[serde(default)]
    #[schema(value_type = Option<super::schema::Eauth>)]
    pub eauth: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LoginReply {
    /// Send it as `Authorization: Bearer TOKEN`.
    pub token: String,
    /// Unix seconds the token was issued and stops working (Salt's names).
    pub start: f64,
    pub expire: f64,
    pub user: String,
    pub admin: bool,
    /// The areas the user may read.
    pub areas: Vec<String>,
}

/// Logs in with a user of `api_users`; answers a token.
#[utoipa::path(post, path = "/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginReply), (status = 400, body = super::ErrorBody),
              (status = 401, body = super::ErrorBody), (status = 413, description = "the body is over 2 MiB", body = super::ErrorBody),
              (status = 415, description = "the body is not Content-Type: application/json", body = super::ErrorBody),
              (status = 429, body = super::ErrorBody)))]
pub async fn login(
    State(state): State<ApiState>,
    ConnectInfo(Peer(peer, _)): ConnectInfo<Peer>,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<Json<LoginReply>, ApiError> {
    if req.eauth.as_deref().is_some_and(|e| e != "brine") {
        return Err(ApiError::bad_request(
            "eauth must be 'brine' (users of api_users); other backends are not supported",
        ));
    }
    match state
        .auth
        .login(&state.master.store, &req.username, &req.password, peer.ip())
        .await
    {
        Ok((token, expires_ms, p)) => {
            tracing::info!(user = %p.name, source = %peer, "API login");
            Ok(Json(LoginReply {
                token,
                start: crate::store::now_ms() as f64 / 1000.0,
                expire: expires_ms as f64 / 1000.0,
                user: p.name.clone(),
                admin: p.admin,
                areas: p.areas.iter().map(|a| a.name().to_string()).collect(),
            }))
        }
        Err(AuthError::RateLimited(s)) => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            AuthError::RateLimited(s).to_string(),
        )),
        Err(AuthError::Store(e)) => Err(ApiError::internal(e)),
        Err(e) => {
            tracing::warn!(user = %req.username, source = %peer, "API login refused: {e}");
            Err(ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()))
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Done {
    pub result: bool,
}

/// Revokes the caller's token.
#[utoipa::path(post, path = "/logout", tag = "auth", security(("token" = [])),
    responses((status = 200, body = Done), (status = 401, body = super::ErrorBody)))]
pub async fn logout(State(state): State<ApiState>, who: Authed) -> Result<Json<Done>, ApiError> {
    if who.token.is_empty() {
        // A client certificate is no session: revoke it with brine-key.
        return Ok(Json(Done { result: true }));
    }
    state
        .auth
        .revoke(&state.master.store, &who.token)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(Done { result: true }))
}
