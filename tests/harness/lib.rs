//! The integration-test harness: starts the real `brine-master` and
//! `brine-minion` binaries on 127.0.0.1 with ephemeral ports and a temporary
//! root, runs the real CLIs against them, and kills every process it started
//! by PID when dropped.
//!
//! ```no_run
//! use brine_tests::Cluster;
//! let c = Cluster::builder().minion("web1", "role: web").start();
//! c.accept_all();
//! let out = c.brine(&["*", "test.ping"]);
//! ```

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub mod api;
pub mod browser;
pub mod events;
pub mod masters;
pub mod multi;
pub mod netns;
pub mod pg;
pub mod prometheus;

/// Polls `cond` until it holds or the deadline passes; then panics with the
/// message. Never sleep-then-assert.
#[macro_export]
macro_rules! assert_eventually {
    ($cond:expr, $($msg:tt)+) => {
        $crate::wait_for(std::time::Duration::from_secs(20), || $cond, &format!($($msg)+))
    };
}

pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool, msg: &str) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("condition not met within {limit:?}: {msg}");
}

/// Where cargo put the binaries (next to the test executable's `deps/`).
pub fn bin_dir() -> PathBuf {
    if let Ok(d) = std::env::var("BRINE_BIN_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().expect("current exe");
    let deps = exe.parent().expect("deps dir");
    deps.parent().expect("profile dir").to_path_buf()
}

pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} not built: run `cargo build --workspace --bins` first",
        p.display()
    );
    p
}

/// An unused TCP port on 127.0.0.1 and 127.0.0.2 (masters of multi-master
/// tests listen on the same ports on several loopback addresses), taken
/// below the kernel's ephemeral range so that no outgoing connection of a
/// test running beside this one can take it before the daemon binds it.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    if low > 12_000 {
        for attempt in 0u64..1000 {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(attempt);
            let port = 10_000 + (h.finish() % u64::from(low - 10_000)) as u16;
            if ["127.0.0.1", "127.0.0.2"]
                .iter()
                .all(|a| TcpListener::bind((*a, port)).is_ok())
            {
                return port;
            }
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("ephemeral port")
}

/// A daemon started by the harness; killed by PID on drop.
pub struct Daemon {
    pub name: String,
    child: Option<Child>,
    pub log: PathBuf,
}

