//! `module.run` / `module.wait`: calling execution functions from a state,
//! through the minion's function table ([`ExecCaller`]).
//!
//! Salt's current syntax names the functions as keys, each with its list of
//! arguments (a one-key dict in the list is a keyword argument):
//!
//! ```yaml
//! restart-and-log:
//!   module.run:
//!     - service.restart:
//!       - nginx
//!     - test.echo:
//!       - text: done
//! ```
//!
//! The legacy syntax (`- name: service.restart`, the function's own `name`
//! argument as `m_name`, every other key a keyword argument) is accepted
//! when no key names a function.

use serde_json::{Map, Value};

use crate::caller::{CallError, ExecCaller};
use crate::ctx::{StateArgs, StateCtx};
use crate::pyrepr::py_str;
use crate::registry::StateSpec;
use crate::result::StateResult;

pub const STATES: &[StateSpec] = &[
    StateSpec {
        name: "module.run",
        doc: "Run execution functions.\n\n\
              mod.fun: one key per function (`mod.fun:alias` to call one function twice), \
              each with a list of arguments; a one-key dict in the list is a keyword argument\n\
              legacy syntax: name: the function, m_name/m_fun: its own name/fun arguments, \
              other keys its keyword arguments\n\
              The state fails when a function fails, returns False, or returns a dict with a \
              non-zero retcode or result False; changes hold each function's return.",
        run,
        mod_watch: Some(run),
    },
    StateSpec {
        name: "module.wait",
        doc: "Run execution functions only when a watched state changes (as module.run, \
              through watch); otherwise do nothing.\n\n\
              Arguments as module.run.",
        run: wait,
        mod_watch: Some(run),
    },
];

/// The keys that name functions: `mod.fun` or `mod.fun:alias`.
fn function_keys(args: &StateArgs) -> Vec<String> {
    args.args
        .keys()
        .filter(|k| k.split(':').next().is_some_and(|f| f.contains('.')))
        .cloned()
        .collect()
}

fn wait(_ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    StateResult::ok(&args.name, "")
}

fn run(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let functions = function_keys(args);
    if functions.is_empty() {
        legacy_run(ctx, args)
    } else {
        new_run(ctx, args, &functions)
    }
}

/// Salt's `call_function`: a one-key (or several-key) dict in the list is
/// keyword arguments, anything else a positional argument; a lone dict is
/// all keywords, a lone scalar the one positional argument.
fn split_args(given: Option<&Value>) -> (Vec<Value>, Map<String, Value>) {
    let mut pos = Vec::new();
    let mut kw = Map::new();
    let items: Vec<Value> = match given {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list.clone(),
        Some(other) => vec![other.clone()],
    };
    for item in items {
        match item {
            Value::Object(m) => kw.extend(m),
            other => pos.push(other),
        }
    }
    (pos, kw)
}

/// Whether a function's return counts as success (Salt's `_get_result`).
fn succeeded(ret: &Value) -> bool {
    match ret {
        Value::Bool(b) => *b,
        Value::Object(m) => {
            let retcode_bad = m
                .get("retcode")
                .is_some_and(|c| c.as_i64().is_some_and(|c| c != 0));
            if retcode_bad {
                return false;
            }
            match m.get("result") {
                Some(Value::Bool(b)) => *b,
                _ => true,
            }
        }
        _ => true,
    }
}

fn plural(n: usize) -> &'static str {
    if n > 1 {
        "s"
    } else {
        ""
    }
}

fn call(caller: &dyn ExecCaller, fun: &str, given: Option<&Value>) -> Result<Value, CallError> {
    let (pos, kw) = split_args(given);
    caller.call(fun, pos, kw)
}

