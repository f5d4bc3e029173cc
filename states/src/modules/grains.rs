//! `grains.present`, `grains.list_present`, `grains.absent`: static grains
//! kept in the minion's grains file (`<config dir>/grains`, Salt's
//! `/etc/salt/grains`). As in Salt, the states go through the `grains.*`
//! execution functions, which write the file and update the running grains
//! at once, so later states, templates and targeting see the new value.

use serde_json::{Map, Value};

use crate::caller::CallError;
use crate::ctx::{StateArgs, StateCtx};
use crate::pyrepr::py_str;
use crate::registry::StateSpec;
use crate::result::StateResult;

pub const STATES: &[StateSpec] = &[
    StateSpec {
        name: "grains.absent",
        doc: "Delete a grain's value (set it to None), or the grain itself with \
              destructive: True.\n\n\
              name: the grain; nested keys joined with the delimiter\n\
              destructive: remove the key instead of setting None (default False)\n\
              delimiter: separator of nested keys (default ':')\n\
              force: replace a dict or list value (default False)",
        run: absent,
        mod_watch: None,
    },
    StateSpec {
        name: "grains.list_present",
        doc: "Make sure a value (or every value of a list) is in a list grain, appending \
              it when missing.\n\n\
              name: the grain; nested keys joined with the delimiter\n\
              value: a value or a list of values\n\
              delimiter: separator of nested keys (default ':')",
        run: list_present,
        mod_watch: None,
    },
    StateSpec {
        name: "grains.present",
        doc: "Make sure a grain has a value, in the grains file and the running grains.\n\n\
              name: the grain; nested keys joined with the delimiter\n\
              value: any value (string, number, list, dict)\n\
              delimiter: separator of nested keys (default ':')\n\
              force: replace an existing dict or list value, or a non-dict on the way to \
              a nested key (default False)",
        run: present,
        mod_watch: None,
    },
];

/// Salt's default nesting delimiter.
const DELIM: &str = ":";

/// The grain name with the state's delimiter replaced by `:` (Salt's
/// `re.sub(delimiter, DEFAULT_TARGET_DELIM, name)`).
fn grain_name(args: &StateArgs) -> String {
    match args.str("delimiter") {
        Some(d) if !d.is_empty() && d != DELIM => args.name.replace(&d, DELIM),
        _ => args.name.clone(),
    }
}

/// The running grains now (not the snapshot the run started with: an
/// earlier state may have changed them).
fn current(ctx: &StateCtx<'_>) -> Result<Map<String, Value>, String> {
    match ctx.caller.call("grains.items", Vec::new(), Map::new()) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(format!("grains.items returned {}", py_str(&other))),
        Err(e) => Err(call_error(e)),
    }
}

fn call_error(e: CallError) -> String {
    match e {
        CallError::Unknown(f) => format!("{f} is not available on this minion"),
        CallError::Failed(m) => m,
    }
}

/// The value at a `:`-nested key; `None` when absent.
fn lookup<'a>(grains: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    let mut parts = key.split(DELIM);
    let mut at = grains.get(parts.next()?)?;
    for p in parts {
        at = at.as_object()?.get(p)?;
    }
    Some(at)
}

/// What to do with the grain at a nested key.
enum Edit {
    Set(Value),
    /// Salt's `destructive`: remove the key.
    Delete,
}

