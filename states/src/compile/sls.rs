//! Rendering SLS files into one high data mapping, include by include
//! (Salt's `BaseHighState.render_state` / `render_highstate`).

use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value};

use super::fnmatch;
use crate::source::FileSource;
use crate::yaml::Node;

/// High data: state ID -> body, plus `__extend__` / `__exclude__`.
pub type High = Map<String, Value>;

/// Renders one SLS file to YAML data (Jinja, then YAML, by its shebang).
pub trait SlsRenderer {
    /// `path` is the file's path relative to the environment root
    /// (`web/init.sls`). The error is the text Salt prints after
    /// `Rendering SLS 'base:web' failed: `.
    fn render(&self, saltenv: &str, sls: &str, path: &str, text: &str) -> Result<Node, String>;
}

/// Builds high data for one run. Holds the auto-order counter and the set of
/// SLS already rendered, so each file is rendered once and numbered once.
pub struct HighCompiler<'a> {
    files: &'a dyn FileSource,
    renderer: &'a dyn SlsRenderer,
    avail: BTreeMap<String, Vec<String>>,
    iorder: i64,
    mods: HashSet<String>,
    /// IDs whose YAML key was not a string (`456:`, `true:`): the ID as
    /// Salt prints it, its SLS and its Python type. Salt's `verify_high`
    /// rejects them; the caller reports them with the other verify errors.
    pub non_string_ids: Vec<(String, String, &'static str)>,
}

