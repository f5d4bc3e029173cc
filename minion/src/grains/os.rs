//! Distribution grains from `/etc/os-release` (and `/etc/lsb-release` where a
//! distribution ships one), following Salt's `_linux_distribution_data`,
//! `_osrelease_data` and `_osarch`: `os`, `os_family`, `osfullname`,
//! `osrelease`, `osrelease_info`, `osmajorrelease`, `oscodename`, `osfinger`,
//! `osarch`, `lsb_distrib_*`, plus `init`, `selinux` and `transactional`.
//!
//! Salt's own code derives most of these from os-release and keeps two
//! tables (`_OS_NAME_MAP`, `_OS_FAMILY_MAP`) for historic names; the tables
//! below are those, so `os: Rocky`, `osfinger: Rocky Linux-9`,
//! `os_family: RedHat` come out exactly as Salt's.

use std::collections::HashMap;
use std::path::Path;

use brine_proto::Grains;
use serde_json::{json, Value};

use super::{in_path, put, read, read_trim};

/// First ten characters (no spaces, lowercased) of the name -> Salt's `os`.
const OS_NAME_MAP: &[(&str, &str)] = &[
    ("redhatente", "RedHat"),
    ("gentoobase", "Gentoo"),
    ("archarm", "Arch ARM"),
    ("arch", "Arch"),
    ("debian", "Debian"),
    ("raspbian", "Raspbian"),
    ("fedoraremi", "Fedora"),
    ("chapeau", "Chapeau"),
    ("korora", "Korora"),
    ("amazonami", "Amazon"),
    ("alt", "ALT"),
    ("enterprise", "OEL"),
    ("oracleserv", "OEL"),
    ("cloudserve", "CloudLinux"),
    ("cloudlinux", "CloudLinux"),
    ("almalinux", "AlmaLinux"),
    ("pidora", "Fedora"),
    ("scientific", "ScientificLinux"),
    ("synology", "Synology"),
    ("nilrt", "NILinuxRT"),
    ("poky", "Poky"),
    ("manjaro", "Manjaro"),
    ("manjarolin", "Manjaro"),
    ("univention", "Univention"),
    ("antergos", "Antergos"),
    ("sles", "SUSE"),
    ("void", "Void"),
    ("slesexpand", "RES"),
    ("linuxmint", "Mint"),
    ("neon", "KDE neon"),
    ("pop", "Pop"),
    ("rocky", "Rocky"),
    ("alibabaclo", "Alinux"),
    ("mendel", "Mendel"),
];

/// Salt's `os` -> `os_family`.
const OS_FAMILY_MAP: &[(&str, &str)] = &[
    ("Ubuntu", "Debian"),
    ("Fedora", "RedHat"),
    ("Chapeau", "RedHat"),
    ("Korora", "RedHat"),
    ("FedBerry", "RedHat"),
    ("CentOS", "RedHat"),
    ("CentOS Stream", "RedHat"),
    ("GoOSe", "RedHat"),
    ("Scientific", "RedHat"),
    ("Amazon", "RedHat"),
    ("CloudLinux", "RedHat"),
    ("AlmaLinux", "RedHat"),
    ("OVS", "RedHat"),
    ("OEL", "RedHat"),
    ("XCP", "RedHat"),
    ("XCP-ng", "RedHat"),
    ("XenServer", "RedHat"),
    ("RES", "RedHat"),
    ("Sangoma", "RedHat"),
    ("VMware Photon OS", "RedHat"),
    ("Mandrake", "Mandriva"),
    ("Mint", "Debian"),
    ("VMwareESX", "VMware"),
    ("Bluewhite64", "Bluewhite"),
    ("Slamd64", "Slackware"),
    ("SLES", "Suse"),
    ("SUSE Enterprise Server", "Suse"),
    ("SLED", "Suse"),
    ("openSUSE", "Suse"),
    ("SUSE", "Suse"),
    ("openSUSE Leap", "Suse"),
    ("openSUSE Tumbleweed", "Suse"),
    ("SLES_SAP", "Suse"),
    ("Arch ARM", "Arch"),
    ("Manjaro", "Arch"),
    ("Manjaro ARM", "Arch"),
    ("Antergos", "Arch"),
    ("EndeavourOS", "Arch"),
    ("ALT", "RedHat"),
    ("Trisquel", "Debian"),
    ("GCEL", "Debian"),
    ("Linaro", "Debian"),
    ("elementary OS", "Debian"),
    ("elementary", "Debian"),
    ("Univention", "Debian"),
    ("ScientificLinux", "RedHat"),
    ("Raspbian", "Debian"),
    ("Devuan", "Debian"),
    ("antiX", "Debian"),
    ("Kali", "Debian"),
    ("Parrot OS", "Debian"),
    ("neon", "Debian"),
    ("Cumulus", "Debian"),
    ("Deepin", "Debian"),
    ("NILinuxRT", "NILinuxRT"),
    ("KDE neon", "Debian"),
    ("Void", "Void"),
    ("IDMS", "Debian"),
    ("Funtoo", "Gentoo"),
    ("TurnKey", "Debian"),
    ("Pop", "Debian"),
    ("Rocky", "RedHat"),
    ("AstraLinuxCE", "Debian"),
    ("AstraLinuxSE", "Debian"),
    ("Alinux", "RedHat"),
    ("Mendel", "Debian"),
    ("OSMC", "Debian"),
];

