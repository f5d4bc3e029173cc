//! YAML output as Salt produces it. Salt dumps through PyYAML's C binding
//! (`CSafeDumper`, libyaml 0.2.5), so the emitter below follows libyaml's:
//! PyYAML's scalar analysis, but libyaml's printable set (no 4-byte UTF-8),
//! its line folding inside double quotes, its simple-key rule and no `...`
//! after a root scalar. `dquote`/`squote` follow PyYAML's pure-Python
//! emitter, which is what Salt's `yaml_dquote`/`yaml_squote` filters use.

use serde_json::Value;

use super::resolve::{self, Kind};

const BEST_WIDTH: usize = 80;
const BEST_INDENT: usize = 2;

/// PyYAML's `default_flow_style`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowStyle {
    /// `True`: every collection in flow style (`{a: 1, b: [x, y]}`).
    Flow,
    /// `False`: every non-empty collection in block style.
    Block,
    /// `None`: block style, except collections holding only scalars.
    Auto,
}

/// How to dump: what the Python caller passed to `yaml.dump`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DumpOptions {
    pub flow: FlowStyle,
    /// PyYAML sorts plain `dict` keys (`sort_keys=True`); Salt's
    /// `SafeOrderedDumper` keeps an `OrderedDict`'s order.
    pub sort_keys: bool,
    /// Salt's `safe_dump` sets `allow_unicode=True`; the `yaml` serializer
    /// does not, so it escapes non-ASCII text.
    pub allow_unicode: bool,
}

/// `salt.utils.yaml.safe_dump(value, default_flow_style=flow)` as the Jinja
/// `yaml` filter calls it, keys in the value's own order (an `OrderedDict`,
/// like pillar and SLS data; sort first for a plain `dict`). The raw text,
/// ending with a newline.
pub fn dump(value: &Value, flow: bool) -> String {
    let flow = if flow {
        FlowStyle::Flow
    } else {
        FlowStyle::Block
    };
    dump_with(
        value,
        &DumpOptions {
            flow,
            sort_keys: false,
            allow_unicode: true,
        },
    )
}

/// `yaml.dump(value, Dumper=CSafeDumper, ...)` with the given options.
pub fn dump_with(value: &Value, options: &DumpOptions) -> String {
    let mut emitter = Emitter::new(options);
    emitter.node(value, Context::Root);
    // Document end: a line break unless one was just written.
    emitter.write_indent();
    emitter.out
}

/// The Jinja `yaml` filter (`format_yaml`, default `flow=true`): the dump
/// stripped of surrounding whitespace and of a final `...` line. Salt's
/// `SafeOrderedDumper` sorts a plain `dict` but not an `OrderedDict`: pass
/// `sort_keys=true` for Jinja dict literals, `import_yaml`/`load_yaml` data
/// and grains, `false` for pillar and SLS-rendered data (Salt 3008.5 prints
/// `{{ pillar.x | yaml }}` in document order). `dict_to_sls_yaml_params` is
/// this over a list of one-key maps with `flow=false`.
pub fn format_yaml(value: &Value, flow: bool, sort_keys: bool) -> String {
    let flow = if flow {
        FlowStyle::Flow
    } else {
        FlowStyle::Block
    };
    let text = dump_with(
        value,
        &DumpOptions {
            flow,
            sort_keys,
            allow_unicode: true,
        },
    );
    let text = text.trim();
    text.strip_suffix("\n...").unwrap_or(text).to_string()
}

/// `salt.serializers.yaml.serialize(obj)` (what `slsutil.serialize('yaml',
/// obj)` returns): keys sorted, leaf collections in flow style, non-ASCII
/// escaped, the final newline removed.
pub fn serialize(value: &Value) -> String {
    let text = dump_with(
        value,
        &DumpOptions {
            flow: FlowStyle::Auto,
            sort_keys: true,
            allow_unicode: false,
        },
    );
    if let Some(s) = text.strip_suffix("\n...\n") {
        s.to_string()
    } else if let Some(s) = text.strip_suffix('\n') {
        s.to_string()
    } else {
        text
    }
}

