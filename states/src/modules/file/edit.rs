//! In-place edits of existing files: `file.replace`, `file.line`,
//! `file.append`, `file.prepend`, `file.blockreplace`, `file.comment`,
//! `file.uncomment`. Patterns are Python regexes in Salt; ours are Rust
//! `regex` (no look-around or backreferences in patterns).

use std::path::Path;

use regex::Regex;
use serde_json::{Map, Value};

use super::{diff, fsio, managed, source};
use crate::ctx::{StateArgs, StateCtx};
use crate::result::StateResult;

pub const REPLACE_DOC: &str = "Regex search and replace in a file\nname, pattern, repl, count, flags, append_if_not_found, prepend_if_not_found, not_found_content, backup, show_changes, ignore_if_missing, backslash_literal";
pub const LINE_DOC: &str = "Edit one line of a file\nname, content, match, mode (ensure|replace|insert|delete), location (start|end), before, after, show_changes, backup, quiet, indent, create, user, group, file_mode";
pub const APPEND_DOC: &str = "Append text lines that are not in the file yet\nname, text, makedirs, source, template, context, defaults, ignore_whitespace, show_changes";
pub const PREPEND_DOC: &str = "Prepend text lines that are not in the file yet\nname, text, makedirs, source, template, context, defaults, header, show_changes";
pub const BLOCKREPLACE_DOC: &str = "Manage a block of text between two marker lines\nname, marker_start, marker_end, content, append_if_not_found, prepend_if_not_found, insert_before_match, insert_after_match, backup, show_changes, append_newline";
pub const COMMENT_DOC: &str =
    "Comment out lines matching a regex\nname, regex, char, backup, ignore_missing";
pub const UNCOMMENT_DOC: &str = "Uncomment lines matching a regex\nname, regex, char, backup";

/// Salt's `_check_file`.
fn check_file(name: &str) -> Result<(), String> {
    if !Path::new(name).is_absolute() {
        return Err(format!("Specified file {name} is not an absolute path"));
    }
    if !Path::new(name).exists() {
        return Err(format!("{name}: file not found"));
    }
    Ok(())
}

fn read_text(path: &Path) -> Result<String, String> {
    let data = std::fs::read(path)
        .map_err(|e| format!("Unable to open file '{}'. Exception: {e}", path.display()))?;
    if diff::is_binary(&data) {
        return Err(format!(
            "Cannot perform string replacements on a binary file: {}",
            path.display()
        ));
    }
    Ok(String::from_utf8_lossy(&data).into_owned())
}

/// Writes the edit, keeping owner and mode; `backup` is Salt's suffix
/// (`.bak`) for a copy of the old file, or empty for none.
fn commit(path: &Path, new: &str, backup: &str) -> Result<(), String> {
    if !backup.is_empty() {
        let mut b = path.as_os_str().to_owned();
        b.push(backup);
        std::fs::copy(path, &b).map_err(|e| format!("Unable to write backup file: {e}"))?;
    }
    fsio::write(path, new.as_bytes(), false, None)
        .map_err(|e| format!("Unable to write file '{}': {e}", path.display()))
}

/// The `backup` argument: a suffix, or none for `False`.
fn backup_suffix(args: &StateArgs, default: &str) -> String {
    match args.args.get("backup") {
        None => default.to_string(),
        Some(Value::Bool(false)) | Some(Value::Null) => String::new(),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => String::new(),
        Some(v) => source::python_str(v),
    }
}

/// Python's `str.splitlines(True)`.
pub fn split_keep(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        let end = match bytes[i] {
            b'\n' => Some(i + 1),
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => Some(i + 2),
            b'\r' => Some(i + 1),
            _ => None,
        };
        if let Some(e) = end {
            out.push(&text[start..e]);
            start = e;
            i = e;
        } else {
            i += 1;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// Salt's `re` flags (`8` = MULTILINE, or names) as an inline prefix.
fn flags_prefix(value: Option<&Value>) -> Result<String, String> {
    let bits: u64 = match value {
        None => 8,
        Some(Value::Number(n)) => n.as_u64().unwrap_or(8),
        Some(Value::String(s)) => name_flag(s)?,
        Some(Value::Array(items)) => {
            let mut b = 0;
            for i in items {
                b |= name_flag(&source::python_str(i))?;
            }
            b
        }
        Some(other) => return Err(format!("Invalid re flags: \"{other}\"")),
    };
    let mut p = String::new();
    for (bit, c) in [(2, 'i'), (8, 'm'), (16, 's'), (64, 'x')] {
        if bits & bit != 0 {
            p.push(c);
        }
    }
    Ok(if p.is_empty() { p } else { format!("(?{p})") })
}

fn name_flag(name: &str) -> Result<u64, String> {
    Ok(match name.to_ascii_uppercase().as_str() {
        "I" | "IGNORECASE" => 2,
        "L" | "LOCALE" => 4,
        "M" | "MULTILINE" => 8,
        "S" | "DOTALL" => 16,
        "U" | "UNICODE" => 32,
        "X" | "VERBOSE" => 64,
        "A" | "ASCII" => 256,
        _ => return Err(format!("Invalid re flag given: {name}")),
    })
}

fn compile(pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| format!("invalid regular expression '{pattern}': {e}"))
}

/// Python's `re.sub` replacement syntax (`\1`, `\g<name>`, `\n`) in the
/// `regex` crate's (`${1}`, `${name}`, literal `$$`).
pub fn python_repl(repl: &str) -> String {
    let mut out = String::new();
    let mut chars = repl.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.next() {
                Some(d) if d.is_ascii_digit() => {
                    let mut n = d.to_string();
                    if let Some(d2) = chars.peek().filter(|c| c.is_ascii_digit()) {
                        n.push(*d2);
                        chars.next();
                    }
                    out.push_str(&format!("${{{n}}}"));
                }
                Some('g') if chars.peek() == Some(&'<') => {
                    chars.next();
                    let name: String = chars.by_ref().take_while(|c| *c != '>').collect();
                    out.push_str(&format!("${{{name}}}"));
                }
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('\\') => out.push('\\'),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            },
            other => out.push(other),
        }
    }
    out
}

