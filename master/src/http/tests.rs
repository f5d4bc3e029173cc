//! Tests of the HTTP server's parts, through the router as a server would
//! call it, on a master built in a temporary directory.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use brine_proto::conf::RawConfig;
use brine_proto::KeyState;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::config::MasterConfig;
use crate::state::Master;
use crate::store::KeyRecord;

struct TestMaster {
    _dir: tempfile::TempDir,
    master: Arc<Master>,
}

/// A master whose inventory holds `minions` (id, key state, grains).
async fn master_with(minions: &[(&str, KeyState, Value)]) -> TestMaster {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "id: m1\nroot_dir: {}\nnodegroups:\n  webs: 'G@roles:web'\n",
        dir.path().display()
    );
    let raw = RawConfig::parse("master", &text).unwrap();
    let config = Arc::new(MasterConfig::from_raw(dir.path(), raw).unwrap());
    std::fs::create_dir_all(&config.cachedir).unwrap();
    let pki = brine_pki::MasterPki::load_or_create(&config.pki_dir, &config.id).unwrap();
    let store = crate::store::Store::open_sqlite(&config.store_path()).unwrap();
    let (publish_tx, _publish_rx) = tokio::sync::mpsc::channel(16);
    let master = Arc::new(Master::new(config, store, pki, publish_tx).await.unwrap());
    for (id, state, grains) in minions {
        master
            .put_key(KeyRecord {
                id: id.to_string(),
                state: *state,
                fingerprint: format!("fp-{id}"),
                csr_pem: None,
            })
            .await
            .unwrap();
        if let Value::Object(g) = grains {
            master.set_grains(id, g.clone());
        }
    }
    master.store.sync().await.unwrap();
    TestMaster { _dir: dir, master }
}

fn fleet() -> Vec<(&'static str, KeyState, Value)> {
    vec![
        (
            "web1",
            KeyState::Accepted,
            json!({"os": "Debian", "osrelease": "12", "roles": ["web", "db"],
                   "fqdn": "web1.example.com", "ipv4": ["127.0.0.1", "10.0.0.5"],
                   "appcode": "shop", "owner": "team-a", "num_cpus": 4,
                   "ip4_interfaces": {"eth0": ["10.0.0.5"]}, "odd-name.x": "v"}),
        ),
        (
            "db1",
            KeyState::Accepted,
            json!({"os": "Rocky", "roles": ["db"], "fqdn": "localhost",
                   "ipv4": ["127.0.0.1", "10.0.0.6"], "ipv6": ["fe80::1", "2001:db8::6"]}),
        ),
        ("new1", KeyState::Pending, json!({"os": "Debian"})),
        ("bad1", KeyState::Rejected, Value::Null),
    ]
}

async fn get(
    master: &Arc<Master>,
    uri: &str,
    accept: Option<&str>,
) -> (StatusCode, String, String) {
    let mut req = Request::get(uri);
    if let Some(a) = accept {
        req = req.header(header::ACCEPT, a);
    }
    let resp = super::router(master.clone())
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let ctype = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap();
    (status, ctype, String::from_utf8(body.to_vec()).unwrap())
}

