//! The master's shared state: key standing, inventory, live sessions, the
//! current publication epoch and the routes that carry returns to waiting CLIs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use brine_pki::sealing::{new_epoch_key, PublicationSealer};
use brine_pki::MasterPki;
use brine_proto::jid::JidGenerator;
use brine_proto::{EpochKey, Grains, JobId, JobReturn, KeyState, MasterMsg};
use tokio::sync::{mpsc, Notify};

use crate::config::MasterConfig;
use crate::inventory::{Interner, PackedGrains};
use brine_proto::targeting::MinionFacts;
use brine_states::pillar::CompiledPillar;

use crate::fileserver::{pillar_renderer, FileServer};
use crate::store::{KeyRecord, Store};

/// A live minion connection, authenticated by its certificate.
pub struct Session {
    /// Distinguishes a reconnect from the connection it replaced.
    pub conn_id: u64,
    pub tx: mpsc::Sender<MasterMsg>,
    /// Fired to close the connection at once (key rejected or deleted).
    pub cut: Arc<Notify>,
}

/// What the return handler forwards to whoever waits on a jid.
#[derive(Debug, Clone)]
pub enum JobEvent {
    Started(String),
    /// Committed to the store, then forwarded.
    Returned(Box<JobReturn>),
    /// Arrived but could not be stored (the minion keeps it and retries).
    Unstored {
        id: String,
        error: String,
    },
}

/// A job whose caller is still gathering returns: what it targeted.
pub struct ActiveJob {
    pub expected: std::collections::HashSet<String>,
    pub expr: brine_proto::targeting::TargetExpr,
}

/// What became of a return a minion sent; the session tells the minion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnVerdict {
    /// Committed now.
    Stored,
    /// Already stored earlier (a resend after a lost ack, or a replay): the
    /// first one stands.
    Duplicate,
    /// Not this minion's job, or no such job: dropped for good.
    Refused(String),
    /// Could not be stored now: the minion must keep it and send it again.
    Deferred(String),
}

/// Execution functions for pillar templates rendered for one minion (its id
/// and grains): `salt['grains.get']`, `salt['cmd.run']`... run on the master.
pub type PillarFunctions =
    Arc<dyn Fn(&str, &Grains) -> Box<dyn brine_states::ExecCaller + Send> + Send + Sync>;

pub struct Master {
    pub config: Arc<MasterConfig>,
    pub store: Store,
    pub pki: MasterPki,
    pub sealer: PublicationSealer,
    pub jids: JidGenerator,
    keys: RwLock<HashMap<String, KeyRecord>>,
    /// Each minion's grains, packed (`inventory.rs`: a fleet's grains in
    /// memory cost about one copy of what hosts share).
    inventory: RwLock<HashMap<String, PackedGrains>>,
    interner: Interner,
    /// The pillar last compiled for each minion (Salt's pillar cache), for
    /// `-I`/`I@` targets. Memory only: rebuilt as minions connect.
    pillars: RwLock<HashMap<String, Arc<Grains>>>,
    sessions: Mutex<HashMap<String, Session>>,
    epoch: RwLock<EpochKey>,
    /// Jobs a CLI is waiting on: jid -> where to send starts and returns.
    routes: Mutex<HashMap<JobId, mpsc::UnboundedSender<JobEvent>>>,
    /// Per routed job, the store position of the last return read from
    /// other masters (a cluster's shared store).
    remote_cursor: Mutex<HashMap<(JobId, String), i64>>,
    /// Jobs started on a minion and not yet returned: (jid, id).
    running: Mutex<std::collections::HashSet<(JobId, String)>>,
    /// Jobs being gathered now, for checking returns without the store.
    active: Mutex<HashMap<JobId, Arc<ActiveJob>>>,
    /// Pending connections waiting for an operator: id -> wake-up.
    pending_waiters: Mutex<HashMap<String, Arc<Notify>>>,
    /// New pending keys per source address (token bucket: tokens, updated).
    pending_rate: Mutex<HashMap<std::net::IpAddr, (f64, std::time::Instant)>>,
    next_conn: AtomicU64,
    /// When a publication last went out (unix ms): an idle master's publish
    /// heartbeat is skipped when one did.
    last_publish_ms: AtomicU64,
    pub publish_tx: mpsc::Sender<Vec<u8>>,
    /// The file server minions and runners read (roots and gitfs).
    pub files: Arc<FileServer>,
    /// Set once at start by the binary; unset, pillar has no functions.
    pub pillar_functions: std::sync::OnceLock<PillarFunctions>,
    /// External pillars (`ext_pillar`), merged into every compiled pillar.
    pub ext_pillar: crate::ext_pillar::ExtPillar,
    /// The master's event bus (`events.rs`).
    pub events: Arc<crate::events::EventBus>,
    /// Connections and disconnections not yet fired as
    /// `brine/presence/change`.
    pub presence: crate::events::PresenceChanges,
    /// What `/metrics` reads besides the store and the bus.
    pub counters: crate::counters::Counters,
    /// The master's scheduler (`schedule.rs`).
    pub schedule: crate::schedule::MasterSchedule,
    /// Alert channels and the spool of undelivered alerts (`alerts/`).
    pub alerts: crate::alerts::Alerts,
}

