//! Reactor SLS files: read (cached per file, read again when its hash or
//! mtime changes), rendered with Jinja (`tag`, `data`, `opts`, `salt`) then
//! YAML, and turned into Salt's reactions:
//!
//! ```yaml
//! clean_up:
//!   local.state.apply:
//!     - tgt: {{ data['id'] }}
//!     - args:
//!       - mods: cleanup
//! update_fileserver:
//!   runner.fileserver.update
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde_json::{json, Map, Value};

use crate::fileserver::{pillar_renderer, FileServer, ServeError};
use crate::orchestrate::ServedFiles;
use crate::state::Master;

/// Reactor SLS larger than this are refused (a reactor file is a few lines).
const MAX_SLS_BYTES: u64 = 1 << 20;

/// One action of a rendered reactor SLS.
#[derive(Debug, Clone, PartialEq)]
pub struct Reaction {
    /// The SLS id (`clean_up`).
    pub id: String,
    /// `local.state.apply`, `runner.fileserver.update`, `wheel.key.accept`,
    /// `alert.send`.
    pub fun: String,
    /// The action's arguments, each list item's key merged (`tgt`, `args`...).
    pub args: Map<String, Value>,
}

struct Cached {
    /// sha256 for `salt://`, mtime and length for a local path.
    stamp: String,
    text: Arc<String>,
}

/// The text of every reactor SLS read, keyed by path.
#[derive(Default)]
pub struct SlsCache {
    files: Mutex<HashMap<String, Cached>>,
}

fn local_stamp(meta: &std::fs::Metadata) -> String {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{mtime}:{}", meta.len())
}

impl SlsCache {
    /// The current text of `path` (`salt://...` or absolute).
    pub fn load(&self, files: &FileServer, path: &str) -> Result<Arc<String>, String> {
        let known = self
            .files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(path)
            .map(|c| (c.stamp.clone(), c.text.clone()));
        let (stamp, text) = match path.strip_prefix("salt://") {
            Some(rel) => {
                let have = known.as_ref().map(|(s, _)| s.as_str());
                let blob = match files.get("base", rel, have) {
                    Ok(Some(b)) => b,
                    Ok(None) => return Err(format!("{path}: no such file on the file server")),
                    Err(ServeError::Source(e)) => return Err(format!("{path}: {e}")),
                    Err(e) => return Err(format!("{path}: {e}")),
                };
                match blob.data {
                    None => {
                        return known
                            .map(|(_, t)| t)
                            .ok_or_else(|| format!("{path}: empty"))
                    }
                    Some(data) => (blob.sha256, data),
                }
            }
            None => {
                let meta = std::fs::metadata(path).map_err(|e| format!("{path}: {e}"))?;
                let stamp = local_stamp(&meta);
                if let Some((s, t)) = &known {
                    if *s == stamp {
                        return Ok(t.clone());
                    }
                }
                if meta.len() > MAX_SLS_BYTES {
                    return Err(format!(
                        "{path}: {} bytes, over the {MAX_SLS_BYTES} a reactor SLS may have",
                        meta.len()
                    ));
                }
                (
                    stamp,
                    std::fs::read(path).map_err(|e| format!("{path}: {e}"))?,
                )
            }
        };
        let text =
            Arc::new(String::from_utf8(text).map_err(|_| format!("{path}: not UTF-8 text"))?);
        self.files.lock().unwrap_or_else(|p| p.into_inner()).insert(
            path.to_string(),
            Cached {
                stamp,
                text: text.clone(),
            },
        );
        Ok(text)
    }
}

/// The renderer stages of a reactor SLS: its `#!` line, else `jinja|yaml`.
fn stages(text: &str) -> Vec<String> {
    let spec = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("#!"))
        .unwrap_or("jinja|yaml");
    spec.split('|')
        .filter_map(|s| s.split_whitespace().next())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Renders one reactor SLS for an event into its reactions.
