//! Compiling pillar for one minion (Salt's `Pillar.compile_pillar`): the
//! pillar top file picks SLS files per environment, each is rendered with
//! the minion's grains and merged (`smart` = recursive merge) in order.
//! Runs on the master for connected minions and on the minion masterless.

use std::collections::{BTreeMap, HashMap};

use brine_proto::targeting::{MinionFacts, NodegroupDef};
use serde_json::{Map, Value};

use crate::compile::{top_matches, SlsRenderer};
use crate::data;
use crate::source::FileSource;
use crate::yaml::Node;

/// The pillar and every error met building it. Salt refuses to run states
/// when pillar has errors (`Pillar failed to render`).
#[derive(Debug, Default)]
pub struct CompiledPillar {
    pub pillar: Value,
    pub errors: Vec<String>,
}

/// How pillar sources are merged: Salt's `pillar_source_merging_strategy`
/// (`smart`, `recurse`, `aggregate`, `overwrite`, `none`; `list` as
/// `dictupdate.merge` has it) and `pillar_merge_lists`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merging {
    pub strategy: String,
    pub merge_lists: bool,
}

impl Default for Merging {
    fn default() -> Self {
        Merging {
            strategy: "smart".into(),
            merge_lists: false,
        }
    }
}

impl Merging {
    /// The strategies `pillar_source_merging_strategy` accepts.
    pub const STRATEGIES: &'static [&'static str] =
        &["smart", "recurse", "aggregate", "overwrite", "none", "list"];

    /// `dictupdate.merge(a, b, strategy, renderer, merge_lists)` as the
    /// pillar does it (renderer `yaml`: `smart` is `recurse`). A side that is
    /// not a mapping leaves `a` as it was and is reported.
    pub fn merge(&self, a: &Value, b: &Value) -> Result<Value, data::MergeError> {
        data::merge(a, b, &self.strategy, "yaml", self.merge_lists)
    }

    /// [`Merging::merge`] into `a`, keeping `a` when `b` cannot be merged.
    fn merge_into(&self, a: &mut Value, b: Value, errors: &mut Vec<String>) {
        match self.merge(a, &b) {
            Ok(merged) => *a = merged,
            Err(e) => errors.push(e.to_string()),
        }
    }
}

/// Builds the pillar of the minion described by `facts` from `files`
/// (the pillar roots), merged with Salt's default (`smart`) strategy.
pub fn compile_pillar(
    files: &dyn FileSource,
    renderer: &dyn SlsRenderer,
    facts: &MinionFacts<'_>,
    merge_lists: bool,
    nodegroups: &BTreeMap<String, NodegroupDef>,
) -> CompiledPillar {
    let merging = Merging {
        merge_lists,
        ..Merging::default()
    };
    compile_pillar_merged(files, renderer, facts, &merging, None, nodegroups)
}

