//! Pure data helpers behind `pillar.get`, `config.get`, `grains.filter_by`,
//! `slsutil.merge` and `defaults.merge`: Salt's `traverse_dict_and_list`,
//! `dictupdate.update`/`merge` and `data.filter_by`, on JSON values.
//!
//! No IO and no context, so the renderer can call them directly as well
//! (they may move to `brine_states::data` once both sides settle).

use serde_json::{Map, Value};

/// Salt's `DEFAULT_TARGET_DELIM`.
pub const DEFAULT_DELIMITER: &str = ":";

/// Salt's `salt.utils.data.traverse_dict_and_list`: walks `key`, split on
/// `delimiter`, into dicts by key and into lists by (possibly negative)
/// index; a non-numeric part applied to a list picks the first dict element
/// holding that key. `None` where Salt would return the default.
///
/// Dict keys are JSON strings here, so Salt's second try with the key read
/// as YAML (to reach integer keys) is already covered by the first.
pub fn traverse<'a>(data: &'a Value, key: &str, delimiter: &str) -> Option<&'a Value> {
    let mut ptr = data;
    for part in key.split(delimiter) {
        ptr = match ptr {
            Value::Object(m) => m.get(part)?,
            Value::Array(items) => {
                // Salt tries the embedded dicts first, with the key as given
                // (and for a number, as an integer key, which is the same
                // JSON key), then the index.
                let embedded = items
                    .iter()
                    .filter_map(Value::as_object)
                    .find_map(|m| m.get(part));
                match (embedded, python_int(part)) {
                    (Some(v), _) => v,
                    (None, Some(idx)) => {
                        let len = items.len() as i64;
                        let i = if idx < 0 { len + idx } else { idx };
                        if !(0..len).contains(&i) {
                            return None;
                        }
                        &items[i as usize]
                    }
                    (None, None) => return None,
                }
            }
            _ => return None,
        };
    }
    Some(ptr)
}

/// Python's `int(text)` for the forms a traversal key takes (`1`, `-1`, ` 2 `).
fn python_int(text: &str) -> Option<i64> {
    let t = text.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
        return None;
    }
    t.replace('_', "").parse().ok()
}

pub use brine_states::data::{merge, MergeError};

/// Salt's `salt.utils.dictupdate.update(dest, upd, merge_lists=...)` on JSON
/// maps (the one implementation is `brine_states::data::update_tree`).
pub fn dict_update(dest: &mut Map<String, Value>, upd: &Map<String, Value>, merge_lists: bool) {
    let mut tree = Value::Object(std::mem::take(dest));
    // both are mappings, so this cannot fail
    let _ = brine_states::data::update_tree(&mut tree, &Value::Object(upd.clone()), merge_lists);
    if let Value::Object(m) = tree {
        *dest = m;
    }
}

/// Salt's `dictupdate.update` on any two values: both must be dicts.
pub fn update_values(dest: &Value, upd: &Value, merge_lists: bool) -> Result<Value, MergeError> {
    let mut out = dest.clone();
    brine_states::data::update_tree(&mut out, upd, merge_lists)?;
    Ok(out)
}

/// Python's type name of a value, for Salt's messages.
pub fn python_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// Python's `str()` (the states crate's one implementation).
pub use brine_states::pyrepr::py_str as python_str;

/// Python's `fnmatch.fnmatchcase(name, pattern)`: `*`, `?`, `[seq]`,
/// `[!seq]`; an unclosed `[` is literal; `[^a]` means `^` or `a`.
pub fn fnmatchcase(name: &str, pattern: &str) -> bool {
    let pat = compile_fnmatch(pattern);
    let text: Vec<char> = name.chars().collect();
    glob_match(&pat, &text)
}

#[derive(Debug)]
enum GlobPart {
    Star,
    One,
    Literal(char),
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

fn compile_fnmatch(pattern: &str) -> Vec<GlobPart> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => {
                if !matches!(out.last(), Some(GlobPart::Star)) {
                    out.push(GlobPart::Star);
                }
            }
            '?' => out.push(GlobPart::One),
            '[' => {
                let mut j = i;
                if j < chars.len() && chars[j] == '!' {
                    j += 1;
                }
                if j < chars.len() && chars[j] == ']' {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    out.push(GlobPart::Literal('['));
                    continue;
                }
                let body = &chars[i..j];
                i = j + 1;
                let (negated, members) = match body.first() {
                    Some('!') => (true, &body[1..]),
                    _ => (false, body),
                };
                let mut ranges = Vec::new();
                let mut k = 0;
                while k < members.len() {
                    if k + 2 < members.len() && members[k + 1] == '-' {
                        // Python drops empty ranges such as `z-a`.
                        if members[k] <= members[k + 2] {
                            ranges.push((members[k], members[k + 2]));
                        }
                        k += 3;
                    } else {
                        ranges.push((members[k], members[k]));
                        k += 1;
                    }
                }
                out.push(GlobPart::Class { negated, ranges });
            }
            other => out.push(GlobPart::Literal(other)),
        }
    }
    out
}