/// The state's report of an edit. With `show_changes: False` Salt's module
/// returns `True` instead of the diff, and that is what lands in `diff`.
fn edited(
    res_name: &str,
    test: bool,
    diff_text: String,
    show_changes: bool,
    would: &str,
    did: &str,
) -> StateResult {
    if diff_text.is_empty() {
        return StateResult::ok(res_name, "No changes needed to be made");
    }
    let mut changes = Map::new();
    let shown = if show_changes {
        Value::String(diff_text)
    } else {
        Value::Bool(true)
    };
    changes.insert("diff".into(), shown);
    if test {
        StateResult::would(res_name, would, changes)
    } else {
        StateResult {
            changes,
            ..StateResult::ok(res_name, did)
        }
    }
}

pub fn replace(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    if name.is_empty() {
        return StateResult::fail(name, "Must provide name to file.replace");
    }
    if let Err(msg) = check_file(name) {
        if args.bool("ignore_if_missing", false) && msg.contains("file not found") {
            return StateResult::ok(name, "No changes needed to be made");
        }
        return StateResult::fail(name, msg);
    }
    match replace_inner(ctx, args) {
        Ok(d) => edited(
            name,
            ctx.test,
            d,
            args.bool("show_changes", true),
            "Changes would have been made",
            "Changes were made",
        ),
        Err(e) => StateResult::fail(name, e),
    }
}

fn replace_inner(ctx: &StateCtx<'_>, args: &StateArgs) -> Result<String, String> {
    let path = Path::new(&args.name)
        .canonicalize()
        .map_err(|e| e.to_string())?;
    let pattern = args.str("pattern").ok_or("pattern is required")?;
    let repl = args
        .get("repl")
        .map(source::python_str)
        .ok_or("repl is required")?;
    let append = args.bool("append_if_not_found", false);
    let prepend = args.bool("prepend_if_not_found", false);
    if append && prepend {
        return Err("Only one of append and prepend_if_not_found is permitted".into());
    }
    let count = args.get("count").and_then(Value::as_u64).unwrap_or(0) as usize;
    let flags = flags_prefix(args.get("flags"))?;
    let re = compile(&format!("{flags}{pattern}"))?;
    let orig = read_text(&path)?;
    let mut rust_repl = python_repl(&repl);
    if args.bool("backslash_literal", false) {
        rust_repl = repl.replace('$', "$$");
    }
    let nrepl = re
        .find_iter(&orig)
        .take(if count == 0 { usize::MAX } else { count })
        .count();
    let result = re.replacen(&orig, count, rust_repl.as_str()).into_owned();
    let mut found = nrepl > 0;
    let not_found = args.get("not_found_content").map(source::python_str);
    let content = not_found
        .clone()
        .filter(|_| append || prepend)
        .unwrap_or_else(|| repl.clone());
    if append || prepend {
        let probe = compile(&format!("{flags}^{}(\r?$)", regex::escape(&content)))?;
        if probe.is_match(&orig) {
            found = true;
        }
    }
    let mut new = result;
    if !found && (append || prepend) {
        let line = format!("{}\n", not_found.unwrap_or(repl));
        if prepend {
            new.insert_str(0, &line);
        } else {
            if !new.is_empty() && !new.ends_with('\n') {
                new.push('\n');
            }
            new.push_str(&line);
        }
    }
    let d = diff::unified_text(&orig, &new);
    if !d.is_empty() && !ctx.test {
        commit(&path, &new, &backup_suffix(args, ".bak"))?;
    }
    Ok(d)
}

pub fn line(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    if name.is_empty() {
        return StateResult::fail(name, "Must provide name to file.line");
    }
    // Salt runs file.managed(create, user, group, mode=file_mode, replace=False) first.
    let mut margs = Map::new();
    margs.insert("create".into(), Value::Bool(args.bool("create", false)));
    margs.insert("replace".into(), Value::Bool(false));
    for (from, to) in [("user", "user"), ("group", "group"), ("file_mode", "mode")] {
        if let Some(v) = args.get(from) {
            margs.insert(to.into(), v.clone());
        }
    }
    let _ = managed::managed(
        ctx,
        &StateArgs {
            name: name.to_string(),
            args: margs,
        },
    );
    if let Err(msg) = check_file(name) {
        return StateResult::fail(name, msg);
    }
    let Some(mode) = args.str("mode").map(|m| m.to_lowercase()) else {
        return StateResult::fail(name, "Mode was not defined. How to process the file?");
    };
    let content = args.get("content").map(source::python_str);
    if mode != "delete" && content.is_none() {
        return StateResult::fail(name, "Content can only be empty if mode is ['delete']");
    }
    match line_inner(ctx, args, &mode, content) {
        Ok(d) => edited(
            name,
            ctx.test,
            d,
            args.bool("show_changes", true),
            "Changes would be made",
            "Changes were made",
        ),
        Err(e) => StateResult::fail(name, e),
    }
}

