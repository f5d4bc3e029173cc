//! `cmd.*` states: run a shell command (`cmd.run`), a script from the file
//! server (`cmd.script`), or either only when a watched state changed
//! (`cmd.wait`, `cmd.wait_script`, through `mod_watch`).
//!
//! `unless`/`onlyif`/`creates` are handled by the runtime for every state
//! (as Salt's `_run_check` does); it calls [`run_all`] here.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use brine_process::{Ending, Run};

use serde_json::{Map, Value};

use crate::ctx::{StateArgs, StateCtx};
use crate::pyrepr::py_str;
use crate::registry::StateSpec;
use crate::result::StateResult;

pub const STATES: &[StateSpec] = &[
    StateSpec {
        name: "cmd.run",
        doc: "Run a command unless it is already done.\n\nname: the command (run by `shell -c`); cwd, runas, shell, env (list of one-key maps or a map), timeout, ignore_timeout, stateful, success_retcodes, success_stdout, success_stderr, hide_output; unless/onlyif/creates are handled for every state.",
        run,
        mod_watch: Some(mod_watch),
    },
    StateSpec {
        name: "cmd.script",
        doc: "Download a script from the file server and run it.\n\nname: the script (salt://...) and its arguments; source, template, defaults, context, args, cwd, runas, shell, env, timeout, stateful, success_retcodes.",
        run: script,
        mod_watch: Some(mod_watch),
    },
    StateSpec {
        name: "cmd.wait",
        doc: "Run a command only when a watched state changed (prefer cmd.run with onchanges).\n\nname: the command; same arguments as cmd.run.",
        run: wait,
        mod_watch: Some(mod_watch),
    },
    StateSpec {
        name: "cmd.wait_script",
        doc: "Run a script only when a watched state changed.\n\nname: the script; same arguments as cmd.script.",
        run: wait,
        mod_watch: Some(mod_watch),
    },
    StateSpec {
        name: "cmd.watch",
        doc: "Alias of cmd.wait.\n\nname: the command.",
        run: wait,
        mod_watch: Some(mod_watch),
    },
];

/// How to run one command (Salt's `cmd.run_all` options we honour).
#[derive(Debug, Clone, Default)]
pub struct CmdOpts {
    pub cwd: Option<String>,
    pub runas: Option<String>,
    pub shell: Option<String>,
    pub env: Vec<(String, String)>,
    pub timeout: Option<f64>,
    pub success_retcodes: Vec<i64>,
    pub success_stdout: Vec<String>,
    pub success_stderr: Vec<String>,
    pub hide_output: bool,
    /// The job's cancellation: a killed or timed-out job kills the
    /// command's process group at once, as the `cmd.*` functions do.
    pub cancel: crate::Cancel,
}

impl CmdOpts {
    /// The options named in a state's arguments (plus the grains' shell).
    pub fn from_args(ctx: &StateCtx<'_>, args: &Map<String, Value>) -> Result<CmdOpts, String> {
        let get = |k: &str| args.get(k).filter(|v| !v.is_null());
        let env = match get("env") {
            None => Vec::new(),
            Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), py_str(v))).collect(),
            Some(Value::Array(items)) => {
                let mut out = Vec::new();
                for item in items {
                    match item {
                        Value::Object(m) => {
                            out.extend(m.iter().map(|(k, v)| (k.clone(), py_str(v))));
                        }
                        _ => return Err(INVALID_ENV.to_string()),
                    }
                }
                out
            }
            Some(_) => return Err(INVALID_ENV.to_string()),
        };
        let list = |k: &str| -> Vec<Value> {
            match get(k) {
                Some(Value::Array(a)) => a.clone(),
                Some(v) => vec![v.clone()],
                None => Vec::new(),
            }
        };
        Ok(CmdOpts {
            cwd: get("cwd").map(py_str),
            runas: get("runas").map(py_str),
            shell: get("shell").or_else(|| ctx.grains.get("shell")).map(py_str),
            env,
            timeout: get("timeout").and_then(|v| match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            }),
            success_retcodes: list("success_retcodes")
                .iter()
                .filter_map(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
                .collect(),
            success_stdout: list("success_stdout").iter().map(py_str).collect(),
            success_stderr: list("success_stderr").iter().map(py_str).collect(),
            hide_output: get("hide_output").is_some_and(crate::high::graph::truthy),
            cancel: ctx.cancel.clone(),
        })
    }
}

