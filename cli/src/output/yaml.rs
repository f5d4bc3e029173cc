//! Salt's `yaml` outputter (`salt/output/yaml_out.py`): PyYAML's
//! `safe_dump(data, default_flow_style=False, allow_unicode=True)` through
//! `CSafeDumper`, i.e. libyaml's emitter, which Salt uses when PyYAML has
//! it (its packages do).
//!
//! serde_yaml quotes and breaks strings its own way, so this is a port of
//! the part of libyaml's emitter that JSON data reaches: block mappings with
//! sorted keys, indentless sequences under keys, `{}`/`[]` when empty, and
//! strings plain, single- or double-quoted by its rules (a string that
//! PyYAML's resolver would read back as another type, such as `'yes'`,
//! `'1.0'` or `'2024-01-05'`, is quoted; long lines fold at 80 columns).

use std::sync::OnceLock;

use regex::Regex;
use serde_json::{Number, Value};

use super::python::{float_repr, sorted_entries};

const BEST_INDENT: usize = 2;
const BEST_WIDTH: usize = 80;

/// Renders a mapping given as entries (`web1: ...`).
pub(super) fn render_entries(entries: &[(&str, &Value)]) -> String {
    let mut e = Emitter::new();
    if entries.is_empty() {
        e.empty_flow("{", "}");
    } else {
        e.block_mapping(entries);
    }
    e.finish()
}

/// Renders a bare value.
pub(super) fn render_value(value: &Value) -> String {
    let mut e = Emitter::new();
    e.node(value, Ctx::default());
    e.finish()
}

/// Where a node sits, as libyaml's `emit_node` flags say.
#[derive(Clone, Copy, Default)]
struct Ctx {
    mapping: bool,
    simple_key: bool,
}

/// libyaml's `IS_BREAK`.
fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// libyaml's `IS_BLANKZ`.
fn is_blank_or_end(c: char) -> bool {
    matches!(c, '\0' | ' ' | '\t' | '\r') || is_break(c)
}

/// Whether a string written plain would read back as a string, by PyYAML's
/// implicit resolvers (bool, float, int, merge, null, timestamp, value).
fn resolves_to_str(s: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        let patterns = [
            r"yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF",
            r"[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?",
            r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
            r"[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+",
            r"[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+",
            r"<<|~|null|Null|NULL|=|!|&|\*",
            r"[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]",
            r"[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?",
        ];
        Regex::new(&format!("^(?:{})$", patterns.join("|"))).expect("static regex")
    });
    !s.is_empty() && !re.is_match(s)
}

/// A number as PyYAML's `SafeRepresenter` writes it.
fn number_text(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let x = n.as_f64().unwrap_or(f64::NAN);
    if x.is_nan() {
        return ".nan".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { ".inf" } else { "-.inf" }.to_string();
    }
    let text = float_repr(x).to_lowercase();
    if !text.contains('.') && text.contains('e') {
        text.replacen('e', ".0e", 1)
    } else {
        text
    }
}

/// libyaml's `IS_PRINTABLE`: no C0/C1 controls but `\n`, nothing past the
/// Basic Multilingual Plane, no BOM, no surrogates or non-characters.
fn is_printable(c: char) -> bool {
    c == '\n'
        || (' '..='~').contains(&c)
        || ('\u{A0}'..='\u{D7FF}').contains(&c)
        || (('\u{E000}'..='\u{FFFD}').contains(&c) && c != '\u{FEFF}')
}

/// What `yaml_emitter_analyze_scalar` finds out about a string.
struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
}

