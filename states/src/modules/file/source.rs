//! Where `file.managed`'s content comes from: `salt://` (through
//! [`FileSource`](crate::source::FileSource)), local paths and `http(s)://`
//! checked against `source_hash` (Salt's `source_list`, `get_source_sum`,
//! `get_managed`), and the template step; plus `contents`/`contents_pillar`
//! as Salt joins them.

use std::path::Path;

use serde_json::{Map, Value};

use super::hashes::{self, HashSpec, SourceSum};
use super::remote;
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
/// cannot be read or the scheme is not supported. `http(s)://` is fetched
/// every time (no cache, no hash check): for hash files and small sources.
pub fn fetch(ctx: &StateCtx<'_>, url: &str) -> Result<Option<Vec<u8>>, String> {
    if let Some(rest) = url.strip_prefix("salt://") {
        let (path, env) = split_saltenv(rest);
        let env = env.unwrap_or(&ctx.saltenv);
        return ctx.files.read(env, path).map_err(|e| e.to_string());
    }
    if let Some(local) = local_path(url) {
        return match std::fs::read(local) {
            Ok(data) => Ok(Some(data)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{local}: {e}")),
        };
    }
    if remote::is_remote(url) {
        return remote::get(url).map(Some).map_err(|e| e.to_string());
    }
    Err(format!("Invalid source '{url}'"))
}

/// The path of a local source: `file:///abs` or `/abs`.
pub fn local_path(url: &str) -> Option<&str> {
    let local = url.strip_prefix("file://").unwrap_or(url);
    local.starts_with('/').then_some(local)
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

/// A source picked from a `source` argument, with the `source_hash` that
/// goes with it (a list item's own `{url: hash}` wins over the argument).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub url: String,
    pub source_hash: Option<String>,
}

/// Salt's `file.source_list`: a single source is taken as given; from a list,
/// the first that exists (`salt://` in the file roots, a local file, or a
/// remote URL answering HEAD).
pub fn source_list(
    ctx: &StateCtx<'_>,
    value: &Value,
    source_hash: Option<&str>,
) -> Result<Chosen, String> {
    let hash_of = |item: Option<&Value>| {
        item.filter(|h| truthy(h))
            .map(python_str)
            .or_else(|| source_hash.map(str::to_string))
            .filter(|h| !h.is_empty())
    };
    let items: Vec<(String, Option<String>)> = match value {
        Value::Array(items) => items
            .iter()
            .filter_map(|item| match item {
                Value::String(s) => Some((s.clone(), hash_of(None))),
                Value::Object(o) if o.len() == 1 => {
                    o.iter().next().map(|(k, v)| (k.clone(), hash_of(Some(v))))
                }
                _ => None,
            })
            .collect(),
        Value::Object(o) => {
            return o
                .iter()
                .next()
                .map(|(k, v)| Chosen {
                    url: k.clone(),
                    source_hash: hash_of(Some(v)),
                })
                .ok_or_else(|| "none of the specified sources were found".to_string())
        }
        other => {
            return Ok(Chosen {
                url: python_str(other),
                source_hash: hash_of(None),
            })
        }
    };
    for (url, source_hash) in items {
        if source_exists(ctx, &url) {
            return Ok(Chosen { url, source_hash });
        }
    }
    Err("none of the specified sources were found".to_string())
}

fn source_exists(ctx: &StateCtx<'_>, url: &str) -> bool {
    if let Some(rest) = url.strip_prefix("salt://") {
        let (path, env) = split_saltenv(rest);
        return matches!(
            ctx.files.read(env.unwrap_or(&ctx.saltenv), path),
            Ok(Some(_))
        );
    }
    if let Some(local) = local_path(url) {
        return std::path::Path::new(local).exists();
    }
    remote::exists(url)
}

/// Python truthiness of a YAML value (`None`, `""`, `0`, `[]`, `{}` are false).
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Why a `source_hash` gave no digest: Salt words the two differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SumError {
    /// The hash expression or file is not usable (Salt's CommandExecutionError).
    Invalid(String),
    /// The hash file could not be fetched.
    Fetch(String),
}

/// Salt's `file.get_source_sum`: the digest `source_hash` gives for `source`
/// managed at `name` (looked up in a hash file when it names one).
pub fn source_sum(
    ctx: &StateCtx<'_>,
    name: &str,
    source: &str,
    source_hash: &str,
    source_hash_name: Option<&str>,
) -> Result<SourceSum, SumError> {
    match hashes::parse_source_hash(source_hash).map_err(SumError::Invalid)? {
        HashSpec::Inline(sum) => Ok(sum),
        HashSpec::File(url) => {
            let text = fetch(ctx, &url)
                .map_err(SumError::Fetch)?
                .ok_or_else(|| SumError::Invalid(format!("Source hash file {url} not found")))?;
            hashes::extract_hash(
                &String::from_utf8_lossy(&text),
                name,
                source,
                source_hash_name,
            )
            .ok_or_else(|| SumError::Invalid(hashes::invalid_format(source_hash)))
        }
    }
}

/// What `file.managed` gets from its `source`.
#[derive(Debug)]
pub enum Fetched {
    /// The source's bytes (before any template) and the URL they came from.
    Data { url: String, data: Vec<u8> },
    /// The target already has the digest `source_hash` names: nothing was
    /// downloaded and only owner and mode are left to manage.
    UpToDate,
}

/// Salt's `file.get_managed` for a source, with `manage_file`'s check of a
/// non-`salt://` download against `source_hash`. `Err` is the state's
/// comment, worded as Salt words it in this mode (`test=True` reports
/// `get_managed`'s message bare, a real run wraps it).
pub fn managed_source(
    ctx: &StateCtx<'_>,
    args: &StateArgs,
    name: &str,
    template: bool,
) -> Result<Fetched, String> {
    let Some(value) = args.get("source") else {
        return Err("Unable to manage file: none of the specified sources were found".into());
    };
    let Chosen { url, source_hash } = source_list(ctx, value, args.str("source_hash").as_deref())
        .map_err(|e| format!("Unable to manage file: {e}"))?;
    let skip_verify = args.bool("skip_verify", false);
    let source_hash_name = args.str("source_hash_name");
    let remote = remote::is_remote(&url);
    let wrap = |msg: String| {
        if ctx.test {
            msg
        } else {
            format!("Unable to manage file: {msg}")
        }
    };
    let sum_of = |hash: &str| {
        source_sum(ctx, name, &url, hash, source_hash_name.as_deref()).map_err(|e| match e {
            SumError::Invalid(msg) => wrap(format!("Unable to manage file: {msg}")),
            SumError::Fetch(msg) => format!("Unable to manage file: {msg}"),
        })
    };
    let target = Path::new(name);

    // Salt checks an existing target against a remote source's hash first,
    // so an up-to-date file costs no download.
    if remote && !template && !skip_verify && target.exists() {
        if let Some(sum) = source_hash.as_deref().and_then(|h| sum_of(h).ok()) {
            let current = std::fs::read(target).unwrap_or_default();
            if hashes::matches(&sum, &current) {
                return Ok(Fetched::UpToDate);
            }
        }
    }

    if let Some(rest) = url.strip_prefix("salt://") {
        let (path, env) = split_saltenv(rest);
        let env = env.unwrap_or(&ctx.saltenv);
        return match ctx.files.read(env, path) {
            Ok(Some(data)) => Ok(Fetched::Data { url, data }),
            Ok(None) => Err(wrap(format!(
                "Source file {url} not found in saltenv '{}'",
                ctx.saltenv
            ))),
            Err(e) => Err(wrap(e.to_string())),
        };
    }
    let local = local_path(&url);
    if let Some(path) = local.filter(|p| !Path::new(p).exists()) {
        return Err(wrap(format!("Local file source {path} does not exist")));
    }
    if local.is_none() && !remote {
        return Err(wrap(format!("Invalid source '{url}'")));
    }
    let sum = match (&source_hash, skip_verify) {
        (Some(hash), false) => Some(sum_of(hash)?),
        (None, false) if remote => {
            return Err(wrap(format!(
                "Unable to verify upstream hash of source file {url}, \
                 please set source_hash or set skip_verify to True"
            )))
        }
        _ => None,
    };
    let data = match local {
        Some(path) => std::fs::read(path).map_err(|e| wrap(format!("{path}: {e}")))?,
        None => {
            let (data, _) = remote::fetch_cached(
                &ctx.cachedir,
                &ctx.saltenv,
                &url,
                sum.as_ref(),
                skip_verify,
                !ctx.test,
            )
            .map_err(|e| wrap(format!("Failed to cache {url}: {e}")))?;
            data
        }
    };
    // `test=True` diffs what it fetched; only a real run checks the digest.
    if let Some(sum) = sum.filter(|_| !ctx.test) {
        if let Some(actual) = hashes::digest_hex(&sum.hash_type, &data) {
            if actual != sum.hsum {
                return Err(mismatch(name, &url, &sum, &actual));
            }
        }
    }
    Ok(Fetched::Data { url, data })
}

/// Salt's wording for a download that does not match `source_hash`: it
/// names the source when replacing a file, the target when creating one.
fn mismatch(name: &str, url: &str, sum: &SourceSum, actual: &str) -> String {
    let target = Path::new(name);
    let (hash_type, hsum) = (&sum.hash_type, &sum.hsum);
    if target.is_file() || target.is_symlink() {
        format!(
            "Specified {hash_type} checksum for {url} ({hsum}) does not match \
             actual checksum ({actual}). If the 'source_hash' value \
             refers to a remote file with multiple possible \
             matches, then it may be necessary to set \
             'source_hash_name'."
        )
    } else {
        format!(
            "Specified {hash_type} checksum for {name} ({hsum}) does not match \
             actual checksum ({actual})"
        )
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
