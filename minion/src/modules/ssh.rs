//! `ssh.*`: authorized keys, known hosts and host keys, as Salt's `ssh`
//! module manages them. The work is `brine_states::modules::sys::sshkeys`'s,
//! which the `ssh_auth.*` and `ssh_known_hosts.*` states use too.

use std::path::PathBuf;

use brine_states::modules::sys::accounts;
use brine_states::modules::sys::sshkeys::{self, KnownHostRequest, SshError};
use serde_json::{json, Map, Value};

use super::sysexec::off_thread;
use crate::registry::{as_str_list, Args, CallCtx, FunctionSpec, ModError, ModFuture};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "ssh.auth_keys",
        doc: "Return the authorized keys: {key: {enc, comment, options, fingerprint}} for one user,\n\
              {user: {...}} for a list of users or for every user when none is given.\n\n\
              - user: a user, a list of users, or none for all.\n\
              - config: the key file, relative to the home (default .ssh/authorized_keys; %h and %u expand).\n\
              - fingerprint_hash_type: sha256 (default), md5 or sha512.",
        cli_example: "brine '*' ssh.auth_keys root",
        run: auth_keys,
    },
    FunctionSpec {
        name: "ssh.check_key",
        doc: "Check a key against the user's authorized keys: 'add', 'update' or 'exists'.\n\n\
              - user, key, enc, comment, options: the key as set_auth_key takes it.\n\
              - config, fingerprint_hash_type: as for auth_keys.",
        cli_example: "brine '*' ssh.check_key <user> <key> <enc> <comment> <options>",
        run: check_key,
    },
    FunctionSpec {
        name: "ssh.check_known_host",
        doc: "Check a host's key in the known hosts: 'add', 'update' or 'exists'.\n\n\
              - user: whose known_hosts (none: /etc/ssh/ssh_known_hosts).\n\
              - hostname: the host.\n\
              - key, fingerprint: the key or its fingerprint to look for.\n\
              - config: the file (default .ssh/known_hosts).\n\
              - port: a non-default ssh port.",
        cli_example: "brine '*' ssh.check_known_host <user> <hostname> key='AAAA...FAaQ=='",
        run: check_known_host,
    },
    FunctionSpec {
        name: "ssh.get_known_host_entries",
        doc: "Return the known hosts entries of a host: [{hostname, enc, key, fingerprint}], or None.\n\n\
              - user, hostname, config, port, fingerprint_hash_type: as for check_known_host.",
        cli_example: "brine '*' ssh.get_known_host_entries <user> <hostname>",
        run: get_known_host_entries,
    },
    FunctionSpec {
        name: "ssh.hash_known_hosts",
        doc: "Hash the host names of a known_hosts file (ssh-keygen -H).\n\n\
              - user: whose known_hosts (none: /etc/ssh/ssh_known_hosts).\n\
              - config: the file.",
        cli_example: "brine '*' ssh.hash_known_hosts",
        run: hash_known_hosts,
    },
    FunctionSpec {
        name: "ssh.host_keys",
        doc: "Return the minion's host keys: {type: text, type.pub: text, type-cert.pub: text}.\n\n\
              - keydir: where the ssh_host_*_key files are (default /etc/ssh).\n\
              - private: include private keys (default True).\n\
              - certs: include certificates (default True).",
        cli_example: "brine '*' ssh.host_keys private=False",
        run: host_keys,
    },
    FunctionSpec {
        name: "ssh.rm_auth_key",
        doc: "Remove a key from the user's authorized keys: 'Key removed', 'Key not present' or\n\
              'Key not removed'.\n\n\
              - user: the user.\n\
              - key: the key (base64 part).\n\
              - config, fingerprint_hash_type: as for auth_keys.",
        cli_example: "brine '*' ssh.rm_auth_key <user> <key>",
        run: rm_auth_key,
    },
    FunctionSpec {
        name: "ssh.rm_known_host",
        doc: "Remove a host from the known hosts (ssh-keygen -R): {status, comment} or {status, error}.\n\n\
              - user, hostname, config, port: as for check_known_host.",
        cli_example: "brine '*' ssh.rm_known_host <user> <hostname>",
        run: rm_known_host,
    },
    FunctionSpec {
        name: "ssh.set_auth_key",
        doc: "Add or update a key in the user's authorized keys: 'new', 'replace', 'no change',\n\
              'fail' (no such user or home), 'invalid' (spaces in the key) or 'Invalid public key'.\n\n\
              - user: the user.\n\
              - key: the key (base64 part).\n\
              - enc: the key type (default ssh-rsa; rsa, dsa, ecdsa, ed25519 accepted).\n\
              - comment: the key comment.\n\
              - options: key options, a list.\n\
              - config, fingerprint_hash_type: as for auth_keys.",
        cli_example: "brine '*' ssh.set_auth_key <user> '<key>' enc='dsa'",
        run: set_auth_key,
    },
    FunctionSpec {
        name: "ssh.set_auth_key_from_file",
        doc: "Add the keys of a file on the file server to the user's authorized keys: 'new',\n\
              'replace', 'no change' or 'fail' (no keys in the file, no such user or home).\n\n\
              - user: the user.\n\
              - source: the file, salt://path.\n\
              - config: the key file, relative to the home (default .ssh/authorized_keys).\n\
              - saltenv: the file server environment (default base).\n\
              - fingerprint_hash_type: as for auth_keys.",
        cli_example: "brine '*' ssh.set_auth_key_from_file <user> salt://ssh_keys/<user>.id_rsa.pub",
        run: set_auth_key_from_file,
    },
    FunctionSpec {
        name: "ssh.set_known_host",
        doc: "Add or update a host's key in the known hosts: {status: exists|updated|error, ...}.\n\
              Without key=, the key is fetched with ssh-keyscan.\n\n\
              - user: whose known_hosts (none: /etc/ssh/ssh_known_hosts).\n\
              - hostname: the host.\n\
              - fingerprint: the expected fingerprint of a scanned key.\n\
              - key: the host's public key (base64 part); needs enc.\n\
              - port: a non-default ssh port (needs hash_known_hosts=False).\n\
              - enc: the key type.\n\
              - config: the file (default .ssh/known_hosts).\n\
              - hash_known_hosts: hash the host names (default True).\n\
              - timeout: ssh-keyscan's timeout in seconds (default 5).",
        cli_example: "brine '*' ssh.set_known_host <user> fingerprint='xx:xx:..:xx' enc='ssh-rsa' config='.ssh/known_hosts'",
        run: set_known_host,
    },
];

