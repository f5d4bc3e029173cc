//! Python's mutable `dict` and `list` (and the immutable `tuple`) as
//! minijinja objects.
//!
//! minijinja values are immutable, but Salt formulas mutate in place all the
//! time (`{% do d.update({...}) %}`, `{% do l.append(x) %}`), and the change
//! must be visible through every name bound to the same object, as in Python.
//! So every map and list entering a template (context, `salt[...]` results,
//! `import_yaml`, and literals, which [`super::preprocess`] wraps in
//! `__pydict`/`__pylist`) becomes one of these objects.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use indexmap::IndexMap;
use minijinja::value::{Enumerator, Object, ObjectRepr, Value, ValueKind};
use minijinja::{Error, ErrorKind, State};

use super::pyrepr;
use crate::yaml::Node;

/// Python `dict`: insertion-ordered, shared, mutable. `ordered` marks an
/// `OrderedDict` (what Salt's YAML renderer builds for pillar and SLS data):
/// Salt's YAML dumper keeps its key order, and sorts a plain dict's.
#[derive(Debug, Default)]
pub struct PyDict {
    items: Mutex<IndexMap<Value, Value>>,
    ordered: bool,
}

/// Python `list`: shared, mutable.
#[derive(Debug, Default)]
pub struct PyList(Mutex<Vec<Value>>);

/// Python `tuple`: what `items()`, `dictsort` and the regex filters give;
/// printed with parentheses, which the YAML stage reads back as strings.
#[derive(Debug, Default)]
pub struct PyTuple(pub Vec<Value>);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // a panic while holding the lock cannot leave the data half-updated in a
    // way that matters for rendering, so a poisoned lock is still usable
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn new_dict(items: IndexMap<Value, Value>) -> Value {
    Value::from_object(PyDict {
        items: Mutex::new(items),
        ordered: false,
    })
}

/// A new `OrderedDict`.
pub fn new_ordered_dict(items: IndexMap<Value, Value>) -> Value {
    Value::from_object(PyDict {
        items: Mutex::new(items),
        ordered: true,
    })
}

/// A new dict of the same class (`dict` or `OrderedDict`) as `like`.
fn dict_like(like: &PyDict, items: IndexMap<Value, Value>) -> Value {
    if like.ordered {
        new_ordered_dict(items)
    } else {
        new_dict(items)
    }
}

pub fn new_list(items: Vec<Value>) -> Value {
    Value::from_object(PyList(Mutex::new(items)))
}

pub fn new_tuple(items: Vec<Value>) -> Value {
    Value::from_object(PyTuple(items))
}

/// Positional arguments and keyword arguments of a call, as minijinja passes
/// them (kwargs, if any, as a last map value).
pub fn split_args(args: &[Value]) -> (Vec<Value>, Vec<(String, Value)>) {
    let mut pos = args.to_vec();
    let mut kwargs = Vec::new();
    if pos.last().is_some_and(Value::is_kwargs) {
        if let Some(kw) = pos.pop() {
            if let Ok(keys) = kw.try_iter() {
                for k in keys {
                    let v = kw.get_item(&k).unwrap_or_default();
                    kwargs.push((k.as_str().unwrap_or_default().to_string(), v));
                }
            }
        }
    }
    (pos, kwargs)
}

