//! One schedule item as Salt writes it (`function`, `args`, `kwargs`,
//! `seconds`/`minutes`/`hours`/`days`, `cron`, `when`, `once`, `splay`,
//! `maxrunning`, `run_on_start`, `enabled`, `timezone`, ...) parsed into a
//! typed [`Item`]. Brine's own keys: `retry: {count, window, delay}` and
//! `catch_up` (seconds, or true for one day; false/absent: missed runs are
//! skipped). Masters also read `tgt`/`tgt_type` (publish `function` as a job).

use std::str::FromStr;

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::{Map, Value};

/// A bad schedule item: the message names the job and the key.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("schedule item '{job}': {key}: {reason}")]
pub struct ItemError {
    pub job: String,
    pub key: String,
    pub reason: String,
}

/// What makes a job due.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// Every this many seconds.
    Interval(u64),
    /// A cron expression (5 fields as Salt/croniter, or 6-7 with seconds).
    Cron(Box<cron::Schedule>),
    /// At these instants (ms since the epoch, sorted); `once` is one of them.
    At(Vec<i64>),
}

/// `retry`: a failed run is run again after `delay` seconds, at most
/// `count` times, while within `window` seconds of the failed run's due time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retry {
    pub count: u32,
    pub window: u64,
    pub delay: u64,
}

/// A parsed schedule item; `raw` is the item as given (what `schedule.list` shows).
#[derive(Debug, Clone)]
pub struct Item {
    pub name: String,
    pub function: String,
    pub args: Vec<Value>,
    pub kwargs: Map<String, Value>,
    pub trigger: Trigger,
    /// Seconds added at random to each due time: `start..=end`.
    pub splay: Option<(u64, u64)>,
    pub maxrunning: u32,
    pub run_on_start: bool,
    pub enabled: bool,
    pub jid_include: bool,
    pub return_job: bool,
    pub retry: Option<Retry>,
    /// Seconds: a run missed while the daemon was down is run at start when
    /// its due time is at most this old.
    pub catch_up: Option<u64>,
    pub timezone: Option<chrono_tz::Tz>,
    /// Master only: publish `function` to these targets instead of running it.
    pub tgt: Option<String>,
    pub tgt_type: Option<String>,
    pub raw: Map<String, Value>,
}

fn err(job: &str, key: &str, reason: impl Into<String>) -> ItemError {
    ItemError {
        job: job.to_string(),
        key: key.to_string(),
        reason: reason.into(),
    }
}

fn as_u64(job: &str, key: &str, v: &Value) -> Result<u64, ItemError> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .ok_or_else(|| err(job, key, format!("not a non-negative number: {n}"))),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| err(job, key, format!("not a non-negative number: '{s}'"))),
        other => Err(err(job, key, format!("not a number: {other}"))),
    }
}

/// Salt's truthiness for flags written as bools, numbers or strings.
fn as_bool(job: &str, key: &str, v: &Value) -> Result<bool, ItemError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) => Ok(n.as_f64() != Some(0.0)),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(true),
            "false" | "no" | "off" | "0" | "" => Ok(false),
            _ => Err(err(job, key, format!("not a boolean: '{s}'"))),
        },
        Value::Null => Ok(false),
        other => Err(err(job, key, format!("not a boolean: {other}"))),
    }
}

/// Parses a date as Salt users write them (ISO forms, `%m/%d/%Y %I:%M%p`,
/// ...): with an offset it is that instant; without, it is local time in
/// `tz` (the machine's local time when none).
pub fn parse_date(s: &str, tz: Option<chrono_tz::Tz>) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%z",
        "%Y-%m-%dT%H:%M:%S%z",
        "%Y-%m-%d %H:%M%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.timestamp_millis());
        }
    }
    const NAIVE: &[&str] = &[
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
        "%m/%d/%Y %I:%M%p",
        "%m/%d/%Y %I:%M %p",
        "%m/%d/%Y %I:%M:%S%p",
        "%m/%d/%Y %I:%M:%S %p",
        "%m/%d/%Y %H:%M",
        "%m/%d/%Y %H:%M:%S",
    ];
    let naive = NAIVE
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .or_else(|| {
            ["%Y-%m-%d", "%m/%d/%Y"]
                .iter()
                .find_map(|f| NaiveDate::parse_from_str(s, f).ok())
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })?;
    match tz {
        Some(tz) => tz
            .from_local_datetime(&naive)
            .earliest()
            .map(|t| t.timestamp_millis()),
        None => Local
            .from_local_datetime(&naive)
            .earliest()
            .map(|t| t.timestamp_millis()),
    }
}

