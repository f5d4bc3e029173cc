//! The `salt` mapping of Salt templates: `salt['pillar.get']('x')`,
//! `salt.grains.filter_by({...})` and `'mod.fun' in salt`, all going to the
//! minion's execution functions through the [`Host`].

use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use minijinja::{Error, State};

use super::errors::{JinjaErrorKind, SaltJinjaError};
use super::host::Host;
use super::mutable::{from_json, split_args, to_json};
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
    let args = pos.iter().map(to_json).collect();
    let kwargs = kwargs.iter().map(|(k, v)| (k.clone(), to_json(v))).collect();
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
