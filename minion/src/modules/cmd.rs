//! `cmd.*`: run commands, as Salt's `cmdmod` does.
//!
//! Every command runs in a process group of its own. When a command times
//! out (`timeout=`) or its job is killed (`saltutil.kill_job`), the whole
//! group is killed, so that `sh -c 'a & b'` leaves nothing behind. A command
//! that finishes normally may leave background children running, as in Salt.
//!
//! Salt's rules kept here: from the CLI `python_shell` defaults to True
//! (the command line is given to `shell -c`); with `python_shell=False` it
//! is split like a POSIX shell would and run directly. `cmd.run` returns
//! stdout and stderr together, trailing whitespace stripped; the command's
//! exit code becomes the job's retcode (so a failing command makes `brine`
//! exit 11) unless `ignore_retcode=True`. The `LC_*` locale variables are
//! set to `C` unless `reset_system_locale=False`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::unistd::{AccessFlags, Gid, Group, Uid, User};
use serde_json::{json, Map, Value};
use tracing::{error, info};

use brine_process::{Ending, Run};

use crate::registry::{
    as_f64, as_i64, as_str, as_str_list, ArgParser, Args, CallCtx, FunctionSpec, ModError,
    ModFuture, ModOutput,
};

/// Brine's default shell (Salt takes the `shell` grain; `/bin/sh` everywhere here).
pub const DEFAULT_SHELL: &str = "/bin/sh";

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "cmd.has_exec",
        doc: "Return True if the executable is found on the minion (in PATH, or as a path).\n\n\
              - cmd: the program name.",
        cli_example: "brine '*' cmd.has_exec cat",
        run: has_exec,
    },
    FunctionSpec {
        name: "cmd.retcode",
        doc: docs::RETCODE,
        cli_example: "brine '*' cmd.retcode 'file /bin/bash'",
        run: retcode,
    },
    FunctionSpec {
        name: "cmd.run",
        doc: docs::RUN,
        cli_example: "brine '*' cmd.run 'ls -l | awk \"/foo/{print \\$2}\"'\nbrine '*' cmd.run 'grep f' stdin='one\\ntwo\\nthree'\nbrine '*' cmd.run cmd='sed -e s/=/:/g'",
        run,
    },
    FunctionSpec {
        name: "cmd.run_all",
        doc: docs::RUN_ALL,
        cli_example: "brine '*' cmd.run_all 'ls -l /nonexistent'",
        run: run_all,
    },
    FunctionSpec {
        name: "cmd.run_bg",
        doc: "Start a command in the background and return {\"pid\": PID} at once; its output is discarded \
              and it is not killed when the job ends.\n\n\
              - cmd: the command line.\n\
              Takes cwd, runas, group, shell, python_shell, env, clean_env, prepend_path, umask, \
              reset_system_locale as cmd.run does.",
        cli_example: "brine '*' cmd.run_bg 'sleep 600 && touch /tmp/done'",
        run: run_bg,
    },
    FunctionSpec {
        name: "cmd.run_stderr",
        doc: docs::RUN_STDERR,
        cli_example: "brine '*' cmd.run_stderr 'ls /nonexistent'",
        run: run_stderr,
    },
    FunctionSpec {
        name: "cmd.run_stdout",
        doc: docs::RUN_STDOUT,
        cli_example: "brine '*' cmd.run_stdout 'ls -l /etc'",
        run: run_stdout,
    },
    FunctionSpec {
        name: "cmd.script",
        doc: docs::SCRIPT,
        cli_example: "brine '*' cmd.script /srv/scripts/runme.sh\nbrine '*' cmd.script /srv/scripts/runme.sh 'arg1 arg2 \"arg 3\"'",
        run: script,
    },
    FunctionSpec {
        name: "cmd.script_retcode",
        doc: "Run a script as cmd.script does and return only its exit code.\n\n\
              - source: the script: a path on the minion (salt:// needs the file server, not available yet).\n\
              - args: arguments, one string split like a shell would, or a list.\n\
              Takes the options of cmd.script.",
        cli_example: "brine '*' cmd.script_retcode /srv/scripts/runme.sh",
        run: script_retcode,
    },
    FunctionSpec {
        name: "cmd.shell",
        doc: docs::SHELL,
        cli_example: "brine '*' cmd.shell 'echo $HOME; ls | wc -l'",
        run: shell,
    },
    FunctionSpec {
        name: "cmd.which",
        doc: "Return the full path of an executable found in PATH, or None.\n\n\
              - cmd: the program name.",
        cli_example: "brine '*' cmd.which cat",
        run: which,
    },
];

/// The documentation texts that share the option list.
mod docs {
    macro_rules! with_options {
        ($head:expr) => {
            concat!(
                $head,
                "\n\
- cwd: directory to run in (default: the home directory of runas or of the minion's user, else /).\n\
- stdin: text given on standard input; `\\n` in it is read as a newline unless stdin_raw_newlines=True.\n\
- runas: user to run as (the minion must run as root to switch users; supplementary groups are dropped).\n\
- group: group to run as (root only).\n\
- shell: shell for the command line (default /bin/sh).\n\
- python_shell: True: run through `shell -c` (pipes, redirections, &&); False: split the line like a shell \
and run the program directly. Default True when called from the CLI, as in Salt.\n\
- env: environment variables to set, a dict (or a list of one-key dicts): env='{FOO: bar}'.\n\
- clean_env: start from an empty environment, with only env (default False).\n\
- prepend_path: directory put first in PATH.\n\
- umask: the umask in octal, e.g. umask=077.\n\
- timeout: seconds before the command's whole process group is killed; the job then fails with Timeout \
and the output so far.\n\
- rstrip: strip trailing whitespace from the output (default True).\n\
- hide_output: return empty output (default False).\n\
- ignore_retcode: do not fail the job on a non-zero exit code (default False).\n\
- success_retcodes: exit codes that count as 0, e.g. success_retcodes='[0, 2]'.\n\
- success_stdout, success_stderr: texts that, found in the output, make the exit code 0.\n\
- reset_system_locale: set the LC_* variables to C (default True).\n\
- output_loglevel: `quiet` keeps the command out of the minion log."
            )
        };
    }

