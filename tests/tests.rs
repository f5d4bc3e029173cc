//! Integration tests: one binary, one harness (`harness/lib.rs`).

mod it;
