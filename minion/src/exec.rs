//! The executor: runs one job per tokio task, concurrently, and turns every
//! outcome into a `JobReturn` the way Salt's minion does: a function's value
//! and retcode, or an error string with retcode 1 (unknown function, bad
//! arguments, a failure, a panic, a kill).
//!
//! A job's `timeout` is how long the caller waits (as in Salt); the minion
//! kills a job that runs past `max_job_seconds`, and runs at most
//! `process_count_max` jobs at once (the rest wait for a slot). Commands
//! that take a `timeout` argument (`cmd.*`) enforce it themselves, and
//! `saltutil.kill_job` ends a job: its task is aborted, which kills the
//! process groups of the commands it started, and its cancel flag is set,
//! which stops a state run before its next state (renders are bounded by
//! their instruction budget, `brine_states::render` `RENDER_FUEL`).

use std::any::Any;
use std::sync::{Arc, Mutex, MutexGuard};

use brine_proto::jid::JidGenerator;
use brine_proto::targeting::TargetType;
use brine_proto::{ErrorKind, ErrorReturn, Job, JobId, JobReturn};
use serde_json::{json, Map, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::config::MinionConfig;
use crate::grains::GrainsHandle;
use crate::link::MasterClient;
use crate::pillar_store::PillarStore;
use crate::registry::{self, Args, CallCtx, ModError, ModFuture, ModResult};

/// Salt's `EX_GENERIC`: the retcode of a return that carries an error.
const EX_GENERIC: i32 = 1;

/// Runs functions for jobs (from a master) and local calls (`brine-call`).
#[derive(Clone)]
pub struct Executor {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<MinionConfig>,
    grains: GrainsHandle,
    running: RunningJobs,
    jids: JidGenerator,
    master: Option<MasterClient>,
    pillar: PillarStore,
    /// The beacons' config at runtime (`beacons.*`, the beacon loop).
    beacons: crate::beacons::Beacons,
    /// Slots for jobs running at once (`process_count_max`).
    slots: Arc<tokio::sync::Semaphore>,
}

impl Executor {
    /// An executor without masters (`brine-call`).
    pub fn new(config: Arc<MinionConfig>, grains: GrainsHandle) -> Self {
        Executor::build(config, grains, None)
    }

    /// An executor whose functions reach the masters through `client`
    /// (file server, pillar).
    pub fn connected(
        config: Arc<MinionConfig>,
        grains: GrainsHandle,
        client: MasterClient,
    ) -> Self {
        Executor::build(config, grains, Some(client))
    }

    fn build(
        config: Arc<MinionConfig>,
        grains: GrainsHandle,
        master: Option<MasterClient>,
    ) -> Self {
        brine_process::set_max_output_bytes(config.max_output_bytes);
        let slots = Arc::new(tokio::sync::Semaphore::new(config.process_count_max.max(1)));
        let beacons = crate::beacons::Beacons::new(config.beacons.clone());
        Executor {
            inner: Arc::new(Inner {
                slots,
                beacons,
                config,
                grains,
                running: RunningJobs::default(),
                jids: JidGenerator::new(),
                master,
                pillar: PillarStore::default(),
            }),
        }
    }

    /// The jobs running now (`saltutil.running`, `find_job`, `kill_job`).
    pub fn running(&self) -> RunningJobs {
        self.inner.running.clone()
    }

    /// Runs a published job to its return. The function runs in a task of
    /// its own: a panic in it becomes an error return, and other jobs go on.
    pub async fn run(&self, job: &Job) -> JobReturn {
        let started_ms = now_ms();
        let outcome = match registry::lookup(&job.fun) {
            None => Outcome::Unknown,
            Some(spec) => {
                let args = Args::from_job(job.arg.clone(), job.kwarg.clone());
                let (kill_tx, kill_rx) = watch::channel(false);
                let entry = RunningJob::from_job(job, &args);
                let _registered = self.inner.running.register(entry, kill_tx);
                let _slot = match self.inner.slots.clone().try_acquire_owned() {
                    Ok(slot) => slot,
                    Err(_) => {
                        warn!(jid = %job.jid, limit = self.inner.config.process_count_max,
                            "process_count_max jobs already running; this one waits for a slot");
                        match self.inner.slots.clone().acquire_owned().await {
                            Ok(slot) => slot,
                            Err(_) => {
                                return build_return(
                                    &self.inner.config.id,
                                    job,
                                    Outcome::Killed,
                                    started_ms,
                                    now_ms(),
                                )
                            }
                        }
                    }
                };
                info!(jid = %job.jid, fun = %job.fun, user = %job.user, "job started");
                let ctx = self.ctx(job.jid);
                let cancel = ctx.cancel.clone();
                let limit = self.inner.config.max_job_seconds;
                match tokio::time::timeout(
                    limit,
                    supervise(spec.name, (spec.run)(ctx, args), kill_rx, cancel.clone()),
                )
                .await
                {
                    Ok(outcome) => outcome,
                    Err(_) => {
                        // Dropping the supervisor aborted the task; the flag
                        // stops a state run on its blocking thread.
                        cancel.cancel();
                        warn!(jid = %job.jid, secs = limit.as_secs_f64(), "job ran past max_job_seconds; killed");
                        Outcome::TimedOut(limit)
                    }
                }
            }
        };
        let ret = build_return(&self.inner.config.id, job, outcome, started_ms, now_ms());
        debug!(jid = %job.jid, fun = %job.fun, retcode = ret.retcode, "job finished");
        ret
    }

    /// A call context reading the minion's in-memory pillar.
    fn ctx(&self, jid: JobId) -> CallCtx {
        CallCtx {
            config: self.inner.config.clone(),
            grains: self.inner.grains.clone(),
            running: self.inner.running.clone(),
            jid,
            fixed_pillar: None,
            pillar_store: self.inner.pillar.clone(),
            master: self.inner.master.clone(),
            cancel: Default::default(),
            beacons: self.inner.beacons.clone(),
        }
    }

    /// A call context for work the minion does on its own (the status
    /// beacon's `status.*` calls): not a job, no jid of a job.
    pub fn background_ctx(&self) -> CallCtx {
        self.ctx(self.inner.jids.next())
    }

    /// The beacons' runtime config, which the beacon loop follows.
    pub fn beacons(&self) -> crate::beacons::Beacons {
        self.inner.beacons.clone()
    }

    /// Loads the pillar if none is held yet (on connecting to a master, so
    /// that the master's pillar cache for `I@` targets fills and the first
    /// job does not wait for it).
    pub async fn warm_pillar(&self) {
        let ctx = self.ctx(self.inner.jids.next());
        self.inner.pillar.get_or_load(&ctx).await;
    }

    /// The pillar held now, for matching `I@` targets.
    pub fn pillar(&self) -> Option<Arc<Value>> {
        self.inner.pillar.current()
    }

    /// Runs `fun` here and now, as `brine-call` does: a job with a fresh jid
    /// targeted at this minion only.
    pub async fn call(&self, fun: &str, arg: Vec<Value>, kwarg: Map<String, Value>) -> JobReturn {
        let job = Job {
            jid: self.inner.jids.next(),
            tgt: self.inner.config.id.clone(),
            tgt_type: TargetType::Glob,
            fun: fun.to_string(),
            arg,
            kwarg,
            user: local_user(),
            timeout: 0,
            master: String::new(),
            issued_ms: now_ms(),
        };
        self.run(&job).await
    }
}

// ---- running jobs -------------------------------------------------------------------

/// One job in progress, as `saltutil.running` shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct RunningJob {
    pub jid: JobId,
    pub fun: String,
    pub arg: Vec<Value>,
    pub kwarg: Map<String, Value>,
    pub tgt: String,
    pub tgt_type: String,
    pub user: String,
    /// The master that published it; empty for a local call.
    pub master: String,
    /// The minion's pid (Brine runs jobs in tasks, not processes).
    pub pid: u32,
    pub started_ms: i64,
}

