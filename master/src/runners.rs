//! Master-side runners for `brine-run`, named as Salt's.

use brine_proto::{CliReply, JobId, MissingReason};
use serde_json::{json, Map, Value};

use crate::fileserver::{Backend, ServeError};
use crate::state::Master;

/// Runners this master offers, with a one-line summary (for `brine-run -d`).
pub const RUNNERS: &[(&str, &str)] = &[
    (
        "alert.send",
        "send an alert to the configured channels (title=, severity=, impact=, observed=, expected=, links=, context=, minion=, channel=)",
    ),
    (
        "audit.list",
        "the audit log, newest first: jobs, runners and key changes, allowed and denied (since=1d, user=, action=job|runner|key, outcome=allowed|denied, limit=)",
    ),
    (
        "schedule.list",
        "the master's schedule, with each job's next and last run (schedule.add/modify/delete NAME key=value..., enable_job/disable_job/run_job NAME, enable/disable)",
    ),
    (
        "event.send",
        "fire an event on this master's bus (TAG [DATA as JSON/YAML dict]; data= or key=value pairs)",
    ),
    (
        "state.event",
        "stream the master's events live (TAGMATCH glob; count=N, pretty=True, quiet=True)",
    ),
    (
        "fileserver.envs",
        "the file server's environments (backend= to ask only some backends)",
    ),
    (
        "fileserver.file_list",
        "files of an environment (saltenv=, default base; backend=)",
    ),
    (
        "fileserver.update",
        "fetch the gitfs remotes now and serve what they hold (backend=)",
    ),
    (
        "jobs.active",
        "jobs still running: within their timeout and not returned by every minion",
    ),
    (
        "jobs.list_jobs",
        "recent jobs, newest first (search_function=, search_target=, start_time=, end_time=, user=, count=)",
    ),
    (
        "jobs.lookup_jid",
        "show every return of a job and which minions did not return",
    ),
    (
        "jobs.print_job",
        "a job's details (function, target, user, time) and every return",
    ),
    (
        "manage.alived",
        "accepted minions connected to a master of the cluster (no job sent)",
    ),
    (
        "manage.down",
        "accepted minions connected to no master of the cluster (show_master=True: where they were last seen)",
    ),
    (
        "manage.not_present",
        "accepted minions connected to no master of the cluster",
    ),
    (
        "manage.present",
        "accepted minions connected to a master of the cluster",
    ),
    (
        "manage.status",
        "accepted minions split into up and down (show_master=True: which master each is connected to)",
    ),
    (
        "mine.get",
        "the mine data of a function for the minions a target selects (tgt, fun, tgt_type=glob)",
    ),
    (
        "state.orchestrate",
        "run an orchestration SLS from the file roots on the master (mods; saltenv=, pillar=, test=True); alias state.orch, state.sls",
    ),
    (
        "pillar.show_pillar",
        "compile a minion's pillar now, as the minion would get it (minion=ID; saltenv=)",
    ),
    (
        "manage.up",
        "accepted minions connected to a master of the cluster (show_master=True: to which)",
    ),
];

