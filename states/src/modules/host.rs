//! `host.*` states: names for addresses in the hosts file.
//!
//! The file is the state's `hosts_file` (a Brine addition), else the
//! `hosts.file` minion option as Salt reads it (the one `hosts.*` edits),
//! else `/etc/hosts`.

use std::net::IpAddr;
use std::path::PathBuf;

use serde_json::{json, Map, Value};

use crate::ctx::{StateArgs, StateCtx};
use crate::modules::sys::hostsfile::{self, Hosts};
use crate::modules::sys::{opt_text, str_list};
use crate::registry::StateSpec;
use crate::result::StateResult;

pub const STATES: &[StateSpec] = &[
    StateSpec {
        name: "host.absent",
        doc: "Ensure that the named host is absent.\n\n\
              name: the host name to remove\n\
              ip: the address or addresses it is removed from\n\
              hosts_file: the file to edit (default /etc/hosts; Brine only)",
        run: absent,
        mod_watch: None,
    },
    StateSpec {
        name: "host.present",
        doc: "Ensure that the named host is present with the given address.\n\n\
              name: the host name\n\
              ip: one address or a list\n\
              comment: a comment for the address line\n\
              clean: remove the name from addresses not listed\n\
              hosts_file: the file to edit (default /etc/hosts; Brine only)",
        run: present,
        mod_watch: None,
    },
];

const DEFAULT_HOSTS: &str = hostsfile::DEFAULT_PATH;

fn hosts_path(ctx: &StateCtx<'_>, args: &StateArgs) -> PathBuf {
    if let Some(path) = opt_text(args, "hosts_file") {
        return PathBuf::from(path);
    }
    let configured = ctx
        .caller
        .call("config.option", vec![json!("hosts.file")], Map::new())
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .filter(|p| !p.is_empty());
    PathBuf::from(configured.unwrap_or_else(|| DEFAULT_HOSTS.to_string()))
}

fn write(path: &PathBuf, text: &str) -> bool {
    std::fs::write(path, text).is_ok()
}

fn push_unique<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

fn append_change(changes: &mut Map<String, Value>, kind: &str, addr: &str, item: &str) {
    let by_addr = changes.entry(kind.to_string()).or_insert_with(|| json!({}));
    if let Some(map) = by_addr.as_object_mut() {
        let list = map.entry(addr.to_string()).or_insert_with(|| json!([]));
        if let Some(items) = list.as_array_mut() {
            items.push(json!(item));
        }
    }
}

pub fn present(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    let path = hosts_path(ctx, args);
    let ips = str_list(args, "ip").unwrap_or_default();
    let comment = opt_text(args, "comment").filter(|c| !c.is_empty());
    let clean = args.bool("clean", false);
    let mut ret = StateResult::new(name);
    let hosts = match Hosts::read(&path) {
        Ok(h) => h,
        Err(e) => return StateResult::fail(name, e),
    };
    let mut comments = Vec::new();
    let mut warnings = Vec::new();
    let mut to_add: Vec<String> = Vec::new();
    let mut to_remove: Vec<String> = Vec::new();
    let mut update_comment: Vec<String> = Vec::new();
    let known: Vec<&str> = hosts.addresses().iter().map(|(ip, _)| *ip).collect();
    for addr in &ips {
        if !known.contains(&addr.as_str()) {
            push_unique(&mut to_add, addr.clone());
            if comment.is_some() {
                push_unique(&mut update_comment, addr.clone());
            }
        }
    }
    for (addr, aliases) in hosts.addresses() {
        let has_name = aliases.iter().any(|a| a == name);
        if !ips.iter().any(|i| i == addr) {
            if has_name {
                if clean {
                    push_unique(&mut to_remove, addr.to_string());
                } else {
                    warnings.push(format!(
                        "Host {name} present for IP address {addr}. To get rid of this warning, either run this state with 'clean' set to True to remove {name} from {addr}, or add {addr} to the 'ip' argument."
                    ));
                }
            }
        } else if has_name {
            let current = hosts.get(addr).and_then(|(_, c)| c);
            match (&comment, current) {
                (Some(want), Some(have)) if want != have => {
                    push_unique(&mut update_comment, addr.to_string())
                }
                (Some(_), None) => push_unique(&mut update_comment, addr.to_string()),
                _ => comments.push(format!("Host {name} ({addr}) already present")),
            }
        } else if addr.parse::<IpAddr>().is_ok() {
            push_unique(&mut to_add, addr.to_string());
            if comment.is_some() {
                push_unique(&mut update_comment, addr.to_string());
            }
        } else {
            ret.result = Some(false);
            comments.push(format!("Invalid IP Address for {name} ({addr})"));
        }
    }
    for w in &warnings {
        tracing::warn!(warning = %w, "host.present");
    }

    let mut edited = hosts.clone();
    for addr in &to_add {
        if ctx.test {
            ret.result = None;
            comments.push(format!("Host {name} ({addr}) would be added"));
        } else {
            edited.add(addr, name);
            if !write(&path, &edited.render()) {
                ret.result = Some(false);
                comments.push(format!("Failed to add host {name} ({addr})"));
                continue;
            }
            comments.push(format!("Added host {name} ({addr})"));
        }
        append_change(&mut ret.changes, "added", addr, name);
    }
    if let Some(text) = &comment {
        for addr in &update_comment {
            if ctx.test {
                comments.push(format!("Comment for {addr} ({text}) would be added"));
            } else {
                if !(edited.set_comment(addr, text) && write(&path, &edited.render())) {
                    ret.result = Some(false);
                    comments.push(format!("Failed to add comment for host {addr} ({text})"));
                    continue;
                }
                comments.push(format!("Set comment for host {addr} ({text})"));
            }
            append_change(&mut ret.changes, "comment_added", addr, text);
        }
    }
    for addr in &to_remove {
        if ctx.test {
            ret.result = None;
            comments.push(format!("Host {name} ({addr}) would be removed"));
        } else {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if !write(&path, &hostsfile::remove_alias(&text, addr, name)) {
                ret.result = Some(false);
                comments.push(format!("Failed to remove host {name} ({addr})"));
                continue;
            }
            comments.push(format!("Removed host {name} ({addr})"));
        }
        append_change(&mut ret.changes, "removed", addr, name);
    }
    ret.comment = comments.join("\n");
    ret
}

