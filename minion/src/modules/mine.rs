//! `mine.*`: the Salt mine. Brine keeps no mine data, so reads find none,
//! as a masterless Salt minion with an empty mine does.

use serde_json::{Map, Value};

use crate::registry::{Args, CallCtx, FunctionSpec, ModFuture};

pub static FUNCTIONS: &[FunctionSpec] = &[FunctionSpec {
    name: "mine.get",
    doc: "Return the mine data of the targeted minions for a function: {minion_id: data}.\n\
          Brine keeps no mine, so this is always {}.\n\n\
          - tgt: the target (glob by default).\n\
          - fun: the mine function, e.g. network.ip_addrs.\n\
          - tgt_type: glob, pcre, list, grain, compound... (default glob).",
    cli_example: "brine '*' mine.get '*' network.ip_addrs",
    run: get,
}];

fn get(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        a.take("tgt", 0)?;
        a.take("fun", 1)?;
        a.opt("tgt_type", 2)?;
        a.ignore(&["expr_form", "exclude_minion", "allow_tgt"]);
        a.finish()?;
        Ok(Value::Object(Map::new()).into())
    })
}
