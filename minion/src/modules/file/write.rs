//! `file.*` functions that change files: Salt's names, arguments and
//! returns. The regex edits (`replace`, `line`, `blockreplace`) run the
//! `file` states' own code (`brine_states::modules::file::edit`), so a
//! formula's `file.replace` state and a `brine '*' file.replace` agree.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use brine_states::modules::file::edit;
use brine_states::modules::sys::run::Cmd;
use brine_states::{
    CallError, ExecCaller, LocalRoots, StateArgs, StateCtx, StateResult, TemplateRenderer,
};
use serde_json::{json, Map, Value};

use super::{expanduser, failed, hash_file, os_error};
use crate::registry::{as_str, ArgParser, Args, CallCtx, FunctionSpec, ModError, ModFuture};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "file.append",
        doc: "Append text to the end of a file, one line per argument (the file gets a \
              final newline first when it lacks one). Returns 'Wrote N lines to \"PATH\"'.\n\n\
              - path: the file.\n\
              - args: the lines to append (positional arguments, or args=[...]).",
        cli_example: "brine '*' file.append /etc/motd \"With all thine offerings thou shalt offer salt.\" \"Salt is what makes things taste bad when it isn't in them.\"",
        run: append,
    },
    FunctionSpec {
        name: "file.blockreplace",
        doc: "Replace the text between two marker lines (as the file.blockreplace state). \
              Returns the diff (show_changes=True, '' when nothing changed) or whether the \
              file changed.\n\n\
              - path, marker_start, marker_end, content: the file, the markers, the new block.\n\
              - append_if_not_found, prepend_if_not_found: add the block when the markers are missing.\n\
              - insert_before_match, insert_after_match: where to add it instead.\n\
              - backup: suffix of a backup copy (default '.bak'; False for none).\n\
              - dry_run: change nothing.\n\
              - show_changes: return the diff (default True).\n\
              - append_newline: end the block with a newline.",
        cli_example: "brine '*' file.blockreplace /etc/hosts '#-- start managed zone foobar : DO NOT EDIT --' '#-- end managed zone foobar --' $'10.0.1.1 foo.foobar\\n10.0.1.2 bar.foobar' True",
        run: blockreplace,
    },
    FunctionSpec {
        name: "file.check_hash",
        doc: "Return True when a file's hash is the given one.\n\n\
              - path: the file.\n\
              - file_hash: 'type:hexdigest' (or 'type=hexdigest'), e.g. 'sha256:ab12...'.",
        cli_example: "brine '*' file.check_hash /etc/fstab md5:5b5f8d8ff5a4cc1c4a2e2f5ad3ae0a6c",
        run: check_hash,
    },
    FunctionSpec {
        name: "file.chgrp",
        doc: "Change the group of a file. Returns None, or 'Group does not exist'.\n\n\
              - path: the file.\n\
              - group: a group name or gid.",
        cli_example: "brine '*' file.chgrp /etc/passwd root",
        run: chgrp,
    },
    FunctionSpec {
        name: "file.chown",
        doc: "Change the owner and group of a file. Returns None, or the reason it could \
              not ('User does not exist', 'Group does not exist', 'File not found').\n\n\
              - path: the file.\n\
              - user: a user name or uid.\n\
              - group: a group name or gid.",
        cli_example: "brine '*' file.chown /etc/passwd root root",
        run: chown,
    },
    FunctionSpec {
        name: "file.copy",
        doc: "Copy a file or directory. Returns True.\n\n\
              - src: the file or directory.\n\
              - dst: the destination.\n\
              - recurse: copy a directory's contents (required for directories).\n\
              - remove_existing: empty the destination directory first (with recurse).",
        cli_example: "brine '*' file.copy /path/to/src /path/to/dst\n\
                      brine '*' file.copy /path/to/src_dir /path/to/dst_dir recurse=True",
        run: copy,
    },
    FunctionSpec {
        name: "file.exists",
        doc: "Return True when the path exists (a file, directory or anything else).\n\n\
              - path: the path.",
        cli_example: "brine '*' file.exists /path/to/file",
        run: exists,
    },
    FunctionSpec {
        name: "file.get_mode",
        doc: "Return a file's mode as octal text ('0644'), '' when it does not exist.\n\n\
              - path: the file.\n\
              - follow_symlinks: the mode of a link's target (default True).",
        cli_example: "brine '*' file.get_mode /etc/passwd",
        run: get_mode,
    },
    FunctionSpec {
        name: "file.contains",
        doc: "Return True when the file contains the text (a plain substring).\n\n\
              - path: the file.\n\
              - text: the text to look for.",
        cli_example: "brine '*' file.contains /etc/crontab 'mymaintenance.sh'",
        run: contains,
    },
    FunctionSpec {
        name: "file.contains_regex",
        doc: "Return True when a line of the file matches the regular expression (searched\n\
              anywhere in the line, as Python's re.search); False when the file cannot be read.\n\n\
              - path: the file.\n\
              - regex: the expression.\n\
              - lchar: characters stripped from the start of each line first (e.g. '#').",
        cli_example: "brine '*' file.contains_regex /etc/ssh/sshd_config '^PermitRootLogin\\s+no'",
        run: contains_regex,
    },
    FunctionSpec {
        name: "file.get_gid",
        doc: "Return the gid of a file's group, -1 when the file does not exist.\n\n\
              - path: the file.\n\
              - follow_symlinks: of a link's target (default True).",
        cli_example: "brine '*' file.get_gid /etc/passwd",
        run: get_gid,
    },
    FunctionSpec {
        name: "file.get_group",
        doc: "Return the name of a file's group (the gid when it has no name), False when \
              the file does not exist.\n\n\
              - path: the file.\n\
              - follow_symlinks: of a link's target (default True).",
        cli_example: "brine '*' file.get_group /etc/passwd",
        run: get_group,
    },
    FunctionSpec {
        name: "file.get_uid",
        doc: "Return the uid of a file's owner, -1 when the file does not exist.\n\n\
              - path: the file.\n\
              - follow_symlinks: of a link's target (default True).",
        cli_example: "brine '*' file.get_uid /etc/passwd",
        run: get_uid,
    },
    FunctionSpec {
        name: "file.get_user",
        doc: "Return the name of a file's owner (the uid when it has no name), False when \
              the file does not exist.\n\n\
              - path: the file.\n\
              - follow_symlinks: of a link's target (default True).",
        cli_example: "brine '*' file.get_user /etc/passwd",
        run: get_user,
    },
    FunctionSpec {
        name: "file.is_link",
        doc: "Return True when the path is a symbolic link.\n\n\
              - path: the path.",
        cli_example: "brine '*' file.is_link /path/to/link",
        run: is_link,
    },
    FunctionSpec {
        name: "file.line",
        doc: "Edit one line of a file (as the file.line state). Returns the diff \
              (show_changes=True and a change), else whether the file changed.\n\n\
              - path: the file.\n\
              - content: the line.\n\
              - match: a regex finding the line to act on.\n\
              - mode: ensure, replace, insert or delete.\n\
              - location: start or end (insert).\n\
              - before, after: regexes placing the line (insert, ensure).\n\
              - show_changes: return the diff (default True).\n\
              - backup: make a backup copy.\n\
              - quiet, indent: as Salt.",
        cli_example: "brine '*' file.line /etc/nsswitch.conf \"networks:\\tfiles dns\" after=\"hosts:.*?\" mode='ensure'",
        run: line,
    },
    FunctionSpec {
        name: "file.makedirs",
        doc: "Create the parent directories of a path (the path itself when it ends with a \
              slash). Returns None, or \"Directory 'DIR' already exists\".\n\n\
              - path: the path.\n\
              - user, group, mode: owner, group and mode of the directories created.",
        cli_example: "brine '*' file.makedirs /opt/code/",
        run: makedirs,
    },
    FunctionSpec {
        name: "file.mkdir",
        doc: "Create a directory and its missing parents. Returns True.\n\n\
              - dir_path: the directory.\n\
              - user, group, mode: owner, group and mode of the directories created.",
        cli_example: "brine '*' file.mkdir /opt/jetty/context",
        run: mkdir,
    },
    FunctionSpec {
        name: "file.move",
        doc: "Move a file or directory. Returns {'result': True, 'comment': \"'SRC' moved to 'DST'\"}.\n\n\
              - src: the source (absolute).\n\
              - dst: the destination (absolute).\n\
              - disallow_copy_and_unlink: accepted for Salt compatibility.",
        cli_example: "brine '*' file.move /path/to/src /path/to/dst",
        run: move_,
    },
    FunctionSpec {
        name: "file.prepend",
        doc: "Prepend text to the beginning of a file, one line per argument. Returns \
              'Prepended N lines to \"PATH\"'.\n\n\
              - path: the file.\n\
              - args: the lines (positional arguments, or args=[...]).",
        cli_example: "brine '*' file.prepend /etc/motd \"With all thine offerings thou shalt offer salt.\"",
        run: prepend,
    },
    FunctionSpec {
        name: "file.remove",
        doc: "Remove a file, link or directory tree. Returns True, False when nothing was there.\n\n\
              - path: the path (absolute).",
        cli_example: "brine '*' file.remove /tmp/foo",
        run: remove,
    },
    FunctionSpec {
        name: "file.rename",
        doc: "Rename a file or directory. Returns True.\n\n\
              - src: the path (absolute).\n\
              - dst: the new path (absolute).",
        cli_example: "brine '*' file.rename /path/to/src /path/to/dst",
        run: rename,
    },
    FunctionSpec {
        name: "file.replace",
        doc: "Regex search and replace in a file (as the file.replace state). Returns the \
              diff (show_changes=True, '' when nothing changed), else whether the file \
              changed; with search_only, whether the pattern is found.\n\n\
              - path, pattern, repl: the file, the regex, the replacement.\n\
              - count: most replacements (0: all).\n\
              - flags: regex flags (a number or a list like ['IGNORECASE', 'MULTILINE']).\n\
              - append_if_not_found, prepend_if_not_found, not_found_content: add a line when nothing matches.\n\
              - backup: suffix of a backup copy (default '.bak'; False for none).\n\
              - dry_run: change nothing; search_only: only search.\n\
              - show_changes (default True), ignore_if_missing, backslash_literal: as Salt.\n\
              - bufsize, preserve_inode: accepted for Salt compatibility.",
        cli_example: "brine '*' file.replace /etc/httpd/httpd.conf pattern='LogLevel warn' repl='LogLevel info'",
        run: replace,
    },
    FunctionSpec {
        name: "file.search",
        doc: "Return True when a regex matches in a file (file.replace with search_only).\n\n\
              - path: the file.\n\
              - pattern: the regex.\n\
              - flags, ignore_if_missing: as file.replace.",
        cli_example: "brine '*' file.search /etc/crontab 'mymaintenance.sh'",
        run: search,
    },
    FunctionSpec {
        name: "file.sed",
        doc: "Edit a file in place with the host's sed: `sed -i<backup> <options> '/limit/ \
              s/before/after/flags' path`. Returns sed's {pid, retcode, stdout, stderr}.\n\n\
              - path: the file.\n\
              - before, after: the regex and its replacement (`/` is escaped).\n\
              - limit: only lines matching this regex.\n\
              - backup: suffix of the backup copy (default '.bak').\n\
              - options: sed options (default '-r -e').\n\
              - flags: substitution flags (default 'g').\n\
              - negate_match: act on lines not matching limit.\n\
              - escape_all: escape every regex character of before and after.",
        cli_example: "brine '*' file.sed /etc/httpd/httpd.conf 'LogLevel warn' 'LogLevel info'",
        run: sed,
    },
    FunctionSpec {
        name: "file.set_mode",
        doc: "Set a file's mode. Returns the new mode as file.get_mode gives it.\n\n\
              - path: the file.\n\
              - mode: octal text or number ('0644', 644).",
        cli_example: "brine '*' file.set_mode /etc/passwd 0644",
        run: set_mode,
    },
    FunctionSpec {
        name: "file.symlink",
        doc: "Create a symbolic link. Returns True (also when the link is already right).\n\n\
              - src: the link's target.\n\
              - path: the link (absolute).\n\
              - force: replace whatever is at path.\n\
              - atomic: replace it atomically (through a temporary link and a rename).",
        cli_example: "brine '*' file.symlink /path/to/file /path/to/link",
        run: symlink,
    },
    FunctionSpec {
        name: "file.touch",
        doc: "Create a file when missing, or update its access and modification times. \
              Returns True.\n\n\
              - name: the file.\n\
              - atime, mtime: the times to set (seconds since the epoch; default now).",
        cli_example: "brine '*' file.touch /var/log/emptyfile",
        run: touch,
    },
    FunctionSpec {
        name: "file.write",
        doc: "Write text to a file, replacing its content, one line per argument. Returns \
              'Wrote N lines to \"PATH\"'.\n\n\
              - path: the file.\n\
              - args: the lines (positional arguments, or args=[...]).",
        cli_example: "brine '*' file.write /etc/motd \"With all thine offerings thou shalt offer salt.\"",
        run: write,
    },
];

