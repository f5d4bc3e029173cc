//! `file.copy`: copy a local file or directory on the minion.

use std::path::Path;

use serde_json::{Map, Value};

use super::perms::{self, Owner};
use crate::ctx::{StateArgs, StateCtx};
use crate::result::StateResult;

pub const DOC: &str = "Copy a file or directory that is already on the minion\nname, source, force, makedirs, preserve, user, group, mode, dir_mode, subdir";

pub fn copy(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    // Salt's result keeps the state's name even when `subdir` copies into
    // the named directory.
    StateResult {
        name: args.name.clone(),
        ..copy_into(ctx, args)
    }
}

fn copy_into(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let mut name = args.name.clone();
    let Some(src) = args.str("source") else {
        return StateResult::fail(name, "Must provide source to file.copy");
    };
    let mut res = StateResult::ok(&name, format!("Copied \"{src}\" to \"{name}\""));
    if name.is_empty() {
        return StateResult::fail(name, "Must provide name to file.copy");
    }
    if !Path::new(&name).is_absolute() {
        return StateResult::fail(
            name.clone(),
            format!("Specified file {name} is not an absolute path"),
        );
    }
    let source_buf = std::path::PathBuf::from(&src);
    let source = source_buf.as_path();
    if !source.exists() {
        return StateResult::fail(name, format!("Source file \"{src}\" is not present"));
    }
    let preserve = args.bool("preserve", false);
    let src_stat = perms::stat(source, true).ok();
    let (user, group, mode) = if preserve {
        (None, None, None)
    } else {
        let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten();
        let user = Owner::from_arg(args, "user").unwrap_or_else(|| {
            Owner::Name(
                me.as_ref()
                    .map_or_else(|| "root".into(), |u| u.name.clone()),
            )
        });
        let group = Owner::from_arg(args, "group").unwrap_or_else(|| {
            let gid = perms::uid_of(&user)
                .and_then(|u| nix::unistd::User::from_uid(u.into()).ok().flatten())
                .map(|u| u.gid);
            let g = gid.and_then(|g| nix::unistd::Group::from_gid(g).ok().flatten());
            Owner::Name(g.map_or_else(|| user.display(), |g| g.name))
        });
        if let Some(err) = perms::check_user(Some(&user), Some(&group), ctx.test) {
            return StateResult::fail(name, err);
        }
        let mode = perms::normalize_mode(args.get("mode"))
            .or_else(|| src_stat.as_ref().map(|s| s.mode.clone()));
        (Some(user), Some(group), mode)
    };
    if Path::new(&name).is_dir() && args.bool("subdir", false) {
        let base = source
            .file_name()
            .map(|b| b.to_string_lossy().into_owned())
            .unwrap_or_default();
        name = Path::new(&name).join(base).display().to_string();
    }
    let target_buf = std::path::PathBuf::from(&name);
    let target = target_buf.as_path();
    let force = args.bool("force", false);
    let mut changed = true;
    if target.exists() || target.is_symlink() {
        if force && target.is_file() && std::fs::read(target).ok() == std::fs::read(source).ok() {
            res.comment
                .push_str(" - files are identical but force flag is set");
        }
        if !force {
            changed = false;
        } else if !ctx.test {
            let removed = if target.is_dir() && !target.is_symlink() {
                std::fs::remove_dir_all(target)
            } else {
                std::fs::remove_file(target)
            };
            if removed.is_err() {
                return StateResult::fail(
                    name.clone(),
                    format!("Failed to delete \"{name}\" in preparation for forced move"),
                );
            }
        }
    }
    if !changed {
        return StateResult::ok(
            name.clone(),
            format!("The target file \"{name}\" exists and will not be overwritten"),
        );
    }
    if ctx.test {
        // Salt reports no changes for a copy it would make
        return StateResult::would(
            &name,
            format!("File \"{src}\" is set to be copied to \"{name}\""),
            Map::new(),
        );
    }
    let parent = target.parent().unwrap_or(Path::new("/"));
    if !parent.is_dir() {
        if !args.bool("makedirs", false) {
            return StateResult::fail(
                name,
                format!("The target directory {} is not present", parent.display()),
            );
        }
        let dir_mode = perms::normalize_mode(args.get("dir_mode"))
            .or_else(|| mode.as_deref().map(perms::dir_mode_from_file_mode));
        if let Err(e) = perms::make_dirs(parent, user.as_ref(), group.as_ref(), dir_mode.as_deref())
        {
            return StateResult::fail(name, format!("Failed to create {}: {e}", parent.display()));
        }
    }
    let copied = if source.is_dir() {
        copy_tree(source, target)
    } else {
        std::fs::copy(source, target).map(|_| ())
    };
    if copied.is_err() {
        return StateResult::fail(
            name.clone(),
            format!("Failed to copy \"{src}\" to \"{name}\""),
        );
    }
    res.name = name.clone();
    res.changes.insert(name.clone(), Value::String(src));
    if !preserve {
        if source.is_dir() {
            for (p, _) in super::directory::walk(target) {
                let mut ignored = Map::new();
                perms::apply(
                    &p,
                    user.as_ref(),
                    group.as_ref(),
                    None,
                    false,
                    false,
                    &mut ignored,
                );
            }
        }
        let errors = perms::apply(
            target,
            user.as_ref(),
            group.as_ref(),
            mode.as_deref(),
            true,
            false,
            &mut res.changes,
        );
        if !errors.is_empty() {
            res.result = Some(false);
            res.comment = format!("{}; {}", res.comment, errors.join("; "));
        }
    }
    res
}

