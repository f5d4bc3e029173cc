//! The minijinja environment configured as Salt's Jinja environment:
//! `StrictUndefined`, no trim/lstrip, Python printing, Salt's filters and
//! globals, templates loaded from the file roots of the saltenv.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use minijinja::value::{Rest, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State, UndefinedBehavior};

use super::errors::{JinjaErrorKind, SaltJinjaError};
use super::filters;
use super::host::Host;
use super::mutable::{
    from_json, from_node, items_of, new_list, new_tuple, split_args, to_mutable, PyTuple,
};
use super::preprocess::preprocess;
use super::pyformat;
use super::pyrepr::{self, py_str};

/// Preprocessed sources by template name, to quote them in errors.
pub type Sources = Arc<Mutex<HashMap<String, String>>>;

/// Resolves a template name as Salt's loader does: `salt://` stripped,
/// `./` and `../` relative to the importing template's directory.
pub fn join_path(name: &str, parent: &str) -> String {
    let name = name.trim_start_matches("salt://");
    let relative = name.starts_with("./") || name.starts_with("../");
    let mut parts: Vec<&str> = if relative {
        match parent.rsplit_once('/') {
            Some((dir, _)) => dir.split('/').collect(),
            None => Vec::new(),
        }
    } else {
        Vec::new()
    };
    for p in name.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

fn undefined_error() -> Error {
    Error::from(ErrorKind::UndefinedError)
}

fn check_defined(v: &Value) -> Result<(), Error> {
    if v.is_undefined() {
        Err(undefined_error())
    } else {
        Ok(())
    }
}

fn number_like(v: &Value) -> bool {
    matches!(v.kind(), ValueKind::Number | ValueKind::Bool)
}

fn as_int(v: &Value) -> Option<i128> {
    if v.kind() == ValueKind::Bool {
        return Some(v.is_true() as i128);
    }
    if v.is_integer() {
        return i128::try_from(v.clone()).ok();
    }
    None
}

fn int_value(i: i128) -> Value {
    match i64::try_from(i) {
        Ok(i) => Value::from(i),
        Err(_) => Value::from(i),
    }
}

/// Python's `a + b`.
fn py_add(a: Value, b: Value) -> Result<Value, Error> {
    check_defined(&a)?;
    check_defined(&b)?;
    if let (Some(x), Some(y)) = (as_int(&a), as_int(&b)) {
        return x
            .checked_add(y)
            .map(int_value)
            .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "integer overflow"));
    }
    if number_like(&a) && number_like(&b) {
        let x = f64::try_from(a.clone()).unwrap_or(if a.is_true() { 1.0 } else { 0.0 });
        let y = f64::try_from(b.clone()).unwrap_or(if b.is_true() { 1.0 } else { 0.0 });
        return Ok(Value::from(x + y));
    }
    if let (Some(x), Some(y)) = (a.as_str(), b.as_str()) {
        return Ok(Value::from(format!("{x}{y}")));
    }
    let seqs = |v: &Value| matches!(v.kind(), ValueKind::Seq | ValueKind::Iterable);
    if seqs(&a) && seqs(&b) {
        let mut items = items_of(&a)?;
        items.extend(items_of(&b)?);
        if a.downcast_object_ref::<PyTuple>().is_some() {
            return Ok(new_tuple(items));
        }
        return Ok(new_list(items));
    }
    Err(Error::new(
        ErrorKind::InvalidOperation,
        format!(
            "unsupported operand type(s) for +: '{}' and '{}'",
            type_name(&a),
            type_name(&b)
        ),
    ))
}

fn type_name(v: &Value) -> &'static str {
    match v.kind() {
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if v.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Map => "dict",
        ValueKind::Seq if v.downcast_object_ref::<PyTuple>().is_some() => "tuple",
        ValueKind::Seq => "list",
        _ => "object",
    }
}

/// Python's `a % b`: string formatting or a modulo with the divisor's sign.
fn py_mod(a: Value, b: Value) -> Result<Value, Error> {
    check_defined(&a)?;
    check_defined(&b)?;
    if let Some(fmt) = a.as_str() {
        return pyformat::percent_format(fmt, &b).map(Value::from);
    }
    if let (Some(x), Some(y)) = (as_int(&a), as_int(&b)) {
        if y == 0 {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "integer division or modulo by zero",
            ));
        }
        return Ok(int_value(
            x.rem_euclid(y) + if y < 0 && x.rem_euclid(y) != 0 { y } else { 0 },
        ));
    }
    let x = f64::try_from(a.clone()).map_err(|_| Error::from(ErrorKind::InvalidOperation))?;
    let y = f64::try_from(b.clone()).map_err(|_| Error::from(ErrorKind::InvalidOperation))?;
    if y == 0.0 {
        return Err(Error::new(ErrorKind::InvalidOperation, "float modulo"));
    }
    Ok(Value::from(x - y * (x / y).floor()))
}

