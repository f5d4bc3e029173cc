//! `file.*` states, one file per function family; shared pieces in `perms`
//! (owner, group, mode), `source` (where content comes from), `diff` and
//! `fsio` (writing and backups).

use crate::registry::{StateFn, StateSpec};

pub mod absent;
pub mod accumulated;
pub mod copy;
pub mod diff;
pub mod directory;
pub mod edit;
pub mod fsio;
pub mod hashes;
pub mod keyvalue;
pub mod managed;
pub mod patterns;
pub mod perms;
pub mod recurse;
pub mod remote;
pub mod serialize;
pub mod source;
pub mod symlink;
pub mod touch;

#[cfg(test)]
pub(crate) mod http_tests;
#[cfg(test)]
pub(crate) mod testkit;

pub const STATES: &[StateSpec] = &[
    spec("file.absent", absent::ABSENT_DOC, absent::absent),
    spec(
        "file.accumulated",
        accumulated::DOC,
        accumulated::accumulated,
    ),
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
    spec("file.keyvalue", keyvalue::DOC, keyvalue::keyvalue),
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::testkit::{snapshot, Kit};

    /// Every `file.*` state under `test=True` leaves the tree untouched and
    /// says what it would change.
    #[test]
    fn dry_runs_change_nothing() {
        let kit = Kit::new();
        kit.serve("app/a.conf", "a\n");
        let existing = kit.path("existing");
        std::fs::write(&existing, "foo=1\n# BEGIN\nold\n# END\n").unwrap();
        std::fs::create_dir_all(kit.path("dir/sub")).unwrap();
        std::fs::write(kit.path("dir/sub/f"), "x").unwrap();
        let cases = [
            (
                "file.managed",
                kit.path("new"),
                json!({"source": "salt://app/a.conf"}),
            ),
            (
                "file.managed",
                existing.clone(),
                json!({"contents": "other", "mode": "0600"}),
            ),
            (
                "file.directory",
                kit.path("dir"),
                json!({"dir_mode": "0700", "recurse": ["mode"], "clean": true}),
            ),
            ("file.absent", kit.path("dir"), json!({})),
            (
                "file.symlink",
                kit.path("ln"),
                json!({"target": "/etc/hosts"}),
            ),
            (
                "file.recurse",
                kit.path("rec"),
                json!({"source": "salt://app"}),
            ),
            (
                "file.replace",
                existing.clone(),
                json!({"pattern": "foo", "repl": "bar"}),
            ),
            (
                "file.line",
                existing.clone(),
                json!({"mode": "insert", "location": "end", "content": "z"}),
            ),
            ("file.append", existing.clone(), json!({"text": "new line"})),
            ("file.prepend", existing.clone(), json!({"text": "top"})),
            (
                "file.blockreplace",
                existing.clone(),
                json!({"marker_start": "# BEGIN", "marker_end": "# END", "content": "n"}),
            ),
            ("file.comment", existing.clone(), json!({"regex": "^foo"})),
            ("file.touch", kit.path("touched"), json!({})),
            ("file.copy", kit.path("copied"), json!({"source": existing})),
            (
                "file.serialize",
                kit.path("s.json"),
                json!({"dataset": {"a": 1}, "serializer": "json"}),
            ),
        ];
        for (fun, name, args) in cases {
            let before = snapshot(&kit.root());
            let r = kit.run(fun, &name, args, true);
            assert_eq!(snapshot(&kit.root()), before, "{fun} changed the tree");
            assert_eq!(r.result, None, "{fun}: {}", r.comment);
            // Salt's file.copy says what it would copy in its comment only
            let reports_changes = fun != "file.copy";
            assert_eq!(
                !r.changes.is_empty(),
                reports_changes,
                "{fun}: {:?}",
                r.changes
            );
        }
        let cache = kit.tmp.path().join("cache");
        assert!(!cache.exists(), "a dry run wrote to the cachedir");
    }
}
