//! `cron.*` states: jobs in a user's crontab, edited through `crontab -u`
//! in the layout Salt writes (tag line, `# SALT_CRON_IDENTIFIER:` lines), so
//! a crontab managed by Salt before stays managed.

use serde_json::{json, Value};

use crate::ctx::{StateArgs, StateCtx};
use crate::modules::sys::crontab::{self, matches, set, status, Job, When};
#[cfg(test)]
use crate::modules::sys::crontab::{resolve_field, Tab};
use crate::modules::sys::{opt_text, scalar_text};
use crate::registry::StateSpec;
use crate::result::StateResult;

pub const STATES: &[StateSpec] = &[
    StateSpec {
        name: "cron.absent",
        doc: "Verify that the cron job is absent from the user's crontab.\n\n\
              name: the command\n\
              user: whose crontab (default root)\n\
              identifier: the tracking id (default the name)\n\
              special: the @keyword of a special job",
        run: absent,
        mod_watch: None,
    },
    StateSpec {
        name: "cron.env_absent",
        doc: "Verify that the environment variable is absent from the user's crontab.\n\n\
              name: the variable\n\
              user: whose crontab (default root)",
        run: env_absent,
        mod_watch: None,
    },
    StateSpec {
        name: "cron.env_present",
        doc: "Verify that the environment variable is set in the user's crontab.\n\n\
              name: the variable\n\
              value: its value\n\
              user: whose crontab (default root)",
        run: env_present,
        mod_watch: None,
    },
    StateSpec {
        name: "cron.present",
        doc: "Verify that the cron job is in the user's crontab.\n\n\
              name: the command\n\
              user: whose crontab (default root)\n\
              minute, hour, daymonth, month, dayweek: schedule fields (default *; random and a:b ranges pick once)\n\
              comment: a comment line above the job\n\
              commented: write the job disabled\n\
              identifier: tracking id written as SALT_CRON_IDENTIFIER (default the name)\n\
              special: @reboot, @hourly... instead of the five fields",
        run: present,
        mod_watch: None,
    },
];

use crate::modules::sys::crontab::FIELD_NAMES;

fn job_from(args: &StateArgs, with_fields: bool) -> Job {
    let cmd = args.name.trim().to_string();
    let identifier = match args.get("identifier") {
        None | Some(Value::Bool(false)) => cmd.clone(),
        Some(v) => scalar_text(v),
    };
    Job {
        user: opt_text(args, "user").unwrap_or_else(|| "root".to_string()),
        fields: FIELD_NAMES.map(|k| {
            with_fields.then(|| {
                opt_text(args, k)
                    .unwrap_or_else(|| "*".to_string())
                    .to_lowercase()
            })
        }),
        comment: opt_text(args, "comment"),
        commented: args.bool("commented", false),
        identifier: Some(identifier),
        special: opt_text(args, "special"),
        cmd,
    }
}

pub fn present(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let job = job_from(args, true);
    let name = job.cmd.as_str();
    let mut tab = match crontab::read(&job.user) {
        Ok(t) => t,
        Err(e) => {
            return StateResult::fail(
                name,
                format!(
                    "Cron {name} for user {} failed to commit with error \n{e}",
                    job.user
                ),
            )
        }
    };
    if ctx.test {
        return match status(&tab, &job, true) {
            "present" => StateResult::ok(name, format!("Cron {name} already present")),
            "update" => StateResult::would(
                name,
                format!("Cron {name} is set to be updated"),
                Default::default(),
            ),
            _ => StateResult::would(
                name,
                format!("Cron {name} is set to be added"),
                Default::default(),
            ),
        };
    }
    let outcome = set(&mut tab, &job);
    if outcome == "present" {
        return StateResult::ok(name, format!("Cron {name} already present"));
    }
    if let Err(e) = crontab::write(&job.user, &tab) {
        return StateResult::fail(
            name,
            format!(
                "Cron {name} for user {} failed to commit with error \n{e}",
                job.user
            ),
        );
    }
    let comment = if outcome == "new" {
        format!("Cron {name} added to {}'s crontab", job.user)
    } else {
        format!("Cron {name} updated")
    };
    let mut ret = StateResult::ok(name, comment);
    ret.changes.insert(job.user.clone(), json!(name));
    ret
}

pub fn absent(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let job = job_from(args, false);
    let name = job.cmd.as_str();
    let fail = |e: String| {
        StateResult::fail(
            name,
            format!(
                "Cron {name} for user {} failed to commit with error {e}",
                job.user
            ),
        )
    };
    let mut tab = match crontab::read(&job.user) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    if ctx.test {
        // Salt checks the timed jobs here whatever `special` says.
        let probe = Job {
            special: None,
            ..job_from(args, false)
        };
        return match status(&tab, &probe, false) {
            "absent" => StateResult::ok(name, format!("Cron {name} is absent")),
            _ => StateResult::would(
                name,
                format!("Cron {name} is set to be removed"),
                Default::default(),
            ),
        };
    }
    let list = if job.special.is_none() {
        &mut tab.crons
    } else {
        &mut tab.special
    };
    let found = list.iter().position(|e| {
        matches(e, &job.cmd, job.identifier.as_deref())
            && match (&job.special, &e.when) {
                (Some(s), When::Special(spec)) => s == spec,
                _ => true,
            }
    });
    let Some(index) = found else {
        return StateResult::ok(name, format!("Cron {name} already absent"));
    };
    list.remove(index);
    if let Err(e) = crontab::write(&job.user, &tab) {
        return fail(e);
    }
    let mut ret = StateResult::ok(
        name,
        format!("Cron {name} removed from {}'s crontab", job.user),
    );
    ret.changes.insert(job.user.clone(), json!(name));
    ret
}

