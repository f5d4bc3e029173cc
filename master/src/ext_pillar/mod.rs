//! External pillars (Salt's `ext_pillar`): data from commands, a file tree
//! or git repositories merged into each minion's pillar on the master.
//!
//! As in Salt's `Pillar.ext_pillar`, each entry of `ext_pillar` is compiled
//! in order and merged into the pillar so far with
//! `pillar_source_merging_strategy` and `pillar_merge_lists`; with
//! `ext_pillar_first` they are compiled before the pillar top, whose SLS see
//! them as `pillar` and are merged over them.
//!
//! **Invariant:** a failing external pillar never fails the compile: what
//! went wrong is logged and becomes an entry of the pillar's errors (the
//! minion's `_errors`), and the other sources still count.

pub mod cmd;
pub mod conf;
pub mod file_tree;
pub mod git;

use std::collections::BTreeMap;
use std::path::Path;

use brine_proto::targeting::{expand_nodegroup, MinionFacts, NodegroupDef, TargetExpr, TargetType};
use brine_proto::Grains;
use brine_states::pillar::CompiledPillar;
use brine_states::LocalRoots;
use serde_json::{Map, Value};

pub use conf::{ExtPillarConfig, Source};

/// The minion a pillar is compiled for.
pub struct Minion<'a> {
    pub id: &'a str,
    pub grains: &'a Grains,
    /// The pillarenv it asked for, if any.
    pub saltenv: Option<&'a str>,
    pub nodegroups: &'a BTreeMap<String, NodegroupDef>,
    /// The master's `pillar_roots` (for a relative file_tree `root_dir`).
    pub pillar_roots: &'a LocalRoots,
}

impl Minion<'_> {
    /// Whether this minion is in nodegroup `name` (by what the master knows
    /// of it: id and grains).
    pub fn in_nodegroup(&self, name: &str) -> Result<bool, String> {
        let compound = expand_nodegroup(name, self.nodegroups).map_err(|e| e.to_string())?;
        let expr = TargetExpr::parse(&compound, TargetType::Compound).map_err(|e| e.to_string())?;
        Ok(expr.matches(&MinionFacts {
            id: self.id,
            grains: self.grains,
            pillar: None,
        }))
    }
}

/// What the external pillars need from the master's pillar compiler.
pub trait Compiler {
    /// The pillar top and SLS of `roots` (environment `env`) compiled for
    /// the minion, without external pillars (git_pillar).
    fn compile(&self, roots: &LocalRoots, env: &str) -> CompiledPillar;
    /// `text` rendered as a pillar template (file_tree's `template`).
    fn render(&self, name: &str, text: &str) -> Result<Value, String>;
}

/// The configured external pillars, with their git mirrors.
pub struct ExtPillar {
    pub conf: ExtPillarConfig,
    /// Per source, its git remotes (None for other kinds).
    git: Vec<Option<git::Group>>,
}

impl ExtPillar {
    /// Git mirrors are kept under `cachedir/git_pillar`; nothing is fetched
    /// until a pillar needs it.
    pub fn new(conf: ExtPillarConfig, cachedir: &Path) -> ExtPillar {
        let git: Vec<Option<git::Group>> = conf
            .sources
            .iter()
            .map(|s| match s {
                Source::Git(remotes) => Some(git::Group::new(cachedir, remotes)),
                _ => None,
            })
            .collect();
        let groups: Vec<&git::Group> = git.iter().flatten().collect();
        git::sweep(cachedir, &groups);
        ExtPillar { conf, git }
    }

    pub fn is_empty(&self) -> bool {
        self.conf.sources.is_empty()
    }

