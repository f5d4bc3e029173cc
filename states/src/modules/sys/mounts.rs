//! Mounts as Salt's `mount` module sees them: the kernel's mount table
//! (`/proc/self/mounts`, `/proc/self/mountinfo`), an fstab file edited the
//! way `mount.set_fstab` and `mount.rm_fstab` edit it, and `mount`/`umount`.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::run::Cmd;

pub const FSTAB: &str = "/etc/fstab";
pub const PROC_MOUNTS: &str = "/proc/self/mounts";
pub const PROC_MOUNTINFO: &str = "/proc/self/mountinfo";

/// Why an fstab edit failed; the texts are Salt's `CommandExecutionError`s.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FstabError {
    #[error("Bad config file \"{0}\"")]
    BadConfig(String),
    #[error("Couldn't read from {0}: {1}")]
    Read(String, String),
    #[error("File not writable {0}")]
    Write(String),
    #[error("Unrecognized keys in match_on: \"{0}\"")]
    BadMatchOn(String),
}

/// Undoes the kernel's octal escapes (`\040` for a space).
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match oct {
            Some(d) if b[i] == b'\\' => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            _ => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).to_string()
}

fn opts_list(s: &str) -> Vec<String> {
    s.split(',').map(str::to_string).collect()
}

/// Salt's `mount.active` from `/proc/self/mounts` text:
/// `{mount point: {device, fstype, opts}}`, a later mount over the same
/// point replacing the earlier one.
pub fn parse_mounts(text: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 {
            continue;
        }
        out.insert(
            unescape(f[1]),
            json!({"device": unescape(f[0]), "fstype": f[2], "opts": opts_list(f[3])}),
        );
    }
    out
}

/// Salt's `mount.active extended=True` from `/proc/self/mountinfo` text:
/// `{mount point: {mountid, parentid, major, minor, root, opts, fstype,
/// device, alt_device, superopts, device_uuid, device_label}}`; the uuid and
/// label come from `blkid` (`blkid_of(device)`).
pub fn parse_mountinfo(
    text: &str,
    blkid_of: &dyn Fn(&str) -> Option<Map<String, Value>>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let Some(sep) = f.iter().position(|x| *x == "-") else {
            continue;
        };
        if sep < 6 || f.len() < sep + 4 {
            continue;
        }
        let (major, minor) = f[2].split_once(':').unwrap_or((f[2], ""));
        let device = unescape(f[sep + 2]);
        let ids = blkid_of(&device).unwrap_or_default();
        let uuid = ids
            .get("UUID")
            .and_then(Value::as_str)
            .map(str::to_lowercase);
        let label = ids.get("LABEL").cloned().unwrap_or(Value::Null);
        out.insert(
            unescape(f[4]),
            json!({
                "mountid": f[0],
                "parentid": f[1],
                "major": major,
                "minor": minor,
                "root": unescape(f[3]),
                "opts": opts_list(f[5]),
                "fstype": f[sep + 1],
                "device": device,
                "alt_device": device,
                "superopts": opts_list(f[sep + 3]),
                "device_uuid": uuid,
                "device_label": label,
            }),
        );
    }
    out
}

/// `blkid` output: `{device: {UUID, TYPE, LABEL, ...}}` (Salt's `disk.blkid`).
pub fn parse_blkid(text: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for line in text.lines() {
        let Some((device, rest)) = line.split_once(": ") else {
            continue;
        };
        let mut info = Map::new();
        // KEY="value" pairs; values may hold spaces.
        let mut rest = rest.trim();
        while let Some((key, after)) = rest.split_once("=\"") {
            let Some((value, tail)) = after.split_once('"') else {
                break;
            };
            info.insert(key.trim().to_string(), json!(value));
            rest = tail.trim_start();
        }
        out.insert(device.to_string(), Value::Object(info));
    }
    out
}

/// `blkid [device]`, parsed; `{}` when blkid is missing or finds nothing.
pub fn blkid(device: Option<&str>) -> Map<String, Value> {
    let mut cmd = Cmd::new("blkid");
    if let Some(d) = device {
        cmd = cmd.arg(d);
    }
    match cmd.run() {
        Ok(out) => parse_blkid(&out.stdout),
        Err(_) => Map::new(),
    }
}

/// The live mount table (Salt's `mount.active`).
pub fn active(extended: bool) -> Result<Map<String, Value>, String> {
    if extended {
        let text = std::fs::read_to_string(PROC_MOUNTINFO)
            .map_err(|e| format!("{PROC_MOUNTINFO}: {e}"))?;
        let ids = blkid(None);
        Ok(parse_mountinfo(&text, &|d| {
            ids.get(d).and_then(Value::as_object).cloned()
        }))
    } else {
        let text =
            std::fs::read_to_string(PROC_MOUNTS).map_err(|e| format!("{PROC_MOUNTS}: {e}"))?;
        Ok(parse_mounts(&text))
    }
}

