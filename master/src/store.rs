//! The master's embedded store: one SQLite file (WAL) holding key state,
//! the grain inventory, presence and the job cache.
//!
//! Writes go through one writer thread that groups whatever is queued into a
//! single transaction, so a burst of ten thousand returns costs a handful of
//! commits and never blocks the tokio workers. Key changes wait for their
//! commit (they are rare and must be durable before the CLI says "done").

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

use brine_proto::{Grains, Job, JobId, JobReturn, KeyEntry, KeyState};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
use tokio::sync::oneshot;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
    #[error("store writer stopped")]
    WriterGone,
    /// The write was attempted and failed (disk full, I/O error...).
    #[error("store {path}: write failed: {message}")]
    WriteFailed { path: String, message: String },
}

/// What a write that waits for its commit learns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    /// Committed.
    Stored,
    /// Nothing to do: the row was already there (a second return for the
    /// same job and minion never replaces the first).
    Duplicate,
}

type Ack = oneshot::Sender<Result<Written, String>>;

/// A write and, for writes the caller waits on, where to say how it went.
struct Queued {
    op: WriteOp,
    ack: Option<Ack>,
}

const SCHEMA: &str = "
PRAGMA journal_mode=WAL;
PRAGMA synchronous=FULL;
CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY, state TEXT NOT NULL, fingerprint TEXT NOT NULL,
    csr_pem TEXT, updated_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS grains (
    id TEXT PRIMARY KEY, grains TEXT NOT NULL, updated_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS presence (
    id TEXT PRIMARY KEY, connected INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    jid TEXT PRIMARY KEY, tgt TEXT NOT NULL, tgt_type TEXT NOT NULL, fun TEXT NOT NULL,
    arg TEXT NOT NULL, kwarg TEXT NOT NULL, user TEXT NOT NULL, timeout INTEGER NOT NULL,
    expected TEXT NOT NULL, created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS returns (
    jid TEXT NOT NULL, id TEXT NOT NULL, fun TEXT NOT NULL, ret TEXT NOT NULL,
    retcode INTEGER NOT NULL, success INTEGER NOT NULL, error TEXT,
    started_ms INTEGER NOT NULL, finished_ms INTEGER NOT NULL,
    PRIMARY KEY (jid, id));
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_ms);
CREATE TABLE IF NOT EXISTS job_minions (
    jid TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (jid, id)) WITHOUT ROWID;
";

/// A key row as stored (with the CSR, needed to issue the certificate).
#[derive(Clone, Debug)]
pub struct KeyRecord {
    pub id: String,
    pub state: KeyState,
    pub fingerprint: String,
    pub csr_pem: Option<String>,
}

impl KeyRecord {
    pub fn entry(&self) -> KeyEntry {
        KeyEntry {
            id: self.id.clone(),
            state: self.state,
            fingerprint: self.fingerprint.clone(),
        }
    }
}

/// What the store knows of a job's target, to check a return against.
#[derive(Clone, Debug)]
pub struct JobTarget {
    pub tgt: String,
    pub tgt_type: brine_proto::targeting::TargetType,
    /// The minion was in the job's expected set.
    pub expected: bool,
}

/// A job as the job cache keeps it.
#[derive(Clone, Debug)]
pub struct JobRecord {
    pub job: Job,
    pub expected: Vec<String>,
}

enum WriteOp {
    PutKey(KeyRecord),
    DeleteKey(String),
    Grains {
        id: String,
        /// As stored: JSON text, made by the caller (a queue of a fleet's
        /// grains holds their compact text, not their trees).
        json: String,
    },
    Presence {
        id: String,
        connected: bool,
        at_ms: i64,
    },
    AllDisconnected,
    Job(Box<JobRecord>),
    Return(Box<JobReturn>),
    Prune {
        before_ms: i64,
    },
    /// A barrier: acknowledged once everything queued before it is handled.
    Sync,
}

#[derive(Clone)]
pub struct Store {
    path: PathBuf,
    tx: mpsc::Sender<Queued>,
    reader: Arc<Mutex<Connection>>,
}

fn sql_err(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Sqlite {
        path: path.display().to_string(),
        source,
    }
}

fn key_state_str(s: KeyState) -> &'static str {
    s.as_str()
}

