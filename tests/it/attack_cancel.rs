//! Jobs that stop when told: a kill reaches a state run, a runaway render
//! ends by itself, every job has a time limit, the minion bounds how many
//! jobs run at once, and a command's output is bounded where it is read.

use std::time::Duration;

use brine_proto::JobId;
use brine_tests::{assert_eventually, rss_kib, Cluster};
use serde_json::{json, Value};

fn jid_of(stdout: &str) -> JobId {
    brine_tests::jid_of(stdout).expect("a jid")
}

fn lookup(c: &Cluster, jid: JobId) -> Value {
    c.lookup_jid(jid).unwrap_or(Value::Null)
}

fn returned(c: &Cluster, jid: JobId, id: &str) -> Option<String> {
    match &lookup(c, jid)[id] {
        Value::Null => None,
        Value::String(s) if s.starts_with("Minion did not return") => None,
        v => Some(v.to_string()),
    }
}

/// User plus system CPU time of a process, in clock ticks (1/100 s).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // fields after the command name, which is in parentheses
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn a_killed_state_run_stops_before_its_next_state_and_a_runaway_render_ends() {
    let roots = tempfile::tempdir().unwrap();
    let marks = tempfile::tempdir().unwrap();
    let mut slow = String::new();
    for i in 0..20 {
        slow.push_str(&format!(
            "step{i}:\n  cmd.run:\n    - name: sleep 1 && touch {}/done{i}\n",
            marks.path().display()
        ));
    }
    std::fs::write(roots.path().join("slow.sls"), slow).unwrap();
    std::fs::write(
        roots.path().join("long.sls"),
        format!(
            "long:\n  cmd.run:\n    - name: sleep 31.5 && touch {}/long-done\n",
            marks.path().display()
        ),
    )
    .unwrap();
    std::fs::write(
        roots.path().join("loop.sls"),
        "{% set n = namespace(c=0) %}\n{% for i in range(100000) %}{% for j in range(100000) %}{% set n.c = n.c + 1 %}{% endfor %}{% endfor %}\nx:\n  test.nop: []\n",
    )
    .unwrap();
    let mut c = Cluster::builder()
        .master_config(&format!(
            "file_roots: {{base: [{}]}}",
            roots.path().display()
        ))
        .minion("web1", "")
        .start();
    c.accept_all();

    let out = c.brine(&["--async", "web1", "state.apply", "slow"]);
    let jid = jid_of(&out.stdout);
    let done = |i: usize| marks.path().join(format!("done{i}")).exists();
    assert_eventually!(done(1), "the state run is under way");
    let out = c.brine(&["web1", "saltutil.kill_job", &jid.to_string()]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eventually!(
        returned(&c, jid, "web1").is_some_and(|r| r.contains("killed")),
        "the job reports it was killed: {}",
        lookup(&c, jid)
    );
    let ran = (0..20).filter(|i| done(*i)).count();
    std::thread::sleep(Duration::from_secs(3));
    let ran_later = (0..20).filter(|i| done(*i)).count();
    assert!(
        ran_later <= ran + 1,
        "states went on after the kill: {ran} then {ran_later}"
    );
    assert!(ran_later < 20, "every state ran despite the kill");

    // A kill also reaches a command that a state is running: its process
    // group dies at once instead of running to its end.
    let out = c.brine(&["--async", "web1", "state.apply", "long"]);
    let jid = jid_of(&out.stdout);
    // Any process whose command line is the state's `sleep 31.5`.
    let sleeping = || {
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                std::fs::read(e.path().join("cmdline"))
                    .is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == b"31.5"))
            })
    };
    assert_eventually!(sleeping(), "the state's command runs");
    let out = c.brine(&["web1", "saltutil.kill_job", &jid.to_string()]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eventually!(!sleeping(), "the killed state's command is gone");
    assert_eventually!(
        returned(&c, jid, "web1").is_some_and(|r| r.contains("killed")),
        "the job reports it was killed: {}",
        lookup(&c, jid)
    );
    assert!(!marks.path().join("long-done").exists());

    // A kill reaches inside a runaway render: the minion stops spending CPU
    // on it at once (without the kill it would run until its fuel is spent).
    let pid = c.minion("web1").pid().unwrap();
    let out = c.brine(&["--async", "web1", "state.apply", "loop"]);
    let jid = jid_of(&out.stdout);
    std::thread::sleep(Duration::from_millis(300));
    let out = c.brine(&["web1", "saltutil.kill_job", &jid.to_string()]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eventually!(
        returned(&c, jid, "web1").is_some_and(|r| r.contains("killed")),
        "the render job reports it was killed: {}",
        lookup(&c, jid)
    );
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_millis(1500));
    let spent = cpu_ticks(pid) - before;
    assert!(
        spent < 50,
        "the minion kept rendering after the kill: {spent} ticks of CPU in 1.5 s"
    );

    // A render that would loop 10^10 times stops by itself with a clear error.
    let (out, v) = c.brine_json(&["-t", "120", "web1", "state.apply", "loop"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(v["web1"].to_string().contains("runaway loop"), "{v}");
    let (_, v) = c.brine_json(&["web1", "test.ping"]);
    assert_eq!(v, json!({"web1": true}));
}

#[test]
fn jobs_have_a_time_limit_and_a_concurrency_limit() {
    let c = Cluster::builder()
        .minion_with("web1", "", "max_job_seconds: 3\nprocess_count_max: 2\n")
        .start();
    c.accept_all();
    // Past max_job_seconds the job is killed and says so.
    let out = c.brine(&["--async", "web1", "test.sleep", "60"]);
    let jid = jid_of(&out.stdout);
    assert_eventually!(
        returned(&c, jid, "web1").is_some_and(|r| r.contains("max_job_seconds")),
        "the job is killed at its limit: {}",
        lookup(&c, jid)
    );
    // Four jobs, two slots: never more than two run, and all four return.
    let jids: Vec<JobId> = (0..4)
        .map(|_| jid_of(&c.brine(&["--async", "web1", "test.sleep", "2"]).stdout))
        .collect();
    let mut most = 0;
    for _ in 0..20 {
        let (_, v) = c.brine_json(&["web1", "saltutil.running"]);
        let sleeping = v["web1"]
            .as_array()
            .map(|a| a.iter().filter(|j| j["fun"] == json!("test.sleep")).count())
            .unwrap_or(0);
        most = most.max(sleeping);
        std::thread::sleep(Duration::from_millis(200));
    }
    for jid in &jids {
        assert_eventually!(
            returned(&c, *jid, "web1").is_some_and(|r| r == "true"),
            "job {jid} returned"
        );
    }
    assert!(
        most <= 2,
        "{most} jobs ran at once with process_count_max: 2"
    );
    assert!(
        c.minions["web1"].log_text().contains("waits for a slot"),
        "the minion says a job waits"
    );
}

#[test]
fn command_output_is_capped_where_it_is_read() {
    let roots = tempfile::tempdir().unwrap();
    std::fs::write(
        roots.path().join("noisy.sls"),
        "noisy:\n  cmd.run:\n    - name: \"head -c 5000000 /dev/zero | tr '\\\\0' y\"\n",
    )
    .unwrap();
    let mut c = Cluster::builder()
        .master_config(&format!(
            "file_roots: {{base: [{}]}}",
            roots.path().display()
        ))
        .minion_with("web1", "", "max_output_bytes: 1048576\n")
        .start();
    c.accept_all();
    let pid = c.minion("web1").pid().unwrap();
    let (out, v) = c.brine_json(&[
        "-t",
        "120",
        "web1",
        "cmd.run",
        "head -c 200000000 /dev/zero | tr '\\0' x",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let text = v["web1"].as_str().unwrap();
    assert!(
        text.len() < 2 * 1024 * 1024,
        "{} bytes came back",
        text.len()
    );
    assert!(
        text.contains("output truncated"),
        "{}",
        &text[text.len() - 200..]
    );
    let rss = rss_kib(pid);
    assert!(rss < 200 * 1024, "minion RSS {rss} KiB");
    // The cmd state cuts its output the same way as the function.
    let (out, v) = c.brine_json(&["-t", "120", "web1", "state.apply", "noisy"]);
    assert_eq!(out.code, 0, "{out:?}");
    let ret = v["web1"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    let stdout = ret["changes"]["stdout"].as_str().unwrap_or_default();
    assert!(stdout.len() < 2 * 1024 * 1024, "{} bytes", stdout.len());
    assert!(stdout.contains("output truncated"), "{ret}");
    let (_, v) = c.brine_json(&["web1", "test.ping"]);
    assert_eq!(v, json!({"web1": true}));
}
