//! Beacon events waiting for a master: a queue bounded in count and in
//! bytes. When no master is connected, events wait here; when it is full,
//! the oldest are dropped (and said so in the log), so a minion cut off
//! from its masters for a day holds a few hundred KiB, not a day of events.

use std::collections::VecDeque;

use serde_json::Value;

use crate::link::MasterClient;

/// Most events kept while no master is connected.
pub const MAX_EVENTS: usize = 100;
/// Most bytes (tag and JSON data) kept while no master is connected.
pub const MAX_BYTES: usize = 256 * 1024;

pub struct Outbox {
    queue: VecDeque<(String, Value, usize)>,
    bytes: usize,
    max_events: usize,
    max_bytes: usize,
    /// Events dropped since the last one that went out.
    dropped: u64,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox::with_bounds(MAX_EVENTS, MAX_BYTES)
    }
}

impl Outbox {
    pub fn with_bounds(max_events: usize, max_bytes: usize) -> Outbox {
        Outbox {
            queue: VecDeque::new(),
            bytes: 0,
            max_events: max_events.max(1),
            max_bytes,
            dropped: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The events waiting, oldest first.
    pub fn pending(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.queue.iter().map(|(t, d, _)| (t.as_str(), d))
    }

    /// Queues an event, dropping the oldest ones to stay within bounds (an
    /// event larger than the byte bound alone is dropped itself).
    pub fn push(&mut self, tag: String, data: Value) {
        let size = tag.len() + serde_json::to_vec(&data).map(|v| v.len()).unwrap_or(0);
        if size > self.max_bytes {
            tracing::warn!(%tag, bytes = size, max = self.max_bytes, "beacon event larger than the pending queue; dropped");
            self.dropped += 1;
            return;
        }
        while !self.queue.is_empty()
            && (self.queue.len() >= self.max_events || self.bytes + size > self.max_bytes)
        {
            if let Some((old, _, n)) = self.queue.pop_front() {
                self.bytes -= n;
                self.dropped += 1;
                tracing::warn!(tag = %old, pending = self.queue.len(), "no master connected and the beacon queue is full; oldest event dropped");
            }
        }
        self.bytes += size;
        self.queue.push_back((tag, data, size));
    }

    /// Sends what waits, oldest first, until a send fails (no master
    /// connected: the rest waits for the next try).
    pub fn flush(&mut self, client: &MasterClient) {
        while let Some((tag, data, _)) = self.queue.front() {
            match client.send_event(tag, data.clone()) {
                Ok(_) => {
                    if let Some((_, _, n)) = self.queue.pop_front() {
                        self.bytes -= n;
                    }
                    if self.dropped > 0 {
                        tracing::warn!(
                            dropped = self.dropped,
                            "beacon events were dropped while no master was connected"
                        );
                        self.dropped = 0;
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, pending = self.queue.len(), "beacon events wait for a master");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;
    use tokio::sync::mpsc;

    #[test]
    fn bounded_in_count_and_bytes_dropping_the_oldest() {
        let mut o = Outbox::with_bounds(3, 10_000);
        for i in 0..5 {
            o.push(format!("t/{i}"), json!({"n": i}));
        }
        let tags: Vec<&str> = o.pending().map(|(t, _)| t).collect();
        assert_eq!(tags, ["t/2", "t/3", "t/4"]);
        let mut o = Outbox::with_bounds(100, 60);
        for i in 0..5 {
            o.push(format!("t/{i}"), json!({"pad": "x".repeat(10)}));
        }
        assert!(o.bytes() <= 60, "{}", o.bytes());
        assert_eq!(o.len(), 2);
        assert_eq!(o.pending().last().unwrap().0, "t/4");
        o.push("big".into(), json!("y".repeat(100)));
        assert_eq!(o.len(), 2, "an event over the bound is dropped itself");
    }

    #[tokio::test]
    async fn events_wait_for_a_master_then_go_in_order() {
        let client = MasterClient::new(&["m".to_string()]);
        let mut o = Outbox::default();
        o.push("a".into(), json!({"n": 1}));
        o.push("b".into(), json!({"n": 2}));
        o.flush(&client);
        assert_eq!(o.len(), 2, "no master: kept");
        let (tx, mut rx) = mpsc::channel(8);
        client.open_session("m", tx, Arc::new(crate::liveness::Pulse::new()));
        o.flush(&client);
        assert!(o.is_empty());
        assert_eq!(o.bytes(), 0);
        for want in ["a", "b"] {
            match rx.recv().await.unwrap() {
                brine_proto::MinionMsg::Event { tag, .. } => assert_eq!(tag, want),
                other => panic!("{other:?}"),
            }
        }
    }
}
