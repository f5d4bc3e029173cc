//! `file.directory`: a directory, its owner and mode, optionally applied
//! recursively (`recurse: [user, group, mode]`) and cleaned (`clean`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::patterns::PathPatterns;
use super::perms::{self, Owner};
use crate::ctx::{StateArgs, StateCtx};
use crate::result::StateResult;

pub const DOC: &str = "Ensure a directory exists with the given owner and mode\n\
name, user, group, dir_mode (mode), file_mode, makedirs, recurse, clean, exclude_pat, force, allow_symlink";

/// Every entry under `root` (not `root` itself), parents before children:
/// (path, is_dir).
pub fn walk(root: &Path) -> Vec<(PathBuf, bool)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(root) else {
        return out;
    };
    let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let is_dir = p.is_dir() && !p.is_symlink();
        out.push((p.clone(), is_dir));
        if is_dir {
            out.extend(walk(&p));
        }
    }
    out
}

/// Salt's `_gen_keep_files`: what the states named by this chunk's
/// `require: [{file: X}]` manage, which `clean` must keep. A required state
/// (matched by name or ID) naming a directory under `root` keeps all of it
/// (a `file.recurse` only what it manages), a directory elsewhere nothing,
/// anything else its path.
pub fn required_keep(ctx: &StateCtx<'_>, root: &Path) -> Vec<String> {
    let mut keep: BTreeSet<String> = BTreeSet::new();
    let Some(Value::Array(require)) = ctx.run.low.get("require") else {
        return Vec::new();
    };
    for comp in require {
        let Some(wanted) = comp.as_object().and_then(|m| m.get("file")) else {
            continue;
        };
        for low in ctx.run.lowstate.iter() {
            if low.get("name") != Some(wanted) && low.get("__id__") != Some(wanted) {
                continue;
            }
            let Some(fname) = low.get("name").and_then(Value::as_str) else {
                continue;
            };
            let path = Path::new(fname);
            if !path.is_dir() {
                keep.insert(fname.to_string());
                continue;
            }
            if !is_child(path, root) {
                continue;
            }
            if low.get("fun").and_then(Value::as_str) == Some("recurse") {
                if let Some(managed) = super::recurse::managed_by(ctx, low) {
                    keep.extend(managed.iter().map(|p| p.display().to_string()));
                }
            } else {
                keep.insert(fname.to_string());
                for (p, _) in walk(path) {
                    keep.insert(p.display().to_string());
                }
            }
        }
    }
    keep.into_iter().collect()
}

/// `path` is `dir` or below it (Salt's `_is_child`: the relative path
/// does not climb out).
fn is_child(path: &Path, dir: &Path) -> bool {
    let norm = |p: &Path| {
        let mut out = PathBuf::new();
        for c in p.components() {
            match c {
                std::path::Component::ParentDir => {
                    out.pop();
                }
                std::path::Component::CurDir => {}
                other => out.push(other),
            }
        }
        out
    };
    norm(path).starts_with(norm(dir))
}

/// Salt's `_clean_dir`: removes what is under `root` except the kept paths
/// (and their parents) and what `exclude_pat` matches, top-down, so a
/// removed directory's children are not listed (under `test` nothing is
/// removed, and the walk goes on into them). Returns what was (or would
/// be) removed.
pub fn clean_dir(
    root: &Path,
    keep: &[String],
    exclude_pat: Option<&PathPatterns>,
    test: bool,
) -> Vec<PathBuf> {
    let mut real_keep: BTreeSet<PathBuf> = BTreeSet::new();
    real_keep.insert(root.to_path_buf());
    for k in keep {
        let p = Path::new(k);
        if p.is_absolute() {
            real_keep.extend(p.ancestors().map(Path::to_path_buf));
        }
    }
    let mut removed = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        entries.sort();
        let mut subdirs = Vec::new();
        for p in entries {
            let is_dir = p.is_dir() && !p.is_symlink();
            let rel = p.strip_prefix(root).unwrap_or(&p).to_string_lossy();
            let excluded = exclude_pat.is_some_and(|pat| pat.any_match(&rel));
            if !real_keep.contains(&p) && !excluded {
                if !test {
                    remove_all(std::slice::from_ref(&p));
                }
                removed.push(p.clone());
            }
            if is_dir && p.exists() {
                subdirs.push(p);
            }
        }
        pending.extend(subdirs.into_iter().rev());
    }
    removed
}

