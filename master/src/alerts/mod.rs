//! Alerts: `alert.send` (a reactor action and a runner) builds an alert
//! (title, severity, business impact, observed and expected state, links,
//! and context: the minion's grains from the inventory with its `owner` and
//! `appcode`, the time, the triggering event), renders it for each channel
//! and spools it on disk; a delivery task POSTs it to the channel's webhook,
//! retrying with exponential back-off until it is delivered or expires
//! (`retry.max_age`: counted in `alerts_expired` and logged as an error).
//! Nothing is lost silently: a full spool refuses new alerts with an error.

pub mod conf;
pub mod spool;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::sync::Notify;
use tracing::{error, info, warn};

use crate::counters::Counters;
use crate::state::Master;
use crate::store::now_ms;
use conf::{AlertsConfig, Channel};
use spool::{Delivery, Spool};

/// Deliveries attempted at once.
const MAX_IN_FLIGHT: usize = 8;

/// The grains an alert's context carries (the whole grains of a host are
/// kilobytes a chat message does not want).
const CONTEXT_GRAINS: &[&str] = &[
    "id",
    "host",
    "fqdn",
    "os",
    "osrelease",
    "kernel",
    "ipv4",
    "roles",
    "environment",
    "owner",
    "appcode",
];

pub struct Alerts {
    config: AlertsConfig,
    spool: Mutex<Spool>,
    wake: Notify,
    seq: std::sync::atomic::AtomicU64,
}

fn lock(m: &Mutex<Spool>) -> std::sync::MutexGuard<'_, Spool> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn text_arg(kwarg: &Map<String, Value>, name: &str) -> Option<String> {
    match kwarg.get(name)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The alert dict every channel gets (or renders its template from).
pub fn build_alert(
    id: &str,
    master_id: &str,
    kwarg: &Map<String, Value>,
    minion: Option<(&str, Option<&Map<String, Value>>)>,
    event: Option<(&str, &Value)>,
) -> Result<Value, String> {
    let title = text_arg(kwarg, "title").ok_or("alert.send: missing required argument 'title'")?;
    let links: Vec<Value> = match kwarg.get("links") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(l)) => l.clone(),
        Some(other) => vec![other.clone()],
    };
    let mut context = Map::new();
    context.insert(
        "time".into(),
        Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    );
    context.insert("master".into(), Value::String(master_id.to_string()));
    if let Some((mid, grains)) = minion {
        context.insert("minion".into(), Value::String(mid.to_string()));
        let mut picked = Map::new();
        if let Some(g) = grains {
            for k in CONTEXT_GRAINS {
                if let Some(v) = g.get(*k) {
                    picked.insert(k.to_string(), v.clone());
                }
            }
        }
        for k in ["owner", "appcode"] {
            context.insert(k.into(), picked.get(k).cloned().unwrap_or(Value::Null));
        }
        context.insert("grains".into(), Value::Object(picked));
    }
    if let Some((tag, data)) = event {
        context.insert("event".into(), json!({"tag": tag, "data": data}));
    }
    match kwarg.get("context") {
        None | Some(Value::Null) => {}
        Some(Value::Object(extra)) => {
            for (k, v) in extra {
                context.insert(k.clone(), v.clone());
            }
        }
        Some(other) => return Err(format!("alert.send: context {other} is not a mapping")),
    }
    Ok(json!({
        "id": id,
        "title": title,
        "severity": text_arg(kwarg, "severity").unwrap_or_else(|| "warning".into()),
        "impact": text_arg(kwarg, "impact"),
        "observed": text_arg(kwarg, "observed"),
        "expected": text_arg(kwarg, "expected"),
        "links": links,
        "context": context,
    }))
}

