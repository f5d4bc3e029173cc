//! `user.*`: local accounts, as Salt's `useradd` module manages them:
//! reads from `/etc/passwd` and `/etc/group`, changes through `useradd`,
//! `usermod` and `userdel` (the helpers the `user.*` states use too).

use brine_states::modules::sys::accounts::{self, UserInfo};
use serde_json::{json, Value};

use super::sysexec::off_thread;
use crate::registry::{as_str_list, Args, CallCtx, FunctionSpec, ModError, ModFuture};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "user.add",
        doc: "Add a user to the minion (useradd); True when it was created, else False.\n\n\
              - name: the user name.\n\
              - uid: the user id.\n\
              - gid: the primary group, a name or a number.\n\
              - groups: supplementary groups, a list or a comma-separated string.\n\
              - home: the home directory (default from useradd's defaults).\n\
              - shell: the login shell.\n\
              - unique: False allows a uid another user has (-o); default True.\n\
              - system: create a system account (-r).\n\
              - fullname, roomnumber, workphone, homephone, other: the GECOS fields.\n\
              - createhome: create the home directory (default True).\n\
              - nologinit: do not add the user to lastlog and faillog (-l).\n\
              - usergroup: True creates a group named after the user (-U), False does not (-N).",
        cli_example: "brine '*' user.add name <uid> <gid> <groups> <home> <shell>",
        run: add,
    },
    FunctionSpec {
        name: "user.chfullname",
        doc:
            "Change the user's full name (first GECOS field); True when it reads back as asked.\n\n\
              - name: the user name.\n\
              - fullname: the new full name.",
        cli_example: "brine '*' user.chfullname foo \"Foo Bar\"",
        run: chfullname,
    },
    FunctionSpec {
        name: "user.chgid",
        doc: "Change the user's primary group id; True when it reads back as asked.\n\n\
              - name: the user name.\n\
              - gid: the new group id.",
        cli_example: "brine '*' user.chgid foo 4376",
        run: chgid,
    },
    FunctionSpec {
        name: "user.chgroups",
        doc: "Change the user's supplementary groups; True on success.\n\n\
              - name: the user name.\n\
              - groups: the groups, a list or a comma-separated string.\n\
              - append: add to the user's groups instead of replacing them (default False).",
        cli_example: "brine '*' user.chgroups foo wheel,root",
        run: chgroups,
    },
    FunctionSpec {
        name: "user.chhome",
        doc: "Change the user's home directory; True when it reads back as asked.\n\n\
              - name: the user name.\n\
              - home: the new home directory.\n\
              - persist: move the old home's contents to the new one (usermod -m; default False).",
        cli_example: "brine '*' user.chhome foo /home/users/foo True",
        run: chhome,
    },
    FunctionSpec {
        name: "user.chhomephone",
        doc: "Change the user's home phone (fourth GECOS field).\n\n\
              - name: the user name.\n\
              - homephone: the new home phone.",
        cli_example: "brine '*' user.chhomephone foo 7735551234",
        run: chhomephone,
    },
    FunctionSpec {
        name: "user.chother",
        doc: "Change the user's other GECOS attribute (fifth field).\n\n\
              - name: the user name.\n\
              - other: the new value.",
        cli_example: "brine '*' user.chother foobar",
        run: chother,
    },
    FunctionSpec {
        name: "user.chroomnumber",
        doc: "Change the user's room number (second GECOS field).\n\n\
              - name: the user name.\n\
              - roomnumber: the new room number.",
        cli_example: "brine '*' user.chroomnumber foo 123",
        run: chroomnumber,
    },
    FunctionSpec {
        name: "user.chshell",
        doc: "Change the user's login shell; True when it reads back as asked.\n\n\
              - name: the user name.\n\
              - shell: the new shell.",
        cli_example: "brine '*' user.chshell foo /bin/zsh",
        run: chshell,
    },
    FunctionSpec {
        name: "user.chuid",
        doc: "Change the user's uid; True when it reads back as asked.\n\n\
              - name: the user name.\n\
              - uid: the new uid.",
        cli_example: "brine '*' user.chuid foo 4376",
        run: chuid,
    },
    FunctionSpec {
        name: "user.chworkphone",
        doc: "Change the user's work phone (third GECOS field).\n\n\
              - name: the user name.\n\
              - workphone: the new work phone.",
        cli_example: "brine '*' user.chworkphone foo 7735550000",
        run: chworkphone,
    },
    FunctionSpec {
        name: "user.delete",
        doc: "Remove a user from the minion (userdel); True when it is gone.\n\n\
              - name: the user name.\n\
              - remove: also remove the home directory and mail spool (default False).\n\
              - force: remove the user even while logged in (default False).",
        cli_example: "brine '*' user.delete name remove=True force=True",
        run: delete,
    },
    FunctionSpec {
        name: "user.getent",
        doc: "Return the user.info of every user, in /etc/passwd order.\n\n\
              - refresh: accepted for Salt compatibility (nothing is cached).",
        cli_example: "brine '*' user.getent",
        run: getent,
    },
    FunctionSpec {
        name: "user.info",
        doc:
            "Return a user's account: {name, passwd, uid, gid, home, shell, fullname, roomnumber,\n\
              workphone, homephone, other, groups}; {} when there is no such user.\n\n\
              - name: the user name.",
        cli_example: "brine '*' user.info root",
        run: info,
    },
    FunctionSpec {
        name: "user.list_groups",
        doc:
            "Return the sorted names of the groups a user belongs to (primary group included).\n\n\
              - name: the user name.",
        cli_example: "brine '*' user.list_groups root",
        run: list_groups,
    },
    FunctionSpec {
        name: "user.list_users",
        doc: "Return the sorted names of all local users.",
        cli_example: "brine '*' user.list_users",
        run: list_users,
    },
    FunctionSpec {
        name: "user.primary_group",
        doc: "Return the name of the user's primary group.\n\n\
              - name: the user name.",
        cli_example: "brine '*' user.primary_group foo",
        run: primary_group,
    },
    FunctionSpec {
        name: "user.rename",
        doc: "Change the user's login name; True when the new name reads back.\n\n\
              - name: the current user name.\n\
              - new_name: the new user name.",
        cli_example: "brine '*' user.rename name new_name",
        run: rename,
    },
];

