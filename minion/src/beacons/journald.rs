//! `journald`: systemd journal entries whose fields match, read with
//! `journalctl` (Salt reads the journal through its Python bindings;
//! journalctl's JSON output carries the same fields). Accepted only where
//! journalctl is installed.
//!
//! ```yaml
//! beacons:
//!   journald:
//!     - services:
//!         sshd:                      # the event's tag suffix
//!           SYSLOG_IDENTIFIER: sshd
//!           PRIORITY: 6
//! ```
//!
//! Event `brine/beacon/<id>/journald/<name>` with the entry's fields (as
//! journalctl prints them: strings) and `"tag": <name>`, for each new entry
//! whose fields equal all the configured ones. Entries written before the
//! beacon started are not read. The beacon remembers the journal cursor
//! of the last entry read; one evaluation reads at most 4 MiB of
//! journalctl output (the rest is read by the next) and sends at most 100
//! events, and fields longer than 4 KiB are cut.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::{Beacon, BeaconEvent, Inputs};

const MAX_OUTPUT: usize = 4 << 20;
const MAX_EVENTS: usize = 100;
const MAX_FIELD: usize = 4096;
const TIMEOUT: Duration = Duration::from_secs(20);

/// Whether `journalctl` is on the PATH.
pub fn journalctl_present() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join("journalctl").is_file()))
}

#[derive(Debug, Clone)]
pub struct Config {
    /// (name, fields an entry must have, as strings).
    services: Vec<(String, Vec<(String, String)>)>,
}

impl Config {
    pub fn parse(params: &Map<String, Value>) -> Result<Config, String> {
        let mut services = Vec::new();
        for (key, value) in params {
            if key != "services" {
                return Err(format!(
                    "journald has no option '{key}' (it takes services)"
                ));
            }
            let m = value.as_object().ok_or_else(|| {
                format!("services must map names to journal fields to match, not {value}")
            })?;
            for (name, fields) in m {
                let fields = fields.as_object().filter(|f| !f.is_empty()).ok_or_else(|| {
                    format!("journald service '{name}' needs fields to match, e.g. SYSLOG_IDENTIFIER: sshd")
                })?;
                let mut want = Vec::new();
                for (field, v) in fields {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        other => {
                            return Err(format!(
                                "journald service '{name}': field {field} must be a string or a number, not {other}"
                            ))
                        }
                    };
                    want.push((field.clone(), v));
                }
                services.push((name.clone(), want));
            }
        }
        if services.is_empty() {
            return Err(
                "journald requires services, e.g. 'services: {sshd: {SYSLOG_IDENTIFIER: sshd}}'"
                    .into(),
            );
        }
        Ok(Config { services })
    }
}

pub struct Journald {
    config: Config,
    /// The journalctl command (and arguments before the beacon's own).
    command: Vec<String>,
    cursor: Option<String>,
    /// Unix time of the first evaluation: with no cursor yet (an empty
    /// journal then), entries since then are read.
    since: Option<i64>,
}

impl Journald {
    pub fn new(config: Config, inputs: &Inputs) -> Journald {
        Journald {
            config,
            command: inputs.journalctl.clone(),
            cursor: None,
            since: None,
        }
    }

    /// journalctl's JSON lines for `args`; empty when it fails.
    fn read(&self, args: &[String]) -> Vec<Map<String, Value>> {
        let Some((program, pre)) = self.command.split_first() else {
            return Vec::new();
        };
        let mut cmd = Command::new(program);
        cmd.args(pre)
            .args(["-o", "json", "--no-pager", "-q"])
            .args(args);
        let run = brine_process::Run::new(cmd)
            .timeout(Some(TIMEOUT))
            .cap(MAX_OUTPUT);
        match brine_process::run(run) {
            Ok(done) => done
                .stdout_lossy()
                .lines()
                .filter_map(|l| serde_json::from_str::<Map<String, Value>>(l).ok())
                .collect(),
            Err(error) => {
                tracing::debug!(%error, "journald beacon: journalctl did not run");
                Vec::new()
            }
        }
    }
}

