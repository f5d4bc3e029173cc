//! `group.*`: local groups, as Salt's `groupadd` module manages them:
//! read from `/etc/group`, changed through `groupadd`, `groupdel`,
//! `groupmod` and `gpasswd` (the helpers the `group.*` states use too).

use brine_states::modules::sys::accounts;
use serde_json::{json, Value};

use super::sysexec::off_thread;
use crate::registry::{as_str_list, Args, CallCtx, FunctionSpec, ModError, ModFuture};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "group.add",
        doc: "Add a group (groupadd); True when it was created.\n\n\
              - name: the group name.\n\
              - gid: the group id (default: the next free one).\n\
              - system: create a system group (-r; default False).\n\
              - non_unique: allow a gid another group has (-o; default False).",
        cli_example: "brine '*' group.add foo 3456",
        run: add,
    },
    FunctionSpec {
        name: "group.adduser",
        doc: "Add a user to a group (gpasswd -a); True on success.\n\n\
              - name: the group name.\n\
              - username: the user to add.",
        cli_example: "brine '*' group.adduser foo bar",
        run: adduser,
    },
    FunctionSpec {
        name: "group.chgid",
        doc: "Change a group's gid; True when it reads back as asked.\n\n\
              - name: the group name.\n\
              - gid: the new gid.",
        cli_example: "brine '*' group.chgid foo 4376",
        run: chgid,
    },
    FunctionSpec {
        name: "group.delete",
        doc: "Remove a group (groupdel); True when it was removed.\n\n\
              - name: the group name.",
        cli_example: "brine '*' group.delete foo",
        run: delete,
    },
    FunctionSpec {
        name: "group.deluser",
        doc: "Remove a user from a group (gpasswd -d); True on success or when it was not a member.\n\n\
              - name: the group name.\n\
              - username: the user to remove.",
        cli_example: "brine '*' group.deluser foo bar",
        run: deluser,
    },
    FunctionSpec {
        name: "group.getent",
        doc: "Return the group.info of every group, in /etc/group order.\n\n\
              - refresh: accepted for Salt compatibility (nothing is cached).",
        cli_example: "brine '*' group.getent",
        run: getent,
    },
    FunctionSpec {
        name: "group.info",
        doc: "Return a group: {name, passwd, gid, members}; {} when there is no such group.\n\n\
              - name: the group name.",
        cli_example: "brine '*' group.info foo",
        run: info,
    },
    FunctionSpec {
        name: "group.members",
        doc: "Replace a group's members (gpasswd -M); True on success.\n\n\
              - name: the group name.\n\
              - members_list: the users, a comma-separated string or a list.",
        cli_example: "brine '*' group.members foo 'user1,user2,user3'",
        run: members,
    },
];

/// Logs a tool's failure and turns it into Salt's boolean answer.
fn ok_or_log(result: Result<(), String>, what: &str) -> Value {
    match result {
        Ok(()) => json!(true),
        Err(e) => {
            tracing::error!(error = %e, "{what} failed");
            json!(false)
        }
    }
}

fn gid_arg(v: i64) -> Result<u32, ModError> {
    u32::try_from(v).map_err(|_| ModError::BadArguments(format!("Invalid gid {v}")))
}

fn add(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        let gid = a.opt_i64("gid", 1)?.map(gid_arg).transpose()?;
        let system = a.opt_bool("system", 2)?.unwrap_or(false);
        a.ignore(&["root", "local"]);
        let non_unique = a.kw_bool("non_unique")?.unwrap_or(false);
        a.finish()?;
        off_thread(move || {
            Ok(ok_or_log(
                accounts::groupadd(&name, gid, system, non_unique),
                "groupadd",
            )
            .into())
        })
        .await
    })
}

fn delete(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        a.ignore(&["root", "local"]);
        a.finish()?;
        off_thread(move || Ok(ok_or_log(accounts::groupdel(&name), "groupdel").into())).await
    })
}

fn info(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        a.ignore(&["root"]);
        a.finish()?;
        let info = accounts::group_info(&name).map(|g| g.to_json());
        Ok(Value::Object(info.unwrap_or_default()).into())
    })
}

fn getent(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        a.opt("refresh", 0)?;
        a.ignore(&["root"]);
        a.finish()?;
        let all: Vec<Value> = accounts::all_groups()
            .iter()
            .map(|g| Value::Object(g.to_json()))
            .collect();
        Ok(json!(all).into())
    })
}

fn chgid(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        let gid = a.take("gid", 1)?;
        let gid = gid_arg(crate::registry::as_i64("gid", &gid)?)?;
        a.ignore(&["root"]);
        a.finish()?;
        off_thread(move || {
            // Salt: unchanged is success; a missing group is False.
            let Some(before) = accounts::group_info(&name) else {
                return Ok(json!(false).into());
            };
            if before.gid == gid {
                return Ok(json!(true).into());
            }
            let _ = ok_or_log(
                accounts::groupmod_gid(&name, &gid.to_string(), false),
                "groupmod",
            );
            let after = accounts::group_info(&name).map(|g| g.gid);
            Ok(json!(after == Some(gid)).into())
        })
        .await
    })
}