/// One fstab line's six fields (Salt's `_fstab_entry`).
#[derive(Debug, Clone, PartialEq)]
pub struct FstabEntry {
    pub device: String,
    pub name: String,
    pub fstype: String,
    pub opts: String,
    pub dump: String,
    pub pass_num: String,
}

impl FstabEntry {
    /// Parses a line; `None` for comments, blank lines and lines without
    /// 4 to 6 fields (missing dump and pass read as "0").
    pub fn parse(line: &str) -> Option<FstabEntry> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if !(4..=6).contains(&f.len()) {
            return None;
        }
        let get = |i: usize| f.get(i).copied().unwrap_or("0").to_string();
        Some(FstabEntry {
            device: get(0),
            name: get(1),
            fstype: get(2),
            opts: get(3),
            dump: get(4),
            pass_num: get(5),
        })
    }

    /// The line Salt writes.
    pub fn render(&self) -> String {
        format!(
            "{}\t\t{}\t\t{}\t\t{}\t\t{} {}\n",
            self.device, self.name, self.fstype, self.opts, self.dump, self.pass_num
        )
    }

    fn field(&self, key: &str) -> Option<&str> {
        Some(match key {
            "device" => &self.device,
            "name" => &self.name,
            "fstype" => &self.fstype,
            "opts" => &self.opts,
            "dump" => &self.dump,
            "pass_num" | "pass" => &self.pass_num,
            _ => return None,
        })
    }
}

/// Salt's `mount.fstab`: `{name: {device, fstype, opts: [...], dump, pass}}`;
/// a name listed twice gets `_` appended. `{}` when the file is missing.
pub fn fstab(path: &Path) -> Map<String, Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = Map::new();
    for e in text.lines().filter_map(FstabEntry::parse) {
        let mut name = e.name.clone();
        while out.contains_key(&name) {
            name.push('_');
        }
        out.insert(
            name,
            json!({
                "device": e.device,
                "fstype": e.fstype,
                "opts": opts_list(&e.opts),
                "dump": e.dump,
                "pass": e.pass_num,
            }),
        );
    }
    out
}

/// File systems Salt matches on the mount point rather than the device
/// (`match_on="auto"`).
const SPECIAL_FS: &[&str] = &[
    "none",
    "tmpfs",
    "sysfs",
    "proc",
    "fusectl",
    "debugfs",
    "securityfs",
    "devtmpfs",
    "cgroup",
    "btrfs",
];

/// The fields an existing line is matched on: `auto` is the mount point for
/// special file systems, the device otherwise.
pub fn match_keys(match_on: &[String], fstype: &str) -> Result<Vec<String>, FstabError> {
    let keys: Vec<String> = match match_on {
        [one] if one == "auto" => {
            let k = if SPECIAL_FS.contains(&fstype) {
                "name"
            } else {
                "device"
            };
            vec![k.to_string()]
        }
        other => other.to_vec(),
    };
    let probe = FstabEntry::parse("a b c d").expect("four fields parse");
    let bad: Vec<&String> = keys.iter().filter(|k| probe.field(k).is_none()).collect();
    if !bad.is_empty() {
        let names: Vec<&str> = bad.iter().map(|s| s.as_str()).collect();
        return Err(FstabError::BadMatchOn(names.join(", ")));
    }
    Ok(keys)
}

/// Salt's `set_fstab` on fstab text: the new text (when it changes) and
/// `"present"`, `"change"` or `"new"`. A line matching on `keys` is
/// replaced unless it already equals `entry` (or `not_change`).
pub fn set_fstab_text(
    text: &str,
    entry: &FstabEntry,
    keys: &[String],
    not_change: bool,
) -> (String, &'static str) {
    let mut out = String::new();
    let mut status: Option<&'static str> = None;
    for raw in text.split_inclusive('\n') {
        let Some(line) = FstabEntry::parse(raw) else {
            out.push_str(raw);
            continue;
        };
        if keys.iter().all(|k| line.field(k) == entry.field(k)) {
            if line == *entry || not_change {
                status.get_or_insert("present");
                out.push_str(raw);
            } else {
                status = Some("change");
                out.push_str(&entry.render());
            }
        } else {
            out.push_str(raw);
        }
    }
    let status = match status {
        Some(s) => s,
        None => {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&entry.render());
            "new"
        }
    };
    (out, status)
}

