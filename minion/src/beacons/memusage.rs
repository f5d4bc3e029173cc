//! `memusage`: the used share of memory (psutil's: total less available,
//! from `/proc/meminfo`) against a percent threshold.
//!
//! ```yaml
//! beacons:
//!   memusage:
//!     - percent: 63%
//!     - emit_cleared: true     # Brine: also an event when back under
//! ```
//!
//! Event `brine/beacon/<id>/memusage/` with Salt's data `{"memusage": 71.3}`
//! once when usage reaches the threshold; again only after it went under.

use std::path::PathBuf;
use std::time::Instant;

use serde_json::{json, Map, Value};

use super::crossing::{Crossing, Edge};
use super::{percent, round1, truthy, Beacon, BeaconEvent, Inputs};

#[derive(Debug, Clone)]
pub struct Config {
    percent: f64,
    emit_cleared: bool,
}

impl Config {
    pub fn parse(params: &Map<String, Value>) -> Result<Config, String> {
        let mut percent_ = None;
        let mut emit_cleared = false;
        for (key, value) in params {
            match key.as_str() {
                "percent" => {
                    percent_ = Some(percent(value).ok_or_else(|| {
                        format!("percent must be a percentage such as 80%, not {value}")
                    })?)
                }
                "emit_cleared" => {
                    emit_cleared = truthy(value)
                        .ok_or_else(|| format!("emit_cleared must be true or false, not {value}"))?
                }
                other => {
                    return Err(format!(
                        "memusage has no option '{other}' (it takes percent)"
                    ))
                }
            }
        }
        Ok(Config {
            percent: percent_.ok_or("memusage requires percent, e.g. 'percent: 80%'")?,
            emit_cleared,
        })
    }
}

/// Used memory in percent from a meminfo text; `None` without MemTotal.
pub fn used_percent(meminfo: &str) -> Option<f64> {
    let field = |name: &str| -> Option<f64> {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    let total = field("MemTotal").filter(|t| *t > 0.0)?;
    // Kernels before 3.14 have no MemAvailable: psutil's fallback.
    let available = field("MemAvailable").or_else(|| {
        Some(field("MemFree")? + field("Buffers").unwrap_or(0.0) + field("Cached").unwrap_or(0.0))
    })?;
    Some(round1((total - available).max(0.0) / total * 100.0))
}

pub struct Memusage {
    config: Config,
    meminfo: PathBuf,
    state: Crossing,
}

impl Memusage {
    pub fn new(config: Config, inputs: &Inputs) -> Memusage {
        Memusage {
            config,
            meminfo: inputs.proc_dir.join("meminfo"),
            state: Crossing::default(),
        }
    }
}

impl Beacon for Memusage {
    fn evaluate(&mut self, _now: Instant) -> Vec<BeaconEvent> {
        let Some(usage) = std::fs::read_to_string(&self.meminfo)
            .ok()
            .as_deref()
            .and_then(used_percent)
        else {
            tracing::debug!(path = %self.meminfo.display(), "memusage: cannot read meminfo");
            return Vec::new();
        };
        match self.state.update(usage >= self.config.percent) {
            Some(Edge::Crossed) => vec![BeaconEvent::new("", json!({"memusage": usage}))],
            Some(Edge::Cleared) if self.config.emit_cleared => vec![BeaconEvent::new(
                "",
                json!({"memusage": usage, "cleared": true}),
            )],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_event_per_crossing() {
        let dir = tempfile::tempdir().unwrap();
        let write = |avail: u64| {
            std::fs::write(
                dir.path().join("meminfo"),
                format!("MemTotal:       1000 kB\nMemFree:  1 kB\nMemAvailable:   {avail} kB\n"),
            )
            .unwrap()
        };
        let config = Config::parse(
            &super::super::flatten(&json!([{"percent": "63%"}, {"emit_cleared": true}])).unwrap(),
        )
        .unwrap();
        let mut inputs = Inputs::system(None);
        inputs.proc_dir = dir.path().to_path_buf();
        let mut b = Memusage::new(config, &inputs);
        let now = Instant::now();
        write(500);
        assert!(b.evaluate(now).is_empty());
        write(300);
        assert_eq!(
            b.evaluate(now),
            vec![BeaconEvent::new("", json!({"memusage": 70.0}))]
        );
        write(250);
        assert!(b.evaluate(now).is_empty(), "still above");
        write(900);
        assert_eq!(
            b.evaluate(now),
            vec![BeaconEvent::new(
                "",
                json!({"memusage": 10.0, "cleared": true})
            )]
        );
        std::fs::remove_file(dir.path().join("meminfo")).unwrap();
        assert!(b.evaluate(now).is_empty(), "unreadable: nothing");
    }

    #[test]
    fn meminfo_without_memavailable_and_bad_configs() {
        let text = "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 100 kB\nCached: 300 kB\n";
        assert_eq!(used_percent(text), Some(50.0));
        assert_eq!(used_percent("nothing"), None);
        let p = |v: Value| Config::parse(&super::super::flatten(&v).unwrap()).unwrap_err();
        assert!(p(json!([])).contains("requires percent"));
        assert!(p(json!([{"percent": "much"}])).contains("percentage"));
        assert!(p(json!([{"percnt": 5}])).contains("no option 'percnt'"));
    }
}
