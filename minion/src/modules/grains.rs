//! `grains.*`: read the minion's grains, and set custom ones in the grains
//! file (Salt's `/etc/salt/grains`; here `<config_dir>/grains`).

use serde_json::{json, Map, Value};

use super::data::{self, python_str, python_type};
use crate::registry::{as_bool, as_str, Args, CallCtx, FunctionSpec, ModError, ModFuture};

/// Salt's `DEFAULT_TARGET_DELIM`.
const DELIM: &str = ":";

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "grains.append",
        doc: "Append a value to a list grain and save it in the grains file; returns {key: new list}.\n\n\
              - key: the grain; nested keys with the delimiter (`a:b`).\n\
              - val: the value to append; a list appends each of its items.\n\
              - convert: turn a non-list grain into a list first (default False).\n\
              - delimiter: separator of nested keys (default ':').\n\n\
              Returns 'The key K is not a valid list' or 'The val V was already in the list K' instead when so.",
        cli_example: "brine '*' grains.append key val",
        run: append,
    },
    FunctionSpec {
        name: "grains.delkey",
        doc: "Remove a grain from the grains file entirely; returns {key: None}.\n\n\
              - key: the grain.",
        cli_example: "brine '*' grains.delkey key",
        run: delkey,
    },
    FunctionSpec {
        name: "grains.delval",
        doc: "Set a grain to None in the grains file; returns {key: None}.\n\n\
              - key: the grain.\n\
              - destructive: remove the key as well (default False).",
        cli_example: "brine '*' grains.delval key",
        run: delval,
    },
    FunctionSpec {
        name: "grains.equals",
        doc: "Return True if the grain's value, as a string, equals the given value as a string.\n\n\
              - key: the grain; nested keys with ':'.\n\
              - value: the value to compare with.",
        cli_example: "brine '*' grains.equals fqdn <expected_fqdn>\nbrine '*' grains.equals systemd:version 219",
        run: equals,
    },
    FunctionSpec {
        name: "grains.fetch",
        doc: "Same as grains.get (the name Jinja templates use).",
        cli_example: "brine '*' grains.fetch pkg:apache",
        run: get,
    },
    FunctionSpec {
        name: "grains.filter_by",
        doc: "Return the entry of a lookup dict whose key (a glob) matches the value of a grain; \
              what formulas use for their map.jinja.\n\n\
              - lookup_dict: {glob: value}; the first key matching the grain's value wins \
              (for a list grain, the first item that matches any key).\n\
              - grain: the grain to match on, nested keys with ':' (default 'os_family').\n\
              - merge: a dict merged recursively over the result (e.g. a pillar lookup).\n\
              - default: the lookup_dict key used when nothing matches (default 'default').\n\
              - base: a lookup_dict key whose value the result is merged over.\n\n\
              Returns None when nothing matches and there is no default entry.",
        cli_example: "brine '*' grains.filter_by '{Debian: Debheads rule, RedHat: I love my hat}'\nbrine '*' grains.filter_by '{A: B, C: {D: {E: F, G: H}}}' 'xxx' '{D: {E: I}, J: K}' 'C'",
        run: filter_by,
    },
    FunctionSpec {
        name: "grains.get",
        doc: "Return the value of a grain, or of a key nested in it, or the default.\n\n\
              - key: the grain; `a:b:c` walks into dicts, and into lists by index (`ipv4:0`) \
              or by the key of a dict in the list.\n\
              - default: returned when the key is missing (default '').\n\
              - delimiter: separator of nested keys (default ':').",
        cli_example: "brine '*' grains.get pkg:apache\nbrine '*' grains.get abc::def|ghi delimiter='|'",
        run: get,
    },
    FunctionSpec {
        name: "grains.has_value",
        doc: "Return True if the grain (nested keys allowed) exists, whatever its value.\n\n\
              - key: the grain.",
        cli_example: "brine '*' grains.has_value pkg:apache",
        run: has_value,
    },
    FunctionSpec {
        name: "grains.item",
        doc: "Return one or more grains as {key: value}; missing ones read as the default.\n\n\
              - keys: grain names, nested keys allowed.\n\
              - default: for missing keys (default '').\n\
              - delimiter: separator of nested keys (default ':').",
        cli_example: "brine '*' grains.item os\nbrine '*' grains.item os osrelease oscodename",
        run: item,
    },
    FunctionSpec {
        name: "grains.items",
        doc: "Return all of the minion's grains.",
        cli_example: "brine '*' grains.items",
        run: items,
    },
    FunctionSpec {
        name: "grains.ls",
        doc: "Return the names of the grains, sorted.",
        cli_example: "brine '*' grains.ls",
        run: ls,
    },
    FunctionSpec {
        name: "grains.remove",
        doc: "Remove a value from a list grain and save it in the grains file; returns {key: new list}.\n\n\
              - key: the grain; nested keys with the delimiter.\n\
              - val: the value to remove.\n\
              - delimiter: separator of nested keys (default ':').\n\n\
              Returns {'Error': ...} when the grain is not a list or lacks the value.",
        cli_example: "brine '*' grains.remove key val",
        run: remove,
    },
    FunctionSpec {
        name: "grains.setval",
        doc: "Set a grain in the grains file (created if needed) and in the running grains; \
              the master learns the new grains at once. Returns {key: val}.\n\n\
              - key: the grain.\n\
              - val: any value: string, number, list, dict.\n\
              - destructive: with val None, remove the key instead (default False).",
        cli_example: "brine '*' grains.setval key val\nbrine '*' grains.setval key \"{'sub-key': 'val', 'sub-key2': 'val2'}\"",
        run: setval,
    },
    FunctionSpec {
        name: "grains.setvals",
        doc: "Set several grains at once from a dict, as grains.setval does; returns the dict.\n\n\
              - grains: {key: value, ...}.\n\
              - destructive: keys with value None are removed (default False).",
        cli_example: "brine '*' grains.setvals \"{'key1': 'val1', 'key2': 'val2'}\"",
        run: setvals,
    },
];

