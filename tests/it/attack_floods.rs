//! Connection floods from anyone on the network: the master keeps serving
//! honest minions, does not run out of descriptors or memory, and sheds the
//! flood.

use brine_tests::{rss_kib, Cluster};
use serde_json::json;

/// Holds idle TCP connections to `ports` from a child process (so this
/// test binary's own descriptors stay free for the tests running beside
/// it), `per_port` attempts each. Returns the child and how many connected;
/// the connections close when the child is killed.
fn flood(ports: &[u16], per_port: usize) -> (std::process::Child, usize) {
    let script = r#"
import resource, socket, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
ports = [int(p) for p in sys.argv[1].split(",")]
n = int(sys.argv[2])
held = []
for port in ports:
    for _ in range(n):
        try:
            held.append(socket.create_connection(("127.0.0.1", port), timeout=0.2))
        except OSError:
            pass
print(len(held), flush=True)
sys.stdin.read()
"#;
    let ports_s: Vec<String> = ports.iter().map(u16::to_string).collect();
    let mut child = std::process::Command::new("python3")
        .args(["-c", script, &ports_s.join(","), &per_port.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 (installed by .ci/run)");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    (child, line.trim().parse().unwrap_or(0))
}

#[test]
fn ten_thousand_idle_connections_do_not_stop_the_master_serving_minions() {
    let c = Cluster::builder().minion("web1", "").start();
    c.accept_all();
    let pid = c.master.pid().unwrap();
    // 9,750 per port: the child's 20,000 descriptors (the hard limit here)
    // less room for the interpreter.
    let (mut child, held) = flood(&[c.ret_port, c.publish_port], 9_750);
    eprintln!("flood: {held} connections held across both ports");
    assert!(held >= 9_750, "the flood got through connect: {held}");
    // Honest traffic goes on during the flood.
    for _ in 0..3 {
        let (out, v) = c.brine_json(&["-t", "10", "web1", "test.ping"]);
        assert_eq!(out.code, 0, "{out:?}\n{}", c.logs());
        assert_eq!(v, json!({"web1": true}));
    }
    let rss = rss_kib(pid);
    assert!(rss < 512 * 1024, "master RSS {rss} KiB under the flood");
    let _ = child.kill();
    let _ = child.wait();
    let (out, v) = c.brine_json(&["web1", "test.ping"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(v, json!({"web1": true}));
}
