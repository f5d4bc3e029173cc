use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use brine_proto::conf::RawConfig;
use brine_states::pillar::{compile_pillar_merged, Merging};
use serde_json::json;

use super::conf::{from_raw, FileTree, GitRemote, KeepNewline};
use super::*;

fn conf(text: &str) -> Result<ExtPillarConfig, brine_proto::conf::ConfError> {
    let mut raw = RawConfig::parse("master", text).unwrap();
    from_raw(&mut raw)
}

/// The master's own pillar compiler, without execution functions.
struct TestCompiler {
    grains: Grains,
    merging: Merging,
    roots: LocalRoots,
}

impl TestCompiler {
    fn new() -> TestCompiler {
        TestCompiler {
            grains: Grains::new(),
            merging: Merging::default(),
            roots: LocalRoots::new(BTreeMap::new()),
        }
    }
}

impl Compiler for TestCompiler {
    fn compile(&self, roots: &LocalRoots, env: &str) -> CompiledPillar {
        let opts = json!({});
        let r = crate::fileserver::pillar_renderer(roots, &self.grains, &opts, None);
        let facts = MinionFacts {
            id: "web1",
            grains: &self.grains,
            pillar: None,
        };
        compile_pillar_merged(
            roots,
            &r,
            &facts,
            &self.merging,
            Some(env),
            &BTreeMap::new(),
        )
    }

    fn render(&self, name: &str, text: &str) -> Result<Value, String> {
        use brine_states::compile::SlsRenderer;
        let opts = json!({});
        let r = crate::fileserver::pillar_renderer(&self.roots, &self.grains, &opts, None);
        r.render("base", name, name, text).map(|n| n.to_json())
    }
}

fn minion<'a>(
    id: &'a str,
    grains: &'a Grains,
    nodegroups: &'a BTreeMap<String, NodegroupDef>,
    roots: &'a LocalRoots,
) -> Minion<'a> {
    Minion {
        id,
        grains,
        saltenv: None,
        nodegroups,
        pillar_roots: roots,
    }
}

/// Runs `ext` for minion `id` over `pillar`: (pillar, errors).
fn apply_for(ext: &ExtPillar, id: &str, pillar: Value) -> (Value, Vec<String>) {
    let grains = Grains::new();
    let groups = BTreeMap::new();
    let roots = LocalRoots::new(BTreeMap::new());
    let m = minion(id, &grains, &groups, &roots);
    let mut errors = Vec::new();
    let out = ext.apply(pillar, &m, &TestCompiler::new(), &mut errors);
    (out, errors)
}

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn ext_of(sources: Vec<Source>, strategy: &str, merge_lists: bool) -> ExtPillar {
    let dir = tempfile::tempdir().unwrap();
    ExtPillar::new(
        ExtPillarConfig {
            sources,
            merging: Merging {
                strategy: strategy.into(),
                merge_lists,
            },
            ..Default::default()
        },
        dir.path(),
    )
}

// ---- configuration --------------------------------------------------------

#[test]
fn config_reads_salt_forms() {
    let c = conf(
        "ext_pillar_first: true\npillar_source_merging_strategy: overwrite\n\
         pillar_merge_lists: true\ngit_pillar_root: pillar/\ngit_pillar_update_interval: 120\n\
         ext_pillar:\n  - cmd_yaml: /bin/gen %s\n  - cmd_json: 'gen --json'\n\
         \x20 - file_tree:\n      root_dir: /srv/ext\n      keep_newline: ['a/*']\n      template: true\n\
         \x20 - git:\n    - master file:///srv/p.git\n    - file:///srv/q.git\n\
         \x20   - dev file:///srv/p.git:\n      - env: develop\n      - root: other\n      - name: devp\n\
         \x20 - mongo: {collection: x}\n",
    )
    .unwrap();
    assert!(c.first);
    assert_eq!(c.merging.strategy, "overwrite");
    assert!(c.merging.merge_lists);
    assert_eq!(c.git_update_interval.as_secs(), 120);
    // The unavailable `mongo` interface is skipped (logged), as Salt.
    assert_eq!(c.sources.len(), 4);
    assert_eq!(c.sources[0], Source::CmdYaml("/bin/gen %s".into()));
    assert_eq!(c.sources[1], Source::CmdJson("gen --json".into()));
    assert_eq!(
        c.sources[2],
        Source::FileTree(FileTree {
            root_dir: "/srv/ext".into(),
            follow_dir_links: false,
            keep_newline: KeepNewline::Globs(vec!["a/*".into()]),
            template: true,
        })
    );
    let Source::Git(remotes) = &c.sources[3] else {
        panic!("{:?}", c.sources[3])
    };
    let want =
        |url: &str, branch: &str, env: Option<&str>, root: &str, name: Option<&str>| GitRemote {
            url: url.into(),
            branch: branch.into(),
            env: env.map(Into::into),
            root: root.into(),
            mountpoint: String::new(),
            name: name.map(Into::into),
            base: "master".into(),
        };
    assert_eq!(
        remotes,
        &vec![
            want("file:///srv/p.git", "master", None, "pillar", None),
            want("file:///srv/q.git", "master", None, "pillar", None),
            want(
                "file:///srv/p.git",
                "dev",
                Some("develop"),
                "other",
                Some("devp")
            ),
        ]
    );
}

