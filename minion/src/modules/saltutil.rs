//! `saltutil.*`: the jobs running on this minion, refreshing its data, and
//! Salt's `sync_*` family (Brine's modules are compiled in: nothing to sync).

use std::path::Path;
use std::time::{Duration, SystemTime};

use brine_proto::JobId;
use serde_json::Value;

use super::sys::fnmatch;
use crate::registry::{as_str, Args, CallCtx, FunctionSpec, ModError, ModFuture};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "saltutil.find_job",
        doc: "Return the data of a running job, or {} when no job with that jid runs.\n\n\
              - jid: the job id.",
        cli_example: "brine '*' saltutil.find_job 20261123051130123456",
        run: find_job,
    },
    FunctionSpec {
        name: "saltutil.is_running",
        doc: "Return the running jobs whose function matches a glob.\n\n\
              - fun: a function name or glob (`state.*`).",
        cli_example: "brine '*' saltutil.is_running test.sleep",
        run: is_running,
    },
    FunctionSpec {
        name: "saltutil.kill_job",
        doc: "Kill a running job: the job ends with a Killed error, and the commands \
              it started are killed with their whole process group.\n\n\
              - jid: the job id.\n\n\
              Returns 'Signal 9 sent to job JID at pid PID', or '' when no such job runs.",
        cli_example: "brine '*' saltutil.kill_job 20261123051130123456",
        run: kill_job,
    },
    FunctionSpec {
        name: "saltutil.refresh_grains",
        doc: "Reload the grains (core grains and the grains file) and send them to the \
              masters if they changed. Returns True.",
        cli_example: "brine '*' saltutil.refresh_grains",
        run: refresh_grains,
    },
    FunctionSpec {
        name: "saltutil.refresh_pillar",
        doc: "Compile this minion's pillar again (on the master when connected, from the \
              local pillar_roots when masterless) and keep it in memory for pillar.get, \
              config.get, templates and I@ targets. Returns True; an error when the master \
              could not be reached (the old pillar is kept).\n\n\
              - wait, timeout, clean_cache: accepted for Salt compatibility (the refresh \
              always completes before the call returns).",
        cli_example: "brine '*' saltutil.refresh_pillar",
        run: refresh_pillar,
    },
    FunctionSpec {
        name: "saltutil.running",
        doc: "Return the jobs running on this minion (this call excluded), each as \
              {jid, fun, arg, tgt, tgt_type, user, pid, ret, master, started}.",
        cli_example: "brine '*' saltutil.running",
        run: running,
    },
    FunctionSpec {
        name: "saltutil.clear_cache",
        doc: "Remove the files of the minion's cache (cachedir), all of them or those older \
              than `days`. The spool of undelivered returns and seen jobs is kept: removing \
              it would lose returns or run a publication twice. Returns True, False when a \
              file could not be removed.\n\n\
              - days: only remove files not modified for this many days (default -1: all).",
        cli_example: "brine '*' saltutil.clear_cache days=7",
        run: clear_cache,
    },
    FunctionSpec {
        name: "saltutil.kill_all_jobs",
        doc: "Kill every job running on this minion (this call excluded), as \
              saltutil.kill_job does. Returns the list of saltutil.kill_job messages.",
        cli_example: "brine '*' saltutil.kill_all_jobs",
        run: kill_all_jobs,
    },
    FunctionSpec {
        name: "saltutil.refresh_modules",
        doc: "Reload the execution, state and grain modules. Brine's modules are built \
              into the minion, so there is nothing to reload; returns True.\n\n\
              - async, kwargs: accepted for Salt compatibility.",
        cli_example: "brine '*' saltutil.refresh_modules",
        run: refresh_modules,
    },
    FunctionSpec {
        name: "saltutil.signal_job",
        doc: "Send a signal to a running job. Brine runs jobs as tasks inside the minion, \
              so only the ending signals are meaningful: 9 (SIGKILL) and 15 (SIGTERM) end the \
              job as saltutil.kill_job does; other signals are refused.\n\n\
              - jid: the job id.\n\
              - sig: the signal number (or name, SIGTERM/TERM).\n\n\
              Returns 'Signal N sent to job JID at pid PID', or '' when no such job runs.",
        cli_example: "brine '*' saltutil.signal_job 20261123051130123456 15",
        run: signal_job,
    },
    FunctionSpec {
        name: "saltutil.term_job",
        doc: "End a running job (SIGTERM, which Brine handles as saltutil.kill_job).\n\n\
              - jid: the job id.\n\n\
              Returns 'Signal 15 sent to job JID at pid PID', or '' when no such job runs.",
        cli_example: "brine '*' saltutil.term_job 20261123051130123456",
        run: term_job,
    },
];

