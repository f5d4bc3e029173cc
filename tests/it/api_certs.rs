//! API client certificates against a real master: issued by `brine-key
//! --gen-api-cert`, they authenticate without a token, with the user's ACL
//! and areas; a minion's own certificate (same CA) is refused, a revoked
//! one is refused, one from another CA is refused; `brine --api --cert
//! --key` runs a job; `/metrics` and `/sd` on the API server need
//! authentication (and `/sd` the inventory area).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use brine_tests::api::https_agent;
use brine_tests::{bin, free_port, Cluster};
use serde_json::{json, Value};

/// GET: the status and body, or Err when no HTTP answer came (a refused
/// handshake).
fn get(agent: &ureq::Agent, url: &str) -> Result<(u16, String), String> {
    let mut resp = agent.get(url).call().map_err(|e| e.to_string())?;
    Ok((
        resp.status().as_u16(),
        resp.body_mut().read_to_string().unwrap(),
    ))
}

fn post(agent: &ureq::Agent, url: &str, body: Value) -> (u16, Value) {
    let mut resp = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap();
    let text = resp.body_mut().read_to_string().unwrap();
    (
        resp.status().as_u16(),
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn api_client_certificates_authenticate_users_and_never_minions() {
    let port = free_port();
    let config = format!(
        "api_port: {port}\napi_interface: 127.0.0.1\n\
         api_users:\n  alice:\n    areas: [inventory, jobs]\n\
         \x20 carol:\n    areas: [jobs]\n\
         external_auth:\n  brine:\n    alice:\n      - '*':\n        - test.*\n"
    );
    let c = Cluster::builder()
        .master_config(&config)
        .minion("web1", "role: web")
        .minion("db1", "role: db")
        .start();
    c.accept_all();
    c.wait_answering(&["web1", "db1"]);
    let ca_path = c.master_root().join("etc/brine/pki/master/ca.crt");
    let ca = read(&ca_path);
    let base = format!("https://127.0.0.1:{port}");
    let out_dir = tempfile::tempdir().unwrap();
    let dir = out_dir.path().to_str().unwrap();

    // Only users of api_users get one.
    let out = c.key(&["--gen-api-cert", "mallory", "--out-dir", dir]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("not an API user"), "{out:?}");
    assert!(!out_dir.path().join("mallory.key").exists());

    for user in ["alice", "carol"] {
        let out = c.key(&["--gen-api-cert", user, "--days", "30", "--out-dir", dir]);
        assert_eq!(out.code, 0, "{out:?}");
        let mode = std::fs::metadata(out_dir.path().join(format!("{user}.key")))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let pem = |name: &str| read(&out_dir.path().join(name));
    let (alice_crt, alice_key) = (pem("alice.crt"), pem("alice.key"));
    let alice = https_agent(&ca, Some((&alice_crt, &alice_key)));
    let carol = https_agent(&ca, Some((&pem("carol.crt"), &pem("carol.key"))));
    let anonymous = https_agent(&ca, None);

    // The description lists the monitoring routes and the certificate scheme.
    let (code, doc) = get(&anonymous, &format!("{base}/openapi.json")).unwrap();
    assert_eq!(code, 200);
    let doc: Value = serde_json::from_str(&doc).unwrap();
    assert!(doc["paths"]["/metrics"]["get"].is_object(), "{doc}");
    assert!(doc["paths"]["/sd"]["get"].is_object(), "{doc}");
    assert!(
        doc["components"]["securitySchemes"]["client_certificate"].is_object(),
        "{doc}"
    );

    // No token, no certificate: 401 everywhere, monitoring included.
    for path in ["/minions", "/metrics", "/sd"] {
        let (code, _) = get(&anonymous, &format!("{base}{path}")).unwrap();
        assert_eq!(code, 401, "{path}");
    }

    // Alice's certificate: her areas and her ACL.
    let (code, body) = get(&alice, &format!("{base}/minions")).unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("web1") && body.contains("db1"), "{body}");
    let (code, v) = post(
        &alice,
        &format!("{base}/jobs"),
        json!({"tgt": "web1", "fun": "test.ping"}),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["returns"], json!({"web1": true}), "{v}");
    let (code, v) = post(
        &alice,
        &format!("{base}/jobs"),
        json!({"tgt": "web1", "fun": "cmd.run", "arg": ["id"]}),
    );
    assert_eq!(code, 403, "{v}");
    // Monitoring on the API server: metrics for any user, /sd with the
    // inventory area only.
    let (code, metrics) = get(&alice, &format!("{base}/metrics")).unwrap();
    assert_eq!(code, 200);
    assert!(metrics.contains("brine_"), "{metrics}");
    let (code, sd) = get(&alice, &format!("{base}/sd?port=9100")).unwrap();
    assert_eq!(code, 200, "{sd}");
    let groups: Value = serde_json::from_str(&sd).unwrap();
    assert_eq!(groups.as_array().unwrap().len(), 2, "{groups}");
    assert_eq!(get(&carol, &format!("{base}/metrics")).unwrap().0, 200);
    assert_eq!(get(&carol, &format!("{base}/sd")).unwrap().0, 403);
    assert_eq!(get(&carol, &format!("{base}/minions")).unwrap().0, 403);

    // A token, when one is sent, decides: a bad one is 401 even with
    // alice's certificate.
    let mut resp = alice
        .get(format!("{base}/minions"))
        .header("Authorization", format!("Bearer {}", "0".repeat(64)))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let body = resp.body_mut().read_to_string().unwrap();
    assert!(body.contains("token"), "{body}");

    // A minion's own certificate and key: from the same CA, never a user.
    let mpki = c.minion_root("web1").join("etc/brine/pki/minion");
    let minion = https_agent(
        &ca,
        Some((
            &read(&mpki.join("minion.crt")),
            &read(&mpki.join("minion.key")),
        )),
    );
    let (code, body) = get(&minion, &format!("{base}/minions")).unwrap();
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("does not name an API user"), "{body}");

    // A certificate for alice from another CA: no answer, or 401.
    let other = tempfile::tempdir().unwrap();
    let other_ca = brine_pki::MasterPki::load_or_create(&other.path().join("pki"), "x").unwrap();
    let (key, csr) = brine_pki::api_user::api_user_request("alice").unwrap();
    let forged = other_ca.sign_api_user_csr(&csr, "alice", 30).unwrap();
    let forger = https_agent(&ca, Some((forged.pem.as_bytes(), key.as_bytes())));
    match get(&forger, &format!("{base}/minions")) {
        Err(_) => {}
        Ok((code, body)) => assert_eq!(code, 401, "{body}"),
    }

    // Signed by the right CA but never recorded (not issued through
    // brine-key): an unknown serial, 401.
    let master_pki = brine_pki::MasterPki::load_or_create(
        &c.master_root().join("etc/brine/pki/master"),
        "master0",
    )
    .unwrap();
    let (key, csr) = brine_pki::api_user::api_user_request("alice").unwrap();
    let unrecorded = master_pki.sign_api_user_csr(&csr, "alice", 30).unwrap();
    let stray = https_agent(&ca, Some((unrecorded.pem.as_bytes(), key.as_bytes())));
    let (code, body) = get(&stray, &format!("{base}/minions")).unwrap();
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("unknown, expired or revoked"), "{body}");

    // The CLI through the API with the certificate, no token.
    let remote = |args: &[&str]| {
        Command::new(bin("brine"))
            .args(["--api", &base, "--api-ca"])
            .arg(&ca_path)
            .arg("--cert")
            .arg(out_dir.path().join("alice.crt"))
            .arg("--key")
            .arg(out_dir.path().join("alice.key"))
            .args(["-c", "/nonexistent", "--out", "json", "--static"])
            .args(args)
            .env_remove("BRINE_API_TOKEN")
            .output()
            .unwrap()
    };
    let out = remote(&["*", "test.ping"]);
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, json!({"web1": true, "db1": true}));

    // The job is audited as alice, by certificate.
    let out = c.run(&["audit.list", "user=alice", "--out", "json"]);
    assert!(out.stdout.contains("via=certificate"), "{out:?}");

    // Listing and revoking: a revoked certificate gets 401 at once.
    let out = c.key(&["--list-api-certs", "--out", "json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let listed: Value = serde_json::from_str(&out.stdout).unwrap();
    let rows = listed.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{listed}");
    assert!(rows.iter().all(|r| r["revoked"] == json!(false)));
    let out = c.key(&["--revoke-api-cert", "alice"]);
    assert_eq!(out.code, 0, "{out:?}");
    let (code, _) = get(&alice, &format!("{base}/minions")).unwrap();
    assert_eq!(code, 401);
    let out = c.key(&["--list-api-certs", "--out", "json"]);
    let listed: Value = serde_json::from_str(&out.stdout).unwrap();
    let alice_row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["user"] == "alice")
        .unwrap()
        .clone();
    assert_eq!(alice_row["revoked"], json!(true), "{listed}");
    // Carol's is untouched; revoking by serial works too.
    assert_eq!(get(&carol, &format!("{base}/metrics")).unwrap().0, 200);
    let carol_serial = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["user"] == "carol")
        .unwrap()["serial"]
        .as_str()
        .unwrap()
        .to_string();
    let out = c.key(&["--revoke-api-cert", &carol_serial.to_uppercase()]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(get(&carol, &format!("{base}/metrics")).unwrap().0, 401);
    let out = c.key(&["--revoke-api-cert", "nosuch"]);
    assert_ne!(out.code, 0, "{out:?}");
}

