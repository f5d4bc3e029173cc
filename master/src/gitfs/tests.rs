use std::path::Path;
use std::process::Command;

use super::*;
use brine_states::SourceError;

/// A repository made by the test, with the git CLI.
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let r = Repo { dir };
        r.git(&["init", "--quiet", "--initial-branch=master"]);
        r
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn url(&self) -> String {
        self.path().display().to_string()
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(self.path())
            .args([
                "-c",
                "user.name=Test",
                "-c",
                "user.email=test@example.com",
                "-c",
                "commit.gpgsign=false",
                "-c",
                "tag.gpgsign=false",
            ])
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// Writes files (path, content) and commits them; the new commit's id.
    fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        for (p, text) in files {
            let full = self.path().join(p);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, text).unwrap();
        }
        self.git(&["add", "-A"]);
        self.git(&["commit", "--quiet", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }
}

/// master: top.sls, web.sls ("base v1"), tag v1.0 (annotated) on it;
/// dev branch: web.sls ("dev").
fn sample() -> Repo {
    let r = Repo::new();
    r.commit(
        &[
            ("top.sls", "base:\n  '*':\n    - web\n"),
            ("web.sls", "base v1\n"),
            ("files/motd", "hello\n"),
        ],
        "first",
    );
    r.git(&["tag", "-a", "-m", "release", "v1.0"]);
    r.git(&["checkout", "--quiet", "-b", "dev"]);
    r.commit(&[("web.sls", "dev\n")], "dev work");
    r.git(&["checkout", "--quiet", "master"]);
    r
}

fn conf_for(urls: &[String]) -> GitfsConfig {
    GitfsConfig {
        remotes: urls
            .iter()
            .map(|u| RemoteConf {
                url: u.clone(),
                name: None,
                root: String::new(),
                mountpoint: String::new(),
                base: "master".into(),
            })
            .collect(),
        ..GitfsConfig::default()
    }
}

fn read(view: &View, env: &str, path: &str) -> Option<String> {
    view.roots()
        .read(env, path)
        .unwrap()
        .map(|b| String::from_utf8(b).unwrap())
}

#[test]
fn branches_and_tags_are_environments() {
    let repo = sample();
    let cache = tempfile::tempdir().unwrap();
    let fs = GitFs::new(cache.path(), &conf_for(&[repo.url()]));
    assert!(
        fs.view().envs().is_empty(),
        "nothing before the first update"
    );
    fs.update().unwrap();
    let v = fs.view();
    assert_eq!(v.envs(), vec!["base", "dev", "v1.0"]);
    assert_eq!(read(&v, "base", "web.sls").as_deref(), Some("base v1\n"));
    assert_eq!(read(&v, "dev", "web.sls").as_deref(), Some("dev\n"));
    assert_eq!(read(&v, "v1.0", "web.sls").as_deref(), Some("base v1\n"));
    assert_eq!(read(&v, "dev", "files/motd").as_deref(), Some("hello\n"));
    assert_eq!(read(&v, "base", "missing.sls"), None);
    assert_eq!(
        v.roots().list("base").unwrap(),
        vec!["files/motd", "top.sls", "web.sls"]
    );
    // `master` is served as `base`, not under its own name.
    assert!(matches!(
        v.roots().read("master", "web.sls"),
        Err(SourceError::NoEnv(_))
    ));
}

