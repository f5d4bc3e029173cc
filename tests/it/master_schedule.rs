//! The master's scheduler with real processes: `maxrunning: 1` never
//! overlaps two runs of a slow job; a run missed while the master was down
//! is caught up at start when `catch_up` says so and skipped otherwise;
//! every run is a job in the job cache; `brine-run schedule.*` changes
//! items at runtime and the changes survive a restart.

use std::time::Duration;

use brine_tests::{assert_eventually, wait_for, Cluster};

#[test]
fn maxrunning_one_never_overlaps_a_slow_job() {
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("runs.log");
    let cmd = format!(
        "echo start $(date +%s%N) >> {l}; sleep 2; echo end $(date +%s%N) >> {l}",
        l = log.display()
    );
    let config = format!(
        "schedule:\n  slow:\n    function: cmd.run\n    args: ['{cmd}']\n    kwargs: {{python_shell: true}}\n    tgt: m1\n    seconds: 1\n    maxrunning: 1\n"
    );
    let c = Cluster::builder()
        .master_config(&config)
        .minion("m1", "")
        .start();
    c.accept_all();
    c.wait_answering(&["m1"]);
    wait_for(
        Duration::from_secs(40),
        || {
            std::fs::read_to_string(&log)
                .map(|t| t.lines().filter(|l| l.starts_with("end")).count() >= 3)
                .unwrap_or(false)
        },
        "three runs of the slow job",
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let mut open = false;
    for line in text.lines() {
        if line.starts_with("start") {
            assert!(!open, "a run started before the previous ended:\n{text}");
            open = true;
        } else {
            open = false;
        }
    }
    // Each run is a job in the job cache, by user `schedule`.
    let jobs = c.run_json(&["jobs.list_jobs", "user=schedule"]);
    assert!(jobs.as_object().unwrap().len() >= 3, "{jobs}");
    let status = c.run_json(&["schedule.job_status", "slow"]);
    assert!(
        status["_skipped"].as_u64().unwrap_or(0) >= 1,
        "runs due while one ran were skipped: {status}"
    );
}

#[test]
fn missed_runs_are_caught_up_or_skipped_after_a_restart_and_runtime_items_persist() {
    let work = tempfile::tempdir().unwrap();
    let caught = work.path().join("caught");
    let skipped = work.path().join("skipped");
    let due = chrono_in(8);
    let config = format!(
        "schedule:\n  caught:\n    function: file.touch\n    args: ['{a}']\n    tgt: m1\n    when: '{due}'\n    catch_up: 600\n  \
         skipped:\n    function: file.touch\n    args: ['{b}']\n    tgt: m1\n    when: '{due}'\n",
        a = caught.display(),
        b = skipped.display(),
    );
    let mut c = Cluster::builder()
        .master_config(&config)
        .minion("m1", "")
        .start();
    c.accept_all();
    c.wait_answering(&["m1"]);
    // A runtime item: added now, still there after the restart.
    let added = c.run_json(&[
        "schedule.add",
        "later",
        "function=test.ping",
        "tgt=m1",
        "hours=6",
    ]);
    assert_eq!(added["result"], true, "{added}");
    let state = c.master_root().join("var/cache/brine/master/schedule.json");
    assert_eventually!(state.exists(), "the schedule's state on disk");
    // Down across the due time.
    c.master.stop();
    std::thread::sleep(Duration::from_secs(10));
    assert!(!caught.exists() && !skipped.exists());
    c.restart_master();
    assert_eventually!(caught.exists(), "the missed run caught up at start");
    let status = c.run_json(&["schedule.job_status", "skipped"]);
    assert_eq!(status["_skipped"], 1, "{status}");
    let listed = c.run_json(&["schedule.list"]);
    assert!(
        listed["schedule"]["later"].is_object(),
        "runtime item kept: {listed}"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !skipped.exists(),
        "without catch_up the missed run is skipped"
    );
    let jobs = c.run_json(&[
        "jobs.list_jobs",
        "user=schedule",
        "search_function=file.touch",
    ]);
    assert_eq!(jobs.as_object().unwrap().len(), 1, "{jobs}");
    // Runtime changes: disable, run on demand, delete.
    let out = c.run_json(&["schedule.disable_job", "later"]);
    assert_eq!(out["result"], true);
    let status = c.run_json(&["schedule.job_status", "later"]);
    assert_eq!(status["enabled"], false, "{status}");
    let out = c.run_json(&["schedule.run_job", "later"]);
    assert_eq!(out["result"], true, "run on demand: {out}");
    let out = c.run_json(&["schedule.delete", "later"]);
    assert_eq!(out["result"], true);
    let out = c.run(&["schedule.delete", "later"]);
    assert_ne!(out.code, 0);
}

/// `secs` from now, as a UTC date the schedule reads.
fn chrono_in(secs: u64) -> String {
    let t = std::time::SystemTime::now() + Duration::from_secs(secs);
    let unix = t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let days = unix.div_euclid(86_400);
    let rem = unix.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
fn civil(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}
