//! `onlyif`, `unless` and `creates`, for every state (Salt's `_run_check`).

use serde_json::{Map, Value};

use crate::ctx::StateCtx;
use crate::high::graph::truthy;
use crate::modules::cmd::{run_all, CmdOpts};
use crate::pyrepr::{py_repr, py_str};

/// The outcome of one check: `result: true` means "do not run the state".
struct Check {
    result: bool,
    comment: Option<String>,
    skip_watch: bool,
}

/// Salt's `_run_check`: a partial result (`result`, `comment`, `__sls__`,
/// `__id__`, `name`, maybe `skip_watch`); the state runs only when
/// `result` is false.
pub fn run_check(ctx: &StateCtx<'_>, low: &Map<String, Value>) -> Map<String, Value> {
    let exclude: Vec<String> = match low.get("cmd_opts_exclude") {
        Some(Value::Array(a)) => a.iter().map(py_str).collect(),
        Some(v) => vec![py_str(v)],
        None => Vec::new(),
    };
    let mut cmd_args = Map::new();
    for key in [
        "cwd",
        "runas",
        "env",
        "timeout",
        "success_retcodes",
        "shell",
    ] {
        if !exclude.iter().any(|e| e == key) {
            if let Some(v) = low.get(key) {
                cmd_args.insert(key.to_string(), v.clone());
            }
        }
    }
    let opts = CmdOpts::from_args(ctx, &cmd_args).unwrap_or_default();
    let mut result = false;
    let mut comments: Vec<String> = Vec::new();
    let mut skip_watch = false;
    if let Some(v) = low.get("onlyif") {
        let c = onlyif(ctx, v, &opts);
        result = c.result;
        comments.extend(c.comment);
        skip_watch |= c.skip_watch;
    }
    if let Some(v) = low.get("unless") {
        let c = unless(ctx, v, &opts);
        result = c.result || result;
        comments.extend(c.comment);
        skip_watch |= c.skip_watch;
    }
    if let Some(v) = low.get("creates") {
        let c = creates(v);
        result = c.result || result;
        comments.extend(c.comment);
        skip_watch |= c.skip_watch;
    }
    let mut ret = Map::new();
    ret.insert("result".into(), Value::Bool(result));
    ret.insert("comment".into(), Value::String(comments.join("\n")));
    for key in ["__sls__", "__id__", "name"] {
        ret.insert(key.into(), low.get(key).cloned().unwrap_or(Value::Null));
    }
    if skip_watch {
        ret.insert("skip_watch".into(), Value::Bool(true));
    }
    ret
}

fn entries(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    }
}

/// Calls `{fun: mod.fun, args: [...], get_return: a:b, **kwargs}`.
fn call_function(ctx: &StateCtx<'_>, entry: &Map<String, Value>) -> Value {
    let mut kwargs = entry.clone();
    let fun = kwargs
        .shift_remove("fun")
        .map(|f| py_str(&f))
        .unwrap_or_default();
    let args = match kwargs.shift_remove("args") {
        Some(Value::Array(a)) => a,
        Some(v) => vec![v],
        None => Vec::new(),
    };
    let get_return = kwargs.shift_remove("get_return").map(|g| py_str(&g));
    let mut result = ctx
        .caller
        .call(&fun, args, kwargs)
        .unwrap_or(Value::Bool(false));
    if let Some(path) = get_return {
        for part in path.split(':') {
            result = match &result {
                Value::Object(m) => m.get(part).cloned().unwrap_or(Value::Null),
                Value::Array(a) => part
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| a.get(i).cloned())
                    .unwrap_or(Value::Null),
                _ => Value::Null,
            };
        }
    }
    result
}

fn onlyif(ctx: &StateCtx<'_>, v: &Value, opts: &CmdOpts) -> Check {
    let mut ret = Check {
        result: false,
        comment: None,
        skip_watch: false,
    };
    let is_false = |ret: &mut Check| {
        ret.comment = Some("onlyif condition is false".into());
        ret.skip_watch = true;
        ret.result = true;
    };
    for entry in entries(v) {
        match &entry {
            Value::String(cmd) => {
                let code = run_all(cmd, opts).map_or(100, |o| o.retcode);
                if code != 0 && !ret.result {
                    is_false(&mut ret);
                    return ret;
                } else if code == 0 {
                    ret.comment = Some("onlyif condition is true".into());
                    ret.result = false;
                }
            }
            Value::Object(m) => {
                if !m.contains_key("fun") {
                    ret.comment = Some(format!("no `fun` argument in onlyif: {}", py_repr(&entry)));
                    return ret;
                }
                if !truthy(&call_function(ctx, m)) {
                    is_false(&mut ret);
                    return ret;
                }
                ret.comment = Some("onlyif condition is true".into());
                ret.result = false;
            }
            _ => {
                ret.comment = Some("onlyif execution failed, bad type passed".into());
                ret.result = false;
                return ret;
            }
        }
    }
    ret
}

fn unless(ctx: &StateCtx<'_>, v: &Value, opts: &CmdOpts) -> Check {
    let mut ret = Check {
        result: false,
        comment: None,
        skip_watch: false,
    };
    let is_true = |ret: &mut Check| {
        ret.comment = Some("unless condition is true".into());
        ret.skip_watch = true;
        ret.result = true;
    };
    let is_false = |ret: &mut Check| {
        ret.skip_watch = false;
        ret.comment = Some("unless condition is false".into());
        ret.result = false;
    };
    for entry in entries(v) {
        match &entry {
            Value::String(cmd) => {
                // a command that cannot start counts as "true": skip
                let code = run_all(cmd, opts).map_or(0, |o| o.retcode);
                if code == 0 {
                    is_true(&mut ret);
                } else {
                    is_false(&mut ret);
                    return ret;
                }
            }
            Value::Object(m) => {
                if !m.contains_key("fun") {
                    ret.comment = Some(format!("no `fun` argument in unless: {}", py_repr(&entry)));
                    return ret;
                }
                if truthy(&call_function(ctx, m)) {
                    is_true(&mut ret);
                } else {
                    is_false(&mut ret);
                    return ret;
                }
            }
            _ => {
                ret.comment = Some("unless condition is false, bad type passed".into());
                ret.result = false;
            }
        }
    }
    ret
}

fn creates(v: &Value) -> Check {
    let exists = |p: &Value| std::path::Path::new(&py_str(p)).exists();
    match v {
        Value::String(path) if exists(v) => Check {
            result: true,
            comment: Some(format!("{path} exists")),
            skip_watch: true,
        },
        Value::Array(paths) if paths.iter().all(exists) => Check {
            result: true,
            comment: Some("All files in creates exist".into()),
            skip_watch: true,
        },
        _ => Check {
            result: false,
            comment: Some("Creates files not found".into()),
            skip_watch: false,
        },
    }
}