// ---- traversal ----------------------------------------------------------------------

/// Salt's `traverse_dict_and_list`: walks `key` split by `delimiter` into
/// dicts by key and into lists by (possibly negative) index, or, for a list,
/// into the first dict element holding the key.
pub fn traverse<'a>(root: &'a Map<String, Value>, key: &str, delimiter: &str) -> Option<&'a Value> {
    let mut parts = key.split(delimiter);
    let first = parts.next()?;
    let mut ptr = root.get(first)?;
    for each in parts {
        ptr = match ptr {
            Value::Object(m) => m.get(each)?,
            Value::Array(items) => {
                let embedded = items
                    .iter()
                    .filter_map(Value::as_object)
                    .find_map(|m| m.get(each));
                match (embedded, each.trim().parse::<i64>()) {
                    (Some(v), _) => v,
                    (None, Ok(idx)) => {
                        let len = items.len() as i64;
                        let i = if idx < 0 { len + idx } else { idx };
                        if !(0..len).contains(&i) {
                            return None;
                        }
                        &items[i as usize]
                    }
                    (None, Err(_)) => return None,
                }
            }
            _ => return None,
        };
    }
    Some(ptr)
}

fn lookup(grains: &Map<String, Value>, key: &str, delimiter: &str) -> Option<Value> {
    traverse(grains, key, delimiter).cloned()
}

/// Python's `str()` of a value, for Salt's messages.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn delimiter(d: Option<String>) -> Result<String, ModError> {
    match d {
        Some(d) if d.is_empty() => {
            Err(ModError::BadArguments("delimiter must not be empty".into()))
        }
        Some(d) => Ok(d),
        None => Ok(DELIM.to_string()),
    }
}

// ---- reading ------------------------------------------------------------------------

fn items(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        a.opt_bool("sanitize", 0)?;
        a.finish()?;
        Ok(Value::Object((*ctx.grains.snapshot()).clone()).into())
    })
}

