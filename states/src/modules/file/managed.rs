//! `file.managed`: a file's content (from `source`, `contents` or
//! `contents_pillar`, optionally a template), owner and mode.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{diff, fsio, perms, source};
use crate::ctx::{StateArgs, StateCtx};
use crate::result::StateResult;

pub const DOC: &str =
    "Manage a file: content from source/contents/contents_pillar, owner and mode\n\
name, source, source_hash, source_hash_name, skip_verify, contents, contents_pillar, contents_delimiter, contents_newline, \
template, context, defaults, user, group, mode, makedirs, dir_mode, replace, backup, create, \
follow_symlinks, show_changes, allow_empty, check_cmd";

/// What to do to one file, once the content is known. Shared with
/// `file.recurse`, which manages every file of a directory this way.
pub struct Plan {
    pub user: Option<perms::Owner>,
    pub group: Option<perms::Owner>,
    pub mode: Option<String>,
    pub dir_mode: Option<String>,
    pub makedirs: bool,
    pub backup: bool,
    pub show_changes: bool,
    pub follow_symlinks: bool,
}

impl Plan {
    pub fn from_args(args: &StateArgs) -> Plan {
        Plan {
            user: perms::Owner::from_arg(args, "user"),
            group: perms::Owner::from_arg(args, "group"),
            // `mode: keep` (the source's mode) is not available through
            // FileSource: treated as "leave the mode alone".
            mode: perms::normalize_mode(args.get("mode")).filter(|m| m != "keep"),
            dir_mode: perms::normalize_mode(args.get("dir_mode")),
            makedirs: args.bool("makedirs", false),
            backup: args
                .str("backup")
                .is_some_and(|b| b == "minion" || b == "both"),
            show_changes: args.bool("show_changes", true),
            follow_symlinks: args.bool("follow_symlinks", true),
        }
    }
}

/// The content to put in the file.
pub enum Content {
    /// From a source file (`changes.diff` is `New file` on creation).
    Source(Vec<u8>),
    /// From `contents`: same, but Salt creates the file first.
    Inline(Vec<u8>),
    /// No content management: create an empty file if missing.
    Empty,
}

/// Salt's warning for `file_mode`, which only `file.recurse` and
/// `file.directory` use.
const FILE_MODE_WARNING: &str =
    "The 'file_mode' argument will be ignored.  Please use 'mode' instead to set file permissions.";

pub fn managed(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let mut res = manage(ctx, args);
    // Salt adds the warning once the argument checks at the top passed, and
    // loses it when its own check_cmd resets the result.
    let own_check = args.get("check_cmd").is_some() && !ctx.test;
    let checked = !args.name.is_empty()
        && !own_check
        && !res.comment.starts_with("'source' cannot be used")
        && !res.comment.starts_with("Only one of 'contents'");
    if checked && args.get("file_mode").is_some() {
        res.warnings.push(FILE_MODE_WARNING.to_string());
    }
    res
}

