//! `service.*` states: start, stop, enable and disable services, and restart
//! or reload them when a `watch` fires (`mod_watch`). systemd when it is PID
//! 1, SysV init scripts otherwise (see [`InitSystem`]).

use serde_json::{json, Map, Value};

use crate::ctx::{StateArgs, StateCtx};
use crate::modules::sys::initsys::InitSystem;
use crate::modules::sys::opt_text;
use crate::registry::StateSpec;
use crate::result::StateResult;

pub const STATES: &[StateSpec] = &[
    StateSpec {
        name: "service.dead",
        doc: "Ensure that the named service is dead by stopping it if it is running.\n\n\
              name: the service\n\
              enable: also enable (True) or disable (False) it at boot\n\
              sig: text to look for in the process list instead of asking the init system",
        run: dead,
        mod_watch: Some(mod_watch),
    },
    StateSpec {
        name: "service.disabled",
        doc: "Ensure that the service is not started at boot.\n\nname: the service",
        run: disabled,
        mod_watch: Some(mod_watch),
    },
    StateSpec {
        name: "service.enabled",
        doc: "Ensure that the service is started at boot.\n\nname: the service",
        run: enabled,
        mod_watch: Some(mod_watch),
    },
    StateSpec {
        name: "service.running",
        doc: "Ensure that the service is running.\n\n\
              name: the service\n\
              enable: also enable (True) or disable (False) it at boot\n\
              sig: text to look for in the process list instead of asking the init system\n\
              reload: when a watch fires, reload instead of restart\n\
              force: with reload, force-reload\n\
              full_restart: when a watch fires, stop then start (SysV scripts; systemd restarts)\n\
              init_delay: seconds to wait after starting",
        run: running,
        mod_watch: Some(mod_watch),
    },
];

/// The part of a result an enable/disable step overrides (Salt's
/// `ret.update(_enable(...))`).
struct Toggle {
    result: Option<bool>,
    comment: String,
    /// `Some` replaces the changes.
    changes: Option<Map<String, Value>>,
}

impl Toggle {
    fn apply(self, ret: &mut StateResult) {
        ret.result = self.result;
        ret.comment = self.comment;
        if let Some(c) = self.changes {
            ret.changes = c;
        }
    }
}

/// Salt's `_enable`/`_disable`. `started`: `Some(true)` running,
/// `Some(false)` dead, `None` in the desired state.
fn toggle(
    ctx: &StateCtx<'_>,
    init: &InitSystem,
    name: &str,
    on: bool,
    started: Option<bool>,
    result: bool,
) -> Toggle {
    let (word, verb) = if on {
        ("enabled", "enable")
    } else {
        ("disabled", "disable")
    };
    if !init.available(name) {
        return Toggle {
            result: Some(false),
            comment: format!("The named service {name} is not available"),
            changes: None,
        };
    }
    let state_word = match started {
        Some(true) => "is running",
        None => "is in the desired state",
        Some(false) => "is dead",
    };
    if init.enabled(name) == on {
        return Toggle {
            result: Some(result),
            comment: format!("Service {name} is already {word}, and {state_word}"),
            changes: started.is_none().then(Map::new),
        };
    }
    if ctx.test {
        return Toggle {
            result: None,
            comment: format!("Service {name} set to be {word}"),
            changes: None,
        };
    }
    match init.set_enabled(name, on) {
        Ok(()) => {
            let mut changes = Map::new();
            if init.enabled(name) == on {
                changes.insert(name.to_string(), json!(true));
            }
            Toggle {
                result: Some(result),
                comment: format!("Service {name} has been {word}, and {state_word}"),
                changes: Some(changes),
            }
        }
        Err(e) => {
            let base = match (on, started) {
                (true, Some(true)) => format!("Failed when setting service {name} to start at boot, but the service is running"),
                (true, None) => format!("Failed when setting service {name} to start at boot, but the service was already running"),
                (true, Some(false)) => format!("Failed when setting service {name} to start at boot, and the service is dead"),
                (false, Some(true)) => format!("Failed when setting service {name} to not start at boot, and is running"),
                (false, None) => format!("Failed when setting service {name} to not start at boot, but the service was already running"),
                (false, Some(false)) => format!("Failed when setting service {name} to not start at boot, and the service is dead"),
            };
            tracing::debug!(error = %e, action = verb, "service boot setting failed");
            Toggle {
                result: Some(false),
                comment: format!("{base}. Additional information follows:\n\n{e}"),
                changes: None,
            }
        }
    }
}

