//! The request port (4506): mutual TLS. A connection without a client
//! certificate may only ask for one (enrollment); a connection with one is a
//! minion session whose identity is the certificate's, never a message field.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use brine_pki::channel::{read_frame, read_frame_limited, write_frame, ChannelError};
use brine_pki::fingerprint::same;
use brine_pki::{inspect_csr, peer_identity};
use brine_proto::minion_id::{check_minion_id, display_id};
use brine_proto::{KeyState, MasterMsg, MinionMsg};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn, Instrument};

use crate::fileserver::{FileServer, ServeError};
use crate::state::{Master, ReturnVerdict, Session};
use crate::store::{now_ms, KeyRecord};

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a pending minion's connection is held open waiting for an operator.
const PENDING_HOLD: Duration = Duration::from_secs(60);
/// Longest an enrollment connection lives, however it behaves.
const ENROLLMENT_LIFETIME: Duration = Duration::from_secs(300);
/// Largest message accepted before the peer is authenticated: a certificate
/// request is a few KB, a hello a few bytes.
pub const PRE_AUTH_FRAME_LIMIT: usize = 64 * 1024;
/// Connections not yet authenticated (in the TLS handshake, enrolling, or
/// before their hello) held at once; more wait in the listen backlog.
pub const MAX_UNAUTHENTICATED: usize = 512;
/// Of those, at most this many from one source address, so one host cannot
/// take every slot from the rest of the fleet.
pub const MAX_UNAUTHENTICATED_PER_IP: usize = 128;
/// File and pillar replies one session may have computed or queued at once
/// (each may be up to a frame): the session's memory is bounded in bytes.
const ANSWERS_IN_FLIGHT: usize = 4;
/// Missed jobs replayed to a reconnecting minion are at most this old.
const REPLAY_WINDOW_MS: i64 = 5 * 60 * 1000;
/// Jobs recorded this long before the newest one a minion saw are replayed
/// too (parallel publications leave the wire out of jid order).
const REPLAY_SLACK_MS: i64 = 30 * 1000;

pub async fn serve(master: Arc<Master>, listener: TcpListener, acceptor: TlsAcceptor) {
    let files = master.files.clone();
    let gate = Arc::new(Semaphore::new(MAX_UNAUTHENTICATED));
    let per_ip = PerIp::default();
    let mut turned_away: u64 = 0;
    let mut last_report: Option<std::time::Instant> = None;
    loop {
        // Anyone can connect: only so many unauthenticated peers at once.
        // With every slot taken, new connections wait in the listen backlog
        // (a fleet powering on is admitted as fast as handshakes complete,
        // instead of being closed and coming back in a retry storm).
        let Ok(slot) = gate.clone().acquire_owned().await else {
            return;
        };
        let (tcp, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(error) => {
                // EMFILE and friends: back off instead of spinning.
                warn!(%error, "accept failed on the request port");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // One source address may not hold more than its share of the slots.
        let admitted = per_ip.admit(addr.ip()).map(|ip_slot| (slot, ip_slot));
        let Some(permit) = admitted else {
            drop(tcp);
            turned_away += 1;
            if last_report.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
                warn!(
                    turned_away,
                    limit = MAX_UNAUTHENTICATED_PER_IP,
                    "too many unauthenticated connections from one address on the request port; new ones are closed"
                );
                last_report = Some(std::time::Instant::now());
                turned_away = 0;
            }
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let master = master.clone();
        let acceptor = acceptor.clone();
        let files = files.clone();
        tokio::spawn(async move { handle_conn(master, files, acceptor, tcp, addr, permit).await });
    }
}

async fn handle_conn(
    master: Arc<Master>,
    files: Arc<FileServer>,
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    addr: SocketAddr,
    unauthenticated: (OwnedSemaphorePermit, IpSlot),
) {
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(error)) => {
            debug!(%addr, %error, "tls handshake failed");
            return;
        }
        Err(_) => {
            debug!(%addr, "tls handshake timed out");
            return;
        }
    };
    let peer = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec());
    let (rd, wr) = tokio::io::split(tls);
    match peer {
        None => {
            let _ =
                tokio::time::timeout(ENROLLMENT_LIFETIME, enrollment(master, rd, wr, addr)).await;
            drop(unauthenticated);
        }
        Some(der) => match peer_identity(&der) {
            Ok(ident) => {
                let span = tracing::info_span!("session", minion_id = %ident.id, %addr);
                session(
                    master,
                    files,
                    rd,
                    wr,
                    ident.id,
                    ident.fingerprint,
                    unauthenticated,
                )
                .instrument(span)
                .await
            }
            Err(error) => warn!(%addr, %error, "unreadable client certificate"),
        },
    }
}