pub fn render(
    master: &Master,
    path: &str,
    text: &str,
    tag: &str,
    data: &Value,
) -> Result<Vec<Reaction>, String> {
    let grains = Map::new();
    let opts = json!({"id": master.config.id, "__role": "master", "conf_file": master.config.config_dir.join("master")});
    let functions = master
        .pillar_functions
        .get()
        .map(|make| make(&crate::orchestrate::orchestrator_id(master), &grains));
    let files = ServedFiles(&master.files);
    let renderer = pillar_renderer(&files, &grains, &opts, functions.as_deref().map(|f| f as _));
    render_in(&renderer.env("base"), path, text, tag, data)
}

/// [`render`] in a given render environment.
pub fn render_in(
    env: &brine_states::render::RenderEnv<'_>,
    path: &str,
    text: &str,
    tag: &str,
    data: &Value,
) -> Result<Vec<Reaction>, String> {
    let mut extra = Map::new();
    extra.insert("tag".into(), Value::String(tag.to_string()));
    extra.insert("data".into(), data.clone());
    let name = path.strip_prefix("salt://").unwrap_or(path);
    let mut body = text.to_string();
    for stage in stages(text) {
        match stage.as_str() {
            "jinja" => {
                body = brine_states::render::render_template(env, name, &body, &extra)
                    .map_err(|e| format!("{path}: {e}"))?
            }
            "yaml" | "yamlex" | "json" => break,
            other => {
                return Err(format!(
                    "{path}: renderer '{other}' is not supported for reactor SLS (jinja|yaml is)"
                ))
            }
        }
    }
    let node = brine_states::yaml::load(&body).map_err(|e| format!("{path}: {}", e.message))?;
    reactions_from(&node.to_json()).map_err(|e| format!("{path}: {e}"))
}

/// Salt's reactor high data: `id: {fun: [{arg: value}, ...]}` or
/// `id: fun` (no arguments).
pub fn reactions_from(data: &Value) -> Result<Vec<Reaction>, String> {
    let map = match data {
        Value::Null => return Ok(Vec::new()),
        Value::Object(m) => m,
        other => return Err(format!("rendered to {other}, not a mapping of reactions")),
    };
    let mut out = Vec::new();
    for (id, body) in map {
        match body {
            Value::String(fun) => out.push(Reaction {
                id: id.clone(),
                fun: fun.clone(),
                args: Map::new(),
            }),
            Value::Object(funs) => {
                for (fun, items) in funs {
                    out.push(Reaction {
                        id: id.clone(),
                        fun: fun.clone(),
                        args: merge_items(id, items)?,
                    });
                }
            }
            other => return Err(format!("'{id}': {other} is not an action")),
        }
    }
    Ok(out)
}

/// `[{tgt: x}, {args: [...]}]` (or already a mapping) to one mapping.
fn merge_items(id: &str, items: &Value) -> Result<Map<String, Value>, String> {
    let mut args = Map::new();
    match items {
        Value::Null => {}
        Value::Object(m) => args = m.clone(),
        Value::Array(list) => {
            for item in list {
                match item {
                    Value::Object(m) => args.extend(m.clone()),
                    other => {
                        return Err(format!(
                            "'{id}': argument {other} is not a 'name: value' item"
                        ))
                    }
                }
            }
        }
        other => return Err(format!("'{id}': arguments {other} are not a list")),
    }
    Ok(args)
}