fn field_str(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Beacon for Journald {
    fn evaluate(&mut self, _now: Instant) -> Vec<BeaconEvent> {
        let Some(since) = self.since else {
            // First evaluation: start after the newest entry there is.
            self.since = Some(chrono::Utc::now().timestamp());
            self.cursor = self
                .read(&["-n".into(), "1".into()])
                .last()
                .and_then(|e| e.get("__CURSOR").and_then(field_str));
            return Vec::new();
        };
        let args = match &self.cursor {
            Some(c) => vec![format!("--after-cursor={c}")],
            None => vec![format!("--since=@{since}")],
        };
        let entries = self.read(&args);
        let mut events = Vec::new();
        let mut unsent = 0usize;
        for entry in &entries {
            for (name, want) in &self.config.services {
                let matches = want
                    .iter()
                    .all(|(f, v)| entry.get(f).and_then(field_str).as_deref() == Some(v.as_str()));
                if !matches {
                    continue;
                }
                if events.len() >= MAX_EVENTS {
                    unsent += 1;
                    continue;
                }
                let mut data: Map<String, Value> = entry
                    .iter()
                    .filter_map(|(k, v)| {
                        let s = field_str(v)?;
                        (s.len() <= MAX_FIELD).then(|| (k.clone(), Value::String(s)))
                    })
                    .collect();
                data.insert("tag".into(), Value::String(name.clone()));
                events.push(BeaconEvent {
                    suffix: name.clone(),
                    data,
                });
            }
        }
        if let Some(c) = entries
            .last()
            .and_then(|e| e.get("__CURSOR").and_then(field_str))
        {
            self.cursor = Some(c);
        }
        if unsent > 0 {
            tracing::warn!(
                unsent,
                "journald beacon: more matching entries than one evaluation sends; those not sent"
            );
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn new_matching_entries_after_the_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("entries");
        let calls = dir.path().join("calls");
        // A stand-in for journalctl: prints the entries file, logs its arguments.
        let script = dir.path().join("journalctl.sh");
        std::fs::write(
            &script,
            format!(
                "echo \"$@\" >> {calls}\ncat {out}\n",
                calls = calls.display(),
                out = out.display()
            ),
        )
        .unwrap();
        let entry = |cursor: &str, ident: &str, prio: &str, msg: &str| {
            json!({"__CURSOR": cursor, "SYSLOG_IDENTIFIER": ident, "PRIORITY": prio, "MESSAGE": msg})
                .to_string()
        };
        std::fs::write(&out, entry("c1", "sshd", "6", "old") + "\n").unwrap();
        let config = Config::parse(
            &super::super::flatten(
                &json!([{"services": {"sshd": {"SYSLOG_IDENTIFIER": "sshd", "PRIORITY": 6}}}]),
            )
            .unwrap(),
        )
        .unwrap();
        let mut inputs = Inputs::system(None);
        inputs.journalctl = vec!["sh".into(), script.display().to_string()];
        let mut b = Journald::new(config, &inputs);
        let now = Instant::now();
        assert!(b.evaluate(now).is_empty(), "what was there is not news");
        std::fs::write(
            &out,
            [
                entry("c2", "sshd", "6", "Accepted publickey"),
                entry("c3", "cron", "6", "job"),
                entry("c4", "sshd", "3", "error"),
                "not json".into(),
            ]
            .join("\n"),
        )
        .unwrap();
        let ev = b.evaluate(now);
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!(ev[0].suffix, "sshd");
        assert_eq!(ev[0].data["MESSAGE"], "Accepted publickey");
        assert_eq!(ev[0].data["tag"], "sshd");
        std::fs::write(&out, "").unwrap();
        assert!(b.evaluate(now).is_empty());
        let calls = std::fs::read_to_string(&calls).unwrap();
        let lines: Vec<&str> = calls.lines().collect();
        assert!(lines[0].ends_with("-n 1"), "{calls}");
        assert!(lines[1].ends_with("--after-cursor=c1"), "{calls}");
        assert!(lines[2].ends_with("--after-cursor=c4"), "{calls}");
    }

    #[test]
    fn bad_configs_are_named() {
        let p = |v: Value| Config::parse(&super::super::flatten(&v).unwrap()).unwrap_err();
        assert!(p(json!([{"services": {"sshd": {}}}])).contains("needs fields"));
        assert!(p(json!([])).contains("requires services"));
        assert!(p(json!([{"services": {"x": {"F": [1]}}}])).contains("string or a number"));
    }
}