fn failed(e: SshError) -> ModError {
    ModError::Failed(e.to_string())
}

fn auth_keys(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let user = a.opt("user", 0)?;
        let config = a
            .opt_str("config", 1)?
            .unwrap_or_else(|| sshkeys::AUTHORIZED_KEYS.into());
        let hash_type = a.opt_str("fingerprint_hash_type", 2)?;
        a.finish()?;
        off_thread(move || {
            let ht = hash_type.as_deref();
            let users = match &user {
                Some(Value::String(one)) => {
                    let keys = sshkeys::auth_keys(one, &config, ht).map_err(failed)?;
                    return Ok(Value::Object(keys).into());
                }
                Some(list) => as_str_list("user", list)?,
                None => accounts::all_users().into_iter().map(|u| u.name).collect(),
            };
            let mut out = Map::new();
            for u in users {
                let Some(info) = accounts::user_info(&u) else {
                    continue;
                };
                if sshkeys::config_file(&info, &config).is_file() {
                    let keys = sshkeys::auth_keys(&u, &config, ht).map_err(failed)?;
                    out.insert(u, Value::Object(keys));
                }
            }
            Ok(Value::Object(out).into())
        })
        .await
    })
}

/// The arguments `set_auth_key` and `check_key` share.
struct KeyArgs {
    user: String,
    key: String,
    enc: String,
    comment: String,
    options: Vec<String>,
    config: String,
    hash_type: Option<String>,
}