/// `enable: True/False/None` (strings as Salt reads them).
fn enable_arg(args: &StateArgs) -> Option<bool> {
    args.get("enable").map(|_| args.bool("enable", false))
}

fn init_delay(args: &StateArgs) -> Option<f64> {
    args.get("init_delay")
        .and_then(|v| match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        })
        .filter(|d| *d > 0.0)
}

fn sleep(seconds: f64) {
    std::thread::sleep(std::time::Duration::from_secs_f64(seconds.min(3600.0)));
}

pub fn running(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    running_with(ctx, args, &InitSystem::detect())
}

fn enabled_used_error(name: &str) -> StateResult {
    StateResult::fail(
        name,
        "Service option 'enabled' not supported, use 'enable' instead. ",
    )
}

fn running_with(ctx: &StateCtx<'_>, args: &StateArgs, init: &InitSystem) -> StateResult {
    let name = args.name.as_str();
    if args.args.contains_key("enabled") {
        return enabled_used_error(name);
    }
    let enable = enable_arg(args);
    let sig = opt_text(args, "sig");
    let mut ret = StateResult::new(name);
    if !init.available(name) {
        if ctx.test {
            return StateResult::would(name, format!("Service {name} not present; if created in this state run, it would have been started"), Map::new());
        }
        return StateResult::fail(name, format!("The named service {name} is not available"));
    }
    let before = init.status(name, sig.as_deref());
    let before_enabled = init.enabled(name);
    if before {
        ret.comment = format!("The service {name} is already running");
        match enable {
            Some(true) if !before_enabled => {
                toggle(ctx, init, name, true, None, true).apply(&mut ret)
            }
            Some(false) if before_enabled => {
                toggle(ctx, init, name, false, None, true).apply(&mut ret)
            }
            _ => {}
        }
        return ret;
    }
    if ctx.test {
        return StateResult::would(name, format!("Service {name} is set to start"), Map::new());
    }
    if let Err(e) = init.start(name) {
        tracing::debug!(error = %e, "service start failed");
        ret = StateResult::fail(name, format!("Service {name} failed to start"));
        if let Some(on) = enable {
            toggle(ctx, init, name, on, Some(false), false).apply(&mut ret);
        }
        return ret;
    }
    if let Some(d) = init_delay(args) {
        sleep(d);
    }
    let after = init.status(name, sig.as_deref());
    let after_enabled = init.enabled(name);
    if before_enabled != after_enabled || before != after {
        ret.changes.insert(name.to_string(), json!(after));
    }
    if after {
        ret.comment = format!("Started service {name}");
    } else {
        ret.comment = format!("Service {name} failed to start");
        ret.result = Some(false);
    }
    if let Some(on) = enable {
        toggle(ctx, init, name, on, Some(after), after).apply(&mut ret);
    }
    if let Some(d) = init_delay(args) {
        ret.comment = format!("{}\nDelayed return for {d} seconds", ret.comment);
    }
    ret
}

pub fn dead(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    dead_with(ctx, args, &InitSystem::detect())
}

