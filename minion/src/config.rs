//! Minion configuration: defaults in code, then the YAML file `minion` in the
//! config dir, then flags. Key names follow Salt's where they mean the same.

use std::path::{Path, PathBuf};
use std::time::Duration;

use brine_proto::conf::{under_root, ConfError, IgnoredKey, OneOrMany, RawConfig, NOT_YET};
use brine_proto::Grains;

/// Salt minion options Brine knows of but does not act on, each with why.
/// Every one present in the file is warned about at start-up, one line per
/// key: a team coming from Salt must not believe an option works when it
/// does not. (Their values still reach `config.get`, as in Salt.)
const SALT_KEYS_IGNORED: &[(&str, &str)] = &[
    // Options that mean nothing in Brine's design.
    (
        "transport",
        "no effect: Brine has one transport (mutual TLS requests, signed publications)",
    ),
    (
        "multiprocessing",
        "no effect: jobs run as tasks of the minion process and the commands they start",
    ),
    ("hash_type", "no effect: Brine always uses sha256"),
    (
        "ipv6",
        "no effect: a master given as an IPv6 address is reached over IPv6",
    ),
    (
        "random_reauth_delay",
        "no effect: reconnects back off between recon_default and recon_max",
    ),
    (
        "auth_tries",
        "no effect: a pending minion asks again every acceptance_wait_time, forever",
    ),
    (
        "auth_safemode",
        "no effect: a minion whose key is refused keeps asking",
    ),
    (
        "ping_interval",
        "no effect: links to the masters are checked every heartbeat_interval",
    ),
    // Salt features Brine does not have yet.
    ("user", NOT_YET),
    ("log_fmt_console", NOT_YET),
    ("log_fmt_logfile", NOT_YET),
    ("state_verbose", NOT_YET),
    ("state_output", NOT_YET),
    ("startup_states", NOT_YET),
    ("top_file", NOT_YET),
    ("saltenv", NOT_YET),
    ("pillarenv", NOT_YET),
    ("environment", NOT_YET),
];

/// Salt's `master_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterType {
    /// `str` (the default): connected to every master listed at once, each
    /// link independent of the others ("hot/hot" multi-master).
    Str,
    /// `failover`: connected to exactly one master at a time, the first of
    /// the list that answers; the next one when it dies.
    Failover,
}

