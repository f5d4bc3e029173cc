//! Synthetic events for `brine-swarm`, to measure the master's event bus
//! at fleet size: each simulated minion sends events at a set rate, and a
//! flapping `diskusage` beacon if asked, through its own
//! [`MasterClient::send_event`], so they travel its real TLS session as
//! its `event.send` or its beacons' events would.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::{MasterClient, RequestError};

/// The tag synthetic events get unless told otherwise.
pub const DEFAULT_TAG: &str = "bench/event";

/// The diskusage beacon's threshold the flapping beacon crosses each time.
const FLAP_THRESHOLD_PCT: f64 = 90.0;

/// A schedule that fell this far behind (the swarm starved of CPU, or not
/// connected for a while) starts again from now instead of catching up in
/// a burst: the figures then show the rate really sent.
const MAX_LAG: Duration = Duration::from_secs(1);

/// What the minions of a swarm send besides their returns.
#[derive(Debug, Clone, Default)]
pub struct EventLoad {
    /// Events per second each minion sends (0: none).
    pub rate: f64,
    /// Their tag.
    pub tag: String,
    /// Seconds between two events of each minion's flapping diskusage
    /// beacon (`None`: no beacon).
    pub flap_beacon: Option<Duration>,
    /// Counts the swarm's process reports.
    pub counts: Arc<EventCounts>,
}

/// Events of a swarm process so far.
#[derive(Debug, Default)]
pub struct EventCounts {
    /// Events handed to a session (`bench/event` and the like).
    pub sent: AtomicU64,
    /// Beacon events handed to a session.
    pub beacons: AtomicU64,
    /// Events not sent: no session up, or every session's queue full.
    pub unsent: AtomicU64,
}

impl EventCounts {
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.beacons.load(Ordering::Relaxed),
            self.unsent.load(Ordering::Relaxed),
        )
    }
}

impl EventLoad {
    /// Whether minions send anything at all.
    pub fn is_active(&self) -> bool {
        self.rate > 0.0 || self.flap_beacon.is_some()
    }

    /// Starts the tasks that send minion `id`'s events through `client`.
    pub fn start(&self, id: &str, client: &MasterClient) -> Vec<JoinHandle<()>> {
        let mut tasks = Vec::new();
        if self.rate > 0.0 {
            let mean = Duration::from_secs_f64(1.0 / self.rate);
            let (tag, client, counts) = (self.tag.clone(), client.clone(), self.counts.clone());
            tasks.push(tokio::spawn(async move {
                let mut n: u64 = 0;
                every(mean, &client, move |client| {
                    n += 1;
                    let data = json!({"n": n, "sent_at": unix_now()});
                    count(&counts.sent, &counts, client.send_event(&tag, data));
                })
                .await
            }));
        }
        if let Some(interval) = self.flap_beacon {
            let tag = format!("brine/beacon/{id}/diskusage//");
            let (client, counts) = (client.clone(), self.counts.clone());
            tasks.push(tokio::spawn(async move {
                let mut above = fastrand::bool();
                every(interval, &client, move |client| {
                    above = !above;
                    let data = flap_data(above);
                    count(&counts.beacons, &counts, client.send_event(&tag, data));
                })
                .await
            }));
        }
        tasks
    }
}

