//! `hosts.*`: the hosts file as Salt's `hosts` module reads and edits it.
//! The file is the minion option `hosts.file` (default `/etc/hosts`); the
//! parsing and editing are `brine_states::modules::sys::hostsfile`'s, which
//! the `host.*` states use too.

use std::path::{Path, PathBuf};

use brine_states::modules::sys::hostsfile::{self, Hosts};
use serde_json::{json, Value};

use super::sysexec::off_thread;
use crate::registry::{Args, CallCtx, FunctionSpec, ModError, ModFuture};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "hosts.add_host",
        doc: "Add an alias to an address's entry, creating the entry when missing; True.\n\n\
              - ip: the address.\n\
              - alias: the host name.",
        cli_example: "brine '*' hosts.add_host <ip> <alias>",
        run: add_host,
    },
    FunctionSpec {
        name: "hosts.get_alias",
        doc: "Return the aliases of an address, in file order ([] when none).\n\n\
              - ip: the address.",
        cli_example: "brine '*' hosts.get_alias <ip addr>",
        run: get_alias,
    },
    FunctionSpec {
        name: "hosts.get_ip",
        doc: "Return the address the host name is listed under ('' when none).\n\n\
              - host: the host name.",
        cli_example: "brine '*' hosts.get_ip <hostname>",
        run: get_ip,
    },
    FunctionSpec {
        name: "hosts.has_pair",
        doc: "Return whether the alias is listed for the address.\n\n\
              - ip: the address.\n\
              - alias: the host name.",
        cli_example: "brine '*' hosts.has_pair <ip> <alias>",
        run: has_pair,
    },
    FunctionSpec {
        name: "hosts.list_hosts",
        doc: "Return the hosts file: {ip: {aliases: [...], comment: '...'}}; whole-line\n\
              comments appear as comment-N: ['# text'].",
        cli_example: "brine '*' hosts.list_hosts",
        run: list_hosts,
    },
    FunctionSpec {
        name: "hosts.rm_host",
        doc: "Remove an alias from an address's lines (a line left without aliases goes); True.\n\n\
              - ip: the address.\n\
              - alias: the host name.",
        cli_example: "brine '*' hosts.rm_host <ip> <alias>",
        run: rm_host,
    },
    FunctionSpec {
        name: "hosts.set_comment",
        doc: "Set the comment of an address's entry; False when the address has none.\n\n\
              - ip: the address.\n\
              - comment: the comment text.",
        cli_example: "brine '*' hosts.set_comment <ip> <comment>",
        run: set_comment,
    },
    FunctionSpec {
        name: "hosts.set_host",
        doc: "Make the address's entry exactly these aliases (its other lines are removed); True.\n\n\
              - ip: the address.\n\
              - alias: the host names, space-separated; empty removes the address.\n\
              - comment: a comment for the line.",
        cli_example: "brine '*' hosts.set_host <ip> <alias>",
        run: set_host,
    },
];

/// The hosts file this minion edits: its `hosts.file` option, as in Salt.
fn hosts_path(ctx: &CallCtx) -> PathBuf {
    let configured = ctx.config.other_options.get("hosts.file");
    match configured.and_then(Value::as_str) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(hostsfile::DEFAULT_PATH),
    }
}

fn failed(e: String) -> ModError {
    ModError::Failed(e)
}

fn read(path: &Path) -> Result<Hosts, ModError> {
    Hosts::read(path).map_err(failed)
}

fn write(path: &Path, text: &str) -> Result<(), ModError> {
    std::fs::write(path, text).map_err(|e| failed(format!("{}: {e}", path.display())))
}

fn list_hosts(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        args.parser().finish()?;
        let path = hosts_path(&ctx);
        off_thread(move || Ok(read(&path)?.to_json().into())).await
    })
}

fn get_ip(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let host = a.take_str("host", 0)?;
        a.finish()?;
        let path = hosts_path(&ctx);
        off_thread(move || Ok(json!(read(&path)?.ip_of(&host)).into())).await
    })
}

