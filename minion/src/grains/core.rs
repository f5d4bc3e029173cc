//! Grains about the kernel and the minion process: `id`, `kernel*`, `cpuarch`,
//! `nodename`, `path`, `shell`, user and group, `pid`, `cwd`, `kernelparams`,
//! `uptime`, `master`, `ps` and Brine's own version.

use brine_proto::Grains;
use serde_json::{json, Value};

use super::{put, read, read_trim, str_list};

pub(super) fn collect(g: &mut Grains, id: &str, masters: &[String]) {
    put(g, "id", id);
    kernel(g);
    process(g);
    put(g, "brineversion", env!("CARGO_PKG_VERSION"));
    g.insert(
        "brineversioninfo".into(),
        Value::Array(version_info(env!("CARGO_PKG_VERSION"))),
    );
    // Salt's `master` grain is the `master` option as configured: a string, or
    // a list when several masters are configured.
    let master = match masters {
        [one] => json!(one),
        many => str_list(many),
    };
    g.insert("master".into(), master);
    // What Salt's ps module runs on Linux; formulas read it.
    put(g, "ps", "ps -efHww");
    let params = read("/proc/cmdline")
        .map(|t| kernel_params(&t))
        .unwrap_or_default();
    g.insert("kernelparams".into(), params);
    if let Some(secs) = read("/proc/uptime").and_then(|t| parse_uptime(&t)) {
        g.insert("uptime".into(), json!(secs));
    }
}

/// `kernel`, `kernelrelease`, `kernelversion`, `nodename`, `cpuarch` from uname(2),
/// as Salt takes them from `platform.uname()`.
fn kernel(g: &mut Grains) {
    let kernel = "Linux";
    put(g, "kernel", kernel);
    match nix::sys::utsname::uname() {
        Ok(u) => {
            put(g, "kernelrelease", u.release().to_string_lossy());
            put(g, "kernelversion", u.version().to_string_lossy());
            put(g, "nodename", u.nodename().to_string_lossy());
            put(g, "cpuarch", u.machine().to_string_lossy());
        }
        Err(error) => {
            // uname(2) does not fail on Linux; keep the keys anyway.
            tracing::warn!(%error, "uname failed");
            put(
                g,
                "kernelrelease",
                read_trim("/proc/sys/kernel/osrelease").unwrap_or_default(),
            );
            put(
                g,
                "kernelversion",
                read_trim("/proc/sys/kernel/version").unwrap_or_default(),
            );
            put(
                g,
                "nodename",
                read_trim("/proc/sys/kernel/hostname").unwrap_or_default(),
            );
            put(g, "cpuarch", std::env::consts::ARCH);
        }
    }
}

/// The minion process: Salt's `path`, `systempath`, `shell`, `username`,
/// `uid`, `gid`, `groupname`, `pid`, `cwd`.
fn process(g: &mut Grains) {
    let path = std::env::var("PATH").unwrap_or_default();
    let path = path.trim();
    put(g, "path", path);
    g.insert("systempath".into(), str_list(path.split(':')));
    put(
        g,
        "shell",
        std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".to_string()),
    );
    let uid = nix::unistd::getuid();
    let gid = nix::unistd::getgid();
    g.insert("uid".into(), json!(uid.as_raw()));
    g.insert("gid".into(), json!(gid.as_raw()));
    let user = nix::unistd::User::from_uid(uid).ok().flatten();
    put(
        g,
        "username",
        user.as_ref().map(|u| u.name.clone()).unwrap_or_default(),
    );
    // Salt's `groupname` is the user's default group, not the process's gid.
    let group_gid = user.as_ref().map(|u| u.gid).unwrap_or(gid);
    let groupname = nix::unistd::Group::from_gid(group_gid)
        .ok()
        .flatten()
        .map(|gr| gr.name)
        .unwrap_or_default();
    put(g, "groupname", groupname);
    g.insert("pid".into(), json!(std::process::id()));
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    put(g, "cwd", cwd);
}

/// `"0.1.0"` -> `[0, 1, 0]`; a non-numeric part stays a string, as Salt's
/// `saltversioninfo`.
pub(super) fn version_info(version: &str) -> Vec<Value> {
    version
        .split(['.', '-', '+'])
        .map(|p| match p.parse::<u64>() {
            Ok(n) => json!(n),
            Err(_) => json!(p),
        })
        .collect()
}

/// Seconds since boot from `/proc/uptime` ("12345.67 4567.89").
pub(crate) fn parse_uptime(text: &str) -> Option<u64> {
    let first: f64 = text.split_whitespace().next()?.parse().ok()?;
    (first.is_finite() && first >= 0.0).then_some(first as u64)
}

/// Salt's `kernelparams`: `/proc/cmdline` split as a shell would, each word
/// split on `=` into `[key, value]`; the value is `null` unless the word has
/// exactly one `=` (so `a=b=c` gives `["a", null]`, as in Salt).
pub(super) fn kernel_params(cmdline: &str) -> Value {
    let params = shell_words(cmdline)
        .into_iter()
        .map(|word| {
            let parts: Vec<&str> = word.split('=').collect();
            let value = if parts.len() == 2 {
                json!(parts[1].trim_matches('"'))
            } else {
                Value::Null
            };
            json!([parts[0], value])
        })
        .collect();
    Value::Array(params)
}

/// A POSIX-shell word split (quotes group, backslash escapes), enough for a
/// kernel command line.
fn shell_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernelparams_as_salt() {
        let v = kernel_params(
            "BOOT_IMAGE=/vmlinuz-6.1 root=UUID=abc ro quiet console=\"ttyS0,115200\" --\n",
        );
        assert_eq!(
            v,
            json!([
                ["BOOT_IMAGE", "/vmlinuz-6.1"],
                ["root", null],
                ["ro", null],
                ["quiet", null],
                ["console", "ttyS0,115200"],
                ["--", null]
            ])
        );
    }

    #[test]
    fn uptime_and_version() {
        assert_eq!(parse_uptime("350735.47 234388.90\n"), Some(350735));
        assert_eq!(parse_uptime("garbage"), None);
        assert_eq!(version_info("0.1.0"), vec![json!(0), json!(1), json!(0)]);
        assert_eq!(
            version_info("1.2.0-rc1"),
            vec![json!(1), json!(2), json!(0), json!("rc1")]
        );
    }
}
