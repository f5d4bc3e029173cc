//! `brine-swarm` against a real master: a few hundred minions, each with its
//! own key and sessions, all answer; a grain target selects exactly the
//! third the templates gave that grain; after a master restart every one
//! reconnects and answers again.

use std::collections::BTreeSet;
use std::time::Duration;

use brine_tests::{wait_for, Cluster};
use serde_json::Value;

const COUNT: usize = 300;

/// Ids that answered `true` to `test.ping` on `target` (with `flag`).
fn answering(c: &Cluster, flag: Option<&str>, target: &str) -> BTreeSet<String> {
    let mut args = vec!["--out", "json", "--static", "-t", "10"];
    args.extend(flag);
    args.extend([target, "test.ping"]);
    let out = c.brine(&args);
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    v.as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, r)| **r == Value::Bool(true))
                .map(|(id, _)| id.clone())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_swarm_answers_is_targeted_by_grain_and_survives_a_master_restart() {
    let mut c = Cluster::builder().auto_accept(true).start();
    let mut swarm = c.start_swarm(COUNT, "sw-", &["--grain", "role=web,db,cache"]);
    let all: BTreeSet<String> = (0..COUNT).map(|i| format!("sw-{i:03}")).collect();
    wait_for(
        Duration::from_secs(90),
        || answering(&c, None, "sw-*") == all,
        "every swarm minion answers",
    );
    // minion i has role [web, db, cache][i % 3]
    let web: BTreeSet<String> = (0..COUNT)
        .filter(|i| i % 3 == 0)
        .map(|i| format!("sw-{i:03}"))
        .collect();
    assert_eq!(answering(&c, Some("-G"), "role:web"), web);
    // the master cannot tell them from real minions: each has its own key
    assert_eq!(c.keys_in("minions").len(), COUNT);

    c.restart_master();
    wait_for(
        Duration::from_secs(90),
        || answering(&c, None, "sw-*") == all,
        "every swarm minion answers after the master restarted",
    );
    assert!(swarm.is_running(), "{}", swarm.log_text());
}
