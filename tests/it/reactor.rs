//! The reactor and alerts with real processes: a minion's event makes the
//! reactor apply a state on exactly that minion (and the rate limit holds
//! back a repeat), and another accepts a key and runs a runner; two
//! masters sharing a store react once; an alert reaches a webhook rendered from its template;
//! an alert to a webhook that is down is kept on disk across a master
//! restart and delivered once the webhook is up.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brine_tests::{free_port, wait_for, Cluster};
use serde_json::{json, Value};

/// One request the test webhook received.
#[derive(Debug, Clone)]
struct Received {
    request_line: String,
    headers: Vec<(String, String)>,
    body: String,
}

/// A webhook on 127.0.0.1 that answers 200 to every request and keeps it.
struct Webhook {
    received: Arc<Mutex<Vec<Received>>>,
}

impl Webhook {
    fn serve(listener: TcpListener) -> Webhook {
        let received = Arc::new(Mutex::new(Vec::new()));
        let keep = received.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                if let Some(r) = read_request(&conn) {
                    keep.lock().unwrap().push(r);
                    let mut w = &conn;
                    let _ = w.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    );
                }
            }
        });
        Webhook { received }
    }

    fn wait_for_requests(&self, n: usize) -> Vec<Received> {
        wait_for(
            Duration::from_secs(30),
            || self.received.lock().unwrap().len() >= n,
            &format!("{n} request(s) at the webhook"),
        );
        self.received.lock().unwrap().clone()
    }
}

