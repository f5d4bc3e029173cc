//! `file.accumulated`: text collected per (file, accumulator name) during a
//! run, handed to the `file.blockreplace` / `file.managed` states of that
//! file (which `require_in`/`watch_in` make run after it). Templates see it
//! as `accumulator`; `file.blockreplace` appends it to its content.

use indexmap::IndexMap;
use serde_json::Value;

use crate::ctx::{StateArgs, StateCtx};
use crate::pyrepr::py_str;
use crate::result::StateResult;

pub const DOC: &str = "Collect text for a file.managed template (`accumulator`) or a file.blockreplace block\n\
name (accumulator name), filename, text (string or list); needs a require_in or watch_in on a file state";

pub fn accumulated(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    if name.is_empty() {
        return StateResult::fail(name, "Must provide name to file.accumulated");
    }
    let Some(text) = args.get("text") else {
        return StateResult::fail(name, "No text supplied for accumulator");
    };
    let low = &ctx.run.low;
    // require_in / watch_in as the chunk holds them: lists of {state: id}
    // mappings or plain IDs
    let deps: Vec<Value> = ["require_in", "watch_in"]
        .iter()
        .filter_map(|k| low.get(*k))
        .flat_map(|v| match v {
            Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        })
        .collect();
    let names_file = |d: &Value| match d {
        Value::Object(m) => m.contains_key("file"),
        Value::String(s) => s.contains("file"),
        _ => false,
    };
    if !deps.iter().any(names_file) {
        let s = |k: &str| low.get(k).map(py_str).unwrap_or_default();
        return StateResult::fail(
            name,
            format!(
                "Orphaned accumulator {name} in {}:{}",
                s("__sls__"),
                s("__id__")
            ),
        );
    }
    let filename = args.str("filename").unwrap_or_default();
    let chunks: Vec<Value> = match text {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    let mut acc = ctx
        .run
        .accumulators
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let file_deps = acc.deps.entry(filename.clone()).or_default();
    let mine = file_deps.entry(name.to_string()).or_default();
    for dep in &deps {
        match dep {
            Value::Object(m) => mine.extend(m.values().cloned()),
            // Python's list.extend over a string adds its characters
            Value::String(s) => mine.extend(s.chars().map(|c| Value::String(c.to_string()))),
            other => mine.push(other.clone()),
        }
    }
    let collected = acc
        .data
        .entry(filename.clone())
        .or_default()
        .entry(name.to_string())
        .or_default();
    let mut res = StateResult::ok(name, "");
    for chunk in chunks {
        if !collected.contains(&chunk) {
            collected.push(chunk);
            res.comment = format!("Accumulator {name} for file {filename} was charged by text");
        }
    }
    res
}

/// The text `file.blockreplace` state `id` of file `name` adds to its
/// content: the accumulators whose `require_in`/`watch_in` name `id` (all
/// of the file's when none does), line by line.
pub fn block_text(ctx: &StateCtx<'_>, name: &str, content: &str) -> String {
    let acc = ctx
        .run
        .accumulators
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let Some(accumulator) = acc.data.get(name) else {
        return content.to_string();
    };
    let id = ctx.run.low.get("__id__").cloned().unwrap_or(Value::Null);
    let empty = IndexMap::new();
    let deps = acc.deps.get(name).unwrap_or(&empty);
    let mut filtered: Vec<&String> = deps
        .iter()
        .filter(|(a, ids)| ids.contains(&id) && accumulator.contains_key(*a))
        .map(|(a, _)| a)
        .collect();
    if filtered.is_empty() {
        filtered = accumulator.keys().collect();
    }
    let mut out = content.to_string();
    for acc_name in filtered {
        for line in &accumulator[acc_name] {
            let line = py_str(line);
            if out.is_empty() {
                out = line;
            } else {
                out.push('\n');
                out.push_str(&line);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::runtime::{run, RunOpts};

    fn chunk(
        id: &str,
        fun: &str,
        name: &str,
        order: u64,
        args: serde_json::Value,
    ) -> serde_json::Map<String, serde_json::Value> {
        let mut m = args.as_object().cloned().unwrap_or_default();
        m.insert("state".into(), "file".into());
        m.insert("fun".into(), fun.into());
        m.insert("__id__".into(), id.into());
        m.insert("name".into(), name.into());
        m.insert("__sls__".into(), "main".into());
        m.insert("__env__".into(), "base".into());
        m.insert("order".into(), order.into());
        m
    }

    /// Two accumulators feed one block, in the order they ran; an
    /// accumulator without a file requisite is an orphan; a block whose ID
    /// no accumulator names gets every accumulator of its file.
    #[test]
    fn accumulators_feed_the_blocks_of_their_file() {
        let tmp = tempfile::TempDir::new().unwrap();
        let f = tmp.path().join("acc.conf");
        let g = tmp.path().join("other.conf");
        std::fs::write(&f, "head\n").unwrap();
        std::fs::write(&g, "x\n").unwrap();
        let (f, g) = (f.display().to_string(), g.display().to_string());
        let block = json!({"marker_start": "# S", "marker_end": "# E", "content": "", "append_if_not_found": true, "backup": false});
        let chunks = vec![
            chunk(
                "a",
                "accumulated",
                "a",
                1,
                json!({"filename": f, "text": "line a", "require_in": [{"file": "blk"}]}),
            ),
            chunk(
                "b",
                "accumulated",
                "b",
                2,
                json!({"filename": f, "text": ["b1", "b2"], "watch_in": [{"file": "blk"}]}),
            ),
            chunk(
                "orphan",
                "accumulated",
                "orphan",
                3,
                json!({"filename": f, "text": "x"}),
            ),
            chunk(
                "c",
                "accumulated",
                "c",
                4,
                json!({"filename": g, "text": "for g", "require_in": [{"file": "other"}]}),
            ),
            chunk("blk", "blockreplace", &f, 5, block.clone()),
            chunk("gblk", "blockreplace", &g, 6, block),
        ];
        let out =
            crate::runtime::tests::with_ctx(false, |ctx| run(chunks, ctx, &RunOpts::default()));
        let ret =
            |id: &str, fun: &str, name: &str| out[&format!("file_|-{id}_|-{name}_|-{fun}")].clone();
        assert_eq!(
            ret("a", "accumulated", "a")["comment"],
            format!("Accumulator a for file {f} was charged by text")
        );
        assert_eq!(
            ret("orphan", "accumulated", "orphan")["comment"],
            "Orphaned accumulator orphan in main:orphan"
        );
        assert_eq!(ret("blk", "blockreplace", &f)["result"], true);
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "head\n# S\nline a\nb1\nb2\n# E\n"
        );
        // "gblk" is named by no accumulator: it takes all of its file's
        assert_eq!(std::fs::read_to_string(&g).unwrap(), "x\n# S\nfor g\n# E\n");
    }
}
