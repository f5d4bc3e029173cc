//! The master: keys and certificates, the inventory, the job cache, the
//! publish port (4505), the request port (4506) and the local CLI socket.

pub mod acl;
pub mod alerts;
pub mod api;
pub mod audit;
pub mod auth;
pub mod batch;
pub mod clisock;
pub mod cluster;
pub mod cmdb;
pub mod config;
pub mod counters;
pub mod events;
pub mod ext_pillar;
pub mod fileserver;
pub mod gitfs;
pub mod http;
pub mod inventory;
pub mod jobs;
pub mod keys;
pub mod memory;
pub mod orchestrate;
pub mod publisher;
pub mod reactor;
pub mod reqserver;
pub mod runners;
pub mod schedule;
pub mod state;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use config::MasterConfig;

#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    #[error("pki: {0}")]
    Pki(#[from] brine_pki::PkiError),
    #[error("{0}")]
    Store(#[from] store::StoreError),
    #[error("cannot bind the {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot create {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
}

fn mkdir(path: &std::path::Path) -> Result<(), MasterError> {
    std::fs::create_dir_all(path).map_err(|source| MasterError::Dir {
        path: path.display().to_string(),
        source,
    })
}

/// Runs a master until `shutdown` resolves, with no execution functions
/// for pillar templates (`salt[...]` in pillar SLS is a render error).
pub async fn run(
    config: MasterConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), MasterError> {
    run_with(config, shutdown, None, publisher::Layout::InProcess).await
}

/// Runs a master; `pillar_functions` gives pillar templates rendered for a
/// minion their `salt[...]` functions (the binary hands in the minion's
/// function table, as Salt's master loads its minion modules).
pub async fn run_with(
    config: MasterConfig,
    shutdown: impl Future<Output = ()>,
    pillar_functions: Option<state::PillarFunctions>,
    publisher_layout: publisher::Layout,
) -> Result<(), MasterError> {
    let config = Arc::new(config);
    for ignored in &config.ignored_keys {
        tracing::warn!(key = %ignored.key, "{ignored}");
    }
    raise_open_files_limit();
    mkdir(&config.pki_dir)?;
    mkdir(&config.cachedir)?;
    let pki = brine_pki::MasterPki::load_or_create(&config.pki_dir, &config.id)?;
    tracing::info!(master = %config.id, fingerprint = %pki.ca_fingerprint(), "master CA (minions may pin it as master_finger)");
    let (store, cluster_events) = store::Store::open(&config.store, &config.id).await?;

    let pub_addr = SocketAddr::new(config.interface, config.publish_port);
    let bind_err = |source: std::io::Error| MasterError::Bind {
        what: "publish port",
        addr: pub_addr.to_string(),
        source,
    };
    let pub_listener = publisher::listen(pub_addr).map_err(bind_err)?;
    let publish_tx = publisher::start(pub_listener, publisher_layout)
        .await
        .map_err(|e| bind_err(std::io::Error::other(e.to_string())))?;
    let ret_addr = SocketAddr::new(config.interface, config.ret_port);
    let listener = bind_request_port(ret_addr).map_err(|source| MasterError::Bind {
        what: "request port",
        addr: ret_addr.to_string(),
        source,
    })?;
    let sock_path = config.cli_socket();
    let cli = clisock::bind(&sock_path, config.publisher_acl.has_entries()).map_err(|source| {
        MasterError::Bind {
            what: "cli socket",
            addr: sock_path.display().to_string(),
            source,
        }
    })?;
    let http_listener = http::listen(&config.http).map_err(|source| MasterError::Bind {
        what: "metrics port",
        addr: config
            .http
            .addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        source,
    })?;
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.tls_server_config()?);
    let master = Arc::new(state::Master::new(config.clone(), store, pki, publish_tx).await?);
    if let Some(f) = pillar_functions {
        let _ = master.pillar_functions.set(f);
    }
    warn_about_gitfs(&config);
    if master.files.gitfs().is_some() {
        first_gitfs_update(&master.files).await;
    }

    let mut tasks = vec![
        tokio::spawn(reqserver::serve(master.clone(), listener, acceptor)),
        tokio::spawn(clisock::serve(master.clone(), cli)),
        tokio::spawn(prune_loop(master.clone())),
        tokio::spawn(rotate_loop(master.clone())),
        tokio::spawn(memory::trim_loop()),
        tokio::spawn(publish_heartbeat_loop(master.clone())),
        tokio::spawn(events::presence_loop(master.clone())),
        tokio::spawn(schedule::run_loop(master.clone())),
        tokio::spawn(alerts::delivery_loop(master.clone())),
    ];
    if let Some(port) = config.api_port {
        let addr = SocketAddr::new(config.api_interface, port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| MasterError::Bind {
                what: "HTTP API",
                addr: addr.to_string(),
                source,
            })?;
        let state = api::ApiState {
            master: master.clone(),
            auth: Arc::new(auth::tokens::Authenticator::new(config.auth.clone())),
        };
        let tls = api_tls_config(&config, &master.pki, addr)?;
        match &tls {
            Some(_) => tracing::info!(api = %addr, "HTTP API listening (HTTPS)"),
            None => {
                tracing::warn!(api = %addr, "HTTP API listening WITHOUT TLS (api_tls: false): tokens and passwords cross the network in clear")
            }
        }
        tasks.push(tokio::spawn(api::serve(state, listener, tls)));
    }
    if let Some(l) = http_listener {
        tasks.push(tokio::spawn(http::serve(master.clone(), l)));
    }
    tasks.extend(reactor::start(master.clone()));
    if let Some(events) = cluster_events {
        tasks.push(tokio::spawn(cluster::follow(master.clone(), events)));
        tasks.push(tokio::spawn(cluster::alive_loop(master.clone())));
    }
    if master.files.gitfs().is_some() {
        tasks.push(tokio::spawn(gitfs_loop(
            master.files.clone(),
            config.gitfs.update_interval,
        )));
    }
    tracing::info!(publish = %pub_addr, request = %ret_addr, "master running");
    shutdown.await;
    for t in tasks {
        t.abort();
    }
    let _ = master.store.sync().await;
    let _ = std::fs::remove_file(&sock_path);
    tracing::info!("master stopped");
    Ok(())
}