/// The channels `channel` names (a name, a list, or unset: all).
fn chosen_channels(config: &AlertsConfig, arg: Option<&Value>) -> Result<Vec<String>, String> {
    let names: Vec<String> = match arg {
        None | Some(Value::Null) => config.channels.keys().cloned().collect(),
        Some(Value::String(s)) => s.split(',').map(|c| c.trim().to_string()).collect(),
        Some(Value::Array(l)) => l
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect(),
        Some(other) => return Err(format!("alert.send: channel {other} is not a name")),
    };
    if names.is_empty() {
        return Err("alert.send: no alert channels are configured (alerts: channels:)".into());
    }
    for n in &names {
        if !config.channels.contains_key(n) {
            return Err(format!(
                "alert.send: no channel '{n}' (configured: {})",
                config
                    .channels
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(names)
}

/// The body a channel POSTs: its template rendered with the alert's
/// fields (and `alert`, the whole dict), else the alert as JSON.
fn render_body(master: &Master, channel: &Channel, alert: &Value) -> Result<String, String> {
    let Some(template) = &channel.template else {
        return Ok(alert.to_string());
    };
    let mut extra = alert.as_object().cloned().unwrap_or_default();
    extra.insert("alert".into(), alert.clone());
    let grains = Map::new();
    let opts = json!({"id": master.config.id, "__role": "master"});
    let files = crate::orchestrate::ServedFiles(&master.files);
    let renderer = crate::fileserver::pillar_renderer(&files, &grains, &opts, None);
    brine_states::render::render_template(&renderer.env("base"), "alert-template", template, &extra)
        .map_err(|e| format!("alert template: {e}"))
}

impl Alerts {
    pub fn new(config: AlertsConfig, cachedir: &std::path::Path) -> Alerts {
        let spool = Spool::new(
            cachedir.join("alerts"),
            config.max_spooled,
            config.max_spooled_bytes,
        );
        Alerts {
            config,
            spool: Mutex::new(spool),
            wake: Notify::new(),
            seq: Default::default(),
        }
    }

    /// Salt-style `alert.send`: builds the alert, spools one delivery per
    /// channel (on disk before it returns) and wakes the delivery task.
    /// Blocking (file writes with fsync). The alert's id.
    pub fn send(
        &self,
        master: &Master,
        kwarg: &Map<String, Value>,
        event: Option<(&str, &Value)>,
    ) -> Result<String, String> {
        let channels = chosen_channels(&self.config, kwarg.get("channel"))?;
        let created = now_ms();
        let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let alert_id = format!("{created}-{}-{seq}", std::process::id());
        let minion_id = text_arg(kwarg, "minion").or_else(|| {
            event
                .and_then(|(_, d)| d.get("id"))
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        let grains = minion_id.as_deref().and_then(|m| master.grains(m));
        let minion = minion_id.as_deref().map(|m| (m, grains.as_deref()));
        let alert = build_alert(&alert_id, &master.config.id, kwarg, minion, event)?;
        let title = alert["title"].as_str().unwrap_or_default().to_string();
        // Every body first: a template error refuses the alert before
        // anything is spooled.
        let mut bodies = Vec::new();
        for name in &channels {
            bodies.push((
                name,
                render_body(master, &self.config.channels[name], &alert)?,
            ));
        }
        let mut spool = lock(&self.spool);
        for (name, body) in bodies {
            let d = Delivery {
                id: format!("{alert_id}-{name}"),
                channel: name.clone(),
                title: title.clone(),
                created_ms: created,
                attempts: 0,
                next_ms: created,
                last_error: None,
                body,
            };
            if let Err(e) = spool.add(d) {
                error!(alert = %alert_id, channel = %name, title = %title, error = %e, "alert not spooled");
                return Err(e.to_string());
            }
        }
        drop(spool);
        self.wake.notify_one();
        Ok(alert_id)
    }

    fn backoff(&self, attempts: u32) -> Duration {
        let exp = 2f64.powi(attempts.saturating_sub(1).min(30) as i32);
        let d = self.config.backoff.as_secs_f64() * exp;
        // a little jitter so that channels recovering together are not hit at once
        let jitter = 1.0 + fastrand::f64() * 0.1;
        Duration::from_secs_f64((d * jitter).min(self.config.backoff_max.as_secs_f64()))
    }

    pub fn spooled(&self) -> usize {
        lock(&self.spool).len()
    }
}

/// POSTs one delivery; Ok on a 2xx answer.
fn post(channel: &Channel, body: &str) -> Result<u16, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(channel.timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = ureq::http::Request::builder()
        .method("POST")
        .uri(&channel.url)
        .header("Content-Type", "application/json");
    for (k, v) in &channel.headers {
        req = req.header(k, v);
    }
    let req = req
        .body(body.as_bytes().to_vec())
        .map_err(|e| e.to_string())?;
    let resp = agent.run(req).map_err(|e| e.to_string())?;
    let code = resp.status().as_u16();
    if (200..300).contains(&code) {
        Ok(code)
    } else {
        Err(format!("HTTP {code}"))
    }
}

/// Delivers spooled alerts until the master stops: what a previous run
/// left first, then each new one as it is sent.
pub async fn delivery_loop(master: Arc<Master>) {
    let alerts = &master.alerts;
    let m = master.clone();
    match tokio::task::spawn_blocking(move || lock(&m.alerts.spool).load()).await {
        Ok(Ok(problems)) => {
            for p in problems {
                error!("alert spool: unreadable alert {p}");
            }
            let n = alerts.spooled();
            if n > 0 {
                info!(pending = n, "alert spool: resuming delivery");
            }
        }
        Ok(Err(e)) => error!(error = %e, "alert spool: cannot read it; alerts cannot be sent"),
        Err(e) => error!(error = %e, "alert spool: load task failed"),
    }
    let mut in_flight = tokio::task::JoinSet::new();
    loop {
        while in_flight.len() < MAX_IN_FLIGHT {
            let Some(d) = lock(&alerts.spool).take_due(now_ms()) else {
                break;
            };
            let channel = alerts.config.channels.get(&d.channel).cloned();
            in_flight.spawn_blocking(move || {
                let outcome = match &channel {
                    Some(c) => post(c, &d.body),
                    None => Err(format!("channel '{}' is no longer configured", d.channel)),
                };
                (d, outcome)
            });
        }
        let wait = lock(&alerts.spool)
            .next_due()
            .map(|t| Duration::from_millis((t - now_ms()).clamp(0, 60_000) as u64))
            .unwrap_or(Duration::from_secs(60));
        tokio::select! {
            Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                if let Ok((d, outcome)) = done {
                    finish(&master, d, outcome);
                }
            }
            _ = alerts.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

fn finish(master: &Master, d: Delivery, outcome: Result<u16, String>) {
    let alerts = &master.alerts;
    let mut spool = lock(&alerts.spool);
    match outcome {
        Ok(code) => {
            spool.remove(&d.id);
            Counters::bump(&master.counters.alerts_delivered);
            info!(alert = %d.id, channel = %d.channel, title = %d.title, status = code, attempts = d.attempts + 1, "alert delivered");
        }
        Err(e) => {
            Counters::bump(&master.counters.alerts_failed);
            let now = now_ms();
            if now - d.created_ms >= alerts.config.max_age.as_millis() as i64 {
                spool.remove(&d.id);
                Counters::bump(&master.counters.alerts_expired);
                error!(alert = %d.id, channel = %d.channel, title = %d.title, attempts = d.attempts + 1, error = %e,
                    "alert expired undelivered (retry.max_age)");
                return;
            }
            let next = now + alerts.backoff(d.attempts + 1).as_millis() as i64;
            warn!(alert = %d.id, channel = %d.channel, title = %d.title, attempts = d.attempts + 1, error = %e,
                "alert delivery failed; retrying");
            if let Err(werr) = spool.retry_later(&d.id, next, e) {
                error!(alert = %d.id, error = %werr, "alert spool: cannot record the failed attempt (the alert stays pending in memory)");
            }
        }
    }
}

/// The `alert.send` runner (`brine-run alert.send title=... channel=...`).
pub fn send_runner(
    master: &Master,
    arg: &[Value],
    kwarg: &Map<String, Value>,
) -> Result<Value, String> {
    let mut kwarg = kwarg.clone();
    if let Some(Value::String(t)) = arg.first() {
        kwarg.entry("title").or_insert(Value::String(t.clone()));
    }
    let id = master.alerts.send(master, &kwarg, None)?;
    Ok(json!({"id": id, "spooled": true}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alert_carries_what_an_operator_needs() {
        let kwarg = json!({
            "title": "disk / at 95%", "severity": "critical", "impact": "web1 stops serving",
            "observed": "95%", "expected": "< 90%", "links": "http://runbook/disk",
            "context": {"ticket": "OPS-1"}
        });
        let grains = json!({"id": "web1", "os": "Debian", "owner": "team-web", "appcode": "SHOP", "cpu_flags": ["x"]});
        let data = json!({"id": "web1", "diskusage": 95});
        let a = build_alert(
            "a1",
            "m",
            kwarg.as_object().unwrap(),
            Some(("web1", grains.as_object())),
            Some(("brine/beacon/web1/diskusage/", &data)),
        )
        .unwrap();
        assert_eq!(a["severity"], "critical");
        assert_eq!(a["links"], json!(["http://runbook/disk"]));
        let c = &a["context"];
        assert_eq!(c["owner"], "team-web");
        assert_eq!(c["appcode"], "SHOP");
        assert_eq!(c["grains"]["os"], "Debian");
        assert!(c["grains"].get("cpu_flags").is_none());
        assert_eq!(c["event"]["data"]["diskusage"], 95);
        assert_eq!(c["ticket"], "OPS-1");
        assert!(c["time"].as_str().unwrap().ends_with('Z'));
        let e = build_alert("a", "m", &Map::new(), None, None).unwrap_err();
        assert!(e.contains("title"), "{e}");
    }

    #[test]
    fn channels_default_to_all_and_unknown_ones_are_errors() {
        let mut c = AlertsConfig::default();
        assert!(chosen_channels(&c, None).is_err());
        for n in ["a", "b"] {
            c.channels.insert(
                n.into(),
                Channel {
                    url: "http://127.0.0.1:1/".into(),
                    template: None,
                    headers: Default::default(),
                    timeout: Duration::from_secs(1),
                },
            );
        }
        assert_eq!(chosen_channels(&c, None).unwrap(), ["a", "b"]);
        assert_eq!(chosen_channels(&c, Some(&json!("b"))).unwrap(), ["b"]);
        assert!(chosen_channels(&c, Some(&json!(["a", "zz"]))).is_err());
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let c = AlertsConfig {
            backoff: Duration::from_secs(1),
            backoff_max: Duration::from_secs(10),
            ..Default::default()
        };
        let a = Alerts::new(c, std::path::Path::new("/nonexistent"));
        let b1 = a.backoff(1).as_secs_f64();
        let b3 = a.backoff(3).as_secs_f64();
        assert!((1.0..1.2).contains(&b1), "{b1}");
        assert!((4.0..4.5).contains(&b3), "{b3}");
        assert!(a.backoff(20).as_secs_f64() <= 10.0);
    }
}
