//! `beacons.*`: Salt's module for the minion's beacons at runtime. Changes
//! live in the minion's memory (the beacon loop applies them within a
//! second; a changed beacon restarts with fresh state, the others keep
//! theirs) until `beacons.save` writes them to `minion.d/beacons.conf`,
//! which the minion reads at start. Beacons set in pillar are the pillar's:
//! they are listed but not changed here.

use serde_json::{json, Map, Value};

use crate::beacons;
use crate::registry::{ArgParser, Args, CallCtx, FunctionSpec, ModError, ModFuture};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "beacons.add",
        doc: "Add a beacon on the minion; {result, comment}.\n\n\
              - name: the beacon's name (its module, unless beacon_data has beacon_module).\n\
              - beacon_data: its config, a list of dicts or a dict, as under `beacons:`.\n\
              - test: say what would be done, change nothing.",
        cli_example: "brine '*' beacons.add ps \"[{'processes': {'salt-master': 'stopped', 'apache2': 'stopped'}}]\"",
        run: add,
    },
    FunctionSpec {
        name: "beacons.delete",
        doc: "Delete a beacon from the minion's config (not one set in pillar); {result, comment}.\n\n\
              - name: the beacon.\n\
              - test: say what would be done, change nothing.",
        cli_example: "brine '*' beacons.delete ps",
        run: delete,
    },
    FunctionSpec {
        name: "beacons.disable",
        doc: "Disable all beacons on the minion (they stop until beacons.enable); {result, comment}.\n\n\
              - test: say what would be done, change nothing.",
        cli_example: "brine '*' beacons.disable",
        run: disable,
    },
    FunctionSpec {
        name: "beacons.disable_beacon",
        doc: "Disable one beacon (adds enabled: False to its config); {result, comment}.\n\n\
              - name: the beacon.\n\
              - test: say what would be done, change nothing.",
        cli_example: "brine '*' beacons.disable_beacon ps",
        run: disable_beacon,
    },
    FunctionSpec {
        name: "beacons.enable",
        doc: "Enable all beacons on the minion; {result, comment}.\n\n\
              - test: say what would be done, change nothing.",
        cli_example: "brine '*' beacons.enable",
        run: enable,
    },
    FunctionSpec {
        name: "beacons.enable_beacon",
        doc: "Enable one beacon (sets enabled: True in its config); {result, comment}.\n\n\
              - name: the beacon.\n\
              - test: say what would be done, change nothing.",
        cli_example: "brine '*' beacons.enable_beacon ps",
        run: enable_beacon,
    },
    FunctionSpec {
        name: "beacons.list",
        doc: "List the beacons configured on the minion (the config's, changed at runtime, and \
              the pillar's, which win by name).\n\n\
              - return_yaml: return YAML text (default True) rather than a dict.\n\
              - include_pillar: include beacons set in pillar (default True).\n\
              - include_opts: include beacons of the minion's config (default True).",
        cli_example: "brine '*' beacons.list",
        run: list,
    },
    FunctionSpec {
        name: "beacons.list_available",
        doc: "List the beacon modules this minion has.\n\n\
              - return_yaml: return YAML text (default True) rather than a list.",
        cli_example: "brine '*' beacons.list_available",
        run: list_available,
    },
    FunctionSpec {
        name: "beacons.modify",
        doc: "Replace the config of a beacon; {result, comment, changes: {diff}}.\n\n\
              - name: the beacon.\n\
              - beacon_data: its new config, a list of dicts or a dict.\n\
              - test: say what would be done, change nothing.",
        cli_example: "brine '*' beacons.modify diskusage \"[{'/': '80%'}, {'interval': 60}]\"",
        run: modify,
    },
    FunctionSpec {
        name: "beacons.reset",
        doc: "Reset the beacon configuration: the minion's config beacons are emptied (the \
              pillar's stay); {result, comment}.\n\n\
              - test: say what would be done, change nothing.",
        cli_example: "brine '*' beacons.reset",
        run: reset,
    },
    FunctionSpec {
        name: "beacons.save",
        doc: "Write the minion's beacons (not the pillar's) to <config_dir>/minion.d/beacons.conf, \
              which the minion reads at start; {result, comment}.",
        cli_example: "brine '*' beacons.save",
        run: save,
    },
];

