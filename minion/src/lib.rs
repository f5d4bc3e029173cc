//! The minion: connects to every master, runs jobs, returns results.
pub mod config;
pub mod daemon;
pub mod link;