fn manage(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.clone();
    if name.is_empty() {
        return StateResult::fail(name, "Destination file name is required");
    }
    let plan = Plan::from_args(args);
    let has_source = args.get("source").is_some();
    let contents_count = ["contents", "contents_pillar", "contents_grains"]
        .iter()
        .filter(|k| args.get(k).is_some())
        .count();
    if has_source && contents_count > 0 {
        return StateResult::fail(
            name,
            "'source' cannot be used in combination with 'contents', 'contents_pillar', or 'contents_grains'",
        );
    }
    if contents_count > 1 {
        return StateResult::fail(
            name,
            "Only one of 'contents', 'contents_pillar', and 'contents_grains' is permitted",
        );
    }
    let engine = source::template_engine(args);
    let mut vars = match source::template_vars(args) {
        Ok(v) => v,
        Err(e) => return StateResult::fail(name, e),
    };
    // file.accumulated text for this file, as the template's `accumulator`
    if let Some(acc) = ctx.run.accumulators_of(&name) {
        let acc = acc
            .into_iter()
            .map(|(k, v)| (k, Value::Array(v)))
            .collect::<Map<String, Value>>();
        vars.insert("accumulator".into(), Value::Object(acc));
    }

    let mut inline = match inline_contents(ctx, args) {
        Ok(c) => c,
        Err(e) => return StateResult::fail(name, e),
    };
    if let (Some(text), Some(engine)) = (&inline, &engine) {
        match source::render(ctx, Some(engine), text.clone().into_bytes(), &name, &vars) {
            Ok(out) => inline = Some(String::from_utf8_lossy(&out).into_owned()),
            Err(e) => return StateResult::fail(name, e),
        }
    }
    let replace = args.bool("replace", true) && (has_source || inline.is_some());

    let path = PathBuf::from(&name);
    if !args.bool("create", true) && !path.is_file() {
        return StateResult::ok(
            name.clone(),
            format!("File {name} is not present and is not set for creation"),
        );
    }
    if let Some(err) = perms::check_user(plan.user.as_ref(), plan.group.as_ref(), ctx.test) {
        return StateResult::fail(name, err);
    }
    if !path.is_absolute() {
        return StateResult::fail(
            name.clone(),
            format!("Specified file {name} is not an absolute path"),
        );
    }
    if path.is_dir() {
        return StateResult::fail(
            name.clone(),
            format!("Specified target {name} is a directory"),
        );
    }

    if !replace && path.exists() {
        return perms_only(ctx, &name, &plan);
    }

    let content = if let Some(text) = inline {
        Content::Inline(text.into_bytes())
    } else if has_source {
        match source::managed_source(ctx, args, &name, engine.is_some()) {
            Ok(source::Fetched::UpToDate) => return perms_only(ctx, &name, &plan),
            Ok(source::Fetched::Data { url, data }) => {
                match source::render(ctx, engine.as_deref(), data, &url, &vars) {
                    Ok(out) => Content::Source(out),
                    // Salt's wording: the render error after its prefix.
                    Err(e) => {
                        return StateResult::fail(name, format!("Unable to manage file: {e}"))
                    }
                }
            }
            Err(e) => return StateResult::fail(name, e),
        }
    } else {
        Content::Empty
    };
    if let Some(cmd) = args.get("check_cmd").filter(|_| !ctx.test) {
        if let Some(failed) = check_new_content(ctx, &name, &content, cmd) {
            return failed;
        }
    }
    apply(ctx, &name, &content, &plan)
}

/// `file.managed`'s own `check_cmd` (Salt's `mod_run_check_cmd`): when the
/// content would change, `<check_cmd> <temp file with the new content>`
/// must exit 0 before the file is touched. `Some` is the failure.
pub(super) fn check_new_content(
    ctx: &StateCtx<'_>,
    name: &str,
    content: &Content,
    cmd: &Value,
) -> Option<StateResult> {
    let (Content::Source(new) | Content::Inline(new)) = content else {
        return None;
    };
    let current = std::fs::read(name).unwrap_or_default();
    if current == *new {
        return None;
    }
    let tmp = match tempfile_with(new) {
        Ok(tmp) => tmp,
        Err(e) => {
            return Some(StateResult::fail(
                name,
                format!("Unable to check_cmd file: {e}"),
            ))
        }
    };
    let opts = crate::modules::cmd::CmdOpts {
        shell: ctx.grains.get("shell").map(source::python_str),
        cancel: ctx.cancel.clone(),
        ..Default::default()
    };
    let command = format!("{} {}", source::python_str(cmd), tmp.path().display());
    let out = crate::modules::cmd::run_all(&command, &opts);
    match out {
        Ok(out) if out.retcode == 0 => None,
        other => {
            let mut comment = "check_cmd execution failed".to_string();
            match other {
                Ok(out) => {
                    for text in [out.stdout, out.stderr] {
                        if !text.is_empty() {
                            comment.push('\n');
                            comment.push_str(&text);
                        }
                    }
                }
                Err(e) => {
                    comment.push('\n');
                    comment.push_str(&e);
                }
            }
            Some(StateResult {
                skip_watch: true,
                ..StateResult::fail(name, comment)
            })
        }
    }
}

