//! Salt's Jinja filters and tests (`salt/utils/jinja.py`, `salt/utils/data.py`
//! and friends), plus Python-flavoured replacements for the minijinja
//! builtins whose output differs from Jinja2's (`dictsort` and `items` give
//! tuples, `string` and `join` use `str()`).

use std::collections::HashSet;

use indexmap::IndexMap;
use minijinja::value::{Rest, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind};
use regex::RegexBuilder;

use super::errors::{JinjaErrorKind, SaltJinjaError};
use super::mutable::{
    from_json, from_node, item, items_of, new_dict, new_list, new_tuple, pairs_of, split_args,
    PyDict, PyList, PyTuple,
};
use super::pyformat;
use super::pyrepr::{self, py_str, yaml_dquote, yaml_squote};

type Args = Rest<Value>;

fn fail(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// An error Salt reports as `Jinja syntax error:` (a `TemplateRuntimeError`).
fn runtime(msg: impl Into<String>) -> Error {
    SaltJinjaError {
        kind: JinjaErrorKind::Syntax,
        message: msg.into(),
    }
    .into_minijinja()
}

/// The n-th positional argument, else the keyword `name`, else `None`.
fn arg(args: &[Value], n: usize, name: &str) -> Option<Value> {
    let (pos, kw) = split_args(args);
    pos.get(n)
        .cloned()
        .or_else(|| kw.into_iter().find(|(k, _)| k == name).map(|(_, v)| v))
}

fn flag(args: &[Value], n: usize, name: &str) -> bool {
    arg(args, n, name).is_some_and(|v| v.is_true())
}

fn text(v: &Value) -> String {
    py_str(v)
}

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("yaml", |v: Value, a: Args| -> Result<Value, Error> {
        let flow = arg(&a, 0, "flow_style").is_none_or(|f| f.is_true());
        Ok(Value::from(yaml_text(&v, flow)))
    });
    env.add_filter("json", |v: Value, a: Args| -> Result<Value, Error> {
        let sort = arg(&a, 0, "sort_keys").is_none_or(|f| f.is_true());
        let indent = arg(&a, 1, "indent").and_then(|i| i.as_usize());
        Ok(Value::from(pyformat::json_dumps(&v, sort, indent, true)))
    });
    env.add_filter("tojson", |v: Value, a: Args| -> Result<Value, Error> {
        let indent = arg(&a, 0, "indent").and_then(|i| i.as_usize());
        let s = pyformat::json_dumps(&v, false, indent, true)
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026")
            .replace('\'', "\\u0027");
        Ok(Value::from(s))
    });
    env.add_filter("python", |v: Value| -> Value {
        Value::from(pyformat::sorted_repr(&v))
    });
    env.add_filter("load_yaml", load_yaml);
    env.add_filter("load_json", load_json);
    env.add_filter("load_text", |v: Value| Value::from(text(&v)));
    env.add_filter("yaml_encode", yaml_encode);
    env.add_filter("yaml_dquote", |v: Value| {
        Value::from(yaml_dquote(&text(&v)))
    });
    env.add_filter("yaml_squote", |v: Value| {
        Value::from(yaml_squote(&text(&v)))
    });
    env.add_filter("traverse", |v: Value, a: Args| -> Result<Value, Error> {
        let key = arg(&a, 0, "key").unwrap_or_default();
        let default = arg(&a, 1, "default").unwrap_or(Value::from(()));
        let delim = arg(&a, 2, "delimiter").map_or(":".to_string(), |d| text(&d));
        Ok(traverse(&v, &key, default, &delim))
    });
    env.add_filter("unique", |v: Value| -> Result<Value, Error> {
        Ok(new_list(unique(items_of(&v)?)))
    });
    env.add_filter("regex_match", |v: Value, a: Args| regex_find(&v, &a, true));
    env.add_filter("regex_search", |v: Value, a: Args| {
        regex_find(&v, &a, false)
    });
    env.add_filter("regex_replace", regex_replace);
    env.add_filter("regex_escape", |v: Value| {
        Value::from(python_re_escape(&text(&v)))
    });
    env.add_filter("to_bool", |v: Value| Value::from(to_bool(&v)));
    env.add_filter("sequence", |v: Value| -> Value {
        if matches!(v.kind(), ValueKind::Seq | ValueKind::Map) {
            v
        } else {
            new_list(vec![v])
        }
    });
    env.add_filter("is_list", |v: Value| Value::from(is_list(&v)));
    env.add_filter("is_iter", |v: Value| {
        Value::from(matches!(
            v.kind(),
            ValueKind::Seq | ValueKind::Map | ValueKind::Iterable
        ))
    });
    env.add_filter("exactly_one_true", |v: Value| -> Result<Value, Error> {
        Ok(Value::from(
            items_of(&v)?.iter().filter(|x| x.is_true()).count() == 1,
        ))
    });
    env.add_filter(
        "exactly_n_true",
        |v: Value, n: usize| -> Result<Value, Error> {
            Ok(Value::from(
                items_of(&v)?.iter().filter(|x| x.is_true()).count() == n,
            ))
        },
    );
    env.add_filter("skip", |_v: Value| Value::from(""));
    env.add_filter("quote", |v: Value| Value::from(shell_quote(&text(&v))));
    env.add_filter("min", |v: Value| -> Result<Value, Error> {
        items_of(&v)?
            .into_iter()
            .min()
            .ok_or_else(|| fail("min() arg is an empty sequence"))
    });
    env.add_filter("max", |v: Value| -> Result<Value, Error> {
        items_of(&v)?
            .into_iter()
            .max()
            .ok_or_else(|| fail("max() arg is an empty sequence"))
    });
    env.add_filter("avg", |v: Value| -> Result<Value, Error> {
        let items = items_of(&v)?;
        let sum: f64 = items
            .iter()
            .filter_map(|x| f64::try_from(x.clone()).ok())
            .sum();
        Ok(Value::from(sum / items.len().max(1) as f64))
    });
    env.add_filter("union", |a: Value, b: Value| -> Result<Value, Error> {
        let mut all = items_of(&a)?;
        all.extend(items_of(&b)?);
        Ok(new_list(unique(all)))
    });
    env.add_filter("intersect", |a: Value, b: Value| -> Result<Value, Error> {
        let other = items_of(&b)?;
        Ok(new_list(unique(
            items_of(&a)?
                .into_iter()
                .filter(|x| other.contains(x))
                .collect(),
        )))
    });
    env.add_filter("difference", |a: Value, b: Value| -> Result<Value, Error> {
        let other = items_of(&b)?;
        Ok(new_list(unique(
            items_of(&a)?
                .into_iter()
                .filter(|x| !other.contains(x))
                .collect(),
        )))
    });
    env.add_filter(
        "symmetric_difference",
        |a: Value, b: Value| -> Result<Value, Error> {
            let (la, lb) = (items_of(&a)?, items_of(&b)?);
            let mut out: Vec<Value> = la.iter().filter(|x| !lb.contains(x)).cloned().collect();
            out.extend(lb.iter().filter(|x| !la.contains(x)).cloned());
            Ok(new_list(unique(out)))
        },
    );
    env.add_filter("flatten", |v: Value| -> Result<Value, Error> {
        let mut out = Vec::new();
        flatten_into(&v, &mut out)?;
        Ok(new_list(out))
    });
    env.add_filter("path_join", |v: Value, a: Args| -> Value {
        let mut parts = vec![text(&v)];
        parts.extend(split_args(&a).0.iter().map(text));
        Value::from(path_join(&parts))
    });
    env.add_filter("sorted_ignorecase", |v: Value| -> Result<Value, Error> {
        let mut items = items_of(&v)?;
        items.sort_by_key(|x| text(x).to_lowercase());
        Ok(new_list(items))
    });
    env.add_filter("to_num", |v: Value| to_num(&v));
    env.add_filter("str_to_num", |v: Value| to_num(&v));
    env.add_filter(
        "substring_in_list",
        |s: Value, l: Value| -> Result<Value, Error> {
            let s = text(&s);
            Ok(Value::from(
                items_of(&l)?.iter().any(|x| text(x).contains(&s)),
            ))
        },
    );
    env.add_filter("contains_whitespace", |v: Value| {
        Value::from(text(&v).chars().any(char::is_whitespace))
    });
    env.add_filter("is_hex", |v: Value| {
        let s = text(&v);
        let s = s.strip_prefix("0x").unwrap_or(&s);
        Value::from(!s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit()))
    });
    env.add_filter("is_empty", |v: Value| -> Value {
        Value::from(items_of(&v).map(|i| i.is_empty()).unwrap_or(false))
    });
    env.add_filter("method_call", method_call);
    env.add_filter("dictsort", dictsort);
    env.add_filter("items", |v: Value| -> Result<Value, Error> {
        if v.is_undefined() || v.is_none() {
            return Ok(new_list(vec![]));
        }
        Ok(new_list(
            pairs_of(&v)?
                .into_iter()
                .map(|(k, v)| new_tuple(vec![k, v]))
                .collect(),
        ))
    });
    env.add_filter("truncate", |v: Value, a: Args| -> Value {
        // Jinja2's truncate(length=255, killwords=False, end='...', leeway=5)
        let s = text(&v);
        let length = arg(&a, 0, "length")
            .and_then(|l| l.as_usize())
            .unwrap_or(255);
        let killwords = flag(&a, 1, "killwords");
        let end = arg(&a, 2, "end").map_or("...".to_string(), |e| text(&e));
        let leeway = arg(&a, 3, "leeway").and_then(|l| l.as_usize()).unwrap_or(5);
        let chars: Vec<char> = s.chars().collect();
        if chars.len() <= length + leeway {
            return Value::from(s);
        }
        let head: String = chars[..length.saturating_sub(end.chars().count())]
            .iter()
            .collect();
        if killwords {
            return Value::from(format!("{head}{end}"));
        }
        let head = head
            .rsplit_once(' ')
            .map_or(head.as_str(), |(h, _)| h)
            .to_string();
        Value::from(format!("{head}{end}"))
    });
    env.add_filter("wordcount", |v: Value| {
        let words = text(&v)
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .count();
        Value::from(words as i64)
    });
    env.add_filter("string", |v: Value| Value::from(py_str(&v)));
    env.add_filter("format", |v: Value, a: Args| -> Result<Value, Error> {
        let (pos, kw) = split_args(&a);
        let operand = if !kw.is_empty() && pos.is_empty() {
            new_dict(kw.into_iter().map(|(k, v)| (Value::from(k), v)).collect())
        } else {
            new_tuple(pos)
        };
        pyformat::percent_format(&text(&v), &operand).map(Value::from)
    });
    env.add_filter("join", |v: Value, a: Args| -> Result<Value, Error> {
        let sep = arg(&a, 0, "d").map_or(String::new(), |s| text(&s));
        let attr = arg(&a, 1, "attribute");
        let items = items_of(&v)?;
        let parts: Vec<String> = items
            .iter()
            .map(|x| match &attr {
                Some(at) => text(&x.get_item(at).unwrap_or_default()),
                None => text(x),
            })
            .collect();
        Ok(Value::from(parts.join(&sep)))
    });
    env.add_filter("indent", indent);
    env.add_filter("list", |v: Value| -> Result<Value, Error> {
        if v.kind() == ValueKind::Map {
            return Ok(new_list(
                pairs_of(&v)?.into_iter().map(|(k, _)| k).collect(),
            ));
        }
        Ok(new_list(items_of(&v)?))
    });

    env.add_test("match", |v: Value, a: Args| -> Result<bool, Error> {
        Ok(!regex_find(&v, &a, true)?.is_none())
    });
    env.add_test("regex_match", |v: Value, a: Args| -> Result<bool, Error> {
        Ok(!regex_find(&v, &a, true)?.is_none())
    });
    env.add_test("callable", |v: Value| {
        v.as_object()
            .is_some_and(|o| matches!(o.repr(), minijinja::value::ObjectRepr::Plain))
    });
    env.add_test("equalto", |v: Value, other: Value| v == other);
    env.add_test("list", |v: Value| is_list(&v));
    env.add_test("is_list", |v: Value| is_list(&v));
    env.add_test("to_bool", |v: Value| to_bool(&v));
}