/// Salt's `yaml_encode` filter: a scalar as YAML text, strings always
/// double-quoted. Collections are refused as Salt refuses them.
pub fn encode_scalar(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(dquote(s)),
        Value::Array(_) => {
            Err("yaml_encode() only works with YAML scalar data; failed for <class 'list'>".into())
        }
        Value::Object(_) => {
            Err("yaml_encode() only works with YAML scalar data; failed for <class 'dict'>".into())
        }
        other => Ok(scalar_text(other).unwrap_or_default()),
    }
}

/// Salt's `yaml_dquote` filter: PyYAML's double-quoted style, never folded,
/// non-ASCII escaped.
pub fn dquote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        let plain = (' '..='~').contains(&ch) && ch != '"' && ch != '\\';
        if plain {
            out.push(ch);
        } else {
            push_escape(&mut out, ch);
        }
    }
    out.push('"');
    out
}

/// Salt's `yaml_squote` filter: PyYAML's single-quoted style (`''` for a
/// quote, a line break written twice), never folded.
pub fn squote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    let mut previous_break = false;
    for ch in s.chars() {
        let is_break = is_break(ch);
        if is_break {
            // PyYAML writes an extra break before a run that starts with \n.
            if !previous_break && ch == '\n' {
                out.push('\n');
            }
            out.push(ch);
        } else if ch == '\'' {
            out.push_str("''");
        } else {
            out.push(ch);
        }
        previous_break = is_break;
    }
    out.push('\'');
    out
}

fn push_escape(out: &mut String, ch: char) {
    let short = match ch {
        '\0' => Some('0'),
        '\x07' => Some('a'),
        '\x08' => Some('b'),
        '\t' => Some('t'),
        '\n' => Some('n'),
        '\x0B' => Some('v'),
        '\x0C' => Some('f'),
        '\r' => Some('r'),
        '\x1B' => Some('e'),
        '"' => Some('"'),
        '\\' => Some('\\'),
        '\u{85}' => Some('N'),
        '\u{A0}' => Some('_'),
        '\u{2028}' => Some('L'),
        '\u{2029}' => Some('P'),
        _ => None,
    };
    let code = ch as u32;
    match short {
        Some(c) => {
            out.push('\\');
            out.push(c);
        }
        None if code <= 0xFF => out.push_str(&format!("\\x{code:02X}")),
        None if code <= 0xFFFF => out.push_str(&format!("\\u{code:04X}")),
        None => out.push_str(&format!("\\U{code:08X}")),
    }
}