/// A temporary file holding `data`, removed when dropped.
fn tempfile_with(data: &[u8]) -> std::io::Result<TempCopy> {
    use std::io::Write;
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("brine-check-{}-{n}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    let copy = TempCopy(path);
    file.write_all(data)?;
    Ok(copy)
}

struct TempCopy(PathBuf);

impl TempCopy {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `contents` / `contents_pillar` / `contents_grains` as the text to write.
fn inline_contents(ctx: &StateCtx<'_>, args: &StateArgs) -> Result<Option<String>, String> {
    let delimiter = args.str("contents_delimiter").unwrap_or_else(|| ":".into());
    let newline = args.bool("contents_newline", true);
    let value = if let Some(keys) = args.get("contents_pillar") {
        Some(lookup_joined(ctx.pillar, keys, &delimiter, "Pillar")?)
    } else if let Some(keys) = args.get("contents_grains") {
        let grains = Value::Object(ctx.grains.clone());
        Some(lookup_joined(&grains, keys, &delimiter, "Grain")?)
    } else {
        args.get("contents").cloned()
    };
    let Some(value) = value else {
        return Ok(None);
    };
    let empty = match &value {
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    };
    if empty && !args.bool("allow_empty", true) {
        let what = if let Some(p) = args.str("contents_pillar") {
            format!("contents_pillar {p}")
        } else if let Some(g) = args.str("contents_grains") {
            format!("contents_grains {g}")
        } else {
            "'contents'".to_string()
        };
        return Err(format!(
            "{what} value would result in empty contents. Set allow_empty to True to allow the managed file to be empty."
        ));
    }
    Ok(Some(source::join_contents(&value, newline)))
}

fn lookup_joined(root: &Value, keys: &Value, delimiter: &str, what: &str) -> Result<Value, String> {
    let get = |k: &str| {
        source::pillar_get(root, k, delimiter)
            .cloned()
            .ok_or_else(|| format!("{what} {k} does not exist"))
    };
    match keys {
        Value::Array(list) => {
            let mut parts = Vec::new();
            for k in list {
                parts.push(source::python_str(&get(&source::python_str(k))?));
            }
            Ok(Value::String(parts.join("\n")))
        }
        other => get(&source::python_str(other)),
    }
}

/// `replace: False` on an existing file: only owner and mode are managed.
fn perms_only(ctx: &StateCtx<'_>, name: &str, plan: &Plan) -> StateResult {
    let path = Path::new(name);
    let mut res = StateResult::new(name);
    let before = perms::stat(path, plan.follow_symlinks).ok();
    let errors = perms::apply(
        path,
        plan.user.as_ref(),
        plan.group.as_ref(),
        plan.mode.as_deref(),
        plan.follow_symlinks,
        ctx.test,
        &mut res.changes,
    );
    if !errors.is_empty() {
        res.result = Some(false);
        res.comment = errors.join("; ");
        return res;
    }
    if ctx.test {
        let current = before.map(|b| b.mode).unwrap_or_default();
        res.comment = match &plan.mode {
            Some(m) if *m != current => format!(
                "File {name} will be updated with permissions {m} from its current state of {current}"
            ),
            _ => format!("File {name} not updated"),
        };
        if !res.changes.is_empty() {
            res.result = None;
        }
    } else if res.changes.is_empty() {
        res.comment = format!("File {name} exists with proper permissions. No changes made.");
    }
    res
}

/// Brings `name` to `content` and the plan's owner and mode (or, under
/// `test`, reports what that would change). Salt's `manage_file` and
/// `check_file_meta`.
pub fn apply(ctx: &StateCtx<'_>, name: &str, content: &Content, plan: &Plan) -> StateResult {
    if ctx.test {
        return dry_run(name, content, plan);
    }
    let path = Path::new(name);
    let mut res = StateResult::new(name);
    let backup_root = plan.backup.then_some(ctx.cachedir.as_path());
    let exists = path.is_file() || path.is_symlink();
    if exists {
        let real = if plan.follow_symlinks && path.is_symlink() {
            path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
        } else {
            path.to_path_buf()
        };
        if let Content::Source(new) | Content::Inline(new) = content {
            let replacing_link = !plan.follow_symlinks && path.is_symlink();
            let old = if replacing_link {
                Vec::new()
            } else {
                std::fs::read(&real).unwrap_or_default()
            };
            if replacing_link || old != *new {
                if replacing_link {
                    let _ = std::fs::remove_file(path);
                }
                if let Err(e) = fsio::write(&real, new, false, backup_root) {
                    return StateResult::fail(name, format!("Failed to commit change: {e}"));
                }
                let shown = if replacing_link {
                    "Replace symbolic link with regular file".to_string()
                } else if plan.show_changes {
                    diff::unified(&old, new)
                } else {
                    "<show_changes=False>".to_string()
                };
                res.changes.insert("diff".into(), Value::String(shown));
            }
        }
        let errors = apply_perms(&real, plan, &mut res.changes);
        return finish(res, name, errors, false);
    }

    let parent = path.parent().unwrap_or(Path::new("/"));
    if !parent.is_dir() {
        if !plan.makedirs {
            return StateResult::fail(name, "Parent directory not present");
        }
        let dir_mode = plan
            .dir_mode
            .clone()
            .or_else(|| plan.mode.as_deref().map(perms::dir_mode_from_file_mode));
        if let Err(e) = perms::make_dirs(
            parent,
            plan.user.as_ref(),
            plan.group.as_ref(),
            dir_mode.as_deref(),
        ) {
            return StateResult::fail(name, format!("Failed to create parent directories: {e}"));
        }
    }
    let restrictive = plan.mode.is_some();
    // Salt copies a source through a 0600 temp file, then applies the mode
    // the umask would have given: new source files report that mode.
    let mut mode = plan.mode.clone();
    let written = match content {
        Content::Source(data) => {
            res.changes
                .insert("diff".into(), Value::String("New file".into()));
            mode = mode.or_else(|| Some(format!("{:04o}", 0o666 & !fsio::umask())));
            fsio::write(path, data, true, None)
        }
        Content::Inline(data) => {
            res.changes
                .insert("diff".into(), Value::String("New file".into()));
            fsio::write(path, data, restrictive, None)
        }
        Content::Empty => {
            res.changes
                .insert("new".into(), Value::String(format!("file {name} created")));
            res.comment = "Empty file".to_string();
            fsio::write(path, b"", restrictive, None)
        }
    };
    if let Err(e) = written {
        return StateResult::fail(name, format!("File {name} not created: {e}"));
    }
    let errors = perms::apply(
        path,
        plan.user.as_ref(),
        plan.group.as_ref(),
        mode.as_deref(),
        plan.follow_symlinks,
        false,
        &mut res.changes,
    );
    finish(res, name, errors, true)
}

fn apply_perms(path: &Path, plan: &Plan, changes: &mut Map<String, Value>) -> Vec<String> {
    perms::apply(
        path,
        plan.user.as_ref(),
        plan.group.as_ref(),
        plan.mode.as_deref(),
        plan.follow_symlinks,
        false,
        changes,
    )
}

fn finish(mut res: StateResult, name: &str, errors: Vec<String>, created: bool) -> StateResult {
    if !errors.is_empty() {
        res.result = Some(false);
        res.comment = errors.join("; ");
    } else if res.changes.is_empty() {
        res.comment = format!("File {name} is in the correct state");
    } else if !created || res.comment.is_empty() {
        res.comment = format!("File {name} updated");
    }
    res
}

/// `test=True`: Salt's `check_managed_changes`.
fn dry_run(name: &str, content: &Content, plan: &Plan) -> StateResult {
    let path = Path::new(name);
    let mut changes = Map::new();
    if !path.exists() && !path.is_symlink() {
        changes.insert("newfile".into(), Value::String(name.to_string()));
    } else {
        if let Content::Source(new) | Content::Inline(new) = content {
            let old = std::fs::read(path).unwrap_or_default();
            if old != *new {
                let shown = if plan.show_changes {
                    diff::unified(&old, new)
                } else {
                    "<show_changes=False>".to_string()
                };
                changes.insert("diff".into(), Value::String(shown));
            }
        }
        changes.extend(perms::meta_changes(
            path,
            plan.user.as_ref(),
            plan.group.as_ref(),
            plan.mode.as_deref(),
            plan.follow_symlinks,
        ));
    }
    if changes.is_empty() {
        return StateResult::ok(name, format!("The file {name} is in the correct state"));
    }
    StateResult::would(
        name,
        format!(
            "The file {name} is set to be changed\nNote: No changes made, actual changes may\nbe different due to other states."
        ),
        changes,
    )
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use serde_json::json;

    use crate::modules::file::testkit::{snapshot, Kit};

    #[test]
    fn creates_from_salt_source_then_is_in_correct_state() {
        let kit = Kit::new();
        kit.serve("app/app.conf", "a=1\n");
        let name = kit.path("app.conf");
        let args = json!({"source": "salt://app/app.conf", "mode": 640});
        let r = kit.run("file.managed", &name, args.clone(), false);
        assert_eq!(r.result, Some(true), "{}", r.comment);
        assert_eq!(r.comment, format!("File {name} updated"));
        assert_eq!(
            r.changes,
            *json!({"diff": "New file", "mode": "0640"})
                .as_object()
                .unwrap()
        );
        assert_eq!(std::fs::read_to_string(&name).unwrap(), "a=1\n");
        let mode = std::fs::metadata(&name).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o640);

        let again = kit.run("file.managed", &name, args, false);
        assert_eq!(again.result, Some(true));
        assert!(again.changes.is_empty());
        assert_eq!(
            again.comment,
            format!("File {name} is in the correct state")
        );
    }

    #[test]
    fn changed_content_reports_a_unified_diff_and_test_mode_writes_nothing() {
        let kit = Kit::new();
        let name = kit.path("f");
        std::fs::write(&name, "one\ntwo\n").unwrap();
        let args = json!({"contents": ["one", "three"]});
        let before = snapshot(&kit.root());
        let dry = kit.run("file.managed", &name, args.clone(), true);
        assert_eq!(dry.result, None);
        assert!(dry
            .comment
            .starts_with(&format!("The file {name} is set to be changed\n")));
        let diff = "--- \n+++ \n@@ -1,2 +1,2 @@\n one\n-two\n+three\n";
        assert_eq!(dry.changes, *json!({"diff": diff}).as_object().unwrap());
        assert_eq!(snapshot(&kit.root()), before);

        let r = kit.run("file.managed", &name, args, false);
        assert_eq!(r.comment, format!("File {name} updated"));
        assert_eq!(r.changes, *json!({"diff": diff}).as_object().unwrap());
        assert_eq!(std::fs::read_to_string(&name).unwrap(), "one\nthree\n");
    }

    #[test]
    fn test_mode_on_a_missing_file_reports_newfile() {
        let kit = Kit::new();
        let name = kit.path("new");
        let r = kit.run("file.managed", &name, json!({"contents": "x"}), true);
        assert_eq!(r.result, None);
        assert_eq!(r.changes, *json!({"newfile": name}).as_object().unwrap());
        assert!(!std::path::Path::new(&name).exists());
    }

    #[test]
    fn template_uses_defaults_overlaid_by_context() {
        let kit = Kit::new();
        kit.serve("t.j2", "port={{ port }} host={{ host }}\n");
        let name = kit.path("t.conf");
        let args = json!({
            "source": "salt://t.j2", "template": "jinja",
            "defaults": {"port": 80, "host": "a"}, "context": {"host": "b"}
        });
        let r = kit.run("file.managed", &name, args, false);
        assert_eq!(r.result, Some(true), "{}", r.comment);
        assert_eq!(std::fs::read_to_string(&name).unwrap(), "port=80 host=b\n");
    }

    #[test]
    fn first_existing_source_wins_and_missing_sources_fail() {
        let kit = Kit::new();
        kit.serve("b", "from b\n");
        let name = kit.path("x");
        let r = kit.run(
            "file.managed",
            &name,
            json!({"source": ["salt://a", "salt://b"]}),
            false,
        );
        assert_eq!(
            std::fs::read_to_string(&name).unwrap(),
            "from b\n",
            "{}",
            r.comment
        );

        let r = kit.run(
            "file.managed",
            &kit.path("y"),
            json!({"source": "salt://nope"}),
            false,
        );
        assert_eq!(r.result, Some(false));
        assert_eq!(
            r.comment,
            "Unable to manage file: Source file salt://nope not found in saltenv 'base'"
        );
        let r = kit.run(
            "file.managed",
            &kit.path("y"),
            json!({"source": ["salt://n1", "salt://n2"]}),
            false,
        );
        assert_eq!(
            r.comment,
            "Unable to manage file: none of the specified sources were found"
        );
        let r = kit.run(
            "file.managed",
            &kit.path("y"),
            json!({"source": "https://example.com/x"}),
            false,
        );
        assert_eq!(r.result, Some(false));
        assert_eq!(
            r.comment,
            "Unable to manage file: Unable to verify upstream hash of source file https://example.com/x, please set source_hash or set skip_verify to True"
        );
    }

    #[test]
    fn contents_pillar_is_looked_up_with_colons() {
        let mut kit = Kit::new();
        kit.pillar = json!({"app": {"motd": "hello"}});
        let name = kit.path("motd");
        let r = kit.run(
            "file.managed",
            &name,
            json!({"contents_pillar": "app:motd"}),
            false,
        );
        assert_eq!(r.result, Some(true));
        assert_eq!(std::fs::read_to_string(&name).unwrap(), "hello\n");
        let r = kit.run(
            "file.managed",
            &name,
            json!({"contents_pillar": "app:nope"}),
            false,
        );
        assert_eq!(r.comment, "Pillar app:nope does not exist");
    }

    #[test]
    fn missing_parent_needs_makedirs() {
        let kit = Kit::new();
        let name = kit.path("a/b/c.conf");
        let r = kit.run("file.managed", &name, json!({"contents": "x"}), false);
        assert_eq!(
            (r.result, r.comment.as_str()),
            (Some(false), "Parent directory not present")
        );
        let r = kit.run(
            "file.managed",
            &name,
            json!({"contents": "x", "makedirs": true, "mode": "0600"}),
            false,
        );
        assert_eq!(r.result, Some(true), "{}", r.comment);
        let dmode = std::fs::metadata(kit.path("a/b"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777;
        assert_eq!(dmode, 0o700);
    }

    #[test]
    fn replace_false_keeps_content_but_fixes_mode() {
        let kit = Kit::new();
        let name = kit.path("keep");
        std::fs::write(&name, "mine\n").unwrap();
        std::fs::set_permissions(&name, std::fs::Permissions::from_mode(0o600)).unwrap();
        let args = json!({"contents": "theirs", "replace": false, "mode": "0644"});
        let dry = kit.run("file.managed", &name, args.clone(), true);
        assert_eq!(
            dry.comment,
            format!(
                "File {name} will be updated with permissions 0644 from its current state of 0600"
            )
        );
        let r = kit.run("file.managed", &name, args.clone(), false);
        assert_eq!(r.changes, *json!({"mode": "0644"}).as_object().unwrap());
        assert_eq!(std::fs::read_to_string(&name).unwrap(), "mine\n");
        let r = kit.run("file.managed", &name, args, false);
        assert_eq!(
            r.comment,
            format!("File {name} exists with proper permissions. No changes made.")
        );
    }

    #[test]
    fn no_content_creates_an_empty_file() {
        let kit = Kit::new();
        let name = kit.path("empty");
        let r = kit.run("file.managed", &name, json!({}), false);
        assert_eq!(r.comment, "Empty file");
        assert_eq!(
            r.changes,
            *json!({"new": format!("file {name} created")})
                .as_object()
                .unwrap()
        );
    }

    #[test]
    fn backup_minion_copies_the_old_file_into_the_cachedir() {
        let kit = Kit::new();
        let name = kit.path("b.conf");
        std::fs::write(&name, "old\n").unwrap();
        let r = kit.run(
            "file.managed",
            &name,
            json!({"contents": "new", "backup": "minion"}),
            false,
        );
        assert_eq!(r.result, Some(true));
        let rel = kit.root().strip_prefix("/").unwrap().to_path_buf();
        let dir = kit.tmp.path().join("cache/file_backup").join(rel);
        assert_eq!(std::fs::read_dir(dir).unwrap().count(), 1);
    }

    #[test]
    fn owner_changes_are_reported_and_applied() {
        let kit = Kit::new();
        let name = kit.path("owned");
        let r = kit.run(
            "file.managed",
            &name,
            json!({"contents": "x", "user": "nobody"}),
            false,
        );
        assert_eq!(
            r.changes.get("user"),
            Some(&json!("nobody")),
            "{}",
            r.comment
        );
        let again = kit.run(
            "file.managed",
            &name,
            json!({"contents": "x", "user": "nobody"}),
            false,
        );
        assert!(again.changes.is_empty());
        let r = kit.run(
            "file.managed",
            &name,
            json!({"contents": "x", "user": "no-such-brine-user"}),
            false,
        );
        assert_eq!(r.result, Some(false));
        assert_eq!(r.comment, "User no-such-brine-user is not available ");
    }

    #[test]
    fn refuses_relative_paths_and_directories() {
        let kit = Kit::new();
        let r = kit.run("file.managed", "rel/path", json!({"contents": "x"}), false);
        assert_eq!(r.comment, "Specified file rel/path is not an absolute path");
        let dir = kit.path("");
        let dir = dir.trim_end_matches('/');
        let r = kit.run("file.managed", dir, json!({"contents": "x"}), false);
        assert_eq!(r.comment, format!("Specified target {dir} is a directory"));
    }
}
