//! The shared backend: one PostgreSQL database for every master of a
//! cluster (`store: postgres://user@host/db` in the master config).
//!
//! - Reads go through a connection pool (deadpool).
//! - Writes go through the store's writer thread, on a connection of its
//!   own, one transaction per batch; rows of the same kind in a batch are
//!   pipelined (tokio-postgres sends them without waiting for each answer),
//!   so 10,000 returns cost a few round trips, not 10,000.
//! - Each transaction that changes what other masters cache ends with
//!   `pg_notify`; PostgreSQL delivers the notices only once it commits. A
//!   listener connection per master turns them into [`ClusterEvent`]s.
//!   Every payload starts with the writing master's id, so a master skips
//!   its own.
//! - Where two masters could race, the database decides: a key row is one
//!   row, a return is keyed by (jid, minion) and inserted with
//!   `ON CONFLICT DO NOTHING` (the first stands, the second is told
//!   `Duplicate`), and a jid is taken by the first master to insert it.

use std::collections::BTreeSet;
use std::time::Duration;

use brine_proto::{Job, JobId, JobReturn};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use futures::future::try_join_all;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, Config, NoTls, Row};

use super::{
    job_from_columns, key_state_str, parse_key_state, passes, return_columns, return_from_columns,
    ApiCertRecord, BatchWriter, ClusterEvent, JobColumns, JobFilter, JobRecord, JobSummary,
    JobTarget, KeyRecord, MineEntry, MineRow, Presence, ReturnColumns, StoreError, StoreReader,
    WriteOp, Written,
};

/// The schema, in order; each applied once per database.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_init.sql")),
    (
        10,
        include_str!("../../migrations/postgres/0010_inventory_history.sql"),
    ),
    (14, include_str!("../../migrations/postgres/0014_mine.sql")),
    (
        141,
        include_str!("../../migrations/postgres/0141_reactions.sql"),
    ),
    (
        150,
        include_str!("../../migrations/postgres/0150_api_certs.sql"),
    ),
    (
        151,
        include_str!("../../migrations/postgres/0151_returns_by_minion.sql"),
    ),
];

/// Any fixed number: the advisory lock masters take while migrating.
const MIGRATION_LOCK: i64 = 0x6272_696e_6531;

const CH_KEYS: &str = "brine_keys";
const CH_GRAINS: &str = "brine_grains";
const CH_JOBS: &str = "brine_jobs";
const CH_RETURNS: &str = "brine_returns";

/// PostgreSQL refuses notification payloads of 8,000 bytes or more.
const PAYLOAD_MAX: usize = 7_000;

fn pg_err(place: &str) -> impl Fn(tokio_postgres::Error) -> StoreError + '_ {
    move |e| StoreError::Postgres {
        place: place.to_string(),
        message: describe(&e),
    }
}

/// The server's own message when there is one (tokio-postgres's Display
/// says only "db error").
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => e.to_string(),
    }
}

/// The URL without its password, for messages and logs.
fn place_of(config: &Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_default();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or("")
    )
}

pub(crate) async fn open(
    url: &str,
    master_id: &str,
) -> Result<(PgWriter, PgReader, mpsc::Receiver<ClusterEvent>), StoreError> {
    let mut config: Config =
        url.parse()
            .map_err(|e: tokio_postgres::Error| StoreError::Postgres {
                place: "store".into(),
                message: format!("not a PostgreSQL URL: {e}"),
            })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    config.application_name("brine-master");
    let place = place_of(&config);
    migrate(&config, &place).await?;
    let manager = Manager::from_config(
        config.clone(),
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = Pool::builder(manager)
        .max_size(8)
        .build()
        .map_err(|e| StoreError::Postgres {
            place: place.clone(),
            message: e.to_string(),
        })?;
    let (events_tx, events_rx) = mpsc::channel(4096);
    tokio::spawn(listen(
        config.clone(),
        place.clone(),
        master_id.to_string(),
        events_tx,
    ));
    let writer = PgWriter {
        config,
        place: place.clone(),
        master_id: master_id.to_string(),
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Postgres {
                place: place.clone(),
                message: format!("writer runtime: {e}"),
            })?,
        client: None,
    };
    let reader = PgReader { pool, place };
    Ok((writer, reader, events_rx))
}

async fn connect(config: &Config, place: &str) -> Result<Client, StoreError> {
    let (client, connection) = config.connect(NoTls).await.map_err(pg_err(place))?;
    let place = place.to_string();
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(%place, error = %describe(&e), "store connection closed");
        }
    });
    Ok(client)
}

