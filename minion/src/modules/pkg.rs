//! `pkg.*`: installed package versions, read-only (formulas ask
//! `salt['pkg.version']('postgresql-common')` while rendering). Debian's
//! dpkg database is read directly; on RPM systems `rpm -q` is asked.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::registry::{Args, CallCtx, FunctionSpec, ModError, ModFuture, ModOutput};

pub static FUNCTIONS: &[FunctionSpec] = &[FunctionSpec {
    name: "pkg.version",
    doc: "Return the installed version of a package, or '' when it is not installed;\n\
          with several names, {name: version}.\n\n\
          - *names: the package names.",
    cli_example: "brine '*' pkg.version openssl",
    run: version,
}];

const DPKG_STATUS: &str = "/var/lib/dpkg/status";

/// Installed packages and versions from dpkg's status file text.
pub fn dpkg_installed(status: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for stanza in status.split("\n\n") {
        let (mut name, mut ver, mut installed) = (None, None, false);
        for line in stanza.lines() {
            if let Some(v) = line.strip_prefix("Package: ") {
                name = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Version: ") {
                ver = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Status: ") {
                installed = v.trim().ends_with(" installed");
            }
        }
        if let (Some(n), Some(v), true) = (name, ver, installed) {
            out.insert(n.to_string(), v.to_string());
        }
    }
    out
}

/// `rpm -q` for one package: `[EPOCH:]VERSION-RELEASE`, or "".
fn rpm_version(name: &str) -> String {
    let mut rpm = std::process::Command::new("rpm");
    rpm.args([
        "-q",
        "--qf",
        "%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n",
        "--",
        name,
    ]);
    match brine_process::run(brine_process::Run::new(rpm)) {
        Ok(o) if o.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            let first = text.lines().next().unwrap_or("").trim();
            first.strip_prefix("0:").unwrap_or(first).to_string()
        }
        _ => String::new(),
    }
}

fn version(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let names: Vec<String> = a
            .rest(0)
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        a.ignore(&["refresh", "versions_as_list"]);
        a.finish()?;
        // file reads and rpm runs block: off the minion's async workers
        tokio::task::spawn_blocking(move || versions(&names))
            .await
            .map_err(|e| ModError::Failed(e.to_string()))
    })
}

fn versions(names: &[String]) -> ModOutput {
    {
        let dpkg = std::fs::read_to_string(DPKG_STATUS)
            .ok()
            .map(|s| dpkg_installed(&s));
        let lookup = |n: &str| match &dpkg {
            Some(installed) => installed.get(n).cloned().unwrap_or_default(),
            None => rpm_version(n),
        };
        match names {
            [one] => json!(lookup(one)),
            many => Value::Object(
                many.iter()
                    .map(|n| (n.clone(), json!(lookup(n))))
                    .collect::<Map<_, _>>(),
            ),
        }
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_status_gives_installed_versions_only() {
        let status = "Package: bash\nStatus: install ok installed\nVersion: 5.2-2\n\n\
                      Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n";
        let got = dpkg_installed(status);
        assert_eq!(got.get("bash").map(String::as_str), Some("5.2-2"));
        assert!(!got.contains_key("gone"));
    }
}
