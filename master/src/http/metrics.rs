//! `GET /metrics`: the master's state in Prometheus's text format (0.0.4),
//! or OpenMetrics when the scraper asks for it, encoded by
//! `prometheus-client`. Almost everything is read at scrape time from what
//! the master keeps anyway (sessions, keys, the inventory, the event bus,
//! `master.counters`); only the return latency histogram is kept for this.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use brine_proto::JobId;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use crate::counters::Counters;
use crate::state::Master;
use crate::store::StoreLocation;

/// Upper bounds (seconds) of the return latency buckets: from a ping on a
/// quiet LAN to an hour-long state run.
const LATENCY_BUCKETS: [f64; 17] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0,
    3600.0,
];

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Seconds from a job's publication to each return of it.
#[derive(Debug, Clone)]
pub struct ReturnLatency(Histogram);

impl Default for ReturnLatency {
    fn default() -> ReturnLatency {
        ReturnLatency(Histogram::new(LATENCY_BUCKETS))
    }
}

impl ReturnLatency {
    pub fn observe(&self, seconds: f64) {
        self.0.observe(seconds)
    }
}

/// A minion's return of job `jid` was stored: counted, and its latency
/// (the jid is the publication's time) observed.
pub fn job_returned(counters: &Counters, jid: JobId) {
    Counters::bump(&counters.returns_received);
    if let Some(published_ms) = jid.unix_millis() {
        let ms = (crate::store::now_ms() - published_ms).max(0);
        counters.return_latency.observe(ms as f64 / 1000.0);
    }
}

pub fn routes() -> Router<Arc<Master>> {
    Router::new().route("/metrics", get(metrics))
}

/// How long a scrape waits for PostgreSQL's answer on the store's size.
const STORE_SIZE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

async fn metrics(State(master): State<Arc<Master>>, headers: HeaderMap) -> Response {
    let pg_size = match tokio::time::timeout(STORE_SIZE_WAIT, master.store.postgres_size()).await {
        Ok(Some(Ok(bytes))) => Some(bytes),
        Ok(Some(Err(error))) => {
            tracing::debug!(%error, "/metrics: no store size");
            None
        }
        Ok(None) => None,
        Err(_) => {
            tracing::debug!("/metrics: the store's size took too long; left out");
            None
        }
    };
    let mut snapshot = Snapshot::take(&master);
    snapshot.store_bytes = snapshot.store_bytes.or(pg_size);
    let mut registry = Registry::default();
    registry.register(
        "brine_master",
        "This master: its id and version",
        Info::new(vec![
            ("id", master.config.id.clone()),
            ("version", env!("CARGO_PKG_VERSION").to_string()),
        ]),
    );
    registry.register_with_unit(
        "brine_return_latency",
        "Time from a job's publication to each minion return of it",
        Unit::Seconds,
        master.counters.return_latency.0.clone(),
    );
    registry.register_collector(Box::new(snapshot));
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    let mut body = String::new();
    let (encoded, content_type) = if openmetrics {
        (
            prometheus_client::encoding::text::encode(&mut body, &registry),
            OPENMETRICS,
        )
    } else {
        (
            prometheus_client::encoding::prometheus_text::encode(&mut body, &registry),
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        )
    };
    match encoded {
        Ok(()) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the metrics",
        )
            .into_response(),
    }
}

/// The master's numbers at one scrape.
#[derive(Debug)]
struct Snapshot {
    minions_connected: usize,
    keys: Vec<(&'static str, usize)>,
    inventory_minions: usize,
    inventory_values: usize,
    jobs_published: u64,
    returns_received: u64,
    bus_events: usize,
    bus_bytes: usize,
    bus_max_bytes: usize,
    events_fired: u64,
    events_evicted: u64,
    events_truncated: u64,
    publish_queue: usize,
    reactions: u64,
    reactions_limited: u64,
    reactions_failed: u64,
    alerts_delivered: u64,
    alerts_failed: u64,
    alerts_expired: u64,
    schedule_runs: u64,
    store_bytes: Option<u64>,
}

fn load(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl Snapshot {
    fn take(master: &Master) -> Snapshot {
        let (bus_events, bus_bytes) = master.events.held();
        let (inventory_minions, inventory_values) = master.inventory_size();
        let stats = &master.events.stats;
        let c = &master.counters;
        Snapshot {
            minions_connected: master.connected_ids().len(),
            keys: master
                .key_counts()
                .into_iter()
                .map(|(state, n)| (state.as_str(), n))
                .collect(),
            inventory_minions,
            inventory_values,
            jobs_published: load(&c.jobs_published),
            returns_received: load(&c.returns_received),
            bus_events,
            bus_bytes,
            bus_max_bytes: master.config.event_bus_max_bytes,
            events_fired: load(&stats.fired),
            events_evicted: load(&stats.evicted),
            events_truncated: load(&stats.truncated),
            publish_queue: master.publish_tx.max_capacity() - master.publish_tx.capacity(),
            reactions: load(&c.reactions),
            reactions_limited: load(&c.reactions_limited),
            reactions_failed: load(&c.reactions_failed),
            alerts_delivered: load(&c.alerts_delivered),
            alerts_failed: load(&c.alerts_failed),
            alerts_expired: load(&c.alerts_expired),
            schedule_runs: load(&c.schedule_runs),
            store_bytes: store_bytes(&master.config.store),
        }
    }
}

/// Bytes of the SQLite store (the database and its write-ahead log); a
/// PostgreSQL store is measured by asking it (`Store::postgres_size`).
fn store_bytes(store: &StoreLocation) -> Option<u64> {
    let StoreLocation::Sqlite(path) = store else {
        return None;
    };
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).ok();
    let mut wal = path.clone().into_os_string();
    wal.push("-wal");
    Some(size(path)? + size(std::path::Path::new(&wal)).unwrap_or(0))
}

fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, v: usize) -> std::fmt::Result {
    let g = ConstGauge::new(v as i64);
    g.encode(enc.encode_descriptor(name, help, None, g.metric_type())?)
}

fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let c = ConstCounter::new(v);
    c.encode(enc.encode_descriptor(name, help, None, c.metric_type())?)
}

impl Collector for Snapshot {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let e = &mut enc;
        gauge(
            e,
            "brine_minions_connected",
            "Minions with a live session on this master",
            self.minions_connected,
        )?;
        {
            let g = ConstGauge::new(0i64);
            let mut family =
                e.encode_descriptor("brine_keys", "Minion keys by state", None, g.metric_type())?;
            for (state, n) in &self.keys {
                let labels = [("state", *state)];
                ConstGauge::new(*n as i64).encode(family.encode_family(&labels)?)?;
            }
        }
        gauge(
            e,
            "brine_inventory_minions",
            "Minions whose grains the inventory holds",
            self.inventory_minions,
        )?;
        gauge(
            e,
            "brine_inventory_distinct_values",
            "Distinct grain values the inventory keeps (shared between minions)",
            self.inventory_values,
        )?;
        counter(
            e,
            "brine_jobs_published",
            "Jobs this master published",
            self.jobs_published,
        )?;
        counter(
            e,
            "brine_returns_received",
            "Minion returns of published jobs this master stored",
            self.returns_received,
        )?;
        gauge(
            e,
            "brine_event_bus_events",
            "Events the event bus holds for its consumers",
            self.bus_events,
        )?;
        gauge(
            e,
            "brine_event_bus_bytes",
            "Bytes the held events count against event_bus_max_bytes",
            self.bus_bytes,
        )?;
        gauge(
            e,
            "brine_event_bus_max_bytes",
            "The event bus's bound (event_bus_max_bytes)",
            self.bus_max_bytes,
        )?;
        counter(
            e,
            "brine_events_fired",
            "Events fired on the bus",
            self.events_fired,
        )?;
        counter(
            e,
            "brine_events_evicted",
            "Events pushed out of the bus to make room",
            self.events_evicted,
        )?;
        counter(
            e,
            "brine_events_truncated",
            "Events whose data was dropped for exceeding max_event_size",
            self.events_truncated,
        )?;
        gauge(
            e,
            "brine_publish_queue",
            "Publications waiting for the publisher",
            self.publish_queue,
        )?;
        counter(
            e,
            "brine_reactions",
            "Reactions the reactor started",
            self.reactions,
        )?;
        counter(
            e,
            "brine_reactions_rate_limited",
            "Reactions skipped by the per rule and minion rate limit",
            self.reactions_limited,
        )?;
        counter(
            e,
            "brine_reactions_failed",
            "Reactions that failed",
            self.reactions_failed,
        )?;
        counter(
            e,
            "brine_alerts_delivered",
            "Alerts delivered to a channel",
            self.alerts_delivered,
        )?;
        counter(
            e,
            "brine_alerts_failed",
            "Alert delivery attempts that failed (retried until expiry)",
            self.alerts_failed,
        )?;
        counter(
            e,
            "brine_alerts_expired",
            "Alerts dropped undelivered after their expiry",
            self.alerts_expired,
        )?;
        counter(
            e,
            "brine_schedule_runs",
            "Scheduled runs this master started",
            self.schedule_runs,
        )?;
        if let Some(bytes) = self.store_bytes {
            let g = ConstGauge::new(bytes as i64);
            let m = e.encode_descriptor(
                "brine_store_size",
                "Size of the store: the SQLite file and its write-ahead log, or the PostgreSQL database",
                Some(&Unit::Bytes),
                g.metric_type(),
            )?;
            g.encode(m)?;
        }
        Ok(())
    }
}
