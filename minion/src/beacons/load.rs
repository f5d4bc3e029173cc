//! `load`: the 1, 5 and 15 minute load averages (`/proc/loadavg`) against
//! a `[low, high]` range each.
//!
//! ```yaml
//! beacons:
//!   load:
//!     - averages:
//!         1m: [0.0, 2.0]
//!         5m: [0.0, 1.5]
//!         15m: [0.1, 1.0]
//!     - emitatstartup: true
//!     - onchangeonly: true
//! ```
//!
//! Event `brine/beacon/<id>/load/` with Salt's data `{"1m": 2.3, "5m": 1.1,
//! "15m": 0.8}` when an average leaves its range (goes above `high` or
//! under `low`), once; again only after it came back. Salt's
//! `onchangeonly: false` (an event every interval while out of range) is
//! not offered: the option is accepted, and Brine always reports changes
//! only. `emitatstartup: false` makes the first reading set the state
//! without an event. With `emit_cleared: true`, an average coming back
//! into its range gives the same data with `"cleared": true`.

use std::path::PathBuf;
use std::time::Instant;

use serde_json::{json, Map, Value};

use super::{number, truthy, Beacon, BeaconEvent, Inputs};

const AVERAGES: [&str; 3] = ["1m", "5m", "15m"];

#[derive(Debug, Clone)]
pub struct Config {
    /// `[low, high]` for 1m, 5m, 15m (`None`: not watched).
    ranges: [Option<(f64, f64)>; 3],
    emitatstartup: bool,
    emit_cleared: bool,
}

impl Config {
    pub fn parse(params: &Map<String, Value>) -> Result<Config, String> {
        let mut ranges = [None; 3];
        let mut emitatstartup = true;
        let mut emit_cleared = false;
        let mut read_range = |key: &str, value: &Value| -> Result<(), String> {
            let i = AVERAGES
                .iter()
                .position(|a| *a == key)
                .ok_or_else(|| format!("load averages are 1m, 5m and 15m, not '{key}'"))?;
            let bad =
                || format!("load {key} must be a list of two numbers [low, high], not {value}");
            let pair = value.as_array().filter(|a| a.len() == 2).ok_or_else(bad)?;
            let (lo, hi) = (
                number(&pair[0]).ok_or_else(bad)?,
                number(&pair[1]).ok_or_else(bad)?,
            );
            if lo > hi {
                return Err(format!("load {key}: low {lo} is above high {hi}"));
            }
            ranges[i] = Some((lo, hi));
            Ok(())
        };
        for (key, value) in params {
            match key.as_str() {
                "averages" => {
                    let m = value.as_object().ok_or_else(|| {
                        format!("averages must map 1m/5m/15m to [low, high], not {value}")
                    })?;
                    for (k, v) in m {
                        read_range(k, v)?;
                    }
                }
                // Salt before 3000 put the averages at the top.
                "1m" | "5m" | "15m" => read_range(key, value)?,
                "emitatstartup" => {
                    emitatstartup = truthy(value).ok_or_else(|| {
                        format!("emitatstartup must be true or false, not {value}")
                    })?
                }
                "onchangeonly" => {
                    if truthy(value) == Some(false) {
                        tracing::warn!("load beacon: onchangeonly false is not offered; Brine sends an event only when an average leaves or (emit_cleared) re-enters its range");
                    }
                }
                "emit_cleared" => {
                    emit_cleared = truthy(value)
                        .ok_or_else(|| format!("emit_cleared must be true or false, not {value}"))?
                }
                other => return Err(format!("load has no option '{other}' (it takes averages)")),
            }
        }
        if ranges.iter().all(Option::is_none) {
            return Err("load needs averages, e.g. 'averages: {1m: [0.0, 2.0]}'".into());
        }
        Ok(Config {
            ranges,
            emitatstartup,
            emit_cleared,
        })
    }
}

/// Where an average stands against its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Zone {
    Under,
    Inside,
    Over,
}

pub struct Load {
    config: Config,
    loadavg: PathBuf,
    /// The zone of each average at the last evaluation (`None` before the first).
    last: Option<[Zone; 3]>,
}

impl Load {
    pub fn new(config: Config, inputs: &Inputs) -> Load {
        Load {
            config,
            loadavg: inputs.proc_dir.join("loadavg"),
            last: None,
        }
    }
}