impl RunningJob {
    fn from_job(job: &Job, args: &Args) -> RunningJob {
        RunningJob {
            jid: job.jid,
            fun: job.fun.clone(),
            arg: args.arg.clone(),
            kwarg: args.kwarg.clone(),
            tgt: job.tgt.clone(),
            tgt_type: job.tgt_type.as_str().to_string(),
            user: job.user.clone(),
            master: job.master.clone(),
            pid: std::process::id(),
            started_ms: now_ms(),
        }
    }

    /// Salt's shape for a running job (the minion's proc data): `jid`, `fun`,
    /// `arg` (keyword arguments packed last as a `__kwarg__` dict, as Salt
    /// publishes them), `tgt`, `tgt_type`, `user`, `pid`, `ret`; plus
    /// `master` and `started`.
    pub fn to_value(&self) -> Value {
        let mut arg = self.arg.clone();
        if !self.kwarg.is_empty() {
            let mut kw = self.kwarg.clone();
            kw.insert("__kwarg__".into(), Value::Bool(true));
            arg.push(Value::Object(kw));
        }
        let mut v = json!({
            "jid": self.jid.to_string(),
            "fun": self.fun,
            "arg": arg,
            "tgt": self.tgt,
            "tgt_type": self.tgt_type,
            "user": self.user,
            "pid": self.pid,
            "ret": "",
            "started": format_started(self.started_ms),
        });
        if !self.master.is_empty() {
            v["master"] = Value::String(self.master.clone());
        }
        v
    }
}

