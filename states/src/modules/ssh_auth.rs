//! `ssh_auth.present` / `ssh_auth.absent`: a key in a user's
//! authorized_keys, through `sys::sshkeys` (shared with `ssh.*`).
//! `source=` takes the keys from a file on the file server instead.

use serde_json::{json, Value};

use crate::ctx::{StateArgs, StateCtx};
use crate::modules::sys::sshkeys;
use crate::modules::sys::{opt_text, str_list};
use crate::registry::StateSpec;
use crate::result::StateResult;

pub const STATES: &[StateSpec] = &[
    StateSpec {
        name: "ssh_auth.absent",
        doc: "Verify that the key is not in the user's authorized keys.\n\n\
              name: the key, or a whole authorized_keys line ([options] enc key [comment])\n\
              user: whose authorized keys\n\
              enc, comment, options: as for present\n\
              config: the key file, relative to the home (default .ssh/authorized_keys)",
        run: absent,
        mod_watch: None,
    },
    StateSpec {
        name: "ssh_auth.present",
        doc: "Verify that the key is in the user's authorized keys.\n\n\
              name: the key, or a whole authorized_keys line ([options] enc key [comment])\n\
              user: whose authorized keys\n\
              enc: the key type (default ssh-rsa)\n\
              comment: the key comment\n\
              options: key options, a list\n\
              config: the key file, relative to the home (default .ssh/authorized_keys)\n\
              source: a salt:// file whose keys are all made present (instead of name's key)\n\
              fingerprint_hash_type: sha256 (default) or md5",
        run: present,
        mod_watch: None,
    },
];

/// The key as the state names it: `name` alone is the key (optionally
/// followed by a comment); a whole line gives options, type and comment.
struct Wanted {
    key: String,
    enc: String,
    comment: String,
    options: Vec<String>,
}

fn wanted(args: &StateArgs) -> Wanted {
    let mut w = Wanted {
        key: args.name.clone(),
        enc: opt_text(args, "enc").unwrap_or_else(|| "ssh-rsa".into()),
        comment: opt_text(args, "comment").unwrap_or_default(),
        options: str_list(args, "options").unwrap_or_default(),
    };
    match sshkeys::parse_auth_line(&args.name) {
        Some(line) => {
            if !line.options.is_empty() {
                w.options = line.options;
            }
            w.enc = line.enc;
            w.key = line.key;
            if !line.comment.is_empty() {
                w.comment = line.comment;
            }
        }
        None => {
            let mut parts = args.name.trim().splitn(2, char::is_whitespace);
            w.key = parts.next().unwrap_or("").to_string();
            if let Some(c) = parts.next().map(str::trim).filter(|c| !c.is_empty()) {
                w.comment = c.to_string();
            }
        }
    }
    w
}

fn config_of(args: &StateArgs) -> String {
    opt_text(args, "config").unwrap_or_else(|| sshkeys::AUTHORIZED_KEYS.into())
}

/// Salt's `check_key` for the state's key: add, update or exists.
fn check(args: &StateArgs, user: &str, w: &Wanted) -> Result<&'static str, String> {
    let enc = sshkeys::refine_enc(&w.enc).map_err(|e| e.to_string())?;
    let hash_type = opt_text(args, "fingerprint_hash_type");
    let current = sshkeys::auth_keys(user, &config_of(args), hash_type.as_deref())
        .map_err(|e| e.to_string())?;
    Ok(sshkeys::check_key(
        &current, &w.key, &enc, &w.comment, &w.options,
    ))
}

pub fn present(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    let Some(user) = opt_text(args, "user") else {
        return StateResult::fail(name, "Missing required argument: user");
    };
    if let Some(source) = opt_text(args, "source").filter(|s| !s.is_empty()) {
        return present_from_source(ctx, args, &user, &source);
    }
    let w = wanted(args);
    let key = w.key.as_str();
    if ctx.test {
        return match check(args, &user, &w) {
            Ok("update") => StateResult::would(
                name,
                format!("Key {key} for user {user} is set to be updated"),
                Default::default(),
            ),
            Ok("add") => StateResult::would(
                name,
                format!("Key {key} for user {user} is set to be added"),
                Default::default(),
            ),
            Ok(_) => StateResult::ok(
                name,
                format!("The authorized host key {key} is already present for user {user}"),
            ),
            Err(e) => StateResult::fail(name, e),
        };
    }
    let hash_type = opt_text(args, "fingerprint_hash_type");
    let data = match sshkeys::set_auth_key(
        &user,
        key,
        &w.enc,
        &w.comment,
        &w.options,
        &config_of(args),
        hash_type.as_deref(),
    ) {
        Ok(d) => d,
        Err(e) => return StateResult::fail(name, e.to_string()),
    };
    let mut ret = StateResult::new(name);
    match data {
        "replace" => {
            ret.changes.insert(key.to_string(), json!("Updated"));
            ret.comment = format!("The authorized host key {key} for user {user} was updated");
        }
        "no change" => {
            ret.comment =
                format!("The authorized host key {key} is already present for user {user}");
        }
        "new" => {
            ret.changes.insert(key.to_string(), json!("New"));
            ret.comment = format!("The authorized host key {key} for user {user} was added");
        }
        "fail" => {
            ret.result = Some(false);
            ret.comment = "Failed to add the ssh key. Is the home directory available, and/or does the key file exist?".into();
        }
        _ => {
            ret.result = Some(false);
            ret.comment = "Invalid public ssh key, most likely has spaces or invalid syntax".into();
        }
    }
    ret
}