#[test]
fn config_defaults_and_errors() {
    let c = conf("").unwrap();
    assert!(c.sources.is_empty() && !c.first);
    assert_eq!(c.merging, Merging::default());
    for (text, needle) in [
        ("pillar_source_merging_strategy: deep\n", "deep"),
        ("ext_pillar: {cmd_yaml: x}\n", "malformed"),
        ("ext_pillar:\n  - cmd_yaml: ''\n", "command line"),
        ("ext_pillar:\n  - file_tree: {}\n", "no root_dir"),
        (
            "ext_pillar:\n  - file_tree: {root_dir: /x, keep_newline: 3}\n",
            "keep_newline",
        ),
        ("ext_pillar:\n  - git:\n    - a b c\n", "branch"),
        (
            "ext_pillar:\n  - git:\n    - master /r:\n      - colour: red\n",
            "colour",
        ),
    ] {
        let err = conf(text).unwrap_err().to_string();
        assert!(err.contains(needle), "{text}: {err}");
    }
}

#[test]
fn shlex_splits_like_python() {
    assert_eq!(
        cmd::shlex_split(r#"a 'b c' "d \" e" f\ g"#).unwrap(),
        vec!["a", "b c", "d \" e", "f g"]
    );
    assert!(cmd::shlex_split("a 'b").is_err());
    assert!(cmd::shlex_split("  ").unwrap().is_empty());
}

// ---- merge strategies (Salt's documented examples) --------------------------

/// pillar_source_merging_strategy's documentation: the pillar so far and
/// what an external pillar adds.
fn doc_pair() -> (Value, Value) {
    (
        json!({"foo": 42, "bar": {"element1": true}}),
        json!({"bar": {"element2": true}, "baz": "quux"}),
    )
}

fn yaml_ext(dir: &Path, name: &str, yaml: &str) -> Source {
    let p = dir.join(format!("{name}.yaml"));
    std::fs::write(&p, yaml).unwrap();
    Source::CmdYaml(format!("cat {}", p.display()))
}

#[test]
fn strategies_merge_as_salt_documents() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = doc_pair();
    let src = yaml_ext(dir.path(), "b", &serde_yaml::to_string(&b).unwrap());
    let run =
        |strategy: &str| apply_for(&ext_of(vec![src.clone()], strategy, false), "m", a.clone());
    let recursed = json!({"foo": 42, "bar": {"element1": true, "element2": true}, "baz": "quux"});
    for s in ["smart", "recurse"] {
        let (p, errors) = run(s);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(p, recursed, "{s}");
    }
    // overwrite: a shared top-level key takes the new value whole.
    let (p, _) = run("overwrite");
    assert_eq!(
        p,
        json!({"foo": 42, "bar": {"element2": true}, "baz": "quux"})
    );
    // aggregate without yamlex tags: mappings are not merged in depth.
    let (p, _) = run("aggregate");
    assert_eq!(
        p,
        json!({"foo": 42, "bar": {"element2": true}, "baz": "quux"})
    );
}