fn analyze(text: &[char]) -> Analysis {
    if text.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
        };
    }
    let starts_with = |p: &str| text.iter().copied().take(3).eq(p.chars());
    let mut block_indicators = starts_with("---") || starts_with("...");
    let (mut line_breaks, mut special) = (false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let mut preceded_by_whitespace = true;
    let mut followed_by_whitespace = text.get(1).is_none_or(|&c| is_blank_or_end(c));
    let (mut previous_space, mut previous_break) = (false, false);
    let last = text.len() - 1;
    for (index, &ch) in text.iter().enumerate() {
        if index == 0 {
            if "#,[]{}&*!|>'\"%@`".contains(ch) || ("?:-".contains(ch) && followed_by_whitespace) {
                block_indicators = true;
            }
        } else if (ch == ':' && followed_by_whitespace) || (ch == '#' && preceded_by_whitespace) {
            block_indicators = true;
        }
        special |= !is_printable(ch);
        line_breaks |= is_break(ch);
        if ch == ' ' {
            leading_space |= index == 0;
            trailing_space |= index == last;
            break_space |= previous_break;
            (previous_space, previous_break) = (true, false);
        } else if is_break(ch) {
            leading_break |= index == 0;
            trailing_break |= index == last;
            space_break |= previous_space;
            (previous_space, previous_break) = (false, true);
        } else {
            (previous_space, previous_break) = (false, false);
        }
        preceded_by_whitespace = is_blank_or_end(ch);
        followed_by_whitespace = text.get(index + 2).is_none_or(|&c| is_blank_or_end(c));
    }
    let mut block_plain_allowed = !(leading_space
        || leading_break
        || trailing_space
        || trailing_break
        || line_breaks
        || block_indicators);
    let mut single_quoted_allowed = true;
    if break_space || space_break || special {
        block_plain_allowed = false;
        single_quoted_allowed = false;
    }
    Analysis {
        multiline: line_breaks,
        block_plain_allowed,
        single_quoted_allowed,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
}

/// The block-style half of libyaml's emitter, with PyYAML's settings
/// (indent 2, width 80, unicode allowed); the only flow collections it
/// writes are empty ones.
struct Emitter {
    out: String,
    column: usize,
    whitespace: bool,
    indention: bool,
    indent: Option<usize>,
    indents: Vec<Option<usize>>,
}

impl Emitter {
    fn new() -> Self {
        Emitter {
            out: String::new(),
            column: 0,
            whitespace: true,
            indention: true,
            indent: None,
            indents: Vec::new(),
        }
    }

    /// Document end: close the last line.
    fn finish(mut self) -> String {
        self.write_indent();
        self.out
    }

    fn node(&mut self, value: &Value, ctx: Ctx) {
        match value {
            Value::Null => self.scalar("null", true, ctx),
            Value::Bool(b) => self.scalar(if *b { "true" } else { "false" }, true, ctx),
            Value::Number(n) => self.scalar(&number_text(n), true, ctx),
            Value::String(s) => self.scalar(s, resolves_to_str(s), ctx),
            Value::Array(items) if items.is_empty() => self.empty_flow("[", "]"),
            Value::Object(map) if map.is_empty() => self.empty_flow("{", "}"),
            Value::Array(items) => {
                let indentless = ctx.mapping && !self.indention;
                self.increase_indent(false, indentless);
                for item in items {
                    self.write_indent();
                    self.write_indicator("-", true, false, true);
                    self.node(item, Ctx::default());
                }
                self.pop_indent();
            }
            Value::Object(map) => self.block_mapping(&sorted_entries(map)),
        }
    }

    fn empty_flow(&mut self, open: &str, close: &str) {
        self.write_indicator(open, true, true, false);
        self.write_indicator(close, false, false, false);
    }

    fn block_mapping(&mut self, entries: &[(&str, &Value)]) {
        self.increase_indent(false, false);
        let in_mapping = Ctx {
            mapping: true,
            ..Ctx::default()
        };
        for (key, value) in entries {
            self.write_indent();
            // `yaml_emitter_check_simple_key`: one line, at most 128 bytes.
            let multiline = key.chars().any(is_break);
            if !multiline && key.len() <= 128 {
                self.scalar(
                    key,
                    resolves_to_str(key),
                    Ctx {
                        simple_key: true,
                        ..in_mapping
                    },
                );
                self.write_indicator(":", false, false, false);
            } else {
                self.write_indicator("?", true, false, true);
                self.scalar(key, resolves_to_str(key), in_mapping);
                self.write_indent();
                self.write_indicator(":", true, false, true);
            }
            self.node(value, in_mapping);
        }
        self.pop_indent();
    }

    /// `plain_implicit`: the plain text reads back as the node's own type
    /// (PyYAML's `implicit[0]`).
    fn scalar(&mut self, text: &str, plain_implicit: bool, ctx: Ctx) {
        let chars: Vec<char> = text.chars().collect();
        let a = analyze(&chars);
        // `yaml_emitter_select_scalar_style`, starting from plain.
        let mut style = Style::Plain;
        if ctx.simple_key && a.multiline {
            style = Style::Double;
        }
        if style == Style::Plain
            && (!a.block_plain_allowed || (chars.is_empty() && ctx.simple_key) || !plain_implicit)
        {
            style = Style::Single;
        }
        if style == Style::Single && !a.single_quoted_allowed {
            style = Style::Double;
        }
        self.increase_indent(true, false);
        let allow_breaks = !ctx.simple_key;
        match style {
            Style::Plain => self.write_plain(&chars, allow_breaks),
            Style::Single => self.write_single_quoted(&chars, allow_breaks),
            Style::Double => self.write_double_quoted(&chars, allow_breaks),
        }
        self.pop_indent();
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        self.indent = match self.indent {
            None if flow => Some(BEST_INDENT),
            None => Some(0),
            Some(i) if !indentless => Some(i + BEST_INDENT),
            Some(i) => Some(i),
        };
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().flatten();
    }

    /// `PUT`/`WRITE`: one character, one column.
    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    /// `PUT_BREAK`.
    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    /// `WRITE_BREAK`: a line break character as it is.
    fn write_break(&mut self, c: char) {
        self.out.push(c);
        self.column = 0;
    }

    fn write_indicator(
        &mut self,
        indicator: &str,
        need_whitespace: bool,
        is_whitespace: bool,
        is_indention: bool,
    ) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        indicator.chars().for_each(|c| self.put(c));
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
    }

    fn write_indent(&mut self) {
        let indent = self.indent.unwrap_or(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    /// Whether the space at `i` may become a line break: past the width,
    /// after a non-space and before one.
    fn may_fold(&self, text: &[char], i: usize, allow_breaks: bool, spaces: bool) -> bool {
        allow_breaks && !spaces && self.column > BEST_WIDTH && text.get(i + 1) != Some(&' ')
    }

    fn write_plain(&mut self, text: &[char], allow_breaks: bool) {
        if !self.whitespace && !text.is_empty() {
            self.put(' ');
        }
        let (mut spaces, mut breaks) = (false, false);
        for (i, &ch) in text.iter().enumerate() {
            if ch == ' ' {
                if self.may_fold(text, i, allow_breaks, spaces) {
                    self.write_indent();
                } else {
                    self.put(ch);
                }
                spaces = true;
            } else {
                // Plain scalars hold no line breaks (the analysis forbids them).
                if breaks {
                    self.write_indent();
                }
                self.put(ch);
                self.indention = false;
                (spaces, breaks) = (false, false);
            }
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn write_single_quoted(&mut self, text: &[char], allow_breaks: bool) {
        self.write_indicator("'", true, false, false);
        let (mut spaces, mut breaks) = (false, false);
        let last = text.len().saturating_sub(1);
        for (i, &ch) in text.iter().enumerate() {
            if ch == ' ' {
                if self.may_fold(text, i, allow_breaks, spaces) && i != 0 && i != last {
                    self.write_indent();
                } else {
                    self.put(ch);
                }
                spaces = true;
            } else if is_break(ch) {
                // A lone `\n` is doubled: a single one would fold into a space.
                if !breaks && ch == '\n' {
                    self.put_break();
                }
                self.write_break(ch);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if ch == '\'' {
                    self.put('\'');
                }
                self.put(ch);
                self.indention = false;
                (spaces, breaks) = (false, false);
            }
        }
        if breaks {
            self.write_indent();
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double_quoted(&mut self, text: &[char], allow_breaks: bool) {
        self.write_indicator("\"", true, false, false);
        let mut spaces = false;
        let last = text.len().saturating_sub(1);
        for (i, &ch) in text.iter().enumerate() {
            if !is_printable(ch) || is_break(ch) || ch == '"' || ch == '\\' {
                escape(ch).chars().for_each(|c| self.put(c));
                spaces = false;
            } else if ch == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && i != 0 && i != last {
                    self.write_indent();
                    if text.get(i + 1) == Some(&' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(ch);
                }
                spaces = true;
            } else {
                self.put(ch);
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }
}

/// A character in a double-quoted scalar, as libyaml escapes it.
fn escape(c: char) -> String {
    let short = match c {
        '\0' => '0',
        '\x07' => 'a',
        '\x08' => 'b',
        '\t' => 't',
        '\n' => 'n',
        '\x0b' => 'v',
        '\x0c' => 'f',
        '\r' => 'r',
        '\x1b' => 'e',
        '"' => '"',
        '\\' => '\\',
        '\u{85}' => 'N',
        '\u{A0}' => '_',
        '\u{2028}' => 'L',
        '\u{2029}' => 'P',
        c => {
            return match c as u32 {
                u @ 0..=0xFF => format!("\\x{u:02X}"),
                u @ 0x100..=0xFFFF => format!("\\u{u:04X}"),
                u => format!("\\U{u:08X}"),
            }
        }
    };
    format!("\\{short}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(id: &str, v: Value) -> String {
        render_entries(&[(id, &v)])
    }

    #[test]
    fn block_mappings_with_indentless_lists() {
        let v = json!({"foo": {"list": ["Hello", "World"], "bar": "baz", "dictionary": {"abc": 123, "def": 456}}});
        let want = "\
myminion:
  foo:
    bar: baz
    dictionary:
      abc: 123
      def: 456
    list:
    - Hello
    - World
";
        assert_eq!(one("myminion", v), want);
    }

    #[test]
    fn scalars_are_quoted_when_they_would_read_back_as_something_else() {
        let v = json!({
            "t": true, "n": null, "f": 1.5, "big": 1e16, "neg": -3, "yes": "yes", "num": "1.0",
            "date": "2024-01-05", "empty": "", "uni": "日本語 ✓", "emoji": "😀", "colon": "a: b",
            "dash": "- x", "hash": "a #b", "quote": "it's",
        });
        let want = "\
web1:
  big: 1.0e+16
  colon: 'a: b'
  dash: '- x'
  date: '2024-01-05'
  emoji: \"\\U0001F600\"
  empty: ''
  f: 1.5
  hash: 'a #b'
  n: null
  neg: -3
  num: '1.0'
  quote: it's
  t: true
  uni: 日本語 ✓
  'yes': 'yes'
";
        assert_eq!(one("web1", v), want);
    }

    #[test]
    fn multi_line_strings() {
        let v = json!({"a": "line1\nline2", "b": "out\n", "c": "x\n  indented", "d": "tab\there", "e": "cr\r\nlf"});
        let want = "\
web1:
  a: 'line1

    line2'
  b: 'out

    '
  c: \"x\\n  indented\"
  d: \"tab\\there\"
  e: \"cr\\r\\nlf\"
";
        assert_eq!(one("web1", v), want);
    }

    #[test]
    fn empty_and_nested_collections() {
        let v = json!({"e": {}, "l": [], "nested": [[1, 2], [3]], "dicts": [{"a": 1, "b": [true]}, {}]});
        let want = "\
web1:
  dicts:
  - a: 1
    b:
    - true
  - {}
  e: {}
  l: []
  nested:
  - - 1
    - 2
  - - 3
";
        assert_eq!(one("web1", v), want);
    }

    #[test]
    fn long_lines_fold_at_80_columns() {
        let v = json!(format!("{}end", "word ".repeat(20)));
        let want = "web1: word word word word word word word word word word word word word word word word\n  word word word word end\n";
        assert_eq!(one("web1", v), want);
    }

    #[test]
    fn empty_long_and_multi_line_keys() {
        let long = "k".repeat(130);
        let v = json!({"": 1, long.clone(): 2, "two\nlines": 3});
        let want = format!("web1:\n  '': 1\n  ? {long}\n  : 2\n  ? 'two\n\n    lines'\n  : 3\n");
        assert_eq!(one("web1", v), want);
    }

    #[test]
    fn bare_values() {
        assert_eq!(render_value(&json!("hi")), "hi\n");
        assert_eq!(render_value(&json!([1, "x"])), "- 1\n- x\n");
        assert_eq!(render_value(&json!({})), "{}\n");
        assert_eq!(render_value(&json!(null)), "null\n");
    }
}
