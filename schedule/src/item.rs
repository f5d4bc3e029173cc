//! One schedule entry as Salt writes it, parsed: what to run, and when.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::{Map, Value};

/// When an item runs.
#[derive(Clone, Debug)]
pub enum Timing {
    /// `seconds`/`minutes`/`hours`/`days`, summed.
    Every(i64),
    /// `cron`: Salt's five fields (or six with seconds).
    Cron(Box<cron::Schedule>),
    /// `when` (one date or several) or `once`: each runs once.
    At(Vec<i64>),
}

/// Retries of a failed run: at most `count`, `delay` seconds apart, and
/// only while within `window` seconds of the time the run was due.
#[derive(Clone, Debug, PartialEq)]
pub struct Retry {
    pub count: u32,
    pub delay: i64,
    pub window: i64,
}

#[derive(Clone, Debug)]
pub struct Item {
    pub name: String,
    pub function: String,
    pub args: Vec<Value>,
    pub kwargs: Map<String, Value>,
    /// Master items only: publish `function` as a job on this target.
    pub tgt: Option<String>,
    pub tgt_type: Option<String>,
    pub timing: Timing,
    pub timezone: chrono_tz::Tz,
    /// Seconds added at random to each due time: `(start, end)`.
    pub splay: Option<(i64, i64)>,
    pub maxrunning: u32,
    pub run_on_start: bool,
    pub enabled: bool,
    pub retry: Option<Retry>,
    /// Seconds: a run missed while the daemon was down runs at start if it
    /// was due no longer ago than this; 0: missed runs are skipped.
    pub catch_up: i64,
}

/// Keys Salt has that Brine reads but that change nothing here.
const ACCEPTED_NO_EFFECT: &[&str] = &[
    "jid_include",
    "return_job",
    "returner",
    "return_config",
    "return_kwargs",
    "metadata",
    "persist",
    "once_fmt",
    "name",
];

fn secs(item: &Map<String, Value>, key: &str) -> Result<i64, String> {
    match item.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().map(|f| f as i64))
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .filter(|n| *n >= 0)
            .ok_or_else(|| format!("{key} must be a number of {key}, not {v}")),
    }
}

fn truthy(v: Option<&Value>, default: bool) -> bool {
    match v {
        None | Some(Value::Null) => default,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => {
            matches!(s.to_ascii_lowercase().as_str(), "true" | "yes" | "1" | "on")
        }
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(_) => true,
    }
}

/// A date as schedules write them, in `tz` unless it says its offset.
pub fn parse_date(text: &str, tz: chrono_tz::Tz) -> Result<i64, String> {
    let t = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.timestamp_millis());
    }
    let local = |naive: NaiveDateTime| {
        tz.from_local_datetime(&naive)
            .earliest()
            .map(|d| d.with_timezone(&Utc).timestamp_millis())
            .ok_or_else(|| format!("'{t}' does not exist in {tz} (a daylight-saving gap)"))
    };
    for fmt in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
        "%m/%d/%Y %I:%M%p",
        "%m/%d/%Y %I:%M %p",
        "%m/%d/%Y %H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(t, fmt) {
            return local(naive);
        }
    }
    if let Ok(day) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return local(day.and_hms_opt(0, 0, 0).unwrap_or_default());
    }
    Err(format!(
        "'{t}' is not a date: write 2026-12-24T03:00:00 (in the item's timezone), \
         2026-12-24T03:00:00+01:00, or 12/24/2026 3:00am"
    ))
}

fn cron_of(expr: &str) -> Result<cron::Schedule, String> {
    let fields = expr.split_whitespace().count();
    // Salt (croniter) takes five fields; the cron crate wants seconds first.
    let full = match fields {
        5 => format!("0 {expr}"),
        6 | 7 => expr.to_string(),
        _ => {
            return Err(format!(
                "cron '{expr}' needs five fields: minute hour day month weekday"
            ))
        }
    };
    full.parse::<cron::Schedule>()
        .map_err(|e| format!("cron '{expr}': {e}"))
}

