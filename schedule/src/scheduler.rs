//! The engine: each job's next due time, what runs now, how many runs of a
//! job are going (`maxrunning`), retries of failed runs, catch-up of runs
//! missed while the daemon was down. Time is passed in (ms since the
//! epoch), so tests drive it with a fake clock; the daemons' loops ask
//! [`Scheduler::next_wake`] how long to sleep.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tracing::{info, warn};

use crate::item::{Item, ItemError, Trigger};
use crate::store::{self, StoreError};

/// Most jobs one scheduler holds: an `add` past it is refused.
pub const MAX_JOBS: usize = 10_000;

/// Where a job came from: only runtime additions are saved as items (the
/// others come back from the config or pillar on every start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Config,
    Pillar,
    Runtime,
}

/// How one run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// When the run was due and when it started and ended (ms).
    pub due: i64,
    pub started: i64,
    pub ended: i64,
    pub success: bool,
    #[serde(default)]
    pub retcode: i32,
    /// The jid the run was filed under, when known.
    #[serde(default)]
    pub jid: Option<String>,
    /// Which try this was (0: the scheduled run, 1..: retries).
    #[serde(default)]
    pub attempt: u32,
}

/// What the daemon must run now.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub name: String,
    pub function: String,
    pub args: Vec<Value>,
    pub kwargs: Map<String, Value>,
    pub tgt: Option<String>,
    pub tgt_type: Option<String>,
    pub due: i64,
    pub attempt: u32,
    /// Why it runs: `schedule`, `run_on_start`, `catch_up`, `retry`, `run_job`.
    pub reason: &'static str,
}

/// A job's state that survives restarts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Saved {
    /// The item the times below were computed for: a changed item starts over.
    #[serde(default)]
    pub item: Value,
    #[serde(default)]
    pub next_due: Option<i64>,
    #[serde(default)]
    pub last_due: Option<i64>,
    #[serde(default)]
    pub last_run: Option<RunRecord>,
    #[serde(default)]
    pub runs: u64,
    #[serde(default)]
    pub skipped: u64,
}