// ---- helpers ---------------------------------------------------------------------

fn path_arg(a: &mut ArgParser, name: &str, pos: usize) -> Result<String, ModError> {
    Ok(expanduser(&a.take_str(name, pos)?))
}

fn require_absolute(path: &str) -> Result<(), ModError> {
    if Path::new(path).is_absolute() {
        Ok(())
    } else {
        Err(ModError::BadArguments(format!(
            "File path must be absolute: {path}"
        )))
    }
}

/// Runs blocking file work off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ModError> + Send + 'static,
) -> Result<T, ModError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ModError::Failed(e.to_string()))?
}

/// The lines of `file.write`/`append`/`prepend`: positional arguments after
/// the path, or `args=[...]` (Salt accepts both).
fn text_lines(a: &mut ArgParser) -> Result<Vec<String>, ModError> {
    let mut lines: Vec<Value> = a.rest(1);
    if let Some(v) = a.kw("args") {
        match v {
            Value::Array(list) => lines.extend(list),
            other => lines.push(other),
        }
    }
    // A line holding several lines counts as them (Salt splits on newlines).
    let mut out = Vec::new();
    for l in lines {
        out.extend(as_str("args", &l)?.split('\n').map(str::to_string));
    }
    Ok(out)
}

/// No templates and no execution functions: the `file` edit states this
/// module runs need neither.
struct Plain;
impl TemplateRenderer for Plain {
    fn render(
        &self,
        engine: &str,
        _: &str,
        _: &str,
        _: &Map<String, Value>,
    ) -> Result<String, String> {
        Err(format!("templates ({engine}) are not available here"))
    }
}
impl ExecCaller for Plain {
    fn call(&self, fun: &str, _: Vec<Value>, _: Map<String, Value>) -> Result<Value, CallError> {
        Err(CallError::Unknown(fun.to_string()))
    }
    fn has(&self, _: &str) -> bool {
        false
    }
}