fn outcome(result: bool, comment: impl Into<String>) -> Value {
    json!({"result": result, "comment": comment.into()})
}

/// Salt's `test=True` and `timeout` (accepted: changes here never wait).
fn test_flag(a: &mut ArgParser) -> Result<bool, ModError> {
    a.ignore(&["timeout"]);
    Ok(a.kw_bool("test")?.unwrap_or(false))
}

/// A beacon's config from the command line: YAML text is read.
fn beacon_data(v: Value) -> Result<Value, ModError> {
    match v {
        Value::String(s) => serde_yaml::from_str(&s)
            .map_err(|e| ModError::BadArguments(format!("beacon_data: {e}"))),
        other => Ok(other),
    }
}

/// The pillar's beacons for this call.
async fn pillar_beacons(ctx: &CallCtx) -> Map<String, Value> {
    beacons::pillar_beacons(&*ctx.pillar().await)
}

fn to_yaml(v: &Value) -> Result<Value, ModError> {
    serde_yaml::to_string(v)
        .map(Value::String)
        .map_err(|e| ModError::Failed(e.to_string()))
}

fn list(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let return_yaml = a.opt_bool("return_yaml", 0)?.unwrap_or(true);
        let include_pillar = a.opt_bool("include_pillar", 1)?.unwrap_or(true);
        let include_opts = a.opt_bool("include_opts", 2)?.unwrap_or(true);
        a.ignore(&["timeout"]);
        a.finish()?;
        let opts = if include_opts {
            ctx.beacons.opts()
        } else {
            Map::new()
        };
        let pillar = if include_pillar {
            pillar_beacons(&ctx).await
        } else {
            Map::new()
        };
        let all = beacons::merge(&opts, &pillar);
        if all.is_empty() {
            return Ok(json!({"beacons": {}}).into());
        }
        if return_yaml {
            Ok(to_yaml(&json!({ "beacons": all }))?.into())
        } else {
            Ok(Value::Object(all).into())
        }
    })
}

fn list_available(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let return_yaml = a.opt_bool("return_yaml", 0)?.unwrap_or(true);
        a.ignore(&["timeout"]);
        a.finish()?;
        let available = json!(beacons::AVAILABLE);
        if return_yaml {
            Ok(to_yaml(&json!({ "beacons": available }))?.into())
        } else {
            Ok(available.into())
        }
    })
}

/// Checks a beacon's config as the loop will read it: `Err(why)`.
fn validate(name: &str, data: &Value) -> Result<(), String> {
    beacons::parse_spec(name, data).map(|_| ())
}

fn add(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        let data = beacon_data(a.take("beacon_data", 1)?)?;
        let test = test_flag(&mut a)?;
        a.finish()?;
        let pillar = pillar_beacons(&ctx).await;
        if pillar.contains_key(&name) || ctx.beacons.opts().contains_key(&name) {
            return Ok(outcome(false, format!("Beacon {name} is already configured.")).into());
        }
        if let Err(why) = validate(&name, &data) {
            let comment = if why.starts_with("no beacon module") {
                format!("Beacon \"{name}\" is not available.\n{why}")
            } else {
                format!("Beacon {name} configuration invalid, not adding.\n{why}")
            };
            return Ok(outcome(false, comment).into());
        }
        if test {
            return Ok(outcome(true, format!("Beacon: {name} would be added.")).into());
        }
        ctx.beacons.update(|o| o.insert(name.clone(), data));
        Ok(outcome(true, format!("Added beacon: {name}.")).into())
    })
}

/// Salt's diff of two beacon configs: `key:value` lines of each item.
fn diff_lines(v: &Value) -> Vec<String> {
    let items: Vec<Value> = match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    let mut lines = Vec::new();
    for item in items {
        match item {
            Value::Object(m) => {
                for (k, v) in m {
                    lines.push(format!("{k}:{v}"));
                }
            }
            other => lines.push(other.to_string()),
        }
    }
    lines
}

