//! Key lifecycle: pending minions get nothing, accept/reject/delete act at
//! once, a deleted minion comes back pending, autosign globs.

use std::time::Duration;

use brine_tests::{assert_eventually, Cluster};
use zeromq::{Socket, SocketRecv};

fn grains_file(c: &Cluster, id: &str) -> String {
    std::fs::read_to_string(c.minion_root(id).join("conf/grains")).unwrap_or_default()
}

/// Captures publications on the public port, as anyone on the network could.
fn spy(port: u16) -> std::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut sub = zeromq::SubSocket::new();
            sub.connect(&format!("tcp://127.0.0.1:{port}"))
                .await
                .unwrap();
            sub.subscribe("").await.unwrap();
            while let Ok(m) = sub.recv().await {
                if let Some(f) = m.get(0) {
                    if tx.send(f.to_vec()).is_err() {
                        break;
                    }
                }
            }
        });
    });
    rx
}

#[test]
fn key_lifecycle() {
    let mut c = Cluster::builder()
        .minion("web1", "")
        .minion("web2", "")
        .start();
    c.accept(&["web1"]);
    assert_eventually!(
        c.keys_in("minions_pre").contains(&"web2".to_string()),
        "web2 pending"
    );

    // A pending minion is not targeted, gets no key, cannot read what is published.
    let spy = spy(c.publish_port);
    std::thread::sleep(Duration::from_millis(300)); // let the spy's subscription land
    let (out, v) = c.brine_json(&["*", "grains.setval", "secret_marker", "s3cr3t"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(v.get("web1").is_some() && v.get("web2").is_none(), "{v}");
    let captured = spy
        .recv_timeout(Duration::from_secs(5))
        .expect("captured a publication");
    let hay = String::from_utf8_lossy(&captured);
    assert!(
        !hay.contains("grains.setval") && !hay.contains("s3cr3t"),
        "publication is readable in clear"
    );
    assert!(grains_file(&c, "web1").contains("s3cr3t"));
    assert!(
        !grains_file(&c, "web2").contains("s3cr3t"),
        "pending minion ran a job"
    );
    assert!(c.minion("web2").is_running());

    // Accept: the job works.
    c.accept(&["web2"]);
    let (out, v) = c.brine_json(&["*", "test.ping"]);
    assert_eq!(out.code, 0, "{out:?}\n{}", c.logs());
    assert_eq!(v, serde_json::json!({"web1": true, "web2": true}));

    // Reject an accepted key: cut off at once, and no longer reads publications.
    let out = c.key(&["-r", "web1", "--include-accepted", "-y"]);
    assert_eq!(out.code, 0, "{out:?}");
    let st = c.run(&["manage.status", "--out", "json"]);
    let st: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
    assert_eq!(
        st["up"],
        serde_json::json!(["web2"]),
        "web1 still up right after reject: {st}"
    );
    assert!(c.keys_in("minions_rejected").contains(&"web1".to_string()));
    let out = c.brine(&["web1", "test.ping"]);
    assert_eq!(out.code, 2, "rejected minion still targeted: {out:?}");
    let (out, _) = c.brine_json(&["*", "grains.setval", "after_reject", "yes"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(grains_file(&c, "web2").contains("after_reject"));
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !grains_file(&c, "web1").contains("after_reject"),
        "rejected minion ran a job"
    );

    // Delete: cut off, and the minion comes back as pending with the same key.
    let out = c.key(&["-d", "web2", "-y"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("Key for minion web2 Deleted."),
        "{out:?}"
    );
    let st = c.run(&["manage.status", "--out", "json"]);
    assert!(
        !st.stdout.contains("web2"),
        "deleted minion still listed: {}",
        st.stdout
    );
    assert_eventually!(
        c.keys_in("minions_pre").contains(&"web2".to_string()),
        "web2 back as pending"
    );
    let out = c.brine(&["web2", "test.ping"]);
    assert_eq!(out.code, 2, "{out:?}");
    c.accept(&["web2"]);
}

#[test]
fn autosign_by_glob_and_auto_accept() {
    let c = Cluster::builder()
        .master_config("autosign_file: AUTOSIGN")
        .minion("auto1", "")
        .minion("other1", "")
        .start();
    // The file is read per request: writing it after start is how operators use it.
    let _ = c;
    let mut c = c;
    let path = c.master_root().join("AUTOSIGN");
    std::fs::write(&path, "# autosign\nauto*\n").unwrap();
    let _ = &mut c;
    c.wait_answering(&["auto1"]);
    assert!(c.keys_in("minions").contains(&"auto1".to_string()));
    assert_eventually!(
        c.keys_in("minions_pre").contains(&"other1".to_string()),
        "other1 pending"
    );

    let c2 = Cluster::builder()
        .auto_accept(true)
        .minion("any1", "")
        .start();
    c2.wait_answering(&["any1"]);
}

#[test]
fn key_listing_shows_fingerprints_and_json() {
    let c = Cluster::builder().minion("m1", "").start();
    assert_eventually!(
        c.keys_in("minions_pre").contains(&"m1".to_string()),
        "m1 pending"
    );
    let out = c.key(&["-L"]);
    assert!(out.stdout.contains("Unaccepted Keys:"), "{out:?}");
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("m1"))
        .expect("m1 listed");
    let fp = line.split_whitespace().nth(1).expect("fingerprint");
    assert_eq!(fp.split(':').count(), 32, "sha-256 fingerprint: {fp}");
    let v = c.keys();
    assert_eq!(v["fingerprints"]["m1"], fp);
    let out = c.key(&["-a", "nosuch*", "-y"]);
    assert_ne!(out.code, 0);
}
