//! Beacons: watchers on the minion that send an event to the masters when
//! something they watch crosses a threshold or changes (Salt's beacons).
//!
//! Configured under `beacons` in the minion config (and
//! `minion.d/beacons.conf`, which `beacons.save` writes) and in the pillar
//! (the pillar's beacon wins over the config's of the same name), in Salt's
//! shape: a beacon name maps to a list of single-key dicts or to a dict.
//!
//! ```yaml
//! beacons:
//!   diskusage:
//!     - /: 90%
//!     - interval: 120
//!   load:
//!     - averages: {1m: [0.0, 2.0]}
//!   watch_etc:                       # a second inotify beacon
//!     - files: {/etc/nginx: {mask: [modify]}}
//!     - beacon_module: inotify
//! ```
//!
//! Every beacon runs in a task of its own on its own `interval` (10 s by
//! default), reads the system on a blocking thread (a hung NFS mount stalls
//! only the beacon that reads it), and keeps its state in memory. Unlike
//! several of Salt's beacons, which fire on every interval while a
//! condition holds, Brine's fire once when it starts to hold (a crossing)
//! or when what they watch changes; a flapping disk gives one event per
//! crossing, not one every ten seconds. The `status` beacon is the
//! exception: periodic status data is what it is for.
//!
//! Events go to every connected master as `brine/beacon/<id>/<name>/<suffix>`.
//! While no master is connected they wait in a small queue bounded in count
//! and bytes (the oldest are dropped, with a log line).

pub mod crossing;
pub mod diskusage;
pub mod inotify;
pub mod journald;
pub mod load;
pub mod log;
pub mod memusage;
pub mod outbox;
pub mod ps;
pub mod service;
pub mod status;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use brine_proto::conf::{ConfError, RawConfig};
use serde_json::{Map, Value};
use tokio::task::JoinHandle;

use crate::exec::RunningJobs;
use crate::link::MasterClient;
use crate::registry::CallCtx;

pub use outbox::Outbox;

/// Salt's beacon interval when none is given... as the issue asks; Salt's
/// own default is its one-second loop.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// The beacon modules Brine has (`proc` is accepted for `ps`).
pub const AVAILABLE: &[&str] = &[
    "diskusage",
    "inotify",
    "journald",
    "load",
    "log",
    "memusage",
    "ps",
    "service",
    "status",
];

/// Options every beacon takes, besides its own.
const COMMON_KEYS: &[&str] = &[
    "interval",
    "disable_during_state_run",
    "enabled",
    "beacon_module",
    "run_once",
];

/// One event a beacon gives: the last part of its tag and Salt's data.
#[derive(Debug, Clone, PartialEq)]
pub struct BeaconEvent {
    pub suffix: String,
    pub data: Map<String, Value>,
}

impl BeaconEvent {
    pub fn new(suffix: impl Into<String>, data: Value) -> BeaconEvent {
        BeaconEvent {
            suffix: suffix.into(),
            data: match data {
                Value::Object(m) => m,
                other => {
                    let mut m = Map::new();
                    m.insert("data".into(), other);
                    m
                }
            },
        }
    }
}

/// A running beacon: evaluated once per interval, on a blocking thread.
pub trait Beacon: Send {
    /// Reads what the beacon watches and returns the events for what
    /// changed since the last evaluation (`now` for beacons that wait).
    fn evaluate(&mut self, now: Instant) -> Vec<BeaconEvent>;

    /// An evaluation was skipped for a state run
    /// (`disable_during_state_run`): a beacon that would report the
    /// run's own changes afterwards forgets them (Salt's `close`).
    fn pause(&mut self) {}
}

/// Where beacons read the system: the real one, or fakes in tests.
#[derive(Clone)]
pub struct Inputs {
    /// `/proc` (meminfo, loadavg, processes).
    pub proc_dir: PathBuf,
    /// Mounts and their usage (`diskusage`).
    pub disks: Arc<dyn diskusage::DiskSource>,
    /// Whether a service runs (`service`).
    pub services: Arc<dyn Fn(&str) -> bool + Send + Sync>,
    /// For the `status` beacon, which calls `status.*` functions.
    pub ctx: Option<(CallCtx, tokio::runtime::Handle)>,
    /// The journalctl command (`journald`).
    pub journalctl: Vec<String>,
}

