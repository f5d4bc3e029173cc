//! The master's store: key state, the grain inventory, presence and the job
//! cache, behind one interface with two backends.
//!
//! - [`sqlite`]: the embedded default, one file per master, zero setup.
//! - [`postgres`]: one database shared by every master of a cluster
//!   (`store: postgres://...`); what one master writes the others are told
//!   of through LISTEN/NOTIFY ([`ClusterEvent`]).
//!
//! Writes go through one writer thread per master that groups whatever is
//! queued into a single transaction, so a burst of ten thousand returns
//! costs a handful of commits and never blocks the tokio workers. Writes a
//! caller waits on (keys, jobs, returns) are acknowledged only once
//! committed.

pub mod postgres;
pub mod sqlite;

use std::sync::{mpsc, Arc};

use brine_proto::{Grains, Job, JobId, JobReturn, KeyEntry, KeyState};
use tokio::sync::oneshot;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
    #[error("store {place}: {message}")]
    Postgres { place: String, message: String },
    #[error("store writer stopped")]
    WriterGone,
    /// The write was attempted and failed (disk full, I/O error, database
    /// unreachable...).
    #[error("store {path}: write failed: {message}")]
    WriteFailed { path: String, message: String },
}

/// What a write that waits for its commit learns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    /// Committed.
    Stored,
    /// Nothing to do: the row was already there (a second return for the
    /// same job and minion never replaces the first; a jid another master
    /// of the cluster already used).
    Duplicate,
}

type Ack = oneshot::Sender<Result<Written, String>>;

/// A write and, for writes the caller waits on, where to say how it went.
pub struct Queued {
    op: WriteOp,
    ack: Option<Ack>,
}

/// An API user's client certificate as recorded when issued.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ApiCertRecord {
    /// Serial number, lowercase hex.
    pub serial: String,
    pub user: String,
    pub not_after_ms: i64,
    pub issued_ms: i64,
    pub revoked: bool,
}

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

/// A minion's connection to one master, as the store last heard of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presence {
    pub id: String,
    /// The master's id (`id` in its config).
    pub master: String,
    pub connected: bool,
    pub last_seen_ms: i64,
}

/// Which jobs `jobs.list_jobs` shows (Salt's `search_*` filters).
#[derive(Clone, Debug, Default)]
pub struct JobFilter {
    /// Glob on the function (`search_function`).
    pub function: Option<String>,
    /// Glob on the target as typed (`search_target`).
    pub target: Option<String>,
    /// Unix ms, inclusive.
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub user: Option<String>,
    /// Only jobs that expected this minion (the console's minion page).
    pub minion: Option<String>,
    /// Only jobs still within their timeout and not returned by every
    /// expected minion (`jobs.active`).
    pub active_at_ms: Option<i64>,
}

/// A job in a listing, with how many minions returned.
#[derive(Clone, Debug)]
pub struct JobSummary {
    pub record: JobRecord,
    pub returned: usize,
    /// The master that published it.
    pub master: String,
}

/// One function's mine data as stored: its value as JSON text and who may
/// read it (Salt's per-function `allow_tgt`; None: every minion the
/// master's `mine_get` lets read it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MineEntry {
    pub fun: String,
    pub data: String,
    pub allow_tgt: Option<String>,
    pub allow_tgt_type: Option<String>,
}

/// A stored mine row for a read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MineRow {
    pub id: String,
    pub entry: MineEntry,
    pub updated_ms: i64,
}

/// What another master of the cluster changed, as this master hears it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterEvent {
    /// A key row changed or was deleted: read it again.
    Key(String),
    /// These minions' grains were rewritten.
    Grains(Vec<String>),
    /// A job was published by master `origin`.
    Job { jid: JobId, origin: String },
    /// Returns were stored for this job by master `origin`.
    Returns { jid: JobId, origin: String },
    /// The notification connection was re-established: anything may have
    /// been missed, so everything cached is read again.
    Resync,
}

/// One change of a minion's grains: the top-level grains that took a new
/// value (or appeared), and those that disappeared. `full`: the first
/// report of a minion, `set` holds everything.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GrainsDelta {
    #[serde(default)]
    pub set: Grains,
    #[serde(default)]
    pub unset: Vec<String>,
    #[serde(default)]
    pub full: bool,
}