fn key_args(args: Args, with_cache_keys: bool) -> Result<KeyArgs, ModError> {
    let mut a = args.parser();
    let user = a.take_str("user", 0)?;
    let key = a.take_str("key", 1)?;
    let enc = a.opt_str("enc", 2)?.unwrap_or_else(|| "ssh-rsa".into());
    let comment = a.opt_str("comment", 3)?.unwrap_or_default();
    let options = a.opt("options", 4)?;
    let options = options
        .map(|v| as_str_list("options", &v))
        .transpose()?
        .unwrap_or_default();
    let config = a
        .opt_str("config", 5)?
        .unwrap_or_else(|| sshkeys::AUTHORIZED_KEYS.into());
    if with_cache_keys {
        // Salt takes cache_keys and ignores it (it never removes other keys).
        a.opt("cache_keys", 6)?;
    } else {
        a.ignore(&["cache_keys"]);
    }
    let hash_type = a.kw_str("fingerprint_hash_type")?;
    a.finish()?;
    Ok(KeyArgs {
        user,
        key,
        enc,
        comment,
        options,
        config,
        hash_type,
    })
}

fn set_auth_key(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let k = key_args(args, true)?;
        off_thread(move || {
            let status = sshkeys::set_auth_key(
                &k.user,
                &k.key,
                &k.enc,
                &k.comment,
                &k.options,
                &k.config,
                k.hash_type.as_deref(),
            )
            .map_err(failed)?;
            Ok(json!(status).into())
        })
        .await
    })
}

fn set_auth_key_from_file(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let user = a.take_str("user", 0)?;
        let source = a.take_str("source", 1)?;
        let config = a
            .opt_str("config", 2)?
            .unwrap_or_else(|| sshkeys::AUTHORIZED_KEYS.into());
        let saltenv = a.opt_str("saltenv", 3)?.unwrap_or_else(|| "base".into());
        let hash_type = a.opt_str("fingerprint_hash_type", 4)?;
        a.finish()?;
        // The file comes through cp.cache_file, as in Salt.
        let cache = crate::registry::lookup("cp.cache_file").expect("cp.cache_file is registered");
        let cached = crate::registry::with_fun(
            cache.name,
            (cache.run)(
                ctx,
                Args::new(vec![json!(source), json!(saltenv)], Map::new()),
            ),
        )
        .await?
        .value;
        let Some(path) = cached.as_str().map(PathBuf::from).filter(|p| p.is_file()) else {
            return Err(ModError::Failed(
                "Failed to pull key file from salt file server".into(),
            ));
        };
        off_thread(move || {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| ModError::Failed(format!("{}: {e}", path.display())))?;
            let answer =
                sshkeys::set_auth_keys_from_text(&user, &text, &config, hash_type.as_deref())
                    .map_err(failed)?;
            if answer == "fail" {
                tracing::error!(
                    "keys from {source} not set: no keys in the file, or no such user or home"
                );
            }
            Ok(json!(answer).into())
        })
        .await
    })
}

fn check_key(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let k = key_args(args, true)?;
        off_thread(move || {
            let enc = sshkeys::refine_enc(&k.enc).map_err(failed)?;
            let current =
                sshkeys::auth_keys(&k.user, &k.config, k.hash_type.as_deref()).map_err(failed)?;
            let status = sshkeys::check_key(&current, &k.key, &enc, &k.comment, &k.options);
            Ok(json!(status).into())
        })
        .await
    })
}

fn rm_auth_key(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let user = a.take_str("user", 0)?;
        let key = a.take_str("key", 1)?;
        let config = a
            .opt_str("config", 2)?
            .unwrap_or_else(|| sshkeys::AUTHORIZED_KEYS.into());
        let hash_type = a.opt_str("fingerprint_hash_type", 3)?;
        a.finish()?;
        off_thread(move || {
            let status =
                sshkeys::rm_auth_key(&user, &key, &config, hash_type.as_deref()).map_err(failed)?;
            Ok(json!(status).into())
        })
        .await
    })
}

fn host_keys(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let keydir = a.opt_str("keydir", 0)?.unwrap_or_else(|| "/etc/ssh".into());
        let private = a.opt_bool("private", 1)?.unwrap_or(true);
        let certs = a.opt_bool("certs", 2)?.unwrap_or(true);
        a.finish()?;
        off_thread(move || {
            let keys =
                sshkeys::host_keys(&PathBuf::from(keydir), private, certs).map_err(failed)?;
            Ok(Value::Object(keys).into())
        })
        .await
    })
}