/// The flapping beacon's data: what the diskusage beacon sends for `/`,
/// above or below its threshold.
pub fn flap_data(above: bool) -> Value {
    let pct = if above {
        FLAP_THRESHOLD_PCT + 5.0
    } else {
        FLAP_THRESHOLD_PCT - 40.0
    };
    json!({"diskusage": pct, "mount": "/"})
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn count(ok: &AtomicU64, counts: &EventCounts, sent: Result<usize, RequestError>) {
    match sent {
        Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
        Err(_) => counts.unsent.fetch_add(1, Ordering::Relaxed),
    };
}

/// The next wait: `mean` spread uniformly over half to one and a half
/// times itself, so a fleet's events do not arrive in lockstep.
pub fn jittered(mean: Duration) -> Duration {
    mean.mul_f64(0.5 + fastrand::f64())
}

/// Calls `send` every `mean` (jittered) once `client` has first connected,
/// forever (the swarm aborts the task).
async fn every(mean: Duration, client: &MasterClient, mut send: impl FnMut(&MasterClient)) {
    while !client.is_connected() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // a random phase: minions that connected together do not send together
    let mut next = Instant::now() + mean.mul_f64(fastrand::f64());
    loop {
        tokio::time::sleep_until(next).await;
        send(client);
        next += jittered(mean);
        let now = Instant::now();
        if now > next + MAX_LAG {
            next = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_beacon_flaps_across_the_threshold() {
        let above = flap_data(true);
        let below = flap_data(false);
        assert!(above["diskusage"].as_f64().unwrap() > FLAP_THRESHOLD_PCT);
        assert!(below["diskusage"].as_f64().unwrap() < FLAP_THRESHOLD_PCT);
        assert_eq!(above["mount"], "/");
    }

    #[test]
    fn jitter_stays_within_half_to_one_and_a_half() {
        let mean = Duration::from_millis(100);
        let waits: Vec<Duration> = (0..1000).map(|_| jittered(mean)).collect();
        assert!(waits.iter().all(|w| *w >= mean / 2 && *w < mean * 3 / 2));
        let total: Duration = waits.iter().sum();
        let avg = total / 1000;
        assert!(avg > Duration::from_millis(90) && avg < Duration::from_millis(110));
    }

    #[tokio::test]
    async fn nothing_is_sent_before_a_master_is_connected() {
        let client = MasterClient::new(&["m1".to_string()]);
        let load = EventLoad {
            rate: 1000.0,
            tag: DEFAULT_TAG.into(),
            flap_beacon: Some(Duration::from_millis(1)),
            counts: Arc::default(),
        };
        let tasks = load.start("sw-1", &client);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(load.counts.snapshot(), (0, 0, 0));
        for t in tasks {
            t.abort();
        }
    }

    #[tokio::test]
    async fn events_and_beacons_go_through_the_session() {
        let client = MasterClient::new(&["m1".to_string()]);
        let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
        client.open_session("m1", tx, Arc::new(crate::liveness::Pulse::new()));
        let load = EventLoad {
            rate: 200.0,
            tag: "bench/x".into(),
            flap_beacon: Some(Duration::from_millis(5)),
            counts: Arc::default(),
        };
        let tasks = load.start("sw-1", &client);
        let (mut events, mut beacons) = (Vec::new(), Vec::new());
        while events.len() < 3 || beacons.len() < 2 {
            match rx.recv().await {
                Some(brine_proto::MinionMsg::Event { tag, data, eid }) => {
                    assert!(eid.is_some());
                    if tag == "bench/x" {
                        events.push(data);
                    } else {
                        assert_eq!(tag, "brine/beacon/sw-1/diskusage//");
                        beacons.push(data);
                    }
                }
                other => panic!("{other:?}"),
            }
        }
        for t in tasks {
            t.abort();
        }
        // numbered from 1, stamped with the time sent
        assert_eq!(events[0]["n"], 1);
        assert_eq!(events[2]["n"], 3);
        assert!(events[0]["sent_at"].as_f64().unwrap() > 1.0e9);
        // consecutive beacon events fall on either side of the threshold
        let a = beacons[0]["diskusage"].as_f64().unwrap();
        let b = beacons[1]["diskusage"].as_f64().unwrap();
        assert!(
            (a > FLAP_THRESHOLD_PCT) != (b > FLAP_THRESHOLD_PCT),
            "{a} {b}"
        );
        let (sent, beaconed, _) = load.counts.snapshot();
        assert!(sent >= 3 && beaconed >= 2);
    }
}
