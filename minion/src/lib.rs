//! The minion: connects to every master, runs jobs, returns results.
pub mod config;