impl GrainsDelta {
    /// What changed from `old` (None: nothing known yet) to `new`; None
    /// when nothing did.
    pub fn between(old: Option<&Grains>, new: &Grains) -> Option<GrainsDelta> {
        let Some(old) = old else {
            return Some(GrainsDelta {
                set: new.clone(),
                unset: Vec::new(),
                full: true,
            });
        };
        let set: Grains = new
            .iter()
            .filter(|(k, v)| old.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let unset: Vec<String> = old
            .keys()
            .filter(|k| !new.contains_key(*k))
            .cloned()
            .collect();
        (!set.is_empty() || !unset.is_empty()).then_some(GrainsDelta {
            set,
            unset,
            full: false,
        })
    }

    /// `grains` with this change applied.
    pub fn apply(&self, grains: &mut Grains) {
        if self.full {
            grains.clear();
        }
        for k in &self.unset {
            grains.remove(k);
        }
        for (k, v) in &self.set {
            grains.insert(k.clone(), v.clone());
        }
    }
}

/// A row of the inventory's history.
#[derive(Clone, Debug)]
pub struct GrainsVersion {
    pub id: String,
    pub at_ms: i64,
    pub delta: GrainsDelta,
}

pub(crate) enum WriteOp {
    PutKey(KeyRecord),
    /// A key row only if there is none (`Duplicate` otherwise): a new
    /// request must not overwrite a decision another master just made.
    CreateKey(KeyRecord),
    DeleteKey(String),
    Grains {
        id: String,
        /// As stored: JSON text, made by the caller (a queue of a fleet's
        /// grains holds their compact text, not their trees).
        json: String,
        /// What changed since the grains this master held, as JSON text
        /// ([`GrainsDelta`]): a row of the inventory's history.
        delta: Option<String>,
    },
    /// Drops history rows older than this.
    PruneHistory {
        before_ms: i64,
    },
    /// A named baseline (replacing one of the same name).
    PutBaseline {
        name: String,
        target: String,
        data: String,
    },
    DeleteBaseline(String),
    Audit(Box<crate::audit::AuditRecord>),
    PruneAudit {
        before_ms: i64,
    },
    PutToken {
        hash: String,
        user: String,
        expires_ms: i64,
    },
    RevokeToken(String),
    Presence {
        id: String,
        connected: bool,
        at_ms: i64,
    },
    AllDisconnected,
    /// This master is alive (a shared store's presence rows of masters that
    /// stopped saying so are ignored).
    MasterAlive,
    Job(Box<JobRecord>),
    Return(Box<JobReturn>),
    Prune {
        before_ms: i64,
    },
    /// The reactor's claim on running `rule` for the cluster-wide event
    /// `key`: `Duplicate` when another master claimed it first.
    ClaimReaction {
        rule: String,
        key: String,
        at_ms: i64,
    },
    /// Mine data of minion `id`: each entry replaces that function's row;
    /// `clear` first forgets every other function of the minion.
    MinePut {
        id: String,
        entries: Vec<MineEntry>,
        clear: bool,
    },
    /// Forgets minion `id`'s mine data for `fun` (None: all of it).
    MineDelete {
        id: String,
        fun: Option<String>,
    },
    /// An API user's client certificate, as issued.
    PutApiCert(ApiCertRecord),
    /// Revokes the API client certificate with this serial.
    RevokeApiCert(String),
    /// A barrier: acknowledged once everything queued before it is handled.
    Sync,
}

impl WriteOp {
    fn name(&self) -> &'static str {
        match self {
            WriteOp::PutKey(_) => "put_key",
            WriteOp::CreateKey(_) => "create_key",
            WriteOp::DeleteKey(_) => "delete_key",
            WriteOp::Grains { .. } => "grains",
            WriteOp::PruneHistory { .. } => "prune_history",
            WriteOp::PutBaseline { .. } => "put_baseline",
            WriteOp::DeleteBaseline(_) => "delete_baseline",
            WriteOp::Audit(_) => "audit",
            WriteOp::PruneAudit { .. } => "prune_audit",
            WriteOp::PutToken { .. } => "put_token",
            WriteOp::RevokeToken(_) => "revoke_token",
            WriteOp::Presence { .. } => "presence",
            WriteOp::AllDisconnected => "all_disconnected",
            WriteOp::MasterAlive => "master_alive",
            WriteOp::Job(_) => "job",
            WriteOp::Return(_) => "return",
            WriteOp::Prune { .. } => "prune",
            WriteOp::ClaimReaction { .. } => "claim_reaction",
            WriteOp::MinePut { .. } => "mine_put",
            WriteOp::MineDelete { .. } => "mine_delete",
            WriteOp::PutApiCert(_) => "put_api_cert",
            WriteOp::RevokeApiCert(_) => "revoke_api_cert",
            WriteOp::Sync => "sync",
        }
    }
}

