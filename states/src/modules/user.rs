//! `user.*` states: local accounts through `useradd`, `usermod` and
//! `userdel`, read back from `/etc/passwd`, `/etc/group` and `/etc/shadow`.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::ctx::{StateArgs, StateCtx};
use crate::modules::sys::accounts::{self, UserInfo};
use crate::modules::sys::run::Cmd;
use crate::modules::sys::{opt_text, str_list};
use crate::pyrepr;
use crate::registry::StateSpec;
use crate::result::StateResult;

pub const STATES: &[StateSpec] = &[
    StateSpec {
        name: "user.absent",
        doc: "Ensure that the named user is absent.\n\n\
              name: the user\n\
              purge: also remove the home directory and mail spool\n\
              force: remove the user even while logged in",
        run: absent,
        mod_watch: None,
    },
    StateSpec {
        name: "user.present",
        doc: "Ensure that the named user is present with the given properties.\n\n\
              name: the user\n\
              uid, gid: ids (gid may be a group name); changing them needs allow_uid_change/allow_gid_change\n\
              groups: supplementary groups that must exist\n\
              optional_groups: supplementary groups joined when they exist\n\
              remove_groups: leave groups not listed (default True)\n\
              home, createhome (default True), shell, fullname\n\
              password: the password hash for /etc/shadow; enforce_password (default True)\n\
              empty_password: set an empty password\n\
              system: create a system account (useradd -r)\n\
              usergroup: create a group named after the user",
        run: present,
        mod_watch: None,
    },
];

/// The `present` arguments that drive comparison.
struct Wanted {
    uid: Option<u32>,
    gid: Option<String>,
    groups: Option<Vec<String>>,
    optional_groups: Option<Vec<String>>,
    remove_groups: bool,
    home: Option<String>,
    createhome: bool,
    shell: Option<String>,
    fullname: Option<String>,
    password: Option<String>,
    enforce_password: bool,
    empty_password: bool,
}

const REDACTED: &str = "XXX-REDACTED-XXX";

/// Salt's `_changes`: what differs between `user` and `w`, in Salt's order.
fn wanted_changes(name: &str, user: &UserInfo, w: &Wanted) -> Map<String, Value> {
    let mut change = Map::new();
    let mut current_groups = user.groups.clone();
    let mut wanted_groups: BTreeSet<String> = w
        .groups
        .iter()
        .flatten()
        .chain(w.optional_groups.iter().flatten())
        .cloned()
        .collect();
    let no_group_args = w.groups.is_none() && w.optional_groups.as_ref().is_none_or(Vec::is_empty);
    if !w.remove_groups || no_group_args {
        wanted_groups.extend(current_groups.iter().cloned());
    }
    if let Some(uid) = w.uid {
        if user.uid != uid {
            change.insert("uid".into(), json!(uid));
        }
    }
    let wanted_gid = w.gid.as_deref().and_then(accounts::group_to_gid);
    if let Some(gid) = &w.gid {
        if wanted_gid != Some(user.gid) {
            change.insert("gid".into(), json!(gid));
        }
    }
    // The primary group is not a supplementary group: leave it out on both
    // sides, the old one too when it changes.
    let default_group = accounts::gid_to_group(wanted_gid.unwrap_or(user.gid));
    let old_default_group = accounts::gid_to_group(user.gid);
    for g in [&default_group, &old_default_group].into_iter().flatten() {
        current_groups.retain(|c| c != g);
        if Some(g) == default_group.as_ref() {
            wanted_groups.remove(g);
        }
    }
    if !wanted_groups.contains(name) {
        current_groups.retain(|c| c != name);
    }
    let current: BTreeSet<String> = current_groups.into_iter().collect();
    let differs = if w.remove_groups {
        current != wanted_groups
    } else {
        !wanted_groups.is_subset(&current)
    };
    if differs {
        change.insert("groups".into(), json!(wanted_groups));
    }
    if let Some(home) = &w.home {
        if &user.home != home {
            change.insert("home".into(), json!(home));
        }
    }
    if w.createhome {
        let newhome = w.home.as_deref().unwrap_or(&user.home);
        if !Path::new(newhome).is_dir() {
            change.insert("homeDoesNotExist".into(), json!(newhome));
        }
    }
    if let Some(shell) = &w.shell {
        if &user.shell != shell {
            change.insert("shell".into(), json!(shell));
        }
    }
    let hash = accounts::shadow_hash(name).unwrap_or_default();
    if let Some(password) = w.password.as_ref().filter(|_| !w.empty_password) {
        if w.enforce_password && &hash != password {
            change.insert("passwd".into(), json!(password));
        }
    }
    if w.empty_password && !hash.is_empty() {
        change.insert("empty_password".into(), json!(true));
    }
    if let Some(fullname) = &w.fullname {
        if user.fullname() != fullname {
            change.insert("fullname".into(), json!(fullname));
        }
    }
    change
}