impl Item {
    /// Parses `name: {...}`; the warnings list keys it ignores.
    pub fn parse(name: &str, value: &Value) -> Result<(Item, Vec<String>), String> {
        let Some(m) = value.as_object() else {
            return Err(format!("schedule '{name}' must be a mapping"));
        };
        let function = m
            .get("function")
            .and_then(Value::as_str)
            .filter(|f| !f.is_empty())
            .ok_or_else(|| format!("schedule '{name}' needs a function"))?
            .to_string();
        let args = match m.get("args") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(other) => vec![other.clone()],
        };
        let kwargs = match m.get("kwargs") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(k)) => k.clone(),
            Some(other) => {
                return Err(format!(
                    "schedule '{name}': kwargs must be a mapping, not {other}"
                ))
            }
        };
        let timezone: chrono_tz::Tz = match m.get("timezone").and_then(Value::as_str) {
            None => chrono_tz::UTC,
            Some(z) => z
                .parse()
                .map_err(|_| format!("schedule '{name}': unknown timezone '{z}'"))?,
        };
        let every = secs(m, "seconds")?
            + 60 * secs(m, "minutes")?
            + 3600 * secs(m, "hours")?
            + 86400 * secs(m, "days")?;
        let mut timings = Vec::new();
        if every > 0 {
            timings.push(Timing::Every(every));
        }
        if let Some(c) = m.get("cron").and_then(Value::as_str) {
            timings.push(Timing::Cron(Box::new(
                cron_of(c).map_err(|e| format!("schedule '{name}': {e}"))?,
            )));
        }
        let mut dates = Vec::new();
        for key in ["when", "once"] {
            match m.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::Array(list)) => {
                    for d in list {
                        let s = d.as_str().ok_or_else(|| {
                            format!("schedule '{name}': {key} holds dates, not {d}")
                        })?;
                        dates.push(
                            parse_date(s, timezone)
                                .map_err(|e| format!("schedule '{name}': {e}"))?,
                        );
                    }
                }
                Some(Value::String(s)) => dates
                    .push(parse_date(s, timezone).map_err(|e| format!("schedule '{name}': {e}"))?),
                Some(other) => {
                    return Err(format!(
                        "schedule '{name}': {key} must be a date or a list of dates, not {other}"
                    ))
                }
            }
        }
        if !dates.is_empty() {
            dates.sort_unstable();
            timings.push(Timing::At(dates));
        }
        let timing = match timings.len() {
            1 => timings.pop().unwrap_or(Timing::Every(60)),
            0 => return Err(format!("schedule '{name}' says nothing of when: give seconds/minutes/hours/days, cron, when or once")),
            _ => return Err(format!("schedule '{name}': give one of an interval, cron, or when/once, not several")),
        };
        let splay = match m.get("splay") {
            None | Some(Value::Null) => None,
            Some(Value::Object(s)) => Some((secs(s, "start")?, secs(s, "end")?)),
            Some(_) => Some((0, secs(m, "splay")?)),
        }
        .filter(|(a, b)| b > a || *b > 0);
        let maxrunning = match m.get("maxrunning") {
            None | Some(Value::Null) => 1,
            Some(v) => v
                .as_u64()
                .filter(|n| *n >= 1)
                .ok_or_else(|| format!("schedule '{name}': maxrunning must be 1 or more"))?
                as u32,
        };
        let retry = match m.get("retry") {
            None | Some(Value::Null) => None,
            Some(Value::Object(r)) => Some(Retry {
                count: secs(r, "count")?.max(1) as u32,
                delay: secs(r, "delay")?
                    .max(1)
                    .max(if r.contains_key("delay") { 1 } else { 30 }),
                window: match secs(r, "window")? {
                    0 => 3600,
                    w => w,
                },
            }),
            Some(v) => {
                let count = v.as_u64().ok_or_else(|| {
                    format!("schedule '{name}': retry is {{count, delay, window}} or a count")
                })?;
                Some(Retry {
                    count: count as u32,
                    delay: 30,
                    window: 3600,
                })
            }
        };
        let catch_up = match m.get("catch_up") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => 0,
            // Salt-style true: catch up whatever was missed, up to a day.
            Some(Value::Bool(true)) => 86_400,
            Some(_) => secs(m, "catch_up")?,
        };
        let known = [
            "function",
            "args",
            "kwargs",
            "seconds",
            "minutes",
            "hours",
            "days",
            "cron",
            "when",
            "once",
            "splay",
            "maxrunning",
            "run_on_start",
            "enabled",
            "retry",
            "catch_up",
            "timezone",
            "tgt",
            "tgt_type",
        ];
        let warnings = m
            .keys()
            .filter(|k| !known.contains(&k.as_str()) && !ACCEPTED_NO_EFFECT.contains(&k.as_str()))
            .map(|k| format!("schedule '{name}': '{k}' is not supported by Brine and is ignored"))
            .collect();
        Ok((
            Item {
                name: name.to_string(),
                function,
                args,
                kwargs,
                tgt: m.get("tgt").and_then(Value::as_str).map(str::to_string),
                tgt_type: m
                    .get("tgt_type")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                timing,
                timezone,
                splay,
                maxrunning,
                run_on_start: truthy(m.get("run_on_start"), false),
                enabled: truthy(m.get("enabled"), true),
                retry,
                catch_up,
            },
            warnings,
        ))
    }

    /// The first due time strictly after `after_ms` (None: never again).
    pub fn next_after(&self, after_ms: i64, started_ms: i64) -> Option<i64> {
        match &self.timing {
            Timing::Every(secs) => {
                let step = secs * 1000;
                // Aligned on the start, so restarts keep the cadence.
                let base = started_ms.min(after_ms);
                let n = (after_ms - base) / step + 1;
                Some(base + n * step)
            }
            Timing::Cron(schedule) => {
                let after = Utc
                    .timestamp_millis_opt(after_ms)
                    .single()?
                    .with_timezone(&self.timezone);
                schedule
                    .after(&after)
                    .next()
                    .map(|d| d.with_timezone(&Utc).timestamp_millis())
            }
            Timing::At(dates) => dates.iter().copied().find(|d| *d > after_ms),
        }
    }

    /// A random splay to add to a due time, in ms.
    pub fn splay_ms(&self) -> i64 {
        match self.splay {
            Some((a, b)) if b > a => fastrand::i64(a * 1000..=b * 1000),
            _ => 0,
        }
    }
}
