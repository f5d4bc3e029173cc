//! Identity comes from certificates; publications are sealed; bad input on
//! either port leaves every daemon running and serving.

use std::io::Write;
use std::net::TcpStream;

use brine_pki::channel::write_frame;
use brine_pki::MinionPki;
use brine_proto::{JobReturn, MasterMsg, MinionMsg, SealedPublication};
use brine_tests::{assert_eventually, free_port, Cluster};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use zeromq::{Socket, SocketRecv, SocketSend, ZmqMessage};

use super::peer::{next_reply as next_interesting, tls};

#[test]
fn forged_return_is_refused_and_bad_frames_do_no_harm() {
    let c = Cluster::builder().minion("web1", "").start();
    c.accept_all();
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // An impostor enrolls honestly as "evil"...
        let mut pki = MinionPki::load_or_create(dir.path(), "evil").unwrap();
        let mut s = tls(&pki, c.ret_port, false).await;
        let req = MinionMsg::CertRequest {
            id: "evil".into(),
            csr_pem: pki.csr_pem().unwrap(),
        };
        write_frame(&mut s, &req).await.unwrap();
        assert!(matches!(
            next_interesting(&mut s).await,
            MasterMsg::CertPending { .. }
        ));
        let out = c.key(&["-a", "evil", "-y"]);
        assert_eq!(out.code, 0, "{out:?}");
        let MasterMsg::CertIssued { cert_pem, ca_pem } = next_interesting(&mut s).await else {
            panic!("no certificate pushed on accept")
        };
        pki.store_certificate(&cert_pem, &ca_pem).unwrap();

        // ...then returns in web1's name for a job web1 really ran.
        let mut s = tls(&pki, c.ret_port, true).await;
        write_frame(
            &mut s,
            &MinionMsg::Hello {
                version: "x".into(),
                last_jid: None,
            },
        )
        .await
        .unwrap();
        assert!(matches!(
            next_interesting(&mut s).await,
            MasterMsg::Welcome { .. }
        ));
        let out = c.brine(&["--async", "web1", "test.sleep", "1"]);
        let jid = brine_tests::jid_of(&out.stdout).unwrap();
        let forged = JobReturn {
            jid,
            id: "web1".into(),
            fun: "test.sleep".into(),
            ret: json!("forged"),
            retcode: 0,
            success: true,
            error: None,
            started_ms: 0,
            finished_ms: 0,
        };
        write_frame(&mut s, &MinionMsg::Return(forged))
            .await
            .unwrap();
        match next_interesting(&mut s).await {
            MasterMsg::ReturnRefused { reason, .. } => assert!(reason.contains("web1"), "{reason}"),
            other => panic!("forged return not refused: {other:?}"),
        }
        let jid_s = jid.to_string();
        assert_eventually!(
            c.run(&["jobs.lookup_jid", &jid_s, "--out", "json"])
                .stdout
                .contains("true"),
            "web1's real return stored"
        );
        assert!(!c
            .run(&["jobs.lookup_jid", &jid_s, "--out", "json"])
            .stdout
            .contains("forged"));

        // An oversized frame on an authenticated channel: that connection ends, nothing else.
        s.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
        s.flush().await.unwrap();
    });

    // Garbage on both ports, before and instead of TLS / ZMTP.
    for port in [c.ret_port, c.publish_port] {
        let mut t = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let _ = t.write_all(&[0xff; 4096]);
        let _ = t.write_all(b"GET / HTTP/1.0\r\n\r\n");
        let mut t2 = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let _ = t2.write_all(&[0x16, 0x03, 0x01, 0xff, 0xff]);
    }
    // The impostor's key is still accepted, but nothing serves it any more.
    assert_eq!(c.key(&["-d", "evil", "-y"]).code, 0);
    let (out, v) = c.brine_json(&["*", "test.ping"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(v, json!({"web1": true}));
}

enum ProxyCmd {
    Send(Vec<u8>),
}

/// A man in the middle on the publish port: forwards the master's
/// publications to one minion, records them, and injects what the test asks.
fn mitm(
    upstream: u16,
    listen: u16,
) -> (
    std::sync::mpsc::Receiver<Vec<u8>>,
    tokio::sync::mpsc::UnboundedSender<ProxyCmd>,
) {
    let (seen_tx, seen_rx) = std::sync::mpsc::channel();
    let (cmd_tx, mut cmd_rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut publ = zeromq::PubSocket::new();
            publ.bind(&format!("tcp://127.0.0.1:{listen}"))
                .await
                .unwrap();
            let mut sub = zeromq::SubSocket::new();
            sub.connect(&format!("tcp://127.0.0.1:{upstream}"))
                .await
                .unwrap();
            sub.subscribe("").await.unwrap();
            loop {
                tokio::select! {
                    m = sub.recv() => {
                        let Ok(m) = m else { break };
                        let bytes = m.get(0).map(|f| f.to_vec()).unwrap_or_default();
                        let _ = seen_tx.send(bytes.clone());
                        let _ = publ.send(ZmqMessage::from(bytes)).await;
                    }
                    c = cmd_rx.recv() => match c {
                        Some(ProxyCmd::Send(b)) => { let _ = publ.send(ZmqMessage::from(b)).await; }
                        None => break,
                    }
                }
            }
        });
    });
    (seen_rx, cmd_tx)
}

