//! `file.keyvalue`: set `key<separator>value` lines of a file (sshd_config,
//! sysctl.conf style), uncommenting, appending or pruning as asked; Salt's
//! own `- old` / `+ new` diff format.

use indexmap::IndexMap;
use serde_json::Value;

use super::source::python_str;
use crate::ctx::{StateArgs, StateCtx};
use crate::result::StateResult;

pub const DOC: &str = "Set key/value lines of a file (key and value, or key_values)\n\
name, key, value, key_values, separator (=), append_if_not_found, prepend_if_not_found, show_changes, \
ignore_if_missing, count (1; -1 all), uncomment (comment characters), key_ignore_case, value_ignore_case, \
create_if_missing, prune";

/// Python's type name of a YAML/JSON value (for `(from int type)`).
fn type_name(v: &Value) -> &'static str {
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

/// Python's `str.lstrip(chars)`: `None` strips whitespace.
fn lstrip<'a>(line: &'a str, chars: Option<&str>) -> &'a str {
    match chars {
        None => line.trim_start(),
        Some(set) => line.trim_start_matches(|c| set.contains(c)),
    }
}

/// Python's `str.partition(sep)`.
fn partition<'a>(line: &'a str, sep: &str) -> (&'a str, &'a str, &'a str) {
    match line.find(sep) {
        Some(i) if !sep.is_empty() => (&line[..i], &line[i..i + sep.len()], &line[i + sep.len()..]),
        _ => (line, "", ""),
    }
}

/// The lines of `text` with their line ends (Python's `readlines`).
fn read_lines(text: &str) -> Vec<String> {
    text.split_inclusive('\n').map(str::to_string).collect()
}

