//! Master configuration: defaults in code, then the YAML file `master` in the
//! config dir, then flags. Key names follow Salt's where they mean the same.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use brine_proto::conf::{under_root, ConfError, IgnoredKey, RawConfig, NOT_YET};
use brine_proto::targeting::NodegroupDef;

use crate::fileserver::Backend;
use crate::gitfs::conf::{parse_remotes, string_list, strip_dir, RemoteDefaults};
use crate::gitfs::GitfsConfig;

/// Salt master options Brine knows of but does not act on, each with why.
/// Every one present in the file is warned about at start-up, one line per
/// key (`ignoring 'job_cache': ...`): a team coming from Salt must not
/// believe an option works when it does not.
const SALT_KEYS_IGNORED: &[(&str, &str)] = &[
    // Options that mean nothing in Brine's design.
    (
        "transport",
        "no effect: Brine has one transport (mutual TLS requests, signed publications)",
    ),
    (
        "worker_threads",
        "no effect: requests are served by one asynchronous runtime, not worker processes",
    ),
    ("hash_type", "no effect: Brine always uses sha256"),
    (
        "ipv6",
        "no effect: set 'interface' to an IPv6 address instead",
    ),
    (
        "gitfs_provider",
        "no effect: Brine has one gitfs implementation",
    ),
    (
        "max_open_files",
        "no effect: the master raises its open-files limit to the hard limit itself",
    ),
    (
        "rotate_aes_key",
        "no effect: the publication key is always rotated when a key is rejected or deleted",
    ),
    (
        "minion_data_cache",
        "no effect: the inventory of grains and pillar is always kept",
    ),
    (
        "job_cache",
        "no effect: the job cache is always on (keep_jobs sets how long)",
    ),
    (
        "presence_events",
        "no effect: brine/presence/change events are always fired",
    ),
    // Salt features Brine does not have yet.
    ("user", NOT_YET),
    ("log_fmt_console", NOT_YET),
    ("log_fmt_logfile", NOT_YET),
    ("state_verbose", NOT_YET),
    ("state_output", NOT_YET),
    ("open_mode", NOT_YET),
    ("file_recv", NOT_YET),
    ("gather_job_timeout", NOT_YET),
    ("top_file_merging_strategy", NOT_YET),
    ("ping_on_rotate", NOT_YET),
];

