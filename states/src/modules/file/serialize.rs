//! `file.serialize`: write a data structure as YAML or JSON, the way Salt's
//! serializers format it.

use serde_json::{Map, Value};

use super::{managed, source};
use crate::ctx::{StateArgs, StateCtx};
use crate::result::StateResult;

pub const DOC: &str = "Serialize a data structure (dataset or dataset_pillar) into a file\n\
name, dataset, dataset_pillar, serializer (formatter): yaml|json, merge_if_exists, user, group, mode, makedirs, backup, create, show_changes, check_cmd";

pub fn serialize(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    if name.is_empty() {
        return StateResult::fail(name, "Must provide name to file.serialize");
    }
    if !args.bool("create", true) && !std::path::Path::new(name).is_file() {
        return StateResult::ok(
            name,
            format!("File {name} is not present and is not set for creation"),
        );
    }
    let (serializer, formatter) = (args.str("serializer"), args.str("formatter"));
    if serializer.is_some() && formatter.is_some() {
        return StateResult::fail(name, "Only one of serializer and formatter are allowed");
    }
    let serializer = serializer
        .or(formatter)
        .unwrap_or_else(|| "yaml".into())
        .to_lowercase();
    let truthy = |k: &str| {
        args.get(k)
            .is_some_and(|v| !source::python_str(v).is_empty() && *v != Value::Bool(false))
    };
    if truthy("dataset") && truthy("dataset_pillar") {
        return StateResult::fail(
            name,
            "Only one of 'dataset' and 'dataset_pillar' is permitted",
        );
    }
    let dataset = match args
        .str("dataset_pillar")
        .filter(|_| truthy("dataset_pillar"))
    {
        Some(key) => source::pillar_get(ctx.pillar, &key, ":").cloned(),
        None => args.get("dataset").cloned(),
    };
    let Some(mut dataset) = dataset else {
        return StateResult::fail(name, "Neither 'dataset' nor 'dataset_pillar' was defined");
    };
    if serializer != "yaml" && serializer != "json" {
        return StateResult::fail(
            name,
            format!(
                "The {serializer} serializer could not be found. It either does not exist or its prerequisites are not installed."
            ),
        );
    }
    // Salt reports a merge as a per-key diff of the old and merged data.
    let mut merge_diff = None;
    if args.bool("merge_if_exists", false) && std::path::Path::new(name).is_file() {
        let text = std::fs::read_to_string(name).unwrap_or_default();
        let existing = match deserialize(&serializer, &text) {
            Ok(v) => v,
            Err(e) => {
                return StateResult::fail(name, format!("Failed to deserialize existing data: {e}"))
            }
        };
        if !existing.is_null() {
            let merged = merge_recurse(&existing, &dataset);
            if merged == existing {
                return StateResult::ok(name, format!("The file {name} is in the correct state"));
            }
            if existing.is_object() && merged.is_object() {
                merge_diff = Some(recursive_diff(&existing, &merged));
            }
            dataset = merged;
        }
    }
    let contents = match serializer.as_str() {
        "json" => json_dump(&dataset),
        _ => yaml_dump(&dataset),
    } + "\n";
    let plan = managed::Plan {
        follow_symlinks: false,
        ..managed::Plan::from_args(args)
    };
    let content = managed::Content::Inline(contents.into_bytes());
    if let Some(cmd) = args.get("check_cmd").filter(|_| !ctx.test) {
        if let Some(failed) = managed::check_new_content(ctx, name, &content, cmd) {
            return failed;
        }
    }
    let mut res = managed::apply(ctx, name, &content, &plan);
    if ctx.test && res.result.is_none() {
        res.comment = format!("Dataset will be serialized and stored into {name}");
    }
    if let Some(diff) = merge_diff {
        res.changes.insert("diff".into(), diff);
    }
    res
}

/// Salt's `RecursiveDictDiffer(...).diffs` with `ignore_missing_keys`: for
/// each key of `new` that is missing from or differs in `old`,
/// `{"new": .., "old": ..}` (`"<_null_>"` for a missing old value); two
/// mappings are compared key by key instead.
fn recursive_diff(old: &Value, new: &Value) -> Value {
    const NONE_VALUE: &str = "<_null_>";
    let (Value::Object(old), Value::Object(new)) = (old, new) else {
        return Value::Object(Map::new());
    };
    let mut out = Map::new();
    for (key, new_value) in new {
        match old.get(key) {
            None => {
                let mut m = Map::new();
                m.insert("new".into(), new_value.clone());
                m.insert("old".into(), NONE_VALUE.into());
                out.insert(key.clone(), Value::Object(m));
            }
            Some(old_value) if old_value != new_value => {
                if old_value.is_object() && new_value.is_object() {
                    let sub = recursive_diff(old_value, new_value);
                    if sub.as_object().is_some_and(|m| !m.is_empty()) {
                        out.insert(key.clone(), sub);
                    }
                    continue;
                }
                let mut m = Map::new();
                m.insert("new".into(), new_value.clone());
                m.insert("old".into(), old_value.clone());
                out.insert(key.clone(), Value::Object(m));
            }
            Some(_) => {}
        }
    }
    Value::Object(out)
}

