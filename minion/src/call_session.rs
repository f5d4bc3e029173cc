//! `brine-call` against the master, as Salt's `salt-call` without
//! `--local`: one connection to the first master that answers, made with
//! the minion's certificate, over which the call's functions read
//! `salt://` files and the minion's pillar, and the return is recorded in
//! the master's job cache. It is not the minion's session: the master sends
//! no jobs on it, and a running `brine-minion` keeps its own.

use std::sync::{Arc, Mutex};

use brine_pki::channel::{read_frame, write_frame};
use brine_pki::MinionPki;
use brine_proto::{MasterMsg, MinionMsg};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info};

use crate::client::MasterClient;
use crate::config::MinionConfig;
use crate::exec::Executor;
use crate::grains::GrainsHandle;
use crate::link::{tls_connect, LinkCtx, LinkError};

#[derive(Debug, thiserror::Error)]
pub enum CallSessionError {
    #[error("minion '{id}' has no certificate from a master yet: start brine-minion and have its key accepted (brine-key -a {id}), or run with --local")]
    NoCertificate { id: String },
    #[error("no master answered: {0}")]
    NoMaster(String),
    #[error("pki: {0}")]
    Pki(#[from] brine_pki::PkiError),
}

/// A live `brine-call` session: the executor's functions reach the master
/// through it until it is dropped.
pub struct CallSession {
    pub executor: Executor,
    pub client: MasterClient,
    /// The master (as configured) this session talks to.
    pub master: String,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for CallSession {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Connects to the first of the minion's masters (in `master_order`) that
/// welcomes it.
pub async fn connect(
    config: Arc<MinionConfig>,
    grains: GrainsHandle,
) -> Result<CallSession, CallSessionError> {
    let pki = MinionPki::load_or_create(&config.pki_dir, &config.id)?;
    if !pki.has_certificate() {
        return Err(CallSessionError::NoCertificate {
            id: config.id.clone(),
        });
    }
    let masters = config.master_order();
    let client = MasterClient::for_config(&config, &masters);
    let executor = Executor::connected(config.clone(), grains.clone(), client.clone());
    let ctx = LinkCtx {
        config: config.clone(),
        pki: Arc::new(Mutex::new(pki)),
        executor: executor.clone(),
        grains,
        client: client.clone(),
        open_cache: None,
        peers: Default::default(),
    };
    let mut errors = Vec::new();
    for master in masters {
        match open(&ctx, &master).await {
            Ok(tasks) => {
                info!(%master, "brine-call connected to master");
                return Ok(CallSession {
                    executor,
                    client,
                    master,
                    tasks,
                });
            }
            Err(error) => {
                debug!(%master, %error, "master did not take the call");
                errors.push(format!("{master}: {error}"));
            }
        }
    }
    Err(CallSessionError::NoMaster(errors.join("; ")))
}

/// Opens the call session with `master`: `CallHello`, its welcome, then a
/// reader handing replies to the client and a writer sending requests and
/// heartbeats (a master drops a connection silent for three of them).
async fn open(ctx: &LinkCtx, master: &str) -> Result<Vec<JoinHandle<()>>, LinkError> {
    let timeout = ctx.config.connect_timeout();
    let (tls, pulse) = tls_connect(ctx, master, true).await?;
    let (mut rd, mut wr) = tokio::io::split(tls);
    let hello = MinionMsg::CallHello {
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    tokio::time::timeout(timeout, write_frame(&mut wr, &hello))
        .await
        .map_err(|_| LinkError::Silent(timeout))??;
    let first = tokio::time::timeout(timeout, read_frame::<MasterMsg, _>(&mut rd))
        .await
        .map_err(|_| LinkError::Silent(timeout))??;
    match first {
        Some(MasterMsg::Welcome { .. }) => {}
        Some(MasterMsg::Refused { reason }) => {
            return Err(LinkError::Unexpected(format!("a refusal ({reason})")))
        }
        Some(other) => return Err(LinkError::Unexpected(format!("{other:?}"))),
        None => return Err(LinkError::Unexpected("nothing".into())),
    }
    let (req_tx, mut req_rx) = mpsc::channel::<MinionMsg>(256);
    let session = ctx.client.open_session(master, req_tx, pulse);
    let client = ctx.client.clone();
    let name = master.to_string();
    let reader = tokio::spawn(async move {
        loop {
            match read_frame::<MasterMsg, _>(&mut rd).await {
                Ok(Some(msg)) => {
                    client.complete(msg);
                }
                Ok(None) => break,
                Err(e) if e.is_malformed_body() => debug!(error = %e, "malformed reply ignored"),
                Err(e) => {
                    debug!(error = %e, "master connection closed");
                    break;
                }
            }
        }
        // Requests waiting on this master fail now, not at their timeout.
        client.close_session(&name, session);
    });
    let every = ctx.config.ping_interval();
    let writer = tokio::spawn(async move {
        let mut beat = tokio::time::interval(every);
        beat.tick().await;
        loop {
            let msg = tokio::select! {
                m = req_rx.recv() => match m { Some(m) => m, None => break },
                _ = beat.tick() => MinionMsg::Heartbeat,
            };
            if write_frame(&mut wr, &msg).await.is_err() {
                break;
            }
        }
    });
    Ok(vec![reader, writer])
}
