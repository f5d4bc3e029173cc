//! The minion's side of the state system: which file roots and pillar a run
//! uses, the renderer wired to this minion's registry, and the
//! `state.show_*` / `state.apply` flows the `state` execution module calls.
//!
//! Everything here blocks (rendering may call execution functions through
//! [`RegistryCaller`], which blocks on the runtime), so callers run it on a
//! blocking thread.

use std::sync::Arc;

use brine_proto::targeting::MinionFacts;
use brine_states::compile::{top_matches, HighCompiler, SlsRenderer};
use brine_states::pillar::compile_pillar;
use brine_states::render::{ContextRenderer, ContextTemplates};
use brine_states::{FileSource, LocalRoots};
use serde_json::{Map, Value};

use crate::caller::RegistryCaller;
use crate::config::MinionConfig;
use crate::registry::CallCtx;

/// Why a state call produced no high data: Salt's error list (printed as the
/// return, retcode 1), or a pillar failure (Salt prints nothing on stdout).
#[derive(Debug)]
pub enum StateCallError {
    Compile(Vec<String>),
    Pillar(Vec<String>),
}

/// `file_roots`/`pillar_roots` as the minion config gives them (one parser
/// for the whole minion: `remote::roots_from_yaml`); a malformed value is
/// logged and treated as no roots, so a state run reports missing SLS
/// instead of crashing.
fn roots_or_empty(value: &serde_yaml::Value, default: &str, key: &str) -> LocalRoots {
    match crate::remote::roots_from_yaml(value, default) {
        Ok(roots) => LocalRoots::new(roots),
        Err(error) => {
            tracing::warn!(%error, "ignoring malformed {key}");
            LocalRoots::default()
        }
    }
}

/// One state call's environment: roots, grains, pillar, opts.
pub struct StateSystem {
    pub config: Arc<MinionConfig>,
    /// `salt://`: the master's file server through the local cache when
    /// connected, the minion's own `file_roots` when `file_client: local`.
    pub files: Box<dyn FileSource>,
    pub pillar_files: LocalRoots,
    pub grains: Map<String, Value>,
    pub opts: Value,
    ctx: CallCtx,
    handle: tokio::runtime::Handle,
}

impl StateSystem {
    pub fn new(ctx: &CallCtx, handle: tokio::runtime::Handle) -> StateSystem {
        let config = ctx.config.clone();
        let files: Box<dyn FileSource> = match (&ctx.master, config.file_client.as_str()) {
            (Some(client), c) if c != "local" => Box::new(crate::remote::RemoteFiles::new(
                client.clone(),
                handle.clone(),
                &config.cachedir,
            )),
            _ => Box::new(roots_or_empty(
                &config.file_roots,
                "/srv/salt",
                "file_roots",
            )),
        };
        let pillar_files = roots_or_empty(&config.pillar_roots, "/srv/pillar", "pillar_roots");
        let grains = ctx.grains.snapshot().as_ref().clone();
        let opts = config.as_opts();
        StateSystem {
            config,
            files,
            pillar_files,
            grains,
            opts,
            ctx: ctx.clone(),
            handle,
        }
    }

