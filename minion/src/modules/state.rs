//! `state.*`: render SLS files into high data, show each stage, and apply
//! states (highstate or named SLS), as Salt's state module does. The heavy
//! lifting is in `brine_states`; `state_sys` wires it to this minion.

use serde_json::{Map, Value};

use crate::registry::{as_bool, Args, CallCtx, FunctionSpec, ModError, ModFuture, ModOutput};
use crate::state_sys::{StateCallError, StateSystem};

/// Salt's `EX_STATE_COMPILER_ERROR` as the CLI sees it, and the retcode of
/// a run where a state failed (`EX_STATE_FAILURE`).
const RETCODE_COMPILE: i32 = 1;
const RETCODE_FAILED: i32 = 2;
/// Salt's `EX_PILLAR_FAILURE`.
const RETCODE_PILLAR: i32 = 5;

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "state.apply",
        doc: "Apply states: with no SLS names the highstate (top file), otherwise those SLS.\n\n\
              - mods: SLS names, comma separated or a list.\n\
              - test: dry run, report what would change (default False).\n\
              - pillar: a mapping merged over the minion's pillar.\n\
              - saltenv: environment (default base).\n\
              - exclude: SLS or IDs to leave out.",
        cli_example: "brine '*' state.apply\nbrine '*' state.apply web,db test=True",
        run: apply,
    },
    FunctionSpec {
        name: "state.highstate",
        doc: "Apply the highstate: every SLS the top file gives this minion.\n\n\
              - test, pillar, saltenv, exclude: as state.apply.",
        cli_example: "brine '*' state.highstate test=True",
        run: highstate,
    },
    FunctionSpec {
        name: "state.show_highstate",
        doc: "Return the high data of the highstate, rendered but not applied.\n\n\
              - pillar, saltenv: as state.apply.",
        cli_example: "brine '*' state.show_highstate",
        run: show_highstate,
    },
    FunctionSpec {
        name: "state.show_lowstate",
        doc: "Return the low chunks of the highstate in execution order.\n\n\
              - pillar, saltenv: as state.apply.",
        cli_example: "brine '*' state.show_lowstate",
        run: show_lowstate,
    },
    FunctionSpec {
        name: "state.show_sls",
        doc:
            "Return the high data of SLS files, rendered but not applied (Salt's exact shape).\n\n\
              - mods: SLS names, comma separated or a list.\n\
              - pillar, saltenv: as state.apply.",
        cli_example: "brine '*' state.show_sls web",
        run: show_sls,
    },
    FunctionSpec {
        name: "state.show_top",
        doc: "Return the SLS this minion gets from the top file, per environment.",
        cli_example: "brine '*' state.show_top",
        run: show_top,
    },
    FunctionSpec {
        name: "state.single",
        doc: "Run one state function directly: state.single pkg.installed name=curl.\n\n\
              - fun: `mod.fun` of the state.\n\
              - name: the state's name; other keyword arguments are its arguments.\n\
              - test: dry run.",
        cli_example: "brine '*' state.single file.touch name=/tmp/x test=True",
        run: single,
    },
    FunctionSpec {
        name: "state.sls",
        doc: "Apply the named SLS files.\n\n\
              - mods: SLS names, comma separated or a list.\n\
              - test, pillar, saltenv, exclude: as state.apply.",
        cli_example: "brine '*' state.sls web,db",
        run: sls,
    },
    FunctionSpec {
        name: "state.sls_id",
        doc: "Apply one state ID out of the named SLS files.\n\n\
              - id: the state ID.\n\
              - mods: SLS names.\n\
              - test, pillar, saltenv: as state.apply.",
        cli_example: "brine '*' state.sls_id nginx-conf web",
        run: sls_id,
    },
    FunctionSpec {
        name: "state.test",
        doc: "state.apply with test=True: report what would change, change nothing.",
        cli_example: "brine '*' state.test web",
        run: state_test,
    },
];

/// The options every state function reads.
struct StateOpts {
    test: bool,
    pillar: Option<Value>,
    saltenv: String,
    exclude: Vec<Value>,
}

fn split_mods(v: Option<Value>) -> Vec<String> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| x.to_string())
            })
            .collect(),
        Some(Value::String(s)) => s
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        Some(other) => vec![other.to_string()],
    }
}