fn dead_with(ctx: &StateCtx<'_>, args: &StateArgs, init: &InitSystem) -> StateResult {
    let name = args.name.as_str();
    if args.args.contains_key("enabled") {
        return enabled_used_error(name);
    }
    let enable = enable_arg(args);
    let sig = opt_text(args, "sig");
    let mut ret = StateResult::new(name);
    if !init.available(name) {
        if ctx.test {
            return StateResult::would(name, format!("Service {name} not present; if created in this state run, it would have been stopped"), Map::new());
        }
        return StateResult::ok(name, format!("The named service {name} is not available"));
    }
    let before = init.status(name, sig.as_deref());
    let before_enabled = init.enabled(name);
    if !before {
        ret.comment = format!("The service {name} is already dead");
        match enable {
            Some(true) if !before_enabled => {
                toggle(ctx, init, name, true, None, true).apply(&mut ret)
            }
            Some(false) if before_enabled => {
                toggle(ctx, init, name, false, None, true).apply(&mut ret)
            }
            _ => {}
        }
        return ret;
    }
    if ctx.test {
        return StateResult::would(
            name,
            format!("Service {name} is set to be killed"),
            Map::new(),
        );
    }
    if let Err(e) = init.stop(name) {
        tracing::debug!(error = %e, "service stop failed");
        ret = StateResult::fail(name, format!("Service {name} failed to die"));
        if let Some(on) = enable {
            toggle(ctx, init, name, on, Some(true), false).apply(&mut ret);
        }
        return ret;
    }
    if let Some(d) = init_delay(args) {
        sleep(d);
    }
    let after = init.status(name, None);
    if init.enabled(name) != before_enabled || before != after {
        ret.changes.insert(name.to_string(), json!(after));
    }
    if after {
        ret.result = Some(false);
        ret.comment = format!("Service {name} failed to die");
    } else {
        ret.comment = format!("Service {name} was killed");
    }
    if let Some(on) = enable {
        toggle(ctx, init, name, on, Some(after), !after).apply(&mut ret);
    }
    ret
}

pub fn enabled(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    boot_setting(ctx, args, &InitSystem::detect(), true)
}

pub fn disabled(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    boot_setting(ctx, args, &InitSystem::detect(), false)
}

fn boot_setting(ctx: &StateCtx<'_>, args: &StateArgs, init: &InitSystem, on: bool) -> StateResult {
    let name = args.name.as_str();
    let mut ret = StateResult::new(name);
    toggle(ctx, init, name, on, None, true).apply(&mut ret);
    if on && ctx.test && ret.comment == format!("The named service {name} is not available") {
        ret.result = None;
        ret.comment = format!(
            "Service {name} not present; if created in this state run, it would have been enabled"
        );
    }
    ret
}

/// Salt's `service.mod_watch`: what a fired `watch` does, by the state
/// function that watched (`sfun`): `running` restarts (or reloads with
/// `reload: True`, force-reloads with `force: True` too) a running service
/// and starts a stopped one; `dead` stops it.
pub fn mod_watch(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    watch_with(ctx, args, &InitSystem::detect())
}

/// What a watch does to the service.
enum WatchAction {
    Start,
    Stop,
    Restart,
    /// Stop, then start (SysV scripts only: systemd has no full restart).
    FullRestart,
    Reload,
    ForceReload,
}

impl WatchAction {
    /// Salt's verb and past participle for the comments.
    fn words(&self) -> (&'static str, &'static str) {
        match self {
            WatchAction::Start => ("start", "started"),
            WatchAction::Stop => ("stop", "stopped"),
            WatchAction::Restart => ("restart", "restarted"),
            WatchAction::FullRestart => ("fully restart", "fully restarted"),
            WatchAction::Reload => ("reload", "reloaded"),
            WatchAction::ForceReload => ("forcefully reload", "forcefully reloaded"),
        }
    }
}

