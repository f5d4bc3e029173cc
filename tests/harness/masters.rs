//! More masters beside a [`Cluster`]'s own, for multi-master tests. Minions
//! reach every master on the same two ports (`master_port`,
//! `publish_port`), so each extra master listens on those of the cluster
//! but on its own loopback address (`127.0.0.2`, ...), with its own root
//! directory, pki directory and store.
//!
//! ```no_run
//! use brine_tests::Cluster;
//! let mut c = Cluster::builder().start();
//! let mut b = c.extra_master("master1", "127.0.0.2");
//! b.start();
//! c.add_minion_of("web1", &["127.0.0.1", "127.0.0.2"], "");
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{bin, start_master, wait_for, CliOutput, Cluster, Daemon, MinionSpec};

/// A master of the cluster other than [`Cluster::master`]; killed on drop.
pub struct ExtraMaster {
    pub id: String,
    /// The loopback address both its ports bind.
    pub address: String,
    root: PathBuf,
    pub daemon: Option<Daemon>,
}

impl Cluster {
    /// Writes the config of another master of this cluster (not started):
    /// `id`, `interface: address`, the cluster's two ports, its own root
    /// under the cluster's directory, and the cluster master's test settings.
    pub fn extra_master(&self, id: &str, address: &str) -> ExtraMaster {
        let root = self.dir.path().join(format!("master-{id}"));
        let conf = root.join("conf");
        std::fs::create_dir_all(&conf).expect("extra master conf dir");
        let yaml = format!(
            "id: {id}\ninterface: {address}\npublish_port: {publ}\nret_port: {ret}\n\
             root_dir: {root}\nauto_accept: false\ntimeout: 30\nheartbeat_interval: 2\n",
            publ = self.publish_port,
            ret = self.ret_port,
            root = root.display(),
        );
        std::fs::write(conf.join("master"), yaml).expect("extra master config");
        ExtraMaster {
            id: id.to_string(),
            address: address.to_string(),
            root,
            daemon: None,
        }
    }

    /// Another master of this cluster sharing its CA (a certificate either
    /// issues is valid at both) with `config` added to its own (a shared
    /// `store:` line, say): written, not started.
    pub fn cluster_master(&self, id: &str, address: &str, config: &str) -> ExtraMaster {
        use std::os::unix::fs::PermissionsExt;
        let m = self.extra_master(id, address);
        let pki = m.pki_dir();
        std::fs::create_dir_all(&pki).expect("extra master pki dir");
        let ca = self.master_root().join("etc/brine/pki/master");
        for f in ["ca.crt", "ca.key"] {
            std::fs::copy(ca.join(f), pki.join(f)).expect("copy the cluster's CA");
        }
        let mode =
            |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
        mode(&pki, 0o700).expect("pki dir mode");
        mode(&pki.join("ca.key"), 0o600).expect("CA key mode");
        let conf = m.conf().join("master");
        let mut yaml = std::fs::read_to_string(&conf).expect("extra master config");
        yaml.push_str(config);
        yaml.push('\n');
        std::fs::write(&conf, yaml).expect("extra master config");
        m
    }

    /// Writes the config of a minion that connects to every address in
    /// `masters` (with `extra` lines) and starts it; it is then one of this
    /// cluster's minions ([`Cluster::minion`], [`Cluster::logs`]).
    pub fn add_minion_of(&mut self, id: &str, masters: &[&str], extra: &str) {
        let root = self.minion_root(id);
        let conf = root.join("conf");
        std::fs::create_dir_all(&conf).expect("minion conf dir");
        let list: String = masters.iter().map(|m| format!("  - {m}\n")).collect();
        let yaml = format!(
            "id: {id}\nmaster:\n{list}master_port: {ret}\npublish_port: {publ}\nroot_dir: {root}\n\
             acceptance_wait_time: 1\nacceptance_wait_time_max: 2\nrecon_default: 200\nrecon_max: 1000\n\
             heartbeat_interval: 2\ngrains: {{}}\n{extra}\n",
            ret = self.ret_port,
            publ = self.publish_port,
            root = root.display(),
        );
        std::fs::write(conf.join("minion"), yaml).expect("minion config");
        self.specs.insert(
            id.to_string(),
            MinionSpec {
                id: id.to_string(),
                grains: String::new(),
                extra: extra.to_string(),
            },
        );
        self.start_minion(id);
    }
}

