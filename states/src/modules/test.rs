//! `test.*` states: fixed outcomes, for trying requisites and outputters.

use serde_json::{json, Map, Value};

use crate::ctx::{StateArgs, StateCtx};
use crate::pyrepr::py_str;
use crate::registry::StateSpec;
use crate::result::StateResult;

pub const STATES: &[StateSpec] = &[
    StateSpec {
        name: "test.configurable_test_state",
        doc: "A state whose changes, result and comment are arguments.\n\nname; changes: True, False or 'Random' (default True); result: True, False or 'Random' (default True); comment; allow_test_mode_failure.",
        run: configurable_test_state,
        mod_watch: Some(mod_watch),
    },
    StateSpec {
        name: "test.fail_with_changes",
        doc: "Fail, reporting a pretend change.\n\nname; comment (default 'Failure!').",
        run: fail_with_changes,
        mod_watch: Some(mod_watch),
    },
    StateSpec {
        name: "test.fail_without_changes",
        doc: "Fail without changes.\n\nname; comment (default 'Failure!').",
        run: fail_without_changes,
        mod_watch: Some(mod_watch),
    },
    StateSpec {
        name: "test.nop",
        doc: "Do nothing, successfully.\n\nname.",
        run: nop,
        mod_watch: Some(mod_watch),
    },
    StateSpec {
        name: "test.show_notification",
        doc: "Succeed with `text` as the comment.\n\nname; text (required).",
        run: show_notification,
        mod_watch: Some(mod_watch),
    },
    StateSpec {
        name: "test.succeed_with_changes",
        doc: "Succeed, reporting a pretend change.\n\nname; comment (default 'Success!').",
        run: succeed_with_changes,
        mod_watch: Some(mod_watch),
    },
    StateSpec {
        name: "test.succeed_without_changes",
        doc: "Succeed without changes.\n\nname; comment (default 'Success!').",
        run: succeed_without_changes,
        mod_watch: Some(mod_watch),
    },
];

fn pretend_change() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "testing".into(),
        json!({"old": "Unchanged", "new": "Something pretended to change"}),
    );
    m
}

fn comment_or(args: &StateArgs, default: &str) -> String {
    args.args
        .get("comment")
        .map_or_else(|| default.to_string(), py_str)
}

pub fn nop(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    succeed_without_changes(
        ctx,
        &StateArgs {
            name: args.name.clone(),
            args: Map::new(),
        },
    )
}

pub fn succeed_without_changes(_ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    StateResult::ok(&args.name, comment_or(args, "Success!"))
}

pub fn fail_without_changes(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let mut ret = StateResult::fail(&args.name, comment_or(args, "Failure!"));
    if ctx.test {
        ret.comment = "If we weren't testing, this would be a failure!".into();
    }
    ret
}

pub fn succeed_with_changes(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let mut ret = StateResult::ok(&args.name, comment_or(args, "Success!"));
    ret.changes = pretend_change();
    if ctx.test {
        ret.result = None;
        ret.comment = "If we weren't testing, this would be successful with changes".into();
    }
    ret
}

pub fn fail_with_changes(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let mut ret = StateResult::fail(&args.name, comment_or(args, "Failure!"));
    ret.changes = pretend_change();
    if ctx.test {
        ret.result = None;
        ret.comment = "If we weren't testing, this would be failed with changes".into();
    }
    ret
}

/// A pseudo-random bit without a crate (Salt's `random.choice`).
fn coin() -> bool {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() & 1 == 1)
        .unwrap_or(false)
}

pub fn configurable_test_state(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let comment = args.args.get("comment").map(py_str).unwrap_or_default();
    let mut ret = StateResult::fail(&args.name, comment.clone());
    let changes = args
        .args
        .get("changes")
        .cloned()
        .unwrap_or(Value::Bool(true));
    match &changes {
        Value::Bool(true) => ret.changes = pretend_change(),
        Value::Bool(false) => {}
        other if py_str(other).to_lowercase() == "random" => {
            if coin() {
                ret.changes = pretend_change();
            }
        }
        _ => {
            return StateResult::fail(
                &args.name,
                "An exception occurred in this state: You have specified the state option 'changes' with invalid arguments. It must be either True, False, or 'Random'",
            )
        }
    }
    let result = args
        .args
        .get("result")
        .cloned()
        .unwrap_or(Value::Bool(true));
    match &result {
        Value::Bool(b) => ret.result = Some(*b),
        other if py_str(other).to_lowercase() == "random" => ret.result = Some(coin()),
        _ => {
            return StateResult::fail(
                &args.name,
                "An exception occurred in this state: You have specified the state option 'result' with invalid arguments. It must be either True, False, or 'Random'",
            )
        }
    }
    // FIXME: Salt also reports `warnings` (a list) in the result; the
    // StateResult contract has no field for them.
    if ctx.test {
        let allow_failure = args.bool("allow_test_mode_failure", false);
        ret.result = if allow_failure && result == Value::Bool(false) {
            Some(false)
        } else if changes == Value::Bool(false) {
            Some(true)
        } else {
            None
        };
        ret.comment = if comment.is_empty() {
            "This is a test".into()
        } else {
            comment
        };
    }
    ret
}

pub fn show_notification(_ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    match args
        .args
        .get("text")
        .filter(|t| crate::high::graph::truthy(t))
    {
        Some(text) => StateResult::ok(&args.name, py_str(text)),
        None => StateResult::fail(
            &args.name,
            "An exception occurred in this state: Missing required argument text.",
        ),
    }
}

/// A fired watch: lists the watched states that changed. The runtime
/// passes them as `__reqs__` (`{"watch": [{"state", "__id__", "changes"}]}`).
pub fn mod_watch(_ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let mut has_changes = Vec::new();
    if let Some(Value::Array(watch)) = args.args.get("__reqs__").and_then(|r| r.get("watch")) {
        for req in watch {
            if req.get("changes").is_some_and(crate::high::graph::truthy) {
                let s = |k: &str| req.get(k).map(py_str).unwrap_or_default();
                has_changes.push(Value::String(format!("{}: {}", s("state"), s("__id__"))));
            }
        }
    }
    let mut ret = StateResult::new(&args.name);
    ret.result = match args.args.get("result") {
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::Null) => None,
        _ => Some(true),
    };
    ret.comment = args
        .args
        .get("comment")
        .map_or_else(|| "Watch statement fired.".to_string(), py_str);
    ret.changes = match args.args.get("changes") {
        Some(Value::Object(m)) => m.clone(),
        _ => {
            let mut m = Map::new();
            m.insert("Requisites with changes".into(), Value::Array(has_changes));
            m
        }
    };
    ret
}