fn parse_key_state(s: &str) -> KeyState {
    match s {
        "accepted" => KeyState::Accepted,
        "rejected" => KeyState::Rejected,
        "denied" => KeyState::Denied,
        _ => KeyState::Pending,
    }
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let err = sql_err(path);
        let conn = Connection::open(path).map_err(&err)?;
        conn.execute_batch(SCHEMA).map_err(&err)?;
        let reader = Connection::open(path).map_err(&err)?;
        let (tx, rx) = mpsc::channel();
        let wpath = path.to_path_buf();
        std::thread::Builder::new()
            .name("brine-store".into())
            .spawn(move || writer_loop(conn, rx, wpath))
            .expect("spawn store writer");
        Ok(Store {
            path: path.to_path_buf(),
            tx,
            reader: Arc::new(Mutex::new(reader)),
        })
    }

    /// Queues a write whose outcome nobody waits for (presence, grains:
    /// the next report replaces them anyway).
    fn send(&self, op: WriteOp) {
        // The writer only stops when the process ends; a failed send then is moot.
        let _ = self.tx.send(Queued { op, ack: None });
    }

    /// Queues a write and waits for its commit: Ok only once it is on disk.
    async fn write(&self, op: WriteOp) -> Result<Written, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Queued { op, ack: Some(tx) })
            .map_err(|_| StoreError::WriterGone)?;
        match rx.await {
            Ok(Ok(w)) => Ok(w),
            Ok(Err(message)) => Err(StoreError::WriteFailed {
                path: self.path.display().to_string(),
                message,
            }),
            Err(_) => Err(StoreError::WriterGone),
        }
    }

    /// Waits until everything queued so far is handled.
    pub async fn sync(&self) -> Result<(), StoreError> {
        self.write(WriteOp::Sync).await.map(|_| ())
    }

    pub async fn put_key(&self, rec: KeyRecord) -> Result<(), StoreError> {
        self.write(WriteOp::PutKey(rec)).await.map(|_| ())
    }

    pub async fn delete_key(&self, id: &str) -> Result<(), StoreError> {
        self.write(WriteOp::DeleteKey(id.to_string()))
            .await
            .map(|_| ())
    }

    pub fn put_grains(&self, id: &str, grains: &Grains) {
        let json = serde_json::to_string(grains).unwrap_or_else(|_| "{}".into());
        self.send(WriteOp::Grains {
            id: id.to_string(),
            json,
        });
    }

    pub fn put_presence(&self, id: &str, connected: bool) {
        self.send(WriteOp::Presence {
            id: id.to_string(),
            connected,
            at_ms: now_ms(),
        });
    }

    pub fn mark_all_disconnected(&self) {
        self.send(WriteOp::AllDisconnected);
    }

    /// Records a job; Ok once committed (the CLI is told only then).
    pub async fn put_job(&self, rec: JobRecord) -> Result<(), StoreError> {
        self.write(WriteOp::Job(Box::new(rec))).await.map(|_| ())
    }

    /// Records a return unless one is already stored for (jid, minion): the
    /// first return wins, a replay or a resend never overwrites it.
    pub async fn put_return(&self, ret: JobReturn) -> Result<Written, StoreError> {
        self.write(WriteOp::Return(Box::new(ret))).await
    }

    /// Whether job `jid` exists and, if so, whether `id` was among the
    /// minions it targeted, with its target for a second look.
    pub fn job_target(&self, jid: JobId, id: &str) -> Result<Option<JobTarget>, StoreError> {
        let jid_s = jid.to_string();
        self.with_reader(|c| {
            let row = c
                .query_row(
                    "SELECT tgt, tgt_type FROM jobs WHERE jid = ?1",
                    params![jid_s],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
                )
                .optional()?;
            let Some((tgt, tgt_type)) = row else {
                return Ok(None);
            };
            let expected = c
                .query_row(
                    "SELECT 1 FROM job_minions WHERE jid = ?1 AND id = ?2",
                    params![jid_s, id],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            Ok(Some(JobTarget {
                tgt,
                tgt_type: tgt_type
                    .parse()
                    .unwrap_or(brine_proto::targeting::TargetType::Glob),
                expected,
            }))
        })
    }

    pub fn prune_jobs(&self, before_ms: i64) {
        self.send(WriteOp::Prune { before_ms });
    }

    fn with_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let conn = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn).map_err(sql_err(&self.path))
    }

    pub fn load_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.with_reader(|c| {
            let mut st =
                c.prepare("SELECT id, state, fingerprint, csr_pem FROM keys ORDER BY id")?;
            let rows = st.query_map([], |r| {
                Ok(KeyRecord {
                    id: r.get(0)?,
                    state: parse_key_state(&r.get::<_, String>(1)?),
                    fingerprint: r.get(2)?,
                    csr_pem: r.get(3)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Every minion's stored grains, one at a time through `each` (a fleet's
    /// grains decoded at once would be a memory peak the allocator keeps).
    pub fn load_grains<T>(
        &self,
        mut each: impl FnMut(String, Grains) -> T,
    ) -> Result<Vec<T>, StoreError> {
        self.with_reader(|c| {
            let mut st = c.prepare("SELECT id, grains FROM grains")?;
            let rows =
                st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            let mut out = Vec::new();
            for row in rows {
                let (id, text) = row?;
                if let Ok(g) = serde_json::from_str::<Grains>(&text) {
                    out.push(each(id, g));
                }
            }
            Ok(out)
        })
    }

    /// Last time each minion was seen (unix ms), and whether it is connected.
    pub fn load_presence(&self) -> Result<Vec<(String, bool, i64)>, StoreError> {
        self.with_reader(|c| {
            let mut st = c.prepare("SELECT id, connected, last_seen_ms FROM presence")?;
            let rows =
                st.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? != 0, r.get(2)?)))?;
            rows.collect()
        })
    }

    pub fn lookup_job(
        &self,
        jid: JobId,
    ) -> Result<Option<(JobRecord, Vec<JobReturn>)>, StoreError> {
        let jid_s = jid.to_string();
        self.with_reader(|c| {
            let job = c
                .query_row(
                    "SELECT tgt, tgt_type, fun, arg, kwarg, user, timeout, expected, created_ms
                     FROM jobs WHERE jid = ?1",
                    params![jid_s],
                    |r| row_to_job(jid, r),
                )
                .optional()?;
            let Some(job) = job else { return Ok(None) };
            let mut st = c.prepare(
                "SELECT id, fun, ret, retcode, success, error, started_ms, finished_ms
                 FROM returns WHERE jid = ?1 ORDER BY id",
            )?;
            let rets = st
                .query_map(params![jid_s], |r| {
                    Ok(JobReturn {
                        jid,
                        id: r.get(0)?,
                        fun: r.get(1)?,
                        ret: serde_json::from_str(&r.get::<_, String>(2)?).unwrap_or(Value::Null),
                        retcode: r.get(3)?,
                        success: r.get::<_, i64>(4)? != 0,
                        error: r
                            .get::<_, Option<String>>(5)?
                            .and_then(|e| serde_json::from_str(&e).ok()),
                        started_ms: r.get(6)?,
                        finished_ms: r.get(7)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Some((job, rets)))
        })
    }

    /// Jobs newest first, at most `limit`.
    pub fn list_jobs(&self, limit: usize) -> Result<Vec<(JobRecord, usize)>, StoreError> {
        self.with_reader(|c| {
            let mut st = c.prepare(
                "SELECT j.jid, tgt, tgt_type, j.fun, arg, kwarg, user, timeout, expected, created_ms,
                        (SELECT COUNT(*) FROM returns r WHERE r.jid = j.jid)
                 FROM jobs j ORDER BY created_ms DESC, jid DESC LIMIT ?1",
            )?;
            let rows = st.query_map(params![limit as i64], |r| {
                let jid: String = r.get(0)?;
                let jid: JobId = jid.parse().map_err(|_| rusqlite::Error::InvalidQuery)?;
                let rec = row_to_job_at(jid, r, 1)?;
                Ok((rec, r.get::<_, i64>(10)? as usize))
            })?;
            rows.collect()
        })
    }

    /// Jobs a reconnecting minion may have missed: those published after
    /// `after`, and those recorded up to `slack_ms` before it (jids from
    /// parallel callers are not published in jid order, so a minion that saw
    /// a newer jid may still have missed an older one when the connection
    /// dropped). The minion's own seen-window drops what it already ran.
    /// Jobs to offer a minion `minion` that reconnects having last seen
    /// `after`: recorded after it, or up to `slack_ms` before it
    /// (publications leave the wire out of jid order), issued within
    /// `window_ms` of `now_ms`, still within their own timeout, and without a
    /// return from this minion. Read through the `created_ms` index, without
    /// the jobs' expected lists: a fleet reconnects at once.
    pub fn jobs_to_replay(
        &self,
        minion: &str,
        after: JobId,
        slack_ms: i64,
        (now_ms, window_ms): (i64, i64),
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        let after_s = after.to_string();
        let minion = minion.to_string();
        self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT jid, tgt, tgt_type, fun, arg, kwarg, user, timeout, '[]', created_ms
                 FROM jobs
                 WHERE created_ms >= ?4
                   AND (jid > ?1
                        OR created_ms >= (SELECT created_ms FROM jobs WHERE jid = ?1) - ?3)
                   AND created_ms + timeout * 1000 >= ?5
                   AND NOT EXISTS (SELECT 1 FROM returns r WHERE r.jid = jobs.jid AND r.id = ?6)
                 ORDER BY jid LIMIT ?2",
            )?;
            let rows = st.query_map(
                params![
                    after_s,
                    limit as i64,
                    slack_ms,
                    now_ms - window_ms,
                    now_ms,
                    minion
                ],
                |r| {
                    let jid: String = r.get(0)?;
                    let jid: JobId = jid.parse().map_err(|_| rusqlite::Error::InvalidQuery)?;
                    Ok(row_to_job_at(jid, r, 1)?.job)
                },
            )?;
            rows.collect()
        })
    }
}

fn row_to_job(jid: JobId, r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRecord> {
    row_to_job_at(jid, r, 0)
}

fn row_to_job_at(jid: JobId, r: &rusqlite::Row<'_>, o: usize) -> rusqlite::Result<JobRecord> {
    let tgt_type: String = r.get(o + 1)?;
    let json = |i: usize| -> rusqlite::Result<Value> {
        Ok(serde_json::from_str(&r.get::<_, String>(i)?).unwrap_or(Value::Null))
    };
    let arg = match json(o + 3)? {
        Value::Array(a) => a,
        _ => Vec::new(),
    };
    let kwarg = match json(o + 4)? {
        Value::Object(m) => m,
        _ => Default::default(),
    };
    let expected: Vec<String> = serde_json::from_value(json(o + 7)?).unwrap_or_default();
    Ok(JobRecord {
        job: Job {
            jid,
            tgt: r.get(o)?,
            tgt_type: tgt_type
                .parse()
                .unwrap_or(brine_proto::targeting::TargetType::Glob),
            fun: r.get(o + 2)?,
            arg,
            kwarg,
            user: r.get(o + 5)?,
            timeout: r.get::<_, i64>(o + 6)? as u64,
            master: String::new(),
            issued_ms: r.get(o + 8)?,
        },
        expected,
    })
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn writer_loop(mut conn: Connection, rx: mpsc::Receiver<Queued>, path: PathBuf) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < 4096 {
            match rx.try_recv() {
                Ok(q) => batch.push(q),
                Err(_) => break,
            }
        }
        match apply_batch(&mut conn, &batch) {
            Ok(outcomes) => {
                for (q, outcome) in batch.into_iter().zip(outcomes) {
                    if let Some(ack) = q.ack {
                        let _ = ack.send(Ok(outcome));
                    }
                }
            }
            Err(error) => {
                // One bad write must not take the others down with it: try
                // each on its own, and tell each waiter how its own went.
                tracing::warn!(path = %path.display(), %error, ops = batch.len(),
                    "store batch failed; retrying its writes one by one");
                let mut failed = 0usize;
                for q in batch {
                    let outcome = apply_batch(&mut conn, std::slice::from_ref(&q))
                        .map(|mut o| o.pop().unwrap_or(Written::Stored))
                        .map_err(|e| e.to_string());
                    if let Err(error) = &outcome {
                        failed += 1;
                        tracing::error!(path = %path.display(), %error, op = q.op.name(), "store write failed");
                    }
                    if let Some(ack) = q.ack {
                        let _ = ack.send(outcome);
                    }
                }
                if failed > 0 {
                    tracing::error!(path = %path.display(), failed, "store writes failed (their callers were told)");
                }
            }
        }
    }
}

impl WriteOp {
    fn name(&self) -> &'static str {
        match self {
            WriteOp::PutKey(_) => "put_key",
            WriteOp::DeleteKey(_) => "delete_key",
            WriteOp::Grains { .. } => "grains",
            WriteOp::Presence { .. } => "presence",
            WriteOp::AllDisconnected => "all_disconnected",
            WriteOp::Job(_) => "job",
            WriteOp::Return(_) => "return",
            WriteOp::Prune { .. } => "prune",
            WriteOp::Sync => "sync",
        }
    }
}

/// Applies `batch` in one transaction; the outcome of each write, in order.
fn apply_batch(conn: &mut Connection, batch: &[Queued]) -> rusqlite::Result<Vec<Written>> {
    let tx = conn.transaction()?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for q in batch {
        let mut outcome = Written::Stored;
        match &q.op {
            WriteOp::PutKey(k) => {
                tx.execute(
                    "INSERT INTO keys (id, state, fingerprint, csr_pem, updated_ms) VALUES (?1,?2,?3,?4,?5)
                     ON CONFLICT(id) DO UPDATE SET state=?2, fingerprint=?3, csr_pem=?4, updated_ms=?5",
                    params![k.id, key_state_str(k.state), k.fingerprint, k.csr_pem, now_ms()],
                )?;
            }
            WriteOp::DeleteKey(id) => {
                tx.execute("DELETE FROM keys WHERE id = ?1", params![id])?;
                tx.execute("DELETE FROM presence WHERE id = ?1", params![id])?;
            }
            WriteOp::Grains { id, json } => {
                let text = json;
                tx.execute(
                    "INSERT INTO grains (id, grains, updated_ms) VALUES (?1,?2,?3)
                     ON CONFLICT(id) DO UPDATE SET grains=?2, updated_ms=?3",
                    params![id, text, now_ms()],
                )?;
            }
            WriteOp::Presence {
                id,
                connected,
                at_ms,
            } => {
                tx.execute(
                    "INSERT INTO presence (id, connected, last_seen_ms) VALUES (?1,?2,?3)
                     ON CONFLICT(id) DO UPDATE SET connected=?2, last_seen_ms=?3",
                    params![id, *connected as i64, at_ms],
                )?;
            }
            WriteOp::AllDisconnected => {
                tx.execute("UPDATE presence SET connected = 0", [])?;
            }
            WriteOp::Job(rec) => {
                let j = &rec.job;
                tx.execute(
                    "INSERT OR REPLACE INTO jobs (jid, tgt, tgt_type, fun, arg, kwarg, user, timeout, expected, created_ms)
                     VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
                    params![
                        j.jid.to_string(),
                        j.tgt,
                        j.tgt_type.as_str(),
                        j.fun,
                        serde_json::to_string(&j.arg).unwrap_or_default(),
                        serde_json::to_string(&j.kwarg).unwrap_or_default(),
                        j.user,
                        j.timeout as i64,
                        serde_json::to_string(&rec.expected).unwrap_or_default(),
                        j.issued_ms,
                    ],
                )?;
                let mut st = tx.prepare_cached(
                    "INSERT OR IGNORE INTO job_minions (jid, id) VALUES (?1, ?2)",
                )?;
                let jid = j.jid.to_string();
                for id in &rec.expected {
                    st.execute(params![jid, id])?;
                }
            }
            WriteOp::Return(r) => {
                let inserted = tx.execute(
                    "INSERT OR IGNORE INTO returns (jid, id, fun, ret, retcode, success, error, started_ms, finished_ms)
                     VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
                    params![
                        r.jid.to_string(),
                        r.id,
                        r.fun,
                        serde_json::to_string(&r.ret).unwrap_or_else(|_| "null".into()),
                        r.retcode,
                        r.success as i64,
                        r.error.as_ref().map(|e| serde_json::to_string(e).unwrap_or_default()),
                        r.started_ms,
                        r.finished_ms,
                    ],
                )?;
                if inserted == 0 {
                    outcome = Written::Duplicate;
                }
            }
            WriteOp::Prune { before_ms } => {
                tx.execute(
                    "DELETE FROM returns WHERE jid IN (SELECT jid FROM jobs WHERE created_ms < ?1)",
                    params![before_ms],
                )?;
                tx.execute(
                    "DELETE FROM job_minions WHERE jid IN (SELECT jid FROM jobs WHERE created_ms < ?1)",
                    params![before_ms],
                )?;
                tx.execute("DELETE FROM jobs WHERE created_ms < ?1", params![before_ms])?;
            }
            WriteOp::Sync => {}
        }
        outcomes.push(outcome);
    }
    tx.commit()?;
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use brine_proto::targeting::TargetType;

    fn ret(jid: JobId, id: &str, value: &str) -> JobReturn {
        JobReturn {
            jid,
            id: id.into(),
            fun: "test.ping".into(),
            ret: Value::String(value.into()),
            retcode: 0,
            success: true,
            error: None,
            started_ms: 0,
            finished_ms: 0,
        }
    }

    fn job(jid: JobId, expected: &[&str]) -> JobRecord {
        JobRecord {
            job: Job {
                jid,
                tgt: "*".into(),
                tgt_type: TargetType::Glob,
                fun: "test.ping".into(),
                arg: vec![],
                kwarg: Default::default(),
                user: "root".into(),
                timeout: 5,
                master: String::new(),
                issued_ms: now_ms(),
            },
            expected: expected.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[tokio::test]
    async fn a_failing_write_does_not_take_its_batch_down_and_each_caller_is_told() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let jid: JobId = "20261204010101000001".parse().unwrap();
        store.put_job(job(jid, &["a", "bad", "b"])).await.unwrap();
        // A write that fails inside SQLite, like a full disk would.
        store
            .with_reader(|c| {
                c.execute_batch(
                    "CREATE TRIGGER boom BEFORE INSERT ON returns WHEN NEW.id = 'bad'
                     BEGIN SELECT RAISE(ABORT, 'boom'); END;",
                )
            })
            .unwrap();
        // Queued together, so they share a batch.
        let (a, bad, b) = tokio::join!(
            store.put_return(ret(jid, "a", "1")),
            store.put_return(ret(jid, "bad", "2")),
            store.put_return(ret(jid, "b", "3")),
        );
        assert_eq!(a.unwrap(), Written::Stored);
        assert!(
            matches!(bad, Err(StoreError::WriteFailed { .. })),
            "{bad:?}"
        );
        assert_eq!(b.unwrap(), Written::Stored);
        let (_, rets) = store.lookup_job(jid).unwrap().unwrap();
        let ids: Vec<_> = rets.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
    }

    #[tokio::test]
    async fn a_reconnecting_minion_is_offered_jobs_published_out_of_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let older: JobId = "20261204010101000010".parse().unwrap();
        let newer: JobId = "20261204010101000011".parse().unwrap();
        let later: JobId = "20261204010101000012".parse().unwrap();
        for jid in [older, newer, later] {
            store.put_job(job(jid, &["web1"])).await.unwrap();
        }
        // The minion saw `newer` (published first) but not `older`.
        let live = (now_ms(), 300_000);
        let offered: Vec<JobId> = store
            .jobs_to_replay("web1", newer, 30_000, live, 256)
            .unwrap()
            .into_iter()
            .map(|j| j.jid)
            .collect();
        assert!(
            offered.contains(&older) && offered.contains(&later),
            "{offered:?}"
        );
        let strict: Vec<JobId> = store
            .jobs_to_replay("web1", newer, -1_000_000, live, 256)
            .unwrap()
            .into_iter()
            .map(|j| j.jid)
            .collect();
        assert_eq!(strict, [later]);
        // what the minion returned is not offered again
        store.put_return(ret(later, "web1", "x")).await.unwrap();
        let after_return: Vec<JobId> = store
            .jobs_to_replay("web1", newer, -1_000_000, live, 256)
            .unwrap()
            .into_iter()
            .map(|j| j.jid)
            .collect();
        assert!(after_return.is_empty(), "{after_return:?}");
        // nor a job past its own timeout (5 s in these records)
        let late = (now_ms() + 60_000, 300_000);
        assert!(store
            .jobs_to_replay("web1", newer, 30_000, late, 256)
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn the_first_return_stands_and_targets_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let jid: JobId = "20261204010101000002".parse().unwrap();
        store.put_job(job(jid, &["web1"])).await.unwrap();
        assert_eq!(
            store.put_return(ret(jid, "web1", "first")).await.unwrap(),
            Written::Stored
        );
        assert_eq!(
            store.put_return(ret(jid, "web1", "second")).await.unwrap(),
            Written::Duplicate
        );
        let (_, rets) = store.lookup_job(jid).unwrap().unwrap();
        assert_eq!(rets[0].ret, Value::String("first".into()));
        assert!(store.job_target(jid, "web1").unwrap().unwrap().expected);
        assert!(!store.job_target(jid, "web2").unwrap().unwrap().expected);
        let other: JobId = "20261204010101000003".parse().unwrap();
        assert!(store.job_target(other, "web1").unwrap().is_none());
    }
}
