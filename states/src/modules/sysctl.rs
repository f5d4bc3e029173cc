//! `sysctl.present`: a kernel parameter set now (through `/proc/sys`) and
//! persisted in a config file, as Salt's `sysctl.persist` does it.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::ctx::{StateArgs, StateCtx};
use crate::modules::sys::{opt_text, scalar_text};
use crate::registry::StateSpec;
use crate::result::StateResult;

pub const STATES: &[StateSpec] = &[StateSpec {
    name: "sysctl.present",
    doc: "Ensure that the named sysctl value is set in memory and persisted to the config file.\n\n\
          name: the parameter (net.ipv4.ip_forward)\n\
          value: the value, as reading it back prints it\n\
          config: the file (default /etc/sysctl.d/99-salt.conf when systemd runs, else /etc/sysctl.conf)",
    run: present,
    mod_watch: None,
}];

const PROC_SYS: &str = "/proc/sys";

/// Salt's `sysctl.default_config`.
fn default_config() -> PathBuf {
    if Path::new("/run/systemd/system").is_dir() {
        PathBuf::from("/etc/sysctl.d/99-salt.conf")
    } else {
        PathBuf::from("/etc/sysctl.conf")
    }
}

/// `net.ipv4.ip_forward` -> `<proc_sys>/net/ipv4/ip_forward` (a `/` in a
/// name stands for a `.` in the path, as sysctl(8) has it).
fn proc_path(proc_sys: &Path, name: &str) -> PathBuf {
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
fn sanitize(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join("\t")
}

/// The running value, or `None` when the parameter does not exist.
fn get(proc_sys: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(proc_path(proc_sys, name))
        .ok()
        .map(|v| v.trim().to_string())
}

fn assign(proc_sys: &Path, name: &str, value: &str) -> Result<(), String> {
    let path = proc_path(proc_sys, name);
    if !path.exists() {
        return Err(format!("sysctl {name} does not exist"));
    }
    std::fs::write(&path, format!("{value}\n")).map_err(|e| format!("sysctl -w failed: {e}"))
}

/// Salt's `sysctl.show(config_file=...)`: `None` when unreadable, empty when
/// missing.
fn configured(config: &Path) -> Option<Vec<(String, String)>> {
    if !config.exists() {
        return Some(Vec::new());
    }
    let text = std::fs::read_to_string(config).ok()?;
    Some(
        text.lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim_end().to_string(), v.trim_start().to_string()))
            .collect(),
    )
}

/// Salt's `sysctl.persist`: `Ok(true)` when something was updated.
fn persist(proc_sys: &Path, name: &str, value: &str, config: &Path) -> Result<bool, String> {
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
                return Ok(true);
            }
            return Ok(false);
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
    Ok(true)
}

pub fn present(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    present_at(ctx, args, Path::new(PROC_SYS))
}

