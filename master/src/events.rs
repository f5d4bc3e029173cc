//! The master's event bus: every event the master sees (jobs, returns,
//! keys, authentication, presence, minions' own events, beacons, runners)
//! goes into one ring buffer bounded in bytes, and any number of consumers
//! read it at their own pace (`brine-run state.event`, the reactor, the
//! HTTP event stream).
//!
//! Firing never waits: when the ring is full the oldest events are
//! dropped, and a consumer that had not read them yet is told how many it
//! missed on its next read (Salt's reactor grew without bound behind a slow
//! consumer, salt#51493; here memory is the ring's bound, whoever reads).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use tokio::sync::watch;

/// The ring's default bound (`event_bus_max_bytes`).
pub const DEFAULT_MAX_BYTES: usize = 64 << 20;
/// An event whose data encodes larger than this keeps its tag and a
/// note instead of its data (`event_max_bytes`): one huge return cannot
/// push the rest of the ring out.
pub const DEFAULT_EVENT_MAX_BYTES: usize = 1 << 20;

/// One event as the bus carries it.
#[derive(Debug)]
pub struct BusEvent {
    /// Position on this master's bus (consecutive, from 1).
    pub seq: u64,
    pub tag: String,
    /// Salt's event data: a dict with `_stamp` (ISO 8601, UTC).
    pub data: Value,
    /// Unique across a cluster for events minions send (`<id>/<eid>`), so
    /// that the masters of one cluster react to each once; `None` for
    /// events only this master sees.
    pub cluster_key: Option<String>,
    /// What the event counts against the ring's bound.
    pub bytes: usize,
}

struct Ring {
    events: VecDeque<Arc<BusEvent>>,
    bytes: usize,
    /// The seq the next event gets.
    next_seq: u64,
}

/// Counters `/metrics` reads.
#[derive(Default)]
pub struct BusStats {
    pub fired: AtomicU64,
    /// Events pushed out of the ring before every consumer had read them
    /// is per consumer; this counts events pushed out at all.
    pub evicted: AtomicU64,
    /// Events whose data was replaced because it exceeded `event_max_bytes`.
    pub truncated: AtomicU64,
    /// Minions' events dropped by `minion_event_rate` (never on the bus,
    /// so no consumer is told of them).
    pub rate_limited: AtomicU64,
}

pub struct EventBus {
    ring: Mutex<Ring>,
    /// The seq of the newest event, for waking consumers.
    newest: watch::Sender<u64>,
    max_bytes: usize,
    event_max_bytes: usize,
    pub stats: BusStats,
}

/// What a consumer reads next.
#[derive(Debug)]
pub enum Received {
    Event(Arc<BusEvent>),
    /// This many events were dropped before this consumer read them.
    Missed(u64),
}

fn lock(m: &Mutex<Ring>) -> std::sync::MutexGuard<'_, Ring> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Salt's `_stamp`: ISO 8601 in UTC with microseconds, no offset.
pub fn stamp_now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

impl EventBus {
    pub fn new(max_bytes: usize, event_max_bytes: usize) -> Arc<EventBus> {
        let (newest, _) = watch::channel(0);
        Arc::new(EventBus {
            ring: Mutex::new(Ring {
                events: VecDeque::new(),
                bytes: 0,
                next_seq: 1,
            }),
            newest,
            max_bytes: max_bytes.max(1),
            event_max_bytes,
            stats: BusStats::default(),
        })
    }

    /// Fires `tag` with `data` (a dict; anything else is wrapped as
    /// `{"data": ...}`), adding `_stamp`. Never waits.
    pub fn fire(&self, tag: impl Into<String>, data: Value) -> u64 {
        self.fire_keyed(tag, data, None)
    }

