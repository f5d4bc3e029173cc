//! `ps` (also accepted as `proc`): whether processes of a name run.
//!
//! ```yaml
//! beacons:
//!   ps:
//!     - processes:
//!         salt-master: running     # tell when it runs
//!         mysql: stopped           # tell when it is not running
//! ```
//!
//! Event `brine/beacon/<id>/ps/<name>` with Salt's data `{"mysql":
//! "Stopped"}` once when the condition starts to hold (Salt sends it on
//! every interval while it holds); again only after it stopped holding.
//! With `emit_cleared: true`, the condition ending gives the process's
//! state with `"cleared": true`. Names are matched as psutil's `name()`:
//! the kernel's `comm`, or for a name cut at 15 characters, the command's
//! file name when it starts with it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{json, Map, Value};

use super::crossing::{Crossing, Edge};
use super::{truthy, Beacon, BeaconEvent, Inputs};

#[derive(Debug, Clone)]
pub struct Config {
    /// (name, whether the event is for it running).
    processes: Vec<(String, bool)>,
    emit_cleared: bool,
}

impl Config {
    pub fn parse(params: &Map<String, Value>) -> Result<Config, String> {
        let mut processes = Vec::new();
        let mut emit_cleared = false;
        for (key, value) in params {
            match key.as_str() {
                "processes" => {
                    let m = value.as_object().ok_or_else(|| {
                        format!(
                            "processes must map process names to running or stopped, not {value}"
                        )
                    })?;
                    for (name, want) in m {
                        let running = match want.as_str() {
                            Some("running") => true,
                            Some("stopped") => false,
                            _ => {
                                return Err(format!(
                                    "process '{name}' must be running or stopped, not {want}"
                                ))
                            }
                        };
                        processes.push((name.clone(), running));
                    }
                }
                "emit_cleared" => {
                    emit_cleared = truthy(value)
                        .ok_or_else(|| format!("emit_cleared must be true or false, not {value}"))?
                }
                other => return Err(format!("ps has no option '{other}' (it takes processes)")),
            }
        }
        if processes.is_empty() {
            return Err("ps requires processes, e.g. 'processes: {nginx: running}'".into());
        }
        Ok(Config {
            processes,
            emit_cleared,
        })
    }
}

/// The names of the processes running, as psutil gives them.
pub fn process_names(proc_dir: &Path) -> HashSet<String> {
    let mut names = HashSet::new();
    let Ok(entries) = std::fs::read_dir(proc_dir) else {
        return names;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let dir = proc_dir.join(pid);
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        let comm = comm.trim_end_matches('\n').to_string();
        if comm.len() >= 15 {
            // The kernel cuts comm at 15 bytes: psutil takes the command's
            // file name instead when it starts the same way.
            if let Ok(cmdline) = std::fs::read(dir.join("cmdline")) {
                let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
                let argv0 = String::from_utf8_lossy(argv0);
                let base = argv0.rsplit('/').next().unwrap_or_default();
                if base.starts_with(&comm) {
                    names.insert(base.to_string());
                    continue;
                }
            }
        }
        names.insert(comm);
    }
    names
}

pub struct Ps {
    config: Config,
    proc_dir: PathBuf,
    state: Vec<Crossing>,
}

impl Ps {
    pub fn new(config: Config, inputs: &Inputs) -> Ps {
        let state = vec![Crossing::default(); config.processes.len()];
        Ps {
            config,
            proc_dir: inputs.proc_dir.clone(),
            state,
        }
    }
}

impl Beacon for Ps {
    fn evaluate(&mut self, _now: Instant) -> Vec<BeaconEvent> {
        let names = process_names(&self.proc_dir);
        let mut events = Vec::new();
        for ((name, want_running), state) in self.config.processes.iter().zip(&mut self.state) {
            let running = names.contains(name);
            let word = if running { "Running" } else { "Stopped" };
            match state.update(running == *want_running) {
                Some(Edge::Crossed) => {
                    events.push(BeaconEvent::new(name.clone(), json!({name: word})))
                }
                Some(Edge::Cleared) if self.config.emit_cleared => events.push(BeaconEvent::new(
                    name.clone(),
                    json!({name: word, "cleared": true}),
                )),
                _ => {}
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spawn_fake(proc_dir: &Path, pid: u32, comm: &str, argv0: &str) {
        let d = proc_dir.join(pid.to_string());
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("comm"), format!("{comm}\n")).unwrap();
        std::fs::write(d.join("cmdline"), format!("{argv0}\0--flag\0")).unwrap();
    }

    #[test]
    fn running_and_stopped_fire_once_per_change() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir_all(p.join("self")).unwrap();
        spawn_fake(p, 1, "init", "/sbin/init");
        spawn_fake(p, 7, "a-very-long-dae", "/usr/sbin/a-very-long-daemon-name");
        let config = Config::parse(
            &super::super::flatten(&json!([{"processes": {
                "nginx": "running", "mysqld": "stopped", "a-very-long-daemon-name": "running"
            }}]))
            .unwrap(),
        )
        .unwrap();
        let mut inputs = Inputs::system(None);
        inputs.proc_dir = p.to_path_buf();
        let mut b = Ps::new(config, &inputs);
        let now = Instant::now();
        let ev = b.evaluate(now);
        assert_eq!(
            ev,
            vec![
                BeaconEvent::new("mysqld", json!({"mysqld": "Stopped"})),
                BeaconEvent::new(
                    "a-very-long-daemon-name",
                    json!({"a-very-long-daemon-name": "Running"})
                ),
            ]
        );
        assert!(b.evaluate(now).is_empty(), "no change, no event");
        spawn_fake(p, 42, "nginx", "nginx: master process");
        spawn_fake(p, 43, "mysqld", "/usr/sbin/mysqld");
        assert_eq!(
            b.evaluate(now),
            vec![BeaconEvent::new("nginx", json!({"nginx": "Running"}))]
        );
        std::fs::remove_dir_all(p.join("43")).unwrap();
        assert_eq!(
            b.evaluate(now),
            vec![BeaconEvent::new("mysqld", json!({"mysqld": "Stopped"}))]
        );
    }

    #[test]
    fn the_real_proc_lists_this_process() {
        let names = process_names(Path::new("/proc"));
        assert!(!names.is_empty());
        let e =
            Config::parse(&super::super::flatten(&json!([{"processes": {"x": "maybe"}}])).unwrap())
                .unwrap_err();
        assert!(e.contains("running or stopped"), "{e}");
    }
}
