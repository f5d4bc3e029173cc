//! `slsutil.*`: helpers for SLS files and templates: merging data,
//! (de)serialising YAML and JSON the way Salt's serializers print them, and
//! asking whether a path exists in the state tree.

use std::path::{Component, Path};

use brine_states::pyjson::JsonFormat;
use serde_json::{Map, Value};

use super::data::{self, dict_update, python_truthy};
use crate::registry::{as_bool, as_i64, as_str, Args, CallCtx, FunctionSpec, ModError, ModFuture};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "slsutil.boolstr",
        doc: "Return one of two strings depending on the truth of a value.\n\n\
              - value: tested as Python does (empty, 0, None and False are false).\n\
              - true: returned when true (default 'true').\n\
              - false: returned when false (default 'false').",
        cli_example: "brine '*' slsutil.boolstr True yes no",
        run: boolstr,
    },
    FunctionSpec {
        name: "slsutil.deserialize",
        doc: "Parse a string with one of Salt's serializers: `yaml` or `json`.\n\n\
              - serializer: the format.\n\
              - stream_or_string: the text.",
        cli_example: "brine '*' slsutil.deserialize json '{\"foo\": \"Foo!\"}'",
        run: deserialize,
    },
    FunctionSpec {
        name: "slsutil.dir_exists",
        doc: "Return True if a directory exists in the state tree.\n\n\
              - path: relative to the root of the environment, e.g. `apache/files`.\n\
              - saltenv: the environment (default 'base').\n\n\
              Reads the local file_roots; with a remote file client the answer is False \
              until the master's file list is reachable from here.",
        cli_example: "brine '*' slsutil.dir_exists nginx/files",
        run: dir_exists,
    },
    FunctionSpec {
        name: "slsutil.file_exists",
        doc: "Return True if a file exists in the state tree.\n\n\
              - path: relative to the root of the environment, e.g. `apache/init.sls`.\n\
              - saltenv: the environment (default 'base').\n\n\
              Reads the local file_roots; with a remote file client the answer is False \
              until the master's file list is reachable from here.",
        cli_example: "brine '*' slsutil.file_exists nginx/defaults.yaml",
        run: file_exists,
    },
    FunctionSpec {
        name: "slsutil.merge",
        doc: "Merge obj_b into obj_a and return the result.\n\n\
              - strategy: `recurse` (nested dicts merged), `overwrite` and `aggregate` \
              (top-level keys replaced), `list` (shared keys paired in a list) or `smart` \
              (default: `aggregate` for the yamlex renderer, else `recurse`).\n\
              - renderer: what `smart` looks at (default 'yaml').\n\
              - merge_lists: with `recurse`, extend lists instead of replacing them \
              (default False).",
        cli_example: "brine '*' slsutil.merge '{foo: Foo}' '{bar: Bar}'",
        run: merge,
    },
    FunctionSpec {
        name: "slsutil.merge_all",
        doc: "Merge a list of dicts into one, in order, as slsutil.merge does.\n\n\
              - lst: the dicts.\n\
              - strategy, renderer, merge_lists: as for slsutil.merge.",
        cli_example: "brine '*' slsutil.merge_all '[{foo: Foo}, {foo: Bar}]'",
        run: merge_all,
    },
    FunctionSpec {
        name: "slsutil.path_exists",
        doc: "Return True if a file or directory exists in the state tree.\n\n\
              - path: relative to the root of the environment.\n\
              - saltenv: the environment (default 'base').",
        cli_example: "brine '*' slsutil.path_exists nginx/defaults.yaml",
        run: path_exists,
    },
    FunctionSpec {
        name: "slsutil.renderer",
        doc: "Render a file or a string through the render pipeline (its shebang, or \
              default_renderer) with this minion's grains, pillar and functions, and return \
              the data; a map file can so be shared by many SLS files.\n\n\
              - path: a salt:// URL or a local absolute path ({} when it does not exist, as Salt).\n\
              - string: the text to render instead of a file.\n\
              - default_renderer: the pipeline when there is no shebang (default jinja|yaml).\n\
              - saltenv: the environment for salt:// and imports (default base).",
        cli_example: "brine '*' slsutil.renderer salt://map.sls\n\
                      brine '*' slsutil.renderer string='a: {{ grains.id }}'",
        run: renderer,
    },
    FunctionSpec {
        name: "slsutil.serialize",
        doc: "Print a value with one of Salt's serializers: `yaml` (PyYAML style: flow \
              style for collections of scalars only, keys sorted, no final newline) or \
              `json` (Python's json.dumps: `, ` and `: ` separators, non-ASCII kept).\n\n\
              - serializer: the format.\n\
              - obj: the value.\n\
              - json options: indent, sort_keys, separators, ensure_ascii.\n\
              - yaml options: default_flow_style, sort_keys.",
        cli_example: "brine '*' slsutil.serialize json '{foo: Foo!}'",
        run: serialize,
    },
    FunctionSpec {
        name: "slsutil.update",
        doc: "Merge upd recursively into dest and return the result.\n\n\
              - recursive_update: merge nested dicts (default True); False replaces \
              top-level keys.\n\
              - merge_lists: extend lists instead of replacing them (default False).",
        cli_example: "brine '*' slsutil.update '{foo: Foo}' '{bar: Bar}'",
        run: update,
    },
];

