//! The embedded backend: one SQLite file (WAL) per master.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use brine_proto::{Job, JobId, JobReturn};
use rusqlite::{params, Connection, OptionalExtension};

use super::{
    job_from_columns, key_state_str, parse_key_state, passes, return_columns, return_from_columns,
    ApiCertRecord, BatchWriter, JobColumns, JobFilter, JobRecord, JobSummary, JobTarget, KeyRecord,
    MineEntry, MineRow, Presence, ReturnColumns, StoreError, StoreReader, WriteOp, Written,
};

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
CREATE TABLE IF NOT EXISTS mine (
    id TEXT NOT NULL, fun TEXT NOT NULL, data TEXT NOT NULL,
    allow_tgt TEXT, allow_tgt_type TEXT, updated_ms INTEGER NOT NULL,
    PRIMARY KEY (id, fun)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS job_minions (
    jid TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (jid, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS grains_history (
    id TEXT NOT NULL, at_ms INTEGER NOT NULL, delta TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS grains_history_id ON grains_history(id, at_ms);
CREATE INDEX IF NOT EXISTS grains_history_at ON grains_history(at_ms);
CREATE TABLE IF NOT EXISTS baselines (
    name TEXT PRIMARY KEY, target TEXT NOT NULL, created_ms INTEGER NOT NULL,
    data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS returns_id_finished ON returns(id, finished_ms);
CREATE TABLE IF NOT EXISTS audit (
    at_ms INTEGER NOT NULL, user TEXT NOT NULL, source TEXT NOT NULL,
    action TEXT NOT NULL, target TEXT NOT NULL, fun TEXT NOT NULL,
    args TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_at ON audit(at_ms);
CREATE TABLE IF NOT EXISTS api_tokens (
    hash TEXT PRIMARY KEY, user TEXT NOT NULL, created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS api_certs (
    serial TEXT PRIMARY KEY, user TEXT NOT NULL, not_after_ms INTEGER NOT NULL,
    issued_ms INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS api_certs_user ON api_certs(user);
CREATE TABLE IF NOT EXISTS reactions (
    rule TEXT NOT NULL, key TEXT NOT NULL, claimed_ms INTEGER NOT NULL,
    PRIMARY KEY (rule, key)) WITHOUT ROWID;
";

fn sql_err(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Sqlite {
        path: path.display().to_string(),
        source,
    }
}

/// Opens (creating if needed) the file; the writer and the reader.
pub(crate) fn open(path: &Path) -> Result<(SqliteWriter, SqliteReader), StoreError> {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let err = sql_err(path);
    let conn = Connection::open(path).map_err(&err)?;
    conn.execute_batch(SCHEMA).map_err(&err)?;
    let reader = Connection::open(path).map_err(&err)?;
    Ok((
        SqliteWriter {
            conn,
            path: path.to_path_buf(),
        },
        SqliteReader {
            path: path.to_path_buf(),
            conn: Arc::new(Mutex::new(reader)),
        },
    ))
}

pub(crate) struct SqliteWriter {
    conn: Connection,
    path: PathBuf,
}

impl BatchWriter for SqliteWriter {
    fn place(&self) -> String {
        self.path.display().to_string()
    }

    fn apply_batch(&mut self, batch: &[&WriteOp]) -> Result<Vec<Written>, String> {
        apply_batch(&mut self.conn, batch).map_err(|e| e.to_string())
    }
}

/// Reads run on a blocking thread (SQLite answers from disk) through one
/// connection of their own; WAL lets them run beside the writer.
#[derive(Clone)]
pub(crate) struct SqliteReader {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
}

impl SqliteReader {
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (conn, path) = (self.conn.clone(), self.path.clone());
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&conn).map_err(sql_err(&path))
        })
        .await
        .map_err(|e| StoreError::WriteFailed {
            path: self.path.display().to_string(),
            message: format!("read task failed: {e}"),
        })?
    }

    /// Runs `f` on the reader connection now, on this thread (tests).
    #[cfg(test)]
    pub(crate) fn with_now<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn)
    }
}

impl StoreReader for SqliteReader {
    async fn load_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.with(|c| {
            let mut st =
                c.prepare("SELECT id, state, fingerprint, csr_pem FROM keys ORDER BY id")?;
            let rows = st.query_map([], row_to_key)?;
            rows.collect()
        })
        .await
    }

    async fn load_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let id = id.to_string();
        self.with(move |c| {
            c.query_row(
                "SELECT id, state, fingerprint, csr_pem FROM keys WHERE id = ?1",
                params![id],
                row_to_key,
            )
            .optional()
        })
        .await
    }

    async fn load_grains(
        &self,
        ids: Option<Vec<String>>,
    ) -> Result<Vec<(String, String)>, StoreError> {
        self.with(move |c| match ids {
            None => {
                let mut st = c.prepare("SELECT id, grains FROM grains")?;
                let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect()
            }
            Some(ids) => {
                let mut st = c.prepare_cached("SELECT id, grains FROM grains WHERE id = ?1")?;
                let mut out = Vec::new();
                for id in ids {
                    if let Some(row) = st
                        .query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()?
                    {
                        out.push(row);
                    }
                }
                Ok(out)
            }
        })
        .await
    }

    async fn load_presence(&self, only: Option<&str>) -> Result<Vec<Presence>, StoreError> {
        let only = only.map(str::to_string);
        self.with(move |c| {
            let mut st = c.prepare(
                "SELECT id, connected, last_seen_ms FROM presence WHERE ?1 IS NULL OR id = ?1",
            )?;
            let rows = st.query_map(params![only], |r| {
                Ok(Presence {
                    id: r.get(0)?,
                    // One master per file: the caller names it.
                    master: String::new(),
                    connected: r.get::<_, i64>(1)? != 0,
                    last_seen_ms: r.get(2)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn job_target(&self, jid: JobId, id: &str) -> Result<Option<JobTarget>, StoreError> {
        let (jid_s, id) = (jid.to_string(), id.to_string());
        self.with(move |c| {
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
        .await
    }

    async fn lookup_job(
        &self,
        jid: JobId,
    ) -> Result<Option<(JobRecord, Vec<JobReturn>)>, StoreError> {
        let jid_s = jid.to_string();
        self.with(move |c| {
            let job = c
                .query_row(
                    &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE jid = ?1"),
                    params![jid_s],
                    |r| row_to_job(jid, r, 0),
                )
                .optional()?;
            let Some(job) = job else { return Ok(None) };
            let mut st = c.prepare(
                "SELECT id, fun, ret, retcode, success, error, started_ms, finished_ms
                 FROM returns WHERE jid = ?1 ORDER BY id",
            )?;
            let rets = st
                .query_map(params![jid_s], |r| {
                    Ok(return_from_columns(jid, row_to_return(r)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Some((job, rets)))
        })
        .await
    }

    async fn list_jobs(
        &self,
        filter: &JobFilter,
        limit: usize,
    ) -> Result<Vec<JobSummary>, StoreError> {
        let filter = filter.clone();
        self.with(move |c| {
            // Time bounds through the index; globs and the rest in Rust.
            let mut st = c.prepare(&format!(
                "SELECT j.jid, {JOB_COLUMNS_J},
                        (SELECT COUNT(*) FROM returns r WHERE r.jid = j.jid)
                 FROM jobs j WHERE j.created_ms >= ?1 AND j.created_ms <= ?2
                 ORDER BY j.created_ms DESC, j.jid DESC"
            ))?;
            let rows = st.query_map(
                params![
                    filter.start_ms.unwrap_or(i64::MIN),
                    filter.end_ms.unwrap_or(i64::MAX)
                ],
                |r| {
                    let jid: String = r.get(0)?;
                    let jid: JobId = jid.parse().map_err(|_| rusqlite::Error::InvalidQuery)?;
                    let rec = row_to_job(jid, r, 1)?;
                    Ok((rec, r.get::<_, i64>(11)? as usize))
                },
            )?;
            let mut out = Vec::new();
            for row in rows {
                let (record, returned) = row?;
                if passes(&filter, &record, returned) {
                    out.push(JobSummary {
                        record,
                        returned,
                        master: String::new(),
                    });
                    if out.len() >= limit {
                        break;
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    async fn jobs_to_replay(
        &self,
        minion: &str,
        after: JobId,
        slack_ms: i64,
        (now_ms, window_ms): (i64, i64),
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        let after_s = after.to_string();
        let minion = minion.to_string();
        self.with(move |c| {
            let mut st = c.prepare_cached(
                "SELECT jid, tgt, tgt_type, fun, arg, kwarg, user, timeout, '[]', created_ms, ''
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
                    Ok(row_to_job(jid, r, 1)?.job)
                },
            )?;
            rows.collect()
        })
        .await
    }

    async fn returns_since(
        &self,
        _jid: JobId,
        _origin: Option<&str>,
        _not_by: &str,
        _after: i64,
    ) -> Result<Vec<(i64, JobReturn)>, StoreError> {
        // One master per file: every return reached this master itself.
        Ok(Vec::new())
    }

    async fn connected_to(
        &self,
        _master: &str,
        _ids: Vec<String>,
    ) -> Result<Vec<String>, StoreError> {
        // One master per file: no other master's connections are recorded.
        Ok(Vec::new())
    }

    async fn grains_history(
        &self,
        id: Option<String>,
        since_ms: i64,
        until_ms: i64,
        limit: usize,
    ) -> Result<Vec<(String, i64, String)>, StoreError> {
        self.with(move |c| {
            let row = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?, r.get(2)?));
            match id {
                Some(id) => {
                    let mut st = c.prepare_cached(
                        "SELECT id, at_ms, delta FROM grains_history
                         WHERE id = ?1 AND at_ms >= ?2 AND at_ms < ?3
                         ORDER BY at_ms, rowid LIMIT ?4",
                    )?;
                    let rows = st.query_map(params![id, since_ms, until_ms, limit as i64], row)?;
                    rows.collect()
                }
                None => {
                    let mut st = c.prepare_cached(
                        "SELECT id, at_ms, delta FROM grains_history
                         WHERE at_ms >= ?1 AND at_ms < ?2
                         ORDER BY at_ms, rowid LIMIT ?3",
                    )?;
                    let rows = st.query_map(params![since_ms, until_ms, limit as i64], row)?;
                    rows.collect()
                }
            }
        })
        .await
    }

    async fn list_audit(
        &self,
        filter: &crate::audit::AuditFilter,
    ) -> Result<Vec<crate::audit::AuditRecord>, StoreError> {
        let f = filter.clone();
        self.with(move |c| {
            let mut st = c.prepare_cached(
                "SELECT at_ms, user, source, action, target, fun, args, outcome, detail FROM audit
                 WHERE at_ms >= ?1 AND (?2 IS NULL OR user = ?2) AND (?3 IS NULL OR action = ?3)
                   AND (?4 IS NULL OR outcome = ?4)
                 ORDER BY at_ms DESC, rowid DESC LIMIT ?5",
            )?;
            let rows = st.query_map(
                params![f.since_ms, f.user, f.action, f.outcome, f.limit as i64],
                |r| {
                    Ok(crate::audit::AuditRecord {
                        at_ms: r.get(0)?,
                        user: r.get(1)?,
                        source: r.get(2)?,
                        action: r.get(3)?,
                        target: r.get(4)?,
                        fun: r.get(5)?,
                        args: serde_json::from_str(&r.get::<_, String>(6)?).unwrap_or_default(),
                        outcome: r.get(7)?,
                        detail: r.get(8)?,
                    })
                },
            )?;
            rows.collect()
        })
        .await
    }

    async fn load_token(&self, hash: &str) -> Result<Option<(String, i64, bool)>, StoreError> {
        let hash = hash.to_string();
        self.with(move |c| {
            c.query_row(
                "SELECT user, expires_ms, revoked FROM api_tokens WHERE hash = ?1",
                params![hash],
                |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? != 0)),
            )
            .optional()
        })
        .await
    }

    async fn load_baseline(&self, name: &str) -> Result<Option<(String, i64, String)>, StoreError> {
        let name = name.to_string();
        self.with(move |c| {
            c.query_row(
                "SELECT target, created_ms, data FROM baselines WHERE name = ?1",
                params![name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
        })
        .await
    }

    async fn list_baselines(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        self.with(|c| {
            let mut st =
                c.prepare("SELECT name, target, created_ms FROM baselines ORDER BY name")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })
        .await
    }

    async fn last_state_returns(
        &self,
        funs: &[&str],
        only: Option<&str>,
    ) -> Result<Vec<(String, String, String, String, i64)>, StoreError> {
        let funs: Vec<String> = funs.iter().map(|f| f.to_string()).collect();
        let only = only.map(str::to_string);
        self.with(move |c| {
            let list = funs.iter().map(|_| "?").collect::<Vec<_>>().join(",");
            if let Some(id) = only {
                // One minion: its own rows through returns_id_finished.
                let sql = format!(
                    "SELECT id, jid, fun, ret, finished_ms FROM returns
                     WHERE id = ? AND fun IN ({list}) ORDER BY finished_ms DESC LIMIT 1"
                );
                let mut st = c.prepare(&sql)?;
                let params: Vec<&String> = std::iter::once(&id).chain(funs.iter()).collect();
                let rows = st.query_map(rusqlite::params_from_iter(params), |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?;
                return rows.collect::<rusqlite::Result<Vec<_>>>();
            }
            let sql = format!(
                "SELECT r.id, r.jid, r.fun, r.ret, r.finished_ms FROM returns r
                 JOIN (SELECT id, MAX(finished_ms) AS m FROM returns WHERE fun IN ({list}) GROUP BY id) x
                   ON r.id = x.id AND r.finished_ms = x.m
                 WHERE r.fun IN ({list}) ORDER BY r.id"
            );
            let mut st = c.prepare(&sql)?;
            let both: Vec<&String> = funs.iter().chain(funs.iter()).collect();
            let rows = st.query_map(rusqlite::params_from_iter(both), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?;
            let mut out: Vec<(String, String, String, String, i64)> = Vec::new();
            for row in rows {
                let row = row?;
                // Two returns finished in the same millisecond: keep one.
                if out.last().is_some_and(|l| l.0 == row.0) {
                    continue;
                }
                out.push(row);
            }
            Ok(out)
        })
        .await
    }

    async fn load_mine(&self, fun: &str, ids: Vec<String>) -> Result<Vec<MineRow>, StoreError> {
        let fun = fun.to_string();
        self.with(move |c| {
            let mut st = c.prepare_cached(
                "SELECT data, allow_tgt, allow_tgt_type, updated_ms FROM mine
                 WHERE id = ?1 AND fun = ?2",
            )?;
            let mut out = Vec::new();
            for id in ids {
                let row = st
                    .query_row(params![id, fun], |r| {
                        Ok(MineRow {
                            id: id.clone(),
                            entry: MineEntry {
                                fun: fun.clone(),
                                data: r.get(0)?,
                                allow_tgt: r.get(1)?,
                                allow_tgt_type: r.get(2)?,
                            },
                            updated_ms: r.get(3)?,
                        })
                    })
                    .optional()?;
                out.extend(row);
            }
            Ok(out)
        })
        .await
    }

    async fn list_api_certs(&self) -> Result<Vec<ApiCertRecord>, StoreError> {
        self.with(move |c| {
            let mut st = c.prepare_cached(
                "SELECT serial, user, not_after_ms, issued_ms, revoked FROM api_certs
                 ORDER BY issued_ms, serial",
            )?;
            let rows = st.query_map([], row_to_api_cert)?;
            rows.collect()
        })
        .await
    }

    async fn load_api_cert(&self, serial: &str) -> Result<Option<ApiCertRecord>, StoreError> {
        let serial = serial.to_string();
        self.with(move |c| {
            c.query_row(
                "SELECT serial, user, not_after_ms, issued_ms, revoked FROM api_certs
                 WHERE serial = ?1",
                params![serial],
                row_to_api_cert,
            )
            .optional()
        })
        .await
    }

    async fn mine_sizes(&self, id: &str) -> Result<Vec<(String, usize)>, StoreError> {
        let id = id.to_string();
        self.with(move |c| {
            let mut st = c.prepare_cached(
                "SELECT fun, length(CAST(data AS BLOB)) FROM mine WHERE id = ?1 ORDER BY fun",
            )?;
            let rows = st.query_map(params![id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as usize))
            })?;
            rows.collect()
        })
        .await
    }
}

const JOB_COLUMNS: &str = "tgt, tgt_type, fun, arg, kwarg, user, timeout, expected, created_ms, ''";
const JOB_COLUMNS_J: &str =
    "j.tgt, j.tgt_type, j.fun, j.arg, j.kwarg, j.user, j.timeout, j.expected, j.created_ms, ''";

fn row_to_api_cert(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiCertRecord> {
    Ok(ApiCertRecord {
        serial: r.get(0)?,
        user: r.get(1)?,
        not_after_ms: r.get(2)?,
        issued_ms: r.get(3)?,
        revoked: r.get::<_, i64>(4)? != 0,
    })
}

fn row_to_key(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRecord> {
    Ok(KeyRecord {
        id: r.get(0)?,
        state: parse_key_state(&r.get::<_, String>(1)?),
        fingerprint: r.get(2)?,
        csr_pem: r.get(3)?,
    })
}

fn row_to_job(jid: JobId, r: &rusqlite::Row<'_>, o: usize) -> rusqlite::Result<JobRecord> {
    Ok(job_from_columns(
        jid,
        JobColumns {
            tgt: r.get(o)?,
            tgt_type: r.get(o + 1)?,
            fun: r.get(o + 2)?,
            arg: r.get(o + 3)?,
            kwarg: r.get(o + 4)?,
            user: r.get(o + 5)?,
            timeout: r.get(o + 6)?,
            expected: r.get(o + 7)?,
            created_ms: r.get(o + 8)?,
            master: r.get(o + 9)?,
        },
    ))
}

fn row_to_return(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReturnColumns> {
    Ok(ReturnColumns {
        id: r.get(0)?,
        fun: r.get(1)?,
        ret: r.get(2)?,
        retcode: r.get(3)?,
        success: r.get::<_, i64>(4)? != 0,
        error: r.get(5)?,
        started_ms: r.get(6)?,
        finished_ms: r.get(7)?,
    })
}

/// Applies `batch` in one transaction; the outcome of each write, in order.
fn apply_batch(conn: &mut Connection, batch: &[&WriteOp]) -> rusqlite::Result<Vec<Written>> {
    let tx = conn.transaction()?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for op in batch {
        let mut outcome = Written::Stored;
        match op {
            WriteOp::PutKey(k) => {
                tx.execute(
                    "INSERT INTO keys (id, state, fingerprint, csr_pem, updated_ms) VALUES (?1,?2,?3,?4,?5)
                     ON CONFLICT(id) DO UPDATE SET state=?2, fingerprint=?3, csr_pem=?4, updated_ms=?5",
                    params![k.id, key_state_str(k.state), k.fingerprint, k.csr_pem, super::now_ms()],
                )?;
            }
            WriteOp::CreateKey(k) => {
                let inserted = tx.execute(
                    "INSERT OR IGNORE INTO keys (id, state, fingerprint, csr_pem, updated_ms) VALUES (?1,?2,?3,?4,?5)",
                    params![k.id, key_state_str(k.state), k.fingerprint, k.csr_pem, super::now_ms()],
                )?;
                if inserted == 0 {
                    outcome = Written::Duplicate;
                }
            }
            WriteOp::DeleteKey(id) => {
                tx.execute("DELETE FROM keys WHERE id = ?1", params![id])?;
                tx.execute("DELETE FROM presence WHERE id = ?1", params![id])?;
                // A deleted minion's mine data must not outlive its key.
                tx.execute("DELETE FROM mine WHERE id = ?1", params![id])?;
            }
            WriteOp::MinePut { id, entries, clear } => {
                if *clear {
                    tx.execute("DELETE FROM mine WHERE id = ?1", params![id])?;
                }
                let mut st = tx.prepare_cached(
                    "INSERT INTO mine (id, fun, data, allow_tgt, allow_tgt_type, updated_ms)
                     VALUES (?1,?2,?3,?4,?5,?6)
                     ON CONFLICT(id, fun) DO UPDATE SET data=?3, allow_tgt=?4,
                        allow_tgt_type=?5, updated_ms=?6",
                )?;
                let now = super::now_ms();
                for e in entries {
                    st.execute(params![
                        id,
                        e.fun,
                        e.data,
                        e.allow_tgt,
                        e.allow_tgt_type,
                        now
                    ])?;
                }
            }
            WriteOp::MineDelete { id, fun } => match fun {
                Some(fun) => {
                    tx.execute(
                        "DELETE FROM mine WHERE id = ?1 AND fun = ?2",
                        params![id, fun],
                    )?;
                }
                None => {
                    tx.execute("DELETE FROM mine WHERE id = ?1", params![id])?;
                }
            },
            WriteOp::Grains { id, json, delta } => {
                let now = super::now_ms();
                tx.execute(
                    "INSERT INTO grains (id, grains, updated_ms) VALUES (?1,?2,?3)
                     ON CONFLICT(id) DO UPDATE SET grains=?2, updated_ms=?3",
                    params![id, json, now],
                )?;
                if let Some(delta) = delta {
                    tx.prepare_cached(
                        "INSERT INTO grains_history (id, at_ms, delta) VALUES (?1,?2,?3)",
                    )?
                    .execute(params![id, now, delta])?;
                }
            }
            WriteOp::PruneHistory { before_ms } => {
                tx.execute(
                    "DELETE FROM grains_history WHERE at_ms < ?1",
                    params![before_ms],
                )?;
            }
            WriteOp::PutBaseline { name, target, data } => {
                tx.execute(
                    "INSERT INTO baselines (name, target, created_ms, data) VALUES (?1,?2,?3,?4)
                     ON CONFLICT(name) DO UPDATE SET target=?2, created_ms=?3, data=?4",
                    params![name, target, super::now_ms(), data],
                )?;
            }
            WriteOp::DeleteBaseline(name) => {
                tx.execute("DELETE FROM baselines WHERE name = ?1", params![name])?;
            }
            WriteOp::Audit(a) => {
                tx.prepare_cached(
                    "INSERT INTO audit (at_ms, user, source, action, target, fun, args, outcome, detail)
                     VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
                )?
                .execute(params![
                    a.at_ms,
                    a.user,
                    a.source,
                    a.action,
                    a.target,
                    a.fun,
                    a.args.to_string(),
                    a.outcome,
                    a.detail
                ])?;
            }
            WriteOp::PruneAudit { before_ms } => {
                tx.execute("DELETE FROM audit WHERE at_ms < ?1", params![before_ms])?;
                // Tokens expired long enough ago that nobody can use them.
                tx.execute(
                    "DELETE FROM api_tokens WHERE expires_ms < ?1",
                    params![before_ms],
                )?;
            }
            WriteOp::PutToken {
                hash,
                user,
                expires_ms,
            } => {
                tx.execute(
                    "INSERT INTO api_tokens (hash, user, created_ms, expires_ms) VALUES (?1,?2,?3,?4)",
                    params![hash, user, super::now_ms(), expires_ms],
                )?;
            }
            WriteOp::PutApiCert(c) => {
                tx.execute(
                    "INSERT INTO api_certs (serial, user, not_after_ms, issued_ms, revoked)
                     VALUES (?1,?2,?3,?4,?5)",
                    params![c.serial, c.user, c.not_after_ms, c.issued_ms, c.revoked],
                )?;
            }
            WriteOp::RevokeApiCert(serial) => {
                tx.execute(
                    "UPDATE api_certs SET revoked = 1 WHERE serial = ?1",
                    params![serial],
                )?;
            }
            WriteOp::RevokeToken(hash) => {
                tx.execute(
                    "UPDATE api_tokens SET revoked = 1 WHERE hash = ?1",
                    params![hash],
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
                let inserted = tx.execute(
                    "INSERT OR IGNORE INTO jobs (jid, tgt, tgt_type, fun, arg, kwarg, user, timeout, expected, created_ms)
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
                if inserted == 0 {
                    outcome = Written::Duplicate;
                } else {
                    let mut st = tx.prepare_cached(
                        "INSERT OR IGNORE INTO job_minions (jid, id) VALUES (?1, ?2)",
                    )?;
                    let jid = j.jid.to_string();
                    for id in &rec.expected {
                        st.execute(params![jid, id])?;
                    }
                }
            }
            WriteOp::Return(r) => {
                let (ret, error) = return_columns(r);
                let inserted = tx.execute(
                    "INSERT OR IGNORE INTO returns (jid, id, fun, ret, retcode, success, error, started_ms, finished_ms)
                     VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
                    params![
                        r.jid.to_string(),
                        r.id,
                        r.fun,
                        ret,
                        r.retcode,
                        r.success as i64,
                        error,
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
                tx.execute(
                    "DELETE FROM reactions WHERE claimed_ms < ?1",
                    params![before_ms],
                )?;
            }
            WriteOp::ClaimReaction { rule, key, at_ms } => {
                let inserted = tx.execute(
                    "INSERT INTO reactions (rule, key, claimed_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT DO NOTHING",
                    params![rule, key, at_ms],
                )?;
                if inserted == 0 {
                    outcome = Written::Duplicate;
                }
            }
            WriteOp::Sync | WriteOp::MasterAlive => {}
        }
        outcomes.push(outcome);
    }
    tx.commit()?;
    Ok(outcomes)
}
