//! `disk.*`: file system usage as Salt's `disk.usage` reports it from
//! `df -P`, computed here from the mount table and statvfs(2) with df's own
//! rules (which mounts it lists, how it rounds).

use std::collections::BTreeMap;

use brine_states::modules::sys::mounts::unescape;
use serde_json::{json, Map, Value};

use crate::registry::{Args, CallCtx, FunctionSpec, ModError, ModFuture, ModOutput};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "disk.blkid",
        doc: "Return block device attributes as blkid reports them: {device: {UUID, TYPE, LABEL, ...}};\n\
              {} when blkid finds nothing.\n\n\
              - device: only this device.\n\
              - token: only devices matching NAME=value (e.g. TYPE=ext4).",
        cli_example: "brine '*' disk.blkid /dev/sda",
        run: blkid,
    },
    FunctionSpec {
        name: "disk.inodeusage",
        doc: "Return the inode usage of the mounted file systems, as `df -iP` lists them.\n\n\
              {mount point: {inodes, used, free, use, filesystem}}, numbers as strings and use like\n\
              \"7%\", as Salt returns it.\n\n\
              - args: df flags: `a` also lists pseudo and duplicate file systems, `l` only local ones.",
        cli_example: "brine '*' disk.inodeusage",
        run: inodeusage,
    },
    FunctionSpec {
        name: "disk.percent",
        doc: "Return the used share of each mounted file system: {mount point: \"42%\"}, or the\n\
              share of one mount point ({} when it is not mounted).\n\n\
              - args: a mount point.",
        cli_example: "brine '*' disk.percent /var",
        run: percent,
    },
    FunctionSpec {
        name: "disk.usage",
        doc: "Return the usage of the mounted file systems, as `df -P` lists them.\n\n\
              {mount point: {filesystem, 1K-blocks, used, available, capacity}}, numbers as strings and\n\
              capacity like \"42%\", as Salt returns it.\n\n\
              - args: df flags: `a` also lists pseudo and duplicate file systems, `l` only local ones.",
        cli_example: "brine '*' disk.usage",
        run: usage,
    },
];

/// Runs `collect` off the async workers: statvfs on a hung network mount blocks.
async fn df(flags: Flags, entry: fn(&str, &FsStats) -> Value) -> Result<Value, ModError> {
    tokio::task::spawn_blocking(move || collect(flags, entry))
        .await
        .map_err(|e| ModError::Failed(format!("disk worker failed: {e}")))?
}

fn usage(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let flags = parse_flags(&args, "disk.usage")?;
        Ok(ModOutput::from(df(flags, usage_entry).await?))
    })
}

fn inodeusage(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let flags = parse_flags(&args, "disk.inodeusage")?;
        Ok(ModOutput::from(df(flags, inode_entry).await?))
    })
}

fn percent(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let point = a.opt_str("args", 0)?;
        a.finish()?;
        let table = df(Flags::default(), usage_entry).await?;
        let shares: Map<String, Value> = table
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v["capacity"].clone()))
            .collect();
        let value = match point {
            None => Value::Object(shares),
            Some(p) => match shares.get(&p) {
                Some(share) => share.clone(),
                None => {
                    tracing::error!(
                        "Problem parsing disk usage information: Partition '{p}' does not exist!"
                    );
                    Value::Object(Map::new())
                }
            },
        };
        Ok(ModOutput::from(value))
    })
}

fn blkid(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let device = a.opt_str("device", 0)?;
        let token = a.opt_str("token", 1)?;
        a.finish()?;
        let found = tokio::task::spawn_blocking(move || {
            let mut cmd = brine_states::modules::sys::run::Cmd::new("blkid");
            if let Some(d) = &device {
                cmd = cmd.arg(d);
            } else if let Some(t) = &token {
                cmd = cmd.args(["-t", t]);
            }
            match cmd.run() {
                Ok(out) if out.success() => {
                    brine_states::modules::sys::mounts::parse_blkid(&out.stdout)
                }
                _ => Map::new(),
            }
        })
        .await
        .map_err(|e| ModError::Failed(format!("disk worker failed: {e}")))?;
        Ok(ModOutput::from(Value::Object(found)))
    })
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Flags {
    all: bool,
    local: bool,
}

