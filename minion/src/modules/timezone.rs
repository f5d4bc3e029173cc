//! `timezone.*`: the system time zone and hardware clock, through
//! `timedatectl` where it answers, else Debian's files (`/etc/timezone`,
//! the `/etc/localtime` link, `/etc/adjtime`). Shared with the
//! `timezone.system` state (`brine_states::modules::sys::timezone`).

use serde_json::Value;

use brine_states::modules::sys::timezone::{date, TimeSettings};

use crate::registry::{Args, CallCtx, FunctionSpec, ModError, ModFuture, ModOutput};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "timezone.get_hwclock",
        doc: "Return whether the hardware clock keeps 'UTC' or 'localtime'.",
        cli_example: "brine '*' timezone.get_hwclock",
        run: get_hwclock,
    },
    FunctionSpec {
        name: "timezone.get_offset",
        doc: "Return the current offset from UTC, e.g. '+0100'.",
        cli_example: "brine '*' timezone.get_offset",
        run: get_offset,
    },
    FunctionSpec {
        name: "timezone.get_zone",
        doc: "Return the system time zone, e.g. 'Europe/Paris'.",
        cli_example: "brine '*' timezone.get_zone",
        run: get_zone,
    },
    FunctionSpec {
        name: "timezone.get_zonecode",
        doc: "Return the current zone abbreviation, e.g. 'CET'.",
        cli_example: "brine '*' timezone.get_zonecode",
        run: get_zonecode,
    },
    FunctionSpec {
        name: "timezone.set_hwclock",
        doc: "Set whether the hardware clock keeps UTC or local time; True when done.\n\n\
              - hwclock: 'UTC' or 'localtime'.",
        cli_example: "brine '*' timezone.set_hwclock UTC",
        run: set_hwclock,
    },
    FunctionSpec {
        name: "timezone.set_zone",
        doc: "Set the system time zone; True when done.\n\n\
              - timezone: a zone under /usr/share/zoneinfo, e.g. 'America/Denver'.",
        cli_example: "brine '*' timezone.set_zone 'America/Denver'",
        run: set_zone,
    },
    FunctionSpec {
        name: "timezone.zone_compare",
        doc: "Return True when /etc/localtime holds the given zone's data.\n\n\
              - timezone: the zone to compare with.",
        cli_example: "brine '*' timezone.zone_compare 'America/Denver'",
        run: zone_compare,
    },
];

async fn blocking<F>(f: F) -> Result<ModOutput, ModError>
where
    F: FnOnce(TimeSettings) -> Result<Value, String> + Send + 'static,
{
    tokio::task::spawn_blocking(move || f(TimeSettings::host()))
        .await
        .map_err(|e| ModError::Failed(e.to_string()))?
        .map(Into::into)
        .map_err(ModError::Failed)
}

fn no_args(args: Args) -> Result<(), ModError> {
    args.parser().finish()
}

fn get_zone(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        no_args(args)?;
        blocking(|t| t.get_zone().map(Value::String)).await
    })
}

fn get_hwclock(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        no_args(args)?;
        blocking(|t| t.get_hwclock().map(Value::String)).await
    })
}

fn get_offset(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        no_args(args)?;
        blocking(|_| date("%z").map(Value::String)).await
    })
}

fn get_zonecode(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        no_args(args)?;
        blocking(|_| date("%Z").map(Value::String)).await
    })
}

fn set_zone(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let zone = a.take_str("timezone", 0)?;
        a.finish()?;
        blocking(move |t| t.set_zone(&zone).map(|()| Value::Bool(true))).await
    })
}

fn set_hwclock(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let clock = a.take_str("hwclock", 0)?;
        a.finish()?;
        blocking(move |t| t.set_hwclock(&clock).map(|()| Value::Bool(true))).await
    })
}

fn zone_compare(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let zone = a.take_str("timezone", 0)?;
        a.finish()?;
        blocking(move |t| t.zone_compare(&zone).map(Value::Bool)).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{test_call, test_ctx};
    use serde_json::json;

    /// The get functions against the real host (nothing is changed).
    #[tokio::test]
    async fn real_host_time_settings() {
        if std::env::var("BRINE_SYSTEM_TESTS").ok().as_deref() != Some("1") {
            println!("real_host_time_settings: skipped, set BRINE_SYSTEM_TESTS=1 to run it");
            return;
        }
        let zone = test_call(
            test_ctx(),
            get_zone,
            "timezone.get_zone",
            json!([]),
            json!({}),
        )
        .await
        .unwrap();
        let zone = zone.as_str().unwrap().to_string();
        assert!(!zone.is_empty());
        let same = test_call(
            test_ctx(),
            zone_compare,
            "timezone.zone_compare",
            json!([zone]),
            json!({}),
        )
        .await
        .unwrap();
        assert_eq!(
            same,
            json!(true),
            "the host's zone file differs from /etc/localtime"
        );
        let clock = test_call(
            test_ctx(),
            get_hwclock,
            "timezone.get_hwclock",
            json!([]),
            json!({}),
        )
        .await
        .unwrap();
        assert!(
            clock == json!("UTC") || clock == json!("localtime"),
            "{clock}"
        );
        let offset = test_call(
            test_ctx(),
            get_offset,
            "timezone.get_offset",
            json!([]),
            json!({}),
        )
        .await
        .unwrap();
        assert!(offset.as_str().is_some_and(|o| o.len() == 5), "{offset}");
        let err = test_call(
            test_ctx(),
            set_zone,
            "timezone.set_zone",
            json!(["Mars/Olympus"]),
            json!({}),
        )
        .await
        .unwrap_err();
        assert_eq!(err, "'Mars/Olympus' is not a valid time zone");
    }
}
