//! `schedule.*`: the minion's scheduler (Salt's names, arguments and return
//! shapes). On a running minion they change its live schedule; from
//! `brine-call` they edit `cachedir/schedule.json`, which the daemon reads
//! at its next start. Runtime changes are saved at once (Salt's
//! `persist=True`); items from the config and pillar come back on restart.

use brine_schedule::{now_ms, ops, Scheduler, Source};
use serde_json::{Map, Value};

use crate::registry::{Args, CallCtx, FunctionSpec, ModError, ModFuture};
use crate::schedule as sched;

macro_rules! spec {
    ($name:literal, $doc:literal, $ex:literal, $run:ident) => {
        FunctionSpec {
            name: $name,
            doc: $doc,
            cli_example: $ex,
            run: $run,
        }
    };
}

pub static FUNCTIONS: &[FunctionSpec] = &[
    spec!("schedule.list", "List the jobs in the minion's schedule, as `{'schedule': {...}}` (YAML text by default).\n\n\
        - show_all: also show runtime details (`_next_fire_time`, `_source`).\n\
        - show_disabled: include disabled jobs (default True).\n\
        - return_yaml: return YAML text (default True) or the mapping.",
        "brine '*' schedule.list", list),
    spec!("schedule.add", "Add a job to the schedule and save it.\n\n\
        - name: the job's name.\n\
        - function: the function to run; args, kwargs: its arguments.\n\
        - seconds, minutes, hours, days, cron, when, once: when it runs (one of them).\n\
        - splay, maxrunning, run_on_start, enabled, timezone, jid_include, return_job: as Salt.\n\
        - retry: Brine: `{count, window, delay}` retries of a failed run.\n\
        - catch_up: Brine: seconds; a run missed while the minion was down is run at start when within it.",
        "brine '*' schedule.add job1 function='test.ping' seconds=3600", add),
    spec!("schedule.modify", "Change a job of the schedule: the given keys replace the job's.\n\n\
        - name: the job's name.\n\
        - function, seconds, cron, ...: the keys to change (as `schedule.add`).",
        "brine '*' schedule.modify job1 function='test.ping' seconds=3600", modify),
    spec!("schedule.delete", "Delete a job from the schedule.\n\n- name: the job's name.",
        "brine '*' schedule.delete job1", delete),
    spec!("schedule.purge", "Delete every job from the schedule.\n\n- persist: accepted for Salt compatibility.",
        "brine '*' schedule.purge", purge),
    spec!("schedule.enable_job", "Enable a job of the schedule.\n\n- name: the job's name.",
        "brine '*' schedule.enable_job job1", enable_job),
    spec!("schedule.disable_job", "Disable a job of the schedule (it stays listed).\n\n- name: the job's name.",
        "brine '*' schedule.disable_job job1", disable_job),
    spec!("schedule.enable", "Enable the whole schedule.\n\n- persist: accepted for Salt compatibility.",
        "brine '*' schedule.enable", enable),
    spec!("schedule.disable", "Disable the whole schedule (jobs stay listed; `run_job` still runs them).\n\n- persist: accepted for Salt compatibility.",
        "brine '*' schedule.disable", disable),
    spec!("schedule.run_job", "Run a job of the schedule now (even when disabled; `maxrunning` still holds).\n\n\
        - name: the job's name.\n- force: accepted for Salt compatibility.",
        "brine '*' schedule.run_job job1", run_job),
    spec!("schedule.save", "Save the schedule's runtime jobs and last runs to `cachedir/schedule.json` (changes are saved at once anyway).",
        "brine '*' schedule.save", save),
    spec!("schedule.reload", "Read the schedule again from the minion config and the pillar held now.",
        "brine '*' schedule.reload", reload),
    spec!("schedule.is_enabled", "Whether the schedule is enabled; with a name, that job's item (`{}` when none).\n\n- name: a job's name (optional).",
        "brine '*' schedule.is_enabled job1", is_enabled),
    spec!("schedule.job_status", "A job's item with its runtime state: `_next_fire_time`, `_last_run`, `_last_result`, `_runs`, `_skipped`, `_running`.\n\n- name: the job's name.",
        "brine '*' schedule.job_status job1", job_status),
    spec!("schedule.show_next_fire_time", "When a job runs next.\n\n- name: the job's name.",
        "brine '*' schedule.show_next_fire_time job1", show_next_fire_time),
];

/// Runs `f` on the minion's live scheduler (saved after, loop woken), or,
/// without a running minion in this process, on the schedule file.
fn with_scheduler<R>(
    ctx: &CallCtx,
    f: impl FnOnce(&mut Scheduler, i64) -> R,
) -> Result<R, ModError> {
    let now = now_ms();
    let out = match sched::handle_for(&ctx.config.id) {
        Some(h) => {
            let mut s = h.lock();
            let out = f(&mut s, now);
            s.save().map_err(|e| ModError::Failed(e.to_string()))?;
            drop(s);
            h.poke();
            out
        }
        None => {
            let mut s = Scheduler::open(Some(sched::path(&ctx.config)), now)
                .map_err(|e| ModError::Failed(e.to_string()))?;
            s.set_static(Source::Config, &sched::config_items(&ctx.config), now);
            let out = f(&mut s, now);
            s.save().map_err(|e| ModError::Failed(e.to_string()))?;
            out
        }
    };
    Ok(out)
}