fn arg_error(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// The items of any sequence-like value (our objects, native lists, strings
/// give their characters as Python iterates them).
pub fn items_of(value: &Value) -> Result<Vec<Value>, Error> {
    if let Some(l) = value.downcast_object_ref::<PyList>() {
        return Ok(l.snapshot());
    }
    if let Some(t) = value.downcast_object_ref::<PyTuple>() {
        return Ok(t.0.clone());
    }
    if let Some(s) = value.as_str() {
        return Ok(s.chars().map(|c| Value::from(c.to_string())).collect());
    }
    Ok(value.try_iter()?.collect())
}

/// The (key, value) pairs of any map-like value.
pub fn pairs_of(value: &Value) -> Result<Vec<(Value, Value)>, Error> {
    if let Some(d) = value.downcast_object_ref::<PyDict>() {
        return Ok(d.snapshot());
    }
    if value.kind() == ValueKind::Map {
        let mut out = Vec::new();
        for k in value.try_iter()? {
            let v = value.get_item(&k)?;
            out.push((k, v));
        }
        return Ok(out);
    }
    // `dict.update([('a', 1)])` also takes a sequence of pairs
    let mut out = Vec::new();
    for item in items_of(value)? {
        let kv = items_of(&item)?;
        if kv.len() != 2 {
            return Err(arg_error(
                "dictionary update sequence element has wrong length",
            ));
        }
        out.push((kv[0].clone(), kv[1].clone()));
    }
    Ok(out)
}

/// Turns a native minijinja map or list (a literal, a builtin filter's
/// result) into a mutable Python one; leaves everything else as it is.
pub fn to_mutable(value: Value) -> Value {
    if value.as_object().is_some_and(|o| {
        o.downcast_ref::<PyDict>().is_some()
            || o.downcast_ref::<PyList>().is_some()
            || o.downcast_ref::<PyTuple>().is_some()
    }) {
        return value;
    }
    match value.kind() {
        ValueKind::Map if !value.is_kwargs() => match pairs_of(&value) {
            Ok(p) => new_dict(p.into_iter().collect()),
            Err(_) => value,
        },
        ValueKind::Seq => match value.try_iter() {
            Ok(it) => new_list(it.collect()),
            Err(_) => value,
        },
        _ => value,
    }
}

/// JSON data (grains, pillar, a function's return) as template values.
pub fn from_json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(a) => new_list(a.iter().map(from_json).collect()),
        serde_json::Value::Object(m) => new_dict(
            m.iter()
                .map(|(k, v)| (Value::from(k.as_str()), from_json(v)))
                .collect(),
        ),
    }
}

/// Pillar data as template values: the top-level dict is a plain `dict`,
/// every dict below it an `OrderedDict`, as Salt's YAML renderer loads
/// pillar SLS files and merges them into a new dict.
pub fn from_pillar_json(v: &serde_json::Value) -> Value {
    fn ordered(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Array(a) => new_list(a.iter().map(ordered).collect()),
            serde_json::Value::Object(m) => new_ordered_dict(
                m.iter()
                    .map(|(k, v)| (Value::from(k.as_str()), ordered(v)))
                    .collect(),
            ),
            other => from_json(other),
        }
    }
    match v {
        serde_json::Value::Object(m) => new_dict(
            m.iter()
                .map(|(k, v)| (Value::from(k.as_str()), ordered(v)))
                .collect(),
        ),
        other => ordered(other),
    }
}

/// JSON (a function's return) as template values whose dicts take their
/// class from `sources`: a dict at some path is an `OrderedDict` when the
/// first source holding a dict at that same path holds one. For results
/// built by merging the sources (`grains.filter_by`).
pub fn from_json_shaped(v: &serde_json::Value, sources: &[Value]) -> Value {
    match v {
        serde_json::Value::Array(a) => new_list(
            a.iter()
                .enumerate()
                .map(|(i, item)| {
                    let key = Value::from(i as i64);
                    let subs: Vec<Value> = sources
                        .iter()
                        .filter(|s| s.kind() == ValueKind::Seq)
                        .filter_map(|s| item_of(s, &key))
                        .collect();
                    from_json_shaped(item, &subs)
                })
                .collect(),
        ),
        serde_json::Value::Object(m) => {
            let ordered = sources
                .iter()
                .find(|s| s.kind() == ValueKind::Map)
                .is_some_and(is_ordered);
            let items = m
                .iter()
                .map(|(k, val)| {
                    let key = Value::from(k.as_str());
                    let subs: Vec<Value> = sources
                        .iter()
                        .filter(|s| s.kind() == ValueKind::Map)
                        .filter_map(|s| item_of(s, &key))
                        .collect();
                    (key, from_json_shaped(val, &subs))
                })
                .collect();
            if ordered {
                new_ordered_dict(items)
            } else {
                new_dict(items)
            }
        }
        other => from_json(other),
    }
}

