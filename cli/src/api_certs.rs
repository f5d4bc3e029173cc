//! `brine-key --gen-api-cert USER`, `--list-api-certs`,
//! `--revoke-api-cert SERIAL|USER`: API users' client certificates, through
//! the master's CLI socket (runners `api_cert.*`, which only that socket
//! serves). The key is made here and never sent: the master signs a
//! request and records the certificate.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use brine_proto::{CliReply, CliRequest};
use serde_json::{json, Map, Value};

use crate::client::MasterClient;

async fn call(socket: &PathBuf, fun: &str, kwarg: Map<String, Value>) -> anyhow::Result<Value> {
    let reply = MasterClient::call(
        socket,
        &CliRequest::Runner {
            fun: fun.into(),
            arg: vec![],
            kwarg,
        },
    )
    .await?;
    match reply {
        CliReply::Value { value } => Ok(value),
        CliReply::Error { message } => bail!("{message}"),
        other => Err(anyhow!("unexpected reply from the master: {other:?}")),
    }
}

/// Makes a key and has the master issue `user` a certificate for it;
/// writes `DIR/USER.crt` (0644) and `DIR/USER.key` (0600).
pub async fn generate(
    socket: &PathBuf,
    user: &str,
    days: Option<u32>,
    dir: &Path,
) -> anyhow::Result<u8> {
    let (key_pem, csr_pem) = brine_pki::api_user::api_user_request(user)?;
    let mut kwarg = Map::new();
    kwarg.insert("user".into(), json!(user));
    kwarg.insert("csr".into(), json!(csr_pem));
    if let Some(d) = days {
        kwarg.insert("days".into(), json!(d));
    }
    let issued = call(socket, "api_cert.issue", kwarg).await?;
    let cert = issued
        .get("cert")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("the master's answer has no certificate: {issued}"))?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (crt_path, key_path) = (
        dir.join(format!("{user}.crt")),
        dir.join(format!("{user}.key")),
    );
    brine_pki::files::write_secret(&key_path, key_pem.as_bytes())?;
    brine_pki::files::write_public(&crt_path, cert.as_bytes())?;
    println!(
        "Issued API client certificate serial {} for user {} (until {}).",
        issued.get("serial").and_then(Value::as_str).unwrap_or("?"),
        user,
        when(issued.get("not_after_ms").and_then(Value::as_i64)),
    );
    println!("Certificate: {}", crt_path.display());
    println!("Key (0600):  {}", key_path.display());
    Ok(0)
}

fn when(ms: Option<i64>) -> String {
    ms.map(utc).unwrap_or_else(|| "?".into())
}

/// `YYYY-MM-DD HH:MM:SS` UTC of unix milliseconds (days to a civil date by
/// Howard Hinnant's algorithm: no calendar crate for one column).
fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Lists every certificate issued (JSON with `json`).
pub async fn list(socket: &PathBuf, json: bool) -> anyhow::Result<u8> {
    let certs = call(socket, "api_cert.list", Map::new()).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&certs)?);
        return Ok(0);
    }
    let rows = certs.as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        println!("No API client certificates.");
        return Ok(0);
    }
    println!(
        "{:<34} {:<20} {:<22} {:<22} STATE",
        "SERIAL", "USER", "ISSUED", "NOT AFTER"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    for r in rows {
        let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let ms = |k: &str| r.get(k).and_then(Value::as_i64);
        let state = if r.get("revoked").and_then(Value::as_bool) == Some(true) {
            "revoked"
        } else if ms("not_after_ms").unwrap_or(0) <= now {
            "expired"
        } else {
            "valid"
        };
        println!(
            "{:<34} {:<20} {:<22} {:<22} {state}",
            s("serial"),
            s("user"),
            when(ms("issued_ms")),
            when(ms("not_after_ms")),
        );
    }
    Ok(0)
}

/// Revokes the certificate with serial `what`, or every one of user `what`.
pub async fn revoke(socket: &PathBuf, what: &str) -> anyhow::Result<u8> {
    let mut kwarg = Map::new();
    kwarg.insert("match".into(), json!(what));
    let revoked = call(socket, "api_cert.revoke", kwarg).await?;
    for r in revoked.as_array().cloned().unwrap_or_default() {
        println!(
            "Revoked API client certificate {} of user {}.",
            r.get("serial").and_then(Value::as_str).unwrap_or("?"),
            r.get("user").and_then(Value::as_str).unwrap_or("?"),
        );
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00");
        assert_eq!(super::utc(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(super::utc(1_796_400_061_000), "2026-12-04 16:01:01");
    }
}