    pub const RUN: &str = with_options!(
        "Run a command and return its output: stdout and stderr together (stderr separately with \
         redirect_stderr=False), trailing whitespace stripped. A non-zero exit code becomes the job's retcode.\n\n\
         - cmd: the command line.\n\
         - redirect_stderr: merge stderr into the output (default True).\n\
         - raise_err: fail the job with the output when the exit code is not 0 (default False).\n\
         - bg: start the command in the background and return '' at once (default False)."
    );
    pub const SHELL: &str = with_options!(
        "Run a command line through the shell (python_shell=True always) and return its output, \
         as cmd.run does.\n\n\
         - cmd: the command line.\n\
         - redirect_stderr: merge stderr into the output (default True)."
    );
    pub const RUN_ALL: &str = with_options!(
        "Run a command and return {pid, retcode, stdout, stderr}. A non-zero exit code becomes the job's retcode.\n\n\
         - cmd: the command line.\n\
         - redirect_stderr: merge stderr into stdout (default False)."
    );
    pub const RETCODE: &str = with_options!(
        "Run a command and return its exit code (also the job's retcode); the output goes to the minion log only.\n\n\
         - cmd: the command line."
    );
    pub const RUN_STDOUT: &str = with_options!(
        "Run a command and return its standard output only.\n\n\
         - cmd: the command line."
    );
    pub const RUN_STDERR: &str = with_options!(
        "Run a command and return its standard error only.\n\n\
         - cmd: the command line."
    );
    pub const SCRIPT: &str = with_options!(
        "Copy a script to a temporary file, run it (it needs a #! line) and return {pid, retcode, stdout, stderr}; \
         the temporary file goes in cwd when given, else in the system temp directory, and is removed afterwards. \
         A missing script returns retcode 1 with cache_error: True.\n\n\
         - source: the script: a path on the minion (salt:// needs the file server, not available yet).\n\
         - args: arguments, one string split like a shell would ('a \"b c\"'), or a list."
    );
}

// ---- options ------------------------------------------------------------------------

/// Options shared by the `cmd.*` functions (Salt's `_run` keywords).
#[derive(Debug, Clone)]
struct RunOpts {
    cwd: Option<String>,
    stdin: Option<String>,
    runas: Option<String>,
    group: Option<String>,
    shell: String,
    python_shell: bool,
    env: BTreeMap<String, String>,
    clean_env: bool,
    prepend_path: Option<String>,
    umask: Option<u32>,
    timeout: Option<f64>,
    rstrip: bool,
    hide_output: bool,
    ignore_retcode: bool,
    redirect_stderr: bool,
    reset_system_locale: bool,
    success_retcodes: Vec<i32>,
    success_stdout: Vec<String>,
    success_stderr: Vec<String>,
    quiet: bool,
}

/// Salt keywords accepted and ignored: they concern Windows, the log
/// format, or machinery Brine does not have.
const IGNORED: &[&str] = &[
    "output_encoding",
    "log_callback",
    "saltenv",
    "pillarenv",
    "pillar",
    "__env__",
    "use_vt",
    "password",
    "encoded_cmd",
    "windows_codepage",
];

/// Reads Salt's `env`: a dict, or a list of one-key dicts; values become
/// strings, None an empty string.
fn parse_env(v: Value) -> Result<BTreeMap<String, String>, ModError> {
    let mut out = BTreeMap::new();
    let mut add = |m: Map<String, Value>| -> Result<(), ModError> {
        for (k, v) in m {
            let s = match v {
                Value::Null => String::new(),
                other => as_str("env", &other)?,
            };
            out.insert(k, s);
        }
        Ok(())
    };
    match v {
        Value::Object(m) => add(m)?,
        Value::Array(items) => {
            for i in items {
                match i {
                    Value::Object(m) => add(m)?,
                    other => {
                        return Err(ModError::BadArguments(format!(
                            "env must be a dict or a list of dicts, not a list holding {other}"
                        )))
                    }
                }
            }
        }
        Value::Null => {}
        Value::String(s) if s.trim().is_empty() => {}
        other => {
            return Err(ModError::BadArguments(format!(
                "env must be a dict, e.g. env='{{FOO: bar}}', not {other}"
            )))
        }
    }
    Ok(out)
}

/// Salt's umask rule: octal, zero refused.
fn parse_umask(v: &Value) -> Result<u32, ModError> {
    let text = as_str("umask", v)?;
    let digits = text.trim().trim_start_matches('0');
    if digits.is_empty() {
        return Err(ModError::Failed("Zero umask is not allowed.".into()));
    }
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| ModError::Failed(format!("Invalid umask: '{text}'")))
}

/// What a function accepts beyond the options every `cmd.*` takes.
#[derive(Clone, Copy)]
struct Flavor {
    /// Position of `cwd` (then stdin, runas, group, shell follow).
    cwd_pos: usize,
    /// `Some(default)` when the function takes `redirect_stderr`.
    redirect_stderr: Option<bool>,
    /// `python_shell` when not given.
    python_shell: bool,
}

const RUN_FLAVOR: Flavor = Flavor {
    cwd_pos: 1,
    redirect_stderr: Some(true),
    python_shell: true,
};