/// The write side of a backend: applies a batch of queued writes in one
/// transaction, on the store's writer thread.
pub(crate) trait BatchWriter: Send + 'static {
    /// Where the data lives, for messages.
    fn place(&self) -> String;
    /// The outcome of each write, in order; Err fails the whole batch (the
    /// writer then retries each write alone).
    fn apply_batch(&mut self, batch: &[&WriteOp]) -> Result<Vec<Written>, String>;
}

/// The read side of a backend. Every method is async: PostgreSQL answers
/// over the network, SQLite's reads run on a blocking thread.
pub(crate) trait StoreReader: Send + Sync + 'static {
    async fn load_keys(&self) -> Result<Vec<KeyRecord>, StoreError>;
    async fn load_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError>;
    /// `ids`: only these minions (None: all).
    async fn load_grains(
        &self,
        ids: Option<Vec<String>>,
    ) -> Result<Vec<(String, String)>, StoreError>;
    /// Every presence row, or only minion `only`'s.
    async fn load_presence(&self, only: Option<&str>) -> Result<Vec<Presence>, StoreError>;
    async fn job_target(&self, jid: JobId, id: &str) -> Result<Option<JobTarget>, StoreError>;
    async fn lookup_job(
        &self,
        jid: JobId,
    ) -> Result<Option<(JobRecord, Vec<JobReturn>)>, StoreError>;
    async fn list_jobs(
        &self,
        filter: &JobFilter,
        limit: usize,
    ) -> Result<Vec<JobSummary>, StoreError>;
    async fn jobs_to_replay(
        &self,
        minion: &str,
        after: JobId,
        slack_ms: i64,
        live: (i64, i64),
        limit: usize,
    ) -> Result<Vec<Job>, StoreError>;
    /// Returns of `jid` stored by master `origin` after position `after`
    /// (PostgreSQL's sequence), or by any master but `not_by` when `origin`
    /// is None, for a master gathering returns that reached another master
    /// of the cluster. Positions are compared per origin only: one master's
    /// writer commits in the order it draws them, masters together do not.
    async fn returns_since(
        &self,
        jid: JobId,
        origin: Option<&str>,
        not_by: &str,
        after: i64,
    ) -> Result<Vec<(i64, JobReturn)>, StoreError>;
    /// Which of `ids` are connected to master `master` now.
    async fn connected_to(&self, master: &str, ids: Vec<String>)
        -> Result<Vec<String>, StoreError>;
    /// History rows `(id, at_ms, delta)` of minion `id` (all when None)
    /// with `since_ms <= at_ms < until_ms`, oldest first, at most `limit`.
    async fn grains_history(
        &self,
        id: Option<String>,
        since_ms: i64,
        until_ms: i64,
        limit: usize,
    ) -> Result<Vec<(String, i64, String)>, StoreError>;
    /// A baseline: `(target, created_ms, data)`.
    async fn load_baseline(&self, name: &str) -> Result<Option<(String, i64, String)>, StoreError>;
    /// Audit rows newest first, as `filter` says.
    async fn list_audit(
        &self,
        filter: &crate::audit::AuditFilter,
    ) -> Result<Vec<crate::audit::AuditRecord>, StoreError>;
    /// A token's row: `(user, expires_ms, revoked)`.
    async fn load_token(&self, hash: &str) -> Result<Option<(String, i64, bool)>, StoreError>;
    /// Every baseline: `(name, target, created_ms)`.
    async fn list_baselines(&self) -> Result<Vec<(String, String, i64)>, StoreError>;
    /// Each minion's latest return of a state run (`fun` in `funs`), or
    /// only minion `only`'s: `(id, jid, fun, ret, finished_ms)`.
    async fn last_state_returns(
        &self,
        funs: &[&str],
        only: Option<&str>,
    ) -> Result<Vec<(String, String, String, String, i64)>, StoreError>;
    /// Mine rows of function `fun` for the minions `ids`.
    async fn load_mine(&self, fun: &str, ids: Vec<String>) -> Result<Vec<MineRow>, StoreError>;
    /// Bytes of each function's mine data stored for minion `id`.
    async fn mine_sizes(&self, id: &str) -> Result<Vec<(String, usize)>, StoreError>;
    async fn list_api_certs(&self) -> Result<Vec<ApiCertRecord>, StoreError>;
    async fn load_api_cert(&self, serial: &str) -> Result<Option<ApiCertRecord>, StoreError>;
}