/// Runs the runner `fun` for `user` (the CLI's user: jobs an orchestration
/// publishes are recorded as theirs).
pub fn run(
    master: &std::sync::Arc<Master>,
    user: &str,
    fun: &str,
    arg: &[Value],
    kwarg: &Map<String, Value>,
) -> CliReply {
    let result = match fun {
        f if crate::orchestrate::NAMES.contains(&f) => {
            crate::orchestrate::orchestrate(master, user, arg, kwarg)
        }
        f if f.starts_with("inventory.") => match crate::cmdb::run(master, f, arg, kwarg) {
            Some(r) => r,
            None => Err(format!(
                "'{fun}' is not an available runner; inventory has: {}",
                crate::cmdb::RUNNERS
                    .iter()
                    .map(|r| r.0)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        },
        "audit.list" => crate::audit::list(master, kwarg),
        f if f.starts_with("schedule.") => crate::schedule::runner(master, f, arg, kwarg),
        "event.send" => event_send(master, user, arg, kwarg),
        "state.event" => {
            Err("state.event streams: run it with brine-run, which reads the stream".into())
        }
        "fileserver.envs" => fileserver_envs(master, kwarg),
        "fileserver.file_list" => fileserver_file_list(master, arg, kwarg),
        "fileserver.update" => fileserver_update(master, kwarg),
        "jobs.lookup_jid" => lookup_jid(master, arg, kwarg),
        "jobs.list_jobs" => list_jobs(master, kwarg, None),
        "jobs.active" => list_jobs(master, kwarg, Some(crate::store::now_ms())),
        "jobs.print_job" => print_job(master, arg, kwarg),
        "manage.status" => status(master, kwarg),
        "alert.send" => crate::alerts::send_runner(master, arg, kwarg),
        "manage.up" | "manage.present" | "manage.alived" => {
            status(master, kwarg).map(|s| s["up"].clone())
        }
        "manage.down" | "manage.not_present" => status(master, kwarg).map(|s| s["down"].clone()),
        "pillar.show_pillar" => show_pillar(master, arg, kwarg),
        "mine.get" => mine_get(master, arg, kwarg),
        _ => Err(format!(
            "'{fun}' is not an available runner; available: {}",
            RUNNERS.iter().map(|r| r.0).collect::<Vec<_>>().join(", ")
        )),
    };
    match result {
        Ok(value) => CliReply::Value { value },
        Err(message) => CliReply::Error { message },
    }
}

fn arg_str(arg: &[Value], kwarg: &Map<String, Value>, name: &str) -> Option<String> {
    kwarg.get(name).or_else(|| arg.first()).map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// Salt's `pillar.show_pillar`: the pillar `minion` gets, compiled now with
/// the grains in the inventory; render errors under `_errors`, as Salt.
fn show_pillar(
    master: &Master,
    arg: &[Value],
    kwarg: &Map<String, Value>,
) -> Result<Value, String> {
    let id = arg_str(arg, kwarg, "minion")
        .ok_or("pillar.show_pillar: missing required argument 'minion' (a minion id)")?;
    if master.grains(&id).is_none() && !master.accepted_ids().contains(&id) {
        return Err(format!("pillar.show_pillar: no accepted minion '{id}'"));
    }
    let saltenv = kwarg.get("saltenv").and_then(Value::as_str);
    let compiled = master.compile_pillar(&id, saltenv);
    let mut pillar = compiled.pillar;
    if !compiled.errors.is_empty() {
        if let Value::Object(map) = &mut pillar {
            map.insert("_errors".into(), json!(compiled.errors));
        }
    }
    Ok(pillar)
}

/// The job `jid=` (or the first argument) names, with its returns; errors
/// name the runner.
fn job_named(
    master: &Master,
    runner: &str,
    arg: &[Value],
    kwarg: &Map<String, Value>,
) -> Result<(JobId, crate::store::JobRecord, Vec<brine_proto::JobReturn>), String> {
    let jid_s =
        arg_str(arg, kwarg, "jid").ok_or(format!("{runner}: missing required argument 'jid'"))?;
    let jid: JobId = jid_s.parse().map_err(|e| format!("{runner}: {e}"))?;
    let (rec, returns) = block(master.store.lookup_job(jid))
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{runner}: no job with jid {jid} in the job cache"))?;
    Ok((jid, rec, returns))
}

fn lookup_jid(master: &Master, arg: &[Value], kwarg: &Map<String, Value>) -> Result<Value, String> {
    let (jid, rec, returns) = job_named(master, "jobs.lookup_jid", arg, kwarg)?;
    let mut out = Map::new();
    for r in &returns {
        out.insert(r.id.clone(), r.ret.clone());
    }
    // Salt's `missing=True`, always on: who was expected and did not return, and why.
    let missing: Vec<&String> = rec
        .expected
        .iter()
        .filter(|id| !out.contains_key(*id))
        .collect();
    for id in missing {
        let reason = if !master.is_connected(id) {
            MissingReason::NotConnected
        } else if master.is_running(jid, id) {
            MissingReason::StillRunning
        } else {
            MissingReason::TimedOut
        };
        out.insert(
            id.clone(),
            Value::String(format!("Minion did not return. [{}]", reason.describe())),
        );
    }
    Ok(Value::Object(out))
}

/// `mine.get TGT FUN [TGT_TYPE]`: read by the master itself, so neither
/// `mine_get` nor a function's `allow_tgt` applies (as Salt's runner).
fn mine_get(master: &Master, arg: &[Value], kwarg: &Map<String, Value>) -> Result<Value, String> {
    let get = |i: usize, name: &str| {
        kwarg
            .get(name)
            .or_else(|| arg.get(i))
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
    };
    let tgt = get(0, "tgt").ok_or("mine.get: tgt is required")?;
    let fun = get(1, "fun").ok_or("mine.get: fun is required")?;
    let tgt_type = match get(2, "tgt_type") {
        None => brine_proto::targeting::TargetType::Glob,
        Some(t) => t
            .parse()
            .map_err(|_| format!("mine.get: unknown tgt_type '{t}'"))?,
    };
    block(crate::mine::get(master, None, &tgt, &fun, tgt_type))
}

/// Runners run on a blocking thread (clisock): store reads wait here.
fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Handle::current().block_on(f)
}

/// A time given to `start_time=`/`end_time=`: unix seconds, or a date and
/// time as Salt's job listing prints them or as ISO 8601 (local time when
/// no zone is given).
fn parse_time(name: &str, v: &Value) -> Result<i64, String> {
    if let Some(n) = v.as_f64() {
        return Ok((n * 1000.0) as i64);
    }
    let text = v.as_str().unwrap_or_default().trim();
    if let Ok(n) = text.parse::<f64>() {
        return Ok((n * 1000.0) as i64);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    for fmt in [
        "%Y, %b %d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(text, fmt) {
            if let Some(t) = naive.and_local_timezone(chrono::Local).earliest() {
                return Ok(t.timestamp_millis());
            }
        }
    }
    if let Ok(day) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        if let Some(t) = day
            .and_hms_opt(0, 0, 0)
            .and_then(|d| d.and_local_timezone(chrono::Local).earliest())
        {
            return Ok(t.timestamp_millis());
        }
    }
    Err(format!(
        "{name}: cannot read '{text}' as a time (unix seconds, 2026-12-04 10:30:00, or ISO 8601)"
    ))
}

fn start_time_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y, %b %d %H:%M:%S%.6f")
                .to_string()
        })
        .unwrap_or_default()
}

