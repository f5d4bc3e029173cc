//! Package managers behind `pkg.*`, through their command-line tools:
//! dpkg-query/apt-get/apt-cache on Debian, rpm/dnf (or yum) on RedHat.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::run::{which, Cmd};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Manager {
    Apt,
    Dnf,
}

/// Installed packages: name -> versions (several for multi-version rpms).
pub type Installed = BTreeMap<String, Vec<String>>;

impl Manager {
    /// From the `os_family` grain.
    pub fn for_family(os_family: &str) -> Result<Manager, String> {
        match os_family {
            "Debian" => Ok(Manager::Apt),
            "RedHat" => Ok(Manager::Dnf),
            other => Err(format!(
                "no package manager for os_family '{other}' (supported: Debian, RedHat)"
            )),
        }
    }

    fn dnf(&self) -> &'static str {
        if which("dnf") {
            "dnf"
        } else {
            "yum"
        }
    }

    /// The manager whose tools this host has: apt/dpkg, else dnf (or yum)
    /// with rpm.
    pub fn detect() -> Result<Manager, String> {
        if which("dpkg-query") && which("apt-get") {
            Ok(Manager::Apt)
        } else if which("rpm") && (which("dnf") || which("yum")) {
            Ok(Manager::Dnf)
        } else {
            Err("no supported package manager found (looked for apt-get with dpkg-query, and dnf or yum with rpm)".to_string())
        }
    }

    /// Installed packages (Salt's `pkg.list_pkgs`); with `removed`, those
    /// removed but with configuration left (dpkg `rc`), for purge.
    pub fn list(&self, removed: bool) -> Result<Installed, String> {
        match self {
            Manager::Apt => {
                let text = Cmd::new("dpkg-query")
                    .args(["-W", "-f=${Package}\t${Version}\t${db:Status-Abbrev}\n"])
                    .run_ok()?
                    .stdout;
                Ok(parse_dpkg_query(&text, removed))
            }
            Manager::Dnf => {
                if removed {
                    return Ok(Installed::new());
                }
                let text = Cmd::new("rpm")
                    .args([
                        "-qa",
                        "--queryformat",
                        "%{NAME}\t%{EPOCH}\t%{VERSION}-%{RELEASE}\n",
                    ])
                    .run_ok()?
                    .stdout;
                Ok(parse_rpm_qa(&text))
            }
        }
    }

    /// The version the repositories would install, if any.
    pub fn candidate(&self, name: &str) -> Option<String> {
        match self {
            Manager::Apt => {
                let out = Cmd::new("apt-cache").args(["policy", name]).run().ok()?;
                parse_apt_candidate(&out.stdout)
            }
            Manager::Dnf => {
                let out = Cmd::new(self.dnf())
                    .args([
                        "-q",
                        "repoquery",
                        "--latest-limit",
                        "1",
                        "--qf",
                        "%{epoch}:%{version}-%{release}",
                        name,
                    ])
                    .run()
                    .ok()?;
                out.stdout
                    .lines()
                    .last()
                    .map(|v| v.trim().strip_prefix("0:").unwrap_or(v.trim()).to_string())
            }
        }
        .filter(|v| !v.is_empty())
    }

    pub fn refresh(&self) -> Result<(), String> {
        self.refresh_report().map(drop)
    }

    /// Refreshes the package lists; for apt, what `apt-get update` said of
    /// each source as Salt's `pkg.refresh_db` returns it, for dnf `true`.
    pub fn refresh_report(&self) -> Result<Value, String> {
        match self {
            Manager::Apt => {
                let out = apt().args(["-q", "update"]).run()?;
                if !out.success() {
                    return Err(format!("apt-get update failed: {}", out.error_text()));
                }
                Ok(Value::Object(parse_apt_update(&out.stdout)))
            }
            Manager::Dnf => {
                let out = Cmd::new(self.dnf()).args(["-q", "-y", "makecache"]).run()?;
                Ok(Value::Bool(out.success()))
            }
        }
    }

    /// The command that upgrades every package (`dist_upgrade`: apt's
    /// dist-upgrade, which may add or remove packages).
    pub fn upgrade_cmd(&self, dist_upgrade: bool) -> Cmd {
        match self {
            Manager::Apt => apt().args(APT_CONF_OPTIONS).arg(if dist_upgrade {
                "dist-upgrade"
            } else {
                "upgrade"
            }),
            Manager::Dnf => Cmd::new(self.dnf()).args(["-y", "upgrade"]),
        }
    }

    /// Packages with a newer version available: `{name: version}`.
    pub fn list_upgrades(&self, dist_upgrade: bool) -> Result<BTreeMap<String, String>, String> {
        match self {
            Manager::Apt => {
                let out = apt()
                    .args([
                        "--just-print",
                        if dist_upgrade {
                            "dist-upgrade"
                        } else {
                            "upgrade"
                        },
                    ])
                    .run_ok()?;
                Ok(parse_apt_just_print(&out.stdout))
            }
            Manager::Dnf => {
                let out = Cmd::new(self.dnf())
                    .args(["-q", "list", "--upgrades"])
                    .run()?;
                if !out.success() && !out.stdout.trim().is_empty() {
                    return Err(out.error_text());
                }
                Ok(parse_dnf_list(&out.stdout))
            }
        }
    }

    /// Whether `name` is held (apt: dpkg selection `hold`; dnf: versionlock).
    /// `None` when the package manager knows no state for it.
    pub fn held(&self, name: &str) -> Result<Option<bool>, String> {
        match self {
            Manager::Apt => {
                let out = Cmd::new("dpkg").args(["--get-selections", name]).run()?;
                Ok(parse_selection(&out.stdout, name))
            }
            Manager::Dnf => {
                let out = Cmd::new(self.dnf())
                    .args(["-q", "versionlock", "list"])
                    .run()?;
                if !out.success() {
                    return Err(format!(
                        "Error: dnf versionlock plugin is not available: {}",
                        out.error_text()
                    ));
                }
                // entries read `bash-0:5.1.8-6.el9.*`
                Ok(Some(out.stdout.lines().any(|l| {
                    l.trim()
                        .strip_prefix(name)
                        .and_then(|r| r.strip_prefix('-'))
                        .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
                })))
            }
        }
    }

    /// Holds (`true`) or releases a package.
    pub fn set_hold(&self, name: &str, hold: bool) -> Result<(), String> {
        match self {
            Manager::Apt => Cmd::new("dpkg")
                .arg("--set-selections")
                .stdin(format!(
                    "{name} {}\n",
                    if hold { "hold" } else { "install" }
                ))
                .run_ok()
                .map(drop),
            Manager::Dnf => Cmd::new(self.dnf())
                .args([
                    "-q",
                    "-y",
                    "versionlock",
                    if hold { "add" } else { "delete" },
                    name,
                ])
                .run_ok()
                .map(drop),
        }
    }

    /// The package owning `path`, or "" (Salt's `pkg.owner`).
    pub fn owner(&self, path: &str) -> Result<String, String> {
        match self {
            Manager::Apt => {
                let out = Cmd::new("dpkg").args(["-S", path]).run()?;
                Ok(parse_dpkg_search(&out.stdout))
            }
            Manager::Dnf => {
                let out = Cmd::new("rpm")
                    .args(["-qf", "--queryformat", "%{name}", path])
                    .run()?;
                Ok(if out.success() {
                    out.stdout.trim().to_string()
                } else {
                    String::new()
                })
            }
        }
    }

    /// Files of installed packages (all installed packages when `names` is
    /// empty): Salt's `pkg.file_list`, `{"errors": [...], "files": [...]}`.
    pub fn file_list(&self, names: &[String]) -> Result<Value, String> {
        let installed = self.list(false)?;
        let mut errors = Vec::new();
        let mut wanted: Vec<String> = Vec::new();
        if names.is_empty() {
            wanted.extend(installed.keys().cloned());
        }
        for n in names {
            if installed.contains_key(n) {
                wanted.push(n.clone());
            } else {
                errors.push(match self {
                    Manager::Apt => format!("dpkg-query: no packages found matching {n}"),
                    Manager::Dnf => format!("package {n} is not installed"),
                });
            }
        }
        let mut files = std::collections::BTreeSet::new();
        if !wanted.is_empty() {
            let cmd = match self {
                Manager::Apt => Cmd::new("dpkg").arg("-L"),
                Manager::Dnf => Cmd::new("rpm").arg("-ql"),
            };
            let out = cmd.args(wanted).run_ok()?;
            files.extend(
                out.stdout
                    .lines()
                    .map(str::trim)
                    .filter(|l| l.starts_with('/'))
                    .map(str::to_string),
            );
        }
        Ok(json!({"errors": errors, "files": files.into_iter().collect::<Vec<_>>()}))
    }

    /// Installs `targets` (name, optional version).
    pub fn install(
        &self,
        targets: &[(String, Option<String>)],
        fromrepo: Option<&str>,
    ) -> Result<(), String> {
        self.install_cmd(targets, fromrepo).run_ok().map(drop)
    }

    /// The command [`Manager::install`] runs.
    pub fn install_cmd(&self, targets: &[(String, Option<String>)], fromrepo: Option<&str>) -> Cmd {
        match self {
            Manager::Apt => {
                let mut cmd = apt().args(APT_CONF_OPTIONS);
                if let Some(repo) = fromrepo {
                    cmd = cmd.args(["-t", repo]);
                }
                cmd.arg("install")
                    .args(targets.iter().map(|(n, v)| match v {
                        Some(v) => format!("{n}={v}"),
                        None => n.clone(),
                    }))
            }
            Manager::Dnf => {
                let mut cmd = Cmd::new(self.dnf()).arg("-y");
                if let Some(repo) = fromrepo {
                    cmd = cmd
                        .arg("--disablerepo=*")
                        .arg(format!("--enablerepo={repo}"));
                }
                cmd.arg("install")
                    .args(targets.iter().map(|(n, v)| match v {
                        Some(v) => format!("{n}-{v}"),
                        None => n.clone(),
                    }))
            }
        }
    }

    /// Removes (or purges, configuration included) `names`.
    pub fn remove(&self, names: &[String], purge: bool) -> Result<(), String> {
        self.remove_cmd(names, purge).run_ok().map(drop)
    }

    /// The command [`Manager::remove`] runs.
    pub fn remove_cmd(&self, names: &[String], purge: bool) -> Cmd {
        let cmd = match self {
            Manager::Apt => apt()
                .args(["-q", "-y"])
                .arg(if purge { "purge" } else { "remove" }),
            Manager::Dnf => Cmd::new(self.dnf()).args(["-y", "remove"]),
        };
        cmd.args(names.iter().cloned())
    }
}