impl Daemon {
    fn spawn(name: &str, mut cmd: Command, log: PathBuf) -> Daemon {
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        Daemon {
            name: name.to_string(),
            child: Some(child),
            log,
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    pub fn signal(&self, sig: Signal) {
        if let Some(pid) = self.pid() {
            let _ = kill(Pid::from_raw(pid as i32), sig);
        }
    }

    /// SIGTERM, then SIGKILL after two seconds; reaps the process.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pid = Pid::from_raw(c.id() as i32);
            let _ = kill(pid, Signal::SIGCONT);
            let _ = kill(pid, Signal::SIGTERM);
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(2) {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A minion's settings before it starts.
#[derive(Clone, Debug)]
pub struct MinionSpec {
    pub id: String,
    /// YAML mapping body for `grains:` (may be empty).
    pub grains: String,
    /// Extra lines for the minion config.
    pub extra: String,
}

pub struct ClusterBuilder {
    minions: Vec<MinionSpec>,
    master_extra: String,
    auto_accept: bool,
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub publish_port: u16,
    pub ret_port: u16,
    pub master: Daemon,
    pub minions: BTreeMap<String, Daemon>,
    specs: BTreeMap<String, MinionSpec>,
}

impl Cluster {
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder {
            minions: Vec::new(),
            master_extra: String::new(),
            auto_accept: false,
        }
    }
}

impl ClusterBuilder {
    pub fn minion(mut self, id: &str, grains: &str) -> Self {
        self.minions.push(MinionSpec {
            id: id.to_string(),
            grains: grains.to_string(),
            extra: String::new(),
        });
        self
    }

    pub fn minion_with(mut self, id: &str, grains: &str, extra: &str) -> Self {
        self.minions.push(MinionSpec {
            id: id.to_string(),
            grains: grains.to_string(),
            extra: extra.to_string(),
        });
        self
    }

    /// Extra lines for the master config.
    pub fn master_config(mut self, extra: &str) -> Self {
        self.master_extra.push_str(extra);
        self.master_extra.push('\n');
        self
    }

    pub fn auto_accept(mut self, yes: bool) -> Self {
        self.auto_accept = yes;
        self
    }

    /// Starts the master (waits for its socket) and every minion.
    pub fn start(self) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("brine-it-")
            .tempdir()
            .expect("tempdir");
        let publish_port = free_port();
        let ret_port = free_port();
        let mroot = dir.path().join("master");
        let mconf = mroot.join("conf");
        std::fs::create_dir_all(&mconf).expect("master conf dir");
        let master_yaml = format!(
            "id: master0\ninterface: 127.0.0.1\npublish_port: {publish_port}\nret_port: {ret_port}\n\
             root_dir: {root}\nauto_accept: {auto}\ntimeout: 30\nheartbeat_interval: 2\n{extra}",
            root = mroot.display(),
            auto = self.auto_accept,
            extra = self.master_extra,
        );
        std::fs::write(mconf.join("master"), master_yaml).expect("master config");
        let master = start_master(&mroot);
        let mut c = Cluster {
            dir,
            publish_port,
            ret_port,
            master,
            minions: BTreeMap::new(),
            specs: BTreeMap::new(),
        };
        let sock = c.master_root().join("var/run/brine/master/master.sock");
        let m = &mut c.master;
        wait_for(
            Duration::from_secs(20),
            || sock.exists() || !m.is_running(),
            "master socket to appear",
        );
        assert!(
            c.master.is_running(),
            "master exited:\n{}",
            c.master.log_text()
        );
        for spec in self.minions {
            c.add_minion(spec);
        }
        c
    }
}

fn start_master(root: &Path) -> Daemon {
    let mut cmd = Command::new(bin("brine-master"));
    cmd.arg("-c").arg(root.join("conf")).arg("-l").arg("debug");
    Daemon::spawn("master", cmd, root.join("master.log"))
}

impl Cluster {
    pub fn master_root(&self) -> PathBuf {
        self.dir.path().join("master")
    }

    pub fn master_conf(&self) -> PathBuf {
        self.master_root().join("conf")
    }

    pub fn minion_root(&self, id: &str) -> PathBuf {
        self.dir.path().join("minions").join(id)
    }

    /// Writes the minion's config (unless it exists) and starts it.
    pub fn add_minion(&mut self, spec: MinionSpec) {
        let root = self.minion_root(&spec.id);
        let conf = root.join("conf");
        std::fs::create_dir_all(&conf).expect("minion conf dir");
        let grains = if spec.grains.trim().is_empty() {
            "grains: {}\n".to_string()
        } else {
            let body: String = spec.grains.lines().map(|l| format!("  {l}\n")).collect();
            format!("grains:\n{body}")
        };
        let yaml = format!(
            "id: {id}\nmaster: 127.0.0.1\nmaster_port: {ret}\npublish_port: {publ}\nroot_dir: {root}\n\
             acceptance_wait_time: 1\nacceptance_wait_time_max: 2\nrecon_default: 200\nrecon_max: 1000\n\
             heartbeat_interval: 2\n{grains}{extra}\n",
            id = spec.id,
            ret = self.ret_port,
            publ = self.publish_port,
            root = root.display(),
            extra = spec.extra,
        );
        std::fs::write(conf.join("minion"), yaml).expect("minion config");
        self.specs.insert(spec.id.clone(), spec.clone());
        self.start_minion(&spec.id);
    }

    /// Starts `brine-swarm` with `count` minions named `prefix` plus their
    /// index, with this cluster's master settings and `args` added; each
    /// minion's request connection comes from its own 127.2.x.y address.
    pub fn start_swarm(&self, count: usize, prefix: &str, args: &[&str]) -> Daemon {
        let root = self.dir.path().join(format!("swarm-{prefix}"));
        let conf = root.join("conf");
        std::fs::create_dir_all(&conf).expect("swarm conf dir");
        let yaml = format!(
            "master: 127.0.0.1\nmaster_port: {ret}\npublish_port: {publ}\nroot_dir: {root}\n\
             acceptance_wait_time: 1\nacceptance_wait_time_max: 2\nrecon_default: 200\nrecon_max: 2000\n\
             heartbeat_interval: 2\n",
            ret = self.ret_port,
            publ = self.publish_port,
            root = root.display(),
        );
        std::fs::write(conf.join("minion"), yaml).expect("swarm config");
        let mut cmd = Command::new(bin("brine-swarm"));
        cmd.arg("-c")
            .arg(&conf)
            .args(["--count", &count.to_string(), "--id-prefix", prefix])
            .args(["--source-net", "127.2.0.1", "-l", "info"])
            .args(args);
        Daemon::spawn(&format!("swarm-{prefix}"), cmd, root.join("swarm.log"))
    }

    pub fn start_minion(&mut self, id: &str) {
        let root = self.minion_root(id);
        let mut cmd = Command::new(bin("brine-minion"));
        cmd.arg("-c").arg(root.join("conf")).arg("-l").arg("debug");
        let d = Daemon::spawn(id, cmd, root.join("minion.log"));
        self.minions.insert(id.to_string(), d);
    }

    pub fn minion(&mut self, id: &str) -> &mut Daemon {
        self.minions
            .get_mut(id)
            .unwrap_or_else(|| panic!("no minion {id}"))
    }

    pub fn stop_minion(&mut self, id: &str) {
        if let Some(mut d) = self.minions.remove(id) {
            d.stop();
        }
    }

    pub fn restart_master(&mut self) {
        self.master.stop();
        self.master = start_master(&self.master_root());
        let sock = self.master_root().join("var/run/brine/master/master.sock");
        wait_for(
            Duration::from_secs(20),
            || sock.exists(),
            "master socket after restart",
        );
    }

    fn cli(&self, name: &str, args: &[&str]) -> CliOutput {
        let out = Command::new(bin(name))
            .arg("-c")
            .arg(self.master_conf())
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {name}: {e}"));
        CliOutput::from(out)
    }

    /// `brine ARGS...` against this cluster's master.
    pub fn brine(&self, args: &[&str]) -> CliOutput {
        self.cli("brine", args)
    }

    /// `brine --out json --static ARGS...`, parsed.
    pub fn brine_json(&self, args: &[&str]) -> (CliOutput, serde_json::Value) {
        let mut a = vec!["--out", "json", "--static"];
        a.extend_from_slice(args);
        let out = self.brine(&a);
        let v = if out.stdout.trim().is_empty() {
            serde_json::Value::Object(Default::default())
        } else {
            serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
                panic!(
                    "bad json ({e}) from brine {args:?}: {}\nstderr: {}",
                    out.stdout, out.stderr
                )
            })
        };
        (out, v)
    }

