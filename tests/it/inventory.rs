//! Grains reach the master's inventory at once, persist on the minion and
//! in the master's store across restarts; jobs run concurrently and a
//! command's timeout kills its whole process group.

use std::time::Duration;

use brine_tests::{assert_eventually, Cluster};
use serde_json::json;

#[test]
fn grain_changes_reach_the_inventory_and_survive_restarts() {
    let mut c = Cluster::builder()
        .minion("m1", "role: web")
        .minion("m2", "role: db")
        .start();
    c.accept_all();

    let (out, v) = c.brine_json(&["m1", "grains.setval", "color", "blue"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(v, json!({"m1": {"color": "blue"}}));
    let (out, v) = c.brine_json(&["m1", "grains.append", "tags", "edge"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(v, json!({"m1": {"tags": ["edge"]}}));
    let (_, v) = c.brine_json(&["-G", "color:blue", "test.ping"]);
    assert_eq!(v, json!({"m1": true}));

    // Stop m1: the master still expects it from its inventory, so the grain
    // target names it as not connected instead of forgetting it.
    c.stop_minion("m1");
    assert_eventually!(
        {
            let o = c.brine(&["-t", "2", "-G", "color:blue", "test.ping"]);
            o.code == 20 && o.stdout.contains("m1:") && o.stdout.contains("not connected")
        },
        "m1 expected from the inventory"
    );
    // The store survives a master restart.
    c.restart_master();
    assert_eventually!(
        {
            let o = c.brine(&["-t", "2", "-G", "tags:edge", "test.ping"]);
            o.code == 20 && o.stdout.contains("m1:") && !o.stdout.contains("m2:")
        },
        "inventory read back from the store"
    );
    // The grains file persists on the minion.
    c.start_minion("m1");
    c.wait_answering(&["m1", "m2"]);
    let (out, v) = c.brine_json(&["-G", "color:blue", "grains.get", "tags"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(v, json!({"m1": ["edge"]}));
    let text = std::fs::read_to_string(c.minion_root("m1").join("conf/grains")).unwrap();
    assert!(text.contains("color: blue"), "{text}");
}

#[test]
fn jobs_run_concurrently_and_timeouts_kill_the_process_group() {
    let c = Cluster::builder().minion("m1", "").start();
    c.accept_all();
    let work = c.minion_root("m1").join("work");
    std::fs::create_dir_all(&work).unwrap();
    let cwd = format!("cwd={}", work.display());

    // A slow command does not hold up a ping.
    let slow = c.brine(&["--async", "m1", "cmd.run", "sleep 20"]);
    assert_eq!(slow.code, 0, "{slow:?}");
    let slow_jid = brine_tests::jid_of(&slow.stdout).unwrap().to_string();
    let (out, v) = c.brine_json(&["-t", "4", "m1", "test.ping"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(v, json!({"m1": true}));

    // saltutil sees it and kills it.
    assert_eventually!(
        c.brine(&["m1", "saltutil.running", "--out", "json"])
            .stdout
            .contains(&slow_jid),
        "the slow job is listed as running"
    );
    let (out, v) = c.brine_json(&["m1", "saltutil.find_job", &slow_jid]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(v["m1"]["fun"], "cmd.run", "{v}");
    let out = c.brine(&["m1", "saltutil.kill_job", &slow_jid]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eventually!(
        !c.brine(&["m1", "saltutil.running", "--out", "json"])
            .stdout
            .contains(&slow_jid),
        "the killed job is gone"
    );

    // timeout= kills the command and what it started in the background.
    let out = c.brine(&[
        "m1",
        "cmd.run",
        "sleep 30 & echo $! > bg.pid; wait",
        "timeout=1",
        &cwd,
    ]);
    assert_eq!(out.code, 11, "{out:?}");
    assert!(out.stdout.contains("Timed out after 1"), "{}", out.stdout);
    let pid: i32 = std::fs::read_to_string(work.join("bg.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eventually!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err(),
        "background child killed with its group"
    );

    // Unknown functions and bad arguments are answers, and the minion lives on.
    let (out, v) = c.brine_json(&["m1", "test.echo", "a", "b"]);
    assert_eq!(out.code, 11, "{out:?}");
    assert!(v["m1"].as_str().unwrap().contains("positional"), "{v}");
    let (out, v) = c.brine_json(&["m1", "cmd.run_all", "echo out; echo err >&2; exit 4"]);
    assert_eq!(out.code, 11, "{out:?}");
    assert_eq!(v["m1"]["stdout"], "out");
    assert_eq!(v["m1"]["stderr"], "err");
    assert_eq!(v["m1"]["retcode"], 4);
    std::thread::sleep(Duration::from_millis(50));
    let (_, v) = c.brine_json(&["m1", "test.ping"]);
    assert_eq!(v, json!({"m1": true}));
}

#[test]
fn output_formats_batches_and_out_file() {
    let mut c = Cluster::builder()
        .minion("a1", "")
        .minion("a2", "")
        .minion("a3", "")
        .start();
    c.accept_all();
    let out = c.brine(&["--out", "txt", "a1", "test.echo", "hi"]);
    assert_eq!(out.stdout, "a1: hi\n", "{out:?}");
    let out = c.brine(&["--out", "yaml", "a1", "grains.item", "id"]);
    assert_eq!(out.stdout, "a1:\n  id: a1\n", "{out:?}");
    let out = c.brine(&["--out", "json", "--static", "a*", "test.ping"]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("one JSON document");
    assert_eq!(v, json!({"a1": true, "a2": true, "a3": true}));
    let file = c.minion_root("a1").join("out.json");
    let out = c.brine(&[
        "--out",
        "json",
        "--out-file",
        file.to_str().unwrap(),
        "a1",
        "test.ping",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(v, json!({"a1": true}));
    // Batches of one: everyone answers, one at a time.
    let (out, v) = c.brine_json(&["-b", "1", "a*", "test.ping"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(v, json!({"a1": true, "a2": true, "a3": true}));
    let (out, v) = c.brine_json(&["-b", "50%", "a*", "test.version"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(v.as_object().unwrap().len(), 3, "{v}");
    // The window rolls: with a2 down, a3 takes a1's slot as soon as a1
    // returns, and answers before a2 is given up on; the summary names a2.
    c.stop_minion("a2");
    let out = c.brine(&["-b", "2", "-t", "4", "--out", "json", "a*", "test.ping"]);
    assert_eq!(out.code, 20, "{out:?}");
    let order: Vec<String> = serde_json::Deserializer::from_str(&out.stdout)
        .into_iter::<serde_json::Value>()
        .map(|d| {
            d.unwrap()
                .as_object()
                .unwrap()
                .keys()
                .next()
                .unwrap()
                .clone()
        })
        .collect();
    assert_eq!(order, ["a1", "a3", "a2"], "{out:?}");
    assert!(
        out.stderr
            .contains("2 succeeded, 0 failed, 1 did not return")
            && out.stderr.contains("Did not return: a2"),
        "{out:?}"
    );
}
