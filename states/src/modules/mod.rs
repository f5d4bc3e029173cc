//! State modules, one file each (`file` is a directory: one file per
//! function family). Each exports `STATES: &[StateSpec]`, listed once in
//! [`MODULES`].

use crate::registry::StateSpec;

pub mod archive;
pub mod cmd;
pub mod cron;
pub mod event;
pub mod file;
pub mod git;
pub mod grains;
pub mod group;
pub mod host;
pub mod locale;
pub mod module;
pub mod mount;
pub mod pip;
pub mod pkg;
pub mod pkgrepo;
pub mod service;
pub mod ssh_auth;
pub mod ssh_known_hosts;
pub mod sys;
pub mod sysctl;
pub mod test;
pub mod timezone;
pub mod user;

pub const MODULES: &[&[StateSpec]] = &[
    archive::STATES,
    cmd::STATES,
    cron::STATES,
    event::STATES,
    file::STATES,
    git::STATES,
    grains::STATES,
    group::STATES,
    host::STATES,
    locale::STATES,
    mount::STATES,
    module::STATES,
    pip::STATES,
    pkg::STATES,
    pkgrepo::STATES,
    service::STATES,
    ssh_auth::STATES,
    ssh_known_hosts::STATES,
    sysctl::STATES,
    test::STATES,
    timezone::STATES,
    user::STATES,
];
