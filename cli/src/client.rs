//! The CLIs' side of the master's local socket.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use brine_pki::channel::{read_frame, write_frame};
use brine_proto::{CliReply, CliRequest};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

pub struct MasterClient {
    rd: OwnedReadHalf,
    _wr: OwnedWriteHalf,
}

/// The master config as the CLI needs it (socket path, default timeout, ...).
pub fn master_config(config_dir: &Path) -> anyhow::Result<brine_master::MasterConfig> {
    brine_master::MasterConfig::load(config_dir).map_err(|e| anyhow!("{e}"))
}

impl MasterClient {
    /// Sends one request; replies are then read with [`MasterClient::next`].
    pub async fn request(socket: &PathBuf, req: &CliRequest) -> anyhow::Result<MasterClient> {
        let stream = UnixStream::connect(socket).await.with_context(|| {
            format!(
                "cannot reach the master at {} (is brine-master running with this config dir, and may this user open its socket?)",
                socket.display()
            )
        })?;
        let (rd, mut wr) = stream.into_split();
        write_frame(&mut wr, req)
            .await
            .context("sending the request to the master")?;
        Ok(MasterClient { rd, _wr: wr })
    }

    /// The next reply; `None` when the master closed the stream.
    pub async fn next(&mut self) -> anyhow::Result<Option<CliReply>> {
        read_frame::<CliReply, _>(&mut self.rd)
            .await
            .context("reading the master's reply")
    }

    /// One request, one reply.
    pub async fn call(socket: &PathBuf, req: &CliRequest) -> anyhow::Result<CliReply> {
        let mut c = Self::request(socket, req).await?;
        c.next()
            .await?
            .ok_or_else(|| anyhow!("the master closed the connection without replying"))
    }
}
