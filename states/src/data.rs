//! Salt's `salt.utils.dictupdate` (and the `slsutil`/`defaults` merge
//! functions built on it): the one implementation, shared by the pillar
//! compiler, the Jinja `salt` mapping and the minion's execution functions.
//!
//! The algorithms are written over [`Tree`], so that they run both on JSON
//! (execution functions, pillar) and on template values, where Python's
//! object identity matters: `slsutil.update(d, x)` and `defaults.merge(d, x)`
//! change `d` itself, `strategy='overwrite'` changes its first argument, and
//! a value taken from `upd` is the same object afterwards (an `OrderedDict`
//! from pillar stays one).

use serde_json::{Map, Value};

/// A mapping/sequence tree as the merge functions need it. For a shared
/// (handle) implementation, `get` returns the same object and `set` changes
/// it for every holder, as in Python; for JSON, `get` copies and `set`
/// stores, which gives the same results where identity is not observable.
pub trait Tree: Clone + PartialEq + Sized {
    type Key: Clone;
    fn is_map(&self) -> bool;
    fn is_list(&self) -> bool;
    /// A mapping's entries in order (empty for anything else).
    fn entries(&self) -> Vec<(Self::Key, Self)>;
    fn get(&self, key: &Self::Key) -> Option<Self>;
    fn set(&mut self, key: Self::Key, value: Self);
    /// A sequence's items (empty for anything else).
    fn items(&self) -> Vec<Self>;
    fn new_list(items: Vec<Self>) -> Self;
    /// A new plain `dict`.
    fn new_map(entries: Vec<(Self::Key, Self)>) -> Self;
    /// Python's `copy.deepcopy`.
    fn deep_copy(&self) -> Self;
    /// Python's truthiness.
    fn truthy(&self) -> bool;
    /// Python's type name, for messages.
    fn type_name(&self) -> &'static str;
}

/// Why a merge could not be done; the messages are Salt's exceptions'.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MergeError {
    #[error("Cannot update using non-dict types in dictupdate.update()")]
    NotDicts,
    #[error("'{0}' object has no attribute 'items'")]
    NoItems(&'static str),
    #[error("filter_by default and look-up values must both be dictionaries.")]
    FilterByBaseNotDict,
    #[error("filter_by merge argument must be a dictionary.")]
    FilterByMergeNotDict,
    #[error("Can't perform in-place merge into NoneType")]
    InPlaceIntoNone,
    #[error("Can't perform in-place update into NoneType")]
    InPlaceUpdateIntoNone,
}

/// `dictupdate.update(dest, upd, merge_lists=...)`, in place: mappings merge
/// recursively; with `merge_lists` a list in both becomes a copy of `dest`'s
/// extended by `upd`'s items it lacks; anything else is replaced by `upd`'s
/// value (that same object).
pub fn update_tree<T: Tree>(dest: &mut T, upd: &T, merge_lists: bool) -> Result<(), MergeError> {
    if !dest.is_map() || !upd.is_map() {
        return Err(MergeError::NotDicts);
    }
    for (key, val) in upd.entries() {
        match dest.get(&key) {
            Some(mut sub) if sub.is_map() && val.is_map() => {
                update_tree(&mut sub, &val, merge_lists)?;
                dest.set(key, sub);
            }
            Some(sub) if merge_lists && sub.is_list() && val.is_list() => {
                let mut merged = sub.deep_copy().items();
                for item in val.items() {
                    if !merged.contains(&item) {
                        merged.push(item);
                    }
                }
                dest.set(key, T::new_list(merged));
            }
            _ => dest.set(key, val),
        }
    }
    Ok(())
}

/// `dictupdate.merge_recurse`: a deep copy of `a` updated with `b`.
pub fn merge_recurse_tree<T: Tree>(a: &T, b: &T, merge_lists: bool) -> Result<T, MergeError> {
    let mut copied = a.deep_copy();
    update_tree(&mut copied, b, merge_lists)?;
    Ok(copied)
}

/// `dictupdate.merge(obj_a, obj_b, strategy, renderer, merge_lists)`:
/// `smart` is `aggregate` for the `yamlex` renderer and `recurse`
/// otherwise; `list` pairs values of shared keys; `overwrite` first puts
/// `b`'s shared top-level values into `a` itself (Salt changes its
/// argument), then recurses; unknown strategies fall back to `recurse`.
pub fn merge_tree<T: Tree>(
    a: &mut T,
    b: &T,
    strategy: &str,
    renderer: &str,
    merge_lists: bool,
) -> Result<T, MergeError> {
    let strategy = match strategy {
        "smart" => {
            let last = renderer.rsplit('|').next().unwrap_or(renderer);
            if last == "yamlex" || renderer.starts_with("yamlex_") {
                "aggregate"
            } else {
                "recurse"
            }
        }
        "list" | "recurse" | "aggregate" | "overwrite" | "none" => strategy,
        other => {
            tracing::warn!(
                strategy = other,
                "unknown merging strategy, fallback to recurse"
            );
            "recurse"
        }
    };
    match strategy {
        "list" => merge_list(a, b),
        "aggregate" => Ok(aggregate_top(a, b)),
        "overwrite" => {
            if !a.is_map() {
                return Err(MergeError::NotDicts);
            }
            for (k, v) in b.entries() {
                if a.get(&k).is_some() {
                    a.set(k, v);
                }
            }
            merge_recurse_tree(a, b, merge_lists)
        }
        "none" => merge_recurse_tree(a, b, false),
        _ => merge_recurse_tree(a, b, merge_lists),
    }
}

