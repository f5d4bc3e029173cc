//! Execution modules: one file per module, one static table.

pub mod alternatives;
pub mod archive;
pub mod cmd;
pub mod config;
pub mod cp;
pub mod data;
pub mod defaults;
pub mod disk;
pub mod event;
pub mod file;
pub mod git;
pub mod grains;
pub mod http;
pub mod log;
pub mod match_;
pub mod mine;
pub mod network;
pub mod pillar;
pub mod pkg;
pub mod saltutil;
pub mod slsutil;
pub mod state;
pub mod status;
pub mod sys;
pub mod test;
pub mod user;

use crate::registry::FunctionSpec;

/// Every module's `FUNCTIONS` slice; `registry::functions()` merges and sorts them.
pub static MODULES: &[&[FunctionSpec]] = &[
    alternatives::FUNCTIONS,
    archive::FUNCTIONS,
    cmd::FUNCTIONS,
    config::FUNCTIONS,
    cp::FUNCTIONS,
    defaults::FUNCTIONS,
    disk::FUNCTIONS,
    event::FUNCTIONS,
    file::FUNCTIONS,
    file::write::FUNCTIONS,
    git::FUNCTIONS,
    grains::FUNCTIONS,
    http::FUNCTIONS,
    log::FUNCTIONS,
    match_::FUNCTIONS,
    mine::FUNCTIONS,
    network::FUNCTIONS,
    pillar::FUNCTIONS,
    pkg::FUNCTIONS,
    saltutil::FUNCTIONS,
    saltutil::SYNC_FUNCTIONS,
    slsutil::FUNCTIONS,
    state::FUNCTIONS,
    status::FUNCTIONS,
    sys::FUNCTIONS,
    test::FUNCTIONS,
    user::FUNCTIONS,
];
