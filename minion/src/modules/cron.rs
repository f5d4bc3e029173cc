//! `cron.*`: a user's crontab through `crontab -u`, in the layout Salt
//! writes (tag line, `# SALT_CRON_IDENTIFIER:` lines), with Salt's return
//! words (`new`, `updated`, `present`, `removed`, `absent`). The editing is
//! `brine_states::modules::sys::crontab`'s, shared with the `cron.*` states.

use brine_states::modules::sys::crontab::{self, Job, Tab};
use serde_json::{json, Value};

use super::sysexec::off_thread;
use crate::registry::{as_str, Args, CallCtx, FunctionSpec, ModError, ModFuture};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "cron.list_tab",
        doc: "Return the user's crontab as Salt parses it: {pre, crons, special, env}.\n\n\
              crons: [{minute, hour, daymonth, month, dayweek, cmd, comment, commented, identifier}],\n\
              special: [{spec, cmd, comment, commented, identifier}], env: [{name, value}],\n\
              pre: the lines above Salt's tag line.\n\n\
              - user: whose crontab.",
        cli_example: "brine '*' cron.list_tab root",
        run: list_tab,
    },
    FunctionSpec {
        name: "cron.ls",
        doc: "Alias of cron.list_tab.\n\n\
              - user: whose crontab.",
        cli_example: "brine '*' cron.ls root",
        run: list_tab,
    },
    FunctionSpec {
        name: "cron.raw_cron",
        doc: "Return the user's crontab as text.\n\n\
              - user: whose crontab.",
        cli_example: "brine '*' cron.raw_cron root",
        run: raw_cron,
    },
    FunctionSpec {
        name: "cron.rm_env",
        doc: "Remove an environment line from the user's crontab: 'removed' or 'absent'.\n\n\
              - user: whose crontab.\n\
              - name: the variable.",
        cli_example: "brine '*' cron.rm_env root MAILTO",
        run: rm_env,
    },
    FunctionSpec {
        name: "cron.rm_job",
        doc: "Remove a timed job from the user's crontab: 'removed' or 'absent'.\n\n\
              - user: whose crontab.\n\
              - cmd: the command (a job with an identifier matches only on it).\n\
              - minute, hour, daymonth, month, dayweek: when given, the job must have these values.\n\
              - identifier: the job's SALT_CRON_IDENTIFIER.",
        cli_example: "brine '*' cron.rm_job root /usr/local/weekly",
        run: rm_job,
    },
    FunctionSpec {
        name: "cron.rm_special",
        doc: "Remove a special (@reboot, @daily...) job: 'removed' or 'absent'.\n\n\
              - user: whose crontab.\n\
              - cmd: the command.\n\
              - special: when given, the job must have this @keyword.\n\
              - identifier: the job's SALT_CRON_IDENTIFIER.",
        cli_example: "brine '*' cron.rm_special root /usr/bin/foo @hourly",
        run: rm_special,
    },
    FunctionSpec {
        name: "cron.set_env",
        doc: "Set an environment line in the user's crontab: 'new', 'updated' or 'present'.\n\n\
              - user: whose crontab.\n\
              - name: the variable.\n\
              - value: its value.",
        cli_example: "brine '*' cron.set_env root MAILTO user@example.com",
        run: set_env,
    },
    FunctionSpec {
        name: "cron.set_job",
        doc: "Set a timed job in the user's crontab: 'new', 'updated' or 'present'.\n\n\
              - user: whose crontab.\n\
              - minute, hour, daymonth, month, dayweek: the schedule (`random` picks once).\n\
              - cmd: the command.\n\
              - commented: write the job disabled (#DISABLED#; default False).\n\
              - comment: a comment line above the job.\n\
              - identifier: a SALT_CRON_IDENTIFIER to track the job by instead of its command.",
        cli_example: "brine '*' cron.set_job root '*' '*' '*' '*' 1 /usr/local/weekly",
        run: set_job,
    },
    FunctionSpec {
        name: "cron.set_special",
        doc: "Set a special (@reboot, @daily...) job: 'new', 'updated' or 'present'.\n\n\
              - user: whose crontab.\n\
              - special: the @keyword.\n\
              - cmd: the command.\n\
              - commented, comment, identifier: as for cron.set_job.",
        cli_example: "brine '*' cron.set_special root @hourly 'echo foobar'",
        run: set_special,
    },
];

fn read(user: &str) -> Result<Tab, ModError> {
    crontab::read(user).map_err(ModError::Failed)
}

/// Writes the crontab and answers `word`; like Salt, a failed write answers
/// the tool's error text instead.
fn write_then(user: &str, tab: &Tab, word: &str) -> Value {
    match crontab::write(user, tab) {
        Ok(()) => json!(word),
        Err(e) => json!(e),
    }
}