/// `|yaml`: Salt's filter over libyaml's `safe_dump` with its
/// `SafeOrderedDumper`: a plain dict's keys sorted, an `OrderedDict`'s
/// (pillar data) kept in order.
pub fn yaml_text(v: &Value, flow: bool) -> String {
    crate::yaml::format_yaml(&super::mutable::to_json_for_yaml(v), flow, false)
}

fn load_yaml(v: Value) -> Result<Value, Error> {
    let src = text(&v);
    match crate::yaml::load(&src) {
        Ok(node) => Ok(from_node(&node)),
        Err(e) => Err(runtime(format!(
            "Encountered error loading yaml: {}; line {}",
            e.message, e.line
        ))),
    }
}

fn load_json(v: Value) -> Result<Value, Error> {
    let src = text(&v);
    serde_json::from_str::<serde_json::Value>(&src)
        .map(|j| from_json(&j))
        .map_err(|_| runtime(format!("Unable to load json from {src}")))
}

fn yaml_encode(v: Value) -> Result<Value, Error> {
    let s = match v.kind() {
        ValueKind::None | ValueKind::Undefined => "null".to_string(),
        ValueKind::Bool => if v.is_true() { "true" } else { "false" }.to_string(),
        ValueKind::Number => {
            if v.is_integer() {
                v.to_string()
            } else {
                let f = f64::try_from(v.clone()).unwrap_or(f64::NAN);
                if f.is_nan() {
                    ".nan".into()
                } else if f.is_infinite() {
                    if f > 0.0 { ".inf" } else { "-.inf" }.into()
                } else {
                    pyrepr::float_repr(f)
                }
            }
        }
        ValueKind::String => yaml_dquote(v.as_str().unwrap_or_default()),
        _ => {
            return Err(fail(
                "yaml_encode() only works with YAML scalar data".to_string(),
            ))
        }
    };
    Ok(Value::from(s))
}