/// `usermod` for one change; `groups` last, as Salt does.
fn apply_change(
    name: &str,
    user: &UserInfo,
    key: &str,
    value: &Value,
    w: &Wanted,
) -> Result<(), String> {
    let text = pyrepr::py_str(value);
    let gecos;
    let list;
    let args: Vec<&str> = match key {
        "uid" => vec!["-u", &text],
        "gid" => vec!["-g", &text],
        "home" => vec!["-d", &text],
        "shell" => vec!["-s", &text],
        "passwd" => vec!["-p", &text],
        "empty_password" => vec!["-p", ""],
        "fullname" => {
            // Only the first GECOS field changes; the others are kept.
            let mut fields = user.gecos.clone();
            fields[0] = text.clone();
            gecos = accounts::build_gecos(&fields);
            vec!["-c", &gecos]
        }
        "groups" => {
            list = crate::modules::sys::value_list(value).join(",");
            if w.remove_groups {
                vec!["-G", &list]
            } else {
                vec!["-a", "-G", &list]
            }
        }
        "homeDoesNotExist" => {
            std::fs::create_dir_all(&text).map_err(|e| format!("{text}: {e}"))?;
            let ids = format!("{}:{}", user.uid, user.gid);
            Cmd::new("chown")
                .args([ids.as_str(), text.as_str()])
                .run_ok()?;
            return Cmd::new("chmod")
                .args(["0755", text.as_str()])
                .run_ok()
                .map(drop);
        }
        _ => return Ok(()),
    };
    accounts::usermod(name, &args)
}

fn wanted_from(args: &StateArgs) -> Result<Wanted, String> {
    let uid = match opt_text(args, "uid").filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => Some(t.parse().map_err(|_| format!("Invalid uid {t}"))?),
    };
    Ok(Wanted {
        uid,
        gid: opt_text(args, "gid").filter(|t| !t.is_empty()),
        groups: str_list(args, "groups"),
        optional_groups: str_list(args, "optional_groups"),
        remove_groups: args.bool("remove_groups", true),
        home: opt_text(args, "home"),
        createhome: args.bool("createhome", true),
        shell: opt_text(args, "shell"),
        fullname: opt_text(args, "fullname"),
        password: opt_text(args, "password"),
        enforce_password: args.bool("enforce_password", true),
        empty_password: args.bool("empty_password", false),
    })
}