    /// As [`EventBus::fire`], with the key the cluster dedups reactions by.
    pub fn fire_keyed(
        &self,
        tag: impl Into<String>,
        data: Value,
        cluster_key: Option<String>,
    ) -> u64 {
        let tag = tag.into();
        let mut data = match data {
            Value::Object(map) => map,
            other => {
                let mut map = Map::new();
                map.insert("data".into(), other);
                map
            }
        };
        data.insert("_stamp".into(), Value::String(stamp_now()));
        let encoded = tag.len() + serde_json::to_vec(&data).map(|v| v.len()).unwrap_or(0);
        if encoded > self.event_max_bytes {
            self.stats.truncated.fetch_add(1, Ordering::Relaxed);
            let stamp = data.remove("_stamp");
            data = Map::new();
            data.insert(
                "_truncated".into(),
                Value::String(format!(
                    "the event's data was {encoded} bytes, over event_max_bytes ({}); dropped",
                    self.event_max_bytes
                )),
            );
            if let Some(stamp) = stamp {
                data.insert("_stamp".into(), stamp);
            }
        }
        // The ring counts what an event holds in memory, not its encoded
        // size: a small minion event encodes to ~150 bytes but holds ~2 KiB
        // (bench/events.py measured a "64 MiB" ring at over 300 MiB).
        let data = Value::Object(data);
        let bytes = held_bytes(&tag, &data, cluster_key.as_deref());
        self.stats.fired.fetch_add(1, Ordering::Relaxed);
        let seq = {
            let mut ring = lock(&self.ring);
            let seq = ring.next_seq;
            ring.next_seq += 1;
            while ring.bytes + bytes > self.max_bytes {
                match ring.events.pop_front() {
                    Some(old) => {
                        ring.bytes -= old.bytes;
                        self.stats.evicted.fetch_add(1, Ordering::Relaxed);
                    }
                    None => break,
                }
            }
            ring.bytes += bytes;
            ring.events.push_back(Arc::new(BusEvent {
                seq,
                tag,
                data,
                cluster_key,
                bytes,
            }));
            seq
        };
        self.newest.send_replace(seq);
        seq
    }

    /// A consumer that reads every event fired from now on.
    pub fn subscribe(self: &Arc<Self>) -> Subscriber {
        let next = lock(&self.ring).next_seq;
        Subscriber {
            bus: self.clone(),
            next,
            newest: self.newest.subscribe(),
        }
    }

    /// Events held now, and the bytes they count.
    pub fn held(&self) -> (usize, usize) {
        let ring = lock(&self.ring);
        (ring.events.len(), ring.bytes)
    }
}

/// What an allocation of `n` bytes takes from the heap: glibc's malloc
/// adds an 8-byte header and rounds to 16.
fn alloc_bytes(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        (n + 8).div_ceil(16).max(2) * 16
    }
}

/// Heap bytes a JSON value holds: a string its buffer; an array its
/// slots; a map (an IndexMap: serde_json's `preserve_order`) its entries
/// (hash, key, value), grown by doubling, its index table, and its keys.
pub fn value_heap_bytes(value: &Value) -> usize {
    use std::mem::size_of;
    match value {
        Value::String(s) => alloc_bytes(s.capacity()),
        Value::Array(items) => {
            alloc_bytes(items.capacity() * size_of::<Value>())
                + items.iter().map(value_heap_bytes).sum::<usize>()
        }
        Value::Object(map) if !map.is_empty() => {
            let n = map.len();
            let entry = size_of::<u64>() + size_of::<String>() + size_of::<Value>();
            let entries = alloc_bytes(n.next_power_of_two().max(4) * entry);
            // hashbrown: buckets a power of two at most 7/8 full, a usize
            // and a control byte each, plus a group of control bytes
            let buckets = (n * 8).div_ceil(7).next_power_of_two().max(4);
            let index = alloc_bytes(buckets * (size_of::<usize>() + 1) + 16);
            entries
                + index
                + map
                    .iter()
                    .map(|(k, v)| alloc_bytes(k.capacity()) + value_heap_bytes(v))
                    .sum::<usize>()
        }
        _ => 0,
    }
}

/// What one event holds while the ring keeps it: the shared `BusEvent`,
/// its tag, cluster key and data, and its slot in the ring.
fn held_bytes(tag: &str, data: &Value, cluster_key: Option<&str>) -> usize {
    // an Arc's allocation: two counts and the event
    alloc_bytes(2 * std::mem::size_of::<usize>() + std::mem::size_of::<BusEvent>())
        + alloc_bytes(tag.len())
        + cluster_key.map_or(0, |k| alloc_bytes(k.len()))
        + value_heap_bytes(data)
        + std::mem::size_of::<Arc<BusEvent>>()
}

/// One consumer's position on the bus.
pub struct Subscriber {
    bus: Arc<EventBus>,
    next: u64,
    newest: watch::Receiver<u64>,
}

impl Subscriber {
    /// The next event, or how many were dropped before this consumer read
    /// them; `None` only when nothing is ready (see [`Subscriber::recv`]).
    pub fn try_recv(&mut self) -> Option<Received> {
        let ring = lock(&self.bus.ring);
        let first = ring.events.front().map(|e| e.seq).unwrap_or(ring.next_seq);
        if self.next < first {
            let missed = first - self.next;
            self.next = first;
            return Some(Received::Missed(missed));
        }
        let event = ring.events.get((self.next - first) as usize)?.clone();
        self.next += 1;
        Some(Received::Event(event))
    }

