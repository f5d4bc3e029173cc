//! A master's part in a cluster sharing one PostgreSQL store: it follows
//! what the other masters change (keys, grains) and relays their jobs to
//! the minions connected here and not to them.
//!
//! Data still flows one way: another master's CLI -> its store row ->
//! NOTIFY -> this master -> the minion's session here -> return -> the
//! shared store -> NOTIFY -> the publishing master's waiting CLI.

use std::sync::Arc;

use brine_proto::{JobId, MasterMsg};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::state::Master;
use crate::store::ClusterEvent;

/// Applies the cluster's changes to this master until the store closes.
pub async fn follow(master: Arc<Master>, mut events: mpsc::Receiver<ClusterEvent>) {
    while let Some(event) = events.recv().await {
        let result = match event {
            ClusterEvent::Key(id) => master.reload_key(&id).await,
            ClusterEvent::Grains(ids) => reload_grains(&master, ids).await,
            ClusterEvent::Job { jid, origin } => {
                // Off the event loop: a relay to thousands of sessions must
                // not hold up key changes behind it.
                let m = master.clone();
                tokio::spawn(async move {
                    if let Err(error) = relay(&m, jid, &origin).await {
                        warn!(%jid, %origin, %error, "cannot relay a job of another master");
                    }
                });
                Ok(())
            }
            ClusterEvent::Returns { jid, origin } => master.pull_returns(jid, Some(&origin)).await,
            ClusterEvent::Resync => resync(&master).await,
        };
        if let Err(error) = result {
            warn!(%error, "cannot apply a change made by another master");
        }
    }
}

/// Says this master is alive in the shared store, for as long as it runs.
pub async fn alive_loop(master: Arc<Master>) {
    let mut tick = tokio::time::interval(crate::store::MASTER_ALIVE_EVERY);
    loop {
        tick.tick().await;
        master.store.master_alive();
    }
}

async fn reload_grains(master: &Master, ids: Vec<String>) -> Result<(), crate::store::StoreError> {
    master
        .store
        .load_grains(Some(ids), |id, grains| master.cache_grains(&id, &grains))
        .await
        .map(|_| ())
}

async fn resync(master: &Master) -> Result<(), crate::store::StoreError> {
    master.reload_keys().await?;
    master
        .store
        .load_grains(None, |id, grains| master.cache_grains(&id, &grains))
        .await?;
    for jid in master.routed_jids() {
        master.pull_returns(jid, None).await?;
    }
    Ok(())
}

/// Sends job `jid`, published by master `origin`, to the minions it
/// targets that are connected here and not to `origin` (a fleet spread
/// across masters, each minion listing only some). Minions connected to
/// both got it from `origin` already. Sent on each minion's session, as a
/// missed job is: the minion's own jid window drops a second copy.
async fn relay(master: &Master, jid: JobId, origin: &str) -> Result<(), crate::store::StoreError> {
    let Some((record, _)) = master.store.lookup_job(jid).await? else {
        return Ok(());
    };
    let here: Vec<String> = record
        .expected
        .iter()
        .filter(|id| master.is_connected(id))
        .cloned()
        .collect();
    if here.is_empty() {
        return Ok(());
    }
    let there: std::collections::HashSet<String> = master
        .store
        .connected_to(origin, here.clone())
        .await?
        .into_iter()
        .collect();
    let mut job = record.job;
    job.master = master.config.id.clone();
    let mut sent = 0usize;
    for id in here.iter().filter(|id| !there.contains(*id)) {
        if let Some(tx) = master.session_tx(id) {
            if tx.send(MasterMsg::Job(job.clone())).await.is_ok() {
                sent += 1;
            }
        }
    }
    if sent > 0 {
        info!(%jid, %origin, minions = sent, "relayed a job of another master");
    } else {
        debug!(%jid, %origin, "no minion needed a relay");
    }
    Ok(())
}