/// Python string methods pycompat lacks, or gets differently.
fn string_method(s: &str, method: &str, args: &[Value]) -> Result<Option<Value>, Error> {
    let (pos, kw) = split_args(args);
    let arg = |i: usize, name: &str| {
        pos.get(i)
            .cloned()
            .or_else(|| kw.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .filter(|v| !v.is_none())
    };
    let width = || arg(0, "width").and_then(|w| w.as_usize()).unwrap_or(0);
    let fill = || {
        arg(1, "fillchar")
            .and_then(|f| f.as_str().and_then(|s| s.chars().next()))
            .unwrap_or(' ')
    };
    let len = s.chars().count();
    let rv = match method {
        "format" => Value::from(pyformat::str_format(s, args)?),
        "split" | "rsplit" => {
            let sep = arg(0, "sep").map(|v| py_str(&v));
            let max = arg(1, "maxsplit")
                .and_then(|v| v.as_i64())
                .filter(|m| *m >= 0)
                .map(|m| m as usize);
            new_list(
                py_split(s, sep.as_deref(), max, method == "rsplit")
                    .into_iter()
                    .map(Value::from)
                    .collect(),
            )
        }
        "startswith" | "endswith" => {
            let what = arg(0, "prefix").unwrap_or_default();
            let cands: Vec<String> = if what.as_str().is_some() {
                vec![py_str(&what)]
            } else {
                items_of(&what)?.iter().map(py_str).collect()
            };
            Value::from(cands.iter().any(|c| {
                if method == "startswith" {
                    s.starts_with(c.as_str())
                } else {
                    s.ends_with(c.as_str())
                }
            }))
        }
        "zfill" => {
            let w = width();
            if len >= w {
                Value::from(s)
            } else {
                let (sign, rest) = match s.chars().next() {
                    Some(c @ ('+' | '-')) => (c.to_string(), &s[1..]),
                    _ => (String::new(), s),
                };
                Value::from(format!("{sign}{}{rest}", "0".repeat(w - len)))
            }
        }
        "center" | "ljust" | "rjust" => {
            let w = width();
            if len >= w {
                Value::from(s)
            } else {
                let n = w - len;
                let f = fill().to_string();
                Value::from(match method {
                    "ljust" => format!("{s}{}", f.repeat(n)),
                    "rjust" => format!("{}{s}", f.repeat(n)),
                    // Python puts the odd extra fill on the left when the
                    // string length is odd... and width even; it uses
                    // left = n/2 + (n & w & 1)
                    _ => {
                        let left = n / 2 + (n & w & 1);
                        format!("{}{s}{}", f.repeat(left), f.repeat(n - left))
                    }
                })
            }
        }
        "partition" | "rpartition" => {
            let sep = py_str(&arg(0, "sep").unwrap_or_default());
            let found = if method == "partition" {
                s.find(&sep)
            } else {
                s.rfind(&sep)
            };
            let parts = match found {
                Some(i) if !sep.is_empty() => {
                    vec![&s[..i], sep.as_str(), &s[i + sep.len()..]]
                }
                _ if method == "partition" => vec![s, "", ""],
                _ => vec!["", "", s],
            };
            new_tuple(parts.into_iter().map(Value::from).collect())
        }
        "removeprefix" => {
            let p = py_str(&arg(0, "prefix").unwrap_or_default());
            Value::from(s.strip_prefix(p.as_str()).unwrap_or(s))
        }
        "removesuffix" => {
            let p = py_str(&arg(0, "suffix").unwrap_or_default());
            Value::from(s.strip_suffix(p.as_str()).unwrap_or(s))
        }
        "swapcase" => Value::from(
            s.chars()
                .map(|c| {
                    if c.is_uppercase() {
                        c.to_lowercase().collect::<String>()
                    } else {
                        c.to_uppercase().collect()
                    }
                })
                .collect::<String>(),
        ),
        "casefold" => Value::from(s.to_lowercase()),
        "index" | "rindex" => {
            let sub = py_str(&arg(0, "sub").unwrap_or_default());
            let found = if method == "index" {
                s.find(&sub)
            } else {
                s.rfind(&sub)
            };
            match found {
                Some(i) => Value::from(s[..i].chars().count() as i64),
                None => {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        "substring not found",
                    ))
                }
            }
        }
        "encode" | "decode" => Value::from(s),
        _ => return Ok(None),
    };
    Ok(Some(rv))
}

