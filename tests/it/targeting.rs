//! Three minions with different custom grains: every target type selects
//! exactly the right minions; a bad expression gives the documented error.

use std::collections::BTreeSet;

use brine_tests::Cluster;

fn cluster() -> Cluster {
    let c = Cluster::builder()
        .master_config(
            "nodegroups:\n  webs: 'G@role:web'\n  pair: [web1, db1]\n  notweb: 'not N@webs'",
        )
        .minion(
            "web1",
            "role: web\ndc: par\ntags: [blue, green]\nrack:\n  row: a1\n  pos: 3",
        )
        .minion(
            "web2",
            "role: web\ndc: lon\ntags: [red]\nrack:\n  row: b2\n  pos: 4",
        )
        .minion(
            "db1",
            "role: db\ndc: par\ntags: [green]\nrack:\n  row: a1\n  pos: 7",
        )
        .start();
    c.accept_all();
    c
}

fn selected(c: &Cluster, flag: Option<&str>, tgt: &str) -> BTreeSet<String> {
    let mut args = vec!["-t", "5"];
    if let Some(f) = flag {
        args.push(f);
    }
    args.extend([tgt, "test.ping"]);
    let (out, v) = c.brine_json(&args);
    if out.code == 2 {
        return BTreeSet::new();
    }
    assert_eq!(out.code, 0, "{flag:?} {tgt}: {out:?}");
    let ids: BTreeSet<String> = v.as_object().unwrap().keys().cloned().collect();
    for id in &ids {
        assert_eq!(v[id], serde_json::Value::Bool(true), "{tgt}: {v}");
    }
    ids
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[test]
fn every_target_type_selects_exactly() {
    let c = cluster();
    let cases: &[(Option<&str>, &str, &[&str])] = &[
        (None, "*", &["web1", "web2", "db1"]),
        (None, "web*", &["web1", "web2"]),
        (None, "web[2-9]", &["web2"]),
        (None, "nomatch*", &[]),
        (Some("-E"), r"web\d", &["web1", "web2"]),
        (Some("-E"), r"(db|web)1", &["web1", "db1"]),
        (Some("-L"), "web1,db1", &["web1", "db1"]),
        (Some("-G"), "role:web", &["web1", "web2"]),
        (Some("-G"), "dc:p*", &["web1", "db1"]),
        (Some("-G"), "tags:green", &["web1", "db1"]),
        (Some("-G"), "rack:row:a1", &["web1", "db1"]),
        (Some("-G"), "rack:pos:4", &["web2"]),
        (Some("-G"), "kernel:Linux", &["web1", "web2", "db1"]),
        (Some("-P"), "dc:^(par|lon)$", &["web1", "web2", "db1"]),
        (Some("-P"), "role:^d", &["db1"]),
        (Some("-C"), "G@role:web and not web2", &["web1"]),
        (Some("-C"), "G@dc:par or L@web2", &["web1", "web2", "db1"]),
        (
            Some("-C"),
            "( G@role:web or G@role:db ) and G@tags:green",
            &["web1", "db1"],
        ),
        (Some("-C"), "web1 or db1 and G@dc:lon", &["web1"]),
        (Some("-C"), r"E@web\d and not G@dc:lon", &["web1"]),
        (Some("-C"), "S@127.0.0.0/8 and db*", &["db1"]),
        (Some("-S"), "127.0.0.0/8", &["web1", "web2", "db1"]),
        (Some("-S"), "10.99.0.0/16", &[]),
        (Some("-N"), "webs", &["web1", "web2"]),
        (Some("-N"), "pair", &["web1", "db1"]),
        (Some("-N"), "notweb", &["db1"]),
        (Some("-C"), "N@webs and G@dc:lon", &["web2"]),
    ];
    for (flag, tgt, want) in cases {
        assert_eq!(selected(&c, *flag, tgt), set(want), "{flag:?} {tgt}");
    }
}

#[test]
fn bad_expressions_get_pointed_errors() {
    let c = Cluster::builder().minion("m1", "").start();
    let out = c.brine(&["-C", "G@os:Debian and and web*", "test.ping"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("unexpected 'and' at position 16"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("^"), "{}", out.stderr);
    let out = c.brine(&["-E", "web(", "test.ping"]);
    assert_eq!(out.code, 1, "{out:?}");
    let out = c.brine(&["-G", "os", "test.ping"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("key:value"), "{}", out.stderr);
    let out = c.brine(&["-N", "nosuchgroup", "test.ping"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("nosuchgroup"), "{}", out.stderr);
}