/// apt-get options for unattended runs: keep changed config files, take the
/// maintainer's default when in doubt.
const APT_CONF_OPTIONS: [&str; 6] = [
    "-q",
    "-y",
    "-o",
    "DPkg::Options::=--force-confold",
    "-o",
    "DPkg::Options::=--force-confdef",
];

/// `dpkg-query -W -f='${Package}\t${Version}\t${db:Status-Abbrev}\n'`
/// output: installed (`ii`/`hi`) packages, or with `removed` those left as
/// configuration only (`rc`).
pub fn parse_dpkg_query(text: &str, removed: bool) -> Installed {
    let mut out = Installed::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 3 {
            continue;
        }
        let status = f[2].trim();
        let wanted = if removed {
            status.starts_with("rc")
        } else {
            status.starts_with("ii") || status.starts_with("hi")
        };
        if wanted {
            out.entry(f[0].to_string())
                .or_default()
                .push(f[1].to_string());
        }
    }
    for versions in out.values_mut() {
        versions.sort();
    }
    out
}

/// `rpm -qa --queryformat '%{NAME}\t%{EPOCH}\t%{VERSION}-%{RELEASE}\n'`
/// output; the epoch is shown only when set, gpg-pubkey entries skipped.
pub fn parse_rpm_qa(text: &str) -> Installed {
    let mut out = Installed::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 3 || f[0] == "gpg-pubkey" {
            continue;
        }
        let version = match f[1] {
            "(none)" | "0" | "" => f[2].to_string(),
            epoch => format!("{epoch}:{}", f[2]),
        };
        out.entry(f[0].to_string()).or_default().push(version);
    }
    for versions in out.values_mut() {
        versions.sort();
    }
    out
}

