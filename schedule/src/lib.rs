//! The scheduler both daemons run (Salt's `schedule`): items from the
//! config or pillar and added at runtime, each due on an interval, a cron
//! expression or given dates, with splay, `maxrunning`, retries of failed
//! runs, and catch-up of runs missed while the daemon was down. What it
//! decides, the daemon runs: the master publishes jobs or runs runners,
//! the minion calls its functions; both record every run as a job.
//!
//! Items added at runtime and every item's last run and next due time
//! persist in one JSON file, written atomically, so schedules and their
//! history survive restarts.

pub mod item;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

pub use item::{Item, Retry, Timing};

/// What the daemon should start now.
#[derive(Clone, Debug, PartialEq)]
pub struct Due {
    pub name: String,
    pub function: String,
    pub args: Vec<Value>,
    pub kwargs: Map<String, Value>,
    pub tgt: Option<String>,
    pub tgt_type: Option<String>,
    /// 0 for the scheduled run, 1.. for retries.
    pub attempt: u32,
    /// Why: `scheduled`, `catch_up`, `run_on_start`, `retry`, `run_job`.
    pub reason: &'static str,
}

/// What the file keeps of one item's runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    #[serde(default)]
    pub next_due_ms: Option<i64>,
    #[serde(default)]
    pub last_run_ms: Option<i64>,
    #[serde(default)]
    pub last_result: Option<bool>,
    #[serde(default)]
    pub last_skipped_ms: Option<i64>,
    /// A failed run being retried: the time it was due, and attempts made.
    #[serde(default)]
    pub retry_of_ms: Option<i64>,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub retry_at_ms: Option<i64>,
    /// Runs in progress (not persisted: after a restart none are).
    #[serde(skip)]
    pub running: u32,
}

