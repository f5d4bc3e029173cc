//! `test.*`: Salt's module for checking that minions answer and that
//! arguments and retcodes travel as expected.

use std::time::Duration;

use serde_json::{json, Value};

use crate::registry::{as_f64, Args, CallCtx, FunctionSpec, ModError, ModFuture, ModOutput};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "test.arg",
        doc: "Return the positional and keyword arguments as received: {\"args\": [...], \"kwargs\": {...}}.\n\n\
              Shows how the command line was read (numbers, booleans, lists and dicts are typed as YAML).",
        cli_example: "brine '*' test.arg 1 \"two\" 3.1 txt=\"hello\" wow='{a: 1, b: \"hello\"}'",
        run: arg,
    },
    FunctionSpec {
        name: "test.echo",
        doc: "Return the value passed, unchanged.\n\n\
              - text: the value to return.",
        cli_example: "brine '*' test.echo 'foo bar baz quo qux'",
        run: echo,
    },
    FunctionSpec {
        name: "test.exception",
        doc: "Fail on purpose with the given message (to test error handling).\n\n\
              - message: the error text (default 'Test Exception').",
        cli_example: "brine '*' test.exception 'Oh noes!'",
        run: exception,
    },
    FunctionSpec {
        name: "test.false",
        doc: "Always return False, with retcode 1 (so the CLI exits 11).",
        cli_example: "brine '*' test.false",
        run: false_,
    },
    FunctionSpec {
        name: "test.kwarg",
        doc: "Return the keyword arguments as received.",
        cli_example: "brine '*' test.kwarg num=1 txt=\"two\" env='{a: 1, b: \"hello\"}'",
        run: kwarg,
    },
    FunctionSpec {
        name: "test.outputter",
        doc: "Return the data passed, to try the outputters (--out) on it.\n\n\
              - data: any value.",
        cli_example: "brine '*' test.outputter foobar",
        run: outputter,
    },
    FunctionSpec {
        name: "test.ping",
        doc: "Return True: the minion is up and answering. Not an ICMP ping.",
        cli_example: "brine '*' test.ping",
        run: ping,
    },
    FunctionSpec {
        name: "test.rand_sleep",
        doc: "Sleep a random whole number of seconds between 0 and max, then return True.\n\n\
              - max: the longest sleep in seconds (default 60).",
        cli_example: "brine '*' test.rand_sleep 60",
        run: rand_sleep,
    },
    FunctionSpec {
        name: "test.retcode",
        doc: "Return True with the given retcode, to test the return code system.\n\n\
              - code: the retcode to report (default 42).",
        cli_example: "brine '*' test.retcode 42",
        run: retcode,
    },
    FunctionSpec {
        name: "test.sleep",
        doc: "Sleep for the given number of seconds, then return True. Other jobs run meanwhile.\n\n\
              - length: seconds to sleep (fractions allowed).",
        cli_example: "brine '*' test.sleep 20",
        run: sleep,
    },
    FunctionSpec {
        name: "test.true",
        doc: "Always return True.",
        cli_example: "brine '*' test.true",
        run: true_,
    },
    FunctionSpec {
        name: "test.version",
        doc: "Return the version of Brine on the minion.",
        cli_example: "brine '*' test.version",
        run: version,
    },
];

fn no_args(args: Args, value: Value) -> ModFuture {
    Box::pin(async move {
        args.parser().finish()?;
        Ok(value.into())
    })
}

fn ping(_ctx: CallCtx, args: Args) -> ModFuture {
    no_args(args, Value::Bool(true))
}

fn true_(_ctx: CallCtx, args: Args) -> ModFuture {
    no_args(args, Value::Bool(true))
}

fn false_(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        args.parser().finish()?;
        // Salt's CLI counts a bare False as a failure; say so in the retcode.
        Ok(ModOutput {
            value: Value::Bool(false),
            retcode: 1,
        })
    })
}

fn version(_ctx: CallCtx, args: Args) -> ModFuture {
    no_args(args, Value::String(env!("CARGO_PKG_VERSION").to_string()))
}

fn echo(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let text = a.take("text", 0)?;
        a.finish()?;
        Ok(text.into())
    })
}