#[derive(Debug, Clone)]
pub struct MasterConfig {
    pub config_dir: PathBuf,
    /// This master's name (Salt's `id` on the master; default: the host name).
    pub id: String,
    /// Address both ports bind (`interface`, default 0.0.0.0).
    pub interface: IpAddr,
    pub publish_port: u16,
    /// Processes holding the publish port's connections (`publisher_processes`;
    /// 0: the master process itself). Each holds one descriptor per
    /// subscribed minion, so 10,000 minions fit one, 50,000 want three.
    pub publisher_processes: usize,
    pub ret_port: u16,
    pub root_dir: PathBuf,
    pub pki_dir: PathBuf,
    pub cachedir: PathBuf,
    /// Where keys, inventory and jobs live (`store`): unset or `sqlite`,
    /// this master's own file under `cachedir`; `postgres://...`, one
    /// database shared by every master of a cluster.
    pub store: crate::store::StoreLocation,
    pub sock_dir: PathBuf,
    pub log_file: Option<PathBuf>,
    pub log_level: String,
    /// Level of the log file (`log_level_logfile`; unset: `log_level`).
    pub log_level_logfile: Option<String>,
    /// Who besides root may use the CLI socket, and for what
    /// (`publisher_acl`, `publisher_acl_blacklist`; `client_acl` and
    /// `client_acl_blacklist`, Salt's old names, are read the same way).
    pub publisher_acl: crate::acl::PublisherAcl,
    /// Accept every new key (`auto_accept`).
    pub auto_accept: bool,
    /// File of glob patterns whose ids are accepted on request (`autosign_file`).
    pub autosign_file: Option<PathBuf>,
    /// Default time the CLI waits for returns (`timeout`, seconds).
    pub timeout: u64,
    /// Hours jobs stay in the job cache (`keep_jobs`).
    pub keep_jobs: u64,
    /// Most keys waiting for an operator at once (`max_pending_keys`); more
    /// certificate requests are refused until some are accepted or deleted.
    pub max_pending_keys: usize,
    /// New pending keys one source address may create per minute
    /// (`pending_keys_per_minute`).
    pub pending_keys_per_minute: u32,
    /// Seconds between scheduled rotations of the publication key
    /// (`publish_session`, Salt's name; 86400 by default, as Salt).
    pub publish_session: Duration,
    pub nodegroups: BTreeMap<String, NodegroupDef>,
    /// Heartbeat on the request channel; a minion silent for three of these is dropped.
    pub heartbeat_interval: Duration,
    /// Each environment's file server roots, searched in order (`file_roots`).
    pub file_roots: Roots,
    /// Each environment's pillar roots (`pillar_roots`).
    pub pillar_roots: Roots,
    /// File server backends in search order (`fileserver_backend`).
    pub fileserver_backend: Vec<Backend>,
    /// Git remotes served as environments (`gitfs_*`).
    pub gitfs: GitfsConfig,
    /// Keys in the file this master does not act on, each with why
    /// (warned about at start-up).
    pub ignored_keys: Vec<IgnoredKey>,
    /// External pillars and how pillar sources merge (`ext_pillar`,
    /// `pillar_source_merging_strategy`...; read in `ext_pillar::conf`).
    pub ext_pillar: crate::ext_pillar::ExtPillarConfig,
    /// Bytes the event bus holds for slow consumers (`event_bus_max_bytes`).
    pub event_bus_max_bytes: usize,
    /// Largest event data kept whole (`max_event_size`, Salt's name).
    pub max_event_size: usize,
    /// Events one minion may send per second, sustained (`minion_event_rate`;
    /// bursts of ten times that pass): a flapping beacon or a looping
    /// script cannot flood the bus.
    pub minion_event_rate: f64,
    /// Days the inventory's grain history is kept (`inventory_history_days`).
    pub inventory_history_days: u64,
    /// Keyword names whose values the audit log never keeps (`audit_redact`).
    pub audit_redact: regex::Regex,
    /// Days audit rows are kept (`audit_keep_days`).
    pub audit_keep_days: u64,
    /// API users and tokens (`api_users`, `token_expire`).
    pub auth: crate::auth::AuthConfig,
    /// Where the HTTP API listens (`api_port`; unset: no API), on
    /// `api_interface` (default: `interface`).
    pub api_port: Option<u16>,
    pub api_interface: IpAddr,
    /// HTTPS (`api_tls`, default true); plain HTTP only when set false.
    pub api_tls: bool,
    /// The user's own certificate chain and key for the API (`api_ssl_crt`,
    /// `api_ssl_key`, PEM); unset: one issued by the master's CA.
    pub api_ssl: Option<(PathBuf, PathBuf)>,
    /// Names and addresses the CA-issued API certificate is valid for
    /// (`api_names`; default: the host name, `localhost`, the API's address
    /// and 127.0.0.1).
    pub api_names: Vec<String>,
    /// The master's scheduled jobs and runners (`schedule`).
    pub schedule: serde_json::Map<String, serde_json::Value>,
    /// The HTTP server for /metrics and /sd (`metrics_port`, `metrics_interface`;
    /// read in `http/mod.rs`).
    pub http: crate::http::HttpConfig,
    /// The reactor's rules and limits (`reactor`, `reactor_*`; `reactor::conf`).
    pub reactor: crate::reactor::conf::ReactorConfig,
    /// Alert channels and delivery retries (`alerts`; `alerts::conf`).
    pub alerts: crate::alerts::conf::AlertsConfig,
    /// The mine (`mine_get`, `mine_max_bytes`; read in `mine::from_raw`).
    pub mine: crate::mine::MineConfig,
}

impl MasterConfig {
    pub fn load(config_dir: &Path) -> Result<Self, ConfError> {
        let path = config_dir.join("master");
        let raw = match std::fs::read_to_string(&path) {
            Ok(text) => RawConfig::parse(&path.display().to_string(), &text)?,
            Err(_) => RawConfig::empty(),
        };
        Self::from_raw(config_dir, raw)
    }