fn port_arg(v: Option<i64>) -> Result<Option<u16>, ModError> {
    v.map(|p| u16::try_from(p).map_err(|_| ModError::BadArguments(format!("Invalid port {p}"))))
        .transpose()
}

fn check_known_host(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let user = a.opt_str("user", 0)?;
        let hostname = a.opt_str("hostname", 1)?.unwrap_or_default();
        let key = a.opt_str("key", 2)?;
        let fingerprint = a.opt_str("fingerprint", 3)?;
        let config = a.opt_str("config", 4)?;
        let port = port_arg(a.opt_i64("port", 5)?)?;
        let hash_type = a.opt_str("fingerprint_hash_type", 6)?;
        a.finish()?;
        off_thread(move || {
            if hostname.is_empty() {
                return Ok(
                    json!({"status": "error", "error": "hostname argument required"}).into(),
                );
            }
            let file =
                sshkeys::known_hosts_file(user.as_deref(), config.as_deref()).map_err(failed)?;
            let stored = sshkeys::known_host_entries(&file, &hostname, port, hash_type.as_deref())
                .map_err(failed)?;
            let status = sshkeys::check_known_host(&stored, key.as_deref(), fingerprint.as_deref());
            Ok(json!(status).into())
        })
        .await
    })
}

fn get_known_host_entries(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let user = a.opt_str("user", 0)?;
        let hostname = a.take_str("hostname", 1)?;
        let config = a.opt_str("config", 2)?;
        let port = port_arg(a.opt_i64("port", 3)?)?;
        let hash_type = a.opt_str("fingerprint_hash_type", 4)?;
        a.finish()?;
        off_thread(move || {
            let file =
                sshkeys::known_hosts_file(user.as_deref(), config.as_deref()).map_err(failed)?;
            let found = sshkeys::known_host_entries(&file, &hostname, port, hash_type.as_deref())
                .map_err(failed)?;
            if found.is_empty() {
                return Ok(Value::Null.into());
            }
            Ok(json!(found.iter().map(|h| h.to_json()).collect::<Vec<_>>()).into())
        })
        .await
    })
}

fn set_known_host(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let user = a.opt_str("user", 0)?;
        let hostname = a.opt_str("hostname", 1)?.unwrap_or_default();
        let fingerprint = a.opt_str("fingerprint", 2)?;
        let key = a.opt_str("key", 3)?;
        let port = port_arg(a.opt_i64("port", 4)?)?;
        let enc = a.opt_str("enc", 5)?;
        let config = a.opt_str("config", 6)?;
        let hash_known_hosts = a.opt_bool("hash_known_hosts", 7)?.unwrap_or(true);
        let timeout = a.opt_i64("timeout", 8)?.unwrap_or(5).clamp(1, 3600) as u32;
        let hash_type = a.opt_str("fingerprint_hash_type", 9)?;
        a.finish()?;
        let req = KnownHostRequest {
            user,
            hostname,
            fingerprint,
            key,
            port,
            enc,
            config,
            hash_known_hosts,
            timeout,
            hash_type,
        };
        off_thread(move || Ok(sshkeys::set_known_host(&req).map_err(failed)?.into())).await
    })
}

fn rm_known_host(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let user = a.opt_str("user", 0)?;
        let hostname = a.opt_str("hostname", 1)?.unwrap_or_default();
        let config = a.opt_str("config", 2)?;
        let port = port_arg(a.opt_i64("port", 3)?)?;
        a.finish()?;
        off_thread(move || {
            let r = sshkeys::rm_known_host(user.as_deref(), &hostname, config.as_deref(), port)
                .map_err(failed)?;
            Ok(r.into())
        })
        .await
    })
}

