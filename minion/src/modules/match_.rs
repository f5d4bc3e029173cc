//! `match.*`: does this minion match a target expression? Templates use it
//! to branch on roles (`{% if salt['match.compound']('G@role:web') %}`).
//! The expressions are the ones `brine -C`, `-G`, `-E`... take, parsed by
//! `brine_proto::targeting`. As in Salt, an expression that does not parse
//! matches nothing (it is logged).

use brine_proto::targeting::{MinionFacts, TargetExpr, TargetType};
use serde_json::Value;

use crate::registry::{as_str, Args, CallCtx, FunctionSpec, ModError, ModFuture};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "match.compound",
        doc: "Return True if the minion matches a compound target (`G@os:Debian and web*`).\n\n\
              - tgt: the expression.\n\
              - minion_id: match this id instead of the minion's own.",
        cli_example: "brine '*' match.compound 'L@cheese,foo and *'",
        run: compound,
    },
    FunctionSpec {
        name: "match.glob",
        doc: "Return True if the minion id matches a glob.\n\n\
              - tgt: the glob.\n\
              - minion_id: match this id instead of the minion's own.",
        cli_example: "brine '*' match.glob '*'",
        run: glob,
    },
    FunctionSpec {
        name: "match.grain",
        doc: "Return True if a grain matches (`os:Debian`, globs allowed in the value).\n\n\
              - tgt: `grain:value`, nested grains with ':'.\n\
              - delimiter: only ':' is supported.",
        cli_example: "brine '*' match.grain 'os:Ubuntu'",
        run: grain,
    },
    FunctionSpec {
        name: "match.grain_pcre",
        doc: "Return True if a grain matches a regular expression (`os:(Deb|Ubu).*`).\n\n\
              - tgt: `grain:regex`.\n\
              - delimiter: only ':' is supported.",
        cli_example: "brine '*' match.grain_pcre 'os:Fedo.*'",
        run: grain_pcre,
    },
    FunctionSpec {
        name: "match.ipcidr",
        doc:
            "Return True if one of the minion's addresses is in a network (or is the address).\n\n\
              - tgt: `10.0.0.0/24` or an address.",
        cli_example: "brine '*' match.ipcidr '192.168.44.0/24'",
        run: ipcidr,
    },
    FunctionSpec {
        name: "match.list",
        doc: "Return True if the minion id is in a list.\n\n\
              - tgt: ids separated by commas (or a list).\n\
              - minion_id: match this id instead of the minion's own.",
        cli_example: "brine '*' match.list 'server1,server2'",
        run: list,
    },
    FunctionSpec {
        name: "match.pcre",
        doc: "Return True if the minion id matches a regular expression.\n\n\
              - tgt: the regular expression.\n\
              - minion_id: match this id instead of the minion's own.",
        cli_example: "brine '*' match.pcre '.*'",
        run: pcre,
    },
];

/// Whether the minion (or `minion_id`) matches `tgt` of type `kind`.
async fn matches(ctx: &CallCtx, tgt: &str, kind: TargetType, minion_id: Option<String>) -> bool {
    let pillar = ctx.pillar().await;
    let grains = ctx.grains.snapshot();
    let id = minion_id.unwrap_or_else(|| ctx.config.id.clone());
    match TargetExpr::parse(tgt, kind) {
        Ok(expr) => expr.matches(&MinionFacts {
            id: &id,
            grains: &grains,
            pillar: pillar.as_object(),
        }),
        Err(error) => {
            tracing::warn!(%error, tgt, "invalid target expression: no match");
            false
        }
    }
}

/// `(tgt, minion_id=None)`, as glob, pcre, list and compound take.
fn by_id(ctx: CallCtx, args: Args, kind: TargetType) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let tgt = a.take("tgt", 0)?;
        let minion_id = a
            .opt("minion_id", 1)?
            .map(|v| as_str("minion_id", &v))
            .transpose()?;
        a.finish()?;
        let tgt = match tgt {
            Value::Array(items) if kind == TargetType::List => items
                .iter()
                .map(|i| as_str("tgt", i))
                .collect::<Result<Vec<_>, _>>()?
                .join(","),
            other => as_str("tgt", &other)?,
        };
        Ok(Value::Bool(matches(&ctx, &tgt, kind, minion_id).await).into())
    })
}