/// Python's `str.split` / `str.rsplit`.
pub fn py_split(s: &str, sep: Option<&str>, max: Option<usize>, from_right: bool) -> Vec<String> {
    match sep {
        None => {
            let words: Vec<&str> = s.split_whitespace().collect();
            match max {
                Some(m) if words.len() > m + 1 => {
                    if from_right {
                        // the leftmost part keeps its inner whitespace
                        let keep = words.len() - m;
                        let mut rest = s.trim_end();
                        let mut tail = Vec::new();
                        for _ in 0..m {
                            let cut = rest.rfind(char::is_whitespace).unwrap_or(0);
                            tail.push(rest[cut..].trim().to_string());
                            rest = rest[..cut].trim_end();
                        }
                        let _ = keep;
                        let mut out = vec![rest.trim_start().to_string()];
                        out.extend(tail.into_iter().rev());
                        out
                    } else {
                        let mut out = Vec::new();
                        let mut rest = s.trim_start();
                        for _ in 0..m {
                            let cut = rest.find(char::is_whitespace).unwrap_or(rest.len());
                            out.push(rest[..cut].to_string());
                            rest = rest[cut..].trim_start();
                        }
                        out.push(rest.to_string());
                        out
                    }
                }
                _ => words.into_iter().map(String::from).collect(),
            }
        }
        Some("") => vec![s.to_string()],
        Some(sep) => match (max, from_right) {
            (Some(m), false) => s.splitn(m + 1, sep).map(String::from).collect(),
            (Some(m), true) => {
                let mut v: Vec<String> = s.rsplitn(m + 1, sep).map(String::from).collect();
                v.reverse();
                v
            }
            (None, _) => s.split(sep).map(String::from).collect(),
        },
    }
}

fn unknown_method(
    state: &State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    if let Some(s) = value.as_str() {
        if let Some(rv) = string_method(s, method, args)? {
            return Ok(rv);
        }
    }
    minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args).map(to_mutable)
}

/// Renders an imported data file: Jinja first (globals only, like Salt's
/// `import` without context), then the `parse` step.
fn import_data(state: &State, name: &Value, current: &str) -> Result<String, Error> {
    check_defined(name)?;
    let resolved = join_path(&py_str(name), current);
    let tmpl = state.env().get_template(&resolved)?;
    tmpl.render(minijinja::context! {})
}

/// Template instructions one render may execute (`set_fuel`); the largest
/// formula of the shared corpus needs well under a hundredth of it.
pub const RENDER_FUEL: u64 = 50_000_000;

