//! The `retry` runtime argument (Salt's `verify_retry_data` and the retry
//! loop at the end of `State.call`): re-run a state until its result is
//! `until`, at most `attempts` times in all, sleeping `interval` seconds
//! (plus up to `splay`) between attempts.

use serde_json::{Map, Value};

use crate::pyrepr::py_str;

/// Checked retry settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    pub until: bool,
    pub attempts: u64,
    pub interval: u64,
    pub splay: u64,
}

const DEFAULTS: Retry = Retry {
    until: true,
    attempts: 2,
    interval: 30,
    splay: 0,
};

/// Python's `isinstance(v, int)` (which `bool` passes) as a count.
fn as_int(value: &Value) -> Option<u64> {
    match value {
        Value::Bool(b) => Some(u64::from(*b)),
        Value::Number(n) => n.as_u64().or_else(|| n.as_i64().map(|_| 0)),
        _ => None,
    }
}

impl Retry {
    /// Salt's `verify_retry_data`: `True` is the defaults, `False` zero
    /// attempts, a dict overrides the defaults key by key (a value of the
    /// wrong type falls back to the default, as Salt does with a log line).
    pub fn from_value(value: &Value) -> Retry {
        match value {
            Value::Object(m) => {
                let int = |key: &str, default: u64| {
                    m.get(key).map_or(default, |v| {
                        as_int(v).unwrap_or_else(|| {
                            tracing::warn!(
                                key,
                                "an invalid value was passed for retry, using the default"
                            );
                            default
                        })
                    })
                };
                Retry {
                    until: match m.get("until") {
                        Some(Value::Bool(b)) => *b,
                        _ => DEFAULTS.until,
                    },
                    attempts: int("attempts", DEFAULTS.attempts),
                    interval: int("interval", DEFAULTS.interval),
                    splay: int("splay", DEFAULTS.splay),
                }
            }
            Value::Bool(false) => Retry {
                attempts: 0,
                ..DEFAULTS
            },
            _ => DEFAULTS,
        }
    }

    /// Whether a result of `result` (`None` for null) stops retrying.
    pub fn satisfied_by(&self, result: Option<&Value>) -> bool {
        result == Some(&Value::Bool(self.until))
    }

    /// Seconds to wait before the next attempt: `interval` plus a random
    /// part of `splay`.
    pub fn pause(&self) -> u64 {
        if self.splay == 0 {
            return self.interval;
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::from(d.subsec_nanos()));
        self.interval + nanos % (self.splay + 1)
    }

    /// What `test=True` appends to the comment.
    pub fn dry_run_note(&self, comment: &str) -> String {
        format!(
            "{comment}  The state would be retried every {} seconds (with a splay of up to {} seconds) a maximum of {} times or until a result of {} is returned",
            self.interval,
            self.splay,
            self.attempts,
            if self.until { "True" } else { "False" }
        )
    }
}

/// Python's `str()` of a state result.
fn result_text(ret: &Map<String, Value>) -> &'static str {
    match ret.get("result") {
        Some(Value::Bool(true)) => "True",
        Some(Value::Bool(false)) => "False",
        _ => "None",
    }
}

/// Folds the attempts (first to last) into one result, as Salt's nested
/// retries leave it: the last attempt's result, every earlier attempt
/// listed in the comment, durations and pauses summed, the first start time.
pub fn combine(mut attempts: Vec<Map<String, Value>>, pauses: &[u64]) -> Map<String, Value> {
    let Some(mut last) = attempts.pop() else {
        return Map::new();
    };
    if attempts.is_empty() {
        return last;
    }
    let mut comment = String::new();
    let mut duration = last.get("duration").and_then(Value::as_f64).unwrap_or(0.0);
    for (i, earlier) in attempts.iter().enumerate() {
        let text = earlier.get("comment").map(py_str).unwrap_or_default();
        comment.push_str(&format!(
            "Attempt {}: Returned a result of \"{}\", with the following comment: \"{text}\"\n",
            i + 1,
            result_text(earlier)
        ));
        duration += earlier
            .get("duration")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        duration += pauses.get(i).copied().unwrap_or(0) as f64 * 1000.0;
    }
    comment.push_str(&last.get("comment").map(py_str).unwrap_or_default());
    last.insert("comment".into(), Value::String(comment));
    if let Some(n) = serde_json::Number::from_f64(duration) {
        last.insert("duration".into(), Value::Number(n));
    }
    if let Some(start) = attempts[0].get("start_time") {
        last.insert("start_time".into(), start.clone());
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn retry_data_is_checked_like_salt() {
        assert_eq!(Retry::from_value(&json!(true)), DEFAULTS);
        assert_eq!(Retry::from_value(&json!(false)).attempts, 0);
        assert_eq!(Retry::from_value(&json!("yes")), DEFAULTS);
        let r = Retry::from_value(&json!({"attempts": 5, "until": false, "interval": "x"}));
        assert_eq!(
            r,
            Retry {
                until: false,
                attempts: 5,
                interval: 30,
                splay: 0
            }
        );
        assert!(r.satisfied_by(Some(&json!(false))));
        assert!(!r.satisfied_by(Some(&Value::Null)));
    }

    #[test]
    fn attempts_fold_into_one_comment() {
        let attempt = |result: Value, comment: &str, start: &str| {
            json!({"result": result, "comment": comment, "duration": 1.5, "start_time": start})
                .as_object()
                .unwrap()
                .clone()
        };
        let folded = combine(
            vec![
                attempt(json!(false), "one", "10:00:00"),
                attempt(Value::Null, "two", "10:00:01"),
                attempt(json!(true), "three", "10:00:02"),
            ],
            &[0, 2],
        );
        assert_eq!(
            folded["comment"],
            "Attempt 1: Returned a result of \"False\", with the following comment: \"one\"\nAttempt 2: Returned a result of \"None\", with the following comment: \"two\"\nthree"
        );
        assert_eq!(folded["duration"], json!(2004.5));
        assert_eq!(folded["start_time"], "10:00:00");
        assert_eq!(folded["result"], json!(true));
    }
}