fn read_opts(p: &mut crate::registry::ArgParser) -> Result<StateOpts, ModError> {
    let test = match p.kw("test") {
        None | Some(Value::Null) => false,
        Some(v) => as_bool("test", &v)?,
    };
    let pillar = match p.kw("pillar") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            serde_json::from_str::<Value>(&s)
                .ok()
                .or_else(|| brine_states::yaml::load(&s).ok().map(|n| n.to_json()))
                .filter(Value::is_object)
                .ok_or_else(|| p.bad("pillar data must be formatted as a dictionary"))?,
        ),
        Some(v @ Value::Object(_)) => Some(v),
        Some(_) => return Err(p.bad("pillar data must be formatted as a dictionary")),
    };
    let saltenv = p.kw_str("saltenv")?.unwrap_or_else(|| "base".to_string());
    let exclude = match p.kw("exclude") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a,
        Some(Value::String(s)) => s
            .split(',')
            .map(|s| Value::String(s.trim().to_string()))
            .collect(),
        Some(v) => vec![v],
    };
    p.ignore(&[
        "queue",
        "concurrent",
        "pillarenv",
        "pillar_enc",
        "localconfig",
        "cache",
        "cache_name",
    ]);
    Ok(StateOpts {
        test,
        pillar,
        saltenv,
        exclude,
    })
}

/// Runs `f` on a blocking thread with a fresh [`StateSystem`] and this
/// call's pillar (`overrides` merged over it). Compile and pillar errors
/// become Salt's error return.
async fn with_pillar<F>(ctx: CallCtx, overrides: Option<Value>, f: F) -> Result<ModOutput, ModError>
where
    F: FnOnce(&StateSystem, &Value) -> Result<ModOutput, StateCallError> + Send + 'static,
{
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        // renders, states and their commands stop when the job is killed
        let cancel = ctx.cancel.clone();
        cancel.scope(|| {
            let sys = StateSystem::new(&ctx, handle);
            match sys
                .pillar(overrides.as_ref())
                .and_then(|pillar| f(&sys, &pillar))
            {
                Ok(out) => Ok(out),
                Err(e) => error_output(e),
            }
        })
    })
    .await
    .map_err(|e| ModError::Failed(format!("state run aborted: {e}")))?
}

/// A state run's results as the return: retcode 2 when a state failed.
fn results_output(results: Map<String, Value>) -> ModOutput {
    let failed = results
        .values()
        .any(|r| r.get("result") == Some(&Value::Bool(false)));
    ModOutput {
        value: Value::Object(results),
        retcode: if failed { RETCODE_FAILED } else { 0 },
    }
}

/// Salt prints compile errors as the return (a list of strings, retcode 1);
/// a pillar failure the same way, led by "Pillar failed to render".
fn error_output(e: StateCallError) -> Result<ModOutput, ModError> {
    match e {
        StateCallError::Compile(errors) => Ok(ModOutput {
            value: Value::Array(errors.into_iter().map(Value::String).collect()),
            retcode: RETCODE_COMPILE,
        }),
        StateCallError::Pillar(errors) => Ok(ModOutput {
            value: Value::Array(
                std::iter::once("Pillar failed to render".to_string())
                    .chain(errors)
                    .map(Value::String)
                    .collect(),
            ),
            retcode: RETCODE_PILLAR,
        }),
    }
}

fn show_sls(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut p = args.parser();
        let mods = split_mods(Some(p.take("mods", 0)?));
        let o = read_opts(&mut p)?;
        p.finish()?;
        with_pillar(ctx, o.pillar, move |sys, pillar| {
            Ok(Value::Object(sys.show_sls(&mods, &o.saltenv, pillar)?).into())
        })
        .await
    })
}

fn show_highstate(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut p = args.parser();
        let o = read_opts(&mut p)?;
        let only_env = p.kw_str("saltenv")?;
        p.finish()?;
        with_pillar(ctx, o.pillar, move |sys, pillar| {
            Ok(Value::Object(sys.show_highstate(pillar, only_env.as_deref())?).into())
        })
        .await
    })
}