/// A schedule field as Salt scrubs it: its text, lower-cased.
fn field(name: &str, v: Value) -> Result<String, ModError> {
    Ok(as_str(name, &v)?.to_lowercase())
}

fn list_tab(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let user = a.take_str("user", 0)?;
        a.finish()?;
        off_thread(move || Ok(read(&user)?.to_json().into())).await
    })
}

fn raw_cron(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let user = a.take_str("user", 0)?;
        a.finish()?;
        off_thread(move || {
            let out = brine_states::modules::sys::run::Cmd::new("crontab")
                .args(["-u", &user, "-l"])
                .run()
                .map_err(ModError::Failed)?;
            Ok(json!(out.stdout).into())
        })
        .await
    })
}

/// Commands are compared stripped, as Salt does.
fn cmd_arg(a: &mut crate::registry::ArgParser, pos: usize) -> Result<String, ModError> {
    Ok(a.take_str("cmd", pos)?.trim().to_string())
}

fn set_job(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let user = a.take_str("user", 0)?;
        let mut fields: [Option<String>; 5] = Default::default();
        for (i, name) in crontab::FIELD_NAMES.iter().enumerate() {
            fields[i] = Some(field(name, a.take(name, i + 1)?)?);
        }
        let cmd = cmd_arg(&mut a, 6)?;
        let commented = a.opt_bool("commented", 7)?.unwrap_or(false);
        let comment = a.opt_str("comment", 8)?;
        let identifier = a.opt_str("identifier", 9)?;
        a.finish()?;
        let job = Job {
            user,
            cmd,
            fields,
            comment,
            commented,
            identifier,
            special: None,
        };
        off_thread(move || edit_job(job)).await
    })
}

fn set_special(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let user = a.take_str("user", 0)?;
        let special = a.take_str("special", 1)?;
        let cmd = cmd_arg(&mut a, 2)?;
        let commented = a.opt_bool("commented", 3)?.unwrap_or(false);
        let comment = a.opt_str("comment", 4)?;
        let identifier = a.opt_str("identifier", 5)?;
        a.finish()?;
        let job = Job {
            user,
            cmd,
            fields: Default::default(),
            comment,
            commented,
            identifier,
            special: Some(special),
        };
        off_thread(move || edit_job(job)).await
    })
}

/// Salt's `set_job` / `set_special` on the user's crontab.
fn edit_job(job: Job) -> Result<crate::registry::ModOutput, ModError> {
    let mut tab = read(&job.user)?;
    let word = crontab::set(&mut tab, &job);
    if word == "present" {
        return Ok(json!(word).into());
    }
    Ok(write_then(&job.user, &tab, word).into())
}

fn rm_job(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let user = a.take_str("user", 0)?;
        let cmd = cmd_arg(&mut a, 1)?;
        let mut fields: [Option<String>; 5] = Default::default();
        for (i, name) in crontab::FIELD_NAMES.iter().enumerate() {
            fields[i] = a.opt(name, i + 2)?.map(|v| field(name, v)).transpose()?;
        }
        let identifier = a.opt_str("identifier", 7)?;
        a.finish()?;
        off_thread(move || {
            let mut tab = read(&user)?;
            let word = crontab::rm_job(&mut tab, &cmd, &fields, identifier.as_deref());
            if word == "absent" {
                return Ok(json!(word).into());
            }
            Ok(write_then(&user, &tab, word).into())
        })
        .await
    })
}

fn rm_special(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let user = a.take_str("user", 0)?;
        let cmd = cmd_arg(&mut a, 1)?;
        let special = a.opt_str("special", 2)?;
        let identifier = a.opt_str("identifier", 3)?;
        a.finish()?;
        off_thread(move || {
            let mut tab = read(&user)?;
            let word =
                crontab::rm_special(&mut tab, &cmd, special.as_deref(), identifier.as_deref());
            if word == "absent" {
                return Ok(json!(word).into());
            }
            Ok(write_then(&user, &tab, word).into())
        })
        .await
    })
}

fn set_env(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let user = a.take_str("user", 0)?;
        let name = a.take_str("name", 1)?;
        let value = a.opt_str("value", 2)?.unwrap_or_default();
        a.finish()?;
        off_thread(move || {
            let mut tab = read(&user)?;
            let word = crontab::set_env(&mut tab, &name, &value);
            if word == "present" {
                return Ok(json!(word).into());
            }
            Ok(write_then(&user, &tab, word).into())
        })
        .await
    })
}

