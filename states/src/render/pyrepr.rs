//! Values printed the way Python prints them: `{{ x }}` in a Salt template is
//! Python's `str()` (with Salt's finalizer for dicts), so `None`, `True`,
//! `{'a': [1, 'x']}` and `('a', 1)` reach the YAML stage, which then reads
//! them back.

use minijinja::value::{Value, ValueKind};

use super::mutable::{items_of, pairs_of, PyTuple};

/// Python's `str()`.
pub fn py_str(v: &Value) -> String {
    match v.kind() {
        ValueKind::String => v.as_str().unwrap_or_default().to_string(),
        _ => py_repr(v),
    }
}

/// Python's `repr()`.
pub fn py_repr(v: &Value) -> String {
    let mut out = String::new();
    write_repr(&mut out, v, false);
    out
}

/// What Salt's Jinja finalizer prints for `{{ x }}`: `str()`, except that
/// strings with newlines or tabs inside a dict are YAML double-quoted so the
/// YAML stage reads them back intact (Salt's `PrintableDict`).
pub fn printable(v: &Value) -> String {
    match v.kind() {
        ValueKind::String => v.as_str().unwrap_or_default().to_string(),
        _ => {
            let mut out = String::new();
            write_repr(&mut out, v, true);
            out
        }
    }
}

fn write_repr(out: &mut String, v: &Value, yaml_safe: bool) {
    if v.is_undefined() || v.is_none() {
        out.push_str("None");
        return;
    }
    match v.kind() {
        ValueKind::Bool => out.push_str(if v.is_true() { "True" } else { "False" }),
        ValueKind::Number => out.push_str(&number(v)),
        ValueKind::String => out.push_str(&str_repr(v.as_str().unwrap_or_default())),
        ValueKind::Map => {
            out.push('{');
            for (i, (k, val)) in pairs_of(v).unwrap_or_default().iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, k, false);
                out.push_str(": ");
                match val.as_str() {
                    Some(s) if yaml_safe && s.contains(['\n', '\r', '\t']) => {
                        out.push_str(&yaml_dquote(s))
                    }
                    _ => write_repr(out, val, yaml_safe),
                }
            }
            out.push('}');
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let tuple = v.downcast_object_ref::<PyTuple>().is_some();
            let items = items_of(v).unwrap_or_default();
            out.push(if tuple { '(' } else { '[' });
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, item, yaml_safe);
            }
            if tuple && items.len() == 1 {
                out.push(',');
            }
            out.push(if tuple { ')' } else { ']' });
        }
        _ => out.push_str(&v.to_string()),
    }
}

/// Python's `repr()` of an int or float.
pub fn number(v: &Value) -> String {
    if v.is_integer() {
        return v.to_string();
    }
    match f64::try_from(v.clone()) {
        Ok(f) => float_repr(f),
        Err(_) => v.to_string(),
    }
}

pub use crate::pyrepr::{float_repr, str_repr};

/// A YAML double-quoted scalar as PyYAML writes it (`"a\nb"`).
/// `|yaml_dquote`: a double-quoted YAML scalar.
pub fn yaml_dquote(s: &str) -> String {
    crate::yaml::dquote(s)
}

/// `|yaml_squote`: a single-quoted YAML scalar.
pub fn yaml_squote(s: &str) -> String {
    crate::yaml::squote(s)
}
