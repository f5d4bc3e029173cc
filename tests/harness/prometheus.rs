//! A real Prometheus (Debian's `prometheus` package) for tests: started on
//! 127.0.0.1 with a config the test writes, its data in the test's
//! temporary directory, killed by PID on drop; read through its own HTTP
//! API (`/api/v1/...`).
//!
//! Where `prometheus` is not installed the tests that need it report
//! themselves skipped, unless `BRINE_PROMETHEUS_REQUIRED` is set (CI as
//! root installs the package and sets it): then they fail.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{free_port, Daemon};

/// `BRINE_PROMETHEUS_BIN`, else `/usr/bin/prometheus`, else `prometheus`
/// on PATH.
pub fn binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BRINE_PROMETHEUS_BIN") {
        return Some(PathBuf::from(p));
    }
    let debian = PathBuf::from("/usr/bin/prometheus");
    if debian.exists() {
        return Some(debian);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("prometheus"))
        .find(|p| p.exists())
}

fn required() -> bool {
    std::env::var("BRINE_PROMETHEUS_REQUIRED").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The binary, or None after printing why `test` is skipped; panics when
/// it is missing and `BRINE_PROMETHEUS_REQUIRED` is set.
pub fn binary_or_skip(test: &str) -> Option<PathBuf> {
    match binary() {
        Some(b) => Some(b),
        None if required() => {
            panic!("BRINE_PROMETHEUS_REQUIRED is set but no prometheus binary was found (BRINE_PROMETHEUS_BIN, /usr/bin/prometheus, PATH)")
        }
        None => {
            eprintln!("skipped {test}: prometheus is not installed (apt-get install prometheus, or set BRINE_PROMETHEUS_BIN)");
            None
        }
    }
}

/// An HTTP client for 127.0.0.1 only: no proxy from the environment, and
/// an error status is an answer to look at, not an error.
pub fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .proxy(None)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent()
}

/// `GET url` with `query` parameters: the status and body, or None when
/// nothing answered.
pub fn http_get(agent: &ureq::Agent, url: &str, query: &[(&str, &str)]) -> Option<(u16, String)> {
    let mut resp = agent
        .get(url)
        .query_pairs(query.iter().copied())
        .call()
        .ok()?;
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().ok()?;
    Some((status, body))
}

pub struct Prometheus {
    pub port: u16,
    pub daemon: Daemon,
    agent: ureq::Agent,
}

impl Prometheus {
    /// Writes `config` (prometheus.yml) under `dir` and starts `bin` on a
    /// free port of 127.0.0.1; waits until it says it is ready.
    pub fn start(bin: &Path, dir: &Path, config: &str) -> Prometheus {
        std::fs::create_dir_all(dir).expect("prometheus dir");
        let file = dir.join("prometheus.yml");
        std::fs::write(&file, config).expect("prometheus.yml");
        let port = free_port();
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--config.file={}", file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=debug");
        let daemon = Daemon::spawn("prometheus", cmd, dir.join("prometheus.log"));
        let mut p = Prometheus {
            port,
            daemon,
            agent: http_agent(),
        };
        let ready = format!("http://127.0.0.1:{port}/-/ready");
        let start = Instant::now();
        loop {
            if let Some((200, _)) = http_get(&p.agent, &ready, &[]) {
                return p;
            }
            assert!(
                p.daemon.is_running(),
                "prometheus exited:\n{}",
                p.daemon.log_text()
            );
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "prometheus not ready within 60 s:\n{}",
                p.daemon.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `GET /api/v1/<path>?<query>`: the `data` of a successful answer.
    pub fn api(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let url = format!("http://127.0.0.1:{}/api/v1/{path}", self.port);
        let (status, body) = http_get(&self.agent, &url, query)
            .unwrap_or_else(|| panic!("prometheus did not answer {url}"));
        let v: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {status} {body}"));
        assert_eq!(v["status"], "success", "{url}: {status} {body}");
        v["data"].clone()
    }

    /// The active targets (`/api/v1/targets`).
    pub fn active_targets(&self) -> Vec<Value> {
        self.api("targets", &[("state", "active")])["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// An instant query's result vector (`/api/v1/query`).
    pub fn query(&self, promql: &str) -> Vec<Value> {
        self.api("query", &[("query", promql)])["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Polls `read` until `done` holds on what it returns (at most 90 s:
    /// Prometheus refreshes and scrapes on its own intervals); returns
    /// that value, or panics showing the last one and the log.
    pub fn wait_until<T: std::fmt::Debug>(
        &mut self,
        what: &str,
        mut read: impl FnMut(&Prometheus) -> T,
        mut done: impl FnMut(&T) -> bool,
    ) -> T {
        let start = Instant::now();
        loop {
            let v = read(self);
            if done(&v) {
                return v;
            }
            if start.elapsed() > Duration::from_secs(90) || !self.daemon.is_running() {
                panic!(
                    "{what}: not seen; last: {v:#?}\nprometheus log:\n{}",
                    self.daemon.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}
