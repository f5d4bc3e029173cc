use super::*;
use brine_proto::targeting::TargetType;
use serde_json::Value;

fn ret(jid: JobId, id: &str, value: &str) -> JobReturn {
    JobReturn {
        jid,
        id: id.into(),
        fun: "test.ping".into(),
        ret: Value::String(value.into()),
        retcode: 0,
        success: true,
        error: None,
        started_ms: 0,
        finished_ms: 0,
    }
}

fn job(jid: JobId, expected: &[&str]) -> JobRecord {
    JobRecord {
        job: Job {
            jid,
            tgt: "*".into(),
            tgt_type: TargetType::Glob,
            fun: "test.ping".into(),
            arg: vec![],
            kwarg: Default::default(),
            user: "root".into(),
            timeout: 5,
            master: String::new(),
            issued_ms: now_ms(),
        },
        expected: expected.iter().map(|s| s.to_string()).collect(),
    }
}

#[tokio::test]
async fn a_failing_write_does_not_take_its_batch_down_and_each_caller_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("s.db")).unwrap();
    let jid: JobId = "20261204010101000001".parse().unwrap();
    store.put_job(job(jid, &["a", "bad", "b"])).await.unwrap();
    // A write that fails inside SQLite, like a full disk would.
    let Reader::Sqlite(reader) = &*store.reader else {
        unreachable!()
    };
    reader
        .with_now(|c| {
            c.execute_batch(
                "CREATE TRIGGER boom BEFORE INSERT ON returns WHEN NEW.id = 'bad'
                 BEGIN SELECT RAISE(ABORT, 'boom'); END;",
            )
        })
        .unwrap();
    // Queued together, so they share a batch.
    let (a, bad, b) = tokio::join!(
        store.put_return(ret(jid, "a", "1")),
        store.put_return(ret(jid, "bad", "2")),
        store.put_return(ret(jid, "b", "3")),
    );
    assert_eq!(a.unwrap(), Written::Stored);
    assert!(
        matches!(bad, Err(StoreError::WriteFailed { .. })),
        "{bad:?}"
    );
    assert_eq!(b.unwrap(), Written::Stored);
    let (_, rets) = store.lookup_job(jid).await.unwrap().unwrap();
    let ids: Vec<_> = rets.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
}

#[tokio::test]
async fn a_reconnecting_minion_is_offered_jobs_published_out_of_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("s.db")).unwrap();
    let older: JobId = "20261204010101000010".parse().unwrap();
    let newer: JobId = "20261204010101000011".parse().unwrap();
    let later: JobId = "20261204010101000012".parse().unwrap();
    for jid in [older, newer, later] {
        store.put_job(job(jid, &["web1"])).await.unwrap();
    }
    // The minion saw `newer` (published first) but not `older`.
    let live = (now_ms(), 300_000);
    let offered: Vec<JobId> = store
        .jobs_to_replay("web1", newer, 30_000, live, 256)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.jid)
        .collect();
    assert!(
        offered.contains(&older) && offered.contains(&later),
        "{offered:?}"
    );
    let strict: Vec<JobId> = store
        .jobs_to_replay("web1", newer, -1_000_000, live, 256)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.jid)
        .collect();
    assert_eq!(strict, [later]);
    // what the minion returned is not offered again
    store.put_return(ret(later, "web1", "x")).await.unwrap();
    let after_return: Vec<JobId> = store
        .jobs_to_replay("web1", newer, -1_000_000, live, 256)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.jid)
        .collect();
    assert!(after_return.is_empty(), "{after_return:?}");
    // nor a job past its own timeout (5 s in these records)
    let late = (now_ms() + 60_000, 300_000);
    assert!(store
        .jobs_to_replay("web1", newer, 30_000, late, 256)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn the_first_return_stands_and_targets_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("s.db")).unwrap();
    let jid: JobId = "20261204010101000002".parse().unwrap();
    store.put_job(job(jid, &["web1"])).await.unwrap();
    assert_eq!(
        store.put_return(ret(jid, "web1", "first")).await.unwrap(),
        Written::Stored
    );
    assert_eq!(
        store.put_return(ret(jid, "web1", "second")).await.unwrap(),
        Written::Duplicate
    );
    let (_, rets) = store.lookup_job(jid).await.unwrap().unwrap();
    assert_eq!(rets[0].ret, Value::String("first".into()));
    assert!(
        store
            .job_target(jid, "web1")
            .await
            .unwrap()
            .unwrap()
            .expected
    );
    assert!(
        !store
            .job_target(jid, "web2")
            .await
            .unwrap()
            .unwrap()
            .expected
    );
    let other: JobId = "20261204010101000003".parse().unwrap();
    assert!(store.job_target(other, "web1").await.unwrap().is_none());
}