macro_rules! sync_spec {
    ($kind:literal, $fun:ident) => {
        FunctionSpec {
            name: concat!("saltutil.sync_", $kind),
            doc: concat!(
                "Sync custom ",
                $kind,
                " from the file server (`_",
                $kind,
                "`). Brine's modules are built into the minion, so nothing is synced: \
                 returns an empty list, Salt's return for nothing synced.\n\n\
                 - saltenv, refresh, extmod_whitelist, extmod_blacklist: accepted for Salt \
                 compatibility."
            ),
            cli_example: concat!("brine '*' saltutil.sync_", $kind),
            run: {
                fn $fun(_ctx: CallCtx, args: Args) -> ModFuture {
                    Box::pin(async move { sync_none(args, $kind).map(Into::into) })
                }
                $fun
            },
        }
    };
}

/// Salt's `sync_*` functions, one per kind of extension module, as no-ops:
/// Brine's modules are compiled into the minion, so there is never anything
/// to sync. Kept so that formulas and orchestrations calling them still run.
pub static SYNC_FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "saltutil.sync_all",
        doc: "Sync every kind of extension module from the file server. Brine's modules \
              are built into the minion, so nothing is synced: returns Salt's shape, a dict \
              of empty lists keyed by module kind (and logs that there was nothing to sync).\n\n\
              - saltenv, refresh, extmod_whitelist, extmod_blacklist: accepted for Salt \
              compatibility.",
        cli_example: "brine '*' saltutil.sync_all",
        run: sync_all,
    },
    sync_spec!("beacons", sync_beacons),
    sync_spec!("clouds", sync_clouds),
    sync_spec!("engines", sync_engines),
    sync_spec!("executors", sync_executors),
    sync_spec!("grains", sync_grains),
    sync_spec!("log_handlers", sync_log_handlers),
    sync_spec!("matchers", sync_matchers),
    sync_spec!("modules", sync_modules),
    sync_spec!("output", sync_output),
    sync_spec!("pillar", sync_pillar),
    sync_spec!("proxymodules", sync_proxymodules),
    sync_spec!("renderers", sync_renderers),
    sync_spec!("returners", sync_returners),
    sync_spec!("sdb", sync_sdb),
    sync_spec!("serializers", sync_serializers),
    sync_spec!("states", sync_states),
    sync_spec!("thorium", sync_thorium),
    sync_spec!("utils", sync_utils),
];

/// The kinds `saltutil.sync_all` reports, in Salt's order (`pillar` is only
/// synced by `sync_all` on a masterless minion, so it is not among them).
const SYNC_ALL_KINDS: &[&str] = &[
    "clouds",
    "beacons",
    "modules",
    "states",
    "sdb",
    "grains",
    "renderers",
    "returners",
    "output",
    "utils",
    "log_handlers",
    "executors",
    "proxymodules",
    "engines",
    "thorium",
    "serializers",
    "matchers",
];

/// Why every `sync_*` returns empty, for the minion's log.
const NOTHING_TO_SYNC: &str =
    "Brine's modules are built into the minion: there are no custom modules to sync";

/// Reads the `sync_*` arguments, logs why nothing happens, returns `[]`.
fn sync_none(args: Args, kind: &str) -> Result<Value, ModError> {
    let mut a = args.parser();
    a.opt("saltenv", 0)?;
    a.opt("refresh", 1)?;
    a.opt("extmod_whitelist", 2)?;
    a.opt("extmod_blacklist", 3)?;
    a.finish()?;
    tracing::info!("saltutil.sync_{kind}: {NOTHING_TO_SYNC}");
    Ok(Value::Array(Vec::new()))
}

fn sync_all(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        sync_none(args, "all")?;
        let all: serde_json::Map<String, Value> = SYNC_ALL_KINDS
            .iter()
            .map(|k| (k.to_string(), Value::Array(Vec::new())))
            .collect();
        Ok(Value::Object(all).into())
    })
}

fn refresh_modules(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        a.rest_kwargs();
        a.finish()?;
        Ok(Value::Bool(true).into())
    })
}

