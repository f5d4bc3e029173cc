//! What a minion must not forget across a crash, per master:
//!
//! - **returns** (`cachedir/spool/<master>/returns/<jid>`): every return is
//!   written here (fsynced) before it is sent, and removed only when that
//!   master acknowledges it was committed to its store. A master restart, a
//!   network drop, a full disk on the master or a minion restart loses
//!   nothing: the spool is sent again on every new session.
//! - **running jobs** (`cachedir/spool/<master>/proc/<jid>`): a job's record
//!   exists while it runs. One still there when the minion starts is a job
//!   the minion died under; it is reported as interrupted instead of
//!   vanishing.
//! - **seen publications** (`cachedir/spool/<master>/seen`): the jids
//!   already run, with their issue time, so a captured publication replayed
//!   after a minion restart is still refused inside the replay window.
//!
//! All three survive the minion process dying at any point (the kernel keeps
//! what was written). Returns are also fsynced, with their directory, so a
//! return survives a power loss too; the running-job records and the seen
//! window are not (a power loss ends the job anyway, and the master's
//! replay window restarts with its own epoch key), which keeps the cost of
//! a job at one fsync. Call from a blocking thread.

use std::collections::{HashSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use brine_proto::{ErrorKind, ErrorReturn, Job, JobId, JobReturn};

/// Seen jids kept in memory and on disk per master.
const SEEN_MAX: usize = 10_000;

pub struct Spool {
    returns: PathBuf,
    proc_dir: PathBuf,
    seen_path: PathBuf,
    seen: SeenWindow,
    /// The seen file, open for appending (one write per accepted job).
    seen_file: Option<File>,
    /// Lines appended since the file was last compacted.
    appended: usize,
}

/// The jids of publications already accepted, oldest first.
#[derive(Default)]
struct SeenWindow {
    set: HashSet<JobId>,
    order: VecDeque<(JobId, i64)>,
}

impl SeenWindow {
    fn insert(&mut self, jid: JobId, issued_ms: i64) -> bool {
        if !self.set.insert(jid) {
            return false;
        }
        self.order.push_back((jid, issued_ms));
        while self.order.len() > SEEN_MAX {
            if let Some((old, _)) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

/// A directory name for a master address (`10.0.0.1:4506`, `[::1]`...).
fn dir_name(master: &str) -> String {
    master
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Spool {
    /// Opens (creating) the spool of `master` under `cachedir`, keeping the
    /// seen jids issued within `window_ms` of now.
    pub fn open(cachedir: &Path, master: &str, window_ms: i64) -> io::Result<Spool> {
        let base = cachedir.join("spool").join(dir_name(master));
        let returns = base.join("returns");
        let proc_dir = base.join("proc");
        fs::create_dir_all(&returns)?;
        fs::create_dir_all(&proc_dir)?;
        let seen_path = base.join("seen");
        let mut spool = Spool {
            returns,
            proc_dir,
            seen_path,
            seen: SeenWindow::default(),
            seen_file: None,
            appended: 0,
        };
        spool.load_seen(window_ms)?;
        Ok(spool)
    }

    fn load_seen(&mut self, window_ms: i64) -> io::Result<()> {
        let text = match fs::read_to_string(&self.seen_path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let cutoff = now_ms() - window_ms;
        let mut entries: Vec<(JobId, i64)> = text
            .lines()
            .filter_map(|l| {
                let (jid, at) = l.split_once(' ')?;
                Some((jid.parse().ok()?, at.parse().ok()?))
            })
            .filter(|(_, at)| *at >= cutoff)
            .collect();
        entries.sort();
        for (jid, at) in entries {
            self.seen.insert(jid, at);
        }
        self.compact_seen()
    }

    /// Rewrites the seen file with only what is inside the window.
    fn compact_seen(&mut self) -> io::Result<()> {
        let mut body = String::new();
        for (jid, at) in &self.seen.order {
            body.push_str(&format!("{jid} {at}\n"));
        }
        self.appended = 0;
        write_atomic(&self.seen_path, body.as_bytes(), false)
    }

    /// Records a publication as seen; false if it was seen before (a
    /// replay). Written before it returns, so a job never runs twice even if
    /// the minion process dies right after starting it.
    pub fn mark_seen(&mut self, jid: JobId, issued_ms: i64) -> io::Result<bool> {
        if self.seen.set.contains(&jid) {
            return Ok(false);
        }
        if self.appended >= SEEN_MAX {
            // keep the file about the window's size
            self.seen_file = None;
            self.compact_seen()?;
        }
        if self.seen_file.is_none() {
            self.seen_file = Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.seen_path)?,
            );
        }
        if let Some(f) = self.seen_file.as_mut() {
            f.write_all(format!("{jid} {issued_ms}\n").as_bytes())?;
        }
        self.appended += 1;
        Ok(self.seen.insert(jid, issued_ms))
    }

    /// Accepts a published job: records its jid as seen and the job as
    /// running, in one visit to the spool. False if the jid was seen
    /// before (a replay), and then nothing is written.
    pub fn start_job(&mut self, job: &Job) -> io::Result<bool> {
        if !self.mark_seen(job.jid, job.issued_ms)? {
            return Ok(false);
        }
        self.job_started(job)?;
        Ok(true)
    }

    pub fn has_seen(&self, jid: JobId) -> bool {
        self.seen.set.contains(&jid)
    }

    /// Newest jid seen, for the master to replay what was missed.
    pub fn last_seen(&self) -> Option<JobId> {
        self.seen.set.iter().max().copied()
    }

    /// Notes that `job` is running (removed by [`Spool::put_return`]).
    pub fn job_started(&self, job: &Job) -> io::Result<()> {
        let bytes = brine_proto::codec::encode(job).map_err(io::Error::other)?;
        write_atomic(&self.proc_dir.join(job.jid.to_string()), &bytes, false)
    }

    /// Keeps `ret` until the master acknowledges it, and clears its running
    /// record.
    pub fn put_return(&self, ret: &JobReturn) -> io::Result<()> {
        let bytes = brine_proto::codec::encode(ret).map_err(io::Error::other)?;
        write_atomic(&self.returns.join(ret.jid.to_string()), &bytes, true)?;
        remove_quietly(&self.proc_dir.join(ret.jid.to_string()));
        Ok(())
    }

    /// The master committed (or already had) this return.
    pub fn acknowledged(&self, jid: JobId) {
        remove_quietly(&self.returns.join(jid.to_string()));
    }

    /// Every return not yet acknowledged, oldest jid first. Unreadable files
    /// are moved aside (`*.bad`) rather than retried forever.
    pub fn pending_returns(&self) -> Vec<JobReturn> {
        let mut out = Vec::new();
        for path in sorted_entries(&self.returns) {
            if path.extension().is_some() {
                continue;
            }
            match fs::read(&path).map_err(|e| e.to_string()).and_then(|b| {
                brine_proto::codec::decode::<JobReturn>(&b).map_err(|e| e.to_string())
            }) {
                Ok(ret) => out.push(ret),
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "unreadable spooled return set aside");
                    let _ = fs::rename(&path, path.with_extension("bad"));
                }
            }
        }
        out
    }

    /// Pending returns whose spool file is older than `age` (sent before
    /// and still not acknowledged).
    pub fn pending_older_than(&self, age: std::time::Duration) -> Vec<JobReturn> {
        let cutoff = std::time::SystemTime::now() - age;
        let old: HashSet<String> = sorted_entries(&self.returns)
            .into_iter()
            .filter(|p| {
                fs::metadata(p)
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t <= cutoff)
            })
            .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(String::from))
            .collect();
        self.pending_returns()
            .into_iter()
            .filter(|r| old.contains(&r.jid.to_string()))
            .collect()
    }

    /// Jobs whose running record survived a restart: the minion died while
    /// they ran. Each becomes an "interrupted" return in the spool, and its
    /// record is removed.
    pub fn recover_interrupted(&self, minion_id: &str) -> Vec<JobReturn> {
        let mut out = Vec::new();
        for path in sorted_entries(&self.proc_dir) {
            let job = fs::read(&path)
                .ok()
                .and_then(|b| brine_proto::codec::decode::<Job>(&b).ok());
            if let Some(job) = job {
                let now = now_ms();
                let message = "the minion restarted while this job was running; \
                               its outcome is unknown"
                    .to_string();
                let ret = JobReturn {
                    jid: job.jid,
                    id: minion_id.to_string(),
                    fun: job.fun.clone(),
                    ret: serde_json::Value::String(format!("ERROR: {message}")),
                    retcode: 1,
                    success: false,
                    error: Some(ErrorReturn {
                        kind: ErrorKind::Interrupted,
                        message,
                    }),
                    started_ms: job.issued_ms,
                    finished_ms: now,
                };
                if let Err(error) = self.put_return(&ret) {
                    tracing::warn!(jid = %job.jid, %error, "cannot spool the interrupted job's return");
                }
                out.push(ret);
            }
            remove_quietly(&path);
        }
        out
    }
}

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    !p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with('.'))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Write to a temporary name and rename over the target: the file is either
/// the old or the new content after a crash. With `sync`, the data and the
/// directory entry are fsynced (survives a power loss too).
fn write_atomic(path: &Path, bytes: &[u8], sync: bool) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("spool");
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        if sync {
            f.sync_all()?;
        }
    }
    fs::rename(&tmp, path)?;
    if sync {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// The thread pool that does every spool write of this process, in order
/// of arrival. Short file operations (and a return's fsync) handed to
/// tokio's blocking pool one by one wake a thread each; at thousands of jobs
/// a second (a busy minion, a swarm) the wake-ups cost more than the writes.
struct SpoolThreads {
    tx: Mutex<std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>>,
}

/// Threads doing spool writes: a return's fsync may wait on the disk, and
/// a second thread keeps other links and jobs going meanwhile.
const SPOOL_THREADS: usize = 2;

fn spool_threads() -> &'static SpoolThreads {
    static THREADS: OnceLock<SpoolThreads> = OnceLock::new();
    THREADS.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..SPOOL_THREADS {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("brine-spool-{n}"))
                .spawn(move || loop {
                    let work = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => return,
                    };
                    match work {
                        Ok(f) => f(),
                        Err(_) => return,
                    }
                });
            if let Err(error) = spawned {
                tracing::error!(%error, "cannot start a spool thread");
            }
        }
        SpoolThreads { tx: Mutex::new(tx) }
    })
}

