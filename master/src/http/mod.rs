//! The master's monitoring HTTP server: `/metrics` for Prometheus to
//! scrape and `/sd`, Prometheus's HTTP service discovery over the
//! inventory. One router built from parts (one module per part).
//!
//! It is not the HTTP API (`crate::api`, `api_port`): Prometheus scrapes
//! and discovers without logging in (the API's tokens expire), so these
//! endpoints have a port of their own, plain HTTP without authentication,
//! on 127.0.0.1 unless `metrics_interface` names another address.
//! [`router`] is public so that they can also be mounted elsewhere.
//!
//! ```yaml
//! metrics_port: 9150           # unset: no monitoring HTTP server
//! metrics_interface: 127.0.0.1
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
    /// `metrics_port`: unset, the master runs no monitoring HTTP server.
    pub port: Option<u16>,
    /// `metrics_interface`: the address it binds. 127.0.0.1 by default, not
    /// the master's `interface`: without TLS or authentication `/sd` hands
    /// the inventory (host names, addresses, owners) to whoever can
    /// connect, so exposing it is a choice the operator makes by naming an
    /// address (or by putting a TLS proxy in front).
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

/// Reads `metrics_port` and `metrics_interface` (called from `config.rs`).
pub fn from_raw(raw: &mut RawConfig) -> Result<HttpConfig, ConfError> {
    let file = raw.file().to_string();
    let bad = |key: &str, message: String| ConfError::BadValue {
        file: file.clone(),
        key: key.into(),
        message,
    };
    let port = raw.get::<u16>("metrics_port")?;
    if port == Some(0) {
        return Err(bad(
            "metrics_port",
            "0 is not a port; leave metrics_port unset to run no monitoring HTTP server".into(),
        ));
    }
    let defaults = HttpConfig::default();
    let interface = match raw.get::<String>("metrics_interface")? {
        None => defaults.interface,
        Some(s) => s
            .trim()
            .parse()
            .map_err(|_| bad("metrics_interface", format!("'{s}' is not an IP address")))?,
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
    tracing::info!(addr = ?addr, "monitoring HTTP server (/metrics, /sd) listening");
    if let Err(error) = axum::serve(listener, router(master)).await {
        tracing::error!(%error, "monitoring HTTP server stopped");
    }
}

#[cfg(test)]
mod tests;