fn parse_opts(a: &mut ArgParser, flavor: Flavor) -> Result<RunOpts, ModError> {
    let p = flavor.cwd_pos;
    let cwd = a.opt_str("cwd", p)?;
    let stdin = a.opt_str("stdin", p + 1)?;
    let runas = a.opt_str("runas", p + 2)?.filter(|s| !s.is_empty());
    let group = a.opt_str("group", p + 3)?.filter(|s| !s.is_empty());
    let shell = a
        .opt_str("shell", p + 4)?
        .unwrap_or_else(|| DEFAULT_SHELL.to_string());
    let python_shell = a.kw_bool("python_shell")?.unwrap_or(flavor.python_shell);
    let env = match a.kw("env") {
        Some(v) => parse_env(v)?,
        None => BTreeMap::new(),
    };
    let clean_env = a.kw_bool("clean_env")?.unwrap_or(false);
    if let Some(t) = a.kw("template") {
        return Err(ModError::Failed(format!(
            "template rendering ({}) is not available in Brine yet",
            as_str("template", &t).unwrap_or_default()
        )));
    }
    let rstrip = a.kw_bool("rstrip")?.unwrap_or(true);
    let umask = a.kw("umask").map(|v| parse_umask(&v)).transpose()?;
    let level = a.kw_str("output_loglevel")?;
    let quiet = level.as_deref() == Some("quiet");
    let hide_output = a.kw_bool("hide_output")?.unwrap_or(false);
    let timeout = match a.kw("timeout") {
        Some(v) => {
            let t = as_f64("timeout", &v)?;
            if !(0.0..=1.0e9).contains(&t) {
                return Err(ModError::BadArguments(format!(
                    "timeout must be a number of seconds, not {t}"
                )));
            }
            // Salt: timeout=0 means none.
            (t > 0.0).then_some(t)
        }
        None => None,
    };
    let reset_system_locale = a.kw_bool("reset_system_locale")?.unwrap_or(true);
    let ignore_retcode = a.kw_bool("ignore_retcode")?.unwrap_or(false);
    let redirect_stderr = match flavor.redirect_stderr {
        Some(default) => a.kw_bool("redirect_stderr")?.unwrap_or(default),
        None => false,
    };
    let prepend_path = a.kw_str("prepend_path")?.filter(|s| !s.is_empty());
    let success_retcodes = match a.kw("success_retcodes") {
        Some(v) => match &v {
            Value::Array(items) => items
                .iter()
                .map(|i| as_i64("success_retcodes", i).map(|n| n as i32))
                .collect::<Result<_, _>>()?,
            other => as_str_list("success_retcodes", other)?
                .iter()
                .map(|s| {
                    s.parse::<i32>().map_err(|_| {
                        ModError::BadArguments("success_retcodes must be a list of integers".into())
                    })
                })
                .collect::<Result<_, _>>()?,
        },
        None => Vec::new(),
    };
    let success_stdout = match a.kw("success_stdout") {
        Some(v) => as_str_list("success_stdout", &v)?,
        None => Vec::new(),
    };
    let success_stderr = match a.kw("success_stderr") {
        Some(v) => as_str_list("success_stderr", &v)?,
        None => Vec::new(),
    };
    let stdin_raw_newlines = a.kw_bool("stdin_raw_newlines")?.unwrap_or(false);
    let stdin = stdin.map(|s| {
        if stdin_raw_newlines {
            s
        } else {
            s.replace("\\n", "\n")
        }
    });
    a.ignore(IGNORED);
    Ok(RunOpts {
        cwd,
        stdin,
        runas,
        group,
        shell,
        python_shell,
        env,
        clean_env,
        prepend_path,
        umask,
        timeout,
        rstrip,
        hide_output,
        ignore_retcode,
        redirect_stderr,
        reset_system_locale,
        success_retcodes,
        success_stdout,
        success_stderr,
        quiet,
    })
}

// ---- running ------------------------------------------------------------------------

/// What ran and how it ended.
#[derive(Debug, Clone, PartialEq)]
struct Finished {
    pid: u32,
    retcode: i32,
    stdout: String,
    stderr: String,
}

impl Finished {
    fn to_value(&self) -> Value {
        json!({"pid": self.pid, "retcode": self.retcode, "stdout": self.stdout, "stderr": self.stderr})
    }
}

/// What to execute: a command line for the shell, or a program and its arguments.
enum Program {
    Line(String),
    Argv(Vec<String>),
}

pub use brine_process::shlex_split;

/// Removes a temporary file when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn is_executable(p: &Path) -> bool {
    p.is_file() && nix::unistd::access(p, AccessFlags::X_OK).is_ok()
}

/// Salt's `salt.utils.path.which`: PATH, then the usual system directories.
fn find_in_path(cmd: &str) -> Option<PathBuf> {
    if cmd.is_empty() {
        return None;
    }
    if cmd.contains('/') {
        let p = PathBuf::from(cmd);
        return is_executable(&p).then_some(p);
    }
    let path = std::env::var("PATH").unwrap_or_default();
    let mut dirs: Vec<&str> = path.split(':').filter(|d| !d.is_empty()).collect();
    for d in [
        "/bin",
        "/sbin",
        "/usr/bin",
        "/usr/sbin",
        "/usr/local/bin",
        "/usr/local/sbin",
    ] {
        if !dirs.contains(&d) {
            dirs.push(d);
        }
    }
    dirs.iter()
        .map(|d| Path::new(d).join(cmd))
        .find(|p| is_executable(p))
}

/// Who the command runs as.
struct Identity {
    /// Set when the command must switch to another user.
    user: Option<User>,
    /// Set when the command must switch to another group.
    gid: Option<Gid>,
    /// Home of the user the command runs as.
    home: Option<PathBuf>,
}

fn identity(opts: &RunOpts) -> Result<Identity, ModError> {
    let me = Uid::effective();
    let my_name = User::from_uid(me)
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| me.to_string());
    let mut id = Identity {
        user: None,
        gid: None,
        home: None,
    };
    if let Some(name) = &opts.runas {
        let user = User::from_name(name)
            .ok()
            .flatten()
            .ok_or_else(|| ModError::Failed(format!("User '{name}' is not available")))?;
        id.home = Some(user.dir.clone());
        if user.uid != me {
            if !me.is_root() {
                return Err(ModError::Failed(format!(
                    "Cannot run as user '{name}': the minion runs as '{my_name}', and only root can run commands \
                     as another user"
                )));
            }
            id.gid = Some(user.gid);
            id.user = Some(user);
        }
    }
    if let Some(name) = &opts.group {
        let group = Group::from_name(name)
            .ok()
            .flatten()
            .ok_or_else(|| ModError::Failed(format!("Group '{name}' is not available")))?;
        if group.gid != Gid::effective() || id.user.is_some() {
            if !me.is_root() {
                return Err(ModError::Failed(format!(
                    "Cannot run as group '{name}': the minion runs as '{my_name}', and only root can switch groups"
                )));
            }
            id.gid = Some(group.gid);
        }
    }
    if id.home.is_none() {
        id.home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .or_else(|| User::from_uid(me).ok().flatten().map(|u| u.dir));
    }
    Ok(id)
}

