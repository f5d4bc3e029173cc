//! `git.*`: the host's `git` run in a working directory, as a user; Salt's
//! names, arguments and returns. The command line is built in
//! `brine_states::modules::sys::git`, shared with the `git` states.

use std::path::{Path, PathBuf};

use brine_states::modules::sys::git as gitcli;
use serde_json::{json, Map, Value};

use super::cmd::shlex_split;
use crate::registry::{ArgParser, Args, CallCtx, FunctionSpec, ModError, ModFuture};

macro_rules! doc {
    ($summary:literal, $args:literal) => {
        concat!(
            $summary,
            "\n\n",
            $args,
            "- opts: extra options for the git subcommand, one string.\n\
                      - git_opts: options for git itself, before the subcommand.\n\
                      - user: the user to run git as.\n\
                      - password, identity, https_user, https_pass, ignore_retcode, saltenv, \
                      output_encoding: accepted for Salt compatibility."
        )
    };
}

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "git.checkout",
        doc: doc!("Check out a revision (or create a branch with opts='-b name'); returns git's message.",
            "- cwd: the work tree.\n- rev: the branch, tag or commit.\n- force: discard local changes (-f).\n"),
        cli_example: "brine myminion git.checkout /path/to/repo somebranch user=jeff",
        run: checkout,
    },
    FunctionSpec {
        name: "git.clone",
        doc: doc!("Clone a repository; returns True.",
            "- cwd: where to clone to; with name, the directory to clone into.\n- url: the repository.\n- name: the clone's directory name under cwd.\n"),
        cli_example: "brine myminion git.clone /path/to/repo_parent_dir git://github.com/saltstack/salt.git name=salt",
        run: clone,
    },
    FunctionSpec {
        name: "git.current_branch",
        doc: doc!("Return the checked-out branch ('HEAD' when detached).", "- cwd: the work tree.\n"),
        cli_example: "brine myminion git.current_branch /path/to/repo",
        run: current_branch,
    },
    FunctionSpec {
        name: "git.describe",
        doc: doc!("Return `git describe --always` of a revision.",
            "- cwd: the work tree.\n- rev: the revision (default HEAD).\n"),
        cli_example: "brine myminion git.describe /path/to/repo develop",
        run: describe,
    },
    FunctionSpec {
        name: "git.fetch",
        doc: doc!("Fetch from a remote; returns the refs that changed: {'new branches': [...], \
              'new tags': [...], 'updated branches': {ref: {old, new}}, 'updated tags': [...]}.",
            "- cwd: the work tree.\n- remote: the remote (default: git's).\n- force: allow non-fast-forward updates (--force).\n- refspecs: a refspec or a list of them.\n"),
        cli_example: "brine myminion git.fetch /path/to/repo upstream",
        run: fetch,
    },
    FunctionSpec {
        name: "git.init",
        doc: doc!("Create a git repository (empty; --bare with bare=True); returns git's message.",
            "- cwd: the repository's path.\n- bare: a bare repository.\n- template, separate_git_dir, shared: as git init's options.\n"),
        cli_example: "brine myminion git.init /path/to/bare/repo.git bare=True",
        run: init,
    },
    FunctionSpec {
        name: "git.pull",
        doc: doc!("Pull from the upstream of the checked-out branch; returns git's output.", "- cwd: the work tree.\n"),
        cli_example: "brine myminion git.pull /path/to/repo opts='--rebase origin master'",
        run: pull,
    },
    FunctionSpec {
        name: "git.rev_parse",
        doc: doc!("Return `git rev-parse` of a revision (or what opts ask, e.g. --abbrev-ref).",
            "- cwd: the work tree.\n- rev: the revision.\n"),
        cli_example: "brine myminion git.rev_parse /path/to/repo HEAD opts='--abbrev-ref'",
        run: rev_parse,
    },
    FunctionSpec {
        name: "git.revision",
        doc: doc!("Return the commit id a revision names.",
            "- cwd: the work tree.\n- rev: the revision (default HEAD).\n- short: the abbreviated id.\n"),
        cli_example: "brine myminion git.revision /path/to/repo mybranch",
        run: revision,
    },
    FunctionSpec {
        name: "git.status",
        doc: doc!("Return the changed files of the work tree: {'modified': [...], 'new': [...], \
              'deleted': [...], 'untracked': [...]} (other git states under their code).",
            "- cwd: the work tree.\n"),
        cli_example: "brine myminion git.status /path/to/repo",
        run: status,
    },
];