/// Runs a `file` edit state on `path` (dry run when `test`).
fn run_state(
    cachedir: PathBuf,
    f: fn(&StateCtx<'_>, &StateArgs) -> StateResult,
    path: &str,
    args: Map<String, Value>,
    test: bool,
) -> StateResult {
    let grains = Map::new();
    let pillar = Value::Object(Map::new());
    let roots = LocalRoots::default();
    let ctx = StateCtx {
        test,
        saltenv: "base".into(),
        grains: &grains,
        pillar: &pillar,
        files: &roots,
        templates: &Plain,
        caller: &Plain,
        cachedir,
        cancel: Default::default(),
        run: Default::default(),
    };
    f(
        &ctx,
        &StateArgs {
            name: path.to_string(),
            args,
        },
    )
}

/// The diff a state reported ('' for none).
fn diff_of(r: &StateResult) -> String {
    r.changes
        .get("diff")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// An edit's return: the diff with show_changes, else whether it changed.
fn edit_return(r: StateResult, show_changes: bool) -> Result<Value, ModError> {
    if r.result == Some(false) {
        return Err(ModError::Failed(r.comment));
    }
    let diff = diff_of(&r);
    Ok(if show_changes {
        Value::String(diff)
    } else {
        Value::Bool(!diff.is_empty())
    })
}

fn put(m: &mut Map<String, Value>, key: &str, v: Option<Value>) {
    if let Some(v) = v {
        m.insert(key.into(), v);
    }
}

fn uid_of(user: &str) -> Option<u32> {
    user.parse().ok().or_else(|| {
        nix::unistd::User::from_name(user)
            .ok()
            .flatten()
            .map(|u| u.uid.as_raw())
    })
}

fn gid_of(group: &str) -> Option<u32> {
    group.parse().ok().or_else(|| {
        nix::unistd::Group::from_name(group)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw())
    })
}

/// Owner, group and mode of directories `file.mkdir`/`makedirs` create.
type DirPerms = (Option<String>, Option<String>, Option<u32>);

fn dir_perms(a: &mut ArgParser, from: usize) -> Result<DirPerms, ModError> {
    let user = a.opt_str("user", from)?;
    let group = a.opt_str("group", from + 1)?;
    let mode = a
        .opt_str("mode", from + 2)?
        .map(|m| parse_mode(&m))
        .transpose()?;
    Ok((user, group, mode))
}

fn parse_mode(m: &str) -> Result<u32, ModError> {
    u32::from_str_radix(m.trim().trim_start_matches("0o"), 8)
        .map_err(|_| ModError::BadArguments(format!("Invalid mode: {m}")))
}

/// Creates `dir` and its missing parents, setting owner/mode on each one created.
fn make_dirs(
    dir: &Path,
    user: Option<&str>,
    group: Option<&str>,
    mode: Option<u32>,
) -> Result<(), ModError> {
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(d) = at.filter(|d| !d.exists()) {
        missing.push(d.to_path_buf());
        at = d.parent();
    }
    for d in missing.iter().rev() {
        std::fs::create_dir(d).map_err(|e| os_error(&e, &d.to_string_lossy()))?;
        set_owner(d, user, group)?;
        if let Some(m) = mode {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(m))
                .map_err(|e| os_error(&e, &d.to_string_lossy()))?;
        }
    }
    Ok(())
}

fn set_owner(path: &Path, user: Option<&str>, group: Option<&str>) -> Result<(), ModError> {
    if user.is_none() && group.is_none() {
        return Ok(());
    }
    let uid = user
        .map(|u| uid_of(u).ok_or_else(|| failed("User does not exist")))
        .transpose()?;
    let gid = group
        .map(|g| gid_of(g).ok_or_else(|| failed("Group does not exist")))
        .transpose()?;
    std::os::unix::fs::lchown(path, uid, gid).map_err(|e| os_error(&e, &path.to_string_lossy()))
}

/// Salt's mode text: at least four octal digits ('0644').
fn mode_text(path: &Path, follow: bool) -> String {
    let meta = if follow {
        std::fs::metadata(path)
    } else {
        std::fs::symlink_metadata(path)
    };
    match meta {
        Ok(m) => format!("{:04o}", m.permissions().mode() & 0o7777),
        Err(_) => String::new(),
    }
}

// ---- functions --------------------------------------------------------------------

fn write(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let path = path_arg(&mut a, "path", 0)?;
        let lines = text_lines(&mut a)?;
        a.finish()?;
        let n = lines.len();
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let p = path.clone();
        blocking(move || std::fs::write(&p, text).map_err(|e| os_error(&e, &p))).await?;
        Ok(Value::String(format!("Wrote {n} lines to \"{path}\"")).into())
    })
}

fn append(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        use std::io::Write;
        let mut a = args.parser();
        let path = path_arg(&mut a, "path", 0)?;
        let lines = text_lines(&mut a)?;
        a.finish()?;
        let n = lines.len();
        let p = path.clone();
        blocking(move || {
            let old = std::fs::read(&p).unwrap_or_default();
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&p)
                .map_err(|e| os_error(&e, &p))?;
            let mut text = String::new();
            if !old.is_empty() && !old.ends_with(b"\n") {
                text.push('\n');
            }
            for l in &lines {
                text.push_str(l);
                text.push('\n');
            }
            f.write_all(text.as_bytes()).map_err(|e| os_error(&e, &p))
        })
        .await?;
        Ok(Value::String(format!("Wrote {n} lines to \"{path}\"")).into())
    })
}

