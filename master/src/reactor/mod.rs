//! The reactor (Salt's): events on the master's bus whose tag matches a
//! `reactor` rule run that rule's SLS, rendered with the event's `tag` and
//! `data`, as actions (`local.*` jobs, `runner.*`, `wheel.key.*`,
//! `alert.send`).
//!
//! The bus is never held up: one task reads it and queues the rules each
//! event matches; a fixed number of workers (`reactor_worker_threads`)
//! render them and, within the per (rule, minion) rate limit, act. Only
//! events whose SLS render to actions count against the limit: a rule
//! whose Jinja filters out most events does not lose the one that matters. The queue is bounded in
//! count and bytes; when full, reactions are dropped and counted (Salt's
//! reactor queue grew to 1.5 GB behind slow actions, salt#51493).
//!
//! In a cluster (a shared store) every master sees each minion event, and
//! each rule runs once per event: a worker claims (rule, event key) in the
//! store first, and the masters that lose the claim skip it.

pub mod actions;
pub mod conf;
pub mod ratelimit;
pub mod render;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::counters::Counters;
use crate::events::{tag_matches, BusEvent, Received};
use crate::state::Master;
use ratelimit::{RateLimiter, Verdict};

/// One rule to run for one event.
struct Work {
    rule: usize,
    event: Arc<BusEvent>,
}

/// The queue between the bus reader and the workers, bounded in count and
/// in the bytes of the events it holds.
struct WorkQueue {
    items: Mutex<(VecDeque<Work>, usize)>,
    ready: Notify,
    max: usize,
    max_bytes: usize,
}

impl WorkQueue {
    fn new(max: usize, max_bytes: usize) -> Self {
        WorkQueue {
            items: Mutex::new((VecDeque::new(), 0)),
            ready: Notify::new(),
            max,
            max_bytes,
        }
    }

    /// Queues `work`, or gives it back when the queue is full.
    fn push(&self, work: Work) -> Result<(), Work> {
        {
            let mut q = self.items.lock().unwrap_or_else(|p| p.into_inner());
            let bytes = work.event.bytes;
            if q.0.len() >= self.max || (q.1 + bytes > self.max_bytes && !q.0.is_empty()) {
                return Err(work);
            }
            q.1 += bytes;
            q.0.push_back(work);
        }
        self.ready.notify_one();
        Ok(())
    }

    fn try_pop(&self) -> Option<Work> {
        let mut q = self.items.lock().unwrap_or_else(|p| p.into_inner());
        let w = q.0.pop_front()?;
        q.1 -= w.event.bytes;
        Some(w)
    }

    async fn pop(&self) -> Work {
        loop {
            let notified = self.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(w) = self.try_pop() {
                return w;
            }
            notified.await;
        }
    }

    fn len(&self) -> usize {
        self.items.lock().unwrap_or_else(|p| p.into_inner()).0.len()
    }
}

struct Reactor {
    master: Arc<Master>,
    queue: WorkQueue,
    cache: render::SlsCache,
    limiter: Mutex<RateLimiter>,
}

/// The minion an event came from (`data.id`), or "" for the master's own.
fn minion_of(event: &BusEvent) -> &str {
    event.data.get("id").and_then(|v| v.as_str()).unwrap_or("")
}

/// Starts the reactor's bus reader and workers (none without rules).
pub fn start(master: Arc<Master>) -> Vec<JoinHandle<()>> {
    let config = &master.config.reactor;
    if config.rules.is_empty() {
        return Vec::new();
    }
    info!(
        rules = config.rules.len(),
        workers = config.workers,
        "reactor running"
    );
    let reactor = Arc::new(Reactor {
        queue: WorkQueue::new(config.queue_max, config.queue_max_bytes),
        cache: Default::default(),
        limiter: Mutex::new(RateLimiter::new(config.rate_limit)),
        master: master.clone(),
    });
    let mut tasks = vec![tokio::spawn(read_bus(reactor.clone()))];
    for _ in 0..config.workers {
        tasks.push(tokio::spawn(work_loop(reactor.clone())));
    }
    tasks
}

/// Reads every event, queues the rules it matches. Never waits on workers.
async fn read_bus(reactor: Arc<Reactor>) {
    let master = &reactor.master;
    let config = &master.config.reactor;
    let mut bus = master.events.subscribe();
    // Whether drops were logged since the queue last had room.
    let mut dropping = false;
    loop {
        let event = match bus.recv().await {
            Received::Event(e) => e,
            Received::Missed(n) => {
                warn!(
                    missed = n,
                    "reactor: events dropped from the bus before the reactor read them"
                );
                continue;
            }
        };
        for (index, rule) in config.rules.iter().enumerate() {
            if !tag_matches(&rule.tag, &event.tag) {
                continue;
            }
            let id = minion_of(&event);
            match reactor.queue.push(Work {
                rule: index,
                event: event.clone(),
            }) {
                Ok(()) => dropping = false,
                Err(work) => {
                    Counters::bump(&master.counters.reactions_dropped);
                    if !dropping {
                        warn!(tag = %work.event.tag, minion = %id, queued = reactor.queue.len(),
                            "reactor: queue full (reactor_worker_hwm / reactor_queue_max_bytes); dropping reactions");
                        dropping = true;
                    }
                }
            }
        }
    }
}

