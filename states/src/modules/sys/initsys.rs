//! Service control through whichever init system runs this host: systemd
//! (`systemctl`) when it is PID 1, otherwise SysV scripts in `/etc/init.d`
//! with `update-rc.d` (Debian) or `chkconfig` (RedHat) for boot-time enabling.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::run::{which, Cmd};

/// Unit types systemd manages; a name without one of these suffixes is a
/// service (Salt's `VALID_UNIT_TYPES`).
const UNIT_TYPES: &[&str] = &[
    "service",
    "socket",
    "device",
    "mount",
    "automount",
    "swap",
    "target",
    "path",
    "timer",
];

/// Where unit files live (Salt's `SYSTEM_CONFIG_PATHS` and `LOCAL_CONFIG_PATH`).
const UNIT_DIRS: &[&str] = &[
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/etc/systemd/system",
];

/// `nginx` -> `nginx.service`; names with a unit suffix stay as they are.
pub fn canonical_unit_name(name: &str) -> String {
    if UNIT_TYPES.iter().any(|t| name.ends_with(t)) {
        name.to_string()
    } else {
        format!("{name}.service")
    }
}

/// A systemctl command line, as Salt's `_systemctl_cmd` builds it.
pub fn systemctl_cmd(action: &str, name: Option<&str>, no_block: bool) -> Cmd {
    let mut cmd = Cmd::new("systemctl");
    if no_block {
        cmd = cmd.arg("--no-block");
    }
    cmd = cmd.args(action.split_whitespace());
    if let Some(name) = name {
        cmd = cmd.arg(canonical_unit_name(name));
    }
    cmd
}

/// A unit file name as Salt lists it: services without their suffix, other
/// unit types with it; `None` for names that are not units.
fn listed_unit_name(fullname: &str) -> Option<String> {
    let (unit, kind) = fullname.rsplit_once('.')?;
    if !UNIT_TYPES.contains(&kind) {
        return None;
    }
    Some(if kind == "service" {
        unit.to_string()
    } else {
        fullname.to_string()
    })
}