impl<'a> HighCompiler<'a> {
    pub fn new(files: &'a dyn FileSource, renderer: &'a dyn SlsRenderer) -> HighCompiler<'a> {
        HighCompiler {
            files,
            renderer,
            avail: BTreeMap::new(),
            iorder: 10000,
            mods: HashSet::new(),
            non_string_ids: Vec::new(),
        }
    }

    /// The SLS names available in `saltenv` (`a/b.sls` -> `a.b`,
    /// `a/init.sls` -> `a`), sorted (Salt's `list_states`).
    pub fn avail(&mut self, saltenv: &str) -> &[String] {
        if !self.avail.contains_key(saltenv) {
            let list = self.files.list(saltenv).unwrap_or_default();
            let mut names: Vec<String> = list
                .iter()
                .filter_map(|p| p.strip_suffix(".sls"))
                .map(|p| p.strip_suffix("/init").unwrap_or(p).replace('/', "."))
                .collect();
            names.sort();
            names.dedup();
            self.avail.insert(saltenv.to_string(), names);
        }
        &self.avail[saltenv]
    }

    /// Renders every SLS of `matches` (environment -> SLS names or globs)
    /// with its includes into one high data mapping, collecting every error.
    pub fn render_highstate(&mut self, matches: &[(String, Vec<String>)]) -> (High, Vec<String>) {
        let mut high = High::new();
        let mut all_errors = Vec::new();
        let envs: Vec<String> = matches.iter().map(|(e, _)| e.clone()).collect();
        for (saltenv, slss) in matches {
            for sls_match in slss {
                let mut statefiles: Vec<String> = fnmatch::filter(self.avail(saltenv), sls_match)
                    .into_iter()
                    .cloned()
                    .collect();
                if statefiles.is_empty() {
                    statefiles.push(sls_match.clone());
                }
                for sls in statefiles {
                    if self.mods.contains(&format!("{saltenv}:{sls}")) {
                        continue;
                    }
                    let (state, mut errors) = self.render_state(&sls, saltenv, &envs);
                    if !state.is_empty() {
                        merge_included_states(&mut high, state, &mut errors);
                    }
                    let this_sls = format!("SLS {sls_match} in saltenv");
                    for e in errors.iter_mut() {
                        if e.contains("is not available") && e.contains(&this_sls) {
                            *e = format!(
                                "No matching sls found for '{sls_match}' in env '{saltenv}'"
                            );
                        }
                    }
                    all_errors.extend(errors);
                }
            }
        }
        clean_duplicate_extends(&mut high);
        (high, all_errors)
    }

    /// Finds the file of `sls` in `saltenv`: `a/b.sls`, then `a/b/init.sls`.
    fn locate(&self, sls: &str, saltenv: &str) -> Option<(String, String)> {
        let base = sls.replace('.', "/");
        for path in [format!("{base}.sls"), format!("{base}/init.sls")] {
            if let Ok(Some(bytes)) = self.files.read(saltenv, &path) {
                return Some((path, String::from_utf8_lossy(&bytes).into_owned()));
            }
        }
        None
    }

    fn render_state(
        &mut self,
        sls: &str,
        saltenv: &str,
        matches: &[String],
    ) -> (High, Vec<String>) {
        let mut errors = Vec::new();
        let Some((path, text)) = self.locate(sls, saltenv) else {
            errors.push(format!(
                "Specified SLS {sls} in saltenv {saltenv} is not available on the salt master or through a configured fileserver"
            ));
            return (High::new(), errors);
        };
        let rendered = match self.renderer.render(saltenv, sls, &path, &text) {
            Ok(node) => Some(node),
            Err(msg) => {
                errors.push(format!("Rendering SLS '{saltenv}:{sls}' failed: {msg}"));
                None
            }
        };
        self.mods.insert(format!("{saltenv}:{sls}"));
        let mut state = match rendered {
            None | Some(Node::Null) => return (High::new(), errors),
            Some(Node::Str(s)) if s.is_empty() => return (High::new(), errors),
            Some(Node::Map(m)) => self.high_of(m, sls),
            Some(_) => {
                errors.push(format!("SLS {sls} does not render to a dictionary"));
                return (High::new(), errors);
            }
        };
        if state.is_empty() {
            return (state, errors);
        }

        let mut include = Vec::new();
        if let Some(inc) = state.get("include") {
            match inc {
                Value::Array(_) => {
                    if let Some(Value::Array(list)) = state.shift_remove("include") {
                        include = list;
                    }
                }
                _ => errors.push(format!(
                    "Include Declaration in SLS {sls} is not formed as a list"
                )),
            }
        }
        handle_extend(&mut state, sls, saltenv, &mut errors);
        handle_exclude(&mut state, sls, &mut errors);
        handle_state_decls(&mut state, sls, saltenv, &mut errors);

        for inc in include {
            let (env_key, inc_sls) = match inc {
                Value::Object(m) => match m.into_iter().next_back() {
                    Some((k, Value::String(s))) => (k, s),
                    Some((k, other)) => (k, scalar_str(&other)),
                    None => continue,
                },
                Value::String(s) => (saltenv.to_string(), s),
                other => (saltenv.to_string(), scalar_str(&other)),
            };
            let known_env = self.files.envs().contains(&env_key) || env_key == "_xenv";
            if !known_env {
                errors.push(format!(
                    "Nonexistent saltenv '{env_key}' found in include of '{inc_sls}' within SLS '{saltenv}:{sls}'"
                ));
                continue;
            }
            let inc_sls = if let Some(rest) = inc_sls.strip_prefix('.') {
                let extra = rest.len() - rest.trim_start_matches('.').len();
                let levels = 1 + extra;
                let tail = &rest[extra..];
                let mut comps: Vec<&str> = sls.split('.').collect();
                if path.ends_with("/init.sls") {
                    comps.push("init");
                }
                if levels > comps.len() {
                    errors.push(format!(
                        "Attempted relative include of '{inc_sls}' within SLS '{saltenv}:{sls}' goes beyond top level package "
                    ));
                    continue;
                }
                let mut parts: Vec<&str> = comps[..comps.len() - levels].to_vec();
                parts.push(tail);
                parts.join(".")
            } else {
                inc_sls
            };

            let resolved: Vec<String> = if env_key != "_xenv" {
                if matches.contains(&env_key)
                    || !fnmatch::filter(self.avail(&env_key), &inc_sls).is_empty()
                {
                    vec![env_key.clone()]
                } else {
                    Vec::new()
                }
            } else {
                let mut r = Vec::new();
                for e in matches {
                    if !fnmatch::filter(self.avail(e), &inc_sls).is_empty() {
                        r.push(e.clone());
                    }
                }
                r
            };
            if resolved.len() == 1 || resolved.iter().any(|e| e == saltenv) {
                let mut targets: Vec<String> = fnmatch::filter(self.avail(saltenv), &inc_sls)
                    .into_iter()
                    .cloned()
                    .collect();
                if targets.is_empty() {
                    targets.push(inc_sls.clone());
                }
                for target in targets {
                    let r_env = if resolved.len() == 1 {
                        resolved[0].clone()
                    } else {
                        saltenv.to_string()
                    };
                    if self.mods.contains(&format!("{r_env}:{target}")) {
                        continue;
                    }
                    let (mut nstate, err) = self.render_state(&target, &r_env, matches);
                    if !nstate.is_empty() {
                        for (id, body) in nstate.iter_mut() {
                            if id.starts_with("__") {
                                continue;
                            }
                            if let Value::Object(b) = body {
                                let from = b
                                    .entry("__sls_included_from__")
                                    .or_insert_with(|| Value::Array(Vec::new()));
                                if let Value::Array(list) = from {
                                    list.push(Value::String(sls.to_string()));
                                }
                            }
                        }
                        merge_included_states(&mut state, nstate, &mut errors);
                    }
                    errors.extend(err);
                }
            } else if resolved.is_empty() {
                let envs = if env_key == "_xenv" {
                    matches.join(", ")
                } else {
                    env_key.clone()
                };
                errors.push(format!(
                    "Unknown include: Specified SLS {env_key}: {inc_sls} is not available on the salt master in saltenv(s): {envs} "
                ));
            } else {
                errors.push(format!(
                    "Ambiguous include: Specified SLS {env_key}: {inc_sls} is available on the salt master in multiple available saltenvs: {}",
                    resolved.join(", ")
                ));
            }
        }
        self.handle_iorder(&mut state);
        (state, errors)
    }

    /// Turns the rendered top-level mapping into high data, remembering IDs
    /// that were not strings.
    fn high_of(&mut self, m: Vec<(Node, Node)>, sls: &str) -> High {
        let mut high = High::new();
        for (k, v) in m {
            let key = match &k {
                Node::Str(s) => s.clone(),
                other => {
                    let key = other.key_string();
                    self.non_string_ids
                        .push((key.clone(), sls.to_string(), other.type_name()));
                    key
                }
            };
            high.insert(key, v.to_json());
        }
        high
    }

    /// Appends `{"order": N}` to every state declaration that has none,
    /// numbering in the mapping's order (included files were numbered
    /// first, in their own render).
    fn handle_iorder(&mut self, state: &mut High) {
        for (_, body) in state.iter_mut() {
            let Value::Object(body) = body else { continue };
            for (dec, args) in body.iter_mut() {
                if dec.starts_with('_') {
                    continue;
                }
                let Value::Array(args) = args else { continue };
                let found = args.iter().any(|a| matches!(a, Value::Object(o) if o.keys().next().map(String::as_str) == Some("order")));
                if !found {
                    let mut o = Map::new();
                    o.insert("order".into(), Value::from(self.iorder));
                    args.push(Value::Object(o));
                    self.iorder += 1;
                }
            }
        }
    }
}

