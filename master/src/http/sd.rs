//! `GET /sd`: Prometheus HTTP service discovery (`http_sd_configs`) over
//! the inventory, so Prometheus scrapes exactly the hosts the master knows.
//!
//! One target group per accepted minion the target expression matches:
//!
//! ```json
//! [{"targets": ["web1.example.com:9100"],
//!   "labels": {"__meta_brine_id": "web1", "__meta_brine_os": "Debian",
//!              "__meta_brine_roles": ",web,db,", "__meta_brine_connected": "true"}}]
//! ```
//!
//! Query parameters (all optional):
//! - `tgt`, `tgt_type`: which minions, as `brine` targets them (default
//!   `*`, `glob`); a bad expression answers 400 with the error.
//! - `port`: the port added to each address (default 9100, node exporter).
//! - `address`: the grain giving each address (default: `fqdn`, else the
//!   first non-loopback `ipv4`, else the first non-loopback `ipv6`; a minion
//!   without the named grain gets the default choice; the minion id when
//!   nothing is known).
//! - `grains`: comma-separated grains that become labels (default
//!   [`DEFAULT_LABEL_GRAINS`]; `*`: every grain that is a scalar or a list
//!   of scalars).
//!
//! Labels are `__meta_brine_<grain>` (characters outside `[a-zA-Z0-9_]`
//! become `_`), so relabeling decides what reaches the time series. A list
//! is joined by commas with a comma at each end (`,web,db,`), as
//! Prometheus's own discoveries join tags, so `regex: .*,web,.*` matches
//! one item exactly. `__meta_brine_id`, `__meta_brine_master` (this
//! master) and `__meta_brine_connected` (`true`/`false`; cluster-wide with
//! a shared store) are always there.
//!
//! At most four listings are computed at once; a request beyond that
//! answers 503 (Prometheus keeps its last list and asks again on its next
//! refresh).

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use brine_proto::targeting::TargetType;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::state::Master;

/// Grains that become labels unless `grains=` says otherwise: what a
/// relabeling rule usually selects or names hosts by.
pub const DEFAULT_LABEL_GRAINS: &[&str] = &[
    "fqdn",
    "host",
    "os",
    "os_family",
    "osrelease",
    "oscodename",
    "kernel",
    "virtual",
    "role",
    "roles",
    "appcode",
    "owner",
    "environment",
];

/// node exporter's port.
pub const DEFAULT_PORT: u16 = 9100;

/// Listings computed at once; more requests meanwhile answer 503 (each
/// walks the whole inventory on a blocking thread: a burst of scrapers
/// must not take every one).
const CONCURRENT_LISTINGS: usize = 4;

/// The permits for listings, one set per router.
#[derive(Clone)]
struct Listings(Arc<tokio::sync::Semaphore>);

/// The query string `/sd` reads (other parameters are ignored).
#[derive(Debug, Default, Deserialize)]
pub struct SdQuery {
    pub tgt: Option<String>,
    pub tgt_type: Option<String>,
    pub port: Option<String>,
    pub address: Option<String>,
    pub grains: Option<String>,
}

/// One target group of Prometheus's HTTP SD format.
#[derive(Debug, Serialize, PartialEq)]
pub struct TargetGroup {
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// Which grains become labels.
enum LabelGrains {
    All,
    These(Vec<String>),
}

/// What a request asked for, checked.
struct Request {
    expr: brine_proto::targeting::TargetExpr,
    port: u16,
    address: Option<String>,
    labels: LabelGrains,
}

pub fn routes() -> Router<Arc<Master>> {
    routes_limited(CONCURRENT_LISTINGS)
}

/// `/sd` computing at most `listings` listings at once.
pub fn routes_limited(listings: usize) -> Router<Arc<Master>> {
    let listings = Listings(Arc::new(tokio::sync::Semaphore::new(listings)));
    Router::new()
        .route("/sd", get(sd))
        .layer(Extension(listings))
}

async fn sd(
    State(master): State<Arc<Master>>,
    Extension(listings): Extension<Listings>,
    Query(q): Query<SdQuery>,
) -> Response {
    let req = match parse(&master, &q) {
        Ok(r) => r,
        Err(message) => return (StatusCode::BAD_REQUEST, message + "\n").into_response(),
    };
    let Ok(permit) = listings.0.try_acquire_owned() else {
        let busy = "too many service discovery requests at once; retry\n";
        return (StatusCode::SERVICE_UNAVAILABLE, busy).into_response();
    };
    // In a cluster a minion may be connected to another master.
    let elsewhere: HashSet<String> = if master.store.is_shared() {
        match master.store.load_presence().await {
            Ok(rows) => rows
                .into_iter()
                .filter(|p| p.connected)
                .map(|p| p.id)
                .collect(),
            Err(error) => {
                tracing::warn!(%error, "/sd: cannot read the cluster's presence");
                HashSet::new()
            }
        }
    } else {
        HashSet::new()
    };
    // Matching and decoding grains is work in proportion to the fleet:
    // off the runtime's threads.
    let m = master.clone();
    let listing = move || {
        // Held until the listing is done, even if the client went away.
        let _permit = permit;
        target_groups(&m, &req, &elsewhere)
    };
    match tokio::task::spawn_blocking(listing).await {
        Ok(groups) => Json(groups).into_response(),
        Err(error) => {
            tracing::error!(%error, "/sd: listing targets failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "listing targets failed\n",
            )
                .into_response()
        }
    }
}

fn parse(master: &Master, q: &SdQuery) -> Result<Request, String> {
    let tgt = q.tgt.as_deref().unwrap_or("*");
    let tgt_type = match q.tgt_type.as_deref() {
        None | Some("") => TargetType::Glob,
        Some(t) => t.parse::<TargetType>().map_err(|e| e.to_string())?,
    };
    let (_, _, expr) = crate::jobs::resolve_target(master, tgt, tgt_type)?;
    let port = match q.port.as_deref() {
        None | Some("") => DEFAULT_PORT,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| format!("port '{p}' is not a port number (1-65535)"))?,
    };
    let address = q
        .address
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(String::from);
    let labels = match q.grains.as_deref().map(str::trim) {
        None => LabelGrains::These(DEFAULT_LABEL_GRAINS.iter().map(|g| g.to_string()).collect()),
        Some("*") => LabelGrains::All,
        Some(list) => LabelGrains::These(
            list.split(',')
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .map(String::from)
                .collect(),
        ),
    };
    Ok(Request {
        expr,
        port,
        address,
        labels,
    })
}

