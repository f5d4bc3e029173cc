//! One minion's link to one master: enrollment, the TLS session on the
//! request port, the SUB socket on the publish port, and the outbox of
//! returns that survives reconnects.
//!
//! How links are run depends on `master_type`: with `str` (the default)
//! every master gets its own link task ([`run_link`]), and nothing one
//! link does waits on another; with `failover` one task walks the list
//! ([`crate::failover`]), connected to one master at a time.
//!
//! A session is up while both of its connections are: it ends when the
//! request connection closes, when the publish connection closes, or when
//! the master has been silent for `master_alive_interval`
//! ([`crate::liveness`]); the link is then made again, both connections.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brine_pki::channel::{read_frame, write_frame};
use brine_pki::sealing::{open, parse_publication, SealError};
use brine_pki::MinionPki;
use brine_proto::targeting::{MinionFacts, TargetExpr};
use brine_proto::{EpochKey, Job, JobId, JobReturn, MasterMsg, MinionMsg, SealedPublication};
use futures::StreamExt;
use tokio::io::{AsyncWrite, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn, Instrument};
use zeromq::{Socket, SocketRecv};

pub use crate::client::{MasterClient, RequestError};
use crate::config::{MasterType, MinionConfig};
use crate::exec::Executor;
use crate::grains::GrainsHandle;
use crate::liveness::{jitter, Backoff, Pulse, Watched};
use crate::spool::Spool;

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
    /// Requests to the masters (files, pillar) ride the links' sessions.
    pub client: MasterClient,
    /// `brine-swarm` only: publications opened once per process
    /// ([`crate::open_cache`]). `None` in `brine-minion`.
    pub open_cache: Option<Arc<crate::open_cache::OpenCache>>,
    /// What this minion's links know of each other (masters of one
    /// cluster: [`crate::cluster`]).
    pub peers: Arc<crate::cluster::ClusterPeers>,
}

/// Starts the links to `masters` (in the order this run uses them, see
/// [`MinionConfig::master_order`]) as `master_type` says: one task per
/// master (`str`), or one task connected to one master at a time
/// (`failover`). The tasks run until aborted.
pub fn start_links(ctx: &LinkCtx, masters: Vec<String>) -> Vec<JoinHandle<()>> {
    match ctx.config.master_type {
        MasterType::Str => masters
            .into_iter()
            .map(|m| tokio::spawn(run_link(ctx.clone(), m)))
            .collect(),
        MasterType::Failover => vec![tokio::spawn(crate::failover::run_failover(
            ctx.clone(),
            masters,
        ))],
    }
}

/// Runs the link to `master` forever, reconnecting with back-off.
pub async fn run_link(ctx: LinkCtx, master: String) {
    let span = tracing::info_span!("link", master = %master);
    async move {
        let mut link = Link::open(&ctx, master).await;
        let mut backoff = Backoff::new(ctx.config.recon_default, ctx.config.recon_max);
        loop {
            if link.needs_cert {
                match enroll(&ctx, &link.master, None).await {
                    Ok(true) => {
                        link.needs_cert = false;
                        backoff.reset();
                        continue;
                    }
                    Ok(false) => {}
                    Err(error) => warn!(%error, "enrollment failed"),
                }
                tokio::time::sleep(backoff.next_delay()).await;
                continue;
            }
            match link.establish(&ctx).await {
                Ok(Opened::Session(session)) => {
                    backoff.reset();
                    let ended = link.run(&ctx, session).await;
                    link.log_end(&ctx, &ended.how);
                    if !matches!(ended.how, End::Refused(_)) {
                        backoff.after_loss();
                    }
                }
                Ok(Opened::Refused(reason)) => link.refused(&reason),
                Ok(Opened::Closed) => debug!("master closed the connection before its welcome"),
                Err(error) => warn!(%error, "cannot connect to master"),
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }
    .instrument(span)
    .await
}

/// One master as this minion knows it: what outlives a connection.
pub(crate) struct Link {
    pub(crate) master: String,
    state: LinkState,
    out_tx: mpsc::Sender<MinionMsg>,
    out_rx: mpsc::Receiver<MinionMsg>,
    /// This master has not issued (or no longer accepts) this minion's
    /// certificate: ask it for one before a session. Per master: one master
    /// refusing the key leaves the certificate the others accept alone.
    pub(crate) needs_cert: bool,
}

/// Why a session ended.
pub(crate) enum End {
    /// The master does not accept this minion's key (any more).
    Refused(String),
    /// A connection closed or failed.
    Lost(String),
    /// The master said nothing for `master_alive_interval`.
    Silent,
}

pub(crate) struct Ended {
    pub(crate) how: End,
    /// The master's last sign of life.
    pub(crate) last_heard: tokio::time::Instant,
}

/// Tells the other links this one's session is down, when dropped.
struct SessionDown<'a> {
    peers: &'a crate::cluster::ClusterPeers,
    master: String,
}

impl Drop for SessionDown<'_> {
    fn drop(&mut self) {
        self.peers.disconnected(&self.master);
    }
}

