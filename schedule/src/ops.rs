//! Salt's `schedule.*` functions on a [`Scheduler`], with Salt's return
//! shapes (`{'comment', 'result', 'changes'}`), shared by the minion's
//! execution module and the master's runner.

use chrono::TimeZone;
use serde_json::{json, Map, Value};

use crate::item::Item;
use crate::scheduler::{Scheduler, Source};

/// Salt's time format for fire times.
pub fn fmt_time(ms: i64) -> String {
    match chrono::Local.timestamp_millis_opt(ms).single() {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S").to_string(),
        None => ms.to_string(),
    }
}

fn outcome(result: bool, comment: String, changes: Value) -> Value {
    json!({"comment": comment, "result": result, "changes": changes})
}

fn failed(comment: impl Into<String>) -> Value {
    outcome(false, comment.into(), json!({}))
}

/// `schedule.list`: `{'schedule': {...}}`, as YAML text when `return_yaml`
/// (Salt's default). Without `show_all`, only what the user wrote;
/// `show_disabled` false leaves disabled jobs out.
pub fn list(s: &Scheduler, show_all: bool, show_disabled: bool, return_yaml: bool) -> Value {
    let mut out = Map::new();
    for (name, raw, source) in s.items() {
        if !show_disabled && raw.get("enabled") == Some(&Value::Bool(false)) {
            continue;
        }
        let mut item = raw.clone();
        if show_all {
            if let Ok(Some(t)) = s.next_fire(name) {
                item.insert("_next_fire_time".into(), Value::String(fmt_time(t)));
            }
            item.insert("_source".into(), json!(source));
        }
        out.insert(name.to_string(), Value::Object(item));
    }
    if !s.is_enabled() {
        out.insert("enabled".into(), Value::Bool(false));
    }
    let v = json!({"schedule": out});
    if return_yaml && !out_is_empty(&v) {
        match serde_yaml::to_string(&v) {
            Ok(text) => Value::String(text),
            Err(_) => v,
        }
    } else {
        v
    }
}

fn out_is_empty(v: &Value) -> bool {
    v["schedule"].as_object().is_none_or(|m| m.is_empty())
}

/// Salt's defaults of a new item: `enabled`, `jid_include`, `maxrunning`, `name`.
fn build_item(name: &str, mut kwargs: Map<String, Value>) -> Value {
    for k in ["persist", "offline"] {
        kwargs.remove(k);
    }
    kwargs.insert("name".into(), Value::String(name.into()));
    kwargs.entry("enabled").or_insert(Value::Bool(true));
    kwargs.entry("jid_include").or_insert(Value::Bool(true));
    kwargs.entry("maxrunning").or_insert(json!(1));
    Value::Object(kwargs)
}

/// `schedule.add name function=... seconds=...`.
pub fn add(s: &mut Scheduler, name: &str, kwargs: Map<String, Value>, now: i64) -> Value {
    let item = build_item(name, kwargs);
    match s.add(name, &item, now) {
        Ok(()) => outcome(
            true,
            format!("Added job: {name} to schedule."),
            json!({name: "added"}),
        ),
        Err(e) => failed(e.to_string()),
    }
}

/// `schedule.modify name ...`: the given keys over the current item (a new
/// interval, cron or date replaces the old one).
pub fn modify(s: &mut Scheduler, name: &str, mut kwargs: Map<String, Value>, now: i64) -> Value {
    let Some(old) = s
        .items()
        .into_iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, raw, _)| raw.clone())
    else {
        return failed(format!("Job {name} does not exist in schedule."));
    };
    for k in ["persist", "offline"] {
        kwargs.remove(k);
    }
    let timing = [
        "seconds", "minutes", "hours", "days", "cron", "when", "once",
    ];
    let mut new = old.clone();
    if kwargs.keys().any(|k| timing.contains(&k.as_str())) {
        new.retain(|k, _| !timing.contains(&k.as_str()));
    }
    new.extend(kwargs);
    let new = Value::Object(new);
    if Value::Object(old.clone()) == new {
        return outcome(true, format!("Job {name} in correct state"), json!({}));
    }
    match s.modify(name, &new, now) {
        Ok(()) => outcome(
            true,
            format!("Modified job: {name} in schedule."),
            json!({name: {"old": old, "new": new}}),
        ),
        Err(e) => failed(e.to_string()),
    }
}

