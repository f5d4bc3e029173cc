//! Structural checks on high data (Salt's `_verify_high`), with Salt's words.

use serde_json::{Map, Value};

use super::REQUISITE_KEYWORDS;
use crate::pyrepr::{py_repr, py_str};

/// Every structural error in `high`, in Salt's words and order.
pub fn verify_high(high: &Map<String, Value>) -> Vec<String> {
    let mut errors = Vec::new();
    for (id, body) in high {
        if id.starts_with("__") {
            continue;
        }
        let Value::Object(body) = body else {
            errors.push(format!(
                "The type {id} in {} is not formatted as a dictionary",
                py_str(body)
            ));
            continue;
        };
        let sls = body.get("__sls__").map(py_str).unwrap_or_default();
        for (state, run) in body {
            if state.starts_with("__") {
                continue;
            }
            if run.is_null() {
                errors.push(format!(
                    "ID '{id}' in SLS '{sls}' contains a short declaration ({state}) with a trailing colon. \
                     When not passing any arguments to a state, the colon must be omitted."
                ));
                continue;
            }
            let Value::Array(args) = run else {
                errors.push(format!(
                    "State '{id}' in SLS '{sls}' is not formed as a list"
                ));
                continue;
            };
            let mut fun_count = usize::from(state.contains('.'));
            for arg in args {
                match arg {
                    Value::String(fun) => {
                        fun_count += 1;
                        if fun.trim().contains(' ') {
                            errors.push(format!(
                                "The function \"{fun}\" in state \"{id}\" in SLS \"{sls}\" has whitespace, \
                                 a function with whitespace is not supported, perhaps this is an argument \
                                 that is missing a \":\""
                            ));
                        }
                    }
                    Value::Object(arg) => verify_arg(id, &sls, arg, &mut errors),
                    _ => {}
                }
            }
            if fun_count == 0 {
                errors.push(format!(
                    "No function declared in state '{id}' in SLS '{sls}'"
                ));
            } else if fun_count > 1 {
                let mut funs: Vec<String> = Vec::new();
                if let Some((_, f)) = state.split_once('.') {
                    funs.push(f.to_string());
                }
                funs.extend(args.iter().filter_map(Value::as_str).map(str::to_string));
                errors.push(format!(
                    "Too many functions declared in state '{id}' in SLS '{sls}'. \
                     Please choose one of the following: {}",
                    funs.join(", ")
                ));
            }
        }
    }
    errors
}

fn verify_arg(id: &str, sls: &str, arg: &Map<String, Value>, errors: &mut Vec<String>) {
    let Some((argfirst, value)) = arg.iter().next() else {
        return;
    };
    if argfirst == "names" && !value.is_array() {
        errors.push(format!(
            "The 'names' argument in state '{id}' in SLS '{sls}' needs to be formed as a list"
        ));
    }
    if !REQUISITE_KEYWORDS.contains(&argfirst.as_str()) {
        return;
    }
    match value {
        Value::Array(reqs) => {
            for req in reqs {
                let req = match req {
                    Value::String(s) => {
                        let mut m = Map::new();
                        m.insert("id".into(), Value::String(s.clone()));
                        Value::Object(m)
                    }
                    other => other.clone(),
                };
                let Some(m) = req.as_object().filter(|m| m.len() == 1) else {
                    errors.push(format!(
                        "Requisite declaration {} in state {id} in SLS {sls} is not formed as a single key dictionary",
                        py_repr(&req)
                    ));
                    continue;
                };
                let Some((req_key, req_val)) = m.iter().next() else {
                    continue;
                };
                if let Some(dot) = req_key.find('.') {
                    errors.push(format!(
                        "Invalid requisite type '{req_key}' in state '{id}', in SLS '{sls}'. \
                         Requisite types must not contain dots, did you mean '{}'?",
                        &req_key[..dot]
                    ));
                }
                if req_val.is_array() || req_val.is_object() {
                    errors.push(format!(
                        "Illegal requisite \"{}\" in SLS \"{sls}\", please check your syntax.\n",
                        py_str(req_val)
                    ));
                    continue;
                }
            }
        }
        _ => errors.push(format!(
            "The {argfirst} statement in state '{id}' in SLS '{sls}' needs to be formed as a list"
        )),
    }
    if arg.len() != 1 {
        errors.push(format!(
            "Multiple dictionaries defined in argument of state '{id}' in SLS '{sls}'"
        ));
    }
}
