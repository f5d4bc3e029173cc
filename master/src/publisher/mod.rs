//! The publish port (4505). Everything sent here is public: it is already
//! sealed (encrypted and signed) once per job before it reaches this socket.
//!
//! Anyone can connect and subscribe, so what a peer may send is bounded
//! before authentication (the vendored zmq.rs patch, vendor/zeromq): a
//! subscriber only ever sends a greeting, a READY command and a
//! subscription, so messages above [`MAX_INBOUND_MSG`] drop the peer before
//! any buffer is reserved, and so do more than [`MAX_SUBSCRIPTIONS`]
//! subscriptions or one longer than [`MAX_SUBSCRIPTION_LEN`].

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::mpsc;
use zeromq::{Socket, SocketOptions, SocketSend, ZmqMessage};

/// Largest message a subscriber may send (greeting, READY, subscriptions).
pub const MAX_INBOUND_MSG: usize = 64 * 1024;
/// Subscriptions one peer may hold (a minion holds one: everything).
pub const MAX_SUBSCRIPTIONS: usize = 16;
/// Longest subscription topic accepted.
pub const MAX_SUBSCRIPTION_LEN: usize = 256;
/// Time a new connection has to finish the ZMTP handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Listen backlog: a fleet reconnecting at once must not wait on SYN retries.
const LISTEN_BACKLOG: u32 = 4096;

pub fn socket_options() -> SocketOptions {
    let mut options = SocketOptions::default();
    options
        .max_msg_size(MAX_INBOUND_MSG)
        .subscription_limits(MAX_SUBSCRIPTIONS, MAX_SUBSCRIPTION_LEN)
        .handshake_timeout(HANDSHAKE_TIMEOUT);
    options
}

/// Where the publish port's connections live.
#[derive(Debug, Clone)]
pub enum Layout {
    /// In the master process (library use and unit tests).
    InProcess,
    /// In `count` child processes started as `exe args...` (the master
    /// binary with its hidden `--publisher-child` flag), all accepting on the
    /// one listening socket the master bound: the kernel hands each new
    /// subscriber to one of them. A master's descriptors then hold only its
    /// minions' TLS sessions; each child, its share of the subscribers.
    Children {
        exe: std::path::PathBuf,
        args: Vec<String>,
        count: usize,
    },
}

/// Publications queued for the publisher(s), by count; each is at most a
/// frame, and callers wait when it is full.
const QUEUE: usize = 1024;

/// The publish port's listening socket, with a backlog deep enough for a
/// fleet reconnecting at once.
pub fn listen(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let tcp = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    tcp.set_reuseaddr(true)?;
    tcp.bind(addr)?;
    tcp.listen(LISTEN_BACKLOG)?.into_std()
}

/// Starts publishing on `listener` as `layout` says; publications sent to
/// the returned queue go to every subscriber.
pub async fn start(
    listener: std::net::TcpListener,
    layout: Layout,
) -> Result<mpsc::Sender<Vec<u8>>, zeromq::ZmqError> {
    match layout {
        Layout::InProcess => serve(listener).await,
        Layout::Children { exe, args, count } => Ok(children::start(listener, exe, args, count)),
    }
}

/// A PUB socket on `listener`, fed from the returned queue.
pub async fn serve(
    listener: std::net::TcpListener,
) -> Result<mpsc::Sender<Vec<u8>>, zeromq::ZmqError> {
    let mut socket = zeromq::PubSocket::with_options(socket_options());
    socket.bind_listener(listener).await?;
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(QUEUE);
    tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if let Err(error) = socket.send(ZmqMessage::from(bytes)).await {
                tracing::warn!(%error, "publish failed");
            }
        }
    });
    Ok(tx)
}

/// Binds `addr` and publishes from this process.
pub async fn bind(addr: SocketAddr) -> Result<mpsc::Sender<Vec<u8>>, zeromq::ZmqError> {
    serve(listen(addr)?).await
}

mod children;
pub use children::child_main;
