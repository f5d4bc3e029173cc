//! `saltutil.*`: the jobs running on this minion, and refreshing its data.

use brine_proto::JobId;
use serde_json::Value;

use super::sys::fnmatch;
use crate::registry::{as_str, Args, CallCtx, FunctionSpec, ModError, ModFuture};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "saltutil.find_job",
        doc: "Return the data of a running job, or {} when no job with that jid runs.\n\n\
              - jid: the job id.",
        cli_example: "brine '*' saltutil.find_job 20261123051130123456",
        run: find_job,
    },
    FunctionSpec {
        name: "saltutil.is_running",
        doc: "Return the running jobs whose function matches a glob.\n\n\
              - fun: a function name or glob (`state.*`).",
        cli_example: "brine '*' saltutil.is_running test.sleep",
        run: is_running,
    },
    FunctionSpec {
        name: "saltutil.kill_job",
        doc: "Kill a running job: the job ends with a Killed error, and the commands \
              it started are killed with their whole process group.\n\n\
              - jid: the job id.\n\n\
              Returns 'Signal 9 sent to job JID at pid PID', or '' when no such job runs.",
        cli_example: "brine '*' saltutil.kill_job 20261123051130123456",
        run: kill_job,
    },
    FunctionSpec {
        name: "saltutil.refresh_grains",
        doc: "Reload the grains (core grains and the grains file) and send them to the \
              masters if they changed. Returns True.",
        cli_example: "brine '*' saltutil.refresh_grains",
        run: refresh_grains,
    },
    FunctionSpec {
        name: "saltutil.refresh_pillar",
        doc: "Compile this minion's pillar again (on the master when connected, from the \
              local pillar_roots when masterless) and keep it in memory for pillar.get, \
              config.get, templates and I@ targets. Returns True; an error when the master \
              could not be reached (the old pillar is kept).\n\n\
              - wait, timeout, clean_cache: accepted for Salt compatibility (the refresh \
              always completes before the call returns).",
        cli_example: "brine '*' saltutil.refresh_pillar",
        run: refresh_pillar,
    },
    FunctionSpec {
        name: "saltutil.running",
        doc: "Return the jobs running on this minion (this call excluded), each as \
              {jid, fun, arg, tgt, tgt_type, user, pid, ret, master, started}.",
        cli_example: "brine '*' saltutil.running",
        run: running,
    },
];

/// A jid argument; the CLI may hand it over as a string or a number.
fn jid_arg(v: &Value) -> Result<JobId, ModError> {
    let text = match v {
        Value::Number(n) if n.is_u64() => n.to_string(),
        other => as_str("jid", other)?,
    };
    text.trim()
        .parse()
        .map_err(|e| ModError::BadArguments(format!("{e}")))
}

fn running(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        args.parser().finish()?;
        let jobs: Vec<Value> = ctx
            .running
            .list()
            .iter()
            .filter(|j| j.jid != ctx.jid)
            .map(|j| j.to_value())
            .collect();
        Ok(Value::Array(jobs).into())
    })
}

fn find_job(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let jid = jid_arg(&a.take("jid", 0)?)?;
        a.finish()?;
        let found = ctx.running.find(jid);
        Ok(found
            .first()
            .map(|j| j.to_value())
            .unwrap_or_else(|| Value::Object(Default::default()))
            .into())
    })
}

fn is_running(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let fun = a.take_str("fun", 0)?;
        a.finish()?;
        let jobs: Vec<Value> = ctx
            .running
            .list()
            .iter()
            .filter(|j| j.jid != ctx.jid && fnmatch(&fun, &j.fun))
            .map(|j| j.to_value())
            .collect();
        Ok(Value::Array(jobs).into())
    })
}

fn kill_job(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let jid = jid_arg(&a.take("jid", 0)?)?;
        a.finish()?;
        let killed = ctx.running.kill(jid);
        let msg = match killed.first() {
            Some(j) => format!("Signal 9 sent to job {jid} at pid {}", j.pid),
            None => String::new(),
        };
        Ok(Value::String(msg).into())
    })
}

fn refresh_grains(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        a.ignore(&["refresh_pillar", "clean_pillar_cache"]);
        a.finish()?;
        ctx.grains.refresh();
        Ok(Value::Bool(true).into())
    })
}

fn refresh_pillar(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        a.ignore(&["wait", "timeout", "clean_cache"]);
        a.finish()?;
        ctx.pillar_store
            .refresh(&ctx)
            .await
            .map_err(ModError::Failed)?;
        Ok(Value::Bool(true).into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn jids_as_string_or_number() {
        let j: JobId = "20261123051130123456".parse().unwrap();
        assert_eq!(jid_arg(&json!("20261123051130123456")).unwrap(), j);
        assert!(jid_arg(&json!("123")).is_err());
        assert!(jid_arg(&json!([1])).is_err());
    }
}
