//! Salt's default `nested` outputter (`salt/output/nested.py`).
//!
//! ```text
//! web1:
//!     ----------
//!     os:
//!         Debian
//!     roles:
//!         - web
//!         - db
//! ```
//!
//! A dict's keys are sorted, each `key:` followed by its value 4 columns
//! deeper; a dict below the top level starts with a `----------` line. List
//! items are `- item`; a list or dict inside a list is introduced by `|_` and
//! indented 2 columns. Strings print line by line, an empty string prints
//! nothing. `True`, `False`, `None` and numbers print as Python does.

use serde_json::Value;

use super::python::{number_repr, sorted_entries, splitlines};

/// The escape sequences of Salt's default theme (`salt/utils/color.py`).
struct Palette {
    green: &'static str,
    cyan: &'static str,
    light_yellow: &'static str,
    endc: &'static str,
}

const COLORS: Palette = Palette {
    green: "\x1b[0;32m",
    cyan: "\x1b[0;36m",
    light_yellow: "\x1b[0;1;33m",
    endc: "\x1b[0;0m",
};

const NO_COLORS: Palette = Palette {
    green: "",
    cyan: "",
    light_yellow: "",
    endc: "",
};

/// Renders a mapping given as entries (the top-level `{minion_id: value}`).
pub(super) fn render_entries(entries: &[(&str, &Value)], color: bool) -> String {
    let mut out = Vec::new();
    Nest::new(color).mapping(entries, 0, "", &mut out);
    out.join("\n")
}

/// Renders a bare value.
pub(super) fn render_value(value: &Value, color: bool) -> String {
    render_indented(value, 0, color)
}

/// Renders a bare value `indent` columns in, as Salt's `nested_indent`
/// does (the `highstate` outputter prints changes 14 columns in).
pub(super) fn render_indented(value: &Value, indent: usize, color: bool) -> String {
    let mut out = Vec::new();
    Nest::new(color).display(value, indent, "", &mut out);
    out.join("\n")
}

struct Nest {
    palette: &'static Palette,
}

impl Nest {
    fn new(color: bool) -> Self {
        Nest {
            palette: if color { &COLORS } else { &NO_COLORS },
        }
    }

    /// One line: indent, color, prefix, text, reset, suffix.
    fn line(&self, indent: usize, color: &str, prefix: &str, msg: &str, suffix: &str) -> String {
        format!(
            "{:indent$}{color}{prefix}{msg}{}{suffix}",
            "", self.palette.endc
        )
    }

    fn display(&self, value: &Value, indent: usize, prefix: &str, out: &mut Vec<String>) {
        let p = self.palette;
        match value {
            Value::Null => out.push(self.line(indent, p.light_yellow, prefix, "None", "")),
            Value::Bool(b) => out.push(self.line(
                indent,
                p.light_yellow,
                prefix,
                if *b { "True" } else { "False" },
                "",
            )),
            Value::Number(n) => {
                out.push(self.line(indent, p.light_yellow, prefix, &number_repr(n), ""))
            }
            Value::String(s) => {
                let cont = " ".repeat(prefix.chars().count());
                for (i, line) in splitlines(s, false).into_iter().enumerate() {
                    let line_prefix = if i == 0 { prefix } else { &cont };
                    out.push(self.line(indent, p.green, line_prefix, &strip_esc(line), ""));
                }
            }
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::Array(_) | Value::Object(_) => {
                            out.push(self.line(indent, p.green, "", "|_", ""));
                            let prefix = if item.is_object() { "" } else { "- " };
                            self.display(item, indent + 2, prefix, out);
                        }
                        _ => self.display(item, indent, "- ", out),
                    }
                }
            }
            Value::Object(map) => self.mapping(&sorted_entries(map), indent, prefix, out),
        }
    }

    fn mapping(
        &self,
        entries: &[(&str, &Value)],
        indent: usize,
        prefix: &str,
        out: &mut Vec<String>,
    ) {
        let p = self.palette;
        if indent > 0 {
            out.push(self.line(indent, p.cyan, "", "----------", ""));
        }
        for (key, value) in entries {
            // Salt strips ESC from values only; keys get the same treatment
            // so that minion data cannot drive the terminal.
            out.push(self.line(indent, p.cyan, prefix, &strip_esc(key), ":"));
            self.display(value, indent + 4, "", out);
        }
    }
}