/// `/sd` as JSON, by minion id.
async fn sd(master: &Arc<Master>, query: &str) -> serde_json::Map<String, Value> {
    let (status, ctype, body) = get(master, &format!("/sd{query}"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ctype, "application/json");
    let groups: Vec<Value> = serde_json::from_str(&body).unwrap();
    groups
        .into_iter()
        .map(|g| {
            let id = g["labels"]["__meta_brine_id"].as_str().unwrap().to_string();
            (id, g)
        })
        .collect()
}

#[tokio::test]
async fn sd_lists_accepted_minions_with_their_grains_as_labels() {
    let t = master_with(&fleet()).await;
    let groups = sd(&t.master, "").await;
    assert_eq!(groups.keys().collect::<Vec<_>>(), ["db1", "web1"]);
    let web = &groups["web1"];
    assert_eq!(web["targets"], json!(["web1.example.com:9100"]));
    let labels = web["labels"].as_object().unwrap();
    assert_eq!(labels["__meta_brine_os"], "Debian");
    assert_eq!(labels["__meta_brine_osrelease"], "12");
    assert_eq!(labels["__meta_brine_roles"], ",web,db,");
    assert_eq!(labels["__meta_brine_appcode"], "shop");
    assert_eq!(labels["__meta_brine_owner"], "team-a");
    assert_eq!(labels["__meta_brine_master"], "m1");
    assert_eq!(labels["__meta_brine_connected"], "false");
    // Only the default grains: not every grain the minion has.
    assert!(!labels.contains_key("__meta_brine_num_cpus"), "{labels:?}");
    for (name, value) in labels {
        let ok = name.starts_with("__meta_brine_")
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        assert!(ok && value.is_string(), "{name}: {value}");
    }
    // fqdn is localhost: the first non-loopback IPv4 address instead.
    assert_eq!(groups["db1"]["targets"], json!(["10.0.0.6:9100"]));
}

#[tokio::test]
async fn sd_filters_by_target_expression() {
    let t = master_with(&fleet()).await;
    let only_web = sd(&t.master, "?tgt=G@roles:web&tgt_type=compound").await;
    assert_eq!(only_web.keys().collect::<Vec<_>>(), ["web1"]);
    let db = sd(&t.master, "?tgt=roles:db&tgt_type=grain&port=9200").await;
    assert_eq!(db.keys().collect::<Vec<_>>(), ["db1", "web1"]);
    assert_eq!(db["web1"]["targets"], json!(["web1.example.com:9200"]));
    let glob = sd(&t.master, "?tgt=db*").await;
    assert_eq!(glob.keys().collect::<Vec<_>>(), ["db1"]);
    let group = sd(&t.master, "?tgt=webs&tgt_type=nodegroup").await;
    assert_eq!(group.keys().collect::<Vec<_>>(), ["web1"]);
    // A pending key is not a target, even when its id is named.
    let pending = sd(&t.master, "?tgt=new1").await;
    assert!(pending.is_empty());
    // Nothing matches: 200 and an empty list, as Prometheus requires.
    let (status, _, body) = get(&t.master, "/sd?tgt=nosuch*", None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "[]"));
}

#[tokio::test]
async fn sd_refuses_bad_requests_with_400_and_the_reason() {
    let t = master_with(&fleet()).await;
    for (query, says) in [
        ("?tgt=G@roles:web%20and%20(&tgt_type=compound", "("),
        ("?tgt=web1&tgt_type=bogus", "bogus"),
        ("?tgt=nosuch&tgt_type=nodegroup", "nosuch"),
        ("?port=99999", "99999"),
        ("?port=0", "port"),
    ] {
        let (status, _, body) = get(&t.master, &format!("/sd{query}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(body.contains(says), "{query}: {body}");
    }
}

#[tokio::test]
async fn sd_takes_the_address_grain_and_label_grains_asked_for() {
    let t = master_with(&fleet()).await;
    let groups = sd(&t.master, "?address=ipv6&grains=os,odd-name.x").await;
    // db1 has a global IPv6 address (the link-local one is skipped)...
    assert_eq!(groups["db1"]["targets"], json!(["[2001:db8::6]:9100"]));
    // ...web1 has none: the default choice.
    assert_eq!(groups["web1"]["targets"], json!(["web1.example.com:9100"]));
    let labels = groups["web1"]["labels"].as_object().unwrap();
    let names: Vec<&str> = labels.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "__meta_brine_connected",
            "__meta_brine_id",
            "__meta_brine_master",
            "__meta_brine_odd_name_x",
            "__meta_brine_os",
        ]
    );
    let all = sd(&t.master, "?grains=*&address=ipv4").await;
    let labels = all["web1"]["labels"].as_object().unwrap();
    assert_eq!(labels["__meta_brine_num_cpus"], "4");
    assert_eq!(labels["__meta_brine_ipv4"], ",127.0.0.1,10.0.0.5,");
    // A mapping is no label.
    assert!(!labels.contains_key("__meta_brine_ip4_interfaces"));
    assert_eq!(all["web1"]["targets"], json!(["10.0.0.5:9100"]));
}

#[tokio::test]
async fn sd_answers_503_when_too_many_listings_run() {
    let t = master_with(&fleet()).await;
    let none_free = super::sd::routes_limited(0).with_state(t.master.clone());
    let resp = none_free
        .oneshot(Request::get("/sd").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let one = super::sd::routes_limited(1).with_state(t.master.clone());
    let resp = one
        .oneshot(Request::get("/sd").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

/// Every sample line of the text format: `name{labels} value`, the value a
/// number; returns (name with labels, value).
fn samples(body: &str) -> Vec<(String, f64)> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("{l}"));
            let name_end = series.find('{').unwrap_or(series.len());
            let name = &series[..name_end];
            assert!(
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                "bad metric name in {l}"
            );
            let v = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("bad value in {l}")),
            };
            (series.to_string(), v)
        })
        .collect()
}

fn sample(all: &[(String, f64)], series: &str) -> f64 {
    all.iter()
        .find(|(s, _)| s == series)
        .unwrap_or_else(|| panic!("no {series} in {all:?}"))
        .1
}

