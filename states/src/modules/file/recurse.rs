//! `file.recurse`: mirror a `salt://` directory onto the minion, one
//! `file.managed` per file and one `file.directory` per directory.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::patterns::{included, PathPatterns};
use super::{directory, managed, perms, source};
use crate::ctx::{StateArgs, StateCtx};
use crate::result::StateResult;

pub const DOC: &str = "Recursively manage a directory from a salt:// directory\n\
name, source, clean, include_empty, include_pat, exclude_pat, maxdepth, template, context, defaults, user, group, dir_mode, file_mode, replace, backup, merge";

pub fn recurse(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.trim_end_matches('/').to_string();
    let name = if name.is_empty() {
        args.name.clone()
    } else {
        name
    };
    if args.get("mode").is_some() {
        return StateResult::fail(
            name,
            "'mode' is not allowed in 'file.recurse'. Please use 'file_mode' and 'dir_mode'.",
        );
    }
    let user = perms::Owner::from_arg(args, "user");
    let group = perms::Owner::from_arg(args, "group");
    if let Some(err) = perms::check_user(user.as_ref(), group.as_ref(), ctx.test) {
        return StateResult::fail(name, err);
    }
    let root = PathBuf::from(&name);
    if !root.is_absolute() {
        return StateResult::fail(
            name.clone(),
            format!("Specified file {name} is not an absolute path"),
        );
    }
    let sources = match pick_sources(ctx, args) {
        Ok(s) => s,
        Err(e) => return StateResult::fail(name, format!("Recurse failed: {e}")),
    };
    if !root.is_dir() {
        if root.exists() {
            return StateResult::fail(
                name.clone(),
                format!("The path {name} exists and is not a directory"),
            );
        }
        if !ctx.test {
            let dir_mode = perms::normalize_mode(args.get("dir_mode"));
            if let Err(e) =
                perms::make_dirs(&root, user.as_ref(), group.as_ref(), dir_mode.as_deref())
            {
                return StateResult::fail(name.clone(), format!("Failed to create {name}: {e}"));
            }
        }
    }

    let (files, dirs) = match managed_paths(ctx, args, &root, &sources) {
        Ok(found) => found,
        Err(e) => return StateResult::fail(name, e),
    };
    let exclude_pat = PathPatterns::from_arg(args.get("exclude_pat"));

    let mut res = StateResult::new(&name);
    let mut comments: Vec<(String, String)> = Vec::new();
    let mut merge = |path: &Path, r: StateResult, res: &mut StateResult| {
        if r.result == Some(false) || res.result == Some(true) {
            res.result = r.result;
        }
        if r.result != Some(true) && !r.comment.is_empty() {
            comments.push((path.display().to_string(), r.comment));
        }
        if !r.changes.is_empty() {
            res.changes
                .insert(path.display().to_string(), Value::Object(r.changes));
        }
    };
    let clean = args.bool("clean", false);
    for d in &dirs {
        if clean && d.exists() && !d.is_dir() {
            if ctx.test {
                let mut r = StateResult::new(&name);
                r.result = None;
                r.comment = format!("Replacing {} with a directory", d.display());
                merge(d, r, &mut res);
                continue;
            }
            let _ = std::fs::remove_file(d);
        }
        let mut dargs = Map::new();
        for k in ["user", "group", "dir_mode"] {
            if let Some(v) = args.get(k) {
                dargs.insert(k.into(), v.clone());
            }
        }
        dargs.insert("makedirs".into(), Value::Bool(true));
        let r = directory::directory(
            ctx,
            &StateArgs {
                name: d.display().to_string(),
                args: dargs,
            },
        );
        merge(d, r, &mut res);
    }
    for (dest, url) in &files {
        if clean && dest.is_dir() && args.bool("replace", true) {
            if ctx.test {
                let mut r = StateResult::new(&name);
                r.result = None;
                r.comment = format!("Replacing directory {} with a file", dest.display());
                merge(dest, r, &mut res);
                continue;
            }
            let _ = std::fs::remove_dir_all(dest);
        }
        let mut margs = args.args.clone();
        for k in [
            "mode",
            "makedirs",
            "clean",
            "include_pat",
            "exclude_pat",
            "maxdepth",
            "include_empty",
            "dir_mode",
            "file_mode",
            "merge",
            "name",
        ] {
            margs.remove(k);
        }
        margs.insert("source".into(), Value::String(url.clone()));
        margs.insert("makedirs".into(), Value::Bool(true));
        if let Some(m) = args.get("file_mode") {
            margs.insert("mode".into(), m.clone());
        }
        let r = managed::managed(
            ctx,
            &StateArgs {
                name: dest.display().to_string(),
                args: margs,
            },
        );
        merge(dest, r, &mut res);
    }

    if clean && root.is_dir() {
        let mut keep: BTreeSet<PathBuf> = BTreeSet::new();
        for dest in files.keys().chain(dirs.iter()) {
            let mut p = Some(dest.as_path());
            while let Some(cur) = p {
                if !keep.insert(cur.to_path_buf()) {
                    break;
                }
                p = cur.parent();
            }
        }
        let mut keep: Vec<String> = keep.iter().map(|p| p.display().to_string()).collect();
        keep.extend(directory::required_keep(ctx, &root));
        let removed = directory::clean_dir(&root, &keep, exclude_pat.as_ref(), ctx.test);
        if !removed.is_empty() {
            let listed: Vec<String> = removed.iter().map(|p| p.display().to_string()).collect();
            if ctx.test {
                if res.result == Some(true) {
                    res.result = None;
                }
                comments.push(("removed".into(), listed.join("\n")));
            } else {
                res.changes.insert(
                    "removed".into(),
                    Value::Array(listed.into_iter().map(Value::String).collect()),
                );
            }
        }
    }

    res.comment = comments
        .iter()
        .map(|(k, v)| format!("\n#### {k} ####\n{v}"))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string();
    if res.comment.is_empty() {
        res.comment = format!("Recursively updated {name}");
    }
    if res.changes.is_empty() && res.result == Some(true) {
        res.comment = format!("The directory {name} is in the correct state");
    }
    res
}