/// Salt's `traverse_dict_and_list`.
pub fn traverse(data: &Value, key: &Value, default: Value, delim: &str) -> Value {
    let parts: Vec<Value> = if let Some(s) = key.as_str() {
        s.split(delim).map(Value::from).collect()
    } else if key.kind() == ValueKind::Number {
        vec![key.clone()]
    } else {
        items_of(key).unwrap_or_default()
    };
    let mut ptr = data.clone();
    for each in parts {
        if is_list(&ptr) || ptr.downcast_object_ref::<PyTuple>().is_some() {
            let items = items_of(&ptr).unwrap_or_default();
            let idx = text(&each).trim().parse::<i64>().ok();
            let embedded = items
                .iter()
                .filter(|x| x.kind() == ValueKind::Map)
                .find_map(|d| {
                    let k = idx.map(Value::from).unwrap_or_else(|| each.clone());
                    item(d, &k)
                });
            match (embedded, idx) {
                (Some(v), _) => ptr = v,
                (None, Some(i)) => {
                    let len = items.len() as i64;
                    let at = if i < 0 { len + i } else { i };
                    match items.get(at as usize) {
                        Some(v) if at >= 0 => ptr = v.clone(),
                        _ => return default,
                    }
                }
                (None, None) => return default,
            }
        } else if ptr.kind() == ValueKind::Map {
            match item(&ptr, &each) {
                Some(v) => ptr = v,
                None => {
                    // a key that reads as another YAML type (`1`, `true`)
                    let loaded = crate::yaml::load(&text(&each)).ok().map(|n| from_node(&n));
                    match loaded {
                        Some(k) if k != each => match item(&ptr, &k) {
                            Some(v) => ptr = v,
                            None => return default,
                        },
                        _ => return default,
                    }
                }
            }
        } else {
            return default;
        }
    }
    ptr
}