const INVALID_ENV: &str = "Invalidly-formatted 'env' parameter. See documentation.";

/// What a finished command gave (Salt's `cmd.run_all` return).
#[derive(Debug, Clone, PartialEq)]
pub struct CmdOutput {
    pub pid: u32,
    pub retcode: i64,
    pub stdout: String,
    pub stderr: String,
}

impl CmdOutput {
    pub fn to_changes(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("pid".into(), Value::from(self.pid));
        m.insert("retcode".into(), Value::from(self.retcode));
        m.insert("stdout".into(), Value::String(self.stdout.clone()));
        m.insert("stderr".into(), Value::String(self.stderr.clone()));
        m
    }
}

pub use brine_process::{max_output_bytes, set_max_output_bytes, DEFAULT_MAX_OUTPUT_BYTES};

/// Runs `cmd` with `shell -c` through the process runner (its own process
/// group, capped output, timeout, the job's cancellation), as the minion's
/// `cmd.run_all` does, and shapes the result as the `cmd` states report it.
pub fn run_all(cmd: &str, opts: &CmdOpts) -> Result<CmdOutput, String> {
    let shell = opts.shell.clone().unwrap_or_else(|| "/bin/sh".to_string());
    let mut command = Command::new(&shell);
    command.arg("-c").arg(cmd);
    let mut home = std::env::var("HOME").ok();
    if let Some(user) = opts.runas.as_deref().filter(|u| !u.is_empty()) {
        let pw = nix::unistd::User::from_name(user)
            .ok()
            .flatten()
            .ok_or_else(|| format!("User '{user}' is not available"))?;
        if pw.uid != nix::unistd::geteuid() {
            command.uid(pw.uid.as_raw()).gid(pw.gid.as_raw());
            command
                .env("USER", user)
                .env("LOGNAME", user)
                .env("HOME", &pw.dir)
                .env("SHELL", &pw.shell);
        }
        home = Some(pw.dir.to_string_lossy().into_owned());
    }
    let cwd = opts.cwd.clone().or(home).unwrap_or_else(|| "/".to_string());
    command.current_dir(&cwd);
    for (k, v) in &opts.env {
        command.env(k, v);
    }
    let timeout = opts
        .timeout
        .and_then(|t| Duration::try_from_secs_f64(t).ok());
    let run = Run::new(command)
        .timeout(timeout)
        .cancel(opts.cancel.clone());
    let done = brine_process::run(run)
        .map_err(|e| format!("Unable to run command '{cmd}' with the context '{shell}': {e}"))?;
    let mut out = CmdOutput {
        pid: done.pid,
        retcode: i64::from(done.retcode()),
        stdout: done.stdout_lossy().trim_end().to_string(),
        stderr: done.stderr_lossy().trim_end().to_string(),
    };
    match done.ending {
        Ending::Exited => {}
        Ending::Cancelled => {
            out.retcode = 1;
            out.stderr = "Killed: the job was killed or timed out".to_string();
        }
        Ending::TimedOut => {
            out.retcode = 1;
            out.stdout = format!(
                "Timed out after {} seconds",
                opts.timeout.unwrap_or_default()
            );
        }
    }
    if opts.success_retcodes.contains(&out.retcode)
        || opts
            .success_stdout
            .iter()
            .any(|s| out.stdout.contains(s.as_str()))
        || opts
            .success_stderr
            .iter()
            .any(|s| out.stderr.contains(s.as_str()))
    {
        out.retcode = 0;
    }
    if opts.hide_output {
        out.stdout.clear();
        out.stderr.clear();
    }
    Ok(out)
}

/// `stateful`: `false`, `true`, or `[{test_name: cmd}]` (the command to run
/// instead under `test=True`).
fn stateful(args: &StateArgs) -> (bool, Option<String>) {
    match args.get("stateful") {
        Some(Value::Array(items)) => {
            let test_name = items.first().and_then(|i| i.get("test_name")).map(py_str);
            (test_name.is_some(), test_name)
        }
        Some(Value::Bool(true)) => (true, None),
        _ => (false, None),
    }
}

fn cwd_missing(cwd: Option<&str>) -> Option<String> {
    cwd.filter(|c| !std::path::Path::new(c).is_dir())
        .map(|c| format!("Desired working directory \"{c}\" is not available"))
}

