//! Python's text forms of JSON data, which Salt's outputters print:
//! `repr()` of numbers, strings, dicts and lists, `str.splitlines()` and
//! `str.rstrip()`.

pub(super) use brine_states::pyrepr::{
    dict_repr, number_repr, py_repr as repr, py_repr_sorted as sorted_repr, sorted_entries,
    str_repr,
};

/// The characters `str.splitlines()` breaks on.
fn is_line_boundary(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r'
            | '\x0b'
            | '\x0c'
            | '\x1c'
            | '\x1d'
            | '\x1e'
            | '\u{85}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// `str.splitlines(keepends)`: no empty piece after a final line break,
/// `\r\n` counts as one break.
pub(super) fn splitlines(s: &str, keepends: bool) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if !is_line_boundary(c) {
            continue;
        }
        let mut end = i + c.len_utf8();
        if c == '\r' {
            if let Some(&(j, '\n')) = chars.peek() {
                end = j + 1;
                chars.next();
            }
        }
        lines.push(if keepends {
            &s[start..end]
        } else {
            &s[start..i]
        });
        start = end;
    }
    if start < s.len() {
        lines.push(&s[start..]);
    }
    lines
}

/// `str.isspace()` for one character.
pub(super) fn is_space(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\x1c'..='\x1f')
}

/// `str.rstrip()`.
pub(super) fn rstrip(s: &str) -> &str {
    s.trim_end_matches(is_space)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::sorted_json;

    #[test]
    fn strings_print_like_python_repr() {
        assert_eq!(str_repr("hi"), "'hi'");
        assert_eq!(str_repr("it's"), "\"it's\"");
        assert_eq!(str_repr("it's \"x\""), "'it\\'s \"x\"'");
        assert_eq!(str_repr("a\\b\n\t\r"), "'a\\\\b\\n\\t\\r'");
        assert_eq!(str_repr("\x1b[0m\x7f"), "'\\x1b[0m\\x7f'");
        assert_eq!(str_repr("héllo ✓ 日本 😀"), "'héllo ✓ 日本 😀'");
        assert_eq!(str_repr("\u{a0}\u{200b}\u{feff}"), "'\\xa0\\u200b\\ufeff'");
        assert_eq!(str_repr("\u{f0000}"), "'\\U000f0000'");
    }

    #[test]
    fn values_print_like_python_repr() {
        let v = sorted_json!({"b": [1, 2.0, null], "a": {"t": true, "f": false}, "s": "x"});
        assert_eq!(
            repr(&v),
            "{'a': {'f': False, 't': True}, 'b': [1, 2.0, None], 's': 'x'}"
        );
        assert_eq!(repr(&sorted_json!({})), "{}");
        assert_eq!(repr(&sorted_json!([])), "[]");
        assert_eq!(repr(&sorted_json!(u64::MAX)), "18446744073709551615");
        assert_eq!(repr(&sorted_json!(-3)), "-3");
    }

    #[test]
    fn splitlines_matches_python() {
        assert_eq!(splitlines("", false), Vec::<&str>::new());
        assert_eq!(splitlines("a", false), ["a"]);
        assert_eq!(splitlines("a\n", false), ["a"]);
        assert_eq!(splitlines("a\n\nb", false), ["a", "", "b"]);
        assert_eq!(
            splitlines("a\r\nb\rc\u{2028}d", false),
            ["a", "b", "c", "d"]
        );
        assert_eq!(splitlines("a\r\nb\n", true), ["a\r\n", "b\n"]);
    }

    #[test]
    fn rstrip_matches_python() {
        assert_eq!(rstrip("a \n\t\x1c"), "a");
        assert_eq!(rstrip(" \n"), "");
    }
}
