//! Kernel parameters: read and set through `/proc/sys`, persisted in a
//! sysctl config file, as Salt's `linux_sysctl` module does. The `/proc/sys`
//! root is a parameter so tests can use a temp dir.

use std::path::{Path, PathBuf};

use super::run::Cmd;

/// The real `/proc/sys`.
pub const PROC_SYS: &str = "/proc/sys";

/// Salt's `sysctl.default_config`: `/etc/sysctl.d/99-salt.conf` on systemd
/// hosts, `/etc/sysctl.conf` elsewhere.
pub fn default_config() -> PathBuf {
    if Path::new("/run/systemd/system").is_dir() {
        PathBuf::from("/etc/sysctl.d/99-salt.conf")
    } else {
        PathBuf::from("/etc/sysctl.conf")
    }
}

/// `net.ipv4.ip_forward` -> `<proc_sys>/net/ipv4/ip_forward` (a `/` in a
/// name stands for a `.` in the path, as sysctl(8) has it).
pub fn proc_path(proc_sys: &Path, name: &str) -> PathBuf {
    let rel: String = name
        .chars()
        .map(|c| match c {
            '.' => '/',
            '/' => '.',
            c => c,
        })
        .collect();
    proc_sys.join(rel)
}

/// Whitespace runs as one tab, as the kernel prints multi-value settings.
pub fn sanitize(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join("\t")
}

/// The running value, or `None` when the parameter does not exist.
pub fn get(proc_sys: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(proc_path(proc_sys, name))
        .ok()
        .map(|v| v.trim().to_string())
}

/// Sets the running value; Salt's errors when the parameter does not exist
/// or the kernel refuses the value.
pub fn assign(proc_sys: &Path, name: &str, value: &str) -> Result<(), String> {
    let path = proc_path(proc_sys, name);
    if !path.exists() {
        return Err(format!("sysctl {name} does not exist"));
    }
    std::fs::write(&path, format!("{value}\n")).map_err(|e| format!("sysctl -w failed: {e}"))
}

/// The `key = value` settings of a sysctl config file (Salt's
/// `sysctl.show(config_file=...)`): `None` when unreadable, empty when
/// missing.
pub fn configured(config: &Path) -> Option<Vec<(String, String)>> {
    if !config.exists() {
        return Some(Vec::new());
    }
    let text = std::fs::read_to_string(config).ok()?;
    Some(parse_config(&text))
}

/// `key = value` lines of a sysctl config text, comments skipped.
pub fn parse_config(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with(';'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Every running parameter, from `sysctl -a` (`key = value` lines).
pub fn show_running() -> Result<Vec<(String, String)>, String> {
    // unreadable entries make sysctl exit non-zero; what it printed stands
    let out = Cmd::new("sysctl").arg("-a").run()?;
    if out.stdout.trim().is_empty() && !out.success() {
        return Err(format!("sysctl -a failed: {}", out.error_text()));
    }
    Ok(parse_config(&out.stdout))
}

/// What [`persist`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persisted {
    /// File and kernel already had the value.
    AlreadySet,
    /// The file, the kernel or both were updated.
    Updated,
}

impl Persisted {
    /// Salt's return text for `sysctl.persist`.
    pub fn salt_text(self) -> &'static str {
        match self {
            Persisted::AlreadySet => "Already set",
            Persisted::Updated => "Updated",
        }
    }
}

/// Salt's `sysctl.persist`: the value in `config` (the line replaced, or
/// appended; the file created when missing) and in the kernel.
pub fn persist(
    proc_sys: &Path,
    name: &str,
    value: &str,
    config: &Path,
) -> Result<Persisted, String> {
    let text = match std::fs::read_to_string(config) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = config.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|_| format!("Could not write to file: {}", config.display()))?;
            }
            "#\n# Kernel sysctl configuration\n#\n".to_string()
        }
        Err(_) => return Err(format!("Could not read from file: {}", config.display())),
    };
    let mut lines = Vec::new();
    let mut edited = false;
    for line in text.split_inclusive('\n') {
        let Some((key, old)) = line.split_once('=') else {
            lines.push(line.to_string());
            continue;
        };
        let key = key.trim();
        if key.starts_with('#') || key != name {
            lines.push(line.to_string());
            continue;
        }
        if sanitize(old) == sanitize(value) {
            // Right in the file: only the running value may be off.
            if get(proc_sys, name).map(|v| sanitize(&v)) != Some(sanitize(value)) {
                assign(proc_sys, name, value)?;
                return Ok(Persisted::Updated);
            }
            return Ok(Persisted::AlreadySet);
        }
        lines.push(format!("{name} = {value}\n"));
        edited = true;
    }
    if !edited {
        if lines.last().is_some_and(|l| !l.ends_with('\n')) {
            lines.push("\n".to_string());
        }
        lines.push(format!("{name} = {value}\n"));
    }
    std::fs::write(config, lines.concat())
        .map_err(|_| format!("Could not write to file: {}", config.display()))?;
    assign(proc_sys, name, value)?;
    Ok(Persisted::Updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_proc_paths() {
        assert_eq!(
            proc_path(Path::new("/p"), "net.ipv4.conf.eth0/1.rp_filter"),
            Path::new("/p/net/ipv4/conf/eth0.1/rp_filter")
        );
        assert_eq!(sanitize("4096  87380\t6291456"), "4096\t87380\t6291456");
    }

    #[test]
    fn config_text_and_sysctl_a_are_parsed() {
        let text =
            "# comment\n; other\nnet.ipv4.ip_forward = 1\nkernel.msgmax=65536\n\nvm.x = 1 2  3\n";
        assert_eq!(
            parse_config(text),
            vec![
                ("net.ipv4.ip_forward".to_string(), "1".to_string()),
                ("kernel.msgmax".to_string(), "65536".to_string()),
                ("vm.x".to_string(), "1 2  3".to_string())
            ]
        );
    }

    #[test]
    fn persist_replaces_or_appends_and_sets_the_kernel() {
        let dir = tempfile::TempDir::new().unwrap();
        let proc_sys = dir.path().join("proc");
        std::fs::create_dir_all(proc_sys.join("vm")).unwrap();
        std::fs::write(proc_sys.join("vm/swappiness"), "60\n").unwrap();
        let config = dir.path().join("sysctl.conf");
        std::fs::write(&config, "# keep me\nvm.swappiness = 60\nkernel.x = 1").unwrap();
        assert_eq!(
            persist(&proc_sys, "vm.swappiness", "10", &config),
            Ok(Persisted::Updated)
        );
        assert_eq!(
            std::fs::read_to_string(&config).unwrap(),
            "# keep me\nvm.swappiness = 10\nkernel.x = 1"
        );
        assert_eq!(get(&proc_sys, "vm.swappiness").as_deref(), Some("10"));
        assert_eq!(
            persist(&proc_sys, "vm.swappiness", "10", &config),
            Ok(Persisted::AlreadySet)
        );
        assert_eq!(
            persist(&proc_sys, "no.such", "1", &config),
            Err("sysctl no.such does not exist".to_string())
        );
    }
}
