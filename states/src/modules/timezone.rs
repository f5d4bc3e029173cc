//! `timezone.system`: the system time zone (and whether the hardware clock
//! keeps UTC), as Salt's state of that name, over the shared
//! [`TimeSettings`] helper.

use serde_json::{json, Value};

use crate::ctx::{StateArgs, StateCtx};
use crate::modules::sys::timezone::TimeSettings;
use crate::registry::StateSpec;
use crate::result::StateResult;

pub const STATES: &[StateSpec] = &[StateSpec {
    name: "timezone.system",
    doc:
        "Ensure that the system time zone is set, and the hardware clock keeps UTC unless told.\n\n\
          name: the zone, e.g. America/Denver\n\
          utc: True (default) for a hardware clock in UTC, False for local time",
    run: system,
    mod_watch: None,
}];

pub fn system(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    system_with(ctx, args, &TimeSettings::host())
}

/// Salt's `timezone.system`, comment for comment.
fn system_with(ctx: &StateCtx<'_>, args: &StateArgs, host: &TimeSettings) -> StateResult {
    let name = args.name.as_str();
    let utc = args.bool("utc", true);
    let mut ret = StateResult::new(name);
    ret.result = None;
    let same_zone = match host.zone_compare(name) {
        Ok(same) => same,
        Err(e) => {
            return StateResult::fail(
                name,
                format!("Unable to compare desired timezone '{name}' to system timezone: {e}"),
            )
        }
    };
    let clock_utc = !matches!(host.get_hwclock().as_deref(), Ok("localtime"));
    let mut messages = Vec::new();
    let mut do_zone = false;
    let mut do_utc = false;
    if same_zone {
        ret.result = Some(true);
        messages.push(format!("Timezone {name} already set"));
    } else {
        do_zone = true;
    }
    // as Salt: only utc=True is checked; utc=False leaves the clock alone
    if utc && utc != clock_utc {
        ret.result = None;
        do_utc = true;
    } else if utc {
        messages.push(format!("UTC already set to {name}"));
    }
    if ret.result == Some(true) {
        ret.comment = messages.join(", ");
        return ret;
    }
    if ctx.test {
        let mut messages = Vec::new();
        if !same_zone {
            messages.push(format!("Timezone {name} needs to be set"));
        }
        if utc && clock_utc != utc {
            messages.push("UTC needs to be set to True".to_string());
        }
        ret.comment = messages.join(", ");
        return ret;
    }
    let mut messages = Vec::new();
    if do_zone {
        match host.set_zone(name) {
            Ok(()) => {
                ret.changes.insert("timezone".into(), json!(name));
                messages.push(format!("Set timezone {name}"));
                ret.result = Some(true);
            }
            Err(e) => {
                tracing::debug!(error = %e, "timezone.set_zone failed");
                messages.push("Failed to set timezone".to_string());
                ret.result = Some(false);
            }
        }
    }
    if do_utc {
        match host.set_hwclock("UTC") {
            Ok(()) => {
                ret.changes.insert("utc".into(), Value::Bool(utc));
                messages.push("Set UTC to True".to_string());
                ret.result = Some(true);
            }
            Err(e) => {
                tracing::debug!(error = %e, "timezone.set_hwclock failed");
                messages.push("Failed to set UTC to True".to_string());
                ret.result = Some(false);
            }
        }
    }
    ret.comment = messages.join(", ");
    ret
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::sys::testutil::{args, TestEnv};

    fn fake_root() -> tempfile::TempDir {
        let dir = tempfile::TempDir::new().unwrap();
        let zi = dir.path().join("usr/share/zoneinfo");
        std::fs::create_dir_all(zi.join("America")).unwrap();
        std::fs::create_dir_all(zi.join("Etc")).unwrap();
        std::fs::write(zi.join("America/Denver"), "TZif denver").unwrap();
        std::fs::write(zi.join("Etc/UTC"), "TZif utc").unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/debian_version"), "12\n").unwrap();
        std::fs::write(dir.path().join("etc/timezone"), "Etc/UTC\n").unwrap();
        std::fs::write(dir.path().join("etc/adjtime"), "0.0 0 0.0\n0\nLOCAL\n").unwrap();
        std::os::unix::fs::symlink(zi.join("Etc/UTC"), dir.path().join("etc/localtime")).unwrap();
        dir
    }

    #[test]
    fn sets_zone_and_utc_clock_like_salt() {
        let dir = fake_root();
        let host = TimeSettings::at(dir.path());
        let env = TestEnv::new(dir.path().into(), dir.path().into());
        let a = args("America/Denver", json!({}));

        let dry = system_with(&env.ctx(true), &a, &host);
        assert_eq!(dry.result, None);
        assert_eq!(
            dry.comment,
            "Timezone America/Denver needs to be set, UTC needs to be set to True"
        );
        assert_eq!(
            host.get_zone().unwrap(),
            "Etc/UTC",
            "dry run changed the zone"
        );

        let done = system_with(&env.ctx(false), &a, &host);
        assert_eq!(done.result, Some(true), "{}", done.comment);
        assert_eq!(done.comment, "Set timezone America/Denver, Set UTC to True");
        assert_eq!(
            Value::Object(done.changes),
            json!({"timezone": "America/Denver", "utc": true})
        );
        assert_eq!(host.get_zone().unwrap(), "America/Denver");
        assert_eq!(host.get_hwclock().unwrap(), "UTC");

        let again = system_with(&env.ctx(false), &a, &host);
        assert_eq!(again.result, Some(true));
        assert_eq!(
            again.comment,
            "Timezone America/Denver already set, UTC already set to America/Denver"
        );
        assert!(again.changes.is_empty());

        let bad = system_with(&env.ctx(false), &args("Mars/Olympus", json!({})), &host);
        assert_eq!(bad.result, Some(false));
        assert_eq!(
            bad.comment,
            "Unable to compare desired timezone 'Mars/Olympus' to system timezone: Can't find a local timezone \"Mars/Olympus\""
        );
    }
}
