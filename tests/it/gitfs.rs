//! gitfs through the real daemons: a repository made by the test serves its
//! branches and tags as environments to a minion, a new commit is served
//! after `brine-run fileserver.update`, and paths leaving the tree are
//! refused.

use std::path::Path;
use std::process::Command;

use brine_tests::Cluster;
use serde_json::json;

fn git(repo: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
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
        .expect("running git");
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

fn commit(repo: &Path, files: &[(&str, &str)], message: &str) {
    for (p, text) in files {
        let full = repo.join(p);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "--quiet", "-m", message]);
}

#[test]
fn git_branches_and_tags_are_served_as_environments() {
    let repo_dir = tempfile::tempdir().unwrap();
    let repo = repo_dir.path();
    git(repo, &["init", "--quiet", "--initial-branch=master"]);
    // `web` manages a file whose content comes from the same environment.
    let web_sls = "web:\n  file.managed:\n    - name: {{ grains['brine_dest'] }}\n    - source: salt://files/web.txt\n";
    commit(
        repo,
        &[("web.sls", web_sls), ("files/web.txt", "base content\n")],
        "base",
    );
    git(repo, &["tag", "-a", "-m", "release", "v1.0"]);
    git(repo, &["checkout", "--quiet", "-b", "dev"]);
    commit(
        repo,
        &[("files/web.txt", "dev content\n"), ("dev-only.txt", "d\n")],
        "dev",
    );
    git(repo, &["checkout", "--quiet", "master"]);

    let mut c = Cluster::builder()
        .master_config(&format!(
            "fileserver_backend: [gitfs]\ngitfs_remotes:\n  - {}\ngitfs_update_interval: 3600\n",
            repo.display()
        ))
        .start();
    let dest = c.dir.path().join("web.txt");
    c.add_minion(brine_tests::MinionSpec {
        id: "m1".into(),
        grains: format!("brine_dest: {}", dest.display()),
        extra: String::new(),
    });
    c.accept_all();

    let (out, v) = c.brine_json(&["m1", "cp.list_master"]);
    assert_eq!(out.code, 0, "{out:?}\n{}", c.logs());
    assert_eq!(v, json!({"m1": ["files/web.txt", "web.sls"]}));
    let (out, v) = c.brine_json(&["m1", "cp.list_master", "saltenv=dev"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        v,
        json!({"m1": ["dev-only.txt", "files/web.txt", "web.sls"]})
    );

    // The dev branch's SLS and files, then base's.
    let (out, v) = c.brine_json(&["m1", "state.apply", "web", "saltenv=dev"]);
    assert_eq!(out.code, 0, "{out:?}\n{}", c.logs());
    assert!(v["m1"].is_object(), "{v}");
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "dev content\n");
    let (out, _) = c.brine_json(&["m1", "state.apply", "web"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "base content\n");

    // A tag, named in the URL.
    let got = c.dir.path().join("tagged.txt");
    let got_s = got.display().to_string();
    let (out, _) = c.brine_json(&[
        "m1",
        "cp.get_file",
        "salt://files/web.txt?saltenv=v1.0",
        &got_s,
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(std::fs::read_to_string(&got).unwrap(), "base content\n");

    let out = c.run(&["fileserver.envs", "--out", "json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let envs: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(envs, json!(["base", "dev", "v1.0"]));
    let out = c.run(&["fileserver.file_list", "saltenv=dev", "--out", "json"]);
    let files: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(files, json!(["dev-only.txt", "files/web.txt", "web.sls"]));

    // A new commit: not served until fetched; served after fileserver.update.
    commit(repo, &[("files/web.txt", "base content v2\n")], "v2");
    let (_, _) = c.brine_json(&["m1", "cp.get_file", "salt://files/web.txt", &got_s]);
    assert_eq!(std::fs::read_to_string(&got).unwrap(), "base content\n");
    let out = c.run(&["fileserver.update", "--out", "json"]);
    assert_eq!(out.code, 0, "{out:?}\n{}", c.logs());
    assert_eq!(out.stdout.trim(), "true");
    let (out, _) = c.brine_json(&["m1", "cp.get_file", "salt://files/web.txt", &got_s]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(std::fs::read_to_string(&got).unwrap(), "base content v2\n");
    // The tag did not move.
    let (_, _) = c.brine_json(&[
        "m1",
        "cp.get_file",
        "salt://files/web.txt?saltenv=v1.0",
        &got_s,
    ]);
    assert_eq!(std::fs::read_to_string(&got).unwrap(), "base content\n");

    // Leaving the tree is refused, as with file_roots.
    let stolen = c.dir.path().join("stolen");
    let stolen_s = stolen.display().to_string();
    for bad in ["salt://../../etc/passwd", "salt://%2e%2e/%2e%2e/etc/passwd"] {
        let (out, v) = c.brine_json(&["m1", "cp.get_file", bad, &stolen_s]);
        assert_ne!(out.code, 0, "{bad}: {out:?}");
        let text = v["m1"].as_str().unwrap_or_default();
        assert!(text.contains("outside the file roots"), "{bad}: {v}");
        assert!(!stolen.exists(), "{bad} was copied");
    }

    // The remote gone: the update names it, and the last fetch is served.
    let moved = repo.with_extension("moved");
    std::fs::rename(repo, &moved).unwrap();
    let out = c.run(&["fileserver.update", "backend=gitfs"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains(&repo.display().to_string()), "{out:?}");
    let (out, _) = c.brine_json(&[
        "m1",
        "cp.get_file",
        "salt://dev-only.txt?saltenv=dev",
        &got_s,
    ]);
    assert_eq!(out.code, 0, "{out:?}\n{}", c.logs());
    assert_eq!(std::fs::read_to_string(&got).unwrap(), "d\n");
    std::fs::rename(&moved, repo).unwrap();
    c.stop_minion("m1");
}