fn modify(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        let data = beacon_data(a.take("beacon_data", 1)?)?;
        let test = test_flag(&mut a)?;
        a.finish()?;
        if pillar_beacons(&ctx).await.contains_key(&name) {
            return Ok(outcome(
                false,
                format!("Cannot modify beacon item {name}, it is configured in pillar."),
            )
            .into());
        }
        let Some(current) = ctx.beacons.opts().get(&name).cloned() else {
            return Ok(outcome(false, format!("Beacon {name} is not configured.")).into());
        };
        if let Err(why) = validate(&name, &data) {
            return Ok(outcome(
                false,
                format!("Beacon {name} configuration invalid, not modifying.\n{why}"),
            )
            .into());
        }
        if current == data {
            return Ok(outcome(true, format!("Beacon {name} in correct state")).into());
        }
        if test {
            return Ok(outcome(true, format!("Beacon: {name} would be modified.")).into());
        }
        let (old, new) = (diff_lines(&current), diff_lines(&data));
        let diff: String = old
            .iter()
            .filter(|l| !new.contains(l))
            .map(|l| format!("-{l}\n"))
            .chain(
                new.iter()
                    .filter(|l| !old.contains(l))
                    .map(|l| format!("+{l}\n")),
            )
            .collect();
        ctx.beacons.update(|o| o.insert(name.clone(), data));
        let mut out = outcome(true, format!("Modified beacon: {name}."));
        out["changes"] = json!({ "diff": diff });
        Ok(out.into())
    })
}

fn delete(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        let test = test_flag(&mut a)?;
        a.finish()?;
        if pillar_beacons(&ctx).await.contains_key(&name) {
            return Ok(outcome(
                false,
                format!("Cannot delete beacon item {name}, it is configured in pillar."),
            )
            .into());
        }
        if !ctx.beacons.opts().contains_key(&name) {
            return Ok(outcome(false, format!("Beacon {name} is not configured.")).into());
        }
        if test {
            return Ok(outcome(true, format!("Beacon: {name} would be deleted.")).into());
        }
        ctx.beacons.update(|o| o.shift_remove(&name));
        Ok(outcome(true, format!("Deleted beacon: {name}.")).into())
    })
}

fn set_all(ctx: CallCtx, args: Args, on: bool) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let test = test_flag(&mut a)?;
        a.finish()?;
        let word = if on { "enabled" } else { "disabled" };
        if test {
            return Ok(outcome(true, format!("Beacons would be {word}.")).into());
        }
        ctx.beacons
            .update(|o| o.insert("enabled".into(), json!(on)));
        let word = if on { "Enabled" } else { "Disabled" };
        Ok(outcome(true, format!("{word} beacons on minion.")).into())
    })
}

fn enable(ctx: CallCtx, args: Args) -> ModFuture {
    set_all(ctx, args, true)
}

fn disable(ctx: CallCtx, args: Args) -> ModFuture {
    set_all(ctx, args, false)
}

/// Sets `enabled` in a beacon's config, in its own shape (Salt's
/// `_update_enabled`: a dict gets the key, a list its `enabled` item or a
/// new one).
fn set_enabled(config: &mut Value, on: bool) {
    match config {
        Value::Object(m) => {
            m.insert("enabled".into(), json!(on));
        }
        Value::Array(items) => {
            match items
                .iter_mut()
                .find_map(|i| i.as_object_mut().filter(|m| m.contains_key("enabled")))
            {
                Some(m) => {
                    m.insert("enabled".into(), json!(on));
                }
                None => items.push(json!({ "enabled": on })),
            }
        }
        other => *other = json!([{ "enabled": on }]),
    }
}

fn set_one(ctx: CallCtx, args: Args, on: bool) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        let test = test_flag(&mut a)?;
        a.finish()?;
        let (verb, past) = if on {
            ("enable", "Enabled")
        } else {
            ("disable", "Disabled")
        };
        if name.is_empty() {
            return Ok(outcome(false, "Beacon name is required.").into());
        }
        if pillar_beacons(&ctx).await.contains_key(&name) {
            return Ok(outcome(
                false,
                format!("Cannot {verb} beacon item {name}, it is configured in pillar."),
            )
            .into());
        }
        if !ctx.beacons.opts().contains_key(&name) {
            return Ok(
                outcome(false, format!("Beacon {name} is not currently configured.")).into(),
            );
        }
        if test {
            return Ok(outcome(true, format!("Beacon {name} would be {verb}d.")).into());
        }
        ctx.beacons.update(|o| {
            if let Some(c) = o.get_mut(&name) {
                set_enabled(c, on);
            }
        });
        Ok(outcome(true, format!("{past} beacon {name} on minion.")).into())
    })
}

