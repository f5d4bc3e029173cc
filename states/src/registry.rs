//! The static state-function table, keyed `"mod.fun"` (`file.managed`), one
//! file per state module under `modules/`, merged and sorted once.

use std::sync::OnceLock;

use crate::ctx::{StateArgs, StateCtx};
use crate::modules;
use crate::result::StateResult;

pub type StateFn = fn(&StateCtx<'_>, &StateArgs) -> StateResult;

/// One registered state function.
pub struct StateSpec {
    /// `"mod.fun"`, e.g. `"file.managed"`.
    pub name: &'static str,
    /// First line: summary; then the arguments.
    pub doc: &'static str,
    pub run: StateFn,
    /// What a `watch` that fired calls instead (Salt's `mod_watch`: restart a
    /// service, re-run a command); `None` when the module has none.
    pub mod_watch: Option<StateFn>,
}

/// Every state function, sorted by name.
pub fn states() -> &'static [&'static StateSpec] {
    static TABLE: OnceLock<Vec<&'static StateSpec>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut all: Vec<&'static StateSpec> =
            modules::MODULES.iter().flat_map(|m| m.iter()).collect();
        all.sort_by_key(|s| s.name);
        all
    })
}

pub fn lookup(name: &str) -> Option<&'static StateSpec> {
    let t = states();
    t.binary_search_by(|s| s.name.cmp(name)).ok().map(|i| t[i])
}

/// The registered name closest to `name` (for "did you mean" messages).
pub fn nearest(name: &str) -> Option<&'static str> {
    states()
        .iter()
        .map(|s| (strsim(name, s.name), s.name))
        .min_by_key(|(d, _)| *d)
        .filter(|(d, _)| *d <= name.len().max(3) / 2 + 1)
        .map(|(_, n)| n)
}

/// Levenshtein distance: small enough not to need a crate.
fn strsim(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_sorted() {
        let t = states();
        for w in t.windows(2) {
            assert!(
                w[0].name < w[1].name,
                "duplicate or unsorted: {} {}",
                w[0].name,
                w[1].name
            );
        }
    }
}
