//! Every registered state function, called with `test=True` on arguments
//! pointing into a temp dir, must leave the disk as it was.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Map, Value};

use super::tests::with_ctx;
use crate::ctx::StateArgs;
use crate::registry;

/// Arguments beyond `name = <tmp>/x` that a function needs to get past its
/// argument checks (add a row when a module needs one).
fn sample_args(state: &str, tmp: &Path) -> Map<String, Value> {
    let t = tmp.display();
    let args = match state {
        "cmd.run" | "cmd.wait" | "cmd.watch" => json!({"name": format!("touch {t}/x")}),
        "cmd.script" | "cmd.wait_script" => {
            json!({"name": "salt://script.sh", "cwd": t.to_string()})
        }
        "test.show_notification" => json!({"text": "hello"}),
        s if s.starts_with("file.") => {
            json!({"source": "salt://none", "contents": "data", "target": format!("{t}/target")})
        }
        _ => json!({}),
    };
    args.as_object().cloned().unwrap_or_default()
}

/// Path -> (mode, bytes) for everything under `root`.
fn snapshot(root: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let bytes = if meta.is_file() {
                std::fs::read(&path).unwrap_or_default()
            } else {
                Vec::new()
            };
            out.insert(
                path.display().to_string(),
                (meta.permissions().mode(), bytes),
            );
            if meta.is_dir() {
                stack.push(path);
            }
        }
    }
    out
}

#[test]
fn every_state_changes_nothing_under_test() {
    for spec in registry::states() {
        let tmp = tempfile::TempDir::new().unwrap();
        std::fs::write(tmp.path().join("existing"), "keep").unwrap();
        let before = snapshot(tmp.path());
        let mut args = sample_args(spec.name, tmp.path());
        let name = args
            .shift_remove("name")
            .and_then(|n| n.as_str().map(str::to_string))
            .unwrap_or_else(|| tmp.path().join("x").display().to_string());
        let mut state_args = StateArgs { name, args };
        let ret = with_ctx(true, |ctx| (spec.run)(ctx, &state_args));
        if let Some(watch) = spec.mod_watch {
            let fun = spec.name.split_once('.').map_or("", |(_, f)| f);
            state_args
                .args
                .insert("sfun".into(), Value::String(fun.into()));
            with_ctx(true, |ctx| watch(ctx, &state_args));
        }
        assert_eq!(
            before,
            snapshot(tmp.path()),
            "{} changed the disk under test=True",
            spec.name
        );
        // a dry run that says "would change" says what; Salt's system
        // states (user, group, host...) often say it in the comment only, so
        // the rule is enforced for the file and test modules
        let lists_changes = spec.name.starts_with("file.") || spec.name.starts_with("test.");
        if ret.result.is_none() && lists_changes && !NO_CHANGES_IN_TEST.contains(&spec.name) {
            assert!(
                !ret.changes.is_empty(),
                "{} would change but lists no changes",
                spec.name
            );
        }
    }
}

/// Salt's own dry runs that report `None` without listing changes.
// Salt reports these under test=True with a comment only (cron: "Cron X is
// set to be added").
const NO_CHANGES_IN_TEST: &[&str] = &[
    "cmd.script",
    "cmd.wait_script",
    "cron.absent",
    "cron.present",
];