fn line_inner(
    ctx: &StateCtx<'_>,
    args: &StateArgs,
    mode: &str,
    content: Option<String>,
) -> Result<String, String> {
    let path = Path::new(&args.name)
        .canonicalize()
        .map_err(|e| e.to_string())?;
    if !["insert", "ensure", "delete", "replace"].contains(&mode) {
        return Err(format!("Unknown mode: \"{mode}\""));
    }
    let before = args.str("before");
    let after = args.str("after");
    let mut matcher = args.str("match");
    if before.is_none() && after.is_none() && matcher.as_deref().is_none_or(str::is_empty) {
        matcher = content.clone();
    }
    let orig = read_text(&path)?;
    let mut body: Vec<String> = split_keep(&orig).into_iter().map(String::from).collect();
    if body.last().is_some_and(|l| !eol(l).is_empty()) {
        body.push(String::new());
    }
    if orig.is_empty() && (mode == "delete" || mode == "replace") {
        body.clear();
    }
    let indent = args.bool("indent", true);
    let content = content.unwrap_or_default();
    let location = args.str("location");
    set_line(
        &mut body,
        &content,
        matcher.as_deref(),
        mode,
        location.as_deref(),
        before.as_deref(),
        after.as_deref(),
        indent,
    )?;
    let len = body.len();
    for idx in 0..len {
        if eol(&body[idx]).is_empty() && idx + 1 < len {
            let prev = if idx == 0 { 1 } else { idx - 1 };
            let fixed = with_eol(&body[prev], &body[idx]);
            body[idx] = fixed;
        }
    }
    if body.last().is_some_and(String::is_empty) {
        body.pop();
    }
    let new: String = body.concat();
    if new == orig {
        return Ok(String::new());
    }
    let d = diff::unified_text(&orig, &new);
    if !ctx.test {
        if args.bool("backup", false) {
            let mut b = path.as_os_str().to_owned();
            b.push(format!(".{}", backup_time()));
            let _ = std::fs::copy(&path, b);
        }
        fsio::write(&path, new.as_bytes(), false, None).map_err(|e| e.to_string())?;
    }
    Ok(d)
}

fn backup_time() -> String {
    // Salt uses local time `%Y-%m-%d-%H-%M-%S`; seconds since the epoch keep
    // names unique without a time-zone database.
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    secs.to_string()
}

/// Salt's `_get_eol`.
fn eol(line: &str) -> &str {
    if line.ends_with("\r\n") {
        "\r\n"
    } else if line.ends_with('\n') {
        "\n"
    } else if line.ends_with('\r') {
        "\r"
    } else {
        ""
    }
}

/// Salt's `_set_line_eol`.
fn with_eol(src: &str, line: &str) -> String {
    let e = eol(src);
    format!("{}{}", line.trim_end(), if e.is_empty() { "\n" } else { e })
}

/// Salt's `_set_line_indent`.
fn with_indent(src: &str, line: &str, indent: bool) -> String {
    if !indent {
        return line.to_string();
    }
    let idt: String = src
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect();
    format!("{idt}{}", line.trim_start())
}

/// Salt's `_regex_to_static`: the lines matching `regex` (or containing it).
fn matching(lines: &[String], regex: Option<&str>) -> Result<Option<Vec<String>>, String> {
    let Some(r) = regex.filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    if lines.is_empty() {
        return Ok(None);
    }
    let re = Regex::new(&format!("(?s){r}")).map_err(|e| format!("{e}: '{r}'"))?;
    // Python's `$` also matches before a final newline.
    let hit = |l: &str| re.is_match(l) || l.strip_suffix('\n').is_some_and(|s| re.is_match(s));
    Ok(Some(
        lines
            .iter()
            .filter(|l| hit(l) || l.contains(r))
            .cloned()
            .collect(),
    ))
}

fn assert_once(found: &[String], what: &str) -> Result<(), String> {
    let msg = match found.len() {
        0 => "less than",
        1 => return Ok(()),
        _ => "more than",
    };
    Err(format!(
        "Found {msg} expected occurrences in \"{what}\" expression"
    ))
}

fn index_of(lines: &[String], line: &str) -> usize {
    lines.iter().position(|l| l == line).unwrap_or(0)
}

/// Salt's `_set_line`, kept close to the original so edge cases match.
#[allow(clippy::too_many_arguments)]
fn set_line(
    lines: &mut Vec<String>,
    content: &str,
    matcher: Option<&str>,
    mode: &str,
    location: Option<&str>,
    before: Option<&str>,
    after: Option<&str>,
    indent: bool,
) -> Result<(), String> {
    let after = matching(lines, after)?;
    let before = matching(lines, before)?;
    let found = matching(lines, matcher)?;
    let found = found.filter(|f| !f.is_empty());
    let before = before.filter(|b| !b.is_empty());
    let after = after.filter(|a| !a.is_empty());
    if lines.is_empty() && (mode == "delete" || mode == "replace") {
        lines.clear();
    } else if mode == "delete" && found.is_some() {
        let first = found.unwrap_or_default().remove(0);
        lines.retain(|l| *l != first);
    } else if mode == "replace" && found.is_some() {
        let first = &found.unwrap_or_default()[0];
        let idx = index_of(lines, first);
        let original = lines.remove(idx);
        lines.insert(idx, with_indent(&original, content, indent));
    } else if mode == "insert" {
        if before.is_none() && after.is_none() && location.is_none() {
            return Err(
                "On insert either \"location\" or \"before/after\" conditions are required.".into(),
            );
        }
        if let Some(loc) = location.filter(|l| !l.is_empty()) {
            if loc == "end" {
                match lines.last() {
                    Some(last) => {
                        let l = with_indent(last, content, indent);
                        lines.push(l);
                    }
                    None => lines.push(content.to_string()),
                }
            } else if loc == "start" {
                match lines.first() {
                    Some(first) => {
                        let l = with_eol(first, content);
                        lines.insert(0, l);
                    }
                    None => *lines = vec![format!("{content}\n")],
                }
            }
        } else if let (Some(b), Some(a)) = (&before, &after) {
            assert_once(b, "before")?;
            assert_once(a, "after")?;
            let last = index_of(lines, &b[0]);
            let l = with_indent(&lines[last], content, indent);
            lines.insert(last, l);
        } else if let Some(a) = &after {
            assert_once(a, "after")?;
            let idx = index_of(lines, &a[0]);
            let next = lines.get(idx + 1);
            if next.is_none_or(|n| {
                n.trim_end_matches(['\r', '\n']) != content.trim_end_matches(['\r', '\n'])
            }) {
                let l = with_indent(&lines[idx], content, indent);
                lines.insert(idx + 1, l);
            }
        } else if let Some(b) = &before {
            assert_once(b, "before")?;
            let idx = index_of(lines, &b[0]);
            let prev = if idx == 0 {
                lines.last()
            } else {
                lines.get(idx - 1)
            };
            if prev.is_none_or(|p| {
                p.trim_end_matches(['\r', '\n']) != content.trim_end_matches(['\r', '\n'])
            }) {
                let l = with_indent(&lines[idx], content, indent);
                lines.insert(idx, l);
            }
        } else {
            return Err("Neither before or after was found in file".into());
        }
    } else if mode == "ensure" {
        if let (Some(b), Some(a)) = (&before, &after) {
            assert_once(a, "after")?;
            assert_once(b, "before")?;
            let ai = index_of(lines, &a[0]);
            let bi = index_of(lines, &b[0]);
            let already = lines.iter().any(|l| l.trim_start() == content);
            if !already {
                if ai + 1 == bi {
                    let l = with_indent(&lines[ai], content, indent);
                    lines.insert(ai + 1, l);
                } else if ai + 2 == bi {
                    lines[ai + 1] = with_indent(&lines[ai], content, indent);
                } else {
                    return Err(
                        "Found more than one line between boundaries \"before\" and \"after\"."
                            .into(),
                    );
                }
            }
        } else if let Some(b) = &before {
            assert_once(b, "before")?;
            let bi = index_of(lines, &b[0]);
            if bi == 0
                || lines[bi - 1].trim_end_matches(['\r', '\n'])
                    != content.trim_end_matches(['\r', '\n'])
            {
                let src = if bi == 0 {
                    lines.last().cloned().unwrap_or_default()
                } else {
                    lines[bi - 1].clone()
                };
                lines.insert(bi, with_indent(&src, content, indent));
            }
        } else if let Some(a) = &after {
            assert_once(a, "after")?;
            let ai = index_of(lines, &a[0]);
            let is_last = ai + 1 >= lines.len();
            if is_last
                || lines[ai + 1].trim_end_matches(['\r', '\n'])
                    != content.trim_end_matches(['\r', '\n'])
            {
                let l = with_indent(&lines[ai], content, indent);
                lines.insert(ai + 1, l);
            }
        } else {
            return Err("Wrong conditions? Unable to ensure line without knowing where to put it before and/or after.".into());
        }
    }
    Ok(())
}