/// Salt's time format in job listings: `2026, Nov 23 05:11:30.123456`.
fn format_started(ms: i64) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_millis_opt(ms).single() {
        Some(t) => t.format("%Y, %b %d %H:%M:%S%.6f").to_string(),
        None => ms.to_string(),
    }
}

struct Slot {
    key: u64,
    job: RunningJob,
    kill: watch::Sender<bool>,
}

#[derive(Default)]
struct Table {
    next_key: u64,
    slots: Vec<Slot>,
}

/// The jobs running on this minion, shared by the executor and `saltutil.*`.
/// Two masters may use the same jid for different jobs: entries are not
/// keyed by jid, and a jid may name several.
#[derive(Clone, Default)]
pub struct RunningJobs {
    inner: Arc<Mutex<Table>>,
}

impl RunningJobs {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every running job, oldest first.
    pub fn list(&self) -> Vec<RunningJob> {
        self.lock().slots.iter().map(|s| s.job.clone()).collect()
    }

    /// The running jobs with this jid.
    pub fn find(&self, jid: JobId) -> Vec<RunningJob> {
        self.lock()
            .slots
            .iter()
            .filter(|s| s.job.jid == jid)
            .map(|s| s.job.clone())
            .collect()
    }

    /// Ends every running job with this jid: its task is aborted, which kills
    /// the process groups of the commands it runs; its return says `Killed`.
    /// Returns the jobs signalled.
    pub fn kill(&self, jid: JobId) -> Vec<RunningJob> {
        let table = self.lock();
        let mut killed = Vec::new();
        for s in table.slots.iter().filter(|s| s.job.jid == jid) {
            s.kill.send_replace(true);
            killed.push(s.job.clone());
        }
        killed
    }

    fn register(&self, job: RunningJob, kill: watch::Sender<bool>) -> Registered {
        let mut table = self.lock();
        table.next_key += 1;
        let key = table.next_key;
        table.slots.push(Slot { key, job, kill });
        Registered {
            jobs: self.clone(),
            key,
        }
    }
}

/// Removes a job from the table when it ends, however it ends.
struct Registered {
    jobs: RunningJobs,
    key: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.jobs.lock().slots.retain(|s| s.key != self.key);
    }
}

// ---- supervision --------------------------------------------------------------------

/// How a function call ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    Done(ModResult),
    Panicked(String),
    Killed,
    TimedOut(std::time::Duration),
    Unknown,
}

