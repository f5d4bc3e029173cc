//! The master's file server over the minion's TLS session: listing, copying,
//! not sending an unchanged file twice, and refusing paths that leave the
//! file roots (logged on the master, which keeps serving).

use brine_tests::{assert_eventually, Cluster};
use serde_json::json;

/// Lines of the minion's log saying a file's bytes arrived from the master.
fn transfers(c: &Cluster, id: &str) -> usize {
    c.minions[id]
        .log_text()
        .lines()
        .filter(|l| l.contains("file received from master") && l.contains("a/b.txt"))
        .count()
}

#[test]
fn minion_gets_files_from_the_master_and_escapes_are_refused() {
    let roots = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(roots.path().join("a")).unwrap();
    std::fs::write(roots.path().join("a/b.txt"), "bytes from the master\n").unwrap();
    std::fs::write(roots.path().join("web.sls"), "t: {}\n").unwrap();
    std::fs::create_dir_all(roots.path().join("a/empty")).unwrap();
    let c = Cluster::builder()
        .master_config(&format!(
            "file_roots:\n  base:\n    - {}\n",
            roots.path().display()
        ))
        .minion("m1", "")
        .start();
    c.accept_all();

    let (out, v) = c.brine_json(&["m1", "cp.list_master"]);
    assert_eq!(out.code, 0, "{out:?}\n{}", c.logs());
    assert_eq!(v, json!({"m1": ["a/b.txt", "web.sls"]}));
    let (_, v) = c.brine_json(&["m1", "cp.list_states"]);
    assert_eq!(v, json!({"m1": ["web"]}));
    let (_, v) = c.brine_json(&["m1", "cp.list_master_dirs"]);
    assert_eq!(v, json!({"m1": ["a", "a/empty"]}));

    // file.recurse through the master, empty directories included.
    let tree = c.minion_root("m1").join("tree");
    let (out, v) = c.brine_json(&[
        "m1",
        "state.single",
        "file.recurse",
        &format!("name={}", tree.display()),
        "source=salt://a",
        "include_empty=True",
    ]);
    assert_eq!(out.code, 0, "{out:?}\n{v}\n{}", c.logs());
    assert_eq!(
        std::fs::read_to_string(tree.join("b.txt")).unwrap(),
        "bytes from the master\n"
    );
    assert!(tree.join("empty").is_dir(), "{v}");

    let dest = c.minion_root("m1").join("got.txt");
    let dest_s = dest.display().to_string();
    let (out, v) = c.brine_json(&["m1", "cp.get_file", "salt://a/b.txt", &dest_s]);
    assert_eq!(out.code, 0, "{out:?}\n{}", c.logs());
    assert_eq!(v, json!({"m1": dest_s}));
    assert_eq!(
        std::fs::read_to_string(&dest).unwrap(),
        "bytes from the master\n"
    );
    let cached = c
        .minion_root("m1")
        .join("var/cache/brine/minion/files/base/a/b.txt");
    assert_eventually!(
        transfers(&c, "m1") == 1,
        "one transfer logged\n{}",
        c.logs()
    );

    // Again, unchanged: the cached copy's hash goes along and no bytes come back.
    std::fs::remove_file(&dest).unwrap();
    let (out, v) = c.brine_json(&["m1", "cp.get_file", "salt://a/b.txt", &dest_s]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(v, json!({"m1": dest_s}));
    assert_eq!(
        std::fs::read_to_string(&dest).unwrap(),
        "bytes from the master\n"
    );
    assert_eventually!(
        c.minions["m1"]
            .log_text()
            .contains("cached file is current; nothing transferred"),
        "the second fetch reused the cache\n{}",
        c.logs()
    );
    assert_eq!(transfers(&c, "m1"), 1, "{}", c.logs());

    // Changed on the master: sent again.
    std::fs::write(
        roots.path().join("a/b.txt"),
        "new bytes, longer than before\n",
    )
    .unwrap();
    let (out, _) = c.brine_json(&["m1", "cp.get_file", "salt://a/b.txt", &dest_s]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        std::fs::read_to_string(&dest).unwrap(),
        "new bytes, longer than before\n"
    );
    assert_eventually!(transfers(&c, "m1") == 2, "second transfer\n{}", c.logs());
    assert!(cached.is_file(), "cache at {}", cached.display());

    // Escapes: refused by the master, logged with the minion's id.
    let stolen = c.minion_root("m1").join("stolen");
    let stolen_s = stolen.display().to_string();
    for bad in ["salt://../../etc/passwd", "salt:///etc/passwd"] {
        let (out, v) = c.brine_json(&["m1", "cp.get_file", bad, &stolen_s]);
        assert_ne!(out.code, 0, "{bad}: {out:?}");
        let text = v["m1"].as_str().unwrap_or_default();
        assert!(text.contains("outside the file roots"), "{bad}: {v}");
        assert!(!stolen.exists(), "{bad} was copied");
        let path = bad.trim_start_matches("salt://");
        assert_eventually!(
            c.master.log_text().lines().any(|l| l
                .contains("file request outside the file roots refused")
                && l.contains("m1")
                && l.contains(path)),
            "master logs the refusal of {bad}\n{}",
            c.logs()
        );
    }

    // And keeps serving.
    let (out, v) = c.brine_json(&["m1", "cp.hash_file", "salt://web.sls"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(v["m1"]["hash_type"], json!("sha256"));
}