/// `cmd.run`.
pub fn run(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let (is_stateful, test_name) = stateful(args);
    let mut name = args.name.clone();
    if ctx.test {
        if let Some(t) = &test_name {
            name = t.clone();
        }
    }
    let mut ret = StateResult::fail(&args.name, "");
    ret.name = name.clone();
    let opts = match CmdOpts::from_args(ctx, &args.args) {
        Ok(o) => o,
        Err(e) => {
            ret.comment = e;
            return ret;
        }
    };
    if ctx.test && test_name.is_none() {
        ret.result = None;
        ret.comment = format!("Command \"{name}\" would have been executed");
        ret.changes.insert("cmd".into(), Value::String(name));
        return if is_stateful { reinterpret(ret) } else { ret };
    }
    if let Some(msg) = cwd_missing(opts.cwd.as_deref()) {
        ret.comment = msg;
        return ret;
    }
    let out = match run_all(&name, &opts) {
        Ok(o) => o,
        Err(e) => {
            ret.comment = e;
            return ret;
        }
    };
    ret.changes = out.to_changes();
    ret.result = Some(out.retcode == 0);
    ret.comment = format!("Command \"{name}\" run");
    if args.bool("ignore_timeout", false)
        && out.retcode == 1
        && out.stdout.contains("Timed out after")
    {
        ret.changes.insert("retcode".into(), Value::from(0));
        ret.result = Some(true);
    }
    if is_stateful {
        ret = reinterpret(ret);
    }
    if ctx.test && out.retcode == 0 && !ret.changes.is_empty() {
        ret.result = None;
    }
    ret
}

/// `cmd.script`.
pub fn script(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let (is_stateful, test_name) = stateful(args);
    let mut name = args.name.clone();
    if ctx.test {
        if let Some(t) = &test_name {
            name = t.clone();
        }
    }
    let mut ret = StateResult::fail(&name, "");
    let opts = match CmdOpts::from_args(ctx, &args.args) {
        Ok(o) => o,
        Err(e) => {
            ret.comment = e;
            return ret;
        }
    };
    for key in ["context", "defaults"] {
        if args
            .get(key)
            .is_some_and(|v| !v.is_object() && crate::high::graph::truthy(v))
        {
            ret.comment =
                format!("Invalidly-formatted '{key}' parameter. Must be formed as a dict.");
            return ret;
        }
    }
    let source = args
        .str("source")
        .unwrap_or_else(|| name.split_whitespace().next().unwrap_or("").to_string());
    let script_args = args
        .str("args")
        .or_else(|| name.split_once(' ').map(|(_, rest)| rest.to_string()))
        .unwrap_or_default();
    if ctx.test && test_name.is_none() {
        ret.result = None;
        ret.comment = format!("Command '{name}' would have been executed");
        return if is_stateful { reinterpret(ret) } else { ret };
    }
    if let Some(msg) = cwd_missing(opts.cwd.as_deref()) {
        ret.comment = msg;
        return ret;
    }
    let saltenv = args.str("saltenv").unwrap_or_else(|| ctx.saltenv.clone());
    let path = match fetch_script(ctx, &saltenv, &source, args) {
        Ok(Some(p)) => p,
        Ok(None) => {
            ret.changes = CmdOutput {
                pid: 0,
                retcode: 1,
                stdout: String::new(),
                stderr: String::new(),
            }
            .to_changes();
            ret.changes.insert("cache_error".into(), Value::Bool(true));
            ret.comment = format!("Unable to cache script {source} from saltenv '{saltenv}'");
            return ret;
        }
        Err(e) => {
            ret.comment = e;
            return ret;
        }
    };
    let line = if script_args.is_empty() {
        path.display().to_string()
    } else {
        format!("{} {script_args}", path.display())
    };
    let result = run_all(&line, &opts);
    let _ = std::fs::remove_file(&path);
    let out = match result {
        Ok(o) => o,
        Err(e) => {
            ret.comment = e;
            return ret;
        }
    };
    ret.changes = out.to_changes();
    ret.result = Some(out.retcode == 0);
    ret.comment = format!("Command '{name}' run");
    if is_stateful {
        ret = reinterpret(ret);
    }
    if ctx.test && out.retcode == 0 && !ret.changes.is_empty() {
        ret.result = None;
    }
    ret
}