/// What every function takes besides its own arguments.
struct Common {
    opts: Vec<String>,
    git_opts: Vec<String>,
    user: Option<String>,
}

/// Reads the shared keywords (`opts` and `git_opts` may also come by
/// position where Salt puts them: `opts_pos`).
fn common(a: &mut ArgParser, opts_pos: Option<usize>) -> Result<Common, ModError> {
    let split = |name: &str, v: Option<String>| -> Result<Vec<String>, ModError> {
        v.map(|s| shlex_split(&s).map_err(|e| ModError::BadArguments(format!("{name}: {e}"))))
            .transpose()
            .map(Option::unwrap_or_default)
    };
    let opts = match opts_pos {
        Some(p) => a.opt_str("opts", p)?,
        None => a.kw_str("opts")?,
    };
    let opts = split("opts", opts)?;
    let git_opts = split("git_opts", a.kw_str("git_opts")?)?;
    let user = a.kw_str("user")?;
    a.ignore(&[
        "password",
        "identity",
        "https_user",
        "https_pass",
        "ignore_retcode",
        "saltenv",
        "output_encoding",
    ]);
    Ok(Common {
        opts,
        git_opts,
        user,
    })
}

/// Runs git off the async runtime; stdout and stderr.
async fn git(
    cwd: Option<PathBuf>,
    c: Common,
    args: Vec<String>,
) -> Result<(String, String), ModError> {
    tokio::task::spawn_blocking(move || {
        gitcli::run(cwd.as_deref(), c.user.as_deref(), &c.git_opts, &args)
            .map(|o| (o.stdout, o.stderr))
            .map_err(ModError::Failed)
    })
    .await
    .map_err(|e| ModError::Failed(e.to_string()))?
}

/// An absolute `cwd`, as Salt requires.
fn cwd_arg(a: &mut ArgParser) -> Result<PathBuf, ModError> {
    let cwd = a.take_str("cwd", 0)?;
    if !Path::new(&cwd).is_absolute() {
        return Err(ModError::BadArguments(format!(
            "Path '{cwd}' is not absolute"
        )));
    }
    Ok(PathBuf::from(cwd))
}

fn trimmed(s: String) -> Value {
    Value::String(s.trim_end().to_string())
}

fn clone(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let cwd = cwd_arg(&mut a)?;
        let url = a.opt_str("url", 1)?;
        let name = a.opt_str("name", 2)?;
        let c = common(&mut a, Some(3))?;
        a.finish()?;
        let Some(url) = url else {
            return Err(ModError::BadArguments("Missing 'url' argument".into()));
        };
        // With name, cwd is the parent; without, cwd is the clone itself.
        let (run_in, dest) = match name {
            Some(n) => (cwd.clone(), n),
            None => {
                let parent = cwd
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| "/".into());
                let base = cwd
                    .file_name()
                    .map(|b| b.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (parent, base)
            }
        };
        if !run_in.is_dir() {
            return Err(ModError::Failed(format!(
                "Location '{}' does not exist",
                run_in.display()
            )));
        }
        let mut argv = vec!["clone".to_string()];
        argv.extend(c.opts.iter().cloned());
        argv.extend(["--".into(), url, dest]);
        git(Some(run_in), c, argv).await?;
        Ok(Value::Bool(true).into())
    })
}

fn init(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let cwd = cwd_arg(&mut a)?;
        let bare = a.opt_bool("bare", 1)?.unwrap_or(false);
        let template = a.opt_str("template", 2)?;
        let separate_git_dir = a.opt_str("separate_git_dir", 3)?;
        let shared = a.opt_str("shared", 4)?;
        let c = common(&mut a, Some(5))?;
        a.finish()?;
        let out = tokio::task::spawn_blocking(move || {
            let o = gitcli::Init {
                bare,
                template: template.as_deref(),
                separate_git_dir: separate_git_dir.as_deref(),
                shared: shared.as_deref(),
                user: c.user.as_deref(),
            };
            gitcli::init(&cwd, &o, &c.opts, &c.git_opts)
        })
        .await
        .map_err(|e| ModError::Failed(e.to_string()))?
        .map_err(ModError::Failed)?;
        Ok(Value::String(out).into())
    })
}

