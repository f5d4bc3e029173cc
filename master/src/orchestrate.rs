//! Salt's orchestrate runner (`state.orchestrate`, alias `state.orch` and
//! `state.sls`): an SLS from the master's file server, rendered like any
//! SLS, run by the state runtime on the master with the orchestration
//! functions of Salt's `saltmod` state module besides the registry's:
//! `salt.state` and `salt.function` publish real jobs through the master's
//! job path and judge every targeted minion's return, `salt.runner` runs
//! one of this master's runners, `salt.wait_for_event` fails (no event bus).
//! A step's `batch` runs its job over the master's rolling batch window
//! (`batched`).
//!
//! Runners run on a blocking thread; the jobs are async, so the functions
//! hold the runtime's handle and block on them.

use std::collections::BTreeSet;
use std::sync::Arc;

use brine_pki::channel::read_frame;
use brine_proto::targeting::{MinionFacts, TargetType};
use brine_proto::{CliReply, JobReturn, Missing};
use brine_states::compile::HighCompiler;
use brine_states::render::{ContextRenderer, ContextTemplates};
use brine_states::runtime::{DynStateFn, RunOpts, StateTable};
use brine_states::{FileSource, SourceError, StateArgs, StateCtx, StateResult};
use serde_json::{json, Map, Value};

use crate::batch::{batch_size, BatchWindow};
use crate::fileserver::{pillar_renderer, FileServer, ServeError};
use crate::jobs::{expected_minions, publish, resolve_target, PublishRequest};
use crate::state::Master;

/// The runner names that orchestrate, as Salt's `state` runner has them.
pub const NAMES: [&str; 3] = ["state.orchestrate", "state.orch", "state.sls"];

/// The master's file server as the state compiler reads files.
pub struct ServedFiles<'a>(pub &'a FileServer);

impl FileSource for ServedFiles<'_> {
    fn read(&self, saltenv: &str, path: &str) -> Result<Option<Vec<u8>>, SourceError> {
        match self.0.get(saltenv, path, None) {
            Ok(found) => Ok(found.and_then(|blob| blob.data)),
            Err(ServeError::Source(e)) => Err(e),
            Err(other) => Err(SourceError::Remote(other.to_string())),
        }
    }

    fn list(&self, saltenv: &str) -> Result<Vec<String>, SourceError> {
        match self.0.list(saltenv) {
            Ok(files) => Ok(files.into_iter().map(|(path, _)| path).collect()),
            Err(ServeError::Source(e)) => Err(e),
            Err(other) => Err(SourceError::Remote(other.to_string())),
        }
    }

    fn envs(&self) -> Vec<String> {
        self.0.envs()
    }

    fn list_dirs(&self, saltenv: &str) -> Result<Vec<String>, SourceError> {
        match self.0.dir_list(saltenv) {
            Ok(dirs) => Ok(dirs),
            Err(ServeError::Source(e)) => Err(e),
            Err(other) => Err(SourceError::Remote(other.to_string())),
        }
    }
}

/// Renders `mods` of `saltenv` into verified high data (Salt's
/// `state.show_sls` on the master), or Salt's error list.
pub fn render_high(
    files: &dyn FileSource,
    renderer: &ContextRenderer<'_>,
    mods: &[String],
    saltenv: &str,
) -> Result<Map<String, Value>, Vec<String>> {
    let mut compiler = HighCompiler::new(files, renderer);
    let (high, mut errors) = compiler.render_highstate(&[(saltenv.to_string(), mods.to_vec())]);
    for (id, sls, ty) in &compiler.non_string_ids {
        errors.push(format!(
            "ID '{id}' in SLS '{sls}' is not formed as a string, but is type {ty}. It may need to be quoted."
        ));
    }
    for e in brine_states::high::verify_high(&high) {
        if !errors.contains(&e) {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(high)
    } else {
        Err(errors)
    }
}

/// The id orchestration results are listed under, as Salt's master minion
/// (`<id>_master`).
pub fn orchestrator_id(master: &Master) -> String {
    let id = &master.config.id;
    if id.ends_with("_master") {
        id.clone()
    } else {
        format!("{id}_master")
    }
}

fn truthy_arg(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Null => None,
        Value::Bool(b) => Some(*b),
        Value::String(s) => Some(matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "yes" | "on" | "1"
        )),
        Value::Number(n) => Some(n.as_f64() != Some(0.0)),
        other => Some(!other.is_null()),
    }
}