/// Reads `name` (required) and the item's keys; `__pub_*` keys are gone already.
fn name_and_item(args: Args) -> Result<(String, Map<String, Value>), ModError> {
    let mut a = args.parser();
    let name = a.take_str("name", 0)?;
    let kwargs = a.rest_kwargs();
    a.finish()?;
    Ok((name, kwargs))
}

fn name_only(args: Args) -> Result<String, ModError> {
    let mut a = args.parser();
    let name = a.take_str("name", 0)?;
    a.ignore(&["persist", "force", "offline"]);
    a.finish()?;
    Ok(name)
}

fn no_args(args: Args) -> Result<(), ModError> {
    let mut a = args.parser();
    a.ignore(&["persist", "offline"]);
    a.finish()
}

fn list(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let show_all = a.opt_bool("show_all", 0)?.unwrap_or(false);
        let show_disabled = a.opt_bool("show_disabled", 1)?.unwrap_or(true);
        let return_yaml = a.opt_bool("return_yaml", 2)?.unwrap_or(true);
        a.ignore(&["where", "offline"]);
        a.finish()?;
        with_scheduler(&ctx, |s, _| {
            ops::list(s, show_all, show_disabled, return_yaml)
        })
        .map(Into::into)
    })
}

fn add(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let (name, kw) = name_and_item(args)?;
        with_scheduler(&ctx, |s, now| ops::add(s, &name, kw, now)).map(Into::into)
    })
}

fn modify(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let (name, kw) = name_and_item(args)?;
        with_scheduler(&ctx, |s, now| ops::modify(s, &name, kw, now)).map(Into::into)
    })
}

fn delete(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let name = name_only(args)?;
        with_scheduler(&ctx, |s, _| ops::delete(s, &name)).map(Into::into)
    })
}

fn purge(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        no_args(args)?;
        with_scheduler(&ctx, |s, _| ops::purge(s)).map(Into::into)
    })
}

fn enable_job(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let name = name_only(args)?;
        with_scheduler(&ctx, |s, now| ops::enable_job(s, &name, true, now)).map(Into::into)
    })
}

fn disable_job(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let name = name_only(args)?;
        with_scheduler(&ctx, |s, now| ops::enable_job(s, &name, false, now)).map(Into::into)
    })
}

fn enable(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        no_args(args)?;
        with_scheduler(&ctx, |s, _| ops::enable(s, true)).map(Into::into)
    })
}

fn disable(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        no_args(args)?;
        with_scheduler(&ctx, |s, _| ops::enable(s, false)).map(Into::into)
    })
}

fn run_job(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let name = name_only(args)?;
        if sched::handle_for(&ctx.config.id).is_none() {
            return Err(ModError::Failed(
                "schedule.run_job needs the running minion: use brine <id> schedule.run_job".into(),
            ));
        }
        with_scheduler(&ctx, |s, _| ops::run_job(s, &name)).map(Into::into)
    })
}

fn save(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        no_args(args)?;
        with_scheduler(&ctx, |_, _| ()).map(|()| {
            serde_json::json!({"comment": "Schedule (non-pillar items) saved.", "result": true})
                .into()
        })
    })
}

fn reload(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        no_args(args)?;
        let pillar = ctx.pillar().await;
        let config_items = sched::config_items(&ctx.config);
        let pillar_items = sched::pillar_items(Some(&pillar));
        let errors = with_scheduler(&ctx, |s, now| {
            let mut e = s.set_static(Source::Config, &config_items, now);
            e.extend(s.set_static(Source::Pillar, &pillar_items, now));
            e
        })?;
        let comment: Vec<String> =
            std::iter::once("Reloaded schedule from config and pillar.".to_string())
                .chain(errors.iter().map(|e| e.to_string()))
                .collect();
        Ok(serde_json::json!({"comment": comment, "result": errors.is_empty()}).into())
    })
}

fn is_enabled(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.opt_str("name", 0)?;
        a.finish()?;
        with_scheduler(&ctx, |s, _| ops::is_enabled(s, name.as_deref())).map(Into::into)
    })
}

fn job_status(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let name = name_only(args)?;
        with_scheduler(&ctx, |s, _| ops::job_status(s, &name)).map(Into::into)
    })
}

fn show_next_fire_time(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let name = name_only(args)?;
        with_scheduler(&ctx, |s, _| ops::show_next_fire_time(s, &name)).map(Into::into)
    })
}