impl Inputs {
    /// This host's `/proc`, mounts and init system.
    pub fn system(ctx: Option<(CallCtx, tokio::runtime::Handle)>) -> Inputs {
        Inputs {
            proc_dir: PathBuf::from("/proc"),
            disks: Arc::new(diskusage::SystemDisks),
            services: Arc::new(|name: &str| {
                brine_states::modules::sys::initsys::InitSystem::detect().status(name, None)
            }),
            ctx,
            journalctl: vec!["journalctl".into()],
        }
    }
}

/// A beacon's module and its own options, checked.
#[derive(Debug, Clone)]
pub enum Kind {
    Diskusage(diskusage::Config),
    Inotify(inotify::Config),
    Journald(journald::Config),
    Load(load::Config),
    Log(log::Config),
    Memusage(memusage::Config),
    Ps(ps::Config),
    Service(service::Config),
    Status(status::Config),
}

impl Kind {
    fn parse(module: &str, params: &Map<String, Value>) -> Result<Kind, String> {
        Ok(match module {
            "diskusage" => Kind::Diskusage(diskusage::Config::parse(params)?),
            "inotify" => Kind::Inotify(inotify::Config::parse(params)?),
            "load" => Kind::Load(load::Config::parse(params)?),
            "log" => Kind::Log(log::Config::parse(params)?),
            "memusage" => Kind::Memusage(memusage::Config::parse(params)?),
            "ps" | "proc" => Kind::Ps(ps::Config::parse(params)?),
            "service" => Kind::Service(service::Config::parse(params)?),
            "status" => Kind::Status(status::Config::parse(params)?),
            "journald" if journald::journalctl_present() => {
                Kind::Journald(journald::Config::parse(params)?)
            }
            "journald" => {
                return Err(
                    "the journald beacon needs journalctl, which this host does not \
                            have; watch a log file with the 'log' beacon (file + tags with a \
                            regex) instead"
                        .into(),
                )
            }
            other => {
                return Err(format!(
                    "no beacon module '{other}'; Brine has {} (and proc for ps); a beacon \
                     named otherwise needs beacon_module",
                    AVAILABLE.join(", ")
                ))
            }
        })
    }

    /// The running beacon, with fresh state.
    pub fn start(&self, inputs: &Inputs) -> Box<dyn Beacon> {
        match self {
            Kind::Diskusage(c) => Box::new(diskusage::Diskusage::new(c.clone(), inputs)),
            Kind::Inotify(c) => Box::new(inotify::InotifyBeacon::new(c.clone())),
            Kind::Journald(c) => Box::new(journald::Journald::new(c.clone(), inputs)),
            Kind::Load(c) => Box::new(load::Load::new(c.clone(), inputs)),
            Kind::Log(c) => Box::new(log::LogBeacon::new(c.clone())),
            Kind::Memusage(c) => Box::new(memusage::Memusage::new(c.clone(), inputs)),
            Kind::Ps(c) => Box::new(ps::Ps::new(c.clone(), inputs)),
            Kind::Service(c) => Box::new(service::ServiceBeacon::new(c.clone(), inputs)),
            Kind::Status(c) => Box::new(status::Status::new(c.clone(), inputs)),
        }
    }
}

/// One configured beacon, its common options read.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    /// `beacon_module`, else the name.
    pub module: String,
    pub interval: Duration,
    /// Skip evaluations while a `state.*` job runs (so that a state run
    /// that touches watched files does not trigger its own reactor).
    pub disable_during_state_run: bool,
    pub enabled: bool,
    /// Evaluate once, then stop.
    pub run_once: bool,
    pub kind: Kind,
}

/// Salt's beacon config: a list of single-key dicts (merged in order) or a
/// dict; null or an empty list is no options.
pub fn flatten(value: &Value) -> Result<Map<String, Value>, String> {
    match value {
        Value::Null => Ok(Map::new()),
        Value::Object(m) => Ok(m.clone()),
        Value::Array(items) => {
            let mut out = Map::new();
            for item in items {
                match item {
                    Value::Object(m) => out.extend(m.clone()),
                    other => {
                        return Err(format!(
                            "each item of a beacon's list must be a dict (key: value), not {other}"
                        ))
                    }
                }
            }
            Ok(out)
        }
        other => Err(format!(
            "a beacon's config must be a list of dicts or a dict, not {other}"
        )),
    }
}

