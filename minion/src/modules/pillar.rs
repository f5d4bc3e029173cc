//! `pillar.*`: read the minion's pillar, the way SLS files do with
//! `salt['pillar.get']('pkg:apache')`.
//!
//! Salt's `pillar.items`, `pillar.ls` and `pillar.obfuscate` ask the master
//! for a freshly compiled pillar; here they read the pillar the minion holds
//! (`pillar.raw`'s view), which is the same until the pillar changes on the
//! master between refreshes.

use serde_json::{json, Map, Value};

use super::data::{dict_update, python_type, traverse, DEFAULT_DELIMITER};
use crate::registry::{as_bool, as_str, Args, CallCtx, FunctionSpec, ModError, ModFuture};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "pillar.data",
        doc: "Same as pillar.items.",
        cli_example: "brine '*' pillar.data",
        run: items,
    },
    FunctionSpec {
        name: "pillar.get",
        doc: "Return the value of a pillar key, or of a key nested in it, or the default.\n\n\
              - key: the key; `a:b:c` walks into dicts, and into lists by index (`users:0`) \
              or by the key of a dict in the list.\n\
              - default: returned when the key is missing (default '', or an error when the \
              minion option pillar_raise_on_missing is set).\n\
              - merge: when the default is a dict (or list) and the value too, return the \
              default with the value merged into it recursively (default False).\n\
              - merge_nested_lists: with merge, extend nested lists instead of replacing \
              them (default: the minion option pillar_merge_lists).\n\
              - delimiter: separator of nested keys (default ':').\n\
              - pillarenv, saltenv, unmask: accepted for Salt compatibility.",
        cli_example:
            "brine '*' pillar.get pkg:apache\nbrine '*' pillar.get abc::def|ghi delimiter='|'",
        run: get,
    },
    FunctionSpec {
        name: "pillar.item",
        doc:
            "Return one or more pillar keys as {key: value}; missing ones read as the default.\n\n\
              - keys: pillar keys, nested keys allowed.\n\
              - default: for missing keys (default '').\n\
              - delimiter: separator of nested keys (default ':').",
        cli_example: "brine '*' pillar.item foo\nbrine '*' pillar.item foo bar baz",
        run: item,
    },
    FunctionSpec {
        name: "pillar.items",
        doc: "Return the whole pillar of the minion.\n\n\
              - keys: when given, the same as pillar.item with them.\n\
              - pillar: a dict merged over the result (Salt's pillar override).\n\
              - pillar_enc, pillarenv, saltenv, unmask: accepted for Salt compatibility.",
        cli_example: "brine '*' pillar.items",
        run: items,
    },
    FunctionSpec {
        name: "pillar.keys",
        doc: "Return the keys of a dict in the pillar.\n\n\
              - key: the dict's key, nested keys allowed.\n\
              - delimiter: separator of nested keys (default ':').\n\n\
              Fails when the key is missing or its value is not a dict.",
        cli_example: "brine '*' pillar.keys web:sites",
        run: keys,
    },
    FunctionSpec {
        name: "pillar.ls",
        doc: "Return the top-level keys of the pillar.",
        cli_example: "brine '*' pillar.ls",
        run: ls,
    },
    FunctionSpec {
        name: "pillar.obfuscate",
        doc: "Return the pillar with each value replaced by its type (`<str>`, `<int>`...), \
              keeping dict keys and the shape of lists.",
        cli_example: "brine '*' pillar.obfuscate",
        run: obfuscate,
    },
    FunctionSpec {
        name: "pillar.raw",
        doc: "Return the pillar data the minion holds now.\n\n\
              - key: only this top-level key's value ({} when missing).",
        cli_example: "brine '*' pillar.raw\nbrine '*' pillar.raw key='roles'",
        run: raw,
    },
];

/// A pillar as a map (an empty one when it is not a dict).
fn pillar_map(pillar: &Value) -> Map<String, Value> {
    match pillar {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    }
}

/// The pillar as Salt's `pillar.items` sees it: compiled afresh (the
/// in-memory one is replaced), unless the call's pillar is fixed; the held
/// one when the master cannot be asked.
async fn fresh_pillar(ctx: &CallCtx) -> std::sync::Arc<Value> {
    if ctx.fixed_pillar.is_some() {
        return ctx.pillar().await;
    }
    match ctx.pillar_store.refresh(ctx).await {
        Ok(p) => p,
        Err(error) => {
            tracing::warn!(%error, "pillar refresh failed; using the pillar held");
            ctx.pillar().await
        }
    }
}

