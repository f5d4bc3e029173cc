//! `brine -b N|N%`: the master's rolling batch window (also what
//! orchestration's `batch:` uses), re-exported for the CLI.

pub use brine_master::batch::{batch_size, BatchWindow, Finish};