/// Removes the cache files older than `threshold` under `dir`, never
/// following links and leaving `keep` (directories) alone.
fn clear_dir(dir: &Path, keep: &Path, threshold: SystemTime) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        if path == keep {
            continue;
        }
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            clear_dir(&path, keep, threshold)?;
        } else if meta.modified()? < threshold {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

fn clear_cache(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let days = a.opt_f64("days", 0)?.unwrap_or(-1.0);
        a.finish()?;
        // Salt's threshold: now minus `days`; the default -1 lies in the
        // future, so every file is older.
        let now = SystemTime::now();
        let offset = Duration::from_secs_f64(days.abs() * 86400.0);
        let threshold = if days < 0.0 {
            now + offset
        } else {
            now - offset
        };
        let cachedir = ctx.config.cachedir.clone();
        let done = tokio::task::spawn_blocking(move || {
            clear_dir(&cachedir, &cachedir.join("spool"), threshold)
        })
        .await
        .map_err(|e| ModError::Failed(e.to_string()))?;
        Ok(match done {
            Ok(()) => Value::Bool(true),
            Err(error) => {
                tracing::error!("saltutil.clear_cache: {error}");
                Value::Bool(false)
            }
        }
        .into())
    })
}

/// A signal argument: a number or a name (`SIGTERM`, `TERM`).
fn signal_arg(v: &Value) -> Result<i32, ModError> {
    let text = as_str("signal", v)?;
    let name = text.trim().to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    match name {
        "KILL" => Ok(9),
        "TERM" => Ok(15),
        "INT" => Ok(2),
        "HUP" => Ok(1),
        other => other
            .parse()
            .map_err(|_| ModError::BadArguments(format!("unknown signal '{text}'"))),
    }
}

/// Ends the jobs with `jid` on behalf of signal `sig` (only the ending
/// signals mean anything to a job that is a task in the minion).
fn signal(ctx: &CallCtx, jid: JobId, sig: i32) -> Result<Value, ModError> {
    if ![9, 15, 2].contains(&sig) {
        return Err(ModError::Failed(format!(
            "Signal {sig} cannot be sent to a job: Brine runs jobs as tasks inside the \
             minion, which end on 9 (SIGKILL), 15 (SIGTERM) or 2 (SIGINT) only"
        )));
    }
    let killed = ctx.running.kill(jid);
    Ok(Value::String(match killed.first() {
        Some(j) => format!("Signal {sig} sent to job {jid} at pid {}", j.pid),
        None => String::new(),
    }))
}

fn signal_job(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let jid = jid_arg(&a.take("jid", 0)?)?;
        let sig = signal_arg(&a.take("sig", 1)?)?;
        a.finish()?;
        Ok(signal(&ctx, jid, sig)?.into())
    })
}

fn term_job(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let jid = jid_arg(&a.take("jid", 0)?)?;
        a.finish()?;
        Ok(signal(&ctx, jid, 15)?.into())
    })
}

fn kill_all_jobs(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        args.parser().finish()?;
        let others: Vec<JobId> = ctx
            .running
            .list()
            .iter()
            .map(|j| j.jid)
            .filter(|jid| *jid != ctx.jid)
            .collect();
        let mut out = Vec::new();
        for jid in others {
            out.push(signal(&ctx, jid, 9)?);
        }
        Ok(Value::Array(out).into())
    })
}

/// A jid argument; the CLI may hand it over as a string or a number.
fn jid_arg(v: &Value) -> Result<JobId, ModError> {
    let text = match v {
        Value::Number(n) if n.is_u64() => n.to_string(),
        other => as_str("jid", other)?,
    };
    text.trim()
        .parse()
        .map_err(|e| ModError::BadArguments(format!("{e}")))
}

fn running(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        args.parser().finish()?;
        let jobs: Vec<Value> = ctx
            .running
            .list()
            .iter()
            .filter(|j| j.jid != ctx.jid)
            .map(|j| j.to_value())
            .collect();
        Ok(Value::Array(jobs).into())
    })
}

fn find_job(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let jid = jid_arg(&a.take("jid", 0)?)?;
        a.finish()?;
        let found = ctx.running.find(jid);
        Ok(found
            .first()
            .map(|j| j.to_value())
            .unwrap_or_else(|| Value::Object(Default::default()))
            .into())
    })
}

fn is_running(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let fun = a.take_str("fun", 0)?;
        a.finish()?;
        let jobs: Vec<Value> = ctx
            .running
            .list()
            .iter()
            .filter(|j| j.jid != ctx.jid && fnmatch(&fun, &j.fun))
            .map(|j| j.to_value())
            .collect();
        Ok(Value::Array(jobs).into())
    })
}

