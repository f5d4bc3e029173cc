//! `diskusage`: the used share of mounted file systems against a percent
//! threshold per mount point (a regex, as in Salt: `/` is only `/`,
//! `^/(?!home).*$` would be every mount but /home... except that Rust's
//! regex has no look-around, so such patterns are refused at start-up).
//!
//! ```yaml
//! beacons:
//!   diskusage:
//!     - /: 63%
//!     - /var: 90%
//!     - interval: 120
//!     - emit_cleared: true     # Brine: also an event when back under
//! ```
//!
//! Event `brine/beacon/<id>/diskusage/<mount>` with Salt's data
//! `{"diskusage": 95.2, "mount": "/"}` once when a mount's usage reaches
//! its threshold; again only after it went under and reached it again.
//! With `emit_cleared`, going back under gives `{..., "cleared": true}`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use regex::Regex;
use serde_json::{json, Map, Value};

use super::crossing::{Crossing, Edge};
use super::{percent, round1, truthy, Beacon, BeaconEvent, Inputs};

/// Mounts and their usage: the system's, or a fake in tests.
pub trait DiskSource: Send + Sync {
    /// Mount points, each once.
    fn mounts(&self) -> Vec<String>;
    /// Used share in percent (psutil's: used over used plus what non-root
    /// users may still have), `None` when it cannot be read.
    fn percent(&self, mount: &str) -> Option<f64>;
}

/// `/proc/self/mounts` and statvfs.
pub struct SystemDisks;

impl DiskSource for SystemDisks {
    fn mounts(&self) -> Vec<String> {
        let text = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let mut seen = std::collections::HashSet::new();
        text.lines()
            .filter_map(|l| l.split(' ').nth(1))
            .map(brine_states::modules::sys::mounts::unescape)
            .filter(|m| seen.insert(m.clone()))
            .collect()
    }

    #[allow(clippy::useless_conversion)]
    fn percent(&self, mount: &str) -> Option<f64> {
        let st = nix::sys::statvfs::statvfs(mount).ok()?;
        let frsize = match u64::from(st.fragment_size()) {
            0 => u64::from(st.block_size()),
            f => f,
        } as f64;
        let used =
            u64::from(st.blocks()).saturating_sub(u64::from(st.blocks_free())) as f64 * frsize;
        let avail = u64::from(st.blocks_available()) as f64 * frsize;
        Some(usage_percent(used, used + avail))
    }
}

