//! Helpers of the system state modules (`pkg`, `service`, `user`, `group`,
//! `cron`, `host`, `mount`, `ssh_auth`, `ssh_known_hosts`, `sysctl`,
//! `archive`, `git`), shared with the minion's execution modules of the same
//! names: running command-line tools, reading the account databases, the
//! mount table, and the file formats they edit.

pub mod accounts;
pub mod crontab;
pub mod git;
pub mod hostsfile;
pub mod http;
pub mod initsys;
pub mod locale;
pub mod mounts;
pub mod packages;
pub mod pkgrepo;
pub mod power;
pub mod run;
pub mod sshkeys;
pub mod sysctl;
#[cfg(test)]
pub mod testutil;
pub mod timezone;

use serde_json::Value;

use crate::ctx::StateArgs;

/// A list argument as Salt accepts it: a YAML list, or one comma-separated
/// string (`groups: wheel,adm`). `None` when the argument is absent.
pub fn str_list(args: &StateArgs, key: &str) -> Option<Vec<String>> {
    let value = args.get(key)?;
    Some(value_list(value))
}

/// Every item of a list value as text; a scalar is split on commas.
pub fn value_list(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().map(scalar_text).collect(),
        Value::String(s) => s
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect(),
        Value::Null => Vec::new(),
        other => vec![scalar_text(other)],
    }
}

/// A scalar as Salt's `str()` would print it (strings without quotes).
pub fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".to_string(),
        Value::Bool(false) => "False".to_string(),
        Value::Null => "None".to_string(),
        other => other.to_string(),
    }
}

/// An optional scalar argument as text.
pub fn opt_text(args: &StateArgs, key: &str) -> Option<String> {
    args.get(key).map(scalar_text)
}