/// Unauthenticated connections held per source address.
#[derive(Clone, Default)]
struct PerIp(Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>);

/// One unauthenticated connection's place in [`PerIp`], given back on drop.
pub(crate) struct IpSlot {
    ip: std::net::IpAddr,
    counts: PerIp,
}

impl PerIp {
    fn admit(&self, ip: std::net::IpAddr) -> Option<IpSlot> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= MAX_UNAUTHENTICATED_PER_IP {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            ip,
            counts: self.clone(),
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut m = self.counts.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

fn recoverable(e: &ChannelError) -> bool {
    e.is_malformed_body()
}

// ---- enrollment ---------------------------------------------------------------

enum Decision {
    Issued(String),
    Pending(String),
    Rejected(String),
}

async fn enrollment<R, W>(master: Arc<Master>, mut rd: R, mut wr: W, addr: SocketAddr)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut next = match tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        read_frame_limited::<MinionMsg, _>(&mut rd, PRE_AUTH_FRAME_LIMIT),
    )
    .await
    {
        Ok(Ok(Some(m))) => m,
        Ok(Ok(None)) | Err(_) => return,
        Ok(Err(e)) => {
            warn!(%addr, error = %e, "bad first message on enrollment connection");
            return;
        }
    };
    for _ in 0..100 {
        let MinionMsg::CertRequest { id, csr_pem } = next else {
            let reply = MasterMsg::CertRejected {
                reason: "authenticate with a certificate first".into(),
            };
            let _ = write_frame(&mut wr, &reply).await;
            return;
        };
        if let Err(reason) = check_minion_id(&id) {
            warn!(%addr, id = %display_id(&id), %reason, "certificate request refused");
            let reply = MasterMsg::CertRejected { reason };
            let _ = write_frame(&mut wr, &reply).await;
            return;
        }
        let waiter = master.pending_waiter(&id);
        let notified = waiter.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let reply = decision_reply(&master, &id, &csr_pem, addr).await;
        let pending = matches!(reply, MasterMsg::CertPending { .. });
        if write_frame(&mut wr, &reply).await.is_err() || !pending {
            return;
        }
        // Hold the connection: when an operator accepts, answer at once
        // instead of waiting for the minion's next poll.
        next = tokio::select! {
            _ = &mut notified => {
                let reply = decision_reply(&master, &id, &csr_pem, addr).await;
                let _ = write_frame(&mut wr, &reply).await;
                return;
            }
            _ = tokio::time::sleep(PENDING_HOLD) => return,
            m = read_frame_limited::<MinionMsg, _>(&mut rd, PRE_AUTH_FRAME_LIMIT) => match m {
                Ok(Some(m)) => m,
                _ => return,
            },
        };
    }
}

async fn decision_reply(master: &Master, id: &str, csr_pem: &str, addr: SocketAddr) -> MasterMsg {
    let decision = decide(master, id, csr_pem, addr).await;
    // Salt's salt/auth: what the master decided about a key request.
    let (act, result) = match &decision {
        Decision::Issued(_) => ("accept", true),
        Decision::Pending(_) => ("pend", true),
        Decision::Rejected(_) => ("reject", false),
    };
    let finger = master.key(id).map(|k| k.fingerprint).unwrap_or_default();
    master.events.fire(
        "brine/auth",
        serde_json::json!({"id": id, "act": act, "result": result, "fingerprint": finger, "source": addr.ip().to_string()}),
    );
    match decision {
        Decision::Issued(cert_pem) => MasterMsg::CertIssued {
            cert_pem,
            ca_pem: master.pki.ca_pem(),
        },
        Decision::Pending(fingerprint) => MasterMsg::CertPending { fingerprint },
        Decision::Rejected(reason) => MasterMsg::CertRejected { reason },
    }
}