impl Master {
    pub async fn new(
        config: Arc<MasterConfig>,
        store: Store,
        pki: MasterPki,
        publish_tx: mpsc::Sender<Vec<u8>>,
    ) -> Result<Master, crate::store::StoreError> {
        let keys = store
            .load_keys()
            .await?
            .into_iter()
            .map(|k| (k.id.clone(), k))
            .collect();
        let interner = Interner::default();
        let inventory = store
            .load_grains(None, |id, g| (id, PackedGrains::pack(&g, &interner)))
            .await?
            .into_iter()
            .collect();
        store.mark_all_disconnected();
        let sealer = pki.sealer();
        // A fresh epoch per start: keys handed out by a previous run are void.
        let epoch = new_epoch_key(crate::store::now_ms() as u64);
        let files = Arc::new(FileServer::from_config(&config));
        let ext_pillar =
            crate::ext_pillar::ExtPillar::new(config.ext_pillar.clone(), &config.cachedir);
        let events =
            crate::events::EventBus::new(config.event_bus_max_bytes, config.max_event_size);
        Ok(Master {
            events,
            presence: Default::default(),
            counters: Default::default(),
            schedule: crate::schedule::MasterSchedule::load(&config),
            alerts: crate::alerts::Alerts::new(config.alerts.clone(), &config.cachedir),
            ext_pillar,
            files,
            config,
            store,
            pki,
            sealer,
            jids: JidGenerator::new(),
            keys: RwLock::new(keys),
            inventory: RwLock::new(inventory),
            interner,
            pillars: RwLock::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            epoch: RwLock::new(epoch),
            routes: Mutex::new(HashMap::new()),
            remote_cursor: Mutex::new(HashMap::new()),
            running: Mutex::new(Default::default()),
            active: Mutex::new(HashMap::new()),
            pending_waiters: Mutex::new(HashMap::new()),
            pending_rate: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
            last_publish_ms: AtomicU64::new(0),
            publish_tx,
            pillar_functions: std::sync::OnceLock::new(),
        })
    }

    // ---- keys -------------------------------------------------------------

    pub fn key(&self, id: &str) -> Option<KeyRecord> {
        read(&self.keys).get(id).cloned()
    }

    pub fn keys(&self) -> Vec<KeyRecord> {
        let mut v: Vec<_> = read(&self.keys).values().cloned().collect();
        v.sort_by(|a, b| (a.state, &a.id).cmp(&(b.state, &b.id)));
        v
    }

    /// How many keys are in each state (`/metrics`), without cloning them.
    pub fn key_counts(&self) -> Vec<(KeyState, usize)> {
        let keys = read(&self.keys);
        let states = [
            KeyState::Accepted,
            KeyState::Pending,
            KeyState::Rejected,
            KeyState::Denied,
        ];
        states
            .into_iter()
            .map(|s| (s, keys.values().filter(|k| k.state == s).count()))
            .collect()
    }

    /// Minions whose grains the inventory holds, and the distinct grain
    /// values shared among them (`/metrics`).
    pub fn inventory_size(&self) -> (usize, usize) {
        (read(&self.inventory).len(), self.interner.distinct_values())
    }

