//! State modules, one file each. Each exports `STATES: &[StateSpec]`; add
//! the slice to [`MODULES`] to register it.

use crate::registry::StateSpec;

pub const MODULES: &[&[StateSpec]] = &[];
