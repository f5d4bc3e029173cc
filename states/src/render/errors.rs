//! Render errors, worded as Salt words them after
//! `Rendering SLS 'base:x' failed: `.

use std::fmt;

use crate::source::SourceError;

/// Why an SLS or template did not render.
/// The renderers a `#!` pipe may name.
pub const SUPPORTED_RENDERERS: &str = "jinja, yaml, yamlex, json and gpg";

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The Jinja stage failed. `kind` picks Salt's prefix; `line` is the
    /// line in the rendered file itself (`None` when the error happened in
    /// an imported file, which `message` then names).
    #[error("{kind}{message}{}{}", line_suffix(*.line), context_suffix(.context))]
    Jinja {
        kind: JinjaErrorKind,
        message: String,
        line: Option<usize>,
        /// The lines around `line`, the failing one marked (Salt's
        /// `get_context`), when the source is at hand.
        context: Option<String>,
    },
    /// The YAML stage failed on the rendered text of `file`.
    #[error("{message}; line {line}")]
    Yaml {
        file: String,
        message: String,
        line: usize,
    },
    /// A `#!` renderer pipeline this renderer does not have (`py`,
    /// `pydsl`, `mako`, `stateconf`, ...).
    #[error("the renderer '{0}' is not available: Brine renders {SUPPORTED_RENDERERS}")]
    UnknownRenderer(String),
    /// A text renderer after the data was loaded (`#!yaml|jinja`).
    #[error("the renderer '{stage}' cannot follow a data renderer in '#!{pipe}'")]
    MisplacedRenderer { stage: String, pipe: String },
    /// The `gpg` stage: gpg missing, or a block that does not decrypt.
    #[error("gpg renderer: {0}")]
    Gpg(String),
    #[error("{0}")]
    Source(#[from] SourceError),
    /// The rendering thread died (a bug, reported rather than propagated).
    #[error("internal render error: {0}")]
    Internal(String),
}

fn context_suffix(context: &Option<String>) -> String {
    match context {
        Some(c) => format!("\n\n{c}"),
        None => String::new(),
    }
}

/// Salt's `get_context`: up to five lines either side of `line` (1-based),
/// `[...]` where the text goes on, the failing line marked.
pub fn get_context(text: &str, line: usize) -> String {
    const AROUND: usize = 5;
    const MARKER: &str = "    <======================";
    let lines: Vec<&str> = text.lines().collect();
    if line == 0 || line > lines.len() {
        return format!("---\n{text}\n---");
    }
    let start = line.saturating_sub(AROUND + 1);
    let end = (line + AROUND).min(lines.len());
    let mut buf: Vec<String> = Vec::new();
    if start > 0 {
        buf.push("[...]".into());
    }
    for (i, l) in lines[start..end].iter().enumerate() {
        if start + i + 1 == line {
            buf.push(format!("{l}{MARKER}"));
        } else {
            buf.push((*l).to_string());
        }
    }
    if end < lines.len() {
        buf.push("[...]".into());
    }
    format!("---\n{}\n---", buf.join("\n"))
}

impl RenderError {
    /// Adds the lines of `text` around the error's line (a Jinja error in
    /// `text` itself), as Salt prints them under the message.
    pub fn with_context(mut self, text: &str) -> RenderError {
        if let RenderError::Jinja {
            line: Some(l),
            context,
            ..
        } = &mut self
        {
            if *l > 0 {
                *context = Some(get_context(text, *l));
            }
        }
        self
    }
}

fn line_suffix(line: Option<usize>) -> String {
    match line {
        Some(l) if l > 0 => format!("; line {l}"),
        _ => String::new(),
    }
}

/// Salt's message prefixes (`salt/utils/templates.py` `render_jinja_tmpl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JinjaErrorKind {
    /// `Jinja variable 'x' is undefined`.
    Undefined,
    /// `Jinja syntax error: ...` (also Jinja's runtime errors).
    Syntax,
    /// `Problem running salt function in Jinja template: ...`.
    SaltFunction,
    /// `Jinja error: ...` (`raise()`, Python errors).
    Other,
}

impl fmt::Display for JinjaErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JinjaErrorKind::Undefined => "Jinja variable ",
            JinjaErrorKind::Syntax => "Jinja syntax error: ",
            JinjaErrorKind::SaltFunction => "Problem running salt function in Jinja template: ",
            JinjaErrorKind::Other => "Jinja error: ",
        })
    }
}

/// An error raised by our own template functions, carried through
/// minijinja's error as its source so the category survives.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SaltJinjaError {
    pub kind: JinjaErrorKind,
    pub message: String,
}

impl SaltJinjaError {
    pub fn into_minijinja(self) -> minijinja::Error {
        minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, self.message.clone())
            .with_source(self)
    }
}

