//! The publish port (4505). Everything sent here is public: it is already
//! sealed (encrypted and signed) once per job before it reaches this socket.

use std::net::SocketAddr;

use tokio::sync::mpsc;
use zeromq::{Socket, SocketSend, ZmqMessage};

pub async fn bind(addr: SocketAddr) -> Result<mpsc::Sender<Vec<u8>>, zeromq::ZmqError> {
    let mut socket = zeromq::PubSocket::new();
    let endpoint = match addr {
        SocketAddr::V4(a) => format!("tcp://{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("tcp://[{}]:{}", a.ip(), a.port()),
    };
    socket.bind(&endpoint).await?;
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