/// `mods` as Salt takes it: a list, or a comma-separated string.
fn split_mods(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Value::String(s) => s
            .split(',')
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .collect(),
        other => vec![other.to_string()],
    }
}

/// Salt's `state.orchestrate(mods, saltenv='base', test=None, exclude=None,
/// pillar=None, pillarenv=None)`: `{"data": {id: results}, "outputter":
/// "highstate", "retcode": 0|1}`.
pub fn orchestrate(
    master: &Arc<Master>,
    user: &str,
    arg: &[Value],
    kwarg: &Map<String, Value>,
) -> Result<Value, String> {
    let mods = kwarg
        .get("mods")
        .or_else(|| arg.first())
        .map(split_mods)
        .filter(|m| !m.is_empty())
        .ok_or("state.orchestrate: missing required argument 'mods' (the SLS to run)")?;
    let saltenv = kwarg
        .get("saltenv")
        .or_else(|| arg.get(1))
        .and_then(Value::as_str)
        .unwrap_or("base")
        .to_string();
    let overrides = match kwarg.get("pillar") {
        None | Some(Value::Null) => None,
        Some(p @ Value::Object(_)) => Some(p.clone()),
        Some(_) => return Err("Pillar data must be formatted as a dictionary".into()),
    };
    let test = truthy_arg(kwarg.get("test")).unwrap_or(false);
    let pillarenv = kwarg.get("pillarenv").and_then(Value::as_str);
    let id = orchestrator_id(master);
    let grains = Map::new();
    let opts = json!({"id": id, "__role": "master", "test": test, "saltenv": saltenv});
    let functions = master.pillar_functions.get().map(|make| make(&id, &grains));
    // the orchestrator's own pillar from the pillar roots, `pillar=` over it
    let pillar_render = pillar_renderer(
        master.files.pillar_roots(),
        &grains,
        &opts,
        functions.as_deref().map(|f| f as _),
    );
    let facts = MinionFacts {
        id: &id,
        grains: &grains,
        pillar: None,
    };
    let compiled =
        master
            .files
            .pillar(&facts, pillarenv, &pillar_render, &master.config.nodegroups);
    let mut pillar = compiled.pillar;
    if let Some(o) = overrides {
        brine_states::data::update(&mut pillar, o, false);
    }
    let files = ServedFiles(&master.files);
    let mut renderer =
        pillar_renderer(&files, &grains, &opts, functions.as_deref().map(|f| f as _));
    renderer.pillar = &pillar;
    let mut exclude = kwarg.get("exclude").cloned();
    let running: Value = match render_high(&files, &renderer, &mods, &saltenv) {
        Err(errors) => json!(errors),
        Ok(mut high) => {
            if let Some(ex) = exclude.take().filter(|e| !e.is_null()) {
                let list = match ex {
                    Value::Array(l) => l,
                    Value::String(s) => s.split(',').map(|x| json!(x.trim())).collect(),
                    other => vec![other],
                };
                high.insert("__exclude__".into(), Value::Array(list));
            }
            let templates = ContextTemplates {
                renderer: &renderer,
                saltenv: &saltenv,
            };
            let ctx = StateCtx {
                test,
                saltenv: saltenv.clone(),
                grains: &grains,
                pillar: &pillar,
                files: &files,
                templates: &templates,
                caller: renderer.caller,
                cachedir: master.config.cachedir.join("orchestrate"),
                cancel: Default::default(),
                run: Default::default(),
            };
            let table = Orchestration {
                master: master.clone(),
                handle: tokio::runtime::Handle::try_current().map_err(|_| {
                    "state.orchestrate: runs only on the master's runtime".to_string()
                })?,
                user: user.to_string(),
                failhard: truthy_arg(kwarg.get("failhard")).unwrap_or(false),
            };
            let opts = RunOpts {
                failhard: table.failhard,
                extra: Some(Arc::new(table)),
            };
            match brine_states::runtime::apply(&high, &ctx, &opts) {
                Ok(results) => Value::Object(results),
                Err(errors) => json!(errors),
            }
        }
    };
    let ok = match &running {
        Value::Object(results) => results
            .values()
            .all(|r| r.get("result") != Some(&Value::Bool(false))),
        _ => false,
    };
    Ok(json!({
        "data": { id: running },
        "outputter": "highstate",
        "retcode": if ok { 0 } else { 1 },
    }))
}