/// Removes `paths` (children of removed directories may be gone already).
pub fn remove_all(paths: &[PathBuf]) {
    for p in paths {
        if p.is_dir() && !p.is_symlink() {
            let _ = std::fs::remove_dir_all(p);
        } else {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn recurse_set(args: &StateArgs) -> Result<BTreeSet<String>, String> {
    let Some(v) = args.get("recurse") else {
        return Ok(BTreeSet::new());
    };
    let items: Vec<String> = match v {
        Value::Array(a) => a
            .iter()
            .map(|i| i.as_str().unwrap_or_default().to_string())
            .collect(),
        Value::String(s) => vec![s.clone()],
        _ => return Err("\"recurse\" must be formed as a list of strings".to_string()),
    };
    let allowed = [
        "user",
        "group",
        "mode",
        "ignore_files",
        "ignore_dirs",
        "silent",
    ];
    for i in &items {
        if !allowed.contains(&i.as_str()) {
            return Err(format!(
                "Types for \"recurse\" limited to \"user\", \"group\", \"mode\", \"ignore_files\", \"ignore_dirs\" and \"silent\". Not {i}"
            ));
        }
    }
    Ok(items.into_iter().collect())
}

pub fn directory(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let mut name = args.name.clone();
    if name.is_empty() {
        return StateResult::fail(name, "Must provide name to file.directory");
    }
    if name.ends_with('/') && name != "/" {
        name.pop();
    }
    let user = Owner::from_arg(args, "user");
    let group = Owner::from_arg(args, "group");
    let dir_mode = perms::normalize_mode(args.get("dir_mode").or_else(|| args.get("mode")));
    let file_mode = perms::normalize_mode(args.get("file_mode")).or_else(|| dir_mode.clone());
    let clean = args.bool("clean", false);
    let exclude_pat = PathPatterns::from_arg(args.get("exclude_pat"));
    let force = args.bool("force", false);
    let follow = args.bool("follow_symlinks", false);
    if let Some(err) = perms::check_user(user.as_ref(), group.as_ref(), ctx.test) {
        return StateResult::fail(name, err);
    }
    let path = PathBuf::from(&name);
    if !path.is_absolute() {
        return StateResult::fail(
            name.clone(),
            format!("Specified file {name} is not an absolute path"),
        );
    }
    let recurse = match recurse_set(args) {
        Ok(r) => r,
        Err(e) => return StateResult::fail(name, e),
    };

    let mut res = StateResult::new(&name);
    let allow_symlink = args.bool("allow_symlink", true);
    if path.is_file() || (path.is_symlink() && (!allow_symlink || force)) {
        if !force {
            let what = if path.is_file() {
                "a file"
            } else {
                "a symlink"
            };
            return StateResult::fail(
                name.clone(),
                format!("Specified location {name} exists and is {what}"),
            );
        }
        let kind = if path.is_symlink() { "Symlink" } else { "File" };
        if ctx.test {
            res.changes.insert(
                "forced".into(),
                format!("{kind} would be forcibly replaced").into(),
            );
        } else {
            let _ = std::fs::remove_file(&path);
            res.changes.insert(
                "forced".into(),
                format!("{kind} was forcibly replaced").into(),
            );
        }
    }

    // What would change, per path (Salt's `_check_directory`).
    let (r_user, r_group, r_dmode, r_fmode) = if recurse.is_empty() {
        (None, None, None, None)
    } else {
        let mode = recurse.contains("mode");
        (
            user.as_ref().filter(|_| recurse.contains("user")),
            group.as_ref().filter(|_| recurse.contains("group")),
            dir_mode.as_deref().filter(|_| mode),
            file_mode.as_deref().filter(|_| mode),
        )
    };
    let mut planned = Map::new();
    let entries = if path.is_dir() {
        walk(&path)
    } else {
        Vec::new()
    };
    if !recurse.is_empty() {
        for (p, is_dir) in &entries {
            let skip = if *is_dir {
                recurse.contains("ignore_dirs")
            } else {
                recurse.contains("ignore_files")
            };
            if skip {
                continue;
            }
            let mode = if *is_dir { r_dmode } else { r_fmode };
            let c = perms::meta_changes(p, r_user, r_group, mode, follow);
            if !c.is_empty() {
                planned.insert(p.display().to_string(), Value::Object(c));
            }
        }
    }
    if path.is_dir() {
        let c = perms::meta_changes(
            &path,
            user.as_ref(),
            group.as_ref(),
            dir_mode.as_deref(),
            follow,
        );
        if !c.is_empty() {
            planned.insert(name.clone(), Value::Object(c));
        }
    }
    // Salt plans with a substring test against the kept paths, then cleans
    // keeping them and their parents.
    let keep = if clean {
        required_keep(ctx, &path)
    } else {
        Vec::new()
    };
    let to_clean: Vec<PathBuf> = if clean && path.is_dir() {
        entries
            .iter()
            .map(|(p, _)| p)
            .filter(|p| {
                let text = p.display().to_string();
                !keep.iter().any(|k| k.contains(&text))
            })
            .filter(|p| {
                let rel = p.strip_prefix(&path).unwrap_or(p).to_string_lossy();
                !exclude_pat.as_ref().is_some_and(|pat| pat.any_match(&rel))
            })
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    for p in &to_clean {
        let mut m = Map::new();
        m.insert("removed".into(), "Removed due to clean".into());
        planned.insert(p.display().to_string(), Value::Object(m));
    }
    if !path.is_dir() {
        let mut m = Map::new();
        m.insert("directory".into(), "new".into());
        planned.insert(name.clone(), Value::Object(m));
    }
    res.changes.extend(planned.clone());

    if ctx.test {
        if res.changes.is_empty() {
            res.comment = format!("The directory {name} is in the correct state");
        } else {
            res.result = None;
            let mut comment = String::from("The following files will be changed:\n");
            for (p, c) in &planned {
                for (k, v) in c.as_object().into_iter().flatten() {
                    let v = v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string());
                    comment.push_str(&format!("{p}: {k} - {v}\n"));
                }
            }
            res.comment = comment;
        }
        return res;
    }
    if res.changes.is_empty() {
        res.comment = format!("The directory {name} is in the correct state");
        return res;
    }

    if !path.is_dir() {
        let parent = path.parent().unwrap_or(Path::new("/"));
        if !parent.is_dir() && !args.bool("makedirs", false) {
            return StateResult::fail(name.clone(), format!("No directory to create {name} in"));
        }
        if let Err(e) = perms::make_dirs(&path, user.as_ref(), group.as_ref(), dir_mode.as_deref())
        {
            return StateResult::fail(
                name.clone(),
                format!("Failed to create directory {name}: {e}"),
            );
        }
        // Salt returns right after creating, with an empty comment.
        return res;
    }

    let mut errors = perms::apply(
        &path,
        user.as_ref(),
        group.as_ref(),
        dir_mode.as_deref(),
        follow,
        false,
        &mut res.changes,
    );
    if !recurse.is_empty() {
        for (p, is_dir) in &entries {
            let skip = if *is_dir {
                recurse.contains("ignore_dirs")
            } else {
                recurse.contains("ignore_files")
            };
            if skip {
                continue;
            }
            let mode = if *is_dir { r_dmode } else { r_fmode };
            errors.extend(perms::apply(
                p,
                r_user,
                r_group,
                mode,
                follow,
                false,
                &mut res.changes,
            ));
        }
        if recurse.contains("silent") {
            res.changes = Map::new();
            res.changes
                .insert("recursion".into(), "Changes silenced".into());
        }
    }
    let removed = if clean {
        clean_dir(&path, &keep, exclude_pat.as_ref(), false)
    } else {
        Vec::new()
    };
    if !removed.is_empty() {
        let removed: Vec<Value> = removed
            .iter()
            .map(|p| p.display().to_string().into())
            .collect();
        res.changes.insert("removed".into(), Value::Array(removed));
        res.comment = format!("Files cleaned from directory {name}");
    }
    if res.comment.is_empty() && !res.changes.is_empty() {
        res.comment = format!("Directory {name} updated");
    }
    if !errors.is_empty() {
        res.result = Some(false);
        res.comment
            .push_str("\n\nThe following errors were encountered:\n");
        for e in errors {
            res.comment.push_str(&format!("\n- {e}"));
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use serde_json::json;

    use crate::modules::file::testkit::{snapshot, Kit};

    fn mode(p: &str) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn creates_with_mode_then_is_in_correct_state() {
        let kit = Kit::new();
        let d = kit.path("d");
        let before = snapshot(&kit.root());
        let dry = kit.run("file.directory", &d, json!({"dir_mode": 750}), true);
        assert_eq!(dry.result, None);
        assert_eq!(
            dry.comment,
            format!("The following files will be changed:\n{d}: directory - new\n")
        );
        assert_eq!(snapshot(&kit.root()), before);

        let r = kit.run("file.directory", &d, json!({"dir_mode": 750}), false);
        assert_eq!(
            r.changes,
            *json!({d.clone(): {"directory": "new"}})
                .as_object()
                .unwrap()
        );
        assert_eq!(mode(&d), 0o750);
        let r = kit.run("file.directory", &d, json!({"dir_mode": 750}), false);
        assert_eq!(
            (r.result, r.comment),
            (
                Some(true),
                format!("The directory {d} is in the correct state")
            )
        );
    }

    #[test]
    fn missing_parent_needs_makedirs() {
        let kit = Kit::new();
        let d = kit.path("a/b");
        let r = kit.run("file.directory", &d, json!({}), false);
        assert_eq!(r.comment, format!("No directory to create {d} in"));
        let r = kit.run("file.directory", &d, json!({"makedirs": true}), false);
        assert_eq!(r.result, Some(true));
        assert!(std::path::Path::new(&d).is_dir());
    }

    #[test]
    fn recurse_sets_owner_and_modes_below() {
        let kit = Kit::new();
        let d = kit.path("r");
        std::fs::create_dir_all(format!("{d}/sub")).unwrap();
        std::fs::write(format!("{d}/sub/f"), "x").unwrap();
        let args = json!({"user": "nobody", "dir_mode": "0751", "file_mode": "0640", "recurse": ["user", "mode"]});
        let dry = kit.run("file.directory", &d, args.clone(), true);
        assert_eq!(dry.result, None);
        assert_eq!(
            dry.changes[&format!("{d}/sub/f")],
            json!({"user": "nobody", "mode": "0640"})
        );
        let r = kit.run("file.directory", &d, args.clone(), false);
        assert_eq!(r.result, Some(true), "{}", r.comment);
        assert_eq!(r.comment, format!("Directory {d} updated"));
        assert_eq!(mode(&format!("{d}/sub/f")), 0o640);
        assert_eq!(mode(&format!("{d}/sub")), 0o751);
        let nobody = nix::unistd::User::from_name("nobody")
            .unwrap()
            .unwrap()
            .uid
            .as_raw();
        assert_eq!(
            std::fs::metadata(format!("{d}/sub/f")).unwrap().uid(),
            nobody
        );
        let again = kit.run("file.directory", &d, args, false);
        assert!(again.changes.is_empty(), "{:?}", again.changes);
    }

    #[test]
    fn clean_removes_unmanaged_entries_except_excluded() {
        let kit = Kit::new();
        let d = kit.path("c");
        std::fs::create_dir_all(format!("{d}/old")).unwrap();
        std::fs::write(format!("{d}/a.keep"), "").unwrap();
        std::fs::write(format!("{d}/b.tmp"), "").unwrap();
        let args = json!({"clean": true, "exclude_pat": "*.keep"});
        let dry = kit.run("file.directory", &d, args.clone(), true);
        assert_eq!(
            dry.changes[&format!("{d}/b.tmp")],
            json!({"removed": "Removed due to clean"})
        );
        assert!(std::path::Path::new(&format!("{d}/b.tmp")).exists());
        let r = kit.run("file.directory", &d, args, false);
        assert_eq!(r.comment, format!("Files cleaned from directory {d}"));
        assert!(std::path::Path::new(&format!("{d}/a.keep")).exists());
        assert!(!std::path::Path::new(&format!("{d}/b.tmp")).exists());
        assert!(!std::path::Path::new(&format!("{d}/old")).exists());
    }

    #[test]
    fn a_file_in_the_way_fails_without_force() {
        let kit = Kit::new();
        let d = kit.path("f");
        std::fs::write(&d, "").unwrap();
        let r = kit.run("file.directory", &d, json!({}), false);
        assert_eq!(
            r.comment,
            format!("Specified location {d} exists and is a file")
        );
        let r = kit.run("file.directory", &d, json!({"force": true}), false);
        assert_eq!(r.changes["forced"], json!("File was forcibly replaced"));
        assert!(std::path::Path::new(&d).is_dir());
    }
}
