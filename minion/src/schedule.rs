//! The minion's scheduler loop: jobs from the minion config `schedule`,
//! the pillar `schedule` and runtime additions (`schedule.add`), run as
//! local functions through the executor (`state.highstate`/`state.apply`
//! gives periodic highstate). Every run is a job: it gets a jid, shows in
//! `saltutil.running`, and its return is recorded in the master's job
//! cache (as `brine-call` does); returns made while no master is connected
//! wait in a bounded queue and are sent once one is. Runtime items and
//! every job's last run persist in `cachedir/schedule.json`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use brine_proto::jid::JidGenerator;
use brine_proto::targeting::TargetType;
use brine_proto::{Job, JobReturn};
use brine_schedule::{now_ms, RunRecord, Scheduler, Source};
use serde_json::{Map, Value};
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::client::MasterClient;
use crate::config::MinionConfig;
use crate::exec::Executor;

/// Returns of scheduled runs kept while no master is connected; the oldest
/// are dropped past it (each run's outcome is in `schedule.json` too).
const MAX_UNRECORDED: usize = 256;
/// How often the loop looks at the pillar and the unrecorded returns
/// when no job is due sooner.
const IDLE_TICK: Duration = Duration::from_secs(1);

/// Returns of scheduled runs not yet recorded on a master: the job's
/// arguments and its return.
type Unrecorded = VecDeque<(Vec<Value>, Map<String, Value>, JobReturn)>;

/// The running scheduler of one minion: what `schedule.*` functions change.
#[derive(Clone)]
pub struct ScheduleHandle {
    inner: Arc<Mutex<Scheduler>>,
    wake: Arc<Notify>,
}

impl ScheduleHandle {
    pub fn new(s: Scheduler) -> ScheduleHandle {
        ScheduleHandle {
            inner: Arc::new(Mutex::new(s)),
            wake: Arc::new(Notify::new()),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Scheduler> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Has the loop look again now (after a change).
    pub fn poke(&self) {
        self.wake.notify_one();
    }
}

fn handles() -> &'static Mutex<HashMap<String, ScheduleHandle>> {
    static H: OnceLock<Mutex<HashMap<String, ScheduleHandle>>> = OnceLock::new();
    H.get_or_init(Default::default)
}

/// The running scheduler of the minion `id` in this process (the daemon
/// registers it); `None` in `brine-call`, where `schedule.*` edits the file.
pub fn handle_for(id: &str) -> Option<ScheduleHandle> {
    handles()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(id)
        .cloned()
}

/// The schedule file of a minion.
pub fn path(config: &MinionConfig) -> std::path::PathBuf {
    config.cachedir.join("schedule.json")
}

/// The minion config's `schedule` (a mapping of items).
pub fn config_items(config: &MinionConfig) -> Map<String, Value> {
    match config.other_options.get("schedule") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    }
}

/// The pillar's `schedule`.
pub fn pillar_items(pillar: Option<&Value>) -> Map<String, Value> {
    match pillar.and_then(|p| p.get("schedule")) {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    }
}

/// Opens the scheduler and starts its loop; bad items are logged (naming
/// the item and the key) and left out.
pub fn start(
    config: Arc<MinionConfig>,
    executor: Executor,
    client: MasterClient,
) -> tokio::task::JoinHandle<()> {
    let now = now_ms();
    let mut s = match Scheduler::open(Some(path(&config)), now) {
        Ok(s) => s,
        Err(error) => {
            warn!(%error, "schedule file unreadable: starting with an empty schedule");
            let _ = std::fs::rename(path(&config), path(&config).with_extension("json.bad"));
            Scheduler::open(Some(path(&config)), now).unwrap_or_else(|_| {
                Scheduler::open(None, now).unwrap_or_else(|_| unreachable!("in memory"))
            })
        }
    };
    for error in s.set_static(Source::Config, &config_items(&config), now) {
        warn!(%error, "schedule item from the config ignored");
    }
    // Saved at once: a due time that passes while the minion is down is
    // then known at the next start (catch-up or skip).
    if let Err(error) = s.save() {
        warn!(%error, "schedule not saved");
    }
    let handle = ScheduleHandle::new(s);
    handles()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(config.id.clone(), handle.clone());
    tokio::spawn(run_loop(config, executor, client, handle))
}

