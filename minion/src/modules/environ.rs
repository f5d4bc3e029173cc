//! `environ.*`: the minion process's environment, as Salt's `environ`
//! module reads and changes it. What is set here is inherited by every
//! command the minion runs afterwards (`cmd.run`, states), until restart.

use serde_json::{json, Map, Value};

use crate::registry::{as_str_list, Args, CallCtx, FunctionSpec, ModFuture};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "environ.get",
        doc: "Return the value of an environment variable of the minion process.\n\n\
              - key: the variable.\n\
              - default: what to return when it is not set (default '').",
        cli_example: "brine '*' environ.get foo",
        run: get,
    },
    FunctionSpec {
        name: "environ.has_value",
        doc: "Return whether the variable is set (or, with value, set to exactly that).\n\n\
              - key: the variable.\n\
              - value: the value to compare with.",
        cli_example: "brine '*' environ.has_value foo bar",
        run: has_value,
    },
    FunctionSpec {
        name: "environ.item",
        doc: "Return {key: value} for the given variables ('' or default when unset).\n\n\
              - keys: a variable or a list of them.\n\
              - default: the value of unset ones (default '').",
        cli_example: "brine '*' environ.item '[foo, baz]' default=''",
        run: item,
    },
    FunctionSpec {
        name: "environ.items",
        doc: "Return the whole environment of the minion process as a dict.",
        cli_example: "brine '*' environ.items",
        run: items,
    },
    FunctionSpec {
        name: "environ.setenv",
        doc: "Set several variables at once: {key: value set, or None when unset}; False when\n\
              environ is not a dict or a value is neither a string nor False.\n\n\
              - environ: {key: value}; a value of False sets '' (or unsets with false_unsets).\n\
              - false_unsets: a False value removes the variable (default False).\n\
              - clear_all: also unset (or empty) every variable not in environ (default False).\n\
              - update_minion, permanent: accepted for Salt compatibility; Brine does neither.",
        cli_example: "brine '*' environ.setenv '{\"foo\": \"bar\", \"baz\": \"quux\"}'",
        run: setenv,
    },
    FunctionSpec {
        name: "environ.setval",
        doc:
            "Set one variable; the value set, None when unset, False when val is not a string.\n\n\
              - key: the variable.\n\
              - val: the value; False sets '' (or unsets with false_unsets).\n\
              - false_unsets: a False val removes the variable (default False).",
        cli_example: "brine '*' environ.setval foo bar",
        run: setval_fn,
    },
];

fn var(key: &str) -> Option<String> {
    std::env::var_os(key).map(|v| v.to_string_lossy().to_string())
}

/// Salt's `setval`: a string is set, False empties (or unsets) the variable.
fn setval(key: &str, val: &Value, false_unsets: bool) -> Value {
    // The process environment cannot hold these.
    let unusable = key.is_empty() || key.contains(['=', '\0']);
    match val {
        Value::Bool(false) if false_unsets && !unusable => {
            std::env::remove_var(key);
            Value::Null
        }
        Value::Bool(false) => setval(key, &json!(""), false),
        Value::String(s) if !unusable && !s.contains('\0') => {
            std::env::set_var(key, s);
            json!(var(key).unwrap_or_default())
        }
        _ => json!(false),
    }
}

fn get(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let key = a.take_str("key", 0)?;
        let default = a.opt("default", 1)?.unwrap_or(json!(""));
        a.finish()?;
        Ok(var(&key).map(Value::from).unwrap_or(default).into())
    })
}

fn has_value(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let key = a.take_str("key", 0)?;
        let value = a.opt_str("value", 1)?;
        a.finish()?;
        let have = var(&key);
        let answer = match value {
            None => have.is_some(),
            Some(v) => have.as_deref() == Some(v.as_str()),
        };
        Ok(json!(answer).into())
    })
}

fn item(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let keys = a.take("keys", 0)?;
        let keys = as_str_list("keys", &keys)?;
        let default = a.opt("default", 1)?.unwrap_or(json!(""));
        a.finish()?;
        let out: Map<String, Value> = keys
            .into_iter()
            .map(|k| {
                let v = var(&k).map(Value::from).unwrap_or_else(|| default.clone());
                (k, v)
            })
            .collect();
        Ok(Value::Object(out).into())
    })
}