fn failed(e: impl std::fmt::Display) -> ModError {
    ModError::Failed(e.to_string())
}

fn update(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let dest = a.take("dest", 0)?;
        let upd = a.take("upd", 1)?;
        let recursive = a.opt_bool("recursive_update", 2)?.unwrap_or(true);
        let merge_lists = a.opt_bool("merge_lists", 3)?.unwrap_or(false);
        a.finish()?;
        let (Value::Object(mut d), Value::Object(u)) = (dest, upd) else {
            return Err(failed(data::MergeError::NotDicts));
        };
        if recursive {
            dict_update(&mut d, &u, merge_lists);
        } else {
            d.extend(u);
        }
        Ok(Value::Object(d).into())
    })
}

fn merge(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let obj_a = a.take("obj_a", 0)?;
        let obj_b = a.take("obj_b", 1)?;
        let strategy = a.opt_str("strategy", 2)?.unwrap_or_else(|| "smart".into());
        let renderer = a.opt_str("renderer", 3)?.unwrap_or_else(|| "yaml".into());
        let merge_lists = a.opt_bool("merge_lists", 4)?.unwrap_or(false);
        a.finish()?;
        Ok(
            data::merge(&obj_a, &obj_b, &strategy, &renderer, merge_lists)
                .map_err(failed)?
                .into(),
        )
    })
}

fn merge_all(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let lst = a.take("lst", 0)?;
        let strategy = a.opt_str("strategy", 1)?.unwrap_or_else(|| "smart".into());
        let renderer = a.opt_str("renderer", 2)?.unwrap_or_else(|| "yaml".into());
        let merge_lists = a.opt_bool("merge_lists", 3)?.unwrap_or(false);
        a.finish()?;
        let items = match lst {
            Value::Array(items) => items,
            // Python iterates a dict's keys and a string's characters.
            Value::Object(m) => m.keys().map(|k| Value::String(k.clone())).collect(),
            Value::String(s) => s.chars().map(|c| Value::String(c.to_string())).collect(),
            other => {
                return Err(failed(format!(
                    "'{}' object is not iterable",
                    data::python_type(&other)
                )))
            }
        };
        Ok(
            brine_states::data::merge_all_tree(&items, &strategy, &renderer, merge_lists)
                .map_err(failed)?
                .into(),
        )
    })
}

fn boolstr(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let value = a.take("value", 0)?;
        let yes = a
            .opt("true", 1)?
            .unwrap_or_else(|| Value::String("true".into()));
        let no = a
            .opt("false", 2)?
            .unwrap_or_else(|| Value::String("false".into()));
        a.finish()?;
        Ok(if python_truthy(&value) { yes } else { no }.into())
    })
}

// ---- renderer -----------------------------------------------------------------------

