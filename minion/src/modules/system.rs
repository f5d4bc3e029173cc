//! `system.*`: reboot, shut down, halt or power off the host. Unlike Salt,
//! each function requires an explicit time (`at_time`, `in_seconds`) or
//! `force=True`, so `brine '*' system.reboot` typed by mistake is refused
//! instead of taking the fleet down. The command lines are built in
//! `brine_states::modules::sys::power`.

use serde_json::Value;

use brine_states::modules::sys::power::{plan, PowerAction, When};

use crate::registry::{Args, CallCtx, FunctionSpec, ModError, ModFuture};

macro_rules! power_doc {
    ($what:literal) => {
        concat!(
            $what,
            "; returns what the command printed. One of the arguments is required:\n\
             a call without them is refused.\n\n\
             - at_time: minutes from now (as Salt), or 'hh:mm', '+minutes', 'now'.\n\
             - in_seconds: seconds from now, rounded up to whole minutes.\n\
             - force: True to do it now."
        )
    };
}

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "system.halt",
        doc: power_doc!("Halt the system"),
        cli_example: "brine '*' system.halt force=True",
        run: halt,
    },
    FunctionSpec {
        name: "system.poweroff",
        doc: power_doc!("Power the system off"),
        cli_example: "brine '*' system.poweroff at_time=5",
        run: poweroff,
    },
    FunctionSpec {
        name: "system.reboot",
        doc: power_doc!("Reboot the system"),
        cli_example: "brine '*' system.reboot at_time=5\nbrine '*' system.reboot force=True",
        run: reboot,
    },
    FunctionSpec {
        name: "system.shutdown",
        doc: power_doc!("Shut the system down"),
        cli_example: "brine '*' system.shutdown in_seconds=120",
        run: shutdown,
    },
];

/// The arguments every power function takes.
fn when(args: Args) -> Result<When, ModError> {
    let mut a = args.parser();
    let at_time = a.opt_str("at_time", 0)?;
    let in_seconds = a.kw_i64("in_seconds")?;
    let force = a.kw_bool("force")?.unwrap_or(false);
    a.finish()?;
    Ok(When {
        at_time,
        in_seconds,
        force,
    })
}

fn power(args: Args, action: PowerAction) -> ModFuture {
    Box::pin(async move {
        let when = when(args)?;
        let cmd = plan(action, &when).map_err(ModError::BadArguments)?;
        let out = tokio::task::spawn_blocking(move || cmd.run())
            .await
            .map_err(|e| ModError::Failed(e.to_string()))?
            .map_err(ModError::Failed)?;
        let text = format!("{}{}", out.stdout, out.stderr).trim().to_string();
        if out.success() {
            Ok(Value::String(text).into())
        } else {
            Err(ModError::Failed(out.error_text()))
        }
    })
}

fn reboot(_ctx: CallCtx, args: Args) -> ModFuture {
    power(args, PowerAction::Reboot)
}

fn shutdown(_ctx: CallCtx, args: Args) -> ModFuture {
    power(args, PowerAction::Shutdown)
}

fn halt(_ctx: CallCtx, args: Args) -> ModFuture {
    power(args, PowerAction::Halt)
}

fn poweroff(_ctx: CallCtx, args: Args) -> ModFuture {
    power(args, PowerAction::Poweroff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{test_call, test_ctx};
    use serde_json::json;

    /// Only refusals are exercised: a call that passes would really run.
    #[tokio::test]
    async fn calls_without_a_time_are_refused() {
        for (f, name) in [
            (reboot as crate::registry::ModFn, "system.reboot"),
            (shutdown, "system.shutdown"),
            (halt, "system.halt"),
            (poweroff, "system.poweroff"),
        ] {
            let err = test_call(test_ctx(), f, name, json!([]), json!({}))
                .await
                .unwrap_err();
            assert!(
                err.starts_with(&format!("{name} refused: say when")),
                "{err}"
            );
            assert!(err.contains("at_time=MINUTES"), "{err}");
            let err = test_call(test_ctx(), f, name, json!([]), json!({"force": false}))
                .await
                .unwrap_err();
            assert!(err.contains("refused"), "{err}");
            let err = test_call(test_ctx(), f, name, json!(["soon"]), json!({}))
                .await
                .unwrap_err();
            assert!(err.contains("at_time 'soon' is not minutes"), "{err}");
            let err = test_call(
                test_ctx(),
                f,
                name,
                json!([]),
                json!({"at_time": 1, "in_seconds": 60}),
            )
            .await
            .unwrap_err();
            assert!(err.contains("not both"), "{err}");
        }
    }
}
