//! `event.*`: sending events to the minion's or master's event bus. Brine has
//! no event bus yet, so every sending function fails with one clear message
//! instead of pretending the event was delivered.

use brine_states::modules::event::EVENTS_UNAVAILABLE;

use crate::registry::{Args, CallCtx, FunctionSpec, ModError, ModFuture};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "event.fire",
        doc: "Fire an event on the minion's local event bus. Not available yet in Brine \
              (no event bus): fails and says so.\n\n\
              - data: the event data (a dict).\n\
              - tag: the event tag.\n\
              - timeout: accepted for Salt compatibility.",
        cli_example: "brine '*' event.fire '{\"data\": \"my event data\"}' 'tag'",
        run: fire,
    },
    FunctionSpec {
        name: "event.fire_master",
        doc: "Fire an event to the master's event bus. Not available yet in Brine (no \
              event bus): fails and says so.\n\n\
              - data: the event data (a dict).\n\
              - tag: the event tag.\n\
              - preload, timeout: accepted for Salt compatibility.",
        cli_example: "brine '*' event.fire_master '{\"data\": \"my event data\"}' 'tag'",
        run: fire_master,
    },
    FunctionSpec {
        name: "event.send",
        doc: "Send an event to the master's event bus (Salt's usual way to fire events \
              from a minion). Not available yet in Brine (no event bus): fails and says so.\n\n\
              - tag: the event tag.\n\
              - data: the event data (a dict).\n\
              - preload, with_env, with_grains, with_pillar, with_env_opts, timeout: \
              accepted for Salt compatibility.",
        cli_example: "brine '*' event.send myco/mytag foo=Foo bar=Bar",
        run: send,
    },
];

/// The refusal every function gives once its arguments are read.
fn unavailable(tag: &str) -> ModError {
    ModError::Failed(format!("Event '{tag}' was not sent: {EVENTS_UNAVAILABLE}"))
}

fn fire(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        a.take("data", 0)?;
        let tag = a.take_str("tag", 1)?;
        a.opt("timeout", 2)?;
        a.finish()?;
        Err(unavailable(&tag))
    })
}

fn fire_master(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        a.take("data", 0)?;
        let tag = a.take_str("tag", 1)?;
        a.opt("preload", 2)?;
        a.opt("timeout", 3)?;
        a.finish()?;
        Err(unavailable(&tag))
    })
}

fn send(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let tag = a.take_str("tag", 0)?;
        // Salt's signature: the rest are keywords (extra ones become data).
        a.rest_kwargs();
        a.finish()?;
        Err(unavailable(&tag))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{test_call, test_ctx};
    use serde_json::json;

    #[tokio::test]
    async fn every_sender_fails_with_the_clear_message() {
        let ctx = test_ctx;
        let e = test_call(
            ctx(),
            send,
            "event.send",
            json!(["my/tag"]),
            json!({"foo": 1}),
        )
        .await
        .unwrap_err();
        assert!(e.contains("events are not available yet in Brine"), "{e}");
        assert!(e.contains("my/tag"));
        let e = test_call(
            ctx(),
            fire_master,
            "event.fire_master",
            json!([{}, "t"]),
            json!({}),
        )
        .await
        .unwrap_err();
        assert!(e.contains("events are not available yet"), "{e}");
        let e = test_call(ctx(), fire, "event.fire", json!([{}, "t"]), json!({}))
            .await
            .unwrap_err();
        assert!(e.contains("events are not available yet"), "{e}");
        // Argument errors still come first.
        let e = test_call(ctx(), fire, "event.fire", json!([{}]), json!({}))
            .await
            .unwrap_err();
        assert!(
            e.contains("missing 1 required positional argument: 'tag'"),
            "{e}"
        );
    }
}
