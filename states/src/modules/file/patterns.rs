//! Salt's `check_include_exclude` (`include_pat`, `exclude_pat`): each a
//! glob matched like `fnmatch` (`*` crosses `/`) or, prefixed `E@`, a regex
//! searched anywhere in the path; one pattern or a list of them.

use serde_json::Value;

/// One or more patterns from a state argument.
#[derive(Debug, Clone, Default)]
pub struct PathPatterns(Vec<String>);

impl PathPatterns {
    /// `None` when the argument is absent or empty (Salt's falsy check).
    pub fn from_arg(value: Option<&Value>) -> Option<PathPatterns> {
        let pats: Vec<String> = match value? {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
            Value::Null | Value::Bool(false) => Vec::new(),
            other => vec![other.to_string()],
        };
        let pats: Vec<String> = pats.into_iter().filter(|p| !p.is_empty()).collect();
        (!pats.is_empty()).then_some(PathPatterns(pats))
    }

    /// Whether any pattern matches `rel`. An invalid pattern matches nothing.
    pub fn any_match(&self, rel: &str) -> bool {
        self.0.iter().any(|pat| match pat.strip_prefix("E@") {
            Some(re) => regex::Regex::new(re).is_ok_and(|r| r.is_match(rel)),
            None => globset::Glob::new(pat).is_ok_and(|g| g.compile_matcher().is_match(rel)),
        })
    }
}

/// `true` when `rel` passes `include` (if any) and is not matched by `exclude`.
pub fn included(rel: &str, include: Option<&PathPatterns>, exclude: Option<&PathPatterns>) -> bool {
    include.is_none_or(|p| p.any_match(rel)) && !exclude.is_some_and(|p| p.any_match(rel))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn globs_regexes_and_lists() {
        let pats = |v| PathPatterns::from_arg(Some(&v));
        let inc = pats(json!(["E@^sub", "a.*"]));
        assert!(included("sub/b.txt", inc.as_ref(), None));
        assert!(included("a.txt", inc.as_ref(), None));
        assert!(!included("e2", inc.as_ref(), None));
        // fnmatch's `*` crosses directories.
        let exc = pats(json!("*.bak"));
        assert!(!included("deep/x.bak", None, exc.as_ref()));
        assert!(included("deep/x.conf", None, exc.as_ref()));
        assert!(!included(
            "a.txt",
            inc.as_ref(),
            pats(json!("E@txt$")).as_ref()
        ));
        assert!(pats(json!("")).is_none());
        assert!(pats(json!([])).is_none());
    }
}
