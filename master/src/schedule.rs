//! The master's scheduler (Salt's master `schedule:`): items that publish a
//! job to a target (`tgt`, `tgt_type`) or run a runner, on the shared
//! engine (`brine_schedule`). A job item's run is a real job, recorded in
//! the job cache with user `schedule`; it counts as failed when a minion
//! did not return or returned non-zero, and is retried as the item says.
//! `brine-run schedule.*` changes items at runtime; items and their last
//! runs persist in `cachedir/schedule.json`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use brine_pki::channel::read_frame;
use brine_proto::targeting::TargetType;
use brine_proto::CliReply;
use brine_schedule::{Due, Scheduler};
use serde_json::{json, Map, Value};

use crate::state::Master;

/// The scheduler as the master holds it.
pub struct MasterSchedule {
    pub inner: Mutex<Scheduler>,
}

impl MasterSchedule {
    pub fn load(config: &crate::config::MasterConfig) -> MasterSchedule {
        let path = config.cachedir.join("schedule.json");
        let s = Scheduler::load(Some(&path), &config.schedule, crate::store::now_ms());
        for w in &s.warnings {
            tracing::warn!("{w}");
        }
        MasterSchedule {
            inner: Mutex::new(s),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Scheduler> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Ticks every second, starting what is due.
pub async fn run_loop(master: Arc<Master>) {
    let due = master.schedule.lock().start(crate::store::now_ms());
    save(&master);
    for d in due {
        spawn_run(&master, d);
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let due = master.schedule.lock().tick(crate::store::now_ms());
        if due.is_empty() {
            continue;
        }
        save(&master);
        for d in due {
            spawn_run(&master, d);
        }
    }
}

fn save(master: &Master) {
    if let Err(error) = master.schedule.lock().save() {
        tracing::error!(%error, "cannot save the schedule's state");
    }
}

fn spawn_run(master: &Arc<Master>, due: Due) {
    master.schedule.lock().started(&due, crate::store::now_ms());
    crate::counters::Counters::bump(&master.counters.schedule_runs);
    let m = master.clone();
    tokio::spawn(async move {
        tracing::info!(schedule = %due.name, fun = %due.function, reason = due.reason, attempt = due.attempt, "scheduled run");
        let ok = match &due.tgt {
            Some(tgt) => run_job(&m, &due, tgt).await,
            None => run_runner(&m, &due).await,
        };
        if !ok {
            tracing::warn!(schedule = %due.name, fun = %due.function, "scheduled run failed");
        }
        m.schedule
            .lock()
            .finished(&due.name, ok, crate::store::now_ms());
        save(&m);
    });
}

/// Publishes the item's job and waits for it: ok when every targeted
/// minion returned with exit code 0.
async fn run_job(master: &Arc<Master>, due: &Due, tgt: &str) -> bool {
    let tgt_type: TargetType = match due.tgt_type.as_deref().map(str::parse) {
        None => TargetType::Glob,
        Some(Ok(t)) => t,
        Some(Err(e)) => {
            tracing::error!(schedule = %due.name, "tgt_type: {e}");
            return false;
        }
    };
    let req = crate::jobs::PublishRequest {
        tgt: tgt.to_string(),
        tgt_type,
        fun: due.function.clone(),
        arg: due.args.clone(),
        kwarg: due.kwargs.clone(),
        timeout: None,
        detach: false,
        user: "schedule".into(),
    };
    let (mut rd, mut wr) = tokio::io::duplex(1 << 20);
    let m = master.clone();
    let task = tokio::spawn(async move { crate::jobs::publish(&m, req, &mut wr).await });
    let mut ok = true;
    loop {
        match read_frame::<CliReply, _>(&mut rd).await {
            Ok(Some(CliReply::Return(r))) => ok &= r.success && r.retcode == 0,
            Ok(Some(CliReply::Done { missing, unstored })) => {
                ok &= missing.is_empty() && unstored.is_empty();
                break;
            }
            Ok(Some(CliReply::NoMatch)) => {
                tracing::warn!(schedule = %due.name, %tgt, "no minion matches the scheduled job's target");
                ok = false;
                break;
            }
            Ok(Some(CliReply::Error { message })) => {
                tracing::error!(schedule = %due.name, %message, "scheduled job not published");
                ok = false;
                break;
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    drop(rd);
    let _ = task.await;
    ok
}

async fn run_runner(master: &Arc<Master>, due: &Due) -> bool {
    let m = master.clone();
    let (fun, arg, kwarg) = (due.function.clone(), due.args.clone(), due.kwargs.clone());
    let jid = master.jids.next();
    crate::events::fire_run_new(&master.events, jid, &fun, &arg, &kwarg, "schedule");
    let f = fun.clone();
    let reply =
        tokio::task::spawn_blocking(move || crate::runners::run(&m, "schedule", &f, &arg, &kwarg))
            .await
            .unwrap_or_else(|e| CliReply::Error {
                message: format!("runner failed: {e}"),
            });
    crate::events::fire_run_ret(&master.events, jid, &fun, "schedule", &reply);
    match reply {
        CliReply::Value { value } => value.get("retcode").and_then(Value::as_i64).unwrap_or(0) == 0,
        _ => false,
    }
}

/// `brine-run schedule.<fun>`.
pub fn runner(
    master: &Arc<Master>,
    fun: &str,
    arg: &[Value],
    kwarg: &Map<String, Value>,
) -> Result<Value, String> {
    let now = crate::store::now_ms();
    let name = || {
        crate::cmdb::text_arg(arg, kwarg, 0, "name")
            .ok_or_else(|| format!("{fun} needs a job name"))
    };
    let item_of = |kw: &Map<String, Value>| -> Value {
        Value::Object(
            kw.iter()
                .filter(|(k, _)| k.as_str() != "name" && !k.starts_with("__"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    };
    let out = match fun {
        "schedule.list" => {
            let items = master.schedule.lock().list();
            return Ok(json!({"schedule": items, "enabled": master.schedule.lock().enabled()}));
        }
        "schedule.add" => {
            let n = name()?;
            master
                .schedule
                .lock()
                .add(&n, item_of(kwarg), now)
                .map_err(|e| e.to_string())?;
            json!({"result": true, "comment": format!("Added job: {n} to schedule."), "changes": {n.clone(): "added"}})
        }
        "schedule.modify" => {
            let n = name()?;
            let changes = item_of(kwarg);
            let diff = master
                .schedule
                .lock()
                .modify(&n, changes.as_object().unwrap_or(&Map::new()), now)
                .map_err(|e| e.to_string())?;
            json!({"result": true, "comment": format!("Modified job: {n} in schedule."), "changes": {n.clone(): diff}})
        }
        "schedule.delete" => {
            let n = name()?;
            master.schedule.lock().delete(&n).map_err(|e| e.to_string())?;
            json!({"result": true, "comment": format!("Deleted Job {n} from schedule."), "changes": {n.clone(): "removed"}})
        }
        "schedule.enable_job" | "schedule.disable_job" => {
            let n = name()?;
            let on = fun == "schedule.enable_job";
            master
                .schedule
                .lock()
                .set_job_enabled(&n, on, now)
                .map_err(|e| e.to_string())?;
            let word = if on { "Enabled" } else { "Disabled" };
            json!({"result": true, "comment": format!("{word} Job {n} in schedule."), "changes": {n.clone(): if on {"enabled"} else {"disabled"}}})
        }
        "schedule.enable" | "schedule.disable" => {
            let on = fun == "schedule.enable";
            master.schedule.lock().set_enabled(on);
            let word = if on { "Enabled" } else { "Disabled" };
            json!({"result": true, "comment": format!("{word} schedule on master."), "changes": {}})
        }
        "schedule.run_job" => {
            let n = name()?;
            let force = kwarg.get("force").is_some_and(|v| v.as_bool().unwrap_or(v.as_str() == Some("True")));
            let due = master.schedule.lock().run_now(&n, force).map_err(|e| e.to_string())?;
            spawn_on_runtime(master, due);
            json!({"result": true, "comment": format!("Scheduling Job {n} on master.")})
        }
        other => return Err(format!("'{other}' is not a schedule runner (list, add, modify, delete, enable_job, disable_job, enable, disable, run_job)")),
    };
    save(master);
    Ok(out)
}

/// Runners run on a blocking thread: start the run on the runtime.
fn spawn_on_runtime(master: &Arc<Master>, due: Due) {
    let m = master.clone();
    let handle = tokio::runtime::Handle::current();
    let _guard = handle.enter();
    spawn_run(&m, due);
}