impl MasterType {
    fn parse(file: &str, value: Option<String>) -> Result<MasterType, ConfError> {
        match value.as_deref().map(str::trim) {
            None | Some("str") => Ok(MasterType::Str),
            Some("failover") => Ok(MasterType::Failover),
            Some(other) => Err(ConfError::BadValue {
                file: file.to_string(),
                key: "master_type".into(),
                message: match other {
                    "func" | "disable" | "distributed" => format!(
                        "'{other}' is a Salt master_type Brine does not support; use 'str' (every master at once) or 'failover' (one at a time)"
                    ),
                    _ => format!(
                        "unknown master_type '{other}'; use 'str' (every master at once) or 'failover' (one at a time)"
                    ),
                },
            }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MasterType::Str => "str",
            MasterType::Failover => "failover",
        }
    }
}

#[derive(Debug, Clone)]
pub struct MinionConfig {
    /// The config dir this was loaded from (`-c`, default `/etc/brine`).
    pub config_dir: PathBuf,
    pub id: String,
    /// Master addresses (`master: host` or a list), in config order.
    pub masters: Vec<String>,
    /// How the list is used (`master_type`): every master at once (`str`,
    /// Salt's default) or one at a time in list order (`failover`).
    pub master_type: MasterType,
    /// A master silent this long is dead (`master_alive_interval`): the
    /// link is dropped and made again, or, with `failover`, the next master
    /// is tried. Heartbeats go at least twice per interval.
    pub master_alive_interval: Duration,
    /// Shuffle the master list once at start (`random_master`); with
    /// `master_failback` the first master keeps its place, as in Salt.
    pub random_master: bool,
    /// `failover` only: go back to a master earlier in the list once it
    /// answers again (`master_failback`), checked every
    /// `master_failback_interval`.
    pub master_failback: bool,
    pub master_failback_interval: Duration,
    /// Request (return) port on the masters: Salt's `master_port`.
    pub master_port: u16,
    pub publish_port: u16,
    /// Local address the request connection is made from (`source_address`;
    /// `brine-swarm` gives each simulated minion its own, as real hosts have).
    pub source_address: Option<std::net::IpAddr>,
    pub root_dir: PathBuf,
    pub pki_dir: PathBuf,
    pub cachedir: PathBuf,
    pub log_file: Option<PathBuf>,
    pub log_level: String,
    /// Level of the log file (`log_level_logfile`; unset: `log_level`).
    pub log_level_logfile: Option<String>,
    /// Static grains from the config file.
    pub grains: Grains,
    /// Expected SHA-256 fingerprint of the master's CA; unset: trust on first use.
    pub master_finger: Option<String>,
    /// First wait between certificate requests while pending (`acceptance_wait_time`).
    pub acceptance_wait_time: Duration,
    /// Longest wait between certificate requests (`acceptance_wait_time_max`).
    pub acceptance_wait_time_max: Duration,
    /// First and longest reconnect delay to a lost master (`recon_default`, `recon_max`, ms).
    pub recon_default: Duration,
    pub recon_max: Duration,
    /// Interval of the application heartbeat on the request channel.
    pub heartbeat_interval: Duration,
    /// Oldest publication accepted, against replay (`publication_max_age`, seconds).
    pub publication_max_age: Duration,
    /// Most bytes of one output stream a command's result keeps
    /// (`max_output_bytes`); the rest is cut with a note.
    pub max_output_bytes: usize,
    /// Jobs run at once (Salt's `process_count_max`; Salt's default -1 means
    /// no limit, Brine's is 64); more wait for a slot.
    pub process_count_max: usize,
    /// A job still running after this long is killed (`max_job_seconds`).
    pub max_job_seconds: Duration,
    /// Salt's `file_client: local` for masterless runs.
    pub file_client: String,
    pub file_roots: serde_yaml::Value,
    pub pillar_roots: serde_yaml::Value,
    /// Nodegroups for `- match: nodegroup` in top files (Salt reads them
    /// from the minion's own config for that).
    pub nodegroups: std::collections::BTreeMap<String, brine_proto::targeting::NodegroupDef>,
    /// Keys in the file this minion does not act on, each with why
    /// (warned about at start-up).
    pub ignored_keys: Vec<IgnoredKey>,
    /// Values of the keys Brine does not act on (unknown ones and Salt's
    /// ignored ones): Salt keeps every key in `__opts__`, and `config.get`
    /// reads custom options from there.
    pub other_options: serde_json::Map<String, serde_json::Value>,
    /// `beacons` (and `minion.d/beacons.conf`), checked (`beacons::conf`).
    pub beacons: serde_json::Map<String, serde_json::Value>,
    /// The mine: `mine_functions` and `mine_interval` (checked in
    /// `modules::mine::MineSettings::new`).
    pub mine: crate::modules::mine::MineSettings,
}

impl MinionConfig {
    /// Loads `<config_dir>/minion` if it exists, else the defaults.
    pub fn load(config_dir: &Path) -> Result<Self, ConfError> {
        let path = config_dir.join("minion");
        let raw = match std::fs::read_to_string(&path) {
            Ok(text) => RawConfig::parse(&path.display().to_string(), &text)?,
            Err(_) => RawConfig::empty(),
        };
        Self::from_raw(config_dir, raw)
    }

