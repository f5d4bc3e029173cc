//! libyaml's leniency about indentation, for saphyr.
//!
//! libyaml (what Salt parses with) does not check the indentation of lines
//! that continue a flow collection (`{...}`, `[...]`) or a quoted scalar:
//! PyYAML's own dumper writes wrapped flow text such as
//!
//! ```yaml
//!     - context:
//!         map: {values: {a: 1,
//!       b: 2}}
//! ```
//!
//! which Salt reads back fine (`{{ mapdata | yaml }}` in every
//! template-formula `_mapdata` SLS). saphyr refuses the under-indented
//! `b: 2` line. Inside a flow collection or a quoted scalar, a line's leading
//! white space is never part of the value (YAML folds it away), so indenting
//! such a line further changes nothing but makes saphyr accept it. That is
//! what [`indent_continuations`] does; line numbers stay the same.

/// The text with every line that continues a flow collection or a quoted
/// scalar indented past the column where that construct opened; `None`
/// when no line needed it.
pub(crate) fn indent_continuations(text: &str) -> Option<String> {
    let mut scan = Scanner::default();
    let mut out = String::with_capacity(text.len() + 64);
    let mut changed = false;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let indent = body.chars().take_while(|c| *c == ' ').count();
        let blank = body.trim().is_empty();
        if scan.in_block_scalar(indent, blank) {
            out.push_str(line);
            continue;
        }
        let mut pad = 0;
        if let Some(required) = scan.continuation_column() {
            if !blank && indent < required {
                pad = required - indent;
                changed = true;
            }
        }
        out.extend(std::iter::repeat_n(' ', pad));
        out.push_str(line);
        scan.line(body, indent + pad, pad);
    }
    changed.then_some(out)
}

#[derive(Debug, Default)]
struct Scanner {
    /// Columns of the open flow collections' `[`/`{`, outermost first.
    flows: Vec<usize>,
    /// The open quoted scalar's quote character and column.
    quote: Option<(char, usize)>,
    /// An open block scalar (`|`, `>`): the indentation of the line that
    /// opened it, and that of its content once its first line is seen.
    block_scalar: Option<(usize, Option<usize>)>,
    /// Whether the next character would start a token (so a quote or a
    /// bracket there is an indicator, not part of a plain scalar).
    token_start: bool,
}

impl Scanner {
    /// The column a continuation line must reach, when one is open.
    fn continuation_column(&self) -> Option<usize> {
        let open = self.flows.first().copied().or(self.quote.map(|q| q.1))?;
        Some(open + 1)
    }

    /// True when this line belongs to an open block scalar (its text is
    /// content, not YAML).
    fn in_block_scalar(&mut self, indent: usize, blank: bool) -> bool {
        let Some((parent, content)) = self.block_scalar else {
            return false;
        };
        if blank {
            return true;
        }
        match content {
            None if indent > parent => {
                self.block_scalar = Some((parent, Some(indent)));
                true
            }
            Some(c) if indent >= c => true,
            _ => {
                self.block_scalar = None;
                false
            }
        }
    }

    /// Reads one line (without its break); `indent` is its indentation
    /// after padding and `pad` how many spaces were added in front.
    fn line(&mut self, body: &str, indent: usize, pad: usize) {
        if self.flows.is_empty() && self.quote.is_none() {
            self.token_start = true;
        }
        let chars: Vec<char> = body.chars().collect();
        let mut i = 0;
        let in_flow = |s: &Scanner| !s.flows.is_empty();
        while i < chars.len() {
            let c = chars[i];
            let col = i + pad;
            let next = chars.get(i + 1).copied();
            if let Some((q, _)) = self.quote {
                match (q, c) {
                    ('"', '\\') => i += 1,
                    ('\'', '\'') if next == Some('\'') => i += 1,
                    (q, c) if q == c => {
                        self.quote = None;
                        self.token_start = false;
                    }
                    _ => {}
                }
                i += 1;
                continue;
            }
            let after_blank = i == 0 || chars[i - 1] == ' ' || chars[i - 1] == '\t';
            let ends_token = |n: Option<char>, flow: bool| match n {
                None | Some(' ' | '\t') => true,
                Some(',' | '[' | ']' | '{' | '}') => flow,
                _ => false,
            };
            match c {
                ' ' | '\t' => {}
                '#' if after_blank => return,
                '"' | '\'' if self.token_start => self.quote = Some((c, col)),
                '[' | '{' if self.token_start || in_flow(self) => {
                    self.flows.push(col);
                    self.token_start = true;
                }
                ']' | '}' if in_flow(self) => {
                    self.flows.pop();
                    self.token_start = false;
                }
                ',' if in_flow(self) => self.token_start = true,
                ':' if ends_token(next, in_flow(self)) => self.token_start = true,
                '-' | '?' if self.token_start && ends_token(next, false) => {}
                '|' | '>' if self.token_start && !in_flow(self) => {
                    self.block_scalar = Some((indent, None));
                    return;
                }
                '&' | '!' | '*' if self.token_start => {
                    while i + 1 < chars.len() && !matches!(chars[i + 1], ' ' | '\t') {
                        i += 1;
                    }
                }
                _ => self.token_start = false,
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::indent_continuations;

    #[test]
    fn wrapped_flow_lines_are_indented_past_the_bracket() {
        let text = "a:\n  - b: {x: 1,\n  y: [1,\n 2]}\n  - c\n";
        let fixed = indent_continuations(text).unwrap();
        assert_eq!(
            fixed,
            "a:\n  - b: {x: 1,\n        y: [1,\n        2]}\n  - c\n"
        );
    }

    #[test]
    fn quoted_scalar_continuations_are_indented() {
        let text = "k:\n  - contents: 'one\n\n  '\n  - x: \"a\n b\"\n";
        let fixed = indent_continuations(text).unwrap();
        assert_eq!(
            fixed,
            "k:\n  - contents: 'one\n\n               '\n  - x: \"a\n        b\"\n"
        );
    }

    #[test]
    fn block_text_and_plain_scalars_are_left_alone() {
        let text = "a: it's {not flow\nb: |\n  {x: 1,\n y\nc: [1, 2] # [ comment\nd: x\n";
        assert_eq!(indent_continuations(text), None);
    }
}