/// What Prometheus shows of one target: job, discovered labels, health.
fn prom_targets(
    p: &brine_tests::prometheus::Prometheus,
) -> Vec<(String, serde_json::Map<String, Value>, String)> {
    p.active_targets()
        .iter()
        .map(|t| {
            (
                t["labels"]["job"].as_str().unwrap_or_default().to_string(),
                t["discoveredLabels"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                t["health"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The real Prometheus scrapes the API server's `/metrics` and discovers
/// through its `/sd`, over HTTPS with an API user's client certificate.
#[test]
fn prometheus_scrapes_and_discovers_through_the_api_with_a_client_certificate() {
    let Some(bin) = brine_tests::prometheus::binary_or_skip(
        "prometheus_scrapes_and_discovers_through_the_api_with_a_client_certificate",
    ) else {
        return;
    };
    let port = free_port();
    let c = Cluster::builder()
        .master_config(&format!(
            "api_port: {port}\napi_interface: 127.0.0.1\n\
             api_users:\n  prometheus:\n    areas: [inventory]\n"
        ))
        .minion(
            "web1",
            "roles: [web]\nappcode: shop\nscrape_host: 127.0.0.1",
        )
        .minion("db1", "roles: [db]\nscrape_host: 127.0.0.1")
        .start();
    c.accept_all();
    let certs = c.dir.path().join("prom-certs");
    let out = c.key(&[
        "--gen-api-cert",
        "prometheus",
        "--out-dir",
        certs.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let ca = c.master_root().join("etc/brine/pki/master/ca.crt");
    let tls = format!(
        "{{ca_file: '{}', cert_file: '{}', key_file: '{}'}}",
        ca.display(),
        certs.join("prometheus.crt").display(),
        certs.join("prometheus.key").display()
    );
    // The minions' `scrape_host` and the port point the discovered targets
    // at the API server itself: scraped without leaving 127.0.0.1.
    let config = format!(
        r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: brine_api
    scheme: https
    tls_config: {tls}
    static_configs:
      - targets: ['127.0.0.1:{port}']
  - job_name: inventory
    scheme: https
    tls_config: {tls}
    http_sd_configs:
      - url: 'https://127.0.0.1:{port}/sd?tgt=G%40roles%3Aweb&tgt_type=compound&address=scrape_host&port={port}'
        refresh_interval: 1s
        tls_config: {tls}
    relabel_configs:
      - source_labels: [__meta_brine_appcode]
        target_label: appcode
"#
    );
    let mut p =
        brine_tests::prometheus::Prometheus::start(&bin, &c.dir.path().join("prometheus"), &config);
    let targets = p.wait_until(
        "the API scraped and web1 discovered through it, up",
        prom_targets,
        |ts| {
            ts.iter().any(|(job, _, h)| job == "brine_api" && h == "up")
                && ts
                    .iter()
                    .filter(|(job, _, h)| job == "inventory" && h == "up")
                    .count()
                    == 1
        },
    );
    let (_, disc, _) = targets
        .iter()
        .find(|(job, _, _)| job == "inventory")
        .unwrap();
    assert_eq!(disc["__meta_brine_id"], "web1");
    assert_eq!(disc["__meta_brine_roles"], ",web,");
    assert_eq!(disc["__meta_brine_appcode"], "shop");
    assert_eq!(disc["__address__"], format!("127.0.0.1:{port}"));
    let accepted = p.wait_until(
        "accepted keys from the API's /metrics in Prometheus",
        |p| p.query("brine_keys{job=\"brine_api\",state=\"accepted\"}"),
        |r| r.len() == 1,
    );
    assert_eq!(accepted[0]["value"][1], "2");
    let appcode = p.wait_until(
        "the relabeled appcode on the discovered target's series",
        |p| p.query("up{job=\"inventory\"}"),
        |r| r.len() == 1,
    );
    assert_eq!(appcode[0]["metric"]["appcode"], "shop");
    assert_eq!(appcode[0]["value"][1], "1");
}

/// With a PostgreSQL store (migration 0150): issued, checked, listed and
/// revoked the same way.
#[test]
fn api_client_certificates_on_a_postgres_store() {
    let Some(pg) = brine_tests::pg::PgServer::start() else {
        return;
    };
    let port = free_port();
    let c = Cluster::builder()
        .master_config(&format!(
            "store: {}\napi_port: {port}\napi_interface: 127.0.0.1\n\
             api_users:\n  alice:\n    areas: [inventory]\n",
            pg.url()
        ))
        .minion("web1", "roles: [web]")
        .start();
    c.accept_all();
    let out_dir = tempfile::tempdir().unwrap();
    let dir = out_dir.path().to_str().unwrap();
    let out = c.key(&["--gen-api-cert", "alice", "--out-dir", dir]);
    assert_eq!(out.code, 0, "{out:?}");
    let ca = read(&c.master_root().join("etc/brine/pki/master/ca.crt"));
    let alice = https_agent(
        &ca,
        Some((
            &read(&out_dir.path().join("alice.crt")),
            &read(&out_dir.path().join("alice.key")),
        )),
    );
    let base = format!("https://127.0.0.1:{port}");
    let (code, body) = get(&alice, &format!("{base}/sd")).unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("web1"), "{body}");
    let out = c.key(&["--list-api-certs", "--out", "json"]);
    let listed: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(listed[0]["user"], "alice", "{listed}");
    assert_eq!(listed[0]["revoked"], json!(false), "{listed}");
    let out = c.key(&["--revoke-api-cert", listed[0]["serial"].as_str().unwrap()]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(get(&alice, &format!("{base}/sd")).unwrap().0, 401);
}