#[test]
fn merge_lists_extends_lists() {
    let dir = tempfile::tempdir().unwrap();
    let src = yaml_ext(dir.path(), "l", "users: [bob, carol]\n");
    let before = json!({"users": ["alice", "bob"]});
    let (p, _) = apply_for(
        &ext_of(vec![src.clone()], "smart", true),
        "m",
        before.clone(),
    );
    assert_eq!(p["users"], json!(["alice", "bob", "carol"]));
    let (p, _) = apply_for(&ext_of(vec![src], "smart", false), "m", before);
    assert_eq!(p["users"], json!(["bob", "carol"]));
}

#[test]
fn strategy_none_reads_only_the_base_top() {
    let dir = tempfile::tempdir().unwrap();
    let (base, dev) = (dir.path().join("base"), dir.path().join("dev"));
    for (d, env, val) in [(&base, "base", "b"), (&dev, "dev", "d")] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::write(d.join("top.sls"), format!("{env}:\n  '*':\n    - data\n")).unwrap();
        std::fs::write(d.join("data.sls"), format!("{env}_key: {val}\n")).unwrap();
    }
    let roots = LocalRoots::new(BTreeMap::from([
        ("base".to_string(), vec![base]),
        ("dev".to_string(), vec![dev]),
    ]));
    let grains = Grains::new();
    let facts = MinionFacts {
        id: "m",
        grains: &grains,
        pillar: None,
    };
    let opts = json!({});
    let r = crate::fileserver::pillar_renderer(&roots, &grains, &opts, None);
    let compile = |strategy: &str| {
        let m = Merging {
            strategy: strategy.into(),
            merge_lists: false,
        };
        compile_pillar_merged(&roots, &r, &facts, &m, None, &BTreeMap::new()).pillar
    };
    assert_eq!(compile("smart"), json!({"base_key": "b", "dev_key": "d"}));
    assert_eq!(compile("none"), json!({"base_key": "b"}));
}

#[test]
fn sources_merge_in_order_and_first_puts_sls_on_top() {
    let dir = tempfile::tempdir().unwrap();
    let one = yaml_ext(dir.path(), "one", "role: one\nonly1: x\n");
    let two = yaml_ext(dir.path(), "two", "role: two\n");
    let grains = Grains::new();
    let groups = BTreeMap::new();
    let roots = LocalRoots::new(BTreeMap::new());
    let m = minion("m", &grains, &groups, &roots);
    let seen = std::cell::RefCell::new(Value::Null);
    let sls = |ctx: &Value| {
        *seen.borrow_mut() = ctx.clone();
        CompiledPillar {
            pillar: json!({"role": "sls", "from_sls": ctx.get("only1").cloned()}),
            errors: vec![],
        }
    };
    let mut ext = ext_of(vec![one, two], "smart", false);
    let c = ext.compile(&m, &TestCompiler::new(), &sls);
    assert_eq!(
        c.pillar,
        json!({"role": "two", "only1": "x", "from_sls": null})
    );
    assert_eq!(*seen.borrow(), json!({}));
    ext.conf.first = true;
    let c = ext.compile(&m, &TestCompiler::new(), &sls);
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    // The SLS saw the external data as `pillar` and win over it.
    assert_eq!(
        c.pillar,
        json!({"role": "sls", "only1": "x", "from_sls": "x"})
    );
}

// ---- cmd_yaml / cmd_json ----------------------------------------------------

#[test]
fn cmd_yaml_and_json_get_the_minion_id() {
    let dir = tempfile::tempdir().unwrap();
    let y = script(
        dir.path(),
        "gen-yaml",
        "printf 'host: %s\\nargs: [%s]\\nnested:\\n  a: 1\\n' \"$1\" \"$2\"",
    );
    let j = script(
        dir.path(),
        "gen-json",
        "printf '{\"who\": \"%s\", \"n\": [1, 2]}' \"$1\"",
    );
    let ext = ext_of(
        vec![
            Source::CmdYaml(format!("{} %s 'two words'", y.display())),
            Source::CmdJson(format!("{} web-%s", j.display())),
        ],
        "smart",
        false,
    );
    let (p, errors) = apply_for(&ext, "web1", json!({"nested": {"b": 2}}));
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        p,
        json!({"nested": {"a": 1, "b": 2}, "host": "web1", "args": ["two words"],
               "who": "web-web1", "n": [1, 2]})
    );
}

