//! `inventory.minion ID`: one minion as the CMDB shows it: key state,
//! presence (connected now, to which masters, last seen), ownership
//! fields, its last state run (when, how many states changed and failed)
//! and its grains.

use serde_json::{json, Map, Value};

use super::{block, when};
use crate::state::Master;

/// Ownership fields read from grains, then pillar: the application code
/// every tool shares, and who answers for it.
pub const OWNERSHIP: &[&str] = &["appcode", "owner", "team", "env", "datacenter", "rack"];

/// The functions whose returns are state runs.
pub const STATE_FUNS: &[&str] = &["state.apply", "state.highstate", "state.sls"];

/// Counts of a state run's return: states, changed, failed.
pub fn state_counts(ret: &Value) -> Value {
    let Some(states) = ret.as_object() else {
        return json!({"error": ret});
    };
    let changed = states
        .values()
        .filter(|s| {
            s.get("changes")
                .and_then(Value::as_object)
                .is_some_and(|c| !c.is_empty())
        })
        .count();
    let failed = states
        .values()
        .filter(|s| s.get("result") == Some(&Value::Bool(false)))
        .count();
    json!({"states": states.len(), "changed": changed, "failed": failed})
}

pub fn show(master: &Master, id: &str) -> Result<Value, String> {
    let key = master.key(id);
    let grains = master.grains(id);
    if key.is_none() && grains.is_none() {
        return Err(format!("no minion '{id}' in the inventory"));
    }
    let pillar = master.pillar(id);
    let mut ownership = Map::new();
    for field in OWNERSHIP {
        let v = grains
            .as_ref()
            .and_then(|g| g.get(*field))
            .or_else(|| pillar.as_ref().and_then(|p| p.get(*field)))
            .cloned()
            .unwrap_or(Value::Null);
        ownership.insert(field.to_string(), v);
    }
    let mut masters: Vec<String> = Vec::new();
    if master.is_connected(id) {
        masters.push(master.config.id.clone());
    }
    let mut last_seen: Option<i64> = None;
    for p in block(master.store.load_presence_of(id)).map_err(|e| e.to_string())? {
        last_seen = last_seen.max(Some(p.last_seen_ms));
        if p.connected && master.store.is_shared() && p.master != master.config.id {
            masters.push(p.master);
        }
    }
    masters.sort();
    masters.dedup();
    // This minion's rows only: the fleet's last state runs (full returns)
    // would be read for every page view otherwise.
    let last_state = block(master.store.last_state_returns(STATE_FUNS, Some(id)))
        .map_err(|e| e.to_string())?
        .into_iter()
        .next()
        .map(|(_, jid, fun, ret, at)| {
            let mut v = state_counts(&ret);
            v["jid"] = json!(jid);
            v["fun"] = json!(fun);
            v["time"] = json!(when::iso(at));
            v
        })
        .unwrap_or(Value::Null);
    Ok(json!({
        "id": id,
        "key": key.map(|k| k.state.as_str().to_string()),
        "connected": !masters.is_empty(),
        "masters": masters,
        "last_seen": last_seen.map(when::iso),
        "ownership": ownership,
        "last_state_run": last_state,
        "grains": grains.map(|g| Value::Object((*g).clone())).unwrap_or(Value::Null),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_run_counts_changed_and_failed_states() {
        let ret = json!({
            "a": {"result": true, "changes": {"diff": "x"}},
            "b": {"result": false, "changes": {}},
            "c": {"result": true, "changes": {}},
        });
        assert_eq!(
            state_counts(&ret),
            json!({"states": 3, "changed": 1, "failed": 1})
        );
        assert_eq!(
            state_counts(&json!("no top file")),
            json!({"error": "no top file"})
        );
    }
}