/// `text` (a string or a list), or the rendered `source`s, as chunks.
fn text_chunks(ctx: &StateCtx<'_>, args: &StateArgs) -> Result<Vec<String>, String> {
    let sources: Vec<String> = args
        .get("source")
        .or_else(|| args.get("sources"))
        .map(source::source_urls)
        .unwrap_or_default();
    if !sources.is_empty() {
        let engine = source::template_engine(args);
        let vars = source::template_vars(args)?;
        let mut out = Vec::new();
        for url in sources {
            let data = source::fetch(ctx, &url)?
                .ok_or_else(|| format!("Source file '{url}' not found"))?;
            let text = source::render(ctx, engine.as_deref(), data, &url, &vars)?;
            out.push(String::from_utf8_lossy(&text).into_owned());
        }
        return Ok(out);
    }
    Ok(match args.get("text") {
        None => Vec::new(),
        Some(Value::Array(items)) => items.iter().map(source::python_str).collect(),
        Some(v) => vec![source::python_str(v)],
    })
}

/// Salt's `file.search(path, pattern, multiline=True)`; a pattern that is
/// not a valid regex for us is searched literally.
fn search(text: &str, pattern: &str) -> bool {
    match Regex::new(&format!("(?m){pattern}")) {
        Ok(re) => re.is_match(text),
        Err(_) => text.contains(pattern),
    }
}

/// Salt's `build_whitespace_split_regex`: the chunk's words with any
/// whitespace between them, one line each.
fn whitespace_split_regex(text: &str) -> String {
    let mut re = String::new();
    for line in source::python_splitlines(text) {
        let parts: Vec<String> = line.split_whitespace().map(regex::escape).collect();
        re.push_str(&format!(r"(?:[\s]+)?{}", parts.join(r"(?:[\s]+)")));
    }
    format!("(?m)^{re}$")
}

/// Shared start of `file.append` and `file.prepend`: the missing file is
/// touched (and under test, that is the whole answer).
fn prepare_missing(ctx: &StateCtx<'_>, args: &StateArgs) -> Option<StateResult> {
    let name = args.name.as_str();
    if check_file(name).is_ok() {
        return None;
    }
    let mut targs = Map::new();
    targs.insert("makedirs".into(), Value::Bool(args.bool("makedirs", false)));
    let touched = super::touch::touch(
        ctx,
        &StateArgs {
            name: name.to_string(),
            args: targs,
        },
    );
    if ctx.test {
        return Some(touched);
    }
    check_file(name).err().map(|e| StateResult::fail(name, e))
}

/// What `file.append` and `file.prepend` start from: the text to add (one
/// entry per line) and the file's current text, the file created first when
/// `makedirs` says so. `Err` is the state's result already.
fn lines_to_add(
    ctx: &StateCtx<'_>,
    args: &StateArgs,
    fun: &str,
) -> Result<(Vec<String>, String), Box<StateResult>> {
    let name = args.name.as_str();
    if name.is_empty() {
        let message = format!("Must provide name to file.{fun}");
        return Err(Box::new(StateResult::fail(name, message)));
    }
    if let Some(r) = prepare_missing(ctx, args) {
        return Err(Box::new(r));
    }
    let fail = |e| Box::new(StateResult::fail(name, e));
    let chunks = text_chunks(ctx, args).map_err(fail)?;
    let orig = read_text(Path::new(name)).map_err(fail)?;
    Ok((chunks, orig))
}