fn ls(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        args.parser().finish()?;
        let g = ctx.grains.snapshot();
        let mut keys: Vec<&String> = g.keys().collect();
        keys.sort();
        Ok(json!(keys).into())
    })
}

fn get(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let key = as_str("key", &a.take("key", 0)?)?;
        let default = a
            .opt("default", 1)?
            .unwrap_or_else(|| Value::String(String::new()));
        let delim = delimiter(a.opt_str("delimiter", 2)?)?;
        a.opt_bool("ordered", 3)?;
        a.finish()?;
        let g = ctx.grains.snapshot();
        Ok(lookup(&g, &key, &delim).unwrap_or(default).into())
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
        a.kw_bool("sanitize")?;
        a.finish()?;
        let g = ctx.grains.snapshot();
        let mut out = Map::new();
        for k in &keys {
            let k = as_str("key", k)?;
            let v = lookup(&g, &k, &delim).unwrap_or_else(|| default.clone());
            out.insert(k, v);
        }
        Ok(Value::Object(out).into())
    })
}

fn has_value(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let key = a.take_str("key", 0)?;
        a.finish()?;
        let g = ctx.grains.snapshot();
        Ok(Value::Bool(traverse(&g, &key, DELIM).is_some()).into())
    })
}

fn equals(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let key = a.take_str("key", 0)?;
        let value = a.take("value", 1)?;
        a.finish()?;
        let g = ctx.grains.snapshot();
        // Salt compares `str(value) == str(get(key))`, and get's default is ''.
        let current = lookup(&g, &key, DELIM).unwrap_or_else(|| json!(""));
        Ok(Value::Bool(python_str(&value) == python_str(&current)).into())
    })
}

fn filter_by(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let lookup_dict = a.take("lookup_dict", 0)?;
        let grain = a
            .opt_str("grain", 1)?
            .unwrap_or_else(|| "os_family".to_string());
        let merge = a.opt("merge", 2)?;
        let default = a
            .opt_str("default", 3)?
            .unwrap_or_else(|| "default".to_string());
        let base = a.opt_str("base", 4)?;
        a.finish()?;
        let Value::Object(lookup_dict) = lookup_dict else {
            return Err(ModError::Failed(format!(
                "'{}' object has no attribute 'get'",
                python_type(&lookup_dict)
            )));
        };
        let grains = Value::Object((*ctx.grains.snapshot()).clone());
        let found = data::filter_by(
            &lookup_dict,
            &grain,
            &grains,
            merge.as_ref(),
            &default,
            base.as_deref(),
        )
        .map_err(|e| ModError::Failed(e.to_string()))?;
        Ok(found.unwrap_or(Value::Null).into())
    })
}

// ---- writing ------------------------------------------------------------------------

/// Writes `changes` to the grains file (a `None` value with `destructive`
/// removes the key), re-merges the grains and tells the master.
fn persist(ctx: &CallCtx, changes: &Map<String, Value>, destructive: bool) -> Result<(), ModError> {
    ctx.grains
        .update_persisted(|file| {
            for (k, v) in changes {
                if v.is_null() && destructive {
                    file.remove(k);
                } else {
                    file.insert(k.clone(), v.clone());
                }
            }
        })
        .map_err(|e| ModError::Failed(format!("Unable to write the grains file: {e}")))
}

fn setval(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let key = a.take_str("key", 0)?;
        let val = a.take("val", 1)?;
        let destructive = a.opt_bool("destructive", 2)?.unwrap_or(false);
        a.opt_bool("refresh_pillar", 3)?;
        a.finish()?;
        let mut changes = Map::new();
        changes.insert(key, val);
        persist(&ctx, &changes, destructive)?;
        Ok(Value::Object(changes).into())
    })
}

