//! Pure data helpers shared by the pillar compiler, Jinja filters and
//! execution functions (Salt's `salt.utils.dictupdate`).

use serde_json::Value;

/// Salt's `dictupdate.update(dest, upd, merge_lists)`: mappings merge
/// recursively, anything else in `upd` replaces what `dest` had; with
/// `merge_lists`, lists are concatenated keeping `dest`'s items first and
/// adding only new ones.
pub fn update(dest: &mut Value, upd: Value, merge_lists: bool) {
    match (dest, upd) {
        (Value::Object(d), Value::Object(u)) => {
            for (k, v) in u {
                match d.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        update(existing, v, merge_lists)
                    }
                    Some(Value::Array(existing)) if merge_lists && v.is_array() => {
                        if let Value::Array(items) = v {
                            for i in items {
                                if !existing.contains(&i) {
                                    existing.push(i);
                                }
                            }
                        }
                    }
                    _ => {
                        d.insert(k, v);
                    }
                }
            }
        }
        (d, u) => *d = u,
    }
}

/// Salt's `merge_recurse`: a copy of `a` updated with `b`.
pub fn merge_recurse(a: &Value, b: Value, merge_lists: bool) -> Value {
    let mut out = a.clone();
    update(&mut out, b, merge_lists);
    out
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
}