/// The API's TLS configuration: the user's certificate, or one issued by
/// the CA for `api_names` (default: host name, localhost, the API's
/// address, 127.0.0.1); None with `api_tls: false`.
fn api_tls_config(
    config: &MasterConfig,
    pki: &brine_pki::MasterPki,
    addr: SocketAddr,
) -> Result<Option<Arc<rustls::ServerConfig>>, MasterError> {
    if !config.api_tls {
        return Ok(None);
    }
    if let Some((crt, key)) = &config.api_ssl {
        return Ok(Some(pki.https_server_config_from(crt, key)?));
    }
    let mut names: Vec<String> = Vec::new();
    let mut ips: Vec<std::net::IpAddr> = vec![std::net::Ipv4Addr::LOCALHOST.into()];
    for n in &config.api_names {
        match n.parse::<std::net::IpAddr>() {
            Ok(ip) => ips.push(ip),
            Err(_) => names.push(n.clone()),
        }
    }
    if config.api_names.is_empty() {
        if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
            let host = host.trim();
            if !host.is_empty() {
                names.push(host.to_string());
            }
        }
        names.push("localhost".into());
        if !addr.ip().is_unspecified() {
            ips.push(addr.ip());
        }
    }
    ips.sort();
    ips.dedup();
    Ok(Some(pki.https_server_config(&names, &ips)?))
}