fn setvals(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let grains = a.take("grains", 0)?;
        let destructive = a.opt_bool("destructive", 1)?.unwrap_or(false);
        a.opt_bool("refresh_pillar", 2)?;
        a.finish()?;
        let Value::Object(changes) = grains else {
            return Ok(Value::String("setvals grains must be a dictionary.".into()).into());
        };
        persist(&ctx, &changes, destructive)?;
        Ok(Value::Object(changes).into())
    })
}

fn delval(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let key = a.take_str("key", 0)?;
        let destructive = a.opt_bool("destructive", 1)?.unwrap_or(false);
        a.finish()?;
        let mut changes = Map::new();
        changes.insert(key, Value::Null);
        persist(&ctx, &changes, destructive)?;
        Ok(Value::Object(changes).into())
    })
}

fn delkey(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let key = a.take_str("key", 0)?;
        a.opt_bool("force", 1)?;
        a.finish()?;
        let mut changes = Map::new();
        changes.insert(key, Value::Null);
        persist(&ctx, &changes, true)?;
        Ok(Value::Object(changes).into())
    })
}

/// Salt's way of saving a changed nested list: rebuild the top-level grain
/// from the innermost change outwards, then set it.
fn rebuild(
    grains: &Map<String, Value>,
    key: &str,
    delim: &str,
    mut value: Value,
) -> (String, Value) {
    let mut key = key.to_string();
    while let Some((parent, rest)) = key.rsplit_once(delim) {
        let mut parent_value =
            lookup(grains, parent, delim).unwrap_or_else(|| Value::Object(Map::new()));
        if let Value::Object(m) = &mut parent_value {
            m.insert(rest.to_string(), value);
        }
        value = parent_value;
        key = parent.to_string();
    }
    (key, value)
}

fn append(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let key = a.take_str("key", 0)?;
        let val = a.take("val", 1)?;
        let convert = match a.opt("convert", 2)? {
            Some(v) => as_bool("convert", &v)?,
            None => false,
        };
        let delim = delimiter(a.opt_str("delimiter", 3)?)?;
        a.finish()?;
        let g = ctx.grains.snapshot();
        let mut current = lookup(&g, &key, &delim).unwrap_or_else(|| json!([]));
        if convert && !current.is_array() {
            current = if current.is_null() {
                json!([])
            } else {
                json!([current])
            };
        }
        let Value::Array(mut list) = current else {
            return Ok(Value::String(format!("The key {key} is not a valid list")).into());
        };
        if list.contains(&val) {
            return Ok(Value::String(format!(
                "The val {} was already in the list {key}",
                show(&val)
            ))
            .into());
        }
        match val {
            Value::Array(items) => list.extend(items),
            other => list.push(other),
        }
        let (top, value) = rebuild(&g, &key, &delim, Value::Array(list));
        let mut changes = Map::new();
        changes.insert(top, value);
        persist(&ctx, &changes, false)?;
        Ok(Value::Object(changes).into())
    })
}