fn item_of(v: &Value, key: &Value) -> Option<Value> {
    item(v, key)
}

/// Whether a template value is an `OrderedDict`.
pub fn is_ordered(v: &Value) -> bool {
    v.downcast_object_ref::<PyDict>().is_some_and(|d| d.ordered)
}

/// JSON for Salt's YAML dumper: a plain dict's keys sorted (PyYAML's
/// `sort_keys`; keys of mixed types stay unsorted, as Python cannot order
/// them), an `OrderedDict`'s kept in order.
pub fn to_json_for_yaml(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    if v.kind() == ValueKind::Map && !v.is_none() && !v.is_undefined() {
        let mut pairs = pairs_of(v).unwrap_or_default();
        if !is_ordered(v) {
            let same_kind = pairs.windows(2).all(|w| same_sort_kind(&w[0].0, &w[1].0));
            if same_kind {
                pairs.sort_by(|a, b| a.0.cmp(&b.0));
            }
        }
        let mut out = serde_json::Map::new();
        for (k, val) in pairs {
            out.insert(json_key(&k), to_json_for_yaml(&val));
        }
        return J::Object(out);
    }
    if matches!(v.kind(), ValueKind::Seq | ValueKind::Iterable) {
        return J::Array(
            items_of(v)
                .unwrap_or_default()
                .iter()
                .map(to_json_for_yaml)
                .collect(),
        );
    }
    // an int beyond u64 is written as the int it is, not as a float
    if v.kind() == ValueKind::Number && v.is_integer() {
        if let Ok(i) = i128::try_from(v.clone()) {
            return crate::yaml::int_for_dump(i);
        }
    }
    to_json(v)
}

/// Whether Python can order two keys (numbers with numbers, text with text).
fn same_sort_kind(a: &Value, b: &Value) -> bool {
    let kind = |v: &Value| match v.kind() {
        ValueKind::Number | ValueKind::Bool => 0,
        ValueKind::String => 1,
        _ => 2,
    };
    kind(a) == kind(b) && kind(a) != 2
}

/// Loaded YAML as template values (keys keep their types).
pub fn from_node(n: &Node) -> Value {
    match n {
        Node::Null => Value::from(()),
        Node::Bool(b) => Value::from(*b),
        Node::Int(i) => Value::from(*i),
        Node::Float(f) => Value::from(*f),
        Node::Str(s) => Value::from(s.as_str()),
        Node::Seq(items) => new_list(items.iter().map(from_node).collect()),
        Node::Map(m) => new_dict(
            m.iter()
                .map(|(k, v)| (from_node(k), from_node(v)))
                .collect(),
        ),
    }
}

/// Template values as JSON (arguments to execution functions, `|json`).
/// Non-string keys become strings as Python's json module writes them.
pub fn to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    if v.is_none() || v.is_undefined() {
        return J::Null;
    }
    match v.kind() {
        ValueKind::Bool => J::Bool(v.is_true()),
        ValueKind::Number => {
            if v.is_integer() {
                if let Some(i) = v.as_i64() {
                    return J::from(i);
                }
                if let Ok(u) = u64::try_from(v.clone()) {
                    return J::from(u);
                }
            }
            f64::try_from(v.clone())
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(J::Number)
                .unwrap_or(J::Null)
        }
        ValueKind::String => J::String(v.as_str().unwrap_or_default().to_string()),
        ValueKind::Map => {
            let mut out = serde_json::Map::new();
            for (k, val) in pairs_of(v).unwrap_or_default() {
                out.insert(json_key(&k), to_json(&val));
            }
            J::Object(out)
        }
        ValueKind::Seq | ValueKind::Iterable => J::Array(
            items_of(v)
                .unwrap_or_default()
                .iter()
                .map(to_json)
                .collect(),
        ),
        _ => J::String(pyrepr::py_str(v)),
    }
}