fn show_top(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut p = args.parser();
        let o = read_opts(&mut p)?;
        p.finish()?;
        with_pillar(ctx, o.pillar, move |sys, pillar| {
            let mut out = Map::new();
            for (env, slss) in sys.top_matches(pillar, None)? {
                out.insert(
                    env,
                    Value::Array(slss.into_iter().map(Value::String).collect()),
                );
            }
            Ok(Value::Object(out).into())
        })
        .await
    })
}

fn show_lowstate(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut p = args.parser();
        let o = read_opts(&mut p)?;
        p.finish()?;
        with_pillar(ctx, o.pillar, move |sys, pillar| {
            let chunks = sys.low(sys.show_highstate(pillar, None)?, &o.exclude)?;
            Ok(Value::Array(chunks.into_iter().map(Value::Object).collect()).into())
        })
        .await
    })
}

/// Applies `mods` (or the highstate when empty); `only_id` keeps one ID.
fn run_states(ctx: CallCtx, mods: Vec<String>, o: StateOpts, only_id: Option<String>) -> ModFuture {
    Box::pin(async move {
        with_pillar(ctx, o.pillar.clone(), move |sys, pillar| {
            let mut high = if mods.is_empty() {
                sys.show_highstate(pillar, None)?
            } else {
                sys.show_sls(&mods, &o.saltenv, pillar)?
            };
            if let Some(id) = &only_id {
                if !high.contains_key(id) {
                    return Err(StateCallError::Compile(vec![format!(
                        "No matches for ID '{id}' found in SLS '{}' within saltenv '{}'",
                        mods.join(","),
                        o.saltenv
                    )]));
                }
                high.retain(|k, _| k == id || k.starts_with("__"));
            }
            let results = sys.apply_high(high, pillar, o.test, &o.saltenv, &o.exclude)?;
            Ok(results_output(results))
        })
        .await
    })
}

fn apply(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut p = args.parser();
        let mods = split_mods(p.opt("mods", 0)?);
        let o = read_opts(&mut p)?;
        p.finish()?;
        run_states(ctx, mods, o, None).await
    })
}

fn sls(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut p = args.parser();
        let mods = split_mods(Some(p.take("mods", 0)?));
        let o = read_opts(&mut p)?;
        p.finish()?;
        run_states(ctx, mods, o, None).await
    })
}

fn highstate(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut p = args.parser();
        let o = read_opts(&mut p)?;
        p.finish()?;
        run_states(ctx, Vec::new(), o, None).await
    })
}

fn state_test(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut p = args.parser();
        let mods = split_mods(p.opt("mods", 0)?);
        let mut o = read_opts(&mut p)?;
        p.finish()?;
        o.test = true;
        run_states(ctx, mods, o, None).await
    })
}

fn sls_id(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut p = args.parser();
        let id = p.take_str("id", 0)?;
        let mods = split_mods(Some(p.take("mods", 1)?));
        let o = read_opts(&mut p)?;
        p.finish()?;
        run_states(ctx, mods, o, Some(id)).await
    })
}

fn single(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut p = args.parser();
        let fun = p.take_str("fun", 0)?;
        let name = p.opt_str("name", 1)?;
        let o = read_opts(&mut p)?;
        let kwargs = p.rest_kwargs();
        p.finish()?;
        let Some((module, function)) = fun.split_once('.') else {
            return Err(ModError::BadArguments(format!(
                "invalid function passed: {fun}"
            )));
        };
        let name = name.ok_or_else(|| {
            ModError::BadArguments("state.single() missing required argument: 'name'".into())
        })?;
        let mut args = vec![Value::String(function.to_string())];
        let mut n = Map::new();
        n.insert("name".into(), Value::String(name.clone()));
        args.push(Value::Object(n));
        for (k, v) in kwargs {
            let mut m = Map::new();
            m.insert(k, v);
            args.push(Value::Object(m));
        }
        let mut body = Map::new();
        body.insert(module.to_string(), Value::Array(args));
        body.insert("__sls__".into(), Value::String("single".into()));
        body.insert("__env__".into(), Value::String(o.saltenv.clone()));
        let mut high = Map::new();
        high.insert(name, Value::Object(body));
        with_pillar(ctx, o.pillar.clone(), move |sys, pillar| {
            let results = sys.apply_high(high, pillar, o.test, &o.saltenv, &[])?;
            Ok(results_output(results))
        })
        .await
    })
}