    pub fn from_raw(config_dir: &Path, mut raw: RawConfig) -> Result<Self, ConfError> {
        let root_dir: PathBuf = raw.get("root_dir")?.unwrap_or_else(|| PathBuf::from("/"));
        let id: String = match raw.get::<String>("id")? {
            Some(id) => id,
            None => default_id(),
        };
        let masters = raw
            .get::<OneOrMany>("master")?
            .map(OneOrMany::into_vec)
            .unwrap_or_else(|| vec!["127.0.0.1".to_string()]);
        let master_type = raw.get::<String>("master_type")?;
        let master_type = MasterType::parse(raw.file(), master_type)?;
        let master_port = raw.get("master_port")?.unwrap_or(4506);
        let publish_port = raw.get("publish_port")?.unwrap_or(4505);
        let source_address = raw.get::<std::net::IpAddr>("source_address")?;
        let pki_dir = raw
            .get::<PathBuf>("pki_dir")?
            .unwrap_or_else(|| PathBuf::from("/etc/brine/pki/minion"));
        let cachedir = raw
            .get::<PathBuf>("cachedir")?
            .unwrap_or_else(|| PathBuf::from("/var/cache/brine/minion"));
        let log_file = raw.get::<PathBuf>("log_file")?;
        let log_level = raw
            .get("log_level")?
            .unwrap_or_else(|| "warning".to_string());
        let log_level_logfile = raw.get::<String>("log_level_logfile")?;
        let grains = raw.get::<Grains>("grains")?.unwrap_or_default();
        let master_finger = raw.get::<String>("master_finger")?;
        let acceptance_wait_time = raw.get_secs("acceptance_wait_time", 10.0, 0.0)?;
        let acceptance_wait_time_max = raw.get_secs("acceptance_wait_time_max", 0.0, 0.0)?;
        let ms = |v: Option<u64>, d: u64| Duration::from_millis(v.unwrap_or(d));
        let recon_default = ms(raw.get("recon_default")?, 1000);
        let recon_max = ms(raw.get("recon_max")?, 10000);
        let heartbeat_interval = raw.get_secs("heartbeat_interval", 10.0, 0.0)?;
        // Salt's -1 (no alive check) is not offered: a dead master must be
        // noticed. Zero or less falls back to three heartbeats.
        let master_alive_interval = match raw.get::<f64>("master_alive_interval")? {
            None => Duration::from_secs(10),
            Some(s) if s <= 0.0 => heartbeat_interval * 3,
            Some(s) => Duration::from_secs_f64(s),
        };
        let random_master = raw.get::<bool>("random_master")?.unwrap_or(false);
        let master_failback = raw.get::<bool>("master_failback")?.unwrap_or(false);
        // Salt: 0 (the default) means master_alive_interval.
        let master_failback_interval = match raw.get_secs("master_failback_interval", 0.0, 0.0)? {
            d if d.is_zero() => master_alive_interval,
            d => d,
        };
        let publication_max_age = raw.get_secs("publication_max_age", 300.0, 0.0)?;
        let max_output_bytes = raw
            .get::<usize>("max_output_bytes")?
            .unwrap_or(brine_process::DEFAULT_MAX_OUTPUT_BYTES);
        let process_count_max = match raw.get::<i64>("process_count_max")? {
            None => 64,
            Some(n) if n <= 0 => usize::MAX >> 4,
            Some(n) => n as usize,
        };
        let max_job_seconds = raw.get_secs("max_job_seconds", 21600.0, 0.0)?;
        let file_client = raw
            .get("file_client")?
            .unwrap_or_else(|| "remote".to_string());
        let file_roots = raw.get("file_roots")?.unwrap_or(serde_yaml::Value::Null);
        let pillar_roots = raw.get("pillar_roots")?.unwrap_or(serde_yaml::Value::Null);
        let nodegroups = raw.get("nodegroups")?.unwrap_or_default();
        let beacons = crate::beacons::conf::from_raw(config_dir, &mut raw)?;
        let mine_functions = raw.get::<serde_json::Value>("mine_functions")?;
        let mine_interval = raw.get::<u64>("mine_interval")?;
        let mine =
            crate::modules::mine::MineSettings::new(raw.file(), mine_functions, mine_interval)?;
        // The scheduler reads `schedule` from the options (`schedule.rs`).
        let schedule = raw.get::<serde_json::Value>("schedule")?;
        let unread = raw.unknown_keys();
        let ignored_keys = raw.ignored_keys(SALT_KEYS_IGNORED);
        let mut other_options = serde_json::Map::new();
        if let Some(schedule) = schedule {
            other_options.insert("schedule".into(), schedule);
        }
        for key in unread {
            // A value JSON cannot hold (non-string map keys) is left out
            // rather than failing the whole config.
            if let Ok(Some(value)) = RawConfig::get::<serde_json::Value>(&mut raw, &key) {
                other_options.insert(key, value);
            }
        }
        Ok(MinionConfig {
            config_dir: config_dir.to_path_buf(),
            id,
            masters,
            master_type,
            master_alive_interval,
            random_master,
            master_failback,
            master_failback_interval,
            master_port,
            publish_port,
            source_address,
            pki_dir: under_root(&root_dir, &pki_dir),
            cachedir: under_root(&root_dir, &cachedir),
            log_file: log_file.map(|p| under_root(&root_dir, &p)),
            root_dir,
            log_level,
            log_level_logfile,
            grains,
            master_finger,
            acceptance_wait_time,
            // Salt: 0 means "no growth"; keep the back-off bounded either way.
            acceptance_wait_time_max: if acceptance_wait_time_max.is_zero() {
                acceptance_wait_time
            } else {
                acceptance_wait_time_max
            },
            recon_default,
            recon_max,
            heartbeat_interval,
            publication_max_age,
            max_output_bytes,
            process_count_max,
            max_job_seconds,
            file_client,
            file_roots,
            pillar_roots,
            nodegroups,
            ignored_keys,
            other_options,
            beacons,
            mine,
        })
    }