/// Reads a beacon's config (`name: value` under `beacons`).
pub fn parse_spec(name: &str, value: &Value) -> Result<Spec, String> {
    let mut params = flatten(value)?;
    let interval = match params.get("interval") {
        None | Some(Value::Null) => DEFAULT_INTERVAL,
        Some(v) => match number(v) {
            Some(s) if s > 0.0 && s <= 86_400.0 * 365.0 => Duration::from_secs_f64(s),
            _ => {
                return Err(format!(
                    "interval must be a number of seconds above 0, not {v}"
                ))
            }
        },
    };
    let flag = |key: &str, default: bool| match params.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => truthy(v).ok_or_else(|| format!("{key} must be true or false, not {v}")),
    };
    let disable_during_state_run = flag("disable_during_state_run", false)?;
    let enabled = flag("enabled", true)?;
    let run_once = flag("run_once", false)?;
    let module = match params.get("beacon_module") {
        None | Some(Value::Null) => name.to_string(),
        Some(Value::String(m)) => m.clone(),
        Some(v) => return Err(format!("beacon_module must be a module name, not {v}")),
    };
    for key in COMMON_KEYS {
        params.remove(*key);
    }
    let kind = Kind::parse(&module, &params)?;
    Ok(Spec {
        name: name.to_string(),
        module,
        interval,
        disable_during_state_run,
        enabled,
        run_once,
        kind,
    })
}

/// A number, or a string holding one (YAML from the CLI often gives strings).
pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A percentage as Salt writes them: `63%`, `"63"` or `63`.
pub fn percent(v: &Value) -> Option<f64> {
    match v {
        Value::String(s) => s.trim().trim_end_matches('%').trim().parse().ok(),
        other => number(other),
    }
    .filter(|p: &f64| p.is_finite())
}

/// Python's truthiness for the booleans of a config (`True`, `yes`, `1`).
pub fn truthy(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|f| f != 0.0),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Some(true),
            "false" | "no" | "off" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Psutil's percentages: one decimal.
pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

// ---- the config's beacons ----------------------------------------------------------

/// Reading `beacons` from the minion config (one line in `config.rs`).
pub mod conf {
    use super::*;

    /// `beacons` from the config file, then from `<config_dir>/minion.d/beacons.conf`
    /// (what `beacons.save` writes; its beacons win by name), each checked:
    /// a bad beacon stops the minion at start-up with the beacon named.
    pub fn from_raw(
        config_dir: &Path,
        raw: &mut RawConfig,
    ) -> Result<Map<String, Value>, ConfError> {
        let file = raw.file().to_string();
        let bad = |file: &str, message: String| ConfError::BadValue {
            file: file.to_string(),
            key: "beacons".into(),
            message,
        };
        let mut beacons = match raw.get::<Value>("beacons")? {
            None => Map::new(),
            Some(Value::Object(m)) => m,
            Some(other) => {
                return Err(bad(
                    &file,
                    format!("must map beacon names to their config, not {other}"),
                ))
            }
        };
        let saved = saved_file(config_dir);
        if let Ok(text) = std::fs::read_to_string(&saved) {
            let shown = saved.display().to_string();
            let value: Value = serde_yaml::from_str::<Option<Value>>(&text)
                .map_err(|e| ConfError::Yaml {
                    file: shown.clone(),
                    message: e.to_string(),
                })?
                .unwrap_or(Value::Null);
            match value.get("beacons") {
                None | Some(Value::Null) => {}
                Some(Value::Object(m)) => beacons.extend(m.clone()),
                Some(other) => {
                    return Err(bad(
                        &shown,
                        format!("must map beacon names to their config, not {other}"),
                    ))
                }
            }
        }
        check(&beacons).map_err(|message| bad(&file, message))?;
        Ok(beacons)
    }

    /// Every beacon of `beacons` parses (`enabled` at the top is the switch
    /// for all of them).
    pub fn check(beacons: &Map<String, Value>) -> Result<(), String> {
        for (name, value) in beacons {
            if name == "enabled" {
                truthy(value)
                    .ok_or_else(|| format!("enabled must be true or false, not {value}"))?;
                continue;
            }
            parse_spec(name, value).map_err(|e| format!("beacon '{name}': {e}"))?;
        }
        Ok(())
    }
}