fn renderer(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let path = a.opt_str("path", 0)?;
        let string = a.opt_str("string", 1)?;
        let default_renderer = a
            .opt_str("default_renderer", 2)?
            .unwrap_or_else(|| "jinja|yaml".into());
        let saltenv = a.kw_str("saltenv")?.unwrap_or_else(|| "base".into());
        a.finish()?;
        let pillar = ctx.pillar().await;
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let sys = crate::state_sys::StateSystem::new(&ctx, handle);
            let (name, text) = match (path, string) {
                (None, None) => {
                    return Err(ModError::BadArguments("Must pass path or string.".into()))
                }
                (Some(_), Some(_)) => {
                    return Err(ModError::BadArguments(
                        "Must not pass both path and string.".into(),
                    ))
                }
                (None, Some(text)) => (":string:".to_string(), text),
                (Some(path), None) => {
                    let bytes = match path.strip_prefix("salt://") {
                        Some(rel) => sys
                            .files
                            .read(&saltenv, rel)
                            .map_err(|e| failed(e.to_string()))?,
                        None => std::fs::read(&path).ok(),
                    };
                    match bytes {
                        Some(b) => (path, String::from_utf8_lossy(&b).into_owned()),
                        // Salt's compile_template: a missing template is {}.
                        None => return Ok(Value::Object(Map::new()).into()),
                    }
                }
            };
            let text = if text.starts_with("#!") || default_renderer == "jinja|yaml" {
                text
            } else {
                format!("#!{default_renderer}\n{text}")
            };
            // a killed job stops its render
            ctx.cancel
                .clone()
                .scope(|| sys.render_text(&saltenv, &name, &text, &pillar))
                .map(Into::into)
                .map_err(failed)
        })
        .await
        .map_err(|e| failed(format!("render task failed: {e}")))?
    })
}

// ---- serializers --------------------------------------------------------------------

fn serialize(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let serializer = a.take_str("serializer", 0)?;
        let obj = a.take("obj", 1)?;
        let mut options = a.rest_kwargs();
        a.finish()?;
        options.retain(|k, _| !k.starts_with("__"));
        let text = match serializer.as_str() {
            "json" => json_dumps(&obj, options)?,
            "yaml" => yaml_serialize(&obj, options)?,
            other => return Err(failed(format!("Serializer '{other}' not found."))),
        };
        Ok(Value::String(text).into())
    })
}

fn deserialize(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let serializer = a.take_str("serializer", 0)?;
        let text = a.take("stream_or_string", 1)?;
        a.rest_kwargs();
        a.finish()?;
        let text = as_str("stream_or_string", &text)?;
        let value = match serializer.as_str() {
            "json" => serde_json::from_str::<Value>(&text)
                .map_err(|e| failed(format!("Could not deserialize the data: {e}")))?,
            "yaml" => brine_states::yaml::load(&text)
                .map_err(|e| failed(format!("Could not deserialize the data: {e}")))?
                .to_json(),
            other => return Err(failed(format!("Serializer '{other}' not found."))),
        };
        Ok(value.into())
    })
}

/// Python's `json.dumps(obj, ensure_ascii=False, **options)`, as Salt's
/// json serializer calls it.
pub fn json_dumps(obj: &Value, mut options: Map<String, Value>) -> Result<String, ModError> {
    let indent = match options.remove("indent") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(n) => Some(" ".repeat(as_i64("indent", &n)?.max(0) as usize)),
    };
    let sort_keys = match options.remove("sort_keys") {
        Some(v) => as_bool("sort_keys", &v)?,
        None => false,
    };
    let ensure_ascii = match options.remove("ensure_ascii") {
        Some(v) => as_bool("ensure_ascii", &v)?,
        None => false,
    };
    let (item_sep, key_sep) = match options.remove("separators") {
        Some(Value::Array(pair)) if pair.len() == 2 => (
            as_str("separators", &pair[0])?,
            as_str("separators", &pair[1])?,
        ),
        Some(Value::Null) | None if indent.is_some() => (",".to_string(), ": ".to_string()),
        Some(Value::Null) | None => (", ".to_string(), ": ".to_string()),
        Some(_) => return Err(failed("separators must be a pair of strings")),
    };
    if let Some(k) = options.keys().next() {
        return Err(failed(format!(
            "JSONEncoder.__init__() got an unexpected keyword argument '{k}'"
        )));
    }
    let fmt = JsonFormat {
        indent,
        sort_keys,
        ensure_ascii,
        item_sep,
        key_sep,
    };
    Ok(fmt.dumps(obj))
}

