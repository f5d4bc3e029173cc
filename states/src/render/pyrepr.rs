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

/// Python's `repr()` of a float: shortest round-trip digits, exponent form
/// below 1e-4 and from 1e16.
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if neg { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let n = digits.len() as i32;
        let body = if exp >= 0 {
            let int_len = exp + 1;
            if n <= int_len {
                format!("{digits}{}.0", "0".repeat((int_len - n) as usize))
            } else {
                format!(
                    "{}.{}",
                    &digits[..int_len as usize],
                    &digits[int_len as usize..]
                )
            }
        } else {
            format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
        };
        format!("{sign}{body}")
    } else {
        let m = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{m}e{esign}{:02}", exp.abs())
    }
}

/// Python's `repr()` of a str.
pub fn str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if (0x80..0xa0).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// A YAML double-quoted scalar as PyYAML writes it (`"a\nb"`).
/// `|yaml_dquote`: a double-quoted YAML scalar.
pub fn yaml_dquote(s: &str) -> String {
    crate::yaml::dquote(s)
}

/// `|yaml_squote`: a single-quoted YAML scalar.
pub fn yaml_squote(s: &str) -> String {
    crate::yaml::squote(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_python() {
        assert_eq!(float_repr(2.0), "2.0");
        assert_eq!(float_repr(3.5), "3.5");
        assert_eq!(float_repr(0.1), "0.1");
        assert_eq!(float_repr(1e16), "1e+16");
        assert_eq!(float_repr(123456.789), "123456.789");
        assert_eq!(float_repr(0.0001), "0.0001");
        assert_eq!(float_repr(0.00001), "1e-05");
        assert_eq!(float_repr(-1.25e-7), "-1.25e-07");
    }

    #[test]
    fn strings_repr_like_python() {
        assert_eq!(str_repr("a"), "'a'");
        assert_eq!(str_repr("it's"), "\"it's\"");
        assert_eq!(str_repr("a'\"b"), "'a\\'\"b'");
        assert_eq!(str_repr("x\ny"), "'x\\ny'");
        assert_eq!(str_repr("é"), "'é'");
    }
}
