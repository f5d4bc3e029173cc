//! `cron.*` states: jobs in a user's crontab, edited through `crontab -u`
//! in the layout Salt writes (tag line, `# SALT_CRON_IDENTIFIER:` lines), so
//! a crontab managed by Salt before stays managed.

use serde_json::{json, Value};

use crate::ctx::{StateArgs, StateCtx};
use crate::modules::sys::crontab::{self, matches, needs_change, Entry, Tab, When, NO_IDENTIFIER};
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

/// What the state asks for.
struct Job {
    user: String,
    cmd: String,
    fields: [Option<String>; 5],
    comment: Option<String>,
    commented: bool,
    identifier: String,
    special: Option<String>,
}

const FIELD_NAMES: [&str; 5] = ["minute", "hour", "daymonth", "month", "dayweek"];

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
        identifier,
        special: opt_text(args, "special"),
        cmd,
    }
}

fn old_fields(entry: &Entry) -> [Option<&str>; 5] {
    match &entry.when {
        When::Fields(f) => [0, 1, 2, 3, 4].map(|i| Some(f[i].as_str())),
        When::Special(_) => [None; 5],
    }
}

/// Salt's `_check_cron`: `"absent"`, `"present"` or `"update"`.
fn status(tab: &Tab, job: &Job, check_commented: bool) -> &'static str {
    let list = if job.special.is_none() {
        &tab.crons
    } else {
        &tab.special
    };
    let Some(entry) = list
        .iter()
        .find(|e| matches(e, &job.cmd, Some(&job.identifier)))
    else {
        return "absent";
    };
    let mut differs = needs_change(entry.identifier.as_deref(), Some(&job.identifier))
        || needs_change(Some(&entry.cmd), Some(&job.cmd))
        || needs_change(entry.comment.as_deref(), job.comment.as_deref())
        || (check_commented && entry.commented != job.commented);
    match (&job.special, &entry.when) {
        (Some(s), When::Special(old)) => differs |= old != s,
        _ => {
            let old = old_fields(entry);
            differs |= (0..5).any(|i| needs_change(old[i], job.fields[i].as_deref()));
        }
    }
    if differs {
        "update"
    } else {
        "present"
    }
}

/// A field value with `random` and `a:b` resolved, as Salt does when it
/// writes a new job.
fn resolve_field(index: usize, value: &str, month: &str) -> String {
    let (lo, hi) = match index {
        0 => (0, 59),
        1 => (0, 23),
        2 => (
            1,
            match month {
                "1" | "3" | "5" | "7" | "8" | "10" | "12" => 31,
                "4" | "6" | "9" | "11" => 30,
                _ => 28,
            },
        ),
        3 => (1, 12),
        _ => (0, 6),
    };
    if value == "random" {
        return pick(lo, hi).to_string();
    }
    if index != 2 {
        if let Some((a, b)) = value.split_once(':') {
            if let (Ok(a), Ok(b)) = (a.parse::<u64>(), b.parse::<u64>()) {
                return pick(a.min(b), a.max(b)).to_string();
            }
        }
    }
    value.to_string()
}

/// A number in `lo..=hi` from the standard library's random hasher keys.
fn pick(lo: u64, hi: u64) -> u64 {
    use std::hash::{BuildHasher, RandomState};
    let r = RandomState::new().hash_one(0u8);
    lo + r % (hi - lo + 1)
}

/// Salt's `set_job`/`set_special`: `"new"`, `"updated"` or `"present"`.
fn set(tab: &mut Tab, job: &Job) -> &'static str {
    let found = tab
        .crons
        .iter()
        .map(|e| (false, e))
        .chain(tab.special.iter().map(|e| (true, e)))
        .position(|(_, e)| matches(e, &job.cmd, Some(&job.identifier)));
    let n_crons = tab.crons.len();
    let old = found.map(|i| {
        if i < n_crons {
            tab.crons[i].clone()
        } else {
            tab.special[i - n_crons].clone()
        }
    });
    if let Some(old) = &old {
        let old_id = old.identifier.as_deref().unwrap_or(NO_IDENTIFIER);
        let mut differs = needs_change(old.comment.as_deref(), job.comment.as_deref())
            || old.commented != job.commented
            || old_id != job.identifier
            || needs_change(Some(&old.cmd), Some(&job.cmd));
        match (&job.special, &old.when) {
            (Some(s), When::Special(spec)) => differs |= spec != s,
            (Some(_), _) | (None, When::Special(_)) => differs = true,
            (None, When::Fields(_)) => {
                let of = old_fields(old);
                differs |= (0..5).any(|i| needs_change(of[i], job.fields[i].as_deref()));
            }
        }
        if !differs {
            return "present";
        }
        if let Some(i) = found {
            if i < n_crons {
                tab.crons.remove(i);
            } else {
                tab.special.remove(i - n_crons);
            }
        }
    }
    let comment = match &old {
        Some(o) if !needs_change(o.comment.as_deref(), job.comment.as_deref()) => o.comment.clone(),
        _ => job.comment.clone(),
    };
    let entry = Entry {
        when: match &job.special {
            Some(s) => When::Special(s.clone()),
            None => {
                let of = old.as_ref().map(old_fields).unwrap_or([None; 5]);
                let kept: [String; 5] = [0, 1, 2, 3, 4].map(|i| {
                    let wanted = job.fields[i].as_deref().unwrap_or("*");
                    match of[i] {
                        Some(o) if !needs_change(Some(o), Some(wanted)) => o.to_string(),
                        _ => wanted.to_string(),
                    }
                });
                let month = resolve_field(3, &kept[3], "");
                When::Fields([0, 1, 2, 3, 4].map(|i| {
                    if i == 3 {
                        month.clone()
                    } else {
                        resolve_field(i, &kept[i], &month)
                    }
                }))
            }
        },
        cmd: job.cmd.clone(),
        comment,
        identifier: Some(job.identifier.clone()),
        commented: job.commented,
    };
    match entry.when {
        When::Special(_) => tab.special.push(entry),
        When::Fields(_) => tab.crons.push(entry),
    }
    if old.is_some() {
        "updated"
    } else {
        "new"
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
        matches(e, &job.cmd, Some(&job.identifier))
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
}
