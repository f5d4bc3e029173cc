//! `service`: whether services run, as the init system says (`service.status`).
//!
//! ```yaml
//! beacons:
//!   service:
//!     - services:
//!         nginx:
//!           onchangeonly: true
//!           delay: 30                     # report a change that lasted 30 s
//!           emitatstartup: true
//!           uncleanshutdown: /run/nginx.pid
//! ```
//!
//! Event `brine/beacon/<id>/service/<name>` with Salt's data
//! `{"service_name": "nginx", "nginx": {"running": false,
//! "uncleanshutdown": true}}` when the service starts or stops (and, with
//! `emitatstartup`, the default, its state at the first evaluation).
//! Salt's `onchangeonly: false` (an event every interval) is not offered:
//! Brine always reports changes only. `uncleanshutdown` names a pid file:
//! when the service is not running and the file is still there, the
//! event says `uncleanshutdown: true`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::{number, truthy, Beacon, BeaconEvent, Inputs};

#[derive(Debug, Clone)]
pub struct ServiceOpts {
    name: String,
    delay: Duration,
    emitatstartup: bool,
    uncleanshutdown: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    services: Vec<ServiceOpts>,
}

impl Config {
    pub fn parse(params: &Map<String, Value>) -> Result<Config, String> {
        let mut services = Vec::new();
        for (key, value) in params {
            if key != "services" {
                return Err(format!("service has no option '{key}' (it takes services)"));
            }
            let m = value.as_object().ok_or_else(|| {
                format!("services must map service names to options, not {value}")
            })?;
            for (name, opts) in m {
                let opts = match opts {
                    Value::Null => Map::new(),
                    Value::Object(o) => o.clone(),
                    other => {
                        return Err(format!(
                            "service '{name}': options must be a dict, not {other}"
                        ))
                    }
                };
                let mut s = ServiceOpts {
                    name: name.clone(),
                    delay: Duration::ZERO,
                    emitatstartup: true,
                    uncleanshutdown: None,
                };
                for (k, v) in &opts {
                    match k.as_str() {
                        "onchangeonly" => {
                            if truthy(v) == Some(false) {
                                tracing::warn!(service = %name, "service beacon: onchangeonly false is not offered; Brine sends an event only when the service starts or stops");
                            }
                        }
                        "delay" => {
                            let secs = number(v).filter(|d| *d >= 0.0).ok_or_else(|| {
                                format!("service '{name}': delay must be seconds, not {v}")
                            })?;
                            s.delay = Duration::from_secs_f64(secs);
                        }
                        "emitatstartup" => {
                            s.emitatstartup = truthy(v).ok_or_else(|| {
                                format!("service '{name}': emitatstartup must be true or false, not {v}")
                            })?
                        }
                        "uncleanshutdown" => {
                            s.uncleanshutdown = Some(v.as_str().map(str::to_string).ok_or_else(|| {
                                format!("service '{name}': uncleanshutdown must be a pid file path, not {v}")
                            })?)
                        }
                        other => return Err(format!("service '{name}' has no option '{other}'")),
                    }
                }
                services.push(s);
            }
        }
        if services.is_empty() {
            return Err("service requires services, e.g. 'services: {nginx: {}}'".into());
        }
        Ok(Config { services })
    }
}

/// What the beacon knows of one service.
#[derive(Default)]
struct Seen {
    /// The state last reported (or taken as known at start).
    reported: Option<bool>,
    /// A change not reported yet (`delay`): since when it lasts.
    pending: Option<(bool, Instant)>,
}

pub struct ServiceBeacon {
    config: Config,
    status: Arc<dyn Fn(&str) -> bool + Send + Sync>,
    seen: Vec<Seen>,
}

impl ServiceBeacon {
    pub fn new(config: Config, inputs: &Inputs) -> ServiceBeacon {
        let seen = config.services.iter().map(|_| Seen::default()).collect();
        ServiceBeacon {
            config,
            status: inputs.services.clone(),
            seen,
        }
    }
}

impl Beacon for ServiceBeacon {
    fn evaluate(&mut self, now: Instant) -> Vec<BeaconEvent> {
        let mut events = Vec::new();
        for (opts, seen) in self.config.services.iter().zip(&mut self.seen) {
            let running = (self.status)(&opts.name);
            let report = match seen.reported {
                None => {
                    seen.reported = Some(running);
                    opts.emitatstartup
                }
                Some(r) if r == running => {
                    seen.pending = None;
                    false
                }
                Some(_) => {
                    let since = match seen.pending {
                        Some((state, since)) if state == running => since,
                        _ => {
                            seen.pending = Some((running, now));
                            now
                        }
                    };
                    if now.duration_since(since) >= opts.delay {
                        seen.reported = Some(running);
                        seen.pending = None;
                        true
                    } else {
                        false
                    }
                }
            };
            if report {
                let mut state = json!({"running": running});
                if let (Some(pidfile), false) = (&opts.uncleanshutdown, running) {
                    state["uncleanshutdown"] = json!(std::path::Path::new(pidfile).exists());
                }
                events.push(BeaconEvent::new(
                    opts.name.clone(),
                    json!({"service_name": opts.name, opts.name.clone(): state}),
                ));
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn changes_only_after_the_delay() {
        let up = Arc::new(AtomicBool::new(true));
        let u = up.clone();
        let mut inputs = Inputs::system(None);
        inputs.services = Arc::new(move |name: &str| name == "nginx" && u.load(Ordering::SeqCst));
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("nginx.pid");
        std::fs::write(&pidfile, "1").unwrap();
        let config = Config::parse(
            &super::super::flatten(&json!([{"services": {
                "nginx": {"onchangeonly": true, "delay": 30, "uncleanshutdown": pidfile},
                "apache2": {"emitatstartup": false},
            }}]))
            .unwrap(),
        )
        .unwrap();
        let mut b = ServiceBeacon::new(config, &inputs);
        let t0 = Instant::now();
        assert_eq!(
            b.evaluate(t0),
            vec![BeaconEvent::new(
                "nginx",
                json!({"service_name": "nginx", "nginx": {"running": true}})
            )],
            "nginx at start; apache2 not (emitatstartup false)"
        );
        assert!(b.evaluate(t0 + Duration::from_secs(10)).is_empty());
        up.store(false, Ordering::SeqCst);
        assert!(
            b.evaluate(t0 + Duration::from_secs(20)).is_empty(),
            "delay not over"
        );
        let ev = b.evaluate(t0 + Duration::from_secs(50));
        assert_eq!(
            ev,
            vec![BeaconEvent::new(
                "nginx",
                json!({"service_name": "nginx", "nginx": {"running": false, "uncleanshutdown": true}})
            )]
        );
        assert!(b.evaluate(t0 + Duration::from_secs(60)).is_empty());
        // a blip shorter than the delay is not reported
        up.store(true, Ordering::SeqCst);
        assert!(b.evaluate(t0 + Duration::from_secs(70)).is_empty());
        up.store(false, Ordering::SeqCst);
        assert!(b.evaluate(t0 + Duration::from_secs(80)).is_empty());
        assert!(b.evaluate(t0 + Duration::from_secs(200)).is_empty());
    }

    #[test]
    fn bad_options_are_named() {
        let p = |v: Value| Config::parse(&super::super::flatten(&v).unwrap()).unwrap_err();
        assert!(p(json!([{"services": {"x": {"delay": "soon"}}}])).contains("delay"));
        assert!(p(json!([{"services": {"x": {"colour": 1}}}])).contains("no option 'colour'"));
        assert!(p(json!([])).contains("requires services"));
    }
}