enum Reader {
    Sqlite(sqlite::SqliteReader),
    Postgres(postgres::PgReader),
}

/// Dispatches a read to the backend in use.
macro_rules! read {
    ($self:ident, $r:ident => $call:expr) => {
        match &*$self.reader {
            Reader::Sqlite($r) => $call.await,
            Reader::Postgres($r) => $call.await,
        }
    };
}

#[derive(Clone)]
pub struct Store {
    place: String,
    tx: mpsc::Sender<Queued>,
    reader: Arc<Reader>,
    /// Shared with other masters (events come from them): the cluster's
    /// identity, which every master of it tells its minions.
    cluster: Option<String>,
}

/// Where a master keeps its store, from the `store` config option.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl Store {
    /// Opens the store; for PostgreSQL also returns the stream of other
    /// masters' changes.
    pub async fn open(
        location: &StoreLocation,
        master_id: &str,
    ) -> Result<(Store, Option<tokio::sync::mpsc::Receiver<ClusterEvent>>), StoreError> {
        let (tx, rx) = mpsc::channel();
        match location {
            StoreLocation::Sqlite(path) => {
                let (writer, reader) = sqlite::open(path)?;
                spawn_writer(writer, rx);
                Ok((
                    Store {
                        place: path.display().to_string(),
                        tx,
                        reader: Arc::new(Reader::Sqlite(reader)),
                        cluster: None,
                    },
                    None,
                ))
            }
            StoreLocation::Postgres(url) => {
                let (writer, reader, events) = postgres::open(url, master_id).await?;
                let place = writer.place();
                let cluster = reader.cluster_identity().await?;
                spawn_writer(writer, rx);
                Ok((
                    Store {
                        place,
                        tx,
                        reader: Arc::new(Reader::Postgres(reader)),
                        cluster: Some(cluster),
                    },
                    Some(events),
                ))
            }
        }
    }

    /// Opens an SQLite store (tests, tools).
    pub fn open_sqlite(path: &std::path::Path) -> Result<Store, StoreError> {
        let (tx, rx) = mpsc::channel();
        let (writer, reader) = sqlite::open(path)?;
        spawn_writer(writer, rx);
        Ok(Store {
            place: path.display().to_string(),
            tx,
            reader: Arc::new(Reader::Sqlite(reader)),
            cluster: None,
        })
    }

    /// Whether other masters share this store.
    pub fn is_shared(&self) -> bool {
        self.cluster.is_some()
    }

    /// The identity of the cluster sharing this store, if it is shared.
    pub fn cluster(&self) -> Option<&str> {
        self.cluster.as_deref()
    }

    /// Queues a write whose outcome nobody waits for (presence, grains:
    /// the next report replaces them anyway).
    fn send(&self, op: WriteOp) {
        // The writer only stops when the process ends; a failed send then is moot.
        let _ = self.tx.send(Queued { op, ack: None });
    }

    /// Queues a write and waits for its commit: Ok only once it is stored.
    async fn write(&self, op: WriteOp) -> Result<Written, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Queued { op, ack: Some(tx) })
            .map_err(|_| StoreError::WriterGone)?;
        match rx.await {
            Ok(Ok(w)) => Ok(w),
            Ok(Err(message)) => Err(StoreError::WriteFailed {
                path: self.place.clone(),
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

    /// Stores a new key unless the id already has one (`Duplicate`).
    pub async fn create_key(&self, rec: KeyRecord) -> Result<Written, StoreError> {
        self.write(WriteOp::CreateKey(rec)).await
    }

    pub async fn delete_key(&self, id: &str) -> Result<(), StoreError> {
        self.write(WriteOp::DeleteKey(id.to_string()))
            .await
            .map(|_| ())
    }

    /// Stores a minion's grains and, with `delta`, a history row of what
    /// changed.
    pub fn put_grains(&self, id: &str, grains: &Grains, delta: Option<&GrainsDelta>) {
        let json = serde_json::to_string(grains).unwrap_or_else(|_| "{}".into());
        let delta = delta.and_then(|d| serde_json::to_string(d).ok());
        self.send(WriteOp::Grains {
            id: id.to_string(),
            json,
            delta,
        });
    }

    /// Appends an audit row; Ok once committed.
    pub async fn put_audit(&self, rec: crate::audit::AuditRecord) -> Result<(), StoreError> {
        self.write(WriteOp::Audit(Box::new(rec))).await.map(|_| ())
    }

    /// Stores an API token's hash; Ok once committed.
    pub async fn put_token(
        &self,
        hash: &str,
        user: &str,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        self.write(WriteOp::PutToken {
            hash: hash.to_string(),
            user: user.to_string(),
            expires_ms,
        })
        .await
        .map(|_| ())
    }

    pub async fn revoke_token(&self, hash: &str) -> Result<(), StoreError> {
        self.write(WriteOp::RevokeToken(hash.to_string()))
            .await
            .map(|_| ())
    }

    pub async fn load_token(&self, hash: &str) -> Result<Option<(String, i64, bool)>, StoreError> {
        read!(self, r => r.load_token(hash))
    }

    pub fn prune_audit(&self, before_ms: i64) {
        self.send(WriteOp::PruneAudit { before_ms });
    }

    pub async fn list_audit(
        &self,
        filter: &crate::audit::AuditFilter,
    ) -> Result<Vec<crate::audit::AuditRecord>, StoreError> {
        read!(self, r => r.list_audit(filter))
    }

    pub fn prune_history(&self, before_ms: i64) {
        self.send(WriteOp::PruneHistory { before_ms });
    }

    pub async fn put_baseline(
        &self,
        name: &str,
        target: &str,
        data: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.write(WriteOp::PutBaseline {
            name: name.to_string(),
            target: target.to_string(),
            data: data.to_string(),
        })
        .await
        .map(|_| ())
    }

    pub async fn delete_baseline(&self, name: &str) -> Result<(), StoreError> {
        self.write(WriteOp::DeleteBaseline(name.to_string()))
            .await
            .map(|_| ())
    }

    /// History of `id`'s grains (every minion's when None) in
    /// `[since_ms, until_ms)`, oldest first.
    pub async fn grains_history(
        &self,
        id: Option<&str>,
        since_ms: i64,
        until_ms: i64,
        limit: usize,
    ) -> Result<Vec<GrainsVersion>, StoreError> {
        let id = id.map(str::to_string);
        let rows = read!(self, r => r.grains_history(id, since_ms, until_ms, limit))?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, at_ms, text)| {
                let delta = serde_json::from_str(&text).ok()?;
                Some(GrainsVersion { id, at_ms, delta })
            })
            .collect())
    }

    /// A baseline: its target, when it was saved, and its data.
    pub async fn load_baseline(
        &self,
        name: &str,
    ) -> Result<Option<(String, i64, serde_json::Value)>, StoreError> {
        let row = read!(self, r => r.load_baseline(name))?;
        Ok(row.map(|(t, at, d)| (t, at, serde_json::from_str(&d).unwrap_or_default())))
    }

    pub async fn list_baselines(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        read!(self, r => r.list_baselines())
    }

    /// Each minion's latest return of one of `funs` (state runs):
    /// `(id, jid, fun, return, finished_ms)`.
    pub async fn last_state_returns(
        &self,
        funs: &[&str],
        only: Option<&str>,
    ) -> Result<Vec<(String, String, String, serde_json::Value, i64)>, StoreError> {
        let rows = read!(self, r => r.last_state_returns(funs, only))?;
        Ok(rows
            .into_iter()
            .map(|(id, jid, fun, ret, at)| {
                (
                    id,
                    jid,
                    fun,
                    serde_json::from_str(&ret).unwrap_or_default(),
                    at,
                )
            })
            .collect())
    }

    pub fn put_presence(&self, id: &str, connected: bool) {
        self.send(WriteOp::Presence {
            id: id.to_string(),
            connected,
            at_ms: now_ms(),
        });
    }

    /// Says this master is alive (every [`MASTER_ALIVE_EVERY`]).
    pub fn master_alive(&self) {
        self.send(WriteOp::MasterAlive);
    }

    /// Marks every minion disconnected from this master (at start).
    pub fn mark_all_disconnected(&self) {
        self.send(WriteOp::AllDisconnected);
    }

    /// Records a job; Ok once committed (the CLI is told only then).
    /// `Duplicate`: the jid is taken (by another master of the cluster).
    pub async fn put_job(&self, rec: JobRecord) -> Result<Written, StoreError> {
        self.write(WriteOp::Job(Box::new(rec))).await
    }

    /// Records a return unless one is already stored for (jid, minion): the
    /// first return wins, a replay or a resend never overwrites it.
    pub async fn put_return(&self, ret: JobReturn) -> Result<Written, StoreError> {
        self.write(WriteOp::Return(Box::new(ret))).await
    }

    /// Drops jobs (and reactor claims) older than `before_ms`.
    pub fn prune_jobs(&self, before_ms: i64) {
        self.send(WriteOp::Prune { before_ms });
    }

    /// Claims running reactor rule `rule` for the event `key` (its
    /// `cluster_key`): true for the first master of the cluster to claim it.
    pub async fn claim_reaction(&self, rule: &str, key: &str) -> Result<bool, StoreError> {
        let op = WriteOp::ClaimReaction {
            rule: rule.to_string(),
            key: key.to_string(),
            at_ms: now_ms(),
        };
        Ok(self.write(op).await? == Written::Stored)
    }

    pub async fn load_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        read!(self, r => r.load_keys())
    }

    pub async fn load_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        read!(self, r => r.load_key(id))
    }

    /// Stored grains, one minion at a time through `each` (a fleet's grains
    /// decoded at once would be a memory peak the allocator keeps).
    pub async fn load_grains<T>(
        &self,
        ids: Option<Vec<String>>,
        mut each: impl FnMut(String, Grains) -> T,
    ) -> Result<Vec<T>, StoreError> {
        let rows = read!(self, r => r.load_grains(ids))?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, text) in rows {
            if let Ok(g) = serde_json::from_str::<Grains>(&text) {
                out.push(each(id, g));
            }
        }
        Ok(out)
    }

    /// Bytes a PostgreSQL store's database takes; None for SQLite (its
    /// file is measured where it lies).
    pub async fn postgres_size(&self) -> Option<Result<u64, StoreError>> {
        match &*self.reader {
            Reader::Postgres(r) => Some(r.database_size().await.map(|n| n.max(0) as u64)),
            Reader::Sqlite(_) => None,
        }
    }

    pub async fn load_presence(&self) -> Result<Vec<Presence>, StoreError> {
        read!(self, r => r.load_presence(None))
    }

    /// One minion's presence rows (one per master on a shared store).
    pub async fn load_presence_of(&self, id: &str) -> Result<Vec<Presence>, StoreError> {
        read!(self, r => r.load_presence(Some(id)))
    }

    /// Whether job `jid` exists and, if so, whether `id` was among the
    /// minions it targeted, with its target for a second look.
    pub async fn job_target(&self, jid: JobId, id: &str) -> Result<Option<JobTarget>, StoreError> {
        read!(self, r => r.job_target(jid, id))
    }

    pub async fn lookup_job(
        &self,
        jid: JobId,
    ) -> Result<Option<(JobRecord, Vec<JobReturn>)>, StoreError> {
        read!(self, r => r.lookup_job(jid))
    }

    /// Jobs newest first, at most `limit`, as `filter` says.
    pub async fn list_jobs(
        &self,
        filter: &JobFilter,
        limit: usize,
    ) -> Result<Vec<JobSummary>, StoreError> {
        read!(self, r => r.list_jobs(filter, limit))
    }

    /// Jobs to offer a minion `minion` that reconnects having last seen
    /// `after`: recorded after it, or up to `slack_ms` before it
    /// (publications leave the wire out of jid order), issued within
    /// `window_ms` of `now_ms`, still within their own timeout, and without a
    /// return from this minion. Read through the `created_ms` index, without
    /// the jobs' expected lists: a fleet reconnects at once.
    pub async fn jobs_to_replay(
        &self,
        minion: &str,
        after: JobId,
        slack_ms: i64,
        live: (i64, i64),
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        read!(self, r => r.jobs_to_replay(minion, after, slack_ms, live, limit))
    }

    pub async fn returns_since(
        &self,
        jid: JobId,
        origin: Option<&str>,
        not_by: &str,
        after: i64,
    ) -> Result<Vec<(i64, JobReturn)>, StoreError> {
        read!(self, r => r.returns_since(jid, origin, not_by, after))
    }

    pub async fn connected_to(
        &self,
        master: &str,
        ids: Vec<String>,
    ) -> Result<Vec<String>, StoreError> {
        read!(self, r => r.connected_to(master, ids))
    }
}

