//! Connection floods from anyone on the network: the master keeps serving
//! honest minions, does not run out of descriptors or memory, and sheds the
//! flood.

use std::net::TcpStream;
use std::time::Duration;

use brine_tests::{rss_kib, Cluster};
use serde_json::json;

fn raise_open_files_limit() -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    hard
}

/// Makes `n` attempts at idle TCP connections to `port`; the ones that
/// connected (the master may refuse or drop some: that is its defence).
fn flood(port: u16, n: usize) -> Vec<TcpStream> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        if let Ok(s) =
            TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
        {
            conns.push(s);
        }
    }
    conns
}

#[test]
fn ten_thousand_idle_connections_do_not_stop_the_master_serving_minions() {
    let limit = raise_open_files_limit();
    let c = Cluster::builder().minion("web1", "").start();
    c.accept_all();
    let pid = c.master.pid().unwrap();
    let per_port = (10_000usize).min((limit as usize).saturating_sub(500) / 2);
    let on_ret = flood(c.ret_port, per_port);
    let on_pub = flood(c.publish_port, per_port);
    eprintln!(
        "flood: {} connections to the request port, {} to the publish port",
        on_ret.len(),
        on_pub.len()
    );
    assert!(
        on_ret.len() + on_pub.len() >= per_port,
        "the flood got through connect"
    );
    // Honest traffic goes on during the flood.
    for _ in 0..3 {
        let (out, v) = c.brine_json(&["-t", "10", "web1", "test.ping"]);
        assert_eq!(out.code, 0, "{out:?}\n{}", c.logs());
        assert_eq!(v, json!({"web1": true}));
    }
    let rss = rss_kib(pid);
    assert!(rss < 512 * 1024, "master RSS {rss} KiB under the flood");
    drop(on_ret);
    drop(on_pub);
    let (out, v) = c.brine_json(&["web1", "test.ping"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(v, json!({"web1": true}));
}
