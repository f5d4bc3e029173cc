//! The request port before authentication: small frames only, a bounded
//! number of unauthenticated connections per source and in all, pending keys
//! bounded in count and rate, hostile ids refused before they are stored,
//! and a key rejected while its session is set up never gets one.

use std::path::Path;
use std::time::Duration;

use brine_pki::channel::{read_frame, write_frame};
use brine_pki::MinionPki;
use brine_proto::{MasterMsg, MinionMsg};
use brine_tests::{assert_eventually, bin, rss_kib, Cluster, MinionSpec};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::peer::{tcp_from, tls_from};

/// Where the attacks come from: another loopback address than the minions.
const ATTACKER: &str = "127.0.0.2";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn unauthenticated_floods_neither_grow_the_master_nor_lock_out_minions() {
    let mut c = Cluster::builder().minion("web1", "").start();
    c.accept_all();
    let pid = c.master.pid().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pki = MinionPki::load_or_create(dir.path(), "attacker").unwrap();
    let rt = runtime();
    let port = c.ret_port;
    // 150 TLS connections without a certificate, each announcing a 16 MiB
    // frame and streaming it. Before the fix each buffer grew as the bytes
    // arrived: 150 x 16 MiB, the master at 2.5 GB.
    let peak = rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..150 {
            let pki_cfg = pki.tls_client_config(None, false).unwrap().0;
            tasks.push(tokio::spawn(async move {
                let Ok(tcp) = tcp_from(ATTACKER, port).await else {
                    return;
                };
                let name = rustls::pki_types::ServerName::try_from("brine-master").unwrap();
                let Ok(mut s) = tokio_rustls::TlsConnector::from(pki_cfg)
                    .connect(name, tcp)
                    .await
                else {
                    return;
                };
                let _ = s.write_all(&(16u32 * 1024 * 1024).to_be_bytes()).await;
                let chunk = vec![0x85u8; 1 << 20];
                for _ in 0..16 {
                    if s.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
                let _ = s.flush().await;
            }));
        }
        let mut peak = 0;
        for t in tasks {
            let _ = t.await;
            peak = peak.max(rss_kib(pid));
        }
        peak
    });
    assert!(c.master.is_running(), "master died:\n{}", c.logs());
    assert!(
        peak < 256 * 1024,
        "master RSS peaked at {peak} KiB under the 16 MiB frame flood"
    );

    // 600 connections that never speak, from one address: at most 128 are
    // held; a new minion from another address still enrolls and answers.
    let idle = rt.block_on(async {
        let mut held = Vec::new();
        for _ in 0..600 {
            if let Ok(s) = tcp_from(ATTACKER, port).await {
                held.push(s);
            }
        }
        held
    });
    c.add_minion(MinionSpec {
        id: "web2".into(),
        grains: String::new(),
        extra: String::new(),
    });
    c.accept(&["web2"]);
    c.wait_answering(&["web1", "web2"]);
    assert!(
        c.master
            .log_text()
            .contains("too many unauthenticated connections"),
        "the master says it sheds the flood"
    );
    drop(idle);
}

/// Asks for a certificate as `id` from `src`; the master's first answer.
async fn ask(pki: &mut MinionPki, id: &str, src: &str, port: u16) -> Option<MasterMsg> {
    let mut s = tls_from(pki, src, port, false).await.ok()?;
    let req = MinionMsg::CertRequest {
        id: id.into(),
        csr_pem: pki.csr_pem().unwrap(),
    };
    write_frame(&mut s, &req).await.ok()?;
    tokio::time::timeout(Duration::from_secs(10), read_frame::<MasterMsg, _>(&mut s))
        .await
        .ok()?
        .ok()?
}