async fn run_loop(
    config: Arc<MinionConfig>,
    executor: Executor,
    client: MasterClient,
    handle: ScheduleHandle,
) {
    let jids = Arc::new(JidGenerator::new());
    let unrecorded: Arc<Mutex<Unrecorded>> = Default::default();
    let mut seen_pillar: Option<Arc<Value>> = None;
    let mut flushing: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        let now = now_ms();
        // The pillar's items, when the pillar changed.
        let pillar = executor.pillar();
        if pillar.as_ref().map(Arc::as_ptr) != seen_pillar.as_ref().map(Arc::as_ptr) {
            let items = pillar_items(pillar.as_deref());
            for error in handle.lock().set_static(Source::Pillar, &items, now) {
                warn!(%error, "schedule item from the pillar ignored");
            }
            seen_pillar = pillar;
        }
        let runs = {
            let mut s = handle.lock();
            let runs = s.due(now);
            if !runs.is_empty() {
                if let Err(error) = s.save() {
                    warn!(%error, "schedule not saved");
                }
            }
            runs
        };
        for run in runs {
            let job = Job {
                jid: jids.next(),
                tgt: config.id.clone(),
                tgt_type: TargetType::List,
                fun: run.function.clone(),
                arg: run.args.clone(),
                kwarg: run.kwargs.clone(),
                user: "schedule".into(),
                timeout: 0,
                master: String::new(),
                issued_ms: now,
            };
            info!(job = %run.name, fun = %run.function, jid = %job.jid, reason = run.reason, "scheduled run");
            let (executor, handle, unrecorded) =
                (executor.clone(), handle.clone(), unrecorded.clone());
            tokio::spawn(async move {
                let started = now_ms();
                let ret = executor.run(&job).await;
                {
                    let mut s = handle.lock();
                    s.finished(
                        &run.name,
                        RunRecord {
                            due: run.due,
                            started,
                            ended: now_ms(),
                            success: ret.success && ret.retcode == 0,
                            retcode: ret.retcode,
                            jid: Some(job.jid.to_string()),
                            attempt: run.attempt,
                        },
                    );
                    if let Err(error) = s.save() {
                        warn!(%error, "schedule not saved");
                    }
                }
                let mut q = unrecorded.lock().unwrap_or_else(|p| p.into_inner());
                if q.len() >= MAX_UNRECORDED {
                    q.pop_front();
                    warn!(
                        "too many scheduled returns not yet recorded on a master: oldest dropped"
                    );
                }
                q.push_back((job.arg, job.kwarg, ret));
                drop(q);
                handle.poke();
            });
        }
        // Recording waits on a master: never in the way of due runs.
        if flushing.as_ref().is_none_or(|f| f.is_finished()) {
            let (client, unrecorded) = (client.clone(), unrecorded.clone());
            flushing = Some(tokio::spawn(
                async move { flush(&client, &unrecorded).await },
            ));
        }
        let now = now_ms();
        let wake = handle.lock().next_wake(now);
        let idle = now + IDLE_TICK.as_millis() as i64;
        let until = wake.map_or(idle, |w| w.min(idle)).max(now);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis((until - now) as u64)) => {}
            _ = handle.wake.notified() => {}
        }
    }
}

/// Records the returns waiting for a master, oldest first; stops at the
/// first that cannot be (no master: they wait for the next round).
async fn flush(client: &MasterClient, unrecorded: &Mutex<Unrecorded>) {
    if !client.is_connected() {
        return;
    }
    loop {
        let next = unrecorded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .front()
            .cloned();
        let Some((arg, kwarg, ret)) = next else {
            return;
        };
        match client.record_as(arg, kwarg, ret, Some("schedule")).await {
            Ok(jid) => {
                info!(%jid, "scheduled run recorded on the master");
                unrecorded
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .pop_front();
            }
            Err(crate::client::RequestError::Master(reason)) => {
                warn!(%reason, "master refused a scheduled run's return: dropped");
                unrecorded
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .pop_front();
            }
            Err(error) => {
                info!(%error, "scheduled run's return kept until a master takes it");
                return;
            }
        }
    }
}
