//! What one minion's links know of each other when their masters are one
//! cluster (they share a store, and say so in their welcome with the
//! cluster's identity).
//!
//! Two things follow from a shared store:
//! - **A job runs once.** Masters of a cluster relay each other's jobs to
//!   minions they think the publisher cannot reach; a minion reached both
//!   ways (a stale presence row) must not run the job twice. Each link
//!   claims `(cluster, jid)` here before running a job.
//! - **A spooled return may go to any master of the cluster.** A return is
//!   spooled for the master that sent the job; when that master stays down,
//!   a link connected to another master of the same cluster hands it over
//!   (the store is the same, so it is counted once), and an acknowledgement
//!   from any master of the cluster clears it from every link's spool.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use brine_proto::JobId;

use crate::spool::Spool;

/// How many claimed jids each cluster remembers (more than a minion runs
/// in the replay window).
const CLAIMS_KEPT: usize = 20_000;

#[derive(Default)]
pub struct ClusterPeers {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    links: HashMap<String, Peer>,
    claimed: HashSet<(String, JobId)>,
    claim_order: VecDeque<(String, JobId)>,
}

struct Peer {
    /// The cluster its master said it belongs to (kept while disconnected).
    cluster: Option<String>,
    connected: bool,
    spool: Option<Arc<Mutex<Spool>>>,
}

impl ClusterPeers {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A link and its spool (at start).
    pub fn register(&self, master: &str, spool: Option<Arc<Mutex<Spool>>>) {
        self.lock().links.insert(
            master.to_string(),
            Peer {
                cluster: None,
                connected: false,
                spool,
            },
        );
    }

    /// The link to `master` has a session; its master belongs to `cluster`.
    pub fn connected(&self, master: &str, cluster: Option<String>) {
        if let Some(p) = self.lock().links.get_mut(master) {
            p.cluster = cluster;
            p.connected = true;
        }
    }

    pub fn disconnected(&self, master: &str) {
        if let Some(p) = self.lock().links.get_mut(master) {
            p.connected = false;
        }
    }

    /// True the first time `jid` is claimed in `cluster`: that link runs it.
    pub fn claim(&self, cluster: &str, jid: JobId) -> bool {
        let mut inner = self.lock();
        let key = (cluster.to_string(), jid);
        if !inner.claimed.insert(key.clone()) {
            return false;
        }
        inner.claim_order.push_back(key);
        while inner.claim_order.len() > CLAIMS_KEPT {
            if let Some(old) = inner.claim_order.pop_front() {
                inner.claimed.remove(&old);
            }
        }
        true
    }

    /// Spools of the other links of `cluster` whose session is down: their
    /// returns may go to the master of `master`'s link instead.
    pub fn orphaned(&self, master: &str, cluster: &str) -> Vec<Arc<Mutex<Spool>>> {
        self.lock()
            .links
            .iter()
            .filter(|(m, p)| {
                m.as_str() != master && !p.connected && p.cluster.as_deref() == Some(cluster)
            })
            .filter_map(|(_, p)| p.spool.clone())
            .collect()
    }

    /// Every spool of `cluster`'s links (an acknowledgement from one master
    /// of a cluster holds for all of them).
    pub fn spools_of(&self, cluster: &str) -> Vec<Arc<Mutex<Spool>>> {
        self.lock()
            .links
            .values()
            .filter(|p| p.cluster.as_deref() == Some(cluster))
            .filter_map(|p| p.spool.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_is_claimed_once_per_cluster() {
        let peers = ClusterPeers::default();
        let jid: JobId = "20261204010101000001".parse().unwrap();
        assert!(peers.claim("c1", jid));
        assert!(!peers.claim("c1", jid));
        // another cluster's job with the same jid is another job
        assert!(peers.claim("c2", jid));
    }

    #[test]
    fn only_disconnected_links_of_the_same_cluster_are_orphaned() {
        let dir = tempfile::tempdir().unwrap();
        let spool = |name: &str| {
            Some(Arc::new(Mutex::new(
                Spool::open(dir.path(), name, 600_000).unwrap(),
            )))
        };
        let peers = ClusterPeers::default();
        for m in ["a", "b", "c"] {
            peers.register(m, spool(m));
        }
        peers.connected("a", Some("c1".into()));
        peers.connected("b", Some("c1".into()));
        peers.connected("c", Some("c2".into()));
        assert!(peers.orphaned("b", "c1").is_empty(), "a is still connected");
        peers.disconnected("a");
        peers.disconnected("c");
        assert_eq!(
            peers.orphaned("b", "c1").len(),
            1,
            "a, not c (another cluster)"
        );
        assert_eq!(peers.spools_of("c1").len(), 2);
    }
}
