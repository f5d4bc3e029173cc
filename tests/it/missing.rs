//! Minions that do not return are named with the reason; exit codes; the
//! job cache answers after the CLI has gone.

use std::time::Duration;

use brine_tests::{assert_eventually, Cluster};
use nix::sys::signal::Signal;

#[test]
fn missing_minions_are_named_with_their_reason() {
    let mut c = Cluster::builder()
        .minion("up1", "")
        .minion("gone1", "")
        .minion("hung1", "")
        .start();
    c.accept_all();

    // A stopped minion: not connected.
    c.stop_minion("gone1");
    assert_eventually!(
        c.run(&["manage.down", "--out", "json"])
            .stdout
            .contains("gone1"),
        "gone1 seen down"
    );
    let out = c.brine(&["-t", "2", "*", "test.ping"]);
    assert_eq!(out.code, 20, "{out:?}");
    assert!(
        out.stdout.contains("gone1:") && out.stdout.contains("not connected"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("up1:"), "{}", out.stdout);

    // A frozen minion: connected, silent.
    c.minion("hung1").signal(Signal::SIGSTOP);
    let out = c.brine(&["-t", "2", "-L", "hung1,up1", "test.ping", "-v"]);
    c.minion("hung1").signal(Signal::SIGCONT);
    assert_eq!(out.code, 20, "{out:?}");
    assert!(
        out.stdout.contains("timed out: connected but no answer"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("hung1"),
        "verbose summary names it: {}",
        out.stderr
    );

    // A job still running past the timeout.
    let out = c.brine(&["-t", "1", "up1", "test.sleep", "4"]);
    assert_eq!(out.code, 20, "{out:?}");
    assert!(out.stdout.contains("still running"), "{}", out.stdout);
}

#[test]
fn exit_codes_and_async_lookup() {
    let c = Cluster::builder().minion("a1", "").start();
    c.accept_all();
    let out = c.brine(&["a1", "cmd.run", "exit 3"]);
    assert_eq!(out.code, 11, "{out:?}");
    let out = c.brine(&["a1", "test.false"]);
    assert_eq!(out.code, 11, "{out:?}");
    let out = c.brine(&["a1", "no.such_function"]);
    assert_eq!(out.code, 11, "{out:?}");
    assert!(out.stdout.contains("no.such_function"), "{out:?}");
    let out = c.brine(&["zzz*", "test.ping"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("No minions matched"), "{out:?}");
    let out = c.brine(&["a1", "cmd.run", "echo hi"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "a1:\n    hi\n");

    // --async prints the jid; the return lands in the job cache regardless.
    let out = c.brine(&["--async", "a1", "test.echo", "later"]);
    assert_eq!(out.code, 0, "{out:?}");
    let job = brine_tests::jid_of(&out.stdout).expect("jid printed");
    let jid = job.to_string();
    assert_eq!(jid.len(), 20, "{out:?}");
    assert_eventually!(
        c.lookup_jid(job).is_some_and(|v| v["a1"] == "later"),
        "lookup_jid shows the async return"
    );
    let out = c.run(&["jobs.list_jobs", "--out", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v[&jid]["Function"], "test.echo");

    // A return after the CLI gave up is in the cache; who is missing is named.
    let out = c.brine(&["--show-jid", "-t", "1", "a1", "test.sleep", "2"]);
    let jid = out
        .stdout
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("jid: ")
        .to_string();
    std::thread::sleep(Duration::from_millis(100));
    let o = c.run(&["jobs.lookup_jid", &jid, "--out", "json"]);
    assert!(o.stdout.contains("did not return"), "{o:?}");
    assert_eventually!(
        c.run(&["jobs.lookup_jid", &jid, "--out", "json"])
            .stdout
            .contains("true"),
        "late return stored"
    );
}