fn enable_beacon(ctx: CallCtx, args: Args) -> ModFuture {
    set_one(ctx, args, true)
}

fn disable_beacon(ctx: CallCtx, args: Args) -> ModFuture {
    set_one(ctx, args, false)
}

fn reset(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let test = test_flag(&mut a)?;
        a.finish()?;
        if test {
            return Ok(outcome(true, "Beacons would be reset.").into());
        }
        ctx.beacons.update(|o| o.clear());
        Ok(outcome(true, "Beacon configuration reset.").into())
    })
}

fn save(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        a.ignore(&["timeout"]);
        a.finish()?;
        let opts = ctx.beacons.opts();
        let path = beacons::saved_file(&ctx.config.config_dir);
        let text = if opts.is_empty() {
            String::new()
        } else {
            serde_yaml::to_string(&json!({ "beacons": opts }))
                .map_err(|e| ModError::Failed(e.to_string()))?
        };
        let written = tokio::task::spawn_blocking({
            let path = path.clone();
            move || {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                // Whole or not at all: the minion reads it at start.
                let tmp = path.with_extension("conf.tmp");
                std::fs::write(&tmp, text)?;
                std::fs::rename(&tmp, &path)
            }
        })
        .await
        .map_err(|e| ModError::Failed(e.to_string()))?;
        Ok(match written {
            Ok(()) => outcome(true, format!("Beacons saved to {}.", path.display())),
            Err(e) => outcome(
                false,
                format!(
                    "Unable to write to beacons file at {}: {e}. Check permissions.",
                    path.display()
                ),
            ),
        }
        .into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{test_call, test_ctx, ModFn};
    use std::sync::Arc;

    fn ctx_with(dir: &std::path::Path, pillar: Value) -> CallCtx {
        let ctx = test_ctx();
        let mut config = (*ctx.config).clone();
        config.config_dir = dir.to_path_buf();
        CallCtx {
            config: Arc::new(config),
            fixed_pillar: Some(Arc::new(pillar)),
            beacons: beacons::Beacons::new(
                json!({"memusage": [{"percent": "80%"}]})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
            ..ctx
        }
    }

    async fn call(ctx: &CallCtx, f: ModFn, name: &'static str, arg: Value, kw: Value) -> Value {
        test_call(ctx.clone(), f, name, arg, kw).await.unwrap()
    }

    #[tokio::test]
    async fn add_modify_enable_delete_and_save_as_salt() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ctx_with(
            dir.path(),
            json!({"beacons": {"load": [{"averages": {"1m": [0, 2]}}]}}),
        );
        let listed = call(
            &ctx,
            list,
            "beacons.list",
            json!([]),
            json!({"return_yaml": false}),
        )
        .await;
        assert_eq!(
            listed,
            json!({"memusage": [{"percent": "80%"}], "load": [{"averages": {"1m": [0, 2]}}]})
        );
        let text = call(&ctx, list, "beacons.list", json!([]), json!({})).await;
        assert!(text.as_str().unwrap().starts_with("beacons:\n"), "{text}");

        let ps = json!("[{'processes': {'salt-master': 'stopped', 'apache2': 'stopped'}}]");
        let out = call(
            &ctx,
            add,
            "beacons.add",
            json!(["ps", ps]),
            json!({"test": true}),
        )
        .await;
        assert_eq!(
            out,
            json!({"result": true, "comment": "Beacon: ps would be added."})
        );
        assert!(!ctx.beacons.opts().contains_key("ps"));
        let out = call(&ctx, add, "beacons.add", json!(["ps", ps]), json!({})).await;
        assert_eq!(out, json!({"result": true, "comment": "Added beacon: ps."}));
        assert_eq!(
            ctx.beacons.opts()["ps"],
            json!([{"processes": {"salt-master": "stopped", "apache2": "stopped"}}])
        );
        let out = call(&ctx, add, "beacons.add", json!(["ps", ps]), json!({})).await;
        assert_eq!(out["comment"], "Beacon ps is already configured.");
        let out = call(
            &ctx,
            add,
            "beacons.add",
            json!(["bad", "[{x: 1}]"]),
            json!({}),
        )
        .await;
        assert_eq!(out["result"], false);
        assert!(
            out["comment"].as_str().unwrap().contains("not available"),
            "{out}"
        );
        let out = call(
            &ctx,
            add,
            "beacons.add",
            json!(["memusage2", [{"beacon_module": "memusage"}]]),
            json!({}),
        )
        .await;
        assert!(
            out["comment"]
                .as_str()
                .unwrap()
                .contains("configuration invalid, not adding"),
            "{out}"
        );
        // the pillar's beacons are the pillar's
        let out = call(&ctx, delete, "beacons.delete", json!(["load"]), json!({})).await;
        assert_eq!(out["result"], false);
        assert!(out["comment"]
            .as_str()
            .unwrap()
            .contains("configured in pillar"));

        let out = call(
            &ctx,
            modify,
            "beacons.modify",
            json!(["memusage", [{"percent": "90%"}]]),
            json!({}),
        )
        .await;
        assert_eq!(out["comment"], "Modified beacon: memusage.");
        assert_eq!(
            out["changes"]["diff"],
            "-percent:\"80%\"\n+percent:\"90%\"\n"
        );
        let out = call(
            &ctx,
            modify,
            "beacons.modify",
            json!(["nope", [{"percent": "90%"}]]),
            json!({}),
        )
        .await;
        assert_eq!(out["result"], false);

        let out = call(
            &ctx,
            disable_beacon,
            "beacons.disable_beacon",
            json!(["memusage"]),
            json!({}),
        )
        .await;
        assert_eq!(
            out,
            json!({"result": true, "comment": "Disabled beacon memusage on minion."})
        );
        assert_eq!(
            ctx.beacons.opts()["memusage"],
            json!([{"percent": "90%"}, {"enabled": false}])
        );
        call(
            &ctx,
            enable_beacon,
            "beacons.enable_beacon",
            json!(["memusage"]),
            json!({}),
        )
        .await;
        assert_eq!(
            ctx.beacons.opts()["memusage"],
            json!([{"percent": "90%"}, {"enabled": true}])
        );
        let out = call(&ctx, disable, "beacons.disable", json!([]), json!({})).await;
        assert_eq!(out["comment"], "Disabled beacons on minion.");
        assert_eq!(ctx.beacons.opts()["enabled"], json!(false));
        call(&ctx, enable, "beacons.enable", json!([]), json!({})).await;
        assert_eq!(ctx.beacons.opts()["enabled"], json!(true));

        let out = call(&ctx, save, "beacons.save", json!([]), json!({})).await;
        let path = dir.path().join("minion.d/beacons.conf");
        assert_eq!(
            out["comment"],
            format!("Beacons saved to {}.", path.display())
        );
        // what was saved is what the minion reads at start
        let mut raw = brine_proto::conf::RawConfig::empty();
        let read = beacons::conf::from_raw(dir.path(), &mut raw).unwrap();
        assert_eq!(read, ctx.beacons.opts());
        assert!(!read.contains_key("load"), "the pillar's are not saved");

        let out = call(&ctx, delete, "beacons.delete", json!(["ps"]), json!({})).await;
        assert_eq!(
            out,
            json!({"result": true, "comment": "Deleted beacon: ps."})
        );
        let out = call(&ctx, reset, "beacons.reset", json!([]), json!({})).await;
        assert_eq!(out["comment"], "Beacon configuration reset.");
        assert!(ctx.beacons.opts().is_empty());
        let listed = call(
            &ctx,
            list,
            "beacons.list",
            json!([]),
            json!({"include_pillar": false}),
        )
        .await;
        assert_eq!(listed, json!({"beacons": {}}));
        call(&ctx, save, "beacons.save", json!([]), json!({})).await;
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    }

    #[tokio::test]
    async fn available_beacons() {
        let ctx = test_ctx();
        let v = call(
            &ctx,
            list_available,
            "beacons.list_available",
            json!([false]),
            json!({}),
        )
        .await;
        assert!(v.as_array().unwrap().contains(&json!("diskusage")));
    }
}
