//! Clusters of two or more masters, all alike, for multi-master tests
//! (hot/hot and failover): master `i` listens on its own loopback address
//! (`addresses[i]`) with the same two ports as the others, so a minion
//! lists the addresses and uses one `master_port` and `publish_port`, as a
//! real fleet does. Every master has its own root directory, local socket
//! and store (keys are accepted on each); they share one CA, exported from
//! master 0 and imported into the others before their first start
//! (`brine-key --export-ca` / `--import-ca`).
//!
//! Masters can be killed with SIGKILL ([`MultiCluster::kill_master`]),
//! frozen ([`MultiCluster::signal_master`] with SIGSTOP: a suspended VM,
//! its connections open and silent) and started again. [`FakeMaster`]
//! stands for masters that never answer: one that accepts connections
//! and then says nothing, one whose address drops every SYN.
//!
//! ```no_run
//! use brine_tests::multi::{MultiCluster, FAST_LIVENESS};
//! let mut mc = MultiCluster::start(2);
//! mc.add_minion("web1", FAST_LIVENESS);
//! mc.accept_on(0, &["web1"]);
//! mc.accept_on(1, &["web1"]);
//! let (out, v) = mc.brine_json_on(1, &["-t", "5", "*", "test.ping"]);
//! ```

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::{bin, free_port, start_master, wait_for, CliOutput, Daemon};

/// Minion settings that notice a dead master within three seconds
/// (heartbeat every second); add to a minion's extra config lines.
pub const FAST_LIVENESS: &str = "heartbeat_interval: 1\nmaster_alive_interval: 3\n";

pub struct MultiCluster {
    pub dir: tempfile::TempDir,
    pub ret_port: u16,
    pub publish_port: u16,
    /// The loopback address master `i` binds its two ports on.
    pub addresses: Vec<String>,
    /// Master `i`'s daemon (a dead one after [`MultiCluster::kill_master`]
    /// until [`MultiCluster::start_master`]).
    pub masters: Vec<Daemon>,
    pub minions: BTreeMap<String, Daemon>,
    /// The CA fingerprint every master reports (what minions may pin).
    pub ca_fingerprint: String,
    /// First three octets of this cluster's loopback addresses.
    net: String,
}

impl MultiCluster {
    /// Starts `count` masters sharing one CA, each with the harness's
    /// master settings.
    pub fn start(count: usize) -> MultiCluster {
        MultiCluster::start_with(count, "")
    }