/// The orchestration functions (Salt's `saltmod`), bound to this master.
struct Orchestration {
    master: Arc<Master>,
    handle: tokio::runtime::Handle,
    user: String,
    /// The orchestration's own `failhard` (Salt's `__opts__["failhard"]`),
    /// which a batched step honours like its own.
    failhard: bool,
}

impl StateTable for Orchestration {
    fn lookup(&self, name: &str) -> Option<DynStateFn> {
        let f: fn(&Orchestration, &StateCtx<'_>, &StateArgs) -> StateResult = match name {
            "salt.state" => salt_state,
            "salt.function" => salt_function,
            "salt.runner" => salt_runner,
            "salt.wait_for_event" => wait_for_event,
            _ => return None,
        };
        let me = Orchestration {
            master: self.master.clone(),
            handle: self.handle.clone(),
            user: self.user.clone(),
            failhard: self.failhard,
        };
        Some(Arc::new(move |ctx, args| f(&me, ctx, args)))
    }
}

/// What one published job gave back.
#[derive(Debug)]
struct JobOutcome {
    returns: Vec<JobReturn>,
    missing: Vec<Missing>,
}

impl Orchestration {
    /// Publishes a job through the master's normal job path (job cache,
    /// expected minions) and waits for its returns or its timeout.
    fn run_job(&self, req: PublishRequest) -> Result<JobOutcome, String> {
        let master = self.master.clone();
        let frames = self.handle.block_on(async move {
            let mut buf: Vec<u8> = Vec::new();
            publish(&master, req, &mut buf).await;
            let mut rd = &buf[..];
            let mut replies = Vec::new();
            while let Ok(Some(reply)) = read_frame::<CliReply, _>(&mut rd).await {
                replies.push(reply);
            }
            replies
        });
        let mut outcome = JobOutcome {
            returns: Vec::new(),
            missing: Vec::new(),
        };
        for reply in frames {
            match reply {
                CliReply::Error { message } => return Err(message),
                CliReply::NoMatch => {}
                CliReply::Return(ret) => outcome.returns.push(ret),
                CliReply::Done { missing, .. } => outcome.missing = missing,
                _ => {}
            }
        }
        Ok(outcome)
    }