fn json_key(k: &Value) -> String {
    match k.kind() {
        ValueKind::None => "null".into(),
        ValueKind::Bool => if k.is_true() { "true" } else { "false" }.into(),
        _ => pyrepr::py_str(k),
    }
}

fn none() -> Value {
    Value::from(())
}

impl PyDict {
    pub fn snapshot(&self) -> Vec<(Value, Value)> {
        lock(&self.items)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub fn get(&self, key: &Value) -> Option<Value> {
        lock(&self.items).get(key).cloned()
    }

    pub fn set(&self, key: Value, value: Value) {
        lock(&self.items).insert(key, value);
    }

    pub fn len(&self) -> usize {
        lock(&self.items).len()
    }

    fn method(&self, name: &str, args: &[Value]) -> Result<Value, Error> {
        let (pos, kwargs) = split_args(args);
        let arg = |i: usize| pos.get(i).cloned();
        match name {
            "get" => Ok(arg(0)
                .and_then(|k| self.get(&k))
                .or_else(|| arg(1))
                .unwrap_or_else(none)),
            "keys" => Ok(new_list(lock(&self.items).keys().cloned().collect())),
            "values" => Ok(new_list(lock(&self.items).values().cloned().collect())),
            "items" => Ok(new_list(
                self.snapshot()
                    .into_iter()
                    .map(|(k, v)| new_tuple(vec![k, v]))
                    .collect(),
            )),
            "update" => {
                let mut new = Vec::new();
                if let Some(other) = arg(0) {
                    new = pairs_of(&other)?;
                }
                new.extend(kwargs.into_iter().map(|(k, v)| (Value::from(k), v)));
                let mut map = lock(&self.items);
                for (k, v) in new {
                    map.insert(k, v);
                }
                Ok(none())
            }
            "setdefault" => {
                let key =
                    arg(0).ok_or_else(|| arg_error("setdefault expected at least 1 argument"))?;
                let mut map = lock(&self.items);
                Ok(map
                    .entry(key)
                    .or_insert_with(|| arg(1).unwrap_or_else(none))
                    .clone())
            }
            "pop" => {
                let key = arg(0).ok_or_else(|| arg_error("pop expected at least 1 argument"))?;
                let removed = lock(&self.items).shift_remove(&key);
                match (removed, arg(1)) {
                    (Some(v), _) | (None, Some(v)) => Ok(v),
                    (None, None) => Err(Error::new(
                        ErrorKind::InvalidOperation,
                        pyrepr::py_repr(&key),
                    )),
                }
            }
            "popitem" => lock(&self.items)
                .pop()
                .map(|(k, v)| new_tuple(vec![k, v]))
                .ok_or_else(|| arg_error("'popitem(): dictionary is empty'")),
            "copy" => Ok(dict_like(self, lock(&self.items).clone())),
            "clear" => {
                lock(&self.items).clear();
                Ok(none())
            }
            "has_key" => Ok(Value::from(arg(0).is_some_and(|k| self.get(&k).is_some()))),
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("'dict object' has no attribute '{name}'"),
            )),
        }
    }
}

impl Object for PyDict {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        // Jinja's `d['get']` falls back to the attribute: the bound method
        self.get(key).or_else(|| {
            let name = key.as_str()?;
            DICT_METHODS.contains(&name).then(|| {
                Value::from_object(BoundMethod {
                    target: Value::from_dyn_object(self.clone()),
                    name: name.to_string(),
                })
            })
        })
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(lock(&self.items).keys().cloned().collect())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.len())
    }

    fn is_true(self: &Arc<Self>) -> bool {
        self.len() > 0
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        self.method(method, args)
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&pyrepr::py_repr(&Value::from_dyn_object(self.clone())))
    }
}

