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

pub async fn bind(addr: SocketAddr) -> Result<mpsc::Sender<Vec<u8>>, zeromq::ZmqError> {
    let mut socket = zeromq::PubSocket::with_options(socket_options());
    let tcp = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    tcp.set_reuseaddr(true)?;
    tcp.bind(addr)?;
    let listener = tcp.listen(LISTEN_BACKLOG)?.into_std()?;
    socket.bind_listener(listener).await?;
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(1024);
    tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if let Err(error) = socket.send(ZmqMessage::from(bytes)).await {
                tracing::warn!(%error, "publish failed");
            }
        }
    });
    Ok(tx)
}