    pub fn accepted_ids(&self) -> Vec<String> {
        let mut v: Vec<_> = read(&self.keys)
            .values()
            .filter(|k| k.state == KeyState::Accepted)
            .map(|k| k.id.clone())
            .collect();
        v.sort();
        v
    }

    pub async fn put_key(&self, rec: KeyRecord) -> Result<(), crate::store::StoreError> {
        self.store.put_key(rec.clone()).await?;
        write(&self.keys).insert(rec.id.clone(), rec);
        Ok(())
    }

    /// Records a new key unless the store already has one for the id
    /// (another master of the cluster decided first): then the stored key
    /// is taken and `false` returned.
    pub async fn create_key(&self, rec: KeyRecord) -> Result<bool, crate::store::StoreError> {
        match self.store.create_key(rec.clone()).await? {
            crate::store::Written::Stored => {
                write(&self.keys).insert(rec.id.clone(), rec);
                Ok(true)
            }
            crate::store::Written::Duplicate => {
                self.reload_key(&rec.id).await?;
                Ok(false)
            }
        }
    }

    pub async fn remove_key(&self, id: &str) -> Result<(), crate::store::StoreError> {
        self.store.delete_key(id).await?;
        write(&self.keys).remove(id);
        write(&self.inventory).remove(id);
        write(&self.pillars).remove(id);
        Ok(())
    }

    // ---- inventory ----------------------------------------------------------

    /// All of `id`'s grains (decoded: for pillar rendering and runners).
    pub fn grains(&self, id: &str) -> Option<Arc<Grains>> {
        let packed = read(&self.inventory).get(id).cloned();
        packed.map(|p| Arc::new(p.unpack()))
    }

    /// Only the top-level grains `keys` of `id` (what a target reads);
    /// `None` if its grains are not known.
    pub fn grains_select(&self, id: &str, keys: &[String]) -> Option<Grains> {
        // Interned names compare by address (see PackedGrains::select_interned).
        let keys = if keys.is_empty() {
            Vec::new()
        } else {
            self.interner.find_keys(keys)
        };
        let inventory = read(&self.inventory);
        let packed = inventory.get(id)?;
        Some(if keys.is_empty() {
            Grains::new()
        } else {
            packed.select_interned(&keys)
        })
    }

    /// A key's state, without cloning its record (the inventory lists
    /// thousands).
    pub fn key_state(&self, id: &str) -> Option<KeyState> {
        read(&self.keys).get(id).map(|k| k.state)
    }

    /// A minion's grains as it sent them (on every connection, and when
    /// they change). Unchanged grains, the common case of a fleet
    /// reconnecting, cost no write.
    pub fn set_grains(&self, id: &str, grains: Grains) {
        let packed = PackedGrains::pack(&grains, &self.interner);
        let old = read(&self.inventory).get(id).cloned();
        if old.as_ref().is_some_and(|old| old.same_as(&packed)) {
            return;
        }
        // The inventory's history keeps only what changed.
        let old = old.map(|o| o.unpack());
        let delta = crate::store::GrainsDelta::between(old.as_ref(), &grains);
        write(&self.inventory).insert(id.to_string(), packed);
        self.store.put_grains(id, &grains, delta.as_ref());
    }

    /// Grains another master of the cluster stored: cached here, not
    /// written back.
    pub fn cache_grains(&self, id: &str, grains: &Grains) {
        let packed = PackedGrains::pack(grains, &self.interner);
        write(&self.inventory).insert(id.to_string(), packed);
    }