fn working_dir(opts: &RunOpts, id: &Identity) -> Result<PathBuf, ModError> {
    match &opts.cwd {
        Some(c) => {
            let p = PathBuf::from(c);
            if p.is_absolute() && p.is_dir() {
                Ok(p)
            } else {
                Err(ModError::Failed(format!(
                    "Specified cwd '{c}' either not absolute or does not exist"
                )))
            }
        }
        None => Ok(id
            .home
            .clone()
            .filter(|h| h.is_dir() && nix::unistd::access(h.as_path(), AccessFlags::R_OK).is_ok())
            .unwrap_or_else(|| PathBuf::from("/"))),
    }
}

fn resolve_shell(shell: &str) -> Result<PathBuf, ModError> {
    let found = if shell.contains('/') {
        let p = PathBuf::from(shell);
        is_executable(&p).then_some(p)
    } else {
        find_in_path(shell)
    };
    found.ok_or_else(|| ModError::Failed(format!("The shell {shell} is not available")))
}

/// The program and arguments to exec, umask applied through the shell.
fn argv(program: Program, opts: &RunOpts, shell: &Path) -> Result<Vec<String>, ModError> {
    let sh = shell.display().to_string();
    let mut argv = match program {
        Program::Line(line) if opts.python_shell => vec![sh.clone(), "-c".into(), line],
        Program::Line(line) => shlex_split(&line)
            .map_err(|e| ModError::Failed(format!("Unable to parse the command line: {e}")))?,
        Program::Argv(v) => v,
    };
    if argv.is_empty() || argv[0].is_empty() {
        return Err(ModError::Failed("No command given".into()));
    }
    if let Some(mask) = opts.umask {
        let mut wrapped = vec![
            sh,
            "-c".into(),
            format!("umask {mask:03o} && exec \"$@\""),
            "brine-umask".into(),
        ];
        wrapped.append(&mut argv);
        argv = wrapped;
    }
    Ok(argv)
}

fn first_word(cmd: &str) -> &str {
    cmd.split_whitespace().next().unwrap_or("")
}

fn build_command(
    argv: &[String],
    opts: &RunOpts,
    id: &Identity,
    cwd: &Path,
) -> std::process::Command {
    let mut c = std::process::Command::new(&argv[0]);
    c.args(&argv[1..]);
    c.current_dir(cwd);
    if opts.clean_env {
        c.env_clear();
    }
    if let Some(u) = &id.user {
        c.uid(u.uid.as_raw());
        c.env("HOME", &u.dir);
        c.env("USER", &u.name);
        c.env("LOGNAME", &u.name);
        c.env("SHELL", &u.shell);
    }
    if let Some(g) = id.gid {
        c.gid(g.as_raw());
    }
    if opts.reset_system_locale {
        for var in [
            "LC_CTYPE",
            "LC_NUMERIC",
            "LC_TIME",
            "LC_COLLATE",
            "LC_MONETARY",
            "LC_MESSAGES",
            "LC_PAPER",
            "LC_NAME",
            "LC_ADDRESS",
            "LC_TELEPHONE",
            "LC_MEASUREMENT",
            "LC_IDENTIFICATION",
            "LANGUAGE",
        ] {
            if !opts.env.contains_key(var) {
                c.env(var, "C");
            }
        }
    }
    c.envs(&opts.env);
    if let Some(pre) = &opts.prepend_path {
        let base = opts
            .env
            .get("PATH")
            .cloned()
            .or_else(|| {
                if opts.clean_env {
                    None
                } else {
                    std::env::var("PATH").ok()
                }
            })
            .unwrap_or_default();
        c.env(
            "PATH",
            if base.is_empty() {
                pre.clone()
            } else {
                format!("{pre}:{base}")
            },
        );
    }
    if !opts.env.contains_key("NOTIFY_SOCKET") {
        c.env_remove("NOTIFY_SOCKET");
    }
    c
}

fn format_secs(t: f64) -> String {
    if t.fract() == 0.0 {
        format!("{}", t as u64)
    } else {
        format!("{t}")
    }
}