#[test]
fn certificate_request_floods_and_hostile_ids_are_refused_before_storage() {
    let c = Cluster::builder()
        .master_config("max_pending_keys: 50\npending_keys_per_minute: 20")
        .start();
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let port = c.ret_port;
    rt.block_on(async {
        // 200 distinct, valid requests as fast as they go, from one address.
        let started = std::time::Instant::now();
        let mut pending = 0;
        let mut refused = 0;
        for i in 0..200 {
            let id = format!("flood{i:03}");
            let mut pki = MinionPki::load_or_create(&dir.path().join(&id), &id).unwrap();
            match ask(&mut pki, &id, ATTACKER, port).await {
                Some(MasterMsg::CertPending { .. }) => pending += 1,
                Some(MasterMsg::CertRejected { reason }) => {
                    assert!(reason.contains("too many new keys"), "{reason}");
                    refused += 1
                }
                other => panic!("{other:?}"),
            }
        }
        // The bucket holds 20 and refills at 20 a minute: on a loaded
        // machine the loop takes a while, and what refilled meanwhile is due.
        let refilled = (started.elapsed().as_secs_f64() * 20.0 / 60.0).ceil() as usize;
        assert!(
            pending <= 21 + refilled,
            "{pending} pending keys from one address in {:?}",
            started.elapsed()
        );
        assert!(refused >= 170 - refilled, "{refused} refused");
        // Ids that are no ids: refused, nothing stored.
        let mut pki = MinionPki::load_or_create(&dir.path().join("evil"), "evil").unwrap();
        for bad in ["evil\nweb1  ab:cd", "\u{1b}[2Jwiped", "../../etc", "a/b"] {
            match ask(&mut pki, bad, "127.0.0.3", port).await {
                Some(MasterMsg::CertRejected { reason }) => {
                    assert!(reason.contains("minion id"), "{bad:?}: {reason}")
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        // A 4 MB id does not even fit a pre-authentication frame.
        let huge = "x".repeat(4 << 20);
        let got = ask(&mut pki, &huge, "127.0.0.3", port).await;
        assert!(got.is_none(), "a 4 MB request was read: {got:?}");
    });
    let pre = c.keys_in("minions_pre");
    assert!(pre.len() <= 21, "{} pending", pre.len());
    assert!(pre.iter().all(|id| id.starts_with("flood")), "{pre:?}");
    let listing = c.key(&["-L"]);
    assert!(!listing.stdout.contains('\u{1b}'), "{listing:?}");
    assert!(
        !listing.stdout.lines().any(|l| l.starts_with("web1")),
        "{listing:?}"
    );
    assert!(c.master.log_text().contains("certificate request refused"));
}

#[test]
fn the_pending_key_count_is_bounded_whatever_the_sources() {
    let c = Cluster::builder()
        .master_config("max_pending_keys: 10\npending_keys_per_minute: 1000")
        .start();
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    rt.block_on(async {
        for i in 0..30 {
            let id = format!("many{i:02}");
            let src = format!("127.0.1.{}", i + 1);
            let mut pki = MinionPki::load_or_create(&dir.path().join(&id), &id).unwrap();
            let got = ask(&mut pki, &id, &src, c.ret_port).await;
            if i >= 10 {
                match got {
                    Some(MasterMsg::CertRejected { reason }) => {
                        assert!(reason.contains("max_pending_keys"), "{reason}")
                    }
                    other => panic!("{id}: {other:?}"),
                }
            }
        }
    });
    assert_eq!(c.keys_in("minions_pre").len(), 10);
}

fn find_file(dir: &Path, name: &str) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(f) = find_file(&p, name) {
                return Some(f);
            }
        } else if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
    }
    None
}

#[test]
fn a_key_rejected_while_its_session_is_set_up_gets_no_session() {
    let mut c = Cluster::builder().minion("web1", "").start();
    c.accept_all();
    c.stop_minion("web1");
    // web1's own key and certificate, driven by hand.
    let pki_dir = find_file(&c.minion_root("web1"), "minion.pem")
        .or_else(|| find_file(&c.minion_root("web1"), "minion.key"))
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .expect("web1's pki dir");
    let pki = MinionPki::load_or_create(&pki_dir, "web1").unwrap();
    let rt = runtime();
    rt.block_on(async {
        // The TLS session is up and the key was accepted when checked...
        let mut s = tls_from(&pki, "127.0.0.1", c.ret_port, true).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        // ...then an operator rejects it before the hello arrives.
        let out = c.key(&["-r", "web1", "--include-accepted", "-y"]);
        assert_eq!(out.code, 0, "{out:?}");
        let hello = MinionMsg::Hello {
            version: "x".into(),
            last_jid: None,
        };
        write_frame(&mut s, &hello).await.unwrap();
        let first: Option<MasterMsg> =
            tokio::time::timeout(Duration::from_secs(10), read_frame(&mut s))
                .await
                .expect("the master answers")
                .unwrap_or(None);
        match first {
            Some(MasterMsg::Refused { .. }) | None => {}
            Some(other) => panic!("a rejected key got a session: {other:?}"),
        }
        // Nothing else follows: no welcome, no publication key.
        let next: Result<Result<Option<MasterMsg>, _>, _> =
            tokio::time::timeout(Duration::from_secs(2), read_frame(&mut s)).await;
        if let Ok(Ok(Some(m))) = next {
            panic!("the master kept talking to a rejected key: {m:?}");
        }
    });
    assert!(c.keys_in("minions_rejected").contains(&"web1".to_string()));
}

#[test]
fn the_master_refuses_a_pki_dir_another_user_could_have_written() {
    let mut c = Cluster::builder().start();
    c.master.stop();
    let root = c.master_root();
    let ca_key = find_file(&root, "ca.key")
        .or_else(|| find_file(&root, "master_ca.key"))
        .expect("the CA key");
    let holder = ca_key.parent().unwrap().to_path_buf();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&holder, std::fs::Permissions::from_mode(0o777)).unwrap();
    // Bounded: a master that (wrongly) starts is killed after 15 s.
    let out = std::process::Command::new("timeout")
        .arg("15")
        .arg(bin("brine-master"))
        .arg("-c")
        .arg(c.master_conf())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the master started: {stderr}");
    assert!(
        stderr.contains(&holder.display().to_string()) && stderr.contains("0777"),
        "{stderr}"
    );
    std::fs::set_permissions(&holder, std::fs::Permissions::from_mode(0o700)).unwrap();
    c.restart_master();
    let _ = json!(null);
    assert_eventually!(
        c.master.is_running(),
        "the master starts once the directory is safe"
    );
}
