//! Named baselines: the grains and the last state results of the minions a
//! target selects, saved to compare with later (`inventory.baseline save
//! NAME [TARGET]`, `diff NAME`, `list`, `delete NAME`): "what is different
//! from before the incident".

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::{block, history, text_arg, when};
use crate::state::Master;

use super::minion::STATE_FUNS;

pub fn run(master: &Master, arg: &[Value], kwarg: &Map<String, Value>) -> Result<Value, String> {
    let action = text_arg(arg, kwarg, 0, "action").ok_or(
        "inventory.baseline needs an action: save NAME [TARGET], diff NAME, list, delete NAME",
    )?;
    let name = || {
        text_arg(arg, kwarg, 1, "name")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| format!("inventory.baseline {action} needs a NAME"))
    };
    match action.as_str() {
        "save" => {
            let name = name()?;
            let tgt = text_arg(arg, kwarg, 2, "tgt").unwrap_or_else(|| "*".into());
            let snapshot = snapshot(master, &tgt, kwarg)?;
            let count = snapshot.len();
            let data = json!({"minions": snapshot});
            block(master.store.put_baseline(&name, &tgt, &data)).map_err(|e| e.to_string())?;
            Ok(
                json!({"name": name, "target": tgt, "minions": count, "saved": when::iso(crate::store::now_ms())}),
            )
        }
        "diff" => diff(master, &name()?, kwarg),
        "list" => {
            let rows = block(master.store.list_baselines()).map_err(|e| e.to_string())?;
            Ok(Value::Object(
                rows.into_iter()
                    .map(|(n, t, at)| (n, json!({"target": t, "saved": when::iso(at)})))
                    .collect(),
            ))
        }
        "delete" => {
            let name = name()?;
            block(master.store.delete_baseline(&name)).map_err(|e| e.to_string())?;
            Ok(Value::Bool(true))
        }
        other => Err(format!(
            "unknown inventory.baseline action '{other}': save, diff, list or delete"
        )),
    }
}

/// Per minion: its grains, and a summary of its last state run.
fn snapshot(
    master: &Master,
    tgt: &str,
    kwarg: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let ids = super::query::minions_of(master, tgt, kwarg)?;
    let wanted: BTreeSet<&String> = ids.iter().collect();
    let mut states = Map::new();
    for (id, jid, fun, ret, at) in
        block(master.store.last_state_returns(STATE_FUNS, None)).map_err(|e| e.to_string())?
    {
        if wanted.contains(&id) {
            states.insert(
                id,
                json!({"jid": jid, "fun": fun, "time": when::iso(at), "results": summarize(&ret)}),
            );
        }
    }
    Ok(ids
        .iter()
        .map(|id| {
            let grains = master.grains(id).map(|g| (*g).clone()).unwrap_or_default();
            let state = states.remove(id).unwrap_or(Value::Null);
            (id.clone(), json!({"grains": grains, "state": state}))
        })
        .collect())
}

/// A state run's return reduced to what a comparison needs: each state's
/// result and whether it changed something.
fn summarize(ret: &Value) -> Value {
    match ret {
        Value::Object(states) => Value::Object(
            states
                .iter()
                .map(|(k, v)| {
                    let changed = v
                        .get("changes")
                        .is_some_and(|c| c.as_object().is_some_and(|m| !m.is_empty()));
                    (k.clone(), json!({"result": v.get("result").cloned().unwrap_or(Value::Null), "changed": changed}))
                })
                .collect(),
        ),
        other => json!({"_error": other}),
    }
}

fn diff(master: &Master, name: &str, kwarg: &Map<String, Value>) -> Result<Value, String> {
    let (tgt, saved_ms, data) = block(master.store.load_baseline(name))
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!("no baseline named '{name}' (inventory.baseline list shows them)")
        })?;
    let empty = Map::new();
    let before = data["minions"].as_object().unwrap_or(&empty);
    let now = snapshot(master, &tgt, kwarg)?;
    let ids: BTreeSet<&String> = before.keys().chain(now.keys()).collect();
    let mut minions = Map::new();
    for id in ids {
        let entry = match (before.get(id), now.get(id)) {
            (Some(_), None) => {
                json!({"status": "gone: no longer selected by the target (or its key was removed)"})
            }
            (None, Some(_)) => json!({"status": "new: not in the baseline"}),
            (Some(b), Some(n)) => {
                let mut e = Map::new();
                let grains = history::diff(
                    b["grains"].as_object().unwrap_or(&empty),
                    n["grains"].as_object().unwrap_or(&empty),
                );
                if !grains.is_empty() {
                    e.insert("grains".into(), Value::Object(grains));
                }
                let states = history::diff(
                    b["state"]["results"].as_object().unwrap_or(&empty),
                    n["state"]["results"].as_object().unwrap_or(&empty),
                );
                if !states.is_empty() {
                    e.insert("states".into(), Value::Object(states));
                }
                if b["state"]["jid"] != n["state"]["jid"] {
                    e.insert(
                        "last_state_run".into(),
                        json!({"old": b["state"]["time"], "new": n["state"]["time"]}),
                    );
                }
                if e.is_empty() {
                    continue;
                }
                Value::Object(e)
            }
            (None, None) => continue,
        };
        minions.insert(id.clone(), entry);
    }
    Ok(json!({
        "baseline": name,
        "target": tgt,
        "saved": when::iso(saved_ms),
        "differ": minions.len(),
        "minions": minions,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_run_summarizes_to_results_and_whether_it_changed() {
        let ret = json!({
            "file_|-a_|-/etc/a_|-managed": {"result": true, "changes": {"diff": "x"}},
            "pkg_|-b_|-curl_|-installed": {"result": false, "changes": {}},
        });
        assert_eq!(
            summarize(&ret),
            json!({
                "file_|-a_|-/etc/a_|-managed": {"result": true, "changed": true},
                "pkg_|-b_|-curl_|-installed": {"result": false, "changed": false},
            })
        );
        assert_eq!(summarize(&json!("boom")), json!({"_error": "boom"}));
    }
}