pub fn append(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    let (chunks, orig) = match lines_to_add(ctx, args, "append") {
        Ok(found) => found,
        Err(result) => return *result,
    };
    let path = Path::new(name);
    let ignore_ws = args.bool("ignore_whitespace", true);
    let mut new_lines: Vec<String> = Vec::new();
    for chunk in &chunks {
        let present = if ignore_ws {
            search(&orig, &whitespace_split_regex(chunk))
        } else {
            search(&orig, chunk)
        };
        if present {
            continue;
        }
        new_lines.extend(
            source::python_splitlines(chunk)
                .into_iter()
                .map(String::from),
        );
    }
    let old: Vec<&str> = source::python_splitlines(&orig);
    let mut all: Vec<&str> = old.clone();
    all.extend(new_lines.iter().map(String::as_str));
    let diff_text = if !args.bool("show_changes", true) {
        "<show_changes=False>".to_string()
    } else {
        diff::unified_joined(&old, &all)
    };
    if new_lines.is_empty() {
        return StateResult::ok(name, format!("File {name} is in correct state"));
    }
    let mut changes = Map::new();
    changes.insert("diff".into(), Value::String(diff_text));
    if ctx.test {
        return StateResult::would(name, format!("File {name} is set to be updated"), changes);
    }
    let mut new = orig.clone();
    if !new.is_empty() && !new.ends_with('\n') {
        new.push('\n');
    }
    for l in &new_lines {
        new.push_str(l);
        new.push('\n');
    }
    if let Err(e) = fsio::write(path, new.as_bytes(), false, None) {
        return StateResult::fail(name, e.to_string());
    }
    StateResult {
        changes,
        ..StateResult::ok(name, format!("Appended {} lines", new_lines.len()))
    }
}

pub fn prepend(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    let (chunks, orig) = match lines_to_add(ctx, args, "prepend") {
        Ok(found) => found,
        Err(result) => return *result,
    };
    let path = Path::new(name);
    let header = args.bool("header", false);
    let mut preface: Vec<String> = Vec::new();
    for chunk in &chunks {
        if !header && search(&orig, &whitespace_split_regex(chunk)) {
            continue;
        }
        preface.extend(
            source::python_splitlines(chunk)
                .into_iter()
                .map(String::from),
        );
    }
    let old = split_keep(&orig);
    if header {
        let head: Vec<&str> = old
            .iter()
            .take(preface.len())
            .flat_map(|c| source::python_splitlines(c))
            .collect();
        if head == preface.iter().map(String::as_str).collect::<Vec<_>>() {
            preface.clear();
        }
    }
    if preface.is_empty() {
        return StateResult::ok(name, format!("File {name} is in correct state"));
    }
    let mut new = String::new();
    for l in &preface {
        new.push_str(l);
        new.push('\n');
    }
    new.push_str(&orig);
    let mut changes = Map::new();
    let shown = if args.bool("show_changes", true) {
        diff::unified_text(&orig, &new)
    } else {
        "<show_changes=False>".into()
    };
    changes.insert("diff".into(), Value::String(shown));
    if ctx.test {
        return StateResult::would(name, format!("File {name} is set to be updated"), changes);
    }
    if let Err(e) = fsio::write(path, new.as_bytes(), false, None) {
        return StateResult::fail(name, e.to_string());
    }
    StateResult {
        changes,
        ..StateResult::ok(name, format!("Prepended {} lines", preface.len()))
    }
}

pub fn blockreplace(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    if name.is_empty() {
        return StateResult::fail(name, "Must provide name to file.blockreplace");
    }
    if let Err(e) = check_file(name) {
        return StateResult::fail(name, e);
    }
    match blockreplace_inner(ctx, args) {
        Ok(d) => edited(
            name,
            ctx.test,
            d,
            args.bool("show_changes", true),
            "Changes would be made",
            "Changes were made",
        ),
        Err(e) => StateResult {
            result: Some(false),
            ..StateResult::fail(
                name,
                format!("Encountered error managing block: {e}. See the log for details."),
            )
        },
    }
}

fn blockreplace_inner(ctx: &StateCtx<'_>, args: &StateArgs) -> Result<String, String> {
    let path = Path::new(&args.name);
    let start = args
        .str("marker_start")
        .unwrap_or_else(|| "#-- start managed zone --".into());
    let end = args
        .str("marker_end")
        .unwrap_or_else(|| "#-- end managed zone --".into());
    let content = args
        .get("content")
        .map(source::python_str)
        .unwrap_or_default();
    // file.accumulated text for this file comes before the sources' text
    let mut content = super::accumulated::block_text(ctx, &args.name, &content);
    for chunk in text_chunks(
        ctx,
        &StateArgs {
            name: args.name.clone(),
            args: strip_text(args),
        },
    )? {
        content.push_str(&chunk);
    }
    let append = args.bool("append_if_not_found", false);
    let prepend = args.bool("prepend_if_not_found", false);
    let before_match = args.str("insert_before_match");
    let after_match = args.str("insert_after_match");
    let exclusive = [
        append,
        prepend,
        before_match.is_some(),
        after_match.is_some(),
    ];
    if exclusive.iter().filter(|b| **b).count() > 1 {
        return Err("Only one of append_if_not_found, prepend_if_not_found, insert_before_match, and insert_after_match is permitted".into());
    }
    let append_newline = match args.get("append_newline") {
        None => !content.ends_with('\n'),
        Some(_) => args.bool("append_newline", false),
    };
    let orig = read_text(path)?;
    let split: Vec<&str> = content.split("\r\n").flat_map(|w| w.split('\n')).collect();
    let lines = split_keep(&orig);
    let linesep = lines
        .first()
        .map(|l| if l.ends_with("\r\n") { "\r\n" } else { "\n" })
        .unwrap_or("\n");
    let add_content = |out: &mut Vec<String>, with_start: bool, end_line: &str| {
        let end_line = format!("{}{linesep}", end_line.trim_end_matches(['\r', '\n']));
        if with_start {
            out.push(format!("{start}{linesep}"));
        }
        for (i, l) in split.iter().enumerate() {
            if i + 1 != split.len() {
                out.push(format!("{l}{linesep}"));
            } else if append_newline {
                out.push(format!("{l}{linesep}"));
                out.push(end_line.clone());
            } else {
                out.push(format!("{l}{end_line}"));
            }
        }
    };
    let mut new: Vec<String> = Vec::new();
    let (mut in_block, mut found) = (false, false);
    for l in &lines {
        if l.contains(&start) {
            in_block = true;
            new.push(l.to_string());
        } else if in_block {
            if let Some(pos) = l.find(&end) {
                in_block = false;
                found = true;
                add_content(&mut new, false, &l[pos..]);
            }
        } else {
            new.push(l.to_string());
        }
    }
    if in_block {
        return Err("Unterminated marked block. End of file reached before marker_end.".into());
    }
    if !found {
        if prepend {
            let mut block = Vec::new();
            add_content(&mut block, true, &end);
            block.extend(new);
            new = block;
            found = true;
        } else if append {
            if let Some(last) = new.last_mut() {
                if !last.ends_with(linesep) {
                    last.push_str(linesep);
                }
            }
            add_content(&mut new, true, &end);
            found = true;
        } else if let Some(m) = before_match.as_ref().or(after_match.as_ref()) {
            let re = compile(m)?;
            if let Some(mut idx) = lines.iter().position(|l| re.is_match(l)) {
                let mut block = Vec::new();
                add_content(&mut block, true, &end);
                for l in block {
                    if after_match.is_some() {
                        idx += 1;
                    }
                    new.insert(idx.min(new.len()), l);
                    if before_match.is_some() {
                        idx += 1;
                    }
                }
                found = true;
            }
        }
    }
    if !found {
        return Err("Cannot edit marked block. Markers were not found in file.".into());
    }
    let new_text = new.concat();
    let d = diff::unified_text(&orig, &new_text);
    if !d.is_empty() && !ctx.test {
        commit(path, &new_text, &backup_suffix(args, ".bak"))?;
    }
    Ok(d)
}