/// Salt's optional `args` (df flags), positional or keyword.
fn parse_flags(args: &Args, fun: &str) -> Result<Flags, ModError> {
    let bad = |m: String| Err(ModError::BadArguments(format!("{fun}: {m}")));
    let unknown: Vec<&String> = args
        .kwarg
        .keys()
        .filter(|k| !k.starts_with("__") && *k != "args")
        .collect();
    if !unknown.is_empty() {
        return bad(format!("unexpected keyword argument {}", unknown[0]));
    }
    if args.arg.len() > 1 {
        return bad(format!(
            "takes at most 1 argument (df flags), got {}",
            args.arg.len()
        ));
    }
    let raw = match (args.arg.first(), args.kwarg.get("args")) {
        (Some(_), Some(_)) => return bad("`args` given twice".into()),
        (Some(v), None) | (None, Some(v)) => v,
        (None, None) => return Ok(Flags::default()),
    };
    let text = match raw {
        Value::Null => return Ok(Flags::default()),
        Value::String(s) => s.as_str(),
        other => return bad(format!("`args` must be a string of df flags, got {other}")),
    };
    let mut flags = Flags::default();
    for c in text.trim_start_matches('-').chars() {
        match c {
            'a' => flags.all = true,
            'l' => flags.local = true,
            'P' | 'k' => {}
            other => return bad(format!("unsupported df flag '{other}' (supported: a, l)")),
        }
    }
    Ok(flags)
}

fn collect(flags: Flags, entry: fn(&str, &FsStats) -> Value) -> Result<Value, ModError> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| ModError::Failed(format!("cannot read /proc/self/mountinfo: {e}")))?;
    let mounts = select_mounts(parse_mountinfo(&text), flags);
    let mut out = Map::new();
    for m in mounts {
        // Unreachable or vanished mounts are skipped, as df skips them.
        let Ok(st) = nix::sys::statvfs::statvfs(m.mount_point.as_str()) else {
            continue;
        };
        let stats = fs_stats(&st);
        if stats.blocks == 0 && !flags.all {
            continue;
        }
        out.insert(m.mount_point.clone(), entry(&m.source, &stats));
    }
    Ok(Value::Object(out))
}

/// One line of /proc/self/mountinfo.
#[derive(Debug, Clone, PartialEq)]
struct Mount {
    dev: String,
    mount_point: String,
    fs_type: String,
    source: String,
}

/// Parses mountinfo: `id parent major:minor root mountpoint opts [tags] - type source superopts`.
fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            if l.len() < 5 || r.len() < 2 {
                return None;
            }
            Some(Mount {
                dev: l[2].to_string(),
                mount_point: unescape(l[4]),
                fs_type: r[0].to_string(),
                source: unescape(r[1]),
            })
        })
        .collect()
}

/// GNU df's "dummy" file system types, hidden unless `-a`.
const DUMMY_TYPES: &[&str] = &[
    "autofs",
    "proc",
    "subfs",
    "debugfs",
    "devpts",
    "fusectl",
    "fuse.portal",
    "mqueue",
    "rpc_pipefs",
    "sysfs",
    "devfs",
    "kernfs",
    "ignore",
    "none",
];

const REMOTE_TYPES: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "ncpfs",
    "afs",
    "ceph",
    "glusterfs",
    "fuse.sshfs",
    "sshfs",
    "9p",
    "lustre",
    "gpfs",
];

fn is_remote(m: &Mount) -> bool {
    REMOTE_TYPES.contains(&m.fs_type.as_str())
        || m.source.contains(':')
        || m.source.starts_with("//")
}

/// The mounts df lists: without `-a`, dummy types are dropped and each
/// device is listed once (df's rule: a real device name wins over a pseudo
/// one, then the shortest mount point, then a newer mount over the same point).
fn select_mounts(mounts: Vec<Mount>, flags: Flags) -> Vec<Mount> {
    let mounts = mounts.into_iter().filter(|m| !flags.local || !is_remote(m));
    if flags.all {
        return mounts.collect();
    }
    let mut kept: Vec<Mount> = Vec::new();
    let mut by_dev: BTreeMap<String, usize> = BTreeMap::new();
    for m in mounts.filter(|m| !DUMMY_TYPES.contains(&m.fs_type.as_str())) {
        match by_dev.get(&m.dev) {
            Some(&i) => {
                let seen = &kept[i];
                let replace = (m.source.contains('/') && !seen.source.contains('/'))
                    || seen.mount_point.len() > m.mount_point.len()
                    || (seen.source != m.source && seen.mount_point == m.mount_point);
                if replace {
                    kept[i] = m;
                }
            }
            None => {
                by_dev.insert(m.dev.clone(), kept.len());
                kept.push(m);
            }
        }
    }
    kept
}