fn prepend(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let path = path_arg(&mut a, "path", 0)?;
        let lines = text_lines(&mut a)?;
        a.finish()?;
        let n = lines.len();
        let p = path.clone();
        blocking(move || {
            let old = match std::fs::read(&p) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(os_error(&e, &p)),
            };
            let mut new: Vec<u8> = lines
                .iter()
                .flat_map(|l| format!("{l}\n").into_bytes())
                .collect();
            new.extend(old);
            brine_states::modules::file::fsio::write(Path::new(&p), &new, false, None)
                .map_err(|e| os_error(&e, &p))
        })
        .await?;
        Ok(Value::String(format!("Prepended {n} lines to \"{path}\"")).into())
    })
}

fn touch(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = path_arg(&mut a, "name", 0)?;
        let atime = a.opt_f64("atime", 1)?;
        let mtime = a.opt_f64("mtime", 2)?;
        a.finish()?;
        blocking(move || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&name)
                .map_err(|e| os_error(&e, &name))?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            let at =
                |t: f64| std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(t.max(0.0));
            let times = std::fs::FileTimes::new()
                .set_accessed(at(atime.or(mtime).unwrap_or(now)))
                .set_modified(at(mtime.or(atime).unwrap_or(now)));
            std::fs::File::open(&name)
                .and_then(|f| f.set_times(times))
                .map_err(|e| os_error(&e, &name))
        })
        .await?;
        Ok(Value::Bool(true).into())
    })
}

fn remove(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let path = path_arg(&mut a, "path", 0)?;
        a.rest_kwargs();
        a.finish()?;
        require_absolute(&path)?;
        let removed = blocking(move || {
            let p = Path::new(&path);
            let Ok(meta) = std::fs::symlink_metadata(p) else {
                return Ok(false);
            };
            let done = if meta.is_dir() {
                std::fs::remove_dir_all(p)
            } else {
                std::fs::remove_file(p)
            };
            done.map_err(|e| failed(format!("Could not remove '{path}': {e}")))?;
            Ok(true)
        })
        .await?;
        Ok(Value::Bool(removed).into())
    })
}

fn mkdir(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let dir = path_arg(&mut a, "dir_path", 0)?;
        let (user, group, mode) = dir_perms(&mut a, 1)?;
        a.finish()?;
        require_absolute(&dir)?;
        blocking(move || make_dirs(Path::new(&dir), user.as_deref(), group.as_deref(), mode))
            .await?;
        Ok(Value::Bool(true).into())
    })
}

fn makedirs(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let path = path_arg(&mut a, "path", 0)?;
        let (user, group, mode) = dir_perms(&mut a, 1)?;
        a.finish()?;
        require_absolute(&path)?;
        // Salt's os.path.dirname: "/a/b/" makes /a/b, "/a/b" makes /a.
        let dir = match path.rfind('/') {
            Some(0) => "/".to_string(),
            Some(i) => path[..i].to_string(),
            None => path.clone(),
        };
        if Path::new(&dir).is_dir() {
            return Ok(Value::String(format!("Directory '{dir}' already exists")).into());
        }
        if Path::new(&dir).exists() {
            return Err(failed(format!(
                "The path '{dir}' already exists and is not a directory"
            )));
        }
        blocking(move || make_dirs(Path::new(&dir), user.as_deref(), group.as_deref(), mode))
            .await?;
        Ok(Value::Null.into())
    })
}

fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dst)?;
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let to = dst.join(e.file_name());
        let ft = e.file_type()?;
        if ft.is_dir() {
            copy_tree(&e.path(), &to)?;
        } else if ft.is_symlink() {
            let _ = std::fs::remove_file(&to);
            std::os::unix::fs::symlink(std::fs::read_link(e.path())?, &to)?;
        } else {
            std::fs::copy(e.path(), &to)?;
        }
    }
    Ok(())
}

fn copy(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let src = path_arg(&mut a, "src", 0)?;
        let dst = path_arg(&mut a, "dst", 1)?;
        let recurse = a.opt_bool("recurse", 2)?.unwrap_or(false);
        let remove_existing = a.opt_bool("remove_existing", 3)?.unwrap_or(false);
        a.finish()?;
        require_absolute(&src)?;
        blocking(move || {
            let s = Path::new(&src);
            if !s.exists() {
                return Err(failed(format!("No such file or directory '{src}'")));
            }
            let d = Path::new(&dst);
            if s.is_dir() {
                if !recurse {
                    return Err(ModError::BadArguments(
                        "Cannot copy overwriting a directory without recurse flag set to true!"
                            .into(),
                    ));
                }
                if remove_existing && d.exists() {
                    std::fs::remove_dir_all(d).map_err(|e| os_error(&e, &dst))?;
                }
                copy_tree(s, d)
                    .map_err(|e| failed(format!("Could not copy '{src}' to '{dst}': {e}")))?;
            } else {
                let target = if d.is_dir() {
                    d.join(s.file_name().unwrap_or_default())
                } else {
                    d.to_path_buf()
                };
                std::fs::copy(s, &target)
                    .map_err(|e| failed(format!("Could not copy '{src}' to '{dst}': {e}")))?;
            }
            Ok(())
        })
        .await?;
        Ok(Value::Bool(true).into())
    })
}

/// `rename(2)`, falling back to copy-and-remove across file systems.
fn move_path(src: &str, dst: &str) -> Result<(), ModError> {
    require_absolute(src)?;
    if !Path::new(dst).is_absolute() {
        return Err(ModError::BadArguments(format!(
            "Destination path must be absolute: {dst}"
        )));
    }
    let d = Path::new(dst);
    let target = if d.is_dir() {
        d.join(Path::new(src).file_name().unwrap_or_default())
    } else {
        d.to_path_buf()
    };
    match std::fs::rename(src, &target) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(nix::libc::EXDEV) => {
            let s = Path::new(src);
            if s.is_dir() {
                copy_tree(s, &target).and_then(|_| std::fs::remove_dir_all(s))
            } else {
                std::fs::copy(s, &target).and_then(|_| std::fs::remove_file(s))
            }
            .map_err(|e| failed(format!("Unable to move '{src}' to '{dst}': {e}")))
        }
        Err(e) => Err(failed(format!("Unable to move '{src}' to '{dst}': {e}"))),
    }
}