    /// The step's job: one job, or with `batch` the master's rolling window
    /// over the matched minions, a job per start (Salt's `cmd_batch`).
    fn run_step(&self, args: &StateArgs, req: PublishRequest) -> Result<StepRun, String> {
        let Some(spec) = args
            .get("batch")
            .filter(|v| !v.is_null() && **v != Value::Bool(false) && v.as_str() != Some(""))
            .map(batched::batch_spec)
        else {
            return Ok(StepRun {
                outcome: self.run_job(req)?,
                not_run: Vec::new(),
            });
        };
        let wait = batched::batch_wait(args.get("batch_wait"))?;
        let (_, _, expr) = resolve_target(&self.master, &req.tgt, req.tgt_type)?;
        let ids = expected_minions(&self.master, &expr);
        if ids.is_empty() {
            return Ok(StepRun {
                outcome: JobOutcome {
                    returns: Vec::new(),
                    missing: Vec::new(),
                },
                not_run: Vec::new(),
            });
        }
        let size = batch_size(&spec, ids.len())?;
        let failhard = args.bool("failhard", false) || self.failhard;
        let master = self.master.clone();
        let start = move |ids: Vec<String>, tx| {
            let job = PublishRequest {
                tgt: ids.join(","),
                tgt_type: TargetType::List,
                fun: req.fun.clone(),
                arg: req.arg.clone(),
                kwarg: req.kwarg.clone(),
                timeout: req.timeout,
                detach: false,
                user: req.user.clone(),
            };
            tokio::spawn(batched::sub_job(master.clone(), job, ids, tx));
        };
        let run = self.handle.block_on(batched::drive(
            BatchWindow::new(ids, size, wait),
            failhard,
            start,
        ))?;
        Ok(StepRun {
            outcome: run.outcome,
            not_run: run.not_run,
        })
    }

    /// The job of a `salt.state`/`salt.function` step: target, timeout, and
    /// warnings for the options this master ignores.
    fn request(
        &self,
        args: &StateArgs,
        fun: &str,
        arg: Vec<Value>,
        kwarg: Map<String, Value>,
        warnings: &mut Vec<String>,
    ) -> Result<PublishRequest, String> {
        let tgt = match args.get("tgt") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(ids)) => ids
                .iter()
                .map(|i| i.as_str().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(","),
            _ => return Err("Passed invalid value for 'tgt'".into()),
        };
        let tgt_type: TargetType = args
            .str("tgt_type")
            .or_else(|| args.str("expr_form"))
            .unwrap_or_else(|| "glob".into())
            .parse()
            .map_err(|e: brine_proto::targeting::TargetError| e.to_string())?;
        for ignored in ["concurrent", "queue", "subset", "ssh", "ret"] {
            if args
                .get(ignored)
                .is_some_and(|v| *v != Value::Bool(false) && v.as_str() != Some(""))
            {
                warnings.push(format!(
                    "'{ignored}' is not supported by this master's orchestration and was ignored"
                ));
            }
        }
        let timeout = args.get("timeout").and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_f64().map(|f| f.ceil() as u64))
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        });
        Ok(PublishRequest {
            tgt,
            tgt_type,
            fun: fun.to_string(),
            arg,
            kwarg,
            timeout,
            detach: false,
            user: self.user.clone(),
        })
    }
}

/// `fail_minions` as Salt takes it: a list or a comma-separated string.
fn fail_minions(args: &StateArgs, warnings: &mut Vec<String>) -> BTreeSet<String> {
    match args.get("fail_minions") {
        None => BTreeSet::new(),
        Some(Value::String(s)) => s.split(',').map(|m| m.trim().to_string()).collect(),
        Some(Value::Array(l)) => l
            .iter()
            .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_string))
            .collect(),
        Some(_) => {
            warnings.push(
                "'fail_minions' needs to be a list or a comma separated string. Ignored.".into(),
            );
            BTreeSet::new()
        }
    }
}

/// Salt's `state.check_result`: a state return with no failed state.
fn states_succeeded(ret: &Value) -> bool {
    match ret {
        Value::Object(states) if !states.is_empty() => states.values().all(|s| match s {
            Value::Object(s) => s.get("result") != Some(&Value::Bool(false)),
            _ => true,
        }),
        _ => false,
    }
}

/// What a targeted minion that did not return shows in the step's changes.
fn did_not_return(m: &Missing) -> Value {
    json!(format!("Minion did not return. [{}]", m.reason.describe()))
}