/// Salt's `_filter_recurse_sources` and the listing: for each usable
/// source, (saltenv, `dir/` prefix, files of that env). Only the first
/// unless `merge`.
/// The files (dest -> `salt://` url) and directories `file.recurse` manages
/// under `root`.
pub(super) fn managed_paths(
    ctx: &StateCtx<'_>,
    args: &StateArgs,
    root: &Path,
    sources: &[(String, String, Vec<String>)],
) -> Result<(BTreeMap<PathBuf, String>, BTreeSet<PathBuf>), String> {
    // dest -> salt:// url
    let include_pat = PathPatterns::from_arg(args.get("include_pat"));
    let exclude_pat = PathPatterns::from_arg(args.get("exclude_pat"));
    let maxdepth = args.get("maxdepth").and_then(Value::as_u64);
    let wanted = |rel: &str| {
        !rel.is_empty()
            && maxdepth.is_none_or(|m| rel.matches('/').count() as u64 <= m)
            && included(rel, include_pat.as_ref(), exclude_pat.as_ref())
    };
    let include_empty = args.bool("include_empty", false);
    let mut files: BTreeMap<PathBuf, String> = BTreeMap::new();
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    for (env, prefix, listing) in sources {
        for f in listing {
            let Some(rel) = f.strip_prefix(prefix.as_str()) else {
                continue;
            };
            if !wanted(rel) {
                continue;
            }
            let dest = root.join(rel);
            if files.contains_key(&dest) {
                continue;
            }
            if let Some(parent) = dest.parent() {
                dirs.insert(parent.to_path_buf());
            }
            let url = if *env == ctx.saltenv {
                format!("salt://{f}")
            } else {
                format!("salt://{f}?saltenv={env}")
            };
            files.insert(dest, url);
        }
        // Directories without files are not in the file listing: Salt adds
        // them (filtered like files) when `include_empty` is set.
        if include_empty {
            let listed = match ctx.files.list_dirs(env) {
                Ok(listed) => listed,
                Err(e) => return Err(format!("Recurse failed: {e}")),
            };
            for d in &listed {
                let Some(rel) = d.strip_prefix(prefix.as_str()) else {
                    continue;
                };
                let dest = root.join(rel);
                let occupied = dest.ancestors().any(|a| files.contains_key(a));
                if wanted(rel) && !occupied {
                    dirs.insert(dest);
                }
            }
        }
    }

    Ok((files, dirs))
}

/// What a `file.recurse` chunk manages (its files and directories), for a
/// `file.directory clean` that requires it; `None` when its sources do not
/// resolve.
pub(super) fn managed_by(
    ctx: &StateCtx<'_>,
    low: &Map<String, Value>,
) -> Option<BTreeSet<PathBuf>> {
    let name = low.get("name").map(source::python_str)?;
    let args = StateArgs {
        name: name.clone(),
        args: low.clone(),
    };
    let sources = pick_sources(ctx, &args).ok()?;
    let root = PathBuf::from(name.trim_end_matches('/'));
    let (files, dirs) = managed_paths(ctx, &args, &root, &sources).ok()?;
    let include_empty = args.bool("include_empty", false);
    let mut keep: BTreeSet<PathBuf> = files.into_keys().collect();
    if include_empty {
        keep.extend(dirs);
    }
    Some(keep)
}

