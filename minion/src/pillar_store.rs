//! The minion's in-memory pillar (Salt's `__pillar__`): what `pillar.get`,
//! `config.get`, templates outside state runs and `I@` targets read.
//!
//! It is compiled (masterless) or fetched from the master (connected) the
//! first time a call reads it (`CallCtx::pillar`) and when the minion
//! connects, and replaced by
//! `saltutil.refresh_pillar` and by every state run, which compile a fresh
//! pillar anyway. Salt keeps a stale pillar until `refresh_pillar`; a state
//! run refreshing it here means `pillar.get` after a highstate agrees with
//! what the highstate used.

use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Map, Value};

use crate::registry::CallCtx;
use crate::state_sys::StateSystem;

/// Shared, cheap to clone; `None` inside until the first load.
#[derive(Clone, Default)]
pub struct PillarStore {
    current: Arc<Mutex<Option<Arc<Value>>>>,
    /// One load at a time: jobs arriving together wait for the same fetch
    /// instead of asking the master once each.
    loading: Arc<tokio::sync::Mutex<()>>,
}

impl PillarStore {
    fn lock(&self) -> MutexGuard<'_, Option<Arc<Value>>> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The pillar held now, if one was loaded.
    pub fn current(&self) -> Option<Arc<Value>> {
        self.lock().clone()
    }

    /// Replaces the pillar held (after a state run compiled a fresh one).
    pub fn set(&self, pillar: Value) -> Arc<Value> {
        let pillar = Arc::new(pillar);
        *self.lock() = Some(pillar.clone());
        pillar
    }

    /// The pillar held, loading it first if there is none yet. When it
    /// cannot be had (the master did not answer) the call gets an empty
    /// pillar and the next call tries again.
    pub async fn get_or_load(&self, ctx: &CallCtx) -> Arc<Value> {
        if let Some(p) = self.current() {
            return p;
        }
        let _one = self.loading.lock().await;
        if let Some(p) = self.current() {
            return p;
        }
        match self.load(ctx).await {
            Ok(p) => p,
            Err(error) => {
                tracing::warn!(%error, "pillar not available; this call sees an empty pillar");
                Arc::new(Value::Object(Map::new()))
            }
        }
    }

    /// Compiles or fetches the pillar now and keeps it (`refresh_pillar`).
    pub async fn refresh(&self, ctx: &CallCtx) -> Result<Arc<Value>, String> {
        let _one = self.loading.lock().await;
        self.load(ctx).await
    }

    /// Errors of the pillar's own SLS files do not fail the load: as in
    /// Salt, they are kept under the `_errors` key, where `pillar.items`
    /// shows them, and logged.
    async fn load(&self, ctx: &CallCtx) -> Result<Arc<Value>, String> {
        let ctx = ctx.clone();
        let handle = tokio::runtime::Handle::current();
        let compiled =
            tokio::task::spawn_blocking(move || StateSystem::new(&ctx, handle).compiled_pillar())
                .await
                .map_err(|e| format!("pillar task failed: {e}"))??;
        let (mut pillar, errors) = compiled;
        if !errors.is_empty() {
            for error in &errors {
                tracing::warn!(%error, "pillar error");
            }
            if let Value::Object(map) = &mut pillar {
                map.insert(
                    "_errors".into(),
                    Value::Array(errors.into_iter().map(Value::String).collect()),
                );
            }
        }
        Ok(self.set(pillar))
    }
}
