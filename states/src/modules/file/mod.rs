//! `file.*` states, one file per function family; shared pieces in `perms`
//! (owner, group, mode), `source` (where content comes from), `diff` and
//! `fsio` (writing and backups).

use crate::registry::StateSpec;

pub mod diff;
pub mod fsio;
pub mod managed;
pub mod perms;
pub mod source;

#[cfg(test)]
pub(crate) mod testkit;

pub const STATES: &[StateSpec] = &[StateSpec {
    name: "file.managed",
    doc: managed::DOC,
    run: managed::managed,
    mod_watch: None,
}];