fn get_alias(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let ip = a.take_str("ip", 0)?;
        a.finish()?;
        let path = hosts_path(&ctx);
        off_thread(move || {
            let hosts = read(&path)?;
            let aliases = hosts.get(&ip).map(|(a, _)| a.to_vec()).unwrap_or_default();
            Ok(json!(aliases).into())
        })
        .await
    })
}

/// The `ip` and `alias` arguments most functions take.
fn ip_alias(args: Args) -> Result<(String, String), ModError> {
    let mut a = args.parser();
    let ip = a.take_str("ip", 0)?;
    let alias = a.take_str("alias", 1)?;
    a.finish()?;
    Ok((ip, alias))
}

fn has_pair(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let (ip, alias) = ip_alias(args)?;
        let path = hosts_path(&ctx);
        off_thread(move || Ok(json!(read(&path)?.has_pair(&ip, &alias)).into())).await
    })
}

fn set_host(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let ip = a.take_str("ip", 0)?;
        let alias = a.take_str("alias", 1)?;
        let comment = a.opt_str("comment", 2)?;
        a.finish()?;
        let path = hosts_path(&ctx);
        off_thread(move || {
            let text = hostsfile::read_or_create(&path).map_err(failed)?;
            write(
                &path,
                &hostsfile::set_host(&text, &ip, &alias, comment.as_deref()),
            )?;
            Ok(json!(true).into())
        })
        .await
    })
}

fn add_host(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let (ip, alias) = ip_alias(args)?;
        let path = hosts_path(&ctx);
        off_thread(move || {
            let mut hosts = Hosts::parse(&hostsfile::read_or_create(&path).map_err(failed)?);
            if !hosts.has_pair(&ip, &alias) {
                hosts.add(&ip, &alias);
                write(&path, &hosts.render())?;
            }
            Ok(json!(true).into())
        })
        .await
    })
}

fn rm_host(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let (ip, alias) = ip_alias(args)?;
        let path = hosts_path(&ctx);
        off_thread(move || {
            if read(&path)?.has_pair(&ip, &alias) {
                let text = hostsfile::read_or_create(&path).map_err(failed)?;
                write(&path, &hostsfile::remove_alias(&text, &ip, &alias))?;
            }
            Ok(json!(true).into())
        })
        .await
    })
}

