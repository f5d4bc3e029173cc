//! States through the master: the file server gives each minion the same
//! tree, the top file and pillar give each its own states and data, and
//! requisites run in Salt's order. Expected results were taken from Salt
//! 3008.5 running the same SLS (`salt-call --local state.apply`).

use std::path::Path;

use brine_tests::Cluster;
use serde_json::{json, Value};

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The state tree and pillar tree shared by the tests below.
fn trees(root: &Path) {
    write(
        root,
        "salt/top.sls",
        "base:\n  '*':\n    - common\n  'role:web':\n    - match: grain\n    - web\n  \
         'tier:db*':\n    - match: pillar\n    - db\n  'fronts':\n    - match: nodegroup\n    - front\n",
    );
    write(
        root,
        "salt/common.sls",
        "{{ grains['test_root'] }}/common.txt:\n  file.managed:\n    - makedirs: True\n    \
         - contents: common for {{ grains['id'] }}\n",
    );
    write(
        root,
        "salt/web.sls",
        "web_conf:\n  file.managed:\n    - name: {{ grains['test_root'] }}/web.conf\n    \
         - source: salt://files/web.conf.j2\n    - template: jinja\n    - makedirs: True\n",
    );
    write(
        root,
        "salt/files/web.conf.j2",
        "port={{ pillar.get('port', '') }} secret={{ pillar['secret'] }}\n",
    );
    write(
        root,
        "salt/db.sls",
        "db_conf:\n  file.managed:\n    - name: {{ grains['test_root'] }}/db.conf\n    \
         - contents: {{ salt['pillar.get']('secret') }}\n    - makedirs: True\n",
    );
    write(
        root,
        "salt/front.sls",
        "{{ grains['test_root'] }}/front.txt:\n  file.managed:\n    - contents: front\n",
    );
    write(
        root,
        "pillar/top.sls",
        "base:\n  'web1':\n    - web\n  'db1':\n    - db\n  'dbs':\n    - match: nodegroup\n    - dbgroup\n",
    );
    write(root, "pillar/dbgroup.sls", "group: dbs\n");
    write(
        root,
        "pillar/web.sls",
        "role: web\nport: 80\nsecret: web-secret\n\
         grain_role: {{ salt['grains.get']('role') }}\n",
    );
    write(root, "pillar/db.sls", "tier: db-main\nsecret: db-secret\n");
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("<{}: {e}>", path.display()))
}

/// Result entries of one minion's state return, ordered by `__run_num__`.
fn by_run_num(ret: &Value) -> Vec<(String, Value)> {
    let mut v: Vec<(String, Value)> = ret
        .as_object()
        .unwrap_or_else(|| panic!("not a state return: {ret}"))
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    v.sort_by_key(|(_, s)| s["__run_num__"].as_u64());
    v
}

