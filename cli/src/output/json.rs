//! Salt's `json` outputter (`salt/output/json_out.py`): Python's
//! `json.dumps(data, indent=4, ensure_ascii=False)`, so `": "` after keys,
//! `","` at line ends, non-ASCII text as is and floats as Python prints them
//! (`1e+16`, `1e-05`). `--out-indent N` sets the indent; with 0 every item
//! still gets its own line, as in Python.

use brine_states::pyjson::JsonFormat;
use serde_json::{Map, Value};

fn format(indent: usize) -> JsonFormat {
    JsonFormat::new(Some(" ".repeat(indent)), false, false)
}

/// Renders a mapping given as entries (`{"web1": ...}`).
pub(super) fn render_entries(entries: &[(&str, &Value)], indent: usize) -> String {
    let map: Map<String, Value> = entries
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).clone()))
        .collect();
    format(indent).dumps(&Value::Object(map))
}

/// Renders a bare value.
pub(super) fn render_value(value: &Value, indent: usize) -> String {
    format(indent).dumps(value)
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
