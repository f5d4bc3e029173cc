//! High data to ordered low chunks (Salt's `compile_high_data` and
//! `order_chunks`).

use serde_json::{Map, Value};

use super::graph::DependencyGraph;
use crate::registry;

/// One low chunk per state declaration (one per `names:` entry), in
/// declaration order, before requisites are resolved.
pub fn chunks_of(high: &Map<String, Value>) -> Vec<Map<String, Value>> {
    let mut chunks = Vec::new();
    for (id, body) in high {
        if id.starts_with("__") {
            continue;
        }
        let Some(body) = body.as_object() else {
            continue;
        };
        for (state, run) in body {
            if state.starts_with("__") {
                continue;
            }
            let mut chunk = Map::new();
            chunk.insert("state".into(), Value::String(state.clone()));
            chunk.insert("name".into(), Value::String(id.clone()));
            for key in ["__sls__", "__env__", "__sls_included_from__"] {
                if let Some(v) = body.get(key) {
                    chunk.insert(key.into(), v.clone());
                }
            }
            chunk.insert("__id__".into(), Value::String(id.clone()));
            let mut fun: Option<String> = None;
            let mut names: Vec<Value> = Vec::new();
            for arg in run.as_array().into_iter().flatten() {
                match arg {
                    Value::String(f) => {
                        fun.get_or_insert_with(|| f.clone());
                    }
                    Value::Object(arg) => {
                        for (key, val) in arg {
                            match key.as_str() {
                                "names" => {
                                    for n in val.as_array().into_iter().flatten() {
                                        if !names.contains(n) {
                                            names.push(n.clone());
                                        }
                                    }
                                }
                                "state" => {}
                                "name" if !val.is_string() => {
                                    chunk.insert(key.clone(), Value::String(id.clone()));
                                }
                                _ => {
                                    chunk.insert(key.clone(), val.clone());
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
            let Some(fun) = fun else { continue };
            if names.is_empty() {
                let mut live = chunk;
                live.insert("fun".into(), Value::String(fun));
                chunks.push(live);
                continue;
            }
            for (i, entry) in names.iter().enumerate() {
                let mut live = chunk.clone();
                match entry {
                    Value::Object(m) if !m.is_empty() => {
                        if let Some((low_name, extra)) = m.iter().next() {
                            live.insert("name".into(), Value::String(low_name.clone()));
                            for upd in extra.as_array().into_iter().flatten() {
                                if let Some(upd) = upd.as_object() {
                                    for (k, v) in upd {
                                        live.insert(k.clone(), v.clone());
                                    }
                                }
                            }
                        }
                    }
                    other => {
                        live.insert("name".into(), other.clone());
                    }
                }
                live.insert("name_order".into(), Value::from(i + 1));
                live.insert("fun".into(), Value::String(fun.clone()));
                chunks.push(live);
            }
        }
    }
    chunks
}

/// Whether the state module has a `mod_watch` (else `watch` means `require`).
fn has_mod_watch(state: &str) -> bool {
    let prefix = format!("{state}.");
    registry::states()
        .iter()
        .any(|s| s.name.starts_with(&prefix) && s.mod_watch.is_some())
}

/// Salt's `_reconcile_watch_req`.
fn reconcile_watch_req(chunk: &mut Map<String, Value>) {
    let state = chunk.get("state").and_then(Value::as_str).unwrap_or("");
    if has_mod_watch(state) {
        return;
    }
    for (from, to) in [("watch", "require"), ("watch_any", "require_any")] {
        if let Some(watch) = chunk.shift_remove(from) {
            let target = chunk
                .entry(to.to_string())
                .or_insert_with(|| Value::Array(Vec::new()));
            match (target, watch) {
                (Value::Array(t), Value::Array(w)) => t.extend(w),
                (t, w) => *t = w,
            }
        }
    }
}

/// Builds the requisite graph over `chunks` and orders them. Errors are
/// Salt's (a requisite naming nothing, a cycle).
pub fn order_chunks(
    chunks: Vec<Map<String, Value>>,
) -> (DependencyGraph, Result<Vec<usize>, Vec<String>>) {
    let mut graph = DependencyGraph::default();
    let mut indices = Vec::new();
    for chunk in chunks {
        indices.push(graph.add_chunk(chunk));
    }
    let mut errors = Vec::new();
    for &ci in &indices {
        reconcile_watch_req(&mut graph.chunks[ci]);
        if let Some(err) = graph.add_requisites(ci) {
            errors.push(err);
        }
    }
    let cap = graph.cap();
    let order = match graph.order(cap) {
        Ok(order) => order,
        Err(_) => {
            errors.push(format!(
                "Recursive requisites were found: {}",
                graph.cycles_str()
            ));
            Vec::new()
        }
    };
    if errors.is_empty() {
        (graph, Ok(order))
    } else {
        (graph, Err(errors))
    }
}