/// Runs a command to its end (or its timeout) and collects its output.
async fn execute(program: Program, shown: &str, opts: &RunOpts) -> Result<Finished, ModError> {
    let id = identity(opts)?;
    let cwd = working_dir(opts, &id)?;
    let shell = resolve_shell(&opts.shell)?;
    let argv = argv(program, opts, &shell)?;
    if !opts.quiet {
        let who = opts
            .runas
            .as_deref()
            .map(|u| format!(" as user '{u}'"))
            .unwrap_or_default();
        info!(
            "Executing command '{}'{who} in directory '{}'",
            first_word(shown),
            cwd.display()
        );
    }
    let mut run = Run::new(build_command(&argv, opts, &id, &cwd))
        .merge_stderr(opts.redirect_stderr)
        .timeout(
            opts.timeout
                .and_then(|t| Duration::try_from_secs_f64(t).ok()),
        );
    if let Some(input) = &opts.stdin {
        run = run.stdin(input.as_bytes());
    }
    // Dropping this future (a killed job) kills the command's group.
    let done = brine_process::run_async(run)
        .await
        .map_err(|e| ModError::Failed(format!("Unable to run command '{shown}': {e}")))?;
    let (pid, out, err) = (done.pid, &done.stdout, &done.stderr);
    if done.ending != Ending::Exited {
        let t = opts.timeout.unwrap_or_default();
        let mut msg = match done.ending {
            Ending::Cancelled => format!("{shown} : Killed: the job was killed or timed out"),
            _ => format!("{shown} : Timed out after {} seconds", format_secs(t)),
        };
        let partial = [String::from_utf8_lossy(out), String::from_utf8_lossy(err)]
            .iter()
            .map(|s| s.trim_end().to_string())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        if !partial.is_empty() {
            msg.push_str("\nOutput before the timeout:\n");
            msg.push_str(&partial);
        }
        if !opts.quiet && done.ending == Ending::TimedOut {
            error!(
                "Command '{}' timed out after {} seconds",
                first_word(shown),
                format_secs(t)
            );
        }
        return Err(ModError::Timeout(msg));
    }
    let mut retcode = done.retcode();
    let mut stdout = String::from_utf8_lossy(out).into_owned();
    let mut stderr = String::from_utf8_lossy(err).into_owned();
    if opts.rstrip {
        stdout.truncate(stdout.trim_end().len());
        stderr.truncate(stderr.trim_end().len());
    }
    if opts.success_retcodes.contains(&retcode)
        || opts
            .success_stdout
            .iter()
            .any(|s| stdout.contains(s.as_str()))
        || opts
            .success_stderr
            .iter()
            .any(|s| stderr.contains(s.as_str()))
    {
        retcode = 0;
    }
    if retcode != 0 && !opts.ignore_retcode && !opts.quiet {
        error!(
            "Command '{}' failed with return code: {retcode}",
            first_word(shown)
        );
    }
    Ok(Finished {
        pid,
        retcode,
        stdout,
        stderr,
    })
}

/// Starts a command detached: its own process group, no output, not killed
/// with the job.
async fn execute_bg(program: Program, shown: &str, opts: &RunOpts) -> Result<u32, ModError> {
    let id = identity(opts)?;
    let cwd = working_dir(opts, &id)?;
    let shell = resolve_shell(&opts.shell)?;
    let argv = argv(program, opts, &shell)?;
    if !opts.quiet {
        info!(
            "Executing command '{}' in directory '{}'. Executing command in the background, no output will be logged.",
            first_word(shown),
            cwd.display()
        );
    }
    brine_process::spawn_detached(build_command(&argv, opts, &id, &cwd))
        .map_err(|e| ModError::Failed(format!("Unable to run command '{shown}': {e}")))
}

/// The job's retcode for a command's exit code.
fn job_retcode(opts: &RunOpts, retcode: i32) -> i32 {
    if opts.ignore_retcode {
        0
    } else {
        retcode
    }
}

// ---- functions ----------------------------------------------------------------------

fn run(_ctx: CallCtx, args: Args) -> ModFuture {
    run_line(args, false)
}

/// `cmd.shell`: `cmd.run` through the shell.
fn shell(_ctx: CallCtx, args: Args) -> ModFuture {
    run_line(args, true)
}

/// `cmd.run` and `cmd.shell`: stdout, or '' in the background.
fn run_line(args: Args, through_shell: bool) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let cmd = a.take_str("cmd", 0)?;
        let mut opts = parse_opts(&mut a, RUN_FLAVOR)?;
        let bg = a.kw_bool("bg")?.unwrap_or(false);
        let raise_err = a.kw_bool("raise_err")?.unwrap_or(false);
        a.finish()?;
        if through_shell {
            opts.python_shell = true;
        }
        if bg {
            execute_bg(Program::Line(cmd.clone()), &cmd, &opts).await?;
            return Ok(Value::String(String::new()).into());
        }
        let f = execute(Program::Line(cmd.clone()), &cmd, &opts).await?;
        if raise_err && f.retcode != 0 && !opts.ignore_retcode {
            return Err(ModError::Failed(if opts.hide_output {
                String::new()
            } else {
                f.stdout
            }));
        }
        let value = if opts.hide_output {
            String::new()
        } else {
            f.stdout
        };
        Ok(ModOutput {
            value: Value::String(value),
            retcode: job_retcode(&opts, f.retcode),
        })
    })
}

fn run_all(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let cmd = a.take_str("cmd", 0)?;
        let opts = parse_opts(
            &mut a,
            Flavor {
                redirect_stderr: Some(false),
                ..RUN_FLAVOR
            },
        )?;
        a.finish()?;
        let mut f = execute(Program::Line(cmd.clone()), &cmd, &opts).await?;
        if opts.hide_output {
            f.stdout.clear();
            f.stderr.clear();
        }
        Ok(ModOutput {
            value: f.to_value(),
            retcode: job_retcode(&opts, f.retcode),
        })
    })
}

fn retcode(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let cmd = a.take_str("cmd", 0)?;
        let opts = parse_opts(
            &mut a,
            Flavor {
                redirect_stderr: None,
                ..RUN_FLAVOR
            },
        )?;
        a.finish()?;
        let opts = RunOpts {
            redirect_stderr: true,
            ..opts
        };
        let f = execute(Program::Line(cmd.clone()), &cmd, &opts).await?;
        Ok(ModOutput {
            value: json!(f.retcode),
            retcode: job_retcode(&opts, f.retcode),
        })
    })
}

fn run_stdout(_ctx: CallCtx, args: Args) -> ModFuture {
    run_one_stream(args, false)
}

fn run_stderr(_ctx: CallCtx, args: Args) -> ModFuture {
    run_one_stream(args, true)
}

fn run_one_stream(args: Args, want_stderr: bool) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let cmd = a.take_str("cmd", 0)?;
        let opts = parse_opts(
            &mut a,
            Flavor {
                redirect_stderr: None,
                ..RUN_FLAVOR
            },
        )?;
        a.finish()?;
        let f = execute(Program::Line(cmd.clone()), &cmd, &opts).await?;
        let value = match (opts.hide_output, want_stderr) {
            (true, _) => String::new(),
            (false, true) => f.stderr,
            (false, false) => f.stdout,
        };
        Ok(ModOutput {
            value: Value::String(value),
            retcode: job_retcode(&opts, f.retcode),
        })
    })
}