    pub fn key(&self, args: &[&str]) -> CliOutput {
        self.cli("brine-key", args)
    }

    pub fn run(&self, args: &[&str]) -> CliOutput {
        self.cli("brine-run", args)
    }

    /// `brine-run --out json ARGS...`, which must succeed, as JSON.
    pub fn run_json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["--out", "json"];
        a.extend_from_slice(args);
        let out = self.run(&a);
        assert_eq!(out.code, 0, "brine-run {args:?}: {out:?}");
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
    }

    /// `brine-run jobs.lookup_jid JID` as JSON; None when the job is unknown.
    pub fn lookup_jid(&self, jid: brine_proto::JobId) -> Option<serde_json::Value> {
        let out = self.run(&["jobs.lookup_jid", &jid.to_string(), "--out", "json"]);
        if out.code != 0 {
            return None;
        }
        serde_json::from_str(&out.stdout).ok()
    }

    /// Key ids per state, from `brine-key -L --out json`.
    pub fn keys(&self) -> serde_json::Value {
        let out = self.key(&["-L", "--out", "json"]);
        serde_json::from_str(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    pub fn keys_in(&self, section: &str) -> Vec<String> {
        let v = self.keys();
        v[section]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until these ids are pending, accepts them, waits until they answer.
    pub fn accept(&self, ids: &[&str]) {
        for id in ids {
            assert_eventually!(
                self.keys_in("minions_pre").contains(&id.to_string()),
                "{id} pending"
            );
            let out = self.key(&["-a", id, "-y"]);
            assert_eq!(out.code, 0, "accept {id}: {out:?}");
        }
        self.wait_answering(ids);
    }

    /// Waits until every id answers test.ping.
    pub fn wait_answering(&self, ids: &[&str]) {
        for id in ids {
            assert_eventually!(
                {
                    let (_, v) = self.brine_json(&["-t", "2", "-L", id, "test.ping"]);
                    v[*id] == serde_json::Value::Bool(true)
                },
                "{id} answers test.ping"
            );
        }
    }

    pub fn accept_all(&self) {
        let ids: Vec<String> = self.specs.keys().cloned().collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        self.accept(&ids);
    }

    /// Every daemon's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut s = format!("--- master ---\n{}\n", self.master.log_text());
        for (id, d) in &self.minions {
            s.push_str(&format!("--- {id} ---\n{}\n", d.log_text()));
        }
        s
    }
}

#[derive(Debug, Clone)]
pub struct CliOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for CliOutput {
    fn from(o: Output) -> Self {
        CliOutput {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Resident memory of process `pid` in KiB (`VmRSS`), 0 once it is gone.
/// The jid `brine --async` printed (`Executed command with job ID: JID`).
pub fn jid_of(stdout: &str) -> Option<brine_proto::JobId> {
    stdout.trim().rsplit(' ').next()?.parse().ok()
}

pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
