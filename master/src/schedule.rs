//! The master's scheduler (Salt's master `schedule:`): items that publish a
//! job to a target (`tgt`, `tgt_type`) or run a runner, on the shared
//! engine (`brine_schedule`). A job item's run is a real job, recorded in
//! the job cache with user `schedule`; it counts as failed when a minion
//! did not return or returned non-zero, and is retried as the item says.
//! `brine-run schedule.*` changes items at runtime; items and their last
//! runs persist in `cachedir/schedule.json`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use brine_proto::targeting::TargetType;
use brine_proto::CliReply;
use brine_schedule::{ops, Run, RunRecord, Scheduler, Source};
use serde_json::{Map, Value};

use crate::state::Master;

/// The scheduler as the master holds it.
pub struct MasterSchedule {
    pub inner: Mutex<Scheduler>,
}

impl MasterSchedule {
    pub fn load(config: &crate::config::MasterConfig) -> MasterSchedule {
        let path = config.cachedir.join("schedule.json");
        let now = crate::store::now_ms();
        let mut s = match Scheduler::open(Some(path.clone()), now) {
            Ok(s) => s,
            Err(error) => {
                tracing::error!(%error, path = %path.display(), "schedule state unreadable; starting afresh");
                let _ = std::fs::rename(&path, path.with_extension("json.bad"));
                Scheduler::open(Some(path), now)
                    .unwrap_or_else(|_| Scheduler::open(None, now).expect("an in-memory scheduler"))
            }
        };
        for error in s.set_static(Source::Config, &config.schedule, now) {
            tracing::warn!("schedule: {error}");
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
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let due = master.schedule.lock().due(crate::store::now_ms());
        if due.is_empty() {
            continue;
        }
        save(&master);
        for run in due {
            spawn_run(&master, run);
        }
    }
}

fn save(master: &Master) {
    if let Err(error) = master.schedule.lock().save() {
        tracing::error!(%error, "cannot save the schedule's state");
    }
}

fn spawn_run(master: &Arc<Master>, run: Run) {
    crate::counters::Counters::bump(&master.counters.schedule_runs);
    let m = master.clone();
    tokio::spawn(async move {
        tracing::info!(schedule = %run.name, fun = %run.function, reason = run.reason, attempt = run.attempt, "scheduled run");
        let started = crate::store::now_ms();
        let (ok, jid) = match &run.tgt {
            Some(tgt) => run_job(&m, &run, tgt).await,
            None => (run_runner(&m, &run).await, None),
        };
        if !ok {
            tracing::warn!(schedule = %run.name, fun = %run.function, "scheduled run failed");
        }
        let record = RunRecord {
            due: run.due,
            started,
            ended: crate::store::now_ms(),
            success: ok,
            retcode: if ok { 0 } else { 1 },
            jid,
            attempt: run.attempt,
        };
        m.schedule.lock().finished(&run.name, record);
        save(&m);
    });
}

/// Publishes the item's job and waits for it: ok when every targeted
/// minion returned with exit code 0; the jid.
async fn run_job(master: &Arc<Master>, due: &Run, tgt: &str) -> (bool, Option<String>) {
    let tgt_type: TargetType = match due.tgt_type.as_deref().map(str::parse) {
        None => TargetType::Glob,
        Some(Ok(t)) => t,
        Some(Err(e)) => {
            tracing::error!(schedule = %due.name, "tgt_type: {e}");
            return (false, None);
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
    let mut ok = true;
    let mut jid = None;
    crate::jobs::publish_each(master, req, |frame| match frame {
        CliReply::Published { jid: j, .. } => {
            jid = Some(j.to_string());
            true
        }
        CliReply::Return(r) => {
            ok &= r.success && r.retcode == 0;
            true
        }
        CliReply::Done { missing, unstored } => {
            ok &= missing.is_empty() && unstored.is_empty();
            false
        }
        CliReply::NoMatch => {
            tracing::warn!(schedule = %due.name, %tgt, "no minion matches the scheduled job's target");
            ok = false;
            false
        }
        CliReply::Error { message } => {
            tracing::error!(schedule = %due.name, %message, "scheduled job not published");
            ok = false;
            false
        }
        _ => true,
    })
    .await;
    (ok, jid)
}

async fn run_runner(master: &Arc<Master>, due: &Run) -> bool {
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

/// `brine-run schedule.<fun>`: Salt's schedule functions, with the
/// engine's own return shapes (`brine_schedule::ops`).
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
    let flag = |k: &str, default: bool| {
        kwarg.get(k).map_or(default, |v| {
            v.as_bool()
                .unwrap_or_else(|| v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true")))
        })
    };
    let item: Map<String, Value> = kwarg
        .iter()
        .filter(|(k, _)| k.as_str() != "name" && !k.starts_with("__"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut s = master.schedule.lock();
    let out = match fun {
        // JSON by default here (brine-run prints it with any outputter).
        "schedule.list" => ops::list(&s, flag("show_all", true), flag("show_disabled", true), flag("return_yaml", false)),
        "schedule.add" => {
            let n = name()?;
            ops::validate(&n, &item)?;
            ops::add(&mut s, &n, item, now)
        }
        "schedule.modify" => ops::modify(&mut s, &name()?, item, now),
        "schedule.delete" => ops::delete(&mut s, &name()?),
        "schedule.purge" => ops::purge(&mut s),
        "schedule.enable_job" => ops::enable_job(&mut s, &name()?, true, now),
        "schedule.disable_job" => ops::enable_job(&mut s, &name()?, false, now),
        "schedule.enable" => ops::enable(&mut s, true),
        "schedule.disable" => ops::enable(&mut s, false),
        "schedule.run_job" => ops::run_job(&mut s, &name()?),
        "schedule.job_status" => ops::job_status(&s, &name()?),
        "schedule.show_next_fire_time" => ops::show_next_fire_time(&s, &name()?),
        other => {
            return Err(format!(
                "'{other}' is not a schedule runner (list, add, modify, delete, purge, enable_job, disable_job, enable, disable, run_job, job_status, show_next_fire_time)"
            ))
        }
    };
    drop(s);
    save(master);
    if out.get("result") == Some(&Value::Bool(false)) {
        return Err(out
            .get("comment")
            .and_then(Value::as_str)
            .unwrap_or("failed")
            .to_string());
    }
    Ok(out)
}