pub fn present(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    let mut w = match wanted_from(args) {
        Ok(w) => w,
        Err(e) => return StateResult::fail(name, e),
    };
    let mut ret = StateResult::ok(name, format!("User {name} is present and up to date"));
    if let Some(f) = w.fullname.as_ref().filter(|f| f.contains(',')) {
        return StateResult::fail(name, format!("Unsupported char ',' in {f}"));
    }
    let mut missing_groups = Vec::new();
    if let Some(groups) = &mut w.groups {
        missing_groups = groups
            .iter()
            .filter(|g| accounts::group_info(g).is_none())
            .cloned()
            .collect();
        if !missing_groups.is_empty() {
            if !ctx.test {
                return StateResult::fail(
                    name,
                    format!(
                        "The following group(s) are not present: {}",
                        missing_groups.join(",")
                    ),
                );
            }
            // A group.present earlier in the run may create them.
            groups.retain(|g| !missing_groups.contains(g));
        }
    }
    if let Some(opt) = &mut w.optional_groups {
        opt.retain(|g| accounts::group_info(g).is_some());
    }

    let Some(before) = accounts::user_info(name) else {
        return create(ctx, name, args, &w, &missing_groups);
    };
    let changes = wanted_changes(name, &before, &w);
    if changes.is_empty() {
        return ret;
    }
    let allow_uid = args.bool("allow_uid_change", false);
    let allow_gid = args.bool("allow_gid_change", false);
    let mut errors = Vec::new();
    if changes.contains_key("uid") && !allow_uid {
        errors.push(format!(
            "Changing uid ({} -> {}) not permitted, set allow_uid_change to True to force this change. Note that this will not change file ownership.",
            before.uid,
            w.uid.unwrap_or_default()
        ));
    }
    if changes.contains_key("gid") && !allow_gid {
        errors.push(format!(
            "Changing gid ({} -> {}) not permitted, set allow_gid_change to True to force this change. Note that this will not change file ownership.",
            before.gid,
            w.gid.clone().unwrap_or_default()
        ));
    }
    if !errors.is_empty() {
        return StateResult::fail(name, errors.join("\n"));
    }
    if ctx.test {
        ret.result = None;
        ret.comment = "The following user attributes are set to be changed:\n".into();
        for (k, v) in &changes {
            let shown = if k == "passwd" {
                REDACTED.to_string()
            } else {
                pyrepr::py_str(v)
            };
            ret.comment += &format!("{k}: {shown}\n");
        }
        if !missing_groups.is_empty() {
            ret.comment += &format!("groups (pending creation): {}\n", missing_groups.join(","));
        }
        return ret;
    }

    let hash_before = accounts::shadow_hash(name);
    let mut failures = Vec::new();
    let ordered = changes
        .iter()
        .filter(|(k, _)| k.as_str() != "groups")
        .chain(changes.iter().filter(|(k, _)| k.as_str() == "groups"));
    for (k, v) in ordered {
        // A moved home that does not exist yet: `-d` then create it.
        if k == "home" && changes.contains_key("homeDoesNotExist") {
            continue;
        }
        if k == "homeDoesNotExist" && changes.contains_key("home") {
            if let Err(e) = apply_change(name, &before, "home", v, &w) {
                failures.push(e);
            }
        }
        let current = accounts::user_info(name).unwrap_or_else(|| before.clone());
        if let Err(e) = apply_change(name, &current, k, v, &w) {
            failures.push(e);
        }
    }
    for e in &failures {
        tracing::debug!(error = %e, "user change failed");
    }
    let after = accounts::user_info(name).unwrap_or_else(|| before.clone());
    let (pre, post) = (before.to_json(), after.to_json());
    for (k, v) in &post {
        if pre.get(k) != Some(v) {
            ret.changes.insert(k.clone(), v.clone());
        }
    }
    if accounts::shadow_hash(name) != hash_before {
        ret.changes.insert("passwd".into(), json!(REDACTED));
    }
    if !ret.changes.is_empty() {
        ret.comment = format!("Updated user {name}");
    }
    let left = wanted_changes(name, &after, &w);
    if !left.is_empty() {
        ret.result = Some(false);
        ret.comment = format!(
            "These values could not be changed: {}",
            pyrepr::py_repr(&Value::Object(left))
        );
    }
    ret
}

