//! An SLS file through the whole pipeline (shebang, Jinja, YAML) with
//! Salt's context: never a panic; runaway templates stop at the render
//! budget.
#![no_main]
use std::collections::BTreeMap;

use brine_states::render::{render_sls, RenderEnv};
use brine_states::{CallError, ExecCaller, LocalRoots};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};

struct NoFunctions;

impl ExecCaller for NoFunctions {
    fn call(&self, fun: &str, _: Vec<Value>, _: Map<String, Value>) -> Result<Value, CallError> {
        match fun {
            "test.ping" => Ok(Value::Bool(true)),
            _ => Err(CallError::Unknown(fun.to_string())),
        }
    }
    fn has(&self, fun: &str) -> bool {
        fun == "test.ping"
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let files = LocalRoots::new(BTreeMap::new());
    let grains = json!({"os": "Debian", "id": "web1"});
    let grains = grains.as_object().unwrap().clone();
    let pillar = json!({"web": {"port": 80}});
    let opts = json!({"id": "web1"});
    let env = RenderEnv {
        files: &files,
        caller: &NoFunctions,
        grains: &grains,
        pillar: &pillar,
        opts: &opts,
        saltenv: "base",
    };
    let _ = render_sls(&env, "fuzz", "fuzz.sls", text);
});