/// The methods of a Python `dict` reachable as `d['name']` when `d` has no
/// such key.
const DICT_METHODS: &[&str] = &[
    "get",
    "keys",
    "values",
    "items",
    "update",
    "setdefault",
    "pop",
    "popitem",
    "copy",
    "clear",
];

/// A method taken from an object without calling it (`d['get']`).
#[derive(Debug)]
struct BoundMethod {
    target: Value,
    name: String,
}

impl Object for BoundMethod {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn call(self: &Arc<Self>, state: &State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        self.target.call_method(state, &self.name, args)
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<built-in method {} of dict object>", self.name)
    }
}

impl PyList {
    pub fn snapshot(&self) -> Vec<Value> {
        lock(&self.0).clone()
    }

    pub fn push(&self, v: Value) {
        lock(&self.0).push(v);
    }

    fn method(&self, name: &str, args: &[Value]) -> Result<Value, Error> {
        let (pos, kwargs) = split_args(args);
        let arg = |i: usize| pos.get(i).cloned();
        match name {
            "append" => {
                self.push(arg(0).ok_or_else(|| arg_error("append() takes exactly one argument"))?);
                Ok(none())
            }
            "extend" => {
                let more = items_of(&arg(0).unwrap_or_default())?;
                lock(&self.0).extend(more);
                Ok(none())
            }
            "insert" => {
                let idx = arg(0).and_then(|v| v.as_i64()).unwrap_or(0);
                let v = arg(1).unwrap_or_else(none);
                let mut l = lock(&self.0);
                let len = l.len() as i64;
                let at = if idx < 0 {
                    (len + idx).max(0)
                } else {
                    idx.min(len)
                };
                l.insert(at as usize, v);
                Ok(none())
            }
            "pop" => {
                let mut l = lock(&self.0);
                let len = l.len() as i64;
                let idx = arg(0).and_then(|v| v.as_i64()).unwrap_or(-1);
                let at = if idx < 0 { len + idx } else { idx };
                if at < 0 || at >= len {
                    return Err(arg_error("pop index out of range"));
                }
                Ok(l.remove(at as usize))
            }
            "remove" => {
                let x = arg(0).unwrap_or_else(none);
                let mut l = lock(&self.0);
                match l.iter().position(|v| *v == x) {
                    Some(i) => {
                        l.remove(i);
                        Ok(none())
                    }
                    None => Err(arg_error("list.remove(x): x not in list")),
                }
            }
            "index" => {
                let x = arg(0).unwrap_or_else(none);
                lock(&self.0)
                    .iter()
                    .position(|v| *v == x)
                    .map(|i| Value::from(i as i64))
                    .ok_or_else(|| arg_error(format!("{} is not in list", pyrepr::py_repr(&x))))
            }
            "count" => {
                let x = arg(0).unwrap_or_else(none);
                Ok(Value::from(
                    lock(&self.0).iter().filter(|v| **v == x).count() as i64,
                ))
            }
            "reverse" => {
                lock(&self.0).reverse();
                Ok(none())
            }
            "sort" => {
                let reverse = kwargs.iter().any(|(k, v)| k == "reverse" && v.is_true());
                let mut l = lock(&self.0);
                l.sort();
                if reverse {
                    l.reverse();
                }
                Ok(none())
            }
            "copy" => Ok(new_list(self.snapshot())),
            "clear" => {
                lock(&self.0).clear();
                Ok(none())
            }
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("'list object' has no attribute '{name}'"),
            )),
        }
    }
}

/// Python indexing of a sequence (negative indexes count from the end).
fn seq_index(items: &[Value], key: &Value) -> Option<Value> {
    let i = key.as_i64()?;
    let len = items.len() as i64;
    let at = if i < 0 { len + i } else { i };
    if at < 0 || at >= len {
        return None;
    }
    items.get(at as usize).cloned()
}

impl Object for PyList {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        seq_index(&lock(&self.0), key)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.snapshot())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(lock(&self.0).len())
    }

    fn is_true(self: &Arc<Self>) -> bool {
        !lock(&self.0).is_empty()
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        self.method(method, args)
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&pyrepr::py_repr(&Value::from_dyn_object(self.clone())))
    }
}