/// The current syntax (Salt's `_run`).
fn new_run(ctx: &StateCtx<'_>, args: &StateArgs, functions: &[String]) -> StateResult {
    let base = |key: &str| key.split(':').next().unwrap_or(key).to_string();
    let missing: Vec<String> = functions
        .iter()
        .map(|f| base(f))
        .filter(|f| !ctx.caller.has(f))
        .collect();
    if !missing.is_empty() {
        return StateResult::fail(
            &args.name,
            format!(
                "Unavailable function{}: {}.",
                plural(missing.len()),
                missing.join(", ")
            ),
        );
    }
    if ctx.test {
        let names: Vec<String> = functions.iter().map(|f| base(f)).collect();
        return StateResult::would(
            &args.name,
            format!(
                "Function{} {} to be executed.",
                plural(names.len()),
                names.join(", ")
            ),
            Map::new(),
        );
    }
    let mut ret = StateResult::new(&args.name);
    let mut failures = Vec::new();
    let mut success = Vec::new();
    for key in functions {
        match call(ctx.caller, &base(key), args.args.get(key)) {
            Ok(value) if succeeded(&value) => {
                let said = match &value {
                    Value::Object(m) => m.get("comment").map(py_str).unwrap_or("Success".into()),
                    other => py_str(other),
                };
                success.push(format!("{key}: {said}"));
                ret.changes.insert(key.clone(), value);
            }
            Ok(value) => failures.push(match &value {
                Value::Object(m) => format!(
                    "'{key}' failed: {}",
                    m.get("comment")
                        .map(py_str)
                        .unwrap_or("(error message N/A)".into())
                ),
                other => format!("'{key}': {}", py_str(other)),
            }),
            Err(e) => failures.push(format!("'{key}' failed: {e}")),
        }
    }
    ret.result = Some(failures.is_empty());
    failures.extend(success);
    ret.comment = failures.join(", ");
    ret
}

