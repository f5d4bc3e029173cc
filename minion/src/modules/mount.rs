//! `mount.*`: the live mount table, an fstab file (`config=`, default
//! `/etc/fstab`) and `mount`/`umount`, as Salt's `mount` module has them.
//! The work is `brine_states::modules::sys::mounts`'s, which the
//! `mount.mounted`/`mount.unmounted` states use too.

use std::path::PathBuf;

use brine_states::modules::sys::mounts::{self, FstabEntry};
use serde_json::{json, Value};

use super::sysexec::off_thread;
use crate::registry::{as_str, as_str_list, Args, CallCtx, FunctionSpec, ModError, ModFuture};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "mount.active",
        doc: "Return the active mounts: {mount point: {device, fstype, opts}}.\n\n\
              - extended: also mountid, parentid, major, minor, root, superopts, alt_device,\n\
              device_uuid, device_label (from /proc/self/mountinfo and blkid).",
        cli_example: "brine '*' mount.active",
        run: active,
    },
    FunctionSpec {
        name: "mount.fstab",
        doc: "Return the fstab entries: {mount point: {device, fstype, opts, dump, pass}}.\n\n\
              - config: the fstab file (default /etc/fstab).",
        cli_example: "brine '*' mount.fstab",
        run: fstab,
    },
    FunctionSpec {
        name: "mount.is_mounted",
        doc: "Return whether something is mounted at the path.\n\n\
              - name: the mount point.",
        cli_example: "brine '*' mount.is_mounted /mnt/share",
        run: is_mounted,
    },
    FunctionSpec {
        name: "mount.mount",
        doc: "Mount a device: True, or mount's error text.\n\n\
              - name: the mount point.\n\
              - device: what to mount.\n\
              - mkmnt: create the mount point when missing (default False).\n\
              - fstype: the file system type (default: mount guesses).\n\
              - opts: mount options, a comma-separated string or a list (default defaults).",
        cli_example: "brine '*' mount.mount /mnt/foo /dev/sdz1 True",
        run: mount,
    },
    FunctionSpec {
        name: "mount.remount",
        doc: "Remount a mounted file system with new options (mounts it when it is not): True,\n\
              or mount's error text.\n\n\
              - name, device, mkmnt, fstype, opts: as for mount.mount.",
        cli_example: "brine '*' mount.remount /mnt/foo /dev/sdz1 True",
        run: remount,
    },
    FunctionSpec {
        name: "mount.rm_fstab",
        doc: "Remove the fstab entry of a mount point; True.\n\n\
              - name: the mount point.\n\
              - device: only the entry of this device.\n\
              - config: the fstab file (default /etc/fstab).",
        cli_example: "brine '*' mount.rm_fstab /mnt/foo /dev/sdg",
        run: rm_fstab,
    },
    FunctionSpec {
        name: "mount.set_fstab",
        doc: "Make an fstab entry as given: 'present', 'change' or 'new'.\n\n\
              - name: the mount point.\n\
              - device: the device.\n\
              - fstype: the file system type.\n\
              - opts: mount options (default defaults).\n\
              - dump, pass_num: the last two fields (default 0).\n\
              - config: the fstab file (default /etc/fstab).\n\
              - test: report without writing (default False).\n\
              - match_on: the fields that identify the entry (default auto: the mount point for\n\
              tmpfs, proc and other special file systems, the device otherwise).\n\
              - not_change: leave a matching entry as it is (default False).",
        cli_example: "brine '*' mount.set_fstab /mnt/foo /dev/sdz1 ext4",
        run: set_fstab,
    },
    FunctionSpec {
        name: "mount.umount",
        doc: "Unmount a file system: True, or the error text.\n\n\
              - name: the mount point.\n\
              - device: unmount this device instead of the mount point.",
        cli_example: "brine '*' mount.umount /mnt/foo",
        run: umount,
    },
];

/// Mount options as Salt takes them: a comma-separated string or a list.
fn opts_arg(v: Option<Value>) -> Result<Vec<String>, ModError> {
    match v {
        None => Ok(vec!["defaults".into()]),
        Some(v) => as_str_list("opts", &v),
    }
}

fn config_arg(v: Option<String>) -> PathBuf {
    PathBuf::from(v.unwrap_or_else(|| mounts::FSTAB.to_string()))
}

/// `true`, or the tool's error text as the value (Salt returns stderr).
fn true_or_text(r: Result<(), String>) -> Value {
    match r {
        Ok(()) => json!(true),
        Err(e) => json!(e),
    }
}

