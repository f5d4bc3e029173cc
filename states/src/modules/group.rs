//! `group.*` states: local groups through `groupadd`, `groupmod`, `gpasswd`
//! and `groupdel`, read back from `/etc/group`.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use crate::ctx::{StateArgs, StateCtx};
use crate::modules::sys::accounts::{self, GroupInfo};
use crate::modules::sys::{opt_text, str_list};
use crate::pyrepr;
use crate::registry::StateSpec;
use crate::result::StateResult;

pub const STATES: &[StateSpec] = &[
    StateSpec {
        name: "group.absent",
        doc: "Ensure that the named group is absent.\n\nname: the group to remove",
        run: absent,
        mod_watch: None,
    },
    StateSpec {
        name: "group.present",
        doc: "Ensure that a group is present.\n\n\
              name: the group\n\
              gid: the group id (the next free one when unset)\n\
              system: create a system group (groupadd -r)\n\
              addusers: users added to the group\n\
              delusers: users removed from the group\n\
              members: the exact member list (not with addusers/delusers)\n\
              non_unique: allow a duplicate gid",
        run: present,
        mod_watch: None,
    },
];

/// What `present` wants compared with the group as it is (Salt's `_changes`),
/// in Salt's key order.
fn wanted_changes(
    group: &GroupInfo,
    gid: Option<u32>,
    addusers: &Option<Vec<String>>,
    delusers: &Option<Vec<String>>,
    members: &Option<Vec<String>>,
) -> Map<String, Value> {
    let mut change = Map::new();
    if let Some(gid) = gid {
        if group.gid != gid {
            change.insert("gid".into(), json!(gid));
        }
    }
    let current: BTreeSet<&String> = group.members.iter().collect();
    if let Some(members) = members {
        let wanted: BTreeSet<&String> = members.iter().collect();
        if current != wanted {
            if members.is_empty() {
                change.insert("delusers".into(), json!(group.members));
            } else {
                change.insert("members".into(), json!(members));
            }
        }
    }
    if let Some(add) = addusers {
        let missing: Vec<&String> = add.iter().filter(|u| !current.contains(u)).collect();
        if !missing.is_empty() {
            change.insert("addusers".into(), json!(missing));
        }
    }
    if let Some(del) = delusers {
        let present: Vec<&String> = del.iter().filter(|u| current.contains(u)).collect();
        if !present.is_empty() {
            change.insert("delusers".into(), json!(present));
        }
    }
    change
}

fn apply_change(name: &str, key: &str, value: &Value, non_unique: bool) -> Result<(), String> {
    match key {
        "gid" => accounts::groupmod_gid(name, &pyrepr::py_str(value), non_unique),
        "addusers" | "delusers" => {
            for user in crate::modules::sys::value_list(value) {
                if key == "addusers" {
                    accounts::group_add_member(name, &user)?;
                } else {
                    accounts::group_del_member(name, &user)?;
                }
            }
            Ok(())
        }
        "members" => set_members(name, &crate::modules::sys::value_list(value)),
        _ => Ok(()),
    }
}

fn set_members(name: &str, members: &[String]) -> Result<(), String> {
    accounts::group_set_members(name, members)
}

/// A gid argument: a number, or text holding one.
fn parse_gid(args: &StateArgs) -> Result<Option<u32>, ()> {
    match opt_text(args, "gid") {
        None => Ok(None),
        Some(t) if t.is_empty() => Ok(None),
        Some(t) => t.trim().parse().map(Some).map_err(|_| ()),
    }
}

pub fn present(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    let mut ret = StateResult::ok(name, format!("Group {name} is present and up to date"));
    let addusers = str_list(args, "addusers");
    let delusers = str_list(args, "delusers");
    let members = str_list(args, "members");
    let non_unique = args.bool("non_unique", false);
    if members.is_some() && (addusers.is_some() || delusers.is_some()) {
        ret.result = None;
        ret.comment = "Error: Conflicting options \"members\" with \"addusers\" and/or \"delusers\" can not be used together. ".into();
        return ret;
    }
    if let (Some(add), Some(del)) = (&addusers, &delusers) {
        if add.iter().any(|u| del.contains(u)) {
            ret.result = None;
            ret.comment = "Error. Same user(s) can not be added and deleted simultaneously".into();
            return ret;
        }
    }
    let Ok(gid) = parse_gid(args) else {
        return StateResult::fail(name, "Invalid gid");
    };

    if let Some(group) = accounts::group_info(name) {
        let changes = wanted_changes(&group, gid, &addusers, &delusers, &members);
        if changes.is_empty() {
            return ret;
        }
        ret.comment = "The following group attributes are set to be changed:\n".into();
        for (k, v) in &changes {
            ret.comment += &format!("{k}: {}\n", pyrepr::py_str(v));
        }
        if ctx.test {
            ret.result = None;
            return ret;
        }
        let mut errors = Vec::new();
        for (k, v) in &changes {
            if let Err(e) = apply_change(name, k, v, non_unique) {
                errors.push(e);
            }
        }
        let after = accounts::group_info(name)
            .map(|g| wanted_changes(&g, gid, &addusers, &delusers, &members))
            .unwrap_or(changes);
        if after.is_empty() {
            ret.changes
                .insert("Final".into(), json!("All changes applied successfully"));
        } else {
            ret.result = Some(false);
            ret.comment += "Some changes could not be applied";
            for e in errors {
                tracing::debug!(error = %e, "group change failed");
            }
            ret.changes.insert("Failed".into(), Value::Object(after));
        }
        return ret;
    }

    if ctx.test {
        ret.result = None;
        ret.comment = format!("Group {name} set to be added");
        return ret;
    }
    if let (Some(gid), false) = (gid, non_unique) {
        if let Some(taken) = accounts::all_groups().into_iter().find(|g| g.gid == gid) {
            return StateResult::fail(
                name,
                format!(
                    "Group {name} is not present but gid {gid} is already taken by group {}",
                    taken.name
                ),
            );
        }
    }
    if let Err(e) = accounts::groupadd(name, gid, args.bool("system", false), non_unique) {
        tracing::debug!(error = %e, "groupadd failed");
        return StateResult::fail(name, format!("Failed to create new group {name}"));
    }
    let initial = members.as_ref().or(addusers.as_ref());
    if let Some(list) = initial.filter(|l| !l.is_empty()) {
        if let Err(e) = set_members(name, list) {
            tracing::debug!(error = %e, "setting group members failed");
        }
    }
    ret.comment = format!("New group {name} created");
    let Some(group) = accounts::group_info(name) else {
        return StateResult::fail(name, format!("Failed to create new group {name}"));
    };
    ret.changes = group.to_json();
    let left = wanted_changes(&group, gid, &addusers, &delusers, &members);
    if !left.is_empty() {
        ret.result = Some(false);
        ret.comment =
            format!("Group {name} has been created but, some changes could not be applied");
        ret.changes = Map::new();
        ret.changes.insert("Failed".into(), Value::Object(left));
    }
    ret
}