async fn migrate(config: &Config, place: &str) -> Result<(), StoreError> {
    let client = connect(config, place).await?;
    let err = pg_err(place);
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(&err)?;
    let result = async {
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS brine_migrations (
                     version INTEGER PRIMARY KEY, applied_ms BIGINT NOT NULL)",
            )
            .await?;
        for (version, sql) in MIGRATIONS {
            let done = client
                .query_opt(
                    "SELECT 1 FROM brine_migrations WHERE version = $1",
                    &[version],
                )
                .await?
                .is_some();
            if done {
                continue;
            }
            tracing::info!(version, "applying store migration");
            let sql = format!(
                "BEGIN; {sql}; INSERT INTO brine_migrations (version, applied_ms) VALUES ({version}, {}); COMMIT;",
                super::now_ms()
            );
            client.batch_execute(&sql).await?;
        }
        Ok::<(), tokio_postgres::Error>(())
    }
    .await;
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    result.map_err(&err)
}

/// Listens for other masters' changes; reconnects forever, and after each
/// reconnect says `Resync` (notices sent meanwhile are lost).
async fn listen(config: Config, place: String, me: String, events: mpsc::Sender<ClusterEvent>) {
    let mut delay = Duration::from_millis(200);
    let mut first = true;
    loop {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let (note_tx, mut note_rx) = mpsc::unbounded_channel();
                let driver = tokio::spawn(async move {
                    let mut messages =
                        futures::stream::poll_fn(move |cx| connection.poll_message(cx));
                    use futures::StreamExt;
                    while let Some(message) = messages.next().await {
                        match message {
                            Ok(AsyncMessage::Notification(n)) => {
                                let _ = note_tx
                                    .send((n.channel().to_string(), n.payload().to_string()));
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(error = %describe(&e), "store listener connection failed");
                                break;
                            }
                        }
                    }
                });
                let listening = client
                    .batch_execute(&format!(
                        "LISTEN {CH_KEYS}; LISTEN {CH_GRAINS}; LISTEN {CH_JOBS}; LISTEN {CH_RETURNS};"
                    ))
                    .await;
                match listening {
                    Ok(()) => {
                        delay = Duration::from_millis(200);
                        if !first {
                            tracing::info!(%place, "store listener reconnected; reading the cluster's state again");
                            if events.send(ClusterEvent::Resync).await.is_err() {
                                return;
                            }
                        }
                        first = false;
                        while let Some((channel, payload)) = note_rx.recv().await {
                            if let Some(event) = parse_notice(&channel, &payload, &me) {
                                if events.send(event).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                    Err(e) => tracing::warn!(%place, error = %describe(&e), "LISTEN failed"),
                }
                driver.abort();
            }
            Err(e) => {
                tracing::warn!(%place, error = %describe(&e), "store listener cannot connect")
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// A notice from another master as an event (None: ours, or unreadable).
fn parse_notice(channel: &str, payload: &str, me: &str) -> Option<ClusterEvent> {
    let (origin, body) = payload.split_once('\t')?;
    match channel {
        CH_KEYS if origin != me => Some(ClusterEvent::Key(body.to_string())),
        CH_GRAINS if origin != me => Some(ClusterEvent::Grains(
            body.split('\n').map(str::to_string).collect(),
        )),
        CH_JOBS if origin != me => Some(ClusterEvent::Job {
            jid: body.parse().ok()?,
            origin: origin.to_string(),
        }),
        // Returns a master stored itself went to its waiting CLI already.
        CH_RETURNS if origin != me => Some(ClusterEvent::Returns {
            jid: body.parse().ok()?,
            origin: origin.to_string(),
        }),
        _ => None,
    }
}

pub(crate) struct PgWriter {
    config: Config,
    place: String,
    master_id: String,
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
}

impl BatchWriter for PgWriter {
    fn place(&self) -> String {
        self.place.clone()
    }

    fn apply_batch(&mut self, batch: &[&WriteOp]) -> Result<Vec<Written>, String> {
        let rt = &self.rt;
        let result = rt.block_on(async {
            if self.client.as_ref().is_none_or(|c| c.is_closed()) {
                self.client = Some(
                    connect(&self.config, &self.place)
                        .await
                        .map_err(|e| e.to_string())?,
                );
            }
            let client = self.client.as_mut().expect("connected above");
            apply_batch(client, &self.master_id, batch)
                .await
                .map_err(|e| describe(&e))
        });
        if result.is_err() && self.client.as_ref().is_some_and(|c| c.is_closed()) {
            self.client = None;
        }
        result
    }
}

/// What a batch tells the other masters once it commits.
#[derive(Default)]
struct Notices {
    keys: BTreeSet<String>,
    grains: BTreeSet<String>,
    jobs: BTreeSet<String>,
    returns: BTreeSet<String>,
}

async fn apply_batch(
    client: &mut Client,
    me: &str,
    batch: &[&WriteOp],
) -> Result<Vec<Written>, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    let mut outcomes = vec![Written::Stored; batch.len()];
    let mut notices = Notices::default();
    let now = super::now_ms();
    // Runs of returns, presence and grains are pipelined; anything else is
    // a barrier, run on its own in order.
    let mut i = 0;
    while i < batch.len() {
        let kind = std::mem::discriminant(batch[i]);
        let pipelined = matches!(
            batch[i],
            WriteOp::Return(_) | WriteOp::Presence { .. } | WriteOp::Grains { .. }
        );
        let mut j = i + 1;
        if pipelined {
            while j < batch.len() && std::mem::discriminant(batch[j]) == kind {
                j += 1;
            }
        }
        let run = &batch[i..j];
        match run[0] {
            WriteOp::Return(_) => {
                let st = tx
                    .prepare(
                        "INSERT INTO returns (jid, id, fun, ret, retcode, success, error,
                                              started_ms, finished_ms, master)
                         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)
                         ON CONFLICT (jid, id) DO NOTHING",
                    )
                    .await?;
                let rows: Vec<_> = run
                    .iter()
                    .map(|op| {
                        let WriteOp::Return(r) = op else {
                            unreachable!()
                        };
                        let (ret, error) = return_columns(r);
                        (r.jid.to_string(), ret, error)
                    })
                    .collect();
                let (txr, st) = (&tx, &st);
                let inserted = try_join_all(run.iter().zip(&rows).map(
                    |(op, (jid, ret, error))| async move {
                        let WriteOp::Return(r) = op else {
                            unreachable!()
                        };
                        txr.execute(
                            st,
                            &[
                                jid,
                                &r.id,
                                &r.fun,
                                ret,
                                &r.retcode,
                                &r.success,
                                error,
                                &r.started_ms,
                                &r.finished_ms,
                                &me,
                            ],
                        )
                        .await
                    },
                ))
                .await?;
                for (k, n) in inserted.into_iter().enumerate() {
                    if n == 0 {
                        outcomes[i + k] = Written::Duplicate;
                    } else {
                        notices.returns.insert(rows[k].0.clone());
                    }
                }
            }
            WriteOp::Presence { .. } => {
                let st = tx
                    .prepare(
                        "INSERT INTO presence (id, master, connected, last_seen_ms) VALUES ($1,$2,$3,$4)
                         ON CONFLICT (id, master) DO UPDATE SET connected = $3, last_seen_ms = $4",
                    )
                    .await?;
                let (txr, st) = (&tx, &st);
                try_join_all(run.iter().map(|op| async move {
                    let WriteOp::Presence {
                        id,
                        connected,
                        at_ms,
                    } = op
                    else {
                        unreachable!()
                    };
                    txr.execute(st, &[id, &me, connected, at_ms]).await
                }))
                .await?;
            }
            WriteOp::Grains { .. } => {
                let st = tx
                    .prepare(
                        "INSERT INTO grains (id, grains, updated_ms) VALUES ($1,$2,$3)
                         ON CONFLICT (id) DO UPDATE SET grains = $2, updated_ms = $3",
                    )
                    .await?;
                let history = tx
                    .prepare("INSERT INTO grains_history (id, at_ms, delta) VALUES ($1,$2,$3)")
                    .await?;
                let (txr, st, history) = (&tx, &st, &history);
                try_join_all(run.iter().map(|op| async move {
                    let WriteOp::Grains { id, json, delta } = op else {
                        unreachable!()
                    };
                    txr.execute(st, &[id, json, &now]).await?;
                    if let Some(delta) = delta {
                        txr.execute(history, &[id, &now, delta]).await?;
                    }
                    Ok::<_, tokio_postgres::Error>(())
                }))
                .await?;
                for op in run {
                    if let WriteOp::Grains { id, .. } = op {
                        notices.grains.insert(id.clone());
                    }
                }
            }
            WriteOp::PutKey(k) => {
                tx.execute(
                    "INSERT INTO keys (id, state, fingerprint, csr_pem, updated_ms) VALUES ($1,$2,$3,$4,$5)
                     ON CONFLICT (id) DO UPDATE SET state = $2, fingerprint = $3, csr_pem = $4, updated_ms = $5",
                    &[&k.id, &key_state_str(k.state), &k.fingerprint, &k.csr_pem, &now],
                )
                .await?;
                notices.keys.insert(k.id.clone());
            }
            WriteOp::CreateKey(k) => {
                let inserted = tx
                    .execute(
                        "INSERT INTO keys (id, state, fingerprint, csr_pem, updated_ms) VALUES ($1,$2,$3,$4,$5)
                         ON CONFLICT (id) DO NOTHING",
                        &[&k.id, &key_state_str(k.state), &k.fingerprint, &k.csr_pem, &now],
                    )
                    .await?;
                if inserted == 0 {
                    outcomes[i] = Written::Duplicate;
                } else {
                    notices.keys.insert(k.id.clone());
                }
            }
            WriteOp::DeleteKey(id) => {
                tx.execute("DELETE FROM keys WHERE id = $1", &[id]).await?;
                tx.execute("DELETE FROM presence WHERE id = $1", &[id])
                    .await?;
                // A deleted minion's mine data must not outlive its key.
                tx.execute("DELETE FROM mine WHERE id = $1", &[id]).await?;
                notices.keys.insert(id.clone());
            }
            WriteOp::MinePut { id, entries, clear } => {
                if *clear {
                    tx.execute("DELETE FROM mine WHERE id = $1", &[id]).await?;
                }
                let st = tx
                    .prepare(
                        "INSERT INTO mine (id, fun, data, allow_tgt, allow_tgt_type, updated_ms)
                         VALUES ($1,$2,$3,$4,$5,$6)
                         ON CONFLICT (id, fun) DO UPDATE SET data = $3, allow_tgt = $4,
                            allow_tgt_type = $5, updated_ms = $6",
                    )
                    .await?;
                for e in entries {
                    tx.execute(
                        &st,
                        &[id, &e.fun, &e.data, &e.allow_tgt, &e.allow_tgt_type, &now],
                    )
                    .await?;
                }
            }
            WriteOp::MineDelete { id, fun } => match fun {
                Some(fun) => {
                    tx.execute("DELETE FROM mine WHERE id = $1 AND fun = $2", &[id, fun])
                        .await?;
                }
                None => {
                    tx.execute("DELETE FROM mine WHERE id = $1", &[id]).await?;
                }
            },
            WriteOp::AllDisconnected => {
                tx.execute(
                    "UPDATE presence SET connected = false WHERE master = $1",
                    &[&me],
                )
                .await?;
            }
            WriteOp::Job(rec) => {
                let j = &rec.job;
                let jid = j.jid.to_string();
                let inserted = tx
                    .execute(
                        "INSERT INTO jobs (jid, tgt, tgt_type, fun, arg, kwarg, username, timeout,
                                           expected, created_ms, master)
                         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)
                         ON CONFLICT (jid) DO NOTHING",
                        &[
                            &jid,
                            &j.tgt,
                            &j.tgt_type.as_str(),
                            &j.fun,
                            &serde_json::to_string(&j.arg).unwrap_or_default(),
                            &serde_json::to_string(&j.kwarg).unwrap_or_default(),
                            &j.user,
                            &(j.timeout as i64),
                            &serde_json::to_string(&rec.expected).unwrap_or_default(),
                            &j.issued_ms,
                            &me,
                        ],
                    )
                    .await?;
                if inserted == 0 {
                    outcomes[i] = Written::Duplicate;
                } else {
                    tx.execute(
                        "INSERT INTO job_minions (jid, id) SELECT $1, unnest($2::text[])
                         ON CONFLICT DO NOTHING",
                        &[&jid, &rec.expected],
                    )
                    .await?;
                    notices.jobs.insert(jid);
                }
            }
            WriteOp::Prune { before_ms } => {
                tx.execute(
                    "DELETE FROM returns WHERE jid IN (SELECT jid FROM jobs WHERE created_ms < $1)",
                    &[before_ms],
                )
                .await?;
                tx.execute(
                    "DELETE FROM job_minions WHERE jid IN (SELECT jid FROM jobs WHERE created_ms < $1)",
                    &[before_ms],
                )
                .await?;
                tx.execute("DELETE FROM jobs WHERE created_ms < $1", &[before_ms])
                    .await?;
                tx.execute("DELETE FROM reactions WHERE claimed_ms < $1", &[before_ms])
                    .await?;
            }
            WriteOp::ClaimReaction { rule, key, at_ms } => {
                let inserted = tx
                    .execute(
                        "INSERT INTO reactions (rule, key, claimed_ms) VALUES ($1, $2, $3)
                         ON CONFLICT DO NOTHING",
                        &[rule, key, at_ms],
                    )
                    .await?;
                if inserted == 0 {
                    outcomes[i] = Written::Duplicate;
                }
            }
            WriteOp::PruneHistory { before_ms } => {
                tx.execute("DELETE FROM grains_history WHERE at_ms < $1", &[before_ms])
                    .await?;
            }
            WriteOp::PutBaseline { name, target, data } => {
                tx.execute(
                    "INSERT INTO baselines (name, target, created_ms, data) VALUES ($1,$2,$3,$4)
                     ON CONFLICT (name) DO UPDATE SET target = $2, created_ms = $3, data = $4",
                    &[name, target, &now, data],
                )
                .await?;
            }
            WriteOp::DeleteBaseline(name) => {
                tx.execute("DELETE FROM baselines WHERE name = $1", &[name])
                    .await?;
            }
            WriteOp::Audit(a) => {
                tx.execute(
                    "INSERT INTO audit (at_ms, username, source, action, target, fun, args, outcome, detail)
                     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
                    &[
                        &a.at_ms,
                        &a.user,
                        &a.source,
                        &a.action,
                        &a.target,
                        &a.fun,
                        &a.args.to_string(),
                        &a.outcome,
                        &a.detail,
                    ],
                )
                .await?;
            }
            WriteOp::PruneAudit { before_ms } => {
                tx.execute("DELETE FROM audit WHERE at_ms < $1", &[before_ms])
                    .await?;
                tx.execute("DELETE FROM api_tokens WHERE expires_ms < $1", &[before_ms])
                    .await?;
            }
            WriteOp::PutToken {
                hash,
                user,
                expires_ms,
            } => {
                tx.execute(
                    "INSERT INTO api_tokens (hash, username, created_ms, expires_ms) VALUES ($1,$2,$3,$4)",
                    &[hash, user, &now, expires_ms],
                )
                .await?;
            }
            WriteOp::PutApiCert(c) => {
                tx.execute(
                    "INSERT INTO api_certs (serial, username, not_after_ms, issued_ms, revoked)
                     VALUES ($1,$2,$3,$4,$5)",
                    &[
                        &c.serial,
                        &c.user,
                        &c.not_after_ms,
                        &c.issued_ms,
                        &c.revoked,
                    ],
                )
                .await?;
            }
            WriteOp::RevokeApiCert(serial) => {
                tx.execute(
                    "UPDATE api_certs SET revoked = true WHERE serial = $1",
                    &[serial],
                )
                .await?;
            }
            WriteOp::RevokeToken(hash) => {
                tx.execute(
                    "UPDATE api_tokens SET revoked = true WHERE hash = $1",
                    &[hash],
                )
                .await?;
            }
            WriteOp::MasterAlive => {
                tx.execute(
                    "INSERT INTO masters (master, alive_ms) VALUES ($1, $2)
                     ON CONFLICT (master) DO UPDATE SET alive_ms = $2",
                    &[&me, &now],
                )
                .await?;
            }
            WriteOp::Sync => {}
        }
        i = j;
    }
    notify(&tx, me, CH_KEYS, notices.keys).await?;
    notify(&tx, me, CH_GRAINS, notices.grains).await?;
    notify(&tx, me, CH_JOBS, notices.jobs).await?;
    notify(&tx, me, CH_RETURNS, notices.returns).await?;
    tx.commit().await?;
    Ok(outcomes)
}

