//! Multi-master without a single point of failure, seen from the CLI.
//!
//! Hot/hot (`master_type: str`): minions listing two real masters and two
//! that never answer (one accepts connections and hangs, one drops every
//! SYN) get jobs from both real masters; with one master killed, or frozen
//! with its connections open (a suspended VM), jobs from the other still
//! get every return within a short timeout, file requests included; the
//! minions are back on a restarted or resumed master by themselves.
//!
//! Failover (`master_type: failover`): a minion is on exactly one master;
//! when that one dies it moves to the other; with `master_failback` it
//! goes back to the first master once that one is up again.
//!
//! No timings are asserted beyond what a user sees: every minion returned
//! within the job's own (short) timeout, or, for reconnections, within a
//! generous bound.

use std::time::Duration;

use brine_tests::multi::{FakeMaster, MultiCluster, FAST_LIVENESS};
use brine_tests::wait_for;
use nix::sys::signal::Signal;
use serde_json::Value;

const IDS: [&str; 3] = ["hh1", "hh2", "hh3"];

/// Runs `fun` on every minion through master `i` with timeout `t`; panics
/// unless each of `ids` returned `check`-worthy data and the CLI exited 0.
fn every_return(mc: &MultiCluster, i: usize, t: u32, fun: &[&str], check: impl Fn(&Value) -> bool) {
    let mut args = vec!["-t".to_string(), t.to_string(), "*".to_string()];
    args.extend(fun.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, v) = mc.brine_json_on(i, &args);
    for id in IDS {
        assert!(
            check(&v[id]),
            "{id} did not return {fun:?} through master {i} within {t} s: {out:?}\n{}",
            mc.logs()
        );
    }
    assert_eq!(out.code, 0, "{out:?}");
}

fn pinged(v: &Value) -> bool {
    *v == Value::Bool(true)
}

/// `cp.list_master` rides the minion's request client (one per minion,
/// shared by its links): it must be answered by a live master.
fn lists_a_master_file(v: &Value) -> bool {
    v.as_array().is_some_and(|files| {
        files
            .iter()
            .any(|f| f.as_str().is_some_and(|f| f.starts_with("from-master")))
    })
}

#[test]
fn hot_hot_a_dead_or_frozen_master_delays_nothing_from_the_other() {
    let mut mc = MultiCluster::start(2);
    let ports = [mc.ret_port, mc.publish_port];
    let hung = FakeMaster::hung(&mc.spare_address(0), ports);
    let hole = FakeMaster::blackhole(&mc.spare_address(1), ports);
    // The dead ones first: a link or a request that waited on them would show.
    let listing = vec![
        hung.address.clone(),
        hole.address.clone(),
        mc.addresses[0].clone(),
        mc.addresses[1].clone(),
    ];
    for id in IDS {
        mc.add_minion_listing(id, &listing, FAST_LIVENESS);
    }
    mc.accept_on(0, &IDS);
    mc.accept_on(1, &IDS);
    mc.wait_answering_on(0, &IDS, Duration::from_secs(30));
    mc.wait_answering_on(1, &IDS, Duration::from_secs(30));

    // A job from each master reaches every minion, file requests too.
    for i in 0..2 {
        every_return(&mc, i, 5, &["test.ping"], pinged);
        every_return(&mc, i, 10, &["cp.list_master"], lists_a_master_file);
    }

    // Master 0 killed: jobs from master 1 still get every return at once.
    mc.kill_master(0);
    for _ in 0..3 {
        every_return(&mc, 1, 5, &["test.ping"], pinged);
    }
    every_return(&mc, 1, 10, &["cp.list_master"], lists_a_master_file);

    // Master 0 back: the minions come back to it by themselves.
    mc.start_master(0);
    mc.wait_answering_on(0, &IDS, Duration::from_secs(60));
    every_return(&mc, 0, 5, &["test.ping"], pinged);

    // Master 0 frozen (a suspended VM: its connections stay open, nothing
    // answers; the minions list it before master 1): jobs from master 1,
    // and the file requests they make, still get every return.
    mc.signal_master(0, Signal::SIGSTOP);
    every_return(&mc, 1, 5, &["test.ping"], pinged);
    every_return(&mc, 1, 15, &["cp.list_master"], lists_a_master_file);
    // Each minion holds the frozen master dead (master_alive_interval: 3).
    for id in IDS {
        wait_for(
            Duration::from_secs(30),
            || {
                mc.minions[id]
                    .log_text()
                    .contains("master silent for master_alive_interval")
            },
            &format!("{id} notices the frozen master\n{}", mc.logs()),
        );
    }
    every_return(&mc, 1, 5, &["test.ping"], pinged);

    // Resumed: back on it.
    mc.signal_master(0, Signal::SIGCONT);
    mc.wait_answering_on(0, &IDS, Duration::from_secs(60));
    every_return(&mc, 0, 5, &["test.ping"], pinged);
    every_return(&mc, 1, 5, &["test.ping"], pinged);

    // The minions never gave up on the masters that do not answer, and
    // never stopped.
    for (id, d) in mc.minions.iter_mut() {
        assert!(d.is_running(), "{id} exited:\n{}", d.log_text());
    }
    drop((hung, hole));
}

