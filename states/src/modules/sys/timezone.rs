//! The system time zone and hardware clock: `timedatectl` where it answers
//! (systemd hosts), else the files Debian keeps (`/etc/timezone`, the
//! `/etc/localtime` symlink, `/etc/adjtime`), as Salt's `timezone` module.
//! The file root is a field so tests work in a temp dir.

use std::path::{Path, PathBuf};

use super::run::Cmd;

/// Where the host's time settings live and how to change them.
#[derive(Debug, Clone)]
pub struct TimeSettings {
    /// `/` on the real host.
    pub root: PathBuf,
    /// Whether to use `timedatectl` (it answers only under systemd).
    pub timedatectl: bool,
}

/// `Time zone: Europe/Paris (CET, +0100)` in `timedatectl` output.
pub fn parse_timedatectl_zone(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let l = l.trim();
        let rest = l
            .strip_prefix("Time zone:")
            .or_else(|| l.strip_prefix("Timezone:"))?;
        rest.split_whitespace().next().map(str::to_string)
    })
}

/// `RTC in local TZ: yes` in `timedatectl` output -> `localtime`, else `UTC`.
pub fn parse_timedatectl_rtc(text: &str) -> String {
    let local = text.lines().any(|l| {
        l.trim()
            .strip_prefix("RTC in local TZ:")
            .is_some_and(|v| v.trim() == "yes")
    });
    if local { "localtime" } else { "UTC" }.to_string()
}

/// The zone a `/etc/localtime` link target names:
/// `/usr/share/zoneinfo/Europe/Paris` -> `Europe/Paris`.
pub fn zone_from_link(target: &Path) -> Option<String> {
    let text = target.to_string_lossy();
    let (_, zone) = text.split_once("zoneinfo/")?;
    let zone = zone
        .strip_prefix("posix/")
        .or_else(|| zone.strip_prefix("right/"))
        .unwrap_or(zone);
    (!zone.is_empty()).then(|| zone.to_string())
}

impl TimeSettings {
    /// The real host: `timedatectl` when it answers.
    pub fn host() -> TimeSettings {
        let answers = Cmd::new("timedatectl")
            .arg("status")
            .run()
            .is_ok_and(|o| o.success());
        TimeSettings {
            root: PathBuf::from("/"),
            timedatectl: answers,
        }
    }

    /// Files under `root`, no tools (tests).
    pub fn at(root: &Path) -> TimeSettings {
        TimeSettings {
            root: root.to_path_buf(),
            timedatectl: false,
        }
    }

    fn path(&self, abs: &str) -> PathBuf {
        self.root.join(abs.trim_start_matches('/'))
    }

    fn timedatectl_status(&self) -> Result<String, String> {
        Cmd::new("timedatectl")
            .arg("status")
            .run_ok()
            .map(|o| o.stdout)
            .map_err(|e| format!("timedatectl failed: {e}"))
    }

    /// The zone file of `zone` under zoneinfo; `None` for a name that would
    /// leave that directory (absolute, `..`).
    pub fn zone_file(&self, zone: &str) -> Option<PathBuf> {
        let inside = !zone.is_empty()
            && !zone.starts_with('/')
            && !zone.split('/').any(|part| part == ".." || part == ".");
        inside.then(|| self.path("/usr/share/zoneinfo").join(zone))
    }

    /// Salt's `timezone.get_zone`.
    pub fn get_zone(&self) -> Result<String, String> {
        if self.timedatectl {
            let text = self.timedatectl_status()?;
            return parse_timedatectl_zone(&text)
                .ok_or_else(|| format!("Failed to parse timedatectl output: {text}"));
        }
        if let Ok(text) = std::fs::read_to_string(self.path("/etc/timezone")) {
            let zone = text.trim();
            if !zone.is_empty() {
                return Ok(zone.to_string());
            }
        }
        let link = self.path("/etc/localtime");
        std::fs::read_link(&link)
            .ok()
            .and_then(|t| zone_from_link(&t))
            .ok_or_else(|| {
                format!(
                    "Unable to get timezone: neither /etc/timezone nor a zoneinfo link at {} names one",
                    link.display()
                )
            })
    }

    /// Salt's `timezone.zone_compare`: whether `/etc/localtime` has the
    /// same contents as `zone`'s zone file.
    pub fn zone_compare(&self, zone: &str) -> Result<bool, String> {
        let want = self
            .zone_file(zone)
            .and_then(|f| std::fs::read(f).ok())
            .ok_or_else(|| format!("Can't find a local timezone \"{zone}\""))?;
        let localtime = self.path("/etc/localtime");
        let have = std::fs::read(&localtime).map_err(|e| {
            format!(
                "Failed to read {} to determine current timezone: {e}",
                localtime.display()
            )
        })?;
        Ok(want == have)
    }