/// The units `systemctl list-unit-files --full --no-legend` reports in
/// `state` (`enabled`, `disabled`, ...), named as [`listed_unit_name`].
pub fn parse_unit_files(text: &str, state: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .lines()
        .filter_map(|line| {
            let mut cols = line.split_whitespace();
            let (full, unit_state) = (cols.next()?, cols.next()?);
            (unit_state == state).then(|| listed_unit_name(full))?
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// `systemctl show` output as Salt's `service.show` returns it: `{...}`
/// values become dicts, `Before`/`After`/`Wants` lists, the rest text.
pub fn parse_show(text: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for line in text.lines() {
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        let parsed = if let Some(inner) = value.strip_prefix('{') {
            let inner = inner.replace(['{', '}'], "");
            let mut fields = Map::new();
            for item in inner.split(" ; ") {
                let (k, v) = item.split_once('=').unwrap_or((item, ""));
                fields.insert(k.trim().to_string(), Value::String(v.trim().to_string()));
            }
            Value::Object(fields)
        } else if matches!(key, "Before" | "After" | "Wants") {
            Value::Array(
                value
                    .split_whitespace()
                    .map(|v| Value::String(v.to_string()))
                    .collect(),
            )
        } else {
            Value::String(value.to_string())
        };
        out.insert(key.to_string(), parsed);
    }
    out
}

/// What PID 1 is called (`/proc/1/comm`), to name a non-systemd init in
/// messages.
pub fn pid1_name() -> String {
    std::fs::read_to_string("/proc/1/comm")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}

#[derive(Debug, Clone, PartialEq)]
pub enum InitSystem {
    Systemd,
    /// Scripts in this directory (`/etc/init.d`; tests may use another).
    SysV {
        scripts: PathBuf,
        rc_root: PathBuf,
    },
}

impl InitSystem {
    /// Which init system this is, for messages.
    pub fn describe(&self) -> String {
        match self {
            InitSystem::Systemd => "systemd".to_string(),
            InitSystem::SysV { scripts, .. } => format!(
                "SysV init scripts in {} (PID 1 is '{}', not systemd)",
                scripts.display(),
                pid1_name()
            ),
        }
    }

    /// Refuses what only systemd can do, naming the init system found.
    pub fn require_systemd(&self, what: &str) -> Result<(), String> {
        match self {
            InitSystem::Systemd => Ok(()),
            other => Err(format!(
                "{what} needs systemd, but this host was not booted with systemd: it runs {}",
                other.describe()
            )),
        }
    }

    /// systemd when it booted the host (`/run/systemd/system` exists).
    pub fn detect() -> InitSystem {
        if Path::new("/run/systemd/system").is_dir() {
            InitSystem::Systemd
        } else {
            InitSystem::SysV {
                scripts: PathBuf::from("/etc/init.d"),
                rc_root: PathBuf::from("/etc"),
            }
        }
    }

    pub fn available(&self, name: &str) -> bool {
        match self {
            InitSystem::Systemd => Cmd::new("systemctl")
                .args(["show", "--property=LoadState", "--value"])
                .arg(canonical_unit_name(name))
                .run()
                .is_ok_and(|o| o.success() && !matches!(o.stdout.trim(), "not-found" | "")),
            InitSystem::SysV { scripts, .. } => scripts.join(name).is_file(),
        }
    }

    /// Whether it runs; with `sig`, whether a process command line contains it.
    pub fn status(&self, name: &str, sig: Option<&str>) -> bool {
        if let Some(sig) = sig {
            return Cmd::new("pgrep")
                .args(["-f", sig])
                .run()
                .is_ok_and(|o| o.success());
        }
        match self {
            InitSystem::Systemd => systemctl_cmd("is-active --quiet", Some(name), false)
                .run()
                .is_ok_and(|o| o.success()),
            InitSystem::SysV { .. } => self.script(name, "status").is_ok(),
        }
    }

    /// The command that runs `action` on `name`.
    pub fn action_cmd(&self, name: &str, action: &str, no_block: bool) -> Cmd {
        match self {
            InitSystem::Systemd => systemctl_cmd(action, Some(name), no_block),
            InitSystem::SysV { scripts, .. } => {
                Cmd::new(&scripts.join(name).to_string_lossy()).arg(action)
            }
        }
    }

    /// Runs `action`; the error is the tool's own message (Salt raises
    /// systemctl's stderr).
    pub fn action(&self, name: &str, action: &str, no_block: bool) -> Result<(), String> {
        if let InitSystem::SysV { scripts, .. } = self {
            if !scripts.join(name).is_file() {
                return Err(format!(
                    "Service {name} not found: no script {}",
                    scripts.join(name).display()
                ));
            }
        }
        let out = self.action_cmd(name, action, no_block).run()?;
        if out.success() {
            Ok(())
        } else {
            Err(out.error_text())
        }
    }

    fn script(&self, name: &str, action: &str) -> Result<(), String> {
        self.action(name, action, false)
    }

    pub fn force_reload(&self, name: &str) -> Result<(), String> {
        self.script(name, "force-reload")
    }

    /// Every service name (Salt's `get_all`): unit files plus executable
    /// init scripts without a unit of the same name.
    pub fn get_all(&self) -> Vec<String> {
        let mut all = std::collections::BTreeSet::new();
        if let InitSystem::Systemd = self {
            for dir in UNIT_DIRS {
                let path = Path::new(dir);
                if path.is_symlink() {
                    continue;
                }
                for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
                    if let Some(n) = listed_unit_name(&entry.file_name().to_string_lossy()) {
                        all.insert(n);
                    }
                }
            }
        }
        for script in self.sysv_scripts() {
            all.insert(script);
        }
        all.into_iter().collect()
    }

    /// The services whose names match a shell glob (`ssh*`).
    pub fn matching(&self, pattern: &str) -> Vec<String> {
        let all = self.get_all();
        crate::compile::fnmatch_filter(&all, pattern)
            .into_iter()
            .cloned()
            .collect()
    }

    /// Executable scripts in the init script directory.
    fn sysv_scripts(&self) -> Vec<String> {
        use std::os::unix::fs::PermissionsExt;
        let dir = match self {
            InitSystem::Systemd => PathBuf::from("/etc/init.d"),
            InitSystem::SysV { scripts, .. } => scripts.clone(),
        };
        let mut out: Vec<String> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| {
                e.metadata()
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        out.sort();
        out
    }

    /// Services started (`true`) or not started (`false`) at boot.
    pub fn get_by_boot(&self, on: bool) -> Vec<String> {
        let mut out = std::collections::BTreeSet::new();
        if let InitSystem::Systemd = self {
            let text = Cmd::new("systemctl")
                .args(["--full", "--no-legend", "--no-pager", "list-unit-files"])
                .run()
                .map(|o| o.stdout)
                .unwrap_or_default();
            out.extend(parse_unit_files(
                &text,
                if on { "enabled" } else { "disabled" },
            ));
            let units: std::collections::BTreeSet<String> = self.get_all_units();
            for s in self.sysv_scripts() {
                if !units.contains(&s) && self.sysv_enabled(&s) == on {
                    out.insert(s);
                }
            }
        } else {
            for s in self.sysv_scripts() {
                if self.enabled(&s) == on {
                    out.insert(s);
                }
            }
        }
        out.into_iter().collect()
    }

    fn get_all_units(&self) -> std::collections::BTreeSet<String> {
        UNIT_DIRS
            .iter()
            .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
            .filter_map(|e| listed_unit_name(&e.file_name().to_string_lossy()))
            .collect()
    }

    /// `systemctl show` as Salt's `service.show`; systemd only.
    pub fn show(&self, name: &str) -> Result<Map<String, Value>, String> {
        self.require_systemd("service.show")?;
        let out = systemctl_cmd("show", Some(name), false).run_ok()?;
        Ok(parse_show(&out.stdout))
    }

    fn sysv_enabled(&self, name: &str) -> bool {
        let rc_root = match self {
            InitSystem::Systemd => Path::new("/etc"),
            InitSystem::SysV { rc_root, .. } => rc_root.as_path(),
        };
        rc_start_link(rc_root, name)
    }

    pub fn start(&self, name: &str) -> Result<(), String> {
        self.script(name, "start")
    }

    pub fn stop(&self, name: &str) -> Result<(), String> {
        self.script(name, "stop")
    }

    pub fn restart(&self, name: &str) -> Result<(), String> {
        self.script(name, "restart")
    }

    pub fn reload(&self, name: &str) -> Result<(), String> {
        self.script(name, "reload")
    }

    /// Whether it starts at boot.
    pub fn enabled(&self, name: &str) -> bool {
        match self {
            InitSystem::Systemd => systemctl_cmd("is-enabled --quiet", Some(name), false)
                .run()
                .is_ok_and(|o| o.success()),
            InitSystem::SysV { rc_root, .. } => {
                if which("chkconfig") && !which("update-rc.d") {
                    return Cmd::new("chkconfig")
                        .arg(name)
                        .run()
                        .is_ok_and(|o| o.success());
                }
                rc_start_link(rc_root, name)
            }
        }
    }

    pub fn set_enabled(&self, name: &str, on: bool) -> Result<(), String> {
        match self {
            InitSystem::Systemd => {
                let out = systemctl_cmd(if on { "enable" } else { "disable" }, Some(name), false)
                    .run()?;
                if out.success() {
                    Ok(())
                } else {
                    Err(out.error_text())
                }
            }
            InitSystem::SysV { .. } => {
                if which("update-rc.d") {
                    if on {
                        // `defaults` makes the links when there are none;
                        // `enable` turns existing K links back into S links.
                        Cmd::new("update-rc.d").args([name, "defaults"]).run_ok()?;
                        Cmd::new("update-rc.d")
                            .args([name, "enable"])
                            .run_ok()
                            .map(drop)
                    } else {
                        Cmd::new("update-rc.d")
                            .args([name, "disable"])
                            .run_ok()
                            .map(drop)
                    }
                } else if which("chkconfig") {
                    Cmd::new("chkconfig")
                        .args([name, if on { "on" } else { "off" }])
                        .run_ok()
                        .map(drop)
                } else {
                    Err("neither update-rc.d nor chkconfig is available".to_string())
                }
            }
        }
    }
}

/// A start link for `name` in a multi-user runlevel (`/etc/rc[2-5].d/S??name`),
/// as Debian's service module checks.
fn rc_start_link(rc_root: &Path, name: &str) -> bool {
    ["rc2.d", "rc3.d", "rc4.d", "rc5.d"].iter().any(|rc| {
        std::fs::read_dir(rc_root.join(rc)).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                let file = e.file_name().to_string_lossy().to_string();
                file.starts_with('S') && file.len() > 3 && file[3..] == *name
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unit_names_and_command_lines_are_salts() {
        assert_eq!(canonical_unit_name("nginx"), "nginx.service");
        assert_eq!(canonical_unit_name("tmp.mount"), "tmp.mount");
        assert_eq!(
            systemctl_cmd("restart", Some("nginx"), true).display(),
            "systemctl --no-block restart nginx.service"
        );
        assert_eq!(
            systemctl_cmd("is-active --quiet", Some("cron"), false).display(),
            "systemctl is-active --quiet cron.service"
        );
    }

    #[test]
    fn list_unit_files_is_filtered_by_state() {
        let text = "cron.service                 enabled  enabled\n\
                    ssh.service                  disabled enabled\n\
                    tmp.mount                    enabled  -\n\
                    getty@.service               static   -\n\
                    weird                        enabled\n";
        assert_eq!(parse_unit_files(text, "enabled"), vec!["cron", "tmp.mount"]);
        assert_eq!(parse_unit_files(text, "disabled"), vec!["ssh"]);
    }

    #[test]
    fn show_output_is_parsed_like_salt() {
        let text = "Id=cron.service\nAfter=network.target remote-fs.target\n\
                    ExecStart={ path=/usr/sbin/cron ; argv[]=/usr/sbin/cron -f ; ignore_errors=no }\n\
                    Environment=A=1\n";
        let got = Value::Object(parse_show(text));
        assert_eq!(got["Id"], "cron.service");
        assert_eq!(got["After"], json!(["network.target", "remote-fs.target"]));
        assert_eq!(got["ExecStart"]["path"], "/usr/sbin/cron");
        assert_eq!(got["ExecStart"]["argv[]"], "/usr/sbin/cron -f");
        assert_eq!(got["Environment"], "A=1");
    }

    #[test]
    fn sysv_lists_scripts_and_refuses_show() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::TempDir::new().unwrap();
        let scripts = dir.path().join("init.d");
        std::fs::create_dir_all(&scripts).unwrap();
        std::fs::create_dir_all(dir.path().join("rc2.d")).unwrap();
        for (name, mode) in [("alpha", 0o755), ("beta", 0o755), ("README", 0o644)] {
            let p = scripts.join(name);
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        std::os::unix::fs::symlink("../init.d/alpha", dir.path().join("rc2.d/S01alpha")).unwrap();
        let init = InitSystem::SysV {
            scripts: scripts.clone(),
            rc_root: dir.path().into(),
        };
        assert_eq!(init.get_all(), vec!["alpha", "beta"]);
        assert_eq!(init.get_by_boot(true), vec!["alpha"]);
        assert_eq!(init.get_by_boot(false), vec!["beta"]);
        let err = init.show("alpha").unwrap_err();
        assert!(err.starts_with("service.show needs systemd, but this host was not booted with systemd: it runs SysV init scripts in"), "{err}");
        assert!(init
            .action("nope", "start", false)
            .unwrap_err()
            .contains("Service nope not found"));
    }
}
