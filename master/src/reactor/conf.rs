//! Reading the reactor's options from the master config, shaped as Salt
//! writes them:
//!
//! ```yaml
//! reactor:
//!   - 'brine/beacon/*/diskusage/*':
//!     - salt://reactor/disk.sls
//!     - /srv/reactor/page.sls
//! reactor_worker_threads: 10
//! reactor_worker_hwm: 10000
//! reactor_queue_max_bytes: 16777216
//! reactor_rate_limit:
//!   interval: 10
//!   burst: 3
//! ```

use std::time::Duration;

use brine_proto::conf::{ConfError, RawConfig};
use serde_yaml::Value;

/// One `reactor` entry: events whose tag matches `tag` run every SLS of `sls`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub tag: String,
    /// `salt://path` (from the master's file server, `base`) or an absolute path.
    pub sls: Vec<String>,
}

/// Per (rule, minion) token bucket: `burst` reactions at once, then one per
/// `interval`. `interval` 0 turns the limit off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub interval: Duration,
    pub burst: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReactorConfig {
    pub rules: Vec<Rule>,
    /// Reactions run at once (`reactor_worker_threads`, Salt's key).
    pub workers: usize,
    /// Reactions waiting for a worker, at most (`reactor_worker_hwm`, Salt's key).
    pub queue_max: usize,
    /// Bytes of event data waiting for a worker, at most (`reactor_queue_max_bytes`).
    pub queue_max_bytes: usize,
    pub rate_limit: RateLimit,
}

impl Default for ReactorConfig {
    fn default() -> Self {
        ReactorConfig {
            rules: Vec::new(),
            workers: 10,
            queue_max: 10_000,
            queue_max_bytes: 16 << 20,
            rate_limit: RateLimit {
                interval: Duration::from_secs(10),
                burst: 3,
            },
        }
    }
}

fn bad(raw: &RawConfig, key: &str, message: impl Into<String>) -> ConfError {
    ConfError::BadValue {
        file: raw.file().to_string(),
        key: key.to_string(),
        message: message.into(),
    }
}

/// Reads `reactor` and the `reactor_*` options.
pub fn from_raw(raw: &mut RawConfig) -> Result<ReactorConfig, ConfError> {
    let mut c = ReactorConfig::default();
    if let Some(list) = raw.get::<Value>("reactor")? {
        c.rules = parse_rules(&list).map_err(|m| bad(raw, "reactor", m))?;
    }
    if let Some(n) = raw.get::<usize>("reactor_worker_threads")? {
        if n == 0 {
            return Err(bad(raw, "reactor_worker_threads", "must be at least 1"));
        }
        c.workers = n;
    }
    if let Some(n) = raw.get::<usize>("reactor_worker_hwm")? {
        c.queue_max = n.max(1);
    }
    if let Some(n) = raw.get::<usize>("reactor_queue_max_bytes")? {
        c.queue_max_bytes = n.max(1);
    }
    if let Some(v) = raw.get::<Value>("reactor_rate_limit")? {
        c.rate_limit =
            parse_rate(&v, c.rate_limit).map_err(|m| bad(raw, "reactor_rate_limit", m))?;
    }
    Ok(c)
}

fn parse_rules(v: &Value) -> Result<Vec<Rule>, String> {
    let Value::Sequence(items) = v else {
        return Err("must be a list of {tag glob: [sls, ...]}".into());
    };
    let mut rules = Vec::new();
    for item in items {
        let Value::Mapping(m) = item else {
            return Err(format!(
                "entry {item:?} is not a {{tag glob: [sls, ...]}} mapping"
            ));
        };
        for (tag, sls) in m {
            let tag = tag
                .as_str()
                .ok_or_else(|| format!("tag glob {tag:?} is not a string"))?
                .to_string();
            let list: Vec<String> = match sls {
                Value::String(s) => vec![s.clone()],
                Value::Sequence(l) => l
                    .iter()
                    .map(|s| {
                        s.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| format!("'{tag}': SLS {s:?} is not a string"))
                    })
                    .collect::<Result<_, _>>()?,
                other => return Err(format!("'{tag}': {other:?} is not a list of SLS paths")),
            };
            for s in &list {
                if !s.starts_with("salt://") && !s.starts_with('/') {
                    return Err(format!(
                        "'{tag}': '{s}' is neither salt://... nor an absolute path"
                    ));
                }
            }
            rules.push(Rule { tag, sls: list });
        }
    }
    Ok(rules)
}

fn parse_rate(v: &Value, default: RateLimit) -> Result<RateLimit, String> {
    let Value::Mapping(m) = v else {
        return Err("must be a mapping {interval: seconds, burst: count}".into());
    };
    let mut r = default;
    for (k, v) in m {
        match k.as_str() {
            Some("interval") => {
                let s = v
                    .as_f64()
                    .filter(|s| (0.0..=86_400.0 * 365.0).contains(s))
                    .ok_or("interval must be a number of seconds from 0 to a year")?;
                r.interval = Duration::from_secs_f64(s);
            }
            Some("burst") => {
                r.burst = v
                    .as_u64()
                    .filter(|b| *b >= 1)
                    .ok_or("burst must be an integer >= 1")? as u32;
            }
            _ => return Err(format!("unknown key {k:?} (interval, burst)")),
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> Result<ReactorConfig, ConfError> {
        from_raw(&mut RawConfig::parse("master", text).unwrap())
    }

    #[test]
    fn salt_shaped_rules() {
        let c = conf(
            "reactor:\n  - 'salt/minion/*/start':\n    - /srv/reactor/start.sls\n    - salt://reactor/b.sls\n  - 'my/tag': salt://x.sls\n",
        )
        .unwrap();
        assert_eq!(c.rules.len(), 2);
        assert_eq!(c.rules[0].tag, "salt/minion/*/start");
        assert_eq!(
            c.rules[0].sls,
            ["/srv/reactor/start.sls", "salt://reactor/b.sls"]
        );
        assert_eq!(c.rules[1].sls, ["salt://x.sls"]);
        assert_eq!(c.workers, 10);
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = conf("reactor:\n  - 'a': relative/path.sls\n").unwrap_err();
        assert!(e.to_string().contains("reactor"), "{e}");
        let e = conf("reactor_worker_threads: 0\n").unwrap_err();
        assert!(e.to_string().contains("reactor_worker_threads"), "{e}");
        let e = conf("reactor_rate_limit: {interval: -1}\n").unwrap_err();
        assert!(e.to_string().contains("reactor_rate_limit"), "{e}");
        let c = conf("reactor_rate_limit: {interval: 0.5, burst: 2}\n").unwrap();
        assert_eq!(c.rate_limit.burst, 2);
        assert_eq!(c.rate_limit.interval, Duration::from_millis(500));
    }
}

/// Every option this loader reads is documented in examples/master.yaml,
/// with the defaults the code uses.
#[test]
fn example_documents_every_reactor_option() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/master.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let keys = brine_proto::conf::keys_read_in(include_str!("conf.rs"));
    assert!(keys.len() >= 5, "{keys:?}");
    for key in keys {
        assert!(
            text.contains(&format!("\n{key}:")),
            "examples/master.yaml lacks '{key}'"
        );
    }
    let example = from_raw(&mut RawConfig::parse("example", &text).unwrap()).unwrap();
    assert_eq!(example, ReactorConfig::default());
    let alerts = crate::alerts::conf::from_raw(&mut RawConfig::parse("example", &text).unwrap());
    assert_eq!(
        alerts.unwrap(),
        crate::alerts::conf::AlertsConfig::default()
    );
}
