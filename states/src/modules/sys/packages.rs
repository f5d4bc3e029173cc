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

    /// Installed packages (Salt's `pkg.list_pkgs`); with `removed`, those
    /// removed but with configuration left (dpkg `rc`), for purge.
    pub fn list(&self, removed: bool) -> Result<Installed, String> {
        let mut out = Installed::new();
        match self {
            Manager::Apt => {
                let text = Cmd::new("dpkg-query")
                    .args(["-W", "-f=${Package}\t${Version}\t${db:Status-Abbrev}\n"])
                    .run_ok()?
                    .stdout;
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
            }
            Manager::Dnf => {
                if removed {
                    return Ok(out);
                }
                let text = Cmd::new("rpm")
                    .args([
                        "-qa",
                        "--queryformat",
                        "%{NAME}\t%{EPOCH}\t%{VERSION}-%{RELEASE}\n",
                    ])
                    .run_ok()?
                    .stdout;
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
            }
        }
        for versions in out.values_mut() {
            versions.sort();
        }
        Ok(out)
    }

    /// The version the repositories would install, if any.
    pub fn candidate(&self, name: &str) -> Option<String> {
        match self {
            Manager::Apt => {
                let out = Cmd::new("apt-cache").args(["policy", name]).run().ok()?;
                out.stdout.lines().find_map(|l| {
                    let v = l.trim().strip_prefix("Candidate:")?.trim();
                    (v != "(none)" && !v.is_empty()).then(|| v.to_string())
                })
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
        match self {
            Manager::Apt => apt().args(["-q", "update"]).run_ok().map(drop),
            Manager::Dnf => Cmd::new(self.dnf())
                .args(["-q", "-y", "makecache"])
                .run_ok()
                .map(drop),
        }
    }

    /// Installs `targets` (name, optional version).
    pub fn install(
        &self,
        targets: &[(String, Option<String>)],
        fromrepo: Option<&str>,
    ) -> Result<(), String> {
        let cmd = match self {
            Manager::Apt => {
                let mut cmd = apt().args([
                    "-q",
                    "-y",
                    "-o",
                    "DPkg::Options::=--force-confold",
                    "-o",
                    "DPkg::Options::=--force-confdef",
                ]);
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
        };
        cmd.run_ok().map(drop)
    }

    /// Removes (or purges, configuration included) `names`.
    pub fn remove(&self, names: &[String], purge: bool) -> Result<(), String> {
        let cmd = match self {
            Manager::Apt => apt()
                .args(["-q", "-y"])
                .arg(if purge { "purge" } else { "remove" }),
            Manager::Dnf => Cmd::new(self.dnf()).args(["-y", "remove"]),
        };
        cmd.args(names.iter().cloned()).run_ok().map(drop)
    }
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