/// Salt's `jobs.list_jobs` (and `jobs.active` when `active_at` is set).
fn list_jobs(
    master: &Master,
    kwarg: &Map<String, Value>,
    active_at: Option<i64>,
) -> Result<Value, String> {
    let limit = kwarg
        .get("count")
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .unwrap_or(100) as usize;
    let text = |k: &str| kwarg.get(k).and_then(Value::as_str).map(str::to_string);
    let filter = crate::store::JobFilter {
        function: text("search_function"),
        target: text("search_target"),
        start_ms: kwarg
            .get("start_time")
            .map(|v| parse_time("start_time", v))
            .transpose()?,
        end_ms: kwarg
            .get("end_time")
            .map(|v| parse_time("end_time", v))
            .transpose()?,
        user: text("user"),
        minion: text("search_minion"),
        active_at_ms: active_at,
    };
    let jobs = block(master.store.list_jobs(&filter, limit)).map_err(|e| e.to_string())?;
    let mut out = Map::new();
    for summary in jobs {
        let rec = &summary.record;
        let j = &rec.job;
        let mut entry = json!({
            "Function": j.fun,
            "Arguments": j.arg,
            "Target": j.tgt,
            "Target-type": j.tgt_type.as_str(),
            "User": j.user,
            "StartTime": start_time_text(j.issued_ms),
            "Expected": rec.expected.len(),
            "Returned": summary.returned,
        });
        let publisher = if summary.master.is_empty() {
            master.config.id.clone()
        } else {
            summary.master.clone()
        };
        entry["Master"] = json!(publisher);
        if active_at.is_some() {
            entry["Running"] = json!(rec.expected.len().saturating_sub(summary.returned));
        }
        out.insert(j.jid.to_string(), entry);
    }
    Ok(Value::Object(out))
}

/// Salt's `jobs.print_job`: the job's details with its returns under
/// `Result`, keyed by jid.
fn print_job(master: &Master, arg: &[Value], kwarg: &Map<String, Value>) -> Result<Value, String> {
    let (jid, rec, returns) = job_named(master, "jobs.print_job", arg, kwarg)?;
    let j = &rec.job;
    let mut result = Map::new();
    for r in &returns {
        result.insert(
            r.id.clone(),
            json!({ "return": r.ret, "retcode": r.retcode, "success": r.success }),
        );
    }
    Ok(json!({
        jid.to_string(): {
            "Function": j.fun,
            "Arguments": j.arg,
            "Target": j.tgt,
            "Target-type": j.tgt_type.as_str(),
            "User": j.user,
            "StartTime": start_time_text(j.issued_ms),
            "Minions": rec.expected,
            "Result": result,
        }
    }))
}

