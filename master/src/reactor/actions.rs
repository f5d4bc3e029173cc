//! Running one reaction: `local.<fun>` publishes a job (detached: the
//! reactor never waits for returns), `runner.<fun>` runs a runner on a
//! blocking thread, `wheel.key.*` changes keys, `alert.send` spools an
//! alert for delivery.

use std::sync::Arc;

use brine_pki::channel::read_frame;
use brine_proto::targeting::TargetType;
use brine_proto::{CliReply, KeyCommand};
use serde_json::Value;

use super::render::{call_args, Reaction};
use crate::events::BusEvent;
use crate::jobs::{publish, PublishRequest};
use crate::state::Master;

/// The user jobs the reactor publishes are recorded as.
pub const REACTOR_USER: &str = "reactor";

/// Runs `reaction` for `event`; a short description of what was done.
pub async fn run(
    master: &Arc<Master>,
    reaction: &Reaction,
    event: &Arc<BusEvent>,
) -> Result<String, String> {
    let fun = reaction.fun.as_str();
    if let Some(fun) = fun.strip_prefix("local.") {
        local(master, fun, reaction).await
    } else if let Some(fun) = fun.strip_prefix("runner.") {
        let (arg, kwarg) = call_args(&reaction.args, &[], true)?;
        let m = master.clone();
        let fun = fun.to_string();
        let reply = tokio::task::spawn_blocking(move || {
            crate::runners::run(&m, REACTOR_USER, &fun, &arg, &kwarg)
        })
        .await
        .map_err(|e| format!("runner task failed: {e}"))?;
        match reply {
            CliReply::Error { message } => Err(message),
            _ => Ok(format!("runner {} ran", reaction.fun)),
        }
    } else if let Some(act) = fun.strip_prefix("wheel.key.") {
        wheel_key(master, act, reaction).await
    } else if fun == "alert.send" {
        let (_, kwarg) = call_args(&reaction.args, &[], true)?;
        let m = master.clone();
        let event = event.clone();
        let sent = tokio::task::spawn_blocking(move || {
            m.alerts.send(&m, &kwarg, Some((&event.tag, &event.data)))
        })
        .await
        .map_err(|e| format!("alert task failed: {e}"))??;
        Ok(format!("alert spooled: {sent}"))
    } else {
        Err(format!(
            "'{fun}' is not a reactor action (local.<fun>, runner.<fun>, wheel.key.accept|reject|delete, alert.send)"
        ))
    }
}

fn str_arg(reaction: &Reaction, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| match reaction.args.get(*n) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(l)) => Some(
            l.iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect::<Vec<_>>()
                .join(","),
        ),
        Some(Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    })
}

async fn local(master: &Arc<Master>, fun: &str, reaction: &Reaction) -> Result<String, String> {
    let tgt =
        str_arg(reaction, &["tgt"]).ok_or_else(|| format!("{}: missing 'tgt'", reaction.fun))?;
    let mut tgt_type: TargetType = str_arg(reaction, &["tgt_type", "expr_form"])
        .unwrap_or_else(|| "glob".into())
        .parse()
        .map_err(|e: brine_proto::targeting::TargetError| e.to_string())?;
    if matches!(reaction.args.get("tgt"), Some(Value::Array(_))) {
        tgt_type = TargetType::List;
    }
    let skip = ["tgt", "tgt_type", "expr_form", "timeout", "ret", "jid"];
    let (arg, kwarg) = call_args(&reaction.args, &skip, false)?;
    let req = PublishRequest {
        tgt: tgt.clone(),
        tgt_type,
        fun: fun.to_string(),
        arg,
        kwarg,
        timeout: reaction.args.get("timeout").and_then(Value::as_u64),
        detach: true,
        user: REACTOR_USER.into(),
    };
    let mut buf: Vec<u8> = Vec::new();
    publish(master, req, &mut buf).await;
    let mut rd = &buf[..];
    while let Ok(Some(reply)) = read_frame::<CliReply, _>(&mut rd).await {
        match reply {
            CliReply::Error { message } => return Err(message),
            CliReply::NoMatch => return Err(format!("no minion matched '{tgt}'")),
            CliReply::Published { jid, expected } => {
                return Ok(format!("job {jid} {fun} on {}", expected.join(",")))
            }
            _ => {}
        }
    }
    Err("the job was not published".into())
}

async fn wheel_key(master: &Arc<Master>, act: &str, reaction: &Reaction) -> Result<String, String> {
    let glob = str_arg(reaction, &["match", "glob"])
        .ok_or_else(|| format!("{}: missing 'match' (a key glob)", reaction.fun))?;
    let include = |k: &str| {
        reaction
            .args
            .get(k)
            .is_some_and(|v| *v == Value::Bool(true))
    };
    let cmd = match act {
        "accept" => KeyCommand::Accept {
            glob: glob.clone(),
            include_rejected: include("include_rejected"),
        },
        "reject" => KeyCommand::Reject {
            glob: glob.clone(),
            include_accepted: include("include_accepted"),
        },
        "delete" => KeyCommand::Delete { glob: glob.clone() },
        other => {
            return Err(format!(
                "wheel.key.{other} is not a reactor action (accept, reject, delete)"
            ))
        }
    };
    match crate::keys::key_command(master, cmd).await {
        CliReply::Error { message } => Err(message),
        CliReply::Keys { changed, .. } => Ok(format!("key {act}: {}", changed.join(","))),
        _ => Ok(format!("key {act} '{glob}'")),
    }
}