async fn decide(master: &Master, id: &str, csr_pem: &str, addr: SocketAddr) -> Decision {
    let info = match inspect_csr(csr_pem) {
        Ok(i) => i,
        Err(error) => return Decision::Rejected(format!("bad certificate request: {error}")),
    };
    if info.id != id {
        return Decision::Rejected(format!(
            "certificate request is for '{}', not '{id}'",
            info.id
        ));
    }
    let issue = |master: &Master| match master.pki.sign_minion_csr(csr_pem, id) {
        Ok(cert) => Decision::Issued(cert),
        Err(error) => Decision::Rejected(format!("cannot sign the request: {error}")),
    };
    match master.key(id) {
        None => {
            let auto = master.config.auto_accept || autosign_matches(master, id);
            let state = if auto {
                KeyState::Accepted
            } else {
                // A new pending key: bounded in count, and in rate per
                // source, before anything is stored.
                if let Err(reason) = master.admit_pending(addr.ip()) {
                    warn!(%addr, minion_id = %id, %reason, "certificate request refused");
                    return Decision::Rejected(reason);
                }
                KeyState::Pending
            };
            let rec = KeyRecord {
                id: id.to_string(),
                state,
                fingerprint: info.fingerprint.clone(),
                csr_pem: Some(csr_pem.to_string()),
            };
            match master.create_key(rec).await {
                Ok(true) => {}
                // Another master of the cluster stored a key for this id
                // first (and may have accepted it): decide on that one.
                Ok(false) if master.key(id).is_some() => {
                    return Box::pin(decide(master, id, csr_pem, addr)).await
                }
                Ok(false) => {
                    return Decision::Rejected(
                        "the key for this id changed while the request was decided; try again"
                            .into(),
                    )
                }
                Err(error) => return Decision::Rejected(format!("master store error: {error}")),
            }
            if auto {
                info!(minion_id = id, fingerprint = %info.fingerprint, "key auto-accepted");
                issue(master)
            } else {
                info!(minion_id = id, fingerprint = %info.fingerprint, "new key pending");
                Decision::Pending(info.fingerprint)
            }
        }
        Some(k) if !same(&k.fingerprint, &info.fingerprint) => {
            warn!(
                minion_id = id,
                fingerprint = %info.fingerprint,
                held = %k.fingerprint,
                "key denied: the master holds a different key for this id"
            );
            Decision::Rejected(format!(
                "the master holds a different key for '{id}'; an operator must delete it (brine-key -d {id}) first"
            ))
        }
        Some(k) => match k.state {
            KeyState::Accepted => issue(master),
            KeyState::Pending => Decision::Pending(k.fingerprint),
            KeyState::Rejected | KeyState::Denied => {
                Decision::Rejected("this minion's key was rejected by the master".into())
            }
        },
    }
}

fn autosign_matches(master: &Master, id: &str) -> bool {
    let Some(path) = &master.config.autosign_file else {
        return false;
    };
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .any(|pat| {
            globset::Glob::new(pat)
                .map(|g| g.compile_matcher().is_match(id))
                .unwrap_or(pat == id)
        })
}

// ---- authenticated session ----------------------------------------------------