fn env_user(args: &StateArgs) -> String {
    opt_text(args, "user").unwrap_or_else(|| "root".to_string())
}

/// Salt's `cron.env_present`.
pub fn env_present(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    let user = env_user(args);
    let value = opt_text(args, "value").unwrap_or_default();
    let fail = |e: String| {
        StateResult::fail(
            name,
            format!("Cron env {name} for user {user} failed to commit with error \n{e}"),
        )
    };
    let mut tab = match crontab::read(&user) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let outcome = crontab::set_env(&mut tab, name, &value);
    if ctx.test {
        return match outcome {
            "present" => StateResult::ok(name, format!("Cron env {name} already present")),
            "new" => StateResult::would(
                name,
                format!("Cron env {name} is set to be added"),
                Default::default(),
            ),
            _ => StateResult::would(
                name,
                format!("Cron env {name} is set to be updated"),
                Default::default(),
            ),
        };
    }
    if outcome == "present" {
        return StateResult::ok(name, format!("Cron env {name} already present"));
    }
    if let Err(e) = crontab::write(&user, &tab) {
        return fail(e);
    }
    let comment = if outcome == "new" {
        format!("Cron env {name} added to {user}'s crontab")
    } else {
        format!("Cron env {name} updated")
    };
    let mut ret = StateResult::ok(name, comment);
    ret.changes.insert(user.clone(), json!(name));
    ret
}