fn watch_with(ctx: &StateCtx<'_>, args: &StateArgs, init: &InitSystem) -> StateResult {
    let name = args.name.as_str();
    let sig = opt_text(args, "sig");
    let sfun = args.str("sfun").unwrap_or_default();
    let action = match sfun.as_str() {
        "dead" => {
            if !init.status(name, sig.as_deref()) {
                return StateResult::ok(name, "Service is already stopped");
            }
            WatchAction::Stop
        }
        "running" => {
            if !init.status(name, sig.as_deref()) {
                WatchAction::Start
            } else if args.bool("reload", false) {
                if args.bool("force", false) {
                    WatchAction::ForceReload
                } else {
                    WatchAction::Reload
                }
            } else if args.bool("full_restart", false) && *init != InitSystem::Systemd {
                WatchAction::FullRestart
            } else {
                WatchAction::Restart
            }
        }
        other => {
            return StateResult::fail(name, format!("Unable to trigger watch for service.{other}"))
        }
    };
    let (verb, past) = action.words();
    if ctx.test {
        return StateResult::would(name, format!("Service is set to be {past}"), Map::new());
    }
    let outcome = match action {
        // Salt's service.stop answers a boolean, never an error text
        WatchAction::Stop => init
            .stop(name)
            .map_err(|e| tracing::debug!(error = %e, "service stop failed"))
            .is_ok(),
        other => {
            let done = match other {
                WatchAction::Start => {
                    // Salt stops first, in case a stale instance is half up.
                    let _ = init.stop(name);
                    init.start(name)
                }
                WatchAction::FullRestart => {
                    let _ = init.stop(name);
                    init.start(name)
                }
                WatchAction::Reload => init.reload(name),
                WatchAction::ForceReload => init.force_reload(name),
                _ => init.restart(name),
            };
            match done {
                Ok(()) => true,
                // systemctl's message is the comment, as Salt raises it
                Err(e) if *init == InitSystem::Systemd => return StateResult::fail(name, e),
                Err(e) => {
                    tracing::debug!(error = %e, "service watch action failed");
                    false
                }
            }
        }
    };
    if let Some(d) = init_delay(args) {
        sleep(d);
    }
    let mut ret = if outcome {
        StateResult::ok(name, format!("Service {past}"))
    } else {
        StateResult::fail(name, format!("Failed to {verb} the service"))
    };
    ret.changes.insert(name.to_string(), json!(outcome));
    ret
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::sys::run::Cmd;
    use crate::modules::sys::testutil::{args, system_tests_enabled, unique_name, TestEnv};
    use std::path::{Path, PathBuf};

    /// Stops the test service and removes its script, pidfile and rc links.
    struct ServiceGuard {
        script: PathBuf,
        pidfile: PathBuf,
        name: String,
    }

    impl Drop for ServiceGuard {
        fn drop(&mut self) {
            let _ = Cmd::new(&self.script.to_string_lossy()).arg("stop").run();
            let _ = Cmd::new("update-rc.d")
                .args(["-f", &self.name, "remove"])
                .run();
            let _ = std::fs::remove_file(&self.script);
            let _ = std::fs::remove_file(&self.pidfile);
        }
    }

    fn pid_of(pidfile: &Path) -> Option<String> {
        std::fs::read_to_string(pidfile)
            .ok()
            .map(|p| p.trim().to_string())
    }

    /// An init script in a temp dir that logs each action and keeps its
    /// running state in a file: mod_watch is tested without a real service.
    fn fake_service(dir: &Path, name: &str) -> InitSystem {
        use std::os::unix::fs::PermissionsExt;
        let d = dir.display();
        let body = format!(
            "#!/bin/sh\necho \"$1\" >> {d}/log\n\
             case \"$1\" in\n\
             status) [ -f {d}/up ] ;;\n\
             start|restart|reload|force-reload) touch {d}/up ;;\n\
             stop) rm -f {d}/up ;;\n\
             *) exit 3 ;;\nesac\n"
        );
        let script = dir.join(name);
        std::fs::write(&script, body).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        InitSystem::SysV {
            scripts: dir.into(),
            rc_root: dir.into(),
        }
    }

    fn actions(dir: &Path) -> Vec<String> {
        let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
        let _ = std::fs::remove_file(dir.join("log"));
        log.lines()
            .filter(|l| *l != "status")
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn mod_watch_follows_sfun_reload_force_and_full_restart() {
        let dir = tempfile::TempDir::new().unwrap();
        let init = fake_service(dir.path(), "web");
        let env = TestEnv::new(dir.path().into(), dir.path().into());
        let watch = |test: bool, extra: Value| {
            let a = args("web", extra);
            watch_with(&env.ctx(test), &a, &init)
        };

        let r = watch(false, json!({"sfun": "dead"}));
        assert_eq!(
            (r.result, r.comment.as_str()),
            (Some(true), "Service is already stopped")
        );
        assert!(r.changes.is_empty());

        let r = watch(true, json!({"sfun": "running"}));
        assert_eq!(
            (r.result, r.comment.as_str()),
            (None, "Service is set to be started")
        );
        assert!(actions(dir.path()).is_empty(), "a dry run acted");

        let r = watch(false, json!({"sfun": "running"}));
        assert_eq!(r.comment, "Service started");
        assert_eq!(Value::Object(r.changes), json!({"web": true}));
        assert_eq!(
            actions(dir.path()),
            vec!["stop", "start"],
            "Salt stops before starting"
        );

        let r = watch(false, json!({"sfun": "running"}));
        assert_eq!(r.comment, "Service restarted");
        assert_eq!(actions(dir.path()), vec!["restart"]);

        let r = watch(false, json!({"sfun": "running", "reload": true}));
        assert_eq!(r.comment, "Service reloaded");
        assert_eq!(actions(dir.path()), vec!["reload"]);

        let r = watch(
            true,
            json!({"sfun": "running", "reload": true, "force": true}),
        );
        assert_eq!(r.comment, "Service is set to be forcefully reloaded");
        let r = watch(
            false,
            json!({"sfun": "running", "reload": true, "force": true}),
        );
        assert_eq!(r.comment, "Service forcefully reloaded");
        assert_eq!(actions(dir.path()), vec!["force-reload"]);

        let r = watch(false, json!({"sfun": "running", "full_restart": true}));
        assert_eq!(r.comment, "Service fully restarted");
        assert_eq!(actions(dir.path()), vec!["stop", "start"]);

        let r = watch(false, json!({"sfun": "running", "init_delay": 0.01}));
        assert_eq!(r.comment, "Service restarted");
        actions(dir.path());

        let r = watch(false, json!({"sfun": "dead"}));
        assert_eq!(r.comment, "Service stopped");
        assert_eq!(Value::Object(r.changes), json!({"web": true}));
        assert_eq!(actions(dir.path()), vec!["stop"]);

        let r = watch(false, json!({"sfun": "enabled"}));
        assert_eq!(
            (r.result, r.comment.as_str()),
            (Some(false), "Unable to trigger watch for service.enabled")
        );
    }

    #[test]
    fn mod_watch_reports_a_failed_action() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::TempDir::new().unwrap();
        let script = dir.path().join("broken");
        // runs, but every action fails
        std::fs::write(
            &script,
            "#!/bin/sh\n[ \"$1\" = status ] && exit 0\nexit 1\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let init = InitSystem::SysV {
            scripts: dir.path().into(),
            rc_root: dir.path().into(),
        };
        let env = TestEnv::new(dir.path().into(), dir.path().into());
        let r = watch_with(
            &env.ctx(false),
            &args("broken", json!({"sfun": "running"})),
            &init,
        );
        assert_eq!(
            (r.result, r.comment.as_str()),
            (Some(false), "Failed to restart the service")
        );
        assert_eq!(Value::Object(r.changes), json!({"broken": false}));
        let r = watch_with(
            &env.ctx(false),
            &args("broken", json!({"sfun": "dead"})),
            &init,
        );
        assert_eq!(r.comment, "Failed to stop the service");
    }

    #[test]
    fn missing_service_is_reported_like_salt() {
        let dir = tempfile::TempDir::new().unwrap();
        let init = InitSystem::SysV {
            scripts: dir.path().into(),
            rc_root: dir.path().into(),
        };
        let env = TestEnv::new(dir.path().into(), dir.path().into());
        let a = args("nope", json!({}));
        let r = running_with(&env.ctx(false), &a, &init);
        assert_eq!(
            (r.result, r.comment.as_str()),
            (Some(false), "The named service nope is not available")
        );
        let r = running_with(&env.ctx(true), &a, &init);
        assert_eq!(r.result, None);
        assert_eq!(
            r.comment,
            "Service nope not present; if created in this state run, it would have been started"
        );
        let r = dead_with(&env.ctx(false), &a, &init);
        assert_eq!(r.result, Some(true));
        let r = running_with(
            &env.ctx(false),
            &args("nope", json!({"enabled": true})),
            &init,
        );
        assert!(r
            .comment
            .starts_with("Service option 'enabled' not supported"));
    }

    #[test]
    fn real_init_script_service() {
        if !system_tests_enabled("real_init_script_service") {
            return;
        }
        let init = InitSystem::detect();
        if init == InitSystem::Systemd {
            println!(
                "real_init_script_service: systemd is PID 1, the init-script path is not used here"
            );
            return;
        }
        let name = unique_name("svc");
        let script = PathBuf::from(format!("/etc/init.d/{name}"));
        let pidfile = PathBuf::from(format!("/run/{name}.pid"));
        let _guard = ServiceGuard {
            script: script.clone(),
            pidfile: pidfile.clone(),
            name: name.clone(),
        };
        let body = format!(
            "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: {name}\n# Required-Start:\n# Required-Stop:\n\
             # Default-Start: 2 3 4 5\n# Default-Stop: 0 1 6\n# Short-Description: brine test\n### END INIT INFO\n\
             P={pid}\n\
             case \"$1\" in\n\
             start) start-stop-daemon --start --background --make-pidfile --pidfile $P --exec /bin/sleep -- 1000 ;;\n\
             stop) start-stop-daemon --stop --quiet --oknodo --remove-pidfile --pidfile $P --retry 5 ;;\n\
             restart|reload) $0 stop; $0 start ;;\n\
             status) start-stop-daemon --status --pidfile $P ;;\n\
             *) exit 3 ;;\nesac\n",
            pid = pidfile.display()
        );
        std::fs::write(&script, body).unwrap();
        Cmd::new("chmod")
            .args(["0755", &script.to_string_lossy()])
            .run_ok()
            .unwrap();
        let env = TestEnv::new("/nonexistent".into(), std::env::temp_dir());
        let a = args(&name, json!({}));

        let dry = running(&env.ctx(true), &a);
        assert_eq!(
            (dry.result, dry.comment.clone()),
            (None, format!("Service {name} is set to start"))
        );
        assert!(!init.status(&name, None), "dry run started the service");

        let up = running(&env.ctx(false), &a);
        assert_eq!(up.result, Some(true), "{}", up.comment);
        assert_eq!(up.comment, format!("Started service {name}"));
        assert_eq!(Value::Object(up.changes), json!({name.clone(): true}));
        let first_pid = pid_of(&pidfile).unwrap();

        let again = running(&env.ctx(false), &a);
        assert_eq!(
            again.comment,
            format!("The service {name} is already running")
        );
        assert!(again.changes.is_empty());

        let w = args(&name, json!({"sfun": "running"}));
        let dry = mod_watch(&env.ctx(true), &w);
        assert_eq!(dry.comment, "Service is set to be restarted");
        assert_eq!(pid_of(&pidfile).unwrap(), first_pid);
        let watched = mod_watch(&env.ctx(false), &w);
        assert_eq!(watched.comment, "Service restarted");
        assert_eq!(Value::Object(watched.changes), json!({name.clone(): true}));
        assert_ne!(
            pid_of(&pidfile).unwrap(),
            first_pid,
            "watch did not restart the service"
        );
        assert!(init.status(&name, None));

        let en = running(&env.ctx(false), &args(&name, json!({"enable": true})));
        assert_eq!(en.result, Some(true), "{}", en.comment);
        assert_eq!(
            en.comment,
            format!("Service {name} has been enabled, and is in the desired state")
        );
        assert!(init.enabled(&name));
        let dis = disabled(&env.ctx(false), &a);
        assert_eq!(
            dis.comment,
            format!("Service {name} has been disabled, and is in the desired state")
        );
        assert!(!init.enabled(&name));

        let down = dead(&env.ctx(false), &a);
        assert_eq!(down.comment, format!("Service {name} was killed"));
        assert_eq!(Value::Object(down.changes), json!({name.clone(): false}));
        assert!(!init.status(&name, None));
        assert_eq!(
            dead(&env.ctx(false), &a).comment,
            format!("The service {name} is already dead")
        );
    }
}