/// The target groups for `req`, one per matching minion, by id.
fn target_groups(master: &Master, req: &Request, elsewhere: &HashSet<String>) -> Vec<TargetGroup> {
    let ids = crate::jobs::expected_minions(master, &req.expr);
    let mut wanted: Vec<String> = match &req.labels {
        LabelGrains::All => Vec::new(),
        LabelGrains::These(g) => g.clone(),
    };
    wanted.extend(["fqdn", "ipv4", "ipv6"].map(String::from));
    wanted.extend(req.address.clone());
    wanted.sort();
    wanted.dedup();
    ids.into_iter()
        .map(|id| {
            let grains = match req.labels {
                LabelGrains::All => master.grains(&id).map(|g| (*g).clone()),
                LabelGrains::These(_) => master.grains_select(&id, &wanted),
            }
            .unwrap_or_default();
            let connected = master.is_connected(&id) || elsewhere.contains(&id);
            group(master, req, &id, &grains, connected)
        })
        .collect()
}

fn group(
    master: &Master,
    req: &Request,
    id: &str,
    grains: &serde_json::Map<String, Value>,
    connected: bool,
) -> TargetGroup {
    let mut labels = BTreeMap::new();
    let names: Vec<&str> = match &req.labels {
        LabelGrains::All => grains.keys().map(String::as_str).collect(),
        LabelGrains::These(g) => g.iter().map(String::as_str).collect(),
    };
    for name in names {
        if let Some(value) = grains.get(name).and_then(label_value) {
            labels.insert(meta_label(name), value);
        }
    }
    labels.insert(meta_label("id"), id.to_string());
    labels.insert(meta_label("master"), master.config.id.clone());
    labels.insert(meta_label("connected"), connected.to_string());
    let host = req
        .address
        .as_deref()
        .and_then(|g| grains.get(g))
        .and_then(address_in)
        .or_else(|| default_address(grains))
        .unwrap_or_else(|| id.to_string());
    TargetGroup {
        targets: vec![host_port(&host, req.port)],
        labels,
    }
}

/// `__meta_brine_<name>`, with what a label name cannot hold made `_`.
pub fn meta_label(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("__meta_brine_{clean}")
}

/// A grain as a label value: scalars as text, a list of scalars joined
/// with commas (and one at each end); mappings and nulls are no label.
fn label_value(v: &Value) -> Option<String> {
    match v {
        Value::Array(items) => {
            let parts: Option<Vec<String>> = items.iter().map(scalar).collect();
            parts.map(|p| format!(",{},", p.join(",")))
        }
        other => scalar(other),
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An address from a grain: a string, or a list's first non-loopback item
/// (else its first).
fn address_in(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Array(items) => {
            let all: Vec<&str> = items
                .iter()
                .filter_map(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            all.iter()
                .find(|s| !is_loopback(s))
                .or(all.first())
                .map(|s| s.to_string())
        }
        _ => None,
    }
}

/// Whether an address only reaches the host itself (loopback), or needs
/// an interface to go with it (IPv6 link-local): no use to a scraper.
fn is_loopback(s: &str) -> bool {
    match s.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) if v6.segments()[0] & 0xffc0 == 0xfe80 => true,
        Ok(ip) => ip.is_loopback(),
        Err(_) => s == "localhost" || s.starts_with("localhost."),
    }
}

/// `fqdn` unless it is localhost, else the first non-loopback `ipv4`,
/// else the first non-loopback `ipv6`.
fn default_address(grains: &serde_json::Map<String, Value>) -> Option<String> {
    if let Some(Value::String(f)) = grains.get("fqdn") {
        if !f.trim().is_empty() && !is_loopback(f.trim()) {
            return Some(f.trim().to_string());
        }
    }
    ["ipv4", "ipv6"].iter().find_map(|g| {
        grains
            .get(*g)?
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .find(|a| !is_loopback(a))
            .map(String::from)
    })
}

/// `host:port`, with an IPv6 address in brackets.
fn host_port(host: &str, port: u16) -> String {
    match host.parse::<Ipv6Addr>() {
        Ok(v6) => format!("[{v6}]:{port}"),
        Err(_) => format!("{host}:{port}"),
    }
}
