//! Execution modules: one file per module, one static table.

pub mod cmd;
pub mod cp;
pub mod disk;
pub mod grains;
pub mod network;
pub mod saltutil;
pub mod status;
pub mod sys;
pub mod test;

use crate::registry::FunctionSpec;

/// Every module's `FUNCTIONS` slice; `registry::functions()` merges and sorts them.
pub static MODULES: &[&[FunctionSpec]] = &[
    cmd::FUNCTIONS,
    cp::FUNCTIONS,
    disk::FUNCTIONS,
    grains::FUNCTIONS,
    network::FUNCTIONS,
    saltutil::FUNCTIONS,
    status::FUNCTIONS,
    sys::FUNCTIONS,
    test::FUNCTIONS,
];