    /// Salt's `timezone.set_zone`.
    pub fn set_zone(&self, zone: &str) -> Result<(), String> {
        let Some(file) = self.zone_file(zone).filter(|f| f.is_file()) else {
            return Err(format!("'{zone}' is not a valid time zone"));
        };
        if self.timedatectl {
            return Cmd::new("timedatectl")
                .args(["set-timezone", zone])
                .run_ok()
                .map(drop)
                .map_err(|e| format!("timedatectl failed: {e}"));
        }
        let localtime = self.path("/etc/localtime");
        if let Some(dir) = localtime.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        // a new link renamed over the old one: never a moment without one
        let tmp = self.path("/etc/.localtime.brine");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&file, &tmp)
            .and_then(|()| std::fs::rename(&tmp, &localtime))
            .map_err(|e| format!("Failed to link {}: {e}", localtime.display()))?;
        let timezone = self.path("/etc/timezone");
        if timezone.exists() || self.path("/etc/debian_version").exists() {
            std::fs::write(&timezone, format!("{zone}\n"))
                .map_err(|e| format!("Failed to write {}: {e}", timezone.display()))?;
        }
        Ok(())
    }

    /// Salt's `timezone.get_hwclock`: `UTC` or `localtime`.
    pub fn get_hwclock(&self) -> Result<String, String> {
        if self.timedatectl {
            return Ok(parse_timedatectl_rtc(&self.timedatectl_status()?));
        }
        let adjtime = std::fs::read_to_string(self.path("/etc/adjtime")).unwrap_or_default();
        Ok(match adjtime.lines().nth(2).map(str::trim) {
            Some("LOCAL") => "localtime",
            _ => "UTC",
        }
        .to_string())
    }

    /// Salt's `timezone.set_hwclock`: `clock` is `UTC` or `localtime`.
    pub fn set_hwclock(&self, clock: &str) -> Result<(), String> {
        let local = match clock.to_ascii_lowercase().as_str() {
            "utc" => false,
            "localtime" => true,
            _ => return Err(format!("Unsupported clock '{clock}': 'UTC' or 'localtime'")),
        };
        if self.timedatectl {
            return Cmd::new("timedatectl")
                .args(["set-local-rtc", if local { "true" } else { "false" }])
                .run_ok()
                .map(drop)
                .map_err(|e| format!("timedatectl failed: {e}"));
        }
        let path = self.path("/etc/adjtime");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.len() < 2 {
            lines = vec!["0.0 0 0.0".to_string(), "0".to_string()];
        }
        lines.truncate(2);
        lines.push(if local { "LOCAL" } else { "UTC" }.to_string());
        std::fs::write(&path, lines.join("\n") + "\n")
            .map_err(|e| format!("Failed to write {}: {e}", path.display()))
    }
}

/// `date +FORMAT` on the host (`%z` offset, `%Z` zone code).
pub fn date(format: &str) -> Result<String, String> {
    Cmd::new("date")
        .arg(format!("+{format}"))
        .run_ok()
        .map(|o| o.stdout.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_root() -> tempfile::TempDir {
        let dir = tempfile::TempDir::new().unwrap();
        let zi = dir.path().join("usr/share/zoneinfo");
        std::fs::create_dir_all(zi.join("Europe")).unwrap();
        std::fs::create_dir_all(zi.join("Etc")).unwrap();
        std::fs::write(zi.join("Europe/Paris"), "TZif paris").unwrap();
        std::fs::write(zi.join("Etc/UTC"), "TZif utc").unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/debian_version"), "12\n").unwrap();
        std::os::unix::fs::symlink(zi.join("Etc/UTC"), dir.path().join("etc/localtime")).unwrap();
        dir
    }

    #[test]
    fn timedatectl_output_is_read() {
        let text = "               Local time: Fri 2026-12-04 10:00:00 CET\n\
                    Time zone: Europe/Paris (CET, +0100)\n\
                    RTC in local TZ: no\n";
        assert_eq!(
            parse_timedatectl_zone(text).as_deref(),
            Some("Europe/Paris")
        );
        assert_eq!(parse_timedatectl_rtc(text), "UTC");
        assert_eq!(parse_timedatectl_rtc("RTC in local TZ: yes"), "localtime");
        assert_eq!(
            zone_from_link(Path::new("../usr/share/zoneinfo/America/New_York")).as_deref(),
            Some("America/New_York")
        );
    }

    #[test]
    fn zone_is_read_compared_and_set_in_files() {
        let dir = fake_root();
        let t = TimeSettings::at(dir.path());
        assert_eq!(t.get_zone().unwrap(), "Etc/UTC", "from the link");
        assert!(t.zone_compare("Etc/UTC").unwrap());
        assert!(!t.zone_compare("Europe/Paris").unwrap());
        assert_eq!(
            t.zone_compare("Mars/Olympus").unwrap_err(),
            "Can't find a local timezone \"Mars/Olympus\""
        );
        assert_eq!(
            t.set_zone("Mars/Olympus").unwrap_err(),
            "'Mars/Olympus' is not a valid time zone"
        );
        t.set_zone("Europe/Paris").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("etc/timezone")).unwrap(),
            "Europe/Paris\n"
        );
        assert_eq!(t.get_zone().unwrap(), "Europe/Paris");
        assert!(t.zone_compare("Europe/Paris").unwrap());

        assert_eq!(t.get_hwclock().unwrap(), "UTC");
        t.set_hwclock("localtime").unwrap();
        assert_eq!(t.get_hwclock().unwrap(), "localtime");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("etc/adjtime")).unwrap(),
            "0.0 0 0.0\n0\nLOCAL\n"
        );
        assert!(t.set_hwclock("martian").is_err());
        assert!(t.zone_compare("/etc/passwd").is_err());
        assert!(t.set_zone("../../../etc/passwd").is_err());
    }
}