    pub fn from_raw(config_dir: &Path, mut raw: RawConfig) -> Result<Self, ConfError> {
        let root_dir: PathBuf = raw.get("root_dir")?.unwrap_or_else(|| PathBuf::from("/"));
        let id = match raw.get::<String>("id")? {
            Some(id) => id,
            None => std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|s| format!("{}_master", s.trim()))
                .unwrap_or_else(|_| "master".into()),
        };
        let interface_s: String = raw
            .get("interface")?
            .unwrap_or_else(|| "0.0.0.0".to_string());
        let interface: IpAddr = interface_s.parse().map_err(|_| ConfError::BadValue {
            file: raw.file().to_string(),
            key: "interface".into(),
            message: format!("'{interface_s}' is not an IP address"),
        })?;
        let publish_port = raw.get("publish_port")?.unwrap_or(4505);
        let publisher_processes = raw.get("publisher_processes")?.unwrap_or(1);
        let ret_port = raw.get("ret_port")?.unwrap_or(4506);
        let pki_dir = raw
            .get::<PathBuf>("pki_dir")?
            .unwrap_or_else(|| "/etc/brine/pki/master".into());
        let cachedir = raw
            .get::<PathBuf>("cachedir")?
            .unwrap_or_else(|| "/var/cache/brine/master".into());
        let store_s: Option<String> = raw.get("store")?;
        let sock_dir = raw
            .get::<PathBuf>("sock_dir")?
            .unwrap_or_else(|| "/var/run/brine/master".into());
        let log_file = raw.get::<PathBuf>("log_file")?;
        let log_level = raw.get("log_level")?.unwrap_or_else(|| "warning".into());
        let log_level_logfile = raw.get::<String>("log_level_logfile")?;
        let publisher_acl = parse_publisher_acl(&mut raw)?;
        let auth = crate::auth::config::from_raw(&mut raw)?;
        let api_port = raw.get::<u16>("api_port")?;
        let api_tls = raw.get::<bool>("api_tls")?.unwrap_or(true);
        let api_ssl_crt = raw.get::<PathBuf>("api_ssl_crt")?;
        let api_ssl_key = raw.get::<PathBuf>("api_ssl_key")?;
        let api_ssl = match (api_ssl_crt, api_ssl_key) {
            (Some(c), Some(k)) => Some((under_root(&root_dir, &c), under_root(&root_dir, &k))),
            (None, None) => None,
            _ => {
                return Err(ConfError::BadValue {
                    file: raw.file().to_string(),
                    key: "api_ssl_crt".into(),
                    message: "api_ssl_crt and api_ssl_key go together: set both or neither".into(),
                })
            }
        };
        let api_names: Vec<String> = raw.get::<Vec<String>>("api_names")?.unwrap_or_default();
        let schedule = match raw.get::<serde_json::Value>("schedule")? {
            None | Some(serde_json::Value::Null) => serde_json::Map::new(),
            Some(serde_json::Value::Object(m)) => m,
            Some(_) => {
                return Err(ConfError::BadValue {
                    file: raw.file().to_string(),
                    key: "schedule".into(),
                    message: "schedule maps job names to their settings".into(),
                })
            }
        };
        let api_interface = match raw.get::<String>("api_interface")? {
            None => interface,
            Some(s) => s.parse().map_err(|_| ConfError::BadValue {
                file: raw.file().to_string(),
                key: "api_interface".into(),
                message: format!("'{s}' is not an IP address"),
            })?,
        };
        let auto_accept = raw.get("auto_accept")?.unwrap_or(false);
        let autosign_file = raw.get::<PathBuf>("autosign_file")?;
        let timeout = raw.get("timeout")?.unwrap_or(5);
        let keep_jobs = raw.get("keep_jobs")?.unwrap_or(24);
        let max_pending_keys = raw.get("max_pending_keys")?.unwrap_or(1000);
        let pending_keys_per_minute = raw
            .get::<u32>("pending_keys_per_minute")?
            .unwrap_or(60)
            .max(1);
        let publish_session = raw.get_secs("publish_session", 86400.0, 1.0)?;
        let nodegroups = raw.get("nodegroups")?.unwrap_or_default();
        let heartbeat_interval = raw.get_secs("heartbeat_interval", 10.0, 0.1)?;
        let file = raw.file().to_string();
        let file_roots = parse_roots(&file, "file_roots", raw.get("file_roots")?, "/srv/salt")?;
        let pillar_roots = parse_roots(
            &file,
            "pillar_roots",
            raw.get("pillar_roots")?,
            "/srv/pillar",
        )?;
        let fileserver_backend = parse_backends(&file, raw.get("fileserver_backend")?)?;
        let gitfs_defaults = RemoteDefaults {
            base: raw
                .get::<serde_yaml::Value>("gitfs_base")?
                .map(|v| yaml_scalar(&v))
                .unwrap_or_else(|| "master".into()),
            root: strip_dir(&raw.get::<String>("gitfs_root")?.unwrap_or_default()),
            mountpoint: strip_dir(&raw.get::<String>("gitfs_mountpoint")?.unwrap_or_default()),
        };
        let gitfs = GitfsConfig {
            remotes: parse_remotes(&file, raw.get("gitfs_remotes")?, &gitfs_defaults)?,
            update_interval: raw.get_secs("gitfs_update_interval", 60.0, 1.0)?,
            saltenv_whitelist: string_list(
                &file,
                "gitfs_saltenv_whitelist",
                raw.get("gitfs_saltenv_whitelist")?,
            )?,
            saltenv_blacklist: string_list(
                &file,
                "gitfs_saltenv_blacklist",
                raw.get("gitfs_saltenv_blacklist")?,
            )?,
        };
        let ext_pillar = crate::ext_pillar::conf::from_raw(&mut raw)?;
        let event_bus_max_bytes = raw
            .get::<usize>("event_bus_max_bytes")?
            .unwrap_or(crate::events::DEFAULT_MAX_BYTES);
        let max_event_size = raw
            .get::<usize>("max_event_size")?
            .unwrap_or(crate::events::DEFAULT_EVENT_MAX_BYTES);
        let minion_event_rate = raw.get::<f64>("minion_event_rate")?.unwrap_or(100.0);
        let reactor = crate::reactor::conf::from_raw(&mut raw)?;
        let alerts = crate::alerts::conf::from_raw(&mut raw)?;
        let inventory_history_days = raw.get::<u64>("inventory_history_days")?.unwrap_or(90);
        let redact_s = raw
            .get::<String>("audit_redact")?
            .unwrap_or_else(|| crate::audit::DEFAULT_REDACT.to_string());
        let audit_redact = regex::Regex::new(&redact_s).map_err(|e| ConfError::BadValue {
            file: raw.file().to_string(),
            key: "audit_redact".into(),
            message: e.to_string(),
        })?;
        let audit_keep_days = raw.get::<u64>("audit_keep_days")?.unwrap_or(365);
        let http = crate::http::from_raw(&mut raw)?;
        let mine = crate::mine::from_raw(&mut raw)?;
        let ignored_keys = raw.ignored_keys(SALT_KEYS_IGNORED);
        Ok(MasterConfig {
            config_dir: config_dir.to_path_buf(),
            id,
            interface,
            publish_port,
            publisher_processes,
            ret_port,
            pki_dir: under_root(&root_dir, &pki_dir),
            store: parse_store(raw.file(), store_s, &under_root(&root_dir, &cachedir))?,
            cachedir: under_root(&root_dir, &cachedir),
            sock_dir: under_root(&root_dir, &sock_dir),
            log_file: log_file.map(|p| under_root(&root_dir, &p)),
            autosign_file: autosign_file.map(|p| under_root(&root_dir, &p)),
            root_dir,
            log_level,
            log_level_logfile,
            publisher_acl,
            auto_accept,
            timeout,
            keep_jobs,
            publish_session,
            max_pending_keys,
            pending_keys_per_minute,
            nodegroups,
            heartbeat_interval,
            file_roots,
            pillar_roots,
            fileserver_backend,
            gitfs,
            ignored_keys,
            ext_pillar,
            event_bus_max_bytes,
            max_event_size,
            minion_event_rate,
            reactor,
            alerts,
            inventory_history_days,
            audit_redact,
            audit_keep_days,
            auth,
            api_port,
            api_interface,
            api_tls,
            api_ssl,
            api_names,
            schedule,
            http,
            mine,
        })
    }

    /// The local socket the CLIs talk to.
    pub fn cli_socket(&self) -> PathBuf {
        self.sock_dir.join("master.sock")
    }

    /// The SQLite store: keys, inventory, presence and job cache.
    pub fn store_path(&self) -> PathBuf {
        self.cachedir.join("brine.db")
    }
}