/// Salt's error for a function that needs an existing user.
fn no_such_user(name: &str) -> ModError {
    ModError::Failed(format!("User '{name}' does not exist"))
}

fn existing(name: &str) -> Result<UserInfo, ModError> {
    accounts::user_info(name).ok_or_else(|| no_such_user(name))
}

/// An optional list argument (`groups`): a list or a comma-separated string.
fn opt_list(v: Option<Value>, name: &str) -> Result<Option<Vec<String>>, ModError> {
    v.map(|v| as_str_list(name, &v)).transpose()
}

/// An optional string argument that Salt treats as "not given" when empty.
fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

fn add(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        // Salt treats uid='' as not given.
        let uid = match a.opt("uid", 1)? {
            Some(Value::String(s)) if s.is_empty() => None,
            Some(v) => Some(crate::registry::as_i64("uid", &v)?),
            None => None,
        };
        let gid = non_empty(a.opt_str("gid", 2)?);
        let groups = a.opt("groups", 3)?;
        let groups = opt_list(groups, "groups")?.unwrap_or_default();
        let home = non_empty(a.opt_str("home", 4)?);
        let shell = non_empty(a.opt_str("shell", 5)?);
        let unique = a.opt_bool("unique", 6)?.unwrap_or(true);
        let system = a.opt_bool("system", 7)?.unwrap_or(false);
        let fullname = non_empty(a.opt_str("fullname", 8)?);
        let roomnumber = non_empty(a.opt_str("roomnumber", 9)?);
        let workphone = non_empty(a.opt_str("workphone", 10)?);
        let homephone = non_empty(a.opt_str("homephone", 11)?);
        let other = non_empty(a.opt_str("other", 12)?);
        let createhome = a.opt_bool("createhome", 13)?.unwrap_or(true);
        a.ignore(&["loginclass", "root", "local"]);
        let nologinit = a.kw_bool("nologinit")?.unwrap_or(false);
        let usergroup = a.kw_bool("usergroup")?;
        a.finish()?;
        let uid = uid
            .map(|u| {
                u32::try_from(u).map_err(|_| ModError::BadArguments(format!("Invalid uid {u}")))
            })
            .transpose()?;
        off_thread(move || {
            let new_user = accounts::NewUser {
                uid,
                gid,
                home,
                shell,
                groups: Vec::new(),
                fullname: None,
                createhome,
                system,
                unique,
                usergroup,
                nologinit,
            };
            if let Err(e) = accounts::useradd(&name, &new_user) {
                tracing::error!(error = %e, "user.add failed");
                return Ok(json!(false).into());
            }
            // Like Salt: the user exists now, so the result is True whatever
            // the follow-up changes do (a later state run reports them).
            if !groups.is_empty() {
                let _ = set_groups(&name, &groups, false);
            }
            for (field, value) in [fullname, roomnumber, workphone, homephone, other]
                .into_iter()
                .enumerate()
            {
                if let Some(value) = value {
                    let _ = update_gecos(&name, field, &value);
                }
            }
            Ok(json!(true).into())
        })
        .await
    })
}