    /// Waits for the next event (or a report of missed ones).
    pub async fn recv(&mut self) -> Received {
        loop {
            if let Some(r) = self.try_recv() {
                return r;
            }
            // The bus lives as long as the master; a closed sender means
            // it is going away: wait forever, the task is being aborted.
            if self.newest.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Whether an event's tag matches a consumer's glob (Salt's fnmatch: `*`
/// crosses `/`).
pub fn tag_matches(pattern: &str, tag: &str) -> bool {
    crate::store::glob_matches(pattern, tag)
}

/// Connections and disconnections since the last `brine/presence/change`
/// (Salt's presence event): one event a second at most, whatever the
/// fleet does, so a reconnect storm of 10,000 minions is a few events.
#[derive(Default)]
pub struct PresenceChanges {
    pending: Mutex<(
        std::collections::BTreeSet<String>,
        std::collections::BTreeSet<String>,
    )>,
}

impl PresenceChanges {
    pub fn changed(&self, id: &str, up: bool) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let (new, lost) = &mut *p;
        if up {
            // Lost and back within the second: no change to report.
            if !lost.remove(id) {
                new.insert(id.to_string());
            }
        } else if !new.remove(id) {
            lost.insert(id.to_string());
        }
    }

    fn take(&self) -> (Vec<String>, Vec<String>) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let (new, lost) = std::mem::take(&mut *p);
        (new.into_iter().collect(), lost.into_iter().collect())
    }
}

/// Fires `brine/presence/change` with `new` and `lost` minion ids every
/// second in which some connected or disconnected.
pub async fn presence_loop(master: Arc<crate::state::Master>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (new, lost) = master.presence.take();
        if !new.is_empty() || !lost.is_empty() {
            master.events.fire(
                "brine/presence/change",
                serde_json::json!({"new": new, "lost": lost}),
            );
        }
    }
}

/// Salt's `arg` of a job event: the positional arguments, then the keyword
/// ones as a dict marked `__kwarg__`.
fn salt_args(arg: &[Value], kwarg: &Map<String, Value>) -> Value {
    let mut out = arg.to_vec();
    if !kwarg.is_empty() {
        let mut k = kwarg.clone();
        k.insert("__kwarg__".into(), Value::Bool(true));
        out.push(Value::Object(k));
    }
    Value::Array(out)
}

/// `brine/job/<jid>/new`: a job went out to `minions`.
pub fn fire_job_new(bus: &EventBus, job: &brine_proto::Job, minions: &[String]) {
    bus.fire(
        format!("brine/job/{}/new", job.jid),
        serde_json::json!({
            "jid": job.jid.to_string(),
            "tgt": job.tgt,
            "tgt_type": job.tgt_type,
            "fun": job.fun,
            "arg": salt_args(&job.arg, &job.kwarg),
            "user": job.user,
            "minions": minions,
            "missing": [],
        }),
    );
}

/// `brine/job/<jid>/ret/<id>`: a return committed to the store.
pub fn fire_return(bus: &EventBus, ret: &brine_proto::JobReturn) {
    let mut data = serde_json::json!({
        "cmd": "_return",
        "id": ret.id,
        "jid": ret.jid.to_string(),
        "fun": ret.fun,
        "return": ret.ret,
        "retcode": ret.retcode,
        "success": ret.success,
    });
    if let Some(error) = &ret.error {
        data["error"] = serde_json::json!({"kind": error.kind, "message": error.message});
    }
    bus.fire(format!("brine/job/{}/ret/{}", ret.jid, ret.id), data);
}

/// `brine/run/<jid>/new`: a runner started.
pub fn fire_run_new(
    bus: &EventBus,
    jid: brine_proto::JobId,
    fun: &str,
    arg: &[Value],
    kwarg: &Map<String, Value>,
    user: &str,
) {
    bus.fire(
        format!("brine/run/{jid}/new"),
        serde_json::json!({"jid": jid.to_string(), "fun": format!("runner.{fun}"), "fun_args": salt_args(arg, kwarg), "user": user}),
    );
}

/// `brine/run/<jid>/ret`: a runner finished.
pub fn fire_run_ret(
    bus: &EventBus,
    jid: brine_proto::JobId,
    fun: &str,
    user: &str,
    reply: &brine_proto::CliReply,
) {
    let (ret, success) = match reply {
        brine_proto::CliReply::Value { value } => {
            // A runner that reports failure (orchestrate) carries a retcode.
            let ok = value
                .get("retcode")
                .and_then(Value::as_i64)
                .is_none_or(|c| c == 0);
            (value.clone(), ok)
        }
        brine_proto::CliReply::Error { message } => (Value::String(message.clone()), false),
        other => (serde_json::to_value(other).unwrap_or(Value::Null), true),
    };
    bus.fire(
        format!("brine/run/{jid}/ret"),
        serde_json::json!({"jid": jid.to_string(), "fun": format!("runner.{fun}"), "user": user, "return": ret, "success": success}),
    );
}

/// Most bytes of a tag a minion may send.
const MAX_TAG_LEN: usize = 512;

/// A per-session token bucket for the events a minion sends.
pub struct EventRate {
    per_sec: f64,
    tokens: f64,
    at: std::time::Instant,
    dropped: u64,
}

impl EventRate {
    pub fn new(per_sec: f64) -> EventRate {
        let per_sec = per_sec.max(0.0);
        EventRate {
            per_sec,
            tokens: per_sec * 10.0,
            at: std::time::Instant::now(),
            dropped: 0,
        }
    }