/// A cron expression: 5 fields (Salt's croniter) get a leading `0` seconds field.
pub fn parse_cron(expr: &str) -> Result<cron::Schedule, String> {
    let fields = expr.split_whitespace().count();
    let full = if fields == 5 {
        format!("0 {expr}")
    } else {
        expr.to_string()
    };
    cron::Schedule::from_str(&full).map_err(|e| e.to_string())
}

/// Keys an item may carry that are not parsed here but kept (Salt's own,
/// or handled elsewhere); anything else is an error naming the key.
const KNOWN: &[&str] = &[
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
    "once_fmt",
    "splay",
    "maxrunning",
    "run_on_start",
    "enabled",
    "jid_include",
    "return_job",
    "retry",
    "catch_up",
    "timezone",
    "tgt",
    "tgt_type",
    "name",
    "returner",
    "metadata",
    "run",
    "persist",
    "skip_during_range",
];

impl Item {
    /// Parses the item `name` (a map as in Salt's `schedule:` config).
    pub fn parse(name: &str, raw: &Value) -> Result<Item, ItemError> {
        let Value::Object(map) = raw else {
            return Err(err(name, "item", "not a mapping"));
        };
        for k in map.keys() {
            if !KNOWN.contains(&k.as_str()) {
                return Err(err(name, k, "unknown key"));
            }
        }
        let function = match map.get("function") {
            Some(Value::String(f)) if !f.trim().is_empty() => f.trim().to_string(),
            Some(other) => return Err(err(name, "function", format!("not a name: {other}"))),
            None => return Err(err(name, "function", "missing")),
        };
        let args = match map.get("args") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(other) => vec![other.clone()],
        };
        let kwargs = match map.get("kwargs") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(other) => return Err(err(name, "kwargs", format!("not a mapping: {other}"))),
        };
        let timezone = match map.get("timezone") {
            None | Some(Value::Null) => None,
            Some(Value::String(z)) => Some(
                z.parse::<chrono_tz::Tz>()
                    .map_err(|_| err(name, "timezone", format!("unknown time zone '{z}'")))?,
            ),
            Some(other) => return Err(err(name, "timezone", format!("not a zone name: {other}"))),
        };
        let mut interval = 0u64;
        for (key, unit) in [
            ("seconds", 1),
            ("minutes", 60),
            ("hours", 3600),
            ("days", 86400),
        ] {
            if let Some(v) = map.get(key) {
                interval = interval.saturating_add(as_u64(name, key, v)?.saturating_mul(unit));
            }
        }
        let mut triggers = Vec::new();
        if interval > 0 {
            triggers.push(Trigger::Interval(interval));
        }
        if let Some(v) = map.get("cron") {
            let Value::String(expr) = v else {
                return Err(err(name, "cron", format!("not an expression: {v}")));
            };
            triggers.push(Trigger::Cron(Box::new(
                parse_cron(expr).map_err(|e| err(name, "cron", format!("'{expr}': {e}")))?,
            )));
        }
        for key in ["when", "once"] {
            let Some(v) = map.get(key) else { continue };
            let dates: Vec<&Value> = match v {
                Value::Array(a) => a.iter().collect(),
                one => vec![one],
            };
            let mut at = Vec::new();
            for d in dates {
                let Value::String(s) = d else {
                    return Err(err(name, key, format!("not a date: {d}")));
                };
                at.push(
                    parse_date(s, timezone)
                        .ok_or_else(|| err(name, key, format!("cannot read the date '{s}'")))?,
                );
            }
            at.sort_unstable();
            triggers.push(Trigger::At(at));
        }
        let trigger = match triggers.len() {
            1 => triggers.remove(0),
            0 => {
                return Err(err(
                    name,
                    "seconds",
                    "no interval (seconds/minutes/hours/days), cron, when or once",
                ))
            }
            _ => {
                return Err(err(
                    name,
                    "cron",
                    "give one of an interval, cron, when or once, not several",
                ))
            }
        };
        let splay = match map.get("splay") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => {
                let start = m
                    .get("start")
                    .map(|v| as_u64(name, "splay.start", v))
                    .transpose()?;
                let end = m
                    .get("end")
                    .map(|v| as_u64(name, "splay.end", v))
                    .transpose()?;
                let (start, end) = (start.unwrap_or(0), end.unwrap_or(0));
                if end < start {
                    return Err(err(name, "splay", "end before start"));
                }
                Some((start, end))
            }
            Some(v) => Some((0, as_u64(name, "splay", v)?)),
        };
        let maxrunning = match map.get("maxrunning") {
            None | Some(Value::Null) => 1,
            Some(v) => as_u64(name, "maxrunning", v)?.clamp(1, u32::MAX as u64) as u32,
        };
        let flag = |key: &str, default: bool| -> Result<bool, ItemError> {
            match map.get(key) {
                None => Ok(default),
                Some(v) => as_bool(name, key, v),
            }
        };
        let retry = match map.get("retry") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => {
                let count = m
                    .get("count")
                    .map(|v| as_u64(name, "retry.count", v))
                    .transpose()?
                    .unwrap_or(1);
                let window = m
                    .get("window")
                    .map(|v| as_u64(name, "retry.window", v))
                    .transpose()?
                    .unwrap_or(3600);
                let delay = m
                    .get("delay")
                    .map(|v| as_u64(name, "retry.delay", v))
                    .transpose()?
                    .unwrap_or(5);
                Some(Retry {
                    count: count.min(u32::MAX as u64) as u32,
                    window,
                    delay,
                })
            }
            Some(v) => Some(Retry {
                count: as_u64(name, "retry", v)?.min(u32::MAX as u64) as u32,
                window: 3600,
                delay: 5,
            }),
        };
        let catch_up = match map.get("catch_up") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => None,
            Some(Value::Bool(true)) => Some(86_400),
            Some(v) => Some(as_u64(name, "catch_up", v)?).filter(|s| *s > 0),
        };
        let string = |key: &str| -> Result<Option<String>, ItemError> {
            match map.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(v) => Err(err(name, key, format!("not a string: {v}"))),
            }
        };
        Ok(Item {
            name: name.to_string(),
            function,
            args,
            kwargs,
            trigger,
            splay,
            maxrunning,
            run_on_start: flag("run_on_start", false)?,
            enabled: flag("enabled", true)?,
            jid_include: flag("jid_include", true)?,
            return_job: flag("return_job", false)?,
            retry,
            catch_up,
            timezone,
            tgt: string("tgt")?,
            tgt_type: string("tgt_type")?,
            raw: map.clone(),
        })
    }

    /// The first due time strictly after `after` (ms), without splay;
    /// `None` when the job never fires again (past `when` dates).
    pub fn next_after(&self, after: i64) -> Option<i64> {
        match &self.trigger {
            Trigger::Interval(secs) => Some(after + (*secs as i64) * 1000),
            Trigger::Cron(s) => {
                let at = Utc.timestamp_millis_opt(after).single()?;
                match self.timezone {
                    Some(tz) => s
                        .after(&at.with_timezone(&tz))
                        .next()
                        .map(|t| t.timestamp_millis()),
                    None => s
                        .after(&at.with_timezone(&Local))
                        .next()
                        .map(|t| t.timestamp_millis()),
                }
            }
            Trigger::At(at) => at.iter().copied().find(|t| *t > after),
        }
    }

    /// Random seconds (in ms) added to a due time by `splay`.
    pub fn splay_ms(&self) -> i64 {
        match self.splay {
            Some((start, end)) => fastrand::u64(start..=end) as i64 * 1000,
            None => 0,
        }
    }
}
