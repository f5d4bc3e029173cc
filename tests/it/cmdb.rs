//! The inventory as a CMDB: a grain changed with `grains.setval` shows in
//! the minion's history, in a diff between two times, in the fleet's
//! changes and against a baseline saved before; queries select minions by
//! target and print the fields asked for as CSV, a table or counts.

use brine_tests::{assert_eventually, Cluster};
use serde_json::{json, Value};

#[test]
fn grain_history_diff_changes_baseline_and_query() {
    let srv = tempfile::tempdir().unwrap();
    std::fs::write(
        srv.path().join("check.sls"),
        "changed:\n  test.succeed_with_changes: []\nfailed:\n  test.fail_without_changes: []\nsame:\n  test.succeed_without_changes: []\n",
    )
    .unwrap();
    let c = Cluster::builder()
        .master_config(&format!(
            "file_roots:\n  base:\n    - {}\n",
            srv.path().display()
        ))
        .minion("web1", "role: web\nappcode: shop")
        .minion("db1", "role: db\nappcode: shop")
        .start();
    c.accept_all();
    c.wait_answering(&["web1", "db1"]);
    assert_eventually!(
        c.run_json(&["inventory.history", "web1"])
            .as_array()
            .is_some_and(|v| v.len() == 1 && v[0]["first_report"] == json!(true)),
        "web1's first report is its history's first version"
    );
    let saved = c.run_json(&["inventory.baseline", "save", "before-change"]);
    assert_eq!(saved["minions"], 2, "{saved}");
    // A second apart, so that `from` falls between the two versions.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let before = now_unix_secs();
    std::thread::sleep(std::time::Duration::from_millis(1100));

    let (out, _) = c.brine_json(&["web1", "grains.setval", "color", "blue"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eventually!(
        c.run_json(&["inventory.history", "web1"])
            .as_array()
            .is_some_and(|v| v.len() == 2),
        "the change is a new version"
    );
    let history = c.run_json(&["inventory.history", "web1"]);
    assert_eq!(
        history[0]["changes"],
        json!({"color": {"old": null, "new": "blue"}}),
        "{history}"
    );

    // What changed since `before`: the new grain, nothing else.
    let from = format!("from={before}");
    let diff = c.run_json(&["inventory.diff", "web1", &from]);
    assert_eq!(diff, json!({"color": {"old": null, "new": "blue"}}));
    let out = c.run(&["inventory.diff", "web1", "from=yesterday"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("not a time"), "{out:?}");
    let changes = c.run_json(&["inventory.changes", &format!("since={before}")]);
    assert_eq!(changes.as_object().unwrap().len(), 1, "{changes}");
    assert_eq!(changes["web1"][0]["changes"]["color"]["new"], "blue");
    // `--since 1h` as the issue types it: both first reports are there too.
    let out = c.run(&["--out", "json", "inventory.changes", "--since", "1h"]);
    assert_eq!(out.code, 0, "{out:?}");
    let hour: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(hour["db1"][0]["first_report"], json!(true), "{hour}");

    // The baseline saved before the change shows it.
    let b = c.run_json(&["inventory.baseline", "diff", "before-change"]);
    assert_eq!(b["differ"], 1, "{b}");
    assert_eq!(
        b["minions"]["web1"]["grains"]["color"]["new"], "blue",
        "{b}"
    );
    let listed = c.run_json(&["inventory.baseline", "list"]);
    assert!(listed.get("before-change").is_some(), "{listed}");

    // Queries: fields as CSV, counts per value, a table.
    let out = c.run(&[
        "inventory.query",
        "G@appcode:shop and not G@role:db",
        "--fields",
        "id,role,color,connected",
        "--out",
        "csv",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "id,role,color,connected\nweb1,web,blue,True\n");
    let counts = c.run_json(&["inventory.query", "*", "--group-by", "appcode"]);
    assert_eq!(counts, json!([{"appcode": "shop", "count": 2}]));
    let out = c.run(&["inventory.query", "*", "fields=id,role", "--out", "table"]);
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["id", "role"]
    );
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        ["db1", "db"]
    );
    // One minion's page: key, presence, ownership, its last state run.
    let (out, _) = c.brine_json(&["web1", "state.apply", "check"]);
    assert_ne!(out.code, 0, "one state fails: {out:?}");
    let page = c.run_json(&["inventory.minion", "web1"]);
    assert_eq!(page["key"], "accepted", "{page}");
    assert_eq!(page["connected"], true, "{page}");
    assert_eq!(page["masters"], json!(["master0"]), "{page}");
    assert_eq!(page["ownership"]["appcode"], "shop", "{page}");
    assert_eq!(page["ownership"]["owner"], Value::Null, "{page}");
    assert_eq!(page["grains"]["color"], "blue", "{page}");
    let run = &page["last_state_run"];
    assert_eq!(
        (&run["states"], &run["changed"], &run["failed"]),
        (&json!(3), &json!(1), &json!(1)),
        "{page}"
    );
    assert_eq!(run["fun"], "state.apply", "{page}");
    let out = c.run(&["inventory.minion", "nosuch"]);
    assert_ne!(out.code, 0, "{out:?}");
    let out = c.run(&["inventory.query", "( G@role:web"]);
    assert_ne!(out.code, 0, "a bad target is an error: {out:?}");
}

/// Now, in unix seconds (one of the forms the runners read).
fn now_unix_secs() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    secs.to_string()
}