fn pull(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let cwd = cwd_arg(&mut a)?;
        let c = common(&mut a, Some(1))?;
        a.finish()?;
        let mut argv = vec!["pull".to_string()];
        argv.extend(c.opts.iter().cloned());
        let (out, _) = git(Some(cwd), c, argv).await?;
        Ok(trimmed(out).into())
    })
}

fn fetch(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let cwd = cwd_arg(&mut a)?;
        let remote = a.opt_str("remote", 1)?;
        let force = a.opt_bool("force", 2)?.unwrap_or(false);
        let refspecs = a.opt("refspecs", 3)?;
        let c = common(&mut a, Some(4))?;
        a.finish()?;
        let mut argv = vec!["fetch".to_string()];
        if force {
            argv.push("--force".into());
        }
        argv.extend(c.opts.iter().cloned());
        if let Some(r) = remote {
            argv.push(r);
        }
        match refspecs {
            Some(Value::Array(list)) => argv.extend(list.iter().map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })),
            Some(Value::String(s)) => argv.extend(s.split(',').map(|p| p.trim().to_string())),
            Some(other) => argv.push(other.to_string()),
            None => {}
        }
        // git reports what it fetched on stderr.
        let (_, err) = git(Some(cwd), c, argv).await?;
        Ok(Value::Object(gitcli::parse_fetch(&err)).into())
    })
}

fn checkout(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let cwd = cwd_arg(&mut a)?;
        let rev = a.opt_str("rev", 1)?;
        let force = a.opt_bool("force", 2)?.unwrap_or(false);
        let c = common(&mut a, Some(3))?;
        a.finish()?;
        let mut argv = vec!["checkout".to_string()];
        if force {
            argv.push("--force".into());
        }
        argv.extend(c.opts.iter().cloned());
        match rev {
            Some(r) => argv.push(r),
            None if c.opts.iter().any(|o| o == "-b" || o == "-B") => {}
            None => {
                return Err(ModError::BadArguments(
                    "'rev' argument is required unless -b or -B in opts".into(),
                ))
            }
        }
        // git checkout talks on stderr ("Switched to branch 'x'").
        let (out, err) = git(Some(cwd), c, argv).await?;
        let text = if err.trim().is_empty() { out } else { err };
        Ok(trimmed(text).into())
    })
}

fn rev_parse(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let cwd = cwd_arg(&mut a)?;
        let rev = a.opt_str("rev", 1)?;
        let c = common(&mut a, Some(2))?;
        a.finish()?;
        let mut argv = vec!["rev-parse".to_string()];
        argv.extend(c.opts.iter().cloned());
        argv.extend(rev);
        let (out, _) = git(Some(cwd), c, argv).await?;
        Ok(trimmed(out).into())
    })
}

fn revision(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let cwd = cwd_arg(&mut a)?;
        let rev = a.opt_str("rev", 1)?.unwrap_or_else(|| "HEAD".into());
        let short = a.opt_bool("short", 2)?.unwrap_or(false);
        let c = common(&mut a, None)?;
        a.finish()?;
        let mut argv = vec!["rev-parse".to_string()];
        if short {
            argv.push("--short".into());
        }
        argv.push(rev);
        let (out, _) = git(Some(cwd), c, argv).await?;
        Ok(trimmed(out).into())
    })
}

fn current_branch(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let cwd = cwd_arg(&mut a)?;
        let c = common(&mut a, None)?;
        a.finish()?;
        let argv = vec!["rev-parse".into(), "--abbrev-ref".into(), "HEAD".into()];
        let (out, _) = git(Some(cwd), c, argv).await?;
        Ok(trimmed(out).into())
    })
}

fn describe(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let cwd = cwd_arg(&mut a)?;
        let rev = a.opt_str("rev", 1)?.unwrap_or_else(|| "HEAD".into());
        let c = common(&mut a, None)?;
        a.finish()?;
        let argv = vec!["describe".into(), "--always".into(), rev];
        let (out, _) = git(Some(cwd), c, argv).await?;
        Ok(trimmed(out).into())
    })
}

