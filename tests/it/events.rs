//! The master's event bus as an operator sees it through `brine-run
//! state.event`: key, presence and start events, a job's `new` and `ret`
//! events, minions' own events (their id from the certificate, the
//! master's tags refused), `fire_event` and the `event.send` runner.

use std::time::Duration;

use brine_tests::events::EventStream;
use brine_tests::{jid_of, Cluster};
use serde_json::json;

#[test]
fn the_event_stream_shows_keys_jobs_and_minion_events() {
    let c = Cluster::builder()
        .minion("web1", "role: web")
        .minion("db1", "role: db")
        .start();
    let all = EventStream::start(&c.master_conf(), None);
    let mine = EventStream::start(&c.master_conf(), Some("myco/*"));
    c.accept_all();
    for id in ["web1", "db1"] {
        all.wait(Duration::from_secs(20), |e| {
            e.tag == "brine/key" && e.data["id"] == id && e.data["act"] == "accept"
        });
        let start = all.wait_tag(&format!("brine/minion/{id}/start"));
        assert_eq!(start.data["id"], id);
        assert!(start.data["_stamp"].is_string());
    }
    c.wait_answering(&["web1", "db1"]);
    let presence = all.wait_tag("brine/presence/change");
    assert!(!presence.data["new"].as_array().unwrap().is_empty());

    // A job: its `new` event names the targeted minions, then one `ret`
    // per minion with the return.
    let out = c.brine(&["*", "test.ping"]);
    let jid = jid_of(&out.stdout)
        .or_else(|| {
            let list = c.run(&[
                "--out",
                "json",
                "jobs.list_jobs",
                "search_function=test.ping",
            ]);
            let v: serde_json::Value = serde_json::from_str(&list.stdout).ok()?;
            v.as_object()?.keys().max()?.parse().ok()
        })
        .expect("the job's jid");
    let new = all.wait_tag(&format!("brine/job/{jid}/new"));
    assert_eq!(new.data["fun"], "test.ping");
    assert_eq!(new.data["minions"], json!(["db1", "web1"]));
    for id in ["web1", "db1"] {
        let ret = all.wait_tag(&format!("brine/job/{jid}/ret/{id}"));
        assert_eq!(ret.data["return"], json!(true));
        assert_eq!(ret.data["id"], id);
        assert_eq!(ret.data["success"], json!(true));
    }

    // A minion's own event: Salt's shape, the id from its certificate.
    // Before it, the same minion tries to speak for the master: refused
    // (its session is ordered, so once the later event is here, the
    // forged one would have been too).
    let forged = c.brine(&[
        "web1",
        "event.fire_master",
        r#"{"id": "db1", "act": "accept"}"#,
        "brine/key",
    ]);
    assert_eq!(forged.code, 0, "{forged:?}");
    let out = c.brine(&["web1", "event.send", "myco/deploy/done", "version=1.2"]);
    assert_eq!(out.code, 0, "{out:?}");
    let ev = mine.wait_tag("myco/deploy/done");
    assert_eq!(ev.data["id"], "web1");
    assert_eq!(ev.data["data"]["version"], json!(1.2));
    assert_eq!(ev.data["cmd"], "_minion_event");
    let keys_from_minion: Vec<_> = all
        .matching("brine/key")
        .into_iter()
        .filter(|e| e.data.get("act") == Some(&json!("accept")) && e.data["id"] == "db1")
        .collect();
    assert_eq!(
        keys_from_minion.len(),
        1,
        "only the operator's accept: {keys_from_minion:?}"
    );
    assert!(c.master.log_text().contains("event from minion refused"));

    // A state's fire_event: the state result, tagged with the job.
    let out = c.brine(&[
        "db1",
        "state.single",
        "test.succeed_without_changes",
        "name=check",
        "fire_event=True",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let result = all.wait_tag("brine/state_result/*/db1/check");
    assert_eq!(result.data["id"], "db1");
    assert_eq!(result.data["data"]["ret"]["result"], json!(true));

    // The runner fires on the master's bus; the filtered stream saw only
    // its own tags.
    let out = c.run(&["event.send", "myco/release", "version=2"]);
    assert_eq!(out.code, 0, "{out:?}");
    let ev = mine.wait_tag("myco/release");
    assert_eq!(ev.data["version"], json!(2));
    assert!(mine.events().iter().all(|e| e.tag.starts_with("myco/")));
    all.wait_tag("brine/run/*/ret");

    // Master tags stay the master's from the runner too.
    let out = c.run(&["event.send", "brine/key"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("master's own"), "{out:?}");
}
