//! `service.*` (and Salt's module name `systemd_service.*`): start, stop,
//! enable and inspect services through systemd (`systemctl`), or the SysV
//! init scripts on a host not booted with systemd. The logic is shared with
//! the `service.*` states (`brine_states::modules::sys::initsys`).

use serde_json::{json, Map, Value};

use brine_states::modules::sys::initsys::InitSystem;

use crate::registry::{ArgParser, Args, CallCtx, FunctionSpec, ModError, ModFuture, ModOutput};

/// Each function under `service.` and again under `systemd_service.`, the
/// name of Salt's module behind the virtual name `service`.
macro_rules! service_table {
    ($( ($fun:literal, $example:literal, $run:expr, $doc:literal) ),* $(,)?) => {
        pub static FUNCTIONS: &[FunctionSpec] = &[
            $( FunctionSpec {
                name: concat!("service.", $fun),
                doc: $doc,
                cli_example: concat!("brine '*' service.", $fun, $example),
                run: $run,
            }, )*
            $( FunctionSpec {
                name: concat!("systemd_service.", $fun),
                doc: $doc,
                cli_example: concat!("brine '*' systemd_service.", $fun, $example),
                run: $run,
            }, )*
        ];
    };
}

service_table![
    ("available", " sshd", available,
     "Return True when the service exists (a loaded unit, or an init script).\n\n- name: the service."),
    ("disable", " nginx", disable,
     "Disable the service at boot; True when it worked.\n\n- name: the service.\n- no_block: systemctl --no-block."),
    ("disabled", " nginx", disabled,
     "Return True when the service does not start at boot.\n\n- name: the service."),
    ("enable", " nginx", enable,
     "Enable the service at boot; True, or an error with systemctl's message.\n\n\
      - name: the service.\n- no_block: systemctl --no-block.\n- unmask: remove an indefinite mask first.\n\
      - unmask_runtime: remove a runtime mask first."),
    ("enabled", " nginx", enabled,
     "Return True when the service starts at boot.\n\n- name: the service."),
    ("force_reload", " nginx", force_reload,
     "Force-reload the service; True, or an error with the init system's message.\n\n\
      - name: the service.\n- no_block: systemctl --no-block."),
    ("get_all", "", get_all,
     "Return the sorted names of all services (unit files and init scripts)."),
    ("get_disabled", "", get_disabled,
     "Return the sorted names of the services not started at boot."),
    ("get_enabled", "", get_enabled,
     "Return the sorted names of the services started at boot."),
    ("missing", " sshd", missing,
     "Return True when the service does not exist (the inverse of service.available).\n\n- name: the service."),
    ("reload", " nginx", reload,
     "Reload the service; True, or an error with the init system's message.\n\n\
      - name: the service.\n- no_block: systemctl --no-block.\n- unmask, unmask_runtime: remove a mask first."),
    ("restart", " nginx", restart,
     "Restart the service; True, or an error with the init system's message.\n\n\
      - name: the service.\n- no_block: systemctl --no-block.\n- unmask, unmask_runtime: remove a mask first."),
    ("show", " nginx", show,
     "Return the unit's properties (systemctl show) as a dict; systemd only.\n\n- name: the unit."),
    ("start", " nginx", start,
     "Start the service; True, or an error with the init system's message.\n\n\
      - name: the service.\n- no_block: systemctl --no-block.\n- unmask, unmask_runtime: remove a mask first."),
    ("status", " nginx", status,
     "Return True when the service runs; with a glob (ssh*), {service: bool} for each match.\n\n\
      - name: the service or a glob.\n- sig: text to look for in the process list instead."),
    ("stop", " nginx", stop,
     "Stop the service; True when it worked.\n\n- name: the service.\n- no_block: systemctl --no-block."),
];

fn failed(e: String) -> ModError {
    ModError::Failed(e)
}

/// Runs `f` on a blocking thread (the init tools block).
async fn blocking<F>(f: F) -> Result<ModOutput, ModError>
where
    F: FnOnce(&InitSystem) -> Result<Value, String> + Send + 'static,
{
    tokio::task::spawn_blocking(move || f(&InitSystem::detect()))
        .await
        .map_err(|e| ModError::Failed(e.to_string()))?
        .map(Into::into)
        .map_err(failed)
}

/// `name` plus the systemctl switches Salt's functions take.
struct Target {
    name: String,
    no_block: bool,
    unmask: bool,
    unmask_runtime: bool,
}