fn items(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        args.parser().finish()?;
        let out: Map<String, Value> = std::env::vars_os()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().to_string(),
                    json!(v.to_string_lossy().to_string()),
                )
            })
            .collect();
        Ok(Value::Object(out).into())
    })
}

fn setval_fn(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let key = a.take_str("key", 0)?;
        let val = a.take("val", 1)?;
        let false_unsets = a.opt_bool("false_unsets", 2)?.unwrap_or(false);
        a.ignore(&["permanent"]);
        a.finish()?;
        Ok(setval(&key, &val, false_unsets).into())
    })
}

fn setenv(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let environ = a.take("environ", 0)?;
        let false_unsets = a.opt_bool("false_unsets", 1)?.unwrap_or(false);
        let clear_all = a.opt_bool("clear_all", 2)?.unwrap_or(false);
        a.ignore(&["update_minion", "permanent"]);
        a.finish()?;
        let Value::Object(environ) = environ else {
            return Ok(json!(false).into());
        };
        // Salt checks values while setting; checking first leaves the
        // environment untouched when one is bad.
        if environ
            .values()
            .any(|v| !matches!(v, Value::String(_) | Value::Bool(false)))
        {
            return Ok(json!(false).into());
        }
        let mut ret = Map::new();
        if clear_all {
            let others: Vec<String> = std::env::vars_os()
                .map(|(k, _)| k.to_string_lossy().to_string())
                .filter(|k| !environ.contains_key(k))
                .collect();
            for k in others {
                let v = setval(&k, &json!(false), false_unsets);
                ret.insert(k, v);
            }
        }
        for (k, v) in &environ {
            ret.insert(k.clone(), setval(k, v, false_unsets));
        }
        Ok(Value::Object(ret).into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{test_call, test_ctx, ModFn};

    async fn call(f: ModFn, name: &'static str, arg: Value, kw: Value) -> Value {
        test_call(test_ctx(), f, name, arg, kw).await.unwrap()
    }

    /// Each test uses its own variable names: tests share the process.
    #[tokio::test]
    async fn set_read_and_unset_this_process_environment() {
        let k = format!("BRINE_ENVIRON_TEST_{}", std::process::id());
        assert_eq!(call(get, "environ.get", json!([k]), json!({})).await, "");
        assert_eq!(
            call(get, "environ.get", json!([k, "dflt"]), json!({})).await,
            "dflt"
        );
        assert_eq!(
            call(has_value, "environ.has_value", json!([k]), json!({})).await,
            false
        );
        assert_eq!(
            call(setval_fn, "environ.setval", json!([k, "v1"]), json!({})).await,
            "v1"
        );
        assert_eq!(std::env::var(&k).unwrap(), "v1");
        assert_eq!(
            call(has_value, "environ.has_value", json!([k, "v1"]), json!({})).await,
            true
        );
        assert_eq!(
            call(has_value, "environ.has_value", json!([k, "v2"]), json!({})).await,
            false
        );
        assert_eq!(
            call(items, "environ.items", json!([]), json!({})).await[&k],
            "v1"
        );
        let k2 = format!("{k}_B");
        let set = call(
            setenv,
            "environ.setenv",
            json!([{&k: false, &k2: "x"}]),
            json!({}),
        )
        .await;
        assert_eq!(set, json!({&k: "", &k2: "x"}));
        assert_eq!(
            call(item, "environ.item", json!([[&k, &k2]]), json!({})).await,
            json!({&k: "", &k2: "x"})
        );
        let unset = call(
            setenv,
            "environ.setenv",
            json!([{&k: false}]),
            json!({"false_unsets": true}),
        )
        .await;
        assert_eq!(unset, json!({&k: null}));
        assert!(std::env::var_os(&k).is_none());
        assert_eq!(
            call(setenv, "environ.setenv", json!([{&k: 5}]), json!({})).await,
            false
        );
        assert_eq!(
            call(setenv, "environ.setenv", json!(["notadict"]), json!({})).await,
            false
        );
        assert_eq!(
            call(setval_fn, "environ.setval", json!([k, 5]), json!({})).await,
            false
        );
        std::env::remove_var(&k2);
    }
}
