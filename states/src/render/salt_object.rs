//! The `salt` mapping of Salt templates: `salt['pillar.get']('x')`,
//! `salt.grains.filter_by({...})` and `'mod.fun' in salt`, all going to the
//! minion's execution functions through the [`Host`].

use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use minijinja::{Error, State};

use super::errors::{JinjaErrorKind, SaltJinjaError};
use super::host::Host;
use super::mutable::{
    deep_copy, from_json, from_json_shaped, from_pillar_json, items_of, pairs_of, split_args,
    to_json,
};
use crate::caller::CallError;
use crate::data::{self, MergeError, Tree};

#[derive(Clone)]
pub struct SaltFunctions {
    pub host: Host,
}

impl std::fmt::Debug for SaltFunctions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<salt functions>")
    }
}

struct SaltModule {
    host: Host,
    module: String,
}

impl std::fmt::Debug for SaltModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<salt module {}>", self.module)
    }
}

struct SaltFunction {
    host: Host,
    fun: String,
}

impl std::fmt::Debug for SaltFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<function {}>", self.fun)
    }
}

/// Calls `fun` with template arguments, giving its return as template data.
fn invoke(host: &Host, fun: &str, args: &[Value]) -> Result<Value, Error> {
    let (pos, kwargs) = split_args(args);
    if let Some(result) = merge_function(fun, &pos, &kwargs) {
        return result;
    }
    let json_args = pos.iter().map(to_json).collect();
    let json_kwargs = kwargs
        .iter()
        .map(|(k, v)| (k.clone(), to_json(v)))
        .collect();
    match host.call(fun, json_args, json_kwargs) {
        Ok(v) => Ok(as_template_value(fun, &v, &pos, &kwargs)),
        Err(CallError::Unknown(name)) => Err(SaltJinjaError {
            kind: JinjaErrorKind::Other,
            message: format!("'{name}' is not available"),
        }
        .into_minijinja()),
        Err(CallError::Failed(msg)) => Err(SaltJinjaError {
            kind: JinjaErrorKind::SaltFunction,
            message: msg,
        }
        .into_minijinja()),
    }
}

/// A function's JSON return as template data. Where Salt's function hands
/// back pillar data, its dicts are the pillar's `OrderedDict`s (and a
/// default that was returned is the caller's own object); a merge keeps the
/// class of each dict it merged into.
fn as_template_value(
    fun: &str,
    v: &serde_json::Value,
    pos: &[Value],
    kwargs: &[(String, Value)],
) -> Value {
    let get = |i: usize, name: &str| arg(pos, kwargs, i, name);
    match fun {
        "pillar.get" | "pillar.fetch" | "config.get" | "config.option" => {
            if let Some(default) = get(1, "default") {
                if to_json(&default) == *v {
                    return default;
                }
            }
            from_pillar_json(&serde_json::json!({ "v": v }))
                .get_item(&Value::from("v"))
                .unwrap_or_default()
        }
        "pillar.items" | "pillar.raw" | "pillar.data" | "pillar.item" => from_pillar_json(v),
        "grains.filter_by" | "pillar.filter_by" => {
            let mut sources: Vec<Value> = Vec::new();
            if let Some(lookup) = get(0, "lookup_dict") {
                sources.extend(
                    pairs_of(&lookup)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|p| p.1),
                );
            }
            sources.extend(get(2, "merge"));
            from_json_shaped(v, &sources)
        }
        _ => from_json(v),
    }
}

impl Object for SaltFunctions {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        if key.contains('.') {
            (MERGE_FUNCTIONS.contains(&key) || self.host.has(key)).then(|| {
                Value::from_object(SaltFunction {
                    host: self.host.clone(),
                    fun: key.to_string(),
                })
            })
        } else {
            Some(Value::from_object(SaltModule {
                host: self.host.clone(),
                module: key.to_string(),
            }))
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::NonEnumerable
    }

    fn is_true(self: &Arc<Self>) -> bool {
        true
    }
}

impl Object for SaltModule {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let fun = format!("{}.{}", self.module, key.as_str()?);
        Some(Value::from_object(SaltFunction {
            host: self.host.clone(),
            fun,
        }))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        invoke(&self.host, &format!("{}.{method}", self.module), args)
    }
}

