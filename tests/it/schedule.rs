//! The minion's scheduler with real processes: `maxrunning: 1` never lets
//! runs overlap, every run is a job in the master's job cache, and a run
//! missed while the minion was down is caught up at start only with
//! `catch_up`.

use std::time::Duration;

use brine_tests::{wait_for, Cluster};

fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn jobs_of(c: &Cluster, fun: &str) -> Vec<serde_json::Value> {
    let out = c.run(&["jobs.list_jobs", "--out", "json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let jobs: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    jobs.as_object()
        .unwrap()
        .values()
        .filter(|j| j["Function"] == fun && j["Target"] == "web1")
        .cloned()
        .collect()
}

#[test]
fn maxrunning_one_never_overlaps_and_every_run_is_a_job() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("runs.log");
    // each run takes 2.5 s; the job is due every second
    let cmd = format!(
        "echo start >> {l}; sleep 2.5; echo end >> {l}",
        l = log.display()
    );
    let extra = format!(
        "schedule:\n  slow:\n    function: cmd.run\n    args: [{cmd:?}]\n    kwargs: {{python_shell: true}}\n    seconds: 1\n"
    );
    let mut c = Cluster::builder().minion_with("web1", "", &extra).start();
    c.accept_all();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while lines(&log).iter().filter(|l| *l == "end").count() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "three scheduled runs not seen: {:?}\n{}",
            lines(&log),
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (out, v) = c.brine_json(&["web1", "schedule.disable_job", "slow"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(v["web1"]["result"], true, "{v}");
    // the run going on ends; then every run is in the job cache
    wait_for(
        Duration::from_secs(30),
        || {
            let l = lines(&log);
            l.last().map(String::as_str) == Some("end")
                && jobs_of(&c, "cmd.run").len() == l.len() / 2
        },
        "every run recorded in the job cache",
    );
    let l = lines(&log);
    // strictly alternating: no run started while another was going
    for (i, line) in l.iter().enumerate() {
        assert_eq!(line, if i % 2 == 0 { "start" } else { "end" }, "{l:?}");
    }
    let (_, status) = c.brine_json(&["web1", "schedule.job_status", "slow"]);
    assert!(
        status["web1"]["_skipped"].as_u64().unwrap() >= 1,
        "{status}"
    );
    let (_, listed) = c.brine_json(&["web1", "schedule.list", "return_yaml=False"]);
    assert_eq!(
        listed["web1"]["schedule"]["slow"]["enabled"], false,
        "{listed}"
    );
    let _ = c.minion("web1");
}

#[test]
fn a_run_missed_while_down_is_caught_up_only_with_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    let caught = dir.path().join("caught.log");
    let skipped = dir.path().join("skipped.log");
    let due = chrono::Utc::now() + chrono::Duration::seconds(8);
    let when = due.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let item = |file: &std::path::Path, catch_up: &str| {
        format!(
            "    function: cmd.run\n    args: [\"echo ran >> {}\"]\n    kwargs: {{python_shell: true}}\n    when: '{when}'\n{catch_up}",
            file.display()
        )
    };
    let extra = format!(
        "schedule:\n  backup:\n{}  forgotten:\n{}",
        item(&caught, "    catch_up: 600\n"),
        item(&skipped, "")
    );
    let mut c = Cluster::builder().minion_with("web1", "", &extra).start();
    c.accept_all();
    // the minion saves its schedule at start
    let root = c.minion_root("web1");
    wait_for(
        Duration::from_secs(30),
        || find(&root, "schedule.json").is_some(),
        "the schedule file",
    );
    let text = std::fs::read_to_string(find(&root, "schedule.json").unwrap()).unwrap();
    assert!(
        text.contains("backup") && text.contains("forgotten"),
        "{text}"
    );
    c.stop_minion("web1");
    assert!(lines(&caught).is_empty() && lines(&skipped).is_empty());
    // down past the due time
    wait_for(
        Duration::from_secs(30),
        || chrono::Utc::now() > due + chrono::Duration::seconds(1),
        "the due time to pass",
    );
    c.start_minion("web1");
    wait_for(
        Duration::from_secs(30),
        || lines(&caught).len() == 1,
        "the missed backup to run at start",
    );
    let (_, status) = c.brine_json(&["web1", "schedule.job_status", "forgotten"]);
    assert_eq!(status["web1"]["_skipped"], 1, "{status}");
    assert!(lines(&skipped).is_empty());
    wait_for(
        Duration::from_secs(30),
        || jobs_of(&c, "cmd.run").len() == 1,
        "the caught-up run in the job cache",
    );
    assert_eq!(lines(&caught).len(), 1);
    assert_eq!(jobs_of(&c, "cmd.run")[0]["User"], "schedule");
}

/// The file `name` under `root` (the harness's minion layout).
fn find(root: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == name) {
                return Some(p);
            }
        }
    }
    None
}