/// Queues notices on `channel`: one per item for keys, jobs and returns
/// (one per job, however many returns), grains packed several ids a notice.
async fn notify(
    tx: &tokio_postgres::Transaction<'_>,
    me: &str,
    channel: &str,
    items: BTreeSet<String>,
) -> Result<(), tokio_postgres::Error> {
    if items.is_empty() {
        return Ok(());
    }
    let mut payloads = Vec::new();
    if channel == CH_GRAINS {
        let mut cur = String::new();
        for id in items {
            if !cur.is_empty() && me.len() + cur.len() + id.len() + 2 > PAYLOAD_MAX {
                payloads.push(std::mem::take(&mut cur));
            }
            if !cur.is_empty() {
                cur.push('\n');
            }
            cur.push_str(&id);
        }
        payloads.push(cur);
    } else {
        payloads.extend(items);
    }
    let st = &tx.prepare("SELECT pg_notify($1, $2)").await?;
    try_join_all(payloads.iter().map(|p| {
        let payload = format!("{me}\t{p}");
        async move { tx.execute(st, &[&channel, &payload]).await }
    }))
    .await?;
    Ok(())
}

#[derive(Clone)]
pub(crate) struct PgReader {
    pool: Pool,
    place: String,
}

impl PgReader {
    async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        self.pool.get().await.map_err(|e| StoreError::Postgres {
            place: self.place.clone(),
            message: e.to_string(),
        })
    }

    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let client = self.client().await?;
        let st = client
            .prepare_cached(sql)
            .await
            .map_err(pg_err(&self.place))?;
        client.query(&st, params).await.map_err(pg_err(&self.place))
    }
}

