//! The one way Brine runs another program.
//!
//! `cmd.run` the function, `cmd.run` the state, the state modules' system
//! tools (apt, useradd, systemctl...) and the master's git all go through
//! [`run`]: the program gets its own process group, its output is read
//! concurrently and capped (Salt-like marker), a timeout sends SIGTERM then
//! SIGKILL to the whole group, and the job's [`Cancel`] flag kills it at once.
//! One runner means the function and the state cannot behave differently.

mod cancel;
mod cap;
mod runner;
mod shlex;

pub use cancel::Cancel;
pub use cap::{
    finish_capped, keep_capped, max_output_bytes, set_max_output_bytes, DEFAULT_MAX_OUTPUT_BYTES,
};
pub use runner::{run, run_async, spawn_detached, Ending, Finished, Run, TERM_GRACE};
pub use shlex::shlex_split;
