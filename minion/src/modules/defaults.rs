//! `defaults.*`: merge a formula's defaults with its pillar settings.
//!
//! Salt's `defaults.merge` and `defaults.update` change `dest` in place when
//! `in_place=True`, which Jinja templates rely on with
//! `{% do salt['defaults.merge'](a, b) %}`. An execution function gets
//! copies of its arguments, so it returns the merged value; the renderer
//! runs the same code (`brine_states::data`) on the template's own objects.

use brine_states::data::{self, MergeError};

use crate::registry::{Args, CallCtx, FunctionSpec, ModError, ModFuture};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "defaults.deepcopy",
        doc: "Return a deep copy of the value (templates use it to keep a defaults dict \
              from being changed).\n\n\
              - source: any value.",
        cli_example: "brine '*' defaults.deepcopy \"{'a': [1]}\"",
        run: deepcopy,
    },
    FunctionSpec {
        name: "defaults.merge",
        doc: "Merge src recursively into dest and return the result.\n\n\
              - dest: the dict merged into.\n\
              - src: the dict merged in; its values win.\n\
              - merge_lists: extend lists with src's new items instead of replacing them \
              (default False).\n\
              - in_place: Salt changes dest itself (default True); Brine returns the merged \
              value either way.\n\
              - convert_none: read a None src (or a None dest when not in place) as {} \
              (default True).",
        cli_example: "brine '*' defaults.merge '{a: b}' '{d: e}'",
        run: merge,
    },
    FunctionSpec {
        name: "defaults.update",
        doc: "Give every entry of dest the defaults it lacks: each value of dest is merged \
              over a copy of defaults. Returns the result.\n\n\
              - dest: {name: settings}.\n\
              - defaults: the settings every entry starts from.\n\
              - merge_lists: extend lists instead of replacing them (default True).\n\
              - in_place: as for defaults.merge (default True).\n\
              - convert_none: read None as {} (default True).",
        cli_example: "brine '*' defaults.update '{host1: {opt2: c}}' '{opt1: a, opt2: b}'",
        run: update,
    },
];

fn deepcopy(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let source = a.take("source", 0)?;
        a.finish()?;
        Ok(source.into())
    })
}

fn failed(e: MergeError) -> ModError {
    ModError::Failed(e.to_string())
}

fn merge(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let mut dest = a.take("dest", 0)?;
        let src = a.take("src", 1)?;
        let merge_lists = a.opt_bool("merge_lists", 2)?.unwrap_or(false);
        let in_place = a.opt_bool("in_place", 3)?.unwrap_or(true);
        let convert_none = a.opt_bool("convert_none", 4)?.unwrap_or(true);
        a.finish()?;
        let merged = data::defaults_merge_tree(&mut dest, &src, merge_lists, in_place, |v| {
            convert_none && v.is_null()
        })
        .map_err(failed)?;
        Ok(merged.into())
    })
}

fn update(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let mut dest = a.take("dest", 0)?;
        let defaults = a.take("defaults", 1)?;
        let merge_lists = a.opt_bool("merge_lists", 2)?.unwrap_or(true);
        let in_place = a.opt_bool("in_place", 3)?.unwrap_or(true);
        let convert_none = a.opt_bool("convert_none", 4)?.unwrap_or(true);
        a.finish()?;
        let updated =
            data::defaults_update_tree(&mut dest, &defaults, merge_lists, in_place, |v| {
                convert_none && v.is_null()
            })
            .map_err(failed)?;
        Ok(updated.into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{test_ctx, ModFn};
    use serde_json::{json, Value};

    async fn run(f: ModFn, name: &'static str, arg: Value, kw: Value) -> Result<Value, String> {
        crate::registry::test_call(test_ctx(), f, name, arg, kw).await
    }

    #[tokio::test]
    async fn merge_like_salt() {
        let m = |arg: Value, kw: Value| run(merge, "defaults.merge", arg, kw);
        assert_eq!(
            m(
                json!([{"a": {"x": 1, "l": [1]}, "b": 1}, {"a": {"y": 2, "l": [2]}}]),
                json!({})
            )
            .await,
            Ok(json!({"a": {"x": 1, "l": [2], "y": 2}, "b": 1}))
        );
        assert_eq!(
            m(
                json!([{"l": [1, 2]}, {"l": [2, 3]}]),
                json!({"merge_lists": true})
            )
            .await,
            Ok(json!({"l": [1, 2, 3]}))
        );
        assert_eq!(
            m(json!([{"a": 1}, null]), json!({})).await,
            Ok(json!({"a": 1}))
        );
        assert_eq!(
            m(json!([null, {"a": 1}]), json!({})).await,
            Err("Can't perform in-place merge into NoneType".into())
        );
        assert_eq!(
            m(json!([null, {"a": 1}]), json!({"in_place": false})).await,
            Ok(json!({"a": 1}))
        );
        assert_eq!(
            m(json!([[1], {"a": 1}]), json!({})).await,
            Err("Cannot update using non-dict types in dictupdate.update()".into())
        );
        assert_eq!(
            m(json!([{}]), json!({})).await,
            Err("defaults.merge() missing 1 required positional argument: 'src'".into())
        );
    }

    #[tokio::test]
    async fn update_and_deepcopy() {
        assert_eq!(
            run(
                update,
                "defaults.update",
                json!([{"host1": {"opt2": "c", "l": [3]}, "host2": null}, {"opt1": "a", "opt2": "b", "l": [1]}]),
                json!({})
            )
            .await,
            Ok(json!({
                "host1": {"opt1": "a", "opt2": "c", "l": [1, 3]},
                "host2": {"opt1": "a", "opt2": "b", "l": [1]},
            }))
        );
        assert_eq!(
            run(update, "defaults.update", json!([null, {}]), json!({})).await,
            Err("Can't perform in-place update into NoneType".into())
        );
        assert_eq!(
            run(
                deepcopy,
                "defaults.deepcopy",
                json!([{"a": [1]}]),
                json!({})
            )
            .await,
            Ok(json!({"a": [1]}))
        );
    }
}