#[test]
fn failing_commands_are_pillar_errors() {
    let dir = tempfile::tempdir().unwrap();
    let fails = script(dir.path(), "fails", "echo 'key: v'; echo boom >&2; exit 3");
    let bad = script(dir.path(), "bad", "printf 'a: [1\\n'");
    let list = script(dir.path(), "list", "printf -- '- 1\\n- 2\\n'");
    let good = script(dir.path(), "good", "echo 'kept: here'");
    let ext = ext_of(
        vec![
            Source::CmdYaml(fails.display().to_string()),
            Source::CmdYaml(bad.display().to_string()),
            Source::CmdJson(bad.display().to_string()),
            Source::CmdYaml(list.display().to_string()),
            Source::CmdYaml(dir.path().join("missing").display().to_string()),
            Source::CmdYaml("'unclosed".into()),
            Source::CmdYaml(good.display().to_string()),
        ],
        "smart",
        false,
    );
    let (p, errors) = apply_for(&ext, "m", json!({"sls": 1}));
    // What failed added nothing; what worked still counts.
    assert_eq!(p, json!({"sls": 1, "kept": "here"}));
    assert_eq!(errors.len(), 6, "{errors:#?}");
    assert!(errors
        .iter()
        .all(|e| e.starts_with("Failed to load ext_pillar cmd_")));
    assert!(
        errors[0].contains("exited with code 3: boom"),
        "{}",
        errors[0]
    );
    assert!(errors[1].contains("YAML data from"), "{}", errors[1]);
    assert!(errors[2].contains("JSON data from"), "{}", errors[2]);
    assert!(
        errors[3].contains("not a dictionary but list"),
        "{}",
        errors[3]
    );
    assert!(errors[4].contains("cannot run"), "{}", errors[4]);
    assert!(errors[5].contains("No closing quotation"), "{}", errors[5]);
}

#[test]
fn oversized_output_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let big = script(
        dir.path(),
        "big",
        &format!("head -c {} /dev/zero | tr '\\0' a", cmd::MAX_OUTPUT + 10),
    );
    let err = cmd::run(&big.display().to_string(), "m", cmd::Format::Yaml).unwrap_err();
    assert!(err.contains("more than"), "{err}");
}

// ---- file_tree ----------------------------------------------------------------

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn tree(root: &Path) -> FileTree {
    FileTree {
        root_dir: root.to_path_buf(),
        follow_dir_links: false,
        keep_newline: KeepNewline::All(false),
        template: false,
    }
}

#[test]
fn file_tree_reads_hosts_and_nodegroups() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(&root.join("hosts/web1/role"), "web\n");
    write(
        &root.join("hosts/web1/apache/config.d/site.conf"),
        "Listen 80\n\n",
    );
    write(&root.join("hosts/web1/motd"), "hi\n");
    write(&root.join("hosts/db1/role"), "db\n");
    write(&root.join("nodegroups/webs/role"), "generic\n");
    write(&root.join("nodegroups/webs/tier"), "front\n");
    write(&root.join("nodegroups/dbs/tier"), "back\n");
    std::fs::create_dir_all(root.join("hosts/web1/empty")).unwrap();
    let groups: BTreeMap<String, NodegroupDef> =
        serde_yaml::from_str("webs: 'web*'\ndbs: 'L@db1,db2'\n").unwrap();
    let grains = Grains::new();
    let roots = LocalRoots::new(BTreeMap::new());
    let m = minion("web1", &grains, &groups, &roots);
    let render = |_: &str, _: &str| -> Result<Value, String> { unreachable!() };
    let mut t = tree(root);
    t.keep_newline = KeepNewline::Globs(vec!["apache/config.d/*".into()]);
    let (p, errors) = file_tree::compile(&t, &m, &render);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        p,
        json!({
            "role": "web",
            "tier": "front",
            "motd": "hi",
            "empty": {},
            "apache": {"config.d": {"site.conf": "Listen 80\n\n"}},
        })
    );
    t.keep_newline = KeepNewline::Globs(vec!["./motd".into()]);
    let (p, _) = file_tree::compile(&t, &m, &render);
    assert_eq!((&p["motd"], &p["role"]), (&json!("hi\n"), &json!("web")));
    t.keep_newline = KeepNewline::All(true);
    let (p, _) = file_tree::compile(&t, &m, &render);
    assert_eq!(p["role"], json!("web\n"));
    // A minion without a host directory gets only its nodegroups' data.
    let m = minion("db2", &grains, &groups, &roots);
    let (p, errors) = file_tree::compile(&tree(root), &m, &render);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(p, json!({"tier": "back"}));
}