/// `(tgt, delimiter=':')`, as the grain matchers take.
fn by_grain(ctx: CallCtx, args: Args, kind: TargetType) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let tgt = a.take_str("tgt", 0)?;
        let delimiter = a.opt_str("delimiter", 1)?;
        a.finish()?;
        if delimiter.is_some_and(|d| d != ":") {
            return Err(ModError::BadArguments(
                "only ':' is supported as the delimiter".into(),
            ));
        }
        Ok(Value::Bool(matches(&ctx, &tgt, kind, None).await).into())
    })
}

fn compound(ctx: CallCtx, args: Args) -> ModFuture {
    by_id(ctx, args, TargetType::Compound)
}

fn glob(ctx: CallCtx, args: Args) -> ModFuture {
    by_id(ctx, args, TargetType::Glob)
}

fn pcre(ctx: CallCtx, args: Args) -> ModFuture {
    by_id(ctx, args, TargetType::Pcre)
}

fn list(ctx: CallCtx, args: Args) -> ModFuture {
    by_id(ctx, args, TargetType::List)
}

fn grain(ctx: CallCtx, args: Args) -> ModFuture {
    by_grain(ctx, args, TargetType::Grain)
}

fn grain_pcre(ctx: CallCtx, args: Args) -> ModFuture {
    by_grain(ctx, args, TargetType::GrainPcre)
}

fn ipcidr(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let tgt = a.take_str("tgt", 0)?;
        a.finish()?;
        Ok(Value::Bool(matches(&ctx, &tgt, TargetType::Ipcidr, None).await).into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MinionConfig;
    use crate::registry::{test_ctx_with, ModFn};
    use serde_json::json;
    use std::sync::Arc;

    async fn run(f: ModFn, name: &'static str, arg: Value, kw: Value) -> Result<Value, String> {
        let grains = json!({"os": "Debian", "roles": ["web", "db"], "ipv4": ["10.0.0.5"]});
        let mut ctx = test_ctx_with(grains.as_object().unwrap().clone());
        let raw = brine_proto::conf::RawConfig::parse("minion", "id: web01\n").unwrap();
        ctx.config =
            Arc::new(MinionConfig::from_raw(std::path::Path::new("/etc/brine"), raw).unwrap());
        crate::registry::test_call(ctx, f, name, arg, kw).await
    }

    #[tokio::test]
    async fn matchers_see_this_minion() {
        let yes = Ok(json!(true));
        let no = Ok(json!(false));
        assert_eq!(
            run(glob, "match.glob", json!(["web*"]), json!({})).await,
            yes
        );
        assert_eq!(run(glob, "match.glob", json!(["db*"]), json!({})).await, no);
        assert_eq!(
            run(
                glob,
                "match.glob",
                json!(["db*"]),
                json!({"minion_id": "db1"})
            )
            .await,
            yes
        );
        assert_eq!(
            run(pcre, "match.pcre", json!(["^web\\d+$"]), json!({})).await,
            yes
        );
        assert_eq!(
            run(list, "match.list", json!(["a,web01"]), json!({})).await,
            yes
        );
        assert_eq!(
            run(list, "match.list", json!([["a", "web01"]]), json!({})).await,
            yes
        );
        assert_eq!(
            run(grain, "match.grain", json!(["os:Deb*"]), json!({})).await,
            yes
        );
        assert_eq!(
            run(grain, "match.grain", json!(["roles:db"]), json!({})).await,
            yes
        );
        assert_eq!(
            run(grain, "match.grain", json!(["os:RedHat"]), json!({})).await,
            no
        );
        assert_eq!(
            run(
                grain_pcre,
                "match.grain_pcre",
                json!(["os:^D.*n$"]),
                json!({})
            )
            .await,
            yes
        );
        assert_eq!(
            run(
                compound,
                "match.compound",
                json!(["G@roles:web and web*"]),
                json!({})
            )
            .await,
            yes
        );
        assert_eq!(
            run(
                compound,
                "match.compound",
                json!(["G@roles:web and not web*"]),
                json!({})
            )
            .await,
            no
        );
        assert_eq!(
            run(compound, "match.compound", json!(["and and"]), json!({})).await,
            no,
            "bad expression"
        );
        assert_eq!(
            run(ipcidr, "match.ipcidr", json!(["10.0.0.0/24"]), json!({})).await,
            yes
        );
        assert_eq!(
            run(ipcidr, "match.ipcidr", json!(["10.1.0.0/24"]), json!({})).await,
            no
        );
        assert_eq!(
            run(glob, "match.glob", json!([]), json!({})).await,
            Err("match.glob() missing 1 required positional argument: 'tgt'".into())
        );
    }
}