fn delete(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        let remove = a.opt_bool("remove", 1)?.unwrap_or(false);
        let force = a.opt_bool("force", 2)?.unwrap_or(false);
        a.ignore(&["root", "local"]);
        a.finish()?;
        off_thread(move || {
            let ok = match accounts::userdel(&name, remove, force) {
                Ok(()) => true,
                Err(e) => {
                    tracing::error!(error = %e, "user.delete failed");
                    false
                }
            };
            Ok(json!(ok).into())
        })
        .await
    })
}

/// Salt's `_chattrib`: nothing to do when the value is already set, else
/// `usermod <flag> <value>` and the value read back.
fn chattrib(
    name: &str,
    flag: &str,
    wanted: &str,
    current: impl Fn(&UserInfo) -> String,
) -> Result<bool, ModError> {
    let before = existing(name)?;
    if current(&before) == wanted {
        return Ok(true);
    }
    if let Err(e) = accounts::usermod(name, &[flag, wanted]) {
        tracing::error!(error = %e, "usermod failed");
    }
    Ok(accounts::user_info(name).is_some_and(|after| current(&after) == wanted))
}

/// The body of the `ch*` functions that set one attribute.
fn change_one(
    args: Args,
    arg: &'static str,
    flag: &'static str,
    current: fn(&UserInfo) -> String,
) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        let wanted = a.take_str(arg, 1)?;
        a.ignore(&["root"]);
        a.finish()?;
        off_thread(move || Ok(json!(chattrib(&name, flag, &wanted, current)?).into())).await
    })
}

fn chshell(_ctx: CallCtx, args: Args) -> ModFuture {
    change_one(args, "shell", "-s", |u| u.shell.clone())
}

fn chuid(_ctx: CallCtx, args: Args) -> ModFuture {
    change_one(args, "uid", "-u", |u| u.uid.to_string())
}

fn chgid(_ctx: CallCtx, args: Args) -> ModFuture {
    change_one(args, "gid", "-g", |u| u.gid.to_string())
}

fn chhome(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        let home = a.take_str("home", 1)?;
        let persist = a.opt_bool("persist", 2)?.unwrap_or(false);
        a.ignore(&["root"]);
        a.finish()?;
        off_thread(move || {
            let before = existing(&name)?;
            if before.home == home {
                return Ok(json!(true).into());
            }
            let mut flags = vec!["-d", home.as_str()];
            if persist {
                flags.push("-m");
            }
            if let Err(e) = accounts::usermod(&name, &flags) {
                tracing::error!(error = %e, "usermod failed");
            }
            let ok = accounts::user_info(&name).is_some_and(|u| u.home == home);
            Ok(json!(ok).into())
        })
        .await
    })
}

/// Salt's `chgroups`: nothing to do when the user's groups are already
/// these, else `usermod [-a] -G`.
fn set_groups(name: &str, groups: &[String], append: bool) -> Result<bool, ModError> {
    let current = existing(name)?;
    let have: std::collections::BTreeSet<&String> = current.groups.iter().collect();
    let want: std::collections::BTreeSet<&String> = groups.iter().collect();
    if have == want {
        return Ok(true);
    }
    let list = groups.join(",");
    let mut flags = Vec::new();
    if append {
        flags.push("-a");
    }
    flags.extend(["-G", list.as_str()]);
    match accounts::usermod(name, &flags) {
        Ok(()) => Ok(true),
        Err(e) => {
            tracing::error!(error = %e, "usermod failed");
            Ok(false)
        }
    }
}

fn chgroups(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        let groups = a.take("groups", 1)?;
        let groups = as_str_list("groups", &groups)?;
        let append = a.opt_bool("append", 2)?.unwrap_or(false);
        a.ignore(&["root"]);
        a.finish()?;
        off_thread(move || Ok(json!(set_groups(&name, &groups, append)?).into())).await
    })
}