fn unique(items: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for v in items {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

fn regex_find(v: &Value, a: &[Value], anchored: bool) -> Result<Value, Error> {
    let pattern = text(&arg(a, 0, "rgx").unwrap_or_default());
    let re = RegexBuilder::new(&translate_python_regex(&pattern))
        .case_insensitive(flag(a, 1, "ignorecase"))
        .multi_line(flag(a, 2, "multiline"))
        .build()
        .map_err(|e| fail(format!("bad regular expression: {e}")))?;
    let subject = text(v);
    let caps = if anchored {
        re.captures(&subject)
            .filter(|c| c.get(0).is_some_and(|m| m.start() == 0))
    } else {
        re.captures(&subject)
    };
    // `re.match` tries at position 0 only; a later match does not count,
    // but an earlier-starting alternative might exist: retry anchored
    let caps = match (anchored, caps) {
        (true, None) => RegexBuilder::new(&format!("^(?:{})", translate_python_regex(&pattern)))
            .case_insensitive(flag(a, 1, "ignorecase"))
            .multi_line(false)
            .build()
            .ok()
            .and_then(|r| {
                r.captures(&subject).map(|c| {
                    c.iter()
                        .map(|m| m.map(|m| m.as_str().to_string()))
                        .collect::<Vec<_>>()
                })
            }),
        (_, Some(c)) => Some(
            c.iter()
                .map(|m| m.map(|m| m.as_str().to_string()))
                .collect::<Vec<_>>(),
        ),
        (false, None) => None,
    };
    let Some(groups) = caps else {
        return Ok(Value::from(()));
    };
    let to_val = |g: &Option<String>| g.as_deref().map_or(Value::from(()), Value::from);
    if groups.len() == 1 {
        return Ok(new_tuple(vec![to_val(&groups[0])]));
    }
    Ok(new_tuple(groups[1..].iter().map(to_val).collect()))
}

fn regex_replace(v: Value, a: Args) -> Result<Value, Error> {
    let pattern = text(&arg(&a, 0, "rgx").unwrap_or_default());
    let replacement = text(&arg(&a, 1, "val").unwrap_or_default());
    let re = RegexBuilder::new(&translate_python_regex(&pattern))
        .case_insensitive(flag(&a, 2, "ignorecase"))
        .multi_line(flag(&a, 3, "multiline"))
        .build()
        .map_err(|e| fail(format!("bad regular expression: {e}")))?;
    Ok(Value::from(
        re.replace_all(&text(&v), python_replacement(&replacement).as_str())
            .into_owned(),
    ))
}

/// Python regex syntax the `regex` crate spells differently: named groups
/// `(?P<n>...)` are accepted by both; `\Z` is `\z`.
fn translate_python_regex(p: &str) -> String {
    p.replace("\\Z", "\\z")
}

/// Python's `\1`, `\g<1>`, `\g<name>` in a replacement, as `${1}`; a
/// literal `$` escaped.
fn python_replacement(r: &str) -> String {
    let mut out = String::new();
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() => {
                    let mut num = String::new();
                    while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                        num.push(d);
                        chars.next();
                    }
                    out.push_str(&format!("${{{num}}}"));
                }
                Some('g') => {
                    chars.next();
                    if chars.peek() == Some(&'<') {
                        chars.next();
                        let name: String = chars.by_ref().take_while(|c| *c != '>').collect();
                        out.push_str(&format!("${{{name}}}"));
                    } else {
                        out.push_str("\\g");
                    }
                }
                Some('n') => {
                    chars.next();
                    out.push('\n');
                }
                Some('t') => {
                    chars.next();
                    out.push('\t');
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

fn python_re_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if !(c.is_alphanumeric() || c == '_') && (c as u32) < 128 {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Salt's `to_bool`.
pub fn to_bool(v: &Value) -> bool {
    match v.kind() {
        ValueKind::None | ValueKind::Undefined => false,
        ValueKind::Bool => v.is_true(),
        ValueKind::String => matches!(
            v.as_str().unwrap_or_default().to_lowercase().as_str(),
            "yes" | "1" | "true"
        ),
        ValueKind::Number if v.is_integer() => v.as_i64().is_some_and(|i| i > 0),
        ValueKind::Seq | ValueKind::Map => items_of(v).map(|i| !i.is_empty()).unwrap_or(false),
        _ => false,
    }
}

fn is_list(v: &Value) -> bool {
    v.downcast_object_ref::<PyList>().is_some()
        || (v.kind() == ValueKind::Seq && v.downcast_object_ref::<PyTuple>().is_none())
}

fn shell_quote(s: &str) -> String {
    if s.is_empty() {
        return "''".into();
    }
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

fn flatten_into(v: &Value, out: &mut Vec<Value>) -> Result<(), Error> {
    for item in items_of(v)? {
        if is_list(&item) {
            flatten_into(&item, out)?;
        } else if !(item.is_none() || item.kind() == ValueKind::Seq && items_of(&item)?.is_empty())
        {
            out.push(item);
        }
    }
    Ok(())
}

/// Python's `os.path.join`.
fn path_join(parts: &[String]) -> String {
    let mut out = String::new();
    for p in parts {
        if p.starts_with('/') || out.is_empty() {
            out = p.clone();
        } else if out.ends_with('/') {
            out.push_str(p);
        } else {
            out.push('/');
            out.push_str(p);
        }
    }
    out
}

fn to_num(v: &Value) -> Value {
    let s = text(v);
    if let Ok(i) = s.trim().parse::<i64>() {
        return Value::from(i);
    }
    if let Ok(f) = s.trim().parse::<f64>() {
        return Value::from(f);
    }
    v.clone()
}

fn method_call(
    state: &minijinja::State,
    obj: Value,
    name: String,
    args: Args,
) -> Result<Value, Error> {
    obj.call_method(state, &name, &args)
        .or_else(|_| Ok(Value::from(())))
}

fn dictsort(v: Value, a: Args) -> Result<Value, Error> {
    let case_sensitive = flag(&a, 0, "case_sensitive");
    let by_value = arg(&a, 1, "by").is_some_and(|b| b.as_str() == Some("value"));
    let reverse = flag(&a, 2, "reverse");
    let mut pairs = pairs_of(&v)?;
    let key_of = |(k, val): &(Value, Value)| {
        let x = if by_value { val.clone() } else { k.clone() };
        match (case_sensitive, x.as_str()) {
            (false, Some(s)) => Value::from(s.to_lowercase()),
            _ => x,
        }
    };
    pairs.sort_by_key(key_of);
    if reverse {
        pairs.reverse();
    }
    Ok(new_list(
        pairs
            .into_iter()
            .map(|(k, v)| new_tuple(vec![k, v]))
            .collect(),
    ))
}

/// Jinja2's `indent(width=4, first=False, blank=False)`.
fn indent(v: Value, a: Args) -> Value {
    let width = arg(&a, 0, "width").unwrap_or(Value::from(4));
    let pad = match width.as_str() {
        Some(s) => s.to_string(),
        None => " ".repeat(width.as_usize().unwrap_or(4)),
    };
    let first = flag(&a, 1, "first");
    let blank = flag(&a, 2, "blank");
    let s = format!("{}\n", text(&v));
    let lines: Vec<&str> = s.lines().collect();
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push('\n');
            if blank || !line.is_empty() {
                out.push_str(&pad);
            }
        }
        out.push_str(line);
    }
    if first {
        out = format!("{pad}{out}");
    }
    Value::from(out)
}

/// `show_full_context()`: the variables a template sees, as data.
pub fn context_snapshot(names: &[(String, Value)]) -> Value {
    let mut map = IndexMap::new();
    let mut seen = HashSet::new();
    for (k, v) in names {
        if k.starts_with("__") || k == "salt" || !seen.insert(k.clone()) {
            continue;
        }
        if v.downcast_object_ref::<PyDict>().is_some()
            || !matches!(v.kind(), ValueKind::Plain | ValueKind::Invalid)
        {
            map.insert(Value::from(k.as_str()), v.clone());
        }
    }
    new_dict(map)
}