fn create(
    ctx: &StateCtx<'_>,
    name: &str,
    args: &StateArgs,
    w: &Wanted,
    missing_groups: &[String],
) -> StateResult {
    if ctx.test {
        let mut comment = format!("User {name} set to be added");
        if !missing_groups.is_empty() {
            comment += &format!(" (pending groups: {})", missing_groups.join(","));
        }
        return StateResult::would(name, comment, Map::new());
    }
    let mut groups: Vec<String> = w.groups.clone().unwrap_or_default();
    groups.extend(w.optional_groups.iter().flatten().cloned());
    let new_user = accounts::NewUser {
        uid: w.uid,
        gid: w.gid.clone(),
        home: w.home.clone(),
        shell: w.shell.clone(),
        groups,
        fullname: w.fullname.clone(),
        createhome: w.createhome,
        system: args.bool("system", false),
        unique: true,
        usergroup: args.get("usergroup").map(|_| args.bool("usergroup", false)),
        nologinit: false,
    };
    if let Err(e) = accounts::useradd(name, &new_user) {
        return StateResult::fail(name, e);
    }
    let mut ret = StateResult::ok(name, format!("New user {name} created"));
    let Some(info) = accounts::user_info(name) else {
        return StateResult::fail(name, format!("Failed to create new user {name}"));
    };
    ret.changes = info.to_json();
    if !w.createhome {
        // Salt reports no home when it was not created.
        ret.changes.insert("home".into(), json!(""));
    }
    if let Some(password) = w.password.as_ref().filter(|_| !w.empty_password) {
        let set = accounts::usermod(name, &["-p", password]);
        if set.is_err() || accounts::shadow_hash(name).as_ref() != Some(password) {
            ret.result = Some(false);
            ret.comment = format!("User {name} created but failed to set password to {REDACTED}");
        }
        ret.changes.insert("passwd".into(), json!(REDACTED));
    } else if w.empty_password {
        let _ = accounts::usermod(name, &["-p", ""]);
        if accounts::shadow_hash(name).as_deref() != Some("") {
            ret.result = Some(false);
            ret.comment = format!("User {name} created but failed to empty password");
        }
        ret.changes.insert("password".into(), json!(""));
    }
    ret
}