/// Salt's `_update_gecos`: one of the five GECOS fields; False when the
/// user does not exist.
fn update_gecos(name: &str, field: usize, value: &str) -> bool {
    let Some(before) = accounts::user_info(name) else {
        return false;
    };
    if before.gecos[field] == value {
        return true;
    }
    let mut gecos = before.gecos.clone();
    gecos[field] = value.to_string();
    if let Err(e) = accounts::usermod(name, &["-c", &accounts::build_gecos(&gecos)]) {
        tracing::error!(error = %e, "usermod failed");
    }
    accounts::user_info(name).is_some_and(|u| u.gecos[field] == value)
}

fn change_gecos(args: Args, arg: &'static str, field: usize) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        let value = a.opt_str(arg, 1)?.unwrap_or_default();
        a.ignore(&["root"]);
        a.finish()?;
        off_thread(move || Ok(json!(update_gecos(&name, field, &value)).into())).await
    })
}

fn chfullname(_ctx: CallCtx, args: Args) -> ModFuture {
    change_gecos(args, "fullname", 0)
}

fn chroomnumber(_ctx: CallCtx, args: Args) -> ModFuture {
    change_gecos(args, "roomnumber", 1)
}

fn chworkphone(_ctx: CallCtx, args: Args) -> ModFuture {
    change_gecos(args, "workphone", 2)
}

fn chhomephone(_ctx: CallCtx, args: Args) -> ModFuture {
    change_gecos(args, "homephone", 3)
}

fn chother(_ctx: CallCtx, args: Args) -> ModFuture {
    change_gecos(args, "other", 4)
}

fn rename(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        let new_name = a.take_str("new_name", 1)?;
        a.ignore(&["root"]);
        a.finish()?;
        off_thread(move || {
            existing(&name)?;
            if accounts::user_info(&new_name).is_some() {
                return Err(ModError::Failed(format!(
                    "User '{new_name}' already exists"
                )));
            }
            if let Err(e) = accounts::usermod(&name, &["-l", &new_name]) {
                tracing::error!(error = %e, "usermod failed");
            }
            Ok(json!(accounts::user_info(&new_name).is_some()).into())
        })
        .await
    })
}

fn info(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        a.finish()?;
        let info = accounts::user_info(&name).map(|u| u.to_json());
        Ok(Value::Object(info.unwrap_or_default()).into())
    })
}

fn getent(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        a.opt("refresh", 0)?;
        a.ignore(&["root"]);
        a.finish()?;
        let all: Vec<Value> = accounts::all_users()
            .iter()
            .map(|u| Value::Object(u.to_json()))
            .collect();
        Ok(json!(all).into())
    })
}

fn list_groups(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        a.finish()?;
        let groups = accounts::user_info(&name)
            .map(|u| u.groups)
            .unwrap_or_default();
        Ok(json!(groups).into())
    })
}

fn list_users(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        args.parser().finish()?;
        let mut names: Vec<String> = accounts::all_users().into_iter().map(|u| u.name).collect();
        names.sort_unstable();
        Ok(json!(names).into())
    })
}