/// The `Candidate:` of `apt-cache policy NAME`.
pub fn parse_apt_candidate(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let v = l.trim().strip_prefix("Candidate:")?.trim();
        (v != "(none)" && !v.is_empty()).then(|| v.to_string())
    })
}

/// `apt-get update` output as Salt's `refresh_db` reports it: each source
/// line `Get` -> true, `Hit` -> null, `Ign`/`Err` -> false.
pub fn parse_apt_update(text: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for line in text.lines() {
        let mut cols = line.split_whitespace();
        let Some(kind) = cols.next() else { continue };
        let ident = cols.collect::<Vec<_>>().join(" ");
        let value = if kind.starts_with("Get") {
            // the download size at the end is not part of the source
            let ident = match ident.rfind(" [") {
                Some(i) if ident.ends_with("B]") => ident[..i].to_string(),
                _ => ident,
            };
            out.insert(ident, Value::Bool(true));
            continue;
        } else if kind.starts_with("Hit") {
            Value::Null
        } else if kind.starts_with("Ign") || kind.starts_with("Err") {
            Value::Bool(false)
        } else {
            continue;
        };
        out.insert(ident, value);
    }
    out
}

/// `apt-get --just-print upgrade` output: the `Conf NAME (VERSION ...)`
/// lines, as Salt's `_get_upgradable` reads them.
pub fn parse_apt_just_print(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("Conf ")?;
            let (name, rest) = rest.split_once(' ')?;
            let version = rest.strip_prefix('(')?.split_whitespace().next()?;
            Some((name.to_string(), version.to_string()))
        })
        .collect()
}

