//! `file.*` states, one file per function family; shared pieces in `perms`
//! (owner, group, mode), `source` (where content comes from), `diff` and
//! `fsio` (writing and backups).

use crate::registry::{StateFn, StateSpec};

pub mod absent;
pub mod diff;
pub mod directory;
pub mod fsio;
pub mod managed;
pub mod perms;
pub mod source;
pub mod symlink;

#[cfg(test)]
pub(crate) mod testkit;

pub const STATES: &[StateSpec] = &[
    spec("file.absent", absent::ABSENT_DOC, absent::absent),
    spec("file.directory", directory::DOC, directory::directory),
    spec("file.exists", absent::EXISTS_DOC, absent::exists),
    spec("file.managed", managed::DOC, managed::managed),
    spec("file.missing", absent::MISSING_DOC, absent::missing),
    spec("file.symlink", symlink::DOC, symlink::symlink),
];

const fn spec(name: &'static str, doc: &'static str, run: StateFn) -> StateSpec {
    StateSpec {
        name,
        doc,
        run,
        mod_watch: None,
    }
}
