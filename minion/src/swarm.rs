//! `brine-swarm`: many minions in one process, for measuring masters at
//! fleet size. Each simulated minion is a real minion of this crate: its
//! own id, key, certificate, grains, spool, executor, and per master its
//! own link (SUB socket and TLS session), started through
//! [`crate::link::start_links`] as `brine-minion` starts its own. The master
//! cannot tell them from real minions.
//!
//! Differences from one `brine-minion` per host, all chosen to make the
//! machine, not the code, the simulated part:
//! - core grains are collected once and shared (each minion sets its `id`,
//!   plus the grain templates);
//! - identical publication bytes are verified and decrypted once per
//!   process ([`crate::open_cache`]);
//! - each minion may get its own `source_address` (`--source-net`), so
//!   that per-address limits on the master see a fleet, not one host.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brine_proto::Grains;
use serde_json::Value;

use crate::config::MinionConfig;
use crate::daemon::MinionError;
use crate::exec::Executor;
use crate::grains::{collect_core, GrainsHandle};
use crate::link::{start_links, LinkCtx, MasterClient};
use crate::open_cache::OpenCache;
use crate::swarm_events::EventLoad;

/// How long queued synthetic events get to leave when the swarm stops.
const SENDING_GRACE: Duration = Duration::from_secs(3);

/// Which minions a swarm process runs, and how.
#[derive(Debug, Clone)]
pub struct SwarmSpec {
    /// Index of the first minion (several processes split one fleet).
    pub first: usize,
    /// How many minions this process runs.
    pub count: usize,
    /// Digits of the index in ids (`web-00042`), for the whole fleet.
    pub width: usize,
    pub id_prefix: String,
    /// Grain templates: minion `i` gets `values[i % values.len()]`.
    pub grains: Vec<(String, Vec<String>)>,
    /// Pause between starting two minions (0: a connect storm).
    pub stagger: Duration,
    /// First address of the range the minions' request connections come
    /// from, one address per minion (e.g. 127.1.0.1); `None`: the system's.
    pub source_net: Option<Ipv4Addr>,
    /// Synthetic events each minion sends (benchmarks of the event bus).
    pub events: EventLoad,
}

impl SwarmSpec {
    /// The id of minion `index`.
    pub fn minion_id(&self, index: usize) -> String {
        format!("{}{:0width$}", self.id_prefix, index, width = self.width)
    }

    /// The grains the templates give minion `index`.
    pub fn template_grains(&self, index: usize) -> Grains {
        self.grains
            .iter()
            .filter(|(_, values)| !values.is_empty())
            .map(|(key, values)| {
                (
                    key.clone(),
                    Value::String(values[index % values.len()].clone()),
                )
            })
            .collect()
    }

    /// The source address of minion `index`: `source_net` plus `index`,
    /// skipping the .0 and .255 of every /24.
    pub fn source_address(&self, index: usize) -> Option<IpAddr> {
        let base = u32::from(self.source_net?);
        let step = (index / 254) as u32 * 256 + (index % 254) as u32;
        let mut addr = base.wrapping_add(step);
        if addr & 0xff == 0 {
            addr += 1;
        }
        Some(IpAddr::V4(Ipv4Addr::from(addr)))
    }
}

/// Splits `ids` of a fleet of `total` into processes of at most `per_process`.
pub fn shards(total: usize, per_process: usize) -> Vec<(usize, usize)> {
    let per = per_process.max(1);
    (0..total)
        .step_by(per)
        .map(|first| (first, per.min(total - first)))
        .collect()
}

/// The config of minion `index`: the base config with its id, its own
/// key and cache directories under the base ones, and its grains.
pub fn minion_config(base: &MinionConfig, spec: &SwarmSpec, index: usize) -> MinionConfig {
    let id = spec.minion_id(index);
    let mut config = base.clone();
    config.pki_dir = base.pki_dir.join("swarm").join(&id);
    config.cachedir = base.cachedir.join("swarm").join(&id);
    for (k, v) in spec.template_grains(index) {
        config.grains.insert(k, v);
    }
    if let Some(addr) = spec.source_address(index) {
        config.source_address = Some(addr);
    }
    config.id = id;
    config
}

