//! `event.send`: firing an event on the minion's event bus. Brine has no
//! event bus yet, so the state fails and says so rather than pretending the
//! event went somewhere; the `fire_event` runtime argument reports the same.

use crate::ctx::{StateArgs, StateCtx};
use crate::registry::StateSpec;
use crate::result::StateResult;

/// The one explanation every event entry point gives (states, the
/// `fire_event` argument, `event.*` execution functions).
pub const EVENTS_UNAVAILABLE: &str = "events are not available yet in Brine: there is no \
event bus to send to (a later release adds one); nothing was sent";

pub const STATES: &[StateSpec] = &[StateSpec {
    name: "event.send",
    doc: "Send an event to the Salt event bus. Not available yet in Brine (no event bus): \
          the state fails and says so, it never drops the event silently.\n\n\
          name: the event tag\n\
          data, preload, with_env, with_grains, with_pillar, show_changed: as in Salt",
    run: send,
    mod_watch: Some(send),
}];

fn send(_ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    StateResult::fail(
        &args.name,
        format!("Event '{}' was not sent: {EVENTS_UNAVAILABLE}", args.name),
    )
}

#[cfg(test)]
mod tests {
    use crate::modules::file::testkit::Kit;
    use serde_json::json;

    #[test]
    fn send_fails_and_says_why() {
        let r = Kit::new().run("event.send", "my/tag", json!({"data": {"a": 1}}), false);
        assert_eq!(r.result, Some(false));
        assert!(r.comment.contains("events are not available yet in Brine"));
        assert!(r.comment.contains("my/tag"));
    }
}
