//! `event.send` and `event.wait`: Salt's event states. `event.send` fires
//! through the minion's `event.send` execution function, so the event goes
//! to every master the minion is connected to.

use serde_json::{Map, Value};

use crate::ctx::{StateArgs, StateCtx};
use crate::registry::StateSpec;
use crate::result::StateResult;

pub const STATES: &[StateSpec] = &[
    StateSpec {
        name: "event.send",
        doc: "Send an event to the masters' event buses (through the event.send \
              execution function).\n\n\
              name: the event tag\n\
              data: a dict sent as the event's data\n\
              with_env, with_grains, with_pillar: add the environment, grains or pillar \
              (True, or a list of keys)\n\
              show_changed: report the tag and data as changes (default True)\n\
              preload: accepted for Salt compatibility",
        run: send,
        mod_watch: Some(send),
    },
    StateSpec {
        name: "event.wait",
        doc: "Fire an event only when watched states changed (its mod_watch is \
              event.send); on its own it does nothing.\n\n\
              name: the event tag\n\
              data, with_env, with_grains, with_pillar, show_changed: as event.send",
        run: wait,
        mod_watch: Some(send),
    },
];

fn send(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = &args.name;
    let data = args.get("data").cloned().unwrap_or(Value::Null);
    let mut changes = Map::new();
    if args.bool("show_changed", true) {
        changes.insert("tag".into(), Value::String(name.clone()));
        changes.insert("data".into(), data.clone());
    }
    if ctx.test {
        return StateResult::would(name, "Event would have been fired", changes);
    }
    let mut kwargs = Map::new();
    kwargs.insert("data".into(), data);
    for key in ["with_env", "with_grains", "with_pillar"] {
        if let Some(v) = args.get(key) {
            kwargs.insert(key.into(), v.clone());
        }
    }
    match ctx
        .caller
        .call("event.send", vec![Value::String(name.clone())], kwargs)
    {
        Ok(_) => StateResult {
            changes,
            ..StateResult::ok(name, "Event fired")
        },
        Err(error) => StateResult::fail(name, error.to_string()),
    }
}

fn wait(_ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    StateResult::ok(&args.name, "")
}

#[cfg(test)]
mod tests {
    use crate::modules::file::testkit::Kit;
    use serde_json::json;

    #[test]
    fn send_previews_under_test_and_fails_without_a_master() {
        let r = Kit::new().run("event.send", "my/tag", json!({"data": {"a": 1}}), true);
        assert_eq!(r.result, None);
        assert_eq!(r.comment, "Event would have been fired");
        assert_eq!(r.changes["tag"], json!("my/tag"));
        assert_eq!(r.changes["data"], json!({"a": 1}));
        // The test kit has no execution functions: the failure says why.
        let r = Kit::new().run("event.send", "my/tag", json!({"data": {"a": 1}}), false);
        assert_eq!(r.result, Some(false));
        assert!(r.comment.contains("event.send"), "{}", r.comment);
    }
}