/// Where `beacons.save` writes and the config loader reads saved beacons.
pub fn saved_file(config_dir: &Path) -> PathBuf {
    config_dir.join("minion.d").join("beacons.conf")
}

// ---- the shared handle ---------------------------------------------------------------

/// The minion's beacon configuration at runtime: the config file's, as
/// `beacons.add`/`modify`/`delete`/`enable`... change it (Salt's
/// `opts['beacons']`), and the pillar's. Cheap to clone; the evaluation
/// loop and the `beacons.*` functions share it.
#[derive(Clone, Default)]
pub struct Beacons {
    shared: Arc<Mutex<Shared>>,
}

#[derive(Default)]
struct Shared {
    /// Salt's `opts['beacons']`.
    opts: Map<String, Value>,
    /// The pillar's `beacons`, as the loop last saw it.
    pillar: Map<String, Value>,
    /// Bumped on every change: the loop restarts what changed.
    generation: u64,
    /// Whether an evaluation loop runs in this process (not in `brine-call`).
    running: bool,
}

impl Beacons {
    pub fn new(opts: Map<String, Value>) -> Beacons {
        Beacons {
            shared: Arc::new(Mutex::new(Shared {
                opts,
                ..Default::default()
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Salt's `opts['beacons']` now.
    pub fn opts(&self) -> Map<String, Value> {
        self.lock().opts.clone()
    }

    /// Changes `opts['beacons']`; the loop applies it within a second.
    pub fn update<R>(&self, f: impl FnOnce(&mut Map<String, Value>) -> R) -> R {
        let mut s = self.lock();
        let out = f(&mut s.opts);
        s.generation += 1;
        out
    }

    /// Whether beacons are evaluated in this process.
    pub fn is_running(&self) -> bool {
        self.lock().running
    }

    /// Records the pillar's beacons; a change is applied by the loop.
    pub fn set_pillar(&self, pillar: Map<String, Value>) {
        let mut s = self.lock();
        if s.pillar != pillar {
            s.pillar = pillar;
            s.generation += 1;
        }
    }

    fn snapshot(&self) -> (u64, Map<String, Value>) {
        let s = self.lock();
        (s.generation, merge(&s.opts, &s.pillar))
    }
}

/// The beacons in force: the config's, then the pillar's over them by
/// name (a beacon set in pillar is the pillar's).
pub fn merge(opts: &Map<String, Value>, pillar: &Map<String, Value>) -> Map<String, Value> {
    let mut out = opts.clone();
    for (k, v) in pillar {
        out.insert(k.clone(), v.clone());
    }
    out
}

/// The pillar's `beacons`, when it is a mapping.
pub fn pillar_beacons(pillar: &Value) -> Map<String, Value> {
    match pillar.get("beacons") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    }
}

// ---- the evaluation loop -------------------------------------------------------------

/// Starts the beacon loop of a minion daemon: its beacons read this host,
/// follow the executor's pillar, and send to `client`'s masters.
pub fn start(executor: &crate::exec::Executor, client: &MasterClient, id: &str) -> JoinHandle<()> {
    let ctx = (executor.background_ctx(), tokio::runtime::Handle::current());
    let pillar_of = executor.clone();
    let env = RunEnv {
        id: id.to_string(),
        client: Some(client.clone()),
        running: executor.running(),
        pillar: Box::new(move || pillar_of.pillar()),
        inputs: Inputs::system(Some(ctx)),
        outbox: Arc::new(Mutex::new(Outbox::default())),
    };
    tokio::spawn(executor.beacons().run(env))
}

/// What the loop needs from the daemon.
pub struct RunEnv {
    pub id: String,
    /// The connected masters; `None`: events are only logged (tests).
    pub client: Option<MasterClient>,
    /// Jobs running now, for `disable_during_state_run`.
    pub running: RunningJobs,
    /// The minion's pillar now (`None` until loaded).
    pub pillar: Box<dyn Fn() -> Option<Arc<Value>> + Send + Sync>,
    pub inputs: Inputs,
    /// Events waiting for a master.
    pub outbox: Arc<Mutex<Outbox>>,
}

/// Shared by the beacons' tasks.
struct TaskEnv {
    id: String,
    client: Option<MasterClient>,
    running: RunningJobs,
    inputs: Inputs,
    outbox: Arc<Mutex<Outbox>>,
}

impl TaskEnv {
    fn queue(&self, name: &str, events: Vec<BeaconEvent>) {
        let mut outbox = self.outbox.lock().unwrap_or_else(|e| e.into_inner());
        for mut e in events {
            let tag = format!("brine/beacon/{}/{}/{}", self.id, name, e.suffix);
            e.data
                .entry("id")
                .or_insert_with(|| Value::String(self.id.clone()));
            tracing::info!(%tag, "beacon event");
            outbox.push(tag, Value::Object(e.data));
        }
        if let Some(client) = &self.client {
            outbox.flush(client);
        }
    }

    fn flush(&self) {
        if let Some(client) = &self.client {
            let mut outbox = self.outbox.lock().unwrap_or_else(|e| e.into_inner());
            if !outbox.is_empty() {
                outbox.flush(client);
            }
        }
    }

    /// A `state.*` job runs now.
    fn state_run_in_progress(&self) -> bool {
        self.running
            .list()
            .iter()
            .any(|j| j.fun == "state" || j.fun.starts_with("state."))
    }
}

/// One beacon's task and the config it was started from.
struct Instance {
    config: Value,
    task: Option<JoinHandle<()>>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

impl Beacons {
    /// Runs the beacons until the task is aborted: every second, picks up
    /// config and pillar changes (restarting only the beacons whose config
    /// changed: the others keep their state) and sends queued events.
    pub async fn run(self, env: RunEnv) {
        self.lock().running = true;
        let pillar = env.pillar;
        let tasks = Arc::new(TaskEnv {
            id: env.id,
            client: env.client,
            running: env.running,
            inputs: env.inputs,
            outbox: env.outbox,
        });
        let mut instances: BTreeMap<String, Instance> = BTreeMap::new();
        let mut seen_pillar: Option<Arc<Value>> = None;
        let mut seen_generation = None;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now_pillar = pillar();
            let changed = match (&seen_pillar, &now_pillar) {
                (Some(a), Some(b)) => !Arc::ptr_eq(a, b),
                (None, None) => false,
                _ => true,
            };
            if changed {
                self.set_pillar(
                    now_pillar
                        .as_deref()
                        .map(pillar_beacons)
                        .unwrap_or_default(),
                );
                seen_pillar = now_pillar;
            }
            let (generation, merged) = self.snapshot();
            if seen_generation != Some(generation) {
                seen_generation = Some(generation);
                reconcile(&mut instances, &merged, &tasks);
            }
            tasks.flush();
        }
    }
}

/// Starts, restarts and stops beacon tasks to match `merged`.
fn reconcile(
    instances: &mut BTreeMap<String, Instance>,
    merged: &Map<String, Value>,
    env: &Arc<TaskEnv>,
) {
    let all_enabled = merged.get("enabled").and_then(truthy).unwrap_or(true);
    if !all_enabled {
        if !instances.is_empty() {
            tracing::info!("beacons disabled");
        }
        instances.clear();
        return;
    }
    instances.retain(|name, _| merged.contains_key(name));
    for (name, config) in merged {
        if name == "enabled" {
            continue;
        }
        if instances.get(name).is_some_and(|i| &i.config == config) {
            continue;
        }
        let task = match parse_spec(name, config) {
            Err(error) => {
                tracing::warn!(beacon = %name, %error, "beacon config invalid; not running it");
                None
            }
            Ok(spec) if !spec.enabled => {
                tracing::info!(beacon = %name, "beacon disabled");
                None
            }
            Ok(spec) => {
                tracing::info!(beacon = %name, module = %spec.module, interval_s = spec.interval.as_secs_f64(), "beacon started");
                Some(tokio::spawn(run_one(spec, env.clone())))
            }
        };
        instances.insert(
            name.clone(),
            Instance {
                config: config.clone(),
                task,
            },
        );
    }
}

/// One beacon: evaluated every interval on a blocking thread, its events queued.
async fn run_one(spec: Spec, env: Arc<TaskEnv>) {
    let mut beacon = Some(spec.kind.start(&env.inputs));
    let mut next = tokio::time::Instant::now();
    loop {
        tokio::time::sleep_until(next).await;
        next += spec.interval;
        let now = tokio::time::Instant::now();
        if next < now {
            next = now + spec.interval;
        }
        if spec.disable_during_state_run && env.state_run_in_progress() {
            tracing::debug!(beacon = %spec.name, "state run in progress; beacon skipped");
            if let Some(b) = beacon.as_mut() {
                b.pause();
            }
            continue;
        }
        let Some(mut b) = beacon.take() else { return };
        let outcome = tokio::task::spawn_blocking(move || {
            let events = b.evaluate(Instant::now());
            (b, events)
        })
        .await;
        match outcome {
            Ok((b, events)) => {
                beacon = Some(b);
                if !events.is_empty() {
                    env.queue(&spec.name, events);
                }
            }
            Err(error) => {
                tracing::error!(beacon = %spec.name, %error, "beacon failed; stopped until its config changes");
                return;
            }
        }
        if spec.run_once {
            tracing::info!(beacon = %spec.name, "run_once beacon done");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn salt_shapes_parse_with_their_common_options() {
        let s = parse_spec(
            "diskusage",
            &json!([{"/": "63%"}, {"interval": 120}, {"disable_during_state_run": true}]),
        )
        .unwrap();
        assert_eq!(s.interval, Duration::from_secs(120));
        assert!(s.disable_during_state_run && s.enabled && !s.run_once);
        assert!(matches!(s.kind, Kind::Diskusage(_)));
        let s = parse_spec(
            "watch_etc",
            &json!({"files": {"/etc": {}}, "beacon_module": "inotify", "enabled": false}),
        )
        .unwrap();
        assert_eq!(s.module, "inotify");
        assert!(!s.enabled);
        assert_eq!(s.interval, DEFAULT_INTERVAL);
        assert!(parse_spec("status", &json!([])).is_ok());
        assert!(parse_spec("proc", &json!([{"processes": {"sshd": "running"}}])).is_ok());
    }

    #[test]
    fn bad_configs_say_what_is_wrong() {
        let e = parse_spec("diskusage", &json!([{"/": "lots"}])).unwrap_err();
        assert!(e.contains("'/'") && e.contains("lots"), "{e}");
        let e = parse_spec("diskusage", &json!([{"interval": -1}])).unwrap_err();
        assert!(e.contains("interval"), "{e}");
        let e = parse_spec("journald", &json!([{"services": {}}])).unwrap_err();
        assert!(e.contains("journald"), "{e}");
        let e = parse_spec("frobnicate", &json!([])).unwrap_err();
        assert!(e.contains("no beacon module 'frobnicate'"), "{e}");
        let e = parse_spec("load", &json!("x")).unwrap_err();
        assert!(e.contains("list of dicts"), "{e}");
        let e = conf::check(
            json!({"memusage": [{"percent": "50%"}], "bad": [{"beacon_module": "nope"}]})
                .as_object()
                .unwrap(),
        )
        .unwrap_err();
        assert!(e.starts_with("beacon 'bad':"), "{e}");
    }

    #[test]
    fn the_config_file_and_the_saved_file_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("minion.d")).unwrap();
        std::fs::write(
            saved_file(dir.path()),
            "beacons:\n  memusage:\n  - percent: 70%\n",
        )
        .unwrap();
        let mut raw = RawConfig::parse(
            "minion",
            "beacons:\n  memusage: [{percent: 50%}]\n  load: [{averages: {1m: [0, 2]}}]\n",
        )
        .unwrap();
        let b = conf::from_raw(dir.path(), &mut raw).unwrap();
        assert_eq!(b["memusage"], json!([{"percent": "70%"}]));
        assert!(b.contains_key("load"));
        // (the saved file's memusage would win over a bad one here)
        std::fs::remove_file(saved_file(dir.path())).unwrap();
        let mut raw = RawConfig::parse("minion", "beacons:\n  memusage: [{percent: x}]\n").unwrap();
        let e = conf::from_raw(dir.path(), &mut raw)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("option 'beacons'") && e.contains("memusage"),
            "{e}"
        );
    }

    #[test]
    fn the_pillar_wins_by_name() {
        let opts = json!({"load": [1], "memusage": [2]});
        let pillar = json!({"memusage": [3]});
        let m = merge(opts.as_object().unwrap(), pillar.as_object().unwrap());
        assert_eq!(m["memusage"], json!([3]));
        assert_eq!(m["load"], json!([1]));
    }

    /// The loop starts beacons from the config and queues their events
    /// (no master here): one per crossing, none while above; a changed
    /// config restarts the beacon; disabled, it is stopped.
    #[tokio::test(start_paused = true)]
    async fn the_loop_follows_crossings_and_config_changes() {
        let dir = tempfile::tempdir().unwrap();
        let meminfo = dir.path().join("meminfo");
        let used = |pct: u64| {
            std::fs::write(
                &meminfo,
                format!("MemTotal: 1000 kB\nMemAvailable: {} kB\n", 1000 - pct * 10),
            )
            .unwrap()
        };
        used(60);
        let beacons = Beacons::new(
            json!({"memusage": [{"percent": "50%"}, {"interval": 1}]})
                .as_object()
                .unwrap()
                .clone(),
        );
        let mut inputs = Inputs::system(None);
        inputs.proc_dir = dir.path().to_path_buf();
        let outbox = Arc::new(Mutex::new(Outbox::default()));
        let env = RunEnv {
            id: "m1".into(),
            client: None,
            running: RunningJobs::default(),
            pillar: Box::new(|| None),
            inputs,
            outbox: outbox.clone(),
        };
        let task = tokio::spawn(beacons.clone().run(env));
        let pending = || {
            outbox
                .lock()
                .unwrap()
                .pending()
                .map(|(t, d)| (t.to_string(), d.clone()))
                .collect::<Vec<_>>()
        };
        tokio::time::sleep(Duration::from_millis(5500)).await;
        assert!(beacons.is_running());
        let events = pending();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].0, "brine/beacon/m1/memusage/");
        assert_eq!(events[0].1, json!({"memusage": 60.0, "id": "m1"}));
        // below, then above again: a second crossing
        used(40);
        tokio::time::sleep(Duration::from_secs(3)).await;
        used(70);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(pending().len(), 2);
        // a higher threshold: restarted, under it, no event
        beacons.update(|o| {
            o.insert("memusage".into(), json!([{"percent": 80}, {"interval": 1}]));
        });
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(pending().len(), 2);
        // disabled: crossing the threshold gives nothing
        beacons.update(|o| {
            o.insert("enabled".into(), json!(false));
        });
        tokio::time::sleep(Duration::from_secs(2)).await;
        used(90);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(pending().len(), 2);
        task.abort();
    }

    /// A refreshed pillar (a new `Arc`) is picked up: its beacon starts,
    /// and it wins over the config's beacon of the same name.
    #[tokio::test(start_paused = true)]
    async fn pillar_beacons_follow_a_refreshed_pillar() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("meminfo"),
            "MemTotal: 1000 kB\nMemAvailable: 500 kB\n",
        )
        .unwrap();
        // The config's memusage never fires (99 %); the pillar's (10 %) does.
        let beacons = Beacons::new(
            json!({"memusage": [{"percent": "99%"}, {"interval": 1}]})
                .as_object()
                .unwrap()
                .clone(),
        );
        let pillar: Arc<Mutex<Option<Arc<Value>>>> = Arc::new(Mutex::new(None));
        let p = pillar.clone();
        let mut inputs = Inputs::system(None);
        inputs.proc_dir = dir.path().to_path_buf();
        let outbox = Arc::new(Mutex::new(Outbox::default()));
        let env = RunEnv {
            id: "m1".into(),
            client: None,
            running: RunningJobs::default(),
            pillar: Box::new(move || p.lock().unwrap().clone()),
            inputs,
            outbox: outbox.clone(),
        };
        let task = tokio::spawn(beacons.clone().run(env));
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(outbox.lock().unwrap().is_empty());
        *pillar.lock().unwrap() = Some(Arc::new(json!({
            "beacons": {"memusage": [{"percent": "10%"}, {"interval": 1}]}
        })));
        tokio::time::sleep(Duration::from_secs(3)).await;
        let tags: Vec<String> = outbox
            .lock()
            .unwrap()
            .pending()
            .map(|(t, _)| t.to_string())
            .collect();
        assert_eq!(tags, ["brine/beacon/m1/memusage/"]);
        task.abort();
    }
}