/// psutil's `usage_percent(used, total, round_=1)`.
pub fn usage_percent(used: f64, total: f64) -> f64 {
    if total <= 0.0 {
        0.0
    } else {
        round1(used / total * 100.0)
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// (pattern as written, anchored regex, threshold), in config order;
    /// a later pattern matching a mount overrides an earlier one (Salt's
    /// documented rule for regexes).
    thresholds: Vec<(String, Regex, f64)>,
    emit_cleared: bool,
}

impl Config {
    pub fn parse(params: &Map<String, Value>) -> Result<Config, String> {
        let mut thresholds = Vec::new();
        let mut emit_cleared = false;
        for (key, value) in params {
            if key == "emit_cleared" {
                emit_cleared = truthy(value)
                    .ok_or_else(|| format!("emit_cleared must be true or false, not {value}"))?;
                continue;
            }
            let limit = percent(value).ok_or_else(|| {
                format!(
                    "the threshold of mount '{key}' must be a percentage such as 90%, not {value}"
                )
            })?;
            // Salt: re.match (anchored at the start), with a `$` added.
            let anchored = if key.ends_with('$') {
                format!("^(?:{key})")
            } else {
                format!("^(?:{key})$")
            };
            let re = Regex::new(&anchored)
                .map_err(|e| format!("mount pattern '{key}' is not a valid regex: {e}"))?;
            thresholds.push((key.clone(), re, limit));
        }
        if thresholds.is_empty() {
            return Err(
                "diskusage needs at least one mount with a threshold, e.g. '/: 90%'".into(),
            );
        }
        Ok(Config {
            thresholds,
            emit_cleared,
        })
    }

    fn threshold(&self, mount: &str) -> Option<f64> {
        self.thresholds
            .iter()
            .rev()
            .find(|(_, re, _)| re.is_match(mount))
            .map(|(_, _, t)| *t)
    }
}

pub struct Diskusage {
    config: Config,
    disks: Arc<dyn DiskSource>,
    /// Per mount; mounts that went away are forgotten.
    state: HashMap<String, Crossing>,
}

impl Diskusage {
    pub fn new(config: Config, inputs: &Inputs) -> Diskusage {
        Diskusage {
            config,
            disks: inputs.disks.clone(),
            state: HashMap::new(),
        }
    }
}

impl Beacon for Diskusage {
    fn evaluate(&mut self, _now: Instant) -> Vec<BeaconEvent> {
        let mut events = Vec::new();
        let mut watched = std::collections::HashSet::new();
        for mount in self.disks.mounts() {
            let Some(limit) = self.config.threshold(&mount) else {
                continue;
            };
            let Some(usage) = self.disks.percent(&mount) else {
                tracing::debug!(%mount, "diskusage: cannot read the usage of this mount");
                continue;
            };
            watched.insert(mount.clone());
            let edge = self
                .state
                .entry(mount.clone())
                .or_default()
                .update(usage >= limit);
            match edge {
                Some(Edge::Crossed) => events.push(BeaconEvent::new(
                    mount.clone(),
                    json!({"diskusage": usage, "mount": mount}),
                )),
                Some(Edge::Cleared) if self.config.emit_cleared => events.push(BeaconEvent::new(
                    mount.clone(),
                    json!({"diskusage": usage, "mount": mount, "cleared": true}),
                )),
                _ => {}
            }
        }
        self.state.retain(|m, _| watched.contains(m));
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Mounts whose usage the test sets.
    #[derive(Default)]
    struct FakeDisks(Mutex<Vec<(String, f64)>>);

    impl FakeDisks {
        fn set(&self, mount: &str, pct: f64) {
            let mut v = self.0.lock().unwrap();
            v.retain(|(m, _)| m != mount);
            v.push((mount.to_string(), pct));
        }
    }

    impl DiskSource for FakeDisks {
        fn mounts(&self) -> Vec<String> {
            self.0
                .lock()
                .unwrap()
                .iter()
                .map(|(m, _)| m.clone())
                .collect()
        }
        fn percent(&self, mount: &str) -> Option<f64> {
            self.0
                .lock()
                .unwrap()
                .iter()
                .find(|(m, _)| m == mount)
                .map(|(_, p)| *p)
        }
    }

    fn beacon(config: Value, disks: Arc<FakeDisks>) -> Diskusage {
        let config = Config::parse(&super::super::flatten(&config).unwrap()).unwrap();
        let mut inputs = Inputs::system(None);
        inputs.disks = disks;
        Diskusage::new(config, &inputs)
    }

    #[test]
    fn one_event_per_crossing_none_while_above() {
        let disks = Arc::new(FakeDisks::default());
        disks.set("/", 50.0);
        disks.set("/home", 99.0);
        let mut b = beacon(json!([{"/": "90%"}]), disks.clone());
        let now = Instant::now();
        assert!(b.evaluate(now).is_empty(), "under; /home not watched");
        disks.set("/", 95.2);
        let ev = b.evaluate(now);
        assert_eq!(
            ev,
            vec![BeaconEvent::new(
                "/",
                json!({"diskusage": 95.2, "mount": "/"})
            )]
        );
        for pct in [96.0, 99.0, 90.0] {
            disks.set("/", pct);
            assert!(b.evaluate(now).is_empty(), "still at or above at {pct}");
        }
        disks.set("/", 89.9);
        assert!(b.evaluate(now).is_empty(), "no cleared event unless asked");
        disks.set("/", 91.0);
        assert_eq!(b.evaluate(now).len(), 1, "crossed again");
    }

    #[test]
    fn regexes_and_cleared_events() {
        let disks = Arc::new(FakeDisks::default());
        disks.set("/", 95.0);
        disks.set("/var", 40.0);
        disks.set("/var/lib", 85.0);
        let mut b = beacon(
            json!([{"^/var.*": "80%"}, {"/var": "30%"}, {"emit_cleared": true}]),
            disks.clone(),
        );
        let mounts =
            |ev: Vec<BeaconEvent>| -> Vec<String> { ev.into_iter().map(|e| e.suffix).collect() };
        // "/" matches no pattern; /var takes its own (later) 30%.
        assert_eq!(mounts(b.evaluate(Instant::now())), ["/var", "/var/lib"]);
        disks.set("/var/lib", 10.0);
        let ev = b.evaluate(Instant::now());
        assert_eq!(
            ev,
            vec![BeaconEvent::new(
                "/var/lib",
                json!({"diskusage": 10.0, "mount": "/var/lib", "cleared": true})
            )]
        );
    }

    #[test]
    fn bad_patterns_and_thresholds_are_refused() {
        let p = |v: Value| Config::parse(&super::super::flatten(&v).unwrap()).unwrap_err();
        assert!(p(json!([{"^/(?!home).*$": "90%"}])).contains("not a valid regex"));
        assert!(p(json!([{"/": "full"}])).contains("percentage"));
        assert!(p(json!([])).contains("at least one mount"));
    }

    #[test]
    fn the_system_source_reads_the_root_mount() {
        let d = SystemDisks;
        assert!(d.mounts().iter().any(|m| m == "/"));
        let p = d.percent("/").unwrap();
        assert!((0.0..=100.0).contains(&p), "{p}");
        assert_eq!(usage_percent(1.0, 3.0), 33.3);
    }
}
