//! What can go wrong reading a target expression, said with where.

use thiserror::Error;

use super::TargetType;

/// Why a target expression was refused.
///
/// Every problem inside an expression is an [`TargetError::Invalid`]: it
/// carries the expression and the character position of the problem, and its
/// `Display` shows both, with a caret under the spot:
///
/// ```text
/// invalid compound target 'G@os:Debian and and web*': unexpected 'and' at position 16
///   G@os:Debian and and web*
///                   ^
/// ```
#[derive(Debug, Error, Clone, PartialEq)]
pub enum TargetError {
    #[error("empty target expression")]
    Empty,
    /// `pos` counts characters (not bytes) from the start of `expr`.
    #[error(
        "invalid {tgt_type} target '{expr}': {problem} at position {pos}{hint}\n{caret}",
        hint = .problem.hint(),
        caret = caret_lines(.expr, *.pos)
    )]
    Invalid {
        tgt_type: TargetType,
        expr: String,
        pos: usize,
        problem: Problem,
    },
    #[error(
        "unknown target type '{0}'; expected one of glob, pcre, list, grain, grain_pcre, compound, ipcidr, nodegroup, pillar, pillar_pcre"
    )]
    UnknownTargetType(String),
    /// A nodegroup target reached a matcher: only the master knows the
    /// nodegroups, so it must expand them first.
    #[error("nodegroup '{name}' must be expanded by the master before matching")]
    NodegroupNotExpanded { name: String },
    #[error("unknown nodegroup '{name}'{}", referenced_by_suffix(.referenced_by))]
    UnknownNodegroup {
        name: String,
        /// The nodegroup whose definition names it, if any.
        referenced_by: Option<String>,
    },
    /// `chain` starts and ends with the same name: `a -> b -> a`.
    #[error("nodegroup cycle: {}", .chain.join(" -> "))]
    NodegroupCycle { chain: Vec<String> },
    #[error("nodegroup '{name}' is empty")]
    EmptyNodegroup { name: String },
}

/// The problem found at a position of an expression.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum Problem {
    /// An operator or parenthesis where a target was expected.
    #[error("unexpected '{0}'")]
    Unexpected(String),
    /// An operator with nothing after it.
    #[error("missing target after '{0}'")]
    MissingOperand(String),
    /// Two targets side by side.
    #[error("missing operator before '{0}'")]
    MissingOperator(String),
    #[error("unclosed '('")]
    UnclosedParen,
    #[error("unmatched ')'")]
    UnmatchedParen,
    #[error("expression nested deeper than {0} levels")]
    TooDeep(usize),
    /// A `X@` prefix that is not one of the known target types.
    #[error("unknown target type '{0}'")]
    UnknownPrefix(String),
    /// A prefix such as `E@` with nothing after it.
    #[error("missing pattern after '{0}'")]
    EmptyPattern(String),
    #[error("invalid regex '{regex}': {message}")]
    BadRegex { regex: String, message: String },
    #[error("invalid glob '{glob}': {message}")]
    BadGlob { glob: String, message: String },
    #[error("invalid ip address or cidr '{0}'")]
    BadAddress(String),
    /// A grain or pillar target without the delimiter between key and value.
    #[error("{kind} target '{target}' needs key{delimiter}value")]
    NeedsKeyValue {
        kind: &'static str,
        target: String,
        delimiter: char,
    },
    #[error("nodegroup '{0}' must be expanded by the master before matching")]
    NodegroupNotExpanded(String),
}

impl Problem {
    /// What to say after the position, if anything.
    fn hint(&self) -> &'static str {
        match self {
            Problem::UnknownPrefix(_) => "; expected one of G@, P@, E@, L@, S@, I@, J@, N@",
            _ => "",
        }
    }
}

/// A problem at a byte offset of the expression being parsed; becomes a
/// [`TargetError::Invalid`] once the whole expression is known.
#[derive(Debug)]
pub(super) struct Spanned {
    pub(super) pos: usize,
    pub(super) problem: Problem,
}

impl Spanned {
    pub(super) fn new(pos: usize, problem: Problem) -> Spanned {
        Spanned { pos, problem }
    }

    pub(super) fn into_error(self, tgt_type: TargetType, expr: &str) -> TargetError {
        let byte = self.pos.min(expr.len());
        let pos = expr.char_indices().take_while(|(at, _)| *at < byte).count();
        TargetError::Invalid {
            tgt_type,
            expr: expr.to_string(),
            pos,
            problem: self.problem,
        }
    }
}

/// The expression indented by two spaces, then a caret under character `pos`.
fn caret_lines(expr: &str, pos: usize) -> String {
    // Tabs and newlines would put the caret in the wrong column.
    let shown: String = expr
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    format!("  {shown}\n  {:pos$}^", "")
}

fn referenced_by_suffix(referenced_by: &Option<String>) -> String {
    match referenced_by {
        Some(group) => format!(" referenced by nodegroup '{group}'"),
        None => String::new(),
    }
}

/// Turns a regex crate error into a problem at the right spot: `pos` is where
/// the pattern starts in the expression; the caret moves to the offending
/// part of the pattern when the regex crate says where it is.
pub(super) fn regex_problem(pattern: &str, pos: usize, err: &regex::Error) -> Spanned {
    let (message, offset) = match err {
        regex::Error::Syntax(text) => parse_regex_syntax_error(pattern, text),
        regex::Error::CompiledTooBig(limit) => (
            format!("compiled regex exceeds the size limit of {limit} bytes"),
            0,
        ),
        other => (other.to_string(), 0),
    };
    Spanned::new(
        pos + offset,
        Problem::BadRegex {
            regex: pattern.to_string(),
            message,
        },
    )
}

/// Reads regex-syntax's report, which looks like
///
/// ```text
/// regex parse error:
///     web(
///        ^
/// error: unclosed group
/// ```
///
/// into the message (`unclosed group`) and the byte offset of the caret
/// within the pattern (0 when the report has another shape).
fn parse_regex_syntax_error(pattern: &str, text: &str) -> (String, usize) {
    let lines: Vec<&str> = text.lines().collect();
    let message = lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .map(str::to_string)
        .unwrap_or_else(|| lines.join(" "));
    let mut offset = 0;
    let single_line = !pattern.contains('\n');
    if single_line && lines.get(1).and_then(|l| l.strip_prefix("    ")) == Some(pattern) {
        if let Some(caret) = lines.get(2).and_then(|l| l.strip_prefix("    ")) {
            let column = caret.len() - caret.trim_start_matches(' ').len();
            if caret.trim_start_matches(' ').starts_with('^') {
                offset = pattern
                    .char_indices()
                    .nth(column)
                    .map_or(pattern.len(), |(at, _)| at);
            }
        }
    }
    (message, offset)
}
