//! API users' client certificates (issue 15): issued by the master's CA
//! from a request `brine-key --gen-api-cert` makes (the key stays with the
//! user), recorded in the store (`api_certs`), listed and revoked through
//! the master's CLI socket (runners `api_cert.issue`, `api_cert.list`,
//! `api_cert.revoke`, reached only there: the HTTP API's runner path does
//! not dispatch them, so an API user cannot mint certificates), and checked
//! at every API request that authenticates with one.
//!
//! The CA alone cannot take back a certificate, and minions' certificates
//! come from the same CA: the API accepts a client certificate only when it
//! carries the API-user marker (see `brine_pki::api_user`), its serial is
//! recorded for that user and not revoked, it has not expired, and its user
//! is still in `api_users`.

use brine_pki::api_user::{api_user_of, normalize_serial, ApiUserCert, MAX_API_CERT_DAYS};
use brine_proto::CliReply;
use serde_json::{json, Map, Value};

use crate::auth::{AuthError, Principal, Via};
use crate::state::Master;
use crate::store::{now_ms, ApiCertRecord};

/// Default validity of an API-user certificate, days.
pub const DEFAULT_DAYS: u32 = 365;

/// What the client certificate of a connection is, once the TLS layer
/// verified it against the CA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientCert {
    /// A certificate issued to an API user.
    User(ApiUserCert),
    /// A certificate of the CA that names no API user (a minion's).
    NotAUser,
}

impl ClientCert {
    /// Reads the end-entity certificate a client presented.
    pub fn from_der(der: &[u8]) -> ClientCert {
        match api_user_of(der) {
            Ok(Some(user)) => ClientCert::User(user),
            _ => ClientCert::NotAUser,
        }
    }
}

/// Why a client certificate was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertRefused {
    #[error("authentication failed: the client certificate does not name an API user")]
    NotAUser,
    #[error("authentication failed: the client certificate is unknown, expired or revoked")]
    Unknown,
    #[error("authentication failed: the client certificate's user is not in api_users")]
    NoSuchUser,
}

/// The principal a verified client certificate stands for.
pub async fn principal_of(master: &Master, cert: &ClientCert) -> Result<Principal, AuthError> {
    let ClientCert::User(cert) = cert else {
        return Err(AuthError::Certificate(CertRefused::NotAUser.to_string()));
    };
    let refuse = |r: CertRefused| Err(AuthError::Certificate(r.to_string()));
    let row = master
        .store
        .load_api_cert(&cert.serial)
        .await
        .map_err(|e| AuthError::Store(e.to_string()))?;
    let live = |r: &ApiCertRecord| {
        r.user == cert.user
            && !r.revoked
            && r.not_after_ms > now_ms()
            && cert.not_after * 1000 > now_ms()
    };
    match row {
        Some(r) if live(&r) => match master.config.auth.users.get(&cert.user) {
            Some(u) => Ok(Principal::from_user(u, Via::Certificate)),
            None => refuse(CertRefused::NoSuchUser),
        },
        _ => refuse(CertRefused::Unknown),
    }
}

/// The `api_cert.*` functions of the CLI socket.
pub async fn runner(master: &Master, fun: &str, kwarg: &Map<String, Value>) -> CliReply {
    let result = match fun {
        "api_cert.issue" => issue(master, kwarg).await,
        "api_cert.list" => list(master).await,
        "api_cert.revoke" => revoke(master, kwarg).await,
        _ => Err(format!(
            "'{fun}' is not an available runner; api_cert has: issue, list, revoke"
        )),
    };
    match result {
        Ok(value) => CliReply::Value { value },
        Err(message) => CliReply::Error { message },
    }
}

fn text<'a>(kwarg: &'a Map<String, Value>, key: &str) -> Result<&'a str, String> {
    kwarg
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{key} is required"))
}

/// `api_cert.issue user=NAME csr=PEM [days=N]`: the certificate, recorded.
async fn issue(master: &Master, kwarg: &Map<String, Value>) -> Result<Value, String> {
    let user = text(kwarg, "user")?;
    let csr = text(kwarg, "csr")?;
    let days = match kwarg.get("days") {
        None | Some(Value::Null) => DEFAULT_DAYS,
        Some(v) => v
            .as_u64()
            .filter(|d| (1..=u64::from(MAX_API_CERT_DAYS)).contains(d))
            .ok_or_else(|| format!("days must be a number from 1 to {MAX_API_CERT_DAYS}"))?
            as u32,
    };
    if !master.config.auth.users.contains_key(user) {
        return Err(format!(
            "'{user}' is not an API user: add it to api_users in the master config first"
        ));
    }
    let issued = master
        .pki
        .sign_api_user_csr(csr, user, days)
        .map_err(|e| e.to_string())?;
    let record = ApiCertRecord {
        serial: issued.serial.clone(),
        user: user.to_string(),
        not_after_ms: issued.not_after * 1000,
        issued_ms: now_ms(),
        revoked: false,
    };
    master
        .store
        .put_api_cert(record.clone())
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(user, serial = %issued.serial, days, "API client certificate issued");
    Ok(json!({
        "cert": issued.pem,
        "ca": master.pki.ca_pem(),
        "serial": record.serial,
        "user": record.user,
        "not_after_ms": record.not_after_ms,
    }))
}

async fn list(master: &Master) -> Result<Value, String> {
    let certs = master
        .store
        .list_api_certs()
        .await
        .map_err(|e| e.to_string())?;
    serde_json::to_value(certs).map_err(|e| e.to_string())
}

/// `api_cert.revoke match=SERIAL|USER`: revokes that certificate, or every
/// certificate of that user; the serials revoked.
async fn revoke(master: &Master, kwarg: &Map<String, Value>) -> Result<Value, String> {
    let what = text(kwarg, "match")?.trim();
    let certs = master
        .store
        .list_api_certs()
        .await
        .map_err(|e| e.to_string())?;
    let serial = normalize_serial(what);
    let chosen: Vec<&ApiCertRecord> = certs
        .iter()
        .filter(|c| c.user == what || serial.as_deref() == Some(c.serial.as_str()))
        .collect();
    if chosen.is_empty() {
        return Err(format!(
            "no API client certificate has serial or user '{what}' (brine-key --list-api-certs)"
        ));
    }
    let mut revoked = Vec::new();
    for c in chosen {
        if !c.revoked {
            master
                .store
                .revoke_api_cert(&c.serial)
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(user = %c.user, serial = %c.serial, "API client certificate revoked");
        }
        revoked.push(json!({"serial": c.serial, "user": c.user}));
    }
    Ok(Value::Array(revoked))
}