    /// As [`MultiCluster::start`], with `extra` lines in every master's config.
    pub fn start_with(count: usize, extra: &str) -> MultiCluster {
        assert!(count >= 1);
        let dir = tempfile::Builder::new()
            .prefix("brine-multi-")
            .tempdir()
            .expect("tempdir");
        // A /24 of loopback of its own, so that clusters of tests running
        // at once never share an address (127.0.0.x is the other harness's).
        let net = format!("127.{}.{}", fastrand_byte(10, 250), fastrand_byte(1, 250));
        let addresses: Vec<String> = (1..=count).map(|i| format!("{net}.{i}")).collect();
        let mut all = addresses.clone();
        all.extend((0..4).map(|n| format!("{net}.{}", 200 + n)));
        let ret_port = port_outside_ephemeral(&all, None);
        let publish_port = port_outside_ephemeral(&all, Some(ret_port));
        let mut mc = MultiCluster {
            dir,
            ret_port,
            publish_port,
            addresses,
            masters: Vec::new(),
            minions: BTreeMap::new(),
            ca_fingerprint: String::new(),
            net,
        };
        for i in 0..count {
            mc.write_master_config(i, extra);
        }
        mc.masters.push(mc.spawn_master(0));
        let bundle = mc.dir.path().join("cluster-ca.pem");
        let bundle_s = bundle.to_str().expect("utf-8 path").to_string();
        let out = mc.key_on(0, &["--export-ca", &bundle_s]);
        assert_eq!(out.code, 0, "export the CA: {out:?}");
        mc.ca_fingerprint = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("CA fingerprint: "))
            .unwrap_or_else(|| panic!("no fingerprint printed: {out:?}"))
            .trim()
            .to_string();
        for i in 1..count {
            let out = mc.key_on(i, &["--import-ca", &bundle_s]);
            assert_eq!(out.code, 0, "import the CA into master {i}: {out:?}");
            let d = mc.spawn_master(i);
            mc.masters.push(d);
        }
        mc
    }

    fn write_master_config(&self, i: usize, extra: &str) {
        let root = self.master_root(i);
        let conf = root.join("conf");
        std::fs::create_dir_all(&conf).expect("master conf dir");
        let srv = root.join("srv");
        std::fs::create_dir_all(&srv).expect("master file root");
        std::fs::write(
            srv.join(format!("from-master{i}.txt")),
            format!("master {i}\n"),
        )
        .expect("a file to serve");
        let yaml = format!(
            "id: master{i}\ninterface: {addr}\npublish_port: {publ}\nret_port: {ret}\n\
             root_dir: {root}\nauto_accept: false\ntimeout: 30\nheartbeat_interval: 2\n\
             file_roots:\n  base:\n    - {srv}\n{extra}\n",
            addr = self.addresses[i],
            publ = self.publish_port,
            ret = self.ret_port,
            root = root.display(),
            srv = srv.display(),
        );
        std::fs::write(conf.join("master"), yaml).expect("master config");
    }

    /// Starts master `i` and waits until its local socket answers.
    fn spawn_master(&self, i: usize) -> Daemon {
        let sock = self.master_sock(i);
        // A master killed with SIGKILL leaves its socket file behind.
        let _ = std::fs::remove_file(&sock);
        let mut d = start_master(&self.master_root(i));
        d.name = format!("master{i}");
        wait_for(
            Duration::from_secs(20),
            || sock.exists() || !d.is_running(),
            &format!("master {i} socket to appear"),
        );
        assert!(d.is_running(), "master {i} exited:\n{}", d.log_text());
        d
    }

    pub fn master_root(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("master{i}"))
    }

    /// Master `i`'s config directory (`-c` of every CLI run on it).
    pub fn master_conf(&self, i: usize) -> PathBuf {
        self.master_root(i).join("conf")
    }

    /// Master `i`'s local socket.
    pub fn master_sock(&self, i: usize) -> PathBuf {
        self.master_root(i).join("var/run/brine/master/master.sock")
    }

    /// Master `i`'s file root (holds `from-master{i}.txt`).
    pub fn master_srv(&self, i: usize) -> PathBuf {
        self.master_root(i).join("srv")
    }

    /// An address of this cluster's loopback /24 that no master uses, for
    /// a [`FakeMaster`] (`n` from 0).
    pub fn spare_address(&self, n: usize) -> String {
        format!("{}.{}", self.net, 200 + n)
    }

    /// SIGKILL to master `i` (and reaped): no goodbye to anyone. Its
    /// publisher children notice their parent is gone and exit.
    pub fn kill_master(&mut self, i: usize) {
        if let Some(mut child) = self.masters[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts master `i` again (after [`MultiCluster::kill_master`] or a stop).
    pub fn start_master(&mut self, i: usize) {
        self.masters[i].stop();
        self.masters[i] = self.spawn_master(i);
    }

    /// A signal to master `i`'s process (SIGSTOP freezes it with its
    /// connections open, SIGCONT resumes it).
    pub fn signal_master(&self, i: usize, sig: Signal) {
        self.masters[i].signal(sig);
    }

    fn cli_on(&self, i: usize, name: &str, args: &[&str]) -> CliOutput {
        let out = Command::new(bin(name))
            .arg("-c")
            .arg(self.master_conf(i))
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {name}: {e}"));
        CliOutput::from(out)
    }

    /// `brine ARGS...` on master `i`.
    pub fn brine_on(&self, i: usize, args: &[&str]) -> CliOutput {
        self.cli_on(i, "brine", args)
    }

    /// `brine --out json --static ARGS...` on master `i`, parsed (an empty
    /// object when nothing was printed).
    pub fn brine_json_on(&self, i: usize, args: &[&str]) -> (CliOutput, serde_json::Value) {
        let mut a = vec!["--out", "json", "--static"];
        a.extend_from_slice(args);
        let out = self.brine_on(i, &a);
        let v = serde_json::from_str(&out.stdout)
            .unwrap_or(serde_json::Value::Object(Default::default()));
        (out, v)
    }

    /// `brine-key ARGS...` on master `i`.
    pub fn key_on(&self, i: usize, args: &[&str]) -> CliOutput {
        self.cli_on(i, "brine-key", args)
    }

    /// `brine-run ARGS...` on master `i`.
    pub fn run_on(&self, i: usize, args: &[&str]) -> CliOutput {
        self.cli_on(i, "brine-run", args)
    }

    /// Key ids in `section` (`minions`, `minions_pre`...) on master `i`.
    pub fn keys_on(&self, i: usize, section: &str) -> Vec<String> {
        let out = self.key_on(i, &["-L", "--out", "json"]);
        let v: serde_json::Value =
            serde_json::from_str(&out.stdout).unwrap_or(serde_json::Value::Null);
        v[section]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until these ids are pending on master `i` and accepts them
    /// (does not wait for them to answer: a failover minion may be on
    /// another master).
    pub fn accept_on(&self, i: usize, ids: &[&str]) {
        for id in ids {
            wait_for(
                Duration::from_secs(30),
                || self.keys_on(i, "minions_pre").contains(&id.to_string()),
                &format!("{id} pending on master {i}\n{}", self.logs()),
            );
            let out = self.key_on(i, &["-a", id, "-y"]);
            assert_eq!(out.code, 0, "accept {id} on master {i}: {out:?}");
        }
    }

    /// Whether `id` answers `test.ping` through master `i` within `secs`.
    pub fn answers_on(&self, i: usize, id: &str, secs: u32) -> bool {
        let (_, v) = self.brine_json_on(i, &["-t", &secs.to_string(), "-L", id, "test.ping"]);
        v[id] == serde_json::Value::Bool(true)
    }

    /// Waits until each id answers through master `i`.
    pub fn wait_answering_on(&self, i: usize, ids: &[&str], limit: Duration) {
        for id in ids {
            wait_for(
                limit,
                || self.answers_on(i, id, 2),
                &format!("{id} answers through master {i}\n{}", self.logs()),
            );
        }
    }

    /// Writes the config of a minion listing every master of the cluster
    /// (with `extra` lines: `master_type`, liveness...) and starts it.
    pub fn add_minion(&mut self, id: &str, extra: &str) {
        let masters = self.addresses.clone();
        self.add_minion_listing(id, &masters, extra);
    }

    /// As [`MultiCluster::add_minion`], listing `masters` (addresses of
    /// this cluster's masters or of [`FakeMaster`]s, in that order).
    pub fn add_minion_listing(&mut self, id: &str, masters: &[String], extra: &str) {
        let root = self.dir.path().join("minions").join(id);
        let conf = root.join("conf");
        std::fs::create_dir_all(&conf).expect("minion conf dir");
        let list: String = masters.iter().map(|m| format!("  - {m}\n")).collect();
        let yaml = format!(
            "id: {id}\nmaster:\n{list}master_port: {ret}\npublish_port: {publ}\nroot_dir: {root}\n\
             master_finger: '{fp}'\nacceptance_wait_time: 1\nacceptance_wait_time_max: 2\n\
             recon_default: 200\nrecon_max: 1000\ngrains: {{}}\n{extra}\n",
            ret = self.ret_port,
            publ = self.publish_port,
            root = root.display(),
            fp = self.ca_fingerprint,
        );
        std::fs::write(conf.join("minion"), yaml).expect("minion config");
        self.start_minion(id);
    }

    /// Starts (or restarts) minion `id` from its written config.
    pub fn start_minion(&mut self, id: &str) {
        if let Some(mut old) = self.minions.remove(id) {
            old.stop();
        }
        let root = self.dir.path().join("minions").join(id);
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

    /// Every daemon's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for (i, d) in self.masters.iter().enumerate() {
            s.push_str(&format!("--- master{i} ---\n{}\n", d.log_text()));
        }
        for (id, d) in &self.minions {
            s.push_str(&format!("--- {id} ---\n{}\n", d.log_text()));
        }
        s
    }
}

impl Drop for MultiCluster {
    fn drop(&mut self) {
        // Minions first: they would only log the masters going away.
        for d in self.minions.values_mut() {
            d.stop();
        }
        for d in &mut self.masters {
            d.stop();
        }
    }
}

/// A port free on every one of `addresses`, below the kernel's ephemeral
/// range: connections to a master on the same address take their source
/// port from that range, so none of them can hold the port a restarted
/// master binds again.
fn port_outside_ephemeral(addresses: &[String], not: Option<u16>) -> u16 {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    if low <= 10_000 {
        // An unusual range: the harness's usual pick.
        return free_port();
    }
    for _ in 0..1000 {
        let port = 10_000 + (random_u32() % u32::from(low - 10_000)) as u16;
        if Some(port) == not {
            continue;
        }
        if addresses
            .iter()
            .all(|a| TcpListener::bind((a.as_str(), port)).is_ok())
        {
            return port;
        }
    }
    free_port()
}

fn fastrand_byte(lo: u8, hi: u8) -> u8 {
    lo + (random_u32() % u32::from(hi - lo)) as u8
}

/// No rand crate here: the clock's nanoseconds, the pid and a counter are
/// enough to keep concurrent clusters apart.
fn random_u32() -> u32 {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut x = nanos
        ^ std::process::id().rotate_left(16)
        ^ COUNTER
            .fetch_add(0x9E37_79B9, Ordering::Relaxed)
            .rotate_left(7);
    // xorshift, to spread the bits
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    x
}

/// A master address that never answers, on both ports; stops on drop.
pub struct FakeMaster {
    pub address: String,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// Connections this fake holds open (blackhole fillers).
    _held: Vec<TcpStream>,
    _listeners: Vec<TcpListener>,
}

impl FakeMaster {
    /// Accepts every connection on `address`'s two ports and then says
    /// nothing, for ever: a master that took the connection and hung.
    pub fn hung(address: &str, ports: [u16; 2]) -> FakeMaster {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for port in ports {
            let listener = TcpListener::bind((address, port))
                .unwrap_or_else(|e| panic!("bind {address}:{port}: {e}"));
            listener.set_nonblocking(true).expect("nonblocking");
            let stop = stop.clone();
            threads.push(std::thread::spawn(move || {
                let mut held = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((s, _)) => held.push(s),
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            }));
        }
        FakeMaster {
            address: address.to_string(),
            stop,
            threads,
            _held: Vec::new(),
            _listeners: Vec::new(),
        }
    }

    /// Drops every SYN to `address`'s two ports, as a blackholed host
    /// does: a listener with a backlog of 0, its one place filled and
    /// never accepted (the kernel then ignores new SYNs).
    pub fn blackhole(address: &str, ports: [u16; 2]) -> FakeMaster {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .expect("runtime");
        let _enter = rt.enter();
        let mut listeners = Vec::new();
        let mut held = Vec::new();
        for port in ports {
            let addr: SocketAddr = format!("{address}:{port}").parse().expect("address");
            let socket = tokio::net::TcpSocket::new_v4().expect("socket");
            socket
                .bind(addr)
                .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
            let listener = socket
                .listen(0)
                .expect("listen")
                .into_std()
                .expect("std listener");
            // Fill the accept queue; later connects hang.
            for _ in 0..2 {
                if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                    held.push(s);
                }
            }
            assert!(
                TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_err(),
                "{addr} still answers SYNs"
            );
            listeners.push(listener);
        }
        FakeMaster {
            address: address.to_string(),
            stop: Arc::new(AtomicBool::new(true)),
            threads: Vec::new(),
            _held: held,
            _listeners: listeners,
        }
    }
}

impl Drop for FakeMaster {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