pub fn absent(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    let path = hosts_path(ctx, args);
    let ips = str_list(args, "ip").unwrap_or_default();
    let mut ret = StateResult::new(name);
    ret.result = None;
    let mut comments = Vec::new();
    for ip in &ips {
        let hosts = match Hosts::read(&path) {
            Ok(h) => h,
            Err(e) => return StateResult::fail(name, e),
        };
        if !hosts.has_pair(ip, name) {
            ret.result = Some(true);
            comments.push(format!("Host {name} ({ip}) already absent"));
        } else if ctx.test {
            comments.push(format!("Host {name} ({ip}) needs to be removed"));
        } else {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if write(&path, &hostsfile::remove_alias(&text, ip, name)) {
                ret.changes = Map::new();
                ret.changes.insert("host".into(), json!(name));
                ret.result = Some(true);
                comments.push(format!("Removed host {name} ({ip})"));
            } else {
                ret.result = Some(false);
                comments.push("Failed to remove host".to_string());
            }
        }
    }
    ret.comment = comments.join("\n");
    ret
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::sys::testutil::{args, TestEnv};

    #[test]
    fn present_and_absent_on_a_temp_hosts_file() {
        let dir = tempfile::TempDir::new().unwrap();
        let file = dir.path().join("hosts");
        std::fs::write(&file, "127.0.0.1 localhost\n10.9.9.9 old.example\n").unwrap();
        let hf = file.to_string_lossy().to_string();
        let env = TestEnv::new(dir.path().into(), dir.path().into());

        let a = args(
            "web.example",
            json!({"ip": ["10.0.0.5", "127.0.0.1"], "comment": "web", "hosts_file": hf}),
        );
        let dry = present(&env.ctx(true), &a);
        assert_eq!(dry.result, None);
        assert_eq!(
            dry.comment,
            "Host web.example (10.0.0.5) would be added\nHost web.example (127.0.0.1) would be added\n\
             Comment for 10.0.0.5 (web) would be added\nComment for 127.0.0.1 (web) would be added"
        );
        assert_eq!(
            Value::Object(dry.changes.clone()),
            json!({"added": {"10.0.0.5": ["web.example"], "127.0.0.1": ["web.example"]},
                   "comment_added": {"10.0.0.5": ["web"], "127.0.0.1": ["web"]}})
        );
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "127.0.0.1 localhost\n10.9.9.9 old.example\n"
        );

        let done = present(&env.ctx(false), &a);
        assert_eq!(done.result, Some(true), "{}", done.comment);
        assert_eq!(done.changes, dry.changes);
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "127.0.0.1\t\tlocalhost web.example\t\t# web\n10.9.9.9\t\told.example\n10.0.0.5\t\tweb.example\t\t# web\n"
        );
        let again = present(&env.ctx(false), &a);
        assert_eq!(again.result, Some(true));
        assert!(again.changes.is_empty());
        assert_eq!(
            again.comment,
            "Host web.example (127.0.0.1) already present\nHost web.example (10.0.0.5) already present"
        );

        let clean = present(
            &env.ctx(false),
            &args(
                "web.example",
                json!({"ip": "10.0.0.5", "clean": true, "hosts_file": hf}),
            ),
        );
        assert_eq!(
            clean.comment,
            "Host web.example (10.0.0.5) already present\nRemoved host web.example (127.0.0.1)"
        );
        assert_eq!(
            Value::Object(clean.changes),
            json!({"removed": {"127.0.0.1": ["web.example"]}})
        );

        let rm = args("web.example", json!({"ip": "10.0.0.5", "hosts_file": hf}));
        let dry = absent(&env.ctx(true), &rm);
        assert_eq!(
            (dry.result, dry.comment.as_str()),
            (None, "Host web.example (10.0.0.5) needs to be removed")
        );
        let gone = absent(&env.ctx(false), &rm);
        assert_eq!(gone.comment, "Removed host web.example (10.0.0.5)");
        assert_eq!(Value::Object(gone.changes), json!({"host": "web.example"}));
        assert!(!std::fs::read_to_string(&file)
            .unwrap()
            .contains("web.example"));
        let none = absent(&env.ctx(false), &rm);
        assert_eq!(
            (none.result, none.comment.as_str()),
            (Some(true), "Host web.example (10.0.0.5) already absent")
        );
    }
}
