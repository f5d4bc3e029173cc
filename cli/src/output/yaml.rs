//! Salt's `yaml` outputter (`salt/output/yaml_out.py`): PyYAML's
//! `safe_dump(data, default_flow_style=False, allow_unicode=True)` through
//! `CSafeDumper`, i.e. libyaml's emitter, which Salt uses when PyYAML has
//! it (its packages do). The emitter is the states crate's libyaml port,
//! the one the `|yaml` filter uses; here keys are sorted (plain dicts).

use brine_states::yaml::{dump_with, DumpOptions, FlowStyle};
use serde_json::{Map, Value};

const OUTPUTTER: DumpOptions = DumpOptions {
    flow: FlowStyle::Block,
    sort_keys: true,
    allow_unicode: true,
};

/// Renders a mapping given as entries (`web1: ...`).
pub(super) fn render_entries(entries: &[(&str, &Value)]) -> String {
    let map: Map<String, Value> = entries
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).clone()))
        .collect();
    render_value(&Value::Object(map))
}

/// Renders a bare value.
pub(super) fn render_value(value: &Value) -> String {
    dump_with(value, &OUTPUTTER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(id: &str, v: Value) -> String {
        render_entries(&[(id, &v)])
    }

    #[test]
    fn block_mappings_with_indentless_lists() {
        let v = json!({"foo": {"list": ["Hello", "World"], "bar": "baz", "dictionary": {"abc": 123, "def": 456}}});
        let want = "\
myminion:
  foo:
    bar: baz
    dictionary:
      abc: 123
      def: 456
    list:
    - Hello
    - World
";
        assert_eq!(one("myminion", v), want);
    }

    #[test]
    fn scalars_are_quoted_when_they_would_read_back_as_something_else() {
        let v = json!({
            "t": true, "n": null, "f": 1.5, "big": 1e16, "neg": -3, "yes": "yes", "num": "1.0",
            "date": "2024-01-05", "empty": "", "uni": "日本語 ✓", "emoji": "😀", "colon": "a: b",
            "dash": "- x", "hash": "a #b", "quote": "it's",
        });
        let want = "\
web1:
  big: 1.0e+16
  colon: 'a: b'
  dash: '- x'
  date: '2024-01-05'
  emoji: \"\\U0001F600\"
  empty: ''
  f: 1.5
  hash: 'a #b'
  n: null
  neg: -3
  num: '1.0'
  quote: it's
  t: true
  uni: 日本語 ✓
  'yes': 'yes'
";
        assert_eq!(one("web1", v), want);
    }

    #[test]
    fn multi_line_strings() {
        let v = json!({"a": "line1\nline2", "b": "out\n", "c": "x\n  indented", "d": "tab\there", "e": "cr\r\nlf"});
        let want = "\
web1:
  a: 'line1

    line2'
  b: 'out

    '
  c: \"x\\n  indented\"
  d: \"tab\\there\"
  e: \"cr\\r\\nlf\"
";
        assert_eq!(one("web1", v), want);
    }

    #[test]
    fn empty_and_nested_collections() {
        let v = json!({"e": {}, "l": [], "nested": [[1, 2], [3]], "dicts": [{"a": 1, "b": [true]}, {}]});
        let want = "\
web1:
  dicts:
  - a: 1
    b:
    - true
  - {}
  e: {}
  l: []
  nested:
  - - 1
    - 2
  - - 3
";
        assert_eq!(one("web1", v), want);
    }

    #[test]
    fn long_lines_fold_at_80_columns() {
        let v = json!(format!("{}end", "word ".repeat(20)));
        let want = "web1: word word word word word word word word word word word word word word word word\n  word word word word end\n";
        assert_eq!(one("web1", v), want);
    }

    #[test]
    fn empty_long_and_multi_line_keys() {
        let long = "k".repeat(130);
        let v = json!({"": 1, long.clone(): 2, "two\nlines": 3});
        let want = format!("web1:\n  '': 1\n  ? {long}\n  : 2\n  ? 'two\n\n    lines'\n  : 3\n");
        assert_eq!(one("web1", v), want);
    }

    #[test]
    fn bare_values() {
        assert_eq!(render_value(&json!("hi")), "hi\n");
        assert_eq!(render_value(&json!([1, "x"])), "- 1\n- x\n");
        assert_eq!(render_value(&json!({})), "{}\n");
        assert_eq!(render_value(&json!(null)), "null\n");
    }
}