async fn work_loop(reactor: Arc<Reactor>) {
    loop {
        let work = reactor.queue.pop().await;
        react(&reactor, work).await;
    }
}

/// Whether this master runs rule `index` for `event`: always alone; in a
/// cluster only the master whose claim in the shared store landed first.
async fn claimed(master: &Master, index: usize, rule_tag: &str, event: &BusEvent) -> bool {
    let Some(key) = event.cluster_key.as_deref() else {
        return true;
    };
    if !master.store.is_shared() {
        return true;
    }
    match master
        .store
        .claim_reaction(&format!("{index}:{rule_tag}"), key)
        .await
    {
        Ok(won) => won,
        Err(error) => {
            // Better twice than never: a lost alert is worse than a repeated one.
            warn!(%error, tag = %event.tag, "reactor: cannot claim the reaction in the shared store; running it here");
            true
        }
    }
}

async fn react(reactor: &Arc<Reactor>, work: Work) {
    let master = &reactor.master;
    let rule = &master.config.reactor.rules[work.rule];
    let event = &work.event;
    let id = minion_of(event).to_string();
    if !claimed(master, work.rule, &rule.tag, event).await {
        debug!(tag = %event.tag, minion = %id, rule = %rule.tag, "reactor: another master of the cluster handles this event");
        return;
    }
    let mut rendered_all = Vec::new();
    for sls in &rule.sls {
        let r = reactor.clone();
        let ev = event.clone();
        let path = sls.clone();
        let rendered = tokio::task::spawn_blocking(move || {
            let text = r.cache.load(&r.master.files, &path)?;
            render::render(&r.master, &path, &text, &ev.tag, &ev.data)
        })
        .await
        .unwrap_or_else(|e| Err(format!("render task failed: {e}")));
        match rendered {
            Ok(r) if r.is_empty() => {}
            Ok(r) => rendered_all.push((sls, r)),
            Err(error) => {
                Counters::bump(&master.counters.reactions_failed);
                warn!(tag = %event.tag, minion = %id, sls = %sls, %error, "reactor: cannot render");
            }
        }
    }
    if rendered_all.is_empty() {
        debug!(tag = %event.tag, minion = %id, rule = %rule.tag, "reactor: nothing to do for this event");
        return;
    }
    let verdict = reactor
        .limiter
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .check(work.rule, &id, Instant::now());
    if let Verdict::Limited { first } = verdict {
        Counters::bump(&master.counters.reactions_limited);
        if first {
            warn!(tag = %event.tag, minion = %id, rule = %rule.tag,
                "reactor: rate limit reached for this rule and minion; skipping its reactions until it passes (reactor_rate_limit)");
        }
        return;
    }
    for (sls, reactions) in rendered_all {
        for reaction in reactions {
            Counters::bump(&master.counters.reactions);
            match actions::run(master, &reaction, event).await {
                Ok(done) => {
                    info!(tag = %event.tag, minion = %id, sls = %sls, reaction = %reaction.id,
                    fun = %reaction.fun, "reactor: {done}")
                }
                Err(error) => {
                    Counters::bump(&master.counters.reactions_failed);
                    warn!(tag = %event.tag, minion = %id, sls = %sls, reaction = %reaction.id,
                        fun = %reaction.fun, %error, "reactor: reaction failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(bytes: usize) -> Arc<BusEvent> {
        Arc::new(BusEvent {
            seq: 1,
            tag: "t".into(),
            data: json!({"id": "m1"}),
            cluster_key: None,
            bytes,
        })
    }

    #[test]
    fn queue_is_bounded_in_count_and_bytes() {
        let q = WorkQueue::new(3, 1000);
        for _ in 0..3 {
            assert!(q
                .push(Work {
                    rule: 0,
                    event: event(10)
                })
                .is_ok());
        }
        assert!(q
            .push(Work {
                rule: 0,
                event: event(10)
            })
            .is_err());
        let q = WorkQueue::new(100, 1000);
        assert!(q
            .push(Work {
                rule: 0,
                event: event(600)
            })
            .is_ok());
        assert!(q
            .push(Work {
                rule: 0,
                event: event(600)
            })
            .is_err());
        assert!(q.try_pop().is_some());
        // emptied: the bytes are given back
        assert!(q
            .push(Work {
                rule: 0,
                event: event(600)
            })
            .is_ok());
        assert_eq!(minion_of(&event(1)), "m1");
    }
}