/// Salt's yaml serializer: `yaml.dump(obj, default_flow_style=None)` with
/// keys sorted, minus the final newline (and the `...` end marker PyYAML
/// puts after a lone scalar).
pub fn yaml_serialize(obj: &Value, mut options: Map<String, Value>) -> Result<String, ModError> {
    let flow = match options.remove("default_flow_style") {
        None | Some(Value::Null) => None,
        Some(v) => Some(as_bool("default_flow_style", &v)?),
    };
    let sort_keys = match options.remove("sort_keys") {
        Some(v) => as_bool("sort_keys", &v)?,
        None => true,
    };
    // Layout options PyYAML takes that do not change the data.
    for k in [
        "indent",
        "width",
        "allow_unicode",
        "Dumper",
        "encoding",
        "line_break",
    ] {
        options.remove(k);
    }
    if let Some(k) = options.keys().next() {
        return Err(failed(format!(
            "dump_all() got an unexpected keyword argument '{k}'"
        )));
    }
    let obj = if sort_keys {
        sorted_keys(obj)
    } else {
        obj.clone()
    };
    let text = match flow {
        Some(flow) => trim_yaml(&brine_states::yaml::dump(&obj, flow)).to_string(),
        None => {
            let mut out = String::new();
            yaml_mixed(&obj, 0, &mut out);
            out
        }
    };
    Ok(text)
}

fn sorted_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted_keys(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted_keys).collect()),
        other => other.clone(),
    }
}

fn trim_yaml(text: &str) -> &str {
    let t = text.strip_suffix("\n...\n").unwrap_or(text);
    t.strip_suffix('\n').unwrap_or(t)
}

/// PyYAML's `default_flow_style=None`: a collection whose items are all
/// scalars (or that is empty) is written in flow style, others in block.
fn is_flow(v: &Value) -> bool {
    match v {
        Value::Array(items) => items.iter().all(is_scalar),
        Value::Object(m) => m.values().all(is_scalar),
        _ => true,
    }
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Array(_) | Value::Object(_))
}

/// A scalar as the YAML dumper writes it; inside a flow collection, a plain
/// string holding a flow indicator must be quoted (PyYAML does so).
fn yaml_scalar(v: &Value, in_flow: bool) -> String {
    let dumped = brine_states::yaml::dump(v, true);
    let text = trim_yaml(&dumped);
    let plain = !text.starts_with(['\'', '"']);
    if in_flow && v.is_string() && plain && text.contains([',', '[', ']', '{', '}']) {
        return format!("'{}'", text.replace('\'', "''"));
    }
    text.to_string()
}

/// A collection of scalars in flow style (`[1, x]`, `{a: 1}`), as PyYAML
/// writes it when it fits on the line.
fn yaml_flow(v: &Value) -> String {
    match v {
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(yaml_flow).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(m) => {
            let inner: Vec<String> = m
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}: {}",
                        yaml_scalar(&Value::String(k.clone()), true),
                        yaml_flow(v)
                    )
                })
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
        scalar => yaml_scalar(scalar, true),
    }
}

/// A scalar or flow collection as PyYAML writes it at `indent`:
/// continuation lines (of a long quoted string) moved right by `indent`.
fn yaml_inline(v: &Value, indent: usize) -> String {
    let text = if is_scalar(v) {
        yaml_scalar(v, false)
    } else {
        yaml_flow(v)
    };
    let pad = " ".repeat(indent);
    let mut lines = text.split('\n');
    let mut out = lines.next().unwrap_or_default().to_string();
    for line in lines {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&pad);
        }
        out.push_str(line);
    }
    out
}