    /// A key row changed in the shared store (another master accepted,
    /// rejected or deleted it): take the new state, and if a key accepted
    /// here is no longer accepted, cut its session and rotate the
    /// publication key, as if the change had been made here.
    pub async fn reload_key(&self, id: &str) -> Result<(), crate::store::StoreError> {
        let new = self.store.load_key(id).await?;
        let old = self.key(id);
        let was_accepted = old.as_ref().is_some_and(|k| k.state == KeyState::Accepted);
        let still_accepted = match (&old, &new) {
            (Some(o), Some(n)) => {
                n.state == KeyState::Accepted
                    && brine_pki::fingerprint::same(&o.fingerprint, &n.fingerprint)
            }
            _ => false,
        };
        match &new {
            Some(k) => {
                write(&self.keys).insert(id.to_string(), k.clone());
            }
            None => {
                write(&self.keys).remove(id);
                write(&self.inventory).remove(id);
                write(&self.pillars).remove(id);
            }
        }
        if was_accepted && !still_accepted {
            let what = if new.is_none() { "deleted" } else { "rejected" };
            self.cut_off(
                id,
                &format!("this minion's key was {what} (on another master of the cluster)"),
            );
            self.rotate_epoch();
            tracing::info!(minion_id = %id, "key {what} on another master: session cut");
        }
        if new.as_ref().is_some_and(|k| k.state != KeyState::Pending) {
            self.wake_pending(id);
        }
        Ok(())
    }

    /// Reads every key again (after the cluster listener reconnected).
    pub async fn reload_keys(&self) -> Result<(), crate::store::StoreError> {
        let stored: HashMap<String, KeyRecord> = self
            .store
            .load_keys()
            .await?
            .into_iter()
            .map(|k| (k.id.clone(), k))
            .collect();
        let mut ids: Vec<String> = read(&self.keys).keys().cloned().collect();
        ids.extend(stored.keys().cloned());
        ids.sort();
        ids.dedup();
        for id in ids {
            let differs = match (self.key(&id), stored.get(&id)) {
                (Some(a), Some(b)) => a.state != b.state || a.fingerprint != b.fingerprint,
                (None, None) => false,
                _ => true,
            };
            if differs {
                self.reload_key(&id).await?;
            }
        }
        Ok(())
    }

    /// The session of `id` on this master, to send it a message directly.
    pub fn session_tx(&self, id: &str) -> Option<mpsc::Sender<MasterMsg>> {
        lock(&self.sessions).get(id).map(|s| s.tx.clone())
    }

    /// Forwards returns another master stored for a job a CLI waits on
    /// here. `origin`: those master `origin` stored since the last look (a
    /// cursor per job and master); None: every return stored by any other
    /// master (after a resync, and once when the job starts), the gatherer
    /// drops what it already has.
    pub async fn pull_returns(
        &self,
        jid: JobId,
        origin: Option<&str>,
    ) -> Result<(), crate::store::StoreError> {
        if !lock(&self.routes).contains_key(&jid) {
            return Ok(());
        }
        let key = origin.map(|o| (jid, o.to_string()));
        let after = key
            .as_ref()
            .and_then(|k| lock(&self.remote_cursor).get(k).copied())
            .unwrap_or(0);
        let rows = self
            .store
            .returns_since(jid, origin, &self.config.id, after)
            .await?;
        if let (Some(key), Some(last)) = (key, rows.last().map(|r| r.0)) {
            let mut cursors = lock(&self.remote_cursor);
            let cur = cursors.entry(key).or_insert(0);
            *cur = (*cur).max(last);
        }
        if let Some(tx) = lock(&self.routes).get(&jid) {
            for (_, ret) in rows {
                lock(&self.running).remove(&(jid, ret.id.clone()));
                let _ = tx.send(JobEvent::Returned(Box::new(ret)));
            }
        }
        Ok(())
    }

    /// Notes that something went out on the publish port now.
    pub fn mark_published(&self) {
        self.last_publish_ms
            .store(crate::store::now_ms() as u64, Ordering::Relaxed);
    }

    /// Whether something went out on the publish port within `d`.
    pub fn published_within(&self, d: std::time::Duration) -> bool {
        let last = self.last_publish_ms.load(Ordering::Relaxed) as i64;
        crate::store::now_ms() - last < d.as_millis() as i64
    }

    /// Jobs a CLI waits on here (to pull their returns after a resync).
    pub fn routed_jids(&self) -> Vec<JobId> {
        lock(&self.routes).keys().copied().collect()
    }

    /// The pillar last compiled for `id`, if any since this master started.
    pub fn pillar(&self, id: &str) -> Option<Arc<Grains>> {
        read(&self.pillars).get(id).cloned()
    }

    pub fn set_pillar(&self, id: &str, pillar: Grains) {
        write(&self.pillars).insert(id.to_string(), Arc::new(pillar));
    }

