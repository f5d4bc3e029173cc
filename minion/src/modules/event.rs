//! `event.*`: sending events to the masters' event buses. An event goes to
//! every master this minion is connected to (each one's bus gets it; the
//! masters of one cluster react to it once). The master sets the sender's
//! id from the minion's certificate.

use serde_json::{Map, Value};

use crate::registry::{as_bool, as_str_list, Args, CallCtx, FunctionSpec, ModError, ModFuture};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "event.fire",
        doc: "Fire an event on the minion's local event bus. A Brine minion has no local \
              bus (its beacons and schedule send straight to the masters): fails and names \
              event.fire_master / event.send.\n\n\
              - data: the event data (a dict).\n\
              - tag: the event tag.\n\
              - timeout: accepted for Salt compatibility.",
        cli_example: "brine '*' event.fire '{\"data\": \"my event data\"}' 'tag'",
        run: fire,
    },
    FunctionSpec {
        name: "event.fire_master",
        doc: "Fire an event to the masters' event buses, with `data` as given. Returns \
              True once at least one master took it.\n\n\
              - data: the event data (a dict).\n\
              - tag: the event tag (tags under brine/ and salt/ are the master's and refused).\n\
              - preload, timeout: accepted for Salt compatibility.",
        cli_example: "brine '*' event.fire_master '{\"data\": \"my event data\"}' 'tag'",
        run: fire_master,
    },
    FunctionSpec {
        name: "event.send",
        doc: "Send an event to the masters' event buses (Salt's usual way to fire events \
              from a minion or a script: `brine-call event.send myco/deploy/done`). The data \
              is the keyword arguments, plus `data`, plus what the with_* flags add. \
              Returns True once at least one master took it.\n\n\
              - tag: the event tag (tags under brine/ and salt/ are the master's and refused).\n\
              - data: a dict merged into the event data.\n\
              - with_grains: True for all grains, or a list of grain names.\n\
              - with_pillar: True for the whole pillar, or a list of pillar keys.\n\
              - with_env: True to add this process's environment as `environ`.\n\
              - preload, with_env_opts, timeout: accepted for Salt compatibility.",
        cli_example: "brine '*' event.send myco/mytag foo=Foo bar=Bar",
        run: send,
    },
];

fn fire(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        a.take("data", 0)?;
        let tag = a.take_str("tag", 1)?;
        a.opt("timeout", 2)?;
        a.finish()?;
        Err(ModError::Failed(format!(
            "Event '{tag}' was not fired: a Brine minion has no local event bus; \
             use event.send or event.fire_master to send it to the masters"
        )))
    })
}

/// Sends `tag` with `data` to every connected master.
fn deliver(ctx: &CallCtx, tag: &str, data: Value) -> Result<Value, ModError> {
    if tag.is_empty() {
        return Err(ModError::Failed("an event needs a tag".into()));
    }
    let Some(client) = &ctx.master else {
        return Err(ModError::Failed(format!(
            "Event '{tag}' was not sent: no master to send it to (running with --local)"
        )));
    };
    client
        .send_event(tag, data)
        .map(|_| Value::Bool(true))
        .map_err(|e| ModError::Failed(format!("Event '{tag}' was not sent: {e}")))
}

fn fire_master(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let data = a.take("data", 0)?;
        let tag = a.take_str("tag", 1)?;
        a.opt("preload", 2)?;
        a.opt("timeout", 3)?;
        a.finish()?;
        deliver(&ctx, &tag, data).map(Into::into)
    })
}

/// A subset of `map` (`true`: all of it; a list: those keys).
fn pick(name: &str, flag: &Value, map: &Map<String, Value>) -> Result<Value, ModError> {
    if let Value::Array(_) = flag {
        let keys = as_str_list(name, flag)?;
        let picked: Map<String, Value> = keys
            .into_iter()
            .filter_map(|k| map.get(&k).map(|v| (k, v.clone())))
            .collect();
        return Ok(Value::Object(picked));
    }
    Ok(Value::Object(map.clone()))
}

fn send(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let tag = a.take_str("tag", 0)?;
        let data = a.opt("data", 1)?;
        a.opt("preload", 2)?;
        let with_env = a.kw("with_env");
        let with_grains = a.kw("with_grains");
        let with_pillar = a.kw("with_pillar");
        a.ignore(&["with_env_opts", "timeout"]);
        // Salt's signature: the rest are keywords, and they become data.
        let extra = a.rest_kwargs();
        a.finish()?;
        let mut out = Map::new();
        if let Some(flag) = with_env.filter(|v| as_bool("with_env", v).unwrap_or(true)) {
            let env: Map<String, Value> = std::env::vars()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            out.insert("environ".into(), pick("with_env", &flag, &env)?);
        }
        if let Some(flag) = with_grains.filter(|v| !matches!(v, Value::Bool(false) | Value::Null)) {
            let grains = ctx.grains.snapshot();
            out.insert("grains".into(), pick("with_grains", &flag, &grains)?);
        }
        if let Some(flag) = with_pillar.filter(|v| !matches!(v, Value::Bool(false) | Value::Null)) {
            let pillar = ctx.pillar().await;
            let empty = Map::new();
            let map = pillar.as_object().unwrap_or(&empty);
            out.insert("pillar".into(), pick("with_pillar", &flag, map)?);
        }
        out.extend(extra);
        match data {
            Some(Value::Object(d)) => out.extend(d),
            Some(Value::Null) | None => {}
            Some(other) => {
                return Err(ModError::Failed(format!(
                    "event.send: data must be a dict, not {other}"
                )))
            }
        }
        deliver(&ctx, &tag, Value::Object(out)).map(Into::into)
    })
}