fn delimiter(d: Option<String>) -> Result<String, ModError> {
    match d {
        Some(d) if d.is_empty() => {
            Err(ModError::BadArguments("delimiter must not be empty".into()))
        }
        Some(d) => Ok(d),
        None => Ok(DEFAULT_DELIMITER.to_string()),
    }
}

/// A minion option as `__opts__` holds it.
fn opt(ctx: &CallCtx, name: &str) -> Value {
    ctx.config
        .as_opts()
        .get(name)
        .cloned()
        .unwrap_or(Value::Null)
}

fn get(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        // `default=None` is a real default in Salt (only an absent one is
        // NOT_SET), so look before the parser folds null into absent.
        let given_default = args
            .kwarg
            .get("default")
            .or_else(|| args.arg.get(1))
            .cloned();
        let mut a = args.parser();
        let key = as_str("key", &a.take("key", 0)?)?;
        a.opt("default", 1)?;
        let merge = a.opt_bool("merge", 2)?.unwrap_or(false);
        let merge_nested_lists = a.opt_bool("merge_nested_lists", 3)?;
        let delim = delimiter(a.opt_str("delimiter", 4)?)?;
        a.opt("pillarenv", 5)?;
        a.opt("saltenv", 6)?;
        a.opt("unmask", 7)?;
        a.finish()?;

        let raise_on_missing = as_bool(
            "pillar_raise_on_missing",
            &opt(&ctx, "pillar_raise_on_missing"),
        )
        .unwrap_or(false);
        let default = match given_default {
            Some(v) => Some(v),
            None if raise_on_missing => None,
            None => Some(Value::String(String::new())),
        };
        let merge_lists = match merge_nested_lists {
            Some(b) => b,
            None => {
                as_bool("pillar_merge_lists", &opt(&ctx, "pillar_merge_lists")).unwrap_or(false)
            }
        };
        let pillar = ctx.pillar().await;
        let found = traverse(&pillar, &key, &delim);
        if merge {
            match (&default, found) {
                (Some(Value::Object(d)), None) => return Ok(Value::Object(d.clone()).into()),
                (Some(Value::Object(d)), Some(Value::Object(v))) => {
                    let mut merged = d.clone();
                    dict_update(&mut merged, v, merge_lists);
                    return Ok(Value::Object(merged).into());
                }
                (Some(Value::Array(d)), None) => return Ok(Value::Array(d.clone()).into()),
                (Some(Value::Array(d)), Some(Value::Array(v))) => {
                    let mut merged = d.clone();
                    for x in v {
                        if !d.contains(x) {
                            merged.push(x.clone());
                        }
                    }
                    return Ok(Value::Array(merged).into());
                }
                (Some(d @ (Value::Object(_) | Value::Array(_))), Some(v)) => {
                    tracing::error!(
                        "pillar.get: default ({d}) is a {}, but the returned pillar value ({v}) is of type '{}'. Merge will be skipped.",
                        python_type(d),
                        python_type(v)
                    );
                }
                (d, _) => {
                    let d = d.clone().unwrap_or(Value::Null);
                    tracing::error!(
                        "pillar.get: default ({d}) is of type '{}', must be a dict or list to merge. Merge will be skipped.",
                        python_type(&d)
                    );
                }
            }
        }
        match (found, default) {
            (Some(v), _) => Ok(v.clone().into()),
            (None, Some(d)) => Ok(d.into()),
            (None, None) => Err(ModError::Failed(format!("Pillar key not found: {key}"))),
        }
    })
}

fn item(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let keys = a.rest(0);
        let default = a
            .kw("default")
            .unwrap_or_else(|| Value::String(String::new()));
        let delim = delimiter(a.kw_str("delimiter")?)?;
        a.ignore(&["pillarenv", "saltenv", "unmask"]);
        a.finish()?;
        let pillar = ctx.pillar().await;
        Ok(Value::Object(item_map(&pillar, &keys, &default, &delim)?).into())
    })
}