/// Salt's `set_fstab` on a file; the file is written unless `test` or the
/// entry is already present.
pub fn set_fstab(
    path: &Path,
    entry: &FstabEntry,
    match_on: &[String],
    test: bool,
    not_change: bool,
) -> Result<&'static str, FstabError> {
    let keys = match_keys(match_on, &entry.fstype)?;
    let shown = path.display().to_string();
    if !path.is_file() {
        return Err(FstabError::BadConfig(shown));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| FstabError::Read(shown.clone(), e.to_string()))?;
    let (new, status) = set_fstab_text(&text, entry, &keys, not_change);
    if status != "present" && !test {
        std::fs::write(path, new).map_err(|_| FstabError::Write(shown))?;
    }
    Ok(status)
}

/// Salt's `rm_fstab` on fstab text: the lines whose mount point is `name`
/// (and device is `device`, when given) removed.
pub fn rm_fstab_text(text: &str, name: &str, device: Option<&str>) -> (String, bool) {
    let mut out = String::new();
    let mut removed = false;
    for raw in text.split_inclusive('\n') {
        let hit = FstabEntry::parse(raw)
            .is_some_and(|e| e.name == name && device.is_none_or(|d| e.device == d));
        if hit {
            removed = true;
        } else {
            out.push_str(raw);
        }
    }
    (out, removed)
}

/// Salt's `rm_fstab` on a file: true whether or not a line was there.
pub fn rm_fstab(path: &Path, name: &str, device: Option<&str>) -> Result<bool, FstabError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| FstabError::Read(shown.clone(), e.to_string()))?;
    let (new, removed) = rm_fstab_text(&text, name, device);
    if removed {
        std::fs::write(path, new).map_err(|_| FstabError::Write(shown))?;
    }
    Ok(true)
}

/// Salt's `mount.mount`: `mount -o opts [-t fstype] device name`, the
/// mount point created first when `mkmnt`. `Err` holds what to report
/// (mount's stderr).
pub fn mount(
    name: &str,
    device: &str,
    mkmnt: bool,
    fstype: &str,
    opts: &[String],
) -> Result<(), String> {
    if mkmnt && !Path::new(name).exists() {
        std::fs::create_dir_all(name).map_err(|e| format!("{name}: {e}"))?;
    }
    let mut cmd = Cmd::new("mount");
    if !opts.is_empty() {
        cmd = cmd.args(["-o".to_string(), opts.join(",")]);
    }
    if !fstype.is_empty() {
        cmd = cmd.args(["-t", fstype]);
    }
    let out = cmd.args([device, name]).run()?;
    if out.success() {
        Ok(())
    } else {
        Err(out.stderr)
    }
}

/// Salt's `mount.remount`: `mount -o opts,remount` when mounted, else a
/// plain mount.
pub fn remount(
    name: &str,
    device: &str,
    mkmnt: bool,
    fstype: &str,
    opts: &[String],
) -> Result<(), String> {
    let mounted = active(false)?.contains_key(name);
    if !mounted {
        return mount(name, device, mkmnt, fstype, opts);
    }
    let mut opts = opts.to_vec();
    if !opts.iter().any(|o| o == "remount") {
        opts.push("remount".into());
    }
    mount(name, device, false, fstype, &opts)
}