struct Job {
    item: Item,
    source: Source,
    /// Next due time with splay applied; `base_due` without.
    next_due: Option<i64>,
    base_due: Option<i64>,
    running: u32,
    /// A pending retry: (when, attempt, due time of the failed run).
    retry: Option<(i64, u32, i64)>,
    /// Run as soon as possible (`run_on_start`, catch-up, `run_job`).
    forced: Option<&'static str>,
    saved: Saved,
}

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error(transparent)]
    Item(#[from] ItemError),
    #[error("Job {0} does not exist.")]
    NoJob(String),
    #[error("Job {0} already exists in schedule.")]
    Exists(String),
    #[error("too many schedule jobs (at most {MAX_JOBS})")]
    TooMany,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The jobs of one daemon.
pub struct Scheduler {
    jobs: BTreeMap<String, Job>,
    enabled: bool,
    path: Option<PathBuf>,
    /// Saved states of jobs not (yet) defined, kept until the next save
    /// for a pillar that arrives after start.
    orphans: BTreeMap<String, Saved>,
}

impl Scheduler {
    /// A scheduler persisting to `path` (none: in memory only), with what
    /// was saved there loaded: runtime items come back, and every job's
    /// last run. Static items are given with [`Scheduler::set_static`].
    pub fn open(path: Option<PathBuf>, now: i64) -> Result<Scheduler, ScheduleError> {
        let file = match &path {
            Some(p) => store::load(p)?,
            None => store::File::default(),
        };
        let mut s = Scheduler {
            jobs: BTreeMap::new(),
            enabled: file.enabled,
            path,
            orphans: file.jobs,
        };
        for (name, raw) in file.items {
            match Item::parse(&name, &raw) {
                Ok(item) => s.insert(item, Source::Runtime, now),
                Err(e) => warn!(error = %e, "saved schedule item ignored"),
            }
        }
        Ok(s)
    }

    /// Replaces the jobs from `source` (config or pillar) with `items`;
    /// jobs from elsewhere with the same name stay as they are. Errors
    /// name the bad items; the good ones are taken.
    pub fn set_static(
        &mut self,
        source: Source,
        items: &Map<String, Value>,
        now: i64,
    ) -> Vec<ItemError> {
        let mut errors = Vec::new();
        let stale: Vec<String> = self
            .jobs
            .iter()
            .filter(|(n, j)| j.source == source && !items.contains_key(*n))
            .map(|(n, _)| n.clone())
            .collect();
        for n in stale {
            if let Some(j) = self.jobs.remove(&n) {
                self.orphans.insert(n, j.saved);
            }
        }
        for (name, raw) in items {
            // Salt's `enabled: False` at the top of a schedule disables it all.
            if name == "enabled" {
                if let Value::Bool(b) = raw {
                    self.enabled = *b;
                }
                continue;
            }
            match self.jobs.get(name) {
                Some(j) if j.source != source => continue,
                Some(j) if j.item.raw == *raw.as_object().unwrap_or(&Map::new()) => continue,
                _ => {}
            }
            match Item::parse(name, raw) {
                Ok(item) => self.insert(item, source, now),
                Err(e) => errors.push(e),
            }
        }
        errors
    }

    /// Takes `item` in, with its saved state when the item is unchanged:
    /// a run missed while the daemon was down is run now when within the
    /// item's `catch_up` window, else skipped.
    fn insert(&mut self, item: Item, source: Source, now: i64) {
        let raw = Value::Object(item.raw.clone());
        let mut saved = self
            .orphans
            .remove(&item.name)
            .or_else(|| self.jobs.remove(&item.name).map(|j| j.saved))
            .unwrap_or_default();
        let same = saved.item == raw;
        let mut forced = None;
        let mut base = None;
        if same {
            if let Some(missed) = saved.next_due.filter(|d| *d <= now) {
                match item.catch_up {
                    Some(window) if now - missed <= window as i64 * 1000 => {
                        info!(job = %item.name, missed, "run missed while down: catching up");
                        forced = Some("catch_up");
                    }
                    _ => {
                        info!(job = %item.name, missed, "run missed while down: skipped (no catch_up window covers it)");
                        saved.skipped += 1;
                    }
                }
                base = advance(&item, missed, now);
            } else {
                base = saved.next_due;
            }
        }
        if !same || base.is_none() && saved.next_due.is_none() {
            base = item.next_after(now);
        }
        if item.run_on_start && forced.is_none() {
            forced = Some("run_on_start");
        }
        saved.item = raw;
        saved.next_due = base;
        let next_due = base.map(|b| b + item.splay_ms());
        let job = Job {
            item,
            source,
            next_due,
            base_due: base,
            running: 0,
            retry: None,
            forced,
            saved,
        };
        self.jobs.insert(job.item.name.clone(), job);
    }

    /// Adds a runtime item (`schedule.add`).
    pub fn add(&mut self, name: &str, raw: &Value, now: i64) -> Result<(), ScheduleError> {
        if self.jobs.contains_key(name) {
            return Err(ScheduleError::Exists(name.to_string()));
        }
        if self.jobs.len() >= MAX_JOBS {
            return Err(ScheduleError::TooMany);
        }
        let item = Item::parse(name, raw)?;
        self.orphans.remove(name);
        self.insert(item, Source::Runtime, now);
        Ok(())
    }

    /// Replaces an item (`schedule.modify`); it becomes a runtime item.
    pub fn modify(&mut self, name: &str, raw: &Value, now: i64) -> Result<(), ScheduleError> {
        if !self.jobs.contains_key(name) {
            return Err(ScheduleError::NoJob(name.to_string()));
        }
        let item = Item::parse(name, raw)?;
        let running = self.jobs.get(name).map_or(0, |j| j.running);
        self.insert(item, Source::Runtime, now);
        if let Some(j) = self.jobs.get_mut(name) {
            j.running = running;
        }
        Ok(())
    }

    pub fn delete(&mut self, name: &str) -> Result<(), ScheduleError> {
        self.jobs
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| ScheduleError::NoJob(name.to_string()))
    }

    /// Deletes every job (`schedule.purge`).
    pub fn purge(&mut self) -> Vec<String> {
        self.orphans.clear();
        std::mem::take(&mut self.jobs).into_keys().collect()
    }

    /// Enables or disables one job (its item's `enabled`).
    pub fn set_job_enabled(&mut self, name: &str, on: bool, now: i64) -> Result<(), ScheduleError> {
        let job = self
            .jobs
            .get_mut(name)
            .ok_or_else(|| ScheduleError::NoJob(name.to_string()))?;
        if job.item.enabled != on {
            job.item.enabled = on;
            job.item.raw.insert("enabled".into(), Value::Bool(on));
            job.saved.item = Value::Object(job.item.raw.clone());
            if on {
                job.base_due = job.item.next_after(now);
                job.next_due = job.base_due.map(|b| b + job.item.splay_ms());
                job.saved.next_due = job.base_due;
            }
        }
        Ok(())
    }

    pub fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Marks a job to run at the next [`Scheduler::due`] (`schedule.run_job`).
    pub fn run_job(&mut self, name: &str) -> Result<(), ScheduleError> {
        let job = self
            .jobs
            .get_mut(name)
            .ok_or_else(|| ScheduleError::NoJob(name.to_string()))?;
        job.forced = Some("run_job");
        Ok(())
    }

    /// The runs to start now. A job already running `maxrunning` times is
    /// not started again: that due time is skipped (and logged), as Salt does.
    pub fn due(&mut self, now: i64) -> Vec<Run> {
        let mut out = Vec::new();
        let global = self.enabled;
        for job in self.jobs.values_mut() {
            let forced = job.forced.take();
            let retry = job.retry.filter(|(at, _, _)| *at <= now);
            let scheduled = job.next_due.filter(|d| *d <= now);
            if scheduled.is_some() {
                let from = job.base_due.unwrap_or(now);
                job.base_due = advance(&job.item, from, now);
                job.next_due = job.base_due.map(|b| b + job.item.splay_ms());
                job.saved.next_due = job.base_due;
            }
            let (due, attempt, reason) = match (forced, retry, scheduled) {
                (Some(r), _, _) if r == "run_job" => (now, 0, r),
                _ if !global || !job.item.enabled => continue,
                (Some(r), _, _) => (now, 0, r),
                (None, _, Some(d)) => (d, 0, "schedule"),
                (None, Some((_, attempt, first_due)), None) => (first_due, attempt, "retry"),
                (None, None, None) => continue,
            };
            if retry.is_some() && reason != "retry" {
                // a fresh run supersedes the pending retry
                job.retry = None;
            }
            if job.running >= job.item.maxrunning {
                warn!(job = %job.item.name, running = job.running, maxrunning = job.item.maxrunning,
                    "job already running maxrunning times: this run is skipped");
                job.saved.skipped += 1;
                continue;
            }
            if reason == "retry" {
                job.retry = None;
            }
            job.running += 1;
            job.saved.last_due = Some(due);
            out.push(Run {
                name: job.item.name.clone(),
                function: job.item.function.clone(),
                args: job.item.args.clone(),
                kwargs: job.item.kwargs.clone(),
                tgt: job.item.tgt.clone(),
                tgt_type: job.item.tgt_type.clone(),
                due,
                attempt,
                reason,
            });
        }
        out
    }

    /// A run of `name` ended: it no longer counts as running, its record
    /// is kept, and a failure schedules a retry when the item allows one.
    pub fn finished(&mut self, name: &str, rec: RunRecord) {
        let Some(job) = self.jobs.get_mut(name) else {
            return;
        };
        job.running = job.running.saturating_sub(1);
        job.saved.runs += 1;
        if !rec.success {
            if let Some(r) = job.item.retry {
                let next_try = rec.ended + r.delay as i64 * 1000;
                if rec.attempt < r.count && next_try <= rec.due + r.window as i64 * 1000 {
                    info!(
                        job = name,
                        attempt = rec.attempt + 1,
                        "failed run: retrying"
                    );
                    job.retry = Some((next_try, rec.attempt + 1, rec.due));
                }
            }
        }
        job.saved.last_run = Some(rec);
    }

    /// When the loop must look again: the earliest due time or retry
    /// (now for a forced run); `None` when nothing is pending.
    pub fn next_wake(&self, now: i64) -> Option<i64> {
        self.jobs
            .values()
            .flat_map(|j| {
                [
                    j.forced.map(|_| now),
                    j.next_due,
                    j.retry.map(|(at, _, _)| at),
                ]
            })
            .flatten()
            .min()
    }

    /// Job names with their item (as written, `enabled` as it is now) and source.
    pub fn items(&self) -> Vec<(&str, &Map<String, Value>, Source)> {
        self.jobs
            .iter()
            .map(|(n, j)| (n.as_str(), &j.item.raw, j.source))
            .collect()
    }

    /// A job's next due time (with splay), `None` when it never fires again.
    pub fn next_fire(&self, name: &str) -> Result<Option<i64>, ScheduleError> {
        self.jobs
            .get(name)
            .map(|j| j.next_due)
            .ok_or_else(|| ScheduleError::NoJob(name.to_string()))
    }

    /// How many runs of `name` are going now.
    pub fn running(&self, name: &str) -> u32 {
        self.jobs.get(name).map_or(0, |j| j.running)
    }

    /// A job's saved state (last due, last run, counts).
    pub fn status(&self, name: &str) -> Result<&Saved, ScheduleError> {
        self.jobs
            .get(name)
            .map(|j| &j.saved)
            .ok_or_else(|| ScheduleError::NoJob(name.to_string()))
    }

    /// Whether the item `name` is an interval, cron or date job (for listing).
    pub fn trigger(&self, name: &str) -> Option<&Trigger> {
        self.jobs.get(name).map(|j| &j.item.trigger)
    }

    /// Writes the runtime items and every job's state (atomically).
    pub fn save(&self) -> Result<(), ScheduleError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let mut file = store::File {
            enabled: self.enabled,
            ..Default::default()
        };
        for (n, j) in &self.jobs {
            if j.source == Source::Runtime {
                file.items
                    .insert(n.clone(), Value::Object(j.item.raw.clone()));
            }
            file.jobs.insert(n.clone(), j.saved.clone());
        }
        for (n, s) in &self.orphans {
            if !file.jobs.contains_key(n) && file.jobs.len() < MAX_JOBS {
                file.jobs.insert(n.clone(), s.clone());
            }
        }
        store::save(path, &file)?;
        Ok(())
    }
}

/// The first due time after `now` following `from` (a due time): for
/// intervals on the same grid, so a late loop does not drift the schedule.
fn advance(item: &Item, from: i64, now: i64) -> Option<i64> {
    match item.trigger {
        Trigger::Interval(secs) => {
            let step = (secs.max(1) as i64) * 1000;
            if from > now {
                return Some(from);
            }
            let behind = (now - from) / step + 1;
            Some(from + behind * step)
        }
        _ => item.next_after(now.max(from)),
    }
}