pub fn absent(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    if accounts::group_info(name).is_none() {
        return StateResult::ok(name, "Group not present");
    }
    if ctx.test {
        return StateResult::would(name, format!("Group {name} is set for removal"), Map::new());
    }
    match accounts::groupdel(name) {
        Ok(_) => {
            let mut ret = StateResult::ok(name, format!("Removed group {name}"));
            ret.changes.insert(name.to_string(), json!(""));
            ret
        }
        Err(e) => {
            tracing::debug!(error = %e, "groupdel failed");
            StateResult::fail(name, format!("Failed to remove group {name}"))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::modules::sys::run::Cmd;
    use crate::modules::sys::testutil::{account_lock, args, is_root, unique_name, TestEnv};

    /// Deletes the named groups when dropped, so a failing test leaves none.
    pub(crate) struct GroupGuard(pub Vec<String>);

    impl Drop for GroupGuard {
        fn drop(&mut self) {
            for g in &self.0 {
                let _ = Cmd::new("groupdel").arg(g).run();
            }
        }
    }

    #[test]
    fn changes_follow_salts_rules() {
        let g = GroupInfo {
            name: "g".into(),
            passwd: "x".into(),
            gid: 10,
            members: vec!["a".into(), "b".into()],
        };
        let c = wanted_changes(
            &g,
            Some(11),
            &Some(vec!["a".into(), "c".into()]),
            &None,
            &None,
        );
        assert_eq!(Value::Object(c), json!({"gid": 11, "addusers": ["c"]}));
        let c = wanted_changes(&g, None, &None, &None, &Some(vec![]));
        assert_eq!(Value::Object(c), json!({"delusers": ["a", "b"]}));
        let c = wanted_changes(
            &g,
            Some(10),
            &None,
            &None,
            &Some(vec!["b".into(), "a".into()]),
        );
        assert!(c.is_empty());
    }

    #[test]
    fn conflicting_member_options_are_refused() {
        let env = TestEnv::new("/nonexistent".into(), std::env::temp_dir());
        let r = present(
            &env.ctx(false),
            &args("g", json!({"members": ["a"], "addusers": ["b"]})),
        );
        assert_eq!(r.result, None);
        assert!(r.comment.starts_with("Error: Conflicting options"));
    }

    #[test]
    fn real_group_present_members_and_absent() {
        if !crate::modules::sys::testutil::system_tests_enabled(
            "real_group_present_members_and_absent",
        ) {
            return;
        }
        if !is_root() {
            println!("real_group_present_members_and_absent: skipped, needs root");
            return;
        }
        let _serial = account_lock();
        let name = unique_name("g");
        let _guard = GroupGuard(vec![name.clone()]);
        let env = TestEnv::new("/nonexistent".into(), std::env::temp_dir());

        let dry = present(&env.ctx(true), &args(&name, json!({"gid": 47321})));
        assert_eq!(dry.result, None);
        assert_eq!(dry.comment, format!("Group {name} set to be added"));
        assert!(
            accounts::group_info(&name).is_none(),
            "dry run created the group"
        );

        let made = present(
            &env.ctx(false),
            &args(&name, json!({"gid": 47321, "members": ["root"]})),
        );
        assert_eq!(made.result, Some(true), "{}", made.comment);
        assert_eq!(made.comment, format!("New group {name} created"));
        assert_eq!(made.changes["gid"], 47321);
        assert_eq!(made.changes["members"], json!(["root"]));

        let again = present(
            &env.ctx(false),
            &args(&name, json!({"gid": 47321, "members": ["root"]})),
        );
        assert_eq!(again.result, Some(true));
        assert!(again.changes.is_empty());

        let del = present(&env.ctx(false), &args(&name, json!({"delusers": ["root"]})));
        assert_eq!(del.result, Some(true), "{}", del.comment);
        assert_eq!(
            del.comment,
            "The following group attributes are set to be changed:\ndelusers: ['root']\n"
        );
        assert_eq!(
            Value::Object(del.changes),
            json!({"Final": "All changes applied successfully"})
        );
        assert!(accounts::group_info(&name).unwrap().members.is_empty());

        let gone = absent(&env.ctx(false), &args(&name, json!({})));
        assert_eq!(gone.comment, format!("Removed group {name}"));
        assert!(accounts::group_info(&name).is_none());
        assert_eq!(
            absent(&env.ctx(false), &args(&name, json!({}))).comment,
            "Group not present"
        );
    }
}
