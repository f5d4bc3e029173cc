//! `*_in` requisites and `use`/`use_in` (Salt's `requisite_in`): each is
//! turned into an `extend` of the state it names, then merged.

use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::extend::{find_name, reconcile_extend};
use crate::pyrepr::py_str;

const REQ_IN: [&str; 7] = [
    "require_in",
    "watch_in",
    "onfail_in",
    "onchanges_in",
    "use",
    "use_in",
    "prereq_in",
];

const REQ_IN_ALL_EXTRA: [&str; 6] = [
    "require",
    "watch",
    "prereq",
    "onfail",
    "onfail_stop",
    "onchanges",
];

/// The argument names of one state declaration (`state_args`).
fn state_args(id: &str, state: &str, high: &Map<String, Value>) -> Vec<String> {
    let Some(Value::Array(args)) = high.get(id).and_then(|b| b.get(state)) else {
        return Vec::new();
    };
    args.iter()
        .filter_map(Value::as_object)
        .filter(|m| m.len() == 1)
        .filter_map(|m| m.keys().next().cloned())
        .collect()
}

/// IDs (with their state) of every state declared in SLS `sls`.
fn find_sls_ids(sls: &str, high: &Map<String, Value>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (nid, item) in high {
        let Some(body) = item.as_object() else {
            continue;
        };
        if body.get("__sls__").map(py_str).as_deref() == Some(sls) {
            for st in body.keys() {
                if !st.starts_with("__") {
                    out.push((nid.clone(), st.clone()));
                }
            }
        }
    }
    out
}

type Extend = IndexMap<String, Map<String, Value>>;

fn add_req(
    extend: &mut Extend,
    name: &str,
    state: &str,
    rkey: &str,
    entry: Value,
    body: &Map<String, Value>,
) {
    let ext = extend.entry(name.to_string()).or_default();
    if !ext.contains_key(state) {
        ext.insert(state.to_string(), Value::Array(Vec::new()));
    }
    ext.insert(
        "__env__".into(),
        body.get("__env__").cloned().unwrap_or(Value::Null),
    );
    ext.insert(
        "__sls__".into(),
        body.get("__sls__").cloned().unwrap_or(Value::Null),
    );
    let Some(Value::Array(list)) = ext.get_mut(state) else {
        return;
    };
    let mut found = false;
    for item in list.iter_mut() {
        if let Some(Value::Array(reqs)) = item.as_object_mut().and_then(|m| m.get_mut(rkey)) {
            reqs.push(entry.clone());
            found = true;
        }
    }
    if !found {
        let mut m = Map::new();
        m.insert(rkey.to_string(), Value::Array(vec![entry]));
        list.push(Value::Object(m));
    }
}

fn one(key: &str, val: &str) -> Value {
    let mut m = Map::new();
    m.insert(key.to_string(), Value::String(val.to_string()));
    Value::Object(m)
}

/// Copies the args of `from_id`'s `from_state` that `to` does not set.
fn copy_args(high: &Map<String, Value>, from: (&str, &str), ignore: &[String]) -> Vec<Value> {
    let Some(Value::Array(args)) = high.get(from.0).and_then(|b| b.get(from.1)) else {
        return Vec::new();
    };
    args.iter()
        .filter(|a| {
            a.as_object().is_some_and(|m| {
                m.len() == 1
                    && m.keys().next().is_some_and(|k| {
                        !ignore.contains(k)
                            && !REQ_IN.contains(&k.as_str())
                            && !REQ_IN_ALL_EXTRA.contains(&k.as_str())
                            && k != "name"
                            && k != "names"
                    })
            })
        })
        .cloned()
        .collect()
}

