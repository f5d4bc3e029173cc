//! `status`: periodic health data from the `status.*` execution functions,
//! as Salt's status beacon. Unlike the other beacons it sends an event
//! every interval: a periodic heartbeat with data is what it is for (set
//! its `interval` to the period wanted).
//!
//! ```yaml
//! beacons:
//!   status:
//!     - loadavg: [all]
//!     - meminfo: [MemTotal, MemAvailable]
//!     - interval: 300
//! ```
//!
//! Event `brine/beacon/<id>/status/<ISO time>` with Salt's data
//! `{"data": {"loadavg": {...}, "meminfo": {...}}}`. Unconfigured, it
//! reports Salt's defaults that Brine's status module has: `loadavg` and
//! `meminfo` (Salt's `cpustats`, `vmstats` and `time` are not in Brine's
//! status module yet; asked for, they come back as `{}`, as Salt gives
//! for a function that fails).

use std::time::Instant;

use serde_json::{json, Map, Value};

use super::{Beacon, BeaconEvent, Inputs};
use crate::registry::{self, Args, CallCtx};

#[derive(Debug, Clone)]
pub struct Config {
    /// (function, the items asked for: `all`, keys or list indexes).
    funcs: Vec<(String, Vec<Value>)>,
}

impl Config {
    pub fn parse(params: &Map<String, Value>) -> Result<Config, String> {
        let mut funcs = Vec::new();
        for (func, items) in params {
            if !func.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("status function '{func}' is not a function name"));
            }
            let items = match items {
                Value::Array(a) => a.clone(),
                Value::Null => vec![json!("all")],
                other => vec![other.clone()],
            };
            funcs.push((func.clone(), items));
        }
        if funcs.is_empty() {
            funcs = ["loadavg", "meminfo"]
                .iter()
                .map(|f| (f.to_string(), vec![json!("all")]))
                .collect();
        }
        Ok(Config { funcs })
    }
}

pub struct Status {
    config: Config,
    ctx: Option<(CallCtx, tokio::runtime::Handle)>,
}

impl Status {
    pub fn new(config: Config, inputs: &Inputs) -> Status {
        Status {
            config,
            ctx: inputs.ctx.clone(),
        }
    }

    /// `status.<func>`'s value, `None` when there is no such function or it failed.
    fn call(&self, func: &str) -> Option<Value> {
        let (ctx, handle) = self.ctx.as_ref()?;
        let spec = registry::lookup(&format!("status.{func}"))?;
        let run = registry::with_fun(spec.name, (spec.run)(ctx.clone(), Args::default()));
        match handle.block_on(run) {
            Ok(out) => Some(out.value),
            Err(error) => {
                tracing::debug!(func, %error, "status beacon: function failed");
                None
            }
        }
    }
}

/// Picks the items asked for out of a function's value (Salt's rules:
/// `all`, a key, or a list index).
fn pick(data: Value, items: &[Value]) -> Value {
    let mut out = Map::new();
    for item in items {
        if item == "all" {
            return data;
        }
        let key = match item {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let found = match &data {
            Value::Object(m) => m.get(&key).cloned(),
            Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i).cloned()),
            other if key == "0" => Some(other.clone()),
            _ => None,
        };
        match found {
            Some(v) => {
                out.insert(key, v);
            }
            None => {
                return Value::String(format!("Status beacon is incorrectly configured: {key:?}"))
            }
        }
    }
    Value::Object(out)
}

impl Beacon for Status {
    fn evaluate(&mut self, _now: Instant) -> Vec<BeaconEvent> {
        let mut data = Map::new();
        for (func, items) in &self.config.funcs {
            let value = match self.call(func) {
                Some(v) => pick(v, items),
                None => json!({}),
            };
            data.insert(func.clone(), value);
        }
        let ctime = chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.6f+00:00")
            .to_string();
        vec![BeaconEvent::new(ctime, json!({"data": data}))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_items_as_salt() {
        let d = json!({"1-min": 0.5, "5-min": 0.2, "15-min": 0.1});
        assert_eq!(pick(d.clone(), &[json!("all")]), d);
        assert_eq!(
            pick(d.clone(), &[json!("1-min"), json!("5-min")]),
            json!({"1-min": 0.5, "5-min": 0.2})
        );
        assert_eq!(pick(json!(["a", "b"]), &[json!(1)]), json!({"1": "b"}));
        assert!(pick(d, &[json!("2-min")])
            .as_str()
            .unwrap()
            .contains("incorrectly configured"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reports_status_functions_every_time() {
        let config = Config::parse(
            &super::super::flatten(&json!([{"loadavg": ["1-min"]}, {"cpustats": ["all"]}]))
                .unwrap(),
        )
        .unwrap();
        let mut inputs = Inputs::system(None);
        inputs.ctx = Some((registry::test_ctx(), tokio::runtime::Handle::current()));
        let mut b = Status::new(config, &inputs);
        let ev = tokio::task::spawn_blocking(move || {
            let first = b.evaluate(Instant::now());
            let second = b.evaluate(Instant::now());
            (first, second)
        })
        .await
        .unwrap();
        for e in [&ev.0, &ev.1] {
            assert_eq!(e.len(), 1, "periodic: one every evaluation");
            let data = &e[0].data["data"];
            assert!(data["loadavg"]["1-min"].is_number(), "{data}");
            assert_eq!(data["cpustats"], json!({}), "not in Brine's status module");
            assert!(e[0].suffix.ends_with("+00:00"), "{}", e[0].suffix);
        }
        let d = Config::parse(&Map::new()).unwrap();
        assert_eq!(d.funcs.len(), 2);
    }
}