fn hash_known_hosts(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let user = a.opt_str("user", 0)?;
        let config = a.opt_str("config", 1)?;
        a.finish()?;
        off_thread(move || {
            let file = sshkeys::known_hosts_file(user.as_deref(), config.as_deref()).map_err(failed)?;
            if !file.is_file() {
                return Ok(json!({"status": "error", "error": format!("Known hosts file {} does not exist", file.display())}).into());
            }
            sshkeys::hash_known_hosts(&file).map_err(failed)?;
            Ok(json!({"status": "updated", "comment": format!("{} hashed", file.display())}).into())
        })
        .await
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{test_call, test_ctx, ModFn};

    const KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    async fn call(f: ModFn, name: &'static str, arg: Value, kw: Value) -> Result<Value, String> {
        test_call(test_ctx(), f, name, arg, kw).await
    }

    /// root's keys through an absolute config path in a temp dir, so the
    /// real ~/.ssh is never touched.
    #[tokio::test]
    async fn authorized_keys_in_a_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub").join("keys");
        let f = file.to_str().unwrap();
        let kw = json!({"enc": "ed25519", "comment": "me@host", "config": f});
        let set = call(
            set_auth_key,
            "ssh.set_auth_key",
            json!(["root", KEY]),
            kw.clone(),
        )
        .await;
        assert_eq!(set.unwrap(), "new");
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            format!("ssh-ed25519 {KEY} me@host\n")
        );
        let again = call(set_auth_key, "ssh.set_auth_key", json!(["root", KEY]), kw).await;
        assert_eq!(again.unwrap(), "no change");
        let kw = json!({"enc": "ed25519", "comment": "new", "options": ["no-pty"], "config": f});
        let check = call(check_key, "ssh.check_key", json!(["root", KEY]), kw.clone()).await;
        assert_eq!(check.unwrap(), "update");
        let set = call(set_auth_key, "ssh.set_auth_key", json!(["root", KEY]), kw).await;
        assert_eq!(set.unwrap(), "replace");
        let keys = call(
            auth_keys,
            "ssh.auth_keys",
            json!(["root"]),
            json!({"config": f}),
        )
        .await
        .unwrap();
        assert_eq!(keys[KEY]["options"], json!(["no-pty"]));
        assert_eq!(keys[KEY]["comment"], "new");
        assert!(keys[KEY]["fingerprint"].as_str().unwrap().contains(':'));
        let by_user = call(
            auth_keys,
            "ssh.auth_keys",
            json!([["root"]]),
            json!({"config": f}),
        )
        .await
        .unwrap();
        assert_eq!(by_user["root"], keys);
        let bad = call(
            set_auth_key,
            "ssh.set_auth_key",
            json!(["root", "a b"]),
            json!({"config": f}),
        );
        assert_eq!(bad.await.unwrap(), "invalid");
        let bad = call(
            set_auth_key,
            "ssh.set_auth_key",
            json!(["root", "!!!"]),
            json!({"config": f}),
        );
        assert_eq!(bad.await.unwrap(), "Invalid public key");
        let nouser = call(
            set_auth_key,
            "ssh.set_auth_key",
            json!(["no-such-user-x", KEY]),
            json!({}),
        );
        assert_eq!(nouser.await.unwrap(), "fail");
        let rm = call(
            rm_auth_key,
            "ssh.rm_auth_key",
            json!(["root", KEY]),
            json!({"config": f}),
        );
        assert_eq!(rm.await.unwrap(), "Key removed");
        let rm = call(
            rm_auth_key,
            "ssh.rm_auth_key",
            json!(["root", KEY]),
            json!({"config": f}),
        );
        assert_eq!(rm.await.unwrap(), "Key not present");
        let enc = call(
            set_auth_key,
            "ssh.set_auth_key",
            json!(["root", KEY]),
            json!({"enc": "zz", "config": f}),
        );
        assert_eq!(
            enc.await.unwrap_err(),
            "Incorrect encryption key type 'zz'."
        );
    }

    #[tokio::test]
    async fn host_keys_from_a_temp_keydir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ssh_host_ed25519_key"), "PRIVATE\n").unwrap();
        std::fs::write(
            dir.path().join("ssh_host_ed25519_key.pub"),
            "ssh-ed25519 AAAA x\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("ssh_host_rsa_key-cert.pub"), "CERT\n").unwrap();
        std::fs::write(dir.path().join("sshd_config"), "x\n").unwrap();
        let d = dir.path().to_str().unwrap();
        let all = call(host_keys, "ssh.host_keys", json!([d]), json!({}))
            .await
            .unwrap();
        assert_eq!(
            all,
            json!({"ed25519": "PRIVATE", "ed25519.pub": "ssh-ed25519 AAAA x", "rsa-cert.pub": "CERT"})
        );
        let public = call(
            host_keys,
            "ssh.host_keys",
            json!([d]),
            json!({"private": false, "certs": false}),
        )
        .await
        .unwrap();
        assert_eq!(public, json!({"ed25519.pub": "ssh-ed25519 AAAA x"}));
    }

    #[tokio::test]
    async fn known_hosts_in_a_temp_file() {
        if !brine_states::modules::sys::run::which("ssh-keygen") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("known_hosts");
        let f = f.to_str().unwrap();
        let kw = json!({"hostname": "host.example", "key": KEY, "enc": "ssh-ed25519", "config": f, "hash_known_hosts": false});
        let check = call(
            check_known_host,
            "ssh.check_known_host",
            json!([]),
            json!({"hostname": "host.example", "key": KEY, "config": f}),
        );
        assert_eq!(check.await.unwrap(), "add");
        let set = call(set_known_host, "ssh.set_known_host", json!([]), kw)
            .await
            .unwrap();
        assert_eq!(set["status"], "updated");
        let check = call(
            check_known_host,
            "ssh.check_known_host",
            json!([]),
            json!({"hostname": "host.example", "key": KEY, "config": f}),
        );
        assert_eq!(check.await.unwrap(), "exists");
        let entries = call(
            get_known_host_entries,
            "ssh.get_known_host_entries",
            json!([null, "host.example"]),
            json!({"config": f}),
        )
        .await
        .unwrap();
        assert_eq!(entries[0]["key"], KEY);
        let none = call(
            get_known_host_entries,
            "ssh.get_known_host_entries",
            json!([null, "other"]),
            json!({"config": f}),
        );
        assert_eq!(none.await.unwrap(), Value::Null);
        let rel = call(
            check_known_host,
            "ssh.check_known_host",
            json!([]),
            json!({"hostname": "h", "config": "rel/path"}),
        );
        assert_eq!(
            rel.await.unwrap_err(),
            "If not specifying a \"user\", specify an absolute \"config\"."
        );
    }

    #[tokio::test]
    async fn keys_from_a_file_server_file() {
        let dir = tempfile::tempdir().unwrap();
        let roots = dir.path().join("srv");
        std::fs::create_dir_all(roots.join("keys")).unwrap();
        let other = "AAAAC3NzaC1lZDI1NTE5AAAAIJvTZm1u4Xm0T0p5ox6cGQmDSpjBQeRkY5W9r1Wn0Rjr";
        std::fs::write(
            roots.join("keys/root.pub"),
            format!("ssh-ed25519 {KEY} a@b\nssh-ed25519 {other} c@d\n"),
        )
        .unwrap();
        std::fs::write(roots.join("keys/empty.pub"), "# nothing\n").unwrap();
        let mut ctx = test_ctx();
        let mut config = (*ctx.config).clone();
        config.file_roots = serde_yaml::from_str(&format!("base: [{}]", roots.display())).unwrap();
        config.cachedir = dir.path().join("cache");
        ctx.config = std::sync::Arc::new(config);
        let keyfile = dir.path().join("authorized_keys");
        let kw = json!({"config": keyfile.to_str().unwrap()});
        let run = |src: &str| {
            test_call(
                ctx.clone(),
                set_auth_key_from_file,
                "ssh.set_auth_key_from_file",
                json!(["root", src]),
                kw.clone(),
            )
        };
        assert_eq!(run("salt://keys/root.pub").await.unwrap(), "new");
        assert_eq!(run("salt://keys/root.pub").await.unwrap(), "no change");
        let text = std::fs::read_to_string(&keyfile).unwrap();
        assert_eq!(
            text,
            format!("ssh-ed25519 {KEY} a@b\nssh-ed25519 {other} c@d\n")
        );
        assert_eq!(run("salt://keys/empty.pub").await.unwrap(), "fail");
        assert_eq!(
            run("salt://keys/missing.pub").await.unwrap_err(),
            "Failed to pull key file from salt file server"
        );
    }
}
