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
use brine_states::render::{self, RenderEnv};
use brine_states::yaml::Node;
use brine_states::{ExecCaller, FileSource, LocalRoots};
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

/// Renders SLS files with a fixed grains/pillar/opts context.
pub struct MinionRenderer<'a> {
    pub files: &'a dyn FileSource,
    pub caller: &'a dyn ExecCaller,
    pub grains: &'a Map<String, Value>,
    pub pillar: &'a Value,
    pub opts: &'a Value,
}

impl SlsRenderer for MinionRenderer<'_> {
    fn render(&self, saltenv: &str, sls: &str, path: &str, text: &str) -> Result<Node, String> {
        let env = RenderEnv {
            files: self.files,
            caller: self.caller,
            grains: self.grains,
            pillar: self.pillar,
            opts: self.opts,
            saltenv,
        };
        render::render_sls(&env, sls, path, text).map_err(|e| e.to_string())
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

    fn caller(&self, pillar: &Value) -> RegistryCaller {
        let mut ctx = self.ctx.clone();
        ctx.pillar = Arc::new(pillar.clone());
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
        let renderer = MinionRenderer {
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
        let env = RenderEnv {
            files: self.files.as_ref(),
            caller: &caller,
            grains: &self.grains,
            pillar,
            opts: &self.opts,
            saltenv,
        };
        let sls = path.trim_start_matches("salt://");
        render::render_sls(&env, sls, path, text)
            .map(|node| node.to_json())
            .map_err(|e| e.to_string())
    }

    /// Salt's `state.show_sls`: high data of `mods` in `saltenv`, verified.
    pub fn show_sls(
        &self,
        mods: &[String],
        saltenv: &str,
        pillar: &Value,
    ) -> Result<Map<String, Value>, StateCallError> {
        let caller = self.caller(pillar);
        let renderer = MinionRenderer {
            files: self.files.as_ref(),
            caller: &caller,
            grains: &self.grains,
            pillar,
            opts: &self.opts,
        };
        let mut compiler = HighCompiler::new(self.files.as_ref(), &renderer);
        let (high, mut errors) = compiler.render_highstate(&[(saltenv.to_string(), mods.to_vec())]);
        for (id, sls, ty) in &compiler.non_string_ids {
            errors.push(format!(
                "ID '{id}' in SLS '{sls}' is not formed as a string, but is type {ty}. It may need to be quoted."
            ));
        }
        errors.extend(
            brine_states::high::verify_high(&high)
                .into_iter()
                .filter(|e| !errors.contains(e))
                .collect::<Vec<_>>(),
        );
        if errors.is_empty() {
            Ok(high)
        } else {
            Err(StateCallError::Compile(errors))
        }
    }

    /// The merged top data of every environment (`state.show_top` input).
    pub fn top(&self, pillar: &Value) -> Result<Map<String, Value>, StateCallError> {
        let caller = self.caller(pillar);
        let renderer = MinionRenderer {
            files: self.files.as_ref(),
            caller: &caller,
            grains: &self.grains,
            pillar,
            opts: &self.opts,
        };
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
        let renderer = MinionRenderer {
            files: self.files.as_ref(),
            caller: &caller,
            grains: &self.grains,
            pillar,
            opts: &self.opts,
        };
        let mut compiler = HighCompiler::new(self.files.as_ref(), &renderer);
        let (high, mut errors) = compiler.render_highstate(&matches);
        errors.extend(brine_states::high::verify_high(&high));
        if errors.is_empty() {
            Ok(high)
        } else {
            Err(StateCallError::Compile(errors))
        }
    }
}

/// `file.managed template: jinja` through the same renderer as SLS files.
struct TemplateGlue<'a> {
    renderer: &'a MinionRenderer<'a>,
    saltenv: &'a str,
}

impl brine_states::TemplateRenderer for TemplateGlue<'_> {
    fn render(
        &self,
        engine: &str,
        text: &str,
        source_path: &str,
        extra: &Map<String, Value>,
    ) -> Result<String, String> {
        if !engine.eq_ignore_ascii_case("jinja") {
            return Err(format!(
                "template engine '{engine}' is not supported (jinja is)"
            ));
        }
        let env = RenderEnv {
            files: self.renderer.files,
            caller: self.renderer.caller,
            grains: self.renderer.grains,
            pillar: self.renderer.pillar,
            opts: self.renderer.opts,
            saltenv: self.saltenv,
        };
        let path = source_path.strip_prefix("salt://").unwrap_or(source_path);
        render::render_template(&env, path, text, extra).map_err(|e| e.to_string())
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
        let renderer = MinionRenderer {
            files: self.files.as_ref(),
            caller: &caller,
            grains: &self.grains,
            pillar,
            opts: &self.opts,
        };
        let templates = TemplateGlue {
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
        };
        Ok(brine_states::runtime::run(
            chunks,
            &ctx,
            &brine_states::runtime::RunOpts::default(),
        ))
    }
}