    /// Salt's `Pillar.compile_pillar`: `sls` compiles the pillar top and SLS
    /// with the given pillar in their templates' context; the external
    /// pillars are merged over it, or with `ext_pillar_first` compiled
    /// first, given to `sls`, and merged under its result.
    pub fn compile(
        &self,
        minion: &Minion<'_>,
        compiler: &dyn Compiler,
        sls: &dyn Fn(&Value) -> CompiledPillar,
    ) -> CompiledPillar {
        let empty = Value::Object(Map::new());
        if self.is_empty() {
            return sls(&empty);
        }
        if !self.conf.first {
            let compiled = sls(&empty);
            let mut errors = compiled.errors;
            let pillar = self.apply(compiled.pillar, minion, compiler, &mut errors);
            return CompiledPillar { pillar, errors };
        }
        let mut errors = Vec::new();
        let ext = self.apply(empty, minion, compiler, &mut errors);
        let compiled = sls(&ext);
        errors.extend(compiled.errors);
        let pillar = match self.conf.merging.merge(&ext, &compiled.pillar) {
            Ok(p) => p,
            Err(e) => {
                errors.push(e.to_string());
                compiled.pillar
            }
        };
        CompiledPillar { pillar, errors }
    }

    /// Salt's `Pillar.ext_pillar`: every external pillar compiled in order
    /// and merged into `pillar`. Errors are appended to `errors` (and
    /// logged).
    pub fn apply(
        &self,
        mut pillar: Value,
        minion: &Minion<'_>,
        compiler: &dyn Compiler,
        errors: &mut Vec<String>,
    ) -> Value {
        for (i, source) in self.conf.sources.iter().enumerate() {
            let (data, errs) = self.one(i, source, minion, compiler);
            for e in &errs {
                tracing::error!(minion_id = %minion.id, ext_pillar = source.kind(), error = %e, "ext_pillar failed");
            }
            errors.extend(errs);
            match data {
                Value::Object(m) if m.is_empty() => {}
                Value::Null => {}
                Value::Object(_) => match self.conf.merging.merge(&pillar, &data) {
                    Ok(merged) => pillar = merged,
                    Err(e) => {
                        errors.push(format!("Failed to load ext_pillar {}: {e}", source.kind()))
                    }
                },
                other => {
                    let e = format!(
                        "Failed to load ext_pillar {}: the data is not a dictionary but {}",
                        source.kind(),
                        type_name(&other)
                    );
                    tracing::error!(minion_id = %minion.id, error = %e, "ext_pillar failed");
                    errors.push(e);
                }
            }
        }
        pillar
    }

    /// One source's data and errors.
    fn one(
        &self,
        i: usize,
        source: &Source,
        minion: &Minion<'_>,
        compiler: &dyn Compiler,
    ) -> (Value, Vec<String>) {
        let failed = |kind: &str, e: String| format!("Failed to load ext_pillar {kind}: {e}");
        match source {
            Source::CmdYaml(line) => match cmd::run(line, minion.id, cmd::Format::Yaml) {
                Ok(v) => (v, Vec::new()),
                Err(e) => (Value::Null, vec![failed("cmd_yaml", e)]),
            },
            Source::CmdJson(line) => match cmd::run(line, minion.id, cmd::Format::Json) {
                Ok(v) => (v, Vec::new()),
                Err(e) => (Value::Null, vec![failed("cmd_json", e)]),
            },
            Source::FileTree(tree) => {
                let render = |name: &str, text: &str| compiler.render(name, text);
                let (v, errs) = file_tree::compile(tree, minion, &render);
                (
                    v,
                    errs.into_iter().map(|e| failed("file_tree", e)).collect(),
                )
            }
            Source::Git(_) => {
                let Some(group) = self.git.get(i).and_then(Option::as_ref) else {
                    return (Value::Null, Vec::new());
                };
                let (roots, mut errors) =
                    group.roots(minion.saltenv, self.conf.git_update_interval);
                let mut out = Value::Object(Map::new());
                for (label, env, roots) in roots {
                    let compiled = compiler.compile(&roots, &env);
                    errors.extend(
                        compiled
                            .errors
                            .into_iter()
                            .map(|e| failed("git", format!("remote '{label}': {e}"))),
                    );
                    match self.conf.merging.merge(&out, &compiled.pillar) {
                        Ok(m) => out = m,
                        Err(e) => errors.push(failed("git", format!("remote '{label}': {e}"))),
                    }
                }
                (out, errors)
            }
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "None",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

#[cfg(test)]
mod tests;
