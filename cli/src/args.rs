//! Salt's command-line argument conventions: positional arguments are read
//! as YAML scalars (`3` is a number, `True` a boolean), `key=value` is a
//! keyword argument when `key` looks like an identifier.

use std::sync::OnceLock;

use regex::Regex;
use serde_json::{Map, Value};

fn kwarg_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^([A-Za-z_][\w.-]*)=(.*)$").expect("static regex"))
}

/// Reads one CLI argument the way Salt's `yamlify_arg` does, conservatively:
/// numbers, booleans, null and flow collections are typed; anything that
/// would turn a plain command string into a mapping stays a string.
pub fn yamlify(arg: &str) -> Value {
    let trimmed = arg.trim();
    if trimmed.is_empty() {
        return Value::String(arg.to_string());
    }
    let parsed: Result<serde_yaml::Value, _> = serde_yaml::from_str(arg);
    let Ok(parsed) = parsed else {
        return Value::String(arg.to_string());
    };
    match parsed {
        serde_yaml::Value::Mapping(_) if !trimmed.starts_with('{') => {
            Value::String(arg.to_string())
        }
        serde_yaml::Value::Sequence(_) if !trimmed.starts_with('[') => {
            Value::String(arg.to_string())
        }
        serde_yaml::Value::String(_) => {
            // YAML 1.1 words Salt reads as booleans/None.
            match trimmed {
                "True" | "true" | "yes" | "Yes" | "on" | "On" => Value::Bool(true),
                "False" | "false" | "no" | "No" | "off" | "Off" => Value::Bool(false),
                "None" | "null" | "~" => Value::Null,
                _ => Value::String(arg.to_string()),
            }
        }
        serde_yaml::Value::Tagged(_) => Value::String(arg.to_string()),
        other => serde_json::to_value(other).unwrap_or_else(|_| Value::String(arg.to_string())),
    }
}

/// Splits `ARGS...` into positional and keyword arguments.
pub fn parse_call_args(args: &[String]) -> (Vec<Value>, Map<String, Value>) {
    let mut pos = Vec::new();
    let mut kw = Map::new();
    for a in args {
        if let Some(c) = kwarg_re().captures(a) {
            kw.insert(c[1].to_string(), yamlify(&c[2]));
        } else {
            pos.push(yamlify(a));
        }
    }
    (pos, kw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn salt_style_arguments() {
        let args: Vec<String> = [
            "uptime",
            "3",
            "True",
            "echo a=b",
            "cwd=/tmp",
            "timeout=5",
            "[1, 2]",
            "a: b",
            "env={A: x}",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (pos, kw) = parse_call_args(&args);
        assert_eq!(
            pos,
            vec![
                json!("uptime"),
                json!(3),
                json!(true),
                json!("echo a=b"),
                json!([1, 2]),
                json!("a: b")
            ]
        );
        assert_eq!(kw["cwd"], json!("/tmp"));
        assert_eq!(kw["timeout"], json!(5));
        assert_eq!(kw["env"], json!({"A": "x"}));
    }
}
