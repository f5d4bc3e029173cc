//! High data (what rendering produces, `state.show_sls`) to low chunks
//! (`state.show_lowstate`): `extend`, `exclude`, structural checks,
//! `*_in` requisites, `names:` expansion and ordering, as Salt's
//! `salt/state.py` does them.
//!
//! [`compile`] is the whole pipeline in Salt's order (`State.call_high`);
//! the steps are public for `show_*` functions and tests.

mod compile;
mod extend;
pub mod graph;
mod requisite_in;
mod verify;

use serde_json::{Map, Value};

pub use compile::{chunks_of, order_chunks};
pub use extend::{apply_exclude, reconcile_extend};
pub use requisite_in::requisite_in;
pub use verify::verify_high;

/// Salt's `STATE_REQUISITE_KEYWORDS`.
pub const REQUISITE_KEYWORDS: [&str; 13] = [
    "onfail",
    "onfail_any",
    "onfail_all",
    "require",
    "require_any",
    "onchanges",
    "onchanges_any",
    "watch",
    "watch_any",
    "prereq",
    "prerequired",
    "listen",
    "onfail_stop",
];

/// Keys the runtime consumes; never passed to a state function
/// (Salt's `STATE_INTERNAL_KEYWORDS`, minus `runas` and `saltenv`, which
/// `cmd` states take as arguments).
pub const INTERNAL_KEYWORDS: [&str; 30] = [
    "onchanges_in",
    "onfail_in",
    "prereq_in",
    "watch_in",
    "require_in",
    "listen_in",
    "fun",
    "state",
    "check_cmd",
    "cmd_opts_exclude",
    "failhard",
    "onlyif",
    "unless",
    "creates",
    "retry",
    "order",
    "parallel",
    "reload_modules",
    "reload_grains",
    "reload_pillar",
    "runas_password",
    "no_log",
    "fire_event",
    "umask",
    "use",
    "use_in",
    "name",
    "names",
    "name_order",
    "aggregate",
];

/// Salt's `reconcile_extend` then `apply_exclude`.
pub fn apply_extend_exclude(high: &mut Map<String, Value>) -> Result<(), Vec<String>> {
    let errors = reconcile_extend(high, false);
    apply_exclude(high);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// `requisite_in`, `names:` expansion and ordering: the chunks of
/// `state.show_lowstate`, in execution order (a chunk under a `prereq`
/// appears twice: its dry run, then its run).
pub fn compile_low(high: &Map<String, Value>) -> Result<Vec<Map<String, Value>>, Vec<String>> {
    let mut high = high.clone();
    let errors = requisite_in(&mut high);
    if !errors.is_empty() {
        return Err(errors);
    }
    let (graph, order) = order_chunks(chunks_of(&high));
    let order = order?;
    Ok(order
        .into_iter()
        .map(|ci| graph.chunks[ci].clone())
        .collect())
}

/// The whole of Salt's `call_high` before running: extend, verify,
/// `*_in`, exclude, compile and order.
pub fn compile(high: &Map<String, Value>) -> Result<Vec<Map<String, Value>>, Vec<String>> {
    let mut high = high.clone();
    let mut errors = reconcile_extend(&mut high, false);
    errors.extend(verify_high(&high));
    if !errors.is_empty() {
        return Err(errors);
    }
    let errors = requisite_in(&mut high);
    apply_exclude(&mut high);
    if !errors.is_empty() {
        return Err(errors);
    }
    let (graph, order) = order_chunks(chunks_of(&high));
    let order = order?;
    Ok(order
        .into_iter()
        .map(|ci| graph.chunks[ci].clone())
        .collect())
}