/// The statvfs numbers as u64: their C types are 32 bits wide on some
/// libcs and 64 on others, hence conversions that are no-ops here.
#[allow(clippy::useless_conversion)]
fn fs_stats(st: &nix::sys::statvfs::Statvfs) -> FsStats {
    let frsize = u64::from(st.fragment_size());
    FsStats {
        blocks: u64::from(st.blocks()),
        free: u64::from(st.blocks_free()),
        avail: u64::from(st.blocks_available()),
        files: u64::from(st.files()),
        ffree: u64::from(st.files_free()),
        frsize: if frsize == 0 {
            u64::from(st.block_size())
        } else {
            frsize
        },
    }
}

/// statvfs numbers, in units of `frsize` bytes.
struct FsStats {
    blocks: u64,
    free: u64,
    avail: u64,
    frsize: u64,
    /// Inodes in all, and free.
    files: u64,
    ffree: u64,
}

/// One `df -P` line as Salt's mapping: 1K blocks rounded up, `capacity` the
/// used share of what non-root users can have, rounded up, as df computes it.
fn usage_entry(source: &str, s: &FsStats) -> Value {
    let kib = |n: u64| (n as u128 * s.frsize as u128).div_ceil(1024).to_string();
    let used = s.blocks.saturating_sub(s.free);
    let denom = used as u128 + s.avail as u128;
    let capacity = if denom == 0 {
        "-".to_string()
    } else {
        format!("{}%", (used as u128 * 100).div_ceil(denom))
    };
    json!({
        "filesystem": source,
        "1K-blocks": kib(s.blocks),
        "used": kib(used),
        "available": kib(s.avail),
        "capacity": capacity,
    })
}

