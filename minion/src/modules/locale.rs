//! `locale.*`: the system locale, through `localectl` where it answers,
//! else Debian's `/etc/default/locale`; locales generated from
//! `/etc/locale.gen`. Shared with the `locale.*` states
//! (`brine_states::modules::sys::locale`).

use serde_json::{json, Value};

use brine_states::modules::sys::locale::LocaleSettings;

use crate::registry::{Args, CallCtx, FunctionSpec, ModError, ModFuture, ModOutput};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "locale.avail",
        doc: "Return True when the locale is generated (en_US.UTF-8 and en_US.utf8 are the same).\n\n\
              - locale: the locale name.",
        cli_example: "brine '*' locale.avail 'en_US.UTF-8'",
        run: avail,
    },
    FunctionSpec {
        name: "locale.gen_locale",
        doc: "Generate a locale listed in /usr/share/i18n/SUPPORTED (enabled in /etc/locale.gen,\n\
              then locale-gen); True when done.\n\n\
              - locale: the locale, e.g. 'en_US.UTF-8' or 'en_US.UTF-8 UTF-8'.",
        cli_example: "brine '*' locale.gen_locale 'en_US.UTF-8'",
        run: gen_locale,
    },
    FunctionSpec {
        name: "locale.get_locale",
        doc: "Return the system locale (LANG), '' when none is set.",
        cli_example: "brine '*' locale.get_locale",
        run: get_locale,
    },
    FunctionSpec {
        name: "locale.list_avail",
        doc: "Return the generated locales (locale -a).",
        cli_example: "brine '*' locale.list_avail",
        run: list_avail,
    },
    FunctionSpec {
        name: "locale.set_locale",
        doc: "Set the system locale (LANG); True when done.\n\n- locale: the locale name.",
        cli_example: "brine '*' locale.set_locale 'en_US.UTF-8'",
        run: set_locale,
    },
];

async fn blocking<F>(f: F) -> Result<ModOutput, ModError>
where
    F: FnOnce(LocaleSettings) -> Result<Value, String> + Send + 'static,
{
    tokio::task::spawn_blocking(move || f(LocaleSettings::host()))
        .await
        .map_err(|e| ModError::Failed(e.to_string()))?
        .map(Into::into)
        .map_err(ModError::Failed)
}

fn get_locale(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        args.parser().finish()?;
        blocking(|l| l.get_locale().map(Value::String)).await
    })
}

fn list_avail(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        args.parser().finish()?;
        blocking(|l| l.list_avail().map(|v| json!(v))).await
    })
}

/// A function of one `locale` argument.
fn with_locale(args: Args, f: fn(&LocaleSettings, &str) -> Result<Value, String>) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let locale = a.take_str("locale", 0)?;
        a.ignore(&["verbose"]);
        a.finish()?;
        blocking(move |l| f(&l, &locale)).await
    })
}

fn set_locale(_ctx: CallCtx, args: Args) -> ModFuture {
    with_locale(args, |l, name| {
        l.set_locale(name).map(|()| Value::Bool(true))
    })
}

fn avail(_ctx: CallCtx, args: Args) -> ModFuture {
    with_locale(args, |l, name| l.avail(name).map(Value::Bool))
}

fn gen_locale(_ctx: CallCtx, args: Args) -> ModFuture {
    // Salt logs why and returns False
    with_locale(args, |l, name| {
        Ok(Value::Bool(match l.gen_locale(name) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "locale.gen_locale");
                false
            }
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{test_call, test_ctx};

    /// The get functions against the real host (nothing is changed).
    #[tokio::test]
    async fn real_host_locale() {
        if std::env::var("BRINE_SYSTEM_TESTS").ok().as_deref() != Some("1") {
            println!("real_host_locale: skipped, set BRINE_SYSTEM_TESTS=1 to run it");
            return;
        }
        let avail = test_call(
            test_ctx(),
            list_avail,
            "locale.list_avail",
            json!([]),
            json!({}),
        )
        .await
        .unwrap();
        assert!(avail.as_array().unwrap().contains(&json!("C")), "{avail}");
        let c = test_call(
            test_ctx(),
            super::avail,
            "locale.avail",
            json!(["POSIX"]),
            json!({}),
        )
        .await
        .unwrap();
        assert_eq!(c, json!(true));
        let lang = test_call(
            test_ctx(),
            get_locale,
            "locale.get_locale",
            json!([]),
            json!({}),
        )
        .await
        .unwrap();
        assert!(lang.is_string(), "{lang}");
    }
}