fn glob_match(pat: &[GlobPart], text: &[char]) -> bool {
    // Classic wildcard matching with one backtrack point per star.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        let step = match pat.get(p) {
            Some(GlobPart::Star) => {
                star = Some((p, t));
                p += 1;
                continue;
            }
            Some(GlobPart::One) => true,
            Some(GlobPart::Literal(c)) => *c == text[t],
            Some(GlobPart::Class { negated, ranges }) => {
                let inside = ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&text[t]));
                inside != *negated
            }
            None => false,
        };
        if step {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|g| matches!(g, GlobPart::Star))
}

/// Salt's `salt.utils.data.filter_by`: the first key of `lookup_dict`
/// (a glob) matching the value at `lookup` in `data` (each item, if it is a
/// list) picks the entry; else the `default` key's entry. The `base` entry
/// is merged under it and `merge` over it. `Ok(None)` is Salt's `None`.
pub fn filter_by(
    lookup_dict: &Map<String, Value>,
    lookup: &str,
    data: &Value,
    merge: Option<&Value>,
    default: &str,
    base: Option<&str>,
) -> Result<Option<Value>, MergeError> {
    let found = traverse(data, lookup, DEFAULT_DELIMITER)
        .cloned()
        .unwrap_or(Value::Array(Vec::new()));
    let values = match found {
        Value::Array(items) => items,
        other => vec![other],
    };
    let mut ret: Option<Value> = None;
    'values: for each in &values {
        let text = python_str(each);
        for (key, entry) in lookup_dict {
            if fnmatchcase(&text, key) {
                // A matching key with a None value leaves `ret` None: Salt
                // then tries the next value.
                ret = Some(entry.clone()).filter(|v| !v.is_null());
                if ret.is_some() {
                    break 'values;
                }
                break;
            }
        }
    }
    if ret.is_none() {
        ret = lookup_dict.get(default).cloned().filter(|v| !v.is_null());
    }
    if let Some(base) = base.filter(|b| !b.is_empty()) {
        if let Some(base_values) = lookup_dict.get(base) {
            match (&ret, base_values) {
                (None, _) => ret = Some(base_values.clone()).filter(|v| !v.is_null()),
                (Some(Value::Object(r)), Value::Object(b)) => {
                    let mut merged = b.clone();
                    dict_update(&mut merged, r, false);
                    ret = Some(Value::Object(merged));
                }
                (Some(_), Value::Object(_)) => return Err(MergeError::FilterByBaseNotDict),
                (Some(_), _) => {}
            }
        }
    }
    if let Some(merge) = merge.filter(|m| python_truthy(m)) {
        let Value::Object(m) = merge else {
            return Err(MergeError::FilterByMergeNotDict);
        };
        ret = match ret {
            None => Some(merge.clone()),
            Some(Value::Object(mut r)) => {
                dict_update(&mut r, m, false);
                Some(Value::Object(r))
            }
            Some(_) => return Err(MergeError::NotDicts),
        };
    }
    Ok(ret)
}

