//! The HTTP API with a real HTTP client against a real master and
//! minions: authentication on every endpoint, the publisher ACL for API
//! users (allowed and denied calls, the denied one in the audit log),
//! areas, admin-only keys, the event stream, CSV export, grain history,
//! logout.

use std::io::BufRead;

use std::process::Command;
use std::time::Duration;

use brine_tests::api::{hash_password, https_agent};
use brine_tests::{bin, free_port, Cluster};
use serde_json::{json, Value};

struct Api {
    base: String,
    agent: ureq::Agent,
}

impl Api {
    /// A client that trusts only the master's CA (`ca.crt`).
    fn new(port: u16, ca_pem: &[u8]) -> Api {
        let agent = https_agent(ca_pem, None);
        Api {
            base: format!("https://127.0.0.1:{port}"),
            agent,
        }
    }

    fn get(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let mut resp = req.call().unwrap();
        (
            resp.status().as_u16(),
            resp.body_mut().read_to_string().unwrap(),
        )
    }

    fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.agent.post(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("X-Auth-Token", t);
        }
        let mut resp = req
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .unwrap();
        let text = resp.body_mut().read_to_string().unwrap();
        (
            resp.status().as_u16(),
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn json(&self, path: &str, token: &str) -> Value {
        let (code, body) = self.get(path, Some(token));
        assert_eq!(code, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    fn login(&self, user: &str, password: &str) -> String {
        let (code, v) = self.post(
            "/login",
            None,
            json!({"username": user, "password": password}),
        );
        assert_eq!(code, 200, "login {user}: {v}");
        v["token"].as_str().unwrap().to_string()
    }
}

#[test]
fn the_api_authenticates_authorizes_audits_and_streams() {
    let port = free_port();
    let config = format!(
        "api_port: {port}\napi_interface: 127.0.0.1\n\
         api_users:\n  alice:\n    password_hash: '{a}'\n    areas: [inventory, jobs, events]\n\
         \x20 bob:\n    password_hash: '{b}'\n    admin: true\n\
         \x20 carol:\n    password_hash: '{c}'\n\
         external_auth:\n  brine:\n    alice:\n      - 'web*':\n        - test.*\n        - grains.*\n    bob: ['.*']\n",
        a = hash_password("alice-pw"),
        b = hash_password("bob-pw"),
        c = hash_password("carol-pw"),
    );
    let c = Cluster::builder()
        .master_config(&config)
        .minion("web1", "role: web")
        .minion("db1", "role: db")
        .start();
    c.accept_all();
    c.wait_answering(&["web1", "db1"]);
    let ca = std::fs::read(c.master_root().join("etc/brine/pki/master/ca.crt")).unwrap();
    let api = Api::new(port, &ca);
    // HTTPS only: a plain HTTP request gets no answer.
    let plain = ureq::get(format!("http://127.0.0.1:{port}/openapi.json")).call();
    assert!(plain.is_err(), "{plain:?}");

    // Nothing without a token but the login and the description.
    for path in [
        "/minions",
        "/jobs",
        "/keys",
        "/events",
        "/audit",
        "/minions/web1",
        "/inventory/query",
    ] {
        assert_eq!(api.get(path, None).0, 401, "{path}");
        assert_eq!(api.get(path, Some(&"0".repeat(64))).0, 401, "{path}");
    }
    let (code, doc) = api.get("/openapi.json", None);
    assert_eq!(code, 200);
    let doc: Value = serde_json::from_str(&doc).unwrap();
    assert!(doc["paths"]["/jobs"]["post"].is_object(), "{doc}");
    let (code, v) = api.post(
        "/login",
        None,
        json!({"username": "alice", "password": "nope"}),
    );
    assert_eq!(code, 401, "{v}");
    let (code, _) = api.post(
        "/login",
        None,
        json!({"username": "mallory", "password": "x"}),
    );
    assert_eq!(code, 401);
    let alice = api.login("alice", "alice-pw");
    let bob = api.login("bob", "bob-pw");
    let carol = api.login("carol", "carol-pw");

    // Areas: carol may read nothing; alice the inventory, not keys.
    assert_eq!(api.get("/minions", Some(&carol)).0, 403);
    assert_eq!(api.get("/keys", Some(&alice)).0, 403);
    let minions = api.json("/minions", &alice);
    assert_eq!(minions.as_array().unwrap().len(), 2, "{minions}");
    // Pages, in id order: the second of the two, then nothing past the end.
    let ids: Vec<&str> = minions
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let second = api.json("/minions?limit=1&offset=1", &alice);
    assert_eq!(second.as_array().unwrap().len(), 1, "{second}");
    assert_eq!(second[0]["id"], ids[1]);
    assert_eq!(api.json("/minions?offset=2", &alice), json!([]));
    assert_eq!(
        api.get("/inventory/query?group_by=os&limit=1", Some(&alice))
            .0,
        400
    );
    let web = api.json("/minions?tgt=G@role:web", &alice);
    assert_eq!(
        web,
        json!([{"id": "web1", "key": "accepted", "connected": true, "os": web[0]["os"], "osrelease": web[0]["osrelease"], "appcode": null, "owner": null}])
    );

    // The event stream, then a job: its new and ret events arrive on it.
    let resp = api
        .agent
        .get(format!("{}/events?tag=brine/job/*", api.base))
        .header("Authorization", format!("Bearer {alice}"))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let reader = std::io::BufReader::new(resp.into_body().into_reader());
        for line in reader.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let (code, run) = api.post(
        "/jobs",
        Some(&alice),
        json!({"tgt": "web1", "fun": "test.ping"}),
    );
    assert_eq!(code, 200, "{run}");
    assert_eq!(run["returns"], json!({"web1": true}));
    let jid = run["jid"].as_str().unwrap().to_string();
    let mut seen: Vec<String> = Vec::new();
    while !(seen
        .iter()
        .any(|l| l == &format!("event: brine/job/{jid}/new"))
        && seen
            .iter()
            .any(|l| l == &format!("event: brine/job/{jid}/ret/web1")))
    {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no job events on the stream: {seen:?}"));
        seen.push(line);
    }

    // Denied: beyond web*, or a function the ACL does not list.
    let (code, v) = api.post(
        "/jobs",
        Some(&alice),
        json!({"tgt": "*", "fun": "test.ping"}),
    );
    assert_eq!(code, 403, "{v}");
    let (code, v) = api.post(
        "/jobs",
        Some(&alice),
        json!({"tgt": "web1", "fun": "cmd.run", "arg": ["id"]}),
    );
    assert_eq!(code, 403, "{v}");
    assert!(v["error"].as_str().unwrap().contains("alice"), "{v}");
    let audit = api.json("/audit?user=alice&outcome=denied", &bob);
    let funs: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["fun"].as_str().unwrap())
        .collect();
    assert!(
        funs.contains(&"cmd.run") && funs.contains(&"test.ping"),
        "{audit}"
    );
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["source"] == "127.0.0.1"),
        "{audit}"
    );
    assert_eq!(
        api.get("/audit", Some(&alice)).0,
        403,
        "audit is its own area"
    );