fn scalar_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `pkg.installed: [...]` -> `pkg: [..., "installed"]`, plus `__sls__` and
/// `__env__` on every ID.
fn handle_state_decls(state: &mut High, sls: &str, saltenv: &str, errors: &mut Vec<String>) {
    for (name, body) in state.iter_mut() {
        if name == "__extend__" || name == "__exclude__" {
            continue;
        }
        let Value::Object(b) = body else {
            if let Value::String(s) = body {
                if let Some((module, fun)) = s.split_once('.') {
                    let mut m = Map::new();
                    m.insert("__sls__".into(), Value::from(sls));
                    m.insert("__env__".into(), Value::from(saltenv));
                    m.insert(
                        module.to_string(),
                        Value::Array(vec![Value::from(fun.split('.').next().unwrap_or(fun))]),
                    );
                    *body = Value::Object(m);
                    continue;
                }
            }
            errors.push(format!("ID {name} in SLS {sls} is not a dictionary"));
            continue;
        };
        split_dotted_decls(b, Some((name, sls, errors)));
        if !b.contains_key("__sls__") {
            b.insert("__sls__".into(), Value::from(sls));
        }
        if !b.contains_key("__env__") {
            b.insert("__env__".into(), Value::from(saltenv));
        }
    }
}

/// Rewrites `mod.fun: [args]` keys as `mod: [args..., "fun"]`. Like
/// Salt's `pop` then re-insert, the rewritten key moves to the end of the
/// body (this decides auto-order numbers). With `report`, a second
/// declaration of one module is an error ("multiple state declarations of
/// the same type").
fn split_dotted_decls(
    b: &mut Map<String, Value>,
    mut report: Option<(&String, &str, &mut Vec<String>)>,
) {
    let keys: Vec<String> = b.keys().cloned().collect();
    let mut seen: HashSet<String> = HashSet::new();
    for key in keys {
        if key.starts_with('_') || !b.get(&key).is_some_and(Value::is_array) {
            continue;
        }
        let Some((module, fun)) = key.split_once('.') else {
            seen.insert(key);
            continue;
        };
        if seen.contains(module) {
            if let Some((name, sls, errors)) = report.as_mut() {
                errors.push(format!(
                    "ID '{name}' in SLS '{sls}' contains multiple state declarations of the same type"
                ));
            }
            continue;
        }
        let fun = fun.split('.').next().unwrap_or(fun).to_string();
        if let Some(Value::Array(mut args)) = b.shift_remove(&key) {
            args.push(Value::from(fun));
            b.insert(module.to_string(), Value::Array(args));
        }
        seen.insert(module.to_string());
    }
}