/// Python's truthiness of a value (the states crate's one rule).
pub fn python_truthy(v: &Value) -> bool {
    brine_states::data::Tree::truthy(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn traverse_like_salt() {
        let d = json!({
            "pkg": {"apache": "httpd", "list": [{"name": "a"}, {"name": "b"}]},
            "users": ["alice", "bob"],
            "n": null,
        });
        assert_eq!(traverse(&d, "pkg:apache", ":"), Some(&json!("httpd")));
        assert_eq!(traverse(&d, "users:1", ":"), Some(&json!("bob")));
        assert_eq!(traverse(&d, "users:-2", ":"), Some(&json!("alice")));
        assert_eq!(traverse(&d, "users:2", ":"), None);
        assert_eq!(traverse(&d, "pkg:list:name", ":"), Some(&json!("a")));
        assert_eq!(traverse(&d, "pkg|apache", "|"), Some(&json!("httpd")));
        assert_eq!(traverse(&d, "pkg:apache:x", ":"), None);
        assert_eq!(traverse(&d, "n", ":"), Some(&Value::Null));
        assert_eq!(traverse(&d, "n:x", ":"), None);
    }

    #[test]
    fn update_and_merge_strategies() {
        let a = json!({"foo": {"bar": 1, "qux": true}, "hosts": ["a", "b"], "only_a": null});
        let b = json!({"foo": {"baz": 2, "qux": false}, "hosts": ["b", "c"], "only_b": null});
        assert_eq!(
            merge(&a, &b, "smart", "yaml", false).unwrap(),
            json!({"foo": {"bar": 1, "qux": false, "baz": 2}, "hosts": ["b", "c"], "only_a": null, "only_b": null})
        );
        assert_eq!(
            merge(&a, &b, "recurse", "yaml", true).unwrap()["hosts"],
            json!(["a", "b", "c"])
        );
        assert_eq!(
            merge(&a, &b, "overwrite", "yaml", false).unwrap(),
            json!({"foo": {"baz": 2, "qux": false}, "hosts": ["b", "c"], "only_a": null, "only_b": null})
        );
        assert_eq!(
            merge(&a, &b, "list", "yaml", false).unwrap(),
            json!({"foo": [{"bar": 1, "qux": true}, {"baz": 2, "qux": false}], "hosts": [["a", "b"], ["b", "c"]], "only_a": null})
        );
        assert_eq!(
            merge(&a, &b, "smart", "jinja|yamlex", false).unwrap(),
            merge(&a, &b, "overwrite", "yaml", false).unwrap()
        );
        assert_eq!(
            merge(&json!([1]), &b, "recurse", "yaml", false),
            Err(MergeError::NotDicts)
        );
        assert_eq!(
            merge(
                &json!("first"),
                &json!("second"),
                "aggregate",
                "yaml",
                false
            )
            .unwrap(),
            json!(["first", "second"])
        );
    }

    #[test]
    fn fnmatch_like_python() {
        assert!(fnmatchcase("Debian", "Deb*"));
        assert!(fnmatchcase("Debian", "D?bian"));
        assert!(!fnmatchcase("debian", "Debian"));
        assert!(fnmatchcase("a1", "a[0-9]"));
        assert!(fnmatchcase("ab", "a[!0-9]"));
        assert!(fnmatchcase("a^", "a[^0-9]"), "^ is literal in fnmatch");
        assert!(fnmatchcase("[x", "[x"), "unclosed class is literal");
        assert!(fnmatchcase("a]", "a[]]"));
        assert!(fnmatchcase("a/b/c", "a*c"));
        assert!(fnmatchcase("", "*"));
        assert!(!fnmatchcase("abc", "a*d*"));
    }

    #[test]
    fn filter_by_like_salt() {
        let grains = json!({"os_family": "Debian", "roles": ["db", "web"], "num": 7});
        let lookup = json!({"Debian": {"pkg": "apache2"}, "RedHat": {"pkg": "httpd"}, "default": {"pkg": "x"}});
        let lookup = lookup.as_object().unwrap();
        assert_eq!(
            filter_by(lookup, "os_family", &grains, None, "default", None).unwrap(),
            Some(json!({"pkg": "apache2"}))
        );
        assert_eq!(
            filter_by(lookup, "missing", &grains, None, "default", None).unwrap(),
            Some(json!({"pkg": "x"}))
        );
        assert_eq!(
            filter_by(lookup, "missing", &grains, None, "nodefault", None).unwrap(),
            None
        );
        let roles = json!({"w*": "web", "d*": "db"});
        assert_eq!(
            filter_by(
                roles.as_object().unwrap(),
                "roles",
                &grains,
                None,
                "default",
                None
            )
            .unwrap(),
            Some(json!("db")),
            "first list item that matches any key"
        );
        let nums = json!({"7": "seven"});
        assert_eq!(
            filter_by(
                nums.as_object().unwrap(),
                "num",
                &grains,
                None,
                "default",
                None
            )
            .unwrap(),
            Some(json!("seven"))
        );
        // Salt's documented examples.
        let l = json!({"A": "B", "C": {"D": {"E": "F", "G": "H"}}});
        assert_eq!(
            filter_by(
                l.as_object().unwrap(),
                "xxx",
                &grains,
                Some(&json!({"D": {"E": "I"}, "J": "K"})),
                "C",
                None
            )
            .unwrap(),
            Some(json!({"D": {"E": "I", "G": "H"}, "J": "K"}))
        );
        let l = json!({"default": {"A": {"B": "C"}, "D": "E"}, "F": {"A": {"B": "G"}}, "H": {"D": "I"}});
        assert_eq!(
            filter_by(
                l.as_object().unwrap(),
                "xxx",
                &grains,
                Some(&json!({"D": "J"})),
                "F",
                Some("default")
            )
            .unwrap(),
            Some(json!({"A": {"B": "G"}, "D": "J"}))
        );
        assert_eq!(
            filter_by(
                l.as_object().unwrap(),
                "xxx",
                &grains,
                Some(&json!({"D": "J"})),
                "H",
                Some("default")
            )
            .unwrap(),
            Some(json!({"A": {"B": "C"}, "D": "J"}))
        );
        let bad = json!({"default": {"a": 1}, "Debian": "str"});
        assert_eq!(
            filter_by(
                bad.as_object().unwrap(),
                "os_family",
                &grains,
                None,
                "default",
                Some("default")
            ),
            Err(MergeError::FilterByBaseNotDict)
        );
        assert_eq!(
            filter_by(
                lookup,
                "os_family",
                &grains,
                Some(&json!([1])),
                "default",
                None
            ),
            Err(MergeError::FilterByMergeNotDict)
        );
    }

    #[test]
    fn python_reprs() {
        assert_eq!(python_str(&json!(true)), "True");
        assert_eq!(python_str(&json!(1.0)), "1.0");
        assert_eq!(python_str(&json!(1e16)), "1e+16");
        assert_eq!(python_str(&json!(["a", 1, null])), "['a', 1, None]");
        assert_eq!(python_str(&json!({"k": "v"})), "{'k': 'v'}");
    }
}
