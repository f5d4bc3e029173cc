//! Python's `json.dumps` of JSON data: Salt's `json` outputter, the `json`
//! serializer and the Jinja `json` filters all print through it, so
//! separators, indentation, `ensure_ascii` and float digits are Python's.

use serde_json::Value;

use crate::pyrepr::float_repr;

/// `json.dumps` keyword arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonFormat {
    /// `indent`: the text repeated per level; `None` puts everything on
    /// one line.
    pub indent: Option<String>,
    pub sort_keys: bool,
    pub ensure_ascii: bool,
    /// `separators`: after an item and after a key.
    pub item_sep: String,
    pub key_sep: String,
}

impl JsonFormat {
    /// Python's defaults for these: `(", ", ": ")` on one line, `(",", ": ")`
    /// with an indent.
    pub fn new(indent: Option<String>, sort_keys: bool, ensure_ascii: bool) -> JsonFormat {
        let item_sep = if indent.is_some() { "," } else { ", " };
        JsonFormat {
            indent,
            sort_keys,
            ensure_ascii,
            item_sep: item_sep.into(),
            key_sep: ": ".into(),
        }
    }

    /// `json.dumps(value, ...)`.
    pub fn dumps(&self, value: &Value) -> String {
        let mut out = String::new();
        self.write(value, 0, &mut out);
        out
    }

    fn newline(&self, level: usize, out: &mut String) {
        if let Some(ind) = &self.indent {
            out.push('\n');
            for _ in 0..level {
                out.push_str(ind);
            }
        }
    }

    fn write(&self, v: &Value, level: usize, out: &mut String) {
        match v {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => out.push_str(&i.to_string()),
                (None, Some(u), _) => out.push_str(&u.to_string()),
                (None, None, Some(f)) => out.push_str(&float_repr(f)),
                _ => out.push_str(&n.to_string()),
            },
            Value::String(s) => write_str(out, s, self.ensure_ascii),
            Value::Array(items) => {
                if items.is_empty() {
                    out.push_str("[]");
                    return;
                }
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(&self.item_sep);
                    }
                    self.newline(level + 1, out);
                    self.write(item, level + 1, out);
                }
                self.newline(level, out);
                out.push(']');
            }
            Value::Object(m) => {
                if m.is_empty() {
                    out.push_str("{}");
                    return;
                }
                let mut entries: Vec<(&String, &Value)> = m.iter().collect();
                if self.sort_keys {
                    entries.sort_by(|a, b| a.0.cmp(b.0));
                }
                out.push('{');
                for (i, (k, v)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push_str(&self.item_sep);
                    }
                    self.newline(level + 1, out);
                    write_str(out, k, self.ensure_ascii);
                    out.push_str(&self.key_sep);
                    self.write(v, level + 1, out);
                }
                self.newline(level, out);
                out.push('}');
            }
        }
    }
}

/// A JSON string as Python writes it: `"`, `\` and control characters
/// escaped, and with `ensure_ascii` everything above `~` as `\uXXXX`
/// (UTF-16 surrogate pairs beyond the BMP).
pub fn write_str(out: &mut String, s: &str, ensure_ascii: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (ensure_ascii && (c as u32) > 0x7e) => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dumps_like_python() {
        let v = json!({"b": [1, 2.5e-7, {}], "a": "é\u{1F600}\n"});
        assert_eq!(
            JsonFormat::new(None, true, true).dumps(&v),
            r#"{"a": "\u00e9\ud83d\ude00\n", "b": [1, 2.5e-07, {}]}"#
        );
        assert_eq!(
            JsonFormat::new(Some("  ".into()), false, false).dumps(&v),
            "{\n  \"b\": [\n    1,\n    2.5e-07,\n    {}\n  ],\n  \"a\": \"é😀\\n\"\n}"
        );
    }
}