/// Aborts the task when dropped: a job whose caller went away does not run on.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `fut` in its own task until it finishes, panics, or `kill` turns true.
pub(crate) async fn supervise(
    name: &'static str,
    fut: ModFuture,
    mut kill: watch::Receiver<bool>,
    cancel: brine_states::Cancel,
) -> Outcome {
    let mut task = AbortOnDrop(tokio::spawn(registry::with_fun(name, fut)));
    let killed = async move {
        if kill.wait_for(|k| *k).await.is_err() {
            // The table dropped the sender: no kill can come any more.
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        joined = &mut task.0 => match joined {
            Ok(result) => Outcome::Done(result),
            Err(e) if e.is_panic() => {
                let message = panic_message(e.into_panic());
                warn!(fun = name, %message, "function panicked; the minion goes on");
                Outcome::Panicked(message)
            }
            Err(_) => Outcome::Killed,
        },
        _ = killed => {
            cancel.cancel();
            task.0.abort();
            // Wait until the task's future is dropped: its commands are dead then.
            let _ = (&mut task.0).await;
            info!(fun = name, "job killed");
            Outcome::Killed
        }
    }
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// Salt's rule: a function that returns a dict with `result` or `success`
/// false failed, even with retcode 0.
fn reports_failure(value: &Value) -> bool {
    match value {
        Value::Object(m) => ["result", "success"]
            .iter()
            .any(|k| m.get(*k) == Some(&Value::Bool(false))),
        _ => false,
    }
}

/// Salt's answer to an unknown function, with the nearest name if one is close.
fn unknown_function_message(fun: &str) -> String {
    let mut msg = format!("'{fun}' is not available.");
    if let Some(near) = nearest_function(fun) {
        msg.push_str(&format!(" Did you mean '{near}'?"));
    }
    msg
}

fn nearest_function(fun: &str) -> Option<&'static str> {
    let limit = (fun.len() / 4).clamp(1, 3);
    registry::functions()
        .iter()
        .map(|f| (levenshtein(fun, f.name), f.name))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, n)| n)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Turns an outcome into the return sent to the master. Errors carry Salt's
