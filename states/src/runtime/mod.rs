//! Running ordered low chunks (Salt's `State.call_chunks`, `call_chunk`,
//! `_check_requisites`, `call`, `call_listen`): requisites decide whether
//! each state runs, is skipped, fails or fires its `mod_watch`; results come
//! back in Salt's shape, keyed `state_|-id_|-name_|-fun`.

mod check_cmd;
mod checks;
#[cfg(test)]
mod compliance;
mod retry;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::{Scope, ScopedJoinHandle};
use std::time::Instant;

use indexmap::{IndexMap, IndexSet};
use serde_json::{Map, Value};

use crate::ctx::{StateArgs, StateCtx};
use crate::high::graph::{gen_tag, truthy, DependencyGraph, ReqType};
use crate::high::{self, INTERNAL_KEYWORDS, REQUISITE_KEYWORDS};
use crate::pyrepr::py_str;
use crate::registry::{self, StateFn};
use crate::result::StateResult;

/// A state function that may carry its own context (the master's
/// orchestration functions hold the master and its runtime handle).
pub type DynStateFn = Arc<dyn Fn(&StateCtx<'_>, &StateArgs) -> StateResult + Send + Sync>;

/// State functions a run offers on top of the registry's (Salt's
/// orchestration `salt.state`, `salt.function`...: they exist only on the
/// master). A name found here wins over the registry's.
pub trait StateTable: Send + Sync {
    /// The function for `"mod.fun"`, when this table has it.
    fn lookup(&self, name: &str) -> Option<DynStateFn>;
}

/// Options of one run besides `test` (which is in the [`StateCtx`]).
#[derive(Clone, Default)]
pub struct RunOpts {
    /// Stop at the first failure (Salt's `failhard` option); a state's own
    /// `failhard:` argument wins.
    pub failhard: bool,
    /// Functions besides the registry's (orchestration on the master).
    pub extra: Option<Arc<dyn StateTable>>,
}

impl std::fmt::Debug for RunOpts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOpts")
            .field("failhard", &self.failhard)
            .field("extra", &self.extra.is_some())
            .finish()
    }
}

/// Compiles high data ([`high::compile`]) and runs it: Salt's `call_high`.
/// `Err` holds Salt's compile errors (nothing ran).
pub fn apply(
    high_data: &Map<String, Value>,
    ctx: &StateCtx<'_>,
    opts: &RunOpts,
) -> Result<Map<String, Value>, Vec<String>> {
    let chunks = high::compile(high_data)?;
    Ok(run(chunks, ctx, opts))
}

/// Runs chunks as [`high::compile_low`] gives them. Chunks that do not
/// order (a requisite naming nothing, a cycle) give one failed result
/// holding Salt's errors.
pub fn run(
    chunks: Vec<Map<String, Value>>,
    ctx: &StateCtx<'_>,
    opts: &RunOpts,
) -> Map<String, Value> {
    // the chunk list may hold a prereq'd chunk twice: rebuild the graph once
    let mut seen = IndexSet::new();
    let mut unique = Vec::new();
    for mut chunk in chunks {
        if seen.insert(gen_tag(&chunk)) {
            chunk.shift_remove("__prereq__");
            chunk.shift_remove("__prerequiring__");
            unique.push(chunk);
        }
    }
    let (graph, order) = high::order_chunks(unique);
    let order = match order {
        Ok(o) => o,
        Err(errors) => return compile_failure(&errors),
    };
    // states that look beyond their arguments see every chunk of the run
    // and share its accumulators
    let ctx = &StateCtx {
        run: crate::ctx::RunInfo {
            lowstate: std::sync::Arc::new(graph.chunks.clone()),
            ..Default::default()
        },
        ..with_test(ctx, ctx.test)
    };
    // commands run deep inside state modules die with the job
    ctx.cancel.scope(|| {
        std::thread::scope(|scope| {
            let mut runner = Runner {
                ctx,
                opts,
                scope,
                graph,
                running: IndexMap::new(),
                pre: HashMap::new(),
                procs: HashMap::new(),
                run_num: 0,
                failhard_hit: false,
            };
            runner.call_chunks(&order);
            runner.call_listen(&order);
            runner
                .running
                .into_iter()
                .map(|(k, v)| (k, Value::Object(v)))
                .collect()
        })
    })
}

fn compile_failure(errors: &[String]) -> Map<String, Value> {
    let mut ret = Map::new();
    ret.insert("name".into(), Value::String("No States".into()));
    ret.insert("changes".into(), Value::Object(Map::new()));
    ret.insert("result".into(), Value::Bool(false));
    ret.insert("comment".into(), Value::String(errors.join("\n")));
    ret.insert("__run_num__".into(), Value::from(0));
    let mut out = Map::new();
    out.insert("no_|-states_|-states_|-None".into(), Value::Object(ret));
    out
}