#[derive(Default, Serialize, Deserialize)]
struct File {
    #[serde(default)]
    enabled: Option<bool>,
    /// Items added or changed at runtime (they override the config's).
    #[serde(default)]
    items: BTreeMap<String, Value>,
    /// Config items deleted at runtime.
    #[serde(default)]
    deleted: Vec<String>,
    #[serde(default)]
    state: BTreeMap<String, RunState>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("{0}")]
    Invalid(String),
    #[error("no schedule item named '{0}'")]
    Unknown(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

pub struct Scheduler {
    path: Option<PathBuf>,
    config: BTreeMap<String, Value>,
    file: File,
    items: BTreeMap<String, Item>,
    started_ms: i64,
    /// Problems met loading items (bad ones are left out, not fatal).
    pub warnings: Vec<String>,
}

impl Scheduler {
    /// Items from the config (`schedule:`), plus what `path` kept.
    pub fn load(path: Option<&Path>, config: &Map<String, Value>, now_ms: i64) -> Scheduler {
        let mut warnings = Vec::new();
        let file: File = match path.map(std::fs::read_to_string) {
            Some(Ok(text)) => serde_json::from_str(&text).unwrap_or_else(|e| {
                warnings.push(format!("schedule state unreadable ({e}); starting afresh"));
                File::default()
            }),
            _ => File::default(),
        };
        let mut s = Scheduler {
            path: path.map(Path::to_path_buf),
            config: config
                .iter()
                .filter(|(k, _)| k.as_str() != "enabled")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            file,
            items: BTreeMap::new(),
            started_ms: now_ms,
            warnings,
        };
        if let Some(Value::Bool(false)) = config.get("enabled") {
            s.file.enabled.get_or_insert(false);
        }
        s.reparse();
        s
    }

    /// Replaces the config's items (a pillar refresh), keeping run states.
    pub fn set_config(&mut self, config: &Map<String, Value>) {
        self.config = config
            .iter()
            .filter(|(k, _)| k.as_str() != "enabled")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        self.reparse();
    }

    fn reparse(&mut self) {
        self.items.clear();
        let mut all: BTreeMap<String, Value> = self
            .config
            .iter()
            .filter(|(k, _)| !self.file.deleted.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        all.extend(self.file.items.clone());
        for (name, v) in all {
            match Item::parse(&name, &v) {
                Ok((item, w)) => {
                    self.warnings.extend(w);
                    self.items.insert(name, item);
                }
                Err(e) => self.warnings.push(e),
            }
        }
        self.file.state.retain(|k, _| self.items.contains_key(k));
    }

    pub fn enabled(&self) -> bool {
        self.file.enabled.unwrap_or(true)
    }

    fn state(&mut self, name: &str) -> &mut RunState {
        self.file.state.entry(name.to_string()).or_default()
    }

    fn due_of(item: &Item, attempt: u32, reason: &'static str) -> Due {
        Due {
            name: item.name.clone(),
            function: item.function.clone(),
            args: item.args.clone(),
            kwargs: item.kwargs.clone(),
            tgt: item.tgt.clone(),
            tgt_type: item.tgt_type.clone(),
            attempt,
            reason,
        }
    }

    /// At daemon start: runs missed while it was down are caught up (once,
    /// within each item's `catch_up` window) or skipped; `run_on_start`
    /// items run now; every item gets its next due time.
    pub fn start(&mut self, now_ms: i64) -> Vec<Due> {
        self.started_ms = now_ms;
        let mut out = Vec::new();
        let names: Vec<String> = self.items.keys().cloned().collect();
        for name in names {
            let item = self.items[&name].clone();
            let st = self.state(&name).clone();
            let missed = st.next_due_ms.filter(|d| *d <= now_ms);
            let mut run = None;
            if let Some(due) = missed {
                if item.enabled && item.catch_up > 0 && now_ms - due <= item.catch_up * 1000 {
                    run = Some("catch_up");
                } else {
                    self.state(&name).last_skipped_ms = Some(due);
                }
            }
            if run.is_none() && item.run_on_start && item.enabled {
                run = Some("run_on_start");
            }
            if let Some(reason) = run {
                if self.enabled() {
                    out.push(Self::due_of(&item, 0, reason));
                }
            }
            let next = item.next_after(now_ms, now_ms).map(|d| d + item.splay_ms());
            self.state(&name).next_due_ms = next;
        }
        out
    }

    /// Runs due at `now_ms`. A run still going when the next is due is
    /// skipped past `maxrunning` (never overlapped).
    pub fn tick(&mut self, now_ms: i64) -> Vec<Due> {
        let mut out = Vec::new();
        if !self.enabled() {
            return out;
        }
        let names: Vec<String> = self.items.keys().cloned().collect();
        for name in names {
            let item = self.items[&name].clone();
            let started = self.started_ms;
            let st = self.state(&name);
            if let Some(at) = st.retry_at_ms.filter(|t| *t <= now_ms) {
                let _ = at;
                st.retry_at_ms = None;
                if item.enabled && st.running < item.maxrunning {
                    let attempt = st.attempts;
                    out.push(Self::due_of(&item, attempt, "retry"));
                }
            }
            let st = self.state(&name);
            let Some(due) = st.next_due_ms.filter(|d| *d <= now_ms) else {
                if st.next_due_ms.is_none() && !matches!(item.timing, Timing::At(_)) {
                    st.next_due_ms = item.next_after(now_ms, started);
                }
                continue;
            };
            st.next_due_ms = item
                .next_after(due.max(now_ms - 1), started)
                .map(|d| d + item.splay_ms());
            if !item.enabled {
                continue;
            }
            if st.running >= item.maxrunning {
                st.last_skipped_ms = Some(due);
                continue;
            }
            st.retry_of_ms = Some(due);
            st.attempts = 0;
            out.push(Self::due_of(&item, 0, "scheduled"));
        }
        out
    }

    /// The daemon started `due`.
    pub fn started(&mut self, due: &Due, now_ms: i64) {
        let st = self.state(&due.name);
        st.running += 1;
        st.last_run_ms = Some(now_ms);
        if due.attempt > 0 || due.reason == "retry" {
            st.attempts += 1;
        }
    }

    /// A run of `name` ended; a failure is retried as the item says.
    pub fn finished(&mut self, name: &str, ok: bool, now_ms: i64) {
        let retry = self.items.get(name).and_then(|i| i.retry.clone());
        let st = self.state(name);
        st.running = st.running.saturating_sub(1);
        st.last_result = Some(ok);
        if ok {
            st.retry_of_ms = None;
            st.attempts = 0;
            return;
        }
        if let (Some(r), Some(due)) = (retry, st.retry_of_ms) {
            let at = now_ms + r.delay * 1000;
            if st.attempts < r.count && at - due <= r.window * 1000 {
                st.retry_at_ms = Some(at);
                return;
            }
        }
        st.retry_of_ms = None;
    }

    /// Writes what must survive a restart.
    pub fn save(&self) -> Result<(), ScheduleError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let err = |source| ScheduleError::Write {
            path: path.display().to_string(),
            source,
        };
        let text = serde_json::to_vec_pretty(&self.file).unwrap_or_default();
        let tmp = path.with_extension("tmp");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp).map_err(err)?;
            f.write_all(&text).map_err(err)?;
            f.sync_all().map_err(err)?;
        }
        std::fs::rename(&tmp, path).map_err(err)
    }

    // ---- runtime changes (schedule.add, modify, ...) -----------------------

    pub fn add(&mut self, name: &str, value: Value, now_ms: i64) -> Result<(), ScheduleError> {
        if self.items.contains_key(name) {
            return Err(ScheduleError::Invalid(format!(
                "Job {name} already exists in schedule."
            )));
        }
        self.put(name, value, now_ms)
    }

    pub fn modify(
        &mut self,
        name: &str,
        changes: &Map<String, Value>,
        now_ms: i64,
    ) -> Result<Value, ScheduleError> {
        let old = self
            .raw(name)
            .ok_or_else(|| ScheduleError::Unknown(name.to_string()))?;
        let mut new = old.as_object().cloned().unwrap_or_default();
        for (k, v) in changes {
            new.insert(k.clone(), v.clone());
        }
        self.put(name, Value::Object(new.clone()), now_ms)?;
        Ok(json!({"old": old, "new": new}))
    }

    fn put(&mut self, name: &str, value: Value, now_ms: i64) -> Result<(), ScheduleError> {
        let (item, _) = Item::parse(name, &value).map_err(ScheduleError::Invalid)?;
        let next = item.next_after(now_ms, now_ms).map(|d| d + item.splay_ms());
        self.file.items.insert(name.to_string(), value);
        self.file.deleted.retain(|d| d != name);
        self.items.insert(name.to_string(), item);
        self.state(name).next_due_ms = next;
        Ok(())
    }

    pub fn delete(&mut self, name: &str) -> Result<(), ScheduleError> {
        if !self.items.contains_key(name) {
            return Err(ScheduleError::Unknown(name.to_string()));
        }
        self.items.remove(name);
        self.file.items.remove(name);
        self.file.state.remove(name);
        if self.config.contains_key(name) && !self.file.deleted.iter().any(|d| d == name) {
            self.file.deleted.push(name.to_string());
        }
        Ok(())
    }

    /// `enable_job` / `disable_job`.
    pub fn set_job_enabled(
        &mut self,
        name: &str,
        on: bool,
        now_ms: i64,
    ) -> Result<(), ScheduleError> {
        let mut changes = Map::new();
        changes.insert("enabled".into(), Value::Bool(on));
        self.modify(name, &changes, now_ms).map(|_| ())
    }

    /// `enable` / `disable`: the whole scheduler.
    pub fn set_enabled(&mut self, on: bool) {
        self.file.enabled = Some(on);
    }

    /// `run_job`: the item now, whatever its schedule (`force` runs a
    /// disabled one).
    pub fn run_now(&mut self, name: &str, force: bool) -> Result<Due, ScheduleError> {
        let item = self
            .items
            .get(name)
            .ok_or_else(|| ScheduleError::Unknown(name.to_string()))?;
        if !item.enabled && !force {
            return Err(ScheduleError::Invalid(format!(
                "Job {name} is disabled; run it with force=True"
            )));
        }
        Ok(Self::due_of(item, 0, "run_job"))
    }

    /// An item as written (config or runtime).
    pub fn raw(&self, name: &str) -> Option<Value> {
        if !self.items.contains_key(name) {
            return None;
        }
        self.file
            .items
            .get(name)
            .or_else(|| self.config.get(name))
            .cloned()
    }

    /// Every item as written, with `enabled`, and what the scheduler knows
    /// of its runs (`_next_fire_time`, `_last_run`, `_last_result`).
    pub fn list(&self) -> Map<String, Value> {
        let iso = |ms: i64| {
            chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
                .map(|d| d.format("%Y-%m-%dT%H:%M:%S").to_string())
                .unwrap_or_default()
        };
        let mut out = Map::new();
        for name in self.items.keys() {
            let mut v = self
                .raw(name)
                .and_then(|v| v.as_object().cloned())
                .unwrap_or_default();
            v.insert("name".into(), Value::String(name.clone()));
            v.entry("enabled").or_insert(Value::Bool(true));
            if let Some(st) = self.file.state.get(name) {
                if let Some(n) = st.next_due_ms {
                    v.insert("_next_fire_time".into(), Value::String(iso(n)));
                }
                if let Some(l) = st.last_run_ms {
                    v.insert("_last_run".into(), Value::String(iso(l)));
                }
                if let Some(r) = st.last_result {
                    v.insert("_last_result".into(), Value::Bool(r));
                }
                if let Some(s) = st.last_skipped_ms {
                    v.insert("_skipped_time".into(), Value::String(iso(s)));
                }
            }
            out.insert(name.clone(), Value::Object(v));
        }
        out
    }

    pub fn run_state(&self, name: &str) -> Option<&RunState> {
        self.file.state.get(name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.items.contains_key(name)
    }
}

#[cfg(test)]
mod tests;