fn rm_env(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let user = a.take_str("user", 0)?;
        let name = a.take_str("name", 1)?;
        a.finish()?;
        off_thread(move || {
            let mut tab = read(&user)?;
            let word = crontab::rm_env(&mut tab, &name);
            if word == "absent" {
                return Ok(json!(word).into());
            }
            Ok(write_then(&user, &tab, word).into())
        })
        .await
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::sysexec::system_tests_enabled;
    use crate::registry::{test_call, test_ctx, ModFn};
    use brine_states::modules::sys::accounts;

    async fn call(f: ModFn, name: &'static str, arg: Value, kw: Value) -> Result<Value, String> {
        test_call(test_ctx(), f, name, arg, kw).await
    }

    #[tokio::test]
    async fn argument_errors_are_pythons() {
        let err = call(set_job, "cron.set_job", json!(["root", "*"]), json!({}))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            "cron.set_job() missing 1 required positional argument: 'hour'"
        );
    }

    struct Cleanup(String);

    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = brine_states::modules::sys::run::Cmd::new("crontab")
                .args(["-u", &self.0, "-r"])
                .run();
            let _ = accounts::userdel(&self.0, false, true);
        }
    }

    /// A throwaway user's crontab, so root's is never touched.
    #[tokio::test]
    async fn real_crontab_jobs_and_env() {
        if !system_tests_enabled("real_crontab_jobs_and_env")
            || !brine_states::modules::sys::run::which("crontab")
        {
            return;
        }
        let _serial = crate::modules::sysexec::ACCOUNTS.lock().await;
        let user = format!("brinex{}c", std::process::id());
        let _cleanup = Cleanup(user.clone());
        let new = accounts::NewUser {
            unique: true,
            ..Default::default()
        };
        accounts::useradd(&user, &new).unwrap();
        let job = json!([user, "5", "*", "*", "*", "1", "/usr/bin/weekly"]);
        assert_eq!(
            call(set_job, "cron.set_job", job.clone(), json!({}))
                .await
                .unwrap(),
            "new"
        );
        assert_eq!(
            call(set_job, "cron.set_job", job, json!({})).await.unwrap(),
            "present"
        );
        let changed = json!([user, "6", "*", "*", "*", "1", "/usr/bin/weekly"]);
        let kw = json!({"comment": "weekly run"});
        assert_eq!(
            call(set_job, "cron.set_job", changed, kw).await.unwrap(),
            "updated"
        );
        assert_eq!(
            call(
                set_env,
                "cron.set_env",
                json!([user, "MAILTO", "a@b"]),
                json!({})
            )
            .await
            .unwrap(),
            "new"
        );
        let tab = call(list_tab, "cron.list_tab", json!([user]), json!({}))
            .await
            .unwrap();
        assert_eq!(tab["crons"].as_array().unwrap().len(), 1);
        assert_eq!(tab["crons"][0]["minute"], "6");
        assert_eq!(tab["crons"][0]["comment"], "weekly run");
        assert_eq!(tab["crons"][0]["identifier"], Value::Null);
        assert_eq!(tab["env"], json!([{"name": "MAILTO", "value": "a@b"}]));
        let raw = call(raw_cron, "cron.raw_cron", json!([user]), json!({}))
            .await
            .unwrap();
        assert!(
            raw.as_str()
                .unwrap()
                .contains("# weekly run\n6 * * * 1 /usr/bin/weekly\n"),
            "{raw}"
        );
        let rm = json!([user, "/usr/bin/weekly"]);
        let wrong_minute = json!({"minute": 7});
        assert_eq!(
            call(rm_job, "cron.rm_job", rm.clone(), wrong_minute)
                .await
                .unwrap(),
            "absent"
        );
        assert_eq!(
            call(rm_job, "cron.rm_job", rm.clone(), json!({}))
                .await
                .unwrap(),
            "removed"
        );
        assert_eq!(
            call(rm_job, "cron.rm_job", rm, json!({})).await.unwrap(),
            "absent"
        );
        assert_eq!(
            call(rm_env, "cron.rm_env", json!([user, "MAILTO"]), json!({}))
                .await
                .unwrap(),
            "removed"
        );
        assert_eq!(
            call(rm_env, "cron.rm_env", json!([user, "MAILTO"]), json!({}))
                .await
                .unwrap(),
            "absent"
        );
        let sp = json!([user, "@reboot", "/bin/boot"]);
        assert_eq!(
            call(set_special, "cron.set_special", sp, json!({}))
                .await
                .unwrap(),
            "new"
        );
        let rms = json!([user, "/bin/boot"]);
        assert_eq!(
            call(rm_special, "cron.rm_special", rms, json!({}))
                .await
                .unwrap(),
            "removed"
        );
        let tab = call(list_tab, "cron.list_tab", json!([user]), json!({}))
            .await
            .unwrap();
        assert_eq!(
            tab,
            json!({"pre": [], "crons": [], "special": [], "env": []})
        );
    }
}