/// Applies the `*_in` requisites and `use`; returns Salt's errors.
pub fn requisite_in(high: &mut Map<String, Value>) -> Vec<String> {
    let mut extend: Extend = IndexMap::new();
    let mut errors = Vec::new();
    for (id, body) in high.iter() {
        let Some(body) = body.as_object() else {
            continue;
        };
        let sls = body.get("__sls__").map(py_str).unwrap_or_default();
        for (state, run) in body {
            if state.starts_with("__") {
                continue;
            }
            let Some(run) = run.as_array() else { continue };
            for arg in run {
                let Some(arg) = arg.as_object() else { continue };
                let Some((key, items)) = arg.iter().next() else {
                    continue;
                };
                if !REQ_IN.contains(&key.as_str()) {
                    continue;
                }
                let rkey = key.split('_').next().unwrap_or(key);
                if let Value::Object(items) = items {
                    for (req_state, name) in items {
                        let name = py_str(name);
                        extend.entry(name.clone()).or_default();
                        let mut req_state = req_state.clone();
                        if let Some(dot) = req_state.find('.') {
                            errors.push(format!(
                                "Invalid requisite in {rkey}: {req_state} for {name} in SLS '{sls}'. \
                                 Requisites must not contain dots, did you mean '{}'?",
                                &req_state[..dot]
                            ));
                            req_state.truncate(dot);
                        }
                        add_req(&mut extend, &name, &req_state, rkey, one(state, id), body);
                    }
                }
                let Value::Array(items) = items else { continue };
                // Salt keeps the hinges of earlier items (they are re-applied)
                let mut hinges: Vec<(String, String)> = Vec::new();
                for ind in items {
                    let ind: Map<String, Value> = match ind {
                        Value::Object(m) => m.clone(),
                        other => {
                            let target = py_str(other);
                            if let Some(Value::Object(b)) = high.get(&target) {
                                let Some(first) = b.keys().find(|k| !k.starts_with("__")) else {
                                    continue;
                                };
                                one(first, &target).as_object().cloned().unwrap_or_default()
                            } else {
                                let mut found = None;
                                for (oid, obody) in high.iter() {
                                    let Some(obody) = obody.as_object() else {
                                        continue;
                                    };
                                    for (st8, oargs) in obody {
                                        if st8.starts_with("__") {
                                            continue;
                                        }
                                        for j in oargs.as_array().into_iter().flatten() {
                                            if j.get("name").map(py_str).as_deref()
                                                == Some(target.as_str())
                                            {
                                                found = Some(one(st8, oid));
                                            }
                                        }
                                    }
                                }
                                match found.and_then(|v| v.as_object().cloned()) {
                                    Some(m) => m,
                                    None => continue,
                                }
                            }
                        }
                    };
                    let Some((pstate, pname)) = ind.iter().next() else {
                        continue;
                    };
                    let pname = py_str(pname);
                    if pstate == "sls" {
                        hinges = find_sls_ids(&pname, high);
                    } else {
                        hinges.push((pname.clone(), pstate.clone()));
                    }
                    if let Some(dot) = pstate.find('.') {
                        errors.push(format!(
                            "Invalid requisite in {rkey}: {pstate} for {pname}, in SLS '{sls}'. \
                             Requisites must not contain dots, did you mean '{}'?",
                            &pstate[..dot]
                        ));
                    }
                    for (name, hstate) in hinges.clone() {
                        if key == "use_in" {
                            for (ext_id, req_state) in find_name(&name, &hstate, high, true) {
                                let ignore = state_args(&ext_id, &hstate, high);
                                let args = copy_args(high, (id, state), &ignore);
                                let ext = extend.entry(ext_id.clone()).or_default();
                                let list = ext
                                    .entry(req_state.clone())
                                    .or_insert_with(|| Value::Array(Vec::new()));
                                if let Value::Array(list) = list {
                                    list.extend(args);
                                }
                            }
                            continue;
                        }
                        if key == "use" {
                            for (ext_id, req_state) in find_name(&name, &hstate, high, true) {
                                let ignore = state_args(id, state, high);
                                let args = copy_args(high, (&ext_id, &req_state), &ignore);
                                let ext = extend.entry(id.clone()).or_default();
                                let list = ext
                                    .entry(state.clone())
                                    .or_insert_with(|| Value::Array(Vec::new()));
                                if let Value::Array(list) = list {
                                    list.extend(args);
                                }
                            }
                            continue;
                        }
                        add_req(&mut extend, &name, &hstate, rkey, one(state, id), body);
                    }
                }
            }
        }
    }
    let ext: Vec<Value> = extend
        .into_iter()
        .map(|(k, v)| {
            let mut m = Map::new();
            m.insert(k, Value::Object(v));
            Value::Object(m)
        })
        .collect();
    high.insert("__extend__".into(), Value::Array(ext));
    errors.extend(reconcile_extend(high, true));
    errors
}