/// [`present`] against another `/proc/sys` (tests use a temp dir, since the
/// real one is not writable in every container).
fn present_at(ctx: &StateCtx<'_>, args: &StateArgs, proc_sys: &Path) -> StateResult {
    let name = args.name.as_str();
    let value = args.get("value").map(scalar_text).unwrap_or_default();
    let config = opt_text(args, "config")
        .map(PathBuf::from)
        .unwrap_or_else(default_config);

    if ctx.test {
        let Some(configured) = configured(&config) else {
            return StateResult::would(
                name,
                format!(
                    "Sysctl option {name} might be changed, we failed to check config file at {}. The file is either unreadable, or missing.",
                    config.display()
                ),
                Default::default(),
            );
        };
        let in_config = configured.iter().any(|(k, _)| k == name);
        let current = get(proc_sys, name).filter(|c| !c.is_empty());
        let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        let would = |comment: String| StateResult::would(name, comment, Default::default());
        return match current {
            Some(cur) if in_config => {
                if words(&value) == words(&cur) {
                    StateResult::ok(name, format!("Sysctl value {name} = {value} is already set"))
                } else {
                    would(format!("Sysctl option {name} would be changed to {value}"))
                }
            }
            Some(cur) => {
                let squeeze = |s: &str| s.split([' ', '\t']).filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" ");
                if squeeze(&cur) != squeeze(&value) {
                    would(format!("Sysctl option {name} set to be changed to {value}"))
                } else {
                    would(format!(
                        "Sysctl value is currently set on the running system but not in a config file. Sysctl option {name} set to be changed to {value} in config file."
                    ))
                }
            }
            None if in_config => would(format!(
                "Sysctl value {name} is present in configuration file but is not present in the running config. The value {name} is set to be changed to {value}"
            )),
            None => would(format!("Sysctl option {name} would be changed to {value}")),
        };
    }

    match persist(proc_sys, name, &value, &config) {
        Ok(true) => {
            let mut ret = StateResult::ok(name, format!("Updated sysctl value {name} = {value}"));
            ret.changes.insert(name.to_string(), json!(value));
            ret
        }
        Ok(false) => StateResult::ok(
            name,
            format!("Sysctl value {name} = {value} is already set"),
        ),
        Err(e) => StateResult::fail(name, format!("Failed to set {name} to {value}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::sys::testutil::{args, TestEnv};
    use serde_json::Value;

    #[test]
    fn sets_the_running_value_and_the_config_file() {
        let dir = tempfile::TempDir::new().unwrap();
        let proc_sys = dir.path().join("proc");
        std::fs::create_dir_all(proc_sys.join("net/ipv4")).unwrap();
        std::fs::write(proc_sys.join("net/ipv4/ip_forward"), "0\n").unwrap();
        let config = dir.path().join("sysctl.d/99-salt.conf");
        let env = TestEnv::new(dir.path().into(), dir.path().into());
        let a = args(
            "net.ipv4.ip_forward",
            json!({"value": 1, "config": config.to_string_lossy()}),
        );

        let dry = present_at(&env.ctx(true), &a, &proc_sys);
        assert_eq!(dry.result, None);
        assert_eq!(
            dry.comment,
            "Sysctl option net.ipv4.ip_forward set to be changed to 1"
        );
        assert!(!config.exists(), "dry run wrote the config");

        let done = present_at(&env.ctx(false), &a, &proc_sys);
        assert_eq!(done.result, Some(true), "{}", done.comment);
        assert_eq!(done.comment, "Updated sysctl value net.ipv4.ip_forward = 1");
        assert_eq!(
            Value::Object(done.changes),
            json!({"net.ipv4.ip_forward": "1"})
        );
        assert_eq!(
            std::fs::read_to_string(&config).unwrap(),
            "#\n# Kernel sysctl configuration\n#\nnet.ipv4.ip_forward = 1\n"
        );
        assert_eq!(
            std::fs::read_to_string(proc_sys.join("net/ipv4/ip_forward")).unwrap(),
            "1\n"
        );

        let again = present_at(&env.ctx(false), &a, &proc_sys);
        assert_eq!(
            again.comment,
            "Sysctl value net.ipv4.ip_forward = 1 is already set"
        );
        assert!(again.changes.is_empty());
        let dry = present_at(&env.ctx(true), &a, &proc_sys);
        assert_eq!(dry.result, Some(true));

        // Right in the file, wrong in the kernel: only the kernel is fixed.
        std::fs::write(proc_sys.join("net/ipv4/ip_forward"), "0\n").unwrap();
        let fixed = present_at(&env.ctx(false), &a, &proc_sys);
        assert_eq!(
            fixed.comment,
            "Updated sysctl value net.ipv4.ip_forward = 1"
        );
        assert_eq!(
            std::fs::read_to_string(proc_sys.join("net/ipv4/ip_forward")).unwrap(),
            "1\n"
        );

        let missing = present_at(
            &env.ctx(false),
            &args(
                "no.such.key",
                json!({"value": 1, "config": config.to_string_lossy()}),
            ),
            &proc_sys,
        );
        assert_eq!(missing.result, Some(false));
        assert_eq!(
            missing.comment,
            "Failed to set no.such.key to 1: sysctl no.such.key does not exist"
        );
    }

    #[test]
    fn names_map_to_proc_paths() {
        assert_eq!(
            proc_path(Path::new("/p"), "net.ipv4.conf.eth0/1.rp_filter"),
            Path::new("/p/net/ipv4/conf/eth0.1/rp_filter")
        );
        assert_eq!(sanitize("4096  87380\t6291456"), "4096\t87380\t6291456");
    }
}