fn active(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let extended = a.opt_bool("extended", 0)?.unwrap_or(false);
        a.finish()?;
        off_thread(move || {
            let table = mounts::active(extended).map_err(ModError::Failed)?;
            Ok(Value::Object(table).into())
        })
        .await
    })
}

fn fstab(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let config = config_arg(a.opt_str("config", 0)?);
        a.finish()?;
        off_thread(move || Ok(Value::Object(mounts::fstab(&config)).into())).await
    })
}

fn is_mounted(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        a.finish()?;
        off_thread(move || {
            let table = mounts::active(false).map_err(ModError::Failed)?;
            Ok(json!(table.contains_key(&name)).into())
        })
        .await
    })
}

/// The arguments `mount` and `remount` share.
struct MountArgs {
    name: String,
    device: String,
    mkmnt: bool,
    fstype: String,
    opts: Vec<String>,
}

fn mount_args(args: Args) -> Result<MountArgs, ModError> {
    let mut a = args.parser();
    let name = a.take_str("name", 0)?;
    let device = a.take_str("device", 1)?;
    let mkmnt = a.opt_bool("mkmnt", 2)?.unwrap_or(false);
    let fstype = a.opt_str("fstype", 3)?.unwrap_or_default();
    let opts = a.opt("opts", 4)?;
    let opts = opts_arg(opts)?;
    a.ignore(&["user", "util"]);
    a.finish()?;
    Ok(MountArgs {
        name,
        device,
        mkmnt,
        fstype,
        opts,
    })
}

fn mount(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let m = mount_args(args)?;
        off_thread(move || {
            let r = mounts::mount(&m.name, &m.device, m.mkmnt, &m.fstype, &m.opts);
            Ok(true_or_text(r).into())
        })
        .await
    })
}

fn remount(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let m = mount_args(args)?;
        off_thread(move || {
            let r = mounts::remount(&m.name, &m.device, m.mkmnt, &m.fstype, &m.opts);
            Ok(true_or_text(r).into())
        })
        .await
    })
}

fn umount(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        let device = a.opt_str("device", 1)?;
        a.ignore(&["user", "util"]);
        a.finish()?;
        off_thread(move || Ok(true_or_text(mounts::umount(&name, device.as_deref())).into())).await
    })
}

fn rm_fstab(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        let device = a.opt_str("device", 1)?;
        let config = config_arg(a.opt_str("config", 2)?);
        a.finish()?;
        off_thread(move || {
            let done = mounts::rm_fstab(&config, &name, device.as_deref())
                .map_err(|e| ModError::Failed(e.to_string()))?;
            Ok(json!(done).into())
        })
        .await
    })
}