pub fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut it = text.split_whitespace().map(|s| s.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

impl Beacon for Load {
    fn evaluate(&mut self, _now: Instant) -> Vec<BeaconEvent> {
        let Some(avgs) = std::fs::read_to_string(&self.loadavg)
            .ok()
            .as_deref()
            .and_then(parse_loadavg)
        else {
            tracing::debug!(path = %self.loadavg.display(), "load: cannot read the load averages");
            return Vec::new();
        };
        let zones: [Zone; 3] = std::array::from_fn(|i| match self.config.ranges[i] {
            Some((lo, _)) if avgs[i] < lo => Zone::Under,
            Some((_, hi)) if avgs[i] > hi => Zone::Over,
            _ => Zone::Inside,
        });
        let last = self.last.replace(zones);
        let (left, came_back) = match last {
            None => (
                self.config.emitatstartup && zones.iter().any(|z| *z != Zone::Inside),
                false,
            ),
            Some(before) => (
                (0..3).any(|i| zones[i] != before[i] && zones[i] != Zone::Inside),
                (0..3).any(|i| zones[i] != before[i] && zones[i] == Zone::Inside),
            ),
        };
        let mut data = json!({"1m": avgs[0], "5m": avgs[1], "15m": avgs[2]});
        if left {
            vec![BeaconEvent::new("", data)]
        } else if came_back && self.config.emit_cleared {
            data["cleared"] = json!(true);
            vec![BeaconEvent::new("", data)]
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beacon(config: Value, dir: &std::path::Path) -> Load {
        let config = Config::parse(&super::super::flatten(&config).unwrap()).unwrap();
        let mut inputs = Inputs::system(None);
        inputs.proc_dir = dir.to_path_buf();
        Load::new(config, &inputs)
    }

    #[test]
    fn an_event_when_an_average_leaves_its_range_once() {
        let dir = tempfile::tempdir().unwrap();
        let set = |a: f64, b: f64, c: f64| {
            std::fs::write(
                dir.path().join("loadavg"),
                format!("{a} {b} {c} 1/100 42\n"),
            )
            .unwrap()
        };
        let mut l = beacon(
            json!([{"averages": {"1m": [0.0, 2.0], "15m": [0.1, 1.0]}}, {"emit_cleared": true}]),
            dir.path(),
        );
        let now = Instant::now();
        set(0.5, 9.0, 0.5);
        assert!(l.evaluate(now).is_empty(), "5m is not watched");
        set(2.5, 0.0, 0.5);
        assert_eq!(
            l.evaluate(now),
            vec![BeaconEvent::new(
                "",
                json!({"1m": 2.5, "5m": 0.0, "15m": 0.5})
            )]
        );
        set(3.5, 0.0, 0.5);
        assert!(l.evaluate(now).is_empty(), "still over");
        set(3.5, 0.0, 0.05);
        assert_eq!(l.evaluate(now).len(), 1, "15m went under its low");
        set(1.0, 0.0, 0.5);
        let ev = l.evaluate(now);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].data["cleared"], json!(true));
        set(1.0, 0.0, 0.5);
        assert!(l.evaluate(now).is_empty());
    }

    #[test]
    fn emitatstartup_and_old_style_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("loadavg"), "5.0 5.0 5.0 1/1 1\n").unwrap();
        let mut l = beacon(json!({"1m": [0, 2], "emitatstartup": false}), dir.path());
        assert!(
            l.evaluate(Instant::now()).is_empty(),
            "over at start, not told"
        );
        assert!(l.evaluate(Instant::now()).is_empty());
        let mut l = beacon(json!({"1m": [0, 2]}), dir.path());
        assert_eq!(
            l.evaluate(Instant::now()).len(),
            1,
            "over at start: told once"
        );
        let p = |v: Value| Config::parse(&super::super::flatten(&v).unwrap()).unwrap_err();
        assert!(p(json!([{"averages": {"2m": [0, 1]}}])).contains("not '2m'"));
        assert!(p(json!([{"averages": {"1m": [3]}}])).contains("two numbers"));
        assert!(p(json!([{"averages": {"1m": [3, 1]}}])).contains("above high"));
        assert!(p(json!([{"onchangeonly": true}])).contains("needs averages"));
    }
}