/// `publisher_acl` and `publisher_acl_blacklist`, or Salt's old names for
/// them (`client_acl`, `client_acl_blacklist`); both names of one option
/// at once is an error, not a guess.
fn parse_publisher_acl(raw: &mut RawConfig) -> Result<crate::acl::PublisherAcl, ConfError> {
    let acl = raw.get::<serde_yaml::Value>("publisher_acl")?;
    let old = raw.get::<serde_yaml::Value>("client_acl")?;
    if acl.is_some() && old.is_some() {
        return Err(ConfError::BadValue {
            file: raw.file().to_string(),
            key: "client_acl".into(),
            message: "client_acl is Salt's old name for publisher_acl; set only publisher_acl"
                .into(),
        });
    }
    let key = if old.is_some() {
        "client_acl"
    } else {
        "publisher_acl"
    };
    let blacklist = raw.get::<serde_yaml::Value>("publisher_acl_blacklist")?;
    let old_blacklist = raw.get::<serde_yaml::Value>("client_acl_blacklist")?;
    if blacklist.is_some() && old_blacklist.is_some() {
        return Err(ConfError::BadValue {
                file: raw.file().to_string(),
                key: "client_acl_blacklist".into(),
                message: "client_acl_blacklist is Salt's old name for publisher_acl_blacklist; set only publisher_acl_blacklist".into(),
            });
    }
    let blacklist = blacklist.or(old_blacklist);
    let acl = merge_external_auth(raw, acl.or(old))?;
    crate::acl::PublisherAcl::from_yaml(acl.as_ref(), blacklist.as_ref()).map_err(|e| {
        ConfError::BadValue {
            file: raw.file().to_string(),
            key: key.into(),
            message: e.to_string(),
        }
    })
}

