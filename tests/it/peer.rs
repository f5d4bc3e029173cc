//! A hand-driven minion connection for the attack tests: a TLS session to
//! the request port, with or without a certificate, from any loopback
//! address, and a reader that skips the master's background traffic.

use std::net::SocketAddr;
use std::time::Duration;

use brine_pki::channel::read_frame;
use brine_pki::MinionPki;
use brine_proto::MasterMsg;
use tokio::net::TcpStream as TokioTcp;

pub type Tls = tokio_rustls::client::TlsStream<TokioTcp>;

/// A TCP connection to the master's `port` from the local address `src`.
pub async fn tcp_from(src: &str, port: u16) -> std::io::Result<TokioTcp> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(src.parse().unwrap(), 0))?;
    socket
        .connect(SocketAddr::new("127.0.0.1".parse().unwrap(), port))
        .await
}

/// A TLS session from `src`, presenting `pki`'s certificate if `with_cert`.
pub async fn tls_from(
    pki: &MinionPki,
    src: &str,
    port: u16,
    with_cert: bool,
) -> std::io::Result<Tls> {
    let (cfg, _) = pki.tls_client_config(None, with_cert).unwrap();
    let tcp = tcp_from(src, port).await?;
    let name = rustls::pki_types::ServerName::try_from("brine-master").unwrap();
    tokio_rustls::TlsConnector::from(cfg)
        .connect(name, tcp)
        .await
}

/// [`tls_from`] 127.0.0.1, which must succeed.
pub async fn tls(pki: &MinionPki, port: u16, with_cert: bool) -> Tls {
    tls_from(pki, "127.0.0.1", port, with_cert).await.unwrap()
}

/// The master's next message that is not a heartbeat, an epoch key or a job.
pub async fn next_reply(s: &mut Tls) -> MasterMsg {
    loop {
        let m: MasterMsg = tokio::time::timeout(Duration::from_secs(10), read_frame(s))
            .await
            .expect("master answered")
            .unwrap()
            .expect("connection open");
        if !matches!(
            m,
            MasterMsg::Heartbeat | MasterMsg::Epoch(_) | MasterMsg::Job(_)
        ) {
            return m;
        }
    }
}
