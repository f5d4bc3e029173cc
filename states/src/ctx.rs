//! What a state function gets besides its arguments. No globals: everything
//! a state may read or call is here.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use indexmap::IndexMap;

use serde_json::{Map, Value};

use crate::caller::ExecCaller;
use crate::source::FileSource;

/// Renders a template file for `file.managed template: jinja` and friends
/// (implemented by the renderer; a trait so state modules do not depend on it).
pub trait TemplateRenderer: Send + Sync {
    /// Renders `text` (the template read from `source_path`, e.g.
    /// `salt://nginx/files/nginx.conf`) with the usual context (grains, pillar,
    /// salt, opts, saltenv, sls...) plus `extra` (`defaults` overlaid by `context`).
    fn render(
        &self,
        engine: &str,
        text: &str,
        source_path: &str,
        extra: &Map<String, Value>,
    ) -> Result<String, String>;
}

/// The job's cancellation (kill or timeout), shared with the process runner
/// so that a state's commands die with the job.
pub use brine_process::Cancel;

/// Per-run context shared by every state of one `state.apply`.
pub struct StateCtx<'a> {
    /// `test=True`: report what would change, change nothing.
    pub test: bool,
    pub saltenv: String,
    pub grains: &'a Map<String, Value>,
    pub pillar: &'a Value,
    /// `salt://` reads.
    pub files: &'a dyn FileSource,
    pub templates: &'a dyn TemplateRenderer,
    pub caller: &'a dyn ExecCaller,
    /// Where fetched sources and backups are kept (the minion's cachedir).
    pub cachedir: PathBuf,
    /// The job's cancellation (kill or timeout).
    pub cancel: Cancel,
    /// What the runtime knows of the run: the chunk being run, every chunk,
    /// the accumulators. Empty outside [`crate::runtime::run`].
    pub run: RunInfo,
}

/// Salt's `__low__`, `__lowstate__` and the `file.accumulated` data of one
/// run, for the few states that look beyond their own arguments
/// (`file.directory clean` keeps what its required states manage,
/// `file.accumulated` reads its own `require_in`).
#[derive(Clone, Default)]
pub struct RunInfo {
    /// The chunk being run, requisites and `__id__`/`__sls__` included.
    pub low: Arc<Map<String, Value>>,
    /// Every chunk of the run.
    pub lowstate: Arc<Vec<Map<String, Value>>>,
    /// Text collected by `file.accumulated` during this run.
    pub accumulators: Arc<Mutex<Accumulators>>,
}

/// `file.accumulated`'s data (Salt's `_ACCUMULATORS` and
/// `_ACCUMULATORS_DEPS`), kept for one run only.
#[derive(Debug, Default)]
pub struct Accumulators {
    /// filename -> accumulator name -> text chunks, in the order added.
    pub data: IndexMap<String, IndexMap<String, Vec<Value>>>,
    /// filename -> accumulator name -> the IDs its `require_in`/`watch_in` name.
    pub deps: IndexMap<String, IndexMap<String, Vec<Value>>>,
}

impl RunInfo {
    /// The accumulators of file `name`, if any state charged one.
    pub fn accumulators_of(&self, name: &str) -> Option<IndexMap<String, Vec<Value>>> {
        let acc = self.accumulators.lock().unwrap_or_else(|e| e.into_inner());
        acc.data.get(name).cloned()
    }
}

/// One state's arguments, as the compiler produced them: `name` plus every
/// other argument by key (requisites and runtime keys removed).
#[derive(Debug, Clone, Default)]
pub struct StateArgs {
    pub name: String,
    pub args: Map<String, Value>,
}

impl StateArgs {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.args.get(key).filter(|v| !v.is_null())
    }

    pub fn str(&self, key: &str) -> Option<String> {
        self.get(key).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    /// Salt's truthiness for flags (`True`, `"yes"`, `1`).
    pub fn bool(&self, key: &str, default: bool) -> bool {
        match self.get(key) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(Value::Number(n)) => n.as_f64() != Some(0.0),
            Some(Value::String(s)) => {
                matches!(s.to_ascii_lowercase().as_str(), "true" | "yes" | "on" | "1")
            }
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::Object(o)) => !o.is_empty(),
            Some(Value::Null) => false,
        }
    }
}