/// What a connection attempt gave.
pub(crate) enum Opened {
    /// Both connections up and the master's welcome read.
    Session(Established),
    /// The master refused this minion's certificate.
    Refused(String),
    /// The master closed the connection before saying anything.
    Closed,
}

/// A session with a master, welcomed, not yet run.
pub(crate) struct Established {
    pubs: mpsc::Receiver<Received>,
    rd: ReadHalf<Tls>,
    wr: WriteHalf<Tls>,
    pulse: Arc<Pulse>,
    publish: Arc<PublishPulse>,
}

type Tls = tokio_rustls::client::TlsStream<Watched<TcpStream>>;

impl Link {
    /// The link to `master`, with its spool opened (interrupted jobs recovered).
    pub(crate) async fn open(ctx: &LinkCtx, master: String) -> Link {
        let (out_tx, out_rx) = mpsc::channel::<MinionMsg>(OUTBOX);
        debug!(%master, "opening the return spool");
        let spool = open_spool(ctx, &master).await;
        debug!(%master, ok = spool.is_some(), "return spool opened");
        ctx.peers.register(&master, spool.clone());
        let link_name = master.clone();
        let needs_cert = !lock(&ctx.pki).has_certificate();
        Link {
            master,
            state: LinkState {
                link: link_name,
                spool,
                ..LinkState::default()
            },
            out_tx,
            out_rx,
            needs_cert,
        }
    }

    /// The master refused this minion's certificate: ask it for one again.
    pub(crate) fn refused(&mut self, reason: &str) {
        warn!(%reason, "master refused this minion; requesting a certificate again");
        self.needs_cert = true;
        self.state.keys.clear();
    }

    pub(crate) fn log_end(&mut self, ctx: &LinkCtx, how: &End) {
        match how {
            End::Refused(reason) => self.refused(reason),
            End::Lost(reason) => info!(%reason, "connection to master lost; reconnecting"),
            End::Silent => warn!(
                secs = ctx.config.master_alive_interval.as_secs_f64(),
                "master silent for master_alive_interval; reconnecting"
            ),
        }
    }

    /// Connects both ports and reads the master's welcome, each step
    /// bounded by the connect timeout: a master that never answers, or
    /// accepts and then hangs, fails here within `master_alive_interval`.
    pub(crate) async fn establish(&mut self, ctx: &LinkCtx) -> Result<Opened, LinkError> {
        let timeout = ctx.config.connect_timeout();
        // Subscribe first so that no publication slips by between the two.
        let (pubs, publish) = subscribe(ctx, &self.master).await?;
        let (tls, pulse) = tls_connect(ctx, &self.master, true).await?;
        let (mut rd, mut wr) = tokio::io::split(tls);
        let state = &mut self.state;
        let hello = MinionMsg::Hello {
            version: env!("CARGO_PKG_VERSION").to_string(),
            last_jid: match &state.spool {
                Some(s) => lock(s).last_seen(),
                None => state.seen_in_memory.iter().max().copied(),
            },
        };
        tokio::time::timeout(timeout, write_frame(&mut wr, &hello))
            .await
            .map_err(|_| LinkError::Silent(timeout))??;
        let first = tokio::time::timeout(timeout, read_frame::<MasterMsg, _>(&mut rd))
            .await
            .map_err(|_| LinkError::Unexpected("nothing".into()))??;
        match first {
            Some(MasterMsg::Welcome {
                master_id,
                signing_key,
                now_ms,
                epoch,
                cluster,
            }) => {
                state.master_id = master_id;
                state.cluster = cluster;
                state.signing_key = signing_key;
                state.clock_offset_ms = now_ms - now_millis();
                state.keys.clear();
                state.current_epoch = epoch.epoch;
                state.keys.insert(epoch.epoch, epoch);
            }
            Some(MasterMsg::Refused { reason }) => return Ok(Opened::Refused(reason)),
            Some(other) => return Err(LinkError::Unexpected(format!("{other:?}"))),
            None => return Ok(Opened::Closed),
        }
        info!(master_id = %state.master_id, "connected to master");
        Ok(Opened::Session(Established {
            pubs,
            rd,
            wr,
            pulse,
            publish,
        }))
    }