/// The one master (of two) `id` is on: it answers through one and the
/// other reports it not connected.
fn serving(mc: &MultiCluster, id: &str, limit: Duration) -> usize {
    let mut on = None;
    wait_for(
        limit,
        || {
            let a = mc.answers_on(0, id, 3);
            let b = mc.answers_on(1, id, 3);
            on = match (a, b) {
                (true, false) => Some(0),
                (false, true) => Some(1),
                _ => None,
            };
            on.is_some()
        },
        &format!("{id} on exactly one master\n{}", mc.logs()),
    );
    let on = on.expect("checked");
    assert_not_connected(mc, 1 - on, id);
    on
}

/// Master `i` reports `id` as not connected (its key accepted there).
fn assert_not_connected(mc: &MultiCluster, i: usize, id: &str) {
    let out = mc.brine_on(i, &["-t", "3", id, "test.ping"]);
    assert_eq!(out.code, 20, "{id} through master {i}: {out:?}");
    assert!(
        out.stdout.contains("not connected"),
        "{id} through master {i}: {out:?}"
    );
}

#[test]
fn failover_a_minion_is_on_one_master_and_moves_when_it_dies() {
    let mut mc = MultiCluster::start(2);
    mc.add_minion("fo1", &format!("master_type: failover\n{FAST_LIVENESS}"));
    // On the first master of its list: the other does not even know its key.
    mc.accept_on(0, &["fo1"]);
    mc.wait_answering_on(0, &["fo1"], Duration::from_secs(30));
    assert_eq!(mc.keys_on(1, "minions_pre"), Vec::<String>::new());

    // The first master dies: the minion moves to the second, which holds
    // its key pending (each master has its own store) until accepted.
    mc.kill_master(0);
    mc.accept_on(1, &["fo1"]);
    mc.wait_answering_on(1, &["fo1"], Duration::from_secs(60));

    // Without master_failback it stays where it is when the first comes back.
    mc.start_master(0);
    assert_eq!(serving(&mc, "fo1", Duration::from_secs(30)), 1);
    for _ in 0..3 {
        assert!(mc.answers_on(1, "fo1", 3), "{}", mc.logs());
        assert_not_connected(&mc, 0, "fo1");
    }

    // The second dies: back to the first, which accepts it already.
    mc.kill_master(1);
    mc.wait_answering_on(0, &["fo1"], Duration::from_secs(60));
    assert!(mc.minion("fo1").is_running());
}

#[test]
fn failover_with_failback_returns_to_the_first_master() {
    let mut mc = MultiCluster::start(2);
    mc.add_minion(
        "fb1",
        &format!(
            "master_type: failover\nmaster_failback: true\nmaster_failback_interval: 1\n{FAST_LIVENESS}"
        ),
    );
    mc.accept_on(0, &["fb1"]);
    mc.wait_answering_on(0, &["fb1"], Duration::from_secs(30));

    mc.kill_master(0);
    mc.accept_on(1, &["fb1"]);
    mc.wait_answering_on(1, &["fb1"], Duration::from_secs(60));

    // The first master back: the minion returns to it, and leaves the second.
    mc.start_master(0);
    wait_for(
        Duration::from_secs(60),
        || serving(&mc, "fb1", Duration::from_secs(60)) == 0,
        &format!("fb1 back on master 0\n{}", mc.logs()),
    );
    let log = mc.minion("fb1").log_text();
    assert!(
        log.contains("failing back to a master earlier in the list"),
        "{log}"
    );
}

/// Pids of the processes whose parent is `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so after the last ')'
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            out.push(pid);
        }
    }
    out
}

#[test]
fn a_lost_publish_connection_remakes_the_link() {
    let mut mc = MultiCluster::start(1);
    mc.add_minion("pub1", FAST_LIVENESS);
    mc.accept_on(0, &["pub1"]);
    mc.wait_answering_on(0, &["pub1"], Duration::from_secs(30));

    // The publisher process holding the minion's SUB connection dies; the
    // request session is untouched. The master starts another publisher.
    let master = mc.masters[0].pid().expect("master pid");
    let publishers = children_of(master);
    assert!(
        !publishers.is_empty(),
        "no publisher process under {master}"
    );
    for pid in publishers {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGKILL);
    }
    // The minion makes its whole link again (a new session gets the jobs
    // published meanwhile replayed), and answers.
    wait_for(
        Duration::from_secs(30),
        || {
            mc.minions["pub1"]
                .log_text()
                .contains("publish connection closed")
        },
        &format!("pub1 remakes its link\n{}", mc.logs()),
    );
    mc.wait_answering_on(0, &["pub1"], Duration::from_secs(30));
}
