//! Master-side runners for `brine-run`, named as Salt's.

use brine_proto::{CliReply, JobId, MissingReason};
use serde_json::{json, Map, Value};

use crate::fileserver::{Backend, ServeError};
use crate::state::Master;

/// Runners this master offers, with a one-line summary (for `brine-run -d`).
pub const RUNNERS: &[(&str, &str)] = &[
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
        "jobs.list_jobs",
        "list recent jobs from the job cache, newest first",
    ),
    (
        "jobs.lookup_jid",
        "show every return of a job and which minions did not return",
    ),
    (
        "manage.down",
        "accepted minions not connected to this master",
    ),
    ("manage.status", "accepted minions split into up and down"),
    (
        "pillar.show_pillar",
        "compile a minion's pillar now, as the minion would get it (minion=ID; saltenv=)",
    ),
    ("manage.up", "accepted minions connected to this master"),
];

pub fn run(master: &Master, fun: &str, arg: &[Value], kwarg: &Map<String, Value>) -> CliReply {
    let result = match fun {
        "fileserver.envs" => fileserver_envs(master, kwarg),
        "fileserver.file_list" => fileserver_file_list(master, arg, kwarg),
        "fileserver.update" => fileserver_update(master, kwarg),
        "jobs.lookup_jid" => lookup_jid(master, arg, kwarg),
        "jobs.list_jobs" => list_jobs(master, kwarg),
        "manage.status" => Ok(status(master)),
        "manage.up" => Ok(status(master)["up"].clone()),
        "manage.down" => Ok(status(master)["down"].clone()),
        "pillar.show_pillar" => show_pillar(master, arg, kwarg),
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

fn lookup_jid(master: &Master, arg: &[Value], kwarg: &Map<String, Value>) -> Result<Value, String> {
    let jid_s =
        arg_str(arg, kwarg, "jid").ok_or("jobs.lookup_jid: missing required argument 'jid'")?;
    let jid: JobId = jid_s.parse().map_err(|e| format!("jobs.lookup_jid: {e}"))?;
    let (rec, returns) = master
        .store
        .lookup_job(jid)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("jobs.lookup_jid: no job with jid {jid} in the job cache"))?;
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

fn list_jobs(master: &Master, kwarg: &Map<String, Value>) -> Result<Value, String> {
    let limit = kwarg
        .get("count")
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .unwrap_or(100) as usize;
    let jobs = master.store.list_jobs(limit).map_err(|e| e.to_string())?;
    let mut out = Map::new();
    for (rec, returned) in jobs {
        let j = &rec.job;
        let start = chrono::DateTime::from_timestamp_millis(j.issued_ms)
            .map(|t| {
                t.with_timezone(&chrono::Local)
                    .format("%Y, %b %d %H:%M:%S%.6f")
                    .to_string()
            })
            .unwrap_or_default();
        out.insert(
            j.jid.to_string(),
            json!({
                "Function": j.fun,
                "Arguments": j.arg,
                "Target": j.tgt,
                "Target-type": j.tgt_type.as_str(),
                "User": j.user,
                "StartTime": start,
                "Expected": rec.expected.len(),
                "Returned": returned,
            }),
        );
    }
    Ok(Value::Object(out))
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

fn status(master: &Master) -> Value {
    let (up, down): (Vec<String>, Vec<String>) = master
        .accepted_ids()
        .into_iter()
        .partition(|id| master.is_connected(id));
    json!({ "up": up, "down": down })
}
