//! Plain counters the master's parts bump as they work, read by `/metrics`
//! at scrape time (one atomic add on the hot path, no registry lookups).

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Counters {
    /// Reactions the reactor started (one per rule matched and run).
    pub reactions: AtomicU64,
    /// Reactions skipped by the per (rule, minion) rate limit.
    pub reactions_limited: AtomicU64,
    /// Reactions dropped because the reactor's queue was full.
    pub reactions_dropped: AtomicU64,
    /// Reactions that failed (render error, bad action, publish error).
    pub reactions_failed: AtomicU64,
    /// Alerts delivered to a channel.
    pub alerts_delivered: AtomicU64,
    /// Alert delivery attempts that failed (each is retried until it expires).
    pub alerts_failed: AtomicU64,
    /// Alerts dropped after their expiry without delivery.
    pub alerts_expired: AtomicU64,
    /// Scheduled runs the master started.
    pub schedule_runs: AtomicU64,
    /// Jobs this master published.
    pub jobs_published: AtomicU64,
    /// Minions' returns of published jobs this master stored.
    pub returns_received: AtomicU64,
    /// Seconds from a job's publication to each of those returns.
    pub return_latency: crate::http::metrics::ReturnLatency,
}

impl Counters {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