#[tokio::test]
async fn a_jid_is_taken_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("s.db")).unwrap();
    let jid: JobId = "20261204010101000004".parse().unwrap();
    assert_eq!(
        store.put_job(job(jid, &["a"])).await.unwrap(),
        Written::Stored
    );
    assert_eq!(
        store.put_job(job(jid, &["b"])).await.unwrap(),
        Written::Duplicate
    );
    let (rec, _) = store.lookup_job(jid).await.unwrap().unwrap();
    assert_eq!(rec.expected, ["a"]);
}

#[tokio::test]
async fn job_listings_filter_by_function_target_user_time_and_activity() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("s.db")).unwrap();
    let now = now_ms();
    let mk = |n: u64, fun: &str, tgt: &str, user: &str, at: i64| {
        let mut rec = job(
            format!("202612040101010000{n:02}").parse().unwrap(),
            &["web1", "web2"],
        );
        rec.job.fun = fun.into();
        rec.job.tgt = tgt.into();
        rec.job.user = user.into();
        rec.job.issued_ms = at;
        rec
    };
    store
        .put_job(mk(1, "test.ping", "web*", "alice", now - 60_000))
        .await
        .unwrap();
    store
        .put_job(mk(2, "cmd.run", "db*", "bob", now - 30_000))
        .await
        .unwrap();
    store
        .put_job(mk(3, "state.apply", "web1", "alice", now))
        .await
        .unwrap();
    let ids = |v: Vec<JobSummary>| -> Vec<String> {
        v.into_iter()
            .map(|s| s.record.job.jid.to_string())
            .collect()
    };
    let all = store.list_jobs(&JobFilter::default(), 10).await.unwrap();
    assert_eq!(ids(all).len(), 3);
    let f = JobFilter {
        function: Some("test.*".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(store.list_jobs(&f, 10).await.unwrap()),
        ["20261204010101000001"]
    );
    let f = JobFilter {
        target: Some("web*".into()),
        user: Some("alice".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(store.list_jobs(&f, 10).await.unwrap()),
        ["20261204010101000003", "20261204010101000001"]
    );
    let f = JobFilter {
        start_ms: Some(now - 40_000),
        end_ms: Some(now - 1),
        ..Default::default()
    };
    assert_eq!(
        ids(store.list_jobs(&f, 10).await.unwrap()),
        ["20261204010101000002"]
    );
    let by_minion = |m: &str| JobFilter {
        minion: Some(m.into()),
        ..Default::default()
    };
    assert_eq!(
        ids(store.list_jobs(&by_minion("web2"), 10).await.unwrap()).len(),
        3
    );
    assert!(ids(store.list_jobs(&by_minion("db1"), 10).await.unwrap()).is_empty());
    // active: within its timeout (5 s here) and not every minion returned
    let jid3: JobId = "20261204010101000003".parse().unwrap();
    let active = JobFilter {
        active_at_ms: Some(now_ms()),
        ..Default::default()
    };
    assert_eq!(
        ids(store.list_jobs(&active, 10).await.unwrap()),
        [jid3.to_string()]
    );
    store.put_return(ret(jid3, "web1", "x")).await.unwrap();
    store.put_return(ret(jid3, "web2", "x")).await.unwrap();
    assert!(store.list_jobs(&active, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_new_key_never_overwrites_a_decision_already_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("s.db")).unwrap();
    let key = |state| KeyRecord {
        id: "web1".into(),
        state,
        fingerprint: "aa".into(),
        csr_pem: None,
    };
    store
        .put_key(key(brine_proto::KeyState::Accepted))
        .await
        .unwrap();
    assert_eq!(
        store
            .create_key(key(brine_proto::KeyState::Pending))
            .await
            .unwrap(),
        Written::Duplicate
    );
    let stored = store.load_key("web1").await.unwrap().unwrap();
    assert_eq!(stored.state, brine_proto::KeyState::Accepted);
    assert_eq!(
        store
            .create_key(KeyRecord {
                id: "web2".into(),
                ..key(brine_proto::KeyState::Pending)
            })
            .await
            .unwrap(),
        Written::Stored
    );
}

fn mine_entry(fun: &str, data: &str, allow_tgt: Option<&str>) -> MineEntry {
    MineEntry {
        fun: fun.into(),
        data: data.into(),
        allow_tgt: allow_tgt.map(str::to_string),
        allow_tgt_type: allow_tgt.map(|_| "glob".to_string()),
    }
}

#[tokio::test]
async fn mine_rows_round_trip_merge_clear_delete_and_go_with_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("s.db")).unwrap();
    let ids = || vec!["a".to_string(), "b".to_string(), "c".to_string()];
    store
        .put_mine("a", vec![mine_entry("test.echo", "\"hi\"", None)], false)
        .await
        .unwrap();
    store
        .put_mine(
            "b",
            vec![
                mine_entry("test.echo", "\"yo\"", Some("web*")),
                mine_entry("grains.get", "\"x\"", None),
            ],
            false,
        )
        .await
        .unwrap();
    let rows = store.load_mine("test.echo", ids()).await.unwrap();
    let got: Vec<(&str, &str, Option<&str>)> = rows
        .iter()
        .map(|r| {
            (
                r.id.as_str(),
                r.entry.data.as_str(),
                r.entry.allow_tgt.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![("a", "\"hi\"", None), ("b", "\"yo\"", Some("web*"))]
    );
    assert!(rows.iter().all(|r| r.updated_ms > 0));
    // a send without clear merges: the other function stays
    store
        .put_mine("b", vec![mine_entry("test.echo", "\"new\"", None)], false)
        .await
        .unwrap();
    assert_eq!(
        store.mine_sizes("b").await.unwrap(),
        vec![("grains.get".to_string(), 3), ("test.echo".to_string(), 5)]
    );
    // clear replaces everything the minion had
    store
        .put_mine("b", vec![mine_entry("test.ping", "true", None)], true)
        .await
        .unwrap();
    assert_eq!(
        store.mine_sizes("b").await.unwrap(),
        vec![("test.ping".to_string(), 4)]
    );
    // delete one function, then all of a minion's
    store
        .put_mine("a", vec![mine_entry("test.ping", "true", None)], false)
        .await
        .unwrap();
    store.delete_mine("a", Some("test.echo")).await.unwrap();
    assert!(store
        .load_mine("test.echo", ids())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.load_mine("test.ping", ids()).await.unwrap().len(), 2);
    store.delete_mine("a", None).await.unwrap();
    assert!(store.mine_sizes("a").await.unwrap().is_empty());
    // deleting b's key deletes its mine data
    store.delete_key("b").await.unwrap();
    assert!(store
        .load_mine("test.ping", ids())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn grain_history_keeps_each_change_and_baselines_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("s.db")).unwrap();
    let g1: Grains = serde_json::from_str(r#"{"os":"Debian","osrelease":"12"}"#).unwrap();
    let g2: Grains = serde_json::from_str(r#"{"os":"Debian","osrelease":"13"}"#).unwrap();
    store.put_grains("m1", &g1, GrainsDelta::between(None, &g1).as_ref());
    store.put_grains("m1", &g2, GrainsDelta::between(Some(&g1), &g2).as_ref());
    store.put_grains("m2", &g1, GrainsDelta::between(None, &g1).as_ref());
    store.sync().await.unwrap();
    let rows = store
        .grains_history(Some("m1"), 0, i64::MAX, 100)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[0].delta.full);
    assert_eq!(rows[1].delta.set.len(), 1, "only what changed is kept");
    assert_eq!(rows[1].delta.set["osrelease"], "13");
    let fleet = store.grains_history(None, 0, i64::MAX, 100).await.unwrap();
    assert_eq!(fleet.len(), 3);
    store.prune_history(now_ms() + 1);
    store.sync().await.unwrap();
    assert!(store
        .grains_history(None, 0, i64::MAX, 100)
        .await
        .unwrap()
        .is_empty());

    let data = serde_json::json!({"minions": {"m1": {"grains": g1}}});
    store.put_baseline("before", "*", &data).await.unwrap();
    let (tgt, _, back) = store.load_baseline("before").await.unwrap().unwrap();
    assert_eq!((tgt.as_str(), &back), ("*", &data));
    assert_eq!(store.list_baselines().await.unwrap().len(), 1);
    store.delete_baseline("before").await.unwrap();
    assert!(store.load_baseline("before").await.unwrap().is_none());
}

#[tokio::test]
async fn the_last_state_run_of_each_minion_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("s.db")).unwrap();
    let (j1, j2): (JobId, JobId) = (
        "20261204010101000001".parse().unwrap(),
        "20261204010101000002".parse().unwrap(),
    );
    for j in [j1, j2] {
        store.put_job(job(j, &["m1"])).await.unwrap();
    }
    let mut r1 = ret(j1, "m1", "old");
    r1.fun = "state.apply".into();
    r1.finished_ms = 10;
    let mut r2 = ret(j2, "m1", "new");
    r2.fun = "state.highstate".into();
    r2.finished_ms = 20;
    let mut r3 = ret(j2, "m2", "other");
    r3.fun = "state.apply".into();
    r3.finished_ms = 30;
    store.put_return(r1).await.unwrap();
    store.put_return(r2).await.unwrap();
    store.put_return(r3).await.unwrap();
    let funs = ["state.apply", "state.highstate"];
    let last = store.last_state_returns(&funs, None).await.unwrap();
    assert_eq!(last.len(), 2, "{last:?}");
    assert_eq!(
        (last[0].0.as_str(), last[0].1.clone()),
        ("m1", j2.to_string())
    );
    assert_eq!(last[0].3, Value::String("new".into()));
    // One minion's own: the newest of its rows, none of the others'.
    let mine = store.last_state_returns(&funs, Some("m1")).await.unwrap();
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0].3, Value::String("new".into()));
    let none = store.last_state_returns(&funs, Some("m3")).await.unwrap();
    assert!(none.is_empty(), "{none:?}");
}

