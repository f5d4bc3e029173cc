//! `git.latest`: a clone of a remote repository kept at the remote's
//! revision, through the `git` command line.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::ctx::{StateArgs, StateCtx};
use crate::modules::sys::git::{self as gitcli, rev_parse};
use crate::modules::sys::opt_text;
use crate::modules::sys::run::Cmd;
use crate::registry::StateSpec;
use crate::result::StateResult;

pub const STATES: &[StateSpec] = &[StateSpec {
    name: "git.latest",
    doc: "Make sure the repository is cloned to the given directory and is up-to-date.\n\n\
          name: the remote repository URL\n\
          target: the directory to clone into (absolute)\n\
          rev: the remote branch, tag or commit to check out (default HEAD)\n\
          branch: the local branch to use\n\
          remote: the remote's name (default origin)\n\
          force_reset: hard-reset when the update is not a fast-forward or there are local changes\n\
          depth: shallow clone depth",
    run: latest,
    mod_watch: None,
}, StateSpec {
    name: "git.present",
    doc: "Make sure a git repository exists at the given path (initialized empty when \
          missing).\n\n\
          name: the path of the repository\n\
          bare: a bare repository (default True)\n\
          force: remove a non-empty directory that is not a repository and initialize \
          one in its place (default False)\n\
          template, separate_git_dir, shared: passed to git init\n\
          user: the user to run git as",
    run: present,
    mod_watch: None,
}];

/// Salt's `git.present`.
pub fn present(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    let dir = Path::new(name);
    let bare = args.bool("bare", true);
    let force = args.bool("force", false);
    let user = opt_text(args, "user");
    let template = opt_text(args, "template");
    let separate_git_dir = opt_text(args, "separate_git_dir");
    let shared = opt_text(args, "shared");
    let a = if bare { "bare " } else { "" };
    let mut ret = StateResult::new(name);
    if dir.is_dir() {
        if bare && dir.join("HEAD").is_file() {
            return ret;
        }
        if !bare && (dir.join(".git").is_dir() || gitcli::is_work_tree(dir, user.as_deref())) {
            return ret;
        }
        if force {
            if ctx.test {
                ret.changes.insert("new".into(), json!(name));
                ret.changes.insert("forced init".into(), json!(true));
                ret.result = None;
                ret.comment = format!(
                    "Target directory {name} exists. Since force=True, the contents of {name} \
                     would be deleted, and a {a}repository would be initialized in its place."
                );
                return ret;
            }
            let removed = if dir.is_symlink() {
                std::fs::remove_file(dir)
            } else {
                std::fs::remove_dir_all(dir)
            };
            if let Err(e) = removed {
                return StateResult::fail(name, format!("Unable to remove {name}: {e}"));
            }
            ret.changes.insert("forced init".into(), json!(true));
        } else if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
            return StateResult::fail(
                name,
                format!(
                    "Target '{name}' exists, is non-empty, and is not a git repository. Set \
                     the 'force' option to True to remove this directory's contents and \
                     proceed with initializing a repository"
                ),
            );
        }
    }
    if ctx.test {
        ret.changes.insert("new".into(), json!(name));
        ret.result = None;
        ret.comment = format!("New {a}repository would be created");
        return ret;
    }
    let init = gitcli::Init {
        bare,
        template: template.as_deref(),
        separate_git_dir: separate_git_dir.as_deref(),
        shared: shared.as_deref(),
        user: user.as_deref(),
    };
    if let Err(e) = gitcli::init(dir, &init, &[], &[]) {
        return StateResult::fail(name, e);
    }
    let mut actions = vec![format!("Initialized {a}repository in {name}")];
    if let Some(t) = &template {
        actions.push(format!("Template directory set to {t}"));
    }
    if let Some(d) = &separate_git_dir {
        actions.push(format!("Gitdir set to {d}"));
    }
    ret.comment = actions.join(". ");
    if actions.len() > 1 {
        ret.comment.push('.');
    }
    ret.changes.insert("new".into(), json!(name));
    ret
}

fn git(dir: Option<&Path>) -> Cmd {
    gitcli::git(dir, None)
}