impl ExtraMaster {
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Its config directory (`-c` of every CLI).
    pub fn conf(&self) -> PathBuf {
        self.root.join("conf")
    }

    /// Its pki directory (the default `pki_dir` under its root).
    pub fn pki_dir(&self) -> PathBuf {
        self.root.join("etc/brine/pki/master")
    }

    /// Starts it and waits for its local socket.
    pub fn start(&mut self) {
        let mut daemon = start_master(&self.root);
        let sock = self.root.join("var/run/brine/master/master.sock");
        wait_for(
            Duration::from_secs(20),
            || sock.exists() || !daemon.is_running(),
            "extra master socket to appear",
        );
        assert!(
            daemon.is_running(),
            "master {} exited:\n{}",
            self.id,
            daemon.log_text()
        );
        self.daemon = Some(daemon);
    }

    pub fn stop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            d.stop();
        }
    }

    pub fn log_text(&self) -> String {
        self.daemon
            .as_ref()
            .map(Daemon::log_text)
            .unwrap_or_default()
    }

    fn cli(&self, name: &str, args: &[&str]) -> CliOutput {
        let out = Command::new(bin(name))
            .arg("-c")
            .arg(self.conf())
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {name}: {e}"));
        CliOutput::from(out)
    }

    /// `brine-key ARGS...` against this master.
    pub fn key(&self, args: &[&str]) -> CliOutput {
        self.cli("brine-key", args)
    }

    /// `brine --out json --static ARGS...` against this master, parsed
    /// (an empty object when nothing was printed).
    pub fn brine_json(&self, args: &[&str]) -> (CliOutput, serde_json::Value) {
        let mut a = vec!["--out", "json", "--static"];
        a.extend_from_slice(args);
        let out = self.cli("brine", &a);
        let v = serde_json::from_str(&out.stdout)
            .unwrap_or(serde_json::Value::Object(Default::default()));
        (out, v)
    }

    /// Key ids in `section` (`minions`, `minions_pre`...) of `brine-key -L`.
    pub fn keys_in(&self, section: &str) -> Vec<String> {
        let out = self.key(&["-L", "--out", "json"]);
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

    /// Waits until these ids are pending here, accepts them, waits until
    /// each answers `test.ping` through this master.
    pub fn accept(&self, ids: &[&str]) {
        for id in ids {
            crate::assert_eventually!(
                self.keys_in("minions_pre").contains(&id.to_string()),
                "{id} pending at {}",
                self.id
            );
            let out = self.key(&["-a", id, "-y"]);
            assert_eq!(out.code, 0, "accept {id} at {}: {out:?}", self.id);
        }
        self.wait_answering(ids);
    }

    /// Waits until every id answers `test.ping` through this master.
    pub fn wait_answering(&self, ids: &[&str]) {
        for id in ids {
            crate::assert_eventually!(
                {
                    let (_, v) = self.brine_json(&["-t", "2", "-L", id, "test.ping"]);
                    v[*id] == serde_json::Value::Bool(true)
                },
                "{id} answers test.ping through {}",
                self.id
            );
        }
    }
}

/// `brine-run --out json ARGS...` against the master whose config
/// directory is `conf` (an [`ExtraMaster::conf`], or the cluster's own).
pub fn run_json(conf: &Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new(bin("brine-run"))
        .arg("-c")
        .arg(conf)
        .args(["--out", "json"])
        .args(args)
        .output()
        .expect("run brine-run");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "brine-run {args:?}: {e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}
