//! A minion on a host of its own (a network namespace) with one link to
//! each of two masters sharing a PostgreSQL store: when its link to master
//! A is cut (packets dropped, not refused), it keeps serving master B; when
//! the link returns, it is back on A.

use brine_tests::masters::ExtraMaster;
use brine_tests::netns::NetNs;
use brine_tests::pg::PgServer;
use brine_tests::{assert_eventually, bin, Cluster};
use serde_json::Value;

fn answers(m: &ExtraMaster, id: &str) -> bool {
    let (_, v) = m.brine_json(&["-t", "3", "-L", id, "test.ping"]);
    v[id] == Value::Bool(true)
}

#[test]
fn a_minion_cut_off_one_master_keeps_serving_the_other_and_rejoins() {
    let Some(pg) = PgServer::start() else { return };
    let Some(ns) = NetNs::create(2) else { return };
    // The cluster's own master is a bystander here: it holds the CA both
    // masters of the test share (copied before their first start).
    let c = Cluster::builder().start();
    let store = format!("store: {}\n", pg.url());
    let mut masters: Vec<ExtraMaster> = (0..2)
        .map(|i| c.cluster_master(&format!("master{}", i + 1), &ns.master_addr(i), &store))
        .collect();
    for m in &mut masters {
        m.start();
    }

    let root = c.dir.path().join("minion-p1");
    std::fs::create_dir_all(root.join("conf")).unwrap();
    std::fs::write(
        root.join("conf/minion"),
        format!(
            "id: p1\nmaster:\n  - {}\n  - {}\nmaster_port: {}\npublish_port: {}\nroot_dir: {}\n\
             acceptance_wait_time: 1\nacceptance_wait_time_max: 2\nrecon_default: 200\n\
             recon_max: 1000\nheartbeat_interval: 1\nmaster_alive_interval: 3\n",
            ns.master_addr(0),
            ns.master_addr(1),
            c.ret_port,
            c.publish_port,
            root.display()
        ),
    )
    .unwrap();
    let conf = root.join("conf");
    let _minion = ns.spawn(
        "p1",
        bin("brine-minion"),
        &["-c", conf.to_str().unwrap(), "-l", "debug"],
        root.join("minion.log"),
    );
    let (a, b) = (&masters[0], &masters[1]);
    // Accepted once, on A: the store is the cluster's.
    a.accept(&["p1"]);
    b.wait_answering(&["p1"]);

    ns.cut(0);
    // B keeps serving it, while and after the link to A is gone.
    for _ in 0..3 {
        assert!(answers(b, "p1"), "p1 answers master B during the partition");
    }
    assert_eventually!(!answers(a, "p1"), "master A no longer reaches p1");
    assert!(answers(b, "p1"), "p1 still answers master B");

    ns.heal(0);
    assert_eventually!(answers(a, "p1"), "p1 is back on master A");
    assert!(answers(b, "p1"), "and still on master B");
}

/// The publish connection has a pulse of its own: with the master's
/// publisher process frozen (its request side still answering), the minion
/// notices within master_alive_interval, remakes its link, and is served
/// again once the publisher runs.
#[test]
fn a_silent_publish_connection_is_noticed_and_remade() {
    let mut c = Cluster::builder()
        .minion_with("q1", "", "master_alive_interval: 3")
        .start();
    c.accept_all();
    let master_pid = c.master.pid().expect("master pid");
    let out = std::process::Command::new("pgrep")
        .args(["-P", &master_pid.to_string()])
        .output()
        .expect("pgrep");
    let publisher: i32 = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .expect("the master's publisher process");
    let publisher = nix::unistd::Pid::from_raw(publisher);
    // An idle master's heartbeats (every 8 s) keep a healthy connection
    // alive, even for a minion whose alive interval is shorter.
    std::thread::sleep(std::time::Duration::from_secs(10));
    assert!(
        !c.minion("q1")
            .log_text()
            .contains("publish connection silent"),
        "a healthy publish connection was called silent"
    );
    nix::sys::signal::kill(publisher, nix::sys::signal::Signal::SIGSTOP).unwrap();
    // Noticed within two and a half heartbeats (20 s), not at once.
    brine_tests::wait_for(
        std::time::Duration::from_secs(40),
        || {
            c.minion("q1")
                .log_text()
                .contains("publish connection silent for master_alive_interval")
        },
        "the minion noticed its publish connection went silent",
    );
    nix::sys::signal::kill(publisher, nix::sys::signal::Signal::SIGCONT).unwrap();
    assert_eventually!(
        {
            let (_, v) = c.brine_json(&["-t", "3", "q1", "test.ping"]);
            v["q1"] == Value::Bool(true)
        },
        "q1 answers once the publisher runs again"
    );
}