fn outputter(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let data = a.take("data", 0)?;
        a.finish()?;
        Ok(data.into())
    })
}

fn arg(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let positional = a.rest(0);
        let keywords = a.rest_kwargs();
        a.finish()?;
        Ok(json!({"args": positional, "kwargs": keywords}).into())
    })
}

fn kwarg(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let keywords = a.rest_kwargs();
        a.finish()?;
        Ok(Value::Object(keywords).into())
    })
}

fn sleep_seconds(secs: f64) -> Result<Duration, ModError> {
    if !(0.0..=1.0e9).contains(&secs) {
        return Err(ModError::BadArguments(format!(
            "argument 'length' must be a number of seconds, not {secs}"
        )));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn sleep(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let length = as_f64("length", &a.take("length", 0)?)?;
        a.finish()?;
        tokio::time::sleep(sleep_seconds(length)?).await;
        Ok(Value::Bool(true).into())
    })
}

fn rand_sleep(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let max = a.opt_i64("max", 0)?.unwrap_or(60).max(0) as u64;
        a.finish()?;
        let secs = fastrand::u64(0..=max);
        tokio::time::sleep(sleep_seconds(secs as f64)?).await;
        Ok(Value::Bool(true).into())
    })
}

fn retcode(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let code = a.opt_i64("code", 0)?.unwrap_or(42);
        a.finish()?;
        let code = i32::try_from(code)
            .map_err(|_| ModError::BadArguments(format!("retcode {code} is out of range")))?;
        Ok(ModOutput {
            value: Value::Bool(true),
            retcode: code,
        })
    })
}

fn exception(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let message = a
            .opt_str("message", 0)?
            .unwrap_or_else(|| "Test Exception".into());
        a.finish()?;
        Err(ModError::Failed(message))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::with_fun;
    use serde_json::Map;

    async fn call(
        f: crate::registry::ModFn,
        name: &'static str,
        arg: Vec<Value>,
        kwarg: Value,
    ) -> Result<ModOutput, ModError> {
        let ctx = crate::registry::test_ctx();
        let kwarg: Map<String, Value> = kwarg.as_object().cloned().unwrap_or_default();
        with_fun(name, f(ctx, Args::new(arg, kwarg))).await
    }

    #[tokio::test]
    async fn arg_echoes_what_came_in() {
        let out = call(
            arg,
            "test.arg",
            vec![json!(1), json!("two")],
            json!({"txt": "hello"}),
        )
        .await
        .unwrap();
        assert_eq!(
            out.value,
            json!({"args": [1, "two"], "kwargs": {"txt": "hello"}})
        );
    }

    #[tokio::test]
    async fn sleep_accepts_strings_and_fractions() {
        let t = std::time::Instant::now();
        let out = call(sleep, "test.sleep", vec![json!("0.05")], json!({}))
            .await
            .unwrap();
        assert_eq!(out.value, json!(true));
        assert!(t.elapsed() >= Duration::from_millis(50));
        let err = call(sleep, "test.sleep", vec![json!("soon")], json!({}))
            .await
            .err()
            .unwrap();
        assert!(matches!(err, ModError::BadArguments(_)));
        assert!(call(sleep, "test.sleep", vec![json!(-1)], json!({}))
            .await
            .is_err());
    }

    #[tokio::test]
    async fn retcode_defaults_to_42_like_salt() {
        let out = call(retcode, "test.retcode", vec![], json!({}))
            .await
            .unwrap();
        assert_eq!((out.value, out.retcode), (json!(true), 42));
        let out = call(retcode, "test.retcode", vec![], json!({"code": "0"}))
            .await
            .unwrap();
        assert_eq!(out.retcode, 0);
    }

    #[tokio::test]
    async fn version_and_ping_take_no_arguments() {
        let out = call(version, "test.version", vec![], json!({}))
            .await
            .unwrap();
        assert_eq!(out.value, json!(env!("CARGO_PKG_VERSION")));
        let err = call(ping, "test.ping", vec![json!(1)], json!({}))
            .await
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "test.ping() takes 0 positional arguments but 1 was given"
        );
    }
}
