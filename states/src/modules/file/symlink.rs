//! `file.symlink`.

use std::path::Path;

use serde_json::{Map, Value};

use super::perms::{self, Owner};
use crate::ctx::{StateArgs, StateCtx};
use crate::result::StateResult;

pub const DOC: &str =
    "Create a symbolic link pointing at target\nname, target, force, makedirs, user, group, mode";

pub fn symlink(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    if name.is_empty() {
        return StateResult::fail(name, "Must provide name to file.symlink");
    }
    let Some(target) = args.str("target") else {
        return StateResult::fail(name, "A target is required for file.symlink");
    };
    let force = args.bool("force", false);
    let makedirs = args.bool("makedirs", false);
    let mode = perms::normalize_mode(args.get("mode"));
    // Salt defaults to the minion's user and that user's primary group.
    let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten();
    let user = Owner::from_arg(args, "user").unwrap_or_else(|| {
        Owner::Name(
            me.as_ref()
                .map(|u| u.name.clone())
                .unwrap_or_else(|| "root".into()),
        )
    });
    let group = Owner::from_arg(args, "group").unwrap_or_else(|| {
        let gid = perms::uid_of(&user)
            .and_then(|uid| nix::unistd::User::from_uid(uid.into()).ok().flatten())
            .map(|u| u.gid);
        let name = gid
            .and_then(|g| nix::unistd::Group::from_gid(g).ok().flatten())
            .map(|g| g.name);
        Owner::Name(name.unwrap_or_else(|| user.display()))
    });

    let mut errors = Vec::new();
    if perms::uid_of(&user).is_none() {
        errors.push(format!("User {} does not exist", user.display()));
    }
    if perms::gid_of(&group).is_none() {
        errors.push(format!("Group {} does not exist", group.display()));
    }
    let path = Path::new(name);
    if !path.is_absolute() {
        errors.push(format!("Specified file {name} is not an absolute path"));
    }
    if !errors.is_empty() {
        let mut msg = errors.join(". ");
        if errors.len() > 1 {
            msg.push('.');
        }
        return StateResult::fail(name, msg);
    }

    let is_link = path.is_symlink();
    let current = std::fs::read_link(path).ok();
    let owner_str = format!("{}:{}", user.display(), group.display());
    let mut result = Some(true);
    let mut changes = Map::new();
    let mut comment;
    if !is_link && !path.exists() {
        result = None;
        comment = format!("Symlink {name} to {target} is set for creation");
        changes.insert("new".into(), Value::String(name.into()));
    } else if is_link && current.as_deref() != Some(Path::new(&target)) {
        result = None;
        comment = format!("Link {name} target is set to be changed to {target}");
        changes.insert("change".into(), Value::String(name.into()));
    } else if is_link {
        comment = format!("The symlink {name} is present");
        let owned = perms::meta_changes(path, Some(&user), Some(&group), None, false);
        if !owned.is_empty() {
            result = None;
            let st = perms::stat(path, false).ok();
            let cur = st
                .map(|s| format!("{}:{}", s.user, s.group))
                .unwrap_or_default();
            changes.insert("ownership".into(), Value::String(cur.clone()));
            comment.push_str(&format!(
                ", but the ownership of the symlink would be changed from {cur} to {owner_str}"
            ));
        }
    } else if force {
        result = None;
        comment = format!(
            "The file or directory {name} is set for removal to make way for a new symlink targeting {target}"
        );
    } else {
        result = Some(false);
        comment = format!(
            "File or directory exists where the symlink {name} should be. Did you mean to use force?"
        );
    }
    let parent = path.parent().unwrap_or(Path::new("/"));
    if !parent.is_dir() {
        if ctx.test {
            if makedirs {
                comment.push_str(&format!("\n{} will be created", parent.display()));
            } else {
                comment.push_str(&format!(
                    "\nDirectory {} for symlink is not present",
                    parent.display()
                ));
            }
        } else if makedirs {
            if let Err(e) = perms::make_dirs(parent, Some(&user), Some(&group), mode.as_deref()) {
                return StateResult::fail(
                    name,
                    format!("Failed to create {}: {e}", parent.display()),
                );
            }
        } else {
            return StateResult::fail(
                name,
                format!("Directory {} for symlink is not present", parent.display()),
            );
        }
    }
    if ctx.test {
        return StateResult {
            name: name.into(),
            result,
            comment,
            changes,
            warnings: Vec::new(),
            skip_watch: false,
        };
    }

    let mut res = StateResult::new(name);
    if is_link {
        if current.as_deref() == Some(Path::new(&target)) {
            let mut owned = Map::new();
            let errs = perms::apply(
                path,
                Some(&user),
                Some(&group),
                None,
                false,
                false,
                &mut owned,
            );
            if owned.is_empty() && errs.is_empty() {
                res.comment = format!("Symlink {name} is present and owned by {owner_str}");
            } else if errs.is_empty() {
                res.comment = format!("Set ownership of symlink {name} to {owner_str}");
                res.changes
                    .insert("ownership".into(), Value::String(owner_str));
            } else {
                res.result = Some(false);
                res.comment = format!("Failed to set ownership of symlink {name} to {owner_str}");
            }
            return res;
        }
        let _ = std::fs::remove_file(path);
    } else if path.exists() {
        if !force {
            let kind = if path.is_file() {
                "File"
            } else if path.is_dir() {
                "Directory"
            } else {
                "File system entry"
            };
            return StateResult::fail(
                name,
                format!("{kind} exists where the symlink {name} should be"),
            );
        }
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(path)
        } else {
            std::fs::remove_file(path)
        };
        if let Err(e) = removed {
            return StateResult::fail(
                name,
                format!("Unable to create new symlink {name} -> {target}: {e}"),
            );
        }
    }
    if let Err(e) = std::os::unix::fs::symlink(&target, path) {
        return StateResult::fail(
            name,
            format!("Unable to create new symlink {name} -> {target}: {e}"),
        );
    }
    res.comment = format!("Created new symlink {name} -> {target}");
    res.changes.insert("new".into(), Value::String(name.into()));
    let mut owned = Map::new();
    if !perms::apply(
        path,
        Some(&user),
        Some(&group),
        None,
        false,
        false,
        &mut owned,
    )
    .is_empty()
    {
        res.result = Some(false);
        res.comment
            .push_str(&format!(", but was unable to set ownership to {owner_str}"));
    }
    res
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::modules::file::testkit::{snapshot, Kit};

    #[test]
    fn creates_repoints_and_then_is_present() {
        let kit = Kit::new();
        let link = kit.path("l");
        let before = snapshot(&kit.root());
        let dry = kit.run(
            "file.symlink",
            &link,
            json!({"target": "/etc/hostname"}),
            true,
        );
        assert_eq!(dry.result, None);
        assert_eq!(
            dry.comment,
            format!("Symlink {link} to /etc/hostname is set for creation")
        );
        assert_eq!(snapshot(&kit.root()), before);

        let r = kit.run(
            "file.symlink",
            &link,
            json!({"target": "/etc/hostname"}),
            false,
        );
        assert_eq!(
            r.comment,
            format!("Created new symlink {link} -> /etc/hostname")
        );
        assert_eq!(r.changes, *json!({"new": link}).as_object().unwrap());
        let r = kit.run(
            "file.symlink",
            &link,
            json!({"target": "/etc/hostname"}),
            false,
        );
        assert_eq!(
            r.comment,
            format!("Symlink {link} is present and owned by root:root")
        );
        assert!(r.changes.is_empty());

        let dry = kit.run("file.symlink", &link, json!({"target": "/etc/hosts"}), true);
        assert_eq!(
            dry.comment,
            format!("Link {link} target is set to be changed to /etc/hosts")
        );
        kit.run(
            "file.symlink",
            &link,
            json!({"target": "/etc/hosts"}),
            false,
        );
        assert_eq!(
            std::fs::read_link(&link).unwrap().to_str(),
            Some("/etc/hosts")
        );
    }

    #[test]
    fn a_file_in_the_way_needs_force() {
        let kit = Kit::new();
        let link = kit.path("l");
        std::fs::write(&link, "x").unwrap();
        let r = kit.run("file.symlink", &link, json!({"target": "/tmp"}), false);
        assert_eq!(r.result, Some(false));
        assert_eq!(
            r.comment,
            format!("File exists where the symlink {link} should be")
        );
        let r = kit.run(
            "file.symlink",
            &link,
            json!({"target": "/tmp", "force": true}),
            false,
        );
        assert_eq!(r.result, Some(true), "{}", r.comment);
        assert!(std::path::Path::new(&link).is_symlink());
    }

    #[test]
    fn makedirs_creates_the_parent() {
        let kit = Kit::new();
        let link = kit.path("a/b/l");
        let r = kit.run("file.symlink", &link, json!({"target": "/tmp"}), false);
        assert_eq!(
            r.comment,
            format!("Directory {} for symlink is not present", kit.path("a/b"))
        );
        let r = kit.run(
            "file.symlink",
            &link,
            json!({"target": "/tmp", "makedirs": true}),
            false,
        );
        assert_eq!(r.result, Some(true), "{}", r.comment);
    }
}