/// What the requisites of a chunk say.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Status {
    Unmet,
    Met,
    Fail,
    SkipReq,
    SkipWatch,
    Pre,
    Onfail,
    Onchanges,
    Change,
}

type Ret = Map<String, Value>;

struct Runner<'scope, 'env: 'scope> {
    ctx: &'env StateCtx<'env>,
    opts: &'env RunOpts,
    scope: &'scope Scope<'scope, 'env>,
    graph: DependencyGraph,
    running: IndexMap<String, Ret>,
    /// Dry-run results of prereq'd states.
    pre: HashMap<String, Ret>,
    procs: HashMap<String, ScopedJoinHandle<'scope, Ret>>,
    run_num: u64,
    failhard_hit: bool,
}

/// Local time as Python's `time().isoformat()`.
fn start_time() -> String {
    let now = chrono::Local::now();
    if now.timestamp_subsec_micros() == 0 {
        now.format("%H:%M:%S").to_string()
    } else {
        now.format("%H:%M:%S%.6f").to_string()
    }
}

fn duration_ms(since: Instant) -> Value {
    let micros = since.elapsed().as_micros();
    serde_json::Number::from_f64(micros as f64 / 1000.0).map_or(Value::Null, Value::Number)
}

fn result_map(r: StateResult) -> Ret {
    let mut m = Map::new();
    m.insert("name".into(), Value::String(r.name));
    m.insert("changes".into(), Value::Object(r.changes));
    m.insert("result".into(), r.result.map_or(Value::Null, Value::Bool));
    m.insert("comment".into(), Value::String(r.comment));
    if !r.warnings.is_empty() {
        let list = r.warnings.into_iter().map(Value::String).collect();
        m.insert("warnings".into(), Value::Array(list));
    }
    if r.skip_watch {
        m.insert("skip_watch".into(), Value::Bool(true));
    }
    m
}

fn is_false(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(false)))
}

fn changes_of(ret: &Ret) -> bool {
    ret.get("changes").is_some_and(truthy)
}

/// The arguments a state function sees: the chunk minus runtime keys.
fn state_args(low: &Map<String, Value>) -> StateArgs {
    // Salt hands an internal keyword to a function whose signature names
    // it: orchestration's `salt.state`/`salt.function` take `failhard`
    // (it stops their batch run) besides the runtime acting on it
    let takes_failhard = low.get("state").and_then(Value::as_str) == Some("salt")
        && matches!(
            low.get("fun").and_then(Value::as_str),
            Some("state" | "function")
        );
    let mut args = Map::new();
    for (k, v) in low {
        let internal = !(takes_failhard && k == "failhard")
            && INTERNAL_KEYWORDS.contains(&k.as_str())
            || REQUISITE_KEYWORDS.contains(&k.as_str())
            || (k.starts_with("__") && k != "__reqs__");
        if !internal {
            args.insert(k.clone(), v.clone());
        }
    }
    StateArgs {
        name: low.get("name").map(py_str).unwrap_or_default(),
        args,
    }
}

/// `fire_event` asks for an event after the state (Salt's state_result
/// event), sent through the minion's `event.send`: `True` tags it
/// `brine/state_result/<jid>/<id>/<name>`; a string `S` tags it
/// `S/<name>` (Salt puts that one under `salt/state_result/` too, but a
/// minion may not speak under the master's prefix in Brine). Data:
/// `{"ret": <the state's return>}`. A failure to send is noted in the
/// comment and fails the state: the event was asked for.
fn fire_event(ctx: &StateCtx<'_>, low: &Map<String, Value>, ret: &mut Ret) {
    let name = ret
        .get("name")
        .map(py_str)
        .or_else(|| low.get("name").map(py_str))
        .unwrap_or_default();
    let tag = match low.get("fire_event") {
        Some(Value::String(prefix)) => format!("{}/{name}", prefix.trim_end_matches('/')),
        _ => match ctx.caller.job() {
            Some((jid, id)) => format!("brine/state_result/{jid}/{id}/{name}"),
            None => format!("brine/state_result/{name}"),
        },
    };
    let mut data = Map::new();
    data.insert("ret".into(), Value::Object(ret.clone()));
    let mut kwargs = Map::new();
    kwargs.insert("data".into(), Value::Object(data));
    if let Err(error) = ctx
        .caller
        .call("event.send", vec![Value::String(tag.clone())], kwargs)
    {
        let comment = ret.get("comment").map(py_str).unwrap_or_default();
        let note = format!("fire_event: {error}");
        let comment = if comment.is_empty() {
            note
        } else {
            format!("{comment}\n{note}")
        };
        ret.insert("comment".into(), Value::String(comment));
        ret.insert("result".into(), Value::Bool(false));
    }
}