fn run_bg(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let cmd = a.take_str("cmd", 0)?;
        let opts = parse_opts(&mut a, RUN_FLAVOR)?;
        a.finish()?;
        let pid = execute_bg(Program::Line(cmd.clone()), &cmd, &opts).await?;
        Ok(json!({"pid": pid}).into())
    })
}

const SCRIPT_FLAVOR: Flavor = Flavor {
    cwd_pos: 2,
    redirect_stderr: None,
    python_shell: true,
};

/// Copies `source` next to where it will run and runs it; `Ok(None)` when the
/// source does not exist (Salt's `cache_error`).
async fn run_script(
    source: &str,
    script_args: Option<Value>,
    opts: &RunOpts,
) -> Result<Option<Finished>, ModError> {
    if source.starts_with("salt://") {
        return Err(ModError::Failed(format!(
            "cmd.script: '{source}' needs the file server (not yet available); give a path on the minion"
        )));
    }
    if let Some((scheme, _)) = source.split_once("://") {
        if scheme != "file" {
            return Err(ModError::Failed(format!(
                "cmd.script: {scheme}:// sources are not supported yet; give a path on the minion"
            )));
        }
    }
    let path = Path::new(source.strip_prefix("file://").unwrap_or(source));
    let Ok(body) = std::fs::read(path) else {
        return Ok(None);
    };
    let mut extra = match script_args {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| as_str("args", i))
            .collect::<Result<Vec<_>, _>>()?,
        Some(other) => {
            let line = as_str("args", &other)?;
            shlex_split(&line).map_err(|e| {
                ModError::Failed(format!("Unable to parse the script arguments: {e}"))
            })?
        }
    };
    let id = identity(opts)?;
    let dir = match &opts.cwd {
        Some(c) => PathBuf::from(c),
        None => std::env::temp_dir(),
    };
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let tmp = dir.join(format!("brine-script-{:016x}{ext}", fastrand::u64(..)));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o700)
            .open(&tmp)?;
        f.write_all(&body)?;
        drop(f);
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o500))?;
        if let Some(u) = &id.user {
            nix::unistd::chown(&tmp, Some(u.uid), None).map_err(std::io::Error::from)?;
        }
        Ok(())
    };
    write().map_err(|e| {
        ModError::Failed(format!("cmd.script: cannot write {}: {e}", tmp.display()))
    })?;
    let _cleanup = TempFile(tmp.clone());
    let mut argv = vec![tmp.display().to_string()];
    argv.append(&mut extra);
    let shown = format!("{source} {}", argv[1..].join(" "))
        .trim_end()
        .to_string();
    let opts = RunOpts {
        python_shell: false,
        ..opts.clone()
    };
    execute(Program::Argv(argv), &shown, &opts).await.map(Some)
}

fn cache_error() -> Value {
    json!({"pid": 0, "retcode": 1, "stdout": "", "stderr": "", "cache_error": true})
}

fn script(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let source = a.take_str("source", 0)?;
        let script_args = a.opt("args", 1)?;
        let opts = parse_opts(&mut a, SCRIPT_FLAVOR)?;
        a.kw_bool("bg")?;
        a.finish()?;
        match run_script(&source, script_args, &opts).await? {
            None => Ok(ModOutput {
                value: cache_error(),
                retcode: 1,
            }),
            Some(mut f) => {
                if opts.hide_output {
                    f.stdout.clear();
                    f.stderr.clear();
                }
                Ok(ModOutput {
                    value: f.to_value(),
                    retcode: job_retcode(&opts, f.retcode),
                })
            }
        }
    })
}

fn script_retcode(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let source = a.take_str("source", 0)?;
        let script_args = a.opt("args", 1)?;
        let opts = parse_opts(&mut a, SCRIPT_FLAVOR)?;
        a.finish()?;
        let code = match run_script(&source, script_args, &opts).await? {
            None => 1,
            Some(f) => f.retcode,
        };
        Ok(ModOutput {
            value: json!(code),
            retcode: job_retcode(&opts, code),
        })
    })
}

fn which(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let cmd = a.take_str("cmd", 0)?;
        a.finish()?;
        Ok(find_in_path(&cmd)
            .map(|p| Value::String(p.display().to_string()))
            .unwrap_or(Value::Null)
            .into())
    })
}

