//! The minion: connects to its masters (all at once, or one at a time with
//! `master_type: failover`), runs jobs, returns results.
pub mod beacons;
pub mod call_session;
pub mod caller;
pub mod client;
pub mod cluster;
pub mod config;
pub mod daemon;
pub mod exec;
pub mod failover;
pub mod grains;
pub mod link;
pub mod liveness;
pub mod modules;
pub mod open_cache;
pub mod pillar_store;
pub mod registry;
pub mod remote;
pub mod schedule;
pub mod spool;
pub mod state_sys;
pub mod swarm;
pub mod swarm_events;