    fn admit(&mut self) -> bool {
        let now = std::time::Instant::now();
        let burst = self.per_sec * 10.0;
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * self.per_sec).min(burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            self.dropped += 1;
            false
        }
    }
}

/// Why a minion's event is not put on the bus, if it is not.
pub fn check_minion_tag(id: &str, tag: &str) -> Result<(), String> {
    if tag.is_empty() || tag.len() > MAX_TAG_LEN {
        return Err(format!("an event tag must be 1 to {MAX_TAG_LEN} bytes"));
    }
    if tag.chars().any(char::is_control) {
        return Err("an event tag must not hold control characters".into());
    }
    // The master's own tags speak for the master: a minion may only send
    // its own start and beacon events under them (a minion forging
    // brine/key or another's job return would steer the reactor).
    if tag.starts_with("brine/") || tag.starts_with("salt/") {
        let own_beacon = format!("brine/beacon/{id}/");
        let own_start = format!("brine/minion/{id}/start");
        let own_result = tag
            .strip_prefix("brine/state_result/")
            .and_then(|rest| rest.split('/').nth(1))
            == Some(id);
        if !(tag.starts_with(&own_beacon) || tag == own_start || own_result) {
            return Err(format!(
                "tags under brine/ and salt/ are the master's; a minion may send only {own_beacon}..., brine/state_result/<jid>/{id}/... and {own_start}"
            ));
        }
    }
    Ok(())
}

