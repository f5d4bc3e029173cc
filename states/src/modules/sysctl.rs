//! `sysctl.present`: a kernel parameter set now (through `/proc/sys`) and
//! persisted in a config file, as Salt's `sysctl.persist` does it.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::ctx::{StateArgs, StateCtx};
use crate::modules::sys::sysctl::{configured, default_config, get, persist, Persisted, PROC_SYS};
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
        Ok(Persisted::Updated) => {
            let mut ret = StateResult::ok(name, format!("Updated sysctl value {name} = {value}"));
            ret.changes.insert(name.to_string(), json!(value));
            ret
        }
        Ok(Persisted::AlreadySet) => StateResult::ok(
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
}