/// `shutil.copytree(symlinks=True)`.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir(to)?;
    for e in std::fs::read_dir(from)?.flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ft = e.file_type()?;
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else if ft.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::modules::file::testkit::{snapshot, Kit};

    #[test]
    fn copies_once_unless_forced() {
        let kit = Kit::new();
        let src = kit.path("src");
        let dst = kit.path("dst");
        std::fs::write(&src, "data\n").unwrap();
        let before = snapshot(&kit.root());
        let dry = kit.run("file.copy", &dst, json!({"source": src}), true);
        assert_eq!(dry.result, None);
        assert_eq!(
            dry.comment,
            format!("File \"{src}\" is set to be copied to \"{dst}\"")
        );
        assert_eq!(snapshot(&kit.root()), before);
        // Salt: a dry-run copy has no changes, only its comment
        assert!(dry.changes.is_empty(), "{:?}", dry.changes);

        let r = kit.run("file.copy", &dst, json!({"source": src}), false);
        assert_eq!(r.result, Some(true), "{}", r.comment);
        assert_eq!(r.comment, format!("Copied \"{src}\" to \"{dst}\""));
        assert_eq!(
            r.changes,
            *json!({dst.clone(): src.clone()}).as_object().unwrap()
        );
        assert_eq!(std::fs::read_to_string(&dst).unwrap(), "data\n");

        std::fs::write(&src, "newer\n").unwrap();
        let r = kit.run("file.copy", &dst, json!({"source": src}), false);
        assert_eq!(
            r.comment,
            format!("The target file \"{dst}\" exists and will not be overwritten")
        );
        let r = kit.run(
            "file.copy",
            &dst,
            json!({"source": src, "force": true}),
            false,
        );
        assert_eq!(r.result, Some(true));
        assert_eq!(std::fs::read_to_string(&dst).unwrap(), "newer\n");
    }

    /// subdir: copied into the named directory; the result keeps the
    /// state's name, the dry run names the file it would write.
    #[test]
    fn subdir_copies_into_the_directory_under_the_states_name() {
        let kit = Kit::new();
        let src = kit.path("src.txt");
        let dir = kit.path("into");
        std::fs::write(&src, "x").unwrap();
        std::fs::create_dir(&dir).unwrap();
        let args = json!({"source": src, "subdir": true});
        let dry = kit.run("file.copy", &dir, args.clone(), true);
        assert_eq!(dry.name, dir);
        assert_eq!(
            dry.comment,
            format!("File \"{src}\" is set to be copied to \"{dir}/src.txt\"")
        );
        let r = kit.run("file.copy", &dir, args, false);
        assert_eq!((r.name.as_str(), r.result), (dir.as_str(), Some(true)));
        assert_eq!(
            std::fs::read_to_string(format!("{dir}/src.txt")).unwrap(),
            "x"
        );
    }

    #[test]
    fn missing_source_fails() {
        let kit = Kit::new();
        let r = kit.run(
            "file.copy",
            &kit.path("d"),
            json!({"source": "/nonexistent/brine"}),
            false,
        );
        assert_eq!(
            (r.result, r.comment.as_str()),
            (
                Some(false),
                "Source file \"/nonexistent/brine\" is not present"
            )
        );
    }
}