/// The text of a `salt://` source (the run's saltenv unless the URL says).
fn source_text(ctx: &StateCtx<'_>, source: &str) -> Result<String, String> {
    let rest = source
        .strip_prefix("salt://")
        .ok_or_else(|| format!("Source file {source} is not a salt:// URL"))?;
    let (path, env) = match rest.split_once("?saltenv=") {
        Some((p, e)) => (p, e.to_string()),
        None => (rest, ctx.saltenv.clone()),
    };
    match ctx.files.read(&env, path) {
        Ok(Some(bytes)) => Ok(String::from_utf8_lossy(&bytes).to_string()),
        Ok(None) => Err(format!("Source file {source} not found")),
        Err(e) => Err(e.to_string()),
    }
}

/// `ssh_auth.present` with `source=`: every key of the file.
fn present_from_source(
    ctx: &StateCtx<'_>,
    args: &StateArgs,
    user: &str,
    source: &str,
) -> StateResult {
    let name = args.name.as_str();
    let text = match source_text(ctx, source) {
        Ok(t) => t,
        Err(e) => return StateResult::fail(name, e),
    };
    let config = config_of(args);
    let hash_type = opt_text(args, "fingerprint_hash_type");
    let no_keys = format!("No keys detected in {source}. Is file properly formatted?");
    if ctx.test {
        let checked = sshkeys::check_keys_from_text(user, &text, &config, hash_type.as_deref());
        return match checked {
            Err(e) => StateResult::fail(name, e.to_string()),
            Ok(keys) if keys.is_empty() => StateResult::fail(name, no_keys),
            Ok(keys) => {
                let comment: String = keys
                    .iter()
                    .filter(|(_, status)| *status != "exists")
                    .map(|(key, status)| format!("Set to {status}: {key}\n"))
                    .collect();
                if comment.is_empty() {
                    StateResult::ok(
                        name,
                        format!("All host keys in file {source} are already present"),
                    )
                } else {
                    StateResult::would(name, comment, Default::default())
                }
            }
        };
    }
    let data = match sshkeys::set_auth_keys_from_text(user, &text, &config, hash_type.as_deref()) {
        Ok(d) => d,
        Err(e) => return StateResult::fail(name, e.to_string()),
    };
    let mut ret = StateResult::new(name);
    match data {
        "replace" => {
            ret.changes.insert(name.to_string(), json!("Updated"));
            ret.comment = format!("The authorized host key {name} for user {user} was updated");
        }
        "new" => {
            ret.changes.insert(name.to_string(), json!("New"));
            ret.comment = format!("The authorized host key {name} for user {user} was added");
        }
        "no change" => {
            ret.comment =
                format!("The authorized host key {name} is already present for user {user}");
        }
        _ => {
            let none = sshkeys::auth_keys_from_text(&text, None).is_ok_and(|k| k.is_empty());
            ret.result = Some(false);
            ret.comment = if none {
                no_keys
            } else {
                "Failed to add the ssh key. Is the home directory available, and/or does the key file exist?".into()
            };
        }
    }
    ret
}