/// Salt's `external_auth: {BACKEND: {user: rules}}`: with the `brine`
/// backend (users in `api_users`) its rules are publisher ACL rules for
/// those names, the same ACL the CLI socket's local users get (one
/// mechanism). Other backends (pam, ldap...) authenticate elsewhere and
/// are refused rather than silently ignored.
fn merge_external_auth(
    raw: &mut RawConfig,
    acl: Option<serde_yaml::Value>,
) -> Result<Option<serde_yaml::Value>, ConfError> {
    use serde_yaml::Value as Y;
    let Some(eauth) = raw.get::<Y>("external_auth")? else {
        return Ok(acl);
    };
    let bad = |message: String| ConfError::BadValue {
        file: raw.file().to_string(),
        key: "external_auth".into(),
        message,
    };
    let Y::Mapping(backends) = eauth else {
        return Err(bad(
            "external_auth must map a backend to users and their rules".into(),
        ));
    };
    let mut merged = match acl {
        Some(Y::Mapping(m)) => m,
        None | Some(Y::Null) => serde_yaml::Mapping::new(),
        Some(_) => {
            return Err(bad(
                "publisher_acl must be a mapping to merge external_auth into".into(),
            ))
        }
    };
    for (backend, users) in backends {
        if backend.as_str() != Some("brine") {
            return Err(bad(format!(
                "the '{}' backend is not supported: Brine authenticates API users itself (api_users); write their rules under external_auth: brine:",
                backend.as_str().unwrap_or("?")
            )));
        }
        let Y::Mapping(users) = users else {
            return Err(bad(
                "external_auth: brine: must map users to their rules".into()
            ));
        };
        for (who, rules) in users {
            let Y::Sequence(rules) = rules else {
                return Err(bad(format!(
                    "external_auth: brine: {who:?}: rules must be a list"
                )));
            };
            match merged.get_mut(&who) {
                Some(Y::Sequence(existing)) => existing.extend(rules),
                _ => {
                    merged.insert(who, Y::Sequence(rules));
                }
            }
        }
    }
    Ok(Some(Y::Mapping(merged)))
}

