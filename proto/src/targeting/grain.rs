//! `key:subkey:value` targets on nested data (grains, later pillar), after
//! Salt's `subdict_match`.
//!
//! Values may contain the delimiter (`ipv6:fe80::1`, `time:12:30`), so an
//! expression with several delimiters is read every possible way: key path
//! `a:b` and value `c`, then key path `a` and value `b:c`. It matches if any
//! reading does. Each reading's pattern is compiled once, by
//! [`SubdictMatcher::new`].
//!
//! Walking the key path: at an object, take the key; at an array, a numeric
//! key is an index, and any element that is an object holding the key goes on
//! (Salt takes only the first such element). At the end of the path:
//! - a scalar matches by its Salt string form: `True`, `False`, `None`,
//!   numbers as written (`4`, `9.4`), strings as they are;
//! - an array matches if one of its scalar elements does, or one of its
//!   object elements has a matching key;
//! - an object matches if one of its keys does (Salt checks the exact key).
//!
//! As in Salt, both sides are compared in lower case and regexes are anchored
//! at the start (`re.match`): `G@os:debian` matches `Debian`, `P@os:bian`
//! does not. Existing targets written for Salt select the same hosts.

use regex::Regex;
use serde_json::{Map, Value};

use super::error::{regex_problem, Problem, Spanned};
use super::glob::Glob;

/// How the value at the end of the key path is matched.
#[derive(Clone, Debug)]
enum ValuePattern {
    Glob(Glob),
    Regex(Regex),
}

impl ValuePattern {
    fn is_match(&self, text: &str) -> bool {
        match self {
            // The pattern was lowered when compiled.
            ValuePattern::Glob(glob) => {
                if text.bytes().any(|b| b.is_ascii_uppercase()) || !text.is_ascii() {
                    glob.is_match(&text.to_lowercase())
                } else {
                    glob.is_match(text)
                }
            }
            ValuePattern::Regex(regex) => regex.is_match(text),
        }
    }
}

/// One way to cut the expression: key path and value pattern.
#[derive(Clone, Debug)]
struct Reading {
    path: Box<[Box<str>]>,
    value: ValuePattern,
}

/// A compiled `key:value` target.
#[derive(Clone, Debug)]
pub(super) struct SubdictMatcher {
    /// Deepest key path first, like Salt; the order does not change the result.
    readings: Box<[Reading]>,
}

impl SubdictMatcher {
    /// The top-level keys any reading starts from.
    pub(super) fn top_keys(&self) -> impl Iterator<Item = &str> {
        self.readings
            .iter()
            .filter_map(|r| r.path.first().map(|k| &**k))
    }

    /// Compiles `expr`, which starts at byte `pos` of the whole expression.
    ///
    /// Only the reading that splits at the first delimiter (the whole rest is
    /// the value) must compile; the others are guesses at nesting and are
    /// dropped when their value is not a valid pattern (`a:(b:c)` as a regex:
    /// the value `c)` of the reading `a:(b` / `c)` is not).
    pub(super) fn new(
        expr: &str,
        pos: usize,
        delimiter: char,
        regex: bool,
        kind: &'static str,
    ) -> Result<SubdictMatcher, Spanned> {
        let parts: Vec<&str> = expr.split(delimiter).collect();
        if parts.len() < 2 {
            return Err(Spanned::new(
                pos,
                Problem::NeedsKeyValue {
                    kind,
                    target: expr.to_string(),
                    delimiter,
                },
            ));
        }
        let mut readings = Vec::with_capacity(parts.len() - 1);
        for cut in (1..parts.len()).rev() {
            let path = parts[..cut].iter().map(|p| Box::from(*p)).collect();
            let value_at =
                parts[..cut].iter().map(|p| p.len()).sum::<usize>() + cut * delimiter.len_utf8();
            let value = &expr[value_at..];
            match compile_value(value, pos + value_at, regex) {
                Ok(value) => readings.push(Reading { path, value }),
                Err(problem) if cut == 1 => return Err(problem),
                Err(_) => {}
            }
        }
        Ok(SubdictMatcher {
            readings: readings.into(),
        })
    }

    pub(super) fn is_match(&self, data: &Map<String, Value>) -> bool {
        self.readings.iter().any(|reading| {
            let Some((first, rest)) = reading.path.split_first() else {
                return false;
            };
            data.get(&**first)
                .is_some_and(|node| walk(node, rest, &reading.value))
        })
    }
}

fn compile_value(value: &str, pos: usize, regex: bool) -> Result<ValuePattern, Spanned> {
    if regex {
        regex::RegexBuilder::new(&format!("^(?:{value})"))
            .case_insensitive(true)
            .build()
            .map(ValuePattern::Regex)
            .map_err(|err| {
                // Report against the pattern as the user typed it, so the caret
                // lands under the problem rather than inside our `^(?:` prefix.
                let plain = regex::Regex::new(value).err().unwrap_or(err);
                regex_problem(value, pos, &plain)
            })
    } else {
        Glob::new(&value.to_lowercase())
            .map(ValuePattern::Glob)
            .map_err(|message| {
                Spanned::new(
                    pos,
                    Problem::BadGlob {
                        glob: value.to_string(),
                        message,
                    },
                )
            })
    }
}

fn walk(node: &Value, path: &[Box<str>], pattern: &ValuePattern) -> bool {
    let Some((key, rest)) = path.split_first() else {
        return matches_end(node, pattern);
    };
    match node {
        Value::Object(map) => map
            .get(&**key)
            .is_some_and(|next| walk(next, rest, pattern)),
        Value::Array(items) => {
            let by_index = key
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get(i))
                .is_some_and(|next| walk(next, rest, pattern));
            by_index
                || items.iter().any(|item| {
                    item.as_object()
                        .and_then(|map| map.get(&**key))
                        .is_some_and(|next| walk(next, rest, pattern))
                })
        }
        _ => false,
    }
}

fn matches_end(node: &Value, pattern: &ValuePattern) -> bool {
    match node {
        Value::Object(map) => any_key_matches(map, pattern),
        Value::Array(items) => items.iter().any(|item| match item {
            Value::Object(map) => any_key_matches(map, pattern),
            Value::Array(_) => false,
            scalar => matches_scalar(scalar, pattern),
        }),
        scalar => matches_scalar(scalar, pattern),
    }
}

fn any_key_matches(map: &Map<String, Value>, pattern: &ValuePattern) -> bool {
    map.keys().any(|key| pattern.is_match(key))
}

/// Compares a scalar by the string Salt (Python's `str()`) makes of it.
fn matches_scalar(scalar: &Value, pattern: &ValuePattern) -> bool {
    match scalar {
        Value::String(s) => pattern.is_match(s),
        Value::Bool(true) => pattern.is_match("True"),
        Value::Bool(false) => pattern.is_match("False"),
        Value::Null => pattern.is_match("None"),
        Value::Number(n) => pattern.is_match(&n.to_string()),
        Value::Array(_) | Value::Object(_) => false,
    }
}