    /// Compiles minion `id`'s pillar from the pillar roots with the grains
    /// the inventory holds for it (`saltenv`: only that environment), and
    /// merges the external pillars in (Salt's `Pillar.compile_pillar`). The
    /// whole pillar is kept for pillar targets. Blocks: pillar templates may
    /// call execution functions and external pillars run commands, so run
    /// it on a blocking thread.
    pub fn compile_pillar(&self, id: &str, saltenv: Option<&str>) -> CompiledPillar {
        let grains = self.grains(id).unwrap_or_default();
        let facts = MinionFacts {
            id,
            grains: &grains,
            pillar: None,
        };
        // config_dir: the gpg renderer's default key dir is <config_dir>/gpgkeys
        let opts = serde_json::json!({
            "id": id,
            "__role": "master",
            "config_dir": self.config.config_dir.display().to_string(),
        });
        let functions = self.pillar_functions.get().map(|make| make(id, &grains));
        let functions = functions.as_deref().map(|f| f as _);
        let ext = &self.ext_pillar;
        let merging = &ext.conf.merging;
        let nodegroups = &self.config.nodegroups;
        let compiler = ExtCompiler {
            facts: &facts,
            opts: &opts,
            functions,
            merging,
            nodegroups,
            pillar_roots: self.files.pillar_roots(),
        };
        let minion = crate::ext_pillar::Minion {
            id,
            grains: &grains,
            saltenv,
            nodegroups,
            pillar_roots: self.files.pillar_roots(),
        };
        let sls = |pillar: &serde_json::Value| {
            let mut renderer =
                pillar_renderer(self.files.pillar_roots(), &grains, &opts, functions);
            renderer.pillar = pillar;
            self.files
                .pillar_merged(&facts, saltenv, &renderer, nodegroups, merging)
        };
        let compiled = ext.compile(&minion, &compiler, &sls);
        if let (None, serde_json::Value::Object(map)) = (saltenv, &compiled.pillar) {
            self.set_pillar(id, map.clone());
        }
        compiled
    }

    // ---- sessions -----------------------------------------------------------

    pub fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers a session if the key is (still) accepted with this
    /// fingerprint, closing any older connection of the same minion. The
    /// check and the insertion happen under the sessions lock, which
    /// [`Master::cut_off`] takes after a key changes state: a key rejected
    /// while its session was being set up never gets registered.
    pub fn add_session_if_accepted(
        &self,
        id: &str,
        fingerprint: &str,
        session: Session,
    ) -> Result<(), String> {
        let mut sessions = lock(&self.sessions);
        let accepted = self.key(id).is_some_and(|k| {
            k.state == KeyState::Accepted
                && brine_pki::fingerprint::same(&k.fingerprint, fingerprint)
        });
        if !accepted {
            return Err("this minion's key is not accepted by the master".into());
        }
        if let Some(old) = sessions.insert(id.to_string(), session) {
            old.cut.notify_one();
        }
        drop(sessions);
        self.store.put_presence(id, true);
        self.presence.changed(id, true);
        Ok(())
    }

