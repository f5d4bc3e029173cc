//! The API's connection loop. axum's own `serve` keeps a connection for as
//! long as the client likes: one that sends its request headers a byte at
//! a time, or never, holds a task and its buffers forever, and nothing
//! bounds how many such connections there are. Here every connection
//! counts against a total and a per-address limit, and a request's headers
//! must arrive within [`HEADER_READ_TIMEOUT`] (hyper's own timer, which
//! also closes a keep-alive connection left idle that long).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tower::ServiceExt;

use super::Peer;

/// Connections open at once, from everyone.
pub const MAX_CONNECTIONS: usize = 1024;
/// Connections open at once from one address: a single client (or
/// attacker) cannot take every slot.
pub const MAX_PER_ADDRESS: usize = 64;
/// Time a client has to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What the connection tells about its peer.
pub trait PeerOf {
    fn peer(&self, addr: SocketAddr) -> Peer;
}

impl PeerOf for TcpStream {
    fn peer(&self, addr: SocketAddr) -> Peer {
        Peer(addr, None)
    }
}

impl PeerOf for TlsStream<TcpStream> {
    fn peer(&self, addr: SocketAddr) -> Peer {
        // The TLS verifier checked the chain to the CA; what it names is
        // read here, once per connection.
        let cert = self
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|der| super::certs::ClientCert::from_der(der));
        Peer(addr, cert)
    }
}

/// Open connections, in total and per address.
#[derive(Default)]
pub struct ConnectionLimits {
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// A connection's place, given back when dropped.
pub struct Slot {
    limits: Arc<ConnectionLimits>,
    ip: IpAddr,
}

impl ConnectionLimits {
    /// A slot for a connection from `ip`, or None when a limit is reached.
    pub fn take(self: &Arc<Self>, ip: IpAddr, total: usize, per_address: usize) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let (count, by_ip) = &mut *open;
        let mine = by_ip.get(&ip).copied().unwrap_or(0);
        if *count >= total || mine >= per_address {
            return None;
        }
        *count += 1;
        by_ip.insert(ip, mine + 1);
        Some(Slot {
            limits: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().unwrap_or_else(|e| e.into_inner());
        let (count, by_ip) = &mut *open;
        *count = count.saturating_sub(1);
        if let Some(n) = by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                by_ip.remove(&self.ip);
            }
        }
    }
}

/// Serves `router` on the connections `listener` accepts, until the task
/// is aborted.
pub async fn serve<L>(mut listener: L, router: axum::Router)
where
    L: axum::serve::Listener<Addr = SocketAddr>,
    L::Io: PeerOf + AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = Arc::new(ConnectionLimits::default());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    loop {
        let (io, addr) = listener.accept().await;
        let Some(slot) = limits.take(addr.ip(), MAX_CONNECTIONS, MAX_PER_ADDRESS) else {
            tracing::debug!(peer = %addr, "API connection refused: too many open");
            drop(io);
            continue;
        };
        let peer = io.peer(addr);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
            req.extensions_mut().insert(ConnectInfo(peer.clone()));
            router.clone().oneshot(req.map(axum::body::Body::new))
        });
        let conn = http.serve_connection(TokioIo::new(io), service);
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(error) = conn.await {
                tracing::debug!(peer = %addr, %error, "API connection ended");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_count_per_address_and_in_total_and_free_on_drop() {
        let limits = Arc::new(ConnectionLimits::default());
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let a1 = limits.take(a, 3, 2).unwrap();
        let _a2 = limits.take(a, 3, 2).unwrap();
        assert!(limits.take(a, 3, 2).is_none(), "per address");
        let _b1 = limits.take(b, 3, 2).unwrap();
        assert!(limits.take(b, 3, 2).is_none(), "in total");
        drop(a1);
        assert!(
            limits.take(a, 3, 2).is_some(),
            "a closed connection frees its slot"
        );
    }
}