#[tokio::test]
async fn metrics_reads_the_master_in_prometheus_text_format() {
    let t = master_with(&fleet()).await;
    let m = &t.master;
    crate::counters::Counters::bump(&m.counters.jobs_published);
    let jid = brine_proto::JobId::from_micros((crate::store::now_ms() - 1500) * 1000);
    super::metrics::job_returned(&m.counters, jid);
    m.events.fire("test/one", json!({"a": 1}));
    let (status, ctype, body) = get(m, "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ctype, "text/plain; version=0.0.4; charset=utf-8");
    let s = samples(&body);
    assert_eq!(sample(&s, "brine_minions_connected"), 0.0);
    assert_eq!(sample(&s, "brine_keys{state=\"accepted\"}"), 2.0);
    assert_eq!(sample(&s, "brine_keys{state=\"pending\"}"), 1.0);
    assert_eq!(sample(&s, "brine_keys{state=\"rejected\"}"), 1.0);
    assert_eq!(sample(&s, "brine_keys{state=\"denied\"}"), 0.0);
    assert_eq!(sample(&s, "brine_inventory_minions"), 3.0);
    assert_eq!(sample(&s, "brine_jobs_published_total"), 1.0);
    assert_eq!(sample(&s, "brine_returns_received_total"), 1.0);
    assert_eq!(sample(&s, "brine_return_latency_seconds_count"), 1.0);
    // Published at least 1.5 s before the return: not in the 1 s bucket.
    assert_eq!(
        sample(&s, "brine_return_latency_seconds_bucket{le=\"1\"}"),
        0.0
    );
    assert_eq!(
        sample(&s, "brine_return_latency_seconds_bucket{le=\"+Inf\"}"),
        1.0
    );
    assert!(sample(&s, "brine_return_latency_seconds_sum") >= 1.5);
    assert_eq!(sample(&s, "brine_events_fired_total"), 1.0);
    assert_eq!(sample(&s, "brine_event_bus_events"), 1.0);
    assert!(sample(&s, "brine_event_bus_bytes") > 0.0);
    assert_eq!(sample(&s, "brine_reactions_total"), 0.0);
    assert_eq!(sample(&s, "brine_schedule_runs_total"), 0.0);
    assert!(sample(&s, "brine_store_size_bytes") > 0.0);
    assert_eq!(
        sample(&s, "brine_master_info{id=\"m1\",version=\"0.1.0\"}"),
        1.0
    );
    assert!(body.contains("# TYPE brine_return_latency_seconds histogram\n"));
    assert!(body.contains("# TYPE brine_jobs_published_total counter\n"));

    // A scraper that asks for OpenMetrics gets it.
    let (_, ctype, body) = get(
        m,
        "/metrics",
        Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"),
    )
    .await;
    assert!(ctype.starts_with("application/openmetrics-text"), "{ctype}");
    assert!(body.ends_with("# EOF\n"), "{body}");
    assert!(body.contains("# UNIT brine_return_latency_seconds seconds\n"));
}

#[test]
fn http_options_read_with_defaults_and_named_errors() {
    let conf = |text: &str| super::from_raw(&mut RawConfig::parse("master", text).unwrap());
    let d = conf("").unwrap();
    assert_eq!(d, super::HttpConfig::default());
    assert_eq!(d.addr(), None);
    assert_eq!(d.interface.to_string(), "127.0.0.1");
    let c = conf("metrics_port: 8000\nmetrics_interface: '::'\n").unwrap();
    assert_eq!(c.addr().unwrap().to_string(), "[::]:8000");
    let err = conf("metrics_port: 0\n").unwrap_err().to_string();
    assert!(err.contains("metrics_port"), "{err}");
    let err = conf("metrics_port: 70000\n").unwrap_err().to_string();
    assert!(err.contains("metrics_port"), "{err}");
    let err = conf("metrics_port: 8000\nmetrics_interface: nowhere\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("metrics_interface") && err.contains("nowhere"),
        "{err}"
    );
}

/// `examples/master.yaml` documents both options, with the defaults.
#[test]
fn example_documents_the_http_options() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/master.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let keys = brine_proto::conf::keys_read_in(include_str!("mod.rs"));
    assert_eq!(keys, ["metrics_interface", "metrics_port"]);
    for key in keys {
        assert!(
            text.contains(&format!("\n{key}:")),
            "examples/master.yaml lacks '{key}'"
        );
    }
    let example = super::from_raw(&mut RawConfig::parse("example", &text).unwrap()).unwrap();
    assert_eq!(example, super::HttpConfig::default());
}