/// The request port's listener, with a backlog deep enough for a fleet
/// reconnecting at once (the default of 1024 makes a storm pay SYN retries).
fn bind_request_port(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// A master holds a publish connection and a TLS session per minion, plus
/// whatever unauthenticated peers are being turned away: raise the soft
/// open-files limit to the hard one (Salt's `max_open_files` does the same
/// job) so that a connection flood meets the master's own caps, not EMFILE.
fn raise_open_files_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => tracing::info!(from = soft, to = hard, "open files limit raised"),
            Err(error) => tracing::warn!(%error, soft, hard, "cannot raise the open files limit"),
        },
        Ok((soft, _)) => tracing::debug!(limit = soft, "open files limit"),
        Err(error) => tracing::warn!(%error, "cannot read the open files limit"),
    }
}

/// How long the master waits for the first gitfs fetch before serving;
/// a slower one goes on in the background.
const FIRST_GITFS_UPDATE_WAIT: Duration = Duration::from_secs(10);

fn warn_about_gitfs(config: &MasterConfig) {
    let enabled = config
        .fileserver_backend
        .contains(&fileserver::Backend::Gitfs);
    if enabled && config.gitfs.remotes.is_empty() {
        tracing::warn!(
            "fileserver_backend lists gitfs but gitfs_remotes is empty; gitfs serves nothing"
        );
    }
    if !enabled && !config.gitfs.remotes.is_empty() {
        tracing::warn!("gitfs_remotes is set but fileserver_backend does not list gitfs; the remotes are not served");
    }
}

/// Fetches the gitfs remotes once before the request port serves, so the
/// first minions see the git environments; gives up waiting after
/// [`FIRST_GITFS_UPDATE_WAIT`].
async fn first_gitfs_update(files: &Arc<fileserver::FileServer>) {
    let f = files.clone();
    let first = tokio::task::spawn_blocking(move || f.update_gitfs());
    match tokio::time::timeout(FIRST_GITFS_UPDATE_WAIT, first).await {
        Ok(Ok(Ok(()))) => tracing::info!("gitfs remotes fetched"),
        // Failures are logged per remote by the update itself.
        Ok(_) => {}
        Err(_) => tracing::warn!("gitfs: first fetch still running; serving meanwhile"),
    }
}

/// Fetches the gitfs remotes every `gitfs_update_interval`.
async fn gitfs_loop(files: Arc<fileserver::FileServer>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate, and the first update already ran.
    tick.tick().await;
    loop {
        tick.tick().await;
        let f = files.clone();
        if let Err(error) = tokio::task::spawn_blocking(move || f.update_gitfs()).await {
            tracing::warn!(%error, "gitfs update task failed");
        }
    }
}

/// Rotates the publication key every `publish_session`: a captured
/// publication stops opening for minions once two rotations have passed,
/// and a key that leaked stops being useful.
async fn rotate_loop(master: Arc<state::Master>) {
    let every = master.config.publish_session;
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        master.rotate_epoch();
    }
}

/// Keeps every publish connection busy enough for its minion to notice
/// when it dies (see `brine_pki::sealing::PUBLISH_HEARTBEAT`).
async fn publish_heartbeat_loop(master: Arc<state::Master>) {
    let every = brine_pki::sealing::PUBLISH_HEARTBEAT_EVERY;
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if master.published_within(every) {
            continue;
        }
        if master
            .publish_tx
            .send(brine_pki::sealing::PUBLISH_HEARTBEAT.to_vec())
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Drops jobs older than `keep_jobs` hours from the cache, and grain
/// history older than `inventory_history_days`, audit rows older than
/// `audit_keep_days`, hourly.
async fn prune_loop(master: Arc<state::Master>) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let keep_ms = master.config.keep_jobs as i64 * 3600 * 1000;
        master.store.prune_jobs(store::now_ms() - keep_ms);
        let history_ms = master.config.inventory_history_days as i64 * 86_400_000;
        master.store.prune_history(store::now_ms() - history_ms);
        let audit_ms = master.config.audit_keep_days as i64 * 86_400_000;
        master.store.prune_audit(store::now_ms() - audit_ms);
    }
}
