//! One minion's link to one master: enrollment, the TLS session on the
//! request port, the SUB socket on the publish port, and the outbox of
//! returns that survives reconnects.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brine_pki::channel::{read_frame, write_frame};
use brine_pki::sealing::{open, parse_publication, SealError};
use brine_pki::MinionPki;
use brine_proto::targeting::{MinionFacts, TargetExpr};
use brine_proto::{
    EpochKey, FileBlob, Job, JobId, JobReturn, MasterMsg, MinionMsg, SealedPublication,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn, Instrument};
use zeromq::{Socket, SocketRecv};

use crate::config::MinionConfig;
use crate::exec::Executor;
use crate::grains::GrainsHandle;
use crate::spool::Spool;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Publications held while the key for their epoch is on its way.
const MAX_HELD: usize = 64;
/// Messages (job starts, returns) queued for the session; returns are also
/// in the on-disk spool, so this queue is only the fast path.
const OUTBOX: usize = 100_000;
/// A return sent without an acknowledgement (or deferred by a master whose
/// disk was full) is sent again after this many heartbeats.
const RESEND_AFTER_HEARTBEATS: u32 = 3;
/// Room left in a frame for the message around a return's value.
const RETURN_FRAME_MARGIN: usize = 64 * 1024;
/// A job still running after this long is announced to the master
/// (`JobStarted`), which then reports it as still running, not silent.
const STARTED_NOTICE_AFTER: Duration = Duration::from_millis(500);

/// Everything a link shares with the rest of the minion.
#[derive(Clone)]
pub struct LinkCtx {
    pub config: Arc<MinionConfig>,
    pub pki: Arc<Mutex<MinionPki>>,
    pub executor: Executor,
    pub grains: GrainsHandle,
    /// Requests to the master (files, pillar) ride this link's session.
    pub client: MasterClient,
    /// `brine-swarm` only: publications opened once per process
    /// ([`crate::open_cache`]). `None` in `brine-minion`.
    pub open_cache: Option<Arc<crate::open_cache::OpenCache>>,
}

// ---- requests to the master -----------------------------------------------------

/// How long a file or pillar request waits for the master's reply.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

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

/// A handle to send requests to the first connected master and await the
/// reply. Cloneable; execution functions get it through their `CallCtx`.
#[derive(Clone)]
pub struct MasterClient {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    /// Masters in config order, each with its session's request queue while connected.
    links: Mutex<Vec<(String, Option<mpsc::Sender<MinionMsg>>)>>,
    /// Requests awaiting a reply: the master asked, and who waits.
    pending: Mutex<HashMap<u64, (String, oneshot::Sender<MasterMsg>)>>,
    next_req: AtomicU64,
    timeout: Duration,
}

impl MasterClient {
    /// A client for `masters` (in the order they are tried).
    pub fn new(masters: &[String]) -> MasterClient {
        MasterClient::with_timeout(masters, REQUEST_TIMEOUT)
    }

    pub fn with_timeout(masters: &[String], timeout: Duration) -> MasterClient {
        MasterClient {
            inner: Arc::new(ClientInner {
                links: Mutex::new(masters.iter().map(|m| (m.clone(), None)).collect()),
                pending: Mutex::new(HashMap::new()),
                next_req: AtomicU64::new(1),
                timeout,
            }),
        }
    }

    /// Whether some master's session is up.
    pub fn is_connected(&self) -> bool {
        lock(&self.inner.links).iter().any(|(_, tx)| tx.is_some())
    }

    fn set_session(&self, master: &str, tx: Option<mpsc::Sender<MinionMsg>>) {
        let closed = tx.is_none();
        let mut links = lock(&self.inner.links);
        match links.iter_mut().find(|(m, _)| m == master) {
            Some(slot) => slot.1 = tx,
            None => links.push((master.to_string(), tx)),
        }
        drop(links);
        if closed {
            // The session is gone: its requests fail now, not at their timeout.
            lock(&self.inner.pending).retain(|_, (m, _)| m != master);
        }
    }

    /// Hands a reply to the request waiting for it; false when none waits
    /// (it timed out, or the reply is not one).
    fn complete(&self, msg: MasterMsg) -> bool {
        let req = match &msg {
            MasterMsg::FileListReply { req, .. }
            | MasterMsg::FileDirListReply { req, .. }
            | MasterMsg::FileReply { req, .. }
            | MasterMsg::FileEnvsReply { req, .. }
            | MasterMsg::PillarReply { req, .. } => *req,
            _ => return false,
        };
        match lock(&self.inner.pending).remove(&req) {
            Some((_, waiter)) => waiter.send(msg).is_ok(),
            None => false,
        }
    }