/// text as the return value too (what the CLI prints), with retcode 1.
pub(crate) fn build_return(
    id: &str,
    job: &Job,
    outcome: Outcome,
    started_ms: i64,
    finished_ms: i64,
) -> JobReturn {
    let error = |kind: ErrorKind, message: String, shown: String| JobReturn {
        jid: job.jid,
        id: id.to_string(),
        fun: job.fun.clone(),
        ret: Value::String(shown),
        retcode: EX_GENERIC,
        success: false,
        error: Some(ErrorReturn { kind, message }),
        started_ms,
        finished_ms,
    };
    match outcome {
        Outcome::Done(Ok(out)) => {
            let retcode = if out.retcode == 0 && reports_failure(&out.value) {
                EX_GENERIC
            } else {
                out.retcode
            };
            JobReturn {
                jid: job.jid,
                id: id.to_string(),
                fun: job.fun.clone(),
                ret: out.value,
                retcode,
                success: retcode == 0,
                error: None,
                started_ms,
                finished_ms,
            }
        }
        Outcome::Done(Err(ModError::BadArguments(m))) => {
            let doc = registry::lookup(&job.fun)
                .map(|s| format!("\n\n{}", registry::doc_text(s)))
                .unwrap_or_default();
            let shown = format!("Passed invalid arguments to {}: {m}{doc}", job.fun);
            error(ErrorKind::BadArguments, m, shown)
        }
        Outcome::Done(Err(ModError::Failed(m))) => {
            let shown = format!("ERROR: {m}");
            error(ErrorKind::ExecutionFailed, m, shown)
        }
        Outcome::Done(Err(ModError::Timeout(m))) => error(ErrorKind::Timeout, m.clone(), m),
        Outcome::Panicked(m) => {
            let shown = format!("The minion function caused an exception: panicked: {m}");
            error(ErrorKind::Panic, m, shown)
        }
        Outcome::Killed => {
            let m = format!("Job {} was killed by saltutil.kill_job", job.jid);
            error(ErrorKind::Killed, m.clone(), m)
        }
        Outcome::TimedOut(limit) => {
            let m = format!(
                "Job {} was killed after running {} seconds (max_job_seconds)",
                job.jid,
                limit.as_secs_f64()
            );
            error(ErrorKind::Timeout, m.clone(), m)
        }
        Outcome::Unknown => {
            let m = unknown_function_message(&job.fun);
            error(ErrorKind::UnknownFunction, m.clone(), m)
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The name of the user this process runs as (for local calls).
fn local_user() -> String {
    let uid = nix::unistd::geteuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(u)) => u.name,
        _ => uid.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::time::{Duration, Instant};

    use brine_proto::conf::RawConfig;
    use brine_proto::Grains;

    fn executor() -> Executor {
        let config =
            MinionConfig::from_raw(Path::new("/nonexistent/brine"), RawConfig::empty()).unwrap();
        Executor::new(Arc::new(config), GrainsHandle::from_grains(Grains::new()))
    }

    fn kw(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[tokio::test]
    async fn ping_returns_true_with_the_minion_id() {
        let ex = executor();
        let ret = ex.call("test.ping", vec![], Map::new()).await;
        assert_eq!(ret.ret, json!(true));
        assert_eq!(
            (ret.retcode, ret.success, ret.error.clone()),
            (0, true, None)
        );
        assert_eq!(ret.id, ex.inner.config.id);
        assert_eq!(ret.fun, "test.ping");
        assert!(ret.finished_ms >= ret.started_ms);
        assert!(
            ex.running().list().is_empty(),
            "finished jobs leave the table"
        );
    }

    #[tokio::test]
    async fn unknown_function_is_named_like_salt() {
        let ret = executor()
            .call("no.such_function", vec![], Map::new())
            .await;
        assert_eq!(ret.ret, json!("'no.such_function' is not available."));
        assert_eq!(ret.retcode, 1);
        assert!(!ret.success);
        assert_eq!(ret.error.unwrap().kind, ErrorKind::UnknownFunction);
        let ret = executor().call("test.pnig", vec![], Map::new()).await;
        assert_eq!(
            ret.ret,
            json!("'test.pnig' is not available. Did you mean 'test.ping'?")
        );
    }

    #[tokio::test]
    async fn bad_arguments_say_what_and_show_the_doc() {
        let ret = executor()
            .call("test.echo", vec![json!("a"), json!("b")], Map::new())
            .await;
        let err = ret.error.clone().unwrap();
        assert_eq!(err.kind, ErrorKind::BadArguments);
        assert_eq!(
            err.message,
            "test.echo() takes 1 positional argument but 2 were given"
        );
        let shown = ret.ret.as_str().unwrap();
        assert!(
            shown.starts_with("Passed invalid arguments to test.echo: test.echo() takes"),
            "{shown}"
        );
        assert!(shown.contains("CLI Example:"), "{shown}");
        assert_eq!(ret.retcode, 1);
        let ret = executor()
            .call("test.echo", vec![json!("a")], kw(json!({"bogus": 1})))
            .await;
        assert_eq!(
            ret.error.unwrap().message,
            "test.echo() got an unexpected keyword argument 'bogus'"
        );
    }

    #[tokio::test]
    async fn pub_kwargs_are_ignored() {
        let ret = executor()
            .call(
                "test.echo",
                vec![json!("x")],
                kw(json!({"__pub_jid": "1", "__pub_fun": "test.echo"})),
            )
            .await;
        assert_eq!(ret.ret, json!("x"));
    }

    #[tokio::test]
    async fn a_panic_becomes_an_error_return() {
        let (_tx, rx) = watch::channel(false);
        let fut: ModFuture = Box::pin(async {
            if std::hint::black_box(true) {
                panic!("boom in a module");
            }
            let r: ModResult = Ok(Value::Null.into());
            r
        });
        let outcome = supervise("test.panic", fut, rx, Default::default()).await;
        let Outcome::Panicked(m) = &outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(m, "boom in a module");
        let job = Job {
            jid: JidGenerator::new().next(),
            tgt: "*".into(),
            tgt_type: TargetType::Glob,
            fun: "test.panic".into(),
            arg: vec![],
            kwarg: Map::new(),
            user: "root".into(),
            timeout: 5,
            master: "m".into(),
            issued_ms: 0,
        };
        let ret = build_return("m1", &job, outcome, 1, 2);
        assert_eq!(ret.error.unwrap().kind, ErrorKind::Panic);
        assert_eq!(ret.retcode, 1);
        assert!(ret.ret.as_str().unwrap().contains("boom in a module"));
        // The runtime (and so the minion) is fine afterwards.
        assert_eq!(
            executor().call("test.true", vec![], Map::new()).await.ret,
            json!(true)
        );
    }

    #[tokio::test]
    async fn retcodes_and_salt_failure_dicts() {
        let ex = executor();
        let ret = ex.call("test.false", vec![], Map::new()).await;
        assert_eq!(
            (ret.ret, ret.retcode, ret.success),
            (json!(false), 1, false)
        );
        let ret = ex.call("test.retcode", vec![json!(3)], Map::new()).await;
        assert_eq!((ret.ret, ret.retcode), (json!(true), 3));
        let ret = ex
            .call("test.outputter", vec![json!({"result": false})], Map::new())
            .await;
        assert_eq!(
            ret.retcode, 1,
            "a dict with result: False fails, as in Salt"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_job_does_not_block_another() {
        let ex = executor();
        let slow = {
            let ex = ex.clone();
            tokio::spawn(async move { ex.call("test.sleep", vec![json!(2)], Map::new()).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let t = Instant::now();
        let ping = ex.call("test.ping", vec![], Map::new()).await;
        assert_eq!(ping.ret, json!(true));
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
        let running = ex.running().list();
        assert_eq!(running.len(), 1);
        assert_eq!(running[0].fun, "test.sleep");
        let v = running[0].to_value();
        assert_eq!(v["arg"], json!([2]));
        assert_eq!(v["pid"], json!(std::process::id()));
        assert_eq!(slow.await.unwrap().ret, json!(true));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn saltutil_sees_and_kills_a_running_job() {
        let ex = executor();
        let slow = {
            let ex = ex.clone();
            tokio::spawn(async move { ex.call("test.sleep", vec![json!(30)], Map::new()).await })
        };
        let jid = loop {
            if let Some(j) = ex.running().list().first() {
                break j.jid;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let running = ex.call("saltutil.running", vec![], Map::new()).await;
        let list = running.ret.as_array().unwrap();
        assert_eq!(list.len(), 1, "the asking job is not listed: {list:?}");
        assert_eq!(list[0]["jid"], json!(jid.to_string()));
        assert_eq!(list[0]["fun"], json!("test.sleep"));
        let found = ex
            .call(
                "saltutil.find_job",
                vec![json!(jid.to_string())],
                Map::new(),
            )
            .await;
        assert_eq!(found.ret["fun"], json!("test.sleep"));
        let t = Instant::now();
        let killed = ex
            .call(
                "saltutil.kill_job",
                vec![json!(jid.to_string())],
                Map::new(),
            )
            .await;
        assert_eq!(
            killed.ret,
            json!(format!(
                "Signal 9 sent to job {jid} at pid {}",
                std::process::id()
            ))
        );
        let ret = slow.await.unwrap();
        assert!(t.elapsed() < Duration::from_secs(5));
        assert_eq!(ret.error.unwrap().kind, ErrorKind::Killed);
        assert_eq!(ret.retcode, 1);
        assert!(ex.running().list().is_empty());
        let none = ex
            .call(
                "saltutil.find_job",
                vec![json!(jid.to_string())],
                Map::new(),
            )
            .await;
        assert_eq!(none.ret, json!({}));
    }

    #[test]
    fn edit_distance() {
        assert_eq!(levenshtein("test.pnig", "test.ping"), 2);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("cmd.run", "cmd.run"), 0);
    }
}
