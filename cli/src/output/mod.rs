//! Salt's outputters for `brine`, `brine-run` and `brine-call`: `--out
//! nested|json|yaml|txt|raw|highstate` print what `salt --out ...` prints for the same
//! data, byte for byte where the data allows (see each format's module).
//!
//! As in Salt, each minion's return is rendered on its own as the one-entry
//! dict `{minion_id: value}` when it arrives; with `--static` all returns are
//! rendered at once as one dict. Salt strips trailing whitespace from what an
//! outputter returns and prints it with a newline, and prints nothing when
//! the text is empty; every `render_*` function here returns exactly the
//! bytes to write.
//!
//! The state functions (`state.apply`, `state.sls`...) print with
//! `highstate` unless `--out` says otherwise: see [`default_format`].

mod highstate;
mod json;
mod nested;
mod python;
mod raw;
mod rows;
mod txt;
mod yaml;

use std::ffi::OsStr;
use std::fmt;
use std::io::IsTerminal;
use std::str::FromStr;

use serde_json::Value;

pub use highstate::{StateOutput, StateOutputMode, UnknownStateOutput};

/// An outputter, chosen with `--out`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Nested,
    Json,
    Yaml,
    Txt,
    Raw,
    Highstate,
    /// Rows as an aligned table (lists of dicts, `{id: {...}}`).
    Table,
    /// Rows as CSV with a header line.
    Csv,
}

impl OutputFormat {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [OutputFormat; 8] = [
        OutputFormat::Nested,
        OutputFormat::Json,
        OutputFormat::Yaml,
        OutputFormat::Txt,
        OutputFormat::Raw,
        OutputFormat::Highstate,
        OutputFormat::Table,
        OutputFormat::Csv,
    ];

    /// The name `--out` takes.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Nested => "nested",
            OutputFormat::Json => "json",
            OutputFormat::Yaml => "yaml",
            OutputFormat::Txt => "txt",
            OutputFormat::Raw => "raw",
            OutputFormat::Highstate => "highstate",
            OutputFormat::Table => "table",
            OutputFormat::Csv => "csv",
        }
    }
}

/// The functions Salt prints with `highstate` (`__outputter__` in
/// `salt/modules/state.py`).
const HIGHSTATE_FUNCTIONS: [&str; 13] = [
    "state.apply",
    "state.check_request",
    "state.highstate",
    "state.pkg",
    "state.request",
    "state.run_request",
    "state.single",
    "state.sls",
    "state.sls_id",
    "state.template",
    "state.template_str",
    "state.test",
    "state.top",
];

/// The outputter for `fun` when `--out` is not given: `highstate` for the
/// state functions, as in Salt, `nested` for everything else.
pub fn default_format(fun: &str) -> OutputFormat {
    if HIGHSTATE_FUNCTIONS.contains(&fun) {
        OutputFormat::Highstate
    } else {
        OutputFormat::Nested
    }
}

/// Reads `--state-verbose`: `true`/`True` or `false`/`False`, as Salt.
pub fn parse_state_verbose(s: &str) -> Result<bool, String> {
    match s {
        "true" | "True" => Ok(true),
        "false" | "False" => Ok(false),
        _ => Err(format!("invalid state verbose '{s}' (valid: true, false)")),
    }
}

/// The outputter for `fun` given `--out`. As in Salt, `--out highstate`
/// does not force `highstate` on a function that does not return state
/// results: that function keeps its own outputter (Salt issue #29796).
pub fn format_for(out: Option<OutputFormat>, fun: &str) -> OutputFormat {
    match out {
        None | Some(OutputFormat::Highstate) => default_format(fun),
        Some(format) => format,
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An `--out` value that names no outputter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownFormat(pub String);

impl fmt::Display for UnknownFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = OutputFormat::ALL.iter().map(|o| o.name()).collect();
        write!(
            f,
            "unknown output format '{}' (valid: {})",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownFormat {}

impl FromStr for OutputFormat {
    type Err = UnknownFormat;

    /// Takes the names in [`OutputFormat::ALL`], and `text` for `txt` as
    /// Salt does.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "text" {
            return Ok(OutputFormat::Txt);
        }
        OutputFormat::ALL
            .into_iter()
            .find(|o| o.name() == s)
            .ok_or_else(|| UnknownFormat(s.to_string()))
    }
}

/// How to render returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputOptions {
    pub format: OutputFormat,
    /// ANSI colors; only `nested` and `highstate` have any.
    pub color: bool,
    /// `--static`: the caller collects every return and calls [`render_all`].
    pub static_: bool,
    /// `--out-indent`: spaces per level for `json` (4 when `None`).
    pub indent: Option<usize>,
    /// `--state-output`, for `highstate`.
    pub state_output: StateOutput,
    /// `--state-verbose`: false hides states that succeeded without
    /// changes, for `highstate`.
    pub state_verbose: bool,
}