    /// The options as Salt's `__opts__` names them (what `config.get`,
    /// `config.items` and Jinja's `opts` read): the keys Brine models, a few
    /// Salt defaults that formulas test, then every other key of the file.
    pub fn as_opts(&self) -> serde_json::Value {
        use serde_json::{json, Value};
        let path = |p: &Path| Value::String(p.display().to_string());
        let master = match self.masters.as_slice() {
            [one] => json!(one),
            many => json!(many),
        };
        let yaml = |v: &serde_yaml::Value| serde_json::to_value(v).unwrap_or(Value::Null);
        let mut opts = json!({
            "id": self.id,
            "master": master,
            "master_type": self.master_type.as_str(),
            "master_alive_interval": self.master_alive_interval.as_secs_f64(),
            "random_master": self.random_master,
            "master_failback": self.master_failback,
            "master_failback_interval": self.master_failback_interval.as_secs_f64(),
            "master_port": self.master_port,
            "publish_port": self.publish_port,
            "root_dir": path(&self.root_dir),
            "config_dir": path(&self.config_dir),
            "conf_file": path(&self.config_dir.join("minion")),
            "pki_dir": path(&self.pki_dir),
            "cachedir": path(&self.cachedir),
            "log_file": self.log_file.as_deref().map(path),
            "log_level": self.log_level,
            "grains": self.grains,
            "master_finger": self.master_finger,
            "acceptance_wait_time": self.acceptance_wait_time.as_secs_f64(),
            "acceptance_wait_time_max": self.acceptance_wait_time_max.as_secs_f64(),
            "recon_default": self.recon_default.as_millis() as u64,
            "recon_max": self.recon_max.as_millis() as u64,
            "file_client": self.file_client,
            "file_roots": yaml(&self.file_roots),
            "pillar_roots": yaml(&self.pillar_roots),
            "nodegroups": serde_json::to_value(&self.nodegroups).unwrap_or(Value::Null),
            "renderer": "jinja|yaml",
            "state_top": "top.sls",
            "test": false,
            "saltenv": null,
            "pillarenv": null,
            "hash_type": "sha256",
            "pillar_merge_lists": false,
            "pillar_raise_on_missing": false,
            "ipv6": null,
            "beacons": self.beacons,
        });
        if let Value::Object(m) = &mut opts {
            for (k, v) in &self.other_options {
                m.insert(k.clone(), v.clone());
            }
        }
        opts
    }

    /// How often a link sends a heartbeat: every `heartbeat_interval`, and
    /// at least twice per `master_alive_interval`, so that a live master's
    /// answers always arrive within the alive interval.
    pub fn ping_interval(&self) -> Duration {
        self.heartbeat_interval
            .min(self.master_alive_interval / 2)
            .max(Duration::from_millis(50))
    }

    /// How long each step of a connection attempt (TCP connect, TLS
    /// handshake, the master's welcome) may take: ten seconds, and with
    /// `failover` at most the alive interval, so that a master that does
    /// not answer SYNs, or accepts and then hangs, is given up on within it
    /// and the next one tried. (With `str` a slow master delays only its
    /// own link, and a loaded one gets the whole ten seconds.)
    pub fn connect_timeout(&self) -> Duration {
        let most = Duration::from_secs(10);
        match self.master_type {
            MasterType::Str => most,
            MasterType::Failover => self
                .master_alive_interval
                .clamp(Duration::from_secs(1), most),
        }
    }

    /// The masters in the order this run uses them: as listed, or shuffled
    /// once with `random_master` (with `master_failback`, only the ones
    /// after the first, which stays the one to fail back to, as in Salt).
    pub fn master_order(&self) -> Vec<String> {
        let mut masters = self.masters.clone();
        if self.random_master && masters.len() > 1 {
            let keep_first = self.master_type == MasterType::Failover && self.master_failback;
            let from = usize::from(keep_first);
            fastrand::shuffle(&mut masters[from..]);
        }
        masters
    }

