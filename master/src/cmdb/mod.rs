//! The inventory as a CMDB: its history (`inventory.history`,
//! `inventory.diff`, `inventory.changes`), named baselines
//! (`inventory.baseline save|diff|list|delete`) and queries
//! (`inventory.query`). The runners read the store and the in-memory
//! inventory; the master writes the history as grains arrive
//! (`Master::set_grains`).

pub mod baseline;
pub mod history;
pub mod minion;
pub mod query;
pub mod when;

use serde_json::{Map, Value};

use crate::state::Master;

/// The `inventory.*` runners, for `brine-run -d`.
pub const RUNNERS: &[(&str, &str)] = &[
    (
        "inventory.history",
        "a minion's grain changes, newest first (ID; limit=, since=)",
    ),
    (
        "inventory.diff",
        "which grains of a minion changed between two times, old and new (ID from=TIME [to=TIME])",
    ),
    (
        "inventory.changes",
        "grain changes across the fleet since a time (since=2h; until=, tgt=, tgt_type=)",
    ),
    (
        "inventory.baseline",
        "save NAME [TARGET] | diff NAME | list | delete NAME: grains and last state results kept to compare with now",
    ),
    (
        "inventory.minion",
        "one minion: key, presence (which masters, last seen), ownership (appcode, owner, team, env, datacenter, rack), last state run with changed/failed counts, grains (ID)",
    ),
    (
        "inventory.query",
        "minions a target selects, with chosen fields (TARGET fields=id,os,... group_by=FIELD limit=N offset=M; --out table|csv|json)",
    ),
];

/// Runs `inventory.<fun>`; None when `fun` is not one of them.
pub fn run(
    master: &Master,
    fun: &str,
    arg: &[Value],
    kwarg: &Map<String, Value>,
) -> Option<Result<Value, String>> {
    let out = match fun {
        "inventory.history" => history_runner(master, arg, kwarg),
        "inventory.diff" => diff_runner(master, arg, kwarg),
        "inventory.changes" => changes_runner(master, arg, kwarg),
        "inventory.baseline" => baseline::run(master, arg, kwarg),
        "inventory.query" => query::run(master, arg, kwarg),
        "inventory.minion" => match text_arg(arg, kwarg, 0, "id") {
            Some(id) => minion::show(master, &id),
            None => Err("inventory.minion needs a minion ID".into()),
        },
        _ => return None,
    };
    Some(out)
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Handle::current().block_on(f)
}

/// A runner argument by position or name, as text.
pub(crate) fn text_arg(
    arg: &[Value],
    kwarg: &Map<String, Value>,
    pos: usize,
    name: &str,
) -> Option<String> {
    kwarg
        .get(name)
        .or_else(|| arg.get(pos))
        .filter(|v| !v.is_null())
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
}

fn limit_arg(kwarg: &Map<String, Value>, default: usize) -> Result<usize, String> {
    match text_arg(&[], kwarg, 0, "limit") {
        None => Ok(default),
        Some(t) => t
            .parse()
            .map_err(|_| format!("limit must be a number, not '{t}'")),
    }
}

fn now() -> i64 {
    crate::store::now_ms()
}

/// Every history row of `id`, oldest first.
fn rows_of(
    master: &Master,
    id: &str,
    until_ms: i64,
) -> Result<Vec<crate::store::GrainsVersion>, String> {
    block(
        master
            .store
            .grains_history(Some(id), 0, until_ms, history::MAX_ROWS),
    )
    .map_err(|e| e.to_string())
}

fn known_minion(master: &Master, id: &str) -> Result<(), String> {
    if master.key(id).is_none() && master.grains(id).is_none() {
        return Err(format!("no minion '{id}' in the inventory"));
    }
    Ok(())
}

fn history_runner(
    master: &Master,
    arg: &[Value],
    kwarg: &Map<String, Value>,
) -> Result<Value, String> {
    let id = text_arg(arg, kwarg, 0, "id").ok_or("inventory.history needs a minion ID")?;
    known_minion(master, &id)?;
    let limit = limit_arg(kwarg, 50)?;
    let since = match text_arg(arg, kwarg, 99, "since") {
        Some(t) => when::parse_when(&t, now())?,
        None => i64::MIN,
    };
    let rows = rows_of(master, &id, i64::MAX)?;
    let versions: Vec<Value> = history::versions(&rows)
        .into_iter()
        .filter(|v| v.0 >= since)
        .rev()
        .take(limit)
        .map(|(at, first, changes, count)| history::version_value(at, first, changes, count))
        .collect();
    Ok(Value::Array(versions))
}

fn diff_runner(
    master: &Master,
    arg: &[Value],
    kwarg: &Map<String, Value>,
) -> Result<Value, String> {
    let id = text_arg(arg, kwarg, 0, "id").ok_or("inventory.diff needs a minion ID")?;
    known_minion(master, &id)?;
    let now = now();
    let from = text_arg(arg, kwarg, 1, "from")
        .ok_or("inventory.diff needs from=TIME (e.g. from=2h or from=2026-12-04T10:00)")?;
    let from_ms = when::parse_when(&from, now)?;
    let to_ms = match text_arg(arg, kwarg, 2, "to") {
        Some(t) => when::parse_when(&t, now)?,
        None => now,
    };
    if to_ms < from_ms {
        return Err(format!(
            "to ({}) is before from ({})",
            when::iso(to_ms),
            when::iso(from_ms)
        ));
    }
    let rows = rows_of(master, &id, i64::MAX)?;
    let Some(first) = rows.first() else {
        return Err(format!("no grain history for '{id}' yet"));
    };
    let Some(old) = history::state_at(&rows, from_ms) else {
        return Err(format!(
            "'{id}' has no grains recorded before {}: its history starts at {}",
            when::iso(from_ms),
            when::iso(first.at_ms)
        ));
    };
    let new = history::state_at(&rows, to_ms).unwrap_or_default();
    Ok(Value::Object(history::diff(&old, &new)))
}

fn changes_runner(
    master: &Master,
    arg: &[Value],
    kwarg: &Map<String, Value>,
) -> Result<Value, String> {
    let now = now();
    let since = text_arg(arg, kwarg, 0, "since")
        .ok_or("inventory.changes needs since=TIME (e.g. since=2h)")?;
    let since_ms = when::parse_when(&since, now)?;
    let until_ms = match text_arg(arg, kwarg, 1, "until") {
        Some(t) => when::parse_when(&t, now)?,
        None => now + 1,
    };
    let only: Option<std::collections::HashSet<String>> = match text_arg(arg, kwarg, 2, "tgt") {
        Some(tgt) => Some(
            query::minions_of(master, &tgt, kwarg)?
                .into_iter()
                .collect(),
        ),
        None => None,
    };
    let window = block(
        master
            .store
            .grains_history(None, since_ms, until_ms, 1_000_000),
    )
    .map_err(|e| e.to_string())?;
    let mut out = Map::new();
    for (id, _) in history::by_minion(window) {
        if only.as_ref().is_some_and(|o| !o.contains(&id)) {
            continue;
        }
        // Old values come from before the window: replay the minion's rows.
        let rows = rows_of(master, &id, until_ms)?;
        let changes: Vec<Value> = history::versions(&rows)
            .into_iter()
            .filter(|v| v.0 >= since_ms)
            .map(|(at, first, changes, count)| history::version_value(at, first, changes, count))
            .collect();
        if !changes.is_empty() {
            out.insert(id, Value::Array(changes));
        }
    }
    Ok(Value::Object(out))
}