fn adduser(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        let username = a.take_str("username", 1)?;
        a.ignore(&["root"]);
        a.finish()?;
        off_thread(move || {
            Ok(ok_or_log(accounts::group_add_member(&name, &username), "gpasswd").into())
        })
        .await
    })
}

fn deluser(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        let username = a.take_str("username", 1)?;
        a.ignore(&["root"]);
        a.finish()?;
        off_thread(move || {
            let member = accounts::group_info(&name).is_some_and(|g| g.members.contains(&username));
            if !member {
                return Ok(json!(true).into());
            }
            Ok(ok_or_log(accounts::group_del_member(&name, &username), "gpasswd").into())
        })
        .await
    })
}

fn members(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        let list = a.take("members_list", 1)?;
        let list = as_str_list("members_list", &list)?;
        a.ignore(&["root"]);
        a.finish()?;
        off_thread(move || {
            Ok(ok_or_log(accounts::group_set_members(&name, &list), "gpasswd").into())
        })
        .await
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::sysexec::system_tests_enabled;
    use crate::registry::{test_call, test_ctx, ModFn};

    async fn call(f: ModFn, name: &'static str, arg: Value) -> Result<Value, String> {
        test_call(test_ctx(), f, name, arg, json!({})).await
    }

    #[tokio::test]
    async fn reads_match_etc_group() {
        let root = call(info, "group.info", json!(["root"])).await.unwrap();
        assert_eq!(root["gid"], 0);
        assert_eq!(root["name"], "root");
        assert_eq!(
            call(info, "group.info", json!(["no-such-group-x"]))
                .await
                .unwrap(),
            json!({})
        );
        let all = call(getent, "group.getent", json!([])).await.unwrap();
        assert_eq!(all[0]["name"], "root");
        assert_eq!(
            call(chgid, "group.chgid", json!(["no-such-group-x", 5]))
                .await
                .unwrap(),
            json!(false)
        );
        assert!(call(chgid, "group.chgid", json!(["root", "x"]))
            .await
            .is_err());
    }

    struct Cleanup(Vec<(bool, String)>);

    impl Drop for Cleanup {
        fn drop(&mut self) {
            for (user, name) in &self.0 {
                if *user {
                    let _ = accounts::userdel(name, false, true);
                } else {
                    let _ = accounts::groupdel(name);
                }
            }
        }
    }

    #[tokio::test]
    async fn real_group_added_changed_and_deleted() {
        if !system_tests_enabled("real_group_added_changed_and_deleted") {
            return;
        }
        let _serial = crate::modules::sysexec::ACCOUNTS.lock().await;
        let pid = std::process::id();
        let (g, u1, u2) = (
            format!("brinex{pid}grp"),
            format!("brinex{pid}a"),
            format!("brinex{pid}b"),
        );
        let _cleanup = Cleanup(vec![
            (true, u1.clone()),
            (true, u2.clone()),
            (false, g.clone()),
        ]);
        for u in [&u1, &u2] {
            let new = accounts::NewUser {
                createhome: false,
                unique: true,
                ..Default::default()
            };
            accounts::useradd(u, &new).unwrap();
        }
        assert_eq!(
            call(add, "group.add", json!([g, 47321])).await.unwrap(),
            json!(true)
        );
        assert_eq!(
            call(add, "group.add", json!([g])).await.unwrap(),
            json!(false)
        );
        let info_now = || async { call(info, "group.info", json!([g])).await.unwrap() };
        assert_eq!(
            info_now().await,
            json!({"name": g, "passwd": "x", "gid": 47321, "members": []})
        );
        assert_eq!(
            call(adduser, "group.adduser", json!([g, u1]))
                .await
                .unwrap(),
            json!(true)
        );
        assert_eq!(info_now().await["members"], json!([u1]));
        assert_eq!(
            call(members, "group.members", json!([g, format!("{u1},{u2}")]))
                .await
                .unwrap(),
            json!(true)
        );
        assert_eq!(info_now().await["members"], json!([u1, u2]));
        assert_eq!(
            call(deluser, "group.deluser", json!([g, u1]))
                .await
                .unwrap(),
            json!(true)
        );
        assert_eq!(
            call(deluser, "group.deluser", json!([g, u1]))
                .await
                .unwrap(),
            json!(true)
        );
        assert_eq!(info_now().await["members"], json!([u2]));
        assert_eq!(
            call(chgid, "group.chgid", json!([g, 47322])).await.unwrap(),
            json!(true)
        );
        assert_eq!(info_now().await["gid"], 47322);
        assert_eq!(
            call(delete, "group.delete", json!([g])).await.unwrap(),
            json!(true)
        );
        assert_eq!(info_now().await, json!({}));
        assert_eq!(
            call(delete, "group.delete", json!([g])).await.unwrap(),
            json!(false)
        );
    }
}