const JOB_COLUMNS: &str =
    "tgt, tgt_type, fun, arg, kwarg, username, timeout, expected, created_ms, master";

fn row_to_key(r: &Row) -> KeyRecord {
    KeyRecord {
        id: r.get(0),
        state: parse_key_state(r.get(1)),
        fingerprint: r.get(2),
        csr_pem: r.get(3),
    }
}

fn row_to_job(jid: JobId, r: &Row, o: usize) -> JobRecord {
    job_from_columns(
        jid,
        JobColumns {
            tgt: r.get(o),
            tgt_type: r.get(o + 1),
            fun: r.get(o + 2),
            arg: r.get(o + 3),
            kwarg: r.get(o + 4),
            user: r.get(o + 5),
            timeout: r.get(o + 6),
            expected: r.get(o + 7),
            created_ms: r.get(o + 8),
            master: r.get(o + 9),
        },
    )
}

fn row_to_return(jid: JobId, r: &Row, o: usize) -> JobReturn {
    return_from_columns(
        jid,
        ReturnColumns {
            id: r.get(o),
            fun: r.get(o + 1),
            ret: r.get(o + 2),
            retcode: r.get(o + 3),
            success: r.get(o + 4),
            error: r.get(o + 5),
            started_ms: r.get(o + 6),
            finished_ms: r.get(o + 7),
        },
    )
}