#[test]
fn a_new_commit_is_served_after_an_update_and_old_requests_finish_on_theirs() {
    let repo = sample();
    let cache = tempfile::tempdir().unwrap();
    let fs = GitFs::new(cache.path(), &conf_for(&[repo.url()]));
    fs.update().unwrap();
    let before = fs.view();
    let old_dir = before.roots().roots["base"][0].clone();
    assert_eq!(
        old_dir.file_name().unwrap().to_str().unwrap(),
        repo.git(&["rev-parse", "master"]),
        "snapshots are keyed by commit"
    );

    let new_commit = repo.commit(&[("web.sls", "base v2\n")], "second");
    // Not fetched yet: still the old content.
    assert_eq!(
        read(&fs.view(), "base", "web.sls").as_deref(),
        Some("base v1\n")
    );
    fs.update().unwrap();
    let after = fs.view();
    assert_eq!(
        read(&after, "base", "web.sls").as_deref(),
        Some("base v2\n")
    );
    assert!(after.roots().roots["base"][0].ends_with(&new_commit));
    // The tag still points at the first commit.
    assert_eq!(
        read(&after, "v1.0", "web.sls").as_deref(),
        Some("base v1\n")
    );

    // A request holding the old view still reads the old tree...
    assert_eq!(
        read(&before, "base", "web.sls").as_deref(),
        Some("base v1\n")
    );
    // ... and the old snapshot is shared with v1.0, so it stays. Moving the
    // tag too leaves it unused: deleted once the last holder lets go.
    repo.git(&["tag", "-f", "-a", "-m", "moved", "v1.0", "master"]);
    fs.update().unwrap();
    assert!(old_dir.is_dir(), "still held by a request");
    assert_eq!(
        read(&before, "v1.0", "web.sls").as_deref(),
        Some("base v1\n")
    );
    drop(before);
    drop(after);
    fs.update().unwrap();
    assert!(!old_dir.exists(), "unused snapshot removed");
    assert_eq!(
        read(&fs.view(), "v1.0", "web.sls").as_deref(),
        Some("base v2\n")
    );
}

#[test]
fn a_removed_branch_disappears() {
    let repo = sample();
    let cache = tempfile::tempdir().unwrap();
    let fs = GitFs::new(cache.path(), &conf_for(&[repo.url()]));
    fs.update().unwrap();
    assert!(fs.view().envs().contains(&"dev".to_string()));
    repo.git(&["branch", "-D", "dev"]);
    repo.git(&["tag", "-d", "v1.0"]);
    fs.update().unwrap();
    assert_eq!(fs.view().envs(), vec!["base"]);
    let snaps = cache.path().join("gitfs");
    let remote_dir = std::fs::read_dir(&snaps)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let left: Vec<_> = std::fs::read_dir(remote_dir.join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 1, "only master's snapshot is kept: {left:?}");
}

#[test]
fn a_failed_fetch_keeps_serving_the_last_good_refs() {
    let repo = sample();
    let cache = tempfile::tempdir().unwrap();
    let fs = GitFs::new(cache.path(), &conf_for(&[repo.url()]));
    fs.update().unwrap();
    let moved = repo.path().with_extension("moved");
    std::fs::rename(repo.path(), &moved).unwrap();
    let err = fs.update().unwrap_err();
    assert_eq!(err.failures.len(), 1);
    let text = err.to_string();
    assert!(
        text.contains(&repo.url()) && text.contains("fetch"),
        "{text}"
    );
    let v = fs.view();
    assert_eq!(v.envs(), vec!["base", "dev", "v1.0"]);
    assert_eq!(read(&v, "dev", "web.sls").as_deref(), Some("dev\n"));

    // A master started afresh while the remote is gone serves the mirror.
    drop(fs);
    let fs = GitFs::new(cache.path(), &conf_for(&[repo.url()]));
    assert!(fs.update().is_err());
    assert_eq!(
        read(&fs.view(), "base", "web.sls").as_deref(),
        Some("base v1\n")
    );
    std::fs::rename(&moved, repo.path()).unwrap();
    fs.update().unwrap();
}

#[test]
fn a_remote_that_never_fetched_serves_nothing_and_others_still_serve() {
    let repo = sample();
    let cache = tempfile::tempdir().unwrap();
    let gone = cache.path().join("no-such-repo").display().to_string();
    let fs = GitFs::new(cache.path(), &conf_for(&[gone.clone(), repo.url()]));
    let err = fs.update().unwrap_err();
    assert_eq!(err.failures[0].0, gone);
    assert_eq!(
        read(&fs.view(), "base", "web.sls").as_deref(),
        Some("base v1\n")
    );
}