/// Salt's `_format_comments`.
fn format_comments(comments: &[String]) -> String {
    let mut out = comments.join(". ");
    if comments.len() > 1 {
        out.push('.');
    }
    out
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum RevType {
    Head,
    Branch,
    Tag,
    Sha1,
}

/// `git ls-remote` as ref -> sha.
fn remote_refs(url: &str) -> Result<BTreeMap<String, String>, String> {
    let out = git(None).args(["ls-remote", url]).run_ok()?;
    Ok(out
        .stdout
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(sha, r)| (r.to_string(), sha.to_string()))
        .collect())
}

struct Ctx<'a> {
    test: bool,
    name: &'a str,
    target: &'a Path,
    rev: String,
    branch: Option<String>,
    remote: String,
    force_reset: bool,
    remote_rev: Option<String>,
    rev_type: RevType,
    remote_loc: String,
}

pub fn latest(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    let fail = |msg: String| StateResult::fail(name, msg);
    let Some(target) = opt_text(args, "target") else {
        return fail("'target' argument is required".into());
    };
    if !target.starts_with('/') {
        return fail(format!("target '{target}' is not an absolute path"));
    }
    let rev = opt_text(args, "rev").unwrap_or_else(|| "HEAD".to_string());
    if rev.is_empty() {
        return fail(format!(
            "'{rev}' is not a valid value for the 'rev' argument"
        ));
    }
    let remote = opt_text(args, "remote").unwrap_or_else(|| "origin".to_string());
    let refs = match remote_refs(name) {
        Ok(r) => r,
        Err(e) => return fail(format!("Failed to check remote refs: {e}")),
    };
    let (remote_rev, rev_type) = if rev == "HEAD" {
        (refs.get("HEAD").cloned(), RevType::Head)
    } else if let Some(sha) = refs.get(&format!("refs/heads/{rev}")) {
        (Some(sha.clone()), RevType::Branch)
    } else if let Some(sha) = refs
        .get(&format!("refs/tags/{rev}^{{}}"))
        .or_else(|| refs.get(&format!("refs/tags/{rev}")))
    {
        (Some(sha.clone()), RevType::Tag)
    } else if rev.len() >= 4 && rev.chars().all(|c| c.is_ascii_hexdigit()) {
        (Some(rev.to_lowercase()), RevType::Sha1)
    } else {
        return fail(format!(
            "No revision matching '{rev}' exists in the remote repository"
        ));
    };
    let remote_loc = match (&remote_rev, rev_type) {
        (None, _) => String::new(),
        (Some(r), RevType::Head) => format!("remote HEAD ({})", short(r)),
        (Some(r), RevType::Sha1) => short(r).to_string(),
        (Some(r), RevType::Branch) => format!("{remote}/{rev} ({})", short(r)),
        (Some(r), RevType::Tag) => format!("{rev} ({})", short(r)),
    };
    let force_reset = match args.get("force_reset") {
        Some(Value::String(s)) if s == "remote-changes" => true,
        _ => args.bool("force_reset", false),
    };
    let c = Ctx {
        test: ctx.test,
        name,
        target: Path::new(&target),
        rev,
        branch: opt_text(args, "branch"),
        remote,
        force_reset,
        remote_rev,
        rev_type,
        remote_loc,
    };
    let depth = opt_text(args, "depth");
    if c.target.join(".git").exists() {
        update(&c)
    } else {
        clone(&c, depth.as_deref())
    }
}

fn uptodate(
    name: &str,
    target: &Path,
    test: bool,
    comments: &[String],
    local_changes: bool,
) -> StateResult {
    let mut comment = format!("Repository {} is up-to-date", target.display());
    if local_changes {
        comment += ", but with uncommitted changes. Set 'force_reset' to True to purge uncommitted changes.";
    }
    if !comments.is_empty() {
        comment += &format!(
            "\n\nChanges {}made: {}",
            if test { "that would be " } else { "" },
            format_comments(comments)
        );
    }
    StateResult::ok(name, comment)
}

fn fail_with(name: &str, msg: String, comments: &[String]) -> StateResult {
    let mut msg = msg;
    if !comments.is_empty() {
        msg += &format!("\n\nChanges already made: {}", format_comments(comments));
    }
    StateResult::fail(name, msg)
}

fn not_fast_forward(
    c: &Ctx<'_>,
    pre: &str,
    post: &str,
    local_changes: bool,
    comments: &[String],
) -> StateResult {
    let span = if local_changes && pre != post {
        format!("from {} to {}", short(pre), short(post))
    } else {
        format!("to {}", short(post))
    };
    fail_with(
        c.name,
        format!(
            "Repository would be updated {span}, but {}. Set 'force_reset' to True{} to force this update{}.",
            if local_changes { "there are uncommitted changes" } else { "this is not a fast-forward merge" },
            if local_changes { " (or 'remote-changes')" } else { "" },
            if local_changes { " and discard these changes" } else { "" },
        ),
        comments,
    )
}