/// The legacy syntax: `name` is the function.
fn legacy_run(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let fun = &args.name;
    if !ctx.caller.has(fun) {
        return StateResult::fail(fun, format!("Module function {fun} is not available"));
    }
    if ctx.test {
        return StateResult::would(
            fun,
            format!("Module function {fun} is set to execute"),
            Map::new(),
        );
    }
    let mut kwargs = Map::new();
    for (k, v) in &args.args {
        let key = match k.as_str() {
            "name" => continue,
            "m_name" => "name",
            "m_fun" => "fun",
            other => other,
        };
        if k == "kwargs" {
            if let Value::Object(m) = v {
                kwargs.extend(m.clone());
                continue;
            }
        }
        kwargs.insert(key.to_string(), v.clone());
    }
    let positional = match kwargs.remove("args") {
        Some(Value::Array(list)) => list,
        Some(other) => vec![other],
        None => Vec::new(),
    };
    match ctx.caller.call(fun, positional, kwargs) {
        Err(e) => StateResult::fail(
            fun,
            format!("Module function {fun} threw an exception. Exception: {e}"),
        ),
        Ok(value) => {
            let mut ret = StateResult::ok(fun, format!("Module function {fun} executed"));
            ret.result = Some(succeeded(&value));
            if !value.is_null() {
                ret.changes.insert("ret".into(), value);
            }
            ret
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{apply, RunOpts};
    use crate::source::LocalRoots;
    use serde_json::json;

    /// A few functions with Salt's behaviours: echo, a failing one, one
    /// returning False and one returning a dict with a retcode.
    struct Fake;
    impl ExecCaller for Fake {
        fn call(
            &self,
            fun: &str,
            args: Vec<Value>,
            kw: Map<String, Value>,
        ) -> Result<Value, CallError> {
            match fun {
                "test.echo" => Ok(kw
                    .get("text")
                    .cloned()
                    .or(args.first().cloned())
                    .unwrap_or(Value::Null)),
                "test.arg" => Ok(json!({"args": args, "kwargs": kw})),
                "test.false" => Ok(json!(false)),
                "cmd.run_all" => Ok(json!({"retcode": 2, "stdout": "", "comment": "exit 2"})),
                "boom.fail" => Err(CallError::Failed("it broke".into())),
                _ => Err(CallError::Unknown(fun.into())),
            }
        }
        fn has(&self, fun: &str) -> bool {
            [
                "test.echo",
                "test.arg",
                "test.false",
                "cmd.run_all",
                "boom.fail",
            ]
            .contains(&fun)
        }
    }

    fn apply_sls(body: Value, test: bool) -> Map<String, Value> {
        let grains = Map::new();
        let pillar = json!({});
        let roots = LocalRoots::default();
        let cache = tempfile::TempDir::new().unwrap();
        let ctx = StateCtx {
            test,
            saltenv: "base".into(),
            grains: &grains,
            pillar: &pillar,
            files: &roots,
            templates: &crate::modules::file::testkit::Subst,
            caller: &Fake,
            cachedir: cache.path().to_path_buf(),
            cancel: Default::default(),
            run: Default::default(),
        };
        let mut high = Map::new();
        for (i, (id, b)) in body.as_object().unwrap().iter().enumerate() {
            let mut b = b.as_object().unwrap().clone();
            for list in b.values_mut() {
                list.as_array_mut()
                    .unwrap()
                    .push(json!({"order": 10000 + i}));
            }
            b.insert("__sls__".into(), json!("t"));
            b.insert("__env__".into(), json!("base"));
            high.insert(id.clone(), Value::Object(b));
        }
        apply(&high, &ctx, &RunOpts::default()).unwrap()
    }

    fn by_id<'a>(ret: &'a Map<String, Value>, id: &str) -> &'a Value {
        ret.iter()
            .find(|(k, _)| k.contains(&format!("_|-{id}_|-")))
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no {id} in {ret:?}"))
    }

    #[test]
    fn new_syntax_calls_each_function_with_its_args() {
        let ret = apply_sls(
            json!({
                "ok": {"module": ["run",
                    {"test.echo": ["hi"]},
                    {"test.arg": [1, {"k": "v"}]},
                    {"test.echo:again": [{"text": "bye"}]}]},
                "bad": {"module": ["run", {"test.echo": ["x"]}, {"test.false": null}, {"cmd.run_all": ["false"]}]},
                "err": {"module": ["run", {"boom.fail": []}]},
                "missing": {"module": ["run", {"no.such": []}]},
            }),
            false,
        );
        let ok = by_id(&ret, "ok");
        assert_eq!(ok["result"], json!(true), "{ok}");
        assert_eq!(ok["changes"]["test.echo"], json!("hi"));
        assert_eq!(
            ok["changes"]["test.arg"],
            json!({"args": [1], "kwargs": {"k": "v"}})
        );
        assert_eq!(ok["changes"]["test.echo:again"], json!("bye"));
        assert!(ok["comment"].as_str().unwrap().contains("test.echo: hi"));
        let bad = by_id(&ret, "bad");
        assert_eq!(bad["result"], json!(false));
        let c = bad["comment"].as_str().unwrap();
        assert!(
            c.starts_with("'test.false': False, 'cmd.run_all' failed: exit 2"),
            "{c}"
        );
        assert_eq!(bad["changes"], json!({"test.echo": "x"}));
        let err = by_id(&ret, "err");
        assert_eq!(err["result"], json!(false));
        assert_eq!(err["comment"], json!("'boom.fail' failed: it broke"));
        let missing = by_id(&ret, "missing");
        assert_eq!(missing["result"], json!(false));
        assert_eq!(missing["comment"], json!("Unavailable function: no.such."));
    }

    #[test]
    fn test_mode_says_what_would_run() {
        let ret = apply_sls(
            json!({"x": {"module": ["run", {"test.echo": ["hi"]}]}}),
            true,
        );
        let x = by_id(&ret, "x");
        assert_eq!(x["result"], Value::Null);
        assert_eq!(x["comment"], json!("Function test.echo to be executed."));
    }

    #[test]
    fn legacy_syntax_maps_m_name_and_keywords() {
        let ret = apply_sls(
            json!({
                "test.arg": {"module": ["run", {"m_name": "nginx"}, {"other": 3}]},
                "f": {"module": ["run", {"name": "test.false"}]},
            }),
            false,
        );
        let a = by_id(&ret, "test.arg");
        assert_eq!(a["result"], json!(true));
        assert_eq!(a["comment"], json!("Module function test.arg executed"));
        assert_eq!(
            a["changes"]["ret"]["kwargs"],
            json!({"name": "nginx", "other": 3})
        );
        let f = by_id(&ret, "f");
        assert_eq!(f["result"], json!(false));
    }
}