#[test]
fn replayed_forged_and_junk_publications_are_ignored() {
    let proxy_port = free_port();
    let mut c = Cluster::builder().minion("honest", "").start();
    let (seen, inject) = mitm(c.publish_port, proxy_port);
    c.add_minion(brine_tests::MinionSpec {
        id: "victim".into(),
        grains: String::new(),
        extra: String::new(),
    });
    // Point the victim's subscription at the proxy.
    let conf = c.minion_root("victim").join("conf/minion");
    let text = std::fs::read_to_string(&conf).unwrap().replace(
        &format!("publish_port: {}", c.publish_port),
        &format!("publish_port: {proxy_port}"),
    );
    std::fs::write(&conf, text).unwrap();
    c.stop_minion("victim");
    c.start_minion("victim");
    c.accept_all();

    let log = c.dir.path().join("ran.log");
    let cmd = format!("echo ran >> {}", log.display());
    let out = c.brine(&["victim", "cmd.run", &cmd]);
    assert_eq!(out.code, 0, "{out:?}\n{}", c.logs());
    let count = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert_eq!(count(), 1);
    // The last captured publication is that job.
    let mut captured = Vec::new();
    while let Ok(b) = seen.try_recv() {
        captured = b;
    }
    assert!(!captured.is_empty(), "proxy saw the job");

    // Replay it verbatim.
    inject.send(ProxyCmd::Send(captured.clone())).unwrap();
    // Tamper with the ciphertext, then with the signature.
    let mut p: SealedPublication = brine_proto::codec::decode(&captured).unwrap();
    let mut bad = p.clone();
    let last = bad.ciphertext.len() - 1;
    bad.ciphertext[last] ^= 1;
    inject
        .send(ProxyCmd::Send(brine_proto::codec::encode(&bad).unwrap()))
        .unwrap();
    p.signature[0] ^= 1;
    inject
        .send(ProxyCmd::Send(brine_proto::codec::encode(&p).unwrap()))
        .unwrap();
    // Junk and a 20 MB frame.
    inject
        .send(ProxyCmd::Send(b"\x00\x01garbage".to_vec()))
        .unwrap();
    inject
        .send(ProxyCmd::Send(vec![0x85; 20 * 1024 * 1024]))
        .unwrap();

    assert_eventually!(
        {
            let l = c.minions["victim"].log_text();
            l.contains("already seen") && l.contains("bad signature")
        },
        "victim logged the replay and the forgery:\n{}",
        c.minions["victim"].log_text()
    );
    assert_eq!(count(), 1, "a replayed or forged publication ran");
    assert!(c.minion("victim").is_running());
    c.wait_answering(&["victim", "honest"]);
    let out = c.brine(&["victim", "cmd.run", &cmd]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(count(), 2);
}

#[test]
fn minion_pinned_to_another_ca_refuses_the_master() {
    let mut c = Cluster::builder().start();
    let out = c.key(&["-F", "--out", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let real = v["local"]["master_ca.crt"].as_str().unwrap().to_string();
    assert_eq!(real.split(':').count(), 32, "{real}");
    let wrong = real.replace(|ch: char| ch.is_ascii_hexdigit(), "0");
    c.add_minion(brine_tests::MinionSpec {
        id: "pinned-wrong".into(),
        grains: String::new(),
        extra: format!("master_finger: '{wrong}'"),
    });
    c.add_minion(brine_tests::MinionSpec {
        id: "pinned-right".into(),
        grains: String::new(),
        extra: format!("master_finger: '{}'", real.to_uppercase()),
    });
    assert_eventually!(
        c.keys_in("minions_pre")
            .contains(&"pinned-right".to_string()),
        "right pin enrolls"
    );
    assert_eventually!(
        c.minions["pinned-wrong"]
            .log_text()
            .contains("does not match"),
        "wrong pin refuses:\n{}",
        c.minions["pinned-wrong"].log_text()
    );
    assert!(
        !c.keys().to_string().contains("pinned-wrong"),
        "{}",
        c.keys()
    );
    assert!(c.minion("pinned-wrong").is_running());
    c.accept(&["pinned-right"]);
}

#[test]
fn a_publication_replayed_after_the_minion_restarts_does_not_run_again() {
    let proxy_port = free_port();
    let mut c = Cluster::builder()
        .master_config("publish_session: 3600")
        .start();
    let (seen, inject) = mitm(c.publish_port, proxy_port);
    c.add_minion(brine_tests::MinionSpec {
        id: "victim".into(),
        grains: String::new(),
        extra: String::new(),
    });
    let conf = c.minion_root("victim").join("conf/minion");
    let text = std::fs::read_to_string(&conf).unwrap().replace(
        &format!("publish_port: {}", c.publish_port),
        &format!("publish_port: {proxy_port}"),
    );
    std::fs::write(&conf, text).unwrap();
    c.stop_minion("victim");
    c.start_minion("victim");
    c.accept_all();
    let log = c.dir.path().join("ran.log");
    let cmd = format!("echo ran >> {}", log.display());
    let out = c.brine(&["victim", "cmd.run", &cmd]);
    assert_eq!(out.code, 0, "{out:?}\n{}", c.logs());
    let count = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert_eq!(count(), 1);
    let mut captured = Vec::new();
    while let Ok(b) = seen.try_recv() {
        captured = b;
    }
    assert!(!captured.is_empty(), "proxy saw the job");
    // The minion restarts (its in-memory state is gone), then the captured
    // publication comes again, well inside the age window and the epoch.
    c.stop_minion("victim");
    c.start_minion("victim");
    c.wait_answering(&["victim"]);
    inject.send(ProxyCmd::Send(captured)).unwrap();
    assert_eventually!(
        c.minions["victim"].log_text().contains("already seen"),
        "the replay is recognised:\n{}",
        c.minions["victim"].log_text()
    );
    assert_eq!(
        count(),
        1,
        "a publication replayed after a restart ran again"
    );
}

#[test]
fn publication_keys_rotate_on_schedule_and_jobs_keep_running() {
    let c = Cluster::builder()
        .master_config("publish_session: 1")
        .minion("web1", "")
        .start();
    c.accept_all();
    assert_eventually!(
        c.master
            .log_text()
            .matches("publication key rotated")
            .count()
            >= 3,
        "the master rotates its publication key every publish_session:\n{}",
        c.master.log_text()
    );
    assert_eventually!(
        c.minions["web1"]
            .log_text()
            .matches("new publication key")
            .count()
            >= 3,
        "the minion receives each new key over its session"
    );
    for _ in 0..3 {
        let (out, v) = c.brine_json(&["web1", "test.ping"]);
        assert_eq!(out.code, 0, "{out:?}\n{}", c.logs());
        assert_eq!(v, json!({"web1": true}));
    }
}