/// Positional and keyword arguments of a reaction from Salt's two forms:
/// the old `arg: [...]` / `kwarg: {...}` and the new `args:` (a list whose
/// `name: value` items are keywords and other items positional, or a
/// mapping of keywords). With `rest_are_kwargs` (runners, wheel, alerts)
/// every other key is a keyword too, as Salt passes them.
pub fn call_args(
    args: &Map<String, Value>,
    skip: &[&str],
    rest_are_kwargs: bool,
) -> Result<(Vec<Value>, Map<String, Value>), String> {
    let mut arg = Vec::new();
    let mut kwarg = Map::new();
    match args.get("arg") {
        None | Some(Value::Null) => {}
        Some(Value::Array(l)) => arg.extend(l.iter().cloned()),
        Some(v) => arg.push(v.clone()),
    }
    match args.get("kwarg") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => kwarg.extend(m.clone()),
        Some(v) => return Err(format!("kwarg {v} is not a mapping")),
    }
    match args.get("args") {
        None | Some(Value::Null) => {}
        Some(Value::Array(l)) => {
            for item in l {
                match item {
                    Value::Object(m) if m.len() == 1 => kwarg.extend(m.clone()),
                    other => arg.push(other.clone()),
                }
            }
        }
        Some(Value::Object(m)) => kwarg.extend(m.clone()),
        Some(v) => arg.push(v.clone()),
    }
    if rest_are_kwargs {
        for (k, v) in args {
            if !matches!(k.as_str(), "arg" | "args" | "kwarg") && !skip.contains(&k.as_str()) {
                kwarg.insert(k.clone(), v.clone());
            }
        }
    }
    Ok((arg, kwarg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(yaml: &str) -> Vec<Reaction> {
        let node = brine_states::yaml::load(yaml).unwrap();
        reactions_from(&node.to_json()).unwrap()
    }

    #[test]
    fn new_and_old_syntax() {
        let r = parsed(
            "apply:\n  local.state.apply:\n    - tgt: web1\n    - args:\n      - mods: cleanup\n\
             old:\n  local.cmd.run:\n    - tgt: 'G@os:Debian'\n    - tgt_type: compound\n    - arg:\n      - 'rm -rf /tmp/x'\n\
             update:\n  runner.fileserver.update\n",
        );
        assert_eq!(r.len(), 3);
        let apply = r.iter().find(|x| x.id == "apply").unwrap();
        assert_eq!(apply.fun, "local.state.apply");
        assert_eq!(apply.args["tgt"], "web1");
        let (arg, kwarg) = call_args(&apply.args, &["tgt", "tgt_type"], false).unwrap();
        assert!(arg.is_empty());
        assert_eq!(kwarg["mods"], "cleanup");
        let old = r.iter().find(|x| x.id == "old").unwrap();
        let (arg, kwarg) = call_args(&old.args, &["tgt", "tgt_type"], false).unwrap();
        assert_eq!(arg, [json!("rm -rf /tmp/x")]);
        assert!(kwarg.is_empty());
        let update = r.iter().find(|x| x.id == "update").unwrap();
        assert_eq!(update.fun, "runner.fileserver.update");
        assert!(update.args.is_empty());
    }

    #[test]
    fn runner_keywords_and_kwarg() {
        let r = parsed(
            "orch:\n  runner.state.orchestrate:\n    - mods: orch.fix\n    - kwarg:\n        pillar: {a: 1}\n    - args:\n      - saltenv: base\n      - positional\n",
        );
        let (arg, kwarg) = call_args(&r[0].args, &[], true).unwrap();
        assert_eq!(arg, [json!("positional")]);
        assert_eq!(kwarg["mods"], "orch.fix");
        assert_eq!(kwarg["pillar"], json!({"a": 1}));
        assert_eq!(kwarg["saltenv"], "base");
    }

    #[test]
    fn bad_shapes_are_errors() {
        let node = brine_states::yaml::load("x:\n  local.test.ping:\n    - justastring\n").unwrap();
        assert!(reactions_from(&node.to_json()).is_err());
        assert!(reactions_from(&json!([1, 2])).is_err());
        assert_eq!(reactions_from(&Value::Null).unwrap(), []);
        let bad = json!({"kwarg": [1]});
        assert!(call_args(bad.as_object().unwrap(), &[], false).is_err());
    }

    struct NoFiles;
    impl brine_states::FileSource for NoFiles {
        fn read(&self, _: &str, _: &str) -> Result<Option<Vec<u8>>, brine_states::SourceError> {
            Ok(None)
        }
        fn list(&self, _: &str) -> Result<Vec<String>, brine_states::SourceError> {
            Ok(Vec::new())
        }
        fn envs(&self) -> Vec<String> {
            vec!["base".into()]
        }
    }

    #[test]
    fn jinja_sees_tag_and_data() {
        let grains = Map::new();
        let opts = json!({"id": "m_master"});
        let files = NoFiles;
        let r = pillar_renderer(&files, &grains, &opts, None);
        let text = "{% if data['data']['foo'] == 'bar' %}\nrun_{{ tag | replace('/', '_') }}:\n  local.cmd.run:\n    - tgt: {{ data['id'] }}\n    - arg:\n      - touch /tmp/{{ data['data']['foo'] }}\n{% endif %}\n";
        let data = json!({"id": "web1", "tag": "mytag", "data": {"foo": "bar"}});
        let out = render_in(&r.env("base"), "/srv/reactor/x.sls", text, "my/tag", &data).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].id, "run_my_tag");
        assert_eq!(out[0].args["tgt"], "web1");
        assert_eq!(out[0].args["arg"], json!(["touch /tmp/bar"]));
        let other = json!({"id": "web1", "data": {"foo": "no"}});
        assert!(render_in(&r.env("base"), "/x.sls", text, "my/tag", &other)
            .unwrap()
            .is_empty());
        let err = render_in(&r.env("base"), "/x.sls", "{{ nope(", "t", &data).unwrap_err();
        assert!(err.contains("/x.sls"), "{err}");
    }

    /// The shipped example (examples/disk-cleanup) renders to its clean-up
    /// job on the minion and its alert, and the alert template to JSON.
    #[test]
    fn the_disk_cleanup_example_renders() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/disk-cleanup");
        let text = std::fs::read_to_string(dir.join("reactor/disk-cleanup.sls")).unwrap();
        let grains = Map::new();
        let opts = json!({"id": "m_master"});
        let files = NoFiles;
        let r = pillar_renderer(&files, &grains, &opts, None);
        let data = json!({"diskusage": 97.26, "mount": "/", "id": "web1"});
        let tag = "brine/beacon/web1/diskusage//";
        let out = render_in(
            &r.env("base"),
            "salt://reactor/disk-cleanup.sls",
            &text,
            tag,
            &data,
        )
        .unwrap();
        assert_eq!(out.len(), 2, "{out:?}");
        let apply = out.iter().find(|x| x.fun == "local.state.apply").unwrap();
        assert_eq!(apply.args["tgt"], "web1");
        let (_, kwarg) = call_args(&apply.args, &["tgt"], false).unwrap();
        assert_eq!(kwarg["mods"], "disk-cleanup");
        let alert = out.iter().find(|x| x.fun == "alert.send").unwrap();
        let (_, kwarg) = call_args(&alert.args, &[], true).unwrap();
        assert_eq!(kwarg["title"], "Disk / on web1 at 97.3%");
        assert_eq!(kwarg["severity"], "critical");
        let grains = json!({"owner": "team-web", "appcode": "SHOP"});
        let a = crate::alerts::build_alert(
            "a1",
            "m",
            &kwarg,
            Some(("web1", grains.as_object())),
            Some((tag, &data)),
        )
        .unwrap();
        let template = std::fs::read_to_string(dir.join("alert.json.j2")).unwrap();
        let mut extra = a.as_object().unwrap().clone();
        extra.insert("alert".into(), a.clone());
        let body =
            brine_states::render::render_template(&r.env("base"), "t", &template, &extra).unwrap();
        let body: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!(body["text"], "[CRITICAL] Disk / on web1 at 97.3%");
        assert_eq!(body["owner"], "team-web");
        assert_eq!(body["event"]["data"]["diskusage"], 97.26);
    }

    #[test]
    fn stages_follow_the_shebang() {
        assert_eq!(stages("a: 1"), ["jinja", "yaml"]);
        assert_eq!(stages("#!yaml\na: 1"), ["yaml"]);
        assert_eq!(stages("#!jinja | yaml\na: 1"), ["jinja", "yaml"]);
    }
}