pub fn absent(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    let Some(user) = opt_text(args, "user") else {
        return StateResult::fail(name, "Missing required argument: user");
    };
    let w = wanted(args);
    let key = w.key.as_str();
    if ctx.test {
        return match check(args, &user, &w) {
            Ok("update") | Ok("exists") => StateResult::would(
                name,
                format!("Key {key} for user {user} is set for removal"),
                Default::default(),
            ),
            Ok(_) => StateResult::ok(name, "Key is already absent"),
            Err(e) => StateResult::fail(name, e),
        };
    }
    let hash_type = opt_text(args, "fingerprint_hash_type");
    let comment = match sshkeys::rm_auth_key(&user, key, &config_of(args), hash_type.as_deref()) {
        Ok(c) => c,
        Err(e) => return StateResult::fail(name, e.to_string()),
    };
    let mut ret = StateResult::ok(name, comment.clone());
    if comment == "Key removed" {
        ret.changes.insert(key.to_string(), Value::from("Removed"));
    } else if comment == "Key not removed" || comment.starts_with("Authorized keys file") {
        ret.result = Some(false);
    }
    ret
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::sys::testutil::{args, TestEnv};

    const KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    /// root's keys in an absolute temp config, so ~root/.ssh is untouched.
    #[test]
    fn present_and_absent_on_a_temp_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys");
        let f = file.to_str().unwrap();
        let env = TestEnv::new(dir.path().into(), dir.path().into());
        let a = args(
            KEY,
            json!({"user": "root", "enc": "ed25519", "comment": "me", "config": f}),
        );
        let dry = present(&env.ctx(true), &a);
        assert_eq!(dry.result, None);
        assert_eq!(
            dry.comment,
            format!("Key {KEY} for user root is set to be added")
        );
        assert!(!file.exists());
        let r = present(&env.ctx(false), &a);
        assert_eq!(
            r.comment,
            format!("The authorized host key {KEY} for user root was added")
        );
        assert_eq!(r.changes.get(KEY), Some(&json!("New")));
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            format!("ssh-ed25519 {KEY} me\n")
        );
        let r = present(&env.ctx(false), &a);
        assert_eq!(
            r.comment,
            format!("The authorized host key {KEY} is already present for user root")
        );
        assert!(r.changes.is_empty());

        // A whole line as the name: options, type and comment from it.
        let line = format!("no-pty ssh-ed25519 {KEY} other");
        let b = args(&line, json!({"user": "root", "config": f}));
        assert_eq!(
            present(&env.ctx(true), &b).comment,
            format!("Key {KEY} for user root is set to be updated")
        );
        let r = present(&env.ctx(false), &b);
        assert_eq!(r.changes.get(KEY), Some(&json!("Updated")));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), format!("{line}\n"));

        let bad = args("not a key", json!({"user": "root", "config": f}));
        let r = present(&env.ctx(false), &bad);
        assert_eq!(r.result, Some(false));
        assert_eq!(
            r.comment,
            "Invalid public ssh key, most likely has spaces or invalid syntax"
        );

        let c = args(KEY, json!({"user": "root", "enc": "ed25519", "config": f}));
        assert_eq!(
            absent(&env.ctx(true), &c).comment,
            format!("Key {KEY} for user root is set for removal")
        );
        let r = absent(&env.ctx(false), &c);
        assert_eq!(r.comment, "Key removed");
        assert_eq!(r.changes.get(KEY), Some(&json!("Removed")));
        assert_eq!(absent(&env.ctx(true), &c).comment, "Key is already absent");
        let r = absent(&env.ctx(false), &c);
        assert_eq!(
            (r.result, r.comment.as_str()),
            (Some(true), "Key not present")
        );
    }

    #[test]
    fn present_from_a_source_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys");
        let f = file.to_str().unwrap();
        std::fs::write(
            dir.path().join("root.pub"),
            format!("ssh-ed25519 {KEY} a@b\n"),
        )
        .unwrap();
        std::fs::write(dir.path().join("empty.pub"), "\n").unwrap();
        let env = TestEnv::new(dir.path().into(), dir.path().into());
        let a = args(
            "keys",
            json!({"user": "root", "source": "salt://root.pub", "config": f}),
        );
        let dry = present(&env.ctx(true), &a);
        assert_eq!(
            (dry.result, dry.comment.clone()),
            (None, format!("Set to add: {KEY}\n"))
        );
        let r = present(&env.ctx(false), &a);
        assert_eq!(
            r.comment,
            "The authorized host key keys for user root was added"
        );
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            format!("ssh-ed25519 {KEY} a@b\n")
        );
        let dry = present(&env.ctx(true), &a);
        assert_eq!(
            dry.comment,
            "All host keys in file salt://root.pub are already present"
        );
        let e = args(
            "keys",
            json!({"user": "root", "source": "salt://empty.pub", "config": f}),
        );
        assert_eq!(
            present(&env.ctx(false), &e).comment,
            "No keys detected in salt://empty.pub. Is file properly formatted?"
        );
        let m = args(
            "keys",
            json!({"user": "root", "source": "salt://missing.pub", "config": f}),
        );
        assert_eq!(
            present(&env.ctx(false), &m).comment,
            "Source file salt://missing.pub not found"
        );
    }
}