fn item_map(
    pillar: &Value,
    keys: &[Value],
    default: &Value,
    delim: &str,
) -> Result<Map<String, Value>, ModError> {
    let mut out = Map::new();
    for k in keys {
        let k = as_str("key", k)?;
        let v = traverse(pillar, &k, delim)
            .cloned()
            .unwrap_or_else(|| default.clone());
        out.insert(k, v);
    }
    Ok(out)
}

/// What `pillar.items` returns: the pillar with the `pillar=` override merged
/// over it, or `pillar.item` of the positional keys.
fn items_value(held: &Value, args: Args) -> Result<Value, ModError> {
    let mut a = args.parser();
    let keys = a.rest(0);
    let overrides = a.kw("pillar");
    a.ignore(&["pillar_enc", "pillarenv", "saltenv", "unmask"]);
    a.finish()?;
    if !keys.is_empty() {
        return Ok(Value::Object(item_map(
            held,
            &keys,
            &json!(""),
            DEFAULT_DELIMITER,
        )?));
    }
    let mut pillar = pillar_map(held);
    match overrides {
        Some(Value::Object(o)) => dict_update(&mut pillar, &o, false),
        Some(other) if super::data::python_truthy(&other) => {
            return Err(ModError::BadArguments(
                "Pillar data must be formatted as a dictionary".into(),
            ))
        }
        _ => {}
    }
    Ok(Value::Object(pillar))
}

fn items(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move { Ok(items_value(&*fresh_pillar(&ctx).await, args)?.into()) })
}

fn ls(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let value = items_value(&*fresh_pillar(&ctx).await, args)?;
        let keys: Vec<Value> = match value {
            Value::Object(m) => m.keys().map(|k| Value::String(k.clone())).collect(),
            _ => Vec::new(),
        };
        Ok(Value::Array(keys).into())
    })
}

/// Salt's `_obfuscate_inner`: leaves become `<type>`, containers keep their shape.
fn obfuscate_value(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), obfuscate_value(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(obfuscate_value).collect()),
        leaf => Value::String(format!("<{}>", python_type(leaf))),
    }
}

fn obfuscate(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(
        async move { Ok(obfuscate_value(&items_value(&*fresh_pillar(&ctx).await, args)?).into()) },
    )
}

fn raw(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let key = a.opt("key", 0)?;
        a.opt("unmask", 1)?;
        a.finish()?;
        let pillar = pillar_map(&*ctx.pillar().await);
        match key.filter(super::data::python_truthy) {
            Some(k) => {
                let k = as_str("key", &k)?;
                Ok(pillar.get(&k).cloned().unwrap_or_else(|| json!({})).into())
            }
            None => Ok(Value::Object(pillar).into()),
        }
    })
}

