//! The per (rule, minion) rate limit: a token bucket per pair, so a
//! flapping beacon on one minion is held back without delaying the same
//! rule for other minions. The table is bounded: buckets back to full (idle
//! pairs) are forgotten first.

use std::collections::HashMap;
use std::time::Instant;

use super::conf::RateLimit;

/// Pairs tracked at most; beyond it idle ones go, then the oldest.
const MAX_BUCKETS: usize = 100_000;

struct Bucket {
    tokens: f64,
    updated: Instant,
    /// Whether a skip was logged since the last reaction let through (one
    /// log line per window of skips, not one per skipped event).
    warned: bool,
}

/// What the limiter says about one event.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Run,
    /// Skipped; `first` when it is the first skip since a reaction ran
    /// (the one to log).
    Limited {
        first: bool,
    },
}

pub struct RateLimiter {
    limit: RateLimit,
    buckets: HashMap<(usize, String), Bucket>,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        RateLimiter {
            limit,
            buckets: HashMap::new(),
        }
    }

    /// Whether rule `rule` may react to an event of minion `id` at `now`.
    pub fn check(&mut self, rule: usize, id: &str, now: Instant) -> Verdict {
        if self.limit.interval.is_zero() {
            return Verdict::Run;
        }
        let burst = self.limit.burst as f64;
        let per = self.limit.interval.as_secs_f64();
        if self.buckets.len() >= MAX_BUCKETS && !self.buckets.contains_key(&(rule, id.to_string()))
        {
            self.shrink(now);
        }
        let b = self
            .buckets
            .entry((rule, id.to_string()))
            .or_insert(Bucket {
                tokens: burst,
                updated: now,
                warned: false,
            });
        let elapsed = now.saturating_duration_since(b.updated).as_secs_f64();
        b.tokens = (b.tokens + elapsed / per).min(burst);
        b.updated = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            b.warned = false;
            Verdict::Run
        } else {
            let first = !b.warned;
            b.warned = true;
            Verdict::Limited { first }
        }
    }

    /// Forgets buckets that are full again (nothing to remember), and when
    /// that is not enough, the half least recently used.
    fn shrink(&mut self, now: Instant) {
        let full_after = self.limit.interval.as_secs_f64() * self.limit.burst as f64;
        self.buckets
            .retain(|_, b| now.saturating_duration_since(b.updated).as_secs_f64() < full_after);
        if self.buckets.len() >= MAX_BUCKETS {
            let mut ages: Vec<Instant> = self.buckets.values().map(|b| b.updated).collect();
            ages.sort();
            let cut = ages[ages.len() / 2];
            self.buckets.retain(|_, b| b.updated > cut);
        }
    }

    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limiter(interval_s: u64, burst: u32) -> RateLimiter {
        RateLimiter::new(RateLimit {
            interval: Duration::from_secs(interval_s),
            burst,
        })
    }

    #[test]
    fn burst_then_one_per_interval_per_pair() {
        let mut l = limiter(10, 2);
        let t = Instant::now();
        assert_eq!(l.check(0, "a", t), Verdict::Run);
        assert_eq!(l.check(0, "a", t), Verdict::Run);
        assert_eq!(l.check(0, "a", t), Verdict::Limited { first: true });
        assert_eq!(l.check(0, "a", t), Verdict::Limited { first: false });
        // another minion, another rule: their own buckets
        assert_eq!(l.check(0, "b", t), Verdict::Run);
        assert_eq!(l.check(1, "a", t), Verdict::Run);
        // half an interval: still no token
        let t5 = t + Duration::from_secs(5);
        assert_eq!(l.check(0, "a", t5), Verdict::Limited { first: false });
        let t11 = t + Duration::from_secs(11);
        assert_eq!(l.check(0, "a", t11), Verdict::Run);
        assert_eq!(l.check(0, "a", t11), Verdict::Limited { first: true });
    }

    #[test]
    fn zero_interval_is_no_limit() {
        let mut l = limiter(0, 1);
        let t = Instant::now();
        for _ in 0..100 {
            assert_eq!(l.check(0, "a", t), Verdict::Run);
        }
        assert_eq!(l.tracked(), 0);
    }

    #[test]
    fn table_stays_bounded() {
        let mut l = limiter(10, 1);
        let t = Instant::now();
        for i in 0..(MAX_BUCKETS + 10) {
            // all recent: shrinking drops the older half
            l.check(0, &format!("m{i}"), t + Duration::from_micros(i as u64));
        }
        assert!(l.tracked() <= MAX_BUCKETS, "{}", l.tracked());
    }
}
