//! How rendering and state modules reach execution functions
//! (`salt['pillar.get'](...)` in Jinja, `module.run`, `cmd.run` in states):
//! through the same registry as `brine '*' mod.fun`, behind this trait so
//! that this crate does not depend on the minion.

use serde_json::{Map, Value};

/// Why a call through [`ExecCaller`] gave no value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// No such `"mod.fun"` on this minion.
    #[error("'{0}' is not available")]
    Unknown(String),
    /// The function refused its arguments or failed; the message is the
    /// function's own (Python-style argument errors included).
    #[error("{0}")]
    Failed(String),
}

/// Calls an execution function synchronously. Rendering runs on a blocking
/// thread, so an implementation may block on async work.
pub trait ExecCaller: Send + Sync {
    fn call(
        &self,
        fun: &str,
        args: Vec<Value>,
        kwargs: Map<String, Value>,
    ) -> Result<Value, CallError>;

    /// Whether `"mod.fun"` exists (Jinja's `'mod.fun' in salt`).
    fn has(&self, fun: &str) -> bool;

    /// The job these calls run for and the minion's id (Salt's
    /// `__jid__`, `opts['id']`), where there is one: `fire_event` tags
    /// its events with them.
    fn job(&self) -> Option<(String, String)> {
        None
    }
}
