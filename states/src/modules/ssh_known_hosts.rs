//! `ssh_known_hosts.present` / `ssh_known_hosts.absent`: a host's key in a
//! known_hosts file, through `sys::sshkeys` (shared with `ssh.*`).
//! Without `key=`, the key is fetched with `ssh-keyscan`.

use serde_json::{json, Value};

use crate::ctx::{StateArgs, StateCtx};
use crate::modules::sys::opt_text;
use crate::modules::sys::sshkeys::{self, KnownHostRequest};
use crate::registry::StateSpec;
use crate::result::StateResult;

pub const STATES: &[StateSpec] = &[
    StateSpec {
        name: "ssh_known_hosts.absent",
        doc: "Verify that the host is not in the known hosts.\n\n\
              name: the host\n\
              user: whose known_hosts (none: /etc/ssh/ssh_known_hosts)\n\
              config: the file (default .ssh/known_hosts for a user)",
        run: absent,
        mod_watch: None,
    },
    StateSpec {
        name: "ssh_known_hosts.present",
        doc: "Verify that the host's key is in the known hosts.\n\n\
              name: the host\n\
              user: whose known_hosts (none: /etc/ssh/ssh_known_hosts)\n\
              key: the host's public key (needs enc); without it the key is fetched with ssh-keyscan\n\
              fingerprint: the expected fingerprint of the fetched key (not with key)\n\
              enc: the key type\n\
              port: a non-default ssh port (needs hash_known_hosts: False)\n\
              config: the file (default .ssh/known_hosts for a user)\n\
              hash_known_hosts: hash the host names (default True)\n\
              timeout: ssh-keyscan's timeout (default 5)\n\
              fingerprint_hash_type: sha256 (default) or md5",
        run: present,
        mod_watch: None,
    },
];

/// The config as Salt defaults it and shows it in comments.
fn config_of(args: &StateArgs, user: Option<&str>) -> String {
    opt_text(args, "config").unwrap_or_else(|| {
        match user {
            Some(_) => sshkeys::USER_KNOWN_HOSTS,
            None => sshkeys::SYSTEM_KNOWN_HOSTS,
        }
        .to_string()
    })
}

fn port_of(args: &StateArgs) -> Result<Option<u16>, String> {
    match opt_text(args, "port") {
        None => Ok(None),
        Some(p) => p.parse().map(Some).map_err(|_| format!("Invalid port {p}")),
    }
}

pub fn present(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    let user = opt_text(args, "user");
    let config = config_of(args, user.as_deref());
    if user.is_none() && !std::path::Path::new(&config).is_absolute() {
        return StateResult::fail(
            name,
            "If not specifying a \"user\", specify an absolute \"config\".",
        );
    }
    let key = opt_text(args, "key");
    let fingerprint = opt_text(args, "fingerprint");
    let enc = opt_text(args, "enc");
    if key.is_some() && fingerprint.is_some() {
        return StateResult::fail(name, "Specify either \"key\" or \"fingerprint\", not both.");
    }
    if key.is_some() && enc.is_none() {
        return StateResult::fail(name, "Required argument \"enc\" if using \"key\" argument.");
    }
    let port = match port_of(args) {
        Ok(p) => p,
        Err(e) => return StateResult::fail(name, e),
    };
    let hash_type = opt_text(args, "fingerprint_hash_type");
    if ctx.test {
        let checked = sshkeys::known_hosts_file(user.as_deref(), Some(&config))
            .and_then(|file| sshkeys::known_host_entries(&file, name, port, hash_type.as_deref()));
        return match checked {
            Err(e) => StateResult::fail(name, format!("ssh.check_known_host error: {e}")),
            Ok(stored) => {
                match sshkeys::check_known_host(&stored, key.as_deref(), fingerprint.as_deref()) {
                    "exists" => {
                        StateResult::ok(name, format!("Host {name} is already in {config}"))
                    }
                    "add" => StateResult::would(
                        name,
                        format!("Key for {name} is set to be added to {config}"),
                        Default::default(),
                    ),
                    _ => StateResult::would(
                        name,
                        format!("Key for {name} is set to be updated in {config}"),
                        Default::default(),
                    ),
                }
            }
        };
    }
    let timeout = opt_text(args, "timeout")
        .and_then(|t| t.parse().ok())
        .unwrap_or(5);
    let req = KnownHostRequest {
        user: user.clone(),
        hostname: name.to_string(),
        fingerprint,
        key: key.clone(),
        port,
        enc,
        config: Some(config.clone()),
        hash_known_hosts: args.bool("hash_known_hosts", true),
        timeout,
        hash_type,
    };
    let result = match sshkeys::set_known_host(&req) {
        Ok(r) => r,
        Err(e) => return StateResult::fail(name, e.to_string()),
    };
    match result["status"].as_str() {
        Some("exists") => StateResult::ok(name, format!("{name} already exists in {config}")),
        Some("updated") => {
            let shown = if key.is_some() {
                format!("key: {}", result["new"][0]["key"].as_str().unwrap_or(""))
            } else {
                format!(
                    "fingerprint: {}",
                    result["new"][0]["fingerprint"].as_str().unwrap_or("")
                )
            };
            let mut ret =
                StateResult::ok(name, format!("{name}'s key saved to {config} ({shown})"));
            ret.changes.insert("old".into(), result["old"].clone());
            ret.changes.insert("new".into(), result["new"].clone());
            ret
        }
        _ => StateResult::fail(name, result["error"].as_str().unwrap_or("unknown error")),
    }
}