    /// The file holding grains set at runtime (`grains.setval`), as Salt's
    /// `/etc/salt/grains`.
    pub fn grains_file(&self) -> PathBuf {
        under_root(&self.root_dir, &self.config_dir.join("grains"))
    }
}

/// Salt's default minion id: the host's fully qualified name, else its hostname.
fn default_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string());
    host
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_file() {
        let c = MinionConfig::from_raw(Path::new("/etc/brine"), RawConfig::empty()).unwrap();
        assert_eq!(c.masters, vec!["127.0.0.1"]);
        assert_eq!(c.master_port, 4506);
        assert_eq!(c.publish_port, 4505);
        assert_eq!(c.pki_dir, Path::new("/etc/brine/pki/minion"));
        assert_eq!(c.master_type, MasterType::Str);
        assert_eq!(c.master_alive_interval, Duration::from_secs(10));
        assert!(!c.random_master && !c.master_failback);
        assert_eq!(c.master_failback_interval, c.master_alive_interval);
        // heartbeats at least twice per alive interval
        assert_eq!(c.ping_interval(), Duration::from_secs(5));
        assert_eq!(c.connect_timeout(), Duration::from_secs(10));
    }

    fn parse(text: &str) -> Result<MinionConfig, ConfError> {
        let raw = RawConfig::parse("minion", text)?;
        MinionConfig::from_raw(Path::new("/etc/brine"), raw)
    }

    #[test]
    fn failover_options_as_salt_names_them() {
        let c = parse(
            "master: [a, b, c]\nmaster_type: failover\nmaster_alive_interval: 4\n\
             master_failback: true\nmaster_failback_interval: 30\nrandom_master: true\n",
        )
        .unwrap();
        assert!(c.ignored_keys.is_empty(), "{:?}", c.ignored_keys);
        assert_eq!(c.master_type, MasterType::Failover);
        assert_eq!(c.master_alive_interval, Duration::from_secs(4));
        assert!(c.master_failback && c.random_master);
        assert_eq!(c.master_failback_interval, Duration::from_secs(30));
        assert_eq!(c.ping_interval(), Duration::from_secs(2));
        assert_eq!(c.connect_timeout(), Duration::from_secs(4));
        let opts = c.as_opts();
        assert_eq!(opts["master_type"], "failover");
        assert_eq!(opts["master_failback"], true);
        // A single master is a list of one (Salt #23611).
        let one = parse("master: a\nmaster_type: failover\n").unwrap();
        assert_eq!(one.masters, vec!["a"]);
        // Salt's 0: the failback interval is the alive interval.
        let c =
            parse("master_type: failover\nmaster_alive_interval: 7\nmaster_failback_interval: 0\n")
                .unwrap();
        assert_eq!(c.master_failback_interval, Duration::from_secs(7));
        // "str" is Salt's default, spelled out
        assert_eq!(
            parse("master_type: str\n").unwrap().master_type,
            MasterType::Str
        );
    }

    #[test]
    fn an_unknown_master_type_is_a_clear_error() {
        for (value, says) in [
            ("hot", "unknown master_type 'hot'"),
            ("func", "Brine does not support"),
            ("disable", "Brine does not support"),
        ] {
            let error = parse(&format!("master_type: {value}\n"))
                .unwrap_err()
                .to_string();
            assert!(error.contains("master_type"), "{error}");
            assert!(error.contains(says), "{error}");
            assert!(error.contains("'failover'"), "{error}");
        }
    }

    #[test]
    fn random_master_shuffles_and_failback_keeps_the_first() {
        let masters: Vec<String> = (0..8).map(|i| format!("m{i}")).collect();
        let list = format!("master: [{}]\n", masters.join(", "));
        let c = parse(&format!("{list}random_master: true\n")).unwrap();
        let orders: std::collections::BTreeSet<Vec<String>> =
            (0..20).map(|_| c.master_order()).collect();
        assert!(orders.len() > 1, "never shuffled");
        for o in &orders {
            let mut sorted = o.clone();
            sorted.sort();
            assert_eq!(sorted, masters, "a shuffle keeps every master once");
        }
        let c = parse(&format!(
            "{list}random_master: true\nmaster_type: failover\nmaster_failback: true\n"
        ))
        .unwrap();
        let orders: std::collections::BTreeSet<Vec<String>> =
            (0..20).map(|_| c.master_order()).collect();
        assert!(orders.len() > 1, "never shuffled");
        assert!(orders.iter().all(|o| o[0] == "m0"), "{orders:?}");
        let c = parse(&list).unwrap();
        assert_eq!(
            c.master_order(),
            masters,
            "listed order without random_master"
        );
    }

    #[test]
    fn root_dir_relocates_and_unknown_keys_are_kept() {
        let raw = RawConfig::parse(
            "minion",
            "root_dir: /tmp/x\nmaster: [a, b]\nfrobnicate: 1\n",
        )
        .unwrap();
        let c = MinionConfig::from_raw(Path::new("/etc/brine"), raw).unwrap();
        assert_eq!(c.pki_dir, Path::new("/tmp/x/etc/brine/pki/minion"));
        assert_eq!(c.masters, vec!["a", "b"]);
        assert_eq!(c.ignored_keys.len(), 1);
        assert_eq!(
            c.ignored_keys[0].to_string(),
            "ignoring 'frobnicate': unknown option"
        );
        // Salt keeps every key in __opts__: config.get reads them.
        assert_eq!(c.as_opts()["frobnicate"], 1);
    }

    /// The keys a minion config may hold without a start-up warning are
    /// exactly the keys this loader reads: every other one, Salt's included,
    /// is named in a warning.
    #[test]
    fn only_the_keys_read_go_unwarned() {
        use std::collections::BTreeSet;
        let read: BTreeSet<String> = brine_proto::conf::keys_read_in(include_str!("config.rs"))
            .into_iter()
            .collect();
        let known: BTreeSet<String> = SALT_KEYS_IGNORED
            .iter()
            .map(|(k, _)| k.to_string())
            .collect();
        assert!(read.is_disjoint(&known), "{:?}", read.intersection(&known));
        let mut all: BTreeSet<String> = read.union(&known).cloned().collect();
        all.insert("no_such_option".into());
        // Every key set, to null (null reads as unset: the defaults).
        let text: String = all.iter().map(|k| format!("{k}: null\n")).collect();
        let c = parse(&text).unwrap();
        let warned: BTreeSet<String> = c.ignored_keys.iter().map(|i| i.key.clone()).collect();
        let silent: BTreeSet<String> = all.difference(&warned).cloned().collect();
        assert_eq!(silent, read);
        let line = |key: &str| {
            c.ignored_keys
                .iter()
                .find(|i| i.key == key)
                .unwrap()
                .to_string()
        };
        assert_eq!(
            line("startup_states"),
            "ignoring 'startup_states': not supported yet"
        );
        assert!(line("multiprocessing").starts_with("ignoring 'multiprocessing': no effect"));
    }
}