impl OutputOptions {
    /// Options for stdout. Color is on for `nested` and `highstate` when stdout is a
    /// terminal and `NO_COLOR` is unset or empty (no-color.org);
    /// `--force-color` turns it on anyway and wins over `--no-color`, as in
    /// Salt.
    pub fn detect(
        format: OutputFormat,
        no_color_flag: bool,
        force_color: bool,
        static_: bool,
    ) -> Self {
        let no_color_env = std::env::var_os("NO_COLOR");
        let tty = std::io::stdout().is_terminal();
        let color = color_wanted(
            format,
            no_color_flag,
            force_color,
            no_color_env.as_deref(),
            tty,
        );
        OutputOptions {
            format,
            color,
            static_,
            indent: None,
            state_output: StateOutput::default(),
            state_verbose: true,
        }
    }

    fn highstate(&self) -> highstate::Settings {
        highstate::Settings {
            color: self.color,
            state_output: self.state_output,
            state_verbose: self.state_verbose,
        }
    }
}

fn color_wanted(
    format: OutputFormat,
    no_color_flag: bool,
    force_color: bool,
    no_color_env: Option<&OsStr>,
    stdout_is_tty: bool,
) -> bool {
    if !matches!(format, OutputFormat::Nested | OutputFormat::Highstate) {
        return false;
    }
    if force_color {
        return true;
    }
    let no_color_env = no_color_env.is_some_and(|v| !v.is_empty());
    !no_color_flag && !no_color_env && stdout_is_tty
}

const DEFAULT_JSON_INDENT: usize = 4;

/// Test inputs with keys sorted: `json!` keeps insertion order (as Salt's
/// json/raw/txt outputters do), and the format tests are about layout.
#[cfg(test)]
#[macro_export]
macro_rules! sorted_json {
    ($($t:tt)*) => {
        $crate::output::sort_keys(serde_json::json!($($t)*))
    };
}