/// Salt's `saltmod.state`: runs `state.sls`/`state.highstate` on the
/// target; fails when a minion (not in `fail_minions`, beyond `allow_fail`)
/// fails or does not return.
fn salt_state(o: &Orchestration, ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let mut ret = StateResult::new(&args.name);
    let mut warnings = Vec::new();
    let (fun, arg) = if args.bool("highstate", false) {
        ("state.highstate", Vec::new())
    } else if let Some(top) = args.get("top") {
        ("state.top", vec![top.clone()])
    } else if let Some(sls) = args.get("sls") {
        let list = match sls {
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(","),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        ("state.sls", vec![json!(list)])
    } else {
        ret.result = Some(false);
        ret.comment = "No highstate or sls specified, no execution made".into();
        return ret;
    };
    let mut kwarg = Map::new();
    let test = ctx.test || args.bool("test", false);
    if test || args.get("test").is_some() {
        kwarg.insert("test".into(), json!(test));
    }
    for key in ["pillar", "saltenv", "pillarenv", "exclude"] {
        if let Some(v) = args.get(key) {
            kwarg.insert(key.into(), v.clone());
        }
    }
    if fun == "state.sls" && !kwarg.contains_key("saltenv") {
        // the orchestration's environment, as Salt's `__env__`
        kwarg.insert("saltenv".into(), json!(ctx.saltenv));
    }
    let allow_fail = args
        .get("allow_fail")
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .unwrap_or(0) as usize;
    let fail_ok = fail_minions(args, &mut warnings);
    let expect_minions = args.bool("expect_minions", true);
    let req = match o.request(args, fun, arg, kwarg, &mut warnings) {
        Ok(r) => r,
        Err(e) => {
            ret.result = Some(false);
            ret.comment = e;
            ret.warnings = warnings;
            return ret;
        }
    };
    let step = match o.run_step(args, req) {
        Ok(x) => x,
        Err(e) => {
            ret.result = Some(false);
            ret.comment = e;
            ret.warnings = warnings;
            return ret;
        }
    };
    ret.warnings = warnings;
    let judged = judge_state(
        ret,
        step.outcome,
        &StateJudgement {
            fail_ok,
            allow_fail,
            expect_minions,
            test,
        },
    );
    note_not_run(&step.not_run, judged)
}

/// What a step's job (or batched jobs) gave back.
struct StepRun {
    outcome: JobOutcome,
    /// The minions a batch run's `failhard` kept from running.
    not_run: Vec<String>,
}

/// Salt leaves the minions `failhard` kept from running out of the step's
/// return; the comment names them, so none goes unnoticed.
fn note_not_run(not_run: &[String], mut ret: StateResult) -> StateResult {
    if !not_run.is_empty() {
        ret.comment.push_str(&format!(
            " Batch run stopped by failhard; not run on: {}.",
            not_run.join(", ")
        ));
    }
    ret
}

/// How a `salt.state` step judges its minions' returns.
struct StateJudgement {
    /// `fail_minions`: may fail without failing the step.
    fail_ok: BTreeSet<String>,
    /// `allow_fail`: how many other minions may fail.
    allow_fail: usize,
    /// `expect_minions`: a targeted minion that did not return fails.
    expect_minions: bool,
    test: bool,
}

/// Salt's verdict on a `salt.state` job: changes hold each changed minion's
/// return (`out: highstate`), the comment names who changed, who did not,
/// and who failed and how.
fn judge_state(mut ret: StateResult, outcome: JobOutcome, j: &StateJudgement) -> StateResult {
    if outcome.returns.is_empty() && outcome.missing.is_empty() && j.expect_minions {
        ret.result = Some(false);
        ret.comment = "No minions returned".into();
        return ret;
    }
    let mut fail = Vec::new();
    let mut changes = Map::new();
    let mut updated = Vec::new();
    let mut no_change = Vec::new();
    let mut returns = outcome.returns;
    returns.sort_by(|a, b| a.id.cmp(&b.id));
    for r in returns {
        if r.error.is_some() || !states_succeeded(&r.ret) {
            if !j.fail_ok.contains(&r.id) {
                fail.push(r.id.clone());
            }
            changes.insert(r.id, r.ret);
            continue;
        }
        let any_change = r.ret.as_object().is_some_and(|states| {
            states.values().any(|s| {
                s.get("changes")
                    .is_some_and(|c| c.as_object().is_some_and(|m| !m.is_empty()))
            })
        });
        if any_change {
            updated.push(r.id.clone());
            changes.insert(r.id, r.ret);
        } else {
            no_change.push(r.id);
        }
    }
    if j.expect_minions {
        for m in &outcome.missing {
            if !j.fail_ok.contains(&m.id) {
                fail.push(m.id.clone());
            }
            changes.insert(m.id.clone(), did_not_return(m));
        }
    }
    if !changes.is_empty() {
        ret.changes.insert("out".into(), json!("highstate"));
        ret.changes.insert("ret".into(), Value::Object(changes));
    }
    if fail.len() > j.allow_fail {
        ret.result = Some(false);
        ret.comment = format!("Run failed on minions: {}", fail.join(", "));
    } else {
        ret.result = Some(true);
        ret.comment = "States ran successfully.".into();
        if !updated.is_empty() {
            ret.comment
                .push_str(&format!(" Updating {}.", updated.join(", ")));
        }
        if !no_change.is_empty() {
            ret.comment
                .push_str(&format!(" No changes made to {}.", no_change.join(", ")));
        }
    }
    if j.test && !ret.changes.is_empty() && ret.result == Some(true) {
        // test mode with changes is the only case where result is None
        ret.result = None;
    }
    ret
}

/// Salt's `saltmod.function`: one execution function on the target; not run
/// under `test=True`.
fn salt_function(o: &Orchestration, ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let mut ret = StateResult::new(&args.name);
    let mut warnings = Vec::new();
    let fun = args.name.clone();
    let tgt = args.str("tgt").unwrap_or_default();
    let arg = match args.get("arg") {
        None => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(Value::String(s)) => {
            warnings.push("Please specify 'arg' as a list of arguments.".into());
            s.split_whitespace().map(|w| json!(w)).collect()
        }
        Some(other) => vec![other.clone()],
    };
    let kwarg = match args.get("kwarg") {
        None => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            ret.result = Some(false);
            ret.comment = "'kwarg' must be a dictionary".into();
            return ret;
        }
    };
    if ctx.test {
        ret.result = None;
        ret.comment = format!("Function {fun} would be executed on target {tgt}");
        ret.warnings = warnings;
        return ret;
    }
    if let Some(f) = args.get("fail_function").filter(|v| !v.is_null()) {
        // Salt calls `__salt__[fail_function](ret)` on the master's own
        // minion; this master runs no execution modules of its own
        warnings.push(format!(
            "'fail_function' ({}) needs an execution module run on the master, which this \
             master does not have; it was ignored and each minion was judged by its \
             retcode and return",
            f.as_str().map_or_else(|| f.to_string(), str::to_string)
        ));
    }
    let fail_ok = fail_minions(args, &mut warnings);
    let expect_minions = args.bool("expect_minions", false);
    let step = match o
        .request(args, &fun, arg, kwarg, &mut warnings)
        .and_then(|req| o.run_step(args, req))
    {
        Ok(x) => x,
        Err(e) => {
            ret.result = Some(false);
            ret.comment = e;
            ret.warnings = warnings;
            return ret;
        }
    };
    ret.warnings = warnings;
    let judged = judge_function(ret, &fun, step.outcome, &fail_ok, expect_minions);
    note_not_run(&step.not_run, judged)
}