/// Arguments without `text`, so `text_chunks` only reads `source`s.
fn strip_text(args: &StateArgs) -> Map<String, Value> {
    let mut a = args.args.clone();
    a.remove("text");
    a
}

pub fn comment(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    if name.is_empty() {
        return StateResult::fail(name, "Must provide name to file.comment");
    }
    if let Err(e) = check_file(name) {
        return StateResult::fail(name, e);
    }
    let Some(regex) = args.str("regex") else {
        return StateResult::fail(name, "regex is required");
    };
    let ch = args.str("char").unwrap_or_else(|| "#".into());
    let unanchored = unanchor(&regex);
    let path = Path::new(name);
    let orig = match read_text(path) {
        Ok(t) => t,
        Err(e) => return StateResult::fail(name, e),
    };
    let Ok(body) = Regex::new(&format!(r"^\s*(?:{unanchored})")) else {
        return StateResult::fail(name, format!("{unanchored}: invalid regular expression"));
    };
    // `^(?!\s*#)\s*regex`, without look-ahead.
    let uncommented = split_keep(&orig)
        .iter()
        .any(|l| !l.trim_start().starts_with(&ch) && body.is_match(l));
    if !uncommented {
        if search(&orig, &format!("{}{unanchored}", regex::escape(&ch))) {
            return StateResult::ok(name, "Pattern already commented");
        }
        if args.bool("ignore_missing", false) {
            return StateResult::ok(name, "Pattern not found and ignore_missing set to True");
        }
        return StateResult::fail(name, format!("{unanchored}: Pattern not found"));
    }
    comment_apply(ctx, args, &orig, &regex, &ch, true)
}

pub fn uncomment(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    if name.is_empty() {
        return StateResult::fail(name, "Must provide name to file.uncomment");
    }
    if let Err(e) = check_file(name) {
        return StateResult::fail(name, e);
    }
    let Some(regex) = args.str("regex") else {
        return StateResult::fail(name, "regex is required");
    };
    let ch = args.str("char").unwrap_or_else(|| "#".into());
    let orig = match read_text(Path::new(name)) {
        Ok(t) => t,
        Err(e) => return StateResult::fail(name, e),
    };
    let bare = regex.trim_start_matches('^');
    if search(&orig, &format!("{}[ \t]*{bare}", regex::escape(&ch))) {
    } else if search(&orig, &format!("^[ \t]*{bare}")) {
        return StateResult::ok(name, "Pattern already uncommented");
    } else {
        return StateResult::fail(name, format!("{regex}: Pattern not found"));
    }
    comment_apply(ctx, args, &orig, &regex, &ch, false)
}

/// `re.sub(r"^(\(\?[iLmsux]\))?\^?(.*?)\$?$", r"\2", regex)`.
fn unanchor(regex: &str) -> String {
    let mut r = regex;
    if r.starts_with("(?") && r.len() > 3 && r.as_bytes()[3] == b')' && "iLmsux".contains(&r[2..3])
    {
        r = &r[4..];
    }
    let r = r.strip_prefix('^').unwrap_or(r);
    r.strip_suffix('$').unwrap_or(r).to_string()
}