#[tokio::test]
async fn a_reaction_is_claimed_once_and_pruned_with_the_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("s.db")).unwrap();
    assert!(store.claim_reaction("0:my/*", "web1/7").await.unwrap());
    assert!(!store.claim_reaction("0:my/*", "web1/7").await.unwrap());
    // another rule, another event: their own claims
    assert!(store.claim_reaction("1:my/*", "web1/7").await.unwrap());
    assert!(store.claim_reaction("0:my/*", "web1/8").await.unwrap());
    store.prune_jobs(now_ms() + 1);
    store.sync().await.unwrap();
    assert!(store.claim_reaction("0:my/*", "web1/7").await.unwrap());
}

#[tokio::test]
async fn api_certs_are_recorded_listed_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("s.db")).unwrap();
    let cert = |serial: &str, user: &str, issued_ms| ApiCertRecord {
        serial: serial.into(),
        user: user.into(),
        not_after_ms: 10_000,
        issued_ms,
        revoked: false,
    };
    store.put_api_cert(cert("0a", "alice", 1)).await.unwrap();
    store.put_api_cert(cert("0b", "bob", 2)).await.unwrap();
    assert!(store.put_api_cert(cert("0a", "eve", 3)).await.is_err());
    assert_eq!(store.load_api_cert("0c").await.unwrap(), None);
    store.revoke_api_cert("0a").await.unwrap();
    let all = store.list_api_certs().await.unwrap();
    assert_eq!(
        all,
        vec![
            ApiCertRecord {
                revoked: true,
                ..cert("0a", "alice", 1)
            },
            cert("0b", "bob", 2)
        ]
    );
    assert_eq!(
        store.load_api_cert("0b").await.unwrap(),
        Some(cert("0b", "bob", 2))
    );
}

#[tokio::test]
async fn presence_is_read_for_the_fleet_or_for_one_minion() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("s.db")).unwrap();
    store.put_presence("web1", true);
    store.put_presence("db1", false);
    store.sync().await.unwrap();
    let all = store.load_presence().await.unwrap();
    assert_eq!(all.len(), 2, "{all:?}");
    let one = store.load_presence_of("db1").await.unwrap();
    assert_eq!(one.len(), 1, "{one:?}");
    assert_eq!((one[0].id.as_str(), one[0].connected), ("db1", false));
    assert!(store.load_presence_of("nobody").await.unwrap().is_empty());
}