fn keys(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let key = as_str("key", &a.take("key", 0)?)?;
        let delim = delimiter(a.opt_str("delimiter", 1)?)?;
        a.opt("unmask", 2)?;
        a.finish()?;
        let pillar = ctx.pillar().await;
        match traverse(&pillar, &key, &delim) {
            None => Err(ModError::Failed(format!("Pillar key not found: {key}"))),
            Some(Value::Object(m)) => Ok(json!(m.keys().collect::<Vec<_>>()).into()),
            Some(_) => Err(ModError::Failed(format!(
                "Pillar value in key {key} is not a dict"
            ))),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{test_ctx, ModFn};
    use std::sync::Arc;

    fn pillar() -> Value {
        json!({
            "pkg": {"apache": "httpd", "list": [{"name": "a"}, {"name": "b"}]},
            "users": ["alice", "bob"],
            "web": {"sites": {"a": 1, "b": 2}, "opts": {"x": 1}},
            "nothing": null,
        })
    }

    async fn run(f: ModFn, name: &'static str, arg: Value, kwarg: Value) -> Result<Value, String> {
        let mut ctx = test_ctx();
        ctx.fixed_pillar = Some(Arc::new(pillar()));
        crate::registry::test_call(ctx, f, name, arg, kwarg).await
    }

    #[tokio::test]
    async fn get_walks_dicts_and_lists() {
        let get1 = |arg: Value, kw: Value| run(get, "pillar.get", arg, kw);
        assert_eq!(
            get1(json!(["pkg:apache"]), json!({})).await,
            Ok(json!("httpd"))
        );
        assert_eq!(get1(json!(["users:1"]), json!({})).await, Ok(json!("bob")));
        assert_eq!(
            get1(json!(["pkg:list:name"]), json!({})).await,
            Ok(json!("a"))
        );
        assert_eq!(get1(json!(["missing"]), json!({})).await, Ok(json!("")));
        assert_eq!(get1(json!(["missing", 5]), json!({})).await, Ok(json!(5)));
        assert_eq!(
            get1(json!(["missing"]), json!({"default": null})).await,
            Ok(Value::Null)
        );
        assert_eq!(
            get1(json!(["nothing", "d"]), json!({})).await,
            Ok(Value::Null)
        );
        assert_eq!(
            get1(json!(["pkg|apache"]), json!({"delimiter": "|"})).await,
            Ok(json!("httpd"))
        );
        assert_eq!(
            get1(json!([]), json!({})).await,
            Err("pillar.get() missing 1 required positional argument: 'key'".into())
        );
        assert_eq!(
            get1(json!(["a"]), json!({"nope": 1})).await,
            Err("pillar.get() got an unexpected keyword argument 'nope'".into())
        );
    }

    #[tokio::test]
    async fn get_merges_into_the_default() {
        let get1 = |arg: Value, kw: Value| run(get, "pillar.get", arg, kw);
        assert_eq!(
            get1(
                json!(["web:opts", {"x": 0, "y": 2}]),
                json!({"merge": true})
            )
            .await,
            Ok(json!({"x": 1, "y": 2}))
        );
        assert_eq!(
            get1(json!(["missing", {"y": 2}]), json!({"merge": true})).await,
            Ok(json!({"y": 2}))
        );
        assert_eq!(
            get1(json!(["users", ["carol", "bob"]]), json!({"merge": true})).await,
            Ok(json!(["carol", "bob", "alice"]))
        );
        assert_eq!(
            get1(json!(["users", {"y": 2}]), json!({"merge": true})).await,
            Ok(json!(["alice", "bob"])),
            "type mismatch: merge skipped"
        );
        assert_eq!(
            get1(json!(["web:opts", {"x": 0}]), json!({})).await,
            Ok(json!({"x": 1})),
            "no merge without merge=True"
        );
    }

    #[tokio::test]
    async fn item_items_raw_ls_keys() {
        assert_eq!(
            run(
                item,
                "pillar.item",
                json!(["users:0", "missing"]),
                json!({})
            )
            .await,
            Ok(json!({"users:0": "alice", "missing": ""}))
        );
        assert_eq!(
            run(
                item,
                "pillar.item",
                json!(["missing"]),
                json!({"default": "d"})
            )
            .await,
            Ok(json!({"missing": "d"}))
        );
        assert_eq!(
            run(items, "pillar.items", json!([]), json!({})).await,
            Ok(pillar())
        );
        assert_eq!(
            run(
                items,
                "pillar.items",
                json!([]),
                json!({"pillar": {"web": {"opts": {"z": 1}}}})
            )
            .await
            .unwrap()["web"],
            json!({"sites": {"a": 1, "b": 2}, "opts": {"x": 1, "z": 1}})
        );
        assert_eq!(
            run(items, "pillar.items", json!(["users"]), json!({})).await,
            Ok(json!({"users": ["alice", "bob"]}))
        );
        assert_eq!(
            run(ls, "pillar.ls", json!([]), json!({})).await,
            Ok(json!(["pkg", "users", "web", "nothing"]))
        );
        assert_eq!(
            run(raw, "pillar.raw", json!(["users"]), json!({})).await,
            Ok(json!(["alice", "bob"]))
        );
        assert_eq!(
            run(raw, "pillar.raw", json!(["pkg:apache"]), json!({})).await,
            Ok(json!({}))
        );
        assert_eq!(
            run(keys, "pillar.keys", json!(["web:sites"]), json!({})).await,
            Ok(json!(["a", "b"]))
        );
        assert_eq!(
            run(keys, "pillar.keys", json!(["users"]), json!({})).await,
            Err("Pillar value in key users is not a dict".into())
        );
        assert_eq!(
            run(keys, "pillar.keys", json!(["nope"]), json!({})).await,
            Err("Pillar key not found: nope".into())
        );
        assert_eq!(
            run(obfuscate, "pillar.obfuscate", json!([]), json!({}))
                .await
                .unwrap()["pkg"],
            json!({"apache": "<str>", "list": [{"name": "<str>"}, {"name": "<str>"}]})
        );
    }
}
