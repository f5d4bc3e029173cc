//! A network namespace made by a test, for a "host" whose links to the
//! masters can be cut: each link is a veth pair with a /30 of its own
//! (10.231-239.K.0/30), the master's address on the test machine's side,
//! the minion's inside the namespace. Taking the outer end down is a
//! partition: packets are dropped silently, as a dead switch or a stateful
//! firewall does, not refused. Removed on drop (the namespace, and with it
//! every pair). Needs root and `ip` (iproute2); [`NetNs::create`] returns
//! None (with a note) where they are missing, so that the test is skipped.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::Daemon;

pub struct NetNs {
    pub name: String,
    /// (outer interface, master address, inner address)
    links: Vec<(String, String, String)>,
    key: u32,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl NetNs {
    /// A namespace with `links` veth links to the test machine; link `i`'s
    /// master side has address [`NetNs::master_addr`]`(i)`.
    pub fn create(links: usize) -> Option<NetNs> {
        // CI (as root, iproute2 installed by .ci/run) says these must run.
        let required = std::env::var_os("BRINE_NETNS_REQUIRED").is_some();
        let skip = |why: &str| {
            assert!(!required, "{why}, and BRINE_NETNS_REQUIRED is set");
            eprintln!("note: {why}; network namespace test skipped");
        };
        if !nix::unistd::Uid::effective().is_root() {
            skip("not root");
            return None;
        }
        if Command::new("ip").arg("-V").output().is_err() {
            skip("iproute2 (ip) not installed");
            return None;
        }
        assert!(links <= 9, "at most 9 links");
        // Unique across processes (pid) and tests of one process (counter).
        let key = (std::process::id() * 7 + NEXT.fetch_add(1, Ordering::Relaxed)) % 250 + 1;
        let name = format!("brine-it-{}-{key}", std::process::id());
        ip(&["netns", "add", &name]).unwrap_or_else(|e| panic!("{e}"));
        let mut ns = NetNs {
            name,
            links: Vec::new(),
            key,
        };
        for i in 0..links {
            let outer = format!("bo{key}x{i}");
            let inner = format!("bi{key}x{i}");
            let (maddr, iaddr) = (ns.addr(i, 1), ns.addr(i, 2));
            let steps: Vec<Vec<String>> = vec![
                vec![
                    "link".into(),
                    "add".into(),
                    outer.clone(),
                    "type".into(),
                    "veth".into(),
                    "peer".into(),
                    "name".into(),
                    inner.clone(),
                ],
                vec![
                    "link".into(),
                    "set".into(),
                    inner.clone(),
                    "netns".into(),
                    ns.name.clone(),
                ],
                vec![
                    "addr".into(),
                    "add".into(),
                    format!("{maddr}/30"),
                    "dev".into(),
                    outer.clone(),
                ],
                vec!["link".into(), "set".into(), outer.clone(), "up".into()],
                vec![
                    "-n".into(),
                    ns.name.clone(),
                    "addr".into(),
                    "add".into(),
                    format!("{iaddr}/30"),
                    "dev".into(),
                    inner.clone(),
                ],
                vec![
                    "-n".into(),
                    ns.name.clone(),
                    "link".into(),
                    "set".into(),
                    inner.clone(),
                    "up".into(),
                ],
            ];
            for step in steps {
                let args: Vec<&str> = step.iter().map(String::as_str).collect();
                ip(&args).unwrap_or_else(|e| panic!("{e}"));
            }
            ns.links.push((outer, maddr, iaddr));
        }
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]).unwrap_or_else(|e| panic!("{e}"));
        Some(ns)
    }

    fn addr(&self, link: usize, host: u8) -> String {
        format!("10.{}.{}.{host}", 231 + link, self.key)
    }

    /// The address a master on link `i` listens on (outside the namespace).
    pub fn master_addr(&self, i: usize) -> String {
        self.links[i].1.clone()
    }

    /// Cuts link `i`: packets either way are dropped from now on.
    pub fn cut(&self, i: usize) {
        ip(&["link", "set", &self.links[i].0, "down"]).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Restores link `i`.
    pub fn heal(&self, i: usize) {
        ip(&["link", "set", &self.links[i].0, "up"]).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Starts `program args...` inside the namespace (`ip netns exec`
    /// replaces itself with the program: the daemon's PID is the program's).
    pub fn spawn(&self, name: &str, program: PathBuf, args: &[&str], log: PathBuf) -> Daemon {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name])
            .arg(program)
            .args(args);
        Daemon::spawn(name, cmd, log)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // Deleting the namespace deletes the inner ends, and with them the
        // pairs; the outer ends are deleted too in case a pair outlives it.
        let _ = ip(&["netns", "del", &self.name]);
        for (outer, _, _) in &self.links {
            let _ = ip(&["link", "del", outer]);
        }
    }
}