/// Runs the swarm until `shutdown` resolves.
pub async fn run(
    base: MinionConfig,
    spec: SwarmSpec,
    shutdown: impl Future<Output = ()>,
) -> Result<(), MinionError> {
    let (id, masters) = (base.id.clone(), base.masters.clone());
    let core = tokio::task::spawn_blocking(move || collect_core(&id, &masters))
        .await
        .unwrap_or_default();
    let cache = Arc::new(OpenCache::default());
    let started = std::time::Instant::now();
    let mut links = Vec::with_capacity(spec.count * base.masters.len());
    let mut senders = Vec::new();
    // Keys are loaded (or generated) on blocking threads, a batch at a time.
    let indexes: Vec<usize> = (spec.first..spec.first + spec.count).collect();
    for batch in indexes.chunks(256) {
        let mut loading = Vec::with_capacity(batch.len());
        for &index in batch {
            let config = minion_config(&base, &spec, index);
            loading.push(tokio::task::spawn_blocking(move || {
                for dir in [&config.pki_dir, &config.cachedir] {
                    std::fs::create_dir_all(dir).map_err(|source| MinionError::Dir {
                        path: dir.display().to_string(),
                        source,
                    })?;
                }
                let pki = brine_pki::MinionPki::load_or_create(&config.pki_dir, &config.id)?;
                Ok::<_, MinionError>((config, pki))
            }));
        }
        for loaded in loading {
            let (config, pki) = loaded.await.map_err(|e| MinionError::Dir {
                path: "swarm key loader".into(),
                source: std::io::Error::other(e.to_string()),
            })??;
            let config = Arc::new(config);
            let mut own_core = core.clone();
            own_core.insert("id".into(), Value::String(config.id.clone()));
            let grains = GrainsHandle::with_core(&config, own_core);
            let masters = config.master_order();
            let client = MasterClient::for_config(&config, &masters);
            let executor = Executor::connected(config.clone(), grains.clone(), client.clone());
            let ctx = LinkCtx {
                config: config.clone(),
                pki: Arc::new(Mutex::new(pki)),
                executor,
                grains,
                client,
                open_cache: Some(cache.clone()),
                peers: Default::default(),
            };
            links.extend(start_links(&ctx, masters));
            senders.extend(spec.events.start(&config.id, &ctx.client));
            if !spec.stagger.is_zero() {
                tokio::time::sleep(spec.stagger).await;
            }
        }
    }
    tracing::warn!(
        minions = spec.count,
        first = %spec.minion_id(spec.first),
        secs = started.elapsed().as_secs_f64(),
        "swarm started"
    );
    shutdown.await;
    // Synthetic events stop first; those already queued on a session get
    // a moment to reach the master, so that a benchmark counting what was
    // sent against what arrived does not count the swarm's own exit.
    if !senders.is_empty() {
        for s in senders {
            s.abort();
        }
        tokio::time::sleep(SENDING_GRACE).await;
    }
    for l in links {
        l.abort();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SwarmSpec {
        SwarmSpec {
            first: 0,
            count: 10,
            width: 4,
            id_prefix: "sw-".into(),
            grains: vec![(
                "role".into(),
                vec!["web".into(), "db".into(), "cache".into()],
            )],
            stagger: Duration::ZERO,
            source_net: Some(Ipv4Addr::new(127, 1, 0, 1)),
            events: EventLoad::default(),
        }
    }

    #[test]
    fn ids_grains_and_addresses_follow_the_index() {
        let s = spec();
        assert_eq!(s.minion_id(42), "sw-0042");
        assert_eq!(s.template_grains(0)["role"], "web");
        assert_eq!(s.template_grains(4)["role"], "db");
        assert_eq!(s.source_address(0), Some("127.1.0.1".parse().unwrap()));
        assert_eq!(s.source_address(253), Some("127.1.0.254".parse().unwrap()));
        assert_eq!(s.source_address(254), Some("127.1.1.1".parse().unwrap()));
    }

    #[test]
    fn shards_cover_the_fleet_once() {
        assert_eq!(shards(10, 4), vec![(0, 4), (4, 4), (8, 2)]);
        assert_eq!(shards(3, 10), vec![(0, 3)]);
        assert!(shards(0, 10).is_empty());
    }
}