    /// Runs an established session until it ends. Dropping this future
    /// ends the session too (the failover driver does, to fail back).
    pub(crate) async fn run(&mut self, ctx: &LinkCtx, session: Established) -> Ended {
        ctx.peers
            .connected(&self.master, self.state.cluster.clone());
        // Marked down however the session ends, dropped futures included.
        let _down = SessionDown {
            peers: &ctx.peers,
            master: self.master.clone(),
        };
        let live = Live {
            pulse: session.pulse.clone(),
            alive: ctx.config.master_alive_interval,
            publish: session.publish.clone(),
        };
        let how = match self.serve(ctx, session, &live).await {
            Ok(end) => end,
            Err(LinkError::Silent(_)) => End::Silent,
            Err(error) => End::Lost(error.to_string()),
        };
        Ended {
            how,
            last_heard: live.pulse.last(),
        }
    }

    async fn serve(
        &mut self,
        ctx: &LinkCtx,
        session: Established,
        live: &Live,
    ) -> Result<End, LinkError> {
        let Established {
            mut pubs,
            mut rd,
            mut wr,
            pulse,
            publish: _,
        } = session;
        // Whatever the master has not acknowledged goes again: it keeps the
        // first copy of each (jid, minion) and acknowledges the rest.
        let pending = with_spool(&self.state.spool, |s| s.pending_returns())
            .await
            .unwrap_or_default();
        if !pending.is_empty() {
            info!(returns = pending.len(), "sending spooled returns");
        }
        for ret in pending {
            write_live(&mut wr, &MinionMsg::Return(ret), live).await?;
        }

        // Reads run in their own task: read_frame is not cancel-safe.
        let (in_tx, mut inbox) = mpsc::channel::<MasterMsg>(1024);
        let reader = tokio::spawn(
            async move {
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
            }
            .in_current_span(),
        );
        // Requests get a queue of their own: unlike returns, they are not kept
        // for the next connection (the caller tries another master or times out).
        let (req_tx, mut req_rx) = mpsc::channel::<MinionMsg>(256);
        if !self.state.start_sent {
            self.state.start_sent = true;
            let _ = req_tx.try_send(crate::client::start_event(&ctx.config.id));
        }
        let id = ctx.client.open_session(&self.master, req_tx, pulse);
        let _guard = SessionGuard {
            client: ctx.client.clone(),
            master: self.master.clone(),
            id,
            reader,
        };
        if ctx.executor.pillar().is_none() {
            let executor = ctx.executor.clone();
            tokio::spawn(async move { executor.warm_pillar().await }.in_current_span());
        }
        drive(
            ctx,
            &mut self.state,
            &mut wr,
            &mut inbox,
            &mut pubs,
            &self.out_tx,
            &mut self.out_rx,
            &mut req_rx,
            live,
        )
        .await
    }
}

/// Closes a session's side of the request client and stops its reader,
/// however the session ends (returned, failed, or dropped).
struct SessionGuard {
    client: MasterClient,
    master: String,
    id: u64,
    reader: JoinHandle<()>,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.client.close_session(&self.master, self.id);
        self.reader.abort();
    }
}