fn status(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let cwd = cwd_arg(&mut a)?;
        let c = common(&mut a, None)?;
        a.finish()?;
        let argv = vec!["status".into(), "-z".into(), "--porcelain".into()];
        let (out, _) = git(Some(cwd), c, argv).await?;
        let mut ret = Map::new();
        for entry in out.split('\0') {
            let Some((state, file)) = entry.trim_start().split_once(char::is_whitespace) else {
                continue;
            };
            let key = match state {
                "M" => "modified",
                "A" => "new",
                "D" => "deleted",
                "??" => "untracked",
                other => other,
            };
            if let Value::Array(list) = ret.entry(key).or_insert_with(|| json!([])) {
                list.push(json!(file.trim_start()));
            }
        }
        Ok(Value::Object(ret).into())
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

    fn sh(dir: &Path, script: &str) {
        let ok = std::process::Command::new("sh")
            .args(["-c", script])
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .status()
            .unwrap()
            .success();
        assert!(ok, "{script}");
    }

    #[tokio::test]
    async fn clone_fetch_pull_checkout_and_inspect() {
        let tmp = tempfile::TempDir::new().unwrap();
        let t = tmp.path();
        let origin = t.join("origin");
        let origin_s = origin.to_string_lossy().to_string();
        let init = call(init, "git.init", json!([origin_s]), json!({}))
            .await
            .unwrap();
        assert!(init
            .as_str()
            .unwrap()
            .contains("Initialized empty Git repository"));
        sh(&origin, "git checkout -q -b main && echo one > f && git add f && git commit -qm one && git tag -a v1 -m v1");
        let dest = t.join("clone").to_string_lossy().to_string();
        let v = call(clone, "git.clone", json!([dest, origin_s]), json!({}))
            .await
            .unwrap();
        assert_eq!(v, json!(true));
        assert_eq!(
            call(
                current_branch,
                "git.current_branch",
                json!([dest]),
                json!({})
            )
            .await
            .unwrap(),
            json!("main")
        );
        let head = call(revision, "git.revision", json!([dest]), json!({}))
            .await
            .unwrap();
        assert_eq!(head.as_str().unwrap().len(), 40);
        assert_eq!(
            call(rev_parse, "git.rev_parse", json!([dest, "HEAD"]), json!({}))
                .await
                .unwrap(),
            head
        );
        assert_eq!(
            call(describe, "git.describe", json!([dest]), json!({}))
                .await
                .unwrap(),
            json!("v1")
        );
        // New upstream work: fetch reports it, pull brings it.
        sh(
            &origin,
            "echo two > f && git commit -qam two && git checkout -q -b dev",
        );
        let f = call(fetch, "git.fetch", json!([dest]), json!({}))
            .await
            .unwrap();
        assert_eq!(f["new branches"], json!(["dev"]), "{f}");
        assert!(f["updated branches"]["main"]["new"].is_string(), "{f}");
        call(pull, "git.pull", json!([dest]), json!({}))
            .await
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(Path::new(&dest).join("f")).unwrap(),
            "two\n"
        );
        let out = call(checkout, "git.checkout", json!([dest, "dev"]), json!({}))
            .await
            .unwrap();
        assert!(out.as_str().unwrap().contains("dev"), "{out}");
        // Status sorts changes as Salt does.
        sh(
            Path::new(&dest),
            "echo x > f && echo n > new && git rm -q --cached f >/dev/null; true",
        );
        std::fs::write(Path::new(&dest).join("u"), "u").unwrap();
        let st = call(status, "git.status", json!([dest]), json!({}))
            .await
            .unwrap();
        assert!(
            st["untracked"].as_array().unwrap().contains(&json!("u")),
            "{st}"
        );
        assert_eq!(st["deleted"], json!(["f"]), "{st}");
        // Clone with name: cwd is the parent.
        let v = call(
            clone,
            "git.clone",
            json!([t.to_string_lossy(), origin_s]),
            json!({"name": "named", "opts": "--depth 1 --branch main"}),
        )
        .await
        .unwrap();
        assert_eq!(v, json!(true));
        assert!(t.join("named/.git").is_dir());
    }

    #[tokio::test]
    async fn failures_say_which_command_failed() {
        let tmp = tempfile::TempDir::new().unwrap();
        let d = tmp.path().to_string_lossy().to_string();
        let e = call(rev_parse, "git.rev_parse", json!([d, "HEAD"]), json!({}))
            .await
            .unwrap_err();
        assert!(
            e.starts_with("Command 'git rev-parse HEAD' failed: "),
            "{e}"
        );
        let e = call(status, "git.status", json!(["relative"]), json!({}))
            .await
            .unwrap_err();
        assert_eq!(e, "Path 'relative' is not absolute");
        let e = call(checkout, "git.checkout", json!([d]), json!({}))
            .await
            .unwrap_err();
        assert!(e.contains("'rev' argument is required"), "{e}");
    }
}
