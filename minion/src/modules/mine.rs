//! `mine.*`: the Salt mine. The minion runs its `mine_functions` (from its
//! config, and its pillar, which wins) every `mine_interval` minutes and
//! once after connecting, and sends the results to every connected master;
//! `mine.get` asks a master for other minions' data (templates too:
//! `salt['mine.get']('G@role:db', 'network.ip_addrs', tgt_type='compound')`).

use std::sync::Arc;
use std::time::Duration;

use brine_proto::conf::ConfError;
use brine_proto::targeting::TargetType;
use serde_json::{json, Map, Value};

use crate::registry::{self, Args, CallCtx, FunctionSpec, ModError, ModFuture};

/// Salt's `mine_interval` default, in minutes.
pub const DEFAULT_INTERVAL_MINUTES: u64 = 60;

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "mine.update",
        doc: "Run every function of mine_functions (minion config merged with pillar, pillar \
              winning) and send the results to the masters. True once stored.\n\n\
              - clear: replace all of this minion's mine data instead of merging (default False).\n\
              - mine_functions: run these instead of the configured ones (a dict as in the \
              config, or a list of function names).",
        cli_example: "brine '*' mine.update",
        run: update,
    },
    FunctionSpec {
        name: "mine.send",
        doc: "Run one function and send its result to the mine under `name`. True once stored.\n\n\
              - name: the mine entry (and the function to run, unless mine_function is given).\n\
              - *args, **kwargs: passed to the function.\n\
              - mine_function: the function to run when `name` is an alias.\n\
              - allow_tgt: only minions this target selects may read the entry.\n\
              - allow_tgt_type: the target type of allow_tgt (default glob).",
        cli_example: "brine '*' mine.send network.ip_addrs interface=eth0",
        run: send,
    },
    FunctionSpec {
        name: "mine.get",
        doc: "The mine data of the targeted minions for a function: {minion_id: data}. With \
              several functions (a list, or names separated by commas): {function: \
              {minion_id: data}}.\n\n\
              - tgt: the target (glob by default).\n\
              - fun: the mine function (or alias), e.g. network.ip_addrs.\n\
              - tgt_type: glob, pcre, list, grain, grain_pcre, pillar, pillar_pcre, ipcidr, \
              nodegroup, compound (default glob).\n\
              - exclude_minion: leave this minion out (default False).",
        cli_example: "brine '*' mine.get 'G@role:db' network.ip_addrs tgt_type=compound",
        run: get,
    },
    FunctionSpec {
        name: "mine.delete",
        doc: "Remove one function's data of this minion from the mine. True on success.\n\n\
              - fun: the mine function (or alias).",
        cli_example: "brine '*' mine.delete network.ip_addrs",
        run: delete,
    },
    FunctionSpec {
        name: "mine.flush",
        doc: "Remove all of this minion's data from the mine. True on success.",
        cli_example: "brine '*' mine.flush",
        run: flush,
    },
    FunctionSpec {
        name: "mine.valid",
        doc: "The mine_functions this minion would run, as {alias: {function: [args]}} for an \
              alias and {function: args} otherwise; functions this minion lacks are left out.",
        cli_example: "brine '*' mine.valid",
        run: valid,
    },
];

/// The minion's mine settings, checked at start-up.
#[derive(Clone, Debug, PartialEq)]
pub struct MineSettings {
    /// `mine_functions` from the minion config (a mapping; empty: none).
    pub functions: Map<String, Value>,
    /// How often `mine.update` runs (`mine_interval`, minutes); None: only
    /// once after connecting (`mine_interval: 0`).
    pub interval: Option<Duration>,
}

impl Default for MineSettings {
    fn default() -> Self {
        MineSettings {
            functions: Map::new(),
            interval: Some(Duration::from_secs(DEFAULT_INTERVAL_MINUTES * 60)),
        }
    }
}

impl MineSettings {
    /// From the config's `mine_functions` and `mine_interval` (minutes).
    pub fn new(
        file: &str,
        functions: Option<Value>,
        interval_minutes: Option<u64>,
    ) -> Result<MineSettings, ConfError> {
        let bad = |key: &str, message: String| ConfError::BadValue {
            file: file.to_string(),
            key: key.to_string(),
            message,
        };
        let functions = match functions {
            None => Map::new(),
            Some(Value::Object(m)) => m,
            Some(other) => {
                return Err(bad(
                    "mine_functions",
                    format!("expected a mapping of function (or alias) to arguments, got {other}"),
                ))
            }
        };
        for (alias, def) in &functions {
            MineFunction::parse(alias, def).map_err(|e| bad("mine_functions", e))?;
        }
        let minutes = interval_minutes.unwrap_or(DEFAULT_INTERVAL_MINUTES);
        Ok(MineSettings {
            functions,
            interval: (minutes > 0).then(|| Duration::from_secs(minutes * 60)),
        })
    }
}