pub(super) fn collect(g: &mut Grains) {
    let os_release = read("/etc/os-release")
        .or_else(|| read("/usr/lib/os-release"))
        .unwrap_or_default();
    let lsb = read("/etc/lsb-release");
    let cpuarch = g
        .get("cpuarch")
        .and_then(Value::as_str)
        .unwrap_or(std::env::consts::ARCH)
        .to_string();
    for (k, v) in os_grains(&parse_os_release(&os_release), lsb.as_deref(), &cpuarch) {
        g.insert(k, v);
    }
    put(g, "init", init_system());
    if let Some(se) = selinux() {
        g.insert("selinux".into(), se);
    }
    // Salt: true when the `transactional-update` tool exists (MicroOS, SLE Micro).
    g.insert(
        "transactional".into(),
        json!(in_path("transactional-update")),
    );
}

/// Parses os-release text as Python's `platform.freedesktop_os_release`:
/// `KEY=value` lines, one level of quotes removed, shell escapes undone;
/// `NAME`, `ID` and `PRETTY_NAME` default to the spec's values.
pub(super) fn parse_os_release(text: &str) -> HashMap<String, String> {
    let mut out: HashMap<String, String> =
        [("NAME", "Linux"), ("ID", "linux"), ("PRETTY_NAME", "Linux")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    for line in text.lines() {
        let line = line.trim();
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        if key.is_empty() || !key.chars().all(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        out.insert(key.to_string(), unquote(raw));
    }
    out
}

fn unquote(raw: &str) -> String {
    let raw = raw.strip_prefix(['"', '\'']).unwrap_or(raw);
    let raw = raw.strip_suffix(['"', '\'']).unwrap_or(raw);
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(&n) = chars.peek() {
                if matches!(n, '$' | '"' | '\'' | '\\' | '`') {
                    out.push(n);
                    chars.next();
                    continue;
                }
            }
        }
        out.push(c);
    }
    out
}

/// `/etc/lsb-release` (`DISTRIB_ID=Ubuntu` ...) -> `lsb_distrib_*` keys.
fn parse_lsb_release(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let Some((key, raw)) = line.trim().split_once('=') else {
            continue;
        };
        if let Some(name) = key.strip_prefix("DISTRIB_") {
            if matches!(name, "ID" | "RELEASE" | "CODENAME" | "DESCRIPTION") {
                let v = unquote(raw.trim()).trim_end().to_string();
                out.insert(format!("lsb_distrib_{}", name.to_lowercase()), v);
            }
        }
    }
    out
}

/// Salt's `_derive_os_grain`: the `os` grain from os-release `NAME` and `ID`.
pub(super) fn derive_os(name: &str, id: &str) -> String {
    match (id, name) {
        ("astra", "Astra Linux (Orel)") => return "AstraLinuxCE".into(),
        ("astra", "Astra Linux (Smolensk)") => return "AstraLinuxSE".into(),
        ("pop", "Pop!_OS") => return "Pop".into(),
        _ => {}
    }
    let distro = strip_linux(name);
    let distro = distro.trim();
    let short: String = distro
        .chars()
        .filter(|c| *c != ' ')
        .flat_map(char::to_lowercase)
        .take(10)
        .collect();
    OS_NAME_MAP
        .iter()
        .find(|(k, _)| *k == short)
        .map(|(_, v)| v.to_string())
        .unwrap_or_else(|| distro.to_string())
}