fn target(mut a: ArgParser, mask_options: bool) -> Result<Target, ModError> {
    let name = a.take_str("name", 0)?;
    let no_block = a.opt_bool("no_block", 1)?.unwrap_or(false);
    let (unmask, unmask_runtime) = if mask_options {
        (
            a.opt_bool("unmask", 2)?.unwrap_or(false),
            a.opt_bool("unmask_runtime", 3)?.unwrap_or(false),
        )
    } else {
        (false, false)
    };
    // Salt's enable/disable/enabled take **kwargs and a root
    a.ignore(&["root"]);
    a.finish()?;
    Ok(Target {
        name,
        no_block,
        unmask,
        unmask_runtime,
    })
}

/// Removes masks before an action when asked (systemd only).
fn unmask(init: &InitSystem, t: &Target) -> Result<(), String> {
    for (wanted, action) in [(t.unmask, "unmask"), (t.unmask_runtime, "unmask --runtime")] {
        if wanted {
            init.require_systemd(&format!("service {action}"))?;
            init.action(&t.name, action, false)
                .map_err(|_| format!("Failed to unmask service '{}'", t.name))?;
        }
    }
    Ok(())
}

/// An action that is True or an error carrying the tool's message.
fn act(args: Args, action: &'static str, mask_options: bool) -> ModFuture {
    Box::pin(async move {
        let t = target(args.parser(), mask_options)?;
        blocking(move |init| {
            unmask(init, &t)?;
            init.action(&t.name, action, t.no_block)?;
            Ok(Value::Bool(true))
        })
        .await
    })
}

fn start(_ctx: CallCtx, args: Args) -> ModFuture {
    act(args, "start", true)
}

fn restart(_ctx: CallCtx, args: Args) -> ModFuture {
    act(args, "restart", true)
}

fn reload(_ctx: CallCtx, args: Args) -> ModFuture {
    act(args, "reload", true)
}

fn force_reload(_ctx: CallCtx, args: Args) -> ModFuture {
    act(args, "force-reload", true)
}

fn stop(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let t = target(args.parser(), false)?;
        // Salt returns whether systemctl succeeded, not its message
        blocking(move |init| {
            Ok(Value::Bool(
                init.action(&t.name, "stop", t.no_block).is_ok(),
            ))
        })
        .await
    })
}

fn enable(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let t = {
            let name = a.take_str("name", 0)?;
            let no_block = a.opt_bool("no_block", 1)?.unwrap_or(false);
            let unmask = a.opt_bool("unmask", 2)?.unwrap_or(false);
            let unmask_runtime = a.opt_bool("unmask_runtime", 3)?.unwrap_or(false);
            a.opt_str("root", 4)?;
            a.rest_kwargs();
            a.finish()?;
            Target {
                name,
                no_block,
                unmask,
                unmask_runtime,
            }
        };
        blocking(move |init| {
            unmask(init, &t)?;
            match init {
                // SysV: Salt returns whether update-rc.d/chkconfig worked
                InitSystem::SysV { .. } => Ok(Value::Bool(init.set_enabled(&t.name, true).is_ok())),
                InitSystem::Systemd => init.set_enabled(&t.name, true).map(|()| Value::Bool(true)),
            }
        })
        .await
    })
}

fn disable(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        a.opt_bool("no_block", 1)?;
        a.opt_str("root", 2)?;
        a.rest_kwargs();
        a.finish()?;
        blocking(move |init| Ok(Value::Bool(init.set_enabled(&name, false).is_ok()))).await
    })
}

/// A yes/no question about one service.
fn ask(args: Args, question: fn(&InitSystem, &str) -> bool) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        a.ignore(&["root"]);
        a.rest_kwargs();
        a.finish()?;
        blocking(move |init| Ok(Value::Bool(question(init, &name)))).await
    })
}

fn enabled(_ctx: CallCtx, args: Args) -> ModFuture {
    ask(args, |init, name| init.enabled(name))
}

fn disabled(_ctx: CallCtx, args: Args) -> ModFuture {
    ask(args, |init, name| !init.enabled(name))
}

fn available(_ctx: CallCtx, args: Args) -> ModFuture {
    ask(args, |init, name| init.available(name))
}

fn missing(_ctx: CallCtx, args: Args) -> ModFuture {
    ask(args, |init, name| !init.available(name))
}

fn status(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        let sig = a.opt_str("sig", 1)?;
        a.finish()?;
        blocking(move |init| {
            if !is_glob(&name) {
                return Ok(Value::Bool(init.status(&name, sig.as_deref())));
            }
            let found: Map<String, Value> = init
                .matching(&name)
                .into_iter()
                .map(|s| {
                    let up = init.status(&s, sig.as_deref());
                    (s, Value::Bool(up))
                })
                .collect();
            Ok(Value::Object(found))
        })
        .await
    })
}

