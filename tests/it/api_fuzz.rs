//! Schemathesis (PyPI) fuzzes the HTTP API from its own description: a
//! real master with two minions, an admin API user, every operation of
//! `/openapi.json` called with generated valid and invalid data, and each
//! answer checked against the description (no 5xx, the documented status
//! codes, content types, headers and schemas; invalid data refused;
//! requests without the token refused).
//!
//! Where schemathesis is not installed the test reports itself skipped,
//! unless `BRINE_SCHEMATHESIS_REQUIRED` is set (CI as root installs the
//! version pinned in tests/data/schemathesis-requirements.txt into a venv
//! and sets it): then it fails.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use brine_tests::api::{hash_password, https_agent};
use brine_tests::{free_port, Cluster};
use serde_json::{json, Value};

/// `BRINE_SCHEMATHESIS`, else `schemathesis` on PATH.
fn schemathesis() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BRINE_SCHEMATHESIS") {
        return Some(PathBuf::from(p));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("schemathesis"))
        .find(|p| p.exists())
}

fn required() -> bool {
    std::env::var("BRINE_SCHEMATHESIS_REQUIRED").is_ok_and(|v| !v.is_empty() && v != "0")
}

fn login(port: u16, ca_pem: &[u8], user: &str, password: &str) -> String {
    let mut resp = https_agent(ca_pem, None)
        .post(format!("https://127.0.0.1:{port}/login"))
        .header("Content-Type", "application/json")
        .send(json!({"username": user, "password": password}).to_string())
        .unwrap();
    let text = resp.body_mut().read_to_string().unwrap();
    assert_eq!(resp.status().as_u16(), 200, "login {user}: {text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    v["token"].as_str().unwrap().to_string()
}

#[test]
fn schemathesis_finds_nothing_wrong_with_the_api() {
    let port = free_port();
    // The fuzzing user is an admin (every area, the key operations) but
    // may publish only test.* functions: generated jobs must not run
    // arbitrary functions on this machine's minions.
    let config = format!(
        "api_port: {port}\napi_interface: 127.0.0.1\n\
         api_users:\n  fuzz:\n    password_hash: '{f}'\n    admin: true\n\
         external_auth:\n  brine:\n    fuzz:\n      - test.*\n",
        f = hash_password("fuzz-pw"),
    );
    let c = Cluster::builder()
        .master_config(&config)
        .minion("web1", "role: web")
        .minion("db1", "role: db")
        .start();
    c.accept_all();
    c.wait_answering(&["web1", "db1"]);
    let ca_path = c.master_root().join("etc/brine/pki/master/ca.crt");
    let ca = std::fs::read(&ca_path).unwrap();
    let token = login(port, &ca, "fuzz", "fuzz-pw");
    refusals_are_json(port, &ca, &token);
    let Some(tool) = schemathesis() else {
        if required() {
            panic!("BRINE_SCHEMATHESIS_REQUIRED is set but schemathesis was not found (BRINE_SCHEMATHESIS, PATH)");
        }
        eprintln!("skipped the schemathesis run: schemathesis is not installed (pip install -r tests/data/schemathesis-requirements.txt, or set BRINE_SCHEMATHESIS)");
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let report = work.path().join("report");
    let out = Command::new(&tool)
        .current_dir(work.path())
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_HOOKS", "")
        .args([
            "run",
            &format!("https://127.0.0.1:{port}/openapi.json"),
            "--tls-verify",
        ])
        .arg(&ca_path)
        .args(["-H", &format!("Authorization: Bearer {token}")])
        // Every check: server errors, documented statuses, content types,
        // headers and schemas, invalid data refused, valid data accepted,
        // requests without the token refused, methods not allowed.
        .args(["--checks", "all"])
        // Except "schema-valid data is accepted": target expressions, time
        // expressions (`2h`, dates) and globs are checked by the master, not
        // by a JSON Schema; a valid string that is a bad regex is a 400.
        .args(["--exclude-checks", "positive_data_acceptance"])
        // /logout revokes the token the whole run uses; /events is an
        // endless text/event-stream (tests/it/api.rs reads it).
        .args(["--exclude-path", "/logout", "--exclude-path", "/events"])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--max-examples", "250", "--seed", "15"])
        // One worker: with several, hypothesis's lambda-source cache (not
        // thread safe) has failed a run with "AST constructor recursion
        // depth mismatch", an error of the tool, not of the API.
        .args(["--workers", "1", "--request-timeout", "30"])
        .args(["--continue-on-failure"])
        .arg("--report-dir")
        .arg(&report)
        .stdin(Stdio::null())
        .output()
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "schemathesis found problems (exit {:?}):\n{stdout}\n{stderr}\n--- master log ---\n{}",
        out.status.code(),
        c.logs()
            .lines()
            .filter(|l| l.contains("panicked") || l.contains("ERROR"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    eprintln!("{stdout}");
    // A panic in a request's task drops the connection rather than
    // answering 5xx; no daemon may have panicked on what was sent.
    let logs = c.logs();
    assert!(
        !logs.contains("panicked"),
        "a daemon panicked during the fuzz run:\n{logs}"
    );
}

/// What schemathesis found first, checked directly: axum's own refusals
/// (a body that is not JSON, no JSON content type, a query value of the
/// wrong type, an unknown path or method) answer the API's JSON error
/// with the documented status, and a huge job timeout is refused.
fn refusals_are_json(port: u16, ca_pem: &[u8], token: &str) {
    let agent = https_agent(ca_pem, None);
    let base = format!("https://127.0.0.1:{port}");
    let bearer = format!("Bearer {token}");
    let answer = |mut resp: ureq::http::Response<ureq::Body>| -> (u16, String, Value) {
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = resp.body_mut().read_to_string().unwrap();
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (resp.status().as_u16(), ct, v)
    };
    let post = |path: &str, ct: Option<&str>, body: &str| {
        let mut req = agent
            .post(format!("{base}{path}"))
            .header("Authorization", &bearer);
        if let Some(ct) = ct {
            req = req.header("Content-Type", ct);
        }
        answer(req.send(body.to_string()).unwrap())
    };
    let get = |path: &str| {
        answer(
            agent
                .get(format!("{base}{path}"))
                .header("Authorization", &bearer)
                .call()
                .unwrap(),
        )
    };
    let cases = [
        (post("/login", Some("application/json"), "{not json"), 400),
        (post("/jobs", Some("application/json"), "\u{0}"), 400),
        (
            post("/jobs", None, r#"{"tgt": "*", "fun": "test.ping"}"#),
            415,
        ),
        (
            post(
                "/jobs",
                Some("application/json"),
                r#"{"tgt": "*", "fun": "test.ping", "timeout": 18446744073709551615}"#,
            ),
            400,
        ),
        (
            post(
                "/jobs",
                Some("application/json"),
                r#"{"tgt": 1, "fun": "test.ping"}"#,
            ),
            400,
        ),
        (get("/audit?limit=-1"), 400),
        (get("/jobs?limit=0"), 400),
        (get("/jobs/0"), 400),
        (get("/no/such/endpoint"), 404),
        (post("/minions", Some("application/json"), "{}"), 405),
        // (A body over the 2 MiB limit is refused with 413 before it is
        // read and the connection closed while the client still sends: a
        // client sees the answer or a reset, so it is not checked here.)
    ];
    for (i, ((code, ct, body), want)) in cases.into_iter().enumerate() {
        assert_eq!(code, want, "case {i}: {body}");
        assert_eq!(ct, "application/json", "case {i}: {body}");
        assert!(body["error"].is_string(), "case {i}: {body}");
    }
    // The job with a whole-number float timeout runs (JSON Schema's
    // integer), one past a day does not.
    let (code, _, body) = post(
        "/jobs",
        Some("application/json"),
        r#"{"tgt": "web1", "fun": "test.ping", "timeout": 10.0}"#,
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["returns"], json!({"web1": true}));
    let (code, _, body) = post(
        "/jobs",
        Some("application/json"),
        r#"{"tgt": "web1", "fun": "test.ping", "timeout": 86401}"#,
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("timeout"),
        "{body}"
    );
}
