//! The bridge from the state system to the function table: what
//! `salt['pillar.get'](...)` in a template and `module.run` in a state call.
//!
//! **Invariant:** [`RegistryCaller::call`] blocks its thread until the
//! function finishes, so it must run on a blocking thread (the renderer runs
//! in `tokio::task::spawn_blocking`), never on a runtime worker: there,
//! `Handle::block_on` panics.

use brine_states::{CallError, ExecCaller};
use serde_json::{Map, Value};
use tokio::runtime::Handle;

use crate::registry::{self, Args, CallCtx};

/// Runs `"mod.fun"` from the minion's registry with one context (config,
/// grains, pillar, jid of the state run).
#[derive(Clone)]
pub struct RegistryCaller {
    ctx: CallCtx,
    handle: Handle,
}

impl RegistryCaller {
    /// `handle` is the runtime the functions' async work runs on.
    pub fn new(ctx: CallCtx, handle: Handle) -> RegistryCaller {
        RegistryCaller { ctx, handle }
    }

    /// The context every call gets.
    pub fn ctx(&self) -> &CallCtx {
        &self.ctx
    }
}

/// A caller for pillar templates the master renders for minion `id`: this
/// function table with that minion's grains, default options, no pillar and
/// no master (Salt's master runs its own copy of the minion modules the same
/// way). Must be created on a thread inside the runtime.
pub fn for_master_pillar(id: &str, grains: &brine_proto::Grains) -> RegistryCaller {
    let mut config = crate::config::MinionConfig::from_raw(
        std::path::Path::new("/nonexistent/brine"),
        brine_proto::conf::RawConfig::empty(),
    )
    .unwrap_or_else(|_| unreachable!("an empty config is valid"));
    config.id = id.to_string();
    config.file_client = "local".into();
    let ctx = CallCtx {
        config: std::sync::Arc::new(config),
        grains: crate::grains::GrainsHandle::from_grains(grains.clone()),
        running: Default::default(),
        jid: brine_proto::jid::JidGenerator::new().next(),
        fixed_pillar: Some(std::sync::Arc::new(Value::Object(Map::new()))),
        pillar_store: Default::default(),
        master: None,
        cancel: Default::default(),
        beacons: Default::default(),
    };
    RegistryCaller::new(ctx, Handle::current())
}

impl ExecCaller for RegistryCaller {
    fn call(
        &self,
        fun: &str,
        args: Vec<Value>,
        kwargs: Map<String, Value>,
    ) -> Result<Value, CallError> {
        let spec = registry::lookup(fun).ok_or_else(|| CallError::Unknown(fun.to_string()))?;
        let args = Args::new(args, kwargs);
        let run = registry::with_fun(spec.name, (spec.run)(self.ctx.clone(), args));
        self.handle
            .block_on(run)
            .map(|out| out.value)
            .map_err(|e| CallError::Failed(e.to_string()))
    }

    fn has(&self, fun: &str) -> bool {
        registry::lookup(fun).is_some()
    }