/// [`compile_pillar`] with a merging strategy. `saltenv` is the minion's
/// pillarenv when it asked for one: with strategy `none` and no pillarenv,
/// only the `base` top file is read (Salt's `get_tops`).
pub fn compile_pillar_merged(
    files: &dyn FileSource,
    renderer: &dyn SlsRenderer,
    facts: &MinionFacts<'_>,
    merging: &Merging,
    saltenv: Option<&str>,
    nodegroups: &BTreeMap<String, NodegroupDef>,
) -> CompiledPillar {
    let mut errors = Vec::new();
    let mut top = Map::new();
    for env in files.envs() {
        if merging.strategy == "none" && env != saltenv.unwrap_or("base") {
            continue;
        }
        let text = match files.read(&env, "top.sls") {
            Ok(Some(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
            Ok(None) => continue,
            Err(e) => {
                errors.push(e.to_string());
                continue;
            }
        };
        match renderer.render(&env, "top", "top.sls", &text) {
            Ok(Node::Map(m)) => {
                if let Value::Object(t) = Node::Map(m).to_json() {
                    let mut merged = Value::Object(std::mem::take(&mut top));
                    data::update(&mut merged, Value::Object(t), false);
                    if let Value::Object(m) = merged {
                        top = m;
                    }
                }
            }
            Ok(Node::Null) => {}
            Ok(_) => errors.push(format!(
                "pillar top file in environment '{env}' does not render to a dictionary"
            )),
            Err(msg) => errors.push(format!(
                "Rendering Primary Top file failed, render error:\n{msg}"
            )),
        }
    }
    let (matches, _warnings) = top_matches(&top, facts, None, nodegroups);
    let mut pillar = Value::Object(Map::new());
    for (env, slss) in matches {
        let avail = avail_sls(files, &env);
        let mut mods: HashMap<String, Option<Value>> = HashMap::new();
        for sls_match in slss {
            let mut files_to_render: Vec<String> =
                crate::compile::fnmatch_filter(&avail, &sls_match)
                    .into_iter()
                    .cloned()
                    .collect();
            if files_to_render.is_empty() {
                files_to_render.push(sls_match.clone());
            }
            for sls in files_to_render {
                let pstate = render_pstate(
                    files,
                    renderer,
                    &avail,
                    &sls,
                    &env,
                    &mut mods,
                    &mut errors,
                    merging,
                );
                if let Some(p) = pstate {
                    if p.is_object() {
                        merging.merge_into(&mut pillar, p, &mut errors);
                    }
                }
            }
        }
    }
    CompiledPillar { pillar, errors }
}

fn avail_sls(files: &dyn FileSource, env: &str) -> Vec<String> {
    let mut names: Vec<String> = files
        .list(env)
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p.strip_suffix(".sls"))
        .map(|p| p.strip_suffix("/init").unwrap_or(p).replace('/', "."))
        .collect();
    names.sort();
    names.dedup();
    names
}

#[allow(clippy::too_many_arguments)]
fn render_pstate(
    files: &dyn FileSource,
    renderer: &dyn SlsRenderer,
    avail: &[String],
    sls: &str,
    env: &str,
    mods: &mut HashMap<String, Option<Value>>,
    errors: &mut Vec<String>,
    merging: &Merging,
) -> Option<Value> {
    let base = sls.replace('.', "/");
    let mut found = None;
    for path in [format!("{base}.sls"), format!("{base}/init.sls")] {
        if let Ok(Some(bytes)) = files.read(env, &path) {
            found = Some((path, String::from_utf8_lossy(&bytes).into_owned()));
            break;
        }
    }
    let Some((path, text)) = found else {
        errors.push(format!(
            "Specified SLS '{sls}' in environment '{env}' is not available on the salt master"
        ));
        return None;
    };
    let state = match renderer.render(env, sls, &path, &text) {
        Ok(n) => Some(n.to_json()),
        Err(msg) => {
            errors.push(format!(
                "Rendering SLS '{sls}' failed, render error:\n{msg}"
            ));
            None
        }
    };
    mods.insert(sls.to_string(), state.clone());
    let mut state = match state {
        None | Some(Value::Null) => return None,
        Some(Value::Object(m)) if m.is_empty() => return None,
        Some(Value::Object(m)) => m,
        Some(_) => {
            errors.push(format!("SLS '{sls}' does not render to a dictionary"));
            return None;
        }
    };
    let Some(include) = state.shift_remove("include") else {
        return Some(Value::Object(state));
    };
    let Value::Array(include) = include else {
        errors.push(format!(
            "Include Declaration in SLS '{sls}' is not formed as a list"
        ));
        return Some(Value::Object(state));
    };
    let mut include_states = Vec::new();
    for sub in include {
        let (sub_sls, key) = match sub {
            Value::String(s) => (s, None),
            Value::Object(m) => match m.into_iter().next() {
                Some((k, v)) => (k, v.get("key").and_then(Value::as_str).map(str::to_string)),
                None => continue,
            },
            _ => continue,
        };
        let mut matched: Vec<String> = crate::compile::fnmatch_filter(
            avail,
            &sub_sls.trim_start_matches('.').replace('/', "."),
        )
        .into_iter()
        .cloned()
        .collect();
        let sub_sls = if let Some(rest) = sub_sls.strip_prefix('.') {
            let mut parts: Vec<&str> = sls.split('.').collect();
            if !path.ends_with("/init.sls") {
                parts.pop();
            }
            parts.push(rest);
            parts.join(".")
        } else {
            sub_sls
        };
        matched.extend(
            crate::compile::fnmatch_filter(avail, &sub_sls)
                .into_iter()
                .cloned(),
        );
        if matched.is_empty() {
            matched.push(sub_sls.clone());
        }
        for m in matched {
            let nstate = match mods.get(&m) {
                Some(done) => done.clone(),
                None => render_pstate(files, renderer, avail, &m, env, mods, errors, merging),
            };
            if let Some(mut n) = nstate {
                if let Some(key) = &key {
                    for frag in key.split(':').rev() {
                        let mut w = Map::new();
                        w.insert(frag.to_string(), n);
                        n = Value::Object(w);
                    }
                }
                include_states.push(n);
            }
        }
    }
    include_states.push(Value::Object(state));
    let mut out: Option<Value> = None;
    for s in include_states {
        out = Some(match out {
            None => s,
            Some(mut acc) => {
                merging.merge_into(&mut acc, s, errors);
                acc
            }
        });
    }
    out
}