/// One entry of `mine_functions`, as Salt's
/// `salt.utils.mine.parse_function_definition` reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct MineFunction {
    /// The name the data is stored under.
    pub alias: String,
    /// The function to run (the alias itself unless `mine_function` says).
    pub function: String,
    pub args: Vec<Value>,
    pub kwargs: Map<String, Value>,
    pub allow_tgt: Option<Value>,
    pub allow_tgt_type: Option<Value>,
}

impl MineFunction {
    /// `network.ip_addrs: []`, `network.ip_addrs: [eth0]`,
    /// `internal_ip: [{mine_function: network.ip_addrs}, eth0]`,
    /// `internal_ip: {mine_function: network.ip_addrs, interface: eth0}`,
    /// with `allow_tgt`/`allow_tgt_type` among the keyword arguments.
    pub fn parse(alias: &str, def: &Value) -> Result<MineFunction, String> {
        let mut args = Vec::new();
        let mut kwargs = Map::new();
        match def {
            Value::Null => {}
            Value::Object(m) => kwargs = m.clone(),
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::Object(m) => kwargs.extend(m.clone()),
                        other => args.push(other.clone()),
                    }
                }
            }
            other => {
                return Err(format!(
                    "'{alias}': expected a list of arguments or a mapping, got {other}"
                ))
            }
        }
        let function = match kwargs.remove("mine_function") {
            None => alias.to_string(),
            Some(Value::String(f)) => f,
            Some(other) => return Err(format!("'{alias}': mine_function {other} is not a name")),
        };
        Ok(MineFunction {
            alias: alias.to_string(),
            function,
            args,
            allow_tgt: kwargs.remove("allow_tgt").filter(|v| !v.is_null()),
            allow_tgt_type: kwargs.remove("allow_tgt_type").filter(|v| !v.is_null()),
            kwargs,
        })
    }

    /// Runs the function here; its value, wrapped as Salt wraps data with
    /// an `allow_tgt` (`salt.utils.mine.wrap_acl_structure`).
    async fn run(&self, ctx: &CallCtx) -> Result<Value, ModError> {
        // mine.update inside mine_functions would call itself forever.
        if self.function.starts_with("mine.") {
            return Err(ModError::Failed(format!(
                "mine function '{}' cannot be a mine.* function",
                self.alias
            )));
        }
        let spec = registry::lookup(&self.function).ok_or_else(|| {
            ModError::Failed(format!(
                "function '{}' of mine entry '{}' is not available",
                self.function, self.alias
            ))
        })?;
        let args = Args::new(self.args.clone(), self.kwargs.clone());
        let out = registry::with_fun(spec.name, (spec.run)(ctx.clone(), args)).await?;
        Ok(match &self.allow_tgt {
            Some(tgt) => json!({
                "__saltmine_acl__": 1,
                "__data__": out.value,
                "allow_tgt": tgt,
                "allow_tgt_type": self.allow_tgt_type.clone().unwrap_or(json!("glob")),
            }),
            None => out.value,
        })
    }
}

fn master(ctx: &CallCtx) -> Result<&crate::link::MasterClient, ModError> {
    ctx.master.as_ref().ok_or_else(|| {
        ModError::Failed("the mine is kept by the masters: this call has no master".into())
    })
}

fn failed(e: crate::link::RequestError) -> ModError {
    ModError::Failed(e.to_string())
}

/// `mine_functions` of the config merged with the pillar's (Salt's
/// `config.merge`: the pillar's entry wins for the same name).
async fn configured_functions(ctx: &CallCtx) -> Map<String, Value> {
    let mut functions = ctx.config.mine.functions.clone();
    let pillar = ctx.pillar().await;
    if let Some(Value::Object(p)) = pillar.get("mine_functions") {
        functions.extend(p.clone());
    }
    functions
}