/// `backend=` as Salt takes it: a list or one comma-separated string.
fn backends(kwarg: &Map<String, Value>) -> Result<Option<Vec<Backend>>, String> {
    let names: Vec<String> = match kwarg.get("backend") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.split(',').map(|x| x.trim().to_string()).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().unwrap_or_default().to_string())
            .collect(),
        Some(other) => return Err(format!("backend: {other} is not a backend name")),
    };
    names
        .iter()
        .filter(|n| !n.is_empty())
        .map(|n| {
            Backend::parse(n)
                .ok_or_else(|| format!("unknown file server backend '{n}' (known: roots, gitfs)"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn fileserver_envs(master: &Master, kwarg: &Map<String, Value>) -> Result<Value, String> {
    let only = backends(kwarg)?;
    Ok(json!(master.files.envs_in(only.as_deref())))
}

fn fileserver_file_list(
    master: &Master,
    arg: &[Value],
    kwarg: &Map<String, Value>,
) -> Result<Value, String> {
    let saltenv = arg_str(arg, kwarg, "saltenv").unwrap_or_else(|| "base".into());
    let only = backends(kwarg)?;
    match master.files.list_in(&saltenv, only.as_deref()) {
        Ok(files) => Ok(json!(files.into_iter().map(|f| f.0).collect::<Vec<_>>())),
        // Salt lists nothing for an environment no backend has.
        Err(ServeError::Source(brine_states::SourceError::NoEnv(_))) => Ok(json!([])),
        Err(e) => Err(e.to_string()),
    }
}

/// Salt's `fileserver.update`: `True` once done. `roots` needs no update; a
/// failed gitfs remote is an error naming it (it keeps serving its last
/// fetched refs).
fn fileserver_update(master: &Master, kwarg: &Map<String, Value>) -> Result<Value, String> {
    let only = backends(kwarg)?;
    let wants_gitfs = only.as_ref().is_none_or(|b| b.contains(&Backend::Gitfs));
    if wants_gitfs {
        master.files.update_gitfs().map_err(|e| e.to_string())?;
    }
    Ok(Value::Bool(true))
}

/// Which masters of the cluster each accepted minion is connected to now
/// (this master's own sessions, and for a shared store the presence other
/// live masters recorded).
/// Minions connected to some live master of the cluster (the shared
/// store's presence rows).
pub(crate) fn connected_anywhere(
    master: &Master,
) -> Result<std::collections::HashSet<String>, String> {
    Ok(connections(master)?
        .into_iter()
        .filter(|(_, m)| !m.is_empty())
        .map(|(id, _)| id)
        .collect())
}

fn connections(master: &Master) -> Result<std::collections::BTreeMap<String, Vec<String>>, String> {
    let mut map: std::collections::BTreeMap<String, Vec<String>> = master
        .accepted_ids()
        .into_iter()
        .map(|id| (id, Vec::new()))
        .collect();
    for id in master.connected_ids() {
        if let Some(v) = map.get_mut(&id) {
            v.push(master.config.id.clone());
        }
    }
    if master.store.is_shared() {
        let rows = block(master.store.load_presence()).map_err(|e| e.to_string())?;
        for p in rows {
            if p.connected && p.master != master.config.id {
                if let Some(v) = map.get_mut(&p.id) {
                    v.push(p.master);
                }
            }
        }
    }
    for v in map.values_mut() {
        v.sort();
        v.dedup();
    }
    Ok(map)
}

/// Salt's `manage.status`: up and down, for the whole cluster. With
/// `show_master=True`, up minions map to the masters they are connected to.
fn status(master: &Master, kwarg: &Map<String, Value>) -> Result<Value, String> {
    let show = kwarg.get("show_master").is_some_and(|v| {
        v.as_bool()
            .unwrap_or_else(|| matches!(v.as_str(), Some("True" | "true" | "1" | "yes")))
    });
    let conns = connections(master)?;
    let (up, down): (Vec<_>, Vec<_>) = conns.into_iter().partition(|(_, m)| !m.is_empty());
    let down: Vec<String> = down.into_iter().map(|(id, _)| id).collect();
    let up = if show {
        Value::Object(up.into_iter().map(|(id, m)| (id, json!(m))).collect())
    } else {
        json!(up.into_iter().map(|(id, _)| id).collect::<Vec<_>>())
    };
    Ok(json!({ "up": up, "down": down }))
}

/// Salt's `event.send` runner: an event on this master's bus, data from
/// `data` (a dict) and any other keyword arguments. Tags under `brine/`
/// are the master's own and refused.
fn event_send(
    master: &Master,
    user: &str,
    arg: &[Value],
    kwarg: &Map<String, Value>,
) -> Result<Value, String> {
    let tag = match arg.first().or_else(|| kwarg.get("tag")) {
        Some(Value::String(t)) if !t.is_empty() => t.clone(),
        Some(other) => other.to_string(),
        None => return Err("event.send needs a tag".into()),
    };
    if tag.starts_with("brine/") || tag.starts_with("salt/") {
        return Err(format!(
            "'{tag}': tags under brine/ and salt/ are the master's own events"
        ));
    }
    let mut data = Map::new();
    for (k, v) in kwarg {
        if k != "tag" && k != "data" && !k.starts_with("__") {
            data.insert(k.clone(), v.clone());
        }
    }
    match arg.get(1).or_else(|| kwarg.get("data")) {
        Some(Value::Object(d)) => data.extend(d.clone()),
        Some(Value::Null) | None => {}
        Some(other) => return Err(format!("event.send: data must be a dict, not {other}")),
    }
    data.insert("user".into(), Value::String(user.to_string()));
    master.events.fire(tag, Value::Object(data));
    Ok(Value::Bool(true))
}