fn read_request(conn: &std::net::TcpStream) -> Option<Received> {
    let mut rd = BufReader::new(conn);
    let mut request_line = String::new();
    rd.read_line(&mut request_line).ok()?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        rd.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    rd.read_exact(&mut body).ok()?;
    Some(Received {
        request_line: request_line.trim_end().to_string(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Waits for `cond`; on timeout fails with the daemons' logs.
fn wait_logged(c: &Cluster, limit: Duration, mut cond: impl FnMut() -> bool, msg: &str) {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("condition not met within {limit:?}: {msg}\n{}", c.logs());
}

fn reactor_jobs(c: &Cluster) -> serde_json::Map<String, Value> {
    let out = c.run(&["--out", "json", "jobs.list_jobs", "user=reactor"]);
    assert_eq!(out.code, 0, "{out:?}");
    match serde_json::from_str(&out.stdout).unwrap_or(Value::Null) {
        Value::Object(m) => m,
        _ => Default::default(),
    }
}

#[test]
fn a_minion_event_applies_a_state_on_that_minion_only() {
    let files = tempfile::tempdir().unwrap();
    let srv = files.path().join("srv");
    let out = files.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // The state the reaction applies, served by the master's file roots.
    write(
        &srv.join("cleanup.sls"),
        &format!(
            "cleaned:\n  file.managed:\n    - name: {}/{{{{ grains['id'] }}}}.cleaned\n    - contents: {{{{ pillar.get('why', 'none') }}}}\n",
            out.display()
        ),
    );
    // The reactor SLS: only events with foo=bar react, on the sender.
    write(
        &srv.join("reactor/cleanup.sls"),
        "{% if data['data']['foo'] == 'bar' %}\n\
         clean_up:\n  local.state.apply:\n    - tgt: {{ data['id'] }}\n    - args:\n      - mods: cleanup\n      - pillar: {why: '{{ tag }}'}\n\
         {% endif %}\n",
    );
    // Salt's key and runner actions: an event accepts another minion's key.
    let accept_sls = files.path().join("accept.sls");
    write(
        &accept_sls,
        "accept_it:\n  wheel.key.accept:\n    - match: {{ data['data']['who'] }}\n\
         refresh:\n  runner.fileserver.update: []\n",
    );
    let c = Cluster::builder()
        .minion("web1", "role: web")
        .minion("db1", "role: db")
        .minion("new1", "role: new")
        .master_config(&format!(
            "file_roots:\n  base:\n    - {srv}\n\
             reactor:\n  - 'myco/cleanup/*':\n    - salt://reactor/cleanup.sls\n\
             \x20 - 'myco/accept':\n    - {accept}\n\
             reactor_rate_limit: {{interval: 3600, burst: 1}}\n",
            srv = srv.display(),
            accept = accept_sls.display()
        ))
        .start();
    c.accept(&["web1", "db1"]);

    // An event the SLS renders to nothing: no job.
    let sent = c.brine(&["web1", "event.send", "myco/cleanup/x", "foo=baz"]);
    assert_eq!(sent.code, 0, "{sent:?}");
    let sent = c.brine(&["web1", "event.send", "myco/cleanup/disk", "foo=bar"]);
    assert_eq!(sent.code, 0, "{sent:?}");
    let web1 = out.join("web1.cleaned");
    wait_logged(
        &c,
        Duration::from_secs(30),
        || web1.exists(),
        "the reactor's state.apply to run on web1",
    );
    assert_eq!(
        std::fs::read_to_string(&web1).unwrap().trim(),
        "myco/cleanup/disk"
    );
    let jobs = reactor_jobs(&c);
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job = jobs.values().next().unwrap();
    assert_eq!(job["Function"], "state.apply");
    assert_eq!(job["Target"], "web1");
    assert_eq!(job["Expected"], json!(1));
    assert!(!out.join("db1.cleaned").exists());

    // The same rule for the same minion within the limit: skipped, logged
    // once; the event is seen (the log says so) and no second job exists.
    let sent = c.brine(&["web1", "event.send", "myco/cleanup/disk", "foo=bar"]);
    assert_eq!(sent.code, 0, "{sent:?}");
    wait_for(
        Duration::from_secs(20),
        || c.master.log_text().contains("rate limit reached"),
        "the rate limit to hold the repeat back",
    );
    assert_eq!(reactor_jobs(&c).len(), 1);

    // Another minion has its own allowance.
    let sent = c.brine(&["db1", "event.send", "myco/cleanup/disk", "foo=bar"]);
    assert_eq!(sent.code, 0, "{sent:?}");
    let db1 = out.join("db1.cleaned");
    wait_logged(
        &c,
        Duration::from_secs(30),
        || db1.exists(),
        "the reactor's state.apply to run on db1",
    );
    assert!(c.master.log_text().contains("reactor: job"));

    wait_logged(
        &c,
        Duration::from_secs(20),
        || c.keys_in("minions_pre").contains(&"new1".to_string()),
        "new1's key to be pending",
    );
    let sent = c.brine(&["web1", "event.send", "myco/accept", "who=new1"]);
    assert_eq!(sent.code, 0, "{sent:?}");
    wait_logged(
        &c,
        Duration::from_secs(20),
        || c.keys_in("minions").contains(&"new1".to_string()),
        "the reactor to accept new1's key",
    );
    c.wait_answering(&["new1"]);
    wait_logged(
        &c,
        Duration::from_secs(20),
        || {
            c.master
                .log_text()
                .contains("runner runner.fileserver.update ran")
        },
        "the reactor's runner action",
    );
}

#[test]
fn an_alert_reaches_the_webhook_rendered_from_its_template() {
    let files = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let hook = Webhook::serve(listener);
    let sls = files.path().join("alert.sls");
    write(
        &sls,
        "page:\n  alert.send:\n    - channel: ops\n    - title: \"disk {{ data['data']['mount'] }} on {{ data['id'] }}\"\n\
         \x20   - severity: critical\n    - impact: orders cannot be written\n\
         \x20   - observed: \"{{ data['data']['pct'] }}%\"\n    - expected: below 90%\n\
         \x20   - links:\n      - http://runbook.example/disk\n",
    );
    let template = files.path().join("alert.json.j2");
    write(
        &template,
        "{\"text\": \"[{{ severity }}] {{ title }}\", \"owner\": {{ context.owner | tojson }},\n\
         \"appcode\": {{ context.appcode | tojson }}, \"observed\": {{ observed | tojson }},\n\
         \"tag\": {{ context.event.tag | tojson }}, \"links\": {{ links | tojson }}}\n",
    );
    let c = Cluster::builder()
        .minion("web1", "owner: team-web\nappcode: SHOP")
        .master_config(&format!(
            "reactor:\n  - 'myco/disk':\n    - {sls}\n\
             alerts:\n  channels:\n    ops:\n      type: webhook\n      url: {url}\n      template: {tpl}\n      headers: {{X-Token: s3cret}}\n      timeout: 5\n",
            sls = sls.display(),
            tpl = template.display()
        ))
        .start();
    c.accept_all();
    let sent = c.brine(&["web1", "event.send", "myco/disk", "mount=/var", "pct=95"]);
    assert_eq!(sent.code, 0, "{sent:?}");
    let got = hook.wait_for_requests(1);
    let r = &got[0];
    assert_eq!(r.request_line, "POST /hook HTTP/1.1");
    assert!(r
        .headers
        .contains(&("x-token".to_string(), "s3cret".to_string())));
    assert!(r
        .headers
        .iter()
        .any(|(k, v)| k == "content-type" && v == "application/json"));
    let body: Value =
        serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}\n{}", r.body, c.logs()));
    assert_eq!(body["text"], "[critical] disk /var on web1");
    assert_eq!(body["owner"], "team-web");
    assert_eq!(body["appcode"], "SHOP");
    assert_eq!(body["observed"], "95%");
    assert_eq!(body["tag"], "myco/disk");
    assert_eq!(body["links"], json!(["http://runbook.example/disk"]));
    wait_for(
        Duration::from_secs(10),
        || c.master.log_text().contains("alert delivered"),
        "the master to log the delivery",
    );
}

#[test]
fn an_alert_to_a_webhook_that_is_down_is_delivered_once_it_is_up() {
    let port = free_port();
    let mut c = Cluster::builder()
        .master_config(&format!(
            "alerts:\n  channels:\n    late:\n      url: http://127.0.0.1:{port}/late\n      timeout: 2\n\
             \x20 retry: {{backoff: 0.2, backoff_max: 1, max_age: 600}}\n"
        ))
        .start();
    let out = c.run(&[
        "alert.send",
        "title=webhook was down",
        "severity=major",
        "context={ticket: OPS-7}",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let spool = c.master_root().join("var/cache/brine/master/alerts");
    let spooled = || {
        std::fs::read_dir(&spool)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                    .count()
            })
            .unwrap_or(0)
    };
    assert_eq!(spooled(), 1, "the alert is on disk once alert.send returns");
    wait_for(
        Duration::from_secs(20),
        || c.master.log_text().contains("alert delivery failed"),
        "a failed delivery attempt",
    );
    // The master restarts while the alert waits: it is read back from disk.
    c.restart_master();
    assert_eq!(spooled(), 1);
    let hook = Webhook::serve(TcpListener::bind(("127.0.0.1", port)).unwrap());
    let got = hook.wait_for_requests(1);
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(got[0].request_line, "POST /late HTTP/1.1");
    assert_eq!(body["title"], "webhook was down");
    assert_eq!(body["severity"], "major");
    assert_eq!(body["context"]["ticket"], "OPS-7");
    wait_for(
        Duration::from_secs(10),
        || spooled() == 0,
        "the delivered alert to leave the spool",
    );
    // Delivered once: nothing more arrives after the spool is empty.
    assert_eq!(hook.received.lock().unwrap().len(), 1);
}

/// Two masters sharing one PostgreSQL store both see a minion's event (it
/// is connected to both); the reaction runs once for the cluster.
#[test]
fn a_cluster_reacts_once_to_each_minion_event() {
    let Some(pg) = brine_tests::pg::PgServer::start() else {
        return;
    };
    let files = tempfile::tempdir().unwrap();
    let sls = files.path().join("ping.sls");
    write(
        &sls,
        "ping_back:\n  local.test.ping:\n    - tgt: {{ data['id'] }}\n",
    );
    let shared = format!(
        "store: {}\nreactor:\n  - 'myco/once':\n    - {}\n",
        pg.url(),
        sls.display()
    );
    let mut c = Cluster::builder().master_config(&shared).start();
    let mut b = c.cluster_master("master1", "127.0.0.2", &shared);
    b.start();
    c.add_minion_of("m1", &["127.0.0.1", "127.0.0.2"], "");
    c.accept(&["m1"]);
    b.wait_answering(&["m1"]);
    // Both masters must have m1's session for both to get the event.
    let sent = c.brine(&["m1", "event.send", "myco/once", "n=1"]);
    assert_eq!(sent.code, 0, "{sent:?}");
    let logs = || format!("{}\n{}", c.master.log_text(), b.log_text());
    wait_logged(
        &c,
        Duration::from_secs(30),
        || logs().contains("another master of the cluster handles this event"),
        "the second master to lose the claim",
    );
    wait_logged(
        &c,
        Duration::from_secs(30),
        || logs().contains("reactor: job"),
        "the first master to publish the reaction",
    );
    let jobs = reactor_jobs(&c);
    assert_eq!(jobs.len(), 1, "one reaction for the cluster: {jobs:?}");
    assert_eq!(logs().matches("reactor: job").count(), 1);
}