fn update(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let clear = a.opt_bool("clear", 0)?.unwrap_or(false);
        let given = a.opt("mine_functions", 1)?;
        a.finish()?;
        let client = master(&ctx)?.clone();
        let functions = match given {
            None | Some(Value::Null) => configured_functions(&ctx).await,
            Some(Value::Object(m)) => m,
            Some(Value::Array(names)) => names
                .iter()
                .map(|n| {
                    (
                        n.as_str().map_or_else(|| n.to_string(), str::to_string),
                        Value::Null,
                    )
                })
                .collect(),
            Some(other) => {
                return Err(ModError::BadArguments(format!(
                    "mine_functions: expected a dict or a list, got {other}"
                )))
            }
        };
        let mut data = Map::new();
        for (alias, def) in &functions {
            // As Salt: a function that is missing or fails is logged and
            // left out; the others are still sent.
            let outcome = match MineFunction::parse(alias, def) {
                Ok(f) => f.run(&ctx).await,
                Err(e) => Err(ModError::BadArguments(e)),
            };
            match outcome {
                Ok(value) => {
                    data.insert(alias.clone(), value);
                }
                Err(error) => tracing::error!(%alias, %error, "mine function failed"),
            }
        }
        if data.is_empty() && !clear {
            return Ok(Value::Bool(true).into());
        }
        client.mine_send(data, clear).await.map_err(failed)?;
        Ok(Value::Bool(true).into())
    })
}

fn send(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        let rest = a.rest(1);
        let mut kwargs = a.rest_kwargs();
        kwargs.retain(|k, _| !k.starts_with("__"));
        let mut def = vec![Value::Object(kwargs)];
        def.extend(rest);
        let function =
            MineFunction::parse(&name, &Value::Array(def)).map_err(ModError::BadArguments)?;
        let client = master(&ctx)?.clone();
        let value = function.run(&ctx).await.map_err(|e| {
            ModError::Failed(format!(
                "Function {} in mine.send failed to execute: {e}",
                function.function
            ))
        })?;
        let mut data = Map::new();
        data.insert(name, value);
        client.mine_send(data, false).await.map_err(failed)?;
        Ok(Value::Bool(true).into())
    })
}

fn get(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let tgt = a.take_str("tgt", 0)?;
        let fun = a.take("fun", 1)?;
        let tgt_type = a
            .opt_str("tgt_type", 2)?
            .or(a.kw_str("expr_form")?)
            .unwrap_or_else(|| "glob".into());
        let exclude_minion = a.opt_bool("exclude_minion", 3)?.unwrap_or(false);
        a.finish()?;
        let tgt_type: TargetType = tgt_type
            .parse()
            .map_err(|_| ModError::BadArguments(format!("unknown tgt_type '{tgt_type}'")))?;
        // As Salt: a list, or a string with commas, asks for several.
        let (funs, several) = match &fun {
            Value::Array(items) => (
                items
                    .iter()
                    .map(|f| registry::as_str("fun", f))
                    .collect::<Result<Vec<_>, _>>()?,
                true,
            ),
            other => {
                let s = registry::as_str("fun", other)?;
                let mut funs: Vec<String> = s.split(',').map(|f| f.trim().to_string()).collect();
                funs.dedup();
                let several = funs.len() > 1;
                (funs, several)
            }
        };
        let client = master(&ctx)?.clone();
        let mut by_fun = Map::new();
        for f in funs {
            let mut got = client.mine_get(&tgt, &f, tgt_type).await.map_err(failed)?;
            if exclude_minion {
                if let Value::Object(m) = &mut got {
                    m.remove(&ctx.config.id);
                }
            }
            by_fun.insert(f, got);
        }
        Ok(if several {
            Value::Object(by_fun)
        } else {
            by_fun
                .into_iter()
                .next()
                .map(|(_, v)| v)
                .unwrap_or(json!({}))
        }
        .into())
    })
}

fn delete(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let fun = a.take_str("fun", 0)?;
        a.finish()?;
        master(&ctx)?
            .mine_delete(Some(&fun))
            .await
            .map_err(failed)?;
        Ok(Value::Bool(true).into())
    })
}

fn flush(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        args.parser().finish()?;
        master(&ctx)?.mine_delete(None).await.map_err(failed)?;
        Ok(Value::Bool(true).into())
    })
}

fn valid(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        args.parser().finish()?;
        let functions = configured_functions(&ctx).await;
        Ok(Value::Object(valid_functions(&functions)).into())
    })
}

/// Salt's `mine.valid` shape for `functions`, those this minion has.
fn valid_functions(functions: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (alias, def) in functions {
        let Ok(f) = MineFunction::parse(alias, def) else {
            continue;
        };
        if registry::lookup(&f.function).is_none() {
            continue;
        }
        if f.function != f.alias {
            let mut args = f.args.clone();
            args.extend(f.kwargs.iter().map(|(k, v)| json!({ k: v })));
            out.insert(alias.clone(), json!({ f.function: args }));
        } else {
            out.insert(alias.clone(), def.clone());
        }
    }
    out
}

