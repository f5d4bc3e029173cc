//! What a state function reports: Salt's result shape, typed.

use serde_json::{Map, Value};

/// The outcome of one state. An expected failure is a result (`Some(false)`),
/// never an `Err`; `None` means "would change" under `test=True`.
#[derive(Debug, Clone, PartialEq)]
pub struct StateResult {
    pub name: String,
    pub result: Option<bool>,
    pub comment: String,
    /// Salt's `changes` dict: empty when nothing changed. A file's diff goes
    /// under `"diff"` as unified text.
    pub changes: Map<String, Value>,
    /// Salt's `warnings` list: the state ran, but something in its
    /// arguments is likely not what the author meant. Printed by the
    /// highstate outputter; left out of the result when empty.
    pub warnings: Vec<String>,
    /// Salt's `skip_watch`: a `watch` on this state must not fire its
    /// `mod_watch` (a `check_cmd` refused the new content).
    pub skip_watch: bool,
}

impl StateResult {
    pub fn new(name: impl Into<String>) -> StateResult {
        StateResult {
            name: name.into(),
            result: Some(true),
            comment: String::new(),
            changes: Map::new(),
            warnings: Vec::new(),
            skip_watch: false,
        }
    }

    /// Success without changes.
    pub fn ok(name: impl Into<String>, comment: impl Into<String>) -> StateResult {
        StateResult {
            comment: comment.into(),
            ..StateResult::new(name)
        }
    }

    /// A failure with its reason.
    pub fn fail(name: impl Into<String>, comment: impl Into<String>) -> StateResult {
        StateResult {
            result: Some(false),
            comment: comment.into(),
            ..StateResult::new(name)
        }
    }

    /// Would change (dry run), with the changes it would make.
    pub fn would(
        name: impl Into<String>,
        comment: impl Into<String>,
        changes: Map<String, Value>,
    ) -> StateResult {
        StateResult {
            result: None,
            comment: comment.into(),
            changes,
            name: name.into(),
            warnings: Vec::new(),
            skip_watch: false,
        }
    }
}