fn primary_group(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        a.finish()?;
        let user = accounts::user_info(&name)
            .ok_or_else(|| ModError::Failed(format!("getpwnam(): name not found: '{name}'")))?;
        let group = accounts::gid_to_group(user.gid)
            .ok_or_else(|| ModError::Failed(format!("getgrgid(): gid not found: {}", user.gid)))?;
        Ok(json!(group).into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::sysexec::system_tests_enabled;
    use crate::registry::{test_call, test_ctx};

    async fn call(
        f: crate::registry::ModFn,
        name: &'static str,
        arg: Value,
    ) -> Result<Value, String> {
        test_call(test_ctx(), f, name, arg, json!({})).await
    }

    #[tokio::test]
    async fn reads_match_the_account_files() {
        let root = call(info, "user.info", json!(["root"])).await.unwrap();
        assert_eq!(root["uid"], 0);
        assert_eq!(root["home"], "/root");
        assert_eq!(
            call(info, "user.info", json!(["no-such-user-x"]))
                .await
                .unwrap(),
            json!({})
        );
        let users = call(list_users, "user.list_users", json!([]))
            .await
            .unwrap();
        assert!(users.as_array().unwrap().contains(&json!("root")));
        let all = call(getent, "user.getent", json!([])).await.unwrap();
        assert_eq!(all[0]["name"], "root");
        assert_eq!(
            call(primary_group, "user.primary_group", json!(["root"]))
                .await
                .unwrap(),
            "root"
        );
        assert_eq!(
            call(
                primary_group,
                "user.primary_group",
                json!(["no-such-user-x"])
            )
            .await
            .unwrap_err(),
            "getpwnam(): name not found: 'no-such-user-x'"
        );
        assert_eq!(
            call(
                chshell,
                "user.chshell",
                json!(["no-such-user-x", "/bin/sh"])
            )
            .await
            .unwrap_err(),
            "User 'no-such-user-x' does not exist"
        );
    }

    /// Deletes the user (and its group) when dropped.
    struct Cleanup(Vec<String>);

    impl Drop for Cleanup {
        fn drop(&mut self) {
            for name in &self.0 {
                let _ = accounts::userdel(name, true, true);
                let _ = accounts::groupdel(name);
            }
        }
    }

    #[tokio::test]
    async fn real_user_added_changed_and_deleted() {
        if !system_tests_enabled("real_user_added_changed_and_deleted") {
            return;
        }
        let _serial = crate::modules::sysexec::ACCOUNTS.lock().await;
        let name = format!("brinex{}u", std::process::id());
        let renamed = format!("{name}r");
        let grp = format!("brinex{}g", std::process::id());
        let _cleanup = Cleanup(vec![name.clone(), renamed.clone(), grp.clone()]);
        accounts::groupadd(&grp, None, false, false).unwrap();
        let kw = json!({"fullname": "Test User", "shell": "/bin/sh", "usergroup": true});
        let added = test_call(test_ctx(), add, "user.add", json!([name]), kw)
            .await
            .unwrap();
        assert_eq!(added, json!(true));
        let u = call(info, "user.info", json!([name])).await.unwrap();
        assert_eq!(u["fullname"], "Test User");
        assert_eq!(u["shell"], "/bin/sh");
        assert_eq!(
            call(add, "user.add", json!([name])).await.unwrap(),
            json!(false)
        );

        assert_eq!(
            call(chshell, "user.chshell", json!([name, "/bin/bash"]))
                .await
                .unwrap(),
            json!(true)
        );
        assert_eq!(
            call(chfullname, "user.chfullname", json!([name, "New Name"]))
                .await
                .unwrap(),
            json!(true)
        );
        assert_eq!(
            call(chroomnumber, "user.chroomnumber", json!([name, "12"]))
                .await
                .unwrap(),
            json!(true)
        );
        let home = format!("/tmp/{name}-home");
        assert_eq!(
            call(chhome, "user.chhome", json!([name, home, true]))
                .await
                .unwrap(),
            json!(true)
        );
        assert_eq!(
            call(chuid, "user.chuid", json!([name, 45123]))
                .await
                .unwrap(),
            json!(true)
        );
        assert_eq!(
            call(chgroups, "user.chgroups", json!([name, grp]))
                .await
                .unwrap(),
            json!(true)
        );
        let u = call(info, "user.info", json!([name])).await.unwrap();
        assert_eq!(
            (
                u["shell"].clone(),
                u["fullname"].clone(),
                u["roomnumber"].clone(),
                u["home"].clone(),
                u["uid"].clone()
            ),
            (
                json!("/bin/bash"),
                json!("New Name"),
                json!("12"),
                json!(home),
                json!(45123)
            )
        );
        assert!(u["groups"].as_array().unwrap().contains(&json!(grp)));
        assert!(
            std::path::Path::new(&home).is_dir(),
            "persist=True moves the home"
        );
        let gid = accounts::group_info(&grp).unwrap().gid;
        assert_eq!(
            call(chgid, "user.chgid", json!([name, gid])).await.unwrap(),
            json!(true)
        );
        assert_eq!(
            call(primary_group, "user.primary_group", json!([name]))
                .await
                .unwrap(),
            json!(grp)
        );

        assert_eq!(
            call(rename, "user.rename", json!([name, "root"]))
                .await
                .unwrap_err(),
            "User 'root' already exists"
        );
        assert_eq!(
            call(rename, "user.rename", json!([name, renamed]))
                .await
                .unwrap(),
            json!(true)
        );
        assert_eq!(
            call(info, "user.info", json!([name])).await.unwrap(),
            json!({})
        );
        let del = test_call(
            test_ctx(),
            delete,
            "user.delete",
            json!([renamed]),
            json!({"remove": true, "force": true}),
        )
        .await
        .unwrap();
        assert_eq!(del, json!(true));
        assert_eq!(
            call(info, "user.info", json!([renamed])).await.unwrap(),
            json!({})
        );
        let _ = std::fs::remove_dir_all(&home);
    }
}