#[cfg(test)]
pub(crate) fn sort_keys(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut pairs: Vec<(String, Value)> = m.into_iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(pairs.into_iter().map(|(k, v)| (k, sort_keys(v))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

/// One minion's return as Salt prints it: `{minion_id: value}`.
pub fn render_one(opts: &OutputOptions, minion_id: &str, value: &Value) -> String {
    render_entries(opts, &[(minion_id, value)])
}

/// `--static`: all returns at once as one document `{id: value, ...}`,
/// sorted by id.
pub fn render_all(opts: &OutputOptions, returns: &[(String, Value)]) -> String {
    let mut entries: Vec<(&str, &Value)> = returns.iter().map(|(id, v)| (id.as_str(), v)).collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    render_entries(opts, &entries)
}

/// A bare value (runner output like `jobs.lookup_jid`, `brine-key --out json`).
pub fn render_value(opts: &OutputOptions, value: &Value) -> String {
    let text = match opts.format {
        OutputFormat::Nested => nested::render_value(value, opts.color),
        OutputFormat::Json => json::render_value(value, opts.indent.unwrap_or(DEFAULT_JSON_INDENT)),
        OutputFormat::Yaml => yaml::render_value(value),
        OutputFormat::Txt => txt::render_value(value),
        OutputFormat::Raw => raw::render_value(value),
        // Salt prints with `nested` what `highstate` cannot.
        OutputFormat::Highstate => highstate::render_value(value, &opts.highstate())
            .unwrap_or_else(|| nested::render_value(value, opts.color)),
        OutputFormat::Table => rows::rows_of(value)
            .map(|r| rows::table(&r))
            .unwrap_or_else(|| nested::render_value(value, opts.color)),
        OutputFormat::Csv => rows::rows_of(value)
            .map(|r| rows::csv(&r))
            .unwrap_or_else(|| nested::render_value(value, opts.color)),
    };
    finish(&text)
}

fn render_entries(opts: &OutputOptions, entries: &[(&str, &Value)]) -> String {
    let text = match opts.format {
        OutputFormat::Nested => nested::render_entries(entries, opts.color),
        OutputFormat::Json => {
            json::render_entries(entries, opts.indent.unwrap_or(DEFAULT_JSON_INDENT))
        }
        OutputFormat::Yaml => yaml::render_entries(entries),
        OutputFormat::Txt => txt::render_entries(entries),
        OutputFormat::Raw => raw::render_entries(entries),
        OutputFormat::Highstate => highstate::render_entries(entries, &opts.highstate())
            .unwrap_or_else(|| nested::render_entries(entries, opts.color)),
        OutputFormat::Table | OutputFormat::Csv => {
            let map: serde_json::Map<String, Value> = entries
                .iter()
                .map(|(id, v)| (id.to_string(), (*v).clone()))
                .collect();
            return render_value(opts, &Value::Object(map));
        }
    };
    finish(&text)
}

/// What Salt's `display_output` writes: the text without trailing
/// whitespace, then a newline; nothing at all for empty text.
fn finish(text: &str) -> String {
    let text = python::rstrip(text);
    if text.is_empty() {
        String::new()
    } else {
        format!("{text}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::sorted_json;
    use serde_json::json;

    fn opts(format: OutputFormat) -> OutputOptions {
        OutputOptions {
            format,
            color: false,
            static_: false,
            indent: None,
            state_output: StateOutput::default(),
            state_verbose: true,
        }
    }

    #[test]
    fn json_keeps_the_order_the_minion_sent() {
        let v = serde_json::json!({"b": 1, "a": 2});
        assert_eq!(
            render_one(&opts(OutputFormat::Json), "m", &v),
            "{\n    \"m\": {\n        \"b\": 1,\n        \"a\": 2\n    }\n}\n"
        );
    }

    #[test]
    fn format_names_parse() {
        for f in OutputFormat::ALL {
            assert_eq!(f.name().parse::<OutputFormat>(), Ok(f));
            assert_eq!(f.to_string(), f.name());
        }
        assert_eq!("text".parse::<OutputFormat>(), Ok(OutputFormat::Txt));
        let err = "xml".parse::<OutputFormat>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown output format 'xml' (valid: nested, json, yaml, txt, raw, highstate, table, csv)"
        );
    }

    #[test]
    fn state_functions_default_to_highstate() {
        for fun in [
            "state.apply",
            "state.sls",
            "state.highstate",
            "state.single",
            "state.sls_id",
            "state.test",
        ] {
            assert_eq!(default_format(fun), OutputFormat::Highstate, "{fun}");
        }
        for fun in ["test.ping", "state.show_sls", "cmd.run", "state"] {
            assert_eq!(default_format(fun), OutputFormat::Nested, "{fun}");
        }
        assert_eq!(
            "highstate".parse::<OutputFormat>(),
            Ok(OutputFormat::Highstate)
        );
        let highstate = Some(OutputFormat::Highstate);
        assert_eq!(format_for(highstate, "state.sls"), OutputFormat::Highstate);
        assert_eq!(format_for(highstate, "test.ping"), OutputFormat::Nested);
        assert_eq!(
            format_for(Some(OutputFormat::Json), "state.sls"),
            OutputFormat::Json
        );
        assert_eq!(format_for(None, "grains.items"), OutputFormat::Nested);
    }

    #[test]
    fn state_verbose_takes_salts_spellings() {
        assert_eq!(parse_state_verbose("False"), Ok(false));
        assert_eq!(parse_state_verbose("true"), Ok(true));
        assert_eq!(
            parse_state_verbose("no"),
            Err("invalid state verbose 'no' (valid: true, false)".to_string())
        );
    }

    #[test]
    fn highstate_prints_state_returns_and_falls_back_to_nested() {
        let mut o = opts(OutputFormat::Highstate);
        o.state_output = "terse".parse().expect("terse");
        let states = json!({"test_|-a_|-a_|-succeed_with_changes": {
            "name": "a", "result": true, "comment": "Success!", "changes": {"k": 1},
            "__run_num__": 0, "start_time": "10:00:00.000000", "duration": 1.5, "__id__": "a"
        }});
        let want = "web1:\n  Name: a - Function: test.succeed_with_changes - Result: Changed - Started: 10:00:00.000000 - Duration: 1.5 ms\n\n\
                    Summary for web1\n------------\nSucceeded: 1 (changed=1)\nFailed:    0\n------------\n\
                    Total states run:     1\nTotal run time:   1.500 ms\n";
        assert_eq!(render_one(&o, "web1", &states), want);
        o.state_verbose = false;
        o.state_output = StateOutput::default();
        let clean = json!({"test_|-a_|-a_|-nop": {
            "name": "a", "result": true, "comment": "", "changes": {}, "__run_num__": 0, "__id__": "a"
        }});
        assert!(render_one(&o, "web1", &clean).starts_with("web1:\n\nSummary for web1\n"));
        // No `changes` key: Salt's outputter raises and Salt prints `nested`.
        let odd = json!({"x": {"result": true, "__run_num__": 0}});
        assert_eq!(
            render_one(&o, "web1", &odd),
            render_one(&opts(OutputFormat::Nested), "web1", &odd)
        );
    }

    #[test]
    fn color_only_for_nested_and_highstate_on_a_terminal() {
        use OutputFormat::*;
        let set = Some(OsStr::new("1"));
        let empty = Some(OsStr::new(""));
        assert!(color_wanted(Nested, false, false, None, true));
        assert!(color_wanted(Nested, false, false, empty, true));
        assert!(!color_wanted(Nested, false, false, None, false));
        assert!(!color_wanted(Nested, false, false, set, true));
        assert!(!color_wanted(Nested, true, false, None, true));
        assert!(color_wanted(Nested, false, true, set, false));
        assert!(color_wanted(Nested, true, true, None, false));
        for f in [Json, Yaml, Txt, Raw] {
            assert!(!color_wanted(f, false, true, None, true));
        }
        assert!(color_wanted(Highstate, false, false, None, true));
        assert!(!color_wanted(Highstate, true, false, None, true));
    }

    #[test]
    fn each_format_renders_one_return() {
        let v = sorted_json!({"b": [1, "x"], "a": true});
        let cases = [
            (OutputFormat::Nested, "web1:\n    ----------\n    a:\n        True\n    b:\n        - 1\n        - x\n"),
            (
                OutputFormat::Json,
                "{\n    \"web1\": {\n        \"a\": true,\n        \"b\": [\n            1,\n            \"x\"\n        ]\n    }\n}\n",
            ),
            (OutputFormat::Yaml, "web1:\n  a: true\n  b:\n  - 1\n  - x\n"),
            (OutputFormat::Txt, "web1: {'a': True, 'b': [1, 'x']}\n"),
            (OutputFormat::Raw, "{'web1': {'a': True, 'b': [1, 'x']}}\n"),
        ];
        for (format, want) in cases {
            assert_eq!(render_one(&opts(format), "web1", &v), want, "{format}");
        }
    }

    #[test]
    fn static_output_is_one_document_sorted_by_id() {
        let returns = vec![
            ("web2".to_string(), sorted_json!(false)),
            ("web1".to_string(), sorted_json!("a\nb")),
        ];
        let cases = [
            (
                OutputFormat::Nested,
                "web1:\n    a\n    b\nweb2:\n    False\n",
            ),
            (
                OutputFormat::Json,
                "{\n    \"web1\": \"a\\nb\",\n    \"web2\": false\n}\n",
            ),
            (OutputFormat::Yaml, "web1: 'a\n\n  b'\nweb2: false\n"),
            (OutputFormat::Txt, "web1: a\nweb1: b\nweb2: False\n"),
            (OutputFormat::Raw, "{'web1': 'a\\nb', 'web2': False}\n"),
        ];
        for (format, want) in cases {
            assert_eq!(render_all(&opts(format), &returns), want, "{format}");
        }
    }

    #[test]
    fn bare_values_per_format() {
        let v = sorted_json!(["web1", "web2"]);
        let cases = [
            (OutputFormat::Nested, "- web1\n- web2\n"),
            (OutputFormat::Json, "[\n    \"web1\",\n    \"web2\"\n]\n"),
            (OutputFormat::Yaml, "- web1\n- web2\n"),
            (OutputFormat::Txt, "['web1', 'web2']\n"),
            (OutputFormat::Raw, "['web1', 'web2']\n"),
        ];
        for (format, want) in cases {
            assert_eq!(render_value(&opts(format), &v), want, "{format}");
        }
    }

    #[test]
    fn trailing_whitespace_goes_and_empty_output_prints_nothing() {
        assert_eq!(
            render_one(
                &opts(OutputFormat::Nested),
                "web1",
                &sorted_json!("x  \n\n")
            ),
            "web1:\n    x\n"
        );
        assert_eq!(
            render_one(&opts(OutputFormat::Txt), "web1", &sorted_json!("")),
            ""
        );
        assert_eq!(
            render_value(&opts(OutputFormat::Nested), &sorted_json!({})),
            ""
        );
        assert_eq!(
            render_value(&opts(OutputFormat::Yaml), &sorted_json!("hi")),
            "hi\n"
        );
    }

    #[test]
    fn out_indent_applies_to_json() {
        let mut o = opts(OutputFormat::Json);
        o.indent = Some(2);
        assert_eq!(
            render_one(&o, "web1", &sorted_json!([1])),
            "{\n  \"web1\": [\n    1\n  ]\n}\n"
        );
    }

    #[test]
    fn no_escape_bytes_without_color() {
        let v =
            sorted_json!({"s": "\x1b[31mred\x1b[0m", "n": [1, null, {"k": false}], "\x1b": "k"});
        for format in [
            OutputFormat::Nested,
            OutputFormat::Json,
            OutputFormat::Yaml,
            OutputFormat::Raw,
        ] {
            let out = render_one(&opts(format), "web1", &v);
            assert!(!out.contains('\x1b'), "{format}: {out:?}");
        }
        let colored = OutputOptions {
            color: true,
            ..opts(OutputFormat::Nested)
        };
        assert!(render_one(&colored, "web1", &v).contains("\x1b[0;36m"));
        let plain_nested = render_one(
            &opts(OutputFormat::Nested),
            "web1",
            &sorted_json!({"a": [1, "x", null]}),
        );
        assert!(!plain_nested.contains('\x1b'));
    }
}
