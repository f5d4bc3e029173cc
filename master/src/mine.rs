//! The Salt mine on the master: minions send the results of their
//! `mine_functions` (`MinionMsg::MineSend`), the store keeps them per
//! (minion, function), and minions (`mine.get`, templates) or the runner
//! `mine.get` read them back for a target.
//!
//! Two gates decide what a minion may read, as Salt's: the master's
//! `mine_get` (`{minion_regex: [function_regex, ...]}`; absent: everything)
//! and the sender's per-function `allow_tgt` (only minions matching that
//! target may read it). The reader's id is always the certificate's.

use brine_proto::conf::{ConfError, RawConfig};
use brine_proto::targeting::{MinionFacts, TargetType};
use brine_proto::Grains;
use regex::Regex;
use serde_json::{Map, Value};

use crate::state::Master;
use crate::store::MineEntry;

/// Default bound of one minion's mine data (`mine_max_bytes`).
pub const DEFAULT_MAX_BYTES: usize = 1024 * 1024;

/// Salt's wrapping of a function's data restricted with `allow_tgt`
/// (`salt.utils.mine.wrap_acl_structure`): the marker key, the data key.
const ACL_MARKER: &str = "__saltmine_acl__";
const ACL_DATA: &str = "__data__";

/// The master's mine settings.
#[derive(Clone, Debug, Default)]
pub struct MineConfig {
    /// Bytes of mine data one minion may have stored (`mine_max_bytes`).
    pub max_bytes: usize,
    /// Salt's `mine_get` ACL; None: every minion may read every function.
    pub get_acl: Option<Vec<(Regex, Vec<Regex>)>>,
}

/// Reads `mine_max_bytes` and `mine_get` (called once from the master's
/// config parsing).
pub fn from_raw(raw: &mut RawConfig) -> Result<MineConfig, ConfError> {
    let file = raw.file().to_string();
    let bad = |key: &str, message: String| ConfError::BadValue {
        file: file.clone(),
        key: key.to_string(),
        message,
    };
    let max_bytes = raw
        .get::<usize>("mine_max_bytes")?
        .unwrap_or(DEFAULT_MAX_BYTES);
    let get_acl = match raw.get::<Value>("mine_get")? {
        None => None,
        Some(Value::Object(map)) => {
            let mut acl = Vec::new();
            for (minion, funs) in map {
                // Salt matches both with re.match: anchored at the start.
                let minion_re = anchored(&minion).map_err(|e| bad("mine_get", e))?;
                let funs = match funs {
                    Value::Array(items) => items,
                    Value::String(s) => vec![Value::String(s)],
                    other => {
                        return Err(bad(
                            "mine_get",
                            format!("'{minion}': expected a list of function regexes, got {other}"),
                        ))
                    }
                };
                let mut fun_res = Vec::new();
                for f in funs {
                    let Value::String(f) = f else {
                        return Err(bad(
                            "mine_get",
                            format!("'{minion}': {f} is not a function regex"),
                        ));
                    };
                    fun_res.push(anchored(&f).map_err(|e| bad("mine_get", e))?);
                }
                acl.push((minion_re, fun_res));
            }
            Some(acl)
        }
        Some(other) => {
            return Err(bad(
                "mine_get",
                format!("expected a mapping of minion regex to function regexes, got {other}"),
            ))
        }
    };
    Ok(MineConfig { max_bytes, get_acl })
}

/// A regex that must match from the start of the text, as Python's `re.match`.
fn anchored(pattern: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{pattern})")).map_err(|e| format!("bad regex '{pattern}': {e}"))
}

impl MineConfig {
    /// Whether `mine_get` lets minion `requester` read function `fun`
    /// (Salt: the function regexes of every minion regex the id matches).
    pub fn may_get(&self, requester: &str, fun: &str) -> bool {
        let Some(acl) = &self.get_acl else {
            return true;
        };
        acl.iter()
            .filter(|(minion, _)| minion.is_match(requester))
            .flat_map(|(_, funs)| funs)
            .any(|f| f.is_match(fun))
    }
}

/// Splits one function's value as sent into what is stored: Salt's ACL
/// wrapping becomes the `allow_tgt` columns, the data its JSON text.
pub fn entry_from_sent(fun: String, value: Value) -> MineEntry {
    let (data, allow_tgt, allow_tgt_type) = match value {
        Value::Object(mut m) if m.contains_key(ACL_MARKER) && m.contains_key(ACL_DATA) => {
            let data = m.remove(ACL_DATA).unwrap_or(Value::Null);
            let text = |v: Option<Value>| match v {
                Some(Value::String(s)) if !s.is_empty() => Some(s),
                Some(Value::Array(items)) if !items.is_empty() => Some(
                    items
                        .iter()
                        .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                _ => None,
            };
            let tgt = text(m.remove("allow_tgt"));
            let tgt_type = tgt.as_ref().and(text(m.remove("allow_tgt_type")));
            (data, tgt, tgt_type)
        }
        v => (v, None, None),
    };
    MineEntry {
        fun,
        data: data.to_string(),
        allow_tgt,
        allow_tgt_type,
    }
}

/// `MineSend` from minion `id`: stores its data unless the minion's total
/// would pass `mine_max_bytes`.
pub async fn send(
    master: &Master,
    id: &str,
    data: Map<String, Value>,
    clear: bool,
) -> Result<Value, String> {
    let entries: Vec<MineEntry> = data
        .into_iter()
        .map(|(fun, v)| entry_from_sent(fun, v))
        .collect();
    let incoming: usize = entries.iter().map(|e| e.data.len() + e.fun.len()).sum();
    let kept: usize = if clear {
        0
    } else {
        master
            .store
            .mine_sizes(id)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|(fun, _)| !entries.iter().any(|e| &e.fun == fun))
            .map(|(fun, bytes)| bytes + fun.len())
            .sum()
    };
    let limit = master.config.mine.max_bytes;
    if incoming + kept > limit {
        tracing::warn!(minion = %id, bytes = incoming + kept, limit, "mine data refused: too large");
        return Err(format!(
            "mine data refused: {} bytes for this minion (with what is stored) is more than \
             mine_max_bytes ({limit})",
            incoming + kept
        ));
    }
    master
        .store
        .put_mine(id, entries, clear)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Value::Bool(true))
}

