//! Execution modules: one file per module, one static table.

pub mod cmd;
pub mod config;
pub mod cp;
pub mod data;
pub mod defaults;
pub mod disk;
pub mod file;
pub mod grains;
pub mod log;
pub mod match_;
pub mod network;
pub mod pillar;
pub mod saltutil;
pub mod slsutil;
pub mod state;
pub mod status;
pub mod sys;
pub mod test;

use crate::registry::FunctionSpec;

/// Every module's `FUNCTIONS` slice; `registry::functions()` merges and sorts them.
pub static MODULES: &[&[FunctionSpec]] = &[
    cmd::FUNCTIONS,
    config::FUNCTIONS,
    cp::FUNCTIONS,
    defaults::FUNCTIONS,
    disk::FUNCTIONS,
    file::FUNCTIONS,
    grains::FUNCTIONS,
    log::FUNCTIONS,
    match_::FUNCTIONS,
    network::FUNCTIONS,
    pillar::FUNCTIONS,
    saltutil::FUNCTIONS,
    slsutil::FUNCTIONS,
    state::FUNCTIONS,
    status::FUNCTIONS,
    sys::FUNCTIONS,
    test::FUNCTIONS,
];
