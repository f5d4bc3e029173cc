//! Execution modules: one file per module, one static table.

pub mod alternatives;
pub mod archive;
pub mod beacons;
pub mod cmd;
pub mod config;
pub mod cp;
pub mod cron;
pub mod data;
pub mod defaults;
pub mod disk;
pub mod environ;
pub mod event;
pub mod file;
pub mod git;
pub mod grains;
pub mod group;
pub mod hosts;
pub mod http;
pub mod locale;
pub mod log;
pub mod match_;
pub mod mine;
pub mod mount;
pub mod network;
pub mod pillar;
pub mod pkg;
pub mod ps;
pub mod saltutil;
pub mod service;
pub mod slsutil;
pub mod ssh;
pub mod state;
pub mod status;
pub mod sys;
pub mod sysctl;
pub mod sysexec;
pub mod system;
pub mod test;
pub mod timezone;
pub mod user;

use crate::registry::FunctionSpec;

/// Every module's `FUNCTIONS` slice; `registry::functions()` merges and sorts them.
pub static MODULES: &[&[FunctionSpec]] = &[
    alternatives::FUNCTIONS,
    archive::FUNCTIONS,
    beacons::FUNCTIONS,
    cmd::FUNCTIONS,
    config::FUNCTIONS,
    cp::FUNCTIONS,
    cron::FUNCTIONS,
    defaults::FUNCTIONS,
    disk::FUNCTIONS,
    environ::FUNCTIONS,
    event::FUNCTIONS,
    file::FUNCTIONS,
    file::write::FUNCTIONS,
    git::FUNCTIONS,
    grains::FUNCTIONS,
    locale::FUNCTIONS,
    group::FUNCTIONS,
    hosts::FUNCTIONS,
    http::FUNCTIONS,
    log::FUNCTIONS,
    match_::FUNCTIONS,
    mine::FUNCTIONS,
    mount::FUNCTIONS,
    network::FUNCTIONS,
    pillar::FUNCTIONS,
    pkg::FUNCTIONS,
    ps::FUNCTIONS,
    saltutil::FUNCTIONS,
    service::FUNCTIONS,
    saltutil::SYNC_FUNCTIONS,
    slsutil::FUNCTIONS,
    ssh::FUNCTIONS,
    state::FUNCTIONS,
    status::FUNCTIONS,
    sys::FUNCTIONS,
    sysctl::FUNCTIONS,
    system::FUNCTIONS,
    test::FUNCTIONS,
    timezone::FUNCTIONS,
    user::FUNCTIONS,
];