/// An event a minion sent (`MinionMsg::Event`): its id comes from the
/// session's certificate, whatever the data says. Shaped as Salt's
/// `fire_master` events: `{"id", "cmd": "_minion_event", "tag", "data"}`,
/// except beacon events, whose data is the beacon's own dict plus `id`.
pub fn minion_event(
    master: &crate::state::Master,
    id: &str,
    tag: String,
    data: Value,
    eid: Option<String>,
    rate: &mut EventRate,
) {
    if let Err(reason) = check_minion_tag(id, &tag) {
        tracing::warn!(minion_id = %id, tag = %tag.chars().take(80).collect::<String>(), %reason, "event from minion refused");
        return;
    }
    if !rate.admit() {
        master
            .events
            .stats
            .rate_limited
            .fetch_add(1, Ordering::Relaxed);
        if rate.dropped.is_power_of_two() {
            tracing::warn!(minion_id = %id, dropped = rate.dropped, per_sec = rate.per_sec, "minion sends events faster than minion_event_rate; dropping some");
        }
        return;
    }
    let data = if tag.starts_with("brine/beacon/") || tag.starts_with("brine/minion/") {
        let mut map = match data {
            Value::Object(m) => m,
            other => {
                let mut m = Map::new();
                m.insert("data".into(), other);
                m
            }
        };
        map.insert("id".into(), Value::String(id.to_string()));
        Value::Object(map)
    } else {
        serde_json::json!({"id": id, "cmd": "_minion_event", "tag": tag, "data": data, "pretag": null})
    };
    let key = eid
        .filter(|e| !e.is_empty() && e.len() <= 64)
        .map(|e| format!("{id}/{e}"));
    master.events.fire_keyed(tag, data, key);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn consumers_read_every_event_in_order() {
        let bus = EventBus::new(DEFAULT_MAX_BYTES, DEFAULT_EVENT_MAX_BYTES);
        let mut a = bus.subscribe();
        let mut b = bus.subscribe();
        bus.fire("t/1", json!({"n": 1}));
        bus.fire("t/2", json!({"n": 2}));
        for sub in [&mut a, &mut b] {
            for n in 1..=2 {
                match sub.recv().await {
                    Received::Event(e) => {
                        assert_eq!(e.tag, format!("t/{n}"));
                        assert_eq!(e.data["n"], n);
                        assert!(e.data["_stamp"].is_string());
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
        assert!(a.try_recv().is_none());
    }

    #[tokio::test]
    async fn a_slow_consumer_is_told_what_it_missed_and_firing_never_waits() {
        let bus = EventBus::new(10_000, DEFAULT_EVENT_MAX_BYTES);
        let mut slow = bus.subscribe();
        for n in 0..1000 {
            bus.fire("t", json!({"n": n}));
        }
        let (held, bytes) = bus.held();
        assert!(bytes <= 10_000, "{bytes}");
        assert!(held < 1000);
        match slow.recv().await {
            Received::Missed(m) => assert_eq!(m as usize, 1000 - held),
            other => panic!("{other:?}"),
        }
        match slow.recv().await {
            Received::Event(e) => assert_eq!(e.data["n"], (1000 - held) as i64),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_waiting_consumer_wakes_on_fire() {
        let bus = EventBus::new(DEFAULT_MAX_BYTES, DEFAULT_EVENT_MAX_BYTES);
        let mut sub = bus.subscribe();
        let b = bus.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            b.fire("late", json!({}));
        });
        match sub.recv().await {
            Received::Event(e) => assert_eq!(e.tag, "late"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn oversized_data_is_replaced_by_a_note() {
        let bus = EventBus::new(DEFAULT_MAX_BYTES, 1000);
        let mut sub = bus.subscribe();
        bus.fire("big", json!({"x": "y".repeat(5000)}));
        let Some(Received::Event(e)) = sub.try_recv() else {
            panic!()
        };
        assert!(e.data["_truncated"]
            .as_str()
            .unwrap()
            .contains("event_max_bytes"));
        assert!(e.data.get("x").is_none());
        assert!(bus.stats.truncated.load(Ordering::Relaxed) == 1);
    }

    #[test]
    fn minions_cannot_speak_for_the_master() {
        assert!(check_minion_tag("m1", "myco/deploy/done").is_ok());
        assert!(check_minion_tag("m1", "brine/beacon/m1/diskusage/").is_ok());
        assert!(check_minion_tag("m1", "brine/minion/m1/start").is_ok());
        assert!(check_minion_tag("m1", "brine/state_result/123/m1/web").is_ok());
        assert!(check_minion_tag("m1", "brine/state_result/123/m2/web").is_err());
        assert!(check_minion_tag("m1", "brine/beacon/m2/diskusage/").is_err());
        assert!(check_minion_tag("m1", "brine/key").is_err());
        assert!(check_minion_tag("m1", "salt/auth").is_err());
        assert!(check_minion_tag("m1", "brine/job/1/ret/m2").is_err());
        assert!(check_minion_tag("m1", "").is_err());
        assert!(check_minion_tag("m1", &"x".repeat(600)).is_err());
    }

    #[test]
    fn the_rate_limit_allows_a_burst_then_the_rate() {
        let mut r = EventRate::new(10.0);
        let passed = (0..1000).filter(|_| r.admit()).count();
        assert!((100..=101).contains(&passed), "{passed}");
    }

    #[test]
    fn presence_reports_net_changes() {
        let p = PresenceChanges::default();
        p.changed("a", true);
        p.changed("b", false);
        p.changed("c", true);
        p.changed("c", false);
        assert_eq!(p.take(), (vec!["a".to_string()], vec!["b".to_string()]));
        assert_eq!(p.take(), (vec![], vec![]));
    }

    #[test]
    fn tags_match_like_salt() {
        assert!(tag_matches("brine/job/*/ret/*", "brine/job/1/ret/web1"));
        assert!(tag_matches(
            "brine/beacon/*/diskusage/*",
            "brine/beacon/m1/diskusage/"
        ));
        assert!(!tag_matches("brine/job/*/new", "brine/job/1/ret/web1"));
    }
}