impl Store {
    /// Stores minion `id`'s mine data; Ok once committed (a `mine.get`
    /// right after a `mine.send` sees it).
    pub async fn put_mine(
        &self,
        id: &str,
        entries: Vec<MineEntry>,
        clear: bool,
    ) -> Result<(), StoreError> {
        self.write(WriteOp::MinePut {
            id: id.to_string(),
            entries,
            clear,
        })
        .await
        .map(|_| ())
    }

    /// Forgets minion `id`'s mine data for `fun` (None: all of it).
    pub async fn delete_mine(&self, id: &str, fun: Option<&str>) -> Result<(), StoreError> {
        self.write(WriteOp::MineDelete {
            id: id.to_string(),
            fun: fun.map(str::to_string),
        })
        .await
        .map(|_| ())
    }

    /// Mine rows of `fun` for the minions `ids` (those that have some).
    pub async fn load_mine(&self, fun: &str, ids: Vec<String>) -> Result<Vec<MineRow>, StoreError> {
        read!(self, r => r.load_mine(fun, ids))
    }

    /// Bytes of each function's mine data stored for minion `id`.
    pub async fn mine_sizes(&self, id: &str) -> Result<Vec<(String, usize)>, StoreError> {
        read!(self, r => r.mine_sizes(id))
    }
}