fn move_(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let src = path_arg(&mut a, "src", 0)?;
        let dst = path_arg(&mut a, "dst", 1)?;
        a.opt_bool("disallow_copy_and_unlink", 2)?;
        a.finish()?;
        let (s, d) = (src.clone(), dst.clone());
        blocking(move || move_path(&s, &d)).await?;
        Ok(json!({"result": true, "comment": format!("'{src}' moved to '{dst}'")}).into())
    })
}

fn rename(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let src = path_arg(&mut a, "src", 0)?;
        let dst = path_arg(&mut a, "dst", 1)?;
        a.finish()?;
        blocking(move || move_path(&src, &dst)).await?;
        Ok(Value::Bool(true).into())
    })
}

fn chown(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let path = path_arg(&mut a, "path", 0)?;
        let user = a.take_str("user", 1)?;
        let group = a.take_str("group", 2)?;
        a.finish()?;
        // Salt returns the reason as the value, not as an error.
        if uid_of(&user).is_none() {
            return Ok(json!("User does not exist").into());
        }
        if gid_of(&group).is_none() {
            return Ok(json!("Group does not exist").into());
        }
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(json!("File not found").into());
        }
        blocking(move || set_owner(Path::new(&path), Some(&user), Some(&group))).await?;
        Ok(Value::Null.into())
    })
}

fn chgrp(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let path = path_arg(&mut a, "path", 0)?;
        let group = a.take_str("group", 1)?;
        a.finish()?;
        if gid_of(&group).is_none() {
            return Ok(json!("Group does not exist").into());
        }
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(json!("File not found").into());
        }
        blocking(move || set_owner(Path::new(&path), None, Some(&group))).await?;
        Ok(Value::Null.into())
    })
}

fn set_mode(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let path = path_arg(&mut a, "path", 0)?;
        let mode = a.take_str("mode", 1)?;
        a.finish()?;
        let bits = parse_mode(&mode)?;
        if !Path::new(&path).exists() {
            return Err(failed(format!("{path}: File not found")));
        }
        let p = path.clone();
        blocking(move || {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(bits))
                .map_err(|e| os_error(&e, &p))
        })
        .await?;
        Ok(Value::String(mode_text(Path::new(&path), true)).into())
    })
}

fn get_mode(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let path = path_arg(&mut a, "path", 0)?;
        let follow = a.opt_bool("follow_symlinks", 1)?.unwrap_or(true);
        a.finish()?;
        Ok(Value::String(mode_text(Path::new(&path), follow)).into())
    })
}

fn exists(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let path = path_arg(&mut a, "path", 0)?;
        a.finish()?;
        Ok(Value::Bool(Path::new(&path).exists()).into())
    })
}

fn check_hash(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let path = path_arg(&mut a, "path", 0)?;
        let file_hash = a.take_str("file_hash", 1)?;
        a.finish()?;
        let (form, want) = file_hash
            .split_once(':')
            .or_else(|| file_hash.split_once('='))
            .ok_or_else(|| ModError::BadArguments(format!("Bad hash format: '{file_hash}'")))?;
        let (form, want) = (form.to_string(), want.to_ascii_lowercase());
        let got = blocking(move || hash_file(&path, &form)).await?;
        Ok(Value::Bool(got == want).into())
    })
}

fn symlink(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let src = a.take_str("src", 0)?;
        let path = path_arg(&mut a, "path", 1)?;
        let force = a.opt_bool("force", 2)?.unwrap_or(false);
        let atomic = a.opt_bool("atomic", 3)?.unwrap_or(false);
        a.finish()?;
        blocking(move || {
            let p = Path::new(&path);
            if p.is_symlink() {
                let current = std::fs::read_link(p).map_err(|e| os_error(&e, &path))?;
                if super::posix_normpath(&current.to_string_lossy()) == super::posix_normpath(&src)
                {
                    return Ok(());
                }
                if !force && !atomic {
                    return Err(failed(format!("Found existing symlink: {path}")));
                }
            }
            if p.exists() && !p.is_symlink() && !force && !atomic {
                return Err(failed(format!("Existing path is not a symlink: {path}")));
            }
            require_absolute(&path).map_err(|_| {
                ModError::BadArguments(format!("Link path must be absolute: {path}"))
            })?;
            if atomic {
                let tmp = format!("{path}.{}.tmp", std::process::id());
                let _ = std::fs::remove_file(&tmp);
                std::os::unix::fs::symlink(&src, &tmp)
                    .and_then(|_| std::fs::rename(&tmp, p))
                    .map_err(|_| failed(format!("Could not create '{path}'")))?;
                return Ok(());
            }
            if force && std::fs::symlink_metadata(p).is_ok() {
                if p.is_dir() && !p.is_symlink() {
                    std::fs::remove_dir_all(p)
                } else {
                    std::fs::remove_file(p)
                }
                .map_err(|e| os_error(&e, &path))?;
            }
            std::os::unix::fs::symlink(&src, p)
                .map_err(|_| failed(format!("Could not create '{path}'")))
        })
        .await?;
        Ok(Value::Bool(true).into())
    })
}

/// A file's metadata for the owner queries; `None` when it does not exist.
fn owner_meta(a: &mut ArgParser) -> Result<Option<std::fs::Metadata>, ModError> {
    let path = path_arg(a, "path", 0)?;
    let follow = a.opt_bool("follow_symlinks", 1)?.unwrap_or(true);
    Ok(if follow {
        std::fs::metadata(&path)
    } else {
        std::fs::symlink_metadata(&path)
    }
    .ok())
}

fn get_uid(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        use std::os::unix::fs::MetadataExt;
        let mut a = args.parser();
        let meta = owner_meta(&mut a)?;
        a.finish()?;
        Ok(json!(meta.map(|m| i64::from(m.uid())).unwrap_or(-1)).into())
    })
}

fn get_gid(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        use std::os::unix::fs::MetadataExt;
        let mut a = args.parser();
        let meta = owner_meta(&mut a)?;
        a.finish()?;
        Ok(json!(meta.map(|m| i64::from(m.gid())).unwrap_or(-1)).into())
    })
}

fn get_user(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        use std::os::unix::fs::MetadataExt;
        let mut a = args.parser();
        let meta = owner_meta(&mut a)?;
        a.finish()?;
        let Some(m) = meta else {
            return Ok(Value::Bool(false).into());
        };
        let name = nix::unistd::User::from_uid(m.uid().into())
            .ok()
            .flatten()
            .map(|u| json!(u.name))
            .unwrap_or(json!(m.uid()));
        Ok(name.into())
    })
}

fn get_group(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        use std::os::unix::fs::MetadataExt;
        let mut a = args.parser();
        let meta = owner_meta(&mut a)?;
        a.finish()?;
        let Some(m) = meta else {
            return Ok(Value::Bool(false).into());
        };
        let name = nix::unistd::Group::from_gid(m.gid().into())
            .ok()
            .flatten()
            .map(|g| json!(g.name))
            .unwrap_or(json!(m.gid()));
        Ok(name.into())
    })
}