fn handle_extend(state: &mut High, sls: &str, saltenv: &str, errors: &mut Vec<String>) {
    let Some(ext) = state.shift_remove("extend") else {
        return;
    };
    let Value::Object(mut ext) = ext else {
        errors.push(format!(
            "Extension value in SLS '{sls}' is not a dictionary"
        ));
        return;
    };
    for (name, body) in ext.iter_mut() {
        let Value::Object(b) = body else {
            errors.push(format!(
                "Extension name '{name}' in SLS '{sls}' is not a dictionary"
            ));
            continue;
        };
        if !b.contains_key("__sls__") {
            b.insert("__sls__".into(), Value::from(sls));
        }
        if !b.contains_key("__env__") {
            b.insert("__env__".into(), Value::from(saltenv));
        }
        split_dotted_decls(b, None);
    }
    push_list(state, "__extend__", vec![Value::Object(ext)]);
}

fn handle_exclude(state: &mut High, sls: &str, errors: &mut Vec<String>) {
    let Some(exc) = state.shift_remove("exclude") else {
        return;
    };
    match exc {
        Value::Array(list) => push_list(state, "__exclude__", list),
        other => {
            errors.push(format!(
                "Exclude Declaration in SLS {sls} is not formed as a list"
            ));
            push_list(state, "__exclude__", vec![other]);
        }
    }
}

fn push_list(state: &mut High, key: &str, items: Vec<Value>) {
    let entry = state
        .entry(key.to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = entry {
        list.extend(items);
    }
}

/// Merges an included SLS's high data into `high`: `__extend__` and
/// `__exclude__` accumulate, an ID defined differently twice is an error.
fn merge_included_states(high: &mut High, mut state: High, errors: &mut Vec<String>) {
    for key in ["__extend__", "__exclude__"] {
        if let Some(Value::Array(list)) = state.shift_remove(key) {
            push_list(high, key, list);
        }
    }
    for (id, body) in state {
        if let Some(existing) = high.get(&id) {
            if *existing != body {
                let field =
                    |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                errors.push(format!(
                    "Detected conflicting IDs, SLS IDs need to be globally unique.\n    The conflicting ID is '{id}' and is found in SLS '{}:{}' and SLS '{}:{}'",
                    field(existing, "__env__"),
                    field(existing, "__sls__"),
                    field(&body, "__env__"),
                    field(&body, "__sls__"),
                ));
            }
        }
        high.insert(id, body);
    }
}

/// One entry per distinct `(id, body)` of `__extend__`, in first-seen order.
fn clean_duplicate_extends(high: &mut High) {
    let Some(Value::Array(exts)) = high.get_mut("__extend__") else {
        return;
    };
    let mut seen: Vec<(String, Value)> = Vec::new();
    for ext in exts.iter() {
        if let Value::Object(m) = ext {
            for (k, v) in m {
                if !seen.iter().any(|(sk, sv)| sk == k && sv == v) {
                    seen.push((k.clone(), v.clone()));
                }
            }
        }
    }
    *exts = seen
        .into_iter()
        .map(|(k, v)| {
            let mut m = Map::new();
            m.insert(k, v);
            Value::Object(m)
        })
        .collect();
}
