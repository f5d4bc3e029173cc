//! `file.*` states, one file per function family; shared pieces in `perms`
//! (owner, group, mode), `source` (where content comes from), `diff` and
//! `fsio` (writing and backups).

use crate::registry::{StateFn, StateSpec};

pub mod absent;
pub mod copy;
pub mod diff;
pub mod directory;
pub mod edit;
pub mod fsio;
pub mod managed;
pub mod perms;
pub mod recurse;
pub mod serialize;
pub mod source;
pub mod symlink;
pub mod touch;

#[cfg(test)]
pub(crate) mod testkit;

pub const STATES: &[StateSpec] = &[
    spec("file.absent", absent::ABSENT_DOC, absent::absent),
    spec("file.append", edit::APPEND_DOC, edit::append),
    spec(
        "file.blockreplace",
        edit::BLOCKREPLACE_DOC,
        edit::blockreplace,
    ),
    spec("file.comment", edit::COMMENT_DOC, edit::comment),
    spec("file.copy", copy::DOC, copy::copy),
    spec("file.directory", directory::DOC, directory::directory),
    spec("file.exists", absent::EXISTS_DOC, absent::exists),
    spec("file.line", edit::LINE_DOC, edit::line),
    spec("file.managed", managed::DOC, managed::managed),
    spec("file.missing", absent::MISSING_DOC, absent::missing),
    spec("file.prepend", edit::PREPEND_DOC, edit::prepend),
    spec("file.recurse", recurse::DOC, recurse::recurse),
    spec("file.replace", edit::REPLACE_DOC, edit::replace),
    spec("file.serialize", serialize::DOC, serialize::serialize),
    spec("file.symlink", symlink::DOC, symlink::symlink),
    spec("file.touch", touch::DOC, touch::touch),
    spec("file.uncomment", edit::UNCOMMENT_DOC, edit::uncomment),
];

const fn spec(name: &'static str, doc: &'static str, run: StateFn) -> StateSpec {
    StateSpec {
        name,
        doc,
        run,
        mod_watch: None,
    }
}