fn is_link(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let path = path_arg(&mut a, "path", 0)?;
        a.finish()?;
        Ok(Value::Bool(Path::new(&path).is_symlink()).into())
    })
}

fn contains(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let path = path_arg(&mut a, "path", 0)?;
        let text = a.take_str("text", 1)?;
        a.finish()?;
        // Salt reads it line by line and returns False when it cannot.
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(_) => return Ok(Value::Bool(false).into()),
        };
        let found = String::from_utf8_lossy(&data).contains(text.as_str());
        Ok(Value::Bool(found).into())
    })
}

fn contains_regex(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let path = path_arg(&mut a, "path", 0)?;
        let pattern = a.take_str("regex", 1)?;
        let lchar = a.opt_str("lchar", 2)?.unwrap_or_default();
        a.finish()?;
        let re = regex::Regex::new(&pattern)
            .map_err(|e| ModError::BadArguments(format!("invalid regex '{pattern}': {e}")))?;
        // Salt answers False for a file it cannot open, not an error.
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(_) => return Ok(Value::Bool(false).into()),
        };
        let text = String::from_utf8_lossy(&data);
        let found = text.lines().any(|line| {
            let line = if lchar.is_empty() {
                line
            } else {
                line.trim_start_matches(|c| lchar.contains(c))
            };
            re.is_match(line)
        });
        Ok(Value::Bool(found).into())
    })
}

/// Salt's `flags` for `re`: a number or a list of names; the state code
/// takes the same.
fn flags_arg(a: &mut ArgParser, pos: usize) -> Result<Option<Value>, ModError> {
    a.opt("flags", pos)
}

fn replace(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let path = path_arg(&mut a, "path", 0)?;
        let mut s = Map::new();
        s.insert("pattern".into(), json!(a.take_str("pattern", 1)?));
        s.insert("repl".into(), a.take("repl", 2)?);
        put(&mut s, "count", a.opt("count", 3)?);
        put(&mut s, "flags", flags_arg(&mut a, 4)?);
        a.opt("bufsize", 5)?;
        put(
            &mut s,
            "append_if_not_found",
            a.opt("append_if_not_found", 6)?,
        );
        put(
            &mut s,
            "prepend_if_not_found",
            a.opt("prepend_if_not_found", 7)?,
        );
        put(&mut s, "not_found_content", a.opt("not_found_content", 8)?);
        s.insert(
            "backup".into(),
            a.opt("backup", 9)?.unwrap_or(json!(".bak")),
        );
        let dry_run = a.opt_bool("dry_run", 10)?.unwrap_or(false);
        let search_only = a.opt_bool("search_only", 11)?.unwrap_or(false);
        let show_changes = a.opt_bool("show_changes", 12)?.unwrap_or(true);
        let ignore_if_missing = a.opt_bool("ignore_if_missing", 13)?.unwrap_or(false);
        a.opt("preserve_inode", 14)?;
        put(&mut s, "backslash_literal", a.opt("backslash_literal", 15)?);
        a.finish()?;
        if !Path::new(&path).exists() {
            if ignore_if_missing {
                return Ok(Value::Bool(false).into());
            }
            return Err(failed(format!("{path}: file not found")));
        }
        let cachedir = ctx.config.cachedir.clone();
        let test = dry_run || search_only;
        let r = blocking(move || Ok(run_state(cachedir, edit::replace, &path, s, test))).await?;
        if search_only {
            if r.result == Some(false) {
                return Err(ModError::Failed(r.comment));
            }
            return Ok(Value::Bool(!diff_of(&r).is_empty()).into());
        }
        Ok(edit_return(r, show_changes)?.into())
    })
}

fn search(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let path = path_arg(&mut a, "path", 0)?;
        let pattern = a.take_str("pattern", 1)?;
        let flags = flags_arg(&mut a, 2)?;
        a.opt("bufsize", 3)?;
        let ignore_if_missing = a.opt_bool("ignore_if_missing", 4)?.unwrap_or(false);
        a.opt("multiline", 5)?;
        a.finish()?;
        if !Path::new(&path).exists() {
            if ignore_if_missing {
                return Ok(Value::Bool(false).into());
            }
            return Err(failed(format!("{path}: file not found")));
        }
        // A replacement that cannot equal the match: any match is a diff.
        let mut s = Map::new();
        s.insert("pattern".into(), json!(pattern));
        s.insert("repl".into(), json!("\u{0}brine-search\u{0}"));
        put(&mut s, "flags", flags);
        let cachedir = ctx.config.cachedir.clone();
        let r = blocking(move || Ok(run_state(cachedir, edit::replace, &path, s, true))).await?;
        if r.result == Some(false) {
            return Err(ModError::Failed(r.comment));
        }
        Ok(Value::Bool(!diff_of(&r).is_empty()).into())
    })
}

fn line(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let path = path_arg(&mut a, "path", 0)?;
        let mut s = Map::new();
        put(&mut s, "content", a.opt("content", 1)?);
        put(&mut s, "match", a.opt("match", 2)?);
        put(&mut s, "mode", a.opt("mode", 3)?);
        put(&mut s, "location", a.opt("location", 4)?);
        put(&mut s, "before", a.opt("before", 5)?);
        put(&mut s, "after", a.opt("after", 6)?);
        let show_changes = a.opt_bool("show_changes", 7)?.unwrap_or(true);
        s.insert("backup".into(), a.opt("backup", 8)?.unwrap_or(json!(false)));
        put(&mut s, "quiet", a.opt("quiet", 9)?);
        put(&mut s, "indent", a.opt("indent", 10)?);
        a.finish()?;
        if s.get("mode").is_none() {
            return Err(ModError::BadArguments(
                "Mode was not defined. How to process the file?".into(),
            ));
        }
        if !Path::new(&path).exists() {
            return Err(failed(format!(
                "File \"{path}\" does not exists or is not a file."
            )));
        }
        let cachedir = ctx.config.cachedir.clone();
        let r = blocking(move || Ok(run_state(cachedir, edit::line, &path, s, false))).await?;
        // Salt: `show_changes and diff or changed`.
        match edit_return(r, true)? {
            Value::String(d) if show_changes && !d.is_empty() => Ok(Value::String(d).into()),
            Value::String(d) => Ok(Value::Bool(!d.is_empty()).into()),
            other => Ok(other.into()),
        }
    })
}

