//! `mount.mounted` / `mount.unmounted`: Salt's mount states over
//! `sys::mounts` (the helpers the `mount.*` execution functions use).
//! Not carried over from Salt: the mount cache, bind-mount device chasing,
//! and the `extra_mount_*` tuning arguments.

use std::path::Path;

use serde_json::{json, Map, Value};

use crate::ctx::{StateArgs, StateCtx};
use crate::modules::sys::accounts;
use crate::modules::sys::mounts::{self, FstabEntry, FstabError};
use crate::modules::sys::run::Cmd;
use crate::modules::sys::{opt_text, str_list};
use crate::registry::StateSpec;
use crate::result::StateResult;

pub const STATES: &[StateSpec] = &[
    StateSpec {
        name: "mount.mounted",
        doc: "Verify that a device is mounted (and, with persist, in the fstab).\n\n\
              name: the mount point\n\
              device: what to mount (a path, UUID=..., LABEL=..., or tmpfs-like name)\n\
              fstype: the file system type\n\
              mkmnt: create the mount point when missing (default False)\n\
              opts: mount options, a list or comma-separated (default defaults); a changed option forces a remount\n\
              dump, pass_num: the fstab's last two fields (default 0)\n\
              config: the fstab file (default /etc/fstab)\n\
              persist: keep the entry in the fstab (default True)\n\
              mount: mount it now (default True)\n\
              match_on: the fstab fields that identify the entry (default auto)",
        run: mounted,
        mod_watch: Some(mod_watch),
    },
    StateSpec {
        name: "mount.unmounted",
        doc: "Verify that nothing is mounted at the mount point.\n\n\
              name: the mount point\n\
              device: only unmount this device\n\
              config: the fstab file (default /etc/fstab)\n\
              persist: also remove the fstab entry (default False)",
        run: unmounted,
        mod_watch: None,
    },
];

/// Options that never show in the mount table, so they never force a remount.
const INVISIBLE_OPTS: &[&str] = &[
    "_netdev",
    "actimeo",
    "bg",
    "comment",
    "defaults",
    "delay_connect",
    "direct-io-mode",
    "intr",
    "loop",
    "nointr",
    "nobootwait",
    "nofail",
    "password",
    "reconnect",
    "retry",
    "soft",
    "auto",
    "users",
    "bind",
    "nonempty",
    "transform_symlinks",
    "port",
    "backup-volfile-servers",
];

/// `key=value` options whose value never shows in the mount table.
const INVISIBLE_KEYS: &[&str] = &[
    "actimeo",
    "comment",
    "credentials",
    "direct-io-mode",
    "password",
    "port",
    "retry",
    "secretfile",
];

/// `size=Nk|m|g` as the kernel shows it: `size=<kib>k`.
fn size_in_k(opt: &str) -> Option<String> {
    let rest = opt.strip_prefix("size=")?;
    let unit = rest.chars().last()?;
    let n: u64 = rest[..rest.len() - 1].parse().ok()?;
    let k = match unit {
        'k' => n,
        'm' => n * 1024,
        'g' => n * 1024 * 1024,
        _ => return None,
    };
    Some(format!("size={k}k"))
}

/// An option as the mount table would show it (Salt's translations).
fn as_shown(opt: &str, fstype: &str) -> String {
    let opt = match opt {
        "tcp" => "proto=tcp".to_string(),
        "udp" => "proto=udp".to_string(),
        o => o.to_string(),
    };
    let key = opt.split('=').next().unwrap_or("").to_string();
    if INVISIBLE_KEYS.contains(&key.as_str()) || (fstype == "ramfs" && key == "size") {
        return key;
    }
    if let Some(s) = size_in_k(&opt) {
        return s;
    }
    if fstype == "cifs" && key == "user" {
        return format!("username={}", &opt[5..]);
    }
    if let Some((k @ ("uid" | "gid"), id)) = opt.split_once('=') {
        if !id.chars().all(|c| c.is_ascii_digit()) {
            let number = if k == "uid" {
                accounts::user_info(id).map(|u| u.uid)
            } else {
                accounts::group_info(id).map(|g| g.gid)
            };
            if let Some(n) = number {
                return format!("{k}={n}");
            }
        }
    }
    opt
}