fn pick_sources(
    ctx: &StateCtx<'_>,
    args: &StateArgs,
) -> Result<Vec<(String, String, Vec<String>)>, String> {
    let urls = args
        .get("source")
        .map(source::source_urls)
        .unwrap_or_default();
    for u in &urls {
        if !u.starts_with("salt://") {
            return Err(format!("Invalid source '{u}' (must be a salt:// URI)"));
        }
    }
    let mut found = Vec::new();
    for u in urls {
        let rest = u
            .trim_end_matches('/')
            .trim_start_matches("salt://")
            .to_string();
        let (path, env) = source::split_saltenv(&rest);
        let env = env.unwrap_or(&ctx.saltenv).to_string();
        let listing = ctx.files.list(&env).map_err(|e| e.to_string())?;
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{}/", path.trim_end_matches('/'))
        };
        if listing.iter().any(|f| f.starts_with(&prefix)) {
            found.push((env, prefix, listing));
        }
    }
    if found.is_empty() {
        return Err("none of the specified sources were found".into());
    }
    if !args.bool("merge", false) {
        found.truncate(1);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::modules::file::testkit::{snapshot, Kit};

    #[test]
    fn mirrors_a_salt_directory_then_is_in_correct_state() {
        let kit = Kit::new();
        kit.serve("app/conf/a.conf", "a\n");
        kit.serve("app/conf/sub/b.conf", "port={{ port }}\n");
        kit.serve("other/x", "x\n");
        let dest = kit.path("etc/app");
        let args =
            json!({"source": "salt://app/conf", "template": "jinja", "defaults": {"port": 8080}});
        let before = snapshot(&kit.root());
        let dry = kit.run("file.recurse", &dest, args.clone(), true);
        assert_eq!(dry.result, None);
        assert_eq!(
            dry.changes[&format!("{dest}/a.conf")],
            json!({"newfile": format!("{dest}/a.conf")})
        );
        assert_eq!(snapshot(&kit.root()), before);

        let r = kit.run("file.recurse", &dest, args.clone(), false);
        assert_eq!(r.result, Some(true), "{}", r.comment);
        assert_eq!(r.comment, format!("Recursively updated {dest}"));
        let umask_mode = format!("{:04o}", 0o666 & !crate::modules::file::fsio::umask());
        // Salt 3008.5 reports the umask-derived mode for new source files too.
        assert_eq!(
            r.changes[&format!("{dest}/a.conf")],
            json!({"diff": "New file", "mode": umask_mode})
        );
        assert_eq!(
            r.changes[&format!("{dest}/sub")],
            json!({format!("{dest}/sub"): {"directory": "new"}})
        );
        assert_eq!(
            std::fs::read_to_string(format!("{dest}/sub/b.conf")).unwrap(),
            "port=8080\n"
        );
        assert!(!std::path::Path::new(&format!("{dest}/x")).exists());

        let again = kit.run("file.recurse", &dest, args, false);
        assert_eq!(
            again.comment,
            format!("The directory {dest} is in the correct state")
        );
        assert!(again.changes.is_empty(), "{:?}", again.changes);
    }

    #[test]
    fn clean_removes_files_not_in_the_source() {
        let kit = Kit::new();
        kit.serve("site/index.html", "hi\n");
        let dest = kit.path("www");
        std::fs::create_dir_all(format!("{dest}/old")).unwrap();
        std::fs::write(format!("{dest}/stale.html"), "x").unwrap();
        let args = json!({"source": "salt://site", "clean": true});
        let dry = kit.run("file.recurse", &dest, args.clone(), true);
        assert!(dry.comment.contains("#### removed ####"), "{}", dry.comment);
        assert!(std::path::Path::new(&format!("{dest}/stale.html")).exists());
        let r = kit.run("file.recurse", &dest, args, false);
        assert_eq!(r.result, Some(true), "{}", r.comment);
        assert!(r.changes.contains_key("removed"));
        assert!(!std::path::Path::new(&format!("{dest}/stale.html")).exists());
        assert!(!std::path::Path::new(&format!("{dest}/old")).exists());
        assert!(std::path::Path::new(&format!("{dest}/index.html")).exists());
    }

    #[test]
    fn test_mode_comment_lists_each_change_like_salt() {
        let kit = Kit::new();
        kit.serve("app/a.conf", "a\n");
        let dest = kit.path("rc");
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::write(format!("{dest}/a.conf"), "zz\n").unwrap();
        std::fs::write(format!("{dest}/extra"), "").unwrap();
        let r = kit.run(
            "file.recurse",
            &dest,
            json!({"source": "salt://app", "clean": true}),
            true,
        );
        // Shape taken from Salt 3008.5 on the same tree.
        assert_eq!(
            r.comment,
            format!(
                "#### {dest}/a.conf ####\nThe file {dest}/a.conf is set to be changed\nNote: No changes made, actual changes may\nbe different due to other states.\n\n#### removed ####\n{dest}/extra"
            )
        );
        assert_eq!(
            r.changes,
            *json!({format!("{dest}/a.conf"): {"diff": "--- \n+++ \n@@ -1 +1 @@\n-zz\n+a\n"}})
                .as_object()
                .unwrap()
        );
    }

    /// The tree and patterns of a Salt 3008.5 run: `e2` and `sub/empty` are
    /// empty source directories.
    fn empty_dirs_kit() -> Kit {
        let kit = Kit::new();
        kit.serve("tree/a.txt", "a\n");
        kit.serve("tree/sub/b.txt", "b\n");
        kit.serve("tree/skipme/c.txt", "c\n");
        for d in ["tree/e2", "tree/sub/empty", "tree/skipdir"] {
            std::fs::create_dir_all(kit.tmp.path().join("srv").join(d)).unwrap();
        }
        kit
    }

    #[test]
    fn include_empty_creates_empty_source_directories() {
        let kit = empty_dirs_kit();
        let dest = kit.path("rec");
        let args = json!({"source": "salt://tree", "include_empty": true, "exclude_pat": "skip*"});
        let r = kit.run("file.recurse", &dest, args.clone(), false);
        assert_eq!(r.result, Some(true), "{}", r.comment);
        for d in ["e2", "sub/empty"] {
            let p = format!("{dest}/{d}");
            assert!(std::path::Path::new(&p).is_dir(), "{p} missing");
            assert_eq!(r.changes[&p], json!({p.clone(): {"directory": "new"}}));
        }
        assert!(!std::path::Path::new(&format!("{dest}/skipdir")).exists());
        assert!(!std::path::Path::new(&format!("{dest}/skipme")).exists());
        let again = kit.run("file.recurse", &dest, args, false);
        assert!(again.changes.is_empty(), "{:?}", again.changes);

        // Without include_empty only directories holding files are made.
        let plain = kit.path("plain");
        kit.run(
            "file.recurse",
            &plain,
            json!({"source": "salt://tree"}),
            false,
        );
        assert!(std::path::Path::new(&format!("{plain}/sub/b.txt")).is_file());
        assert!(!std::path::Path::new(&format!("{plain}/e2")).exists());
        assert!(!std::path::Path::new(&format!("{plain}/sub/empty")).exists());
    }

    #[test]
    fn include_pat_lists_and_maxdepth_filter_files_and_empty_dirs() {
        let kit = empty_dirs_kit();
        let dest = kit.path("rec2");
        let args = json!({
            "source": "salt://tree", "include_empty": true,
            "include_pat": ["E@^sub", "a.*"], "maxdepth": 1
        });
        let r = kit.run("file.recurse", &dest, args, false);
        assert_eq!(r.result, Some(true), "{}", r.comment);
        let mut made: Vec<String> = walk(&kit.root().join("rec2"));
        made.sort();
        assert_eq!(made, vec!["a.txt", "sub", "sub/b.txt", "sub/empty"]);
    }

    fn walk(root: &std::path::Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                out.push(p.strip_prefix(root).unwrap().display().to_string());
                if p.is_dir() {
                    stack.push(p);
                }
            }
        }
        out
    }

    #[test]
    fn bad_sources_fail_like_salt() {
        let kit = Kit::new();
        let dest = kit.path("d");
        let r = kit.run(
            "file.recurse",
            &dest,
            json!({"source": "salt://nothing"}),
            false,
        );
        assert_eq!(
            r.comment,
            "Recurse failed: none of the specified sources were found"
        );
        let r = kit.run("file.recurse", &dest, json!({"source": "/srv/x"}), false);
        assert_eq!(
            r.comment,
            "Recurse failed: Invalid source '/srv/x' (must be a salt:// URI)"
        );
        let r = kit.run(
            "file.recurse",
            &dest,
            json!({"source": "salt://x", "mode": 644}),
            false,
        );
        assert_eq!(r.result, Some(false));
    }
}
