//! `alternatives.*`: Debian's alternatives system, read-only.

use serde_json::Value;

use crate::registry::{Args, CallCtx, FunctionSpec, ModFuture};

pub static FUNCTIONS: &[FunctionSpec] = &[FunctionSpec {
    name: "alternatives.show_current",
    doc: "Return the path an alternative currently points to (the target of\n\
          /etc/alternatives/NAME), or False when it is not set.\n\n\
          - name: the alternative, e.g. editor.",
    cli_example: "brine '*' alternatives.show_current editor",
    run: show_current,
}];

/// Where the alternatives' links live (`/etc/alternatives` on Debian and
/// Red Hat alike).
const ALTERNATIVES_DIR: &str = "/etc/alternatives";

fn show_current(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        a.finish()?;
        let link = std::path::Path::new(ALTERNATIVES_DIR).join(&name);
        Ok(match std::fs::read_link(&link) {
            Ok(target) => Value::String(target.display().to_string()),
            Err(e) => {
                // Salt logs the OSError and returns False
                tracing::error!(alternative = %name, error = %e, "alternatives.show_current");
                Value::Bool(false)
            }
        }
        .into())
    })
}