/// Everything a render sees: `globals` are the Salt context variables.
pub fn build(host: Host, sources: Sources, globals: Vec<(String, Value)>) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(false);
    env.set_recursion_limit(500);
    // A render may not run forever (a runaway `for` over 10^10 items would
    // hold a CPU until the minion restarts, and no kill can reach inside
    // it): every render gets a budget of template instructions, far above
    // what the largest real formula takes.
    env.set_fuel(Some(RENDER_FUEL));
    // ... and stops at its next step once the job it serves is killed.
    env.set_interrupt(crate::Cancel::current().map(|c| c.flag()));
    // a macro's extra positional arguments are a tuple, as in Jinja2
    env.set_varargs_maker(Some(new_tuple));
    env.set_debug(true);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_formatter(|out, _state, value| {
        check_defined(value)?;
        out.write_str(&pyrepr::printable(value))?;
        Ok(())
    });
    env.set_unknown_method_callback(unknown_method);
    env.set_path_join_callback(|name, parent| Cow::Owned(join_path(name, parent)));
    {
        let host = host.clone();
        let sources = sources.clone();
        env.set_loader(move |name| {
            let name = join_path(name, "");
            match host.read(&name) {
                Ok(Some(bytes)) => {
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    let text = preprocess(&text, &name);
                    if let Ok(mut s) = sources.lock() {
                        s.insert(name.clone(), text.clone());
                    }
                    Ok(Some(text))
                }
                Ok(None) => Ok(None),
                Err(e) => Err(Error::new(ErrorKind::TemplateNotFound, e.to_string())),
            }
        });
    }
    filters::register(&mut env);

    env.add_function("__pydict", |v: Value| to_mutable(v));
    env.add_function("__pylist", |v: Value| to_mutable(v));
    env.add_function("__pytuple", |v: Value| -> Result<Value, Error> {
        Ok(new_tuple(items_of(&v)?))
    });
    env.add_function("__pyadd", py_add);
    env.add_function("__pymod", py_mod);
    env.add_function("__pyconcat", |a: Value, b: Value| -> Result<Value, Error> {
        check_defined(&a)?;
        check_defined(&b)?;
        Ok(Value::from(format!("{}{}", py_str(&a), py_str(&b))))
    });
    env.add_function(
        "__import_yaml",
        |state: &State, name: Value, current: String| -> Result<Value, Error> {
            let text = import_data(state, &name, &current)?;
            crate::yaml::load(&text)
                .map(|n| from_node(&n))
                .map_err(|e| {
                    SaltJinjaError {
                        kind: JinjaErrorKind::Syntax,
                        message: format!(
                            "Encountered error loading yaml: {}; line {}",
                            e.message, e.line
                        ),
                    }
                    .into_minijinja()
                })
        },
    );
    env.add_function(
        "__import_json",
        |state: &State, name: Value, current: String| -> Result<Value, Error> {
            let text = import_data(state, &name, &current)?;
            serde_json::from_str::<serde_json::Value>(&text)
                .map(|j| from_json(&j))
                .map_err(|_| {
                    SaltJinjaError {
                        kind: JinjaErrorKind::Syntax,
                        message: format!("Unable to load json from {text}"),
                    }
                    .into_minijinja()
                })
        },
    );
    env.add_function(
        "__import_text",
        |state: &State, name: Value, current: String| -> Result<Value, Error> {
            import_data(state, &name, &current).map(Value::from)
        },
    );
    env.add_function("raise", |msg: Value| -> Result<Value, Error> {
        Err(SaltJinjaError {
            kind: JinjaErrorKind::Other,
            message: py_str(&msg),
        }
        .into_minijinja())
    });
    env.add_function("odict", |args: Rest<Value>| -> Result<Value, Error> {
        let (pos, kw) = split_args(&args);
        let mut items = indexmap::IndexMap::new();
        if let Some(first) = pos.first() {
            for (k, v) in super::mutable::pairs_of(first)? {
                items.insert(k, v);
            }
        }
        for (k, v) in kw {
            items.insert(Value::from(k), v);
        }
        Ok(super::mutable::new_dict(items))
    });
    env.add_function("ifelse", |args: Rest<Value>| -> Value {
        // Salt's ifelse: pairs of (condition, value), then a default
        let (pos, _) = split_args(&args);
        let mut it = pos.chunks(2);
        for pair in it.by_ref() {
            match pair {
                [cond, value] if cond.is_true() => return value.clone(),
                [default] => return default.clone(),
                _ => {}
            }
        }
        Value::from(())
    });
    {
        let names = globals.clone();
        env.add_function("show_full_context", move || {
            filters::context_snapshot(&names)
        });
    }
    for (k, v) in globals {
        env.add_global(k, v);
    }
    let _ = host;
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_names_resolve_like_salts_loader() {
        assert_eq!(join_path("salt://x/map.jinja", "a/b.sls"), "x/map.jinja");
        assert_eq!(join_path("./map.jinja", "a/b.sls"), "a/map.jinja");
        assert_eq!(join_path("../c/d.jinja", "a/b/c.sls"), "a/c/d.jinja");
        assert_eq!(join_path("x/y.jinja", "a/b.sls"), "x/y.jinja");
    }

    #[test]
    fn split_like_python() {
        assert_eq!(py_split("a b  c", None, None, false), ["a", "b", "c"]);
        assert_eq!(py_split("a.b.c", Some("."), Some(1), true), ["a.b", "c"]);
        assert_eq!(
            py_split("a,b,,c", Some(","), None, false),
            ["a", "b", "", "c"]
        );
        assert_eq!(py_split(" a b c ", None, Some(1), false), ["a", "b c "]);
    }
}