#[test]
fn remotes_are_searched_in_order_and_environments_merge() {
    let first = sample();
    let second = Repo::new();
    second.commit(&[("web.sls", "second\n"), ("only2.sls", "2\n")], "x");
    second.git(&["branch", "qa"]);
    let cache = tempfile::tempdir().unwrap();
    let fs = GitFs::new(cache.path(), &conf_for(&[first.url(), second.url()]));
    fs.update().unwrap();
    let v = fs.view();
    assert_eq!(v.envs(), vec!["base", "dev", "qa", "v1.0"]);
    assert_eq!(read(&v, "base", "web.sls").as_deref(), Some("base v1\n"));
    assert_eq!(read(&v, "base", "only2.sls").as_deref(), Some("2\n"));
    assert_eq!(read(&v, "qa", "web.sls").as_deref(), Some("second\n"));
}

#[test]
fn root_and_mountpoint_shape_the_tree() {
    let repo = Repo::new();
    repo.commit(
        &[
            ("salt/web.sls", "web\n"),
            ("salt/a/b.txt", "b\n"),
            ("README", "r\n"),
        ],
        "x",
    );
    let cache = tempfile::tempdir().unwrap();
    let mut conf = conf_for(&[repo.url()]);
    conf.remotes[0].root = "salt".into();
    conf.remotes[0].mountpoint = "pre/fix".into();
    let fs = GitFs::new(cache.path(), &conf);
    fs.update().unwrap();
    let v = fs.view();
    assert_eq!(
        v.roots().list("base").unwrap(),
        vec!["pre/fix/a/b.txt", "pre/fix/web.sls"]
    );
    assert_eq!(
        read(&v, "base", "pre/fix/web.sls").as_deref(),
        Some("web\n")
    );
    assert_eq!(read(&v, "base", "web.sls"), None);

    // A root missing from the commit: the environment exists, empty.
    let mut conf = conf_for(&[repo.url()]);
    conf.remotes[0].root = "nowhere".into();
    let fs = GitFs::new(cache.path(), &conf);
    fs.update().unwrap();
    assert!(fs.view().roots().list("base").unwrap().is_empty());
}

#[test]
fn symlinks_leading_out_of_the_snapshot_are_refused() {
    let repo = Repo::new();
    // name.txt holds the same bytes as the links' target: one blob.
    repo.commit(&[("real.txt", "real\n"), ("name.txt", "real.txt")], "x");
    std::os::unix::fs::symlink("/etc/passwd", repo.path().join("out")).unwrap();
    std::os::unix::fs::symlink("real.txt", repo.path().join("in")).unwrap();
    std::os::unix::fs::symlink("real.txt", repo.path().join("in2")).unwrap();
    repo.commit(&[], "links");
    let cache = tempfile::tempdir().unwrap();
    let fs = GitFs::new(cache.path(), &conf_for(&[repo.url()]));
    fs.update().unwrap();
    let v = fs.view();
    assert!(matches!(
        v.roots().read("base", "out"),
        Err(SourceError::Outside(_))
    ));
    assert!(matches!(
        v.roots().read("base", "../../../etc/passwd"),
        Err(SourceError::Outside(_))
    ));
    assert_eq!(read(&v, "base", "in").as_deref(), Some("real\n"));
    assert_eq!(read(&v, "base", "in2").as_deref(), Some("real\n"));
    assert_eq!(read(&v, "base", "name.txt").as_deref(), Some("real.txt"));
}