/// Runs `mine.update` once the minion first connects to a master, then
/// every `mine_interval` (the schedule Salt's minion adds for the mine).
/// Nothing when no `mine_functions` are configured and the pillar has none
/// (checked at each run: the pillar may gain some).
pub fn spawn_updates(
    executor: crate::exec::Executor,
    client: crate::link::MasterClient,
    config: Arc<crate::config::MinionConfig>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        client.wait_connected().await;
        let mut tick = config.mine.interval.map(|every| {
            let mut t = tokio::time::interval(every);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        loop {
            if let Some(t) = &mut tick {
                t.tick().await;
            }
            let ret = executor.call("mine.update", vec![], Map::new()).await;
            if !ret.success {
                tracing::warn!(error = ?ret.error, ret = %ret.ret, "mine.update failed");
            }
            if tick.is_none() {
                return;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(alias: &str, def: Value) -> MineFunction {
        MineFunction::parse(alias, &def).unwrap()
    }

    #[test]
    fn salt_forms_of_mine_functions() {
        let plain = parse("network.ip_addrs", json!([]));
        assert_eq!(plain.function, "network.ip_addrs");
        assert!(plain.args.is_empty() && plain.kwargs.is_empty());
        assert_eq!(parse("network.ip_addrs", Value::Null), plain);
        let with_arg = parse("network.ip_addrs", json!(["eth0"]));
        assert_eq!(with_arg.args, vec![json!("eth0")]);
        let alias = parse(
            "internal_ip",
            json!([{"mine_function": "network.ip_addrs"}, "eth0"]),
        );
        assert_eq!(
            (alias.alias.as_str(), alias.function.as_str()),
            ("internal_ip", "network.ip_addrs")
        );
        assert_eq!(alias.args, vec![json!("eth0")]);
        assert!(alias.kwargs.is_empty());
        let dict = parse(
            "internal_ip",
            json!({"mine_function": "network.ip_addrs", "interface": "eth0",
                   "allow_tgt": "G@role:db", "allow_tgt_type": "compound"}),
        );
        assert_eq!(dict.function, "network.ip_addrs");
        assert_eq!(
            dict.kwargs,
            json!({"interface": "eth0"}).as_object().cloned().unwrap()
        );
        assert_eq!(dict.allow_tgt, Some(json!("G@role:db")));
        assert_eq!(dict.allow_tgt_type, Some(json!("compound")));
        assert!(MineFunction::parse("x", &json!("eth0")).is_err());
        assert!(MineFunction::parse("x", &json!({"mine_function": 3})).is_err());
    }

    #[test]
    fn settings_check_the_config_at_start() {
        let s = MineSettings::new("minion", None, None).unwrap();
        assert_eq!(s, MineSettings::default());
        assert_eq!(s.interval, Some(Duration::from_secs(3600)));
        let s = MineSettings::new(
            "minion",
            Some(json!({"test.echo": ["hello"], "network.ip_addrs": []})),
            Some(0),
        )
        .unwrap();
        assert_eq!(s.functions.len(), 2);
        assert_eq!(s.interval, None);
        for bad in [json!(["test.echo"]), json!({"test.echo": "hello"})] {
            let e = MineSettings::new("minion", Some(bad), None).unwrap_err();
            assert!(e.to_string().contains("mine_functions"), "{e}");
        }
    }

    #[test]
    fn valid_lists_available_functions_in_salts_shape() {
        let functions = json!({
            "test.echo": ["hello"],
            "internal_ip": [{"mine_function": "network.ip_addrs"}, "lo", {"type": "x"}],
            "no.such": [],
        });
        let v = valid_functions(functions.as_object().unwrap());
        assert_eq!(
            Value::Object(v),
            json!({
                "test.echo": ["hello"],
                "internal_ip": {"network.ip_addrs": ["lo", {"type": "x"}]},
            })
        );
    }

    #[tokio::test]
    async fn functions_run_with_their_arguments_and_wrap_allow_tgt() {
        let ctx = registry::test_ctx();
        let f = parse("greeting", json!([{"mine_function": "test.echo"}, "hi"]));
        assert_eq!(f.run(&ctx).await.unwrap(), json!("hi"));
        let f = parse("test.echo", json!({"text": "hey", "allow_tgt": "web*"}));
        assert_eq!(
            f.run(&ctx).await.unwrap(),
            json!({"__saltmine_acl__": 1, "__data__": "hey", "allow_tgt": "web*",
                   "allow_tgt_type": "glob"})
        );
        assert!(parse("mine.update", json!([])).run(&ctx).await.is_err());
        // without a master the mine is not reachable, and says so
        let e = get(
            ctx,
            Args::new(vec![json!("*"), json!("test.echo")], Map::new()),
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains("master"), "{e}");
    }
}
