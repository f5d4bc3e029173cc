//! Python's text forms of JSON data. Salt embeds them everywhere users
//! read: state comments (`groups: ['adm', 'wheel']`), requisite errors,
//! outputters (`{'web1': True}`), rendered templates (`None`, `True`). One
//! implementation for the whole workspace.

use serde_json::{Map, Number, Value};

/// Python's `str(value)`: strings bare, everything else as `repr`.
pub fn py_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// `repr(float)`: the shortest digits that read back to the same double,
/// in exponent form when the exponent is below -4 or at least 16.
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    let sign = if x.is_sign_negative() { "-" } else { "" };
    // `{:e}` prints the shortest round-trip digits, as Python's repr does.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let decpt = exp + 1;
    let body = if decpt <= -4 || decpt > 16 {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        format!("{first}{frac}e{exp_sign}{:02}", exp.unsigned_abs())
    } else if decpt <= 0 {
        format!("0.{}{digits}", "0".repeat(decpt.unsigned_abs() as usize))
    } else {
        let point = decpt as usize;
        if point >= digits.len() {
            format!("{digits}{}.0", "0".repeat(point - digits.len()))
        } else {
            let (int, frac) = digits.split_at(point);
            format!("{int}.{frac}")
        }
    };
    format!("{sign}{body}")
}

/// `repr()` of a JSON number: integers as they are, floats as Python's.
pub fn number_repr(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        float_repr(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// `str.isprintable()` for one character, close enough: controls, the
/// separators other than space, format characters, private use and
/// non-characters are not printable. Unassigned code points count as
/// printable here (Python would escape them).
fn is_printable(c: char) -> bool {
    let u = c as u32;
    !(c.is_control()
        || matches!(u,
            0xA0 | 0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x890..=0x891 | 0x8E2
            | 0x1680 | 0x180E | 0x2000..=0x200F | 0x2028..=0x202F | 0x205F..=0x2064
            | 0x2066..=0x206F | 0x3000 | 0xD800..=0xF8FF | 0xFDD0..=0xFDEF | 0xFEFF
            | 0xFFF9..=0xFFFB | 0xFFFE..=0xFFFF | 0x110BD | 0x110CD | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F
            | 0xF0000..=0x10FFFF)
        || u & 0xFFFE == 0xFFFE)
}

/// `repr(str)`: single quotes unless the text holds a `'` and no `"`.
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
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c if !c.is_ascii() && is_printable(c) => out.push(c),
            c if (c as u32) <= 0xFF => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) <= 0xFFFF => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push(quote);
    out
}

/// `repr()` of JSON data as Python holds it (`dict`, `list`, `str`, `int`,
/// `float`, `bool`, `None`), in the map's own order.
pub fn py_repr(v: &Value) -> String {
    let mut out = String::new();
    write_repr(v, false, &mut out);
    out
}

/// `repr()` with dict keys sorted, as `pprint` prints them.
pub fn py_repr_sorted(v: &Value) -> String {
    let mut out = String::new();
    write_repr(v, true, &mut out);
    out
}

fn write_repr(v: &Value, sort: bool, out: &mut String) {
    match v {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => out.push_str(&number_repr(n)),
        Value::String(s) => out.push_str(&str_repr(s)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(item, sort, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let entries = if sort {
                sorted_entries(map)
            } else {
                map.iter().map(|(k, v)| (k.as_str(), v)).collect()
            };
            write_dict_repr(&entries, sort, out);
        }
    }
}

/// `repr()` of a dict given as entries (`{'web1': True}`).
pub fn dict_repr(entries: &[(&str, &Value)]) -> String {
    let mut out = String::new();
    write_dict_repr(entries, false, &mut out);
    out
}

fn write_dict_repr(entries: &[(&str, &Value)], sort: bool, out: &mut String) {
    out.push('{');
    for (i, (key, value)) in entries.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&str_repr(key));
        out.push_str(": ");
        write_repr(value, sort, out);
    }
    out.push('}');
}

/// A map's entries sorted by key, as Python's `sorted(d)` orders them
/// (by code point, which is UTF-8 byte order).
pub fn sorted_entries(map: &Map<String, Value>) -> Vec<(&str, &Value)> {
    let mut entries: Vec<(&str, &Value)> = map.iter().map(|(k, v)| (k.as_str(), v)).collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prints_like_python() {
        assert_eq!(py_repr(&json!(["adm", "wheel"])), "['adm', 'wheel']");
        assert_eq!(
            py_repr(&json!({"shell": "/bin/sh", "uid": 5, "x": null, "y": true, "f": 2.0})),
            "{'shell': '/bin/sh', 'uid': 5, 'x': None, 'y': True, 'f': 2.0}"
        );
        assert_eq!(
            py_repr_sorted(&json!({"b": 1, "a": [1e16]})),
            "{'a': [1e+16], 'b': 1}"
        );
        assert_eq!(str_repr("it's"), "\"it's\"");
        assert_eq!(str_repr("a'\"b"), "'a\\'\"b'");
        assert_eq!(str_repr("x\ny\u{7f}é"), "'x\\ny\\x7fé'");
        assert_eq!(py_str(&json!("plain")), "plain");
        assert_eq!(py_str(&json!(false)), "False");
    }

    #[test]
    fn floats_print_like_python_repr() {
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (1.5, "1.5"),
            (0.1, "0.1"),
            (123.456, "123.456"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e20, "1.5e+20"),
            (-2.5e-300, "-2.5e-300"),
            (f64::MAX, "1.7976931348623157e+308"),
        ];
        for (x, want) in cases {
            assert_eq!(float_repr(x), want, "{x:e}");
        }
    }
}