/// `merge_list`: a new dict of `a`'s keys; a key `b` shares becomes
/// `[a_value, b_value]`.
fn merge_list<T: Tree>(a: &T, b: &T) -> Result<T, MergeError> {
    if !a.is_map() {
        return Err(MergeError::NoItems(a.type_name()));
    }
    let entries = a
        .entries()
        .into_iter()
        .map(|(k, v)| match b.get(&k) {
            Some(bv) if b.is_map() => (k, T::new_list(vec![v, bv])),
            _ => (k, v),
        })
        .collect();
    Ok(T::new_map(entries))
}

/// yamlex's `merge_recursive(a, b, level=1)` on untagged data: only the top
/// level aggregates (dicts merge, lists extend, scalars pair up); below it
/// `b`'s value wins whole.
fn aggregate_top<T: Tree>(a: &T, b: &T) -> T {
    let as_seq = |v: &T| {
        if v.is_list() {
            v.items()
        } else {
            vec![v.clone()]
        }
    };
    if a.is_map() && b.is_map() {
        let mut out = T::new_map(a.entries());
        for (k, v) in b.entries() {
            out.set(k, v);
        }
        return out;
    }
    if a.is_map() || b.is_map() {
        return b.clone();
    }
    let mut out = as_seq(a);
    for item in as_seq(b) {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    T::new_list(out)
}

/// `slsutil.merge_all(lst, strategy, renderer, merge_lists)`: every item
/// merged in turn into a new dict.
pub fn merge_all_tree<T: Tree>(
    items: &[T],
    strategy: &str,
    renderer: &str,
    merge_lists: bool,
) -> Result<T, MergeError> {
    let mut ret = T::new_map(Vec::new());
    for item in items {
        ret = merge_tree(&mut ret, item, strategy, renderer, merge_lists)?;
    }
    Ok(ret)
}

/// `defaults.merge(dest, src, merge_lists, in_place, convert_none)`: `src`
/// merged into `dest` itself (or into a deep copy of it); the result.
pub fn defaults_merge_tree<T: Tree>(
    dest: &mut T,
    src: &T,
    merge_lists: bool,
    in_place: bool,
    none: impl Fn(&T) -> bool,
) -> Result<T, MergeError> {
    let src = if none(src) {
        T::new_map(Vec::new())
    } else {
        src.clone()
    };
    if none(dest) {
        if in_place {
            return Err(MergeError::InPlaceIntoNone);
        }
        *dest = T::new_map(Vec::new());
    }
    if in_place {
        update_tree(dest, &src, merge_lists)?;
        Ok(dest.clone())
    } else {
        let mut merged = dest.deep_copy();
        update_tree(&mut merged, &src, merge_lists)?;
        Ok(merged)
    }
}

/// `defaults.update(dest, defaults, merge_lists, in_place)`: every value of
/// `dest` becomes a deep copy of `defaults` updated with that value.
pub fn defaults_update_tree<T: Tree>(
    dest: &mut T,
    defaults: &T,
    merge_lists: bool,
    in_place: bool,
    none: impl Fn(&T) -> bool,
) -> Result<T, MergeError> {
    if in_place && none(dest) {
        return Err(MergeError::InPlaceUpdateIntoNone);
    }
    let mut nodes = if in_place {
        dest.clone()
    } else if none(dest) {
        T::new_map(Vec::new())
    } else {
        dest.deep_copy()
    };
    if !nodes.is_map() {
        return Err(MergeError::NoItems(nodes.type_name()));
    }
    let defaults = if none(defaults) {
        T::new_map(Vec::new())
    } else {
        defaults.clone()
    };
    for (name, vars) in nodes.entries() {
        let mut merged = defaults.deep_copy();
        let vars = if none(&vars) {
            T::new_map(Vec::new())
        } else {
            vars
        };
        update_tree(&mut merged, &vars, merge_lists)?;
        nodes.set(name, merged);
    }
    if in_place {
        *dest = nodes.clone();
    }
    Ok(nodes)
}

impl Tree for Value {
    type Key = String;

    fn is_map(&self) -> bool {
        self.is_object()
    }

    fn is_list(&self) -> bool {
        self.is_array()
    }

    fn entries(&self) -> Vec<(String, Value)> {
        match self {
            Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            _ => Vec::new(),
        }
    }

    fn get(&self, key: &String) -> Option<Value> {
        self.as_object().and_then(|m| m.get(key)).cloned()
    }

    fn set(&mut self, key: String, value: Value) {
        if let Value::Object(m) = self {
            m.insert(key, value);
        }
    }

    fn items(&self) -> Vec<Value> {
        self.as_array().cloned().unwrap_or_default()
    }

    fn new_list(items: Vec<Value>) -> Value {
        Value::Array(items)
    }

    fn new_map(entries: Vec<(String, Value)>) -> Value {
        Value::Object(entries.into_iter().collect::<Map<_, _>>())
    }

    fn deep_copy(&self) -> Value {
        self.clone()
    }

    fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(m) => !m.is_empty(),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "NoneType",
            Value::Bool(_) => "bool",
            Value::Number(n) if n.is_f64() => "float",
            Value::Number(_) => "int",
            Value::String(_) => "str",
            Value::Array(_) => "list",
            Value::Object(_) => "dict",
        }
    }
}