pub fn absent(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    let Some(user) = accounts::user_info(name) else {
        return StateResult::ok(name, format!("User {name} is not present"));
    };
    if ctx.test {
        return StateResult::would(name, format!("User {name} set for removal"), Map::new());
    }
    // userdel -r fails when the home is already missing, yet the user is gone.
    let _ = accounts::userdel(name, args.bool("purge", false), args.bool("force", false));
    if accounts::user_info(name).is_some() {
        return StateResult::fail(name, format!("Failed to remove user {name}"));
    }
    let mut ret = StateResult::ok(name, format!("Removed user {name}"));
    for g in &user.groups {
        if accounts::group_info(g).is_none() {
            ret.changes.insert(format!("{g} group"), json!("removed"));
        }
    }
    ret.changes.insert(name.to_string(), json!("removed"));
    ret
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::modules::group::tests::GroupGuard;
    use crate::modules::sys::testutil::{account_lock, args, is_root, unique_name, TestEnv};

    /// Deletes the user, its home and its crontab when dropped.
    pub(crate) struct UserGuard(pub String);

    impl Drop for UserGuard {
        fn drop(&mut self) {
            let _ = Cmd::new("crontab").args(["-u", &self.0, "-r"]).run();
            let _ = Cmd::new("userdel").args(["-r", "-f", &self.0]).run();
            let _ = Cmd::new("groupdel").arg(&self.0).run();
        }
    }

    /// The comment Salt 3008 printed for this state against a stock Debian
    /// root account (dry run: nothing changes).
    #[test]
    fn dry_run_comment_matches_salt_for_root() {
        let root = accounts::user_info("root");
        if root
            .as_ref()
            .is_none_or(|r| r.shell == "/bin/zsh" || r.fullname() == "Rooty")
            || accounts::group_info("adm").is_none()
        {
            println!("dry_run_comment_matches_salt_for_root: skipped, not a stock root account");
            return;
        }
        let env = TestEnv::new("/nonexistent".into(), std::env::temp_dir());
        let r = present(
            &env.ctx(true),
            &args(
                "root",
                json!({"shell": "/bin/zsh", "groups": ["adm", "root"], "fullname": "Rooty"}),
            ),
        );
        assert_eq!(r.result, None);
        assert_eq!(
            r.comment,
            "The following user attributes are set to be changed:\ngroups: ['adm']\nshell: /bin/zsh\nfullname: Rooty\n"
        );
        assert!(r.changes.is_empty());
        assert_eq!(accounts::user_info("root"), root, "dry run changed root");
    }

    #[test]
    fn real_user_lifecycle() {
        if !crate::modules::sys::testutil::system_tests_enabled("real_user_lifecycle") {
            return;
        }
        if !is_root() {
            println!("real_user_lifecycle: skipped, needs root");
            return;
        }
        let _serial = account_lock();
        let name = unique_name("u");
        let extra = unique_name("ug");
        let _guard = UserGuard(name.clone());
        let _groups = GroupGuard(vec![extra.clone()]);
        let env = TestEnv::new("/nonexistent".into(), std::env::temp_dir());
        let home = format!("/tmp/{name}-home");

        let dry = present(&env.ctx(true), &args(&name, json!({"home": home})));
        assert_eq!(dry.result, None);
        assert_eq!(dry.comment, format!("User {name} set to be added"));
        assert!(
            accounts::user_info(&name).is_none(),
            "dry run created the user"
        );

        let missing = present(&env.ctx(false), &args(&name, json!({"groups": [extra]})));
        assert_eq!(missing.result, Some(false));
        assert_eq!(
            missing.comment,
            format!("The following group(s) are not present: {extra}")
        );

        let made = present(
            &env.ctx(false),
            &args(
                &name,
                json!({"home": home, "shell": "/bin/sh", "fullname": "Brine Test", "password": "$6$abc$def", "usergroup": true}),
            ),
        );
        assert_eq!(made.result, Some(true), "{}", made.comment);
        assert_eq!(made.comment, format!("New user {name} created"));
        assert_eq!(made.changes["shell"], "/bin/sh");
        assert_eq!(made.changes["fullname"], "Brine Test");
        assert_eq!(made.changes["home"], json!(home));
        assert_eq!(made.changes["passwd"], REDACTED);
        assert!(Path::new(&home).is_dir());
        assert_eq!(accounts::shadow_hash(&name).as_deref(), Some("$6$abc$def"));

        let same = present(
            &env.ctx(false),
            &args(
                &name,
                json!({"home": home, "shell": "/bin/sh", "fullname": "Brine Test", "password": "$6$abc$def"}),
            ),
        );
        assert_eq!(
            same.comment,
            format!("User {name} is present and up to date")
        );
        assert!(same.changes.is_empty());

        let grp = crate::modules::group::present(&env.ctx(false), &args(&extra, json!({})));
        assert_eq!(grp.result, Some(true), "{}", grp.comment);
        let want = json!({"shell": "/bin/bash", "groups": [extra]});
        let dry = present(&env.ctx(true), &args(&name, want.clone()));
        assert_eq!(dry.result, None);
        assert_eq!(
            dry.comment,
            format!("The following user attributes are set to be changed:\ngroups: ['{extra}']\nshell: /bin/bash\n")
        );
        assert_eq!(accounts::user_info(&name).unwrap().shell, "/bin/sh");

        let changed = present(&env.ctx(false), &args(&name, want));
        assert_eq!(changed.result, Some(true), "{}", changed.comment);
        assert_eq!(changed.comment, format!("Updated user {name}"));
        assert_eq!(changed.changes["shell"], "/bin/bash");
        assert_eq!(changed.changes["groups"], json!([name.clone(), extra]));

        let uid = present(&env.ctx(false), &args(&name, json!({"uid": 47999})));
        assert_eq!(uid.result, Some(false));
        assert!(
            uid.comment.contains("set allow_uid_change to True"),
            "{}",
            uid.comment
        );

        let dry = absent(&env.ctx(true), &args(&name, json!({})));
        assert_eq!(dry.result, None);
        let gone = absent(&env.ctx(false), &args(&name, json!({"purge": true})));
        assert_eq!(gone.result, Some(true), "{}", gone.comment);
        assert_eq!(gone.changes[&name], "removed");
        assert_eq!(gone.changes[&format!("{name} group")], "removed");
        assert!(!Path::new(&home).exists());
        assert_eq!(
            absent(&env.ctx(false), &args(&name, json!({}))).comment,
            format!("User {name} is not present")
        );
    }
}
