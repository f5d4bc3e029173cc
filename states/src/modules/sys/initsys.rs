//! Service control through whichever init system runs this host: systemd
//! (`systemctl`) when it is PID 1, otherwise SysV scripts in `/etc/init.d`
//! with `update-rc.d` (Debian) or `chkconfig` (RedHat) for boot-time enabling.

use std::path::{Path, PathBuf};

use super::run::{which, Cmd};

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
                .args(["show", "--property=LoadState", "--value", name])
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
            InitSystem::Systemd => Cmd::new("systemctl")
                .args(["is-active", "--quiet", name])
                .run()
                .is_ok_and(|o| o.success()),
            InitSystem::SysV { .. } => self.script(name, "status").is_ok(),
        }
    }

    fn script(&self, name: &str, action: &str) -> Result<(), String> {
        match self {
            InitSystem::Systemd => Cmd::new("systemctl")
                .args([action, name])
                .run_ok()
                .map(drop),
            InitSystem::SysV { scripts, .. } => {
                let path = scripts.join(name);
                Cmd::new(&path.to_string_lossy())
                    .arg(action)
                    .run_ok()
                    .map(drop)
            }
        }
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
            InitSystem::Systemd => Cmd::new("systemctl")
                .args(["is-enabled", "--quiet", name])
                .run()
                .is_ok_and(|o| o.success()),
            InitSystem::SysV { rc_root, .. } => {
                if which("chkconfig") && !which("update-rc.d") {
                    return Cmd::new("chkconfig")
                        .arg(name)
                        .run()
                        .is_ok_and(|o| o.success());
                }
                // A start link in a multi-user runlevel, as Debian's
                // service module checks.
                ["rc2.d", "rc3.d", "rc4.d", "rc5.d"].iter().any(|rc| {
                    std::fs::read_dir(rc_root.join(rc)).is_ok_and(|entries| {
                        entries.flatten().any(|e| {
                            let file = e.file_name().to_string_lossy().to_string();
                            file.starts_with('S') && file.len() > 3 && file[3..] == *name
                        })
                    })
                })
            }
        }
    }

    pub fn set_enabled(&self, name: &str, on: bool) -> Result<(), String> {
        match self {
            InitSystem::Systemd => Cmd::new("systemctl")
                .args([if on { "enable" } else { "disable" }, name])
                .run_ok()
                .map(drop),
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