/// Salt's `grains.set`: sets (or deletes) a possibly nested grain by
/// rebuilding its top-level grain, then saves that top-level grain with
/// `grains.setval` / `grains.delkey`. Refuses to replace a dict or list, or
/// to nest under a non-dict, without `force`.
fn set_grain(
    ctx: &StateCtx<'_>,
    grains: &Map<String, Value>,
    key: &str,
    edit: Edit,
    force: bool,
) -> Result<(), String> {
    let parts: Vec<&str> = key.split(DELIM).collect();
    if let (Some(existing), Edit::Set(new)) = (lookup(grains, key), &edit) {
        if (existing.is_object() || existing.is_array()) && existing != new && !force {
            return Err(format!(
                "The key '{key}' exists and the given value is a dict or a list. \
                 Use 'force=True' to overwrite."
            ));
        }
    }
    let top = parts[0];
    if parts.len() == 1 {
        return match edit {
            Edit::Set(v) => call(ctx, "grains.setval", vec![top.into(), v]),
            Edit::Delete => call(ctx, "grains.delkey", vec![top.into()]),
        };
    }
    // Walk down, creating dicts; a non-dict on the way needs force.
    let mut root = grains
        .get(top)
        .cloned()
        .unwrap_or(Value::Object(Map::new()));
    let mut at = &mut root;
    for (i, p) in parts[1..].iter().enumerate() {
        if !at.is_object() {
            if !force {
                let path = parts[..=i].join(DELIM);
                return Err(format!(
                    "The key '{path}' exists but is not a dict. Use 'force=True' to overwrite."
                ));
            }
            *at = Value::Object(Map::new());
        }
        let map = at.as_object_mut().unwrap_or_else(|| unreachable!());
        if i == parts.len() - 2 {
            match edit {
                Edit::Set(v) => {
                    map.insert(p.to_string(), v);
                }
                Edit::Delete => {
                    map.remove(*p);
                }
            }
            break;
        }
        at = map
            .entry(p.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    call(ctx, "grains.setval", vec![top.into(), root])
}

fn call(ctx: &StateCtx<'_>, fun: &str, args: Vec<Value>) -> Result<(), String> {
    ctx.caller
        .call(fun, args, Map::new())
        .map(drop)
        .map_err(call_error)
}

fn present(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = grain_name(args);
    let value = args.args.get("value").cloned().unwrap_or(Value::Null);
    let grains = match current(ctx) {
        Ok(g) => g,
        Err(e) => return StateResult::fail(&name, e),
    };
    let existing = lookup(&grains, &name);
    if existing == Some(&value) {
        return StateResult::ok(&name, "Grain is already set");
    }
    if ctx.test {
        let mut changes = Map::new();
        let comment = match existing {
            None => {
                changes.insert("new".into(), Value::String(name.clone()));
                format!("Grain {name} is set to be added")
            }
            Some(_) => {
                let mut changed = Map::new();
                changed.insert(name.clone(), value);
                changes.insert("changed".into(), Value::Object(changed));
                format!("Grain {name} is set to be changed")
            }
        };
        return StateResult::would(&name, comment, changes);
    }
    let force = args.bool("force", false);
    match set_grain(ctx, &grains, &name, Edit::Set(value.clone()), force) {
        Err(e) => StateResult::fail(&name, e),
        Ok(()) => {
            let mut r = StateResult::ok(&name, format!("Set grain {name} to {}", py_str(&value)));
            r.changes.insert(name.clone(), value);
            r
        }
    }
}

fn list_present(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = grain_name(args);
    let value = args.args.get("value").cloned().unwrap_or(Value::Null);
    let shown = py_str(&value);
    let grains = match current(ctx) {
        Ok(g) => g,
        Err(e) => return StateResult::fail(&name, e),
    };
    let grain = lookup(&grains, &name).cloned();
    let has_all = |list: &[Value]| match &value {
        Value::Array(want) => want.iter().all(|w| list.contains(w)),
        one => list.contains(one),
    };
    let truthy = grain.as_ref().is_some_and(|g| match g {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Number(_) => true,
    });
    if truthy {
        let Some(Value::Array(list)) = &grain else {
            return StateResult::fail(&name, format!("Grain {name} is not a valid list"));
        };
        if has_all(list) {
            return StateResult::ok(&name, format!("Value {shown} is already in grain {name}"));
        }
        if ctx.test {
            let mut changes = Map::new();
            changes.insert("new".into(), grain.clone().unwrap_or(Value::Null));
            return StateResult::would(
                &name,
                format!("Value {shown} is set to be appended to grain {name}"),
                changes,
            );
        }
    }
    if ctx.test {
        let mut changes = Map::new();
        changes.insert("new".into(), grain.unwrap_or(Value::Null));
        return StateResult::would(&name, format!("Grain {name} is set to be added"), changes);
    }
    // Only the values not there yet: appending a list that is partly
    // present must not fail on the part that is.
    let mut list = match grain {
        Some(Value::Array(l)) => l,
        _ => Vec::new(),
    };
    match &value {
        Value::Array(want) => {
            for w in want {
                if !list.contains(w) {
                    list.push(w.clone());
                }
            }
        }
        one => list.push(one.clone()),
    }
    let new = Value::Array(list.clone());
    if let Err(e) = set_grain(ctx, &grains, &name, Edit::Set(new), true) {
        return StateResult::fail(&name, e);
    }
    match current(ctx).map(|g| lookup(&g, &name).cloned()) {
        Ok(Some(Value::Array(now))) if has_all(&now) => {
            let mut r = StateResult::ok(&name, format!("Append value {shown} to grain {name}"));
            let mut new = Map::new();
            new.insert(name.clone(), Value::Array(now));
            r.changes.insert("new".into(), Value::Object(new));
            r
        }
        _ => StateResult::fail(
            &name,
            format!("Failed append value {shown} to grain {name}"),
        ),
    }
}

fn absent(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = grain_name(args);
    let destructive = args.bool("destructive", false);
    let force = args.bool("force", false);
    let grains = match current(ctx) {
        Ok(g) => g,
        Err(e) => return StateResult::fail(&name, e),
    };
    let Some(grain) = lookup(&grains, &name) else {
        return StateResult::ok(&name, format!("Grain {name} does not exist"));
    };
    let mut changes = Map::new();
    let (would, done) = if destructive {
        changes.insert("deleted".into(), Value::String(name.clone()));
        (
            format!("Grain {name} is set to be deleted"),
            format!("Grain {name} was deleted"),
        )
    } else if grain.is_null() {
        return StateResult::ok(&name, "Grain is already set");
    } else {
        changes.insert("grain".into(), Value::String(name.clone()));
        changes.insert("value".into(), Value::Null);
        (
            format!("Value for grain {name} is set to be deleted (None)"),
            format!("Value for grain {name} was set to None"),
        )
    };
    if ctx.test {
        return StateResult::would(&name, would, changes);
    }
    let edit = if destructive {
        Edit::Delete
    } else {
        Edit::Set(Value::Null)
    };
    match set_grain(ctx, &grains, &name, edit, force || destructive) {
        Err(e) => StateResult::fail(&name, e),
        Ok(()) => StateResult {
            changes,
            ..StateResult::ok(&name, done)
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caller::ExecCaller;
    use crate::source::LocalRoots;
    use serde_json::json;
    use std::sync::Mutex;

    /// The `grains.*` functions the states use, over an in-memory map (the
    /// minion's own tests run the states against the real grains file).
    #[derive(Default)]
    struct Grains(Mutex<Map<String, Value>>);
    impl ExecCaller for Grains {
        fn call(
            &self,
            fun: &str,
            args: Vec<Value>,
            _: Map<String, Value>,
        ) -> Result<Value, CallError> {
            let mut g = self.0.lock().unwrap();
            match fun {
                "grains.items" => Ok(Value::Object(g.clone())),
                "grains.setval" => {
                    g.insert(py_str(&args[0]), args[1].clone());
                    Ok(json!({}))
                }
                "grains.delkey" => {
                    g.remove(&py_str(&args[0]));
                    Ok(json!({}))
                }
                _ => Err(CallError::Unknown(fun.into())),
            }
        }
        fn has(&self, _: &str) -> bool {
            true
        }
    }

    fn run(
        caller: &Grains,
        fun: fn(&StateCtx<'_>, &StateArgs) -> StateResult,
        name: &str,
        args: Value,
        test: bool,
    ) -> StateResult {
        let grains = Map::new();
        let pillar = json!({});
        let roots = LocalRoots::default();
        let ctx = StateCtx {
            test,
            saltenv: "base".into(),
            grains: &grains,
            pillar: &pillar,
            files: &roots,
            templates: &crate::modules::file::testkit::Subst,
            caller,
            cachedir: std::env::temp_dir(),
            cancel: Default::default(),
            run: Default::default(),
        };
        let args = StateArgs {
            name: name.into(),
            args: args.as_object().cloned().unwrap_or_default(),
        };
        fun(&ctx, &args)
    }

    #[test]
    fn present_sets_plain_and_nested_grains() {
        let g = Grains::default();
        let r = run(&g, present, "role", json!({"value": "web"}), true);
        assert_eq!(
            (r.result, r.comment.as_str()),
            (None, "Grain role is set to be added")
        );
        assert!(g.0.lock().unwrap().is_empty());
        let r = run(&g, present, "role", json!({"value": "web"}), false);
        assert_eq!(r.result, Some(true));
        assert_eq!(r.comment, "Set grain role to web");
        assert_eq!(
            r.changes,
            json!({"role": "web"}).as_object().unwrap().clone()
        );
        let r = run(&g, present, "role", json!({"value": "web"}), false);
        assert_eq!(
            (r.comment.as_str(), r.changes.len()),
            ("Grain is already set", 0)
        );
        let r = run(
            &g,
            present,
            "a,b",
            json!({"value": 1, "delimiter": ","}),
            false,
        );
        assert_eq!(r.name, "a:b");
        assert_eq!(g.0.lock().unwrap()["a"], json!({"b": 1}));
        // A dict is not replaced without force.
        let r = run(&g, present, "a", json!({"value": "x"}), false);
        assert_eq!(r.result, Some(false));
        assert!(r.comment.contains("Use 'force=True' to overwrite."));
        let r = run(
            &g,
            present,
            "a",
            json!({"value": "x", "force": true}),
            false,
        );
        assert_eq!(r.result, Some(true));
    }

    #[test]
    fn list_present_appends_only_what_is_missing() {
        let g = Grains::default();
        g.0.lock().unwrap().insert("roles".into(), json!(["a"]));
        let r = run(&g, list_present, "roles", json!({"value": "a"}), false);
        assert_eq!(r.comment, "Value a is already in grain roles");
        let r = run(
            &g,
            list_present,
            "roles",
            json!({"value": ["a", "b"]}),
            false,
        );
        assert_eq!(r.result, Some(true), "{}", r.comment);
        assert_eq!(r.comment, "Append value ['a', 'b'] to grain roles");
        assert_eq!(g.0.lock().unwrap()["roles"], json!(["a", "b"]));
        let r = run(&g, list_present, "fresh", json!({"value": "x"}), true);
        assert_eq!(
            (r.result, r.comment.as_str()),
            (None, "Grain fresh is set to be added")
        );
        g.0.lock().unwrap().insert("s".into(), json!("str"));
        let r = run(&g, list_present, "s", json!({"value": "x"}), false);
        assert_eq!(
            (r.result, r.comment.as_str()),
            (Some(false), "Grain s is not a valid list")
        );
    }

    #[test]
    fn absent_sets_none_or_deletes() {
        let g = Grains::default();
        g.0.lock().unwrap().insert("k".into(), json!("v"));
        g.0.lock()
            .unwrap()
            .insert("n".into(), json!({"x": 1, "y": 2}));
        let r = run(&g, absent, "k", json!({}), false);
        assert_eq!(r.comment, "Value for grain k was set to None");
        assert_eq!(g.0.lock().unwrap()["k"], Value::Null);
        let r = run(&g, absent, "k", json!({"destructive": true}), false);
        assert_eq!(r.comment, "Grain k was deleted");
        assert!(!g.0.lock().unwrap().contains_key("k"));
        let r = run(&g, absent, "k", json!({}), false);
        assert_eq!(r.comment, "Grain k does not exist");
        let r = run(&g, absent, "n:x", json!({"destructive": true}), false);
        assert_eq!(r.result, Some(true));
        assert_eq!(g.0.lock().unwrap()["n"], json!({"y": 2}));
    }
}