    /// Whether a new pending key may be created for a request from `ip`:
    /// at most `max_pending_keys` pending in all, and at most
    /// `pending_keys_per_minute` new ones per source address.
    pub fn admit_pending(&self, ip: std::net::IpAddr) -> Result<(), String> {
        let max = self.config.max_pending_keys;
        let pending = read(&self.keys)
            .values()
            .filter(|k| k.state == KeyState::Pending)
            .count();
        if pending >= max {
            return Err(format!(
                "the master already holds {pending} pending keys (max_pending_keys: {max}); ask an operator to accept or delete some"
            ));
        }
        let per_minute = self.config.pending_keys_per_minute as f64;
        let now = std::time::Instant::now();
        let mut rate = lock(&self.pending_rate);
        if rate.len() > 10_000 {
            rate.retain(|_, (_, at)| now.duration_since(*at).as_secs() < 60);
        }
        let (tokens, at) = rate.entry(ip).or_insert((per_minute, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * per_minute / 60.0).min(per_minute);
        *at = now;
        if *tokens < 1.0 {
            return Err(format!(
                "too many new keys from {ip} (pending_keys_per_minute: {}); try again later",
                self.config.pending_keys_per_minute
            ));
        }
        *tokens -= 1.0;
        Ok(())
    }

    pub fn remove_session(&self, id: &str, conn_id: u64) {
        let mut s = lock(&self.sessions);
        if s.get(id).map(|x| x.conn_id) == Some(conn_id) {
            s.remove(id);
            drop(s);
            self.store.put_presence(id, false);
            self.presence.changed(id, false);
            lock(&self.running).retain(|(_, m)| m != id);
        }
    }

    pub fn is_connected(&self, id: &str) -> bool {
        lock(&self.sessions).contains_key(id)
    }

    pub fn connected_ids(&self) -> Vec<String> {
        let mut v: Vec<_> = lock(&self.sessions).keys().cloned().collect();
        v.sort();
        v
    }

    /// Closes a minion's connection at once (its key is no longer accepted).
    pub fn cut_off(&self, id: &str, reason: &str) {
        if let Some(s) = lock(&self.sessions).remove(id) {
            let _ = s.tx.try_send(MasterMsg::Refused {
                reason: reason.to_string(),
            });
            s.cut.notify_one();
            self.store.put_presence(id, false);
        }
    }

    // ---- publication epoch --------------------------------------------------

    pub fn epoch(&self) -> EpochKey {
        read(&self.epoch).clone()
    }

    /// New publication key for everyone still accepted. Sent over the
    /// existing TLS sessions: nobody re-authenticates.
    pub fn rotate_epoch(&self) {
        let next = {
            let mut e = write(&self.epoch);
            *e = new_epoch_key(e.epoch + 1);
            e.clone()
        };
        let sessions = lock(&self.sessions);
        for s in sessions.values() {
            let _ = s.tx.try_send(MasterMsg::Epoch(next.clone()));
        }
        tracing::info!(
            epoch = next.epoch,
            sessions = sessions.len(),
            "publication key rotated"
        );
    }

    // ---- job routes -----------------------------------------------------------

    pub fn add_route(&self, jid: JobId) -> mpsc::UnboundedReceiver<JobEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.routes).insert(jid, tx);
        rx
    }

    pub fn remove_route(&self, jid: JobId) {
        lock(&self.routes).remove(&jid);
        lock(&self.remote_cursor).retain(|(j, _), _| *j != jid);
    }

    /// Marks a job as being gathered (returns are checked against it).
    pub fn add_active(&self, jid: JobId, job: Arc<ActiveJob>) {
        lock(&self.active).insert(jid, job);
    }

    pub fn remove_active(&self, jid: JobId) {
        lock(&self.active).remove(&jid);
    }

    pub fn job_started(&self, jid: JobId, id: &str) {
        // Only for jobs being gathered: a minion cannot grow this set with
        // made-up jids.
        if !lock(&self.active).contains_key(&jid) {
            return;
        }
        lock(&self.running).insert((jid, id.to_string()));
        if let Some(tx) = lock(&self.routes).get(&jid) {
            let _ = tx.send(JobEvent::Started(id.to_string()));
        }
    }

    pub fn is_running(&self, jid: JobId, id: &str) -> bool {
        lock(&self.running).contains(&(jid, id.to_string()))
    }

    /// Whether minion `id` may return into job `jid`: the job exists and
    /// targeted it (it was expected, or its target matches what the
    /// inventory knows of the minion now).
    async fn check_targeted(self: &Arc<Self>, jid: JobId, id: &str) -> Result<(), ReturnVerdict> {
        let active = lock(&self.active).get(&jid).cloned();
        let (expected, expr) = match active {
            Some(a) => {
                if a.expected.contains(id) {
                    return Ok(());
                }
                (false, a.expr.clone())
            }
            None => {
                let found = self
                    .store
                    .job_target(jid, id)
                    .await
                    .map_err(|e| ReturnVerdict::Deferred(e.to_string()))?;
                let Some(t) = found else {
                    return Err(ReturnVerdict::Refused(format!(
                        "no job {jid} on this master"
                    )));
                };
                if t.expected {
                    return Ok(());
                }
                let expr =
                    brine_proto::targeting::TargetExpr::parse(&t.tgt, t.tgt_type).map_err(|e| {
                        ReturnVerdict::Refused(format!("job {jid} has an unreadable target: {e}"))
                    })?;
                (false, expr)
            }
        };
        let grains = self
            .grains_select(id, &expr.grain_keys())
            .unwrap_or_default();
        let pillar = self.pillar(id);
        let matches = expected
            || expr.matches(&MinionFacts {
                id,
                grains: &grains,
                pillar: pillar.as_deref(),
            });
        if matches {
            Ok(())
        } else {
            Err(ReturnVerdict::Refused(format!(
                "job {jid} did not target minion '{id}'"
            )))
        }
    }

    /// Checks, stores and forwards a return from minion `id` (the
    /// certificate's). The verdict says what to tell the minion: it forgets
    /// the return only once it is stored (or refused for good).
    pub async fn job_returned(self: &Arc<Self>, ret: JobReturn) -> ReturnVerdict {
        let (jid, id) = (ret.jid, ret.id.clone());
        if let Err(verdict) = self.check_targeted(jid, &id).await {
            if let ReturnVerdict::Refused(reason) = &verdict {
                tracing::warn!(%jid, minion_id = %id, %reason, "return refused");
            }
            return verdict;
        }
        match self.store.put_return(ret.clone()).await {
            Ok(crate::store::Written::Stored) => {
                crate::events::fire_return(&self.events, &ret);
                lock(&self.running).remove(&(jid, id));
                if let Some(tx) = lock(&self.routes).get(&jid) {
                    let _ = tx.send(JobEvent::Returned(Box::new(ret)));
                }
                ReturnVerdict::Stored
            }
            Ok(crate::store::Written::Duplicate) => {
                tracing::info!(%jid, minion_id = %id, "second return for the same job ignored; the first stands");
                ReturnVerdict::Duplicate
            }
            Err(error) => {
                let error = error.to_string();
                tracing::error!(%jid, minion_id = %id, %error, "return not stored; the minion keeps it");
                if let Some(tx) = lock(&self.routes).get(&jid) {
                    let _ = tx.send(JobEvent::Unstored {
                        id,
                        error: error.clone(),
                    });
                }
                ReturnVerdict::Deferred(error)
            }
        }
    }

    // ---- pending minions ------------------------------------------------------

    pub fn pending_waiter(&self, id: &str) -> Arc<Notify> {
        lock(&self.pending_waiters)
            .entry(id.to_string())
            .or_insert_with(|| Arc::new(Notify::new()))
            .clone()
    }

    pub fn wake_pending(&self, id: &str) {
        if let Some(n) = lock(&self.pending_waiters).remove(id) {
            n.notify_waiters();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|p| p.into_inner())
}