fn set_comment(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let ip = a.take_str("ip", 0)?;
        let comment = a.take_str("comment", 1)?;
        a.finish()?;
        let path = hosts_path(&ctx);
        off_thread(move || {
            let mut hosts = Hosts::parse(&hostsfile::read_or_create(&path).map_err(failed)?);
            if hosts
                .get(&ip)
                .is_some_and(|(_, c)| c == Some(comment.as_str()))
            {
                return Ok(json!(true).into());
            }
            if !hosts.set_comment(&ip, &comment) {
                return Ok(json!(false).into());
            }
            write(&path, &hosts.render())?;
            Ok(json!(true).into())
        })
        .await
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::sysexec::system_tests_enabled;
    use crate::registry::{test_call, test_ctx, ModFn};

    /// A context whose `hosts.file` is `path`.
    fn ctx_for(path: &std::path::Path) -> CallCtx {
        let ctx = test_ctx();
        let mut config = (*ctx.config).clone();
        config
            .other_options
            .insert("hosts.file".into(), json!(path.to_str().unwrap()));
        CallCtx {
            config: std::sync::Arc::new(config),
            ..ctx
        }
    }

    async fn call(ctx: &CallCtx, f: ModFn, name: &'static str, arg: Value) -> Value {
        test_call(ctx.clone(), f, name, arg, json!({}))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn edits_a_temp_hosts_file_like_salt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts");
        std::fs::write(
            &path,
            "# local\n127.0.0.1 localhost\n10.0.0.1 web # front\n",
        )
        .unwrap();
        let ctx = ctx_for(&path);
        assert_eq!(
            call(&ctx, get_ip, "hosts.get_ip", json!(["web"])).await,
            "10.0.0.1"
        );
        assert_eq!(
            call(&ctx, get_ip, "hosts.get_ip", json!(["nope"])).await,
            ""
        );
        assert_eq!(
            call(&ctx, add_host, "hosts.add_host", json!(["10.0.0.1", "www"])).await,
            true
        );
        assert_eq!(
            call(&ctx, add_host, "hosts.add_host", json!(["10.0.0.2", "db"])).await,
            true
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "# local\n127.0.0.1\t\tlocalhost\n10.0.0.1\t\tweb www\t\t# front\n10.0.0.2\t\tdb\n"
        );
        assert_eq!(
            call(&ctx, get_alias, "hosts.get_alias", json!(["10.0.0.1"])).await,
            json!(["web", "www"])
        );
        assert_eq!(
            call(&ctx, get_alias, "hosts.get_alias", json!(["10.9.9.9"])).await,
            json!([])
        );
        assert_eq!(
            call(&ctx, has_pair, "hosts.has_pair", json!(["10.0.0.2", "db"])).await,
            true
        );
        assert_eq!(
            call(&ctx, rm_host, "hosts.rm_host", json!(["10.0.0.1", "web"])).await,
            true
        );
        assert_eq!(
            call(&ctx, rm_host, "hosts.rm_host", json!(["10.0.0.2", "db"])).await,
            true
        );
        assert_eq!(
            call(&ctx, list_hosts, "hosts.list_hosts", json!([])).await,
            json!({
                "comment-0": ["# local"],
                "127.0.0.1": {"aliases": ["localhost"]},
                "10.0.0.1": {"aliases": ["www"], "comment": "front"}
            })
        );
        assert_eq!(
            call(&ctx, set_host, "hosts.set_host", json!(["10.0.0.1", "a b"])).await,
            true
        );
        assert_eq!(
            call(
                &ctx,
                set_comment,
                "hosts.set_comment",
                json!(["10.0.0.1", "new"])
            )
            .await,
            true
        );
        assert_eq!(
            call(
                &ctx,
                set_comment,
                "hosts.set_comment",
                json!(["10.7.7.7", "x"])
            )
            .await,
            false
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "# local\n127.0.0.1\t\tlocalhost\n10.0.0.1\t\ta b\t\t# new\n"
        );
        // A missing file is created, as Salt does.
        let fresh = dir.path().join("fresh");
        let ctx = ctx_for(&fresh);
        assert_eq!(
            call(&ctx, set_host, "hosts.set_host", json!(["10.1.1.1", "x"])).await,
            true
        );
        assert_eq!(std::fs::read_to_string(&fresh).unwrap(), "10.1.1.1\t\tx\n");
    }

    /// Restores /etc/hosts when dropped.
    struct Restore(String);

    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = std::fs::write(hostsfile::DEFAULT_PATH, &self.0);
        }
    }

    #[tokio::test]
    async fn real_etc_hosts_line_added_and_removed() {
        if !system_tests_enabled("real_etc_hosts_line_added_and_removed") {
            return;
        }
        let before = std::fs::read_to_string(hostsfile::DEFAULT_PATH).unwrap();
        let _restore = Restore(before.clone());
        let ctx = test_ctx();
        let alias = format!("brinetest{}.invalid", std::process::id());
        let added = call(
            &ctx,
            add_host,
            "hosts.add_host",
            json!(["192.0.2.77", alias]),
        )
        .await;
        assert_eq!(added, true);
        assert_eq!(
            call(&ctx, get_ip, "hosts.get_ip", json!([alias])).await,
            "192.0.2.77"
        );
        let removed = call(&ctx, rm_host, "hosts.rm_host", json!(["192.0.2.77", alias])).await;
        assert_eq!(removed, true);
        assert_eq!(call(&ctx, get_ip, "hosts.get_ip", json!([alias])).await, "");
        let after = std::fs::read_to_string(hostsfile::DEFAULT_PATH).unwrap();
        assert!(!after.contains(&alias), "{after}");
    }
}
