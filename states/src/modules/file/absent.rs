//! `file.absent`, `file.exists`, `file.missing`.

use std::path::Path;

use serde_json::Value;

use crate::ctx::{StateArgs, StateCtx};
use crate::result::StateResult;

pub const ABSENT_DOC: &str = "Make sure a file or directory (recursively) does not exist\nname";
pub const EXISTS_DOC: &str = "Verify that a path exists, changing nothing\nname";
pub const MISSING_DOC: &str = "Verify that a path does not exist, changing nothing\nname";

pub fn absent(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    if name.is_empty() {
        return StateResult::fail(name, "Must provide name to file.absent");
    }
    let path = Path::new(name);
    if !path.is_absolute() {
        return StateResult::fail(
            name,
            format!("Specified file {name} is not an absolute path"),
        );
    }
    if name == "/" {
        return StateResult::fail(name, "Refusing to make \"/\" absent");
    }
    let is_dir = path.is_dir() && !path.is_symlink();
    if !path.exists() && !path.is_symlink() {
        return StateResult::ok(name, format!("File {name} is not present"));
    }
    let kind = if is_dir { "Directory" } else { "File" };
    let mut changes = serde_json::Map::new();
    changes.insert("removed".into(), Value::String(name.to_string()));
    if ctx.test {
        return StateResult::would(name, format!("{kind} {name} is set for removal"), changes);
    }
    let removed = if is_dir {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match removed {
        Ok(()) => StateResult {
            changes,
            ..StateResult::ok(name, format!("Removed {} {name}", kind.to_lowercase()))
        },
        Err(_) if is_dir => StateResult::fail(name, format!("Failed to remove directory {name}")),
        Err(e) => StateResult::fail(name, format!("Could not remove {name}: {e}")),
    }
}

pub fn exists(_ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    if name.is_empty() {
        return StateResult::fail(name, "Must provide name to file.exists");
    }
    if !Path::new(name).exists() {
        return StateResult::fail(name, format!("Specified path {name} does not exist"));
    }
    StateResult::ok(name, format!("Path {name} exists"))
}

pub fn missing(_ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    if name.is_empty() {
        return StateResult::fail(name, "Must provide name to file.missing");
    }
    if Path::new(name).exists() {
        return StateResult::fail(name, format!("Specified path {name} exists"));
    }
    StateResult::ok(name, format!("Path {name} is missing"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::modules::file::testkit::{snapshot, Kit};

    #[test]
    fn removes_files_and_directories_once() {
        let kit = Kit::new();
        let f = kit.path("f");
        std::fs::write(&f, "x").unwrap();
        let before = snapshot(&kit.root());
        let dry = kit.run("file.absent", &f, json!({}), true);
        assert_eq!(
            (dry.result, dry.comment.clone()),
            (None, format!("File {f} is set for removal"))
        );
        assert_eq!(dry.changes, *json!({"removed": f}).as_object().unwrap());
        assert_eq!(snapshot(&kit.root()), before);
        let r = kit.run("file.absent", &f, json!({}), false);
        assert_eq!(r.comment, format!("Removed file {f}"));
        let r = kit.run("file.absent", &f, json!({}), false);
        assert_eq!(
            (r.result, r.comment),
            (Some(true), format!("File {f} is not present"))
        );

        let d = kit.path("d");
        std::fs::create_dir_all(format!("{d}/sub")).unwrap();
        let r = kit.run("file.absent", &d, json!({}), false);
        assert_eq!(r.comment, format!("Removed directory {d}"));
        assert!(!std::path::Path::new(&d).exists());
        let r = kit.run("file.absent", "/", json!({}), false);
        assert_eq!(r.result, Some(false));
    }

    #[test]
    fn exists_and_missing_only_check() {
        let kit = Kit::new();
        let f = kit.path("f");
        let r = kit.run("file.exists", &f, json!({}), false);
        assert_eq!(
            (r.result, r.comment),
            (Some(false), format!("Specified path {f} does not exist"))
        );
        let r = kit.run("file.missing", &f, json!({}), false);
        assert_eq!(
            (r.result, r.comment),
            (Some(true), format!("Path {f} is missing"))
        );
        std::fs::write(&f, "").unwrap();
        let r = kit.run("file.exists", &f, json!({}), true);
        assert_eq!(
            (r.result, r.comment),
            (Some(true), format!("Path {f} exists"))
        );
        let r = kit.run("file.missing", &f, json!({}), false);
        assert_eq!(
            (r.result, r.comment),
            (Some(false), format!("Specified path {f} exists"))
        );
    }
}