const RETURN_COLUMNS: &str = "id, fun, ret, retcode, success, error, started_ms, finished_ms";

impl PgReader {
    /// Bytes the database takes (`pg_database_size`), for `/metrics`.
    pub(crate) async fn database_size(&self) -> Result<i64, StoreError> {
        let rows = self
            .query("SELECT pg_database_size(current_database())", &[])
            .await?;
        Ok(rows.first().map(|r| r.get(0)).unwrap_or(0))
    }

    /// The id the first master created in this database.
    pub(crate) async fn cluster_identity(&self) -> Result<String, StoreError> {
        let rows = self
            .query("SELECT id FROM cluster_identity LIMIT 1", &[])
            .await?;
        rows.first()
            .map(|r| r.get(0))
            .ok_or_else(|| StoreError::Postgres {
                place: self.place.clone(),
                message: "the database has no cluster identity (migration 1 incomplete)".into(),
            })
    }
}

impl StoreReader for PgReader {
    async fn load_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let rows = self
            .query(
                "SELECT id, state, fingerprint, csr_pem FROM keys ORDER BY id",
                &[],
            )
            .await?;
        Ok(rows.iter().map(row_to_key).collect())
    }

    async fn load_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let rows = self
            .query(
                "SELECT id, state, fingerprint, csr_pem FROM keys WHERE id = $1",
                &[&id],
            )
            .await?;
        Ok(rows.first().map(row_to_key))
    }

    async fn load_grains(
        &self,
        ids: Option<Vec<String>>,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let rows = match ids {
            None => self.query("SELECT id, grains FROM grains", &[]).await?,
            Some(ids) => {
                self.query("SELECT id, grains FROM grains WHERE id = ANY($1)", &[&ids])
                    .await?
            }
        };
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn load_presence(&self, only: Option<&str>) -> Result<Vec<Presence>, StoreError> {
        let rows = self
            .query(
                "SELECT p.id, p.master, p.connected AND m.alive_ms >= $1, p.last_seen_ms
                 FROM presence p LEFT JOIN masters m ON m.master = p.master
                 WHERE $2::text IS NULL OR p.id = $2
                 ORDER BY p.id, p.master",
                &[&(super::now_ms() - super::MASTER_DEAD_AFTER_MS), &only],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| Presence {
                id: r.get(0),
                master: r.get(1),
                connected: r.get::<_, Option<bool>>(2).unwrap_or(false),
                last_seen_ms: r.get(3),
            })
            .collect())
    }

    async fn job_target(&self, jid: JobId, id: &str) -> Result<Option<JobTarget>, StoreError> {
        let jid_s = jid.to_string();
        let rows = self
            .query(
                "SELECT tgt, tgt_type,
                        EXISTS (SELECT 1 FROM job_minions m WHERE m.jid = $1 AND m.id = $2)
                 FROM jobs WHERE jid = $1",
                &[&jid_s, &id],
            )
            .await?;
        Ok(rows.first().map(|r| JobTarget {
            tgt: r.get(0),
            tgt_type: r
                .get::<_, String>(1)
                .parse()
                .unwrap_or(brine_proto::targeting::TargetType::Glob),
            expected: r.get(2),
        }))
    }

    async fn lookup_job(
        &self,
        jid: JobId,
    ) -> Result<Option<(JobRecord, Vec<JobReturn>)>, StoreError> {
        let jid_s = jid.to_string();
        let rows = self
            .query(
                &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE jid = $1"),
                &[&jid_s],
            )
            .await?;
        let Some(job) = rows.first().map(|r| row_to_job(jid, r, 0)) else {
            return Ok(None);
        };
        let rets = self
            .query(
                &format!("SELECT {RETURN_COLUMNS} FROM returns WHERE jid = $1 ORDER BY id"),
                &[&jid_s],
            )
            .await?;
        Ok(Some((
            job,
            rets.iter().map(|r| row_to_return(jid, r, 0)).collect(),
        )))
    }

    async fn list_jobs(
        &self,
        filter: &JobFilter,
        limit: usize,
    ) -> Result<Vec<JobSummary>, StoreError> {
        let client = self.client().await?;
        let st = client
            .prepare_cached(&format!(
                "SELECT j.jid, {},
                        (SELECT COUNT(*) FROM returns r WHERE r.jid = j.jid)
                 FROM jobs j WHERE j.created_ms >= $1 AND j.created_ms <= $2
                 ORDER BY j.created_ms DESC, j.jid DESC",
                JOB_COLUMNS
                    .split(", ")
                    .map(|c| format!("j.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .await
            .map_err(pg_err(&self.place))?;
        let (start, end) = (
            filter.start_ms.unwrap_or(i64::MIN),
            filter.end_ms.unwrap_or(i64::MAX),
        );
        let rows = client
            .query(&st, &[&start, &end])
            .await
            .map_err(pg_err(&self.place))?;
        let mut out = Vec::new();
        for r in &rows {
            let Ok(jid) = r.get::<_, String>(0).parse::<JobId>() else {
                continue;
            };
            let record = row_to_job(jid, r, 1);
            let returned = r.get::<_, i64>(11) as usize;
            if passes(filter, &record, returned) {
                let master = record.job.master.clone();
                out.push(JobSummary {
                    record,
                    returned,
                    master,
                });
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
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
        let rows = self
            .query(
                "SELECT jid, tgt, tgt_type, fun, arg, kwarg, username, timeout, '[]', created_ms, master
                 FROM jobs
                 WHERE created_ms >= $4
                   AND (jid > $1
                        OR created_ms >= (SELECT created_ms FROM jobs WHERE jid = $1) - $3)
                   AND created_ms + timeout * 1000 >= $5
                   AND NOT EXISTS (SELECT 1 FROM returns r WHERE r.jid = jobs.jid AND r.id = $6)
                 ORDER BY jid LIMIT $2",
                &[
                    &after_s,
                    &(limit as i64),
                    &slack_ms,
                    &(now_ms - window_ms),
                    &now_ms,
                    &minion,
                ],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let jid: JobId = r.get::<_, String>(0).parse().ok()?;
                Some(row_to_job(jid, r, 1).job)
            })
            .collect())
    }

    async fn returns_since(
        &self,
        jid: JobId,
        origin: Option<&str>,
        not_by: &str,
        after: i64,
    ) -> Result<Vec<(i64, JobReturn)>, StoreError> {
        let jid_s = jid.to_string();
        let rows = match origin {
            Some(origin) => {
                self.query(
                    &format!(
                        "SELECT seq, {RETURN_COLUMNS} FROM returns
                         WHERE jid = $1 AND master = $2 AND seq > $3 ORDER BY seq"
                    ),
                    &[&jid_s, &origin, &after],
                )
                .await?
            }
            None => {
                self.query(
                    &format!(
                        "SELECT seq, {RETURN_COLUMNS} FROM returns
                         WHERE jid = $1 AND master <> $2 ORDER BY seq"
                    ),
                    &[&jid_s, &not_by],
                )
                .await?
            }
        };
        Ok(rows
            .iter()
            .map(|r| (r.get::<_, i64>(0), row_to_return(jid, r, 1)))
            .collect())
    }

    async fn connected_to(
        &self,
        master: &str,
        ids: Vec<String>,
    ) -> Result<Vec<String>, StoreError> {
        let rows = self
            .query(
                "SELECT p.id FROM presence p JOIN masters m ON m.master = p.master
                 WHERE p.master = $1 AND p.connected AND p.id = ANY($2) AND m.alive_ms >= $3",
                &[
                    &master,
                    &ids,
                    &(super::now_ms() - super::MASTER_DEAD_AFTER_MS),
                ],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn grains_history(
        &self,
        id: Option<String>,
        since_ms: i64,
        until_ms: i64,
        limit: usize,
    ) -> Result<Vec<(String, i64, String)>, StoreError> {
        let limit = limit as i64;
        let rows = match id {
            Some(id) => {
                self.query(
                    "SELECT id, at_ms, delta FROM grains_history
                     WHERE id = $1 AND at_ms >= $2 AND at_ms < $3 ORDER BY at_ms, ctid LIMIT $4",
                    &[&id, &since_ms, &until_ms, &limit],
                )
                .await?
            }
            None => {
                self.query(
                    "SELECT id, at_ms, delta FROM grains_history
                     WHERE at_ms >= $1 AND at_ms < $2 ORDER BY at_ms, ctid LIMIT $3",
                    &[&since_ms, &until_ms, &limit],
                )
                .await?
            }
        };
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    async fn list_audit(
        &self,
        filter: &crate::audit::AuditFilter,
    ) -> Result<Vec<crate::audit::AuditRecord>, StoreError> {
        let limit = filter.limit as i64;
        let rows = self
            .query(
                "SELECT at_ms, username, source, action, target, fun, args, outcome, detail FROM audit
                 WHERE at_ms >= $1 AND ($2::text IS NULL OR username = $2)
                   AND ($3::text IS NULL OR action = $3) AND ($4::text IS NULL OR outcome = $4)
                 ORDER BY at_ms DESC, seq DESC LIMIT $5",
                &[&filter.since_ms, &filter.user, &filter.action, &filter.outcome, &limit],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| crate::audit::AuditRecord {
                at_ms: r.get(0),
                user: r.get(1),
                source: r.get(2),
                action: r.get(3),
                target: r.get(4),
                fun: r.get(5),
                args: serde_json::from_str(r.get::<_, &str>(6)).unwrap_or_default(),
                outcome: r.get(7),
                detail: r.get(8),
            })
            .collect())
    }

    async fn load_token(&self, hash: &str) -> Result<Option<(String, i64, bool)>, StoreError> {
        let rows = self
            .query(
                "SELECT username, expires_ms, revoked FROM api_tokens WHERE hash = $1",
                &[&hash],
            )
            .await?;
        Ok(rows.first().map(|r| (r.get(0), r.get(1), r.get(2))))
    }

    async fn load_baseline(&self, name: &str) -> Result<Option<(String, i64, String)>, StoreError> {
        let rows = self
            .query(
                "SELECT target, created_ms, data FROM baselines WHERE name = $1",
                &[&name],
            )
            .await?;
        Ok(rows.first().map(|r| (r.get(0), r.get(1), r.get(2))))
    }

    async fn list_baselines(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = self
            .query(
                "SELECT name, target, created_ms FROM baselines ORDER BY name",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    async fn last_state_returns(
        &self,
        funs: &[&str],
        only: Option<&str>,
    ) -> Result<Vec<(String, String, String, String, i64)>, StoreError> {
        let funs: Vec<String> = funs.iter().map(|f| f.to_string()).collect();
        let rows = match only {
            Some(id) => {
                self.query(
                    "SELECT id, jid, fun, ret, finished_ms FROM returns
                     WHERE id = $2 AND fun = ANY($1) ORDER BY finished_ms DESC LIMIT 1",
                    &[&funs, &id],
                )
                .await?
            }
            None => {
                self.query(
                    "SELECT DISTINCT ON (id) id, jid, fun, ret, finished_ms FROM returns
                     WHERE fun = ANY($1) ORDER BY id, finished_ms DESC",
                    &[&funs],
                )
                .await?
            }
        };
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
            .collect())
    }

    async fn load_mine(&self, fun: &str, ids: Vec<String>) -> Result<Vec<MineRow>, StoreError> {
        let rows = self
            .query(
                "SELECT id, data, allow_tgt, allow_tgt_type, updated_ms FROM mine
                 WHERE fun = $1 AND id = ANY($2) ORDER BY id",
                &[&fun, &ids],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| MineRow {
                id: r.get(0),
                entry: MineEntry {
                    fun: fun.to_string(),
                    data: r.get(1),
                    allow_tgt: r.get(2),
                    allow_tgt_type: r.get(3),
                },
                updated_ms: r.get(4),
            })
            .collect())
    }

    async fn list_api_certs(&self) -> Result<Vec<ApiCertRecord>, StoreError> {
        let rows = self
            .query(
                "SELECT serial, username, not_after_ms, issued_ms, revoked FROM api_certs
                 ORDER BY issued_ms, serial",
                &[],
            )
            .await?;
        Ok(rows.iter().map(row_to_api_cert).collect())
    }

    async fn load_api_cert(&self, serial: &str) -> Result<Option<ApiCertRecord>, StoreError> {
        let rows = self
            .query(
                "SELECT serial, username, not_after_ms, issued_ms, revoked FROM api_certs
                 WHERE serial = $1",
                &[&serial],
            )
            .await?;
        Ok(rows.first().map(row_to_api_cert))
    }

    async fn mine_sizes(&self, id: &str) -> Result<Vec<(String, usize)>, StoreError> {
        let rows = self
            .query(
                "SELECT fun, octet_length(data)::BIGINT FROM mine WHERE id = $1 ORDER BY fun",
                &[&id],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get::<_, i64>(1) as usize))
            .collect())
    }
}

fn row_to_api_cert(r: &tokio_postgres::Row) -> ApiCertRecord {
    ApiCertRecord {
        serial: r.get(0),
        user: r.get(1),
        not_after_ms: r.get(2),
        issued_ms: r.get(3),
        revoked: r.get(4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_from_this_master_are_skipped_and_others_parsed() {
        assert_eq!(parse_notice(CH_KEYS, "m1\tweb1", "m1"), None);
        assert_eq!(
            parse_notice(CH_KEYS, "m2\tweb1", "m1"),
            Some(ClusterEvent::Key("web1".into()))
        );
        assert_eq!(
            parse_notice(CH_GRAINS, "m2\ta\nb", "m1"),
            Some(ClusterEvent::Grains(vec!["a".into(), "b".into()]))
        );
        let jid: JobId = "20261204010101000001".parse().unwrap();
        assert_eq!(
            parse_notice(CH_JOBS, "m2\t20261204010101000001", "m1"),
            Some(ClusterEvent::Job {
                jid,
                origin: "m2".into()
            })
        );
        assert_eq!(parse_notice(CH_RETURNS, "garbage", "m1"), None);
        assert_eq!(parse_notice(CH_JOBS, "m2\tnot-a-jid", "m1"), None);
    }
}