fn blockreplace(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let path = path_arg(&mut a, "path", 0)?;
        let mut s = Map::new();
        s.insert(
            "marker_start".into(),
            a.opt("marker_start", 1)?
                .unwrap_or(json!("#-- start managed zone --")),
        );
        s.insert(
            "marker_end".into(),
            a.opt("marker_end", 2)?
                .unwrap_or(json!("#-- end managed zone --")),
        );
        s.insert("content".into(), a.opt("content", 3)?.unwrap_or(json!("")));
        put(
            &mut s,
            "append_if_not_found",
            a.opt("append_if_not_found", 4)?,
        );
        put(
            &mut s,
            "prepend_if_not_found",
            a.opt("prepend_if_not_found", 5)?,
        );
        s.insert(
            "backup".into(),
            a.opt("backup", 6)?.unwrap_or(json!(".bak")),
        );
        let dry_run = a.opt_bool("dry_run", 7)?.unwrap_or(false);
        let show_changes = a.opt_bool("show_changes", 8)?.unwrap_or(true);
        put(&mut s, "append_newline", a.opt("append_newline", 9)?);
        put(
            &mut s,
            "insert_before_match",
            a.opt("insert_before_match", 10)?,
        );
        put(
            &mut s,
            "insert_after_match",
            a.opt("insert_after_match", 11)?,
        );
        a.finish()?;
        if !Path::new(&path).exists() {
            return Err(failed(format!("Filesystem path {path} does not exist.")));
        }
        let cachedir = ctx.config.cachedir.clone();
        let r = blocking(move || Ok(run_state(cachedir, edit::blockreplace, &path, s, dry_run)))
            .await?;
        Ok(edit_return(r, show_changes)?.into())
    })
}