impl Store {
    /// Records an issued API client certificate; Ok once committed.
    pub async fn put_api_cert(&self, rec: ApiCertRecord) -> Result<(), StoreError> {
        self.write(WriteOp::PutApiCert(rec)).await.map(|_| ())
    }

    /// Revokes the API client certificate `serial`; Ok once committed.
    pub async fn revoke_api_cert(&self, serial: &str) -> Result<(), StoreError> {
        self.write(WriteOp::RevokeApiCert(serial.to_string()))
            .await
            .map(|_| ())
    }

    /// Every API client certificate issued, oldest first.
    pub async fn list_api_certs(&self) -> Result<Vec<ApiCertRecord>, StoreError> {
        read!(self, r => r.list_api_certs())
    }

    /// The API client certificate `serial`, if one was issued.
    pub async fn load_api_cert(&self, serial: &str) -> Result<Option<ApiCertRecord>, StoreError> {
        read!(self, r => r.load_api_cert(serial))
    }
}

fn spawn_writer<W: BatchWriter>(writer: W, rx: mpsc::Receiver<Queued>) {
    std::thread::Builder::new()
        .name("brine-store".into())
        .spawn(move || writer_loop(writer, rx))
        .expect("spawn store writer");
}

fn writer_loop<W: BatchWriter>(mut writer: W, rx: mpsc::Receiver<Queued>) {
    let place = writer.place();
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < 4096 {
            match rx.try_recv() {
                Ok(q) => batch.push(q),
                Err(_) => break,
            }
        }
        let ops: Vec<&WriteOp> = batch.iter().map(|q| &q.op).collect();
        match writer.apply_batch(&ops) {
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
                tracing::warn!(%place, %error, ops = batch.len(),
                    "store batch failed; retrying its writes one by one");
                let mut failed = 0usize;
                for q in batch {
                    let outcome = writer
                        .apply_batch(&[&q.op])
                        .map(|mut o| o.pop().unwrap_or(Written::Stored));
                    if let Err(error) = &outcome {
                        failed += 1;
                        tracing::error!(%place, %error, op = q.op.name(), "store write failed");
                    }
                    if let Some(ack) = q.ack {
                        let _ = ack.send(outcome);
                    }
                }
                if failed > 0 {
                    tracing::error!(%place, failed, "store writes failed (their callers were told)");
                }
            }
        }
    }
}