pub fn delete(s: &mut Scheduler, name: &str) -> Value {
    match s.delete(name) {
        Ok(()) => outcome(
            true,
            format!("Deleted Job {name} from schedule."),
            json!({name: "removed"}),
        ),
        Err(_) => failed(format!("Job {name} does not exist.")),
    }
}

pub fn purge(s: &mut Scheduler) -> Value {
    let names = s.purge();
    let comment: Vec<String> = names
        .iter()
        .map(|n| format!("Deleted job: {n} from schedule."))
        .collect();
    let changes: Map<String, Value> = names
        .into_iter()
        .map(|n| (n, Value::String("removed".into())))
        .collect();
    json!({"comment": comment, "result": true, "changes": changes})
}

pub fn enable_job(s: &mut Scheduler, name: &str, on: bool, now: i64) -> Value {
    let verb = if on { "Enabled" } else { "Disabled" };
    match s.set_job_enabled(name, on, now) {
        Ok(()) => outcome(
            true,
            format!("{verb} Job {name} in schedule."),
            json!({name: if on { "enabled" } else { "disabled" }}),
        ),
        Err(_) => failed(format!("Job {name} does not exist.")),
    }
}

pub fn enable(s: &mut Scheduler, on: bool) -> Value {
    s.set_enabled(on);
    let (verb, word) = if on {
        ("Enabled", "enabled")
    } else {
        ("Disabled", "disabled")
    };
    outcome(
        true,
        format!("{verb} schedule on minion."),
        json!({"schedule": word}),
    )
}

pub fn run_job(s: &mut Scheduler, name: &str) -> Value {
    match s.run_job(name) {
        Ok(()) => json!({"comment": format!("Scheduling Job {name} on minion."), "result": true}),
        Err(_) => json!({"comment": format!("Job {name} does not exist."), "result": false}),
    }
}

/// `schedule.is_enabled [name]`: the schedule's state, or the job's item
/// (`{}` when there is none).
pub fn is_enabled(s: &Scheduler, name: Option<&str>) -> Value {
    match name {
        None => Value::Bool(s.is_enabled()),
        Some(n) => s
            .items()
            .into_iter()
            .find(|(j, _, _)| *j == n)
            .map(|(_, raw, _)| Value::Object(raw.clone()))
            .unwrap_or_else(|| json!({})),
    }
}

/// `schedule.job_status name`: the item with its runtime state
/// (`_next_fire_time`, `_last_run`, `_running`, ...); `{}` when none.
pub fn job_status(s: &Scheduler, name: &str) -> Value {
    let Some((_, raw, source)) = s.items().into_iter().find(|(j, _, _)| *j == name) else {
        return json!({});
    };
    let mut out = raw.clone();
    if let Ok(saved) = s.status(name) {
        let t = |v: Option<i64>| v.map(fmt_time).map_or(Value::Null, Value::String);
        out.insert(
            "_next_fire_time".into(),
            t(s.next_fire(name).ok().flatten()),
        );
        out.insert("_last_due".into(), t(saved.last_due));
        out.insert(
            "_last_run".into(),
            t(saved.last_run.as_ref().map(|r| r.started)),
        );
        out.insert("_last_result".into(), json!(saved.last_run));
        out.insert("_runs".into(), json!(saved.runs));
        out.insert("_skipped".into(), json!(saved.skipped));
        out.insert("_running".into(), json!(s.running(name)));
    }
    out.insert("_source".into(), json!(source));
    Value::Object(out)
}

pub fn show_next_fire_time(s: &Scheduler, name: &str) -> Value {
    match s.next_fire(name) {
        Ok(Some(t)) => json!({"result": true, "next_fire_time": fmt_time(t)}),
        Ok(None) => json!({"result": true, "next_fire_time": null}),
        Err(_) => json!({"comment": format!("Job {name} does not exist."), "result": false}),
    }
}

/// Checks an item without adding it (what `add`/`modify` refuse, they say).
pub fn validate(name: &str, kwargs: &Map<String, Value>) -> Result<(), String> {
    Item::parse(name, &build_item(name, kwargs.clone()))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Source names for listings.
pub fn source_name(s: Source) -> &'static str {
    match s {
        Source::Config => "config",
        Source::Pillar => "pillar",
        Source::Runtime => "runtime",
    }
}