/// Escapes `/` (and with `escape_all` every regex character) for a sed
/// `s/before/after/` expression, as Salt's `_sed_esc`.
fn sed_esc(s: &str, escape_all: bool) -> String {
    let special = if escape_all { "$.*[\\]^|/()?+{}" } else { "/" };
    s.chars().fold(String::new(), |mut out, c| {
        if special.contains(c) {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

fn sed(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let path = path_arg(&mut a, "path", 0)?;
        let before = a.take_str("before", 1)?;
        let after = a.take_str("after", 2)?;
        let limit = a.opt_str("limit", 3)?.unwrap_or_default();
        let backup = a.opt_str("backup", 4)?.unwrap_or_else(|| ".bak".into());
        let options = a.opt_str("options", 5)?.unwrap_or_else(|| "-r -e".into());
        let flags = a.opt_str("flags", 6)?.unwrap_or_else(|| "g".into());
        let escape_all = a.opt_bool("escape_all", 7)?.unwrap_or(false);
        let negate_match = a.opt_bool("negate_match", 8)?.unwrap_or(false);
        a.finish()?;
        if !Path::new(&path).exists() {
            return Ok(Value::Bool(false).into());
        }
        let before = sed_esc(&before, escape_all);
        let after = sed_esc(&after, escape_all);
        let limit = sed_esc(&limit, escape_all);
        let negate = if negate_match { "!" } else { "" };
        let script = if limit.is_empty() {
            format!("s/{before}/{after}/{}", flags.replace(['-', 'e'], ""))
        } else {
            format!(
                "/{limit}/ {negate}s/{before}/{after}/{}",
                flags.replace(['-', 'e'], "")
            )
        };
        let cmd = Cmd::new("sed")
            .arg(format!("-i{backup}"))
            .args(options.split_whitespace())
            .arg(script)
            .arg(path);
        let out = blocking(move || cmd.run().map_err(ModError::Failed)).await?;
        Ok(json!({
            "pid": 0,
            "retcode": out.code.unwrap_or(-1),
            "stdout": out.stdout.trim_end(),
            "stderr": out.stderr.trim_end(),
        })
        .into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{test_call, test_ctx};

    async fn call(
        f: crate::registry::ModFn,
        name: &'static str,
        arg: Value,
        kw: Value,
    ) -> Result<Value, String> {
        test_call(test_ctx(), f, name, arg, kw).await
    }

    #[tokio::test]
    async fn contains_regex_searches_each_line_after_lchar() {
        let tmp = tempfile::TempDir::new().unwrap();
        let f = tmp.path().join("conf").to_string_lossy().into_owned();
        std::fs::write(&f, "# PermitRootLogin no\nPort 22\n").unwrap();
        let c = |regex: &str, kw: Value| {
            call(contains_regex, "file.contains_regex", json!([f, regex]), kw)
        };
        assert_eq!(c("^Port\\s+22$", json!({})).await.unwrap(), json!(true));
        assert_eq!(
            c("^PermitRootLogin", json!({})).await.unwrap(),
            json!(false)
        );
        assert_eq!(
            c("^PermitRootLogin", json!({"lchar": "#"})).await.unwrap(),
            json!(false)
        );
        assert_eq!(
            c("^ PermitRootLogin", json!({"lchar": "#"})).await.unwrap(),
            json!(true)
        );
        assert_eq!(
            c("^PermitRootLogin", json!({"lchar": "# "})).await.unwrap(),
            json!(true)
        );
        assert_eq!(c("x", json!({})).await.unwrap(), json!(false));
        let missing = call(
            contains_regex,
            "file.contains_regex",
            json!(["/nonexistent/brine", "x"]),
            json!({}),
        );
        assert_eq!(missing.await.unwrap(), json!(false));
        assert!(c("(", json!({}))
            .await
            .unwrap_err()
            .contains("invalid regex"));
    }

    #[tokio::test]
    async fn write_append_prepend_touch_remove() {
        let tmp = tempfile::TempDir::new().unwrap();
        let f = tmp.path().join("f").to_string_lossy().into_owned();
        assert_eq!(
            call(write, "file.write", json!([f, "a", "b"]), json!({}))
                .await
                .unwrap(),
            json!(format!("Wrote 2 lines to \"{f}\""))
        );
        std::fs::write(&f, "a\nb").unwrap();
        assert_eq!(
            call(append, "file.append", json!([f, "c"]), json!({}))
                .await
                .unwrap(),
            json!(format!("Wrote 1 lines to \"{f}\""))
        );
        call(prepend, "file.prepend", json!([f]), json!({"args": ["0"]}))
            .await
            .unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "0\na\nb\nc\n");
        let t = tmp.path().join("t").to_string_lossy().into_owned();
        call(touch, "file.touch", json!([t]), json!({"mtime": 1000}))
            .await
            .unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&t).unwrap().mtime(), 1000);
        assert_eq!(
            call(remove, "file.remove", json!([t]), json!({}))
                .await
                .unwrap(),
            json!(true)
        );
        assert_eq!(
            call(remove, "file.remove", json!([t]), json!({}))
                .await
                .unwrap(),
            json!(false)
        );
        let e = call(remove, "file.remove", json!(["rel"]), json!({}))
            .await
            .unwrap_err();
        assert_eq!(e, "File path must be absolute: rel");
    }

    #[tokio::test]
    async fn dirs_copy_move_rename_modes_links_hashes() {
        let tmp = tempfile::TempDir::new().unwrap();
        let p = |s: &str| tmp.path().join(s).to_string_lossy().into_owned();
        call(
            mkdir,
            "file.mkdir",
            json!([p("a/b/c")]),
            json!({"mode": "750"}),
        )
        .await
        .unwrap();
        assert_eq!(mode_text(Path::new(&p("a/b")), true), "0750");
        assert_eq!(
            call(makedirs, "file.makedirs", json!([p("m/n/file")]), json!({}))
                .await
                .unwrap(),
            Value::Null
        );
        assert!(Path::new(&p("m/n")).is_dir() && !Path::new(&p("m/n/file")).exists());
        let again = call(makedirs, "file.makedirs", json!([p("m/n/")]), json!({}))
            .await
            .unwrap();
        assert_eq!(
            again,
            json!(format!("Directory '{}' already exists", p("m/n")))
        );
        std::fs::write(p("a/b/c/f"), "x").unwrap();
        let e = call(copy, "file.copy", json!([p("a"), p("z")]), json!({}))
            .await
            .unwrap_err();
        assert!(e.contains("without recurse"), "{e}");
        call(
            copy,
            "file.copy",
            json!([p("a"), p("z")]),
            json!({"recurse": true}),
        )
        .await
        .unwrap();
        assert_eq!(std::fs::read_to_string(p("z/b/c/f")).unwrap(), "x");
        let m = call(move_, "file.move", json!([p("z/b/c/f"), p("g")]), json!({}))
            .await
            .unwrap();
        assert_eq!(
            m,
            json!({"result": true, "comment": format!("'{}' moved to '{}'", p("z/b/c/f"), p("g"))})
        );
        call(rename, "file.rename", json!([p("g"), p("h")]), json!({}))
            .await
            .unwrap();
        assert_eq!(
            call(set_mode, "file.set_mode", json!([p("h"), "600"]), json!({}))
                .await
                .unwrap(),
            json!("0600")
        );
        assert_eq!(
            call(get_mode, "file.get_mode", json!([p("h")]), json!({}))
                .await
                .unwrap(),
            json!("0600")
        );
        assert_eq!(
            call(
                chown,
                "file.chown",
                json!([p("h"), "no-such-user-x", "root"]),
                json!({})
            )
            .await
            .unwrap(),
            json!("User does not exist")
        );
        assert_eq!(
            call(chgrp, "file.chgrp", json!([p("nope"), "0"]), json!({}))
                .await
                .unwrap(),
            json!("File not found")
        );
        let md5 = "md5:9dd4e461268c8034f5c8564e155c67a6";
        assert_eq!(
            call(
                check_hash,
                "file.check_hash",
                json!([p("h"), md5]),
                json!({})
            )
            .await
            .unwrap(),
            json!(true)
        );
        assert_eq!(
            call(
                check_hash,
                "file.check_hash",
                json!([p("h"), "md5=00"]),
                json!({})
            )
            .await
            .unwrap(),
            json!(false)
        );
        call(symlink, "file.symlink", json!([p("h"), p("l")]), json!({}))
            .await
            .unwrap();
        assert_eq!(
            call(symlink, "file.symlink", json!([p("h"), p("l")]), json!({}))
                .await
                .unwrap(),
            json!(true)
        );
        let e = call(symlink, "file.symlink", json!([p("a"), p("l")]), json!({}))
            .await
            .unwrap_err();
        assert!(e.starts_with("Found existing symlink"), "{e}");
        call(
            symlink,
            "file.symlink",
            json!([p("a"), p("l")]),
            json!({"force": true}),
        )
        .await
        .unwrap();
        assert_eq!(std::fs::read_link(p("l")).unwrap(), tmp.path().join("a"));
        assert_eq!(
            call(exists, "file.exists", json!([p("l")]), json!({}))
                .await
                .unwrap(),
            json!(true)
        );
    }

    #[tokio::test]
    async fn regex_edits_share_the_state_code() {
        let tmp = tempfile::TempDir::new().unwrap();
        let f = tmp.path().join("conf").to_string_lossy().into_owned();
        std::fs::write(&f, "LogLevel warn\nPort 80\n").unwrap();
        let d = call(
            replace,
            "file.replace",
            json!([f, "warn", "info"]),
            json!({"dry_run": true}),
        )
        .await
        .unwrap();
        assert!(d.as_str().unwrap().contains("+LogLevel info"), "{d}");
        assert!(std::fs::read_to_string(&f).unwrap().contains("warn"));
        let found = call(
            replace,
            "file.replace",
            json!([f, "Port \\d+", "x"]),
            json!({"search_only": true}),
        )
        .await
        .unwrap();
        assert_eq!(found, json!(true));
        assert_eq!(
            call(search, "file.search", json!([f, "^Port"]), json!({}))
                .await
                .unwrap(),
            json!(true)
        );
        assert_eq!(
            call(search, "file.search", json!([f, "^Nope"]), json!({}))
                .await
                .unwrap(),
            json!(false)
        );
        let changed = call(
            replace,
            "file.replace",
            json!([f, "warn", "info"]),
            json!({"show_changes": false, "backup": false}),
        )
        .await
        .unwrap();
        assert_eq!(changed, json!(true));
        assert_eq!(
            call(
                replace,
                "file.replace",
                json!([f, "warn", "info"]),
                json!({})
            )
            .await
            .unwrap(),
            json!("")
        );
        let d = call(
            line,
            "file.line",
            json!([f]),
            json!({"content": "Listen 1", "mode": "ensure", "after": "Port.*"}),
        )
        .await
        .unwrap();
        assert!(d.as_str().unwrap().contains("+Listen 1"), "{d}");
        assert_eq!(
            call(
                line,
                "file.line",
                json!([f]),
                json!({"content": "Listen 1", "mode": "ensure", "after": "Port.*"})
            )
            .await
            .unwrap(),
            json!(false)
        );
        let d = call(
            blockreplace,
            "file.blockreplace",
            json!([f, "#start", "#end", "managed\n"]),
            json!({"append_if_not_found": true, "backup": false}),
        )
        .await
        .unwrap();
        assert!(d.as_str().unwrap().contains("+managed"), "{d}");
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "LogLevel info\nPort 80\nListen 1\n#start\nmanaged\n#end\n"
        );
        let out = call(
            sed,
            "file.sed",
            json!([f, "Port 80", "Port 8/0"]),
            json!({"backup": ""}),
        )
        .await
        .unwrap();
        assert_eq!(out["retcode"], json!(0));
        assert!(std::fs::read_to_string(&f).unwrap().contains("Port 8/0"));
    }
}