fn remove(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let key = a.take_str("key", 0)?;
        let val = a.take("val", 1)?;
        let delim = delimiter(a.opt_str("delimiter", 2)?)?;
        a.finish()?;
        let g = ctx.grains.snapshot();
        let current = lookup(&g, &key, &delim).unwrap_or_else(|| json!([]));
        let Value::Array(mut list) = current else {
            return Ok(json!({"Error": format!("The key {key} is not a valid list")}).into());
        };
        let Some(pos) = list.iter().position(|v| *v == val) else {
            return Ok(
                json!({"Error": format!("The val {} was not in the list {key}", show(&val))})
                    .into(),
            );
        };
        list.remove(pos);
        let (top, value) = rebuild(&g, &key, &delim, Value::Array(list));
        let mut changes = Map::new();
        changes.insert(top, value);
        persist(&ctx, &changes, false)?;
        Ok(Value::Object(changes).into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{test_ctx_with, with_fun, ModFn};

    fn grains() -> Map<String, Value> {
        json!({
            "os": "Debian",
            "ipv4": ["127.0.0.1", "10.0.0.5"],
            "pkg": {"apache": "apache2", "list": [{"name": "a"}, {"name": "b"}]},
            "roles": ["web"],
            "num": 3,
        })
        .as_object()
        .unwrap()
        .clone()
    }

    async fn call(f: ModFn, name: &'static str, arg: Vec<Value>, kwarg: Value) -> Value {
        let kwarg = kwarg.as_object().cloned().unwrap_or_default();
        with_fun(name, f(test_ctx_with(grains()), Args::new(arg, kwarg)))
            .await
            .unwrap()
            .value
    }

    #[test]
    fn traverse_like_salt() {
        let g = grains();
        assert_eq!(traverse(&g, "os", ":"), Some(&json!("Debian")));
        assert_eq!(traverse(&g, "pkg:apache", ":"), Some(&json!("apache2")));
        assert_eq!(traverse(&g, "ipv4:1", ":"), Some(&json!("10.0.0.5")));
        assert_eq!(traverse(&g, "ipv4:-1", ":"), Some(&json!("10.0.0.5")));
        assert_eq!(traverse(&g, "ipv4:2", ":"), None);
        assert_eq!(
            traverse(&g, "pkg:list:name", ":"),
            Some(&json!("a")),
            "first embedded dict"
        );
        assert_eq!(traverse(&g, "pkg|apache", "|"), Some(&json!("apache2")));
        assert_eq!(traverse(&g, "os:x", ":"), None, "a string has no keys");
        assert_eq!(traverse(&g, "nope", ":"), None);
    }

    #[tokio::test]
    async fn get_item_ls() {
        assert_eq!(
            call(get, "grains.get", vec![json!("pkg:apache")], json!({})).await,
            json!("apache2")
        );
        assert_eq!(
            call(get, "grains.get", vec![json!("missing")], json!({})).await,
            json!("")
        );
        assert_eq!(
            call(
                get,
                "grains.get",
                vec![json!("missing"), json!(7)],
                json!({})
            )
            .await,
            json!(7)
        );
        assert_eq!(
            call(
                get,
                "grains.get",
                vec![json!("pkg|apache")],
                json!({"delimiter": "|"})
            )
            .await,
            json!("apache2")
        );
        assert_eq!(
            call(
                item,
                "grains.item",
                vec![json!("os"), json!("num"), json!("nope")],
                json!({})
            )
            .await,
            json!({"os": "Debian", "num": 3, "nope": ""})
        );
        assert_eq!(
            call(ls, "grains.ls", vec![], json!({})).await,
            json!(["ipv4", "num", "os", "pkg", "roles"])
        );
        assert_eq!(
            call(
                has_value,
                "grains.has_value",
                vec![json!("pkg:list")],
                json!({})
            )
            .await,
            json!(true)
        );
        assert_eq!(
            call(
                has_value,
                "grains.has_value",
                vec![json!("pkg:x")],
                json!({})
            )
            .await,
            json!(false)
        );
    }

    #[tokio::test]
    async fn filter_by_and_equals() {
        let mut g = grains();
        g.insert("os_family".into(), json!("Debian"));
        let ctx = test_ctx_with(g);
        let run = |arg: Vec<Value>, kw: Value| {
            let ctx = ctx.clone();
            async move {
                let kw = kw.as_object().cloned().unwrap_or_default();
                with_fun("grains.filter_by", filter_by(ctx, Args::new(arg, kw)))
                    .await
                    .map(|o| o.value)
                    .map_err(|e| e.to_string())
            }
        };
        let map =
            json!({"Debian": {"pkg": "apache2", "svc": "apache2"}, "RedHat": {"pkg": "httpd"}});
        assert_eq!(
            run(vec![map.clone()], json!({})).await,
            Ok(json!({"pkg": "apache2", "svc": "apache2"}))
        );
        assert_eq!(
            run(
                vec![map.clone()],
                json!({"merge": {"pkg": "apache2-custom"}})
            )
            .await,
            Ok(json!({"pkg": "apache2-custom", "svc": "apache2"}))
        );
        assert_eq!(
            run(vec![map.clone(), json!("os")], json!({})).await,
            Ok(json!({"pkg": "apache2", "svc": "apache2"})),
            "os is Debian too"
        );
        assert_eq!(
            run(vec![map.clone(), json!("nope")], json!({})).await,
            Ok(Value::Null)
        );
        assert_eq!(
            run(
                vec![json!({"web*": 1, "default": 0}), json!("roles")],
                json!({})
            )
            .await,
            Ok(json!(1))
        );
        assert_eq!(
            run(
                vec![json!({"default": {"a": 1, "b": 1}, "Deb*": {"b": 2}})],
                json!({"base": "default"})
            )
            .await,
            Ok(json!({"a": 1, "b": 2}))
        );
        assert_eq!(
            run(vec![map.clone()], json!({"merge": [1]})).await,
            Err("filter_by merge argument must be a dictionary.".into())
        );
        assert_eq!(
            run(vec![], json!({})).await,
            Err("grains.filter_by() missing 1 required positional argument: 'lookup_dict'".into())
        );
        assert_eq!(
            call(
                equals,
                "grains.equals",
                vec![json!("num"), json!("3")],
                json!({})
            )
            .await,
            json!(true)
        );
        assert_eq!(
            call(
                equals,
                "grains.equals",
                vec![json!("os"), json!("debian")],
                json!({})
            )
            .await,
            json!(false)
        );
    }

    #[tokio::test]
    async fn append_and_remove_follow_salt() {
        assert_eq!(
            call(
                append,
                "grains.append",
                vec![json!("roles"), json!("db")],
                json!({})
            )
            .await,
            json!({"roles": ["web", "db"]})
        );
        assert_eq!(
            call(
                append,
                "grains.append",
                vec![json!("roles"), json!("web")],
                json!({})
            )
            .await,
            json!("The val web was already in the list roles")
        );
        assert_eq!(
            call(
                append,
                "grains.append",
                vec![json!("os"), json!("x")],
                json!({})
            )
            .await,
            json!("The key os is not a valid list")
        );
        assert_eq!(
            call(
                append,
                "grains.append",
                vec![json!("os"), json!("x")],
                json!({"convert": true})
            )
            .await,
            json!({"os": ["Debian", "x"]})
        );
        assert_eq!(
            call(
                append,
                "grains.append",
                vec![json!("new"), json!(["a", "b"])],
                json!({})
            )
            .await,
            json!({"new": ["a", "b"]})
        );
        assert_eq!(
            call(
                append,
                "grains.append",
                vec![json!("pkg:extra"), json!(1)],
                json!({})
            )
            .await,
            json!({"pkg": {"apache": "apache2", "extra": [1], "list": [{"name": "a"}, {"name": "b"}]}})
        );
        assert_eq!(
            call(
                remove,
                "grains.remove",
                vec![json!("roles"), json!("web")],
                json!({})
            )
            .await,
            json!({"roles": []})
        );
        assert_eq!(
            call(
                remove,
                "grains.remove",
                vec![json!("roles"), json!("db")],
                json!({})
            )
            .await,
            json!({"Error": "The val db was not in the list roles"})
        );
    }

    #[tokio::test]
    async fn setval_goes_through_the_grains_file() {
        let ctx = test_ctx_with(grains());
        let out = with_fun(
            "grains.setval",
            setval(
                ctx.clone(),
                Args::new(vec![json!("role"), json!({"a": 1})], Map::new()),
            ),
        )
        .await
        .unwrap();
        assert_eq!(out.value, json!({"role": {"a": 1}}));
        assert_eq!(ctx.grains.snapshot().get("role"), Some(&json!({"a": 1})));
        let out = with_fun(
            "grains.setvals",
            setvals(ctx.clone(), Args::new(vec![json!("notadict")], Map::new())),
        )
        .await
        .unwrap();
        assert_eq!(out.value, json!("setvals grains must be a dictionary."));
    }
}