fn update(c: &Ctx<'_>) -> StateResult {
    let t = c.target;
    let local_rev = rev_parse(t, "HEAD");
    let local_changes = git(Some(t))
        .args(["status", "--porcelain", "--untracked-files=no"])
        .run()
        .is_ok_and(|o| !o.stdout.trim().is_empty());
    let fetch_url = git(Some(t))
        .args(["config", "--get", &format!("remote.{}.url", c.remote)])
        .run()
        .ok()
        .map(|o| o.stdout.trim().to_string())
        .filter(|s| !s.is_empty());
    let local_branch = git(Some(t))
        .args(["symbolic-ref", "--quiet", "--short", "HEAD"])
        .run()
        .ok()
        .filter(|o| o.success())
        .map(|o| o.stdout.trim().to_string());
    let Some(remote_rev) = c.remote_rev.clone() else {
        return uptodate(c.name, t, c.test, &[], false);
    };
    let revs_match = local_rev.as_deref() == Some(remote_rev.as_str());
    let url_ok = fetch_url.as_deref() == Some(c.name);
    let branch_change = c
        .branch
        .as_ref()
        .is_some_and(|b| Some(b) != local_branch.as_ref());

    if revs_match && local_changes && url_ok && !branch_change {
        if !c.force_reset {
            return uptodate(c.name, t, c.test, &[], true);
        }
        let msg = format!(
            "{} is up-to-date, but with uncommitted changes. Since 'force_reset' is set to True, these local changes would be reset. To only reset when there are changes in the remote repository, set 'force_reset' to 'remote-changes'.",
            t.display()
        );
        if c.test {
            let mut changes = Map::new();
            changes.insert("forced update".into(), json!(true));
            return StateResult::would(c.name, msg, changes);
        }
        if let Err(e) = git(Some(t)).args(["reset", "--hard", "HEAD"]).run_ok() {
            return StateResult::fail(c.name, e);
        }
        let mut ret = StateResult::ok(c.name, "Uncommitted changes were discarded".to_string());
        ret.changes.insert("forced update".into(), json!(true));
        return ret;
    }
    if revs_match && url_ok && !branch_change {
        return uptodate(c.name, t, c.test, &[], false);
    }

    let has_remote_rev = rev_parse(t, &format!("{remote_rev}^{{commit}}")).is_some();
    let is_ancestor = |from: &str| {
        git(Some(t))
            .args(["merge-base", "--is-ancestor", from, &remote_rev])
            .run()
            .is_ok_and(|o| o.success())
    };
    let fast_forward = match (&local_rev, has_remote_rev) {
        (None, _) => Some(true),
        (Some(l), true) => Some(is_ancestor(l)),
        (Some(_), false) => None,
    };
    let old = local_rev.clone().map(Value::String).unwrap_or(Value::Null);

    if c.test {
        let mut actions = Vec::new();
        let mut changes = Map::new();
        if !url_ok {
            actions.push(format!(
                "Remote '{}' would be changed from {} to {}",
                c.remote,
                fetch_url.as_deref().unwrap_or("None"),
                c.name
            ));
        }
        if !has_remote_rev {
            actions.push("Remote would be fetched".to_string());
        }
        if !revs_match {
            changes.insert("revision".into(), json!({"old": old, "new": remote_rev}));
            if fast_forward == Some(false) {
                changes.insert("forced update".into(), json!(true));
            }
            let from = local_rev.as_deref().map(short).unwrap_or("None");
            if fast_forward == Some(true) {
                actions.push(format!(
                    "Repository would be fast-forwarded from {from} to {}",
                    short(&remote_rev)
                ));
            } else {
                let how = if c.force_reset && has_remote_rev {
                    "hard-reset"
                } else {
                    "updated"
                };
                actions.push(format!(
                    "Repository would be {how} from {from} to {}",
                    short(&remote_rev)
                ));
            }
        }
        if changes.is_empty() {
            return uptodate(c.name, t, true, &actions, false);
        }
        return StateResult::would(c.name, format_comments(&actions), changes);
    }

    let mut comments = Vec::new();
    let mut changes = Map::new();
    if !url_ok {
        let set = if fetch_url.is_some() {
            "set-url"
        } else {
            "add"
        };
        if let Err(e) = git(Some(t))
            .args(["remote", set, &c.remote, c.name])
            .run_ok()
        {
            return fail_with(c.name, e, &comments);
        }
        comments.push(format!("Remote '{}' set to {}", c.remote, c.name));
        changes.insert("new".into(), json!(format!("{} => {}", c.name, c.remote)));
    }
    if !has_remote_rev || !url_ok {
        if let Err(e) = git(Some(t)).args(["fetch", "--tags", &c.remote]).run_ok() {
            return fail_with(
                c.name,
                format!("Fetch failed. Set 'force_fetch' to True to force the fetch if the failure was due to not being able to fast-forward. Output of the fetch command follows:\n\n{e}"),
                &comments,
            );
        }
        comments.push(format!("{} was fetched, resulting in updated refs", c.name));
        if rev_parse(t, &format!("{remote_rev}^{{commit}}")).is_none() {
            return StateResult::fail(
                c.name,
                format!(
                    "Fetch did not successfully retrieve rev '{}' from {}",
                    c.rev, c.name
                ),
            );
        }
    }
    let fast_forward = match &local_rev {
        None => true,
        Some(l) => is_ancestor(l),
    };
    // Not a fast-forward, or a fast-forward over uncommitted changes.
    if !revs_match && !c.force_reset && (!fast_forward || local_changes) {
        return not_fast_forward(
            c,
            local_rev.as_deref().unwrap_or(""),
            &remote_rev,
            local_changes,
            &comments,
        );
    }
    if let Some(b) = c.branch.as_ref().filter(|_| branch_change) {
        if local_changes && !c.force_reset {
            return fail_with(
                c.name,
                format!(
                    "Local branch '{}' has uncommitted changes. Set 'force_checkout' to True to discard them and proceed.",
                    local_branch.clone().unwrap_or_default()
                ),
                &comments,
            );
        }
        let start = local_rev.clone().unwrap_or_else(|| remote_rev.clone());
        if let Err(e) = git(Some(t)).args(["checkout", "-B", b, &start]).run_ok() {
            return fail_with(c.name, e, &comments);
        }
        comments.push(format!(
            "New branch '{b}' was checked out, with {} as a starting point",
            c.remote_loc
        ));
    }
    if !revs_match {
        if !fast_forward {
            if let Err(e) = git(Some(t)).args(["reset", "--hard", &remote_rev]).run_ok() {
                return fail_with(c.name, e, &comments);
            }
            changes.insert("forced update".into(), json!(true));
            if local_changes {
                comments.push("Uncommitted changes were discarded".to_string());
            }
            comments.push(format!("Repository was hard-reset to {}", c.remote_loc));
        } else {
            if local_changes {
                let _ = git(Some(t)).args(["reset", "--hard", "HEAD"]).run();
                comments.push("Uncommitted changes were discarded".to_string());
            }
            let on_branch = git(Some(t))
                .args(["symbolic-ref", "--quiet", "HEAD"])
                .run()
                .is_ok_and(|o| o.success());
            if on_branch {
                if let Err(e) = git(Some(t))
                    .args(["merge", "--ff-only", &remote_rev])
                    .run_ok()
                {
                    return fail_with(c.name, e, &comments);
                }
                comments.push(format!("Repository was fast-forwarded to {}", c.remote_loc));
            } else {
                if let Err(e) = git(Some(t)).args(["reset", "--hard", &remote_rev]).run_ok() {
                    return fail_with(c.name, e, &comments);
                }
                comments.push(format!("Repository was reset to {} (fast-forward)", c.rev));
            }
        }
    }
    let new_rev = rev_parse(t, "HEAD");
    if new_rev.as_deref() != Some(remote_rev.as_str()) {
        return fail_with(c.name, "Failed to update repository".to_string(), &comments);
    }
    if local_rev != new_rev {
        let mut ret = StateResult::ok(c.name, format_comments(&comments));
        ret.changes = changes;
        ret.changes
            .insert("revision".into(), json!({"old": old, "new": new_rev}));
        return ret;
    }
    let mut ret = uptodate(c.name, t, false, &comments, false);
    ret.changes = changes;
    ret
}