/// How often a master of a cluster says it is alive.
pub const MASTER_ALIVE_EVERY: std::time::Duration = std::time::Duration::from_secs(3);
/// A master silent for this long is taken as down: its minions' presence
/// rows no longer count as connected.
pub const MASTER_DEAD_AFTER_MS: i64 = 10_000;

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Salt-style glob (`*`, `?`, `[...]`) to SQL LIKE is lossy; the listing
/// filters in Rust with this instead.
pub(crate) fn glob_matches(pattern: &str, text: &str) -> bool {
    globset::Glob::new(pattern)
        .map(|g| g.compile_matcher().is_match(text))
        .unwrap_or(false)
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

/// A job row's JSON columns back into a job.
pub(crate) fn job_from_columns(jid: JobId, cols: JobColumns) -> JobRecord {
    let json = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap_or_default();
    let arg = match json(&cols.arg) {
        serde_json::Value::Array(a) => a,
        _ => Vec::new(),
    };
    let kwarg = match json(&cols.kwarg) {
        serde_json::Value::Object(m) => m,
        _ => Default::default(),
    };
    let expected: Vec<String> = serde_json::from_str(&cols.expected).unwrap_or_default();
    JobRecord {
        job: Job {
            jid,
            tgt: cols.tgt,
            tgt_type: cols
                .tgt_type
                .parse()
                .unwrap_or(brine_proto::targeting::TargetType::Glob),
            fun: cols.fun,
            arg,
            kwarg,
            user: cols.user,
            timeout: cols.timeout.max(0) as u64,
            master: cols.master,
            issued_ms: cols.created_ms,
        },
        expected,
    }
}

/// A job row as both backends store it.
pub(crate) struct JobColumns {
    pub tgt: String,
    pub tgt_type: String,
    pub fun: String,
    pub arg: String,
    pub kwarg: String,
    pub user: String,
    pub timeout: i64,
    pub expected: String,
    pub created_ms: i64,
    pub master: String,
}

/// Whether a listed job passes the filters that are not done in SQL.
pub(crate) fn passes(filter: &JobFilter, rec: &JobRecord, returned: usize) -> bool {
    let j = &rec.job;
    if let Some(f) = &filter.function {
        if !glob_matches(f, &j.fun) {
            return false;
        }
    }
    if let Some(t) = &filter.target {
        if !glob_matches(t, &j.tgt) {
            return false;
        }
    }
    if let Some(u) = &filter.user {
        if u != &j.user {
            return false;
        }
    }
    if filter
        .minion
        .as_ref()
        .is_some_and(|m| !rec.expected.contains(m))
    {
        return false;
    }
    if filter.start_ms.is_some_and(|s| j.issued_ms < s) {
        return false;
    }
    if filter.end_ms.is_some_and(|e| j.issued_ms > e) {
        return false;
    }
    if let Some(now) = filter.active_at_ms {
        let ends = j
            .issued_ms
            .saturating_add((j.timeout as i64).saturating_mul(1000));
        if ends < now || returned >= rec.expected.len() {
            return false;
        }
    }
    true
}

pub(crate) fn return_from_columns(jid: JobId, c: ReturnColumns) -> JobReturn {
    JobReturn {
        jid,
        id: c.id,
        fun: c.fun,
        ret: serde_json::from_str(&c.ret).unwrap_or(serde_json::Value::Null),
        retcode: c.retcode,
        success: c.success,
        error: c.error.and_then(|e| serde_json::from_str(&e).ok()),
        started_ms: c.started_ms,
        finished_ms: c.finished_ms,
    }
}

pub(crate) struct ReturnColumns {
    pub id: String,
    pub fun: String,
    pub ret: String,
    pub retcode: i32,
    pub success: bool,
    pub error: Option<String>,
    pub started_ms: i64,
    pub finished_ms: i64,
}

/// A return's columns as stored.
pub(crate) fn return_columns(r: &JobReturn) -> (String, Option<String>) {
    (
        serde_json::to_string(&r.ret).unwrap_or_else(|_| "null".into()),
        r.error
            .as_ref()
            .map(|e| serde_json::to_string(e).unwrap_or_default()),
    )
}

#[cfg(test)]
mod tests;
