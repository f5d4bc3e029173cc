//! `file.touch`.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::perms;
use crate::ctx::{StateArgs, StateCtx};
use crate::result::StateResult;

pub const DOC: &str = "Create an empty file or update its access and modification times\nname, atime, mtime, makedirs";

fn time_arg(args: &StateArgs, key: &str) -> Option<u64> {
    args.get(key).and_then(|v| match v {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().map(|f| f as u64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    })
}

fn one(key: &str, name: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(key.into(), Value::String(name.into()));
    m
}

pub fn touch(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    if name.is_empty() {
        return StateResult::fail(name, "Must provide name to file.touch");
    }
    let path = Path::new(name);
    if !path.is_absolute() {
        return StateResult::fail(
            name,
            format!("Specified file {name} is not an absolute path"),
        );
    }
    let atime = time_arg(args, "atime");
    let mtime = time_arg(args, "mtime");
    if ctx.test {
        if !path.exists() {
            return StateResult::would(
                name,
                format!("File {name} is set to be created"),
                one("new", name),
            );
        }
        let meta = std::fs::symlink_metadata(path).ok();
        let secs = |t: std::io::Result<SystemTime>| {
            t.ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs())
        };
        let cur_a = meta.as_ref().and_then(|m| secs(m.accessed()));
        let cur_m = meta.as_ref().and_then(|m| secs(m.modified()));
        if (atime.is_some() && atime != cur_a) || (mtime.is_some() && mtime != cur_m) {
            return StateResult::would(
                name,
                format!("Times set to be updated on file {name}"),
                one("touched", name),
            );
        }
        // Salt keeps `changes: {new: name}` here, with result True.
        return StateResult {
            changes: one("new", name),
            ..StateResult::ok(
                name,
                format!("File {name} exists and has the correct times"),
            )
        };
    }
    let parent = path.parent().unwrap_or(Path::new("/"));
    if args.bool("makedirs", false) && !parent.is_dir() {
        if let Err(e) = perms::make_dirs(parent, None, None, None) {
            return StateResult::fail(name, format!("Failed to create {}: {e}", parent.display()));
        }
    }
    if !parent.is_dir() {
        return StateResult::fail(name, format!("Directory not present to touch file {name}"));
    }
    let extant = path.exists();
    let touched = (|| {
        if !extant {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
        }
        let now = SystemTime::now();
        let at = |t: Option<u64>| t.map_or(now, |s| UNIX_EPOCH + Duration::from_secs(s));
        let times = std::fs::FileTimes::new()
            .set_accessed(at(atime.or(mtime)))
            .set_modified(at(mtime.or(atime)));
        std::fs::File::open(path)?.set_times(times)
    })();
    if let Err(e) = touched {
        return StateResult::fail(name, format!("Could not touch {name}: {e}"));
    }
    if !extant {
        StateResult {
            changes: one("new", name),
            ..StateResult::ok(name, format!("Created empty file {name}"))
        }
    } else {
        let kind = if path.is_dir() { "directory" } else { "file" };
        StateResult {
            changes: one("touched", name),
            ..StateResult::ok(name, format!("Updated times on {kind} {name}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::modules::file::testkit::{snapshot, Kit};

    #[test]
    fn creates_then_updates_times() {
        let kit = Kit::new();
        let f = kit.path("t");
        let before = snapshot(&kit.root());
        let dry = kit.run("file.touch", &f, json!({}), true);
        assert_eq!(
            (dry.result, dry.comment),
            (None, format!("File {f} is set to be created"))
        );
        assert_eq!(snapshot(&kit.root()), before);
        let r = kit.run("file.touch", &f, json!({}), false);
        assert_eq!(r.comment, format!("Created empty file {f}"));
        assert_eq!(r.changes, *json!({"new": f}).as_object().unwrap());
        let r = kit.run("file.touch", &f, json!({"mtime": 1_000_000_000}), false);
        assert_eq!(r.comment, format!("Updated times on file {f}"));
        let m = std::fs::metadata(&f).unwrap().modified().unwrap();
        assert_eq!(
            m.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
            1_000_000_000
        );
        let dry = kit.run("file.touch", &f, json!({"mtime": 1_000_000_000}), true);
        assert_eq!(dry.result, Some(true), "{}", dry.comment);
    }

    #[test]
    fn missing_directory_needs_makedirs() {
        let kit = Kit::new();
        let f = kit.path("a/t");
        let r = kit.run("file.touch", &f, json!({}), false);
        assert_eq!(
            r.comment,
            format!("Directory not present to touch file {f}")
        );
        let r = kit.run("file.touch", &f, json!({"makedirs": true}), false);
        assert_eq!(r.result, Some(true));
    }
}
