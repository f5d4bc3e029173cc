//! What the system state tests share: a [`StateCtx`] over a temp file root,
//! argument building, and the gate for tests that change the real host.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::caller::{CallError, ExecCaller};
use crate::ctx::{StateArgs, StateCtx, TemplateRenderer};
use crate::source::LocalRoots;

struct NoTemplates;

impl TemplateRenderer for NoTemplates {
    fn render(
        &self,
        _: &str,
        text: &str,
        _: &str,
        _: &Map<String, Value>,
    ) -> Result<String, String> {
        Ok(text.to_string())
    }
}

struct NoCalls;

impl ExecCaller for NoCalls {
    fn call(&self, fun: &str, _: Vec<Value>, _: Map<String, Value>) -> Result<Value, CallError> {
        Err(CallError::Unknown(fun.to_string()))
    }

    fn has(&self, _: &str) -> bool {
        false
    }
}

/// Owns what a [`StateCtx`] borrows.
pub struct TestEnv {
    pub grains: Map<String, Value>,
    pub pillar: Value,
    pub roots: LocalRoots,
    pub cachedir: PathBuf,
}

impl TestEnv {
    /// `file_root` serves `salt://` in `base`.
    pub fn new(file_root: PathBuf, cachedir: PathBuf) -> TestEnv {
        let mut grains = Map::new();
        grains.insert("os_family".into(), Value::String(host_os_family()));
        grains.insert("kernel".into(), Value::String("Linux".into()));
        let mut roots = BTreeMap::new();
        roots.insert("base".to_string(), vec![file_root]);
        TestEnv {
            grains,
            pillar: Value::Object(Map::new()),
            roots: LocalRoots::new(roots),
            cachedir,
        }
    }

    pub fn ctx(&self, test: bool) -> StateCtx<'_> {
        StateCtx {
            test,
            saltenv: "base".to_string(),
            grains: &self.grains,
            pillar: &self.pillar,
            files: &self.roots,
            templates: &NoTemplates,
            caller: &NoCalls,
            cachedir: self.cachedir.clone(),
            cancel: Default::default(),
            run: Default::default(),
        }
    }
}

fn host_os_family() -> String {
    if std::path::Path::new("/etc/debian_version").exists() {
        "Debian".to_string()
    } else if std::path::Path::new("/etc/redhat-release").exists() {
        "RedHat".to_string()
    } else {
        "Unknown".to_string()
    }
}

/// Builds arguments from JSON: `args("name", json!({"uid": 5}))`.
pub fn args(name: &str, rest: Value) -> StateArgs {
    StateArgs {
        name: name.to_string(),
        args: match rest {
            Value::Object(m) => m,
            _ => Map::new(),
        },
    }
}

/// Whether tests that install packages or start services may run
/// (`BRINE_SYSTEM_TESTS=1`, set by CI); prints why when they may not.
pub fn system_tests_enabled(test_name: &str) -> bool {
    let on = std::env::var("BRINE_SYSTEM_TESTS").is_ok_and(|v| v == "1");
    if !on {
        println!("{test_name}: skipped, set BRINE_SYSTEM_TESTS=1 to run it");
    }
    on
}

/// Whether this process may manage accounts (root).
pub fn is_root() -> bool {
    super::run::Cmd::new("id")
        .arg("-u")
        .run()
        .is_ok_and(|o| o.stdout.trim() == "0")
}

/// A name unique to this test process: `brinetest_<pid>_<tag>`.
pub fn unique_name(tag: &str) -> String {
    format!("brinetest{}{tag}", std::process::id())
}

/// Serializes tests that add or delete accounts: `useradd` and friends fail
/// when another one holds the lock on `/etc/passwd`.
pub fn account_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
