//! The audit log: who did what, from where, with which outcome. Every job,
//! runner and key action a caller asks for (allowed or denied) is kept in
//! the store, queryable with `brine-run audit.list`, and fired on the bus
//! as `brine/audit`. Argument values whose keyword name matches
//! `audit_redact` (default: passwords, secrets, tokens, keys) are
//! replaced before anything is written.

use serde_json::{json, Map, Value};

use crate::acl::Action;
use crate::state::Master;

/// The default `audit_redact`: keyword names whose values are never kept.
pub const DEFAULT_REDACT: &str = r"(?i)pass|secret|token|api_?key|private|credential";

/// What became of the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
        }
    }
}

/// One audit row.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AuditRecord {
    pub at_ms: i64,
    pub user: String,
    /// Where the request came from: `local` (the CLI socket) or an address.
    pub source: String,
    /// `job`, `runner` or `key`.
    pub action: String,
    pub target: String,
    pub fun: String,
    /// Arguments as given, secrets redacted: `{"arg": [...], "kwarg": {...}}`.
    pub args: Value,
    pub outcome: String,
    /// The denial's reason, or other detail.
    pub detail: String,
}

/// Which rows `audit.list` shows.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub since_ms: i64,
    pub user: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub limit: usize,
}

/// `value` with every string that looks like `name=secret` and every dict
/// entry whose key matches `redact` replaced.
fn redact_value(value: &Value, redact: &regex::Regex) -> Value {
    match value {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    if redact.is_match(k) {
                        (k.clone(), Value::String("***".into()))
                    } else {
                        (k.clone(), redact_value(v, redact))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| redact_value(v, redact)).collect())
        }
        Value::String(s) => match s.split_once('=') {
            Some((k, _)) if redact.is_match(k) => Value::String(format!("{k}=***")),
            _ => value.clone(),
        },
        other => other.clone(),
    }
}

/// The audit row for `action` by `user` from `source`.
pub fn record_of(
    redact: &regex::Regex,
    user: &str,
    source: &str,
    action: &Action<'_>,
    outcome: Outcome,
    detail: &str,
) -> AuditRecord {
    let (kind, target, arg, kwarg) = match action {
        Action::Publish {
            tgt, arg, kwarg, ..
        } => ("job", tgt.to_string(), arg.to_vec(), (*kwarg).clone()),
        Action::Runner { arg, kwarg, .. } => {
            ("runner", String::new(), arg.to_vec(), (*kwarg).clone())
        }
        Action::Wheel { arg, .. } => ("key", String::new(), arg.to_vec(), Map::new()),
    };
    let args = redact_value(&json!({"arg": arg, "kwarg": kwarg}), redact);
    AuditRecord {
        at_ms: crate::store::now_ms(),
        user: user.to_string(),
        source: source.to_string(),
        action: kind.to_string(),
        target,
        fun: action.fun().to_string(),
        args,
        outcome: outcome.as_str().to_string(),
        detail: detail.to_string(),
    }
}

/// Records `action` (committed to the store before this returns) and
/// fires it on the bus. Err: the store could not keep it.
pub async fn record(
    master: &Master,
    user: &str,
    source: &str,
    action: &Action<'_>,
    outcome: Outcome,
    detail: &str,
) -> Result<(), String> {
    let rec = record_of(
        &master.config.audit_redact,
        user,
        source,
        action,
        outcome,
        detail,
    );
    if let Ok(Value::Object(data)) = serde_json::to_value(&rec) {
        master.events.fire("brine/audit", Value::Object(data));
    }
    master
        .store
        .put_audit(rec)
        .await
        .map_err(|e| format!("cannot write the audit log, so nothing was done: {e}"))
}

/// `brine-run audit.list [since=1d] [user=alice] [action=job] [outcome=denied] [limit=100]`:
/// newest first.
pub fn list(master: &Master, kwarg: &Map<String, Value>) -> Result<Value, String> {
    let text = |k: &str| crate::cmdb::text_arg(&[], kwarg, 0, k);
    let now = crate::store::now_ms();
    let since_ms = match text("since") {
        Some(t) => crate::cmdb::when::parse_when(&t, now)?,
        None => now - 86_400_000,
    };
    let limit = match text("limit") {
        Some(l) => l
            .parse()
            .map_err(|_| format!("limit must be a number, not '{l}'"))?,
        None => 1000,
    };
    let filter = AuditFilter {
        since_ms,
        user: text("user"),
        action: text("action"),
        outcome: text("outcome"),
        limit,
    };
    let rows = tokio::runtime::Handle::current()
        .block_on(master.store.list_audit(&filter))
        .map_err(|e| e.to_string())?;
    Ok(Value::Array(
        rows.into_iter()
            .map(|r| {
                let mut v = serde_json::to_value(&r).unwrap_or(Value::Null);
                v["time"] = Value::String(crate::cmdb::when::iso(r.at_ms));
                if let Value::Object(m) = &mut v {
                    m.remove("at_ms");
                }
                v
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_by_keyword_name() {
        let redact = regex::Regex::new(DEFAULT_REDACT).unwrap();
        let kwarg: Map<String, Value> = serde_json::from_value(json!({
            "password": "hunter2", "name": "alice", "opts": {"api_key": "k", "n": 1}
        }))
        .unwrap();
        let arg = vec![json!("db_password=hunter2"), json!("plain")];
        let action = Action::Publish {
            tgt: "web*",
            minions: &[],
            fun: "user.add",
            arg: &arg,
            kwarg: &kwarg,
        };
        let rec = record_of(
            &redact,
            "bob",
            "local",
            &action,
            Outcome::Denied,
            "no entry",
        );
        let text = rec.args.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("\"k\""), "{text}");
        assert_eq!(rec.args["kwarg"]["name"], "alice");
        assert_eq!(rec.args["arg"][0], "db_password=***");
        assert_eq!(rec.args["arg"][1], "plain");
        assert_eq!(
            (
                rec.action.as_str(),
                rec.target.as_str(),
                rec.outcome.as_str()
            ),
            ("job", "web*", "denied")
        );
    }
}
