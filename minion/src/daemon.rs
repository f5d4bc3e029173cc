//! The minion daemon: its links to the masters (one per master, or one at a
//! time with `master_type: failover`), one executor, one grains handle
//! shared by all.

use std::future::Future;
use std::sync::{Arc, Mutex};

use crate::config::MinionConfig;
use crate::exec::Executor;
use crate::grains::GrainsHandle;
use crate::link::{start_links, LinkCtx, MasterClient};

#[derive(Debug, thiserror::Error)]
pub enum MinionError {
    #[error("pki: {0}")]
    Pki(#[from] brine_pki::PkiError),
    #[error("cannot create {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
}

/// Runs a minion until `shutdown` resolves.
pub async fn run(
    config: MinionConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), MinionError> {
    for ignored in &config.ignored_keys {
        tracing::warn!(key = %ignored.key, "{ignored}");
    }
    for dir in [&config.pki_dir, &config.cachedir] {
        std::fs::create_dir_all(dir).map_err(|source| MinionError::Dir {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let pki = brine_pki::MinionPki::load_or_create(&config.pki_dir, &config.id)?;
    tracing::info!(minion_id = %config.id, fingerprint = %pki.fingerprint(), "minion key");
    let config = Arc::new(config);
    let grains = GrainsHandle::load(&config);
    let masters = config.master_order();
    let client = MasterClient::for_config(&config, &masters);
    let executor = Executor::connected(config.clone(), grains.clone(), client.clone());
    let beacons = crate::beacons::start(&executor, &client, &config.id);
    let ctx = LinkCtx {
        config: config.clone(),
        pki: Arc::new(Mutex::new(pki)),
        executor,
        grains,
        client,
        open_cache: None,
        peers: Default::default(),
    };
    tracing::info!(
        master_type = config.master_type.as_str(),
        masters = ?masters,
        "connecting to masters"
    );
    let links = start_links(&ctx, masters);
    shutdown.await;
    for l in links {
        l.abort();
    }
    beacons.abort();
    tracing::info!("minion stopped");
    Ok(())
}
