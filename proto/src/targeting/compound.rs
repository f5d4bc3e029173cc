//! Compound targets: single targets joined by `and`, `or`, `not` and
//! parentheses, as Salt reads them.
//!
//! Words are separated by whitespace. Parentheses may stand alone (`( web* )`)
//! or stick to a word (`(web* or db*)`); a `)` at the end of a word belongs to
//! the word when it closes a `(` inside it (`E@web(1|2)`). Precedence is
//! Python's, since Salt evaluates a Python expression: `not` binds tighter
//! than `and`, `and` tighter than `or`. Like Salt, `not` right after a target
//! means `and not`: `web* not web2` is `web* and not web2`.

use super::error::{Problem, Spanned};
use super::matcher::Matcher;
use super::MinionFacts;

/// Deeper nesting than this is refused rather than risk the stack.
const MAX_DEPTH: usize = 128;

/// A parsed expression.
#[derive(Clone, Debug)]
pub(super) enum Node {
    Target(Matcher),
    Not(Box<Node>),
    All(Vec<Node>),
    Any(Vec<Node>),
}

impl Node {
    pub(super) fn matches(&self, facts: &MinionFacts<'_>) -> bool {
        match self {
            Node::Target(matcher) => matcher.matches(facts),
            Node::Not(node) => !node.matches(facts),
            Node::All(nodes) => nodes.iter().all(|n| n.matches(facts)),
            Node::Any(nodes) => nodes.iter().any(|n| n.matches(facts)),
        }
    }

    pub(super) fn grain_keys(&self, out: &mut Vec<String>) {
        match self {
            Node::Target(matcher) => matcher.grain_keys(out),
            Node::Not(node) => node.grain_keys(out),
            Node::All(nodes) | Node::Any(nodes) => nodes.iter().for_each(|n| n.grain_keys(out)),
        }
    }

    pub(super) fn needs_grains(&self) -> bool {
        match self {
            Node::Target(matcher) => matcher.needs_grains(),
            Node::Not(node) => node.needs_grains(),
            Node::All(nodes) | Node::Any(nodes) => nodes.iter().any(Node::needs_grains),
        }
    }
}

/// Parses a compound expression; errors carry byte offsets into `expr`.
pub(super) fn parse(expr: &str) -> Result<Node, Spanned> {
    let tokens = tokenize(expr);
    let mut parser = Parser {
        tokens,
        next: 0,
        depth: 0,
    };
    let node = parser.or_expr()?;
    match parser.peek() {
        None => Ok(node),
        Some(token) if token.kind == Kind::Close => {
            Err(Spanned::new(token.pos, Problem::UnmatchedParen))
        }
        Some(token) => Err(Spanned::new(
            token.pos,
            Problem::MissingOperator(token.text.to_string()),
        )),
    }
}

/// The whitespace-separated words of `text`, each with its byte offset.
pub(super) fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split(char::is_whitespace)
        .filter(|word| !word.is_empty())
        .map(move |word| (word.as_ptr() as usize - text.as_ptr() as usize, word))
}

/// Splits the parentheses stuck to a word: how many `(` lead, the word
/// itself, how many `)` trail. A trailing `)` stays in the word when it
/// closes a `(` of the word; backslash-escaped parentheses do not count.
pub(super) fn split_parens(word: &str) -> (usize, &str, usize) {
    let opening = word.len() - word.trim_start_matches('(').len();
    let rest = &word[opening..];
    let trailing = rest.len() - rest.trim_end_matches(')').len();
    let (mut opened, mut closed) = (0usize, 0usize);
    let mut escaped = false;
    for c in rest.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '(' => opened += 1,
            ')' => closed += 1,
            _ => {}
        }
    }
    let closing = closed.saturating_sub(opened).min(trailing);
    (opening, &rest[..rest.len() - closing], closing)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Open,
    Close,
    And,
    Or,
    Not,
    Target,
}

#[derive(Clone, Copy, Debug)]
struct Token<'a> {
    kind: Kind,
    text: &'a str,
    /// Byte offset in the expression.
    pos: usize,
}

