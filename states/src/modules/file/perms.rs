//! Ownership and mode: Salt's `check_perms`, `_check_user` and
//! `normalize_mode`, shared by every `file.*` state that sets them.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use nix::unistd::{Gid, Group, Uid, User};
use serde_json::{Map, Value};

use crate::ctx::StateArgs;

/// A wanted owner as the SLS gave it: a name, or a numeric id.
#[derive(Debug, Clone, PartialEq)]
pub enum Owner {
    Name(String),
    Id(u32),
}

impl Owner {
    /// `user: www-data` or `user: 33`; empty strings mean "not set".
    pub fn from_arg(args: &StateArgs, key: &str) -> Option<Owner> {
        match args.get(key)? {
            Value::Number(n) => n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Owner::Id),
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(Owner::Name(s.clone())),
            Value::Bool(false) => None,
            other => Some(Owner::Name(other.to_string())),
        }
    }

    /// What Salt reports in `changes`: the value as given.
    pub fn to_value(&self) -> Value {
        match self {
            Owner::Name(n) => Value::String(n.clone()),
            Owner::Id(i) => Value::from(*i),
        }
    }

    fn matches(&self, id: u32, name: &str) -> bool {
        match self {
            Owner::Name(n) => n == name,
            Owner::Id(i) => *i == id,
        }
    }

    pub fn display(&self) -> String {
        match self {
            Owner::Name(n) => n.clone(),
            Owner::Id(i) => i.to_string(),
        }
    }
}

pub fn uid_of(user: &Owner) -> Option<u32> {
    match user {
        Owner::Id(i) => Some(*i),
        Owner::Name(n) => User::from_name(n).ok().flatten().map(|u| u.uid.as_raw()),
    }
}

pub fn gid_of(group: &Owner) -> Option<u32> {
    match group {
        Owner::Id(i) => Some(*i),
        Owner::Name(n) => Group::from_name(n).ok().flatten().map(|g| g.gid.as_raw()),
    }
}

fn user_name(uid: u32) -> String {
    User::from_uid(Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_default()
}

fn group_name(gid: u32) -> String {
    Group::from_gid(Gid::from_raw(gid))
        .ok()
        .flatten()
        .map(|g| g.name)
        .unwrap_or_default()
}

/// Salt's `_check_user`: the reason the owner cannot be used, or `None`.
/// Under `test=True` a missing user is not an error (it may be created by an
/// earlier state).
pub fn check_user(user: Option<&Owner>, group: Option<&Owner>, test: bool) -> Option<String> {
    let mut err = String::new();
    if let Some(u) = user {
        if uid_of(u).is_none() {
            err.push_str(&format!("User {} is not available ", u.display()));
        }
    }
    if let Some(g) = group {
        if gid_of(g).is_none() {
            err.push_str(&format!("Group {} is not available", g.display()));
        }
    }
    if err.is_empty() || test {
        None
    } else {
        Some(err)
    }
}

/// Salt's `normalize_mode`: `644`, `"644"`, `"0644"`, `"0o644"` all give
/// `"0644"`. `None` when unset.
pub fn normalize_mode(value: Option<&Value>) -> Option<String> {
    let raw = match value? {
        Value::String(s) if s.is_empty() => return None,
        Value::String(s) => s.clone(),
        Value::Bool(false) => return None,
        other => other.to_string(),
    };
    let raw = raw.replace("0o", "0");
    let trimmed = raw
        .trim_matches('"')
        .trim_matches('\'')
        .trim_start_matches('0');
    Some(format!("{trimmed:0>4}"))
}

/// The permission bits of `mode` parsed from an octal string.
pub fn parse_mode(mode: &str) -> Option<u32> {
    u32::from_str_radix(mode, 8).ok().filter(|m| *m <= 0o7777)
}

/// A path's ownership and mode as Salt's `file.stats` reports them.
#[derive(Debug, Clone)]
pub struct Stat {
    pub uid: u32,
    pub gid: u32,
    pub user: String,
    pub group: String,
    /// `"0644"`.
    pub mode: String,
    pub is_link: bool,
}

pub fn stat(path: &Path, follow_symlinks: bool) -> std::io::Result<Stat> {
    let lmeta = std::fs::symlink_metadata(path)?;
    let is_link = lmeta.file_type().is_symlink();
    let meta = if follow_symlinks && is_link {
        std::fs::metadata(path)?
    } else {
        lmeta
    };
    Ok(Stat {
        uid: meta.uid(),
        gid: meta.gid(),
        user: user_name(meta.uid()),
        group: group_name(meta.gid()),
        mode: format!("{:04o}", meta.mode() & 0o7777),
        is_link,
    })
}

/// What differs between a path and the wanted owner, group and mode, in
/// Salt's change keys (`user`, `group`, `mode`). Missing path: no changes.
pub fn meta_changes(
    path: &Path,
    user: Option<&Owner>,
    group: Option<&Owner>,
    mode: Option<&str>,
    follow_symlinks: bool,
) -> Map<String, Value> {
    let mut changes = Map::new();
    let Ok(cur) = stat(path, follow_symlinks) else {
        return changes;
    };
    if let Some(u) = user {
        if !u.matches(cur.uid, &cur.user) {
            changes.insert("user".into(), u.to_value());
        }
    }
    if let Some(g) = group {
        if !g.matches(cur.gid, &cur.group) {
            changes.insert("group".into(), g.to_value());
        }
    }
    if let Some(m) = mode {
        // The mode of a symlink itself cannot be changed on Linux.
        if (follow_symlinks || !cur.is_link) && m != cur.mode {
            changes.insert("mode".into(), Value::String(m.to_string()));
        }
    }
    changes
}

/// Salt's `check_perms`: sets owner, group and mode where they differ (only
/// reports them under `test`), records what changed in `changes` and
/// returns the failures (`Failed to change user to x`).
pub fn apply(
    path: &Path,
    user: Option<&Owner>,
    group: Option<&Owner>,
    mode: Option<&str>,
    follow_symlinks: bool,
    test: bool,
    changes: &mut Map<String, Value>,
) -> Vec<String> {
    let wanted = meta_changes(path, user, group, mode, follow_symlinks);
    if wanted.is_empty() {
        return Vec::new();
    }
    if test {
        changes.extend(wanted);
        return Vec::new();
    }
    let mut errors = Vec::new();
    let Ok(cur) = stat(path, follow_symlinks) else {
        return errors;
    };
    if wanted.contains_key("user") || wanted.contains_key("group") {
        let uid = user.and_then(uid_of).unwrap_or(cur.uid);
        let gid = group.and_then(gid_of).unwrap_or(cur.gid);
        let chowned = if cur.is_link && !follow_symlinks {
            std::os::unix::fs::lchown(path, Some(uid), Some(gid))
        } else {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
        };
        if chowned.is_ok() && !cur.is_link {
            // chown clears setuid/setgid bits: put the old mode back first.
            if let Some(m) = parse_mode(&cur.mode) {
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(m));
            }
        }
    }
    if let Some(m) = wanted
        .get("mode")
        .and_then(Value::as_str)
        .and_then(parse_mode)
    {
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(m));
    }
    let after = meta_changes(path, user, group, mode, follow_symlinks);
    for (key, value) in wanted {
        if after.contains_key(&key) {
            let shown = match &value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            errors.push(format!("Failed to change {key} to {shown}"));
        } else {
            changes.insert(key, value);
        }
    }
    errors
}

