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
pub mod module;
pub mod pip;
pub mod pkg;
pub mod service;
pub mod sys;
pub mod sysctl;
pub mod test;
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
    module::STATES,
    pip::STATES,
    pkg::STATES,
    service::STATES,
    sysctl::STATES,
    test::STATES,
    user::STATES,
];