/// Runs a state function, turning a panic into Salt's exception result.
fn invoke(f: &DynStateFn, ctx: &StateCtx<'_>, args: &StateArgs) -> Ret {
    match catch_unwind(AssertUnwindSafe(|| f(ctx, args))) {
        Ok(r) => result_map(r),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            result_map(StateResult::fail(
                &args.name,
                format!("An exception occurred in this state: {msg}"),
            ))
        }
    }
}

fn with_test<'a>(ctx: &StateCtx<'a>, test: bool) -> StateCtx<'a> {
    StateCtx {
        test,
        saltenv: ctx.saltenv.clone(),
        grains: ctx.grains,
        pillar: ctx.pillar,
        files: ctx.files,
        templates: ctx.templates,
        caller: ctx.caller,
        cachedir: ctx.cachedir.clone(),
        cancel: ctx.cancel.clone(),
        run: ctx.run.clone(),
    }
}

/// `ctx` for running chunk `low` (Salt's `__low__`).
fn for_low<'a>(ctx: &StateCtx<'a>, test: bool, low: &Map<String, Value>) -> StateCtx<'a> {
    let mut ctx = with_test(ctx, test);
    ctx.run.low = std::sync::Arc::new(low.clone());
    ctx
}

impl<'scope, 'env: 'scope> Runner<'scope, 'env> {
    fn low(&self, ci: usize) -> &Map<String, Value> {
        &self.graph.chunks[ci]
    }

    fn is_prereq(&self, ci: usize) -> bool {
        self.low(ci).get("__prereq__").is_some_and(truthy)
    }

    fn next_run_num(&mut self) -> Value {
        let n = self.run_num;
        self.run_num += 1;
        Value::from(n)
    }

    fn call_chunks(&mut self, order: &[usize]) {
        for &ci in order {
            self.reconcile_procs(None, false);
            let tag = gen_tag(self.low(ci));
            if self.ctx.cancel.is_cancelled() {
                // Killed or timed out: what has not run is reported, not run.
                if !self.running.contains_key(&tag) {
                    let low = self.low(ci).clone();
                    self.record_cancelled(&tag, &low);
                }
                continue;
            }
            if !self.running.contains_key(&tag) {
                tracing::debug!(state = %tag, "running state");
                self.call_chunk(ci, 0);
                if self.failhard_hit || self.check_failhard(ci) {
                    self.failhard_hit = true;
                    break;
                }
            }
        }
        self.reconcile_procs(None, true);
    }

    /// The result of a state that did not run because the job was cancelled.
    fn record_cancelled(&mut self, tag: &str, low: &Map<String, Value>) {
        let mut ret = Map::new();
        let name = low.get("name").cloned().unwrap_or(Value::Null);
        ret.insert("name".into(), name);
        ret.insert("changes".into(), Value::Object(Map::new()));
        ret.insert("result".into(), Value::Bool(false));
        ret.insert(
            "comment".into(),
            Value::String("Not run: the job was killed or timed out before this state".into()),
        );
        let run_num = self.next_run_num();
        ret.insert("__run_num__".into(), run_num);
        ret.insert(
            "__sls__".into(),
            low.get("__sls__").cloned().unwrap_or(Value::Null),
        );
        self.running.insert(tag.to_string(), ret);
    }

    fn check_failhard(&self, ci: usize) -> bool {
        if self.ctx.test {
            return false;
        }
        let low = self.low(ci);
        let failhard = low.get("failhard").map_or(self.opts.failhard, truthy);
        if !failhard {
            return false;
        }
        match self.running.get(&gen_tag(low)) {
            Some(ret) => !ret.get("result").is_some_and(|r| r.is_null() || truthy(r)),
            None => false,
        }
    }

    /// Joins finished parallel states (all of them when `block`), merging
    /// their results over the placeholders.
    fn reconcile_procs(&mut self, only: Option<&[String]>, block: bool) {
        let tags: Vec<String> = self
            .procs
            .iter()
            .filter(|(t, h)| only.is_none_or(|o| o.contains(t)) && (block || h.is_finished()))
            .map(|(t, _)| t.clone())
            .collect();
        for tag in tags {
            let Some(handle) = self.procs.remove(&tag) else {
                continue;
            };
            let ret = handle.join().unwrap_or_else(|_| {
                let mut m = Map::new();
                m.insert("result".into(), Value::Bool(false));
                m.insert("comment".into(), "Parallel process failed to return".into());
                m.insert("changes".into(), Value::Object(Map::new()));
                m
            });
            if let Some(entry) = self.running.get_mut(&tag) {
                entry.extend(ret);
            }
        }
    }

    fn check_requisites(&mut self, ci: usize) -> (Status, IndexMap<ReqType, Vec<usize>>) {
        let mut reqs: IndexMap<ReqType, Vec<usize>> = IndexMap::new();
        for (kind, dc) in self.graph.dependencies(ci) {
            reqs.entry(kind).or_default().push(dc);
        }
        let mut fun_stats: IndexSet<&'static str> = IndexSet::new();
        for (kind, deps) in &reqs {
            let base = kind.base();
            let tags: Vec<String> = deps.iter().map(|&d| gen_tag(self.low(d))).collect();
            self.reconcile_procs(Some(&tags), true);
            let mut stats: IndexSet<&'static str> = IndexSet::new();
            for tag in &tags {
                let ret = if base == ReqType::Prereq {
                    self.pre.get(tag)
                } else {
                    self.running.get(tag)
                };
                let Some(ret) = ret.filter(|r| !r.is_empty()) else {
                    stats.insert("unmet");
                    continue;
                };
                if ret.get("skip_req").is_some_and(truthy) {
                    stats.insert("skip_req");
                }
                let result = ret.get("result");
                if base == ReqType::Onfail {
                    if result == Some(&Value::Bool(true)) {
                        stats.insert("onfail");
                        continue;
                    }
                } else if base == ReqType::Onchanges {
                    if is_false(result) || !changes_of(ret) {
                        stats.insert("onchanges");
                    } else {
                        stats.insert("onchangesmet");
                    }
                    continue;
                } else if is_false(result) {
                    stats.insert("fail");
                    continue;
                }
                if base == ReqType::Watch && changes_of(ret) {
                    stats.insert("change");
                    continue;
                }
                if base == ReqType::Prereq {
                    stats.insert(if result.is_none_or(Value::is_null) {
                        "premet"
                    } else {
                        "pre"
                    });
                } else if ret.get("__state_ran__").is_none_or(truthy) {
                    stats.insert("met");
                }
            }
            let key = kind.key();
            if key.ends_with("_any") || *kind == ReqType::Onfail {
                if stats.contains("met") || stats.contains("change") {
                    stats.shift_remove("fail");
                }
                if stats.contains("onchangesmet") {
                    stats.shift_remove("onchanges");
                    stats.shift_remove("fail");
                }
                if stats.contains("onfail") && stats.contains("met") {
                    stats.shift_remove("onfail");
                }
            }
            if key.ends_with("_all") && stats.contains("onfail") && stats.contains("met") {
                stats.shift_remove("met");
            }
            fun_stats.extend(stats);
        }
        let has = |s: &str| fun_stats.contains(s);
        let status = if has("unmet") {
            Status::Unmet
        } else if has("fail") {
            Status::Fail
        } else if has("skip_req") && (has("onchangesmet") || has("premet")) {
            Status::SkipReq
        } else if has("skip_req") && has("change") {
            Status::SkipWatch
        } else if has("pre") {
            if has("premet") {
                Status::Met
            } else {
                Status::Pre
            }
        } else if has("onfail") && !has("onchangesmet") {
            Status::Onfail
        } else if has("onchanges") && !has("onchangesmet") {
            Status::Onchanges
        } else if has("change") {
            Status::Change
        } else if has("onfail") {
            Status::Onfail
        } else {
            Status::Met
        };
        (status, reqs)
    }

    fn call_chunk(&mut self, ci: usize, depth: usize) {
        let tag = gen_tag(self.low(ci));
        let (status, reqs) = self.check_requisites(ci);
        let prereq = self.is_prereq(ci);
        match status {
            Status::Unmet => self.call_unmet(ci, &tag, depth),
            Status::SkipReq => self.not_run(
                ci,
                &tag,
                true,
                "State was not run because requisites were skipped by another state".into(),
            ),
            Status::SkipWatch if !prereq => {
                let low = self.low(ci).clone();
                let mut ret = self.call(low, ci);
                let comment = ret.get("comment").map(py_str).unwrap_or_default();
                ret.insert(
                    "comment".into(),
                    Value::String(format!(
                        "{comment} mod_watch was not run because requisites were skipped by another state"
                    )),
                );
                self.running.insert(tag, ret);
            }
            Status::Fail => {
                if let Some(mut pre) = self.pre.get(&tag).cloned() {
                    if changes_of(&pre) {
                        pre.insert("changes".into(), Value::Object(Map::new()));
                    }
                    pre.insert("__run_num__".into(), self.next_run_num());
                    for key in ["__sls__", "__id__", "name"] {
                        pre.insert(
                            key.into(),
                            self.low(ci).get(key).cloned().unwrap_or(Value::Null),
                        );
                    }
                    self.running.insert(tag, pre);
                } else {
                    let mut failed: IndexSet<String> = IndexSet::new();
                    for deps in reqs.values() {
                        for &d in deps {
                            let dtag = gen_tag(self.low(d));
                            let ret = self.pre.get(&dtag).or_else(|| self.running.get(&dtag));
                            if ret.is_some_and(|r| is_false(r.get("result"))) {
                                let l = self.low(d);
                                let s = |k: &str| l.get(k).map(py_str).unwrap_or_default();
                                failed.insert(format!("{}.{}", s("__sls__"), s("__id__")));
                            }
                        }
                    }
                    let list: Vec<String> = failed.into_iter().collect();
                    self.not_run(
                        ci,
                        &tag,
                        false,
                        format!("One or more requisite failed: {}", list.join(", ")),
                    );
                }
            }
            Status::Change if !prereq => {
                let low = self.low(ci).clone();
                let mut ret = self.call(low.clone(), ci);
                if !changes_of(&ret) && !ret.get("skip_watch").is_some_and(truthy) {
                    let mut watch = low;
                    let fun = watch.get("fun").cloned().unwrap_or(Value::Null);
                    watch.insert("sfun".into(), fun);
                    watch.insert("fun".into(), Value::String("mod_watch".into()));
                    watch.insert("__reqs__".into(), self.reqs_value(&reqs));
                    ret = self.call(watch, ci);
                }
                self.running.insert(tag, ret);
            }
            Status::Pre => self.not_run(ci, &tag, true, "No changes detected".into()),
            Status::Onfail => self.not_run(
                ci,
                &tag,
                true,
                "State was not run because onfail req did not change".into(),
            ),
            Status::Onchanges => self.not_run(
                ci,
                &tag,
                true,
                "State was not run because none of the onchanges reqs changed".into(),
            ),
            Status::Met | Status::SkipWatch | Status::Change => {
                let low = self.low(ci).clone();
                let ret = self.call(low, ci);
                if prereq {
                    self.pre.insert(tag, ret);
                } else {
                    self.running.insert(tag, ret);
                }
            }
        }
    }

    /// `__reqs__` for `mod_watch`: each requisite with its changes.
    fn reqs_value(&self, reqs: &IndexMap<ReqType, Vec<usize>>) -> Value {
        let mut out = Map::new();
        for (kind, deps) in reqs {
            let list: Vec<Value> = deps
                .iter()
                .map(|&d| {
                    let l = self.low(d);
                    let mut m = Map::new();
                    for k in ["state", "__id__", "name", "fun", "__sls__"] {
                        m.insert(k.into(), l.get(k).cloned().unwrap_or(Value::Null));
                    }
                    let changes = self
                        .running
                        .get(&gen_tag(l))
                        .and_then(|r| r.get("changes").cloned())
                        .unwrap_or(Value::Object(Map::new()));
                    m.insert("changes".into(), changes);
                    Value::Object(m)
                })
                .collect();
            out.insert(kind.key().into(), Value::Array(list));
        }
        Value::Object(out)
    }

    fn not_run(&mut self, ci: usize, tag: &str, result: bool, comment: String) {
        let start = Instant::now();
        let mut ret = Map::new();
        ret.insert("changes".into(), Value::Object(Map::new()));
        ret.insert("result".into(), Value::Bool(result));
        ret.insert("duration".into(), duration_ms(start));
        ret.insert("start_time".into(), Value::String(start_time()));
        ret.insert("comment".into(), Value::String(comment));
        ret.insert("__state_ran__".into(), Value::Bool(false));
        ret.insert("__run_num__".into(), self.next_run_num());
        for key in ["__sls__", "__id__", "name"] {
            ret.insert(
                key.into(),
                self.low(ci).get(key).cloned().unwrap_or(Value::Null),
            );
        }
        if self.is_prereq(ci) {
            self.pre.insert(tag.to_string(), ret.clone());
        }
        self.running.insert(tag.to_string(), ret);
    }

    fn call_unmet(&mut self, ci: usize, tag: &str, depth: usize) {
        // even this depth is generous: ordering already put requisites first
        if depth >= 20 {
            let mut ret = Map::new();
            ret.insert("changes".into(), Value::Object(Map::new()));
            ret.insert("result".into(), Value::Bool(false));
            ret.insert("comment".into(), "Recursive requisite found".into());
            ret.insert("__run_num__".into(), self.next_run_num());
            for key in ["__sls__", "__id__", "name"] {
                ret.insert(
                    key.into(),
                    self.low(ci).get(key).cloned().unwrap_or(Value::Null),
                );
            }
            self.running.insert(tag.to_string(), ret);
            return;
        }
        for (_, dc) in self.graph.dependencies(ci) {
            let dtag = gen_tag(self.low(dc));
            if !self.running.contains_key(&dtag) {
                self.call_chunk(dc, depth + 1);
                if self.check_failhard(dc) {
                    self.failhard_hit = true;
                    return;
                }
            }
        }
        if self.is_prereq(ci) {
            let (status, _) = self.check_requisites(ci);
            if status == Status::Pre {
                let start = Instant::now();
                let mut ret = Map::new();
                ret.insert("changes".into(), Value::Object(Map::new()));
                ret.insert("result".into(), Value::Bool(true));
                ret.insert("duration".into(), duration_ms(start));
                ret.insert("start_time".into(), Value::String(start_time()));
                ret.insert("comment".into(), "No changes detected".into());
                ret.insert("__run_num__".into(), self.next_run_num());
                ret.insert("__state_ran__".into(), Value::Bool(false));
                for key in ["__sls__", "__id__", "name"] {
                    ret.insert(
                        key.into(),
                        self.low(ci).get(key).cloned().unwrap_or(Value::Null),
                    );
                }
                self.pre.insert(tag.to_string(), ret);
            } else {
                let low = self.low(ci).clone();
                let mut ret = self.call(low, ci);
                if !changes_of(&ret) && status == Status::Change {
                    let mut m = Map::new();
                    m.insert("watch".into(), "watch".into());
                    ret.insert("changes".into(), Value::Object(m));
                    ret.insert("result".into(), Value::Null);
                }
                self.pre.insert(tag.to_string(), ret);
            }
        } else {
            self.call_chunk(ci, depth + 1);
        }
        if self.check_failhard(ci) {
            self.failhard_hit = true;
        }
    }

    /// The function a chunk names, or Salt's "not found" text.
    fn resolve(&self, low: &Map<String, Value>) -> Result<DynStateFn, String> {
        let s = |k: &str| low.get(k).map(py_str).unwrap_or_default();
        let (state, fun) = (s("state"), s("fun"));
        if let Some(f) = self
            .opts
            .extra
            .as_ref()
            .and_then(|t| t.lookup(&format!("{state}.{fun}")))
        {
            return Ok(f);
        }
        let found: Option<StateFn> = if fun == "mod_watch" {
            registry::lookup(&format!("{state}.{}", s("sfun"))).and_then(|spec| spec.mod_watch)
        } else {
            registry::lookup(&format!("{state}.{fun}")).map(|spec| spec.run)
        };
        if let Some(f) = found {
            return Ok(Arc::new(f));
        }
        let full = format!("{state}.{fun}");
        let mut msg = match low.get("__sls__") {
            Some(sls) => format!(
                "State '{full}' was not found in SLS '{}'\nReason: '{full}' is not available.\n",
                py_str(sls)
            ),
            None => format!("Specified state '{full}' was not found\n"),
        };
        if let Some(near) = registry::nearest(&full) {
            msg.push_str(&format!("Did you mean '{near}'?\n"));
        }
        Err(msg)
    }

    /// Salt's `State.call`, with its `retry` loop around [`Self::call_once`]:
    /// while the result is not `until` and attempts are left, sleep and run
    /// the state again (checks, function and `check_cmd` each time).
    fn call(&mut self, low: Map<String, Value>, ci: usize) -> Ret {
        let first = self.call_once(low.clone(), ci);
        let prereq = low.get("__prereq__").is_some_and(truthy);
        let Some(retry) = low
            .get("retry")
            .filter(|_| !prereq && !low.contains_key("parallel"))
            .map(retry::Retry::from_value)
        else {
            return first;
        };
        if self.ctx.test {
            let mut ret = first;
            let comment = ret.get("comment").map(py_str).unwrap_or_default();
            ret.insert(
                "comment".into(),
                Value::String(retry.dry_run_note(&comment)),
            );
            return ret;
        }
        let mut attempts = vec![first];
        let mut pauses = Vec::new();
        while attempts.len() < retry.attempts as usize
            && !retry.satisfied_by(attempts.last().and_then(|r| r.get("result")))
        {
            let pause = retry.pause();
            tracing::info!(
                seconds = pause,
                "state result does not match retry until value, running it again"
            );
            std::thread::sleep(std::time::Duration::from_secs(pause));
            pauses.push(pause);
            attempts.push(self.call_once(low.clone(), ci));
        }
        retry::combine(attempts, &pauses)
    }

    /// One run of a state: checks, `onlyif`/`unless`/`creates`, the state
    /// function (in a thread for `parallel: True`), `check_cmd`, then the
    /// run fields.
    fn call_once(&mut self, low: Map<String, Value>, ci: usize) -> Ret {
        let started = Instant::now();
        let start = start_time();
        let name = low.get("name").cloned().unwrap_or(Value::Null);
        let mut errors = String::new();
        if !name.is_string() {
            let sls = low
                .get("__sls__")
                .map(|s| format!("in SLS '{}' ", py_str(s)))
                .unwrap_or_default();
            let kind = match &name {
                Value::Number(n) if n.is_f64() => "float",
                Value::Number(_) => "int",
                Value::Bool(_) => "bool",
                Value::Array(_) => "list",
                Value::Object(_) => "dict",
                _ => "NoneType",
            };
            errors = format!(
                "ID '{}' {sls}is not formed as a string, but is a {kind}\n",
                py_str(&name)
            );
        }
        let f = if errors.is_empty() {
            self.resolve(&low).map_err(|e| errors = e).ok()
        } else {
            None
        };
        let Some(f) = f else {
            let mut ret = Map::new();
            ret.insert("result".into(), Value::Bool(false));
            ret.insert("name".into(), name);
            ret.insert("changes".into(), Value::Object(Map::new()));
            ret.insert("comment".into(), Value::String(errors));
            ret.insert("__run_num__".into(), self.next_run_num());
            return ret;
        };
        let prereq = low.get("__prereq__").is_some_and(truthy);
        let ctx = for_low(self.ctx, self.ctx.test || prereq, &low);
        let mut ret = Map::new();
        ret.insert("result".into(), Value::Bool(false));
        ret.insert("name".into(), name.clone());
        ret.insert("changes".into(), Value::Object(Map::new()));
        if ["unless", "onlyif", "creates"]
            .iter()
            .any(|k| low.contains_key(*k))
        {
            ret.extend(checks::run_check(&ctx, &low));
        }
        let module = low.get("state").map(py_str).unwrap_or_default();
        let own_check_cmd = check_cmd::OWN_CHECK_CMD.contains(&module.as_str());
        if is_false(ret.get("result")) {
            let mut args = state_args(&low);
            if let Some(cmd) = low.get("check_cmd").filter(|_| own_check_cmd) {
                args.args.insert("check_cmd".into(), cmd.clone());
            }
            if !prereq && low.get("parallel").is_some_and(truthy) {
                let tag = gen_tag(&low);
                let parent = self.ctx;
                let this_low = low.clone();
                let handle = self.scope.spawn(move || {
                    let started = Instant::now();
                    let start = start_time();
                    let ctx = for_low(parent, parent.test, &this_low);
                    let mut ret = parent.cancel.scope(|| invoke(&f, &ctx, &args));
                    ret.insert("start_time".into(), Value::String(start));
                    ret.insert("duration".into(), duration_ms(started));
                    ret.insert("__parallel__".into(), Value::Bool(true));
                    ret
                });
                self.procs.insert(tag, handle);
                ret = Map::new();
                ret.insert("name".into(), name);
                ret.insert("result".into(), Value::Null);
                ret.insert("changes".into(), Value::Object(Map::new()));
                ret.insert("comment".into(), "Started in a separate process".into());
            } else {
                ret = invoke(&f, &ctx, &args);
            }
        }
        if low.contains_key("check_cmd") && !own_check_cmd {
            ret.extend(check_cmd::run_check_cmd(&ctx, &low));
        }
        if !prereq && low.get("fire_event").is_some_and(truthy) {
            fire_event(&ctx, &low, &mut ret);
        }
        if prereq {
            self.graph.chunks[ci].insert("__prereq__".into(), Value::Bool(false));
            return ret;
        }
        ret.insert(
            "__sls__".into(),
            low.get("__sls__").cloned().unwrap_or(Value::Null),
        );
        ret.insert("__run_num__".into(), self.next_run_num());
        ret.insert("start_time".into(), Value::String(start));
        ret.insert("duration".into(), duration_ms(started));
        ret.insert(
            "__id__".into(),
            low.get("__id__").cloned().unwrap_or(Value::Null),
        );
        ret
    }

    /// Salt's `call_listen`: after everything ran, the `mod_watch` of each
    /// state listening to a state that changed.
    fn call_listen(&mut self, order: &[usize]) {
        if self.failhard_hit {
            return;
        }
        type Key = (String, String, String);
        let mut crefs: IndexMap<Key, usize> = IndexMap::new();
        let mut listeners: Vec<(Key, Vec<Value>)> = Vec::new();
        for &ci in order {
            let low = self.low(ci);
            let s = |k: &str| low.get(k).map(py_str).unwrap_or_default();
            let key = (s("state"), s("__id__"), s("name"));
            crefs.insert(key.clone(), ci);
            if let Some(Value::Array(l)) = low.get("listen") {
                listeners.push((key, l.clone()));
            }
            if let Some(Value::Array(l_in)) = low.get("listen_in") {
                for item in l_in {
                    for (k, v) in item.as_object().into_iter().flatten() {
                        let mut target = Map::new();
                        target.insert(s("state"), Value::String(s("__id__")));
                        listeners.push((
                            (k.clone(), py_str(v), "lookup".into()),
                            vec![Value::Object(target)],
                        ));
                    }
                }
            }
        }
        let matches = |crefs: &IndexMap<Key, usize>, state: &str, val: &str| -> Vec<usize> {
            crefs
                .iter()
                .filter(|(c, _)| c.0 == state && (c.0 == val || c.1 == val || c.2 == val))
                .map(|(_, &ci)| ci)
                .collect()
        };
        let mut errors: IndexMap<String, Ret> = IndexMap::new();
        let mut watchers: Vec<Map<String, Value>> = Vec::new();
        let listen_error = |lkey: &str, lval: &str| -> (String, Ret) {
            let tag = format!("Listen_Error_|-listen_{lval}_|-listen_{lkey}_|-Listen_Error");
            let mut m = Map::new();
            m.insert(
                "comment".into(),
                Value::String(format!("Referenced state {lkey}: {lval} does not exist")),
            );
            m.insert(
                "name".into(),
                Value::String(format!("listen_{lkey}:{lval}")),
            );
            m.insert("result".into(), Value::Bool(false));
            m.insert("changes".into(), Value::Object(Map::new()));
            (tag, m)
        };
        for (key, targets) in listeners {
            for listen_to in targets {
                let listen_to: Map<String, Value> = match listen_to {
                    Value::Object(m) => m,
                    other => {
                        let want = py_str(&other);
                        let mut found = None;
                        for &ci in order {
                            let l = self.low(ci);
                            if l.get("__id__").map(py_str).as_deref() == Some(want.as_str())
                                || l.get("name").map(py_str).as_deref() == Some(want.as_str())
                            {
                                let mut m = Map::new();
                                m.insert(
                                    l.get("state").map(py_str).unwrap_or_default(),
                                    l.get("__id__").cloned().unwrap_or(Value::Null),
                                );
                                found = Some(m);
                            }
                        }
                        match found {
                            Some(m) => m,
                            None => continue,
                        }
                    }
                };
                for (lkey, lval) in listen_to {
                    let lval = py_str(&lval);
                    let to = matches(&crefs, &lkey, &lval);
                    if to.is_empty() {
                        let (t, e) = listen_error(&lkey, &lval);
                        errors.insert(t, e);
                        continue;
                    }
                    for to_ci in to {
                        let to_tag = gen_tag(self.low(to_ci));
                        let Some(r) = self.running.get(&to_tag) else {
                            continue;
                        };
                        if !changes_of(r) {
                            continue;
                        }
                        let new = matches(&crefs, &key.0, &key.1);
                        if new.is_empty() {
                            let (t, e) = listen_error(&key.0, &key.1);
                            errors.insert(t, e);
                            continue;
                        }
                        for nc in new {
                            let mut low = self.low(nc).clone();
                            let fun = low.get("fun").cloned().unwrap_or(Value::Null);
                            low.insert("sfun".into(), fun);
                            low.insert("fun".into(), "mod_watch".into());
                            let id = low.get("__id__").map(py_str).unwrap_or_default();
                            low.insert("__id__".into(), Value::String(format!("listener_{id}")));
                            for req in REQUISITE_KEYWORDS {
                                low.shift_remove(req);
                            }
                            low.shift_remove("__prereq__");
                            watchers.push(low);
                        }
                    }
                }
            }
        }
        let watcher_order: Vec<usize> = watchers
            .into_iter()
            .map(|low| self.graph.add_chunk(low))
            .collect();
        let main = std::mem::take(&mut self.running);
        self.call_chunks(&watcher_order);
        let listened = std::mem::replace(&mut self.running, main);
        self.running.extend(listened);
        for (tag, mut err) in errors {
            err.insert("__run_num__".into(), self.next_run_num());
            self.running.insert(tag, err);
        }
    }
}