/// Salt's default mode for directories created for a file with `mode`: the
/// file mode with the execute bit added wherever a bit is set.
pub fn dir_mode_from_file_mode(mode: &str) -> String {
    let digits: String = mode
        .chars()
        .rev()
        .take(3)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .map(|c| match c.to_digit(8) {
            Some(0) | None => c,
            Some(d) => char::from_digit(d | 1, 8).unwrap_or(c),
        })
        .collect();
    normalize_mode(Some(&Value::String(digits))).unwrap_or_default()
}

/// `os.makedirs` with Salt's ownership and mode for each created directory
/// (`file.makedirs_`): creates the missing ancestors of `dir` and `dir`.
pub fn make_dirs(
    dir: &Path,
    user: Option<&Owner>,
    group: Option<&Owner>,
    mode: Option<&str>,
) -> std::io::Result<()> {
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(p) = cur {
        if p.as_os_str().is_empty() || p.is_dir() {
            break;
        }
        missing.push(p.to_path_buf());
        cur = p.parent();
    }
    for p in missing.into_iter().rev() {
        match std::fs::create_dir(&p) {
            Ok(()) => {}
            // Another process (a parallel state, a second minion on the
            // host) made it in the meantime: fine, and it is theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && p.is_dir() => continue,
            Err(e) => return Err(e),
        }
        let mut ignored = Map::new();
        apply(&p, user, group, mode, true, false, &mut ignored);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn modes_normalize_like_salt() {
        assert_eq!(normalize_mode(Some(&json!(644))).as_deref(), Some("0644"));
        assert_eq!(
            normalize_mode(Some(&json!("0644"))).as_deref(),
            Some("0644")
        );
        assert_eq!(
            normalize_mode(Some(&json!("0o755"))).as_deref(),
            Some("0755")
        );
        assert_eq!(
            normalize_mode(Some(&json!("00600"))).as_deref(),
            Some("0600")
        );
        assert_eq!(normalize_mode(Some(&json!(4755))).as_deref(), Some("4755"));
        assert_eq!(normalize_mode(None), None);
    }

    #[test]
    fn dir_mode_adds_execute_bits() {
        assert_eq!(dir_mode_from_file_mode("0644"), "0755");
        assert_eq!(dir_mode_from_file_mode("0600"), "0700");
        assert_eq!(dir_mode_from_file_mode("0640"), "0750");
    }

    #[test]
    fn unknown_user_is_an_error_except_in_test_mode() {
        let u = Owner::Name("no-such-user-brine".into());
        assert_eq!(
            check_user(Some(&u), None, false).as_deref(),
            Some("User no-such-user-brine is not available ")
        );
        assert_eq!(check_user(Some(&u), None, true), None);
        assert_eq!(
            check_user(Some(&Owner::Name("root".into())), None, false),
            None
        );
    }

    #[test]
    fn apply_sets_mode_and_owner_and_reports_them() {
        let dir = tempfile::TempDir::new().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let nobody = Owner::Name("nobody".into());
        let mut changes = Map::new();
        let errs = apply(
            &f,
            Some(&nobody),
            None,
            Some("0640"),
            true,
            true,
            &mut changes,
        );
        assert!(errs.is_empty());
        assert_eq!(
            changes,
            json!({"user": "nobody", "mode": "0640"})
                .as_object()
                .unwrap()
                .clone()
        );
        assert_eq!(
            stat(&f, true).unwrap().mode,
            "0600",
            "test mode changed nothing"
        );

        let mut changes = Map::new();
        let errs = apply(
            &f,
            Some(&nobody),
            None,
            Some("0640"),
            true,
            false,
            &mut changes,
        );
        assert!(errs.is_empty(), "{errs:?}");
        let st = stat(&f, true).unwrap();
        assert_eq!((st.user.as_str(), st.mode.as_str()), ("nobody", "0640"));
        assert_eq!(changes.len(), 2);
    }
}