#[test]
fn file_tree_templates_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        &root.join("hosts/m/conf"),
        "{% set n = 2 %}port: {{ 40 + n }}\n",
    );
    let grains = Grains::new();
    let groups = BTreeMap::new();
    let roots = LocalRoots::new(BTreeMap::new());
    let m = minion("m", &grains, &groups, &roots);
    let mut t = tree(root);
    t.template = true;
    let ext = ext_of(vec![Source::FileTree(t)], "smart", false);
    let mut errors = Vec::new();
    let p = ext.apply(json!({}), &m, &TestCompiler::new(), &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(p, json!({"conf": {"port": 42}}));
    // A root_dir that is not there is an error, not silence.
    let ext = ext_of(
        vec![Source::FileTree(tree(&root.join("nope")))],
        "smart",
        false,
    );
    let (_, errors) = apply_for(&ext, "m", json!({}));
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("does not exist"), "{errors:?}");
}

#[test]
fn file_tree_relative_root_follows_the_pillarenv() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("dev/ext/hosts/m/k"), "v\n");
    let roots = LocalRoots::new(BTreeMap::from([(
        "dev".to_string(),
        vec![dir.path().join("dev")],
    )]));
    let grains = Grains::new();
    let groups = BTreeMap::new();
    let mut m = minion("m", &grains, &groups, &roots);
    let render = |_: &str, _: &str| -> Result<Value, String> { unreachable!() };
    let t = tree(Path::new("ext"));
    let (_, errors) = file_tree::compile(&t, &m, &render);
    assert!(errors[0].contains("pillarenv is not set"), "{errors:?}");
    m.saltenv = Some("dev");
    let (p, errors) = file_tree::compile(&t, &m, &render);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(p, json!({"k": "v"}));
}

// ---- git ----------------------------------------------------------------------

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
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
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

/// A bare repository at `<dir>/pillar.git`: master has top.sls and
/// common.sls under `pillar/`; branch dev has its own top and dev.sls.
fn bare_repo(dir: &Path) -> String {
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "--quiet", "--initial-branch=master"]);
    write(
        &work.join("pillar/top.sls"),
        "base:\n  '*':\n    - common\n",
    );
    write(
        &work.join("pillar/common.sls"),
        "from_git: master\nshared:\n  git: 1\n",
    );
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "--quiet", "-m", "base"]);
    git(&work, &["checkout", "--quiet", "-b", "dev"]);
    write(&work.join("pillar/top.sls"), "dev:\n  '*':\n    - dev\n");
    write(&work.join("pillar/dev.sls"), "from_git: dev\n");
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "--quiet", "-m", "dev"]);
    let bare = dir.join("pillar.git");
    let out = Command::new("git")
        .args(["clone", "--quiet", "--bare"])
        .arg(&work)
        .arg(&bare)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    format!("file://{}", bare.display())
}

#[test]
fn git_pillar_compiles_each_remote_branch() {
    let dir = tempfile::tempdir().unwrap();
    let url = bare_repo(dir.path());
    let c = conf(&format!(
        "git_pillar_root: pillar\next_pillar:\n  - git:\n    - master {url}\n    - dev {url}\n"
    ))
    .unwrap();
    let cache = dir.path().join("cache");
    let ext = ExtPillar::new(c, &cache);
    let (p, errors) = apply_for(&ext, "web1", json!({"shared": {"sls": 1}}));
    assert!(errors.is_empty(), "{errors:?}");
    // master is env base, dev is env dev; both merged in order.
    assert_eq!(
        p,
        json!({"shared": {"sls": 1, "git": 1}, "from_git": "dev"})
    );
    // A pillarenv keeps only the remotes of that environment.
    let grains = Grains::new();
    let groups = BTreeMap::new();
    let roots = LocalRoots::new(BTreeMap::new());
    let mut m = minion("web1", &grains, &groups, &roots);
    m.saltenv = Some("base");
    let mut errors = Vec::new();
    let p = ext.apply(json!({}), &m, &TestCompiler::new(), &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(p, json!({"from_git": "master", "shared": {"git": 1}}));
    assert!(cache.join("git_pillar").read_dir().unwrap().count() == 2);
}

#[test]
fn git_pillar_env_option_and_unreachable_remote() {
    let dir = tempfile::tempdir().unwrap();
    let url = bare_repo(dir.path());
    let missing = format!("file://{}", dir.path().join("nowhere.git").display());
    let c = conf(&format!(
        "ext_pillar:\n  - git:\n    - {missing}\n    - dev {url}:\n      - root: pillar\n      - env: dev\n"
    ))
    .unwrap();
    let ext = ExtPillar::new(c, &dir.path().join("cache"));
    let (p, errors) = apply_for(&ext, "m", json!({"a": 1}));
    assert_eq!(p, json!({"a": 1, "from_git": "dev"}));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("Failed to load ext_pillar git: remote 'master file://"),
        "{errors:?}"
    );
}

