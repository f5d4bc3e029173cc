//! Salt's `txt` outputter (`salt/output/txt.py`): for a dict, one
//! `key: line` per line of each string value (`web1: total 0`), other
//! values as Python's `str()` (`web1: {'a': 1}`). A bare string prints as
//! it is; any other bare value through `pprint.pformat`.

use serde_json::Value;

use super::python::{is_space, repr, sorted_entries, sorted_repr, splitlines, str_repr};

/// Renders a mapping given as entries (one `id: line` per line).
pub(super) fn render_entries(entries: &[(&str, &Value)]) -> String {
    let mut out = String::new();
    for (key, value) in entries {
        match value {
            Value::String(s) => {
                for line in splitlines(s, false) {
                    out.push_str(&format!("{key}: {line}\n"));
                }
            }
            Value::Null => out.push_str(&format!("{key}: None\n")),
            other => out.push_str(&format!("{key}: {}\n", repr(other))),
        }
    }
    out
}

/// Renders a bare value.
pub(super) fn render_value(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let entries: Vec<(&str, &Value)> = map.iter().map(|(k, v)| (k.as_str(), v)).collect();
            render_entries(&entries)
        }
        Value::String(s) => format!("{s}\n"),
        other => format!("{}\n", pformat(other)),
    }
}

const WIDTH: usize = 80;

/// `pprint.pformat(data)`: the `repr()` when it fits in 80 columns, else one
/// item per line, dict keys sorted and long strings cut at spaces.
fn pformat(value: &Value) -> String {
    let mut out = String::new();
    format(value, 0, 0, 0, &mut out);
    out
}

/// `PrettyPrinter._format`.
fn format(value: &Value, indent: usize, allowance: usize, level: usize, out: &mut String) {
    let rep = sorted_repr(value);
    if rep.chars().count() + indent + allowance > WIDTH {
        match value {
            Value::Object(map) => {
                out.push('{');
                let entries = sorted_entries(map);
                let last = entries.len().saturating_sub(1);
                let indent = indent + 1;
                for (i, (key, item)) in entries.into_iter().enumerate() {
                    let key = str_repr(key);
                    out.push_str(&key);
                    out.push_str(": ");
                    let item_allowance = if i == last { allowance + 1 } else { 1 };
                    format(
                        item,
                        indent + key.chars().count() + 2,
                        item_allowance,
                        level + 1,
                        out,
                    );
                    if i != last {
                        out.push_str(",\n");
                        out.push_str(&" ".repeat(indent));
                    }
                }
                out.push('}');
                return;
            }
            Value::Array(items) => {
                out.push('[');
                let last = items.len().saturating_sub(1);
                let indent = indent + 1;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(",\n");
                        out.push_str(&" ".repeat(indent));
                    }
                    let item_allowance = if i == last { allowance + 1 } else { 1 };
                    format(item, indent, item_allowance, level + 1, out);
                }
                out.push(']');
                return;
            }
            Value::String(s) if !s.is_empty() => {
                pprint_str(s, indent, allowance, level + 1, out);
                return;
            }
            _ => {}
        }
    }
    out.push_str(&rep);
}

/// `PrettyPrinter._pprint_str`: a too-long string becomes adjacent literals,
/// one per line, cut after runs of whitespace.
fn pprint_str(s: &str, mut indent: usize, mut allowance: usize, level: usize, out: &mut String) {
    if level == 1 {
        indent += 1;
        allowance += 1;
    }
    let max_width = WIDTH.saturating_sub(indent);
    let lines = splitlines(s, true);
    let mut chunks = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let is_last_line = i + 1 == lines.len();
        let rep = str_repr(line);
        let max_width1 = if is_last_line {
            max_width.saturating_sub(allowance)
        } else {
            max_width
        };
        if rep.chars().count() <= max_width1 {
            chunks.push(rep);
            continue;
        }
        let parts = words(line);
        let mut current = String::new();
        for (j, part) in parts.iter().enumerate() {
            let max_width2 = if is_last_line && j + 1 == parts.len() {
                max_width.saturating_sub(allowance)
            } else {
                max_width
            };
            let candidate = format!("{current}{part}");
            if str_repr(&candidate).chars().count() > max_width2 {
                if !current.is_empty() {
                    chunks.push(str_repr(&current));
                }
                current = part.to_string();
            } else {
                current = candidate;
            }
        }
        if !current.is_empty() {
            chunks.push(str_repr(&current));
        }
    }
    if chunks.len() == 1 {
        out.push_str(&chunks[0]);
        return;
    }
    if level == 1 {
        out.push('(');
    }
    for (i, chunk) in chunks.iter().enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(chunk);
    }
    if level == 1 {
        out.push(')');
    }
}

/// `re.findall(r'\S*\s*', line)` without the final empty match.
fn words(line: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = line;
    while !rest.is_empty() {
        let word_end = rest.find(is_space).unwrap_or(rest.len());
        let end = rest[word_end..]
            .find(|c| !is_space(c))
            .map_or(rest.len(), |i| word_end + i);
        parts.push(&rest[..end]);
        rest = &rest[end..];
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::sorted_json;

    #[test]
    fn string_returns_print_one_line_per_line() {
        let out = render_entries(&[("web1", &sorted_json!("total 0\ndrwxr-xr-x 2 root\n"))]);
        assert_eq!(out, "web1: total 0\nweb1: drwxr-xr-x 2 root\n");
        assert_eq!(render_entries(&[("web1", &sorted_json!(""))]), "");
        assert_eq!(
            render_entries(&[("wéb1", &sorted_json!("ünïcode ✓"))]),
            "wéb1: ünïcode ✓\n"
        );
    }

    #[test]
    fn other_returns_print_as_python_str() {
        let entries = [
            ("a", &sorted_json!(true)),
            ("b", &sorted_json!(null)),
            ("c", &sorted_json!(1.5)),
            ("d", &sorted_json!({"k": [1, "x"], "e": {}})),
            ("e", &sorted_json!([])),
        ];
        assert_eq!(
            render_entries(&entries),
            "a: True\nb: None\nc: 1.5\nd: {'e': {}, 'k': [1, 'x']}\ne: []\n"
        );
    }

    #[test]
    fn bare_values() {
        assert_eq!(render_value(&sorted_json!("hello\n")), "hello\n\n");
        assert_eq!(
            render_value(&sorted_json!({"web1": "up", "web2": false})),
            "web1: up\nweb2: False\n"
        );
        assert_eq!(
            render_value(&sorted_json!(["web1", "web2"])),
            "['web1', 'web2']\n"
        );
        assert_eq!(render_value(&sorted_json!(null)), "None\n");
    }

    #[test]
    fn long_lists_wrap_like_pprint() {
        let ids: Vec<String> = (1..=12).map(|i| format!("minion-{i:02}.example")).collect();
        let want = format!(
            "[{}]\n",
            ids.iter()
                .map(|i| format!("'{i}'"))
                .collect::<Vec<_>>()
                .join(",\n ")
        );
        assert_eq!(render_value(&sorted_json!(ids)), want);
    }

    #[test]
    fn long_nested_values_wrap_like_pprint() {
        let v = sorted_json!([{"name": "x".repeat(40), "comment": "a b ".repeat(20)}, 1]);
        let want = "\
[{'comment': 'a b a b a b a b a b a b a b a b a b a b a b a b a b a b a b a b '
             'a b a b a b a b ',
  'name': 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'},
 1]
";
        assert_eq!(render_value(&v), want);
    }
}
