//! Salt's `raw` outputter (`salt/output/raw.py`): `str(data)`, which for a
//! dict is Python's `repr()` on one line (`{'web1': True}`). A bare string
//! prints as it is.

use serde_json::Value;

use super::python::{dict_repr, repr};

/// Renders a mapping given as entries (`{'web1': ...}`).
pub(super) fn render_entries(entries: &[(&str, &Value)]) -> String {
    dict_repr(entries)
}

/// Renders a bare value.
pub(super) fn render_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => repr(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::sorted_json;

    #[test]
    fn one_return_is_a_python_dict() {
        assert_eq!(
            render_entries(&[("web1", &sorted_json!(true))]),
            "{'web1': True}"
        );
        let v = sorted_json!({"list": ["Hello", "World"], "bar": "baz", "n": null, "f": 1e-5, "e": {}, "l": []});
        assert_eq!(
            render_entries(&[("myminion", &v)]),
            "{'myminion': {'bar': 'baz', 'e': {}, 'f': 1e-05, 'l': [], 'list': ['Hello', 'World'], 'n': None}}"
        );
    }

    #[test]
    fn strings_use_python_quoting() {
        let v = sorted_json!("it's\nmultiline ✓");
        assert_eq!(
            render_entries(&[("web1", &v)]),
            "{'web1': \"it's\\nmultiline ✓\"}"
        );
    }

    #[test]
    fn bare_values() {
        assert_eq!(render_value(&sorted_json!("plain text\n")), "plain text\n");
        assert_eq!(render_value(&sorted_json!([1, false])), "[1, False]");
        assert_eq!(render_value(&sorted_json!(3.0)), "3.0");
    }
}