fn deserialize(serializer: &str, text: &str) -> Result<Value, String> {
    if serializer == "json" {
        return serde_json::from_str(text).map_err(|e| e.to_string());
    }
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    crate::yaml::load(text)
        .map(|n| n.to_json())
        .map_err(|e| e.to_string())
}

/// Salt's `dictupdate.merge_recurse`: mappings merge key by key, anything
/// else is replaced by the new value.
fn merge_recurse(old: &Value, new: &Value) -> Value {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut out = o.clone();
            for (k, v) in n {
                let merged = match o.get(k) {
                    Some(prev) => merge_recurse(prev, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        _ => new.clone(),
    }
}

/// Salt's YAML serializer as `file.serialize` calls it: PyYAML's
/// `SafeDumper` with `default_flow_style=False` (block style, keys sorted,
/// non-ASCII escaped), without the final newline (or `...` document end).
fn yaml_dump(value: &Value) -> String {
    let out = crate::yaml::dump_with(
        value,
        &crate::yaml::DumpOptions {
            flow: crate::yaml::FlowStyle::Block,
            sort_keys: true,
            allow_unicode: false,
        },
    );
    if let Some(s) = out.strip_suffix("\n...\n") {
        return s.to_string();
    }
    out.strip_suffix('\n').unwrap_or(&out).to_string()
}

/// `json.dumps(obj, indent=2, separators=(",", ": "), sort_keys=True)` with
/// Python's default `ensure_ascii`.
pub fn json_dump(value: &Value) -> String {
    let text = serde_json::to_string_pretty(&sorted(value)).unwrap_or_default();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            let mut m = Map::new();
            for k in keys {
                m.insert(k.clone(), sorted(&o[k]));
            }
            Value::Object(m)
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::json_dump;
    use crate::modules::file::testkit::{snapshot, Kit};

    #[test]
    fn json_matches_pythons_dumps() {
        // json.dumps({"b": [1, {"z": 1, "a": "é"}], "a": {}}, indent=2,
        //            separators=(",", ": "), sort_keys=True)
        assert_eq!(
            json_dump(&json!({"b": [1, {"z": 1, "a": "é"}], "a": {}})),
            "{\n  \"a\": {},\n  \"b\": [\n    1,\n    {\n      \"a\": \"\\u00e9\",\n      \"z\": 1\n    }\n  ]\n}"
        );
    }

    #[test]
    fn writes_json_then_is_in_correct_state() {
        let kit = Kit::new();
        let f = kit.path("d.json");
        let args = json!({"dataset": {"port": 80, "name": "x"}, "serializer": "json"});
        let before = snapshot(&kit.root());
        let dry = kit.run("file.serialize", &f, args.clone(), true);
        assert_eq!(
            (dry.result, dry.comment.clone()),
            (
                None,
                format!("Dataset will be serialized and stored into {f}")
            )
        );
        assert_eq!(snapshot(&kit.root()), before);
        let r = kit.run("file.serialize", &f, args.clone(), false);
        assert_eq!(r.comment, format!("File {f} updated"));
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "{\n  \"name\": \"x\",\n  \"port\": 80\n}\n"
        );
        let r = kit.run("file.serialize", &f, args, false);
        assert_eq!(r.comment, format!("File {f} is in the correct state"));
    }

    #[test]
    fn merge_if_exists_keeps_existing_keys() {
        let kit = Kit::new();
        let f = kit.path("m.json");
        std::fs::write(&f, "{\"a\": 1, \"n\": {\"x\": 1}}").unwrap();
        let args =
            json!({"dataset": {"n": {"y": 2}}, "formatter": "json", "merge_if_exists": true});
        let r = kit.run("file.serialize", &f, args.clone(), false);
        assert_eq!(r.result, Some(true), "{}", r.comment);
        // Salt's per-key diff of the old and merged data, not a text diff
        assert_eq!(
            r.changes["diff"],
            json!({"n": {"y": {"new": 2, "old": "<_null_>"}}})
        );
        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        assert_eq!(written, json!({"a": 1, "n": {"x": 1, "y": 2}}));
        let r = kit.run("file.serialize", &f, args, false);
        assert_eq!(r.comment, format!("The file {f} is in the correct state"));
    }

    #[test]
    fn yaml_is_the_default_and_unknown_serializers_fail() {
        let kit = Kit::new();
        let f = kit.path("d.yaml");
        let r = kit.run(
            "file.serialize",
            &f,
            json!({"dataset": {"b": [1], "a": 1}}),
            false,
        );
        assert_eq!(r.result, Some(true), "{}", r.comment);
        // PyYAML's SafeDumper sorts the keys; default_flow_style=False
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "a: 1\nb:\n- 1\n");
        let r = kit.run(
            "file.serialize",
            &f,
            json!({"dataset": {"a": 1}, "serializer": "toml"}),
            false,
        );
        assert_eq!(r.result, Some(false));
        assert!(r
            .comment
            .starts_with("The toml serializer could not be found"));
        let r = kit.run("file.serialize", &f, json!({}), false);
        assert_eq!(
            r.comment,
            "Neither 'dataset' nor 'dataset_pillar' was defined"
        );
    }
}