/// A session's liveness: its pulse and how long it may be flat.
struct Live {
    pulse: Arc<Pulse>,
    alive: Duration,
    /// The publish connection's own pulse (beaten by the master's publish
    /// heartbeats and publications).
    publish: Arc<PublishPulse>,
}

/// When the publish connection last carried anything. Enforced only once
/// the master has sent a publish heartbeat (an older master sends none).
#[derive(Default)]
struct PublishPulse {
    pulse: Pulse,
    heard: std::sync::atomic::AtomicBool,
}

impl PublishPulse {
    fn beat(&self) {
        self.pulse.beat();
        self.heard.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Silent past `limit` although the master sends heartbeats.
    fn dead(&self, limit: Duration) -> bool {
        self.heard.load(std::sync::atomic::Ordering::Relaxed) && self.pulse.silent_for() > limit
    }
}

/// Writes one frame, unless the master stays silent for the alive interval
/// meanwhile (a peer that stopped reading blocks the write for ever).
async fn write_live<W: AsyncWrite + Unpin>(
    wr: &mut W,
    msg: &MinionMsg,
    live: &Live,
) -> Result<(), LinkError> {
    tokio::select! {
        // The write first: when it completes at once (the usual case) no
        // timer is ever armed.
        biased;
        written = write_frame(wr, msg) => Ok(written?),
        _ = live.pulse.flatline(live.alive) => Err(LinkError::Silent(live.alive)),
    }
}

/// Per-master memory that outlives one connection.
#[derive(Default)]
struct LinkState {
    /// The master's address as configured (the link's name).
    link: String,
    master_id: String,
    /// The cluster the master said it belongs to, if it shares a store.
    cluster: Option<String>,
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
    /// This minion's start event went to this master (once per process,
    /// not on every reconnect: reactors run a highstate on it).
    start_sent: bool,
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
    #[error("master silent for {0:?}")]
    Silent(Duration),
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

/// A TLS session with `master`'s request port, and the pulse its bytes beat.
pub(crate) async fn tls_connect(
    ctx: &LinkCtx,
    master: &str,
    with_cert: bool,
) -> Result<(Tls, Arc<Pulse>), LinkError> {
    let timeout = ctx.config.connect_timeout();
    let addr = host_port(master, ctx.config.master_port);
    let (tls_config, pin) =
        lock(&ctx.pki).tls_client_config(ctx.config.master_finger.as_deref(), with_cert)?;
    let tcp = tokio::time::timeout(timeout, connect_from(ctx.config.source_address, &addr))
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
    let pulse = Arc::new(Pulse::new());
    pulse.watch_socket(std::os::fd::AsRawFd::as_raw_fd(&tcp));
    let tcp = Watched::new(tcp, pulse.clone());
    let connector = tokio_rustls::TlsConnector::from(tls_config);
    let name = rustls::pki_types::ServerName::try_from("brine-master").expect("static server name");
    let tls = tokio::time::timeout(timeout, connector.connect(name, tcp))
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
    Ok((tls, pulse))
}

// ---- enrollment ---------------------------------------------------------------

/// Asks `master` for a certificate until it issues one (Ok(true)); with
/// `until`, gives up at that instant (Ok(false): the key is still pending
/// there) or at the first failure to reach the master (Err): the failover
/// driver then tries the next master.
///
/// A link that started without any certificate stops asking as soon as
/// another link got one (Ok(true)): the certificate is the minion's, and
/// this master may accept it already (one store for the cluster); if it
/// does not, it refuses the session and this link asks again.
pub(crate) async fn enroll(
    ctx: &LinkCtx,
    master: &str,
    until: Option<tokio::time::Instant>,
) -> Result<bool, LinkError> {
    let had_cert = lock(&ctx.pki).has_certificate();
    let mut wait = ctx.config.acceptance_wait_time;
    loop {
        if !had_cert && lock(&ctx.pki).has_certificate() {
            info!("another master issued this minion's certificate; trying it with this one");
            return Ok(true);
        }
        let hold = match until {
            Some(until) => wait.min(until.saturating_duration_since(tokio::time::Instant::now())),
            None => wait,
        };
        match enroll_once(ctx, master, hold).await {
            Ok(true) => return Ok(true),
            Ok(false) => {}
            Err(error) if until.is_some() => return Err(error),
            Err(error) => warn!(%error, "certificate request failed"),
        }
        let pause = jitter(wait);
        if let Some(until) = until {
            if tokio::time::Instant::now() + pause >= until {
                return Ok(false);
            }
        }
        tokio::time::sleep(pause).await;
        wait = (wait * 2).min(
            ctx.config
                .acceptance_wait_time_max
                .max(ctx.config.acceptance_wait_time),
        );
    }
}

async fn enroll_once(ctx: &LinkCtx, master: &str, hold: Duration) -> Result<bool, LinkError> {
    let (tls, _pulse) = tls_connect(ctx, master, false).await?;
    let (mut rd, mut wr) = tokio::io::split(tls);
    let csr_pem = lock(&ctx.pki).csr_pem()?;
    let req = MinionMsg::CertRequest {
        id: ctx.config.id.clone(),
        csr_pem,
    };
    let timeout = ctx.config.connect_timeout();
    tokio::time::timeout(timeout, write_frame(&mut wr, &req))
        .await
        .map_err(|_| LinkError::Silent(timeout))??;
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
fn sub_socket_options(connect_timeout: Duration) -> zeromq::SocketOptions {
    let mut options = zeromq::SocketOptions::default();
    options
        .max_msg_size(brine_proto::MAX_FRAME_LEN + 64 * 1024)
        .connect_timeout(connect_timeout);
    options
}

async fn subscribe(
    ctx: &LinkCtx,
    master: &str,
) -> Result<(mpsc::Receiver<Received>, Arc<PublishPulse>), LinkError> {
    let addr = host_port(master, ctx.config.publish_port);
    subscribe_to(&addr, ctx.config.connect_timeout()).await
}

/// Subscribes to everything on the publish port at `addr`. The receiver
/// yields publications and closes when the connection to the publisher
/// does: zmq.rs would reconnect on its own, but publications sent in the
/// gap would be lost unseen, so the link is made again instead (the
/// master replays missed jobs to a new session).
async fn subscribe_to(
    addr: &str,
    timeout: Duration,
) -> Result<(mpsc::Receiver<Received>, Arc<PublishPulse>), LinkError> {
    let mut sub = zeromq::SubSocket::with_options(sub_socket_options(timeout));
    let mut events = sub.monitor();
    let endpoint = format!("tcp://{addr}");
    tokio::time::timeout(timeout, sub.connect(&endpoint))
        .await
        .map_err(|_| LinkError::Sub {
            addr: addr.to_string(),
            message: "connect timed out".into(),
        })?
        .map_err(|e| LinkError::Sub {
            addr: addr.to_string(),
            message: e.to_string(),
        })?;
    // Bounded too: a publisher that accepts the connection and then stalls
    // must not hold the link forever.
    tokio::time::timeout(timeout, sub.subscribe(""))
        .await
        .map_err(|_| LinkError::Sub {
            addr: addr.to_string(),
            message: "subscribe timed out".into(),
        })?
        .map_err(|e| LinkError::Sub {
            addr: addr.to_string(),
            message: e.to_string(),
        })?;
    let (tx, rx) = mpsc::channel(1024);
    let budget = Arc::new(tokio::sync::Semaphore::new(PUB_QUEUE_BYTES));
    let publish = Arc::new(PublishPulse::default());
    let beats = publish.clone();
    tokio::spawn(
        async move {
            loop {
                let msg = tokio::select! {
                    msg = sub.recv() => msg,
                    event = events.next() => match event {
                        Some(zeromq::SocketEvent::Disconnected(_)) | None => {
                            debug!("publish connection lost");
                            break;
                        }
                        Some(_) => continue,
                    },
                    // The session ended: let go of the connection now, not
                    // at the next publication.
                    _ = tx.closed() => break,
                };
                match msg {
                    Ok(msg) => {
                        // A publication is a single frame; anything else is noise.
                        let Some(frame) = msg.get(0) else { continue };
                        beats.beat();
                        if frame.as_ref() == brine_pki::sealing::PUBLISH_HEARTBEAT {
                            continue;
                        }
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
        }
        .in_current_span(),
    );
    Ok((rx, publish))
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
    live: &Live,
) -> Result<End, LinkError> {
    let hb = ctx.config.heartbeat_interval;
    let mut tick = tokio::time::interval(ctx.config.ping_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut grains_rx = ctx.grains.subscribe();
    let grains = ctx.grains.snapshot();
    write_live(
        wr,
        &MinionMsg::Grains {
            grains: (*grains).clone(),
        },
        live,
    )
    .await?;
    let mut last_resend = tokio::time::Instant::now();
    // One timer for the session's silence, moved on when it fires early
    // (the master spoke meanwhile): not one per message handled.
    let silence = tokio::time::sleep_until(live.pulse.last() + live.alive);
    tokio::pin!(silence);
    loop {
        tokio::select! {
            m = inbox.recv() => {
                let Some(m) = m else { return Ok(End::Lost("request connection closed".into())) };
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
                            handle_publication(ctx, state, p, out_tx, wr, live).await?;
                        }
                    }
                    MasterMsg::Job(job) => {
                        // Delivered inside our authenticated channel: no seal to check.
                        accept_job(ctx, state, job, out_tx).await;
                    }
                    MasterMsg::Refused { reason } => return Ok(End::Refused(reason)),
                    MasterMsg::ReturnAck { jid } => {
                        debug!(%jid, "return stored by the master");
                        // Stored in the cluster's store: no link of the
                        // cluster needs to send it again.
                        let spools = match &state.cluster {
                            Some(c) => ctx.peers.spools_of(c),
                            None => state.spool.iter().cloned().collect(),
                        };
                        for spool in spools {
                            with_spool(&Some(spool), move |s| s.acknowledged(jid)).await;
                        }
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
                let Some(received) = p else {
                    return Ok(End::Lost("publish connection closed".into()));
                };
                match parse_publication(&received.bytes) {
                    Ok(p) => handle_publication(ctx, state, p, out_tx, wr, live).await?,
                    Err(error) => warn!(%error, "malformed publication ignored"),
                }
            }
            Some(m) = req_rx.recv() => write_live(wr, &m, live).await?,
            m = out_rx.recv() => {
                if let Some(m) = m {
                    match write_live(wr, &m, live).await {
                        Ok(()) => {}
                        Err(LinkError::Channel(brine_pki::channel::ChannelError::Encode(error))) => {
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
                            return Err(e);
                        }
                    }
                }
            }
            changed = grains_rx.changed() => {
                if changed.is_ok() {
                    let g = grains_rx.borrow_and_update().clone();
                    write_live(wr, &MinionMsg::Grains { grains: (*g).clone() }, live).await?;
                }
            }
            // Whatever the session is doing, a master silent this long is dead.
            _ = &mut silence => {
                if live.pulse.silent_past(live.alive) {
                    return Ok(End::Silent);
                }
                silence.as_mut().reset(live.pulse.last() + live.alive);
            }
            _ = tick.tick() => {
                // The publish connection has a pulse of its own: a session
                // alive on 4506 says nothing about the flow on 4505.
                // Never under two and a half heartbeats: an idle master
                // sends one every PUBLISH_HEARTBEAT_EVERY only.
                let limit = live
                    .alive
                    .max(brine_pki::sealing::PUBLISH_HEARTBEAT_EVERY * 5 / 2);
                if live.publish.dead(limit) {
                    warn!(
                        secs = limit.as_secs_f64(),
                        "publish connection silent for master_alive_interval; reconnecting"
                    );
                    return Ok(End::Lost("publish connection silent".into()));
                }
                write_live(wr, &MinionMsg::Heartbeat, live).await?;
                // Returns the master deferred (its disk was full) or never
                // acknowledged go again now and then.
                let resend_after = hb * RESEND_AFTER_HEARTBEATS;
                if last_resend.elapsed() >= resend_after {
                    last_resend = tokio::time::Instant::now();
                    let pending = with_spool(&state.spool, move |s| s.pending_older_than(resend_after))
                        .await
                        .unwrap_or_default();
                    for ret in pending {
                        write_live(wr, &MinionMsg::Return(ret), live).await?;
                    }
                    // Returns spooled for another master of this cluster
                    // whose session is down: this master stores them in
                    // the same store (its acknowledgement clears them there).
                    if let Some(cluster) = &state.cluster {
                        for spool in ctx.peers.orphaned(&state.link, cluster) {
                            let handed = with_spool(&Some(spool), move |s| s.pending_older_than(resend_after))
                                .await
                                .unwrap_or_default();
                            if !handed.is_empty() {
                                info!(returns = handed.len(), "sending returns spooled for a master of the cluster that is down");
                            }
                            for ret in handed {
                                write_live(wr, &MinionMsg::Return(ret), live).await?;
                            }
                        }
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
    live: &Live,
) -> Result<(), LinkError> {
    let Some(key) = state.keys.get(&p.epoch) else {
        if p.epoch > state.current_epoch && state.held.len() < MAX_HELD {
            debug!(
                epoch = p.epoch,
                "publication under a newer key; asking for it"
            );
            state.held.push_back(p);
            write_live(wr, &MinionMsg::GetEpochKey, live).await?;
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
    // Two masters of one cluster may both deliver a job (a relay on a
    // stale presence row): the first link to claim it runs it.
    if let Some(cluster) = &state.cluster {
        if !ctx.peers.claim(cluster, job.jid) {
            debug!(jid = %job.jid, "job already taken through another master of the cluster");
            return;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use zeromq::SocketSend;

    /// The publish side dying while the request session lives must end the
    /// session: the receiver closes when the publisher goes away.
    #[tokio::test]
    async fn the_publication_stream_closes_when_the_publisher_goes() {
        let mut publisher = zeromq::PubSocket::new();
        let endpoint = publisher.bind("tcp://127.0.0.1:0").await.unwrap();
        let addr = endpoint
            .to_string()
            .trim_start_matches("tcp://")
            .to_string();
        let (mut pubs, _) = subscribe_to(&addr, Duration::from_secs(5)).await.unwrap();
        // the subscription reaches the publisher a moment after connect
        let got = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                publisher.send("hello".into()).await.unwrap();
                if let Ok(Some(r)) =
                    tokio::time::timeout(Duration::from_millis(100), pubs.recv()).await
                {
                    return r.bytes;
                }
            }
        })
        .await
        .expect("a publication arrives");
        assert_eq!(got, b"hello");
        drop(publisher);
        let closed = tokio::time::timeout(Duration::from_secs(10), async {
            while pubs.recv().await.is_some() {}
        })
        .await;
        assert!(
            closed.is_ok(),
            "the stream stayed open after the publisher went"
        );
    }

    /// A peer that stopped reading (a suspended VM: its kernel buffer full,
    /// nothing acknowledged) blocks a write for ever; the session gives up
    /// on it after the alive interval.
    #[tokio::test(start_paused = true)]
    async fn a_write_to_a_peer_that_stopped_reading_ends_at_the_alive_interval() {
        let (a, _b) = tokio::io::duplex(64);
        let pulse = Arc::new(Pulse::new());
        let mut w = Watched::new(a, pulse.clone());
        let live = Live {
            pulse,
            alive: Duration::from_secs(3),
            publish: Default::default(),
        };
        let big = MinionMsg::Hello {
            version: "x".repeat(4096),
            last_jid: None,
        };
        let start = tokio::time::Instant::now();
        let r = write_live(&mut w, &big, &live).await;
        assert!(matches!(r, Err(LinkError::Silent(_))), "{r:?}");
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    /// A publisher that accepts the connection and never speaks fails the
    /// attempt within the connect timeout.
    #[tokio::test]
    async fn a_publisher_that_never_speaks_fails_in_time() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let holder = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let start = std::time::Instant::now();
        let r = subscribe_to(&addr, Duration::from_secs(1)).await;
        assert!(r.is_err());
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        holder.abort();
    }
}