impl Object for SaltFunction {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn call(self: &Arc<Self>, _state: &State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        invoke(&self.host, &self.fun, args)
    }
}

/// The functions [`merge_function`] runs on the template's objects.
const MERGE_FUNCTIONS: &[&str] = &[
    "slsutil.update",
    "slsutil.merge",
    "slsutil.merge_all",
    "defaults.merge",
    "defaults.update",
    "defaults.deepcopy",
];

/// The argument at `index` or named `name`.
fn arg(pos: &[Value], kwargs: &[(String, Value)], index: usize, name: &str) -> Option<Value> {
    pos.get(index).cloned().or_else(|| {
        kwargs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    })
}

fn merge_failed(e: MergeError) -> Error {
    SaltJinjaError {
        kind: JinjaErrorKind::SaltFunction,
        message: e.to_string(),
    }
    .into_minijinja()
}

/// The `slsutil`/`defaults` merge functions on the template's own objects:
/// Salt changes their arguments in place (`slsutil.update`,
/// `defaults.merge`, `defaults.update`, the `overwrite` strategy), which a
/// copy of the data through the execution function interface could not
/// show. `None` when `fun` is not one of them.
fn merge_function(
    fun: &str,
    pos: &[Value],
    kwargs: &[(String, Value)],
) -> Option<Result<Value, Error>> {
    let get = |i: usize, name: &str| arg(pos, kwargs, i, name);
    let text = |i: usize, name: &str, default: &str| {
        get(i, name)
            .filter(|v| !v.is_none() && !v.is_undefined())
            .map(|v| super::pyrepr::py_str(&v))
            .unwrap_or_else(|| default.to_string())
    };
    let flag = |i: usize, name: &str, default: bool| get(i, name).map_or(default, |v| v.is_true());
    let is_none = |v: &Value| v.is_none() || v.is_undefined();
    let result = match fun {
        "slsutil.update" => {
            let mut dest = get(0, "dest").unwrap_or_default();
            let upd = get(1, "upd").unwrap_or_default();
            if flag(2, "recursive_update", true) {
                data::update_tree(&mut dest, &upd, flag(3, "merge_lists", false)).map(|()| dest)
            } else if dest.is_map() && upd.is_map() {
                for (k, v) in upd.entries() {
                    dest.set(k, v);
                }
                Ok(dest)
            } else {
                Err(MergeError::NotDicts)
            }
        }
        "slsutil.merge" => {
            let mut a = get(0, "obj_a").unwrap_or_default();
            let b = get(1, "obj_b").unwrap_or_default();
            data::merge_tree(
                &mut a,
                &b,
                &text(2, "strategy", "smart"),
                &text(3, "renderer", "yaml"),
                flag(4, "merge_lists", false),
            )
        }
        "slsutil.merge_all" => {
            let items = items_of(&get(0, "lst").unwrap_or_default()).unwrap_or_default();
            data::merge_all_tree(
                &items,
                &text(1, "strategy", "smart"),
                &text(2, "renderer", "yaml"),
                flag(3, "merge_lists", false),
            )
        }
        "defaults.merge" => {
            let mut dest = get(0, "dest").unwrap_or_default();
            let src = get(1, "src").unwrap_or_default();
            let convert_none = flag(4, "convert_none", true);
            data::defaults_merge_tree(
                &mut dest,
                &src,
                flag(2, "merge_lists", false),
                flag(3, "in_place", true),
                |v| convert_none && is_none(v),
            )
        }
        "defaults.update" => {
            let mut dest = get(0, "dest").unwrap_or_default();
            let defaults = get(1, "defaults").unwrap_or_default();
            let convert_none = flag(4, "convert_none", true);
            data::defaults_update_tree(
                &mut dest,
                &defaults,
                flag(2, "merge_lists", true),
                flag(3, "in_place", true),
                |v| convert_none && is_none(v),
            )
        }
        "defaults.deepcopy" => Ok(deep_copy(&get(0, "source").unwrap_or_default())),
        _ => return None,
    };
    Some(result.map_err(merge_failed))
}
