//! The publish port speaks ZMTP before anything is authenticated: whatever a
//! peer sends there (a frame header claiming 64 GiB, a flood of
//! subscriptions, a silent connection) must not crash or grow the master,
//! and a fake publisher must not crash or grow a minion.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use brine_tests::{assert_eventually, free_port, rss_kib, Cluster, MinionSpec};

/// A ZMTP 3.0 greeting with the NULL mechanism.
fn greeting(as_server: bool) -> Vec<u8> {
    let mut g = vec![0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 3, 0];
    let mut mech = b"NULL".to_vec();
    mech.resize(20, 0);
    g.extend_from_slice(&mech);
    g.push(as_server as u8);
    g.resize(64, 0);
    g
}

/// A READY command naming the socket type.
fn ready(socket_type: &str) -> Vec<u8> {
    let mut body = vec![5];
    body.extend_from_slice(b"READY");
    body.push(11);
    body.extend_from_slice(b"Socket-Type");
    body.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
    body.extend_from_slice(socket_type.as_bytes());
    let mut cmd = vec![0x04, body.len() as u8];
    cmd.extend_from_slice(&body);
    cmd
}

/// A long-form frame header announcing `len` bytes, with no body.
fn huge_frame_header(len: u64) -> Vec<u8> {
    let mut h = vec![0x02];
    h.extend_from_slice(&len.to_be_bytes());
    h
}

/// A subscription message (one short or long frame: 0x01 + topic).
fn subscription(topic: &[u8]) -> Vec<u8> {
    let mut body = vec![1u8];
    body.extend_from_slice(topic);
    let mut f = if body.len() > 255 {
        let mut f = vec![0x02];
        f.extend_from_slice(&(body.len() as u64).to_be_bytes());
        f
    } else {
        vec![0x00, body.len() as u8]
    };
    f.extend_from_slice(&body);
    f
}

/// Reads until the peer closes the connection (or `limit` passes).
fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    while start.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => {}
        }
    }
    false
}

#[test]
fn publish_port_survives_a_64_gib_frame_header_and_a_subscription_flood() {
    let mut c = Cluster::builder().minion("web1", "").start();
    c.accept_all();
    let master_pid = c.master.pid().unwrap();

    // 1. A frame header claiming 64 GiB, after a valid handshake. Before the
    // fix zmq.rs reserved the claimed length and the master aborted with
    // "memory allocation of 68719542372 bytes failed".
    let mut s = TcpStream::connect(("127.0.0.1", c.publish_port)).unwrap();
    s.write_all(&greeting(false)).unwrap();
    s.write_all(&ready("SUB")).unwrap();
    s.write_all(&huge_frame_header(64 << 30)).unwrap();
    assert!(
        closed_within(&mut s, Duration::from_secs(10)),
        "the master drops a peer announcing a 64 GiB frame"
    );
    // The same header as the very first frame after the greeting.
    let mut s = TcpStream::connect(("127.0.0.1", c.publish_port)).unwrap();
    s.write_all(&greeting(false)).unwrap();
    s.write_all(&huge_frame_header(u64::MAX)).unwrap();
    assert!(closed_within(&mut s, Duration::from_secs(10)));
    assert!(c.master.is_running(), "master died:\n{}", c.logs());

    // 2. 300,000 one-kilobyte subscriptions from one peer: it is cut off
    // after the per-peer limit, so the master does not grow by 300 MB.
    let rss_before = rss_kib(master_pid);
    let mut s = TcpStream::connect(("127.0.0.1", c.publish_port)).unwrap();
    s.write_all(&greeting(false)).unwrap();
    s.write_all(&ready("SUB")).unwrap();
    let mut sent = 0usize;
    let mut batch = Vec::new();
    for i in 0..300_000u32 {
        let mut topic = vec![b'x'; 1024];
        topic[..4].copy_from_slice(&i.to_be_bytes());
        batch.extend_from_slice(&subscription(&topic));
        if batch.len() > 256 * 1024 {
            if s.write_all(&batch).is_err() {
                break;
            }
            sent += 256;
            batch.clear();
        }
    }
    let _ = s.write_all(&batch);
    assert!(
        closed_within(&mut s, Duration::from_secs(10)),
        "the master drops a peer over the subscription limit (sent about {sent})"
    );
    // Short topics under the length limit, but too many of them.
    let mut s = TcpStream::connect(("127.0.0.1", c.publish_port)).unwrap();
    s.write_all(&greeting(false)).unwrap();
    s.write_all(&ready("SUB")).unwrap();
    for i in 0..1000u32 {
        if s.write_all(&subscription(&i.to_be_bytes())).is_err() {
            break;
        }
    }
    assert!(closed_within(&mut s, Duration::from_secs(10)));
    let rss_after = rss_kib(master_pid);
    assert!(
        rss_after < rss_before + 64 * 1024,
        "master RSS grew from {rss_before} KiB to {rss_after} KiB"
    );

    // 3. A connection that never completes the handshake is dropped.
    let mut s = TcpStream::connect(("127.0.0.1", c.publish_port)).unwrap();
    assert!(
        closed_within(&mut s, Duration::from_secs(20)),
        "a silent peer is dropped after the handshake timeout"
    );

    assert!(c.master.is_running(), "master died:\n{}", c.logs());
    c.wait_answering(&["web1"]);
    assert!(c.minion("web1").is_running());
}

#[test]
fn a_fake_publisher_cannot_crash_or_grow_a_minion() {
    let mut c = Cluster::builder().start();
    // The minion's publish port is ours: a fake publisher that announces a
    // 64 GiB frame once the minion has subscribed, to every connection.
    let fake = TcpListener::bind("127.0.0.1:0").unwrap();
    let fake_port = fake.local_addr().unwrap().port();
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = served.clone();
    std::thread::spawn(move || {
        for conn in fake.incoming() {
            let Ok(mut s) = conn else { continue };
            let counter = counter.clone();
            std::thread::spawn(move || {
                let _ = s.write_all(&greeting(true));
                let _ = s.write_all(&ready("PUB"));
                let mut buf = [0u8; 256];
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let _ = s.read(&mut buf);
                let _ = s.write_all(&huge_frame_header(64 << 30));
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = s.read(&mut buf);
            });
        }
    });
    let spec = MinionSpec {
        id: "victim".into(),
        grains: String::new(),
        extra: String::new(),
    };
    c.add_minion(spec);
    c.accept(&["victim"]);
    // Point the minion's publish port at the fake publisher and restart it.
    let conf = c.minion_root("victim").join("conf/minion");
    let text = std::fs::read_to_string(&conf).unwrap();
    let text = text.replace(
        &format!("publish_port: {}", c.publish_port),
        &format!("publish_port: {fake_port}"),
    );
    std::fs::write(&conf, text).unwrap();
    c.stop_minion("victim");
    c.start_minion("victim");
    let pid = c.minion("victim").pid().unwrap();
    assert_eventually!(
        served.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "the minion connected to the fake publisher and got the header twice"
    );
    assert!(
        c.minion("victim").is_running(),
        "minion died:\n{}",
        c.logs()
    );
    let rss = rss_kib(pid);
    assert!(rss < 200 * 1024, "minion RSS {rss} KiB");
    let _ = free_port();
}