fn clone(c: &Ctx<'_>, depth: Option<&str>) -> StateResult {
    let t = c.target;
    if t.is_dir() && std::fs::read_dir(t).is_ok_and(|mut d| d.next().is_some()) {
        return StateResult::fail(
            c.name,
            format!(
                "Target '{}' exists, is non-empty and is not a git repository. Set the 'force_clone' option to True to remove this directory's contents and proceed with cloning the remote repository",
                t.display()
            ),
        );
    }
    let target_text = t.to_string_lossy().to_string();
    let new = format!("{} => {}", c.name, target_text);
    if c.test {
        let mut changes = Map::new();
        changes.insert("new".into(), json!(new));
        return StateResult::would(
            c.name,
            format!("Repository {} would be cloned to {}", c.name, target_text),
            changes,
        );
    }
    let mut cmd = git(None).args(["clone", "--origin", &c.remote]);
    if let Some(d) = depth {
        cmd = cmd.args(["--depth", d]);
    }
    if matches!(c.rev_type, RevType::Branch | RevType::Tag) && c.remote_rev.is_some() {
        cmd = cmd.args(["--branch", &c.rev]);
    }
    if let Err(e) = cmd.args([c.name, target_text.as_str()]).run_ok() {
        return StateResult::fail(c.name, format!("Clone failed: {e}"));
    }
    let mut comments = vec![format!("{} cloned to {}", c.name, target_text)];
    let mut ret = StateResult::new(c.name);
    ret.changes.insert("new".into(), json!(new));
    let Some(remote_rev) = &c.remote_rev else {
        if c.rev != "HEAD" {
            return fail_with(
                c.name,
                format!(
                    "{} was cloned but is empty, so {}/{} cannot be checked out",
                    c.name, c.remote, c.rev
                ),
                &comments,
            );
        }
        ret.comment = format_comments(&comments);
        return ret;
    };
    if let Some(b) = &c.branch {
        if let Err(e) = git(Some(t))
            .args(["checkout", "-B", b, remote_rev])
            .run_ok()
        {
            return fail_with(c.name, e, &comments);
        }
        comments.push(format!(
            "Branch '{b}' checked out, with {} as a starting point",
            c.remote_loc
        ));
    } else if rev_parse(t, "HEAD").as_deref() != Some(remote_rev.as_str()) {
        if let Err(e) = git(Some(t)).args(["reset", "--hard", remote_rev]).run_ok() {
            return fail_with(c.name, e, &comments);
        }
        comments.push(format!("Repository was reset to {}", c.remote_loc));
    }
    ret.comment = format_comments(&comments);
    if let Some(new_rev) = rev_parse(t, "HEAD") {
        ret.changes
            .insert("revision".into(), json!({"old": null, "new": new_rev}));
    }
    ret
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::sys::testutil::{args, TestEnv};

    fn commit(repo: &Path, file: &str, text: &str) -> String {
        std::fs::write(repo.join(file), text).unwrap();
        git(Some(repo)).args(["add", file]).run_ok().unwrap();
        git(Some(repo))
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "commit",
                "-q",
                "-m",
                text,
            ])
            .run_ok()
            .unwrap();
        rev_parse(repo, "HEAD").unwrap()
    }

    #[test]
    fn clones_updates_and_resets() {
        let dir = tempfile::TempDir::new().unwrap();
        let origin = dir.path().join("origin");
        std::fs::create_dir_all(&origin).unwrap();
        git(Some(&origin))
            .args(["init", "-q", "-b", "main"])
            .run_ok()
            .unwrap();
        let first = commit(&origin, "a.txt", "one");
        let url = origin.to_string_lossy().to_string();
        let target = dir.path().join("work");
        let tt = target.to_string_lossy().to_string();
        let env = TestEnv::new(dir.path().into(), dir.path().into());
        let a = args(&url, json!({"target": tt}));

        let dry = latest(&env.ctx(true), &a);
        assert_eq!(dry.result, None);
        assert_eq!(
            dry.comment,
            format!("Repository {url} would be cloned to {tt}")
        );
        assert_eq!(
            Value::Object(dry.changes),
            json!({"new": format!("{url} => {tt}")})
        );
        assert!(!target.exists(), "dry run cloned");

        let cloned = latest(&env.ctx(false), &a);
        assert_eq!(cloned.result, Some(true), "{}", cloned.comment);
        assert_eq!(cloned.comment, format!("{url} cloned to {tt}"));
        assert_eq!(
            Value::Object(cloned.changes),
            json!({"new": format!("{url} => {tt}"), "revision": {"old": null, "new": first}})
        );

        let same = latest(&env.ctx(false), &a);
        assert_eq!(same.comment, format!("Repository {tt} is up-to-date"));
        assert!(same.changes.is_empty());

        let second = commit(&origin, "a.txt", "two");
        let dry = latest(&env.ctx(true), &a);
        assert_eq!(dry.result, None);
        assert_eq!(
            dry.comment,
            // Not fetched yet, so whether it is a fast-forward is unknown (as in Salt).
            format!(
                "Remote would be fetched. Repository would be updated from {} to {}.",
                &first[..7],
                &second[..7]
            )
        );
        assert_eq!(rev_parse(&target, "HEAD").unwrap(), first);
        let updated = latest(&env.ctx(false), &a);
        assert_eq!(updated.result, Some(true), "{}", updated.comment);
        assert_eq!(
            updated.comment,
            format!("{url} was fetched, resulting in updated refs. Repository was fast-forwarded to remote HEAD ({}).", &second[..7])
        );
        assert_eq!(
            Value::Object(updated.changes),
            json!({"revision": {"old": first, "new": second}})
        );
        assert_eq!(
            std::fs::read_to_string(target.join("a.txt")).unwrap(),
            "two"
        );

        std::fs::write(target.join("a.txt"), "local edit").unwrap();
        let kept = latest(&env.ctx(false), &a);
        assert_eq!(
            kept.comment,
            format!("Repository {tt} is up-to-date, but with uncommitted changes. Set 'force_reset' to True to purge uncommitted changes.")
        );
        let reset = latest(
            &env.ctx(false),
            &args(&url, json!({"target": tt, "force_reset": true})),
        );
        assert_eq!(reset.comment, "Uncommitted changes were discarded");
        assert_eq!(reset.changes["forced update"], true);
        assert_eq!(
            std::fs::read_to_string(target.join("a.txt")).unwrap(),
            "two"
        );
    }

    #[test]
    fn bad_arguments_fail_with_salts_words() {
        let env = TestEnv::new("/nonexistent".into(), std::env::temp_dir());
        assert_eq!(
            latest(&env.ctx(false), &args("/x", json!({}))).comment,
            "'target' argument is required"
        );
        assert_eq!(
            latest(&env.ctx(false), &args("/x", json!({"target": "rel"}))).comment,
            "target 'rel' is not an absolute path"
        );
        let r = latest(
            &env.ctx(false),
            &args(
                "/nonexistent/repo",
                json!({"target": "/tmp/brine-git-none"}),
            ),
        );
        assert_eq!(r.result, Some(false));
        assert!(
            r.comment.starts_with("Failed to check remote refs: "),
            "{}",
            r.comment
        );
    }

    #[test]
    fn present_initializes_bare_and_plain_repositories() {
        let kit = crate::modules::file::testkit::Kit::new();
        let bare = kit.path("b.git");
        let r = kit.run("git.present", &bare, serde_json::json!({}), true);
        assert_eq!(
            (r.result, r.comment.as_str()),
            (None, "New bare repository would be created")
        );
        assert!(!std::path::Path::new(&bare).exists());
        let r = kit.run("git.present", &bare, serde_json::json!({}), false);
        assert_eq!(r.result, Some(true), "{}", r.comment);
        assert_eq!(r.comment, format!("Initialized bare repository in {bare}"));
        assert!(std::path::Path::new(&bare).join("HEAD").is_file());
        let again = kit.run("git.present", &bare, serde_json::json!({}), false);
        assert_eq!((again.result, again.changes.len()), (Some(true), 0));
        let plain = kit.path("p");
        std::fs::create_dir_all(&plain).unwrap();
        std::fs::write(format!("{plain}/junk"), "x").unwrap();
        let r = kit.run(
            "git.present",
            &plain,
            serde_json::json!({"bare": false}),
            false,
        );
        assert_eq!(r.result, Some(false));
        assert!(r
            .comment
            .contains("is non-empty, and is not a git repository"));
        let r = kit.run(
            "git.present",
            &plain,
            serde_json::json!({"bare": false, "force": true}),
            false,
        );
        assert_eq!(r.result, Some(true), "{}", r.comment);
        assert_eq!(r.changes["forced init"], serde_json::json!(true));
        assert!(std::path::Path::new(&plain).join(".git").is_dir());
        assert!(!std::path::Path::new(&plain).join("junk").exists());
    }
}
