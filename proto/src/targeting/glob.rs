//! Shell globs read the way Python's `fnmatch` reads them (what Salt uses),
//! compiled once.
//!
//! `*` matches any run of characters (`/` included), `?` one character,
//! `[abc]`, `[a-z]` and `[!a]` one character of (or not of) a class; an
//! unclosed `[` is a literal. Everything else, braces and backslashes
//! included, is literal. Matching is case-sensitive. One difference from
//! `fnmatch`: `[^a]` negates like `[!a]` (`fnmatch` reads the `^` literally).
//!
//! Patterns made of literals and `*` only (`*`, `web*`, `*.example.com`) are
//! matched with string comparisons; the rest goes through globset.

use globset::{GlobBuilder, GlobMatcher};

#[derive(Clone, Debug)]
pub(super) enum Glob {
    /// `*`
    Any,
    /// No wildcard at all.
    Exact(Box<str>),
    /// Literal pieces separated by `*`; at least two pieces.
    Stars(Box<[Box<str>]>),
    /// Anything with `?` or a class.
    Class(GlobMatcher),
}

impl Glob {
    /// Compiles `pattern`; the error is globset's description of the problem.
    pub(super) fn new(pattern: &str) -> Result<Glob, String> {
        if pattern.contains(['?', '[']) {
            let translated = to_globset_syntax(pattern);
            let glob = GlobBuilder::new(&translated)
                .literal_separator(false)
                .backslash_escape(false)
                .case_insensitive(false)
                .build()
                .map_err(|e| e.kind().to_string())?;
            return Ok(Glob::Class(glob.compile_matcher()));
        }
        if !pattern.contains('*') {
            return Ok(Glob::Exact(pattern.into()));
        }
        let pieces: Vec<&str> = pattern.split('*').collect();
        if pieces.iter().all(|p| p.is_empty()) {
            return Ok(Glob::Any);
        }
        // Consecutive stars leave empty pieces in the middle; drop them.
        let last = pieces.len() - 1;
        let pieces: Vec<Box<str>> = pieces
            .iter()
            .enumerate()
            .filter(|(i, p)| *i == 0 || *i == last || !p.is_empty())
            .map(|(_, p)| Box::from(*p))
            .collect();
        Ok(Glob::Stars(pieces.into()))
    }

    pub(super) fn is_match(&self, text: &str) -> bool {
        match self {
            Glob::Any => true,
            Glob::Exact(want) => **want == *text,
            Glob::Stars(pieces) => stars_match(pieces, text),
            Glob::Class(glob) => glob.is_match(text),
        }
    }
}

/// `pieces` is a pattern split on `*`: the first piece must start `text`, the
/// last must end it, the ones between must appear in order in what is left.
/// Taking the earliest occurrence of each middle piece is always right.
fn stars_match(pieces: &[Box<str>], text: &str) -> bool {
    let (Some((first, rest)), Some(last)) = (pieces.split_first(), pieces.last()) else {
        return false;
    };
    let middle = &rest[..rest.len().saturating_sub(1)];
    if text.len() < first.len() + last.len()
        || !text.starts_with(&**first)
        || !text.ends_with(&**last)
    {
        return false;
    }
    let mut rest_of_text = &text[first.len()..text.len() - last.len()];
    for piece in middle {
        match rest_of_text.find(&**piece) {
            Some(at) => rest_of_text = &rest_of_text[at + piece.len()..],
            None => return false,
        }
    }
    true
}

/// Rewrites an fnmatch pattern into globset syntax with the same meaning:
/// braces become the classes `[{]` and `[}]` (globset would read them as
/// alternation), runs of `*` become one `*` (globset gives `**` a meaning of
/// its own), and an unclosed `[` becomes `[[]`.
fn to_globset_syntax(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => {
                out.push('*');
                while chars.get(i + 1) == Some(&'*') {
                    i += 1;
                }
            }
            '{' => out.push_str("[{]"),
            '}' => out.push_str("[}]"),
            '[' => match class_end(&chars, i) {
                Some(end) => {
                    out.extend(&chars[i..=end]);
                    i = end;
                }
                None => out.push_str("[[]"),
            },
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// Index of the `]` closing the class opened at `open`, as fnmatch finds it:
/// a `!` (or `^`) may come first, then a `]` right there is a member.
fn class_end(chars: &[char], open: usize) -> Option<usize> {
    let mut i = open + 1;
    if matches!(chars.get(i), Some('!' | '^')) {
        i += 1;
    }
    if chars.get(i) == Some(&']') {
        i += 1;
    }
    chars[i.min(chars.len())..]
        .iter()
        .position(|&c| c == ']')
        .map(|at| i + at)
}

#[cfg(test)]
mod tests {
    use super::Glob;

    fn glob_matches(pattern: &str, text: &str) -> bool {
        Glob::new(pattern).unwrap().is_match(text)
    }

    #[test]
    fn star_only_patterns_use_string_comparisons() {
        assert!(matches!(Glob::new("*").unwrap(), Glob::Any));
        assert!(matches!(Glob::new("***").unwrap(), Glob::Any));
        assert!(matches!(Glob::new("web1").unwrap(), Glob::Exact(_)));
        assert!(matches!(Glob::new("web*").unwrap(), Glob::Stars(_)));
        assert!(matches!(Glob::new("web?").unwrap(), Glob::Class(_)));
    }

    #[test]
    fn fnmatch_semantics() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "", true),
            ("*", "a/b", true),
            ("web*", "web", true),
            ("web*", "web12", true),
            ("web*", "xweb1", false),
            ("*.example.com", "a.example.com", true),
            ("*.example.com", "example.com", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "acb", false),
            ("ab*ba", "aba", false),
            ("a**b", "a/x/b", true),
            ("web?", "web1", true),
            ("web?", "web12", false),
            ("web[12]", "web2", true),
            ("web[12]", "web3", false),
            ("web[!12]", "web3", true),
            ("web[!12]", "web1", false),
            ("web[1-3]*", "web2x", true),
            ("[]a]", "]", true),
            ("[!]a]", "b", true),
            ("web[", "web[", true),
            ("web[1", "web[1", true),
            ("x{a,b}?", "x{a,b}1", true),
            ("x{a,b}?", "xa1", false),
            (r"a\b?", r"a\b1", true),
            ("Web*", "web1", false),
            ("Web?", "web1", false),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(glob_matches(pattern, text), *want, "{pattern} on {text}");
        }
    }

    #[test]
    fn reversed_range_is_an_error() {
        let err = Glob::new("web[9-1]").unwrap_err();
        assert!(err.contains("invalid range"), "{err}");
    }
}