pub fn absent(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    let user = opt_text(args, "user");
    let config = config_of(args, user.as_deref());
    if user.is_none() && !std::path::Path::new(&config).is_absolute() {
        return StateResult::fail(
            name,
            "If not specifying a \"user\", specify an absolute \"config\".",
        );
    }
    let stored = sshkeys::known_hosts_file(user.as_deref(), Some(&config))
        .and_then(|file| sshkeys::known_host_entries(&file, name, None, None));
    let stored = match stored {
        Ok(s) => s,
        Err(e) => return StateResult::fail(name, e.to_string()),
    };
    if stored.is_empty() {
        return StateResult::ok(name, "Host is already absent");
    }
    if ctx.test {
        return StateResult::would(
            name,
            format!("Key for {name} is set to be removed from {config}"),
            Default::default(),
        );
    }
    match sshkeys::rm_known_host(user.as_deref(), name, Some(&config), None) {
        Ok(r) if r["status"] == "removed" => {
            let mut ret = StateResult::ok(name, r["comment"].as_str().unwrap_or(""));
            let old: Vec<Value> = stored.iter().map(|h| h.to_json()).collect();
            ret.changes.insert("old".into(), json!(old));
            ret.changes.insert("new".into(), Value::Null);
            ret
        }
        Ok(r) => StateResult::fail(name, r["error"].as_str().unwrap_or("")),
        Err(e) => StateResult::fail(name, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::sys::testutil::{args, TestEnv};

    const KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    #[test]
    fn present_and_absent_with_a_given_key() {
        if !crate::modules::sys::run::which("ssh-keygen") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known_hosts");
        let f = file.to_str().unwrap();
        let env = TestEnv::new(dir.path().into(), dir.path().into());
        let a = args(
            "git.example",
            json!({"key": KEY, "enc": "ssh-ed25519", "config": f}),
        );
        let dry = present(&env.ctx(true), &a);
        assert_eq!(
            (dry.result, dry.comment.clone()),
            (
                None,
                format!("Key for git.example is set to be added to {f}")
            )
        );
        let r = present(&env.ctx(false), &a);
        assert_eq!(r.result, Some(true), "{}", r.comment);
        assert_eq!(
            r.comment,
            format!("git.example's key saved to {f} (key: {KEY})")
        );
        assert_eq!(r.changes["old"], Value::Null);
        assert_eq!(r.changes["new"][0]["key"], KEY);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.starts_with("|1|") && text.contains(KEY),
            "hashed by default: {text}"
        );
        let r = present(&env.ctx(false), &a);
        assert_eq!(r.comment, format!("git.example already exists in {f}"));
        assert!(r.changes.is_empty());
        assert_eq!(
            present(&env.ctx(true), &a).comment,
            format!("Host git.example is already in {f}")
        );

        let no_enc = args("x", json!({"key": KEY, "config": f}));
        assert_eq!(
            present(&env.ctx(false), &no_enc).comment,
            "Required argument \"enc\" if using \"key\" argument."
        );
        let rel = args(
            "x",
            json!({"key": KEY, "enc": "ssh-ed25519", "config": "rel"}),
        );
        assert_eq!(present(&env.ctx(false), &rel).result, Some(false));

        let b = args("git.example", json!({"config": f}));
        assert_eq!(absent(&env.ctx(true), &b).result, None);
        let r = absent(&env.ctx(false), &b);
        assert_eq!(r.result, Some(true), "{}", r.comment);
        assert_eq!(r.changes["new"], Value::Null);
        assert_eq!(
            absent(&env.ctx(false), &b).comment,
            "Host is already absent"
        );
    }
}