/// Salt's test for a glob in a service name: `*`, `?` or `[...]`.
fn is_glob(name: &str) -> bool {
    name.contains(['*', '?']) || name.find('[').is_some_and(|i| name[i..].contains(']'))
}

/// A list of services.
fn list(args: Args, which: fn(&InitSystem) -> Vec<String>) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        a.opt_str("root", 0)?;
        a.finish()?;
        blocking(move |init| Ok(json!(which(init)))).await
    })
}

fn get_all(_ctx: CallCtx, args: Args) -> ModFuture {
    list(args, InitSystem::get_all)
}

fn get_enabled(_ctx: CallCtx, args: Args) -> ModFuture {
    list(args, |init| init.get_by_boot(true))
}

fn get_disabled(_ctx: CallCtx, args: Args) -> ModFuture {
    list(args, |init| init.get_by_boot(false))
}

fn show(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        a.opt_str("root", 1)?;
        a.finish()?;
        blocking(move |init| init.show(&name).map(Value::Object)).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{test_call, test_ctx};

    #[test]
    fn globs_are_told_apart() {
        assert!(is_glob("ssh*"));
        assert!(is_glob("a?c"));
        assert!(is_glob("cron[12]"));
        assert!(!is_glob("nginx"));
        assert!(!is_glob("x[y"));
    }

    #[test]
    fn both_names_are_registered() {
        for f in ["start", "stop", "show", "get_all"] {
            assert!(crate::registry::lookup(&format!("service.{f}")).is_some());
            assert!(crate::registry::lookup(&format!("systemd_service.{f}")).is_some());
        }
    }

    #[tokio::test]
    async fn arguments_are_checked() {
        let err = test_call(test_ctx(), start, "service.start", json!([]), json!({}))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            "service.start() missing 1 required positional argument: 'name'"
        );
        let err = test_call(
            test_ctx(),
            status,
            "service.status",
            json!(["a", "b", "c"]),
            json!({}),
        )
        .await
        .unwrap_err();
        assert!(
            err.contains("takes from 1 to 2 positional arguments"),
            "{err}"
        );
    }

    /// Against the real host: systemctl when systemd runs, otherwise the
    /// refusal of service.show naming the init system and the SysV answers.
    #[tokio::test]
    async fn real_host_services() {
        if std::env::var("BRINE_SYSTEM_TESTS").ok().as_deref() != Some("1") {
            println!("real_host_services: skipped, set BRINE_SYSTEM_TESTS=1 to run it");
            return;
        }
        let call = |f: crate::registry::ModFn, name: &'static str, arg: Value| {
            test_call(test_ctx(), f, name, arg, json!({}))
        };
        let all = call(get_all, "service.get_all", json!([])).await.unwrap();
        let all: Vec<String> = serde_json::from_value(all).unwrap();
        assert!(!all.is_empty(), "no services at all");
        let missing_name = "brine-no-such-service";
        assert_eq!(
            call(available, "service.available", json!([missing_name]))
                .await
                .unwrap(),
            json!(false)
        );
        assert_eq!(
            call(missing, "service.missing", json!([missing_name]))
                .await
                .unwrap(),
            json!(true)
        );
        assert_eq!(
            call(status, "service.status", json!([missing_name]))
                .await
                .unwrap(),
            json!(false)
        );
        let err = call(start, "service.start", json!([missing_name]))
            .await
            .unwrap_err();
        assert!(!err.is_empty());
        let enabled_list: Vec<String> = serde_json::from_value(
            call(get_enabled, "service.get_enabled", json!([]))
                .await
                .unwrap(),
        )
        .unwrap();
        let disabled_list: Vec<String> = serde_json::from_value(
            call(get_disabled, "service.get_disabled", json!([]))
                .await
                .unwrap(),
        )
        .unwrap();
        assert!(enabled_list.iter().all(|s| !disabled_list.contains(s)));
        let first = all[0].clone();
        let globbed = call(status, "service.status", json!([format!("{first}*")]))
            .await
            .unwrap();
        assert!(globbed.get(&first).is_some(), "{globbed}");
        match InitSystem::detect() {
            InitSystem::Systemd => {
                let props = call(show, "service.show", json!([first])).await.unwrap();
                assert!(props.get("Id").is_some(), "{props}");
            }
            InitSystem::SysV { .. } => {
                let err = call(show, "service.show", json!([first]))
                    .await
                    .unwrap_err();
                assert!(err.contains("not booted with systemd"), "{err}");
                assert!(err.contains("PID 1 is"), "{err}");
            }
        }
    }
}