impl Object for PyTuple {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        seq_index(&self.0, key)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.0.clone())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.0.len())
    }

    fn is_true(self: &Arc<Self>) -> bool {
        !self.0.is_empty()
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let x = args.first().cloned().unwrap_or_default();
        match method {
            "count" => Ok(Value::from(
                self.0.iter().filter(|v| **v == x).count() as i64
            )),
            "index" => self
                .0
                .iter()
                .position(|v| *v == x)
                .map(|i| Value::from(i as i64))
                .ok_or_else(|| arg_error("tuple.index(x): x not in tuple")),
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("'tuple object' has no attribute '{method}'"),
            )),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&pyrepr::py_repr(&Value::from_dyn_object(self.clone())))
    }
}

/// `value[key]`, `None` when missing.
pub fn item(value: &Value, key: &Value) -> Option<Value> {
    value.get_item(key).ok().filter(|v| !v.is_undefined())
}

/// Python's `copy.deepcopy` of a template value: new dicts and lists all
/// the way down (tuples and scalars are immutable, so shared).
pub fn deep_copy(v: &Value) -> Value {
    if let Some(d) = v.downcast_object_ref::<PyDict>() {
        return dict_like(
            d,
            d.snapshot()
                .iter()
                .map(|(k, v)| (k.clone(), deep_copy(v)))
                .collect(),
        );
    }
    if let Some(l) = v.downcast_object_ref::<PyList>() {
        return new_list(l.snapshot().iter().map(deep_copy).collect());
    }
    if v.kind() == ValueKind::Map || v.kind() == ValueKind::Seq {
        return deep_copy(&to_mutable(v.clone()));
    }
    v.clone()
}

/// Python's type name of a template value.
pub fn type_name(v: &Value) -> &'static str {
    if v.downcast_object_ref::<PyTuple>().is_some() {
        return "tuple";
    }
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if v.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Seq | ValueKind::Iterable => "list",
        ValueKind::Map => "dict",
        _ => "object",
    }
}

/// Salt's dict merging on template values: shared objects, so a merge into
/// a dict changes it for every name bound to it, as in Python.
impl crate::data::Tree for Value {
    type Key = Value;

    fn is_map(&self) -> bool {
        self.downcast_object_ref::<PyDict>().is_some()
            || (self.kind() == ValueKind::Map && !self.is_kwargs())
    }

    fn is_list(&self) -> bool {
        self.downcast_object_ref::<PyList>().is_some()
            || (self.kind() == ValueKind::Seq && self.downcast_object_ref::<PyTuple>().is_none())
    }

    fn entries(&self) -> Vec<(Value, Value)> {
        if self.is_map() {
            pairs_of(self).unwrap_or_default()
        } else {
            Vec::new()
        }
    }

    fn get(&self, key: &Value) -> Option<Value> {
        match self.downcast_object_ref::<PyDict>() {
            Some(d) => d.get(key),
            None => item(self, key),
        }
    }

    fn set(&mut self, key: Value, value: Value) {
        if self.downcast_object_ref::<PyDict>().is_none() && self.is_map() {
            *self = to_mutable(self.clone());
        }
        if let Some(d) = self.downcast_object_ref::<PyDict>() {
            d.set(key, value);
        }
    }

    fn items(&self) -> Vec<Value> {
        if self.is_list() {
            items_of(self).unwrap_or_default()
        } else {
            Vec::new()
        }
    }

    fn new_list(items: Vec<Value>) -> Value {
        new_list(items)
    }

    fn new_map(entries: Vec<(Value, Value)>) -> Value {
        new_dict(entries.into_iter().collect())
    }

    fn deep_copy(&self) -> Value {
        deep_copy(self)
    }

    fn truthy(&self) -> bool {
        self.is_true()
    }

    fn type_name(&self) -> &'static str {
        type_name(self)
    }
}
