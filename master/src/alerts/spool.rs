//! The alert spool: one file per (alert, channel) under `cachedir/alerts/`,
//! written atomically (temp file, fsync, rename, fsync of the directory)
//! before the alert counts as sent, removed once delivered or expired. A
//! master restart reads it back and goes on delivering.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One alert waiting for one channel.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Delivery {
    /// Unique; also the file name (`<id>.json`).
    pub id: String,
    pub channel: String,
    pub title: String,
    pub created_ms: i64,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When the next attempt is due (unix ms).
    pub next_ms: i64,
    pub last_error: Option<String>,
    /// The POST body (JSON text), rendered when the alert was sent.
    pub body: String,
}

impl Delivery {
    fn cost(&self) -> usize {
        self.body.len() + self.title.len() + 256
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("the alert spool is full ({count} alerts, {bytes} bytes; max_spooled {max} / max_spooled_bytes {max_bytes}): alert refused")]
    Full {
        count: usize,
        bytes: usize,
        max: usize,
        max_bytes: usize,
    },
    #[error("cannot write the alert spool {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// The spool directory and what it holds (every pending delivery is in
/// memory too: the spool's bounds bound both).
pub struct Spool {
    dir: PathBuf,
    pending: HashMap<String, Delivery>,
    /// Being attempted now: not handed out again.
    in_flight: HashSet<String>,
    bytes: usize,
    max: usize,
    max_bytes: usize,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl Spool {
    pub fn new(dir: PathBuf, max: usize, max_bytes: usize) -> Spool {
        Spool {
            dir,
            pending: HashMap::new(),
            in_flight: HashSet::new(),
            bytes: 0,
            max,
            max_bytes,
        }
    }

    /// Reads what a previous run left. Unreadable files are renamed
    /// `*.bad` and reported (kept for an operator, never silently lost).
    pub fn load(&mut self) -> Result<Vec<String>, SpoolError> {
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let mut problems = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let Ok(entry) = entry else { continue };
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp-") {
                // a write that never completed: its alert was refused then
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if !name.ends_with(".json") {
                continue;
            }
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<Delivery>(&b).map_err(|e| e.to_string()))
            {
                Ok(d) => {
                    self.bytes += d.cost();
                    self.pending.insert(d.id.clone(), d);
                }
                Err(e) => {
                    let _ = std::fs::rename(&path, path.with_extension("bad"));
                    problems.push(format!("{}: {e} (renamed .bad)", path.display()));
                }
            }
        }
        Ok(problems)
    }

    fn path_of(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn write_file(&self, d: &Delivery) -> Result<(), SpoolError> {
        let path = self.path_of(&d.id);
        let tmp = self.dir.join(format!(".tmp-{}", d.id));
        let text = serde_json::to_vec(d).unwrap_or_default();
        let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(&text).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))
    }

    /// Spools a new delivery: on disk before Ok.
    pub fn add(&mut self, d: Delivery) -> Result<(), SpoolError> {
        let cost = d.cost();
        if self.pending.len() >= self.max || self.bytes + cost > self.max_bytes {
            return Err(SpoolError::Full {
                count: self.pending.len(),
                bytes: self.bytes,
                max: self.max,
                max_bytes: self.max_bytes,
            });
        }
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        self.write_file(&d)?;
        self.bytes += cost;
        self.pending.insert(d.id.clone(), d);
        Ok(())
    }

    /// A due delivery not being attempted, marked in flight.
    pub fn take_due(&mut self, now_ms: i64) -> Option<Delivery> {
        let d = self
            .pending
            .values()
            .filter(|d| d.next_ms <= now_ms && !self.in_flight.contains(&d.id))
            .min_by_key(|d| d.next_ms)?
            .clone();
        self.in_flight.insert(d.id.clone());
        Some(d)
    }

    /// When the next delivery not in flight is due.
    pub fn next_due(&self) -> Option<i64> {
        self.pending
            .values()
            .filter(|d| !self.in_flight.contains(&d.id))
            .map(|d| d.next_ms)
            .min()
    }

    /// Delivered or expired: gone from memory and disk.
    pub fn remove(&mut self, id: &str) -> Option<Delivery> {
        self.in_flight.remove(id);
        let d = self.pending.remove(id)?;
        self.bytes -= d.cost();
        let _ = std::fs::remove_file(self.path_of(id));
        Some(d)
    }

    /// A failed attempt: kept (rewritten on disk) for another at `next_ms`.
    pub fn retry_later(&mut self, id: &str, next_ms: i64, error: String) -> Result<(), SpoolError> {
        self.in_flight.remove(id);
        let Some(d) = self.pending.get_mut(id) else {
            return Ok(());
        };
        d.attempts += 1;
        d.next_ms = next_ms;
        d.last_error = Some(error);
        let d = d.clone();
        self.write_file(&d)
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(id: &str, next_ms: i64) -> Delivery {
        Delivery {
            id: id.into(),
            channel: "ops".into(),
            title: "disk full".into(),
            created_ms: 0,
            attempts: 0,
            next_ms,
            last_error: None,
            body: "{\"title\": \"disk full\"}".into(),
        }
    }

    #[test]
    fn survives_a_restart_and_retries_keep_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::new(dir.path().join("alerts"), 10, 1 << 20);
        s.load().unwrap();
        s.add(delivery("a", 100)).unwrap();
        s.add(delivery("b", 50)).unwrap();
        assert!(s.take_due(10).is_none());
        let first = s.take_due(200).unwrap();
        assert_eq!(first.id, "b");
        // in flight: not handed out twice
        assert_eq!(s.take_due(200).unwrap().id, "a");
        assert!(s.take_due(200).is_none());
        s.retry_later("b", 500, "refused".into()).unwrap();
        s.remove("a");
        assert_eq!(s.next_due(), Some(500));
        // a new process: what is left is b, with its failed attempt
        let mut again = Spool::new(dir.path().join("alerts"), 10, 1 << 20);
        assert!(again.load().unwrap().is_empty());
        assert_eq!(again.len(), 1);
        let b = again.take_due(600).unwrap();
        assert_eq!(b.attempts, 1);
        assert_eq!(b.last_error.as_deref(), Some("refused"));
    }

    #[test]
    fn full_spool_refuses_and_bad_files_are_kept_aside() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::new(dir.path().to_path_buf(), 2, 1 << 20);
        s.add(delivery("a", 0)).unwrap();
        s.add(delivery("b", 0)).unwrap();
        let e = s.add(delivery("c", 0)).unwrap_err();
        assert!(matches!(e, SpoolError::Full { count: 2, .. }), "{e}");
        let mut small = Spool::new(dir.path().join("x"), 100, 300);
        small.add(delivery("a", 0)).unwrap();
        assert!(small.add(delivery("b", 0)).is_err());
        std::fs::write(dir.path().join("junk.json"), "{not json").unwrap();
        std::fs::write(dir.path().join(".tmp-zz"), "half").unwrap();
        let mut again = Spool::new(dir.path().to_path_buf(), 10, 1 << 20);
        let problems = again.load().unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(again.len(), 2);
        assert!(dir.path().join("junk.bad").exists());
        assert!(!dir.path().join(".tmp-zz").exists());
    }
}