/// Copies the script into the cachedir (rendered when `template:` is set),
/// executable; `Ok(None)` when the source does not exist.
fn fetch_script(
    ctx: &StateCtx<'_>,
    saltenv: &str,
    source: &str,
    args: &StateArgs,
) -> Result<Option<std::path::PathBuf>, String> {
    let bytes = if let Some(rel) = source.strip_prefix("salt://") {
        match ctx.files.read(saltenv, rel) {
            Ok(Some(b)) => b,
            Ok(None) => return Ok(None),
            Err(e) => return Err(e.to_string()),
        }
    } else {
        match std::fs::read(source) {
            Ok(b) => b,
            Err(_) => return Ok(None),
        }
    };
    let bytes = match args.str("template") {
        Some(engine) if !engine.is_empty() => {
            let mut extra = args
                .get("defaults")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            if let Some(c) = args.get("context").and_then(Value::as_object) {
                extra.extend(c.clone());
            }
            let text = String::from_utf8_lossy(&bytes);
            ctx.templates
                .render(&engine, &text, source, &extra)?
                .into_bytes()
        }
        _ => bytes,
    };
    let dir = ctx.cachedir.join("extmods").join("scripts");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let path = dir.join(format!("script-{}-{nanos}-{n}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| e.to_string())?;
    std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| e.to_string())?;
    Ok(Some(path))
}

/// `cmd.wait`, `cmd.wait_script`, `cmd.watch`: nothing until watched.
pub fn wait(_ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    StateResult::ok(&args.name, "")
}

/// What a fired `watch` runs: the command (or script) of the watching state.
/// The runtime passes the original function as `sfun`.
pub fn mod_watch(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let sfun = args.str("sfun").unwrap_or_default();
    match sfun.as_str() {
        "wait" | "run" | "watch" => run(ctx, args),
        "wait_script" | "script" => script(ctx, args),
        _ => StateResult::fail(
            &args.name,
            format!(
                "cmd.{sfun} does not work with the watch requisite, please use cmd.wait or cmd.wait_script"
            ),
        ),
    }
}

/// `stateful: True`: the command's last output line (or JSON object) says
/// whether it changed anything (Salt's `_reinterpreted_state`).
fn reinterpret(mut state: StateResult) -> StateResult {
    let ret = std::mem::take(&mut state.changes);
    state.comment.clear();
    let out = ret.get("stdout").map(py_str).unwrap_or_default();
    if out.is_empty() {
        if let Some(err) = ret.get("stderr").map(py_str).filter(|e| !e.is_empty()) {
            state.comment = err;
        }
        return state;
    }
    let mut idx: Option<usize> = None;
    let (mut data, is_json) = match serde_json::from_str::<Value>(&out) {
        Ok(Value::Object(m)) => (m, true),
        Ok(_) => {
            state.comment = "script JSON output must be a JSON object (e.g., {})!".into();
            state.result = Some(false);
            return state;
        }
        Err(_) => {
            let trimmed = out.trim_end();
            let last = match trimmed.rfind('\n') {
                Some(i) => {
                    idx = Some(i);
                    &out[i + 1..]
                }
                None => out.as_str(),
            };
            let mut data = Map::new();
            for item in shell_words(last) {
                match item.split_once('=') {
                    Some((k, v)) if !v.contains('=') => {
                        data.insert(k.to_string(), Value::String(v.to_string()));
                    }
                    _ => {
                        state.comment = "Failed parsing script output! Stdout must be JSON or a line of name=value pairs.".into();
                        state.result = Some(false);
                        state.changes.extend(ret);
                        return state;
                    }
                }
            }
            (data, false)
        }
    };
    let changed = match data.get("changed").map(py_str) {
        None => false,
        Some(v) => match v.to_lowercase().as_str() {
            "true" | "yes" | "1" => true,
            "false" | "no" | "0" => false,
            _ => {
                state.comment = format!("Failed parsing boolean value: {v}");
                state.result = Some(false);
                return state;
            }
        },
    };
    if let Some(c) = data.shift_remove("comment") {
        state.comment = py_str(&c);
    }
    if changed {
        for (k, v) in &ret {
            data.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let stdout = if is_json {
            String::new()
        } else {
            let full = data.get("stdout").map(py_str).unwrap_or_default();
            match idx {
                Some(i) if i <= full.len() => full[..i].to_string(),
                Some(_) => full,
                // Salt slices with rfind's -1 here: the last character goes
                None => {
                    let mut f = full;
                    f.pop();
                    f
                }
            }
        };
        data.insert("stdout".into(), Value::String(stdout));
        state.changes = data;
    }
    state
}

/// Splits like a POSIX shell: whitespace-separated, quotes grouping.
fn shell_words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}