/// The master's pillar compiler as the external pillars use it: git_pillar
/// checkouts compiled like the pillar roots, file_tree templates rendered
/// like pillar SLS, for one minion.
struct ExtCompiler<'a> {
    facts: &'a MinionFacts<'a>,
    opts: &'a serde_json::Value,
    functions: Option<&'a dyn brine_states::ExecCaller>,
    merging: &'a brine_states::pillar::Merging,
    nodegroups: &'a std::collections::BTreeMap<String, brine_proto::targeting::NodegroupDef>,
    pillar_roots: &'a brine_states::LocalRoots,
}

impl crate::ext_pillar::Compiler for ExtCompiler<'_> {
    fn compile(&self, roots: &brine_states::LocalRoots, env: &str) -> CompiledPillar {
        let renderer = pillar_renderer(roots, self.facts.grains, self.opts, self.functions);
        brine_states::pillar::compile_pillar_merged(
            roots,
            &renderer,
            self.facts,
            self.merging,
            Some(env),
            self.nodegroups,
        )
    }

    fn render(&self, name: &str, text: &str) -> Result<serde_json::Value, String> {
        use brine_states::compile::SlsRenderer;
        let renderer = pillar_renderer(
            self.pillar_roots,
            self.facts.grains,
            self.opts,
            self.functions,
        );
        renderer
            .render("base", name, name, text)
            .map(|node| node.to_json())
    }
}
