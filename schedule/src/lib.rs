//! Brine's scheduler engine, shared by the master and the minion: Salt's
//! schedule items ([`item`]), the decisions of what runs when
//! ([`scheduler`]), and the file that keeps runtime items and last runs
//! across restarts ([`store`]). The daemons run the loop and the functions.

pub mod item;
pub mod ops;
pub mod scheduler;
pub mod store;

pub use item::{parse_date, Item, ItemError, Retry, Trigger};
pub use scheduler::{Run, RunRecord, Saved, ScheduleError, Scheduler, Source};

/// Now, in ms since the epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests;