    fn job(&self) -> Option<(String, String)> {
        Some((self.ctx.jid.to_string(), self.ctx.config.id.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::test_ctx;
    use serde_json::json;
    use std::sync::Arc;

    /// Calls through the bridge from a blocking thread, as the renderer does.
    async fn call_blocking(
        fun: &'static str,
        args: Value,
        kwargs: Value,
    ) -> Result<Value, CallError> {
        let mut ctx = test_ctx();
        ctx.fixed_pillar = Some(Arc::new(json!({"pkg": {"apache": "httpd"}})));
        let caller = RegistryCaller::new(ctx, Handle::current());
        let args = args.as_array().cloned().unwrap_or_default();
        let kwargs = kwargs.as_object().cloned().unwrap_or_default();
        tokio::task::spawn_blocking(move || caller.call(fun, args, kwargs))
            .await
            .expect("render thread")
    }

    #[tokio::test]
    async fn calls_functions_from_a_blocking_thread() {
        assert_eq!(
            call_blocking("pillar.get", json!(["pkg:apache"]), json!({})).await,
            Ok(json!("httpd"))
        );
        assert_eq!(
            call_blocking("test.echo", json!(["hi"]), json!({})).await,
            Ok(json!("hi"))
        );
        assert_eq!(
            call_blocking("no.such", json!([]), json!({})).await,
            Err(CallError::Unknown("no.such".into()))
        );
        assert_eq!(
            call_blocking("pillar.get", json!([]), json!({})).await,
            Err(CallError::Failed(
                "pillar.get() missing 1 required positional argument: 'key'".into()
            ))
        );
        assert_eq!(
            call_blocking("pillar.keys", json!(["nope"]), json!({})).await,
            Err(CallError::Failed("Pillar key not found: nope".into()))
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn async_functions_finish_on_the_runtime() {
        // cmd.run spawns a process and awaits it on the runtime.
        assert_eq!(
            call_blocking("cmd.run", json!(["echo bridged"]), json!({})).await,
            Ok(json!("bridged"))
        );
    }

    #[test]
    fn has_reports_registered_functions() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let caller = RegistryCaller::new(test_ctx(), rt.handle().clone());
        assert!(caller.has("pillar.get"));
        assert!(caller.has("grains.filter_by"));
        assert!(!caller.has("pillar.nope"));
    }
}

#[cfg(test)]
mod grains_state_tests {
    use super::*;
    use std::sync::Arc;

    /// The `grains.*` states through the real function table: the grains
    /// file under the minion's config dir is written and the running grains
    /// change at once; a reload from the file sees the same.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn grains_states_write_the_grains_file_and_the_running_grains() {
        let tmp = tempfile::TempDir::new().unwrap();
        let config = crate::config::MinionConfig::from_raw(
            tmp.path(),
            brine_proto::conf::RawConfig::empty(),
        )
        .unwrap();
        let config = Arc::new(config);
        let mut ctx = registry::test_ctx();
        ctx.grains = crate::grains::GrainsHandle::with_core(&config, Default::default());
        ctx.config = config.clone();
        let grains = ctx.grains.clone();
        let caller = RegistryCaller::new(ctx, Handle::current());
        let run = move |fun: &'static str, name: &'static str, args: Value| {
            let caller = caller.clone();
            tokio::task::spawn_blocking(move || {
                let g = Map::new();
                let pillar = Value::Object(Map::new());
                let roots = brine_states::LocalRoots::default();
                struct Plain;
                impl brine_states::TemplateRenderer for Plain {
                    fn render(
                        &self,
                        _: &str,
                        t: &str,
                        _: &str,
                        _: &Map<String, Value>,
                    ) -> Result<String, String> {
                        Ok(t.to_string())
                    }
                }
                let sctx = brine_states::StateCtx {
                    test: false,
                    saltenv: "base".into(),
                    grains: &g,
                    pillar: &pillar,
                    files: &roots,
                    templates: &Plain,
                    caller: &caller,
                    cachedir: std::env::temp_dir(),
                    cancel: Default::default(),
                    run: Default::default(),
                };
                let spec = brine_states::registry::lookup(fun).unwrap();
                let args = brine_states::StateArgs {
                    name: name.into(),
                    args: args.as_object().cloned().unwrap_or_default(),
                };
                (spec.run)(&sctx, &args)
            })
        };
        let r = run("grains.present", "role", serde_json::json!({"value": "db"}))
            .await
            .unwrap();
        assert_eq!(r.result, Some(true), "{}", r.comment);
        let r = run(
            "grains.list_present",
            "roles",
            serde_json::json!({"value": ["a", "b"]}),
        )
        .await
        .unwrap();
        assert_eq!(r.result, Some(true), "{}", r.comment);
        let r = run("grains.present", "deep:er", serde_json::json!({"value": 3}))
            .await
            .unwrap();
        assert_eq!(r.result, Some(true), "{}", r.comment);
        let now = grains.snapshot();
        assert_eq!(now["role"], "db");
        assert_eq!(now["roles"], serde_json::json!(["a", "b"]));
        assert_eq!(now["deep"], serde_json::json!({"er": 3}));
        let file = std::fs::read_to_string(config.grains_file()).unwrap();
        assert!(file.contains("role: db"), "{file}");
        let r = run(
            "grains.absent",
            "role",
            serde_json::json!({"destructive": true}),
        )
        .await
        .unwrap();
        assert_eq!(r.result, Some(true), "{}", r.comment);
        let reloaded = crate::grains::GrainsHandle::with_core(&config, Default::default());
        assert!(reloaded.snapshot().get("role").is_none());
        assert_eq!(reloaded.snapshot()["roles"], serde_json::json!(["a", "b"]));
    }
}