    /// The SLS renderer over the state tree with this call's pillar.
    fn renderer<'a>(
        &'a self,
        caller: &'a RegistryCaller,
        pillar: &'a Value,
    ) -> ContextRenderer<'a> {
        ContextRenderer {
            files: self.files.as_ref(),
            caller,
            grains: &self.grains,
            pillar,
            opts: &self.opts,
        }
    }

    /// Renders the SLS of `matches` into verified high data, or Salt's
    /// error list (non-string IDs and verification errors included, once).
    fn compile_high(
        &self,
        renderer: &ContextRenderer<'_>,
        matches: &[(String, Vec<String>)],
    ) -> Result<Map<String, Value>, StateCallError> {
        let mut compiler = HighCompiler::new(self.files.as_ref(), renderer);
        let (high, mut errors) = compiler.render_highstate(matches);
        for (id, sls, ty) in &compiler.non_string_ids {
            errors.push(format!(
                "ID '{id}' in SLS '{sls}' is not formed as a string, but is type {ty}. It may need to be quoted."
            ));
        }
        for e in brine_states::high::verify_high(&high) {
            if !errors.contains(&e) {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(high)
        } else {
            Err(StateCallError::Compile(errors))
        }
    }

    fn caller(&self, pillar: &Value) -> RegistryCaller {
        let mut ctx = self.ctx.clone();
        ctx.fixed_pillar = Some(Arc::new(pillar.clone()));
        RegistryCaller::new(ctx, self.handle.clone())
    }

    /// Compiles this minion's pillar fresh, with `overrides` (`pillar=` on
    /// the command line) merged over it. The in-memory pillar follows the
    /// fresh one (overrides left out).
    pub fn pillar(&self, overrides: Option<&Value>) -> Result<Value, StateCallError> {
        let (mut pillar, errors) = self
            .compiled_pillar()
            .map_err(|e| StateCallError::Pillar(vec![e]))?;
        if !errors.is_empty() {
            return Err(StateCallError::Pillar(errors));
        }
        self.ctx.pillar_store.set(pillar.clone());
        if let Some(o) = overrides {
            brine_states::data::update(&mut pillar, o.clone(), false);
        }
        Ok(pillar)
    }

    /// This minion's pillar and the errors of its SLS files: from the master
    /// when connected (`file_client` not `local`), otherwise compiled from the
    /// minion's own `pillar_roots`. `Err` when the master could not be asked.
    pub fn compiled_pillar(&self) -> Result<(Value, Vec<String>), String> {
        if let (Some(client), true) = (&self.ctx.master, self.config.file_client != "local") {
            return self
                .handle
                .block_on(client.pillar(None))
                .map_err(|e| format!("fetching pillar from the master: {e}"));
        }
        let empty = Value::Object(Map::new());
        let caller = self.caller(&empty);
        let renderer = ContextRenderer {
            files: &self.pillar_files,
            caller: &caller,
            grains: &self.grains,
            pillar: &empty,
            opts: &self.opts,
        };
        let facts = MinionFacts {
            id: &self.config.id,
            grains: &self.grains,
            pillar: None,
        };
        let compiled = compile_pillar(
            &self.pillar_files,
            &renderer,
            &facts,
            false,
            &self.config.nodegroups,
        );
        Ok((compiled.pillar, compiled.errors))
    }

    /// Renders `text` (a template named `path`) through its shebang's
    /// pipeline, `jinja|yaml` by default, with this minion's context and
    /// `pillar` (`slsutil.renderer`).
    pub fn render_text(
        &self,
        saltenv: &str,
        path: &str,
        text: &str,
        pillar: &Value,
    ) -> Result<Value, String> {
        let caller = self.caller(pillar);
        let sls = path.trim_start_matches("salt://");
        self.renderer(&caller, pillar)
            .render(saltenv, sls, path, text)
            .map(|node| node.to_json())
    }

    /// Salt's `state.show_sls`: high data of `mods` in `saltenv`, verified.
    pub fn show_sls(
        &self,
        mods: &[String],
        saltenv: &str,
        pillar: &Value,
    ) -> Result<Map<String, Value>, StateCallError> {
        let caller = self.caller(pillar);
        let renderer = self.renderer(&caller, pillar);
        self.compile_high(&renderer, &[(saltenv.to_string(), mods.to_vec())])
    }

    /// The merged top data of every environment (`state.show_top` input).
    pub fn top(&self, pillar: &Value) -> Result<Map<String, Value>, StateCallError> {
        let caller = self.caller(pillar);
        let renderer = self.renderer(&caller, pillar);
        let mut top = Value::Object(Map::new());
        let mut errors = Vec::new();
        for env in self.files.envs() {
            let Ok(Some(bytes)) = self.files.read(&env, "top.sls") else {
                continue;
            };
            match renderer.render(&env, "top", "top.sls", &String::from_utf8_lossy(&bytes)) {
                Ok(node) => {
                    let v = node.to_json();
                    if v.is_object() {
                        brine_states::data::update(&mut top, v, false);
                    }
                }
                Err(msg) => errors.push(format!(
                    "Rendering Primary Top file failed, render error:\n{msg}"
                )),
            }
        }
        if !errors.is_empty() {
            return Err(StateCallError::Compile(errors));
        }
        Ok(match top {
            Value::Object(m) => m,
            _ => Map::new(),
        })
    }

    /// The SLS this minion gets from the top file, per environment.
    pub fn top_matches(
        &self,
        pillar: &Value,
        saltenv: Option<&str>,
    ) -> Result<Vec<(String, Vec<String>)>, StateCallError> {
        let top = self.top(pillar)?;
        let facts = MinionFacts {
            id: &self.config.id,
            grains: &self.grains,
            pillar: pillar.as_object(),
        };
        let (m, warnings) = top_matches(&top, &facts, saltenv, &self.config.nodegroups);
        for w in warnings {
            tracing::warn!(minion_id = %self.config.id, "{w}");
        }
        Ok(m)
    }

    /// Salt's `state.show_highstate`.
    pub fn show_highstate(
        &self,
        pillar: &Value,
        saltenv: Option<&str>,
    ) -> Result<Map<String, Value>, StateCallError> {
        let matches = self.top_matches(pillar, saltenv)?;
        if matches.is_empty() {
            return Err(StateCallError::Compile(vec![
                "No Top file or master_tops data matches found. Please see master log for details."
                    .into(),
            ]));
        }
        let caller = self.caller(pillar);
        let renderer = self.renderer(&caller, pillar);
        self.compile_high(&renderer, &matches)
    }
}

impl StateSystem {
    /// Applies `__extend__`/`__exclude__` (plus `exclude=`) and compiles
    /// high data into ordered low chunks.
    pub fn low(
        &self,
        mut high: Map<String, Value>,
        exclude: &[Value],
    ) -> Result<Vec<Map<String, Value>>, StateCallError> {
        if !exclude.is_empty() {
            let list = high
                .entry("__exclude__")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(l) = list {
                l.extend(exclude.iter().cloned());
            }
        }
        brine_states::high::compile(&high).map_err(StateCallError::Compile)
    }

    /// Runs high data: Salt's `call_high`. Returns results keyed
    /// `mod_|-id_|-name_|-fun`.
    pub fn apply_high(
        &self,
        high: Map<String, Value>,
        pillar: &Value,
        test: bool,
        saltenv: &str,
        exclude: &[Value],
    ) -> Result<Map<String, Value>, StateCallError> {
        let chunks = self.low(high, exclude)?;
        let caller = self.caller(pillar);
        let renderer = self.renderer(&caller, pillar);
        let templates = ContextTemplates {
            renderer: &renderer,
            saltenv,
        };
        let ctx = brine_states::StateCtx {
            test,
            saltenv: saltenv.to_string(),
            grains: &self.grains,
            pillar,
            files: self.files.as_ref(),
            templates: &templates,
            caller: &caller,
            cachedir: self.config.cachedir.clone(),
            cancel: self.ctx.cancel.clone(),
            run: Default::default(),
        };
        Ok(brine_states::runtime::run(
            chunks,
            &ctx,
            &brine_states::runtime::RunOpts::default(),
        ))
    }
}