/// `examples/master.yaml` documents every option `conf.rs` reads, with the
/// defaults the code uses.
#[test]
fn example_documents_every_ext_pillar_option() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/master.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let keys = brine_proto::conf::keys_read_in(include_str!("conf.rs"));
    assert!(keys.len() >= 9, "{keys:?}");
    for key in keys {
        assert!(
            text.contains(&format!("\n{key}:")),
            "examples/master.yaml lacks '{key}'"
        );
    }
    let example = conf(&text).unwrap();
    assert_eq!(example, conf("").unwrap());
}

#[test]
fn git_pillar_env_branch_follows_the_pillarenv_and_refetches() {
    let dir = tempfile::tempdir().unwrap();
    let url = bare_repo(dir.path());
    let c = conf(&format!(
        "git_pillar_update_interval: 1\next_pillar:\n  - git:\n    - __env__ {url}:\n      - root: pillar\n"
    ))
    .unwrap();
    let ext = ExtPillar::new(c, &dir.path().join("cache"));
    let grains = Grains::new();
    let groups = BTreeMap::new();
    let roots = LocalRoots::new(BTreeMap::new());
    let mut m = minion("m", &grains, &groups, &roots);
    let run = |m: &Minion<'_>| {
        let mut errors = Vec::new();
        let p = ext.apply(json!({}), m, &TestCompiler::new(), &mut errors);
        (p, errors)
    };
    // No pillarenv: git_pillar_base (master) as `base`.
    let (p, errors) = run(&m);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(p["from_git"], json!("master"));
    m.saltenv = Some("dev");
    let (p, errors) = run(&m);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(p, json!({"from_git": "dev"}));
    // A new commit upstream is seen once the update interval has passed.
    let work = dir.path().join("work");
    write(&work.join("pillar/dev.sls"), "from_git: dev2\n");
    git(&work, &["commit", "--quiet", "-am", "dev2"]);
    git(
        &work,
        &[
            "push",
            "--quiet",
            dir.path().join("pillar.git").to_str().unwrap(),
            "dev",
        ],
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (p, _) = run(&m);
    assert_eq!(p, json!({"from_git": "dev2"}));
    // A branch that does not exist is an error.
    m.saltenv = Some("qa");
    let (_, errors) = run(&m);
    assert!(
        errors[0].contains("branch 'qa' has not been fetched"),
        "{errors:?}"
    );
}

/// The master config reads these keys: none is warned about as ignored.
#[test]
fn master_config_acts_on_ext_pillar_keys() {
    let raw = RawConfig::parse(
        "master",
        "ext_pillar:\n  - cmd_json: /bin/true\next_pillar_first: true\n\
         pillar_source_merging_strategy: recurse\npillar_merge_lists: true\n\
         git_pillar_base: main\ngit_pillar_branch: main\ngit_pillar_root: p\n\
         git_pillar_env: base\ngit_pillar_update_interval: 5\n",
    )
    .unwrap();
    let c = crate::config::MasterConfig::from_raw(Path::new("/etc/brine"), raw).unwrap();
    assert!(c.ignored_keys.is_empty(), "{:?}", c.ignored_keys);
    assert_eq!(
        c.ext_pillar.sources,
        vec![Source::CmdJson("/bin/true".into())]
    );
    assert_eq!(c.ext_pillar.merging.strategy, "recurse");
}
