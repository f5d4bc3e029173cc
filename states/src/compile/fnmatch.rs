//! Python's `fnmatch` (what Salt uses to expand `include: - foo.*` and top
//! file SLS globs): `*` and `?` match any character, dots included.

use globset::{GlobBuilder, GlobMatcher};

pub fn matcher(pattern: &str) -> Option<GlobMatcher> {
    GlobBuilder::new(pattern)
        .literal_separator(false)
        .backslash_escape(false)
        .build()
        .ok()
        .map(|g| g.compile_matcher())
}

/// The names in `names` that `pattern` matches, in their order.
pub fn filter<'a>(names: &'a [String], pattern: &str) -> Vec<&'a String> {
    if !pattern.contains(['*', '?', '[']) {
        return names.iter().filter(|n| *n == pattern).collect();
    }
    match matcher(pattern) {
        Some(m) => names.iter().filter(|n| m.is_match(n.as_str())).collect(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_crosses_dots() {
        let names: Vec<String> = ["a", "a.b", "a.b.c", "b"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(filter(&names, "a.*"), vec!["a.b", "a.b.c"]);
        assert_eq!(filter(&names, "a"), vec!["a"]);
        assert!(filter(&names, "zz").is_empty());
    }
}