fn kill_job(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let jid = jid_arg(&a.take("jid", 0)?)?;
        a.finish()?;
        let killed = ctx.running.kill(jid);
        let msg = match killed.first() {
            Some(j) => format!("Signal 9 sent to job {jid} at pid {}", j.pid),
            None => String::new(),
        };
        Ok(Value::String(msg).into())
    })
}

fn refresh_grains(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        a.ignore(&["refresh_pillar", "clean_pillar_cache"]);
        a.finish()?;
        ctx.grains.refresh();
        Ok(Value::Bool(true).into())
    })
}

fn refresh_pillar(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        a.ignore(&["wait", "timeout", "clean_cache"]);
        a.finish()?;
        ctx.pillar_store
            .refresh(&ctx)
            .await
            .map_err(ModError::Failed)?;
        Ok(Value::Bool(true).into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn jids_as_string_or_number() {
        let j: JobId = "20261123051130123456".parse().unwrap();
        assert_eq!(jid_arg(&json!("20261123051130123456")).unwrap(), j);
        assert!(jid_arg(&json!("123")).is_err());
        assert!(jid_arg(&json!([1])).is_err());
    }

    use crate::registry::{test_call, test_ctx, test_ctx_with};

    #[tokio::test]
    async fn syncs_return_salts_empty_shapes() {
        let all = test_call(
            test_ctx(),
            sync_all,
            "saltutil.sync_all",
            json!([]),
            json!({"refresh": true}),
        )
        .await
        .unwrap();
        let all = all.as_object().unwrap();
        assert_eq!(all.len(), SYNC_ALL_KINDS.len());
        assert!(all.values().all(|v| v == &json!([])));
        assert!(all.contains_key("modules") && all.contains_key("states"));
        let one = SYNC_FUNCTIONS
            .iter()
            .find(|f| f.name == "saltutil.sync_modules")
            .unwrap();
        let v = test_call(test_ctx(), one.run, one.name, json!(["base"]), json!({}))
            .await
            .unwrap();
        assert_eq!(v, json!([]));
        let e = test_call(
            test_ctx(),
            one.run,
            one.name,
            json!([]),
            json!({"bogus": 1}),
        )
        .await
        .unwrap_err();
        assert!(e.contains("unexpected keyword argument 'bogus'"), "{e}");
    }

    #[tokio::test]
    async fn clear_cache_keeps_the_spool_and_honours_days() {
        let tmp = tempfile::TempDir::new().unwrap();
        let mut ctx = test_ctx_with(Default::default());
        let mut config = (*ctx.config).clone();
        config.cachedir = tmp.path().to_path_buf();
        ctx.config = std::sync::Arc::new(config);
        let files = tmp.path().join("files/base");
        std::fs::create_dir_all(&files).unwrap();
        std::fs::write(files.join("a.sls"), "x").unwrap();
        std::fs::create_dir_all(tmp.path().join("spool/m/returns")).unwrap();
        std::fs::write(tmp.path().join("spool/m/returns/1"), "r").unwrap();
        // Fresh files survive days=1.
        let v = test_call(
            ctx.clone(),
            clear_cache,
            "saltutil.clear_cache",
            json!([1]),
            json!({}),
        )
        .await
        .unwrap();
        assert_eq!(v, json!(true));
        assert!(files.join("a.sls").exists());
        let v = test_call(
            ctx,
            clear_cache,
            "saltutil.clear_cache",
            json!([]),
            json!({}),
        )
        .await
        .unwrap();
        assert_eq!(v, json!(true));
        assert!(!files.join("a.sls").exists());
        assert!(tmp.path().join("spool/m/returns/1").exists());
    }

    #[tokio::test]
    async fn signals_end_jobs_only_with_ending_signals() {
        assert_eq!(signal_arg(&json!("SIGTERM")).unwrap(), 15);
        assert_eq!(signal_arg(&json!(9)).unwrap(), 9);
        let e = test_call(
            test_ctx(),
            signal_job,
            "saltutil.signal_job",
            json!(["20261123051130123456", 10]),
            json!({}),
        )
        .await
        .unwrap_err();
        assert!(e.contains("Signal 10 cannot be sent"), "{e}");
        // No such job: Salt's empty string.
        let v = test_call(
            test_ctx(),
            term_job,
            "saltutil.term_job",
            json!(["20261123051130123456"]),
            json!({}),
        )
        .await
        .unwrap();
        assert_eq!(v, json!(""));
        let v = test_call(
            test_ctx(),
            kill_all_jobs,
            "saltutil.kill_all_jobs",
            json!([]),
            json!({}),
        )
        .await
        .unwrap();
        assert_eq!(v, json!([]));
    }
}