fn tokenize(expr: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    for (pos, word) in words(expr) {
        let (opening, core, closing) = split_parens(word);
        for i in 0..opening {
            tokens.push(Token {
                kind: Kind::Open,
                text: "(",
                pos: pos + i,
            });
        }
        if !core.is_empty() {
            let kind = match core {
                "and" => Kind::And,
                "or" => Kind::Or,
                "not" => Kind::Not,
                _ => Kind::Target,
            };
            tokens.push(Token {
                kind,
                text: core,
                pos: pos + opening,
            });
        }
        for i in 0..closing {
            tokens.push(Token {
                kind: Kind::Close,
                text: ")",
                pos: pos + opening + core.len() + i,
            });
        }
    }
    tokens
}

/// Recursive descent over the tokens:
///
/// ```text
/// or_expr  = and_expr { "or" and_expr }
/// and_expr = not_expr { ["and"] not_expr }    -- "and" may be left out before "not" only
/// not_expr = "not" not_expr | primary
/// primary  = target | "(" or_expr ")"
/// ```
struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    next: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<Token<'a>> {
        self.tokens.get(self.next).copied()
    }

    fn bump(&mut self) -> Option<Token<'a>> {
        let token = self.peek();
        self.next += 1;
        token
    }

    fn or_expr(&mut self) -> Result<Node, Spanned> {
        let mut any = vec![self.and_expr()?];
        while self.peek().is_some_and(|t| t.kind == Kind::Or) {
            self.bump();
            any.push(self.and_expr()?);
        }
        Ok(if any.len() == 1 {
            any.remove(0)
        } else {
            Node::Any(any)
        })
    }

    fn and_expr(&mut self) -> Result<Node, Spanned> {
        let mut all = vec![self.not_expr()?];
        loop {
            match self.peek().map(|t| t.kind) {
                Some(Kind::And) => {
                    self.bump();
                }
                Some(Kind::Not) => {}
                _ => break,
            }
            all.push(self.not_expr()?);
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Node::All(all)
        })
    }

    fn not_expr(&mut self) -> Result<Node, Spanned> {
        match self.peek() {
            Some(token) if token.kind == Kind::Not => {
                self.bump();
                self.descend(token)?;
                let node = self.not_expr()?;
                self.depth -= 1;
                Ok(Node::Not(Box::new(node)))
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<Node, Spanned> {
        let Some(token) = self.bump() else {
            return Err(self.missing_operand());
        };
        match token.kind {
            Kind::Target => Matcher::word(token.text, token.pos).map(Node::Target),
            Kind::Open => {
                self.descend(token)?;
                let node = self.or_expr()?;
                self.depth -= 1;
                match self.bump() {
                    Some(close) if close.kind == Kind::Close => Ok(node),
                    None => Err(Spanned::new(token.pos, Problem::UnclosedParen)),
                    Some(other) => Err(Spanned::new(
                        other.pos,
                        Problem::MissingOperator(other.text.to_string()),
                    )),
                }
            }
            Kind::Close | Kind::And | Kind::Or | Kind::Not => Err(Spanned::new(
                token.pos,
                Problem::Unexpected(token.text.to_string()),
            )),
        }
    }

    /// The expression ended where a target was expected: after an operator
    /// or an opening parenthesis.
    fn missing_operand(&self) -> Spanned {
        match self.tokens.last() {
            Some(last) if last.kind == Kind::Open => Spanned::new(last.pos, Problem::UnclosedParen),
            Some(last) => Spanned::new(last.pos, Problem::MissingOperand(last.text.to_string())),
            // Callers refuse blank expressions before parsing.
            None => Spanned::new(0, Problem::MissingOperand(String::new())),
        }
    }

    fn descend(&mut self, token: Token<'_>) -> Result<(), Spanned> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Spanned::new(token.pos, Problem::TooDeep(MAX_DEPTH)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::split_parens;

    #[test]
    fn parentheses_stuck_to_words() {
        assert_eq!(split_parens("(web*"), (1, "web*", 0));
        assert_eq!(split_parens("db*)"), (0, "db*", 1));
        assert_eq!(split_parens("((web*))"), (2, "web*", 2));
        assert_eq!(split_parens("E@web(1|2)"), (0, "E@web(1|2)", 0));
        assert_eq!(split_parens("(E@web(1|2))"), (1, "E@web(1|2)", 1));
        assert_eq!(split_parens(r"E@web\))"), (0, r"E@web\)", 1));
        assert_eq!(split_parens("()"), (1, "", 1));
        assert_eq!(split_parens(")"), (0, "", 1));
    }
}