/// Salt's `strip_esc_sequence`: ESC becomes `?`.
pub(super) fn strip_esc(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\x1b') {
        s.replace('\x1b', "?").into()
    } else {
        s.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(id: &str, v: Value) -> String {
        render_entries(&[(id, &v)], false)
    }

    #[test]
    fn scalars_sit_under_the_minion_id() {
        assert_eq!(one("web1", json!(true)), "web1:\n    True");
        assert_eq!(one("web1", json!(false)), "web1:\n    False");
        assert_eq!(one("web1", json!(null)), "web1:\n    None");
        assert_eq!(one("web1", json!(42)), "web1:\n    42");
        assert_eq!(one("web1", json!(-1.5)), "web1:\n    -1.5");
        assert_eq!(one("web1", json!(2.0)), "web1:\n    2.0");
        assert_eq!(one("web1", json!("hi")), "web1:\n    hi");
        assert_eq!(one("wéb1", json!("日本語 ✓")), "wéb1:\n    日本語 ✓");
    }

    #[test]
    fn multi_line_strings_indent_every_line() {
        assert_eq!(
            one("web1", json!("a\n  b\n\nc\n")),
            "web1:\n    a\n      b\n    \n    c"
        );
    }

    #[test]
    fn empty_values_print_like_salt() {
        assert_eq!(one("web1", json!("")), "web1:");
        assert_eq!(one("web1", json!([])), "web1:");
        assert_eq!(one("web1", json!({})), "web1:\n    ----------");
        assert_eq!(render_value(&json!({}), false), "");
    }

    #[test]
    fn nested_dicts_and_lists() {
        let v = json!({
            "foo": {
                "list": ["Hello", "World"],
                "bar": "baz",
                "dictionary": {"def": 456, "abc": 123},
            }
        });
        let want = "\
myminion:
    ----------
    foo:
        ----------
        bar:
            baz
        dictionary:
            ----------
            abc:
                123
            def:
                456
        list:
            - Hello
            - World";
        assert_eq!(one("myminion", v), want);
    }

    #[test]
    fn collections_inside_lists() {
        let v = json!([1, "two\nlines", {"b": null, "a": [true]}, [3, [4]], {}, []]);
        let want = "\
web1:
    - 1
    - two
      lines
    |_
      ----------
      a:
          - True
      b:
          None
    |_
      - 3
      |_
        - 4
    |_
      ----------
    |_";
        assert_eq!(one("web1", v), want);
    }

    #[test]
    fn bare_values() {
        assert_eq!(render_value(&json!("x"), false), "x");
        assert_eq!(render_value(&json!([1, 2]), false), "- 1\n- 2");
        assert_eq!(
            render_value(&json!({"20240101": {"web1": true}}), false),
            "20240101:\n    ----------\n    web1:\n        True"
        );
    }

    #[test]
    fn colors_follow_salts_default_theme() {
        let v = json!({"k": ["s", 1, null]});
        let want = "\x1b[0;36mweb1\x1b[0;0m:\n    \x1b[0;36m----------\x1b[0;0m\n    \x1b[0;36mk\x1b[0;0m:\n        \
                    \x1b[0;32m- s\x1b[0;0m\n        \x1b[0;1;33m- 1\x1b[0;0m\n        \x1b[0;1;33m- None\x1b[0;0m";
        assert_eq!(render_entries(&[("web1", &v)], true), want);
    }

    #[test]
    fn escape_bytes_from_data_are_neutralised() {
        let v = json!({"\x1b[31mkey": "\x1b[2Jboom"});
        let out = one("web1", v);
        assert_eq!(
            out,
            "web1:\n    ----------\n    ?[31mkey:\n        ?[2Jboom"
        );
        assert!(!out.contains('\x1b'));
    }
}
