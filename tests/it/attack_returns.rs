//! Nothing lost, nothing overwritten: a `kill -9` of the master or of a
//! minion loses no return whose jid a caller saw; a return is never
//! replaced by a second one for the same (jid, minion); a minion cannot
//! return into a job that did not target it or that does not exist.

use std::time::Duration;

use brine_pki::channel::write_frame;
use brine_pki::MinionPki;
use brine_proto::{JobId, JobReturn, MasterMsg, MinionMsg};
use brine_tests::{assert_eventually, wait_for, Cluster};
use nix::sys::signal::Signal;
use serde_json::{json, Value};

use brine_tests::jid_of;

use super::peer::{next_reply, tls};

fn lookup(c: &Cluster, jid: JobId) -> Option<Value> {
    c.lookup_jid(jid)
}

fn answered(v: &Value, id: &str) -> bool {
    match &v[id] {
        Value::Null => false,
        Value::String(s) => !s.starts_with("Minion did not return"),
        _ => true,
    }
}

#[test]
fn kill_9_of_the_master_during_async_jobs_loses_no_return() {
    let mut c = Cluster::builder()
        .minion("web1", "")
        .minion("web2", "")
        .start();
    c.accept_all();
    // Eight callers publish async jobs back to back; the master is killed
    // mid-burst (returns in flight, writes queued), then restarted while
    // they keep going.
    const CALLERS: usize = 8;
    const JOBS_EACH: usize = 40;
    let printed = std::sync::Mutex::new(Vec::<JobId>::new());
    let refused = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for caller in 0..CALLERS {
            let (c, printed, refused) = (&c, &printed, &refused);
            scope.spawn(move || {
                for i in 0..JOBS_EACH {
                    let arg = format!("{caller}-{i}");
                    let out = c.brine(&["--async", "*", "test.arg", &arg]);
                    match jid_of(&out.stdout).filter(|_| out.code == 0) {
                        Some(jid) => printed.lock().unwrap().push(jid),
                        None => {
                            refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                }
            });
        }
        wait_for(
            Duration::from_secs(60),
            || printed.lock().unwrap().len() >= CALLERS * JOBS_EACH / 3,
            "a third of the jobs published",
        );
        c.master.signal(Signal::SIGKILL);
    });
    // The callers ran on while the master was down; restart it now and
    // collect what the minions kept.
    c.restart_master();
    let printed = printed.into_inner().unwrap();
    let mut lost = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    for jid in &printed {
        loop {
            let v = lookup(&c, *jid);
            let done = v
                .as_ref()
                .is_some_and(|v| answered(v, "web1") && answered(v, "web2"));
            if done {
                break;
            }
            if std::time::Instant::now() > deadline {
                lost.push((*jid, v));
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {} jobs whose jid was printed lack returns ({} returns expected): {:?}\n{}",
        lost.len(),
        printed.len(),
        printed.len() * 2,
        &lost[..lost.len().min(5)],
        c.logs()
    );
    eprintln!(
        "kill -9 of the master: {} jobs printed, {} returns, 0 lost; {} calls refused while it was down",
        printed.len(),
        printed.len() * 2,
        refused.load(std::sync::atomic::Ordering::Relaxed)
    );
}

#[test]
fn kill_9_of_a_minion_mid_job_reports_the_job_as_interrupted() {
    let mut c = Cluster::builder().minion("web1", "").start();
    c.accept_all();
    let out = c.brine(&["--async", "web1", "test.sleep", "60"]);
    let jid = jid_of(&out.stdout).expect("jid printed");
    let running = c
        .minion_root("web1")
        .join(format!("var/cache/brine/minion/spool/127.0.0.1/proc/{jid}"));
    assert_eventually!(running.exists(), "the job runs");
    c.minion("web1").signal(Signal::SIGKILL);
    c.stop_minion("web1");
    c.start_minion("web1");
    assert_eventually!(
        lookup(&c, jid).is_some_and(|v| v["web1"]
            .as_str()
            .is_some_and(|s| s.contains("restarted while this job was running"))),
        "the interrupted job is reported: {:?}\n{}",
        lookup(&c, jid),
        c.logs()
    );
    c.wait_answering(&["web1"]);
}

fn ret(jid: JobId, id: &str, value: Value) -> MinionMsg {
    MinionMsg::Return(JobReturn {
        jid,
        id: id.into(),
        fun: "test.ping".into(),
        ret: value,
        retcode: 0,
        success: true,
        error: None,
        started_ms: 0,
        finished_ms: 0,
    })
}

#[test]
fn returns_are_first_wins_and_only_into_jobs_that_targeted_the_minion() {
    let c = Cluster::builder().minion("web1", "").start();
    c.accept_all();
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // "rogue" is an accepted minion driven by hand.
        let mut pki = MinionPki::load_or_create(dir.path(), "rogue").unwrap();
        let mut s = tls(&pki, c.ret_port, false).await;
        let req = MinionMsg::CertRequest {
            id: "rogue".into(),
            csr_pem: pki.csr_pem().unwrap(),
        };
        write_frame(&mut s, &req).await.unwrap();
        assert!(matches!(
            next_reply(&mut s).await,
            MasterMsg::CertPending { .. }
        ));
        assert_eq!(c.key(&["-a", "rogue", "-y"]).code, 0);
        let MasterMsg::CertIssued { cert_pem, ca_pem } = next_reply(&mut s).await else {
            panic!("no certificate")
        };
        pki.store_certificate(&cert_pem, &ca_pem).unwrap();
        let mut s = tls(&pki, c.ret_port, true).await;
        let hello = MinionMsg::Hello {
            version: "x".into(),
            last_jid: None,
        };
        write_frame(&mut s, &hello).await.unwrap();
        assert!(matches!(
            next_reply(&mut s).await,
            MasterMsg::Welcome { .. }
        ));

        // A job for web1 only: rogue's return into it is refused.
        let out = c.brine(&["--async", "web1", "test.sleep", "1"]);
        let web_jid = jid_of(&out.stdout).unwrap();
        write_frame(&mut s, &ret(web_jid, "rogue", json!("intruder")))
            .await
            .unwrap();
        match next_reply(&mut s).await {
            MasterMsg::ReturnRefused { reason, .. } => {
                assert!(reason.contains("did not target"), "{reason}")
            }
            other => panic!("return into another minion's job accepted: {other:?}"),
        }
        // A jid that was never published.
        let bogus: JobId = "20200101000000000001".parse().unwrap();
        write_frame(&mut s, &ret(bogus, "rogue", json!("ghost")))
            .await
            .unwrap();
        match next_reply(&mut s).await {
            MasterMsg::ReturnRefused { reason, .. } => {
                assert!(reason.contains("no job"), "{reason}")
            }
            other => panic!("return for no job accepted: {other:?}"),
        }
        // A job that did target rogue: the first return is stored and
        // acknowledged; a second one is acknowledged but changes nothing.
        let out = c.brine(&["--async", "rogue", "test.ping"]);
        let jid = jid_of(&out.stdout).unwrap();
        write_frame(&mut s, &ret(jid, "rogue", json!("first")))
            .await
            .unwrap();
        assert_eq!(next_reply(&mut s).await, MasterMsg::ReturnAck { jid });
        write_frame(&mut s, &ret(jid, "rogue", json!("second")))
            .await
            .unwrap();
        assert_eq!(next_reply(&mut s).await, MasterMsg::ReturnAck { jid });
        assert_eq!(lookup(&c, jid).unwrap()["rogue"], json!("first"));
        assert_eventually!(
            lookup(&c, web_jid).is_some_and(|v| v["web1"] == json!(true)),
            "web1's own return stored"
        );
    });
    let logs = c.master.log_text();
    assert!(logs.contains("did not target"), "refusal logged");
    assert!(logs.contains("no job"), "refusal logged");
}