async fn session<R, W>(
    master: Arc<Master>,
    files: Arc<FileServer>,
    mut rd: R,
    mut wr: W,
    id: String,
    fingerprint: String,
    unauthenticated: (OwnedSemaphorePermit, IpSlot),
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let accepted = master
        .key(&id)
        .filter(|k| k.state == KeyState::Accepted && same(&k.fingerprint, &fingerprint));
    if accepted.is_none() {
        warn!("certificate presented for a key that is not accepted; refused");
        let reply = MasterMsg::Refused {
            reason: "this minion's key is not accepted by the master".into(),
        };
        let _ = write_frame(&mut wr, &reply).await;
        return;
    }
    let last_jid = match tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        read_frame_limited::<MinionMsg, _>(&mut rd, PRE_AUTH_FRAME_LIMIT),
    )
    .await
    {
        Ok(Ok(Some(MinionMsg::Hello { last_jid, .. }))) => last_jid,
        Ok(Ok(Some(MinionMsg::CallHello { .. }))) => {
            drop(unauthenticated);
            return call_session(master, files, rd, wr, id).await;
        }
        other => {
            debug!(?other, "no hello from minion");
            return;
        }
    };
    let hb = master.config.heartbeat_interval;
    let (tx, rx) = mpsc::channel::<MasterMsg>(1024);
    // File and pillar replies (up to a frame each) come on their own queue,
    // each holding one of ANSWERS_IN_FLIGHT permits until it is written.
    let (answer_tx, answer_rx) = mpsc::channel::<Answer>(ANSWERS_IN_FLIGHT);
    let conn_id = master.next_conn_id();
    let cut = Arc::new(Notify::new());
    // The key is checked again and the session registered in one step: a
    // key rejected while this connection was being set up is refused here,
    // and never gets the publication key.
    if let Err(reason) = master.add_session_if_accepted(
        &id,
        &fingerprint,
        Session {
            conn_id,
            tx: tx.clone(),
            cut: cut.clone(),
        },
    ) {
        warn!(%reason, "session refused");
        let _ = write_frame(&mut wr, &MasterMsg::Refused { reason }).await;
        return;
    }
    drop(unauthenticated);
    let writer = spawn_writer(wr, rx, answer_rx, "minion");
    let _ = tx.send(welcome(&master)).await;
    info!("minion connected");
    if let Some(last) = last_jid {
        replay_missed(&master, &tx, &id, last).await;
    }
    let answers = Answers {
        tx: answer_tx,
        permits: Arc::new(Semaphore::new(ANSWERS_IN_FLIGHT)),
    };
    let reader = read_loop(&master, &files, &mut rd, &tx, &answers, &id, hb * 3);
    tokio::select! {
        _ = cut.notified() => info!("session closed by the master"),
        _ = reader => {}
    }
    master.remove_session(&id, conn_id);
    drop(tx);
    // Let the writer flush a final Refused before the socket goes away.
    let _ = tokio::time::timeout(Duration::from_millis(200), writer).await;
    info!("minion disconnected");
}

/// The writing half of a session: its own messages and the answers to
/// requests (each holding a permit of the bounded answer window until
/// written), until the session drops its sender or the peer stops reading.
fn spawn_writer<W>(
    mut wr: W,
    mut rx: mpsc::Receiver<MasterMsg>,
    mut answer_rx: mpsc::Receiver<Answer>,
    peer: &'static str,
) -> tokio::task::JoinHandle<()>
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            let (msg, permit) = tokio::select! {
                m = rx.recv() => match m { Some(m) => (m, None), None => break },
                a = answer_rx.recv() => match a { Some(a) => (a.msg, Some(a.permit)), None => continue },
            };
            if let Err(error) = write_frame(&mut wr, &msg).await {
                debug!(%error, "write to {peer} failed");
                break;
            }
            drop(permit);
        }
    })
}

/// The first message of every session: who this master is and what it signs with.
fn welcome(master: &Master) -> MasterMsg {
    MasterMsg::Welcome {
        master_id: master.config.id.clone(),
        signing_key: master.pki.signing_public_key(),
        now_ms: now_ms(),
        epoch: master.epoch(),
        cluster: master.store.cluster().map(str::to_string),
    }
}

/// A `brine-call` session (Salt's `salt-call` talking to its master): the
/// file server, the minion's pillar and the recording of its calls, on a
/// connection authenticated by the minion's certificate. It is not the
/// minion's session: jobs are not sent on it, and the daemon's own session,
/// if one is up, stays.
async fn call_session<R, W>(
    master: Arc<Master>,
    files: Arc<FileServer>,
    mut rd: R,
    wr: W,
    id: String,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let hb = master.config.heartbeat_interval;
    let (tx, rx) = mpsc::channel::<MasterMsg>(64);
    let (answer_tx, answer_rx) = mpsc::channel::<Answer>(ANSWERS_IN_FLIGHT);
    let writer = spawn_writer(wr, rx, answer_rx, "brine-call");
    let _ = tx.send(welcome(&master)).await;
    info!("brine-call connected");
    let answers = Answers {
        tx: answer_tx,
        permits: Arc::new(Semaphore::new(ANSWERS_IN_FLIGHT)),
    };
    read_loop(&master, &files, &mut rd, &tx, &answers, &id, hb * 3).await;
    drop(tx);
    let _ = tokio::time::timeout(Duration::from_millis(200), writer).await;
    debug!("brine-call disconnected");
}

