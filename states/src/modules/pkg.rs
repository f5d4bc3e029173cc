//! `pkg.*` states.

use crate::registry::StateSpec;

pub const STATES: &[StateSpec] = &[];
