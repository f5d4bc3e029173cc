//! Where `file.managed`'s content comes from: `salt://` (through
//! [`FileSource`](crate::source::FileSource)), local paths, and the template
//! step; plus `contents`/`contents_pillar` as Salt joins them.

use serde_json::{Map, Value};

use crate::ctx::{StateArgs, StateCtx};

/// The URLs of a `source` argument: a string, or a list of strings or of
/// single-key `{url: hash}` mappings (the first that exists wins).
pub fn source_urls(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|item| match item {
                Value::String(s) => Some(s.clone()),
                Value::Object(o) => o.keys().next().cloned(),
                _ => None,
            })
            .collect(),
        Value::Object(o) => o.keys().next().cloned().into_iter().collect(),
        _ => Vec::new(),
    }
}

/// The bytes at `url`, `Ok(None)` when it does not exist, `Err` when it
/// cannot be read or the scheme is not supported.
pub fn fetch(ctx: &StateCtx<'_>, url: &str) -> Result<Option<Vec<u8>>, String> {
    if let Some(rest) = url.strip_prefix("salt://") {
        let (path, env) = split_saltenv(rest);
        let env = env.unwrap_or(&ctx.saltenv);
        return ctx.files.read(env, path).map_err(|e| e.to_string());
    }
    let local = url.strip_prefix("file://").unwrap_or(url);
    if local.starts_with('/') {
        return match std::fs::read(local) {
            Ok(data) => Ok(Some(data)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{local}: {e}")),
        };
    }
    if ["http://", "https://", "ftp://", "s3://", "swift://"]
        .iter()
        .any(|scheme| url.starts_with(scheme))
    {
        return Err(format!("http sources are not supported yet: {url}"));
    }
    Err(format!("Invalid source '{url}'"))
}

/// `salt://path?saltenv=dev` → (`path`, `Some("dev")`).
pub fn split_saltenv(rest: &str) -> (&str, Option<&str>) {
    match rest.split_once('?') {
        None => (rest, None),
        Some((path, query)) => {
            let env = query.split('&').find_map(|kv| {
                kv.strip_prefix("saltenv=")
                    .or_else(|| kv.strip_prefix("env="))
            });
            (path, env)
        }
    }
}

/// Salt's `file.source_list` plus the fetch: the first source that exists,
/// with its bytes. Errors use Salt's wording.
pub fn first_existing(ctx: &StateCtx<'_>, value: &Value) -> Result<(String, Vec<u8>), String> {
    let urls = source_urls(value);
    let many = matches!(value, Value::Array(_));
    for url in &urls {
        if let Some(data) = fetch(ctx, url)? {
            return Ok((url.clone(), data));
        }
    }
    match urls.first() {
        Some(url) if !many => Err(format!("Source file '{url}' not found")),
        _ => Err("none of the specified sources were found".to_string()),
    }
}

/// The `template` argument, if any (`jinja`, ...).
pub fn template_engine(args: &StateArgs) -> Option<String> {
    args.str("template")
        .filter(|t| !t.is_empty() && t != "false" && t != "False")
}

/// `defaults` overlaid by `context`, checked the way Salt checks them.
pub fn template_vars(args: &StateArgs) -> Result<Map<String, Value>, String> {
    let mut vars = Map::new();
    match args.get("defaults") {
        None => {}
        Some(Value::Object(d)) => vars.extend(d.clone()),
        Some(_) => return Err("Defaults must be formed as a dict".to_string()),
    }
    match args.get("context") {
        None => {}
        Some(Value::Object(c)) => vars.extend(c.clone()),
        Some(_) => return Err("Context must be formed as a dict".to_string()),
    }
    Ok(vars)
}

/// Renders `text` with the template engine when one is set.
pub fn render(
    ctx: &StateCtx<'_>,
    engine: Option<&str>,
    text: Vec<u8>,
    source_path: &str,
    vars: &Map<String, Value>,
) -> Result<Vec<u8>, String> {
    let Some(engine) = engine else {
        return Ok(text);
    };
    let text = String::from_utf8(text)
        .map_err(|_| format!("Unable to render binary file {source_path} as a template"))?;
    ctx.templates
        .render(engine, &text, source_path, vars)
        .map(String::into_bytes)
}

/// Python's `str()` of a YAML scalar, as Salt applies it to contents lines.
pub fn python_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".to_string(),
        Value::Bool(false) => "False".to_string(),
        Value::Null => "None".to_string(),
        other => other.to_string(),
    }
}

/// `pillar.get` with a `:` (or custom) delimiter.
pub fn pillar_get<'v>(pillar: &'v Value, key: &str, delimiter: &str) -> Option<&'v Value> {
    let mut cur = pillar;
    for part in key.split(delimiter) {
        cur = match cur {
            Value::Object(o) => o.get(part)?,
            Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Salt's `_validate_str_list` then the join in `file.managed`: every line
/// ends with a newline; `contents_newline: False` drops the last one.
pub fn join_contents(value: &Value, trailing_newline: bool) -> String {
    let parts: Vec<String> = match value {
        Value::Array(items) => items.iter().map(python_str).collect(),
        other => vec![python_str(other)],
    };
    let mut out = String::new();
    for part in &parts {
        for line in python_splitlines(part) {
            out.push_str(line.trim_end_matches('\n').trim_end_matches('\r'));
            out.push('\n');
        }
    }
    if !trailing_newline {
        let trimmed = out.trim_end_matches('\n').trim_end_matches('\r').len();
        out.truncate(trimmed);
    }
    out
}

/// `str.splitlines()` for `\n`, `\r\n` and `\r` (enough for file contents).
pub fn python_splitlines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(&text[start..i]);
                start = i + 1;
            }
            b'\r' => {
                lines.push(&text[start..i]);
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn contents_are_joined_with_a_final_newline() {
        assert_eq!(join_contents(&json!("a\nb"), true), "a\nb\n");
        assert_eq!(join_contents(&json!(["a", "b\n", 3]), true), "a\nb\n3\n");
        assert_eq!(join_contents(&json!("a\n"), false), "a");
    }

    #[test]
    fn pillar_keys_are_nested_by_colon() {
        let p = json!({"app": {"conf": "x=1", "list": ["a", "b"]}});
        assert_eq!(pillar_get(&p, "app:conf", ":"), Some(&json!("x=1")));
        assert_eq!(pillar_get(&p, "app:list:1", ":"), Some(&json!("b")));
        assert_eq!(pillar_get(&p, "app:nope", ":"), None);
    }

    #[test]
    fn source_lists_accept_strings_and_hash_maps() {
        let v = json!(["salt://a", {"salt://b": "sha256=00"}]);
        assert_eq!(source_urls(&v), vec!["salt://a", "salt://b"]);
        assert_eq!(split_saltenv("x/y?saltenv=dev"), ("x/y", Some("dev")));
    }
}
