//! From SLS files to high data, as Salt's `BaseHighState` builds it: render
//! each SLS, pull in its includes (depth first, once each), fold `extend` and
//! `exclude` into `__extend__`/`__exclude__`, tag every ID with `__sls__` and
//! `__env__`, and number states in render order (`order: 10000, 10001...`).
//!
//! The result is exactly what `state.show_sls` prints; turning it into low
//! chunks and running them is `high`/`runtime`'s job.

mod fnmatch;
mod sls;
mod top;

pub use sls::{HighCompiler, SlsRenderer};
pub use top::{top_matches, TopMatches};

/// Python's `fnmatch.filter` over SLS names.
pub fn fnmatch_filter<'a>(names: &'a [String], pattern: &str) -> Vec<&'a String> {
    fnmatch::filter(names, pattern)
}
