//! `extend:` and `exclude:` (Salt's `reconcile_extend` and `apply_exclude`).

use serde_json::{Map, Value};

use super::graph::glob_match;
use super::REQUISITE_KEYWORDS;
use crate::pyrepr::py_str;

/// IDs whose state `state` matches `name`: the ID itself, every ID of an SLS
/// (`state == "sls"`), or the states whose `name:` argument is `name`.
pub(crate) fn find_name(
    name: &str,
    state: &str,
    high: &Map<String, Value>,
    strict: bool,
) -> Vec<(String, String)> {
    let check2 = !strict
        || high
            .get(name)
            .and_then(Value::as_object)
            .is_some_and(|b| b.contains_key(state));
    if high.contains_key(name) && check2 {
        return vec![(name.to_string(), state.to_string())];
    }
    let mut out = Vec::new();
    if state == "sls" {
        for (nid, item) in high {
            let Some(body) = item.as_object() else {
                continue;
            };
            if body.get("__sls__").and_then(Value::as_str) == Some(name) {
                if let Some(first) = body.keys().next() {
                    out.push((nid.clone(), first.clone()));
                }
            }
        }
        return out;
    }
    for (nid, item) in high {
        let Some(Value::Array(args)) = item.as_object().and_then(|b| b.get(state)) else {
            continue;
        };
        for arg in args {
            if let Some(m) = arg.as_object() {
                if m.len() == 1 && m.values().next().and_then(Value::as_str) == Some(name) {
                    out.push((nid.clone(), state.to_string()));
                }
            }
        }
    }
    out
}

/// Merges `__extend__` into the states it names. Returns Salt's errors.
pub fn reconcile_extend(high: &mut Map<String, Value>, strict: bool) -> Vec<String> {
    let mut errors = Vec::new();
    let Some(ext) = high.shift_remove("__extend__") else {
        return errors;
    };
    let Value::Array(ext) = ext else {
        return errors;
    };
    for ext_chunk in ext {
        let Value::Object(ext_chunk) = ext_chunk else {
            continue;
        };
        for (name, body) in ext_chunk {
            let Value::Object(body) = body else { continue };
            let Some(state_type) = body.keys().find(|k| !k.starts_with("__")).cloned() else {
                continue;
            };
            let mut name = name;
            let known = high
                .get(&name)
                .and_then(Value::as_object)
                .is_some_and(|b| b.contains_key(&state_type));
            if !known {
                let ids = find_name(&name, &state_type, high, strict);
                if ids.len() != 1 {
                    let env = body.get("__env__").map_or("base".into(), py_str);
                    let sls = body.get("__sls__").map_or("base".into(), py_str);
                    errors.push(format!(
                        "Cannot extend ID '{name}' in '{env}:{sls}'. It is not part of the high state.\n\
                         This is likely due to a missing include statement or an incorrectly typed ID.\n\
                         Ensure that a state with an ID of '{name}' is available\n\
                         in environment '{env}' and to SLS '{sls}'"
                    ));
                    continue;
                }
                name = ids[0].0.clone();
            }
            let sls_excludes: Vec<String> = high
                .get("__exclude__")
                .and_then(Value::as_array)
                .map(|ex| {
                    ex.iter()
                        .filter_map(|e| match e {
                            Value::String(s) => Some(s.clone()),
                            Value::Object(m) => {
                                m.get("sls").filter(|v| super::graph::truthy(v)).map(py_str)
                            }
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            if let Some(sls) = body.get("__sls__") {
                if sls_excludes.contains(&py_str(sls)) {
                    continue;
                }
            }
            let Some(Value::Object(target)) = high.get_mut(&name) else {
                continue;
            };
            for (state, run) in body {
                if state.starts_with("__") {
                    continue;
                }
                let Some(Value::Array(existing)) = target.get_mut(&state) else {
                    target.insert(state, run);
                    continue;
                };
                let Value::Array(run) = run else { continue };
                merge_args(existing, run);
            }
        }
    }
    errors
}

fn first_key(v: &Value) -> Option<&str> {
    v.as_object()
        .and_then(|m| m.keys().next())
        .map(String::as_str)
}

fn merge_args(existing: &mut Vec<Value>, run: Vec<Value>) {
    for arg in run {
        let mut update = false;
        #[allow(clippy::needless_range_loop)] // entries are replaced in place by index
        for hind in 0..existing.len() {
            if arg.is_string() && existing[hind].is_string() {
                // replacing the function
                existing[hind] = arg.clone();
                update = true;
                continue;
            }
            if let (Some(argfirst), Some(valfirst)) = (first_key(&arg), first_key(&existing[hind]))
            {
                let argfirst = argfirst.to_string();
                let valfirst = valfirst.to_string();
                if argfirst == valfirst {
                    let add = arg.get(&argfirst).cloned().unwrap_or(Value::Null);
                    match (existing[hind].get_mut(&argfirst), add) {
                        (Some(Value::Array(have)), Value::Array(more))
                            if REQUISITE_KEYWORDS.contains(&argfirst.as_str()) =>
                        {
                            have.extend(more);
                        }
                        _ => existing[hind] = arg.clone(),
                    }
                    update = true;
                }
                if argfirst == "name" && first_key(&existing[hind]) == Some("names") {
                    existing[hind] = arg.clone();
                }
            }
        }
        if !update {
            existing.push(arg);
        }
    }
}

/// Removes the states `__exclude__` names (`- sls: x` globs, `- id: y`).
pub fn apply_exclude(high: &mut Map<String, Value>) {
    let Some(Value::Array(exclude)) = high.shift_remove("__exclude__") else {
        return;
    };
    let mut ex_sls = Vec::new();
    let mut ex_id = Vec::new();
    for exc in exclude {
        match exc {
            Value::String(s) => ex_sls.push(s),
            Value::Object(m) if m.len() == 1 => {
                if let Some(v) = m.get("sls") {
                    ex_sls.push(py_str(v));
                } else if let Some(v) = m.get("id") {
                    ex_id.push(py_str(v));
                }
            }
            _ => {}
        }
    }
    if !ex_sls.is_empty() {
        for (name, body) in high.iter() {
            if name.starts_with("__") {
                continue;
            }
            let sls = body.get("__sls__").map(py_str).unwrap_or_default();
            if sls.is_empty() {
                continue;
            }
            if ex_sls.iter().any(|p| glob_match(p, &sls)) {
                ex_id.push(name.clone());
            }
        }
    }
    for id in ex_id {
        high.shift_remove(&id);
    }
}
