//! The inventory's history: a minion's grains at any time, what changed
//! between two times, and what changed across the fleet since a time
//! (`inventory.history`, `inventory.diff`, `inventory.changes`). Each
//! history row holds only what changed; a state is rebuilt by replaying
//! the rows up to a time.

use std::collections::BTreeMap;

use brine_proto::Grains;
use serde_json::{json, Map, Value};

use super::when::iso;
use crate::store::GrainsVersion;

/// How many rows one minion's history may replay (a year of hourly
/// changes); older ones are pruned by `inventory_history_days` anyway.
pub const MAX_ROWS: usize = 10_000;

/// `{grain: {"old": o, "new": n}}` for each top-level grain that differs
/// between `old` and `new` (a missing grain is null).
pub fn diff(old: &Grains, new: &Grains) -> Map<String, Value> {
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| old.get(*k) != new.get(*k))
        .map(|k| {
            let o = old.get(k).cloned().unwrap_or(Value::Null);
            let n = new.get(k).cloned().unwrap_or(Value::Null);
            (k.clone(), json!({"old": o, "new": n}))
        })
        .collect()
}

/// One minion's versions, oldest first: each row's time, the change it
/// made as old/new pairs, and whether it was the first report.
pub fn versions(rows: &[GrainsVersion]) -> Vec<(i64, bool, Map<String, Value>, usize)> {
    let mut state = Grains::new();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let before = state.clone();
        row.delta.apply(&mut state);
        let changes = if row.delta.full {
            Map::new()
        } else {
            diff(&before, &state)
        };
        out.push((row.at_ms, row.delta.full, changes, state.len()));
    }
    out
}

/// The grains rows say a minion had at `at_ms` (None: no row before it).
pub fn state_at(rows: &[GrainsVersion], at_ms: i64) -> Option<Grains> {
    let mut state = None;
    for row in rows.iter().take_while(|r| r.at_ms <= at_ms) {
        let s = state.get_or_insert_with(Grains::new);
        row.delta.apply(s);
    }
    state
}

/// A version as the runners print it.
pub fn version_value(at_ms: i64, first: bool, changes: Map<String, Value>, count: usize) -> Value {
    if first {
        json!({"time": iso(at_ms), "first_report": true, "grains": count})
    } else {
        json!({"time": iso(at_ms), "changes": changes})
    }
}

/// Groups a fleet's rows by minion, keeping each minion's order.
pub fn by_minion(rows: Vec<GrainsVersion>) -> BTreeMap<String, Vec<GrainsVersion>> {
    let mut map: BTreeMap<String, Vec<GrainsVersion>> = BTreeMap::new();
    for r in rows {
        map.entry(r.id.clone()).or_default().push(r);
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::GrainsDelta;

    #[test]
    fn deltas_replay_to_each_state_and_diff_as_old_and_new() {
        let g1: Grains = json!({"os": "Debian", "osrelease": "12", "role": "web"})
            .as_object()
            .cloned()
            .unwrap();
        let g2: Grains = json!({"os": "Debian", "osrelease": "13", "owner": "ops"})
            .as_object()
            .cloned()
            .unwrap();
        let d1 = GrainsDelta::between(None, &g1).unwrap();
        let d2 = GrainsDelta::between(Some(&g1), &g2).unwrap();
        assert!(GrainsDelta::between(Some(&g2), &g2).is_none());
        assert!(d1.full);
        assert_eq!(d2.unset, vec!["role".to_string()]);
        assert_eq!(d2.set.len(), 2, "only what changed: {d2:?}");
        let rows = vec![
            GrainsVersion {
                id: "m1".into(),
                at_ms: 100,
                delta: d1,
            },
            GrainsVersion {
                id: "m1".into(),
                at_ms: 200,
                delta: d2,
            },
        ];
        assert_eq!(state_at(&rows, 50), None);
        assert_eq!(state_at(&rows, 150), Some(g1.clone()));
        assert_eq!(state_at(&rows, 200), Some(g2.clone()));
        let v = versions(&rows);
        assert!(v[0].1);
        assert_eq!(
            Value::Object(v[1].2.clone()),
            json!({
                "osrelease": {"old": "12", "new": "13"},
                "owner": {"old": null, "new": "ops"},
                "role": {"old": "web", "new": null},
            })
        );
        assert_eq!(diff(&g1, &g1), Map::new());
    }
}