async fn replay_missed(
    master: &Master,
    tx: &mpsc::Sender<MasterMsg>,
    id: &str,
    last: brine_proto::JobId,
) {
    let live = (now_ms(), REPLAY_WINDOW_MS);
    let jobs = match master
        .store
        .jobs_to_replay(id, last, REPLAY_SLACK_MS, live, 256)
        .await
    {
        Ok(j) => j,
        Err(error) => {
            warn!(%error, "cannot read missed jobs");
            return;
        }
    };
    // Only jobs still live: within the replay window and within their own
    // timeout (after it the caller has reported this minion as missing, and
    // running the job now would surprise; a fleet reconnecting after an
    // outage would also run every ping a monitor sent meanwhile).
    let now = now_ms();
    let cutoff = now - REPLAY_WINDOW_MS;
    let live = |j: &brine_proto::Job| {
        j.issued_ms >= cutoff
            && j.issued_ms
                .saturating_add((j.timeout as i64).saturating_mul(1000))
                >= now
    };
    for mut job in jobs.into_iter().filter(live) {
        job.master = master.config.id.clone();
        debug!(jid = %job.jid, "replaying missed job");
        let _ = tx.send(MasterMsg::Job(job)).await;
    }
}

async fn read_loop<R: AsyncRead + Unpin>(
    master: &Arc<Master>,
    files: &Arc<FileServer>,
    rd: &mut R,
    tx: &mpsc::Sender<MasterMsg>,
    answers: &Answers,
    id: &str,
    idle: Duration,
) {
    let mut event_rate = crate::events::EventRate::new(master.config.minion_event_rate);
    loop {
        let msg = match tokio::time::timeout(idle, read_frame::<MinionMsg, _>(rd)).await {
            Err(_) => {
                warn!("minion silent past the heartbeat deadline; dropping session");
                return;
            }
            Ok(Ok(None)) => return,
            Ok(Ok(Some(m))) => m,
            Ok(Err(e)) if recoverable(&e) => {
                warn!(error = %e, "malformed message from minion ignored");
                continue;
            }
            Ok(Err(ChannelError::Io(e))) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                // a minion stopped or its host went away: not a fault
                info!("minion disconnected");
                return;
            }
            Ok(Err(e)) => {
                warn!(error = %e, "minion connection error");
                return;
            }
        };
        match msg {
            // Answered, not timed: the master keeps no timer per session
            // (10,000 timers firing every interval were most of an idle
            // master's CPU), and the minion still hears from it each time.
            MinionMsg::Heartbeat => {
                let _ = tx.try_send(MasterMsg::Heartbeat);
            }
            MinionMsg::Grains { grains } => master.set_grains(id, grains),
            MinionMsg::JobStarted { jid } => master.job_started(jid, id),
            MinionMsg::Return(ret) => {
                if ret.id != id {
                    warn!(claimed = %ret.id, jid = %ret.jid, "return in another minion's name refused");
                    let _ = tx
                        .send(MasterMsg::ReturnRefused {
                            jid: ret.jid,
                            reason: format!(
                                "return claims id '{}' but the certificate says '{id}'",
                                ret.id
                            ),
                        })
                        .await;
                    continue;
                }
                debug!(jid = %ret.jid, "return received");
                let jid = ret.jid;
                let reply = match master.job_returned(ret).await {
                    ReturnVerdict::Stored => {
                        crate::http::metrics::job_returned(&master.counters, jid);
                        MasterMsg::ReturnAck { jid }
                    }
                    ReturnVerdict::Duplicate => MasterMsg::ReturnAck { jid },
                    ReturnVerdict::Refused(reason) => MasterMsg::ReturnRefused { jid, reason },
                    ReturnVerdict::Deferred(reason) => MasterMsg::ReturnDeferred { jid, reason },
                };
                let _ = tx.send(reply).await;
            }
            MinionMsg::GetEpochKey => {
                let _ = tx.send(MasterMsg::Epoch(master.epoch())).await;
            }
            MinionMsg::FileList { req, saltenv } => {
                let files = files.clone();
                let reply = move || {
                    let result = files.list(&saltenv).map_err(|e| e.to_string());
                    MasterMsg::FileListReply { req, result }
                };
                answer(answers, reply).await;
            }
            MinionMsg::FileDirList { req, saltenv } => {
                let files = files.clone();
                let reply = move || {
                    let result = files.dir_list(&saltenv).map_err(|e| e.to_string());
                    MasterMsg::FileDirListReply { req, result }
                };
                answer(answers, reply).await;
            }
            MinionMsg::FileGet {
                req,
                saltenv,
                path,
                have_sha256,
            } => {
                let files = files.clone();
                let minion_id = id.to_string();
                let reply = move || {
                    let result = files.get(&saltenv, &path, have_sha256.as_deref());
                    if let Err(ServeError::Refused(_)) = &result {
                        warn!(%minion_id, %saltenv, %path, "file request outside the file roots refused");
                    }
                    MasterMsg::FileReply {
                        req,
                        result: result.map_err(|e| e.to_string()),
                    }
                };
                answer(answers, reply).await;
            }
            MinionMsg::FileEnvs { req } => {
                let envs = files.envs();
                let _ = tx.send(MasterMsg::FileEnvsReply { req, envs }).await;
            }
            MinionMsg::PillarGet { req, saltenv } => {
                let master = master.clone();
                // The certificate's id: a minion only ever gets its own pillar.
                let minion_id = id.to_string();
                let reply = move || {
                    let compiled = master.compile_pillar(&minion_id, saltenv.as_deref());
                    for error in &compiled.errors {
                        warn!(%minion_id, %error, "pillar error");
                    }
                    MasterMsg::PillarReply {
                        req,
                        pillar: compiled.pillar,
                        errors: compiled.errors,
                    }
                };
                answer(answers, reply).await;
            }
            MinionMsg::CallReturn {
                req,
                arg,
                kwarg,
                ret,
            } => {
                // The certificate's id only: a minion records its own calls.
                let result = if ret.id != id {
                    warn!(claimed = %ret.id, "call return in another minion's name refused");
                    Err(format!(
                        "return claims id '{}' but the certificate says '{id}'",
                        ret.id
                    ))
                } else {
                    crate::jobs::record_call(master, arg, kwarg, ret).await
                };
                let _ = tx.send(MasterMsg::CallRecorded { req, result }).await;
            }
            MinionMsg::Event { tag, data, eid } => {
                crate::events::minion_event(master, id, tag, data, eid, &mut event_rate);
            }
            MinionMsg::MineSend { req, .. }
            | MinionMsg::MineDelete { req, .. }
            | MinionMsg::MineGet { req, .. } => {
                let result = Err("the mine is not available on this master".to_string());
                let _ = tx.send(MasterMsg::MineReply { req, result }).await;
            }
            MinionMsg::Hello { .. }
            | MinionMsg::CallHello { .. }
            | MinionMsg::CertRequest { .. } => {
                debug!("unexpected message in session ignored");
            }
        }
    }
}

/// A file or pillar reply and its share of the session's budget.
struct Answer {
    msg: MasterMsg,
    permit: OwnedSemaphorePermit,
}

/// Where a session's file and pillar replies go, and how many may exist.
struct Answers {
    tx: mpsc::Sender<Answer>,
    permits: Arc<Semaphore>,
}

/// Runs a file server or pillar request off the session's reader (it reads
/// and hashes files) and queues its reply; the minion matches it by `req`.
/// Waits (and so stops reading the session) while ANSWERS_IN_FLIGHT replies
/// are being built or written: a minion asking for many large files at once
/// is slowed down, not given unbounded memory.
async fn answer(answers: &Answers, reply: impl FnOnce() -> MasterMsg + Send + 'static) {
    let Ok(permit) = answers.permits.clone().acquire_owned().await else {
        return;
    };
    let tx = answers.tx.clone();
    tokio::spawn(
        async move {
            match tokio::task::spawn_blocking(reply).await {
                Ok(msg) => {
                    let _ = tx.send(Answer { msg, permit }).await;
                }
                Err(error) => warn!(%error, "file server request failed"),
            }
        }
        .in_current_span(),
    );
}