#[test]
fn executable_bits_and_raw_bytes_are_kept() {
    let repo = Repo::new();
    std::fs::write(repo.path().join(".gitattributes"), "*.txt text eol=crlf\n").unwrap();
    repo.commit(&[("a.txt", "line\n"), ("run.sh", "#!/bin/sh\n")], "x");
    let sh = repo.path().join("run.sh");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&sh, std::fs::Permissions::from_mode(0o755)).unwrap();
    repo.commit(&[], "exec");
    let cache = tempfile::tempdir().unwrap();
    let fs = GitFs::new(cache.path(), &conf_for(&[repo.url()]));
    fs.update().unwrap();
    let v = fs.view();
    assert_eq!(read(&v, "base", "a.txt").as_deref(), Some("line\n"));
    let p = v.roots().locate("base", "run.sh").unwrap().unwrap();
    assert_eq!(
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777,
        0o755
    );
}

#[test]
fn whitelist_and_blacklist_take_globs_and_regexes() {
    let repo = sample();
    repo.git(&["branch", "feature-x"]);
    let cache = tempfile::tempdir().unwrap();
    let mut conf = conf_for(&[repo.url()]);
    conf.saltenv_whitelist = vec!["base".into(), "v[0-9].*".into(), "feat.*".into()];
    conf.saltenv_blacklist = vec!["feature-*".into()];
    let fs = GitFs::new(cache.path(), &conf);
    fs.update().unwrap();
    assert_eq!(fs.view().envs(), vec!["base", "v1.0"]);
    assert!(exposed("dev", &[], &[]));
    assert!(!exposed("dev", &[], &["d.v".into()]));
}

#[test]
fn the_base_ref_may_be_a_tag_and_a_branch_named_base_is_not_served() {
    let mut refs = Refs::default();
    refs.branches.insert("base".into(), "b".into());
    refs.branches.insert("main".into(), "m".into());
    refs.tags.insert("main".into(), "t".into());
    refs.tags.insert("rel".into(), "r".into());
    let envs = env_commits(&refs, "rel");
    assert_eq!(envs["base"], "r");
    assert_eq!(envs["main"], "m", "a branch wins over a tag");
    assert!(!envs.contains_key("rel"));
    let envs = env_commits(&refs, "master");
    assert!(!envs.contains_key("base"), "{envs:?}");
}

#[test]
fn caches_of_remotes_no_longer_configured_are_removed() {
    let a = sample();
    let b = sample();
    let cache = tempfile::tempdir().unwrap();
    GitFs::new(cache.path(), &conf_for(&[a.url(), b.url()]))
        .update()
        .unwrap();
    let count = || {
        std::fs::read_dir(cache.path().join("gitfs"))
            .unwrap()
            .count()
    };
    assert_eq!(count(), 2);
    GitFs::new(cache.path(), &conf_for(&[b.url()]));
    assert_eq!(count(), 1);
}

#[test]
fn a_snapshot_that_cannot_be_built_keeps_the_environment_on_its_last_one() {
    let repo = sample();
    let cache = tempfile::tempdir().unwrap();
    let fs = GitFs::new(cache.path(), &conf_for(&[repo.url()]));
    fs.update().unwrap();
    let snaps = fs.view().roots().roots["base"][0]
        .parent()
        .unwrap()
        .to_path_buf();
    let new_commit = repo.commit(&[("web.sls", "base v2\n")], "second");
    // A file where the new snapshot must go: the rename into place fails.
    std::fs::write(snaps.join(&new_commit), "in the way").unwrap();
    let err = fs.update().unwrap_err();
    assert!(err.to_string().contains(&new_commit), "{err}");
    let v = fs.view();
    assert_eq!(read(&v, "base", "web.sls").as_deref(), Some("base v1\n"));
    assert_eq!(v.envs(), vec!["base", "dev", "v1.0"]);
    std::fs::remove_file(snaps.join(&new_commit)).unwrap();
    fs.update().unwrap();
    assert_eq!(
        read(&fs.view(), "base", "web.sls").as_deref(),
        Some("base v2\n")
    );
    let leftovers = std::fs::read_dir(&snaps)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".tmp")
        })
        .count();
    assert_eq!(leftovers, 0, "the failed build was cleaned up");
}
