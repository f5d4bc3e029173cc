//! Requests to the masters (files, pillar) from execution functions: one
//! [`MasterClient`] per minion, shared by every link.
//!
//! With several masters connected at once, a request goes to one whose
//! session is up and that was heard from recently, in the configured
//! order; a master that is connected but silent (hung, suspended) is only
//! asked when no live one is left. If the session of the master asked ends
//! before it replies (the link found it dead, or lost it), the request goes
//! to the next master at once; a request waits on a dead master at most
//! until its link notices (`master_alive_interval`), never for the whole
//! request timeout.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brine_proto::{FileBlob, MasterMsg, MinionMsg};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info};

use crate::liveness::Pulse;

/// How long a file or pillar request waits for the master's reply, in all.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// A master not heard from for this long is asked only when no other is
/// live (when the config does not say: [`MasterClient::for_config`]).
const SUSPECT_AFTER: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("not connected to any master")]
    NotConnected,
    #[error("no reply from master {master} within {secs} s")]
    Timeout { master: String, secs: u64 },
    #[error("connection to master {0} lost before it replied")]
    Lost(String),
    /// The master answered with an error.
    #[error("{0}")]
    Master(String),
    #[error("master sent an unexpected reply: {0}")]
    Unexpected(String),
}

/// A handle to send requests to a connected master and await the reply.
/// Cloneable; execution functions get it through their `CallCtx`.
#[derive(Clone)]
pub struct MasterClient {
    inner: Arc<ClientInner>,
}

/// One master's session while it is up.
#[derive(Clone)]
pub(crate) struct SessionHandle {
    pub(crate) id: u64,
    pub(crate) tx: mpsc::Sender<MinionMsg>,
    pub(crate) pulse: Arc<Pulse>,
}