/// One `df -iP` line as Salt's mapping; `use` rounded up, as df does.
fn inode_entry(source: &str, s: &FsStats) -> Value {
    let used = s.files.saturating_sub(s.ffree);
    let share = if s.files == 0 {
        "-".to_string()
    } else {
        format!("{}%", (used as u128 * 100).div_ceil(s.files as u128))
    };
    json!({
        "inodes": s.files.to_string(),
        "used": used.to_string(),
        "free": s.ffree.to_string(),
        "use": share,
        "filesystem": source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
23 28 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
28 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro
29 28 0:25 / /run rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,size=815396k,mode=755
40 28 254:1 /srv/data /mnt/my\\040data rw,relatime shared:1 - ext4 /dev/vda1 rw
41 28 0:40 / /net/home rw,relatime - nfs4 fs1:/export/home rw,vers=4.2
";

    #[test]
    fn mountinfo_parsing_and_df_selection() {
        let mounts = parse_mountinfo(MOUNTINFO);
        assert_eq!(mounts.len(), 6);
        assert_eq!(mounts[4].mount_point, "/mnt/my data");
        let points = |ms: Vec<Mount>| ms.into_iter().map(|m| m.mount_point).collect::<Vec<_>>();
        // The bind mount of /dev/vda1 goes (a longer path to the same device).
        assert_eq!(
            points(select_mounts(mounts.clone(), Flags::default())),
            vec!["/", "/run", "/net/home"]
        );
        assert_eq!(
            points(select_mounts(
                mounts.clone(),
                Flags {
                    all: false,
                    local: true
                }
            )),
            vec!["/", "/run"]
        );
        assert_eq!(
            select_mounts(
                mounts,
                Flags {
                    all: true,
                    local: false
                }
            )
            .len(),
            6
        );
    }

    #[test]
    fn usage_numbers_as_df() {
        let s = FsStats {
            blocks: 2_563_397,
            free: 1_000_000,
            avail: 868_000,
            frsize: 4096,
            files: 0,
            ffree: 0,
        };
        assert_eq!(
            usage_entry("/dev/vda1", &s),
            json!({
                "filesystem": "/dev/vda1",
                "1K-blocks": "10253588",
                "used": "6253588",
                "available": "3472000",
                "capacity": "65%",
            })
        );
        let empty = FsStats {
            blocks: 0,
            free: 0,
            avail: 0,
            frsize: 4096,
            files: 0,
            ffree: 0,
        };
        assert_eq!(usage_entry("none", &empty)["capacity"], "-");
        // 512-byte units round up to whole KiB.
        let odd = FsStats {
            blocks: 3,
            free: 1,
            avail: 1,
            frsize: 512,
            files: 0,
            ffree: 0,
        };
        assert_eq!(usage_entry("x", &odd)["1K-blocks"], "2");
    }

    fn parse_flags_u(args: &Args) -> Result<Flags, ModError> {
        parse_flags(args, "disk.usage")
    }

    #[test]
    fn inode_numbers_as_df() {
        let s = FsStats {
            blocks: 10,
            free: 5,
            avail: 5,
            frsize: 4096,
            files: 655_360,
            ffree: 600_000,
        };
        assert_eq!(
            inode_entry("/dev/vda1", &s),
            json!({"inodes": "655360", "used": "55360", "free": "600000", "use": "9%", "filesystem": "/dev/vda1"})
        );
        let none = FsStats {
            files: 0,
            ffree: 0,
            ..s
        };
        assert_eq!(inode_entry("x", &none)["use"], "-");
    }

    #[tokio::test]
    async fn inodeusage_percent_and_blkid_through_the_registry() {
        use crate::registry::{test_call, test_ctx};
        let inodes = test_call(
            test_ctx(),
            inodeusage,
            "disk.inodeusage",
            json!([]),
            json!({}),
        )
        .await
        .unwrap();
        assert!(inodes["/"]["inodes"].is_string(), "{inodes}");
        let all = test_call(test_ctx(), percent, "disk.percent", json!([]), json!({}))
            .await
            .unwrap();
        assert!(all["/"].as_str().unwrap().ends_with('%'), "{all}");
        let root = test_call(test_ctx(), percent, "disk.percent", json!(["/"]), json!({}))
            .await
            .unwrap();
        assert_eq!(root, all["/"]);
        let none = test_call(
            test_ctx(),
            percent,
            "disk.percent",
            json!(["/nonexistent/x"]),
            json!({}),
        )
        .await
        .unwrap();
        assert_eq!(none, json!({}));
        let ids = test_call(
            test_ctx(),
            blkid,
            "disk.blkid",
            json!(["/nonexistent/dev"]),
            json!({}),
        )
        .await
        .unwrap();
        assert_eq!(ids, json!({}));
    }

    #[test]
    fn flags_and_bad_arguments() {
        let args = |arg: Vec<Value>| Args {
            arg,
            kwarg: Default::default(),
        };
        assert_eq!(parse_flags_u(&args(vec![])).unwrap(), Flags::default());
        assert_eq!(
            parse_flags_u(&args(vec![json!("a")])).unwrap(),
            Flags {
                all: true,
                local: false
            }
        );
        assert_eq!(
            parse_flags_u(&args(vec![json!("-al")])).unwrap(),
            Flags {
                all: true,
                local: true
            }
        );
        let err = parse_flags_u(&args(vec![json!("h")])).unwrap_err();
        assert!(err.to_string().contains("unsupported df flag 'h'"), "{err}");
        assert!(parse_flags_u(&args(vec![json!(1)])).is_err());
        let mut kw = Args::default();
        kw.kwarg.insert("bogus".into(), json!(1));
        assert!(matches!(parse_flags_u(&kw), Err(ModError::BadArguments(_))));
    }

    #[test]
    fn usage_on_this_machine_lists_the_root() {
        let v = collect(Flags::default(), usage_entry).unwrap();
        let root = &v["/"];
        assert!(
            root["capacity"]
                .as_str()
                .is_some_and(|c| c.ends_with('%') || c == "-"),
            "{v}"
        );
    }

    /// Through the registry, as a job would call it.
    #[tokio::test]
    async fn registered_and_runnable() {
        let f = crate::registry::lookup("disk.usage").expect("registered");
        let out = (f.run)(crate::registry::test_ctx(), Args::default())
            .await
            .expect("usage");
        assert!(out.value.get("/").is_some(), "{}", out.value);
        let args = Args {
            arg: vec![json!("x")],
            kwarg: Default::default(),
        };
        let res = (f.run)(crate::registry::test_ctx(), args).await;
        assert!(matches!(res, Err(ModError::BadArguments(_))));
    }
}
