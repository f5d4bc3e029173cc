//! Grains: the facts a minion reports about itself, named and shaped as Salt's.
//!
//! Three layers, merged as Salt merges them (a later layer wins, key by key):
//! 1. core grains collected here from /proc, /sys, /etc and libc (never a
//!    subprocess, never a network lookup: collection runs at every start and
//!    every `brine-call`, and must stay in the low milliseconds);
//! 2. the grains file (`config.grains_file()`, Salt's `/etc/salt/grains`),
//!    written by `grains.setval` and friends through
//!    [`GrainsHandle::update_persisted`];
//! 3. static `grains:` from the minion config.
//!
//! Each submodule keeps its parsing pure (text in, grains out) and does its
//! IO in one small `collect` function, so the parsers are unit-tested with
//! sample files from several distributions.

mod core;
mod handle;
pub(crate) mod hosts;
pub(crate) mod hw;
pub(crate) mod net;
mod os;
pub(crate) mod time;
mod virt;

use std::path::Path;

use brine_proto::Grains;
use serde_json::Value;

pub(crate) use self::core::parse_uptime;
pub use handle::{GrainsError, GrainsHandle};

/// Collects every core grain of this host; `id` is the minion id.
pub fn collect_core(id: &str, masters: &[String]) -> Grains {
    let mut g = Grains::new();
    self::core::collect(&mut g, id, masters);
    os::collect(&mut g);
    hw::collect(&mut g);
    virt::collect(&mut g);
    let ifaces = net::interfaces();
    net::ip_grains(&mut g, &ifaces);
    hosts::collect(&mut g, &ifaces);
    time::collect(&mut g);
    g
}

/// Reads a small text file, `None` when it is absent or unreadable (most
/// grain sources are optional: containers hide /sys/class/dmi, non-root users
/// cannot read serial numbers).
pub(crate) fn read(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// [`read`], trimmed, `None` when empty.
pub(crate) fn read_trim(path: impl AsRef<Path>) -> Option<String> {
    let s = read(path)?;
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// Inserts a string grain.
pub(crate) fn put(g: &mut Grains, key: &str, value: impl Into<String>) {
    g.insert(key.to_string(), Value::String(value.into()));
}

/// A JSON list of strings.
pub(crate) fn str_list<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Value {
    Value::Array(
        items
            .into_iter()
            .map(|s| Value::String(s.as_ref().to_string()))
            .collect(),
    )
}

/// True when `name` is an executable file in one of the `PATH` directories;
/// used where Salt adds a grain only if a tool is installed (`selinuxenabled`,
/// `transactional-update`), without running it.
pub(crate) fn in_path(name: &str) -> bool {
    let path = std::env::var("PATH")
        .unwrap_or_else(|_| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    path.split(':')
        .filter(|d| !d.is_empty())
        .any(|d| Path::new(d).join(name).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every grain the rest of Brine (targeting, states, the inventory)
    /// relies on is present on the machine running the tests.
    #[test]
    fn collect_on_this_machine_yields_the_required_keys() {
        let started = std::time::Instant::now();
        let g = collect_core("test-minion", &["127.0.0.1".to_string()]);
        let elapsed = started.elapsed();
        let required = [
            "id",
            "host",
            "fqdn",
            "domain",
            "nodename",
            "localhost",
            "os",
            "os_family",
            "osfullname",
            "osrelease",
            "osarch",
            "kernel",
            "kernelrelease",
            "kernelversion",
            "cpuarch",
            "cpu_model",
            "cpu_flags",
            "num_cpus",
            "mem_total",
            "swap_total",
            "ipv4",
            "ipv6",
            "fqdn_ip4",
            "fqdn_ip6",
            "ip4_interfaces",
            "ip6_interfaces",
            "ip_interfaces",
            "hwaddr_interfaces",
            "virtual",
            "init",
            "disks",
            "ssds",
            "uptime",
            "brineversion",
            "brineversioninfo",
            "path",
            "shell",
            "username",
            "uid",
            "gid",
            "groupname",
            "pid",
            "locale_info",
            "fqdns",
            "kernelparams",
            "num_gpus",
            "gpus",
            "master",
            "ps",
            "cwd",
            "systempath",
            "ip_gw",
            "ip4_gw",
            "ip6_gw",
        ];
        let missing: Vec<_> = required.iter().filter(|k| !g.contains_key(**k)).collect();
        assert!(missing.is_empty(), "missing grains {missing:?} in {g:#?}");
        assert_eq!(g["id"], "test-minion");
        assert_eq!(g["kernel"], "Linux");
        assert!(g["num_cpus"].as_u64().unwrap_or(0) >= 1);
        assert!(g["mem_total"].as_u64().unwrap_or(0) > 0);
        if g["osrelease"]
            .as_str()
            .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        {
            assert!(g.contains_key("osfinger") && g.contains_key("osmajorrelease"));
            assert!(g["osrelease_info"].is_array());
        }
        // Not asserted as a timing (tests never assert timings); printed so a
        // slow collection is visible in `cargo test -- --nocapture`.
        println!("core grains collected in {elapsed:?}");
    }
}