/// Runs `cmd` as root, panicking with its output on failure.
fn sh(cmd: &str) {
    let out = std::process::Command::new("sh")
        .args(["-c", cmd])
        .output()
        .unwrap();
    assert!(out.status.success(), "{cmd}: {out:?}");
}

/// A small tmpfs mounted over a directory for one test (keeping what the
/// directory held), unmounted when dropped.
struct SmallDisk {
    at: std::path::PathBuf,
}

impl SmallDisk {
    fn mount_over(at: &std::path::Path, size: &str) -> SmallDisk {
        let keep = tempfile::tempdir().unwrap();
        sh(&format!(
            "cp -a {}/. {}/",
            at.display(),
            keep.path().display()
        ));
        sh(&format!(
            "mount -t tmpfs -o size={size} brine-test {}",
            at.display()
        ));
        let disk = SmallDisk {
            at: at.to_path_buf(),
        };
        sh(&format!(
            "cp -a {}/. {}/",
            keep.path().display(),
            at.display()
        ));
        disk
    }
    /// Fills the disk until a write fails, then frees 256 KiB: room for a
    /// job record, not for a 1 MB return.
    fn fill(&self) {
        let reserve = self.at.join("reserve");
        std::fs::write(&reserve, vec![0u8; 256 * 1024]).unwrap();
        let _ = std::process::Command::new("dd")
            .args([
                "if=/dev/zero",
                &format!("of={}", self.at.join("filler").display()),
                "bs=64k",
            ])
            .output();
        std::fs::remove_file(reserve).unwrap();
    }
    fn free(&self) {
        std::fs::remove_file(self.at.join("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.at)
            .status();
    }
}

#[test]
fn a_full_disk_on_the_master_loses_no_return_and_the_cli_says_so() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to mount a small tmpfs for the master's store");
        return;
    }
    let mut c = Cluster::builder().minion("web1", "").start();
    c.accept_all();
    // The master's cache (its SQLite store) moves onto an 8 MB disk.
    c.master.stop();
    let cachedir = c.master_root().join("var/cache/brine/master");
    let disk = SmallDisk::mount_over(&cachedir, "8m");
    c.restart_master();
    c.wait_answering(&["web1"]);
    disk.fill();
    // A 1 MB return cannot be written to a full disk.
    let big = "head -c 1000000 /dev/zero | tr '\\0' x";
    let out = c.brine(&[
        "--out",
        "json",
        "-t",
        "8",
        "--show-jid",
        "web1",
        "cmd.run",
        big,
    ]);
    assert_eq!(
        out.code,
        21,
        "the CLI says the return could not be stored: {}\n{}",
        &out.stderr,
        c.logs()
    );
    assert!(out.stderr.contains("could not be stored"), "{out:?}");
    let jid: JobId = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("jid: "))
        .and_then(|j| j.trim().parse().ok())
        .unwrap_or_else(|| panic!("jid shown: {out:?}"));
    // Space comes back: the minion's spool delivers the return.
    disk.free();
    assert_eventually!(
        lookup(&c, jid).is_some_and(|v| v["web1"].as_str().is_some_and(|s| s.len() >= 1_000_000)),
        "the deferred return is stored once space is back:\n{}",
        c.logs()
    );
    c.wait_answering(&["web1"]);
    c.master.stop();
}

#[test]
fn a_return_larger_than_a_frame_is_truncated_and_does_not_cut_the_minion_off() {
    let c = Cluster::builder().minion("web1", "").start();
    c.accept_all();
    let big = c.dir.path().join("big.txt");
    std::fs::write(&big, "y".repeat(40 * 1024 * 1024)).unwrap();
    let (out, v) = c.brine_json(&["-t", "30", "web1", "file.read", big.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out:?}\n{}", c.logs());
    let text = v["web1"].as_str().unwrap_or_default();
    assert!(
        text.contains("return truncated") && text.len() < 16 * 1024 * 1024,
        "truncated with a note ({} bytes)",
        text.len()
    );
    // The minion is still connected and answers.
    c.wait_answering(&["web1"]);
    let (out, v) = c.brine_json(&["web1", "test.ping"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(v["web1"], json!(true));
}
