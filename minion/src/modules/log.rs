//! `log.*`: write a message to the minion's log, for templates
//! (`{% do salt['log.info']('rendering ' ~ sls) %}`). Returns True as Salt's
//! `logmod` does.

use serde_json::Value;

use super::data::python_str;
use crate::registry::{Args, CallCtx, FunctionSpec, ModFuture};

macro_rules! level_fn {
    ($fun:ident, $name:literal, $level:ident, $salt_level:literal) => {
        fn $fun(_ctx: CallCtx, args: Args) -> ModFuture {
            Box::pin(async move {
                let mut a = args.parser();
                let message = python_str(&a.take("message", 0)?);
                a.finish()?;
                tracing::$level!(source = "jinja", salt_level = $salt_level, "{message}");
                Ok(Value::Bool(true).into())
            })
        }
    };
}

level_fn!(critical, "log.critical", error, "critical");
level_fn!(debug, "log.debug", debug, "debug");
level_fn!(error, "log.error", error, "error");
level_fn!(exception, "log.exception", error, "exception");
level_fn!(info, "log.info", info, "info");
level_fn!(warning, "log.warning", warn, "warning");

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "log.critical",
        doc: "Log a message at level CRITICAL (an error in Brine's log); returns True.\n\n\
              - message: the text (any value is written as Python's str() of it).",
        cli_example: "brine '*' log.critical 'Please do not do that'",
        run: critical,
    },
    FunctionSpec {
        name: "log.debug",
        doc: "Log a message at level DEBUG; returns True.\n\n\
              - message: the text.",
        cli_example: "brine '*' log.debug 'Please do not do that'",
        run: debug,
    },
    FunctionSpec {
        name: "log.error",
        doc: "Log a message at level ERROR; returns True.\n\n\
              - message: the text.",
        cli_example: "brine '*' log.error 'Please do not do that'",
        run: error,
    },
    FunctionSpec {
        name: "log.exception",
        doc: "Log a message at level EXCEPTION (an error in Brine's log); returns True.\n\n\
              - message: the text.",
        cli_example: "brine '*' log.exception 'Please do not do that'",
        run: exception,
    },
    FunctionSpec {
        name: "log.info",
        doc: "Log a message at level INFO; returns True.\n\n\
              - message: the text.",
        cli_example: "brine '*' log.info 'Please do not do that'",
        run: info,
    },
    FunctionSpec {
        name: "log.warning",
        doc: "Log a message at level WARNING; returns True.\n\n\
              - message: the text.",
        cli_example: "brine '*' log.warning 'Please do not do that'",
        run: warning,
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{test_ctx, with_fun, ModFn};
    use serde_json::json;

    async fn run(f: ModFn, name: &'static str, arg: Vec<Value>) -> Result<Value, String> {
        with_fun(name, f(test_ctx(), Args::new(arg, Default::default())))
            .await
            .map(|o| o.value)
            .map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn every_level_returns_true() {
        for spec in FUNCTIONS {
            assert_eq!(
                run(spec.run, spec.name, vec![json!("hi")]).await,
                Ok(json!(true))
            );
        }
        assert_eq!(
            run(info, "log.info", vec![json!({"a": [1]})]).await,
            Ok(json!(true))
        );
        assert_eq!(
            run(info, "log.info", vec![]).await,
            Err("log.info() missing 1 required positional argument: 'message'".into())
        );
        assert_eq!(
            run(warning, "log.warning", vec![json!("a"), json!("b")]).await,
            Err("log.warning() takes 1 positional argument but 2 were given".into())
        );
    }
}