    // Job detail and list.
    let job = api.json(&format!("/jobs/{jid}"), &alice);
    assert_eq!(job["Function"], "test.ping", "{job}");
    assert_eq!(job["Missing"], json!([]), "{job}");
    assert_eq!(api.get("/jobs/20990101000000000000", Some(&alice)).0, 404);
    assert_eq!(api.get("/jobs/not-a-jid", Some(&alice)).0, 400);
    let jobs = api.json("/jobs?function=test.*", &alice);
    assert!(jobs.get(&jid).is_some(), "{jobs}");

    // A grain changed through the API shows in the minion's history.
    let (code, v) = api.post(
        "/jobs",
        Some(&alice),
        json!({"tgt": "web1", "fun": "grains.setval", "arg": ["color", "green"]}),
    );
    assert_eq!(code, 200, "{v}");
    brine_tests::wait_for(
        Duration::from_secs(20),
        || {
            let h = api.json("/minions/web1/history", &alice);
            h[0]["changes"]["color"]["new"] == "green"
        },
        "the grain change in the history",
    );
    let page = api.json("/minions/web1", &alice);
    assert_eq!(page["grains"]["color"], "green", "{page}");
    assert_eq!(api.get("/minions/nosuch", Some(&alice)).0, 404);

    // CSV export parses: a header and a row per minion.
    let (code, csv) = api.get("/inventory/query?fields=id,role&format=csv", Some(&alice));
    assert_eq!(code, 200, "{csv}");
    assert_eq!(csv, "id,role\ndb1,db\nweb1,web\n");
    assert_eq!(api.get("/inventory/query?format=xml", Some(&alice)).0, 400);

    // Keys: admin only; one id, never a glob.
    let keys = api.json("/keys", &bob);
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2, "{keys}");
    let (code, _) = api.post("/keys/*/reject", Some(&bob), json!({}));
    assert_eq!(code, 400);
    let (code, _) = api.post("/keys/web1/reject", Some(&alice), json!({}));
    assert_eq!(code, 403);

    // The CLI through the API, from anywhere (no config dir, no socket).
    let ca_path = c.master_root().join("etc/brine/pki/master/ca.crt");
    let remote = |args: &[&str]| {
        Command::new(bin("brine"))
            .args(["--api", &api.base, "--api-ca"])
            .arg(&ca_path)
            .args(["-c", "/nonexistent", "--out", "json", "--static"])
            .args(args)
            .env("BRINE_API_TOKEN", &alice)
            .output()
            .unwrap()
    };
    let out = remote(&["web1", "test.ping"]);
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, json!({"web1": true}));
    let out = remote(&["web1", "cmd.run", "id"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("403"),
        "{out:?}"
    );
    let out = remote(&["-G", "role:nosuch", "test.ping"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");

    // Logout: the token stops working.
    let (code, _) = api.post("/logout", Some(&alice), json!({}));
    assert_eq!(code, 200);
    assert_eq!(api.get("/minions", Some(&alice)).0, 401);
}