/// The first wanted option the mounted file system does not show.
fn changed_option(opts: &[String], fstype: &str, mounted: &Value) -> Option<String> {
    let list = |k: &str| -> Vec<String> {
        mounted[k]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|o| size_in_k(o).unwrap_or_else(|| o.to_string()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (have, superopts) = (list("opts"), list("superopts"));
    let mut sorted = opts.to_vec();
    sorted.sort();
    sorted.into_iter().map(|o| as_shown(&o, fstype)).find(|o| {
        let hidden = have.contains(o)
            || superopts.contains(o)
            || INVISIBLE_OPTS.contains(&o.as_str())
            || INVISIBLE_KEYS.contains(&o.as_str())
            || (fstype == "ramfs" && o == "size");
        !hidden
    })
}

fn realpath(p: &str) -> String {
    std::fs::canonicalize(p)
        .map(|p| p.to_string_lossy().to_string())
        .unwrap_or_else(|_| p.to_string())
}

/// The device as the mount table names it: a path resolved, a UUID
/// lower-cased, a LABEL looked up with blkid.
fn real_device(device: &str) -> Result<String, String> {
    let upper = device.to_uppercase();
    if device.starts_with('/') {
        Ok(realpath(device))
    } else if upper.starts_with("UUID=") {
        Ok(device[5..].trim_matches('"').to_lowercase())
    } else if upper.starts_with("LABEL=") {
        let label = &device[6..];
        let out = Cmd::new("blkid")
            .args(["-t", &format!("LABEL={label}")])
            .run()?;
        match out.stdout.lines().next() {
            Some(line) if out.success() => Ok(line.split(':').next().unwrap_or("").to_string()),
            _ => Err(format!("Unable to find device with label {label}.")),
        }
    } else {
        Ok(device.to_string())
    }
}

fn opts_of(args: &StateArgs) -> Vec<String> {
    str_list(args, "opts")
        .filter(|o| !o.is_empty())
        .unwrap_or_else(|| vec!["defaults".to_string()])
}

fn config_of(args: &StateArgs) -> String {
    opt_text(args, "config").unwrap_or_else(|| mounts::FSTAB.to_string())
}

pub fn mounted(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let mut name = args.name.clone();
    if name.len() > 1 {
        name = name.trim_end_matches('/').to_string();
    }
    let mut ret = StateResult::new(&args.name);
    let Some(device) = opt_text(args, "device").filter(|d| !d.is_empty()) else {
        return StateResult::fail(&args.name, "Must provide device to mount.mounted");
    };
    let Some(fstype) = opt_text(args, "fstype").filter(|d| !d.is_empty()) else {
        return StateResult::fail(&args.name, "Must provide fstype to mount.mounted");
    };
    let mkmnt = args.bool("mkmnt", false);
    let opts = opts_of(args);
    let do_mount = args.bool("mount", true);
    let persist = args.bool("persist", true);
    let config = config_of(args);

    let mut active = match mounts::active(true) {
        Ok(a) => a,
        Err(e) => return StateResult::fail(&args.name, e),
    };
    let real_name = realpath(&name);
    let real_dev = match real_device(&device) {
        Ok(d) => d,
        Err(e) => return StateResult::fail(&args.name, e),
    };

    if let (Some(now), true) = (active.get(&real_name).cloned(), do_mount) {
        let text = |k: &str| now[k].as_str().map(str::to_string);
        let mut device_list: Vec<String> = Vec::new();
        if let Some(d) = text("device") {
            device_list.push(realpath(&d));
            device_list.insert(0, d);
        }
        for k in ["alt_device", "device_uuid", "device_label"] {
            if let Some(d) = text(k).filter(|d| !device_list.contains(d)) {
                device_list.push(d);
            }
        }
        if let Some(opt) = changed_option(&opts, &fstype, &now) {
            if ctx.test {
                ret.result = None;
                ret.comment = format!("Remount would be forced because options ({opt}) changed");
                return ret;
            }
            let result = if fstype == "nfs" || fstype == "cvfs" || fstype.starts_with("fuse") {
                ret.changes.insert(
                    "umount".into(),
                    json!(format!(
                        "Forced unmount and mount because options ({opt}) changed"
                    )),
                );
                if let Err(e) = mounts::umount(&real_name, None) {
                    return StateResult {
                        comment: format!("Unable to unmount {real_name}: {e}."),
                        ..StateResult::fail(&args.name, "")
                    };
                }
                mounts::mount(&real_name, &device, mkmnt, &fstype, &opts)
            } else {
                ret.changes.insert(
                    "umount".into(),
                    json!(format!("Forced remount because options ({opt}) changed")),
                );
                mounts::remount(&real_name, &device, mkmnt, &fstype, &opts)
            };
            if let Err(e) = result {
                ret.result = Some(false);
                ret.comment = e;
                return ret;
            }
        }
        if !device_list.contains(&real_dev) {
            if ctx.test {
                ret.result = None;
                ret.comment = format!(
                    "An umount would have been forced because devices do not match.  Watched: {device}"
                );
                return ret;
            }
            let mut why = format!("Forced unmount because devices don't match. Wanted: {device}");
            if real_dev != device {
                why += &format!(" ({real_dev})");
            }
            why += &format!(", current: {}", device_list.join(", "));
            ret.changes.insert("umount".into(), json!(why));
            let _ = mounts::umount(&real_name, None);
            active = mounts::active(true).unwrap_or_default();
            if active.contains_key(&real_name) {
                ret.comment = "Unable to unmount".into();
                ret.result = None;
                return ret;
            }
        } else {
            ret.comment = "Target was already mounted".into();
        }
    }

    if !active.contains_key(&real_name) {
        let exists = Path::new(&name).exists();
        if do_mount {
            if ctx.test {
                ret.result = None;
                ret.comment = if exists {
                    format!("{name} would be mounted")
                } else if mkmnt {
                    format!("{name} would be created and mounted")
                } else {
                    format!("{name} does not exist and would not be created")
                };
                return ret;
            }
            if !exists && !mkmnt {
                return StateResult::fail(&args.name, "Mount directory is not present");
            }
            if let Err(e) = mounts::mount(&name, &device, mkmnt, &fstype, &opts) {
                ret.result = Some(false);
                ret.comment = e;
                return ret;
            }
            active = mounts::active(true).unwrap_or_default();
            if active.contains_key(&real_name) {
                ret.comment = "Target was successfully mounted".into();
                ret.changes.insert("mount".into(), json!(true));
            }
        } else if !exists {
            if ctx.test {
                ret.result = None;
                ret.comment = if mkmnt {
                    format!("{name} would be created, but not mounted")
                } else {
                    format!("{name} does not exist and would neither be created nor mounted")
                };
            } else if mkmnt {
                if let Err(e) = std::fs::create_dir_all(&name) {
                    return StateResult::fail(&args.name, format!("{name}: {e}"));
                }
                ret.comment = format!("{name} was created, not mounted");
            } else {
                ret.comment = format!("{name} not present and not mounted");
            }
        } else if ctx.test {
            ret.result = None;
            ret.comment = format!("{name} would not be mounted");
        } else {
            ret.comment = format!("{name} not mounted");
        }
    }

    if persist {
        persist_entry(
            ctx, args, &name, &device, &fstype, &opts, &config, do_mount, ret,
        )
    } else {
        ret
    }
}

/// The fstab half of `mount.mounted`.
#[allow(clippy::too_many_arguments)]
fn persist_entry(
    ctx: &StateCtx<'_>,
    args: &StateArgs,
    name: &str,
    device: &str,
    fstype: &str,
    opts: &[String],
    config: &str,
    do_mount: bool,
    mut ret: StateResult,
) -> StateResult {
    let entry = FstabEntry {
        device: device.replace("\\ ", "\\040"),
        name: name.to_string(),
        fstype: fstype.to_string(),
        opts: opts.join(",").replace("\\ ", "\\040"),
        dump: opt_text(args, "dump").unwrap_or_else(|| "0".into()),
        pass_num: opt_text(args, "pass_num").unwrap_or_else(|| "0".into()),
    };
    let match_on = str_list(args, "match_on").unwrap_or_else(|| vec!["auto".to_string()]);
    let out = match mounts::set_fstab(Path::new(config), &entry, &match_on, ctx.test, false) {
        Ok(s) => s,
        Err(FstabError::BadConfig(_)) => "bad config",
        Err(e) => return StateResult::fail(&args.name, e.to_string()),
    };
    if ctx.test {
        if out == "present" {
            return ret;
        }
        ret.result = None;
        let comment = match (out, do_mount) {
            ("new", true) => format!(
                "{name} is mounted, but needs to be written to the fstab in order to be made persistent."
            ),
            ("new", false) => {
                format!("{name} needs to be written to the fstab in order to be made persistent.")
            }
            ("change", true) => format!("{name} is mounted, but its fstab entry must be updated."),
            ("change", false) => format!("The {name} fstab entry must be updated."),
            _ => {
                ret.result = Some(false);
                format!(
                    "Unable to detect fstab status for mount point {name} due to unexpected output '{out}' from call to mount.set_fstab. This is most likely a bug."
                )
            }
        };
        ret.comment = if ret.comment.is_empty() {
            comment
        } else {
            format!("{}. {comment}", ret.comment)
        };
        return ret;
    }
    match out {
        "present" => ret.comment += ". Entry already exists in the fstab.",
        "new" => {
            ret.changes.insert("persist".into(), json!("new"));
            ret.comment += ". Added new entry to the fstab.";
        }
        "change" => {
            ret.changes.insert("persist".into(), json!("update"));
            ret.comment += ". Updated the entry in the fstab.";
        }
        _ => {
            ret.result = Some(false);
            ret.comment += ". However, the fstab was not found.";
        }
    }
    ret
}

pub fn unmounted(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    let mut ret = StateResult::new(name);
    if name.is_empty() {
        return StateResult::fail(name, "Must provide name to mount.unmounted");
    }
    let device = opt_text(args, "device").filter(|d| !d.is_empty());
    let config = config_of(args);
    let active = match mounts::active(true) {
        Ok(a) => a,
        Err(e) => return StateResult::fail(name, e),
    };
    if !active.contains_key(name) {
        ret.comment = "Target was already unmounted".into();
    } else {
        if ctx.test {
            ret.result = None;
            ret.comment = format!("Mount point {name} is mounted but should not be");
            return ret;
        }
        match mounts::umount(name, device.as_deref()) {
            Ok(()) => {
                ret.comment = "Target was successfully unmounted".into();
                ret.changes.insert("umount".into(), json!(true));
            }
            Err(e) => {
                ret.comment = e;
                ret.result = Some(false);
            }
        }
    }
    if args.bool("persist", false) {
        let table: Map<String, Value> = mounts::fstab(Path::new(&config));
        let Some(entry) = table.get(name) else {
            ret.comment += ". fstab entry not found";
            return ret;
        };
        if let Some(d) = &device {
            if entry["device"].as_str() != Some(d.as_str()) {
                ret.comment += &format!(". fstab entry for device {d} not found");
                return ret;
            }
        }
        if ctx.test {
            ret.result = None;
            ret.comment = format!(
                "Mount point {name} is unmounted but needs to be purged from {config} to be made persistent"
            );
            return ret;
        }
        match mounts::rm_fstab(Path::new(&config), name, device.as_deref()) {
            Ok(true) => {
                ret.comment += ". Removed target from fstab";
                ret.changes.insert("persist".into(), json!("purged"));
            }
            _ => {
                ret.result = Some(false);
                ret.comment += ". Failed to persist purge";
            }
        }
    }
    ret
}

/// A watched `mount.mounted` remounts.
pub fn mod_watch(_ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    let sfun = args.str("sfun").unwrap_or_default();
    if sfun != "mounted" {
        return StateResult::ok(name, format!("Watch not supported in {sfun} at this time"));
    }
    let device = opt_text(args, "device").unwrap_or_default();
    let fstype = opt_text(args, "fstype").unwrap_or_default();
    match mounts::remount(name, &device, false, &fstype, &opts_of(args)) {
        Ok(()) => StateResult::ok(name, format!("{name} remounted")),
        Err(e) => StateResult::fail(name, format!("{name} failed to remount: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::sys::testutil::{args, system_tests_enabled, TestEnv};

    #[test]
    fn options_compare_as_the_kernel_shows_them() {
        let now =
            json!({"opts": ["rw", "relatime"], "superopts": ["rw", "size=1024k", "mode=700"]});
        let o = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            changed_option(&o(&["defaults", "size=1m"]), "tmpfs", &now),
            None
        );
        assert_eq!(
            changed_option(&o(&["mode=700", "nofail"]), "tmpfs", &now),
            None
        );
        assert_eq!(
            changed_option(&o(&["size=2m"]), "tmpfs", &now),
            Some("size=2048k".into())
        );
        assert_eq!(
            changed_option(&o(&["ro"]), "tmpfs", &now),
            Some("ro".into())
        );
        assert_eq!(as_shown("uid=root", "tmpfs"), "uid=0");
        assert_eq!(as_shown("password=x", "cifs"), "password");
        assert_eq!(real_device("UUID=\"AB-CD\"").unwrap(), "ab-cd");
    }

    #[test]
    fn test_mode_on_an_unmounted_point_and_temp_fstab() {
        let dir = tempfile::tempdir().unwrap();
        let fstab = dir.path().join("fstab");
        std::fs::write(&fstab, "").unwrap();
        let point = dir.path().join("mnt");
        let env = TestEnv::new(dir.path().into(), dir.path().into());
        let a = args(
            point.to_str().unwrap(),
            json!({"device": "tmpfs", "fstype": "tmpfs", "mkmnt": true, "config": fstab.to_str().unwrap()}),
        );
        let r = mounted(&env.ctx(true), &a);
        assert_eq!(r.result, None);
        assert_eq!(
            r.comment,
            format!("{} would be created and mounted", point.display())
        );
        // mount: False, persist: only the fstab is looked at.
        let mut b = a.clone();
        b.args.insert("mount".into(), json!(false));
        let r = mounted(&env.ctx(true), &b);
        assert_eq!(
            r.comment,
            format!(
                "{p} would be created, but not mounted. {p} needs to be written to the fstab in order to be made persistent.",
                p = point.display()
            )
        );
        let r = mounted(&env.ctx(false), &b);
        assert_eq!(r.result, Some(true), "{}", r.comment);
        assert_eq!(r.changes.get("persist"), Some(&json!("new")));
        assert!(point.is_dir());
        assert_eq!(
            std::fs::read_to_string(&fstab).unwrap(),
            format!("tmpfs\t\t{}\t\ttmpfs\t\tdefaults\t\t0 0\n", point.display())
        );
        let r = mounted(&env.ctx(false), &b);
        assert_eq!(
            r.comment,
            format!(
                "{} not mounted. Entry already exists in the fstab.",
                point.display()
            )
        );
        assert!(r.changes.is_empty());

        let u = args(
            point.to_str().unwrap(),
            json!({"persist": true, "config": fstab.to_str().unwrap()}),
        );
        let r = unmounted(&env.ctx(true), &u);
        assert_eq!(r.result, None);
        let r = unmounted(&env.ctx(false), &u);
        assert_eq!(
            r.comment,
            "Target was already unmounted. Removed target from fstab"
        );
        assert_eq!(r.changes.get("persist"), Some(&json!("purged")));
        assert_eq!(std::fs::read_to_string(&fstab).unwrap(), "");
    }

    #[test]
    fn real_tmpfs_mounted_remounted_and_unmounted() {
        if !system_tests_enabled("real_tmpfs_mounted_remounted_and_unmounted") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let fstab = dir.path().join("fstab");
        std::fs::write(&fstab, "").unwrap();
        let point = dir.path().join("mnt");
        let p = point.to_str().unwrap().to_string();
        struct Unmount(String);
        impl Drop for Unmount {
            fn drop(&mut self) {
                let _ = Cmd::new("umount").arg(&self.0).run();
            }
        }
        let _guard = Unmount(p.clone());
        let env = TestEnv::new(dir.path().into(), dir.path().into());
        let a = args(
            &p,
            json!({"device": "tmpfs", "fstype": "tmpfs", "mkmnt": true, "opts": "size=1m",
                   "config": fstab.to_str().unwrap()}),
        );
        let r = mounted(&env.ctx(false), &a);
        assert_eq!(r.result, Some(true), "{}", r.comment);
        assert_eq!(
            r.comment,
            "Target was successfully mounted. Added new entry to the fstab."
        );
        assert_eq!(r.changes.get("mount"), Some(&json!(true)));
        let r = mounted(&env.ctx(false), &a);
        assert_eq!(
            r.comment,
            "Target was already mounted. Entry already exists in the fstab."
        );
        assert!(r.changes.is_empty(), "{:?}", r.changes);

        let mut b = a.clone();
        b.args.insert("opts".into(), json!("size=2m"));
        let r = mounted(&env.ctx(true), &b);
        assert_eq!(
            r.comment,
            "Remount would be forced because options (size=2048k) changed"
        );
        let r = mounted(&env.ctx(false), &b);
        assert_eq!(r.result, Some(true), "{}", r.comment);
        assert_eq!(
            r.changes.get("umount"),
            Some(&json!(
                "Forced remount because options (size=2048k) changed"
            ))
        );
        assert_eq!(r.changes.get("persist"), Some(&json!("update")));

        let u = args(&p, json!({}));
        let r = unmounted(&env.ctx(true), &u);
        assert_eq!(
            r.comment,
            format!("Mount point {p} is mounted but should not be")
        );
        let r = unmounted(&env.ctx(false), &u);
        assert_eq!(r.comment, "Target was successfully unmounted");
        assert!(!mounts::active(false).unwrap().contains_key(&p));
    }
}