/// Writes `v` (a block collection at top level, or anything) at `indent`;
/// the first line carries no indentation (the caller placed it).
fn yaml_mixed(v: &Value, indent: usize, out: &mut String) {
    if is_flow(v) {
        out.push_str(&yaml_inline(v, indent));
        return;
    }
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) => {
            for (i, (k, val)) in m.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                    out.push_str(&pad);
                }
                out.push_str(&yaml_inline(&Value::String(k.clone()), indent));
                out.push(':');
                match val {
                    Value::Object(_) if !is_flow(val) => {
                        out.push('\n');
                        out.push_str(&" ".repeat(indent + 2));
                        yaml_mixed(val, indent + 2, out);
                    }
                    // PyYAML does not indent a block list under a key.
                    Value::Array(_) if !is_flow(val) => {
                        out.push('\n');
                        out.push_str(&pad);
                        yaml_mixed(val, indent, out);
                    }
                    _ => {
                        out.push(' ');
                        out.push_str(&yaml_inline(val, indent));
                    }
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                    out.push_str(&pad);
                }
                out.push_str("- ");
                yaml_mixed(item, indent + 2, out);
            }
        }
        _ => out.push_str(&yaml_inline(v, indent)),
    }
}

// ---- state tree ---------------------------------------------------------------------

/// Which kind of entry the state tree must hold at a path.
#[derive(Clone, Copy)]
enum Kind {
    File,
    Dir,
}

/// Whether `path` is a file or directory under one of the local
/// `file_roots` of `saltenv` (Salt compares with the master's file list,
/// whose entries are relative paths without `.` or `..`).
fn in_state_tree(ctx: &CallCtx, path: &str, saltenv: &str, kind: Kind) -> bool {
    let rel = Path::new(path);
    if path.is_empty()
        || path.ends_with('/')
        || !rel.components().all(|c| matches!(c, Component::Normal(_)))
    {
        return false;
    }
    // TODO(lead): with a remote file client, ask the master's file server.
    let Some(roots) = ctx
        .config
        .file_roots
        .get(saltenv)
        .and_then(|r| r.as_sequence())
    else {
        return false;
    };
    roots.iter().filter_map(|r| r.as_str()).any(|root| {
        let full = Path::new(root).join(rel);
        match kind {
            Kind::File => full.is_file(),
            Kind::Dir => full.is_dir(),
        }
    })
}

fn tree_check(ctx: CallCtx, args: Args, kinds: &'static [Kind]) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let path = a.take_str("path", 0)?;
        let saltenv = a.opt_str("saltenv", 1)?.unwrap_or_else(|| "base".into());
        a.finish()?;
        let found = kinds
            .iter()
            .any(|k| in_state_tree(&ctx, &path, &saltenv, *k));
        Ok(Value::Bool(found).into())
    })
}

fn file_exists(ctx: CallCtx, args: Args) -> ModFuture {
    tree_check(ctx, args, &[Kind::File])
}

fn dir_exists(ctx: CallCtx, args: Args) -> ModFuture {
    tree_check(ctx, args, &[Kind::Dir])
}