fn has_exec(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let cmd = a.take_str("cmd", 0)?;
        a.finish()?;
        Ok(Value::Bool(find_in_path(&cmd).is_some()).into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{test_ctx, with_fun, ModFn};
    use std::time::Instant;

    async fn call(
        f: ModFn,
        name: &'static str,
        arg: Vec<Value>,
        kwarg: Value,
    ) -> Result<ModOutput, ModError> {
        let kwarg = kwarg.as_object().cloned().unwrap_or_default();
        with_fun(name, f(test_ctx(), Args::new(arg, kwarg))).await
    }

    async fn run_ok(cmd: &str, kwarg: Value) -> ModOutput {
        call(run, "cmd.run", vec![json!(cmd)], kwarg).await.unwrap()
    }

    #[test]
    fn shlex_like_python() {
        assert_eq!(
            shlex_split("a 'b c' \"d \\\" e\" f\\ g").unwrap(),
            vec!["a", "b c", "d \" e", "f g"]
        );
        assert_eq!(shlex_split("\"a\\nb\"").unwrap(), vec!["a\\nb"]);
        assert_eq!(shlex_split("  ").unwrap(), Vec::<String>::new());
        assert_eq!(shlex_split("''").unwrap(), vec![""]);
        assert_eq!(
            shlex_split("sed -e s/=/:/g").unwrap(),
            vec!["sed", "-e", "s/=/:/g"]
        );
        assert_eq!(
            shlex_split("'unclosed").unwrap_err(),
            "No closing quotation"
        );
        assert_eq!(shlex_split("x\\").unwrap_err(), "No escaped character");
    }

    #[tokio::test]
    async fn run_merges_stderr_and_strips() {
        let out = run_ok("echo out; echo err >&2; echo", json!({})).await;
        assert_eq!(out.value, json!("out\nerr"));
        assert_eq!(out.retcode, 0);
    }

    #[tokio::test]
    async fn failing_command_sets_the_retcode() {
        let out = run_ok("echo nope; exit 3", json!({})).await;
        assert_eq!((out.value, out.retcode), (json!("nope"), 3));
        let out = run_ok("exit 3", json!({"ignore_retcode": true})).await;
        assert_eq!(out.retcode, 0);
        let out = run_ok("exit 3", json!({"success_retcodes": [2, 3]})).await;
        assert_eq!(out.retcode, 0);
        let out = run_ok("exit 3", json!({"success_retcodes": "2, 3"})).await;
        assert_eq!(out.retcode, 0);
        let out = run_ok("exit 3", json!({"success_retcodes": 3})).await;
        assert_eq!(out.retcode, 0);
        let out = run_ok("echo fine; exit 3", json!({"success_stdout": ["fine"]})).await;
        assert_eq!(out.retcode, 0);
        let err = call(
            run,
            "cmd.run",
            vec![json!("echo bad; exit 1")],
            json!({"raise_err": true}),
        )
        .await
        .err()
        .unwrap();
        assert_eq!(err.to_string(), "bad");
    }

    #[tokio::test]
    async fn run_all_separates_streams() {
        let out = call(
            run_all,
            "cmd.run_all",
            vec![json!("echo o; echo e >&2; exit 2")],
            json!({}),
        )
        .await
        .unwrap();
        assert_eq!(out.retcode, 2);
        assert_eq!(out.value["stdout"], json!("o"));
        assert_eq!(out.value["stderr"], json!("e"));
        assert_eq!(out.value["retcode"], json!(2));
        assert!(out.value["pid"].as_u64().unwrap() > 0);
        let out = call(
            run_stderr,
            "cmd.run_stderr",
            vec![json!("echo o; echo e >&2")],
            json!({}),
        )
        .await
        .unwrap();
        assert_eq!(out.value, json!("e"));
        let out = call(
            run_stdout,
            "cmd.run_stdout",
            vec![json!("echo o; echo e >&2")],
            json!({}),
        )
        .await
        .unwrap();
        assert_eq!(out.value, json!("o"));
        let out = call(retcode, "cmd.retcode", vec![json!("exit 4")], json!({}))
            .await
            .unwrap();
        assert_eq!((out.value, out.retcode), (json!(4), 4));
    }

    #[tokio::test]
    async fn cwd_env_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().canonicalize().unwrap();
        let out = run_ok("pwd", json!({"cwd": d})).await;
        assert_eq!(out.value, json!(d.display().to_string()));
        let out = call(run, "cmd.run", vec![json!("pwd"), json!(d)], json!({}))
            .await
            .unwrap();
        assert_eq!(
            out.value,
            json!(d.display().to_string()),
            "cwd is the second positional"
        );
        let err = call(run, "cmd.run", vec![json!("ls"), json!("-l")], json!({}))
            .await
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "Specified cwd '-l' either not absolute or does not exist"
        );
        let out = run_ok(
            "echo $FOO-$BAR-$LC_ALL-$LC_CTYPE",
            json!({"env": {"FOO": "x", "BAR": 2}}),
        )
        .await;
        assert_eq!(out.value, json!("x-2--C"));
        let out = run_ok("echo $FOO", json!({"env": [{"FOO": "a"}, {"BAZ": "b"}]})).await;
        assert_eq!(out.value, json!("a"));
        let out = run_ok(
            "echo ${HOME:-unset}",
            json!({"clean_env": true, "env": {"A": "1"}}),
        )
        .await;
        assert_eq!(out.value, json!("unset"));
        let out = run_ok("tr a-z A-Z", json!({"stdin": "one\\ntwo"})).await;
        assert_eq!(out.value, json!("ONE\nTWO"));
        let out = run_ok("cat", json!({"stdin": "a\\nb", "stdin_raw_newlines": true})).await;
        assert_eq!(out.value, json!("a\\nb"));
        let out = run_ok("cat", json!({})).await;
        assert_eq!(out.value, json!(""), "no stdin given: /dev/null");
        let out = run_ok("echo $PATH", json!({"prepend_path": "/opt/x/bin"})).await;
        assert!(out.value.as_str().unwrap().starts_with("/opt/x/bin:"));
        let out = run_ok("umask", json!({"umask": "077"})).await;
        assert_eq!(out.value, json!("0077"));
    }

    #[tokio::test]
    async fn python_shell_false_runs_without_a_shell() {
        let dir = tempfile::tempdir().unwrap();
        let out = run_ok(
            "echo 'a  b' $HOME > x",
            json!({"python_shell": false, "cwd": dir.path()}),
        )
        .await;
        assert_eq!(out.value, json!("a  b $HOME > x"));
        assert!(!dir.path().join("x").exists());
        let err = call(
            run,
            "cmd.run",
            vec![json!("no-such-program-brine")],
            json!({"python_shell": false}),
        )
        .await
        .err()
        .unwrap();
        assert!(
            err.to_string()
                .starts_with("Unable to run command 'no-such-program-brine'"),
            "{err}"
        );
        let out = run_ok("echo a | tr a b", json!({})).await;
        assert_eq!(out.value, json!("b"), "the CLI default is a shell");
        let out = call(
            shell,
            "cmd.shell",
            vec![json!("echo a | tr a c")],
            json!({"python_shell": false}),
        )
        .await
        .unwrap();
        assert_eq!(out.value, json!("c"), "cmd.shell always uses the shell");
    }

    #[tokio::test]
    async fn bad_options_are_clear() {
        let err = call(
            run,
            "cmd.run",
            vec![json!("true")],
            json!({"shell": "/nonexistent/sh"}),
        )
        .await
        .err()
        .unwrap();
        assert_eq!(
            err.to_string(),
            "The shell /nonexistent/sh is not available"
        );
        let err = call(
            run,
            "cmd.run",
            vec![json!("true")],
            json!({"runas": "no-such-user-brine"}),
        )
        .await
        .err()
        .unwrap();
        assert_eq!(
            err.to_string(),
            "User 'no-such-user-brine' is not available"
        );
        let err = call(run, "cmd.run", vec![json!("true")], json!({"timeot": 3}))
            .await
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "cmd.run() got an unexpected keyword argument 'timeot'"
        );
        let err = call(run, "cmd.run", vec![json!("true")], json!({"umask": "0"}))
            .await
            .err()
            .unwrap();
        assert_eq!(err.to_string(), "Zero umask is not allowed.");
        let out = run_ok(
            "true",
            json!({"output_loglevel": "quiet", "saltenv": "base"}),
        )
        .await;
        assert_eq!(out.retcode, 0);
    }

    #[tokio::test]
    async fn runas_another_user_needs_root() {
        if Uid::effective().is_root() {
            let out = run_ok("id -un", json!({"runas": "nobody"})).await;
            assert_eq!(out.value, json!("nobody"));
            return;
        }
        let me = User::from_uid(Uid::effective()).unwrap().unwrap();
        let out = run_ok("id -un", json!({"runas": me.name})).await;
        assert_eq!(out.value, json!(me.name), "runas oneself is allowed");
        let err = call(run, "cmd.run", vec![json!("id")], json!({"runas": "root"}))
            .await
            .err()
            .unwrap();
        assert!(
            err.to_string().starts_with("Cannot run as user 'root'"),
            "{err}"
        );
    }

    fn alive(pid: i32) -> bool {
        // A zombie is dead for our purposes.
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(s) => !s
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z'),
            Err(_) => false,
        }
    }

    async fn wait_dead(pid: i32) -> bool {
        for _ in 0..100 {
            if !alive(pid) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("bg.pid");
        let cmd = format!(
            "echo started; sleep 30 & echo $! > {}; sleep 30",
            pidfile.display()
        );
        let t = Instant::now();
        let err = call(run, "cmd.run", vec![json!(cmd)], json!({"timeout": 1}))
            .await
            .err()
            .unwrap();
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        let ModError::Timeout(msg) = &err else {
            panic!("{err:?}")
        };
        assert!(msg.contains("Timed out after 1 seconds"), "{msg}");
        assert!(msg.contains("started"), "partial output kept: {msg}");
        let bg: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(
            wait_dead(bg).await,
            "the background grandchild {bg} survived"
        );
    }

    #[tokio::test]
    async fn dropping_the_job_kills_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("bg.pid");
        let cmd = format!("sleep 30 & echo $! > {}; sleep 30", pidfile.display());
        let task = tokio::spawn(with_fun(
            "cmd.run",
            run(test_ctx(), Args::new(vec![json!(cmd)], Map::new())),
        ));
        let mut bg = None;
        for _ in 0..200 {
            if let Ok(s) = std::fs::read_to_string(&pidfile) {
                if let Ok(p) = s.trim().parse::<i32>() {
                    bg = Some(p);
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let bg = bg.expect("the command started");
        assert!(alive(bg));
        task.abort();
        let _ = task.await;
        assert!(
            wait_dead(bg).await,
            "the background grandchild {bg} survived the kill"
        );
    }

    #[tokio::test]
    async fn script_runs_a_local_file() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("s.sh");
        std::fs::write(
            &src,
            "#!/bin/sh\necho \"$#:$1:$2\"; echo oops >&2; exit 5\n",
        )
        .unwrap();
        let out = call(
            script,
            "cmd.script",
            vec![json!(src), json!("one 'two words'")],
            json!({"cwd": dir.path()}),
        )
        .await
        .unwrap();
        assert_eq!(out.value["stdout"], json!("2:one:two words"));
        assert_eq!(out.value["stderr"], json!("oops"));
        assert_eq!(out.value["retcode"], json!(5));
        assert_eq!(out.retcode, 5);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "the temporary copy is removed");
        let out = call(
            script,
            "cmd.script",
            vec![json!("/nonexistent/x.sh")],
            json!({}),
        )
        .await
        .unwrap();
        assert_eq!(out.value["cache_error"], json!(true));
        assert_eq!(out.retcode, 1);
        let err = call(script, "cmd.script", vec![json!("salt://x.sh")], json!({}))
            .await
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .contains("needs the file server (not yet available)"),
            "{err}"
        );
        let out = call(
            script_retcode,
            "cmd.script_retcode",
            vec![json!(src)],
            json!({}),
        )
        .await
        .unwrap();
        assert_eq!(out.value, json!(5));
    }

    #[tokio::test]
    async fn which_and_run_bg() {
        let out = call(which, "cmd.which", vec![json!("sh")], json!({}))
            .await
            .unwrap();
        assert!(out.value.as_str().unwrap().ends_with("/sh"));
        let out = call(
            which,
            "cmd.which",
            vec![json!("no-such-program-brine")],
            json!({}),
        )
        .await
        .unwrap();
        assert_eq!(out.value, Value::Null);
        let out = call(has_exec, "cmd.has_exec", vec![json!("sh")], json!({}))
            .await
            .unwrap();
        assert_eq!(out.value, json!(true));
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("done");
        let t = Instant::now();
        let out = call(
            run_bg,
            "cmd.run_bg",
            vec![json!(format!("sleep 0.2; touch {}", marker.display()))],
            json!({}),
        )
        .await
        .unwrap();
        assert!(t.elapsed() < Duration::from_millis(150));
        assert!(out.value["pid"].as_u64().unwrap() > 0);
        for _ in 0..100 {
            if marker.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(marker.exists());
    }
}
