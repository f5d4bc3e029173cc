//! The grain inventory in memory, packed so that a fleet fits: each
//! minion's grains are kept as their top-level keys, each with its value
//! encoded (msgpack), and keys and values are interned. Most values are the
//! same across a fleet (OS, kernel, CPU flags, locale...), so 10,000 minions
//! cost about one copy of those plus each host's own addresses and ids,
//! instead of 10,000 JSON trees of ~50 KB each.
//!
//! Targeting decodes only the grains an expression reads
//! ([`brine_proto::targeting::TargetExpr::grain_keys`]); the whole set is
//! decoded only when something needs it all (pillar rendering, runners).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use brine_proto::Grains;
use serde_json::Value;

/// A top-level grain: its name and its value, msgpack-encoded; both shared.
type Entry = (Arc<str>, Arc<[u8]>);

/// One minion's grains, packed.
#[derive(Debug, Clone)]
pub struct PackedGrains {
    /// In the order the minion sent them.
    entries: Box<[Entry]>,
}

impl PackedGrains {
    pub fn pack(grains: &Grains, interner: &Interner) -> PackedGrains {
        let entries = grains
            .iter()
            .filter_map(|(k, v)| {
                let bytes = rmp_serde::to_vec(v).ok()?;
                Some((interner.key(k), interner.value(bytes)))
            })
            .collect();
        PackedGrains { entries }
    }

    /// The same grains, in the same order (interned values compare by
    /// address).
    pub fn same_as(&self, other: &PackedGrains) -> bool {
        self.entries.len() == other.entries.len()
            && self
                .entries
                .iter()
                .zip(other.entries.iter())
                .all(|((k1, v1), (k2, v2))| Arc::ptr_eq(k1, k2) && Arc::ptr_eq(v1, v2))
    }

    /// Every grain.
    pub fn unpack(&self) -> Grains {
        self.entries
            .iter()
            .filter_map(|(k, v)| Some((k.to_string(), decode(v)?)))
            .collect()
    }

    /// Only the top-level grains named in `keys`, which are interned names
    /// ([`Interner::find_keys`]): compared by address, not by text, as this
    /// runs for every minion of the fleet on every query and target.
    pub fn select_interned(&self, keys: &[Arc<str>]) -> Grains {
        self.entries
            .iter()
            .filter(|(k, _)| keys.iter().any(|want| Arc::ptr_eq(want, k)))
            .filter_map(|(k, v)| Some((k.to_string(), decode(v)?)))
            .collect()
    }
}

fn decode(bytes: &[u8]) -> Option<Value> {
    rmp_serde::from_slice(bytes).ok()
}

/// Shared copies of grain names and encoded values.
#[derive(Default)]
pub struct Interner {
    keys: Mutex<HashSet<Arc<str>>>,
    values: Mutex<Values>,
}

#[derive(Default)]
struct Values {
    set: HashSet<Arc<[u8]>>,
    /// Size of the set after the last sweep: the next sweep comes when it
    /// has doubled, so sweeping costs O(1) per insert over time.
    swept_at: usize,
}

impl Interner {
    fn key(&self, k: &str) -> Arc<str> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = keys.get(k) {
            return found.clone();
        }
        let new: Arc<str> = Arc::from(k);
        keys.insert(new.clone());
        new
    }

    /// The interned copies of the names in `keys` that some minion has
    /// sent; a name never sent is left out, as no minion has that grain.
    /// Names are never swept, so these stay the ones packed grains hold.
    pub fn find_keys(&self, keys: &[String]) -> Vec<Arc<str>> {
        let interned = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.iter()
            .filter_map(|k| interned.get(k.as_str()).cloned())
            .collect()
    }

    fn value(&self, bytes: Vec<u8>) -> Arc<[u8]> {
        let mut values = self.values.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = values.set.get(bytes.as_slice()) {
            return found.clone();
        }
        if values.set.len() >= 2 * values.swept_at.max(1024) {
            // values no minion holds any more (grains changed, keys deleted)
            values.set.retain(|v| Arc::strong_count(v) > 1);
            values.swept_at = values.set.len();
        }
        let new: Arc<[u8]> = Arc::from(bytes);
        values.set.insert(new.clone());
        new
    }

    /// Distinct values held (for tests and diagnostics).
    pub fn distinct_values(&self) -> usize {
        self.values
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn grains(id: &str) -> Grains {
        json!({"id": id, "os": "Debian", "cpu_flags": ["fpu", "vme", "sse2"],
               "locale_info": {"defaultlanguage": "en_US"}, "num_cpus": 2, "virtual": null})
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn unpacks_what_was_packed_in_order_and_selects_keys() {
        let i = Interner::default();
        let g = grains("web1");
        let p = PackedGrains::pack(&g, &i);
        assert_eq!(p.unpack(), g);
        assert_eq!(
            p.unpack().keys().collect::<Vec<_>>(),
            g.keys().collect::<Vec<_>>()
        );
        assert!(p.same_as(&PackedGrains::pack(&g, &i)));
        assert!(!p.same_as(&PackedGrains::pack(&grains("web2"), &i)));
        let wanted = i.find_keys(&["os".into(), "num_cpus".into(), "absent".into()]);
        assert_eq!(wanted.len(), 2, "a name no minion sent is left out");
        assert_eq!(
            Value::Object(p.select_interned(&wanted)),
            json!({"os": "Debian", "num_cpus": 2})
        );
        assert!(p.select_interned(&[]).is_empty());
    }

    #[test]
    fn a_fleet_shares_its_common_values() {
        let i = Interner::default();
        let fleet: Vec<PackedGrains> = (0..100)
            .map(|n| PackedGrains::pack(&grains(&format!("m{n}")), &i))
            .collect();
        // 100 ids, and one copy of each of the 5 shared values
        assert_eq!(i.distinct_values(), 105);
        drop(fleet);
    }
}