fn path_exists(ctx: CallCtx, args: Args) -> ModFuture {
    tree_check(ctx, args, &[Kind::File, Kind::Dir])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MinionConfig;
    use crate::registry::{test_ctx, ModFn};
    use serde_json::json;
    use std::sync::Arc;

    async fn run_with(
        ctx: CallCtx,
        f: ModFn,
        name: &'static str,
        arg: Value,
        kw: Value,
    ) -> Result<Value, String> {
        crate::registry::test_call(ctx, f, name, arg, kw).await
    }

    async fn run(f: ModFn, name: &'static str, arg: Value, kw: Value) -> Result<Value, String> {
        run_with(test_ctx(), f, name, arg, kw).await
    }

    #[tokio::test]
    async fn merge_update_boolstr() {
        assert_eq!(
            run(
                merge,
                "slsutil.merge",
                json!([{"a": {"x": 1}}, {"a": {"y": 2}}]),
                json!({})
            )
            .await,
            Ok(json!({"a": {"x": 1, "y": 2}}))
        );
        assert_eq!(
            run(
                merge,
                "slsutil.merge",
                json!([{"a": {"x": 1}}, {"a": {"y": 2}}]),
                json!({"strategy": "overwrite"})
            )
            .await,
            Ok(json!({"a": {"y": 2}}))
        );
        assert_eq!(
            run(merge, "slsutil.merge", json!([[1], {"a": 1}]), json!({})).await,
            Err("Cannot update using non-dict types in dictupdate.update()".into())
        );
        assert_eq!(
            run(
                merge_all,
                "slsutil.merge_all",
                json!([[{"foo": "Foo"}, {"foo": "Bar"}, {"l": [1]}, {"l": [2]}]]),
                json!({"merge_lists": true})
            )
            .await,
            Ok(json!({"foo": "Bar", "l": [1, 2]}))
        );
        assert_eq!(
            run(
                update,
                "slsutil.update",
                json!([{"a": {"x": 1}}, {"a": {"y": 2}}]),
                json!({"recursive_update": false})
            )
            .await,
            Ok(json!({"a": {"y": 2}}))
        );
        assert_eq!(
            run(
                update,
                "slsutil.update",
                json!([{"a": {"x": 1}}, {"a": {"y": 2}}]),
                json!({})
            )
            .await,
            Ok(json!({"a": {"x": 1, "y": 2}}))
        );
        assert_eq!(
            run(
                boolstr,
                "slsutil.boolstr",
                json!([true, "yes", "no"]),
                json!({})
            )
            .await,
            Ok(json!("yes"))
        );
        assert_eq!(
            run(boolstr, "slsutil.boolstr", json!([""]), json!({})).await,
            Ok(json!("false"))
        );
        assert_eq!(
            run(boolstr, "slsutil.boolstr", json!([[0]]), json!({})).await,
            Ok(json!("true"))
        );
        assert_eq!(
            run(boolstr, "slsutil.boolstr", json!([]), json!({})).await,
            Err("slsutil.boolstr() missing 1 required positional argument: 'value'".into())
        );
    }

    #[tokio::test]
    async fn json_like_python() {
        let obj = json!({"a": "yes", "b": [1, "x y"], "c": {}, "f": "multi\nline\u{1}", "g": null, "h": 1.5, "i": true, "é": 1e16});
        assert_eq!(
            run(serialize, "slsutil.serialize", json!(["json", obj.clone()]), json!({})).await,
            Ok(json!("{\"a\": \"yes\", \"b\": [1, \"x y\"], \"c\": {}, \"f\": \"multi\\nline\\u0001\", \"g\": null, \"h\": 1.5, \"i\": true, \"é\": 1e+16}"))
        );
        assert_eq!(
            run(
                serialize,
                "slsutil.serialize",
                json!(["json", {"é": 1, "b": [1], "a": {}}]),
                json!({"indent": 2, "sort_keys": true})
            )
            .await,
            Ok(json!(
                "{\n  \"a\": {},\n  \"b\": [\n    1\n  ],\n  \"é\": 1\n}"
            ))
        );
        assert_eq!(
            run(
                serialize,
                "slsutil.serialize",
                json!(["json", "é😀"]),
                json!({"ensure_ascii": true})
            )
            .await,
            Ok(json!("\"\\u00e9\\ud83d\\ude00\""))
        );
        assert_eq!(
            run(
                serialize,
                "slsutil.serialize",
                json!(["toml", {}]),
                json!({})
            )
            .await,
            Err("Serializer 'toml' not found.".into())
        );
        assert_eq!(
            run(
                deserialize,
                "slsutil.deserialize",
                json!(["json", "{\"foo\": [1, \"Foo!\"]}"]),
                json!({})
            )
            .await,
            Ok(json!({"foo": [1, "Foo!"]}))
        );
        assert_eq!(
            run(
                deserialize,
                "slsutil.deserialize",
                json!(["yaml", "foo: [1, bar]\n"]),
                json!({})
            )
            .await,
            Ok(json!({"foo": [1, "bar"]}))
        );
        assert!(run(
            deserialize,
            "slsutil.deserialize",
            json!(["json", "{"]),
            json!({})
        )
        .await
        .is_err());
    }

    #[tokio::test]
    async fn yaml_layout_is_pyyamls_mixed_style() {
        // Keys sorted, collections of scalars in flow style, lists not
        // indented under their key, nested sequences on one line.
        let obj = json!({"b": [1, 2], "a": {"c": 1, "d": ["x", {"y": 1}]}, "e": [[1, 2], [3, [4]]], "z": [{}]});
        assert_eq!(
            yaml_serialize(&obj, Map::new()).unwrap(),
            "a:\n  c: 1\n  d:\n  - x\n  - {y: 1}\nb: [1, 2]\ne:\n- [1, 2]\n- - 3\n  - [4]\nz:\n- {}"
        );
        let seq = json!([{"a": 1, "b": [[1]]}, [[1, {"x": 1}]]]);
        assert_eq!(
            yaml_serialize(&seq, Map::new()).unwrap(),
            "- a: 1\n  b:\n  - [1]\n- - - 1\n    - {x: 1}"
        );
        assert_eq!(
            yaml_serialize(&json!({"n": {"m": 1}}), Map::new()).unwrap(),
            "n: {m: 1}"
        );
        // Quoting `yes` (YAML 1.1 boolean) is the scalar dumper's job: Salt
        // prints `'yes'`, which this gives once `yaml::dump` is PyYAML-exact.
        let yes = yaml_scalar(&json!("yes"), true);
        assert_eq!(
            yaml_serialize(
                &json!({"b": [1, "x y", "a,b", "yes", null, true, 1.5]}),
                Map::new()
            )
            .unwrap(),
            format!("b: [1, x y, 'a,b', {yes}, null, true, 1.5]")
        );
        assert_eq!(
            yaml_serialize(&json!("scalar"), Map::new()).unwrap(),
            "scalar"
        );
    }

    #[tokio::test]
    async fn state_tree_lookups_read_the_local_roots() {
        let dir = tempfile::TempDir::new().unwrap();
        std::fs::create_dir_all(dir.path().join("nginx/files")).unwrap();
        std::fs::write(dir.path().join("nginx/init.sls"), "{}\n").unwrap();
        let raw = brine_proto::conf::RawConfig::parse(
            "minion",
            &format!(
                "file_client: local\nfile_roots:\n  base: ['{}']\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let mut ctx = test_ctx();
        ctx.config = Arc::new(MinionConfig::from_raw(dir.path(), raw).unwrap());
        let check = |f: ModFn, name: &'static str, path: &str| {
            run_with(ctx.clone(), f, name, json!([path]), json!({}))
        };
        assert_eq!(
            check(file_exists, "slsutil.file_exists", "nginx/init.sls").await,
            Ok(json!(true))
        );
        assert_eq!(
            check(file_exists, "slsutil.file_exists", "nginx/files").await,
            Ok(json!(false))
        );
        assert_eq!(
            check(file_exists, "slsutil.file_exists", "/nginx/init.sls").await,
            Ok(json!(false))
        );
        assert_eq!(
            check(
                file_exists,
                "slsutil.file_exists",
                "nginx/../nginx/init.sls"
            )
            .await,
            Ok(json!(false))
        );
        assert_eq!(
            check(dir_exists, "slsutil.dir_exists", "nginx/files").await,
            Ok(json!(true))
        );
        assert_eq!(
            check(dir_exists, "slsutil.dir_exists", "nginx/init.sls").await,
            Ok(json!(false))
        );
        assert_eq!(
            check(path_exists, "slsutil.path_exists", "nginx/init.sls").await,
            Ok(json!(true))
        );
        assert_eq!(
            check(path_exists, "slsutil.path_exists", "apache").await,
            Ok(json!(false))
        );
        assert_eq!(
            run_with(
                ctx.clone(),
                file_exists,
                "slsutil.file_exists",
                json!(["nginx/init.sls"]),
                json!({"saltenv": "dev"})
            )
            .await,
            Ok(json!(false))
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn renderer_renders_strings_and_missing_files_are_empty() {
        let mut ctx = test_ctx();
        ctx.fixed_pillar = Some(Arc::new(json!({"role": "web"})));
        let got = run_with(
            ctx.clone(),
            renderer,
            "slsutil.renderer",
            json!([]),
            json!({"string": "a: {{ pillar['role'] }}\nb: {{ 1 + 1 }}\n"}),
        )
        .await;
        assert_eq!(got, Ok(json!({"a": "web", "b": 2})));
        let got = run_with(
            ctx.clone(),
            renderer,
            "slsutil.renderer",
            json!(["/nonexistent/roster"]),
            json!({}),
        )
        .await;
        assert_eq!(got, Ok(json!({})));
        let got = run_with(ctx, renderer, "slsutil.renderer", json!([]), json!({})).await;
        assert_eq!(got, Err("Must pass path or string.".into()));
    }
}
