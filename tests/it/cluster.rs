//! Two masters sharing one PostgreSQL store: keys, jobs and returns are the
//! cluster's, a job from either master reaches every minion (relayed to
//! minions connected only to the other), a key deleted on one master cuts
//! the minion off the other, and a killed master slows nobody down.

use brine_tests::masters::{run_json, ExtraMaster};
use brine_tests::pg::PgServer;
use brine_tests::{assert_eventually, Cluster};
use serde_json::Value;

/// Master `master0` (the cluster's own, on 127.0.0.1) and `master1` (on
/// 127.0.0.2), one CA, one PostgreSQL database.
fn two_masters(pg: &PgServer) -> (Cluster, ExtraMaster) {
    let store = format!("store: {}", pg.url());
    let c = Cluster::builder().master_config(&store).start();
    let mut b = c.cluster_master("master1", "127.0.0.2", &store);
    b.start();
    (c, b)
}

fn returned(v: &Value) -> Vec<String> {
    let mut ids: Vec<String> = v
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    ids.sort();
    ids
}

#[test]
fn a_cluster_of_two_masters_shares_keys_jobs_and_returns() {
    let Some(pg) = PgServer::start() else { return };
    let (mut c, mut b) = two_masters(&pg);
    let both = ["127.0.0.1", "127.0.0.2"];
    c.add_minion_of("m1", &both, "");
    c.add_minion_of("m2", &both, "");
    // m3 lists only master1: jobs from master0 reach it through master1.
    c.add_minion_of("m3", &["127.0.0.2"], "");

    // Keys: m1 and m2 asked master0 (and master1), m3 only master1; every
    // request is pending on both, and one acceptance on master0 is the
    // cluster's.
    assert_eventually!(
        c.keys_in("minions_pre").len() == 3,
        "three pending keys visible from master0: {:?}",
        c.keys_in("minions_pre")
    );
    c.accept(&["m1", "m2"]);
    let out = c.key(&["-a", "m3", "-y"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eventually!(
        b.keys_in("minions").len() == 3,
        "keys accepted on master0 are accepted on master1: {:?}",
        b.keys_in("minions")
    );
    b.wait_answering(&["m1", "m2", "m3"]);

    // A job from either master reaches all three; m3's return from a job of
    // master0 comes back through master1 and the store.
    let everyone = ["m1", "m2", "m3"];
    assert_eventually!(
        returned(&c.brine_json(&["-t", "5", "*", "test.ping"]).1) == everyone,
        "a job from master0 reaches all three"
    );
    let (_, v) = b.brine_json(&["-t", "5", "*", "test.ping"]);
    assert_eq!(
        returned(&v),
        everyone,
        "a job from master1 reaches all three"
    );

    // The job cache is the cluster's: master1 shows every return of a job
    // master0 published.
    let out = c.brine(&["-v", "-t", "5", "*", "cmd.run", "echo shared"]);
    let jid: brine_proto::JobId = out
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("Executing job with jid "))
        .and_then(|j| j.trim().parse().ok())
        .unwrap_or_else(|| panic!("jid printed: {out:?}"));
    let looked = run_json(&b.conf(), &["jobs.lookup_jid", &jid.to_string()]);
    for id in everyone {
        assert_eq!(looked[id], Value::String("shared".into()), "{looked}");
    }
    let listed = run_json(&b.conf(), &["jobs.list_jobs", "search_function=cmd.*"]);
    assert_eq!(listed[jid.to_string()]["Master"], "master0", "{listed}");
    assert_eq!(listed[jid.to_string()]["Returned"], 3, "{listed}");
    let printed = run_json(&b.conf(), &["jobs.print_job", &jid.to_string()]);
    let job = &printed[jid.to_string()];
    assert_eq!(job["Function"], "cmd.run", "{printed}");
    assert_eq!(job["Result"]["m3"]["return"], "shared", "{printed}");
    // manage.status answers for the cluster, with where each minion is.
    let status = run_json(&b.conf(), &["manage.status", "show_master=True"]);
    assert_eq!(
        status["up"]["m1"],
        serde_json::json!(["master0", "master1"]),
        "{status}"
    );
    assert_eq!(
        status["up"]["m3"],
        serde_json::json!(["master1"]),
        "{status}"
    );

    // A key deleted on master1 cuts the minion off master0 too.
    let out = b.key(&["-d", "m2", "-y"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eventually!(
        c.logs()
            .contains("key deleted on another master: session cut"),
        "master0 cut m2's session"
    );
    let (_, v) = c.brine_json(&["-t", "3", "*", "test.ping"]);
    assert_eq!(
        returned(&v),
        ["m1", "m3"],
        "m2 no longer gets jobs from master0"
    );

    // master0 killed: master1 still reaches everyone, as fast as before
    // (a dead master holds nobody up; the job's timeout is short).
    c.master.signal(nix::sys::signal::Signal::SIGKILL);
    let (out, v) = b.brine_json(&["-t", "5", "*", "test.ping"]);
    assert_eq!(returned(&v), ["m1", "m3"], "{out:?}");
    b.stop();
}

#[test]
fn returns_spooled_while_every_master_was_down_arrive_once_through_any_master() {
    let Some(pg) = PgServer::start() else { return };
    let (mut c, mut b) = two_masters(&pg);
    let both = ["127.0.0.1", "127.0.0.2"];
    let ids = ["s1", "s2", "s3"];
    for id in ids {
        c.add_minion_of(id, &both, "");
    }
    assert_eventually!(
        c.keys_in("minions_pre").len() == 3,
        "three pending keys: {:?}",
        c.keys_in("minions_pre")
    );
    c.accept(&ids);
    b.wait_answering(&ids);

    // Published by master0; every master dies while the minions run it.
    let out = c.brine(&["--async", "*", "test.sleep", "4"]);
    assert_eq!(out.code, 0, "{out:?}");
    let jid = brine_tests::jid_of(&out.stdout).unwrap_or_else(|| panic!("a jid: {out:?}"));
    assert_eventually!(
        c.logs().matches("job started").count() >= 3,
        "the three minions started the job"
    );
    // Running, as either master sees it.
    let active = run_json(&b.conf(), &["jobs.active"]);
    assert_eq!(active[jid.to_string()]["Running"], 3, "{active}");
    c.master.signal(nix::sys::signal::Signal::SIGKILL);
    b.stop();
    std::thread::sleep(std::time::Duration::from_secs(5));

    // Only master1 comes back: it gets the returns spooled for master0.
    b.start();
    let everyone: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    assert_eventually!(
        {
            let v = run_json(&b.conf(), &["jobs.lookup_jid", &jid.to_string()]);
            ids.iter().all(|id| v[*id] == Value::Bool(true))
        },
        "every return of master0's job visible from master1: {}",
        run_json(&b.conf(), &["jobs.lookup_jid", &jid.to_string()])
    );
    assert!(
        c.logs()
            .contains("sending returns spooled for a master of the cluster that is down"),
        "the returns went through master1's links"
    );
    let stored = pg.psql(&format!(
        "SELECT id FROM returns WHERE jid = '{jid}' ORDER BY id"
    ));
    assert_eq!(
        stored.stdout.lines().collect::<Vec<_>>(),
        everyone,
        "each return stored once: {stored:?}"
    );
    // master0 back: the same returns, from it too, and none sent again.
    c.restart_master();
    assert_eventually!(
        {
            let out = c.run(&["--out", "json", "jobs.lookup_jid", &jid.to_string()]);
            let v: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
            ids.iter().all(|id| v[*id] == Value::Bool(true))
        },
        "every return visible from master0"
    );
    let stored = pg.psql(&format!("SELECT count(*) FROM returns WHERE jid = '{jid}'"));
    assert_eq!(stored.stdout.trim(), "3", "{stored:?}");
    b.stop();
}

/// A minion's event reaches the bus of every master it is connected to,
/// each master's copy carrying the same id (the reactor acts on it once
/// per cluster by that id).
#[test]
fn a_minion_event_reaches_every_master_of_the_cluster() {
    use brine_tests::events::EventStream;
    let Some(pg) = PgServer::start() else { return };
    let (mut c, b) = two_masters(&pg);
    c.add_minion_of("m1", &["127.0.0.1", "127.0.0.2"], "");
    assert_eventually!(c.keys_in("minions_pre").len() == 1, "m1's key is pending");
    c.accept(&["m1"]);
    b.wait_answering(&["m1"]);
    c.wait_answering(&["m1"]);
    let on_a = EventStream::start(&c.master_conf(), Some("myco/*"));
    let on_b = EventStream::start(&b.conf(), Some("myco/*"));
    // Both sessions must be up for the event to go to both masters.
    assert_eventually!(
        {
            let s = run_json(&b.conf(), &["manage.status", "show_master=True"]);
            s["up"]["m1"] == serde_json::json!(["master0", "master1"])
        },
        "m1 connected to both masters"
    );
    let out = c.brine(&["m1", "event.send", "myco/cluster", "n=1"]);
    assert_eq!(out.code, 0, "{out:?}");
    for stream in [&on_a, &on_b] {
        let ev = stream.wait_tag("myco/cluster");
        assert_eq!(ev.data["id"], "m1");
        assert_eq!(ev.data["data"]["n"], 1);
    }
}
