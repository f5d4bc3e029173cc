//! Prometheus reads the inventory: the real Prometheus discovers minions
//! through the master's `/sd` (filtered by a compound target, grains as
//! `__meta_brine_*` labels) and scrapes the master's `/metrics`.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use brine_tests::pg::PgServer;
use brine_tests::prometheus::{self, http_agent, http_get, Prometheus};
use brine_tests::{assert_eventually, free_port, Cluster};
use serde_json::Value;

/// What Prometheus shows of one target.
#[derive(Debug)]
struct Target {
    job: String,
    /// Before relabeling: `__address__` and the `__meta_brine_*` labels.
    discovered: BTreeMap<String, String>,
    /// After relabeling.
    labels: BTreeMap<String, String>,
    health: String,
}

fn targets_of(p: &Prometheus) -> Vec<Target> {
    let labels = |v: &Value| -> BTreeMap<String, String> {
        v.as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default()
    };
    p.active_targets()
        .iter()
        .map(|t| {
            let target = labels(&t["labels"]);
            Target {
                job: target.get("job").cloned().unwrap_or_default(),
                discovered: labels(&t["discoveredLabels"]),
                labels: target,
                health: t["health"].as_str().unwrap_or_default().to_string(),
            }
        })
        .collect()
}

#[test]
fn prometheus_discovers_the_inventory_and_scrapes_the_master() {
    let Some(bin) =
        prometheus::binary_or_skip("prometheus_discovers_the_inventory_and_scrapes_the_master")
    else {
        return;
    };
    let http = free_port();
    // Each minion says where its exporter is (`scrape_host`): here the
    // master's own HTTP port, so that the discovered targets can be scraped
    // without anything else running and without leaving 127.0.0.1.
    let c = Cluster::builder()
        .master_config(&format!("metrics_port: {http}"))
        .minion(
            "web1",
            "roles: [web]\nappcode: shop\nowner: team-a\nscrape_host: 127.0.0.1",
        )
        .minion(
            "db1",
            "roles: [db, backup]\nappcode: ledger\nowner: team-b\nscrape_host: 127.0.0.1",
        )
        .minion("cache1", "roles: [cache]\nscrape_host: 127.0.0.1")
        .start();
    c.accept_all();

    // The master's own answers first: a bad target is refused with the
    // reason, and /metrics passes Prometheus's own linter.
    let agent = http_agent();
    let base = format!("http://127.0.0.1:{http}");
    let (status, body) = http_get(
        &agent,
        &format!("{base}/sd"),
        &[("tgt", "G@roles:web and ("), ("tgt_type", "compound")],
    )
    .expect("master answers /sd");
    assert_eq!(status, 400, "{body}");
    let (status, metrics) = http_get(&agent, &format!("{base}/metrics"), &[]).expect("/metrics");
    assert_eq!(status, 200, "{metrics}");
    let promtool = bin.with_file_name("promtool");
    if promtool.exists() {
        let mut child = Command::new(&promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("promtool");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(metrics.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics: {}{}\n{metrics}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let config = format!(
        r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: brine_master
    static_configs:
      - targets: ['127.0.0.1:{http}']
  - job_name: inventory
    http_sd_configs:
      - url: 'http://127.0.0.1:{http}/sd?tgt=G%40roles%3Aweb%20or%20G%40roles%3Adb&tgt_type=compound&address=scrape_host&port={http}'
        refresh_interval: 1s
    relabel_configs:
      - source_labels: [__meta_brine_id]
        target_label: minion
      - source_labels: [__meta_brine_appcode]
        target_label: appcode
"#
    );
    let mut p = Prometheus::start(&bin, &c.dir.path().join("prometheus"), &config);

    // Discovery: exactly web1 and db1 (cache1 is not targeted), with their
    // grains as meta labels, relabeled into target labels, scraped.
    let targets = p.wait_until(
        "web1 and db1 discovered, connected and up",
        targets_of,
        |ts| {
            let inv: Vec<_> = ts.iter().filter(|t| t.job == "inventory").collect();
            inv.len() == 2
                && inv.iter().all(|t| {
                    t.health == "up"
                        && t.discovered
                            .get("__meta_brine_connected")
                            .map(String::as_str)
                            == Some("true")
                })
        },
    );
    let by_id: BTreeMap<&str, _> = targets
        .iter()
        .filter(|t| t.job == "inventory")
        .map(|t| (t.discovered["__meta_brine_id"].as_str(), t))
        .collect();
    assert_eq!(by_id.keys().copied().collect::<Vec<_>>(), ["db1", "web1"]);
    let (disc, labels) = (&by_id["web1"].discovered, &by_id["web1"].labels);
    assert_eq!(disc["__address__"], format!("127.0.0.1:{http}"));
    assert_eq!(disc["__meta_brine_roles"], ",web,");
    assert_eq!(disc["__meta_brine_appcode"], "shop");
    assert_eq!(disc["__meta_brine_owner"], "team-a");
    assert_eq!(disc["__meta_brine_master"], "master0");
    assert_eq!(labels["minion"], "web1");
    assert_eq!(labels["appcode"], "shop");
    let (disc, labels) = (&by_id["db1"].discovered, &by_id["db1"].labels);
    assert_eq!(disc["__meta_brine_roles"], ",db,backup,");
    assert_eq!(disc["__meta_brine_owner"], "team-b");
    assert_eq!(labels["minion"], "db1");
    assert!(disc.contains_key("__meta_brine_os"), "{disc:?}");

    // The master's own scrape is up, and what it reports is queryable.
    p.wait_until("the master's /metrics scraped", targets_of, |ts| {
        ts.iter()
            .any(|t| t.job == "brine_master" && t.health == "up")
    });
    let connected = p.wait_until(
        "brine_minions_connected in Prometheus",
        |p| p.query("brine_minions_connected{job=\"brine_master\"}"),
        |r| r.len() == 1 && r[0]["value"][1] == "3",
    );
    assert_eq!(
        connected[0]["metric"]["instance"],
        format!("127.0.0.1:{http}")
    );
    let accepted = p.wait_until(
        "accepted keys in Prometheus",
        |p| p.query("brine_keys{job=\"brine_master\",state=\"accepted\"}"),
        |r| r.len() == 1,
    );
    assert_eq!(accepted[0]["value"][1], "3");
    // The accepts above pinged each minion: jobs and returns were counted.
    let returns = p.wait_until(
        "returns counted in Prometheus",
        |p| p.query("brine_return_latency_seconds_count{job=\"brine_master\"}"),
        |r| r.len() == 1,
    );
    let n: f64 = returns[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(n >= 3.0, "{returns:?}");
}

/// With a PostgreSQL store `/metrics` gives the database's size and `/sd`
/// the cluster's presence.
#[test]
fn metrics_and_sd_on_a_postgres_store() {
    let Some(pg) = PgServer::start() else { return };
    let http = free_port();
    let c = Cluster::builder()
        .master_config(&format!("store: {}\nmetrics_port: {http}", pg.url()))
        .minion("web1", "roles: [web]")
        .start();
    c.accept_all();
    let agent = http_agent();
    let base = format!("http://127.0.0.1:{http}");
    let (status, metrics) = http_get(&agent, &format!("{base}/metrics"), &[]).expect("/metrics");
    assert_eq!(status, 200, "{metrics}");
    let size: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("brine_store_size_bytes "))
        .unwrap_or_else(|| panic!("no brine_store_size_bytes in\n{metrics}"))
        .parse()
        .unwrap();
    assert!(size > 0.0, "{metrics}");
    assert_eventually!(
        {
            let (_, body) = http_get(&agent, &format!("{base}/sd"), &[("tgt", "web1")]).unwrap();
            let groups: Value = serde_json::from_str(&body).unwrap();
            groups[0]["labels"]["__meta_brine_connected"] == "true"
        },
        "web1 connected in /sd"
    );
}