fn is_break(ch: char) -> bool {
    matches!(ch, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blankz(ch: Option<char>) -> bool {
    match ch {
        None => true,
        Some(c) => matches!(c, ' ' | '\t' | '\0') || is_break(c),
    }
}

/// libyaml's `IS_PRINTABLE`: no C0 controls but `\n`, no DEL..0x9F, no
/// surrogates, BOM or non-characters, and nothing beyond the BMP.
fn is_printable(ch: char) -> bool {
    let c = ch as u32;
    c == 0x0A
        || (0x20..=0x7E).contains(&c)
        || (0xA0..=0xD7FF).contains(&c)
        || ((0xE000..=0xFFFD).contains(&c) && c != 0xFEFF)
}

/// Marks a JSON string that stands for an int beyond u64 (which
/// `serde_json::Value` cannot hold), so the dumper writes it as a plain int
/// the way PyYAML writes a Python int: `BIG_INT_MARK` then the digits.
pub const BIG_INT_MARK: &str = "\u{F8FF}int:";

/// `i` for the dumper: a JSON number when it fits, else its marked digits.
pub fn int_for_dump(i: i128) -> Value {
    match (i64::try_from(i), u64::try_from(i)) {
        (Ok(small), _) => Value::from(small),
        (_, Ok(unsigned)) => Value::from(unsigned),
        _ => Value::String(format!("{BIG_INT_MARK}{i}")),
    }
}

/// The text of a non-string scalar, as PyYAML's SafeRepresenter writes it.
fn scalar_text(value: &Value) -> Option<String> {
    Some(match value {
        Value::Null => "null".into(),
        Value::Bool(true) => "true".into(),
        Value::Bool(false) => "false".into(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else if let Some(u) = n.as_u64() {
                u.to_string()
            } else {
                float_text(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => s.clone(),
        Value::Array(_) | Value::Object(_) => return None,
    })
}

/// PyYAML's `represent_float`: `.nan`, `.inf`, `-.inf`, else Python's repr
/// with `.0` added before a bare exponent (`1e+16` -> `1.0e+16`).
fn float_text(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    let repr = resolve::python_float_repr(f);
    if !repr.contains('.') && repr.contains('e') {
        repr.replacen('e', ".0e", 1)
    } else {
        repr
    }
}

/// PyYAML's `ScalarAnalysis`, computed the libyaml way.
struct Analysis {
    multiline: bool,
    flow_plain: bool,
    block_plain: bool,
    single_quoted: bool,
}

fn analyze(text: &str, allow_unicode: bool) -> Analysis {
    let chars: Vec<char> = text.chars().collect();
    let mut block_indicators = false;
    let mut flow_indicators = false;
    let mut line_breaks = false;
    let mut special = false;
    let (mut leading_space, mut leading_break) = (false, false);
    let (mut trailing_space, mut trailing_break) = (false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    if text.starts_with("---") || text.starts_with("...") {
        block_indicators = true;
        flow_indicators = true;
    }
    let mut preceded_by_whitespace = true;
    let last = chars.len().saturating_sub(1);
    for (i, &ch) in chars.iter().enumerate() {
        let followed_by_whitespace = is_blankz(chars.get(i + 1).copied());
        if i == 0 {
            if "#,[]{}&*!|>'\"%@`".contains(ch) {
                flow_indicators = true;
                block_indicators = true;
            }
            if ch == '?' || ch == ':' {
                flow_indicators = true;
                if followed_by_whitespace {
                    block_indicators = true;
                }
            }
            if ch == '-' && followed_by_whitespace {
                flow_indicators = true;
                block_indicators = true;
            }
        } else {
            if ",?[]{}".contains(ch) {
                flow_indicators = true;
            }
            if ch == ':' {
                flow_indicators = true;
                if followed_by_whitespace {
                    block_indicators = true;
                }
            }
            if ch == '#' && preceded_by_whitespace {
                flow_indicators = true;
                block_indicators = true;
            }
        }
        if !is_printable(ch) || (!ch.is_ascii() && !allow_unicode) {
            special = true;
        }
        if is_break(ch) {
            line_breaks = true;
        }
        if ch == ' ' {
            leading_space |= i == 0;
            trailing_space |= i == last;
            break_space |= previous_break;
            previous_space = true;
            previous_break = false;
        } else if is_break(ch) {
            leading_break |= i == 0;
            trailing_break |= i == last;
            space_break |= previous_space;
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = is_blankz(Some(ch));
    }
    let mut flow_plain = true;
    let mut block_plain = true;
    let mut single_quoted = true;
    if leading_space || leading_break || trailing_space || trailing_break {
        flow_plain = false;
        block_plain = false;
    }
    if break_space {
        flow_plain = false;
        block_plain = false;
        single_quoted = false;
    }
    if space_break || special {
        flow_plain = false;
        block_plain = false;
        single_quoted = false;
    }
    if line_breaks {
        flow_plain = false;
        block_plain = false;
    }
    if flow_indicators {
        flow_plain = false;
    }
    if block_indicators {
        block_plain = false;
    }
    Analysis {
        multiline: line_breaks,
        flow_plain,
        block_plain,
        single_quoted,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Root,
    Sequence,
    Mapping,
    SimpleKey,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
}

struct Emitter<'o> {
    options: &'o DumpOptions,
    out: String,
    column: usize,
    indent: Option<usize>,
    indents: Vec<Option<usize>>,
    flow_level: usize,
    whitespace: bool,
    indention: bool,
}

impl<'o> Emitter<'o> {
    fn new(options: &'o DumpOptions) -> Self {
        Emitter {
            options,
            out: String::new(),
            column: 0,
            indent: None,
            indents: Vec::new(),
            flow_level: 0,
            whitespace: true,
            indention: true,
        }
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        self.indent = match self.indent {
            None => Some(if flow { BEST_INDENT } else { 0 }),
            Some(i) if !indentless => Some(i + BEST_INDENT),
            same => same,
        };
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().flatten();
    }

    fn write_indicator(
        &mut self,
        indicator: &str,
        need_whitespace: bool,
        whitespace: bool,
        indention: bool,
    ) {
        if need_whitespace && !self.whitespace {
            self.out.push(' ');
            self.column += 1;
        }
        self.out.push_str(indicator);
        self.column += indicator.chars().count();
        self.whitespace = whitespace;
        self.indention = self.indention && indention;
    }

    fn write_indent(&mut self) {
        let indent = self.indent.unwrap_or(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.write_line_break();
        }
        while self.column < indent {
            self.out.push(' ');
            self.column += 1;
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn write_line_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
        self.whitespace = true;
        self.indention = true;
    }

    fn write_char(&mut self, ch: char) {
        self.out.push(ch);
        self.column += 1;
    }

    /// PyYAML's `best_style` for `default_flow_style=None`.
    fn flow_style(&self, value: &Value) -> bool {
        match self.options.flow {
            FlowStyle::Flow => true,
            FlowStyle::Block => false,
            FlowStyle::Auto => match value {
                Value::Array(items) => !items.iter().any(is_collection),
                Value::Object(map) => !map.values().any(is_collection),
                _ => true,
            },
        }
    }

    fn entries<'v>(&self, map: &'v serde_json::Map<String, Value>) -> Vec<(&'v String, &'v Value)> {
        let mut entries: Vec<_> = map.iter().collect();
        if self.options.sort_keys {
            entries.sort_by(|a, b| a.0.cmp(b.0));
        }
        entries
    }

    fn node(&mut self, value: &Value, context: Context) {
        match value {
            Value::Array(items) => {
                if self.flow_level > 0 || self.flow_style(value) || items.is_empty() {
                    self.flow_sequence(items);
                } else {
                    self.block_sequence(items, context);
                }
            }
            Value::Object(map) => {
                if self.flow_level > 0 || self.flow_style(value) || map.is_empty() {
                    self.flow_mapping(map);
                } else {
                    self.block_mapping(map);
                }
            }
            Value::String(s) => match s.strip_prefix(BIG_INT_MARK) {
                Some(digits) => self.scalar(digits, true, context),
                None => self.scalar(s, resolve::resolve_plain(s) == Kind::Str, context),
            },
            other => {
                let text = scalar_text(other).unwrap_or_default();
                self.scalar(&text, true, context);
            }
        }
    }

    fn flow_sequence(&mut self, items: &[Value]) {
        self.write_indicator("[", true, true, false);
        self.flow_level += 1;
        self.increase_indent(true, false);
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.write_indicator(",", false, false, false);
            }
            if self.column > BEST_WIDTH {
                self.write_indent();
            }
            self.node(item, Context::Sequence);
        }
        self.pop_indent();
        self.flow_level -= 1;
        self.write_indicator("]", false, false, false);
    }

    fn flow_mapping(&mut self, map: &serde_json::Map<String, Value>) {
        self.write_indicator("{", true, true, false);
        self.flow_level += 1;
        self.increase_indent(true, false);
        for (i, (key, value)) in self.entries(map).into_iter().enumerate() {
            if i > 0 {
                self.write_indicator(",", false, false, false);
            }
            if self.column > BEST_WIDTH {
                self.write_indent();
            }
            if is_simple_key(key) {
                self.key(key, Context::SimpleKey);
                self.write_indicator(":", false, false, false);
            } else {
                self.write_indicator("?", true, false, false);
                self.key(key, Context::Mapping);
                if self.column > BEST_WIDTH {
                    self.write_indent();
                }
                self.write_indicator(":", true, false, false);
            }
            self.node(value, Context::Mapping);
        }
        self.pop_indent();
        self.flow_level -= 1;
        self.write_indicator("}", false, false, false);
    }

    fn block_sequence(&mut self, items: &[Value], context: Context) {
        let indentless = context == Context::Mapping && !self.indention;
        self.increase_indent(false, indentless);
        for item in items {
            self.write_indent();
            self.write_indicator("-", true, false, true);
            self.node(item, Context::Sequence);
        }
        self.pop_indent();
    }

    fn block_mapping(&mut self, map: &serde_json::Map<String, Value>) {
        self.increase_indent(false, false);
        for (key, value) in self.entries(map) {
            self.write_indent();
            if is_simple_key(key) {
                self.key(key, Context::SimpleKey);
                self.write_indicator(":", false, false, false);
            } else {
                self.write_indicator("?", true, false, true);
                self.key(key, Context::Mapping);
                self.write_indent();
                self.write_indicator(":", true, false, true);
            }
            self.node(value, Context::Mapping);
        }
        self.pop_indent();
    }

    fn key(&mut self, key: &str, context: Context) {
        self.scalar(key, resolve::resolve_plain(key) == Kind::Str, context);
    }

    fn scalar(&mut self, text: &str, plain_implicit: bool, context: Context) {
        let analysis = analyze(text, self.options.allow_unicode);
        let mut style = Style::Plain;
        let plain_allowed = if self.flow_level > 0 {
            analysis.flow_plain
        } else {
            analysis.block_plain
        };
        if !plain_allowed
            || (text.is_empty() && (self.flow_level > 0 || context == Context::SimpleKey))
            || !plain_implicit
        {
            style = Style::Single;
        }
        if style == Style::Single && !analysis.single_quoted {
            style = Style::Double;
        }
        let _ = analysis.multiline;
        self.increase_indent(true, false);
        let split = context != Context::SimpleKey;
        match style {
            Style::Plain => self.write_plain(text, split),
            Style::Single => self.write_single_quoted(text, split),
            Style::Double => self.write_double_quoted(text, split),
        }
        self.pop_indent();
    }

    fn write_plain(&mut self, text: &str, split: bool) {
        if !self.whitespace && (!text.is_empty() || self.flow_level > 0) {
            self.write_char(' ');
        }
        let chars: Vec<char> = text.chars().collect();
        let mut spaces = false;
        for (i, &ch) in chars.iter().enumerate() {
            if ch == ' ' {
                if split && !spaces && self.column > BEST_WIDTH && chars.get(i + 1) != Some(&' ') {
                    self.write_indent();
                } else {
                    self.write_char(ch);
                }
                spaces = true;
            } else {
                self.write_char(ch);
                self.indention = false;
                spaces = false;
            }
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn write_single_quoted(&mut self, text: &str, split: bool) {
        self.write_indicator("'", true, false, false);
        let chars: Vec<char> = text.chars().collect();
        let mut spaces = false;
        let mut breaks = false;
        let last = chars.len().saturating_sub(1);
        for (i, &ch) in chars.iter().enumerate() {
            if ch == ' ' {
                if split
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i != 0
                    && i != last
                    && chars.get(i + 1) != Some(&' ')
                {
                    self.write_indent();
                } else {
                    self.write_char(ch);
                }
                spaces = true;
            } else if is_break(ch) {
                if !breaks && ch == '\n' {
                    self.write_line_break();
                }
                self.write_line_break_char(ch);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if ch == '\'' {
                    self.write_char('\'');
                }
                self.write_char(ch);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        if breaks {
            self.write_indent();
        }
        self.write_indicator("'", false, false, false);
    }

    fn write_line_break_char(&mut self, ch: char) {
        if ch == '\n' {
            self.write_line_break();
        } else {
            self.out.push(ch);
            self.column = 0;
            self.whitespace = true;
            self.indention = true;
        }
    }

    fn write_double_quoted(&mut self, text: &str, split: bool) {
        self.write_indicator("\"", true, false, false);
        let chars: Vec<char> = text.chars().collect();
        let mut spaces = false;
        let last = chars.len().saturating_sub(1);
        for (i, &ch) in chars.iter().enumerate() {
            let escape = !is_printable(ch)
                || (!self.options.allow_unicode && !ch.is_ascii())
                || ch == '\u{FEFF}'
                || is_break(ch)
                || ch == '"'
                || ch == '\\';
            if escape {
                let before = self.out.len();
                push_escape(&mut self.out, ch);
                self.column += self.out.len() - before;
                spaces = false;
            } else if ch == ' ' {
                if split && !spaces && self.column > BEST_WIDTH && i != 0 && i != last {
                    self.write_indent();
                    if chars.get(i + 1) == Some(&' ') {
                        self.write_char('\\');
                    }
                } else {
                    self.write_char(ch);
                }
                spaces = true;
            } else {
                self.write_char(ch);
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
    }
}

fn is_collection(value: &Value) -> bool {
    matches!(value, Value::Array(_) | Value::Object(_))
}

/// libyaml's `check_simple_key` for a string key: single line, at most 128
/// bytes (libyaml counts UTF-8 bytes and allows the empty key).
fn is_simple_key(key: &str) -> bool {
    key.len() <= 128 && !key.chars().any(is_break)
}