/// Runs `f` on a spool thread and waits for its result (None if the
/// threads are gone).
pub async fn on_spool_thread<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let work: Box<dyn FnOnce() + Send> = Box::new(move || {
        let _ = tx.send(f());
    });
    spool_threads().tx.lock().ok()?.send(work).ok()?;
    rx.await.ok()
}

fn remove_quietly(path: &Path) {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(error) => tracing::warn!(path = %path.display(), %error, "cannot remove spool file"),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use brine_proto::targeting::TargetType;

    fn job(jid: &str) -> Job {
        Job {
            jid: jid.parse().unwrap(),
            tgt: "*".into(),
            tgt_type: TargetType::Glob,
            fun: "test.sleep".into(),
            arg: vec![],
            kwarg: Default::default(),
            user: "root".into(),
            timeout: 5,
            master: "m".into(),
            issued_ms: now_ms(),
        }
    }

    #[test]
    fn returns_survive_until_acknowledged_and_seen_jids_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), "127.0.0.1", 60_000).unwrap();
        let j = job("20261204010101000001");
        assert!(s.mark_seen(j.jid, j.issued_ms).unwrap());
        assert!(!s.mark_seen(j.jid, j.issued_ms).unwrap());
        s.job_started(&j).unwrap();
        drop(s);
        // A restart: the job was running, so it comes back as interrupted.
        let s = Spool::open(dir.path(), "127.0.0.1", 60_000).unwrap();
        assert!(s.has_seen(j.jid), "the replay window survives a restart");
        let rets = s.recover_interrupted("web1");
        assert_eq!(rets.len(), 1);
        assert!(!rets[0].success);
        assert_eq!(s.pending_returns().len(), 1);
        assert!(s.recover_interrupted("web1").is_empty());
        s.acknowledged(j.jid);
        assert!(s.pending_returns().is_empty());
    }

    #[test]
    fn seen_jids_outside_the_window_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), "m", 60_000).unwrap();
        let old: JobId = "20200101000000000000".parse().unwrap();
        s.mark_seen(old, now_ms() - 120_000).unwrap();
        drop(s);
        let s = Spool::open(dir.path(), "m", 60_000).unwrap();
        assert!(!s.has_seen(old));
    }
}