pub fn keyvalue(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    let mut res = StateResult {
        result: None,
        ..StateResult::new(name)
    };
    if name.is_empty() {
        return StateResult::fail(name, "Must provide name to file.keyvalue");
    }
    let key_values: IndexMap<String, Value> = match (args.get("key"), args.get("value")) {
        (Some(key), Some(value)) => {
            if matches!(args.get("key_values"), Some(Value::Object(_))) {
                return StateResult::fail(
                    name,
                    "file.keyvalue can not combine key_values with key and value",
                );
            }
            IndexMap::from([(python_str(key), value.clone())])
        }
        _ => match args.get("key_values") {
            Some(Value::Object(m)) if !m.is_empty() => {
                m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
            }
            other => {
                let empty = match other {
                    None => true,
                    Some(v) => !crate::high::graph::truthy(v),
                };
                let msg = if empty {
                    "is empty"
                } else {
                    "is not a dictionary"
                };
                return StateResult::fail(
                    name,
                    format!("file.keyvalue key and value not supplied and key_values {msg}"),
                );
            }
        },
    };
    let separator = args.str("separator").unwrap_or_else(|| "=".into());
    let mut append_if_not_found = args.bool("append_if_not_found", false);
    let prepend_if_not_found = args.bool("prepend_if_not_found", false);
    let show_changes = args.bool("show_changes", true);
    let ignore_if_missing = args.bool("ignore_if_missing", false);
    let count = args.get("count").and_then(Value::as_i64).unwrap_or(1);
    let uncomment = args.str("uncomment");
    let key_ignore_case = args.bool("key_ignore_case", false);
    let value_ignore_case = args.bool("value_ignore_case", false);
    let prune = args.bool("prune", false);

    let file_contents = match std::fs::read_to_string(name) {
        Ok(text) => read_lines(&text),
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && args.bool("create_if_missing", false) =>
        {
            append_if_not_found = true;
            Vec::new()
        }
        Err(_) => {
            res.comment = format!("unable to open {name}");
            res.result = Some(ignore_if_missing);
            return res;
        }
    };

    let tmpl = |key: &str, sep: &str, value: &Value| format!("{key}{sep}{}\n", python_str(value));
    let mut diff: Vec<String> = Vec::new();
    let mut content: Vec<String> = Vec::new();
    let mut not_matched: Vec<String> = Vec::new();
    let mut changes = 0usize;
    let mut diff_count: IndexMap<&str, i64> =
        key_values.keys().map(|k| (k.as_str(), count)).collect();
    let lowered = |k: &str| {
        if key_ignore_case {
            k.to_lowercase()
        } else {
            k.to_string()
        }
    };

    for original in file_contents {
        let mut line = original.clone();
        let stripped = lstrip(&original, uncomment.as_deref());
        let did_uncomment = original.len() > stripped.len();
        let test_line = if key_ignore_case {
            stripped.to_lowercase()
        } else {
            stripped.to_string()
        };
        // an uncommented line is split without its comment characters
        let working_line = if did_uncomment { stripped } else { &original };
        let (line_key, line_sep, line_value) = partition(working_line, &separator);

        if prune
            && !key_values
                .keys()
                .any(|k| test_line.starts_with(&lowered(k)))
        {
            not_matched.push(original.clone());
            continue;
        }

        for (key, value) in &key_values {
            let test_key = lowered(key);
            if !(test_line.starts_with(&test_key) && line_sep == separator) {
                continue;
            }
            let keys_match = if key_ignore_case {
                line_key.to_lowercase() == test_key
            } else {
                line_key == test_key
            };
            if !keys_match {
                continue;
            }
            let mut current = line_value.trim().to_string();
            let mut wanted = python_str(value).trim().to_string();
            if value_ignore_case {
                current = current.to_lowercase();
                wanted = wanted.to_lowercase();
            }
            let mut values_match = current == wanted;
            let left = diff_count[key.as_str()];
            let mut needs_changing = false;
            if did_uncomment {
                // a commented line still wanted is uncommented, whatever its value
                if left > 0 {
                    needs_changing = true;
                } else if !values_match {
                    values_match = true;
                }
            } else if left == 0 {
                // seen enough times already: the extra line goes
                needs_changing = true;
            }
            if !values_match || needs_changing {
                diff.push(format!("- {line}"));
                line.clear();
                if left != 0 {
                    line = tmpl(line_key, line_sep, value);
                    if value.is_string() {
                        diff.push(format!("+ {line}"));
                    } else {
                        diff.push(format!(
                            "+ {} (from {} type)\n",
                            line.trim_end(),
                            type_name(value)
                        ));
                    }
                }
                changes += 1;
            }
            if left > 0 {
                diff_count.insert(key.as_str(), left - 1);
            }
        }
        content.push(line);
    }

    if append_if_not_found {
        let mut tmpdiff = Vec::new();
        for (key, value) in &key_values {
            if diff_count[key.as_str()] > 0 {
                let line = tmpl(key, &separator, value);
                tmpdiff.push(format!("+ {line}"));
                content.push(line);
                changes += 1;
            }
        }
        if !tmpdiff.is_empty() {
            diff.push("- <EOF>\n".into());
            diff.extend(tmpdiff);
            diff.push("+ <EOF>\n".into());
        }
    } else if prepend_if_not_found {
        let mut did_diff = false;
        for (key, value) in &key_values {
            if diff_count[key.as_str()] > 0 {
                let line = tmpl(key, &separator, value);
                if !did_diff {
                    diff.insert(0, "  <SOF>\n".into());
                    did_diff = true;
                }
                diff.insert(1, format!("+ {line}"));
                content.insert(0, line);
                changes += 1;
            }
        }
    }

    let deletions = not_matched.len();
    if prune {
        for line in &not_matched {
            let at = diff.len().min(1);
            diff.insert(at, format!("- {line}"));
        }
    }

    if changes == 0 && deletions == 0 {
        res.result = Some(true);
        return res;
    }
    if ctx.test {
        res.comment = format!(
            "File {name} is set to be changed ({changes} lines modified, {deletions} deleted)"
        );
        if show_changes {
            res.changes.insert("diff".into(), diff.concat().into());
            res.comment.push_str("\nPredicted diff:\n\r\t\t");
            res.comment.push_str(&diff.join("\r\t\t"));
            res.result = None;
        }
        return res;
    }
    res.comment = format!("Changed {changes}, deleted {deletions} lines");
    if show_changes {
        res.changes.insert("diff".into(), diff.concat().into());
    }
    if std::fs::write(name, content.concat()).is_err() {
        res.comment = format!("{name} not writable");
        res.result = Some(false);
        return res;
    }
    res.result = Some(true);
    res
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::modules::file::testkit::{snapshot, Kit};

    /// The corpus case's shape: change, uncomment, append; then nothing to do.
    #[test]
    fn changes_uncomments_and_appends_then_converges() {
        let kit = Kit::new();
        let f = kit.path("sshd_config");
        std::fs::write(
            &f,
            "Port 22\nPermitRootLogin yes\n#PasswordAuthentication yes\nUsePAM yes\n",
        )
        .unwrap();
        let args = json!({
            "key_values": {"PermitRootLogin": "no", "PasswordAuthentication": "no", "Port": "22", "MaxAuthTries": 3},
            "separator": " ", "uncomment": "#", "append_if_not_found": true,
        });
        let before = snapshot(&kit.root());
        let dry = kit.run("file.keyvalue", &f, args.clone(), true);
        assert_eq!(dry.result, None);
        assert!(dry.comment.starts_with(&format!(
            "File {f} is set to be changed (3 lines modified, 0 deleted)"
        )));
        assert_eq!(snapshot(&kit.root()), before);
        let r = kit.run("file.keyvalue", &f, args.clone(), false);
        assert_eq!(r.result, Some(true));
        assert_eq!(r.comment, "Changed 3, deleted 0 lines");
        assert_eq!(
            r.changes["diff"],
            "- PermitRootLogin yes\n+ PermitRootLogin no\n- #PasswordAuthentication yes\n+ PasswordAuthentication no\n- <EOF>\n+ MaxAuthTries 3\n+ <EOF>\n"
        );
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "Port 22\nPermitRootLogin no\nPasswordAuthentication no\nUsePAM yes\nMaxAuthTries 3\n"
        );
        let again = kit.run("file.keyvalue", &f, args, false);
        assert_eq!((again.result, again.comment.as_str()), (Some(true), ""));
        assert!(again.changes.is_empty());
    }

    /// count: a key seen more than `count` times loses the extra lines;
    /// prune drops every other line; a missing file is an error unless
    /// create_if_missing (which appends).
    #[test]
    fn duplicates_prune_and_missing_files() {
        let kit = Kit::new();
        let f = kit.path("c.conf");
        std::fs::write(&f, "a=1\nb=2\na=3\nc=4\n").unwrap();
        let r = kit.run(
            "file.keyvalue",
            &f,
            json!({"key": "a", "value": "1"}),
            false,
        );
        assert_eq!(r.comment, "Changed 1, deleted 0 lines");
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "a=1\nb=2\nc=4\n");
        let r = kit.run(
            "file.keyvalue",
            &f,
            json!({"key": "b", "value": "2", "prune": true}),
            false,
        );
        assert_eq!(r.comment, "Changed 0, deleted 2 lines");
        assert_eq!(r.changes["diff"], "- a=1\n- c=4\n");
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "b=2\n");
        let missing = kit.path("none.conf");
        let r = kit.run(
            "file.keyvalue",
            &missing,
            json!({"key": "x", "value": "y"}),
            false,
        );
        assert_eq!(
            (r.result, r.comment.clone()),
            (Some(false), format!("unable to open {missing}"))
        );
        let r = kit.run(
            "file.keyvalue",
            &missing,
            json!({"key": "x", "value": "y", "create_if_missing": true}),
            false,
        );
        assert_eq!(r.result, Some(true));
        assert_eq!(std::fs::read_to_string(&missing).unwrap(), "x=y\n");
        let r = kit.run("file.keyvalue", &f, json!({}), false);
        assert_eq!(
            r.comment,
            "file.keyvalue key and value not supplied and key_values is empty"
        );
    }
}