/// Salt's `file.comment_line` plus the state's reporting.
fn comment_apply(
    ctx: &StateCtx<'_>,
    args: &StateArgs,
    orig: &str,
    regex: &str,
    ch: &str,
    cmnt: bool,
) -> StateResult {
    let name = args.name.as_str();
    if ctx.test {
        let mut changes = Map::new();
        changes.insert(name.to_string(), Value::String("updated".into()));
        return StateResult::would(name, format!("File {name} is set to be updated"), changes);
    }
    let core = regex.trim_start_matches('^').trim_end_matches('$');
    let tail = if regex.ends_with('$') { "$" } else { "" };
    let pattern = if cmnt {
        format!("^({core}){tail}")
    } else {
        format!(r"^{}\s*({core}){tail}", regex::escape(ch))
    };
    // Python's `re.match` anchors at the start; without `^` in the regex Salt
    // still only matches from the line start.
    let Ok(re) = Regex::new(&pattern) else {
        return StateResult::fail(name, format!("{regex}: invalid regular expression"));
    };
    let mut new = String::new();
    for l in split_keep(orig) {
        let body = l.trim_end_matches(['\r', '\n']);
        if re.is_match(body) {
            if cmnt {
                new.push_str(ch);
                new.push_str(l);
            } else {
                new.push_str(l.trim_start_matches(ch));
            }
        } else {
            new.push_str(l);
        }
    }
    let path = Path::new(name);
    if new != orig {
        if let Err(e) = commit(path, &new, &backup_suffix(args, ".bak")) {
            return StateResult::fail(name, e);
        }
    }
    let unanchored = unanchor(regex);
    let ok = if cmnt {
        search(&new, &format!("{}{unanchored}", regex::escape(ch)))
    } else {
        search(&new, &format!("^[ \t]*{}", regex.trim_start_matches('^')))
    };
    let mut res = StateResult::new(name);
    if new != orig {
        res.changes
            .insert("diff".into(), Value::String(diff::unified_text(orig, &new)));
    }
    res.result = Some(ok);
    res.comment = match (cmnt, ok) {
        (true, true) => "Commented lines successfully",
        (true, false) => "Expected commented lines not found",
        (false, true) => "Uncommented lines successfully",
        (false, false) => "Expected uncommented lines not found",
    }
    .to_string();
    res
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::python_repl;
    use crate::modules::file::testkit::{snapshot, Kit};

    fn diff_of(r: &crate::result::StateResult) -> &str {
        r.changes
            .get("diff")
            .and_then(|d| d.as_str())
            .unwrap_or_default()
    }

    // Expected texts below come from Salt 3008.5 (`salt-call --local
    // state.apply`) on the same files.

    #[test]
    fn replace_edits_appends_backs_up_and_is_idempotent() {
        let kit = Kit::new();
        let f = kit.path("r.conf");
        std::fs::write(&f, "a=1\nb=2\n").unwrap();
        let args = json!({"pattern": "^b=.*$", "repl": "b=3"});
        let before = snapshot(&kit.root());
        let dry = kit.run("file.replace", &f, args.clone(), true);
        assert_eq!(
            (dry.result, dry.comment.as_str()),
            (None, "Changes would have been made")
        );
        assert_eq!(snapshot(&kit.root()), before);
        let r = kit.run("file.replace", &f, args.clone(), false);
        assert_eq!(r.comment, "Changes were made");
        assert_eq!(
            diff_of(&r),
            "--- \n+++ \n@@ -1,2 +1,2 @@\n a=1\n-b=2\n+b=3\n"
        );
        assert_eq!(
            std::fs::read_to_string(format!("{f}.bak")).unwrap(),
            "a=1\nb=2\n"
        );
        let r = kit.run("file.replace", &f, args, false);
        assert_eq!(
            (r.comment.as_str(), r.changes.len()),
            ("No changes needed to be made", 0)
        );

        let args = json!({"pattern": "^c=.*$", "repl": "c=9", "append_if_not_found": true});
        let r = kit.run("file.replace", &f, args.clone(), false);
        assert_eq!(
            diff_of(&r),
            "--- \n+++ \n@@ -1,2 +1,3 @@\n a=1\n b=3\n+c=9\n"
        );
        let r = kit.run("file.replace", &f, args, false);
        assert_eq!(r.comment, "No changes needed to be made");
    }

    #[test]
    fn replace_understands_python_backreferences() {
        assert_eq!(python_repl(r"\1=\g<v> $x"), "${1}=${v} $$x");
        let kit = Kit::new();
        let f = kit.path("kv");
        std::fs::write(&f, "port 80\n").unwrap();
        let r = kit.run(
            "file.replace",
            &f,
            json!({"pattern": r"^port (\d+)", "repl": r"listen \1"}),
            false,
        );
        assert_eq!(r.result, Some(true));
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "listen 80\n");
        let r = kit.run(
            "file.replace",
            &kit.path("none"),
            json!({"pattern": "x", "repl": "y"}),
            false,
        );
        assert_eq!(r.comment, format!("{}: file not found", kit.path("none")));
        let r = kit.run(
            "file.replace",
            &f,
            json!({"pattern": "listen", "repl": "port", "show_changes": false}),
            false,
        );
        assert_eq!(r.changes, *json!({"diff": true}).as_object().unwrap());
    }

    #[test]
    fn line_modes_match_salt() {
        let kit = Kit::new();
        let f = kit.path("l.conf");
        std::fs::write(&f, "one\ntwo\nthree\n").unwrap();
        let steps = [
            (
                json!({"mode": "ensure", "content": "two-and-half", "after": "^two$"}),
                "--- \n+++ \n@@ -1,3 +1,4 @@\n one\n two\n+two-and-half\n three\n",
            ),
            (
                json!({"mode": "delete", "match": "one"}),
                "--- \n+++ \n@@ -1,4 +1,3 @@\n-one\n two\n two-and-half\n three\n",
            ),
            (
                json!({"mode": "replace", "match": "three", "content": "THREE"}),
                "--- \n+++ \n@@ -1,3 +1,3 @@\n two\n two-and-half\n-three\n+THREE\n",
            ),
            (
                json!({"mode": "insert", "location": "start", "content": "zero"}),
                "--- \n+++ \n@@ -1,3 +1,4 @@\n+zero\n two\n two-and-half\n THREE\n",
            ),
        ];
        for (args, expected) in steps {
            let before = snapshot(&kit.root());
            let dry = kit.run("file.line", &f, args.clone(), true);
            assert_eq!(
                (dry.result, dry.comment.as_str()),
                (None, "Changes would be made")
            );
            assert_eq!(diff_of(&dry), expected);
            assert_eq!(snapshot(&kit.root()), before);
            let r = kit.run("file.line", &f, args.clone(), false);
            assert_eq!(
                (r.comment.as_str(), diff_of(&r)),
                ("Changes were made", expected)
            );
        }
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "zero\ntwo\ntwo-and-half\nTHREE\n"
        );
        let r = kit.run(
            "file.line",
            &f,
            json!({"mode": "ensure", "content": "two-and-half", "after": "^two$"}),
            false,
        );
        assert_eq!(r.comment, "No changes needed to be made");
        let r = kit.run("file.line", &f, json!({"content": "x"}), false);
        assert_eq!(r.comment, "Mode was not defined. How to process the file?");
    }

    #[test]
    fn append_adds_only_missing_lines() {
        let kit = Kit::new();
        let f = kit.path("a.conf");
        std::fs::write(&f, "x\n").unwrap();
        let args = json!({"text": ["x", "y", "z"]});
        let dry = kit.run("file.append", &f, args.clone(), true);
        assert_eq!(
            (dry.result, dry.comment.clone()),
            (None, format!("File {f} is set to be updated"))
        );
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "x\n");
        let r = kit.run("file.append", &f, args.clone(), false);
        assert_eq!(r.comment, "Appended 2 lines");
        assert_eq!(diff_of(&r), "--- \n\n+++ \n\n@@ -1 +1,3 @@\n\n x\n+y\n+z");
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "x\ny\nz\n");
        let r = kit.run("file.append", &f, args, false);
        assert_eq!(
            (r.comment, r.changes.len()),
            (format!("File {f} is in correct state"), 0)
        );

        let missing = kit.path("new.conf");
        let dry = kit.run("file.append", &missing, json!({"text": "a"}), true);
        assert_eq!(dry.comment, format!("File {missing} is set to be created"));
        let r = kit.run("file.append", &missing, json!({"text": "a"}), false);
        assert_eq!(r.result, Some(true));
        assert_eq!(std::fs::read_to_string(&missing).unwrap(), "a\n");
    }

    #[test]
    fn prepend_adds_missing_lines_on_top() {
        let kit = Kit::new();
        let f = kit.path("p.conf");
        std::fs::write(&f, "x\n").unwrap();
        let args = json!({"text": ["w", "x"]});
        let r = kit.run("file.prepend", &f, args.clone(), false);
        assert_eq!(r.comment, "Prepended 1 lines");
        assert_eq!(diff_of(&r), "--- \n+++ \n@@ -1 +1,2 @@\n+w\n x\n");
        let r = kit.run("file.prepend", &f, args, false);
        assert_eq!(r.comment, format!("File {f} is in correct state"));
    }

    #[test]
    fn blockreplace_swaps_the_marked_block() {
        let kit = Kit::new();
        let f = kit.path("b.conf");
        std::fs::write(&f, "head\n# BEGIN\nold\n# END\ntail\n").unwrap();
        let args =
            json!({"marker_start": "# BEGIN", "marker_end": "# END", "content": "new1\\nnew2"});
        let dry = kit.run("file.blockreplace", &f, args.clone(), true);
        assert_eq!(
            (dry.result, dry.comment.as_str()),
            (None, "Changes would be made")
        );
        let r = kit.run("file.blockreplace", &f, args.clone(), false);
        assert_eq!(r.comment, "Changes were made");
        assert_eq!(
            diff_of(&r),
            "--- \n+++ \n@@ -1,5 +1,5 @@\n head\n # BEGIN\n-old\n+new1\\nnew2\n # END\n tail\n"
        );
        assert_eq!(
            std::fs::read_to_string(format!("{f}.bak")).unwrap(),
            "head\n# BEGIN\nold\n# END\ntail\n"
        );
        let r = kit.run("file.blockreplace", &f, args, false);
        assert_eq!(r.comment, "No changes needed to be made");

        let g = kit.path("g.conf");
        std::fs::write(&g, "a\n").unwrap();
        let args = json!({"marker_start": "#S", "marker_end": "#E", "content": "x\n", "append_if_not_found": true});
        kit.run("file.blockreplace", &g, args.clone(), false);
        assert_eq!(std::fs::read_to_string(&g).unwrap(), "a\n#S\nx\n#E\n");
        let r = kit.run(
            "file.blockreplace",
            &g,
            json!({"marker_start": "#Q", "marker_end": "#R", "content": "x"}),
            false,
        );
        assert_eq!(r.result, Some(false));
        assert!(
            r.comment.contains("Markers were not found in file"),
            "{}",
            r.comment
        );
    }

    #[test]
    fn comment_and_uncomment_round_trip() {
        let kit = Kit::new();
        let f = kit.path("c.conf");
        std::fs::write(&f, "foo=1\nbar=2\n").unwrap();
        let dry = kit.run("file.comment", &f, json!({"regex": "^foo"}), true);
        assert_eq!(
            dry.changes,
            *json!({f.clone(): "updated"}).as_object().unwrap()
        );
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "foo=1\nbar=2\n");
        let r = kit.run("file.comment", &f, json!({"regex": "^foo"}), false);
        assert_eq!(r.comment, "Commented lines successfully");
        assert_eq!(
            diff_of(&r),
            "--- \n+++ \n@@ -1,2 +1,2 @@\n-foo=1\n+#foo=1\n bar=2\n"
        );
        let r = kit.run("file.comment", &f, json!({"regex": "^foo"}), false);
        assert_eq!(
            (r.result, r.comment.as_str()),
            (Some(true), "Pattern already commented")
        );

        let r = kit.run("file.uncomment", &f, json!({"regex": "foo"}), false);
        assert_eq!(r.comment, "Uncommented lines successfully");
        assert_eq!(
            diff_of(&r),
            "--- \n+++ \n@@ -1,2 +1,2 @@\n-#foo=1\n+foo=1\n bar=2\n"
        );
        let r = kit.run("file.uncomment", &f, json!({"regex": "foo"}), false);
        assert_eq!(r.comment, "Pattern already uncommented");
        let r = kit.run("file.uncomment", &f, json!({"regex": "nope"}), false);
        assert_eq!(
            (r.result, r.comment.as_str()),
            (Some(false), "nope: Pattern not found")
        );
    }
}