/// [`update_tree`] on JSON where a non-mapping `dest` is simply replaced
/// (how pillar and top data are overlaid).
pub fn update(dest: &mut Value, upd: Value, merge_lists: bool) {
    if dest.is_object() && upd.is_object() {
        // both are mappings, so this cannot fail
        let _ = update_tree(dest, &upd, merge_lists);
    } else {
        *dest = upd;
    }
}

/// [`merge_recurse_tree`] on JSON, replacing a non-mapping `a` by `b`.
pub fn merge_recurse(a: &Value, b: Value, merge_lists: bool) -> Value {
    let mut out = a.clone();
    update(&mut out, b, merge_lists);
    out
}

/// `dictupdate.merge` on JSON copies (the caller's `a` is not changed).
pub fn merge(
    a: &Value,
    b: &Value,
    strategy: &str,
    renderer: &str,
    merge_lists: bool,
) -> Result<Value, MergeError> {
    merge_tree(&mut a.clone(), b, strategy, renderer, merge_lists)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_maps_merge_and_lists_replace() {
        let mut a = json!({"a": {"b": 1, "c": [1, 2]}, "x": 1});
        update(
            &mut a,
            json!({"a": {"d": 2, "c": [3]}, "x": {"y": 1}}),
            false,
        );
        assert_eq!(a, json!({"a": {"b": 1, "c": [3], "d": 2}, "x": {"y": 1}}));
        let mut a = json!({"c": [1, 2]});
        update(&mut a, json!({"c": [2, 3]}), true);
        assert_eq!(a, json!({"c": [1, 2, 3]}));
    }

    #[test]
    fn merge_strategies_like_salt() {
        let a = json!({"x": 1, "l": [1, 2], "d": {"p": 1, "q": 2}});
        let b = json!({"y": 2, "l": [3], "d": {"q": 20, "r": 30}});
        let want_recurse = json!({"x": 1, "l": [3], "d": {"p": 1, "q": 20, "r": 30}, "y": 2});
        assert_eq!(merge(&a, &b, "smart", "yaml", false).unwrap(), want_recurse);
        assert_eq!(
            merge(&a, &b, "recurse", "yaml", false).unwrap(),
            want_recurse
        );
        // overwrite replaces shared top-level values whole, and changes `a`
        let mut changed = a.clone();
        let over = merge_tree(&mut changed, &b, "overwrite", "yaml", false).unwrap();
        assert_eq!(
            over,
            json!({"x": 1, "l": [3], "d": {"q": 20, "r": 30}, "y": 2})
        );
        assert_eq!(changed, json!({"x": 1, "l": [3], "d": {"q": 20, "r": 30}}));
        assert_eq!(
            merge(&a, &b, "recurse", "yaml", true).unwrap()["l"],
            json!([1, 2, 3])
        );
        assert_eq!(
            merge(&a, &b, "list", "yaml", false).unwrap(),
            json!({"x": 1, "l": [[1, 2], [3]], "d": [{"p": 1, "q": 2}, {"q": 20, "r": 30}]})
        );
        assert_eq!(
            merge(&json!([1]), &b, "recurse", "yaml", false),
            Err(MergeError::NotDicts)
        );
    }

    #[test]
    fn defaults_update_merges_defaults_under_every_node() {
        let mut nodes = json!({"a": {"port": 1}, "b": null});
        let out = defaults_update_tree(
            &mut nodes,
            &json!({"port": 0, "tags": [1]}),
            true,
            true,
            Value::is_null,
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"a": {"port": 1, "tags": [1]}, "b": {"port": 0, "tags": [1]}})
        );
        assert_eq!(nodes, out);
    }
}