    /// Sends the request `make(req)` to the first connected master and waits
    /// for the reply carrying the same `req`.
    async fn request(
        &self,
        make: impl FnOnce(u64) -> MinionMsg,
    ) -> Result<MasterMsg, RequestError> {
        let (master, tx) = lock(&self.inner.links)
            .iter()
            .find_map(|(m, tx)| tx.clone().map(|tx| (m.clone(), tx)))
            .ok_or(RequestError::NotConnected)?;
        let req = self.inner.next_req.fetch_add(1, Ordering::Relaxed);
        let (done_tx, done_rx) = oneshot::channel();
        lock(&self.inner.pending).insert(req, (master.clone(), done_tx));
        if tx.send(make(req)).await.is_err() {
            lock(&self.inner.pending).remove(&req);
            return Err(RequestError::Lost(master));
        }
        let outcome = tokio::time::timeout(self.inner.timeout, done_rx).await;
        lock(&self.inner.pending).remove(&req);
        match outcome {
            Ok(Ok(msg)) => Ok(msg),
            Ok(Err(_)) => Err(RequestError::Lost(master)),
            Err(_) => Err(RequestError::Timeout {
                master,
                secs: self.inner.timeout.as_secs(),
            }),
        }
    }

    /// `(path, sha256)` of every file of `saltenv` on the master, sorted.
    pub async fn file_list(&self, saltenv: &str) -> Result<Vec<(String, String)>, RequestError> {
        let saltenv = saltenv.to_string();
        match self
            .request(|req| MinionMsg::FileList { req, saltenv })
            .await?
        {
            MasterMsg::FileListReply { result, .. } => result.map_err(RequestError::Master),
            other => Err(RequestError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Every directory of `saltenv` on the master, empty ones included.
    pub async fn file_dir_list(&self, saltenv: &str) -> Result<Vec<String>, RequestError> {
        let saltenv = saltenv.to_string();
        match self
            .request(|req| MinionMsg::FileDirList { req, saltenv })
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
        let (saltenv, path_s, have) = (
            saltenv.to_string(),
            path.to_string(),
            have.map(str::to_string),
        );
        let msg = self
            .request(|req| MinionMsg::FileGet {
                req,
                saltenv,
                path: path_s,
                have_sha256: have,
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
        let saltenv = saltenv.map(str::to_string);
        match self
            .request(|req| MinionMsg::PillarGet { req, saltenv })
            .await?
        {
            MasterMsg::PillarReply { pillar, errors, .. } => Ok((pillar, errors)),
            other => Err(RequestError::Unexpected(format!("{other:?}"))),
        }
    }
}

/// Runs the link to `master` forever, reconnecting with back-off.
pub async fn run_link(ctx: LinkCtx, master: String) {
    let span = tracing::info_span!("link", master = %master);
    async move {
        let (out_tx, mut out_rx) = mpsc::channel::<MinionMsg>(OUTBOX);
        debug!("opening the return spool");
        let spool = open_spool(&ctx, &master).await;
        debug!(ok = spool.is_some(), "return spool opened");
        let mut state = LinkState {
            spool,
            ..LinkState::default()
        };
        let mut backoff = Backoff::new(ctx.config.recon_default, ctx.config.recon_max);
        loop {
            let has_cert = lock(&ctx.pki).has_certificate();
            if !has_cert {
                match enroll(&ctx, &master).await {
                    Ok(true) => backoff.reset(),
                    Ok(false) => {}
                    Err(error) => warn!(%error, "enrollment failed"),
                }
                continue;
            }
            match session(&ctx, &master, &mut state, &out_tx, &mut out_rx).await {
                Ok(SessionEnd::Refused(reason)) => {
                    warn!(%reason, "master refused this minion; requesting a certificate again");
                    if let Err(error) = lock(&ctx.pki).clear_certificate() {
                        warn!(%error, "cannot clear the certificate");
                    }
                    state.keys.clear();
                }
                Ok(SessionEnd::Lost) => {
                    info!("connection to master lost; reconnecting");
                    backoff.reset();
                }
                Err(error) => warn!(%error, "cannot connect to master"),
            }
            tokio::time::sleep(backoff.next()).await;
        }
    }
    .instrument(span)
    .await
}

/// Per-master memory that outlives one connection.
#[derive(Default)]
struct LinkState {
    master_id: String,
    signing_key: Vec<u8>,
    keys: HashMap<u64, EpochKey>,
    current_epoch: u64,
    clock_offset_ms: i64,
    held: VecDeque<SealedPublication>,
    /// Returns, running jobs and seen jids on disk (None: the spool could not
    /// be opened, and the link runs from memory, with a loud warning).
    spool: Option<Arc<Mutex<Spool>>>,
    /// Seen jids when there is no spool.
    seen_in_memory: HashSet<JobId>,
}

/// Opens this master's spool; runs interrupted-job recovery. Without a
/// usable spool the link still works, from memory only.
async fn open_spool(ctx: &LinkCtx, master: &str) -> Option<Arc<Mutex<Spool>>> {
    let cachedir = ctx.config.cachedir.clone();
    let window = ctx.config.publication_max_age.as_millis() as i64 * 2;
    let (master_s, id) = (master.to_string(), ctx.config.id.clone());
    let opened = tokio::task::spawn_blocking(move || {
        let spool = Spool::open(&cachedir, &master_s, window)?;
        let interrupted = spool.recover_interrupted(&id);
        Ok::<_, std::io::Error>((spool, interrupted))
    })
    .await;
    match opened {
        Ok(Ok((spool, interrupted))) => {
            for ret in &interrupted {
                warn!(jid = %ret.jid, fun = %ret.fun, "job interrupted by a minion restart; reporting it");
            }
            Some(Arc::new(Mutex::new(spool)))
        }
        Ok(Err(error)) => {
            tracing::error!(%error, "cannot open the return spool; returns are kept in memory only");
            None
        }
        Err(error) => {
            tracing::error!(%error, "cannot open the return spool; returns are kept in memory only");
            None
        }
    }
}

/// Runs `f` on the spool on a blocking thread (it writes and fsyncs).
async fn with_spool<T: Send + 'static>(
    spool: &Option<Arc<Mutex<Spool>>>,
    f: impl FnOnce(&mut Spool) -> T + Send + 'static,
) -> Option<T> {
    let spool = spool.clone()?;
    crate::spool::on_spool_thread(move || f(&mut lock(&spool))).await
}

enum SessionEnd {
    Refused(String),
    Lost,
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("tls with {addr}: {source}")]
    Tls {
        addr: String,
        source: std::io::Error,
    },
    #[error("pki: {0}")]
    Pki(#[from] brine_pki::PkiError),
    #[error("channel: {0}")]
    Channel(#[from] brine_pki::channel::ChannelError),
    #[error("publish port {addr}: {message}")]
    Sub { addr: String, message: String },
    #[error("master sent {0} where a welcome was expected")]
    Unexpected(String),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn host_port(master: &str, port: u16) -> String {
    if master.contains(':')
        && !master.starts_with('[')
        && master.parse::<std::net::Ipv6Addr>().is_ok()
    {
        format!("[{master}]:{port}")
    } else {
        format!("{master}:{port}")
    }
}

/// A TCP connection to `addr` (host:port), from `source` when set.
async fn connect_from(source: Option<std::net::IpAddr>, addr: &str) -> std::io::Result<TcpStream> {
    let Some(source) = source else {
        return TcpStream::connect(addr).await;
    };
    let mut last = None;
    for target in tokio::net::lookup_host(addr).await? {
        if target.is_ipv4() != source.is_ipv4() {
            continue;
        }
        let socket = if source.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.bind(std::net::SocketAddr::new(source, 0))?;
        match socket.connect(target).await {
            Ok(tcp) => return Ok(tcp),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            format!("no address of {addr} in the family of source_address {source}"),
        )
    }))
}

async fn tls_connect(
    ctx: &LinkCtx,
    master: &str,
    with_cert: bool,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, LinkError> {
    let addr = host_port(master, ctx.config.master_port);
    let (tls_config, pin) =
        lock(&ctx.pki).tls_client_config(ctx.config.master_finger.as_deref(), with_cert)?;
    let tcp = tokio::time::timeout(
        CONNECT_TIMEOUT,
        connect_from(ctx.config.source_address, &addr),
    )
    .await
    .map_err(|_| LinkError::Connect {
        addr: addr.clone(),
        source: std::io::ErrorKind::TimedOut.into(),
    })?
    .map_err(|source| LinkError::Connect {
        addr: addr.clone(),
        source,
    })?;
    let _ = tcp.set_nodelay(true);
    let connector = tokio_rustls::TlsConnector::from(tls_config);
    let name = rustls::pki_types::ServerName::try_from("brine-master").expect("static server name");
    let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp))
        .await
        .map_err(|_| LinkError::Tls {
            addr: addr.clone(),
            source: std::io::ErrorKind::TimedOut.into(),
        })?
        .map_err(|source| {
            if brine_pki::is_ca_mismatch(&source) {
                tracing::error!(error = %source, "refusing master: its CA is not the pinned one");
            }
            LinkError::Tls {
                addr: addr.clone(),
                source,
            }
        })?;
    if let Some(der) = pin.seen() {
        let mut pki = lock(&ctx.pki);
        let first = pki.pinned_ca_fingerprint().is_none();
        // Always through pin_ca: two links racing on first use to masters
        // with different CAs must not both win.
        let fp = pki.pin_ca(&der)?;
        if first {
            warn!(fingerprint = %fp, "trusting the master's CA on first use; set master_finger to pin it explicitly");
        }
    }
    Ok(tls)
}

// ---- enrollment ---------------------------------------------------------------

/// Asks `master` for a certificate. Ok(true): issued and stored.
async fn enroll(ctx: &LinkCtx, master: &str) -> Result<bool, LinkError> {
    let mut wait = ctx.config.acceptance_wait_time;
    loop {
        match enroll_once(ctx, master, wait).await {
            Ok(true) => return Ok(true),
            Ok(false) => {}
            Err(error) => warn!(%error, "certificate request failed"),
        }
        tokio::time::sleep(jitter(wait)).await;
        wait = (wait * 2).min(
            ctx.config
                .acceptance_wait_time_max
                .max(ctx.config.acceptance_wait_time),
        );
    }
}

async fn enroll_once(ctx: &LinkCtx, master: &str, hold: Duration) -> Result<bool, LinkError> {
    let tls = tls_connect(ctx, master, false).await?;
    let (mut rd, mut wr) = tokio::io::split(tls);
    let csr_pem = lock(&ctx.pki).csr_pem()?;
    let req = MinionMsg::CertRequest {
        id: ctx.config.id.clone(),
        csr_pem,
    };
    write_frame(&mut wr, &req).await?;
    let deadline = tokio::time::Instant::now() + hold.max(Duration::from_secs(1));
    loop {
        let msg = match tokio::time::timeout_at(deadline, read_frame::<MasterMsg, _>(&mut rd)).await
        {
            Err(_) | Ok(Ok(None)) => return Ok(false),
            Ok(r) => r?.expect("checked above"),
        };
        match msg {
            MasterMsg::CertIssued { cert_pem, ca_pem } => {
                lock(&ctx.pki).store_certificate(&cert_pem, &ca_pem)?;
                info!("key accepted by the master; certificate stored");
                return Ok(true);
            }
            MasterMsg::CertPending { fingerprint } => {
                info!(%fingerprint, "waiting for the master to accept this minion's key");
            }
            MasterMsg::CertRejected { reason } => {
                warn!(%reason, "certificate request rejected");
                return Ok(false);
            }
            other => debug!(?other, "unexpected message during enrollment"),
        }
    }
}

// ---- session ------------------------------------------------------------------

/// Publication bytes received but not yet handled, at most: a fake or
/// compromised publisher cannot make the minion queue more than this.
const PUB_QUEUE_BYTES: usize = 64 * 1024 * 1024;

/// Bytes of one received publication, holding their share of the queue's
/// byte budget until handled.
pub(crate) struct Received {
    bytes: Vec<u8>,
    _budget: tokio::sync::OwnedSemaphorePermit,
}

/// ZeroMQ options of the SUB socket: what the master's port may send before
/// anything is authenticated is bounded (vendored zmq.rs patch): a message
/// above the largest publication drops the connection before a buffer is
/// reserved for its announced length.
fn sub_socket_options() -> zeromq::SocketOptions {
    let mut options = zeromq::SocketOptions::default();
    options
        .max_msg_size(brine_proto::MAX_FRAME_LEN + 64 * 1024)
        .connect_timeout(CONNECT_TIMEOUT);
    options
}

async fn subscribe(ctx: &LinkCtx, master: &str) -> Result<mpsc::Receiver<Received>, LinkError> {
    let addr = host_port(master, ctx.config.publish_port);
    let mut sub = zeromq::SubSocket::with_options(sub_socket_options());
    let endpoint = format!("tcp://{addr}");
    tokio::time::timeout(CONNECT_TIMEOUT, sub.connect(&endpoint))
        .await
        .map_err(|_| LinkError::Sub {
            addr: addr.clone(),
            message: "connect timed out".into(),
        })?
        .map_err(|e| LinkError::Sub {
            addr: addr.clone(),
            message: e.to_string(),
        })?;
    // Bounded too: a publisher that accepts the connection and then stalls
    // must not hold the link forever.
    tokio::time::timeout(CONNECT_TIMEOUT, sub.subscribe(""))
        .await
        .map_err(|_| LinkError::Sub {
            addr: addr.clone(),
            message: "subscribe timed out".into(),
        })?
        .map_err(|e| LinkError::Sub {
            addr: addr.clone(),
            message: e.to_string(),
        })?;
    let (tx, rx) = mpsc::channel(1024);
    let budget = Arc::new(tokio::sync::Semaphore::new(PUB_QUEUE_BYTES));
    tokio::spawn(async move {
        loop {
            match sub.recv().await {
                Ok(msg) => {
                    // A publication is a single frame; anything else is noise.
                    let Some(frame) = msg.get(0) else { continue };
                    // Wait for room: the publisher is throttled by TCP, not
                    // by our memory.
                    let need = frame.len().clamp(1, PUB_QUEUE_BYTES) as u32;
                    let Ok(permit) = budget.clone().acquire_many_owned(need).await else {
                        break;
                    };
                    let received = Received {
                        bytes: frame.to_vec(),
                        _budget: permit,
                    };
                    if tx.send(received).await.is_err() {
                        break;
                    }
                }
                Err(error) => {
                    debug!(%error, "publish socket closed");
                    break;
                }
            }
        }
    });
    Ok(rx)
}

async fn session(
    ctx: &LinkCtx,
    master: &str,
    state: &mut LinkState,
    out_tx: &mpsc::Sender<MinionMsg>,
    out_rx: &mut mpsc::Receiver<MinionMsg>,
) -> Result<SessionEnd, LinkError> {
    // Subscribe first so that no publication slips by between the two.
    let mut pubs = subscribe(ctx, master).await?;
    let tls = tls_connect(ctx, master, true).await?;
    let (mut rd, mut wr) = tokio::io::split(tls);
    write_frame(
        &mut wr,
        &MinionMsg::Hello {
            version: env!("CARGO_PKG_VERSION").to_string(),
            last_jid: match &state.spool {
                Some(s) => lock(s).last_seen(),
                None => state.seen_in_memory.iter().max().copied(),
            },
        },
    )
    .await?;
    let first = tokio::time::timeout(CONNECT_TIMEOUT, read_frame::<MasterMsg, _>(&mut rd))
        .await
        .map_err(|_| LinkError::Unexpected("nothing".into()))??;
    match first {
        Some(MasterMsg::Welcome {
            master_id,
            signing_key,
            now_ms,
            epoch,
        }) => {
            state.master_id = master_id;
            state.signing_key = signing_key;
            state.clock_offset_ms = now_ms - now_millis();
            state.keys.clear();
            state.current_epoch = epoch.epoch;
            state.keys.insert(epoch.epoch, epoch);
        }
        Some(MasterMsg::Refused { reason }) => return Ok(SessionEnd::Refused(reason)),
        Some(other) => return Err(LinkError::Unexpected(format!("{other:?}"))),
        None => return Ok(SessionEnd::Lost),
    }
    info!(master_id = %state.master_id, "connected to master");
    // Whatever the master has not acknowledged goes again: it keeps the
    // first copy of each (jid, minion) and acknowledges the rest.
    let pending = with_spool(&state.spool, |s| s.pending_returns())
        .await
        .unwrap_or_default();
    if !pending.is_empty() {
        info!(returns = pending.len(), "sending spooled returns");
    }
    for ret in pending {
        write_frame(&mut wr, &MinionMsg::Return(ret)).await?;
    }

    // Reads run in their own task: read_frame is not cancel-safe.
    let (in_tx, mut inbox) = mpsc::channel::<MasterMsg>(1024);
    let reader = tokio::spawn(async move {
        loop {
            match read_frame::<MasterMsg, _>(&mut rd).await {
                Ok(Some(m)) => {
                    if in_tx.send(m).await.is_err() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) if e.is_malformed_body() => {
                    warn!(error = %e, "malformed message from master ignored")
                }
                Err(e) => {
                    debug!(error = %e, "master connection closed");
                    break;
                }
            }
        }
    });
    // Requests get a queue of their own: unlike returns, they are not kept
    // for the next connection (the caller times out or tries another master).
    let (req_tx, mut req_rx) = mpsc::channel::<MinionMsg>(256);
    ctx.client.set_session(master, Some(req_tx));
    if ctx.executor.pillar().is_none() {
        let executor = ctx.executor.clone();
        tokio::spawn(async move { executor.warm_pillar().await }.in_current_span());
    }
    let end = drive(
        ctx,
        state,
        &mut wr,
        &mut inbox,
        &mut pubs,
        out_tx,
        out_rx,
        &mut req_rx,
    )
    .await;
    ctx.client.set_session(master, None);
    reader.abort();
    end
}

#[allow(clippy::too_many_arguments)]
async fn drive<W: AsyncWrite + Unpin>(
    ctx: &LinkCtx,
    state: &mut LinkState,
    wr: &mut W,
    inbox: &mut mpsc::Receiver<MasterMsg>,
    pubs: &mut mpsc::Receiver<Received>,
    out_tx: &mpsc::Sender<MinionMsg>,
    out_rx: &mut mpsc::Receiver<MinionMsg>,
    req_rx: &mut mpsc::Receiver<MinionMsg>,
) -> Result<SessionEnd, LinkError> {
    let hb = ctx.config.heartbeat_interval;
    let mut tick = tokio::time::interval(hb);
    tick.tick().await;
    let mut grains_rx = ctx.grains.subscribe();
    let grains = ctx.grains.snapshot();
    write_frame(
        wr,
        &MinionMsg::Grains {
            grains: (*grains).clone(),
        },
    )
    .await?;
    let mut last_heard = tokio::time::Instant::now();
    let mut last_resend = tokio::time::Instant::now();
    loop {
        tokio::select! {
            m = inbox.recv() => {
                let Some(m) = m else { return Ok(SessionEnd::Lost) };
                last_heard = tokio::time::Instant::now();
                match m {
                    MasterMsg::Heartbeat => {}
                    MasterMsg::Epoch(key) => {
                        debug!(epoch = key.epoch, "new publication key");
                        state.current_epoch = state.current_epoch.max(key.epoch);
                        state.keys.insert(key.epoch, key);
                        // Keep the newest two: publications in flight across a rotation still open.
                        let cur = state.current_epoch;
                        state.keys.retain(|e, _| *e + 1 >= cur);
                        let held: Vec<_> = state.held.drain(..).collect();
                        for p in held {
                            handle_publication(ctx, state, p, out_tx, wr).await?;
                        }
                    }
                    MasterMsg::Job(job) => {
                        // Delivered inside our authenticated channel: no seal to check.
                        accept_job(ctx, state, job, out_tx).await;
                    }
                    MasterMsg::Refused { reason } => return Ok(SessionEnd::Refused(reason)),
                    MasterMsg::ReturnAck { jid } => {
                        debug!(%jid, "return stored by the master");
                        with_spool(&state.spool, move |s| s.acknowledged(jid)).await;
                    }
                    MasterMsg::ReturnRefused { jid, reason } => {
                        warn!(%jid, %reason, "master refused a return; dropping it");
                        with_spool(&state.spool, move |s| s.acknowledged(jid)).await;
                    }
                    MasterMsg::ReturnDeferred { jid, reason } => {
                        warn!(%jid, %reason, "master could not store a return; keeping it to send again");
                    }
                    m @ (MasterMsg::FileListReply { .. }
                    | MasterMsg::FileDirListReply { .. }
                    | MasterMsg::FileReply { .. }
                    | MasterMsg::FileEnvsReply { .. }
                    | MasterMsg::PillarReply { .. }) => {
                        if !ctx.client.complete(m) {
                            debug!("reply to a request nobody waits for (timed out) dropped");
                        }
                    }
                    other => debug!(?other, "unexpected message in session"),
                }
            }
            p = pubs.recv() => {
                let Some(received) = p else { return Ok(SessionEnd::Lost) };
                match parse_publication(&received.bytes) {
                    Ok(p) => handle_publication(ctx, state, p, out_tx, wr).await?,
                    Err(error) => warn!(%error, "malformed publication ignored"),
                }
            }
            Some(m) = req_rx.recv() => write_frame(wr, &m).await?,
            m = out_rx.recv() => {
                if let Some(m) = m {
                    match write_frame(wr, &m).await {
                        Ok(()) => {}
                        Err(brine_pki::channel::ChannelError::Encode(error)) => {
                            // Cannot ever be sent (returns are fitted to the
                            // frame before this): drop it rather than let it
                            // block every later session.
                            warn!(%error, "message cannot be encoded; dropped");
                            if let MinionMsg::Return(ret) = &m {
                                let jid = ret.jid;
                                with_spool(&state.spool, move |s| s.acknowledged(jid)).await;
                            }
                        }
                        Err(e) => {
                            // Job starts are kept for the next connection;
                            // returns are in the spool, which is sent on
                            // every new session (kept here too in case the
                            // spool could not take them).
                            let _ = out_tx.try_send(m);
                            return Err(e.into());
                        }
                    }
                }
            }
            changed = grains_rx.changed() => {
                if changed.is_ok() {
                    let g = grains_rx.borrow_and_update().clone();
                    write_frame(wr, &MinionMsg::Grains { grains: (*g).clone() }).await?;
                }
            }
            _ = tick.tick() => {
                if last_heard.elapsed() > hb * 3 {
                    warn!("master silent past the heartbeat deadline");
                    return Ok(SessionEnd::Lost);
                }
                write_frame(wr, &MinionMsg::Heartbeat).await?;
                // Returns the master deferred (its disk was full) or never
                // acknowledged go again now and then.
                let resend_after = hb * RESEND_AFTER_HEARTBEATS;
                if last_resend.elapsed() >= resend_after {
                    last_resend = tokio::time::Instant::now();
                    let pending = with_spool(&state.spool, move |s| s.pending_older_than(resend_after))
                        .await
                        .unwrap_or_default();
                    for ret in pending {
                        write_frame(wr, &MinionMsg::Return(ret)).await?;
                    }
                }
            }
        }
    }
}

async fn handle_publication<W: AsyncWrite + Unpin>(
    ctx: &LinkCtx,
    state: &mut LinkState,
    p: SealedPublication,
    out_tx: &mpsc::Sender<MinionMsg>,
    wr: &mut W,
) -> Result<(), LinkError> {
    let Some(key) = state.keys.get(&p.epoch) else {
        if p.epoch > state.current_epoch && state.held.len() < MAX_HELD {
            debug!(
                epoch = p.epoch,
                "publication under a newer key; asking for it"
            );
            state.held.push_back(p);
            write_frame(wr, &MinionMsg::GetEpochKey).await?;
        } else {
            debug!(
                epoch = p.epoch,
                "publication under a key this minion does not hold; ignored"
            );
        }
        return Ok(());
    };
    let opened = match &ctx.open_cache {
        Some(cache) => cache.open(&p, &state.signing_key, key),
        None => open(&p, &state.signing_key, key),
    };
    match opened {
        Ok(job) => {
            let age = now_millis() + state.clock_offset_ms - job.issued_ms;
            let max_age = ctx.config.publication_max_age.as_millis() as i64;
            if age > max_age || age < -max_age {
                warn!(jid = %job.jid, age_ms = age, "publication outside the replay window ignored");
                return Ok(());
            }
            if job.master != state.master_id {
                warn!(jid = %job.jid, claimed = %job.master, "publication names another master; ignored");
                return Ok(());
            }
            accept_job(ctx, state, job, out_tx).await;
        }
        Err(SealError::BadSignature) => warn!("publication with a bad signature ignored"),
        Err(error) => warn!(%error, "publication could not be opened"),
    }
    Ok(())
}

/// Checks the target against this minion, dedups by jid (durably: the
/// replay window survives restarts), and starts the job. Its return goes to
/// the spool before it is sent.
async fn accept_job(
    ctx: &LinkCtx,
    state: &mut LinkState,
    job: Job,
    out_tx: &mpsc::Sender<MinionMsg>,
) {
    let expr = match parsed_target(&job) {
        Ok(e) => e,
        Err(error) => {
            warn!(jid = %job.jid, %error, "unparseable target ignored");
            return;
        }
    };
    let grains = ctx.grains.snapshot();
    let pillar = ctx.executor.pillar();
    if !expr.matches(&MinionFacts {
        id: &ctx.config.id,
        grains: &grains,
        pillar: pillar.as_deref().and_then(serde_json::Value::as_object),
    }) {
        return;
    }
    // Only what targets this minion is remembered (and fsynced): the rest
    // never runs here, replayed or not.
    // One visit to the spool: seen (a replay is refused) and running (a
    // crash from here on is reported as an interrupted job).
    let jid = job.jid;
    let starting = job.clone();
    let fresh = match &state.spool {
        Some(_) => match with_spool(&state.spool, move |s| s.start_job(&starting)).await {
            Some(Ok(fresh)) => fresh,
            Some(Err(error)) => {
                warn!(%jid, %error, "cannot record the publication as seen; remembering it in memory");
                state.seen_in_memory.insert(jid)
            }
            None => state.seen_in_memory.insert(jid),
        },
        None => {
            if state.seen_in_memory.len() >= 10_000 {
                state.seen_in_memory.clear();
            }
            state.seen_in_memory.insert(jid)
        }
    };
    if !fresh {
        debug!(jid = %job.jid, "publication already seen (replay) ignored");
        return;
    }
    let executor = ctx.executor.clone();
    let out = out_tx.clone();
    let spool = state.spool.clone();
    let span =
        tracing::info_span!("job", jid = %job.jid, minion_id = %ctx.config.id, fun = %job.fun);
    tokio::spawn(
        async move {
            // The master hears that the job runs only if it is still
            // running a moment later: a quick job's return says it all, and
            // a fleet of quick jobs would double the master's messages.
            let run = executor.run(&job);
            tokio::pin!(run);
            let ret = tokio::select! {
                ret = &mut run => ret,
                _ = tokio::time::sleep(STARTED_NOTICE_AFTER) => {
                    let _ = out.send(MinionMsg::JobStarted { jid: job.jid }).await;
                    run.await
                }
            };
            let ret = fit_return(ret);
            debug!(success = ret.success, "job finished");
            let spooled = ret.clone();
            match with_spool(&spool, move |s| s.put_return(&spooled)).await {
                Some(Ok(())) | None => {}
                Some(Err(error)) => {
                    warn!(%error, "cannot spool the return; it is held in memory only")
                }
            }
            if out.send(MinionMsg::Return(ret)).await.is_err() {
                warn!("return not queued: outbox closed (it stays in the spool)");
            }
        }
        .instrument(span),
    );
}

/// Targets of recent publications, parsed: a minion sees the same few
/// targets (`*`, a role, a list) over and over, and compiling a glob or a
/// regular expression costs more than matching it.
fn parsed_target(job: &Job) -> Result<Arc<TargetExpr>, String> {
    type Parsed = VecDeque<(
        (String, brine_proto::targeting::TargetType),
        Arc<TargetExpr>,
    )>;
    static RECENT: Mutex<Parsed> = Mutex::new(VecDeque::new());
    const KEEP: usize = 32;
    let key = (job.tgt.clone(), job.tgt_type);
    if let Some((_, e)) = lock(&RECENT).iter().find(|(k, _)| *k == key) {
        return Ok(e.clone());
    }
    let expr = Arc::new(TargetExpr::parse(&job.tgt, job.tgt_type).map_err(|e| e.to_string())?);
    let mut recent = lock(&RECENT);
    if recent.len() >= KEEP {
        recent.pop_front();
    }
    recent.push_back((key, expr.clone()));
    Ok(expr)
}

/// A return whose frame would exceed the limit cannot be sent at all; its
/// value is cut to fit, with a note saying so (the outcome is kept).
fn fit_return(mut ret: JobReturn) -> JobReturn {
    let limit = brine_proto::MAX_FRAME_LEN - RETURN_FRAME_MARGIN;
    let size = match brine_proto::codec::encode(&MinionMsg::Return(ret.clone())) {
        Ok(bytes) if bytes.len() <= limit => return ret,
        Ok(bytes) => bytes.len(),
        Err(_) => brine_proto::MAX_FRAME_LEN + 1,
    };
    let text = match &ret.ret {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let keep = floor_char_boundary(&text, limit / 2);
    warn!(jid = %ret.jid, bytes = size, limit, "return larger than a frame; truncated");
    ret.ret = serde_json::Value::String(format!(
        "{}\n... [return truncated: {size} bytes do not fit the {} byte frame limit]",
        &text[..keep],
        brine_proto::MAX_FRAME_LEN
    ));
    ret
}

fn floor_char_boundary(s: &str, at: usize) -> usize {
    let mut i = at.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// ±25 % so that a fleet does not retry in lock-step.
fn jitter(d: Duration) -> Duration {
    let f = 0.75 + fastrand::f64() * 0.5;
    d.mul_f64(f)
}

struct Backoff {
    first: Duration,
    max: Duration,
    cur: Duration,
}

impl Backoff {
    fn new(first: Duration, max: Duration) -> Self {
        Backoff {
            first,
            max: max.max(first),
            cur: first,
        }
    }
    fn reset(&mut self) {
        self.cur = self.first;
    }
    fn next(&mut self) -> Duration {
        let d = jitter(self.cur);
        self.cur = (self.cur * 2).min(self.max);
        d
    }
}

#[allow(dead_code)]
fn _assert_io<T: AsyncRead + AsyncWrite>() {}
