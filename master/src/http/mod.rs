//! The master's HTTP server: `/metrics` for Prometheus to scrape and `/sd`,
//! Prometheus's HTTP service discovery over the inventory. One router built
//! from parts (one module per part); the HTTP API of issue 15 (with TLS and
//! authentication) will be added to it as further parts. Plain HTTP for
//! now, which is why it listens on 127.0.0.1 unless told otherwise.
//!
//! ```yaml
//! http_port: 8000           # unset: no HTTP server
//! http_interface: 127.0.0.1
//! ```

pub mod metrics;
pub mod sd;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use brine_proto::conf::{ConfError, RawConfig};

use crate::state::Master;

/// Where the HTTP server listens, from the master config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// `http_port`: unset, the master runs no HTTP server.
    pub port: Option<u16>,
    /// `http_interface`: the address it binds. 127.0.0.1 by default, not
    /// the master's `interface`: until issue 15 brings TLS and
    /// authentication, `/sd` hands the inventory (host names, addresses,
    /// owners) to whoever can connect, so exposing it is a choice the
    /// operator makes by naming an address.
    pub interface: IpAddr,
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            port: None,
            interface: IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }
}

impl HttpConfig {
    /// The address to bind, when a server is wanted.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.port.map(|p| SocketAddr::new(self.interface, p))
    }
}

/// Reads `http_port` and `http_interface` (called from `config.rs`).
pub fn from_raw(raw: &mut RawConfig) -> Result<HttpConfig, ConfError> {
    let file = raw.file().to_string();
    let bad = |key: &str, message: String| ConfError::BadValue {
        file: file.clone(),
        key: key.into(),
        message,
    };
    let port = raw.get::<u16>("http_port")?;
    if port == Some(0) {
        return Err(bad(
            "http_port",
            "0 is not a port; leave http_port unset to run no HTTP server".into(),
        ));
    }
    let defaults = HttpConfig::default();
    let interface = match raw.get::<String>("http_interface")? {
        None => defaults.interface,
        Some(s) => s
            .trim()
            .parse()
            .map_err(|_| bad("http_interface", format!("'{s}' is not an IP address")))?,
    };
    Ok(HttpConfig { port, interface })
}

/// Every route the HTTP server answers.
pub fn router(master: Arc<Master>) -> Router {
    Router::new()
        .merge(metrics::routes())
        .merge(sd::routes())
        .with_state(master)
}

/// Binds the HTTP port if one is configured (a failure stops the master at
/// start-up, like the other ports).
pub fn listen(config: &HttpConfig) -> std::io::Result<Option<tokio::net::TcpListener>> {
    let Some(addr) = config.addr() else {
        return Ok(None);
    };
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024).map(Some)
}

/// Serves HTTP on `listener` until the task is aborted.
pub async fn serve(master: Arc<Master>, listener: tokio::net::TcpListener) {
    let addr = listener.local_addr().ok();
    tracing::info!(addr = ?addr, "HTTP server (/metrics, /sd) listening");
    if let Err(error) = axum::serve(listener, router(master)).await {
        tracing::error!(%error, "HTTP server stopped");
    }
}

#[cfg(test)]
mod tests;