/// Salt's verdict on a `salt.function` job: a minion fails on a non-zero
/// retcode or an error (unless in `fail_minions`); changes hold every
/// minion's return.
fn judge_function(
    mut ret: StateResult,
    fun: &str,
    outcome: JobOutcome,
    fail_ok: &BTreeSet<String>,
    expect_minions: bool,
) -> StateResult {
    if outcome.returns.is_empty() && (outcome.missing.is_empty() || !expect_minions) {
        ret.result = Some(false);
        ret.comment = "No minions responded".into();
        return ret;
    }
    let mut fail = Vec::new();
    let mut changes = Map::new();
    let mut returns = outcome.returns;
    returns.sort_by(|a, b| a.id.cmp(&b.id));
    for r in returns {
        // a non-zero retcode fails even a minion in `fail_minions`, as Salt
        let failed = r.retcode != 0
            || ((r.error.is_some() || r.ret == Value::Bool(false)) && !fail_ok.contains(&r.id));
        if failed {
            fail.push(r.id.clone());
        }
        changes.insert(r.id, r.ret);
    }
    if expect_minions {
        for m in &outcome.missing {
            if !fail_ok.contains(&m.id) {
                fail.push(m.id.clone());
            }
            changes.insert(m.id.clone(), did_not_return(m));
        }
    }
    let ran_on: Vec<String> = changes.keys().cloned().collect();
    if !changes.is_empty() {
        ret.changes.insert("ret".into(), Value::Object(changes));
    }
    if fail.is_empty() {
        ret.result = Some(true);
        ret.comment = "Function ran successfully.".into();
    } else {
        ret.result = Some(false);
        ret.comment = format!(
            "Running function {fun} failed on minions: {}",
            fail.join(", ")
        );
    }
    if !ran_on.is_empty() {
        ret.comment
            .push_str(&format!(" Function {fun} ran on {}.", ran_on.join(", ")));
    }
    ret
}

