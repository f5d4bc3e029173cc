//! The master's live event stream as a test reads it: `brine-run
//! state.event` started against a cluster's master, its lines parsed as
//! they come, the process killed by PID on drop.

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One event as `brine-run state.event` printed it.
#[derive(Clone, Debug)]
pub struct SeenEvent {
    pub tag: String,
    pub data: serde_json::Value,
}

pub struct EventStream {
    child: Child,
    seen: Arc<Mutex<Vec<SeenEvent>>>,
    /// `EventsMissed` reports the stream printed on stderr.
    pub stderr: Arc<Mutex<String>>,
}

impl EventStream {
    /// Starts `brine-run -c <conf> state.event [tagmatch]` and waits until
    /// the master has attached it (a first event, or half a second).
    pub fn start(master_conf: &Path, tagmatch: Option<&str>) -> EventStream {
        let mut cmd = Command::new(crate::bin("brine-run"));
        cmd.arg("-c").arg(master_conf).arg("state.event");
        if let Some(t) = tagmatch {
            cmd.arg(t);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn brine-run state.event");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("stdout");
        let s = seen.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Some((tag, body)) = line.split_once('\t') else {
                    continue;
                };
                let data = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
                s.lock().unwrap().push(SeenEvent {
                    tag: tag.to_string(),
                    data,
                });
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let err = child.stderr.take().expect("stderr");
        let e = stderr.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                let mut e = e.lock().unwrap();
                e.push_str(&line);
                e.push('\n');
            }
        });
        // The subscription starts when the master reads the request: give
        // it a moment so that events fired right after are not missed.
        std::thread::sleep(Duration::from_millis(500));
        EventStream {
            child,
            seen,
            stderr,
        }
    }

    /// Every event read so far.
    pub fn events(&self) -> Vec<SeenEvent> {
        self.seen.lock().unwrap().clone()
    }

    /// Events read so far whose tag matches `glob`.
    pub fn matching(&self, glob: &str) -> Vec<SeenEvent> {
        let m = globset::Glob::new(glob).expect("glob").compile_matcher();
        self.events()
            .into_iter()
            .filter(|e| m.is_match(&e.tag))
            .collect()
    }

    /// Waits until an event satisfies `pred`, and returns it; panics after
    /// `limit` with every event seen.
    pub fn wait(&self, limit: Duration, pred: impl Fn(&SeenEvent) -> bool) -> SeenEvent {
        let start = Instant::now();
        loop {
            if let Some(e) = self.events().into_iter().find(|e| pred(e)) {
                return e;
            }
            if start.elapsed() > limit {
                panic!(
                    "no matching event within {limit:?}; seen:\n{:#?}\nstderr: {}",
                    self.events(),
                    self.stderr.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for an event whose tag matches `glob`.
    pub fn wait_tag(&self, glob: &str) -> SeenEvent {
        let m = globset::Glob::new(glob).expect("glob").compile_matcher();
        self.wait(Duration::from_secs(20), |e| m.is_match(&e.tag))
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