fn set_fstab(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        let device = a.take_str("device", 1)?;
        let fstype = a.take_str("fstype", 2)?;
        let opts = a.opt("opts", 3)?;
        let opts = opts_arg(opts)?.join(",");
        let dump = a.opt("dump", 4)?.map(|v| as_str("dump", &v)).transpose()?;
        let pass_num = a
            .opt("pass_num", 5)?
            .map(|v| as_str("pass_num", &v))
            .transpose()?;
        let config = config_arg(a.opt_str("config", 6)?);
        let test = a.opt_bool("test", 7)?.unwrap_or(false);
        let match_on = a.opt("match_on", 8)?;
        let match_on = match match_on {
            None => vec!["auto".to_string()],
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| as_str("match_on", i))
                .collect::<Result<_, _>>()?,
            Some(Value::String(s)) => vec![s],
            Some(_) => {
                return Err(ModError::Failed(
                    "match_on must be a string or list of strings".into(),
                ))
            }
        };
        let not_change = a.opt_bool("not_change", 9)?.unwrap_or(false);
        a.finish()?;
        let entry = FstabEntry {
            // Salt writes escaped spaces the way fstab spells them.
            device: device.replace("\\ ", "\\040"),
            name,
            fstype,
            opts: opts.replace("\\ ", "\\040"),
            dump: dump.unwrap_or_else(|| "0".into()),
            pass_num: pass_num.unwrap_or_else(|| "0".into()),
        };
        off_thread(move || {
            let status = mounts::set_fstab(&config, &entry, &match_on, test, not_change)
                .map_err(|e| ModError::Failed(e.to_string()))?;
            Ok(json!(status).into())
        })
        .await
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::sysexec::system_tests_enabled;
    use crate::registry::{test_call, test_ctx, ModFn};

    async fn call(f: ModFn, name: &'static str, arg: Value, kw: Value) -> Result<Value, String> {
        test_call(test_ctx(), f, name, arg, kw).await
    }

    #[tokio::test]
    async fn fstab_functions_on_a_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fstab");
        std::fs::write(&path, "# fstab\nUUID=1 / ext4 defaults 0 1\n").unwrap();
        let config = json!({"config": path.to_str().unwrap()});
        let new = json!(["/mnt/t", "tmpfs", "tmpfs"]);
        let kw = json!({"config": path.to_str().unwrap(), "opts": ["size=1m", "mode=700"]});
        assert_eq!(
            call(set_fstab, "mount.set_fstab", new.clone(), kw.clone())
                .await
                .unwrap(),
            "new"
        );
        assert_eq!(
            call(set_fstab, "mount.set_fstab", new.clone(), kw)
                .await
                .unwrap(),
            "present"
        );
        let kw = json!({"config": path.to_str().unwrap(), "opts": "size=2m", "test": true});
        assert_eq!(
            call(set_fstab, "mount.set_fstab", new.clone(), kw)
                .await
                .unwrap(),
            "change"
        );
        let tab = call(fstab, "mount.fstab", json!([]), config.clone())
            .await
            .unwrap();
        assert_eq!(
            tab["/mnt/t"],
            json!({"device": "tmpfs", "fstype": "tmpfs", "opts": ["size=1m", "mode=700"], "dump": "0", "pass": "0"})
        );
        assert_eq!(
            call(
                rm_fstab,
                "mount.rm_fstab",
                json!(["/mnt/t"]),
                config.clone()
            )
            .await
            .unwrap(),
            true
        );
        let tab = call(fstab, "mount.fstab", json!([]), config.clone())
            .await
            .unwrap();
        assert_eq!(
            tab.as_object().unwrap().keys().collect::<Vec<_>>(),
            vec!["/"]
        );
        let missing = json!({"config": dir.path().join("none").to_str().unwrap()});
        let err = call(set_fstab, "mount.set_fstab", new, missing)
            .await
            .unwrap_err();
        assert!(err.starts_with("Bad config file \""), "{err}");
    }

    #[tokio::test]
    async fn active_lists_the_root() {
        let live = call(active, "mount.active", json!([]), json!({}))
            .await
            .unwrap();
        assert!(live["/"]["fstype"].is_string(), "{live}");
        let ext = call(active, "mount.active", json!([true]), json!({}))
            .await
            .unwrap();
        assert!(ext["/"]["superopts"].is_array(), "{ext}");
        let mounted = call(is_mounted, "mount.is_mounted", json!(["/"]), json!({}))
            .await
            .unwrap();
        assert_eq!(mounted, true);
        let err = call(
            umount,
            "mount.umount",
            json!(["/nonexistent/brine"]),
            json!({}),
        )
        .await
        .unwrap();
        assert_eq!(err, "/nonexistent/brine does not have anything mounted");
    }

    #[tokio::test]
    async fn real_tmpfs_mount_remount_umount() {
        if !system_tests_enabled("real_tmpfs_mount_remount_umount") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let point = dir.path().join("mnt");
        let point_s = point.to_str().unwrap().to_string();
        /// Unmounts when dropped, so a failing test leaves no mount behind.
        struct Unmount(String);
        impl Drop for Unmount {
            fn drop(&mut self) {
                let _ = brine_states::modules::sys::run::Cmd::new("umount")
                    .arg(&self.0)
                    .run();
            }
        }
        let _guard = Unmount(point_s.clone());
        let args = json!([point_s, "tmpfs", true, "tmpfs", "size=1m"]);
        assert_eq!(
            call(mount, "mount.mount", args, json!({})).await.unwrap(),
            true
        );
        let live = call(active, "mount.active", json!([]), json!({}))
            .await
            .unwrap();
        assert_eq!(live[&point_s]["fstype"], "tmpfs");
        assert!(live[&point_s]["opts"]
            .as_array()
            .unwrap()
            .contains(&json!("size=1024k")));
        let args = json!([point_s, "tmpfs", false, "tmpfs", "size=2m"]);
        assert_eq!(
            call(remount, "mount.remount", args, json!({}))
                .await
                .unwrap(),
            true
        );
        let live = call(active, "mount.active", json!([]), json!({}))
            .await
            .unwrap();
        assert!(live[&point_s]["opts"]
            .as_array()
            .unwrap()
            .contains(&json!("size=2048k")));
        assert_eq!(
            call(umount, "mount.umount", json!([point_s]), json!({}))
                .await
                .unwrap(),
            true
        );
        let mounted = call(is_mounted, "mount.is_mounted", json!([point_s]), json!({}))
            .await
            .unwrap();
        assert_eq!(mounted, false);
    }
}