#[test]
fn state_apply_through_the_master_gives_each_minion_its_own_states_and_pillar() {
    let dir = tempfile::tempdir().unwrap();
    trees(dir.path());
    let out = dir.path().join("out");
    let c = Cluster::builder()
        .master_config(&format!(
            "file_roots:\n  base:\n    - {d}/salt\npillar_roots:\n  base:\n    - {d}/pillar\n\
             nodegroups:\n  dbs: 'G@role:db'\n",
            d = dir.path().display()
        ))
        .minion_with(
            "web1",
            &format!("role: web\ntest_root: {}/web1", out.display()),
            "nodegroups:\n  fronts: 'web* and G@role:web'\n",
        )
        .minion(
            "db1",
            &format!("role: db\ntest_root: {}/db1", out.display()),
        )
        .start();
    c.accept_all();

    // Highstate: the top file gives web1 common+web (grain match) and front
    // (nodegroup from its own config), db1 common+db (pillar match on its
    // own pillar, which has `tier` from the master's nodegroup match).
    let (res, v) = c.brine_json(&["*", "state.apply"]);
    assert_eq!(res.code, 0, "{res:?}\n{}", c.logs());
    assert_eq!(v["web1"].as_object().map(|m| m.len()), Some(3), "{v}");
    assert_eq!(read(&out.join("web1/front.txt")), "front\n");
    assert!(!out.join("db1/front.txt").exists());
    assert_eq!(v["db1"].as_object().map(|m| m.len()), Some(2), "{v}");
    assert_eq!(read(&out.join("web1/common.txt")), "common for web1\n");
    assert_eq!(read(&out.join("db1/common.txt")), "common for db1\n");
    assert_eq!(
        read(&out.join("web1/web.conf")),
        "port=80 secret=web-secret\n"
    );
    assert_eq!(read(&out.join("db1/db.conf")), "db-secret\n");
    assert!(!out.join("db1/web.conf").exists());
    assert!(!out.join("web1/db.conf").exists());

    // Converged, the highstate asks for no file: the run's listing says the
    // cached copies are current (one round trip per environment, not per file).
    let per_file = |id: &str| {
        c.minions[id]
            .log_text()
            .lines()
            .filter(|l| {
                l.contains("file received from master") || l.contains("nothing transferred")
            })
            .count()
    };
    let before = per_file("web1");
    assert!(
        before >= 3,
        "top, common, web, template fetched once\n{}",
        c.logs()
    );
    let (res, v) = c.brine_json(&["web1", "state.apply"]);
    assert_eq!(res.code, 0, "{res:?}");
    assert!(
        v["web1"]
            .as_object()
            .unwrap()
            .values()
            .all(|s| s["changes"] == json!({})),
        "{v}"
    );
    assert_eq!(per_file("web1"), before, "{}", c.logs());

    // Named SLS on both: each renders the template with its own pillar.
    let (res, v) = c.brine_json(&["*", "state.apply", "web"]);
    assert_eq!(res.code, 0, "{res:?}\n{}", c.logs());
    let key = format!("file_|-web_conf_|-{}/db1/web.conf_|-managed", out.display());
    assert_eq!(v["db1"][&key]["result"], json!(true), "{v}");
    assert_eq!(read(&out.join("db1/web.conf")), "port= secret=db-secret\n");

    // A minion reads its own pillar only; there is no argument to ask for
    // another's (the master takes the id from the certificate). Pillar
    // templates call execution functions on the master with the minion's grains.
    let (_, v) = c.brine_json(&["*", "pillar.items"]);
    assert_eq!(
        v,
        json!({"web1": {"role": "web", "port": 80, "secret": "web-secret", "grain_role": "web"},
               "db1": {"tier": "db-main", "secret": "db-secret", "group": "dbs"}})
    );
    let (_, v) = c.brine_json(&["*", "pillar.get", "secret"]);
    assert_eq!(v, json!({"web1": "web-secret", "db1": "db-secret"}));
    // The operator's view of one minion's pillar, compiled on the master.
    let res = c.run(&["pillar.show_pillar", "db1", "--out", "json"]);
    assert_eq!(res.code, 0, "{res:?}");
    let shown: Value = serde_json::from_str(&res.stdout).unwrap();
    assert_eq!(
        shown,
        json!({"tier": "db-main", "secret": "db-secret", "group": "dbs"})
    );
    let res = c.run(&["pillar.show_pillar", "nosuch"]);
    assert_ne!(res.code, 0, "{res:?}");

    // Pillar targets, on the master's pillar cache and the minion's pillar.
    let (res, v) = c.brine_json(&["-I", "tier:db*", "test.ping"]);
    assert_eq!(res.code, 0, "{res:?}");
    assert_eq!(v, json!({"db1": true}));
    let (_, v) = c.brine_json(&["-C", "I@role:web or db1", "test.ping"]);
    assert_eq!(v, json!({"web1": true, "db1": true}));

    // pillar= on the command line merges over the pillar for that run only.
    let (res, _) = c.brine_json(&["web1", "state.apply", "web", r#"pillar={"port": 8080}"#]);
    assert_eq!(res.code, 0, "{res:?}");
    assert_eq!(
        read(&out.join("web1/web.conf")),
        "port=8080 secret=web-secret\n"
    );
    let (_, v) = c.brine_json(&["web1", "pillar.get", "port"]);
    assert_eq!(v, json!({"web1": 80}));
    let (res, v) = c.brine_json(&["web1", "state.apply", "web", "pillar=[1]"]);
    assert_ne!(res.code, 0);
    assert!(
        v["web1"]
            .to_string()
            .contains("must be formatted as a dictionary"),
        "{v}"
    );

    // The pillar changes on the master: the minion keeps the one it holds
    // until refresh_pillar (as Salt), then sees the new one.
    write(
        dir.path(),
        "pillar/web.sls",
        "role: web\nport: 81\nsecret: rotated\n",
    );
    let (_, v) = c.brine_json(&["web1", "pillar.get", "secret"]);
    assert_eq!(v, json!({"web1": "web-secret"}));
    let (res, v) = c.brine_json(&["web1", "saltutil.refresh_pillar"]);
    assert_eq!(res.code, 0, "{res:?}");
    assert_eq!(v, json!({"web1": true}));
    let (_, v) = c.brine_json(&["web1", "pillar.get", "secret"]);
    assert_eq!(v, json!({"web1": "rotated"}));

    // Dry run through the master: reports, changes nothing.
    write(
        dir.path(),
        "salt/files/web.conf.j2",
        "changed {{ pillar['port'] }}\n",
    );
    let (res, v) = c.brine_json(&["web1", "state.apply", "web", "test=True"]);
    assert_eq!(res.code, 0, "{res:?}");
    let key = format!(
        "file_|-web_conf_|-{}/web1/web.conf_|-managed",
        out.display()
    );
    assert_eq!(v["web1"][&key]["result"], Value::Null, "{v}");
    assert!(
        v["web1"][&key]["changes"]["diff"]
            .as_str()
            .unwrap_or_default()
            .contains("+changed 81"),
        "{v}"
    );
    assert_eq!(
        read(&out.join("web1/web.conf")),
        "port=8080 secret=web-secret\n"
    );

    // A broken SLS is a clear error return; the minion keeps serving.
    write(
        dir.path(),
        "salt/broken.sls",
        "a:\n  file.managed:\n   - name: [\n",
    );
    let (res, v) = c.brine_json(&["web1", "state.apply", "broken"]);
    assert_ne!(res.code, 0);
    assert!(v["web1"].to_string().contains("broken"), "{v}");
    let (_, v) = c.brine_json(&["web1", "test.ping"]);
    assert_eq!(v, json!({"web1": true}));
}

#[test]
fn requisites_and_ordering_through_the_binaries_are_salts() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("out/order.log");
    write(
        dir.path(),
        "salt/order.sls",
        &include_str!("../data/order.sls").replace("@LOG@", &log.display().to_string()),
    );
    let c = Cluster::builder()
        .master_config(&format!(
            "file_roots:\n  base:\n    - {}/salt\n",
            dir.path().display()
        ))
        .minion("m1", "")
        .start();
    c.accept_all();
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();

    let (res, v) = c.brine_json(&["m1", "state.apply", "order"]);
    // A failed state: the minion's retcode is 2, so the CLI exits 11.
    assert_eq!(res.code, 11, "{res:?}\n{}", c.logs());
    // Salt 3008.5 on the same SLS: (id, result, comment, changed?) by __run_num__.
    let want: &[(&str, Option<bool>, &str, bool)] = &[
        (
            "first",
            Some(true),
            "Command \"echo first >> LOG\" run",
            true,
        ),
        (
            "prepared",
            Some(true),
            "Command \"echo prepared >> LOG\" run",
            true,
        ),
        ("a", Some(true), "Command \"echo a >> LOG\" run", true),
        ("b", Some(true), "Command \"echo b >> LOG\" run", true),
        (
            "watched",
            Some(true),
            "File DIR/out/watched.txt updated",
            true,
        ),
        (
            "on_change",
            Some(true),
            "Command \"echo changed >> LOG\" run",
            true,
        ),
        ("quiet", Some(true), "Success!", false),
        (
            "skipped",
            Some(true),
            "State was not run because none of the onchanges reqs changed",
            false,
        ),
        ("fails", Some(false), "Command \"exit 3\" run", true),
        (
            "after_fail",
            Some(false),
            "One or more requisite failed: order.fails",
            false,
        ),
        (
            "rescue",
            Some(true),
            "Command \"echo rescue >> LOG\" run",
            true,
        ),
        ("last", Some(true), "Command \"echo last >> LOG\" run", true),
    ];
    let got = by_run_num(&v["m1"]);
    assert_eq!(got.len(), want.len(), "{v}");
    for (i, ((_, state), (id, result, comment, changed))) in got.iter().zip(want).enumerate() {
        let comment = comment
            .replace("LOG", &log.display().to_string())
            .replace("DIR", &dir.path().display().to_string());
        assert_eq!(state["__id__"], json!(id), "run {i}: {state}");
        assert_eq!(state["__run_num__"], json!(i), "{state}");
        assert_eq!(state["result"], json!(result), "{id}: {state}");
        assert_eq!(state["comment"], json!(comment), "{id}: {state}");
        let has_changes = state["changes"].as_object().is_some_and(|m| !m.is_empty());
        assert_eq!(has_changes, *changed, "{id}: {state}");
    }
    assert_eq!(
        read(&log),
        "first\nprepared\na\nb\nchanged\nrescue\nlast\n",
        "commands ran in Salt's order, skipped ones did not run"
    );

    // The highstate outputter prints Salt's summary and exits 11 too
    // (watched.txt removed so that the run is the first one again).
    std::fs::remove_file(dir.path().join("out/watched.txt")).unwrap();
    let res = c.brine(&["m1", "state.apply", "order", "--state-output=terse"]);
    assert_eq!(res.code, 11, "{res:?}");
    assert!(
        res.stdout.contains("Succeeded: 10 (changed=9)"),
        "{}",
        res.stdout
    );
    assert!(res.stdout.contains("Failed:     2"), "{}", res.stdout);
}