/// `store`: `sqlite` (or unset) or a `postgres://` / `postgresql://` URL.
fn parse_store(
    file: &str,
    value: Option<String>,
    cachedir: &Path,
) -> Result<crate::store::StoreLocation, ConfError> {
    use crate::store::StoreLocation;
    match value.as_deref().map(str::trim) {
        None | Some("") | Some("sqlite") => Ok(StoreLocation::Sqlite(cachedir.join("brine.db"))),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(StoreLocation::Postgres(url.to_string()))
        }
        Some(other) => Err(ConfError::BadValue {
            file: file.to_string(),
            key: "store".into(),
            message: format!(
                "'{other}' is neither 'sqlite' nor a postgres:// URL (e.g. postgres://brine@db1/brine)"
            ),
        }),
    }
}

/// `fileserver_backend`: a list (or one name); absent means `[roots]`.
/// A backend Brine does not have is an error naming it, rather than a file
/// server silently missing files.
fn parse_backends(file: &str, value: Option<serde_yaml::Value>) -> Result<Vec<Backend>, ConfError> {
    let bad = |message: String| ConfError::BadValue {
        file: file.to_string(),
        key: "fileserver_backend".to_string(),
        message,
    };
    let names = match value {
        None | Some(serde_yaml::Value::Null) => return Ok(vec![Backend::Roots]),
        Some(serde_yaml::Value::String(s)) => vec![s],
        Some(serde_yaml::Value::Sequence(items)) => items
            .into_iter()
            .map(|i| match i {
                serde_yaml::Value::String(s) => Ok(s),
                other => Err(bad(format!("{other:?} is not a backend name"))),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(bad(format!("expected a list of backends, got {other:?}"))),
    };
    let mut out = Vec::new();
    for name in names {
        let b = Backend::parse(&name).ok_or_else(|| {
            bad(format!(
                "unsupported backend '{name}' (supported: roots, gitfs)"
            ))
        })?;
        if !out.contains(&b) {
            out.push(b);
        }
    }
    Ok(out)
}

/// A YAML scalar as text (`gitfs_base: 2024` is the branch "2024").
fn yaml_scalar(v: &serde_yaml::Value) -> String {
    match v {
        serde_yaml::Value::String(s) => s.clone(),
        serde_yaml::Value::Number(n) => n.to_string(),
        serde_yaml::Value::Bool(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

/// Environment name to its root directories, in search order.
pub use brine_proto::conf::Roots;

/// Reads `file_roots`/`pillar_roots`: `{env: [dir, ...]}`, or a bare list of
/// directories meaning `base`; absent means `{base: [default]}`. As in Salt,
/// these paths are taken as written: `root_dir` does not relocate them (Salt's
/// `prepend_root_dirs` leaves them out).
pub fn parse_roots(
    file: &str,
    key: &str,
    value: Option<serde_yaml::Value>,
    default: &str,
) -> Result<Roots, ConfError> {
    brine_proto::conf::roots_from_yaml(value.as_ref(), default).map_err(|message| {
        ConfError::BadValue {
            file: file.to_string(),
            key: key.to_string(),
            message,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots_of(text: &str) -> Result<(Roots, Roots), ConfError> {
        let raw = RawConfig::parse("master", text).unwrap();
        let c = MasterConfig::from_raw(Path::new("/etc/brine"), raw)?;
        Ok((c.file_roots, c.pillar_roots))
    }

    #[test]
    fn roots_default_to_srv_and_ignore_root_dir() {
        let (files, pillar) = roots_of("root_dir: /tmp/r\n").unwrap();
        assert_eq!(files["base"], vec![PathBuf::from("/srv/salt")]);
        assert_eq!(pillar["base"], vec![PathBuf::from("/srv/pillar")]);
        assert_eq!(files.len(), 1);
    }

    #[test]
    fn roots_read_environments_or_a_bare_list() {
        let (files, pillar) = roots_of(
            "file_roots:\n  base: [/a, /b]\n  dev:\n    - /c\n  empty:\npillar_roots: [/p]\n",
        )
        .unwrap();
        assert_eq!(
            files["base"],
            vec![PathBuf::from("/a"), PathBuf::from("/b")]
        );
        assert_eq!(files["dev"], vec![PathBuf::from("/c")]);
        assert!(files["empty"].is_empty());
        assert_eq!(pillar["base"], vec![PathBuf::from("/p")]);
    }

    #[test]
    fn bad_roots_are_named() {
        let err = roots_of("file_roots: 3\n").unwrap_err();
        assert!(err.to_string().contains("file_roots"), "{err}");
        let err = roots_of("pillar_roots:\n  base: {a: 1}\n").unwrap_err();
        assert!(err.to_string().contains("pillar_roots"), "{err}");
    }

    #[test]
    fn defaults_need_no_file() {
        let c = MasterConfig::from_raw(Path::new("/etc/brine"), RawConfig::empty()).unwrap();
        assert_eq!((c.publish_port, c.ret_port), (4505, 4506));
        assert_eq!(c.timeout, 5);
        assert!(!c.auto_accept);
    }

    #[test]
    fn gitfs_options_read_as_salt_writes_them() {
        let raw = RawConfig::parse(
            "master",
            "fileserver_backend: [gitfs, roots]\ngitfs_base: main\ngitfs_root: salt/\n\
             gitfs_update_interval: 300\ngitfs_saltenv_whitelist: [base, dev]\n\
             gitfs_remotes:\n  - /srv/a\n  - file:///srv/b:\n    - mountpoint: salt://b\n    - base: trunk\n",
        )
        .unwrap();
        let c = MasterConfig::from_raw(Path::new("/etc/brine"), raw).unwrap();
        assert!(c.ignored_keys.is_empty(), "{:?}", c.ignored_keys);
        assert_eq!(c.fileserver_backend, vec![Backend::Gitfs, Backend::Roots]);
        assert_eq!(c.gitfs.update_interval, Duration::from_secs(300));
        assert_eq!(c.gitfs.saltenv_whitelist, vec!["base", "dev"]);
        let r = &c.gitfs.remotes;
        assert_eq!((r[0].url.as_str(), r[0].base.as_str()), ("/srv/a", "main"));
        assert_eq!(r[0].root, "salt");
        assert_eq!(r[1].mountpoint, "b");
        assert_eq!(r[1].base, "trunk");
        assert_eq!(r[1].root, "salt");
    }

    #[test]
    fn backends_default_to_roots_and_unknown_ones_are_named() {
        let c = MasterConfig::from_raw(Path::new("/etc/brine"), RawConfig::empty()).unwrap();
        assert_eq!(c.fileserver_backend, vec![Backend::Roots]);
        assert!(c.gitfs.remotes.is_empty());
        assert_eq!(c.gitfs.update_interval, Duration::from_secs(60));
        let raw = RawConfig::parse("master", "fileserver_backend: [roots, hgfs]\n").unwrap();
        let err = MasterConfig::from_raw(Path::new("/etc/brine"), raw).unwrap_err();
        assert!(err.to_string().contains("hgfs"), "{err}");
    }

    /// The keys a master config may hold without a start-up warning are
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
        let c = MasterConfig::from_raw(
            Path::new("/etc/brine"),
            RawConfig::parse("master", &text).unwrap(),
        )
        .unwrap();
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
            line("no_such_option"),
            "ignoring 'no_such_option': unknown option"
        );
        assert_eq!(
            line("ping_on_rotate"),
            "ignoring 'ping_on_rotate': not supported yet"
        );
        assert!(line("transport").starts_with("ignoring 'transport': no effect"));
    }

    #[test]
    fn external_auth_is_the_publisher_acl_for_api_users_and_client_acl_is_publisher_acl() {
        let raw = RawConfig::parse("master", "external_auth:\n  pam:\n    fred: [.*]\n").unwrap();
        let err = MasterConfig::from_raw(Path::new("/etc/brine"), raw)
            .unwrap_err()
            .to_string();
        assert!(err.contains("the 'pam' backend is not supported"), "{err}");
        let raw = RawConfig::parse(
            "master",
            "publisher_acl:\n  fred: [test.ping]\nexternal_auth:\n  brine:\n    fred: [grains.items]\n    alice: [test.*]\n",
        )
        .unwrap();
        let c = MasterConfig::from_raw(Path::new("/etc/brine"), raw).unwrap();
        let caller = |name: &str| crate::acl::Caller {
            name: name.into(),
            groups: vec![],
            unrestricted: false,
        };
        let can = |name: &str, fun: &str| {
            let ids = vec!["web1".to_string()];
            let action = crate::acl::Action::Publish {
                tgt: "web1",
                minions: &ids,
                fun,
                arg: &[],
                kwarg: &serde_json::Map::new(),
            };
            c.publisher_acl
                .check(&caller(name), &action, &|_| Ok(ids.clone()))
                .is_ok()
        };
        assert!(can("fred", "test.ping") && can("fred", "grains.items"));
        assert!(can("alice", "test.echo") && !can("alice", "cmd.run"));
        let raw = RawConfig::parse("master", "client_acl:\n  fred: [test.ping]\n").unwrap();
        let c = MasterConfig::from_raw(Path::new("/etc/brine"), raw).unwrap();
        assert!(c.publisher_acl.has_entries());
        assert!(c.ignored_keys.is_empty());
        let raw = RawConfig::parse(
            "master",
            "client_acl:\n  fred: [test.ping]\npublisher_acl:\n  bob: [.*]\n",
        )
        .unwrap();
        let err = MasterConfig::from_raw(Path::new("/etc/brine"), raw).unwrap_err();
        assert!(err.to_string().contains("client_acl"), "{err}");
        let raw = RawConfig::parse(
            "master",
            "client_acl_blacklist: {modules: [cmd.*]}\npublisher_acl_blacklist: {users: [x]}\n",
        )
        .unwrap();
        let err = MasterConfig::from_raw(Path::new("/etc/brine"), raw).unwrap_err();
        assert!(err.to_string().contains("client_acl_blacklist"), "{err}");
        let raw = RawConfig::parse("master", "publisher_acl:\n  fred: ['(']\n").unwrap();
        let err = MasterConfig::from_raw(Path::new("/etc/brine"), raw).unwrap_err();
        assert!(err.to_string().contains("publisher_acl"), "{err}");
    }

    #[test]
    fn bad_interface_is_named() {
        let raw = RawConfig::parse("master", "interface: nowhere\n").unwrap();
        let err = MasterConfig::from_raw(Path::new("/etc/brine"), raw).unwrap_err();
        assert!(err.to_string().contains("interface"), "{err}");
    }
}

#[cfg(test)]
mod example_tests {
    use super::*;

    /// `examples/master.yaml` parses, has no unknown key, and documents every
    /// option this loader reads.
    #[test]
    fn example_documents_every_option() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        let text = std::fs::read_to_string(dir.join("master.yaml")).unwrap();
        let raw = RawConfig::parse("examples/master.yaml", &text).unwrap();
        let c = MasterConfig::from_raw(&dir, raw).unwrap();
        assert!(c.ignored_keys.is_empty(), "{:?}", c.ignored_keys);
        assert_eq!(c.nodegroups.len(), 2);
        // What the example documents as the defaults is what the code uses.
        let d = MasterConfig::from_raw(&dir, RawConfig::parse("empty", "").unwrap()).unwrap();
        assert_eq!(c.file_roots, d.file_roots, "file_roots");
        assert_eq!(c.pillar_roots, d.pillar_roots, "pillar_roots");
        assert_eq!(c.publish_session, d.publish_session);
        assert_eq!(c.max_pending_keys, d.max_pending_keys);
        assert_eq!(c.pending_keys_per_minute, d.pending_keys_per_minute);
        assert_eq!(c.keep_jobs, d.keep_jobs);
        assert_eq!(c.event_bus_max_bytes, d.event_bus_max_bytes);
        assert_eq!(c.max_event_size, d.max_event_size);
        assert_eq!(c.minion_event_rate, d.minion_event_rate);
        assert_eq!(c.inventory_history_days, d.inventory_history_days);
        assert_eq!(c.audit_redact.as_str(), d.audit_redact.as_str());
        assert_eq!(c.audit_keep_days, d.audit_keep_days);
        let keys = brine_proto::conf::keys_read_in(include_str!("config.rs"));
        assert!(keys.len() > 15, "{keys:?}");
        for key in keys {
            assert!(
                text.contains(&format!("\n{key}:")),
                "examples/master.yaml lacks '{key}'"
            );
        }
    }
}
