//! `inventory.query TARGET fields=id,os,... group_by=FIELD`: the minions a
//! target selects, one row each with the fields asked for (top-level
//! grains, nested ones as `a:b`, and `connected`, `key`), or counts per
//! value of one field; `limit=`/`offset=` page the rows (in id order).
//! Reads the in-memory inventory only, so it costs
//! the same on SQLite and PostgreSQL and stays fast at fleet size.

use std::collections::BTreeMap;

use brine_proto::targeting::TargetType;
use serde_json::{json, Map, Value};

use super::text_arg;
use crate::state::Master;

/// Fields shown when none are asked for.
const DEFAULT_FIELDS: &[&str] = &["id", "os", "osrelease", "connected"];

/// The accepted minions `tgt` selects (`tgt_type` in `kwarg`, default
/// compound, which also reads plain globs).
pub fn minions_of(
    master: &Master,
    tgt: &str,
    kwarg: &Map<String, Value>,
) -> Result<Vec<String>, String> {
    let tgt_type: TargetType = match text_arg(&[], kwarg, 0, "tgt_type") {
        Some(t) => t.parse().map_err(|e| format!("tgt_type: {e}"))?,
        None => TargetType::Compound,
    };
    let (_, _, expr) = crate::jobs::resolve_target(master, tgt, tgt_type)?;
    Ok(crate::jobs::expected_minions(master, &expr))
}

/// `limit=N offset=M`: a page of the rows, in id order.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Page {
    offset: usize,
    limit: Option<usize>,
}

impl Page {
    /// None when neither is given (every row).
    fn from_kwarg(kwarg: &Map<String, Value>) -> Result<Option<Page>, String> {
        let number = |name: &str| -> Result<Option<usize>, String> {
            match text_arg(&[], kwarg, 0, name) {
                None => Ok(None),
                Some(t) => t
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("{name} must be a number, not '{t}'")),
            }
        };
        let (limit, offset) = (number("limit")?, number("offset")?);
        if limit.is_none() && offset.is_none() {
            return Ok(None);
        }
        Ok(Some(Page {
            offset: offset.unwrap_or(0),
            limit,
        }))
    }

    fn of(self, ids: Vec<String>) -> Vec<String> {
        let rest = ids.into_iter().skip(self.offset);
        match self.limit {
            Some(n) => rest.take(n).collect(),
            None => rest.collect(),
        }
    }
}

/// `grains[a][b]` for the path `a:b` (a list index also works: `ipv4:0`).
fn lookup<'a>(grains: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split(':');
    let mut cur = grains.get(parts.next()?)?;
    for p in parts {
        cur = match cur {
            Value::Object(m) => m.get(p)?,
            Value::Array(a) => a.get(p.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

pub fn run(master: &Master, arg: &[Value], kwarg: &Map<String, Value>) -> Result<Value, String> {
    let tgt = text_arg(arg, kwarg, 0, "tgt").unwrap_or_else(|| "*".into());
    let fields: Vec<String> = match text_arg(arg, kwarg, 1, "fields") {
        Some(f) => f
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        None => DEFAULT_FIELDS.iter().map(|s| s.to_string()).collect(),
    };
    let group_by = text_arg(arg, kwarg, 2, "group_by");
    let page = Page::from_kwarg(kwarg)?;
    if page.is_some() && group_by.is_some() {
        return Err("limit and offset page rows; they do not go with group_by".into());
    }
    let mut ids = minions_of(master, &tgt, kwarg)?;
    if let Some(page) = page {
        // Ids come sorted, so pages are stable while the fleet is.
        ids = page.of(ids);
    }
    // Presence is read only when shown: on a shared store it is a query
    // of every master's sessions, the dearest part of a query otherwise.
    let wants_connected = fields
        .iter()
        .chain(group_by.iter())
        .any(|f| f == "connected");
    let connected: std::collections::HashSet<String> = if wants_connected {
        master.connected_ids().into_iter().collect()
    } else {
        Default::default()
    };
    let shared = if wants_connected && master.store.is_shared() {
        crate::runners::connected_anywhere(master)?
    } else {
        Default::default()
    };
    let value_of = |id: &str, grains: Option<&Map<String, Value>>, field: &str| -> Value {
        match field {
            "id" => Value::String(id.to_string()),
            "connected" => Value::Bool(connected.contains(id) || shared.contains(id)),
            "key" => master
                .key_state(id)
                .map(|k| Value::String(k.as_str().to_string()))
                .unwrap_or(Value::Null),
            path => grains
                .and_then(|g| lookup(g, path))
                .cloned()
                .unwrap_or(Value::Null),
        }
    };
    // Only the top-level grains the fields name are unpacked.
    let mut wanted: Vec<String> = fields
        .iter()
        .chain(group_by.iter())
        .map(|f| f.split(':').next().unwrap_or(f).to_string())
        .collect();
    wanted.sort();
    wanted.dedup();
    if let Some(g) = group_by {
        let mut counts: BTreeMap<String, (Value, u64)> = BTreeMap::new();
        for id in &ids {
            let grains = master.grains_select(id, &wanted);
            let v = value_of(id, grains.as_ref(), &g);
            let key = v.to_string();
            counts.entry(key).or_insert((v, 0)).1 += 1;
        }
        let mut rows: Vec<(Value, u64)> = counts.into_values().collect();
        rows.sort_by(|a, b| {
            b.1.cmp(&a.1)
                .then_with(|| a.0.to_string().cmp(&b.0.to_string()))
        });
        return Ok(Value::Array(
            rows.into_iter()
                .map(|(v, n)| {
                    let mut row = Map::new();
                    row.insert(g.clone(), v);
                    row.insert("count".into(), json!(n));
                    Value::Object(row)
                })
                .collect(),
        ));
    }
    let rows = ids
        .iter()
        .map(|id| {
            let grains = master.grains_select(id, &wanted);
            let row: Map<String, Value> = fields
                .iter()
                .map(|f| (f.clone(), value_of(id, grains.as_ref(), f)))
                .collect();
            Value::Object(row)
        })
        .collect();
    Ok(Value::Array(rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_fields_read_dicts_and_lists() {
        let g = json!({"ip4_interfaces": {"eth0": ["10.0.0.5"]}, "os": "Debian"});
        let g = g.as_object().unwrap();
        assert_eq!(lookup(g, "os"), Some(&json!("Debian")));
        assert_eq!(lookup(g, "ip4_interfaces:eth0:0"), Some(&json!("10.0.0.5")));
        assert_eq!(lookup(g, "ip4_interfaces:lo"), None);
        assert_eq!(lookup(g, "nope"), None);
    }

    #[test]
    fn pages_slice_the_ids_and_reject_bad_numbers() {
        let kw = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(Page::from_kwarg(&kw(json!({}))), Ok(None));
        let ids: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
        let p = Page::from_kwarg(&kw(json!({"limit": "3", "offset": "8"})))
            .unwrap()
            .unwrap();
        assert_eq!(p.of(ids.clone()), vec!["m8", "m9"]);
        let p = Page::from_kwarg(&kw(json!({"offset": 7})))
            .unwrap()
            .unwrap();
        assert_eq!(p.of(ids.clone()).len(), 3);
        let p = Page::from_kwarg(&kw(json!({"limit": 0}))).unwrap().unwrap();
        assert!(p.of(ids).is_empty());
        assert!(Page::from_kwarg(&kw(json!({"limit": "ten"})))
            .unwrap_err()
            .contains("limit must be a number"));
    }
}