#[cfg(test)]
mod example_tests {
    use super::*;

    /// `examples/minion.yaml` parses, has no unknown key, and documents every
    /// option this loader reads.
    #[test]
    fn example_documents_every_option() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        let text = std::fs::read_to_string(dir.join("minion.yaml")).unwrap();
        let raw = RawConfig::parse("examples/minion.yaml", &text).unwrap();
        let c = MinionConfig::from_raw(&dir, raw).unwrap();
        assert!(c.ignored_keys.is_empty(), "{:?}", c.ignored_keys);
        // What the example documents as the defaults is what the code uses
        // (roots unset fall back to Salt's /srv/salt and /srv/pillar).
        let d = MinionConfig::from_raw(&dir, RawConfig::empty()).unwrap();
        let roots = |v: &serde_yaml::Value| serde_yaml::to_string(v).unwrap();
        assert_eq!(roots(&c.file_roots), "base:\n- /srv/salt\n");
        assert_eq!(roots(&c.pillar_roots), "base:\n- /srv/pillar\n");
        assert!(include_str!("state_sys.rs").contains("\"/srv/salt\",\n"));
        assert!(include_str!("state_sys.rs").contains("\"/srv/pillar\", \"pillar_roots\""));
        assert_eq!(c.max_output_bytes, d.max_output_bytes);
        assert_eq!(c.process_count_max, d.process_count_max);
        assert_eq!(c.max_job_seconds, d.max_job_seconds);
        assert_eq!(c.publication_max_age, d.publication_max_age);
        let keys = brine_proto::conf::keys_read_in(include_str!("config.rs"));
        assert!(keys.len() > 15, "{keys:?}");
        for key in keys {
            assert!(
                text.contains(&format!("\n{key}:")),
                "examples/minion.yaml lacks '{key}'"
            );
        }
    }
}
