//! Salt's `json` outputter (`salt/output/json_out.py`): Python's
//! `json.dumps(data, indent=4, ensure_ascii=False)`, so `": "` after keys,
//! `","` at line ends, non-ASCII text as is and floats as Python prints them
//! (`1e+16`, `1e-05`). `--out-indent N` sets the indent; with 0 every item
//! still gets its own line, as in Python.

use serde_json::Value;

use super::python::number_repr;

/// Renders a mapping given as entries (`{"web1": ...}`).
pub(super) fn render_entries(entries: &[(&str, &Value)], indent: usize) -> String {
    let mut out = String::new();
    write_object(entries.iter().copied(), &" ".repeat(indent), 0, &mut out);
    out
}

/// Renders a bare value.
pub(super) fn render_value(value: &Value, indent: usize) -> String {
    let mut out = String::new();
    write_value(value, &" ".repeat(indent), 0, &mut out);
    out
}

fn write_value(value: &Value, unit: &str, level: usize, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number_repr(n)),
        Value::String(s) => write_str(s, out),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                out.push_str(if i == 0 { "\n" } else { ",\n" });
                push_indent(unit, level + 1, out);
                write_value(item, unit, level + 1, out);
            }
            out.push('\n');
            push_indent(unit, level, out);
            out.push(']');
        }
        Value::Object(map) => {
            write_object(map.iter().map(|(k, v)| (k.as_str(), v)), unit, level, out)
        }
    }
}

fn write_object<'a>(
    entries: impl Iterator<Item = (&'a str, &'a Value)>,
    unit: &str,
    level: usize,
    out: &mut String,
) {
    let mut empty = true;
    out.push('{');
    for (key, value) in entries {
        out.push_str(if empty { "\n" } else { ",\n" });
        empty = false;
        push_indent(unit, level + 1, out);
        write_str(key, out);
        out.push_str(": ");
        write_value(value, unit, level + 1, out);
    }
    if !empty {
        out.push('\n');
        push_indent(unit, level, out);
    }
    out.push('}');
}

fn push_indent(unit: &str, level: usize, out: &mut String) {
    for _ in 0..level {
        out.push_str(unit);
    }
}

/// A JSON string as Python writes it with `ensure_ascii=False`: only `"`,
/// `\` and control characters below U+0020 are escaped.
fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::sorted_json;

    #[test]
    fn one_return_is_one_document_indented_by_four() {
        let v = sorted_json!({"list": [1, 2.5, null], "b": true, "empty": {}, "none": [], "s": "héllo \"q\"\n\x1b"});
        let want = r#"{
    "web1": {
        "b": true,
        "empty": {},
        "list": [
            1,
            2.5,
            null
        ],
        "none": [],
        "s": "héllo \"q\"\n\u001b"
    }
}"#;
        assert_eq!(render_entries(&[("web1", &v)], 4), want);
    }

    #[test]
    fn indent_follows_out_indent() {
        let v = sorted_json!({"a": [1]});
        assert_eq!(
            render_entries(
                &[
                    ("web1", &sorted_json!(true)),
                    ("web2", &sorted_json!(false))
                ],
                2
            ),
            "{\n  \"web1\": true,\n  \"web2\": false\n}"
        );
        assert_eq!(render_value(&v, 0), "{\n\"a\": [\n1\n]\n}");
    }

    #[test]
    fn scalars_and_floats_print_like_python() {
        assert_eq!(render_value(&sorted_json!("x"), 4), "\"x\"");
        assert_eq!(render_value(&sorted_json!(1e16), 4), "1e+16");
        assert_eq!(render_value(&sorted_json!(1.0), 4), "1.0");
        assert_eq!(render_value(&sorted_json!({}), 4), "{}");
        assert_eq!(render_value(&sorted_json!([]), 4), "[]");
    }

    #[test]
    fn output_reads_back_as_the_same_data() {
        let v =
            sorted_json!({"a": {"b": [1, "x", {"c": null}], "d": -0.001}, "é": "\u{7f}\u{2028}"});
        let text = render_entries(&[("web1", &v)], 4);
        let back: Value = serde_json::from_str(&text).expect("valid json");
        assert_eq!(back, sorted_json!({"web1": v}));
    }
}
