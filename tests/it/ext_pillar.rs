//! External pillars through the master: a minion's `pillar.items` holds the
//! pillar top's SLS merged with a `cmd_yaml` command's output and a
//! `file_tree` tree (compiled on the master for that minion only), and a
//! failing external pillar shows under `_errors` without taking the rest.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use brine_tests::Cluster;
use serde_json::json;

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn pillar_items_merge_cmd_yaml_and_file_tree_with_the_pillar_top() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "pillar/top.sls", "base:\n  '*':\n    - common\n");
    write(
        d,
        "pillar/common.sls",
        "role: from_sls\nshared:\n  sls: 1\n  who: sls\nusers: [root]\n",
    );
    // The command gets the minion id through %s.
    write(
        d,
        "bin/pillar-for",
        "#!/bin/sh\nprintf 'host: %s\\nshared:\\n  cmd: 1\\n  who: cmd\\n' \"$1\"\n",
    );
    std::fs::set_permissions(
        d.join("bin/pillar-for"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    write(d, "tree/hosts/web1/motd", "hello web1\n");
    write(d, "tree/hosts/web1/app/port", "8080\n");
    write(d, "tree/nodegroups/webs/tier", "front\n");
    write(d, "tree/hosts/db1/motd", "hello db1\n");
    let c = Cluster::builder()
        .master_config(&format!(
            "pillar_roots:\n  base:\n    - {d}/pillar\n\
             nodegroups:\n  webs: 'web*'\n\
             ext_pillar:\n  - cmd_yaml: {d}/bin/pillar-for %s\n  - file_tree:\n      root_dir: {d}/tree\n",
            d = d.display()
        ))
        .minion("web1", "role: web")
        .minion("db1", "role: db")
        .start();
    c.accept_all();

    let (res, v) = c.brine_json(&["*", "pillar.items"]);
    assert_eq!(res.code, 0, "{res:?}");
    assert_eq!(
        v,
        json!({
            "web1": {"role": "from_sls", "users": ["root"], "host": "web1",
                     "shared": {"sls": 1, "cmd": 1, "who": "cmd"},
                     "motd": "hello web1", "app": {"port": "8080"}, "tier": "front"},
            "db1": {"role": "from_sls", "users": ["root"], "host": "db1",
                    "shared": {"sls": 1, "cmd": 1, "who": "cmd"},
                    "motd": "hello db1"},
        })
    );
    // The operator's view, compiled on the master, is the same.
    let res = c.run(&["pillar.show_pillar", "web1", "--out", "json"]);
    assert_eq!(res.code, 0, "{res:?}");
    let shown: serde_json::Value = serde_json::from_str(&res.stdout).unwrap();
    assert_eq!(shown, v["web1"]);
}

#[test]
fn a_failing_ext_pillar_is_listed_under_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "pillar/top.sls", "base:\n  '*':\n    - common\n");
    write(d, "pillar/common.sls", "role: from_sls\n");
    write(d, "tree/hosts/m1/motd", "hi\n");
    let c = Cluster::builder()
        .master_config(&format!(
            "pillar_roots:\n  base:\n    - {d}/pillar\n\
             ext_pillar:\n  - cmd_yaml: {d}/no-such-command %s\n  - cmd_json: /bin/echo not-json\n\
             \x20 - file_tree:\n      root_dir: {d}/tree\n",
            d = d.display()
        ))
        .minion("m1", "role: web")
        .start();
    c.accept_all();
    let (res, v) = c.brine_json(&["m1", "pillar.items"]);
    assert_eq!(res.code, 0, "{res:?}");
    let p = &v["m1"];
    assert_eq!(p["role"], json!("from_sls"));
    assert_eq!(p["motd"], json!("hi"));
    let errors = p["_errors"].as_array().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0]
        .as_str()
        .unwrap()
        .starts_with("Failed to load ext_pillar cmd_yaml: cannot run"));
    assert!(errors[1].as_str().unwrap().starts_with(
        "Failed to load ext_pillar cmd_json: JSON data from '/bin/echo not-json' failed to parse"
    ));
    // The master logged them too.
    assert!(c.logs().contains("ext_pillar failed"), "{}", c.logs());
}

fn git(repo: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("running git");
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

/// A git ext_pillar compiled first: the pillar top's SLS see its data as
/// `pillar` and win where both set a key.
#[test]
fn git_ext_pillar_first_feeds_the_pillar_sls() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let repo = d.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "--quiet", "--initial-branch=main"]);
    write(&repo, "pillar/top.sls", "base:\n  'web*':\n    - web\n");
    write(&repo, "pillar/web.sls", "from_git: yes-git\nport: 80\n");
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "--quiet", "-m", "pillar"]);
    write(d, "pillar/top.sls", "base:\n  '*':\n    - common\n");
    write(
        d,
        "pillar/common.sls",
        "seen: {{ pillar.get('from_git', 'nothing') }}\nport: 8080\n",
    );
    let c = Cluster::builder()
        .master_config(&format!(
            "pillar_roots:\n  base:\n    - {d}/pillar\next_pillar_first: true\n\
             git_pillar_base: main\n\
             ext_pillar:\n  - git:\n    - main file://{d}/repo:\n      - root: pillar\n",
            d = d.display()
        ))
        .minion("web1", "role: web")
        .minion("db1", "role: db")
        .start();
    c.accept_all();
    let (res, v) = c.brine_json(&["*", "pillar.items"]);
    assert_eq!(res.code, 0, "{res:?}");
    assert_eq!(
        v,
        json!({
            "web1": {"from_git": "yes-git", "seen": "yes-git", "port": 8080},
            "db1": {"seen": "nothing", "port": 8080},
        })
    );
}