/// Salt's `mount.umount`: `umount device` (or `umount name`); an error when
/// nothing is mounted at `name`.
pub fn umount(name: &str, device: Option<&str>) -> Result<(), String> {
    if !active(false)?.contains_key(name) {
        return Err(format!("{name} does not have anything mounted"));
    }
    let out = Cmd::new("umount").arg(device.unwrap_or(name)).run()?;
    if out.success() {
        Ok(())
    } else {
        Err(out.stderr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS: &str = "sysfs /sys sysfs rw,nosuid 0 0\n\
        /dev/sda1 / ext4 rw,relatime 0 0\n\
        tmpfs /mnt/with\\040space tmpfs rw,size=1024k 0 0\n";

    const MOUNTINFO: &str = "\
22 28 0:21 / /sys rw,nosuid shared:7 - sysfs sysfs rw\n\
28 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro\n";

    #[test]
    fn active_shapes() {
        let m = parse_mounts(MOUNTS);
        assert_eq!(
            m["/"],
            json!({"device": "/dev/sda1", "fstype": "ext4", "opts": ["rw", "relatime"]})
        );
        assert_eq!(m["/mnt/with space"]["opts"], json!(["rw", "size=1024k"]));
        let ids = |d: &str| {
            (d == "/dev/sda1").then(|| {
                let mut m = Map::new();
                m.insert("UUID".into(), json!("ABCD-01"));
                m
            })
        };
        let x = parse_mountinfo(MOUNTINFO, &ids);
        assert_eq!(
            x["/"],
            json!({
                "mountid": "28", "parentid": "1", "major": "8", "minor": "1", "root": "/",
                "opts": ["rw", "relatime"], "fstype": "ext4", "device": "/dev/sda1",
                "alt_device": "/dev/sda1", "superopts": ["rw", "errors=remount-ro"],
                "device_uuid": "abcd-01", "device_label": null
            })
        );
        assert_eq!(x["/sys"]["device_uuid"], Value::Null);
    }

    #[test]
    fn active_reads_this_machines_table() {
        let live = active(false).unwrap();
        assert!(live.contains_key("/"), "{live:?}");
        assert!(live["/"]["opts"].as_array().is_some());
    }

    #[test]
    fn blkid_lines() {
        let out = parse_blkid(
            "/dev/sda1: UUID=\"1234-AB\" TYPE=\"vfat\" PARTUUID=\"x-01\"\n\
             /dev/sdb1: LABEL=\"my disk\" UUID=\"u2\" TYPE=\"ext4\"\n",
        );
        assert_eq!(
            out["/dev/sda1"],
            json!({"UUID": "1234-AB", "TYPE": "vfat", "PARTUUID": "x-01"})
        );
        assert_eq!(out["/dev/sdb1"]["LABEL"], "my disk");
    }

    const FSTAB_TEXT: &str = "# static\n\
        UUID=1 / ext4 errors=remount-ro 0 1\n\
        tmpfs /tmp tmpfs defaults\n\
        /dev/sdb1 /data xfs noatime 0 2\n";

    fn entry(device: &str, name: &str, fstype: &str, opts: &str) -> FstabEntry {
        FstabEntry {
            device: device.into(),
            name: name.into(),
            fstype: fstype.into(),
            opts: opts.into(),
            dump: "0".into(),
            pass_num: "0".into(),
        }
    }

    #[test]
    fn fstab_shape() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fstab");
        std::fs::write(&path, format!("{FSTAB_TEXT}tmpfs /tmp tmpfs size=1m 0 0\n")).unwrap();
        let f = fstab(&path);
        assert_eq!(
            f["/"],
            json!({"device": "UUID=1", "fstype": "ext4", "opts": ["errors=remount-ro"], "dump": "0", "pass": "1"})
        );
        assert_eq!(f["/tmp"]["pass"], "0");
        assert_eq!(f["/tmp_"]["opts"], json!(["size=1m"]));
        assert!(fstab(&dir.path().join("missing")).is_empty());
    }

    #[test]
    fn set_fstab_new_present_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fstab");
        std::fs::write(&path, FSTAB_TEXT).unwrap();
        let auto = vec!["auto".to_string()];
        let e = entry("tmpfs", "/tmp", "tmpfs", "defaults");
        assert_eq!(set_fstab(&path, &e, &auto, false, false), Ok("present"));
        let e = entry("tmpfs", "/tmp", "tmpfs", "size=2m");
        assert_eq!(set_fstab(&path, &e, &auto, true, false), Ok("change"));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            FSTAB_TEXT,
            "test=True writes nothing"
        );
        assert_eq!(set_fstab(&path, &e, &auto, false, false), Ok("change"));
        assert_eq!(set_fstab(&path, &e, &auto, false, false), Ok("present"));
        let n = entry("/dev/sdc1", "/srv", "ext4", "defaults");
        assert_eq!(set_fstab(&path, &n, &auto, false, false), Ok("new"));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "# static\nUUID=1 / ext4 errors=remount-ro 0 1\n\
             tmpfs\t\t/tmp\t\ttmpfs\t\tsize=2m\t\t0 0\n\
             /dev/sdb1 /data xfs noatime 0 2\n\
             /dev/sdc1\t\t/srv\t\text4\t\tdefaults\t\t0 0\n"
        );
        // Non-special file systems match on the device: same device, new mount point.
        let moved = entry("/dev/sdb1", "/data2", "xfs", "noatime");
        assert_eq!(set_fstab(&path, &moved, &auto, true, false), Ok("change"));
        assert_eq!(
            set_fstab(&path, &moved, &["bogus".to_string()], true, false),
            Err(FstabError::BadMatchOn("bogus".into()))
        );
        let missing = dir.path().join("nope");
        assert_eq!(
            set_fstab(&missing, &moved, &auto, false, false)
                .unwrap_err()
                .to_string(),
            format!("Bad config file \"{}\"", missing.display())
        );
    }

    #[test]
    fn rm_fstab_by_name_and_device() {
        let (t, hit) = rm_fstab_text(FSTAB_TEXT, "/data", Some("/dev/other"));
        assert!(!hit);
        assert_eq!(t, FSTAB_TEXT);
        let (t, hit) = rm_fstab_text(FSTAB_TEXT, "/data", None);
        assert!(hit);
        assert_eq!(
            t,
            "# static\nUUID=1 / ext4 errors=remount-ro 0 1\ntmpfs /tmp tmpfs defaults\n"
        );
    }
}