struct ClientInner {
    /// Masters in the order they are preferred, each with its session while connected.
    links: Mutex<Vec<(String, Option<SessionHandle>)>>,
    /// Requests awaiting a reply: the session asked, and who waits.
    pending: Mutex<HashMap<u64, (u64, oneshot::Sender<MasterMsg>)>>,
    next_req: AtomicU64,
    next_session: AtomicU64,
    timeout: Duration,
    suspect_after: Duration,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl MasterClient {
    /// A client for `masters` (in the order they are preferred).
    pub fn new(masters: &[String]) -> MasterClient {
        MasterClient::with_timeouts(masters, REQUEST_TIMEOUT, SUSPECT_AFTER)
    }

    /// A client for `masters` as `config` times them: a master silent for
    /// one and a half heartbeat periods is asked last.
    pub fn for_config(config: &crate::config::MinionConfig, masters: &[String]) -> MasterClient {
        MasterClient::with_timeouts(masters, REQUEST_TIMEOUT, config.ping_interval() * 3 / 2)
    }

    pub fn with_timeouts(
        masters: &[String],
        timeout: Duration,
        suspect_after: Duration,
    ) -> MasterClient {
        MasterClient {
            inner: Arc::new(ClientInner {
                links: Mutex::new(masters.iter().map(|m| (m.clone(), None)).collect()),
                pending: Mutex::new(HashMap::new()),
                next_req: AtomicU64::new(1),
                next_session: AtomicU64::new(1),
                timeout,
                suspect_after,
            }),
        }
    }

    /// Whether some master's session is up.
    pub fn is_connected(&self) -> bool {
        lock(&self.inner.links).iter().any(|(_, s)| s.is_some())
    }

    /// Registers `master`'s session (its request queue and liveness); the
    /// returned id closes it with [`MasterClient::close_session`].
    pub(crate) fn open_session(
        &self,
        master: &str,
        tx: mpsc::Sender<MinionMsg>,
        pulse: Arc<Pulse>,
    ) -> u64 {
        let id = self.inner.next_session.fetch_add(1, Ordering::Relaxed);
        let handle = SessionHandle { id, tx, pulse };
        let mut links = lock(&self.inner.links);
        match links.iter_mut().find(|(m, _)| m == master) {
            Some(slot) => slot.1 = Some(handle),
            None => links.push((master.to_string(), Some(handle))),
        }
        id
    }

    /// The session `id` of `master` is gone: its requests fail now (and go
    /// to another master), not at their timeout.
    pub(crate) fn close_session(&self, master: &str, id: u64) {
        let mut links = lock(&self.inner.links);
        if let Some(slot) = links.iter_mut().find(|(m, _)| m == master) {
            if slot.1.as_ref().is_some_and(|s| s.id == id) {
                slot.1 = None;
            }
        }
        // Under the links lock: a request registering itself now either
        // saw the session (and is removed here) or sees it gone.
        lock(&self.inner.pending).retain(|_, (session, _)| *session != id);
    }

    /// Hands a reply to the request waiting for it; false when none waits
    /// (it timed out, or the reply is not one).
    pub(crate) fn complete(&self, msg: MasterMsg) -> bool {
        let req = match &msg {
            MasterMsg::FileListReply { req, .. }
            | MasterMsg::FileDirListReply { req, .. }
            | MasterMsg::FileReply { req, .. }
            | MasterMsg::FileEnvsReply { req, .. }
            | MasterMsg::PillarReply { req, .. }
            | MasterMsg::CallRecorded { req, .. }
            | MasterMsg::MineReply { req, .. } => *req,
            _ => return false,
        };
        match lock(&self.inner.pending).remove(&req) {
            Some((_, waiter)) => waiter.send(msg).is_ok(),
            None => false,
        }
    }

    /// The master to ask next, skipping `tried`: the first live one in
    /// order, else the first connected one. Registers the request `req`
    /// with its session before the session can go away unseen.
    fn pick(
        &self,
        tried: &[u64],
        req: u64,
        waiter: oneshot::Sender<MasterMsg>,
    ) -> Result<(String, SessionHandle), oneshot::Sender<MasterMsg>> {
        let links = lock(&self.inner.links);
        let open = || {
            links
                .iter()
                .filter_map(|(m, s)| s.as_ref().map(|s| (m, s)))
                .filter(|(_, s)| !tried.contains(&s.id))
        };
        let chosen = open()
            .find(|(_, s)| s.pulse.silent_for() < self.inner.suspect_after)
            .or_else(|| open().next());
        match chosen {
            Some((m, s)) => {
                lock(&self.inner.pending).insert(req, (s.id, waiter));
                Ok((m.clone(), s.clone()))
            }
            None => Err(waiter),
        }
    }

    /// Sends the request `make(req)` to a connected master and waits for
    /// the reply carrying the same `req`; when that master's session ends
    /// first, asks the next one.
    async fn request(&self, make: impl Fn(u64) -> MinionMsg) -> Result<MasterMsg, RequestError> {
        let deadline = tokio::time::Instant::now() + self.inner.timeout;
        let mut tried: Vec<u64> = Vec::new();
        let mut last_error = RequestError::NotConnected;
        loop {
            let req = self.inner.next_req.fetch_add(1, Ordering::Relaxed);
            let (done_tx, done_rx) = oneshot::channel();
            let Ok((master, session)) = self.pick(&tried, req, done_tx) else {
                return Err(last_error);
            };
            tried.push(session.id);
            // A full queue means the session is stuck writing: ask another.
            if session.tx.try_send(make(req)).is_err() {
                lock(&self.inner.pending).remove(&req);
                debug!(%master, "request queue of this master full or closed; asking another");
                last_error = RequestError::Lost(master);
                continue;
            }
            let outcome = tokio::time::timeout_at(deadline, done_rx).await;
            lock(&self.inner.pending).remove(&req);
            match outcome {
                Ok(Ok(msg)) => return Ok(msg),
                Ok(Err(_)) => {
                    info!(%master, "master's session ended before it replied; asking another master");
                    last_error = RequestError::Lost(master);
                }
                Err(_) => {
                    return Err(RequestError::Timeout {
                        master,
                        secs: self.inner.timeout.as_secs(),
                    })
                }
            }
        }
    }

    /// `(path, sha256)` of every file of `saltenv` on the master, sorted.
    pub async fn file_list(&self, saltenv: &str) -> Result<Vec<(String, String)>, RequestError> {
        match self
            .request(|req| MinionMsg::FileList {
                req,
                saltenv: saltenv.to_string(),
            })
            .await?
        {
            MasterMsg::FileListReply { result, .. } => result.map_err(RequestError::Master),
            other => Err(RequestError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Every directory of `saltenv` on the master, empty ones included.
    pub async fn file_dir_list(&self, saltenv: &str) -> Result<Vec<String>, RequestError> {
        match self
            .request(|req| MinionMsg::FileDirList {
                req,
                saltenv: saltenv.to_string(),
            })
            .await?
        {
            MasterMsg::FileDirListReply { result, .. } => result.map_err(RequestError::Master),
            other => Err(RequestError::Unexpected(format!("{other:?}"))),
        }
    }

    /// The master's file server environments.
    pub async fn file_envs(&self) -> Result<Vec<String>, RequestError> {
        match self.request(|req| MinionMsg::FileEnvs { req }).await? {
            MasterMsg::FileEnvsReply { envs, .. } => Ok(envs),
            other => Err(RequestError::Unexpected(format!("{other:?}"))),
        }
    }

    /// One file; `Ok(None)` when the master has no such file. With `have`
    /// equal to the file's sha256, the blob comes back without bytes.
    pub async fn file_get(
        &self,
        saltenv: &str,
        path: &str,
        have: Option<&str>,
    ) -> Result<Option<FileBlob>, RequestError> {
        let msg = self
            .request(|req| MinionMsg::FileGet {
                req,
                saltenv: saltenv.to_string(),
                path: path.to_string(),
                have_sha256: have.map(str::to_string),
            })
            .await?;
        match msg {
            MasterMsg::FileReply { result, .. } => {
                let blob = result.map_err(RequestError::Master)?;
                match &blob {
                    Some(FileBlob { data: Some(d), .. }) => {
                        info!(path, bytes = d.len(), "file received from master")
                    }
                    Some(FileBlob { data: None, .. }) => {
                        info!(path, "cached file is current; nothing transferred")
                    }
                    None => {}
                }
                Ok(blob)
            }
            other => Err(RequestError::Unexpected(format!("{other:?}"))),
        }
    }

    /// This minion's pillar as the master compiles it, and its errors.
    pub async fn pillar(
        &self,
        saltenv: Option<&str>,
    ) -> Result<(serde_json::Value, Vec<String>), RequestError> {
        match self
            .request(|req| MinionMsg::PillarGet {
                req,
                saltenv: saltenv.map(str::to_string),
            })
            .await?
        {
            MasterMsg::PillarReply { pillar, errors, .. } => Ok((pillar, errors)),
            other => Err(RequestError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Sends an event to every master whose session is up (each master's
    /// bus gets it; the masters of one cluster react to it once, by its
    /// `eid`). The number of masters it went to; none connected is an
    /// error. A session whose queue is full (stuck writing) is skipped:
    /// an event never waits behind a stalled master.
    pub fn send_event(&self, tag: &str, data: serde_json::Value) -> Result<usize, RequestError> {
        let eid = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        let sessions: Vec<(String, SessionHandle)> = lock(&self.inner.links)
            .iter()
            .filter_map(|(m, s)| s.as_ref().map(|s| (m.clone(), s.clone())))
            .collect();
        if sessions.is_empty() {
            return Err(RequestError::NotConnected);
        }
        let mut sent = 0;
        for (master, session) in sessions {
            let msg = MinionMsg::Event {
                tag: tag.to_string(),
                data: data.clone(),
                eid: Some(eid.clone()),
            };
            match session.tx.try_send(msg) {
                Ok(()) => sent += 1,
                Err(_) => {
                    debug!(%master, %tag, "event not queued: this master's session is full or closed")
                }
            }
        }
        if sent == 0 {
            return Err(RequestError::Lost("every connected master".into()));
        }
        Ok(sent)
    }

    /// Records a `brine-call`'s return in the master's job cache; the jid
    /// the master filed it under.
    pub async fn record_call(
        &self,
        arg: Vec<serde_json::Value>,
        kwarg: serde_json::Map<String, serde_json::Value>,
        ret: brine_proto::JobReturn,
    ) -> Result<brine_proto::JobId, RequestError> {
        match self
            .request(|req| MinionMsg::CallReturn {
                req,
                arg: arg.clone(),
                kwarg: kwarg.clone(),
                ret: ret.clone(),
            })
            .await?
        {
            MasterMsg::CallRecorded { result, .. } => result.map_err(RequestError::Master),
            other => Err(RequestError::Unexpected(format!("{other:?}"))),
        }
    }
}

/// The key every master of a cluster sees on this process's start event,
/// so a cluster reacts to one start once.
fn process_start_eid() -> &'static str {
    static EID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    EID.get_or_init(|| format!("start-{:016x}", fastrand::u64(..)))
}

/// Salt's minion start event (`salt/minion/<id>/start`), as Brine tags it.
pub(crate) fn start_event(id: &str) -> MinionMsg {
    let tag = format!("brine/minion/{id}/start");
    let when = chrono::Local::now().format("%a %b %e %H:%M:%S %Y");
    MinionMsg::Event {
        data: serde_json::json!({
            "cmd": "_minion_event",
            "data": format!("Minion {id} started at {when}"),
            "tag": tag,
            "pretag": null,
        }),
        tag,
        eid: Some(process_start_eid().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake master session: answers `FileEnvs` with its own name, or
    /// never (hung), as told.
    fn session(
        client: &MasterClient,
        name: &'static str,
        answers: bool,
    ) -> (u64, Arc<Pulse>, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<MinionMsg>(4);
        let pulse = Arc::new(Pulse::new());
        let id = client.open_session(name, tx, pulse.clone());
        let c = client.clone();
        let task = tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                if let (MinionMsg::FileEnvs { req }, true) = (m, answers) {
                    c.complete(MasterMsg::FileEnvsReply {
                        req,
                        envs: vec![name.to_string()],
                    });
                }
            }
        });
        (id, pulse, task)
    }

    fn masters() -> Vec<String> {
        vec!["a".into(), "b".into()]
    }

    #[tokio::test]
    async fn not_connected_fails_at_once() {
        let c = MasterClient::new(&masters());
        assert!(matches!(
            c.file_envs().await,
            Err(RequestError::NotConnected)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_master_is_asked_after_a_live_one() {
        let c = MasterClient::with_timeouts(&masters(), REQUEST_TIMEOUT, Duration::from_secs(3));
        let (_ida, pulse_a, _ta) = session(&c, "a", false);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let (_idb, _pb, _tb) = session(&c, "b", true);
        // a is first in order but silent for 5 s: b answers, at once
        let start = tokio::time::Instant::now();
        assert_eq!(c.file_envs().await.unwrap(), vec!["b"]);
        assert_eq!(start.elapsed(), Duration::ZERO);
        // a live again: a is preferred (and hangs); the request goes to b
        // as soon as a's session is closed (the link found it dead)
        pulse_a.beat();
        let c2 = c.clone();
        let closer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            c2.close_session("a", _ida);
        });
        let start = tokio::time::Instant::now();
        assert_eq!(c.file_envs().await.unwrap(), vec!["b"]);
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        closer.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn the_whole_timeout_bounds_a_request() {
        let c = MasterClient::with_timeouts(&masters(), Duration::from_secs(7), SUSPECT_AFTER);
        let (_id, _p, _t) = session(&c, "a", false);
        let start = tokio::time::Instant::now();
        assert!(matches!(
            c.file_envs().await,
            Err(RequestError::Timeout { .. })
        ));
        assert_eq!(start.elapsed(), Duration::from_secs(7));
        assert!(lock(&c.inner.pending).is_empty());
    }

    #[tokio::test]
    async fn a_closed_session_is_not_asked_and_a_stale_close_is_ignored() {
        let c = MasterClient::new(&masters());
        let (ida, _pa, _ta) = session(&c, "a", true);
        c.close_session("a", ida);
        assert!(!c.is_connected());
        let (ida2, _pa2, _ta2) = session(&c, "a", true);
        // closing the old session again does not close the new one
        c.close_session("a", ida);
        assert!(c.is_connected());
        assert_eq!(c.file_envs().await.unwrap(), vec!["a"]);
        c.close_session("a", ida2);
        assert!(matches!(
            c.file_envs().await,
            Err(RequestError::NotConnected)
        ));
    }
}