/// A minijinja error as Salt would report it. `top` is the name of the
/// template being rendered, `sources` the (preprocessed) source of each
/// template by name, to name an undefined variable.
pub fn from_minijinja(
    err: &minijinja::Error,
    top: &str,
    source_of: &dyn Fn(&str) -> Option<String>,
) -> RenderError {
    // the innermost minijinja error is where it happened
    let mut innermost = err;
    let mut salt: Option<&SaltJinjaError> = None;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(m) = e.downcast_ref::<minijinja::Error>() {
            if m.kind() != minijinja::ErrorKind::BadInclude || m.line().is_some() {
                innermost = m;
            }
        }
        if let Some(s) = e.downcast_ref::<SaltJinjaError>() {
            salt = Some(s);
        }
        cur = e.source();
    }
    let line = innermost.line();
    let name = innermost.name().unwrap_or(top);
    let in_top = name == top;
    let (kind, mut message) = match salt {
        Some(s) => (s.kind, s.message.clone()),
        None => match innermost.kind() {
            minijinja::ErrorKind::SyntaxError => (
                JinjaErrorKind::Syntax,
                innermost.detail().unwrap_or("syntax error").to_string(),
            ),
            minijinja::ErrorKind::UndefinedError => {
                let var = innermost
                    .range()
                    .and_then(|r| source_of(name).and_then(|s| s.get(r).map(undefined_name)));
                match var {
                    Some(v) if !v.is_empty() => {
                        (JinjaErrorKind::Undefined, format!("'{v}' is undefined"))
                    }
                    _ => (
                        JinjaErrorKind::Undefined,
                        innermost
                            .detail()
                            .unwrap_or("value is undefined")
                            .to_string(),
                    ),
                }
            }
            minijinja::ErrorKind::OutOfFuel => (
                JinjaErrorKind::Other,
                format!(
                    "rendering stopped after {} template steps (a runaway loop?)",
                    crate::render::env::RENDER_FUEL
                ),
            ),
            minijinja::ErrorKind::Interrupted => (
                JinjaErrorKind::Other,
                "rendering stopped: the job was killed or timed out".to_string(),
            ),
            minijinja::ErrorKind::TemplateNotFound => (
                JinjaErrorKind::Other,
                innermost
                    .detail()
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| innermost.to_string()),
            ),
            _ => (
                JinjaErrorKind::Other,
                innermost
                    .detail()
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| innermost.kind().to_string()),
            ),
        },
    };
    if !in_top {
        if let Some(l) = line {
            message.push_str(&format!("\n{name}({l})"));
        }
    }
    RenderError::Jinja {
        kind,
        message,
        line: if in_top { line } else { None },
        context: None,
    }
}

/// The variable an expression starts from (`a.b['c']` gives `a`).
/// Variables every Salt template has: when one of them is the root of the
/// undefined expression, what is missing is the key or attribute after it
/// (`pillar['port']`), so the whole expression is named, not the variable.
const ALWAYS_DEFINED: &[&str] = &[
    "grains",
    "pillar",
    "opts",
    "salt",
    "saltenv",
    "sls",
    "slspath",
    "sls_path",
    "slsdotpath",
    "slscolonpath",
    "tpldir",
    "tpldot",
    "tplpath",
    "tplfile",
    "tplroot",
    "env",
];

/// The name an undefined-value error reports for `expr`: its root variable
/// (`x` in `x.a`), or the whole expression when the root always exists.
fn undefined_name(expr: &str) -> String {
    let root = root_name(expr);
    let whole = expr.trim();
    if ALWAYS_DEFINED.contains(&root.as_str())
        && whole.len() > root.len()
        && whole.len() <= 120
        && whole.starts_with(root.as_str())
        && !whole.contains('\n')
    {
        whole.to_string()
    } else {
        root
    }
}

fn root_name(expr: &str) -> String {
    let expr = expr.trim_start_matches(|c: char| c == '(' || c.is_whitespace());
    let expr = expr
        .strip_prefix("__pyconcat(")
        .or_else(|| expr.strip_prefix("__pyadd("))
        .or_else(|| expr.strip_prefix("__pymod("))
        .unwrap_or(expr);
    expr.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_matches_salt_wording() {
        let e = RenderError::Jinja {
            kind: JinjaErrorKind::Undefined,
            message: "'x' is undefined".into(),
            line: Some(3),
            context: None,
        };
        assert_eq!(e.to_string(), "Jinja variable 'x' is undefined; line 3");
        let e = RenderError::Jinja {
            kind: JinjaErrorKind::Other,
            message: "This formula only supports Windows".into(),
            line: Some(2),
            context: None,
        };
        assert_eq!(
            e.to_string(),
            "Jinja error: This formula only supports Windows; line 2"
        );
    }

    #[test]
    fn undefined_names_point_at_what_is_missing() {
        assert_eq!(undefined_name("not_defined.attribute"), "not_defined");
        assert_eq!(undefined_name("pillar['port']"), "pillar['port']");
        assert_eq!(undefined_name("grains.missing"), "grains.missing");
        assert_eq!(undefined_name("pillar"), "pillar");
    }

    #[test]
    fn context_is_salts_get_context() {
        let text: String = (1..=14).map(|i| format!("l{i}\n")).collect();
        assert_eq!(
            get_context(&text, 8),
            "---\n[...]\nl3\nl4\nl5\nl6\nl7\nl8    <======================\nl9\nl10\nl11\nl12\nl13\n[...]\n---"
        );
        assert_eq!(
            get_context("a\nb\n", 1),
            "---\na    <======================\nb\n---"
        );
    }

    #[test]
    fn root_name_of_expressions() {
        assert_eq!(root_name("not_defined.attribute"), "not_defined");
        assert_eq!(root_name("x['a']"), "x");
    }
}