/// Salt's `cron.env_absent`.
pub fn env_absent(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    let user = env_user(args);
    let fail = |e: String| {
        StateResult::fail(
            name,
            format!("Cron env {name} for user {user} failed to commit with error {e}"),
        )
    };
    let mut tab = match crontab::read(&user) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let outcome = crontab::rm_env(&mut tab, name);
    if ctx.test {
        return match outcome {
            "absent" => StateResult::ok(name, format!("Cron env {name} is absent")),
            _ => StateResult::would(
                name,
                format!("Cron env {name} is set to be removed"),
                Default::default(),
            ),
        };
    }
    if outcome == "absent" {
        return StateResult::ok(name, format!("Cron env {name} already absent"));
    }
    if let Err(e) = crontab::write(&user, &tab) {
        return fail(e);
    }
    let mut ret = StateResult::ok(
        name,
        format!("Cron env {name} removed from {user}'s crontab"),
    );
    ret.changes.insert(user.clone(), json!(name));
    ret
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::sys::run::Cmd;
    use crate::modules::sys::testutil::{account_lock, args, is_root, unique_name, TestEnv};
    use crate::modules::user::tests::UserGuard;

    fn job(cmd: &str, rest: Value) -> Job {
        job_from(&args(cmd, rest), true)
    }

    #[test]
    fn set_adds_updates_and_keeps() {
        let mut tab = Tab::default();
        assert_eq!(set(&mut tab, &job("/bin/a", json!({"minute": 5}))), "new");
        assert_eq!(
            tab.render(),
            format!(
                "{}\n# SALT_CRON_IDENTIFIER:/bin/a\n5 * * * * /bin/a\n",
                crontab::TAG
            )
        );
        assert_eq!(
            set(&mut tab, &job("/bin/a", json!({"minute": 5}))),
            "present"
        );
        assert_eq!(
            status(&tab, &job("/bin/a", json!({"minute": 6})), true),
            "update"
        );
        assert_eq!(
            set(
                &mut tab,
                &job("/bin/a", json!({"minute": 6, "comment": "hi"}))
            ),
            "updated"
        );
        assert_eq!(
            tab.render(),
            format!(
                "{}\n# hi SALT_CRON_IDENTIFIER:/bin/a\n6 * * * * /bin/a\n",
                crontab::TAG
            )
        );
        // Same identifier, new command: the job is replaced, not duplicated.
        let renamed = job("/bin/b", json!({"identifier": "/bin/a", "minute": 6}));
        assert_eq!(set(&mut tab, &renamed), "updated");
        assert_eq!(tab.crons.len(), 1);
        assert_eq!(tab.crons[0].cmd, "/bin/b");
        assert_eq!(
            set(&mut tab, &job("/bin/c", json!({"special": "@reboot"}))),
            "new"
        );
        assert_eq!(tab.special[0].when, When::Special("@reboot".into()));
    }

    #[test]
    fn random_fields_are_picked_in_range() {
        for _ in 0..20 {
            let m: u64 = resolve_field(0, "random", "").parse().unwrap();
            assert!(m < 60);
            let h: u64 = resolve_field(1, "3:5", "").parse().unwrap();
            assert!((3..=5).contains(&h));
        }
        assert_eq!(resolve_field(2, "*/2", "1"), "*/2");
    }

    #[test]
    fn real_crontab_of_a_test_user() {
        if !crate::modules::sys::testutil::system_tests_enabled("real_crontab_of_a_test_user") {
            return;
        }
        if !is_root() || !crate::modules::sys::run::which("crontab") {
            println!("real_crontab_of_a_test_user: skipped, needs root and crontab");
            return;
        }
        let _serial = account_lock();
        let user = unique_name("c");
        let _guard = UserGuard(user.clone());
        Cmd::new("useradd").args(["-M", &user]).run_ok().unwrap();
        let env = TestEnv::new("/nonexistent".into(), std::env::temp_dir());
        let a = args(
            "/bin/echo hi",
            json!({"user": user, "minute": "*/5", "hour": 3}),
        );

        let dry = present(&env.ctx(true), &a);
        assert_eq!(dry.result, None);
        assert_eq!(dry.comment, "Cron /bin/echo hi is set to be added");
        assert!(
            crontab::read(&user).unwrap().crons.is_empty(),
            "dry run wrote the crontab"
        );

        let added = present(&env.ctx(false), &a);
        assert_eq!(added.result, Some(true), "{}", added.comment);
        assert_eq!(
            added.comment,
            format!("Cron /bin/echo hi added to {user}'s crontab")
        );
        assert_eq!(
            Value::Object(added.changes),
            json!({user.clone(): "/bin/echo hi"})
        );
        let raw = Cmd::new("crontab")
            .args(["-u", &user, "-l"])
            .run_ok()
            .unwrap()
            .stdout;
        assert!(
            raw.ends_with(&format!(
                "{}\n# SALT_CRON_IDENTIFIER:/bin/echo hi\n*/5 3 * * * /bin/echo hi\n",
                crontab::TAG
            )),
            "{raw}"
        );

        let again = present(&env.ctx(false), &a);
        assert_eq!(again.comment, "Cron /bin/echo hi already present");
        assert!(again.changes.is_empty());

        let dry = absent(&env.ctx(true), &args("/bin/echo hi", json!({"user": user})));
        assert_eq!(dry.comment, "Cron /bin/echo hi is set to be removed");
        let gone = absent(
            &env.ctx(false),
            &args("/bin/echo hi", json!({"user": user})),
        );
        assert_eq!(
            gone.comment,
            format!("Cron /bin/echo hi removed from {user}'s crontab")
        );
        assert!(crontab::read(&user).unwrap().crons.is_empty());
        let none = absent(
            &env.ctx(false),
            &args("/bin/echo hi", json!({"user": user})),
        );
        assert_eq!(none.comment, "Cron /bin/echo hi already absent");
    }

    #[test]
    fn real_cron_env_present_and_absent() {
        if !crate::modules::sys::testutil::system_tests_enabled("real_cron_env_present_and_absent")
            || !is_root()
            || !crate::modules::sys::run::which("crontab")
        {
            return;
        }
        let _serial = account_lock();
        let user = unique_name("ce");
        let _guard = UserGuard(user.clone());
        Cmd::new("useradd").args(["-M", &user]).run_ok().unwrap();
        let env = TestEnv::new("/nonexistent".into(), std::env::temp_dir());
        let a = args("MAILTO", json!({"user": user, "value": "ops@example.com"}));
        let dry = env_present(&env.ctx(true), &a);
        assert_eq!(
            (dry.result, dry.comment.as_str()),
            (None, "Cron env MAILTO is set to be added")
        );
        let added = env_present(&env.ctx(false), &a);
        assert_eq!(
            added.comment,
            format!("Cron env MAILTO added to {user}'s crontab")
        );
        assert_eq!(
            Value::Object(added.changes),
            json!({user.clone(): "MAILTO"})
        );
        let tab = crontab::read(&user).unwrap();
        assert_eq!(
            tab.env,
            vec![("MAILTO".to_string(), "ops@example.com".to_string())]
        );
        let again = env_present(&env.ctx(false), &a);
        assert_eq!(again.comment, "Cron env MAILTO already present");
        let b = args("MAILTO", json!({"user": user, "value": "x@example.com"}));
        assert_eq!(
            env_present(&env.ctx(false), &b).comment,
            "Cron env MAILTO updated"
        );
        let rm = args("MAILTO", json!({"user": user}));
        assert_eq!(
            env_absent(&env.ctx(true), &rm).comment,
            "Cron env MAILTO is set to be removed"
        );
        assert_eq!(
            env_absent(&env.ctx(false), &rm).comment,
            format!("Cron env MAILTO removed from {user}'s crontab")
        );
        assert!(crontab::read(&user).unwrap().env.is_empty());
        assert_eq!(
            env_absent(&env.ctx(false), &rm).comment,
            "Cron env MAILTO already absent"
        );
    }
}