/// Removes every `\W(gnu/)?linux` (case-insensitive), as Salt's
/// `_REPLACE_LINUX_RE`: "Debian GNU/Linux" -> "Debian", "Rocky Linux" -> "Rocky".
fn strip_linux(name: &str) -> String {
    let mut out = String::new();
    let mut rest = name;
    'outer: while let Some(c) = rest.chars().next() {
        if !(c.is_alphanumeric() || c == '_') {
            let after = &rest[c.len_utf8()..];
            let lower = after.to_ascii_lowercase();
            for pat in ["gnu/linux", "linux"] {
                if lower.starts_with(pat) {
                    rest = &after[pat.len()..];
                    continue 'outer;
                }
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Salt's `_family_id`: the oldest ancestor named in `ID_LIKE`.
fn family_id(id: &str, id_like: Option<&str>) -> String {
    let Some(like) = id_like.filter(|l| !l.trim().is_empty()) else {
        return id.to_string();
    };
    let ids: Vec<&str> = std::iter::once(id).chain(like.split_whitespace()).collect();
    if ids.contains(&"debian") || ids.contains(&"ubuntu") {
        return "debian".into();
    }
    ids.last().copied().unwrap_or(id).to_string()
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f
            .to_uppercase()
            .chain(c.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

/// The `os_family` grain. Salt takes it from its `_OS_FAMILY_MAP` (falling
/// back to `os` itself); for a derivative missing from that table but naming
/// its ancestors in `ID_LIKE`, the ancestor is used (Salt's os-release path),
/// so e.g. a new Debian derivative still gets `Debian`.
fn os_family(os: &str, id: &str, id_like: Option<&str>) -> String {
    if let Some((_, fam)) = OS_FAMILY_MAP.iter().find(|(k, _)| *k == os) {
        return fam.to_string();
    }
    if id_like.is_some_and(|l| !l.trim().is_empty()) {
        let fam = family_id(id, id_like);
        return if fam == "fedora" {
            "RedHat".into()
        } else {
            capitalize(&fam)
        };
    }
    os.to_string()
}

/// The text between the first `(` and the following `)`, if any.
fn in_parens(s: &str) -> Option<&str> {
    let (_, rest) = s.split_once('(')?;
    Some(rest.split_once(')').map_or(rest, |(inner, _)| inner))
}

/// Every distribution grain from parsed os-release (and lsb-release text).
pub(super) fn os_grains(
    osr: &HashMap<String, String>,
    lsb_release: Option<&str>,
    cpuarch: &str,
) -> Grains {
    let get = |k: &str| osr.get(k).map(String::as_str);
    let id = get("ID").unwrap_or("linux").trim();
    let name = get("NAME").unwrap_or("Linux");
    let mut os = derive_os(name, id);
    let mut fullname = name.trim().to_string();

    // lsb_distrib_*: from /etc/lsb-release when present (Ubuntu), otherwise
    // from os-release as Salt's fallback does.
    let mut lsb = lsb_release.map(parse_lsb_release).unwrap_or_default();
    if !lsb.contains_key("lsb_distrib_id") {
        // Debian's own `lsb_release` says "Debian" where os-release says
        // "Debian GNU/Linux"; the other distributions' names are kept.
        let lsb_id = if id == "debian" {
            "Debian"
        } else {
            name.trim()
        };
        lsb.insert("lsb_distrib_id".into(), lsb_id.to_string());
        if let Some(v) = get("VERSION_ID") {
            lsb.insert("lsb_distrib_release".into(), v.to_string());
        }
        let codename = get("VERSION_CODENAME").or(get("PRETTY_NAME")).unwrap_or("");
        lsb.insert("lsb_distrib_codename".into(), codename.to_string());
        lsb.insert(
            "lsb_distrib_description".into(),
            get("PRETTY_NAME").unwrap_or("").to_string(),
        );
    }

    // SUSE: Salt recognises it from CPE_NAME's vendor.
    let cpe_vendor = get("CPE_NAME")
        .and_then(|c| c.split(':').nth(if c.starts_with("cpe:/") { 2 } else { 3 }))
        .map(str::to_lowercase);
    if matches!(cpe_vendor.as_deref(), Some("suse" | "opensuse")) {
        os = "SUSE".into();
        if name == "openSUSE Leap" {
            fullname = "Leap".into();
        } else if get("VERSION") == Some("Tumbleweed") {
            fullname = "Tumbleweed".into();
        }
    }

    // Rocky and Alma put the codename in brackets: "Rocky Linux 9.4 (Blue Onyx)".
    if matches!(os.as_str(), "Rocky" | "AlmaLinux") {
        if let Some(c) = lsb.get("lsb_distrib_codename").and_then(|c| in_parens(c)) {
            let c = c.to_string();
            lsb.insert("lsb_distrib_codename".into(), c);
        }
    }
    let version_codename = get("VERSION").and_then(in_parens).unwrap_or("").to_string();
    let mut codename = lsb
        .get("lsb_distrib_codename")
        .map(|c| c.trim().to_string())
        .unwrap_or_default();
    if codename.is_empty() || codename.contains("Red Hat") {
        codename = version_codename;
    }
    let osrelease = lsb
        .get("lsb_distrib_release")
        .cloned()
        .or_else(|| get("VERSION_ID").map(str::to_string))
        .unwrap_or_default()
        .trim()
        .to_string();
    let family = os_family(&os, id, get("ID_LIKE"));

    let mut g = Grains::new();
    for (k, v) in lsb {
        g.insert(k, json!(v));
    }
    put(&mut g, "os", os.clone());
    put(&mut g, "os_family", family.clone());
    put(&mut g, "osfullname", fullname.clone());
    put(&mut g, "oscodename", codename);
    put(&mut g, "osrelease", osrelease.clone());
    put(&mut g, "osarch", osarch(&family, cpuarch));
    if !osrelease.is_empty() {
        for (k, v) in osrelease_data(&os, &fullname, &osrelease) {
            g.insert(k, v);
        }
    }
    g
}

/// Salt's `_osrelease_data`: `osrelease_info`, `osmajorrelease`, `osfinger`.
pub(super) fn osrelease_data(os: &str, fullname: &str, osrelease: &str) -> Grains {
    let info: Vec<Value> = osrelease
        .split('.')
        .map(|p| match p.parse::<i64>() {
            Ok(n) if p.chars().all(|c| c.is_ascii_digit()) => json!(n),
            _ => json!(p),
        })
        .collect();
    let mut g = Grains::new();
    if let Some(major) = info.first().and_then(Value::as_i64) {
        g.insert("osmajorrelease".into(), json!(major));
    }
    let name = if matches!(
        os,
        "Debian" | "FreeBSD" | "OpenBSD" | "NetBSD" | "Mac" | "Raspbian"
    ) {
        os
    } else {
        fullname
    };
    let version = if matches!(os, "Ubuntu" | "Pop") {
        osrelease.to_string()
    } else {
        match &info[0] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    };
    put(&mut g, "osfinger", format!("{name}-{version}"));
    g.insert("osrelease_info".into(), Value::Array(info));
    g
}

/// Salt's `osarch`: the package architecture. Debian's is what
/// `dpkg --print-architecture` prints, which is a fixed mapping of the
/// machine name; RPM distributions use the machine name itself.
pub(super) fn osarch(os_family: &str, cpuarch: &str) -> String {
    if os_family != "Debian" {
        return cpuarch.to_string();
    }
    let deb = match cpuarch {
        "x86_64" => "amd64",
        "aarch64" | "arm64" => "arm64",
        "i386" | "i486" | "i586" | "i686" => "i386",
        "ppc64le" => "ppc64el",
        "ppc64" => "ppc64",
        "mips64" => "mips64el",
        "loongarch64" => "loong64",
        a if a.starts_with("armv5") || a.starts_with("armv4") => "armel",
        a if a.starts_with("arm") => "armhf",
        other => other,
    };
    deb.to_string()
}

/// Salt's `init` grain: systemd when `/run/systemd/system` exists, else
/// named from PID 1's command (Salt also scans the init binary for strings;
/// reading a binary at every start is not worth it).
fn init_system() -> &'static str {
    if Path::new("/run/systemd/system").is_dir() {
        return "systemd";
    }
    let cmdline = read("/proc/1/cmdline").unwrap_or_default();
    let argv0 = cmdline.split('\0').next().unwrap_or("");
    let comm = read_trim("/proc/1/comm").unwrap_or_default();
    let link = std::fs::read_link("/sbin/init")
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    init_from(argv0, &comm, &link, Path::new("/etc/inittab").exists())
}

/// Pure part of [`init_system`].
fn init_from(argv0: &str, comm: &str, sbin_init_link: &str, has_inittab: bool) -> &'static str {
    let base = argv0.rsplit('/').next().unwrap_or(argv0);
    let name = if base.is_empty() { comm } else { base };
    match name {
        "systemd" => "systemd",
        "runit" | "runsvdir" | "my_init" => "runit",
        "supervisord" => "supervisord",
        "dumb-init" => "dumb-init",
        "tini" | "docker-init" => "tini",
        "init" if sbin_init_link.contains("systemd") => "systemd",
        "init" if sbin_init_link.contains("busybox") => "unknown",
        "init" if has_inittab => "sysvinit",
        _ => "unknown",
    }
}

/// Salt's `selinux` grain, present when the SELinux tools are installed:
/// `enabled` (selinuxfs mounted) and `enforced` (`getenforce`'s word).
fn selinux() -> Option<Value> {
    if !in_path("selinuxenabled") {
        return None;
    }
    let enforce = read_trim("/sys/fs/selinux/enforce");
    let enforced = match enforce.as_deref() {
        Some("1") => "Enforcing",
        Some(_) => "Permissive",
        None => "Disabled",
    };
    Some(json!({"enabled": enforce.is_some(), "enforced": enforced}))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN12: &str = r#"PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"#;

    const UBUNTU2204: &str = r#"PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
UBUNTU_CODENAME=jammy
"#;

    const UBUNTU_LSB: &str = "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=22.04\nDISTRIB_CODENAME=jammy\nDISTRIB_DESCRIPTION=\"Ubuntu 22.04.4 LTS\"\n";

    const ROCKY9: &str = r#"NAME="Rocky Linux"
VERSION="9.4 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.4"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Rocky Linux 9.4 (Blue Onyx)"
ANSI_COLOR="0;32"
CPE_NAME="cpe:/o:rocky:rocky:9::baseos"
"#;

    const ALPINE: &str = "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME=\"Alpine Linux v3.19\"\nHOME_URL=\"https://alpinelinux.org/\"\n";

    const RHEL9: &str = "NAME=\"Red Hat Enterprise Linux\"\nVERSION=\"9.4 (Plow)\"\nID=\"rhel\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"9.4\"\nPRETTY_NAME=\"Red Hat Enterprise Linux 9.4 (Plow)\"\n";

    const LEAP: &str = "NAME=\"openSUSE Leap\"\nVERSION=\"15.5\"\nID=\"opensuse-leap\"\nID_LIKE=\"suse opensuse\"\nVERSION_ID=\"15.5\"\nPRETTY_NAME=\"openSUSE Leap 15.5\"\nCPE_NAME=\"cpe:/o:opensuse:leap:15.5\"\n";

    fn grains(text: &str, lsb: Option<&str>, arch: &str) -> Grains {
        os_grains(&parse_os_release(text), lsb, arch)
    }

    #[test]
    fn debian_12_matches_the_golden_grains() {
        let g = grains(DEBIAN12, None, "x86_64");
        assert_eq!(g["os"], "Debian");
        assert_eq!(g["os_family"], "Debian");
        assert_eq!(g["osfullname"], "Debian GNU/Linux");
        assert_eq!(g["osrelease"], "12");
        assert_eq!(g["osrelease_info"], json!([12]));
        assert_eq!(g["osmajorrelease"], 12);
        assert_eq!(g["oscodename"], "bookworm");
        assert_eq!(g["osfinger"], "Debian-12");
        assert_eq!(g["osarch"], "amd64");
        assert_eq!(g["lsb_distrib_id"], "Debian");
        assert_eq!(g["lsb_distrib_codename"], "bookworm");
        assert_eq!(g["lsb_distrib_release"], "12");
        assert_eq!(
            g["lsb_distrib_description"],
            "Debian GNU/Linux 12 (bookworm)"
        );
    }

    #[test]
    fn ubuntu_2204() {
        let g = grains(UBUNTU2204, Some(UBUNTU_LSB), "aarch64");
        assert_eq!(g["os"], "Ubuntu");
        assert_eq!(g["os_family"], "Debian");
        assert_eq!(g["osrelease"], "22.04");
        assert_eq!(g["osrelease_info"], json!([22, 4]));
        assert_eq!(g["osmajorrelease"], 22);
        assert_eq!(g["oscodename"], "jammy");
        assert_eq!(g["osfinger"], "Ubuntu-22.04");
        assert_eq!(g["osarch"], "arm64");
        assert_eq!(g["lsb_distrib_id"], "Ubuntu");
        assert_eq!(g["lsb_distrib_description"], "Ubuntu 22.04.4 LTS");
    }

    #[test]
    fn rocky_9_matches_the_golden_grains() {
        let g = grains(ROCKY9, None, "x86_64");
        assert_eq!(g["os"], "Rocky");
        assert_eq!(g["os_family"], "RedHat");
        assert_eq!(g["osfullname"], "Rocky Linux");
        assert_eq!(g["osrelease"], "9.4");
        assert_eq!(g["osrelease_info"], json!([9, 4]));
        assert_eq!(g["osmajorrelease"], 9);
        assert_eq!(g["oscodename"], "Blue Onyx");
        assert_eq!(g["osfinger"], "Rocky Linux-9");
        assert_eq!(g["osarch"], "x86_64");
        assert_eq!(g["lsb_distrib_id"], "Rocky Linux");
        assert_eq!(g["lsb_distrib_codename"], "Blue Onyx");
        assert_eq!(g["lsb_distrib_description"], "Rocky Linux 9.4 (Blue Onyx)");
    }

    #[test]
    fn alpine_rhel_and_suse() {
        let g = grains(ALPINE, None, "x86_64");
        assert_eq!(g["os"], "Alpine");
        assert_eq!(g["os_family"], "Alpine");
        assert_eq!(g["osrelease_info"], json!([3, 19, 1]));
        assert_eq!(g["osfinger"], "Alpine Linux-3");
        assert_eq!(g["oscodename"], "Alpine Linux v3.19");

        let g = grains(RHEL9, None, "x86_64");
        assert_eq!(g["os"], "RedHat");
        assert_eq!(g["os_family"], "RedHat");
        assert_eq!(g["oscodename"], "Plow");
        assert_eq!(g["osfinger"], "Red Hat Enterprise Linux-9");

        let g = grains(LEAP, None, "x86_64");
        assert_eq!(g["os"], "SUSE");
        assert_eq!(g["os_family"], "Suse");
        assert_eq!(g["osfullname"], "Leap");
        assert_eq!(g["osfinger"], "Leap-15");
    }

    #[test]
    fn os_names_as_salt() {
        assert_eq!(derive_os("CentOS Stream", "centos"), "CentOS Stream");
        assert_eq!(derive_os("AlmaLinux", "almalinux"), "AlmaLinux");
        assert_eq!(derive_os("Oracle Linux Server", "ol"), "OEL");
        assert_eq!(derive_os("Linux Mint", "linuxmint"), "Mint");
        assert_eq!(derive_os("Fedora Linux", "fedora"), "Fedora");
        assert_eq!(derive_os("Arch Linux", "arch"), "Arch");
        assert_eq!(derive_os("Pop!_OS", "pop"), "Pop");
        // An unmapped derivative gets its ancestor's family.
        assert_eq!(
            os_family("Zorin OS", "zorin", Some("ubuntu debian")),
            "Debian"
        );
        assert_eq!(os_family("Gentoo", "gentoo", None), "Gentoo");
    }

    #[test]
    fn os_release_quoting() {
        let m = parse_os_release("A='x y'\nB=\"a \\\"q\\\" \\$HOME\"\n# comment\nbad line\n");
        assert_eq!(m["A"], "x y");
        assert_eq!(m["B"], "a \"q\" $HOME");
        assert_eq!(m["NAME"], "Linux");
    }

    #[test]
    fn init_names() {
        assert_eq!(
            init_from("/sbin/init", "init", "/lib/systemd/systemd", false),
            "systemd"
        );
        assert_eq!(init_from("/usr/bin/tini", "tini", "", false), "tini");
        assert_eq!(init_from("", "runit", "", false), "runit");
        assert_eq!(init_from("/sbin/init", "init", "", true), "sysvinit");
        assert_eq!(
            init_from("/process_api", "process_api", "", false),
            "unknown"
        );
    }
}