/// `MineDelete` from minion `id` (`mine.delete`, `mine.flush`).
pub async fn delete(master: &Master, id: &str, fun: Option<&str>) -> Result<Value, String> {
    master
        .store
        .delete_mine(id, fun)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Value::Bool(true))
}

/// The mine data of `fun` for the minions `tgt` selects, `{minion_id:
/// data}`. `requester`: the minion asking (its `mine_get` rights and each
/// function's `allow_tgt` apply); None: the master itself (the runner).
pub async fn get(
    master: &Master,
    requester: Option<&str>,
    tgt: &str,
    fun: &str,
    tgt_type: TargetType,
) -> Result<Value, String> {
    if let Some(r) = requester {
        if !master.config.mine.may_get(r, fun) {
            // Salt answers a denied read with an empty result, not an error.
            tracing::info!(minion = %r, %fun, "mine.get refused by mine_get");
            return Ok(Value::Object(Map::new()));
        }
    }
    let (_, _, expr) = crate::jobs::resolve_target(master, tgt, tgt_type)?;
    let ids = crate::jobs::expected_minions(master, &expr);
    let rows = master
        .store
        .load_mine(fun, ids)
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Map::new();
    for row in rows {
        if let (Some(r), Some(allow)) = (requester, &row.entry.allow_tgt) {
            let allow_type = row
                .entry
                .allow_tgt_type
                .as_deref()
                .unwrap_or("glob")
                .parse::<TargetType>()
                .unwrap_or(TargetType::Glob);
            if !minion_matches(master, r, allow, allow_type) {
                continue;
            }
        }
        if let Ok(v) = serde_json::from_str::<Value>(&row.entry.data) {
            out.insert(row.id, v);
        }
    }
    Ok(Value::Object(out))
}

/// Whether minion `id` is one target `tgt` selects, as the inventory knows it.
fn minion_matches(master: &Master, id: &str, tgt: &str, tgt_type: TargetType) -> bool {
    let Ok((_, _, expr)) = crate::jobs::resolve_target(master, tgt, tgt_type) else {
        return false;
    };
    let grains = match master.grains_select(id, &expr.grain_keys()) {
        Some(g) => g,
        None if expr.needs_grains() => return false,
        None => Grains::new(),
    };
    let pillar = master.pillar(id);
    expr.matches(&MinionFacts {
        id,
        grains: &grains,
        pillar: pillar.as_deref(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conf(yaml: &str) -> Result<MineConfig, ConfError> {
        let mut raw = RawConfig::parse("master", yaml).unwrap();
        from_raw(&mut raw)
    }

    #[test]
    fn without_mine_get_every_minion_reads_every_function() {
        let c = conf("").unwrap();
        assert_eq!(c.max_bytes, DEFAULT_MAX_BYTES);
        assert!(c.may_get("anyone", "network.ip_addrs"));
    }

    #[test]
    fn mine_get_grants_functions_by_minion_regex_as_salt() {
        let c = conf(
            "mine_max_bytes: 2048\n\
             mine_get:\n  web.*:\n    - network\\..+\n  db1:\n    - test.echo\n",
        )
        .unwrap();
        assert_eq!(c.max_bytes, 2048);
        assert!(c.may_get("web1", "network.ip_addrs"));
        assert!(!c.may_get("web1", "test.echo"));
        // re.match: anchored at the start only
        assert!(c.may_get("db10", "test.echo"));
        assert!(c.may_get("db1", "test.echo_more"));
        assert!(!c.may_get("xdb1", "test.echo"));
        assert!(!c.may_get("db1", "network.ip_addrs"));
        assert!(!c.may_get("other", "test.echo"));
    }

    #[test]
    fn bad_mine_get_values_name_the_key() {
        for yaml in [
            "mine_get: [a]\n",
            "mine_get:\n  '(': [x]\n",
            "mine_get:\n  a: {b: c}\n",
        ] {
            let e = conf(yaml).unwrap_err().to_string();
            assert!(e.contains("mine_get"), "{yaml}: {e}");
        }
    }

    #[test]
    fn salt_acl_wrapping_becomes_columns() {
        let plain = entry_from_sent("test.echo".into(), json!({"a": 1}));
        assert_eq!(plain.data, r#"{"a":1}"#);
        assert_eq!(plain.allow_tgt, None);
        let wrapped = entry_from_sent(
            "ip".into(),
            json!({ACL_MARKER: 1, ACL_DATA: ["10.0.0.1"], "allow_tgt": "G@role:db",
                   "allow_tgt_type": "compound"}),
        );
        assert_eq!(wrapped.data, r#"["10.0.0.1"]"#);
        assert_eq!(wrapped.allow_tgt.as_deref(), Some("G@role:db"));
        assert_eq!(wrapped.allow_tgt_type.as_deref(), Some("compound"));
        let list = entry_from_sent(
            "ip".into(),
            json!({ACL_MARKER: 1, ACL_DATA: 1, "allow_tgt": ["a", "b"], "allow_tgt_type": "list"}),
        );
        assert_eq!(list.allow_tgt.as_deref(), Some("a,b"));
    }
}
