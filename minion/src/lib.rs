//! The minion: connects to every master, runs jobs, returns results.
pub mod caller;
pub mod config;
pub mod daemon;
pub mod exec;
pub mod grains;
pub mod link;
pub mod modules;
pub mod open_cache;
pub mod pillar_store;
pub mod registry;
pub mod remote;
pub mod spool;
pub mod state_sys;
pub mod swarm;
