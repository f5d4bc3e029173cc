//! `brine -b N|N%` and orchestration's `batch:`: a rolling window over
//! the targeted minions, as Salt's batch mode behaves. At most N minions run at once; the moment one
//! returns (or is given up on), its slot goes to the next minion, after
//! `--batch-wait` seconds if set. What failed and what did not return is
//! kept for the summary.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The size of a window: `N` minions, or `N%` of `total`, as Salt's
/// `Batch.get_bnum`: the share rounded down, but at least one.
pub fn batch_size(spec: &str, total: usize) -> Result<usize, String> {
    let bad = || format!("invalid batch size '{spec}': expected N or N%");
    if let Some(p) = spec.strip_suffix('%') {
        let pct: f64 = p.trim().parse().map_err(|_| bad())?;
        if !(pct > 0.0 && pct.is_finite()) {
            return Err(bad());
        }
        Ok(((total as f64) * pct / 100.0).floor().max(1.0) as usize)
    } else {
        let n: usize = spec.trim().parse().map_err(|_| bad())?;
        if n == 0 {
            return Err(bad());
        }
        Ok(n)
    }
}

/// How one minion's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    Succeeded,
    Failed,
    DidNotReturn,
}

/// The window's state: who waits, who runs, which slots are cooling down.
#[derive(Debug)]
pub struct BatchWindow {
    waiting: VecDeque<String>,
    running: usize,
    size: usize,
    wait: Duration,
    /// When each slot freed by a finished minion may be used again.
    cooling: VecDeque<Instant>,
    pub done: usize,
    pub failed: Vec<String>,
    pub missing: Vec<String>,
}

impl BatchWindow {
    pub fn new(ids: Vec<String>, size: usize, wait: Duration) -> BatchWindow {
        BatchWindow {
            waiting: ids.into(),
            running: 0,
            size: size.max(1),
            wait,
            cooling: VecDeque::new(),
            done: 0,
            failed: Vec::new(),
            missing: Vec::new(),
        }
    }

    /// The minions to start now: as many as there are free slots.
    pub fn take_startable(&mut self, now: Instant) -> Vec<String> {
        while self.cooling.front().is_some_and(|t| *t <= now) {
            self.cooling.pop_front();
        }
        let free = self.size.saturating_sub(self.running + self.cooling.len());
        let n = free.min(self.waiting.len());
        self.running += n;
        self.waiting.drain(..n).collect()
    }

    /// A running minion finished; its slot frees after the batch wait.
    pub fn finished(&mut self, id: &str, how: Finish) {
        self.running = self.running.saturating_sub(1);
        self.done += 1;
        match how {
            Finish::Succeeded => {}
            Finish::Failed => self.failed.push(id.to_string()),
            Finish::DidNotReturn => self.missing.push(id.to_string()),
        }
        if !self.wait.is_zero() && !self.waiting.is_empty() {
            self.cooling.push_back(Instant::now() + self.wait);
        }
    }

    /// When a cooling slot frees next (the driver sleeps until then).
    pub fn next_slot_at(&self) -> Option<Instant> {
        if self.waiting.is_empty() {
            None
        } else {
            self.cooling.front().copied()
        }
    }

    pub fn running(&self) -> usize {
        self.running
    }

    /// Every minion of the run: waiting, running and done.
    pub fn total(&self) -> usize {
        self.waiting.len() + self.running + self.done
    }

    /// Salt's `failhard` in a batch run: no minion that has not started
    /// yet will; they are handed back (the running ones still finish).
    pub fn abandon_waiting(&mut self) -> Vec<String> {
        self.cooling.clear();
        self.waiting.drain(..).collect()
    }

    pub fn is_finished(&self) -> bool {
        self.waiting.is_empty() && self.running == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("m{i}")).collect()
    }

    #[test]
    fn sizes_count_or_percent() {
        assert_eq!(batch_size("3", 10), Ok(3));
        // Salt rounds the share down (2.5 is 2), a share under one is one
        assert_eq!(batch_size("10%", 25), Ok(2));
        assert_eq!(batch_size("34%", 3), Ok(1));
        assert_eq!(batch_size("1%", 5), Ok(1));
        assert!(batch_size("0", 5).is_err());
        assert!(batch_size("x%", 5).is_err());
        assert!(batch_size("-5%", 5).is_err());
    }

    #[test]
    fn the_window_rolls_one_slot_at_a_time() {
        let mut w = BatchWindow::new(ids(5), 2, Duration::ZERO);
        let now = Instant::now();
        assert_eq!(w.take_startable(now), vec!["m0", "m1"]);
        assert!(w.take_startable(now).is_empty(), "the window is full");
        // one returns: exactly one more starts, without waiting for m1
        w.finished("m0", Finish::Succeeded);
        assert_eq!(w.take_startable(now), vec!["m2"]);
        w.finished("m2", Finish::Failed);
        w.finished("m1", Finish::DidNotReturn);
        assert_eq!(w.take_startable(now), vec!["m3", "m4"]);
        w.finished("m3", Finish::Succeeded);
        w.finished("m4", Finish::Succeeded);
        assert!(w.is_finished());
        assert_eq!(w.done, 5);
        assert_eq!(w.failed, vec!["m2"]);
        assert_eq!(w.missing, vec!["m1"]);
    }

    #[test]
    fn abandoning_the_waiting_lets_the_running_finish() {
        let mut w = BatchWindow::new(ids(4), 2, Duration::ZERO);
        assert_eq!(w.take_startable(Instant::now()), vec!["m0", "m1"]);
        w.finished("m0", Finish::Failed);
        assert_eq!(w.abandon_waiting(), vec!["m2", "m3"]);
        assert!(w.take_startable(Instant::now()).is_empty());
        assert!(!w.is_finished(), "m1 still runs");
        w.finished("m1", Finish::Succeeded);
        assert!(w.is_finished());
        assert_eq!(w.total(), 2, "the abandoned are no longer part of the run");
    }

    #[test]
    fn batch_wait_holds_a_freed_slot() {
        let mut w = BatchWindow::new(ids(3), 1, Duration::from_secs(60));
        let now = Instant::now();
        assert_eq!(w.take_startable(now), vec!["m0"]);
        w.finished("m0", Finish::Succeeded);
        assert!(w.take_startable(Instant::now()).is_empty(), "still cooling");
        let at = w.next_slot_at().expect("a slot frees later");
        assert_eq!(w.take_startable(at), vec!["m1"]);
    }

    #[test]
    fn a_percentage_window_over_a_fleet() {
        let total = 1000;
        let size = batch_size("10%", total).unwrap();
        let mut w = BatchWindow::new(ids(total), size, Duration::ZERO);
        let mut started = w.take_startable(Instant::now());
        assert_eq!(started.len(), 100);
        let mut finished = 0;
        while let Some(id) = started.pop() {
            w.finished(&id, Finish::Succeeded);
            finished += 1;
            assert!(w.running() <= size);
            started.extend(w.take_startable(Instant::now()));
        }
        assert_eq!(finished, total);
        assert!(w.is_finished());
    }
}
