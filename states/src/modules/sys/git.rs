//! The `git` command line, as the `git.*` execution functions and the `git`
//! states run it: one place that builds the command (working directory,
//! `user`, no terminal prompts) and reads what git said.

use std::path::Path;

use super::run::{Cmd, Output};

/// `git` with its working directory, run as `user` (through `runuser`) when
/// that is not the user we are already.
pub fn git(cwd: Option<&Path>, user: Option<&str>) -> Cmd {
    let as_other = user.filter(|u| !is_current_user(u));
    let mut cmd = match as_other {
        Some(u) => Cmd::new("runuser").args(["-u", u, "--", "git"]),
        None => Cmd::new("git"),
    };
    cmd = cmd.env("GIT_TERMINAL_PROMPT", "0");
    if let Some(d) = cwd {
        cmd = cmd.cwd(d);
    }
    cmd
}

fn is_current_user(name: &str) -> bool {
    let uid = nix::unistd::Uid::current();
    nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .is_some_and(|u| u.name == name)
}

/// Runs `git <git_opts> <args>` in `cwd` as `user`; a non-zero exit is Salt's
/// `Command 'git ...' failed: <git's message>`.
pub fn run(
    cwd: Option<&Path>,
    user: Option<&str>,
    git_opts: &[String],
    args: &[String],
) -> Result<Output, String> {
    let cmd = git(cwd, user)
        .args(git_opts.iter().cloned())
        .args(args.iter().cloned());
    let out = cmd.run()?;
    if out.success() {
        Ok(out)
    } else {
        Err(format!(
            "Command '{}' failed: {}",
            cmd.display(),
            out.error_text()
        ))
    }
}

/// `git rev-parse --verify --quiet <what>` in `dir`; `None` when it names nothing.
pub fn rev_parse(dir: &Path, what: &str) -> Option<String> {
    git(Some(dir), None)
        .args(["rev-parse", "--verify", "--quiet", what])
        .run()
        .ok()
        .filter(|o| o.success())
        .map(|o| o.stdout.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Whether `dir` is inside a git work tree (Salt's `git.is_worktree`, for a
/// plain checkout too).
pub fn is_work_tree(dir: &Path, user: Option<&str>) -> bool {
    git(Some(dir), user)
        .args(["rev-parse", "--is-inside-work-tree"])
        .run()
        .is_ok_and(|o| o.success() && o.stdout.trim() == "true")
}

/// `git init` options, as Salt's `git.init` takes them.
#[derive(Debug, Default, Clone)]
pub struct Init<'a> {
    pub bare: bool,
    pub template: Option<&'a str>,
    pub separate_git_dir: Option<&'a str>,
    pub shared: Option<&'a str>,
    pub user: Option<&'a str>,
}

/// `git init` of `dir` (created by git when missing); git's own message.
pub fn init(
    dir: &Path,
    o: &Init<'_>,
    opts: &[String],
    git_opts: &[String],
) -> Result<String, String> {
    let mut args = vec!["init".to_string()];
    if o.bare {
        args.push("--bare".into());
    }
    if let Some(t) = o.template {
        args.push(format!("--template={t}"));
    }
    if let Some(d) = o.separate_git_dir {
        args.push(format!("--separate-git-dir={d}"));
    }
    if let Some(s) = o.shared {
        args.push(format!("--shared={s}"));
    }
    args.extend(opts.iter().cloned());
    args.push(dir.to_string_lossy().into_owned());
    run(None, o.user, git_opts, &args).map(|o| o.stdout.trim().to_string())
}

/// Salt's parse of `git fetch` output: `new branches`/`new tags` lists,
/// `updated branches` {ref: {old, new}}, `updated tags` list.
pub fn parse_fetch(output: &str) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::{json, Map, Value};
    let mut ret = Map::new();
    for line in output.lines() {
        let line = line
            .trim_start_matches([' ', '*', '+', '-', '!', 't', '='])
            .trim_start();
        let Some((left, rest)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        let Some((name, _)) = rest.split_once("->") else {
            continue;
        };
        let name = name.trim().to_string();
        let push = |ret: &mut Map<String, Value>, key: &str, v: Value| {
            if let Value::Array(a) = ret.entry(key).or_insert_with(|| json!([])) {
                a.push(v);
            }
        };
        if left == "[new" {
            let (kind, name) = name
                .split_once(']')
                .map(|(k, n)| (k.trim(), n.trim()))
                .unwrap_or(("", ""));
            match kind {
                "tag" => push(&mut ret, "new tags", json!(name)),
                "branch" => push(&mut ret, "new branches", json!(name)),
                _ => {}
            }
        } else if left == "[tag" {
            let name = name.split_once(']').map(|(_, n)| n.trim()).unwrap_or("");
            push(&mut ret, "updated tags", json!(name));
        } else if let Some((old, new)) = left.split_once("..") {
            let new = new.trim_start_matches('.');
            if let Value::Object(m) = ret.entry("updated branches").or_insert_with(|| json!({})) {
                m.insert(name, json!({"old": old, "new": new}));
            }
        }
    }
    ret
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fetch_output_as_salt_parses_it() {
        let out = "From /tmp/remote\n \
                   * [new branch]      dev        -> origin/dev\n \
                   * [new tag]         v1         -> v1\n   \
                   1a2b3c4..5d6e7f8  main       -> origin/main\n \
                   t [tag update]      v0         -> v0\n";
        let ret = parse_fetch(out);
        assert_eq!(ret["new branches"], json!(["dev"]));
        assert_eq!(ret["new tags"], json!(["v1"]));
        assert_eq!(
            ret["updated branches"],
            json!({"main": {"old": "1a2b3c4", "new": "5d6e7f8"}})
        );
        assert_eq!(ret["updated tags"], json!(["v0"]));
    }

    #[test]
    fn init_and_failures_in_salts_words() {
        let tmp = tempfile::TempDir::new().unwrap();
        let bare = tmp.path().join("b.git");
        init(
            &bare,
            &Init {
                bare: true,
                ..Default::default()
            },
            &[],
            &[],
        )
        .unwrap();
        assert!(bare.join("HEAD").is_file());
        let err = run(
            Some(tmp.path()),
            None,
            &[],
            &["rev-parse".into(), "HEAD".into()],
        )
        .unwrap_err();
        assert!(
            err.starts_with("Command 'git rev-parse HEAD' failed: "),
            "{err}"
        );
    }
}
