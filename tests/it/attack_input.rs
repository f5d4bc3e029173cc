//! Hostile input from the state tree or in requests: path escapes from the
//! file roots (`..`, percent-encoded dots, symlinks out of the roots) are
//! refused, and a "billion laughs" SLS is a render error, not an
//! out-of-memory minion.

use brine_tests::{assert_eventually, Cluster};
use serde_json::json;

#[test]
fn escapes_from_the_file_roots_are_refused_in_every_spelling() {
    let roots = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "top secret\n").unwrap();
    std::fs::create_dir_all(roots.path().join("a")).unwrap();
    std::fs::write(roots.path().join("a/ok.txt"), "fine\n").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), roots.path().join("link-out"))
        .unwrap();
    std::os::unix::fs::symlink(outside.path(), roots.path().join("dir-out")).unwrap();
    let c = Cluster::builder()
        .master_config(&format!(
            "file_roots: {{base: [{}]}}",
            roots.path().display()
        ))
        .minion("m1", "")
        .start();
    c.accept_all();
    let dest = c.minion_root("m1").join("got");
    let dest_s = dest.display().to_string();
    let (out, _) = c.brine_json(&["m1", "cp.get_file", "salt://a/ok.txt", &dest_s]);
    assert_eq!(out.code, 0, "{out:?}");
    std::fs::remove_file(&dest).unwrap();
    for bad in [
        "salt://../secret",
        "salt://a/../../secret",
        "salt://%2e%2e/%2e%2e/etc/passwd",
        "salt://a/%2e%2e/%2e%2e/etc/passwd",
        "salt://..%2fsecret",
        "salt://link-out",
        "salt://dir-out/secret",
        "salt:///etc/passwd",
    ] {
        let (_, v) = c.brine_json(&["m1", "cp.get_file", bad, &dest_s]);
        assert!(!dest.exists(), "{bad} was copied: {v}");
        let text = v["m1"].to_string();
        assert!(!text.contains("top secret"), "{bad}: {v}");
    }
    // Listings do not show what the symlinks point at either.
    let (_, v) = c.brine_json(&["m1", "cp.list_master"]);
    let listed = v["m1"].to_string();
    assert!(!listed.contains("dir-out/secret"), "{listed}");
    assert!(c.minion_root("m1").exists());
    let (out, v) = c.brine_json(&["m1", "test.ping"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(v, json!({"m1": true}));
}

#[test]
fn a_billion_laughs_sls_is_a_render_error_and_the_minion_lives() {
    let roots = tempfile::tempdir().unwrap();
    let mut sls = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
    for w in names.windows(2) {
        let prev = format!("*{}", w[0]);
        let items = [prev.as_str(); 9].join(",");
        sls.push_str(&format!("{}: &{} [{items}]\n", w[1], w[1]));
    }
    std::fs::write(roots.path().join("lol.sls"), sls).unwrap();
    let mut c = Cluster::builder()
        .master_config(&format!(
            "file_roots: {{base: [{}]}}",
            roots.path().display()
        ))
        .minion("m1", "")
        .start();
    c.accept_all();
    let (out, v) = c.brine_json(&["-t", "60", "m1", "state.apply", "lol"]);
    assert_ne!(out.code, 0, "{out:?}");
    let text = v["m1"].to_string();
    assert!(text.contains("too many nodes"), "{text}");
    assert!(c.minion("m1").is_running(), "minion died:\n{}", c.logs());
    assert_eventually!(
        {
            let (_, v) = c.brine_json(&["m1", "test.ping"]);
            v == json!({"m1": true})
        },
        "the minion still answers"
    );
}
