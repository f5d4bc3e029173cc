//! The `salt` mapping of Salt templates: `salt['pillar.get']('x')`,
//! `salt.grains.filter_by({...})` and `'mod.fun' in salt`, all going to the
//! minion's execution functions through the [`Host`].

use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, Value, ValueKind};
use minijinja::{Error, State};

use super::errors::{JinjaErrorKind, SaltJinjaError};
use super::host::Host;
use super::mutable::{
    from_json, items_of, new_dict, new_list, pairs_of, split_args, to_json, to_mutable, PyDict,
    PyList, PyTuple,
};
use crate::caller::CallError;

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
    if fun == "defaults.merge" {
        return defaults_merge(&pos, &kwargs);
    }
    let args = pos.iter().map(to_json).collect();
    let kwargs = kwargs
        .iter()
        .map(|(k, v)| (k.clone(), to_json(v)))
        .collect();
    match host.call(fun, args, kwargs) {
        Ok(v) => Ok(from_json(&v)),
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

impl Object for SaltFunctions {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        if key.contains('.') {
            self.host.has(key).then(|| {
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

/// `defaults.merge(dest, src, merge_lists=False, in_place=True)`: merges
/// into `dest` itself, which the template sees change (a copy of the data
/// through the execution function interface could not do that).
fn defaults_merge(pos: &[Value], kwargs: &[(String, Value)]) -> Result<Value, Error> {
    let kw = |name: &str| {
        kwargs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let dest = pos
        .first()
        .cloned()
        .or_else(|| kw("dest"))
        .unwrap_or_default();
    let src = pos
        .get(1)
        .cloned()
        .or_else(|| kw("src"))
        .unwrap_or_default();
    let merge_lists = pos
        .get(2)
        .cloned()
        .or_else(|| kw("merge_lists"))
        .is_some_and(|v| v.is_true());
    let in_place = pos
        .get(3)
        .cloned()
        .or_else(|| kw("in_place"))
        .is_none_or(|v| v.is_true());
    let dest = if in_place { dest } else { deep_copy(&dest) };
    dict_update(&dest, &src, merge_lists)?;
    Ok(dest)
}

fn deep_copy(v: &Value) -> Value {
    if v.downcast_object_ref::<PyDict>().is_some() {
        let items = pairs_of(v).unwrap_or_default();
        return new_dict(
            items
                .iter()
                .map(|(k, v)| (k.clone(), deep_copy(v)))
                .collect(),
        );
    }
    if v.downcast_object_ref::<PyList>().is_some() {
        return new_list(
            items_of(v)
                .unwrap_or_default()
                .iter()
                .map(deep_copy)
                .collect(),
        );
    }
    v.clone()
}

/// Salt's `salt.utils.dictupdate.update`, in place.
fn dict_update(dest: &Value, upd: &Value, merge_lists: bool) -> Result<(), Error> {
    let Some(target) = dest.downcast_object_ref::<PyDict>() else {
        return Err(SaltJinjaError {
            kind: JinjaErrorKind::SaltFunction,
            message: "Cannot update using non-dict types in dictupdate.update()".into(),
        }
        .into_minijinja());
    };
    for (key, val) in pairs_of(upd)? {
        let current = target.get(&key);
        match current {
            Some(cur) if cur.kind() == ValueKind::Map && val.kind() == ValueKind::Map => {
                let cur = to_mutable(cur);
                dict_update(&cur, &val, merge_lists)?;
                target.set(key, cur);
            }
            Some(cur) if merge_lists && is_list(&cur) && is_list(&val) => {
                let mut merged = items_of(&cur)?;
                for x in items_of(&val)? {
                    if !merged.contains(&x) {
                        merged.push(x);
                    }
                }
                target.set(key, new_list(merged));
            }
            _ => target.set(key, val),
        }
    }
    Ok(())
}

fn is_list(v: &Value) -> bool {
    v.kind() == ValueKind::Seq && v.downcast_object_ref::<PyTuple>().is_none()
}