/// Salt's `saltmod.runner`: one of this master's runners, the step's other
/// arguments as its keyword arguments.
fn salt_runner(o: &Orchestration, ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.clone();
    if ctx.test {
        let mut ret = StateResult::new(&name);
        ret.result = None;
        ret.comment = format!("Runner function '{name}' would be executed.");
        return ret;
    }
    let mut kwarg = args.args.clone();
    kwarg.remove("name");
    let arg = match kwarg.remove("arg") {
        Some(Value::Array(a)) => a,
        Some(v) => vec![v],
        None => Vec::new(),
    };
    if let Some(Value::Object(kw)) = kwarg.remove("kwarg") {
        kwarg.extend(kw);
    }
    // runners block on the runtime; a `parallel: True` step is on a thread
    // of its own, outside it
    let _runtime = o.handle.enter();
    // Salt's `saltutil.runner(full_return=True)`: the return, and whether
    // the runner succeeded (a nested orchestration that failed did not)
    let (value, success) = match crate::runners::run(&o.master, &o.user, &name, &arg, &kwarg) {
        CliReply::Value { value } => {
            let failed = value.get("outputter").is_some()
                && value.get("retcode").and_then(Value::as_i64).unwrap_or(0) != 0;
            (value, !failed)
        }
        CliReply::Error { message } => (Value::String(message), false),
        other => (
            Value::String(format!("unexpected runner reply: {other:?}")),
            false,
        ),
    };
    let mut ret = StateResult::new(&name);
    ret.result = Some(success);
    ret.comment = format!(
        "Runner function '{name}' {}.",
        if success { "executed" } else { "failed" }
    );
    ret.changes.insert("return".into(), value);
    ret
}

/// `salt.wait_for_event` needs the master's event bus, which this master
/// does not have yet: a failure that says so, never a silent pass.
fn wait_for_event(_: &Orchestration, _: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    StateResult::fail(
        &args.name,
        "salt.wait_for_event is not available: this master has no event bus yet, \
         so there is no event to wait for",
    )
}

mod batched;

#[cfg(test)]
mod tests;
