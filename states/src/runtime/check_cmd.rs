//! The `check_cmd` runtime argument (Salt's `_run_check_cmd`): after the
//! state function, shell commands decide the result (all must exit 0).
//! A module with its own `mod_run_check_cmd` (Salt: `file`) takes
//! `check_cmd` itself (`file.managed` and `file.serialize` check the new
//! content before it is put in place; the other `file.*` functions ignore
//! it), so the runtime leaves it alone for every function of that module.

use serde_json::{Map, Value};

use crate::ctx::StateCtx;
use crate::modules::cmd::{run_all, CmdOpts};
use crate::pyrepr::py_str;

/// State modules whose own `check_cmd` handling replaces the runtime's
/// (Salt: the module has `mod_run_check_cmd`, which `State.call` looks up
/// per module, not per function).
pub const OWN_CHECK_CMD: &[&str] = &["file"];

/// The keys `_run_check_cmd` sets on the state's result: `result`,
/// `__sls__`, `__id__`, `name`, and a `comment` once a command ran.
pub fn run_check_cmd(ctx: &StateCtx<'_>, low: &Map<String, Value>) -> Map<String, Value> {
    let mut ret = Map::new();
    ret.insert("result".into(), Value::Bool(false));
    for key in ["__sls__", "__id__", "name"] {
        ret.insert(key.into(), low.get(key).cloned().unwrap_or(Value::Null));
    }
    let opts = CmdOpts {
        shell: ctx.grains.get("shell").map(py_str),
        ..CmdOpts::default()
    };
    let commands: Vec<String> = match low.get("check_cmd") {
        Some(Value::Array(items)) => items.iter().map(py_str).collect(),
        Some(other) => vec![py_str(other)],
        None => Vec::new(),
    };
    for command in commands {
        let retcode = run_all(&command, &opts).map_or(1, |out| out.retcode);
        if retcode == 0 && ret.get("result") == Some(&Value::Bool(false)) {
            ret.insert(
                "comment".into(),
                "check_cmd determined the state succeeded".into(),
            );
            ret.insert("result".into(), Value::Bool(true));
        } else if retcode != 0 {
            ret.insert(
                "comment".into(),
                "check_cmd determined the state failed".into(),
            );
            ret.insert("result".into(), Value::Bool(false));
            return ret;
        }
    }
    ret
}