/// `dnf list --upgrades` output: `name.arch  version  repo` lines.
pub fn parse_dnf_list(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() != 3 {
                return None;
            }
            let (name, _arch) = f[0].rsplit_once('.')?;
            Some((name.to_string(), f[1].to_string()))
        })
        .collect()
}

/// `dpkg --get-selections NAME`: whether it is on `hold`; `None` when dpkg
/// has no selection for it.
pub fn parse_selection(text: &str, name: &str) -> Option<bool> {
    text.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        let pkg = f.next()?;
        let state = f.next()?;
        let bare = pkg.split(':').next().unwrap_or(pkg);
        (bare == name || pkg == name).then_some(state == "hold")
    })
}

/// `dpkg -S PATH` output: the owning package (before the first `:`), or ""
/// when no package owns the path.
pub fn parse_dpkg_search(text: &str) -> String {
    let first = text.lines().next().unwrap_or("");
    if first.to_ascii_lowercase().contains("no path found") {
        return String::new();
    }
    first.split(':').next().unwrap_or("").trim().to_string()
}

fn apt() -> Cmd {
    Cmd::new("apt-get")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env("APT_LISTCHANGES_FRONTEND", "none")
}

/// Salt's `salt.utils.data.compare_dicts` over two package lists:
/// `{name: {"old": "1.0", "new": "1.1"}}`, versions joined with commas.
pub fn diff(before: &Installed, after: &Installed) -> Map<String, Value> {
    let mut changes = Map::new();
    let names: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for name in names {
        let old = before.get(name).map(|v| v.join(",")).unwrap_or_default();
        let new = after.get(name).map(|v| v.join(",")).unwrap_or_default();
        if old != new {
            changes.insert(name.clone(), json!({"old": old, "new": new}));
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_read_the_tools_output() {
        let q = "bash\t5.2.15-2+b7\tii \ngone\t1.0\trc \nheld\t2\thi \nhalf\t3\tiU \n";
        let got = parse_dpkg_query(q, false);
        assert_eq!(got.keys().collect::<Vec<_>>(), vec!["bash", "held"]);
        assert_eq!(
            parse_dpkg_query(q, true).keys().collect::<Vec<_>>(),
            vec!["gone"]
        );
        let rpm = "bash\t(none)\t5.1.8-6.el9\nvim-enhanced\t2\t8.2-1\ngpg-pubkey\t(none)\t1-1\n";
        let got = parse_rpm_qa(rpm);
        assert_eq!(got["bash"], vec!["5.1.8-6.el9"]);
        assert_eq!(got["vim-enhanced"], vec!["2:8.2-1"]);
        assert!(!got.contains_key("gpg-pubkey"));
        let policy = "sl:\n  Installed: (none)\n  Candidate: 5.02-1+b1\n  Version table:\n";
        assert_eq!(parse_apt_candidate(policy).as_deref(), Some("5.02-1+b1"));
        assert_eq!(parse_apt_candidate("x:\n  Candidate: (none)\n"), None);
        let update = "Hit:1 http://deb.debian.org/debian bookworm InRelease\n\
                      Get:2 http://deb.debian.org/debian bookworm-updates InRelease [55.4 kB]\n\
                      Err:3 http://example.invalid/x stable InRelease\n\
                      Reading package lists...\n";
        assert_eq!(
            Value::Object(parse_apt_update(update)),
            json!({
                "http://deb.debian.org/debian bookworm InRelease": null,
                "http://deb.debian.org/debian bookworm-updates InRelease": true,
                "http://example.invalid/x stable InRelease": false
            })
        );
        let just = "Inst libc6 [2.36-9] (2.36-9+deb12u4 Debian:12.5/stable [amd64])\n\
                    Conf libc6 (2.36-9+deb12u4 Debian:12.5/stable [amd64])\n";
        assert_eq!(parse_apt_just_print(just)["libc6"], "2.36-9+deb12u4");
        let dnf = "Available Upgrades\nbash.x86_64   5.1.8-9.el9   baseos\n";
        assert_eq!(parse_dnf_list(dnf)["bash"], "5.1.8-9.el9");
        assert_eq!(parse_selection("sl\t\t\t\t\thold\n", "sl"), Some(true));
        assert_eq!(
            parse_selection("bash:amd64\tinstall\n", "bash"),
            Some(false)
        );
        assert_eq!(parse_selection("", "x"), None);
        assert_eq!(parse_dpkg_search("coreutils: /bin/ls\n"), "coreutils");
        assert_eq!(
            parse_dpkg_search("dpkg-query: no path found matching pattern /x\n"),
            ""
        );
    }

    #[test]
    fn command_lines_are_non_interactive() {
        let cmd = Manager::Apt.install_cmd(
            &[("sl".into(), Some("5.02-1".into())), ("jq".into(), None)],
            None,
        );
        assert_eq!(
            cmd.display(),
            "apt-get -q -y -o DPkg::Options::=--force-confold -o DPkg::Options::=--force-confdef install sl=5.02-1 jq"
        );
        assert_eq!(
            Manager::Apt.remove_cmd(&["sl".into()], true).display(),
            "apt-get -q -y purge sl"
        );
        assert!(Manager::Apt
            .upgrade_cmd(true)
            .display()
            .ends_with(" dist-upgrade"));
    }

    #[test]
    fn diff_reports_installed_upgraded_and_removed() {
        let mut before = Installed::new();
        before.insert("a".into(), vec!["1".into()]);
        before.insert("b".into(), vec!["2".into()]);
        let mut after = Installed::new();
        after.insert("b".into(), vec!["3".into()]);
        after.insert("c".into(), vec!["1.0".into()]);
        assert_eq!(
            Value::Object(diff(&before, &after)),
            json!({"a": {"old": "1", "new": ""}, "b": {"old": "2", "new": "3"}, "c": {"old": "", "new": "1.0"}})
        );
        assert!(Manager::for_family("Gentoo").is_err());
    }
}
