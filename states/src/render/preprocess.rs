//! Source rewriting before minijinja compiles a template, keeping every line
//! where it was (errors report template lines, as Salt does).
//!
//! 1. Salt's extension tags, which minijinja cannot parse:
//!    `{% import_yaml EXPR as x %}` becomes `{% set x = __import_yaml(EXPR, "this/template") %}`
//!    (likewise `import_json`, `import_text`), and
//!    `{% load_yaml as x %}...{% endload %}` becomes a `set` block followed
//!    by `{% set x = x|load_yaml %}`.
//! 2. Python semantics minijinja lacks, from the parsed AST: dict, list and
//!    tuple literals are wrapped in `__pydict(...)`, `__pylist(...)`,
//!    `__pytuple(...)` (mutable objects, see [`super::mutable`]); `a % b`,
//!    `a ~ b` and `a + b` become `__pymod(a, b)`, `__pyconcat(a, b)`,
//!    `__pyadd(a, b)` (string %-formatting, `str()` of `None`/`True`, list
//!    concatenation).

use std::sync::LazyLock;

use minijinja::machinery::{ast, parse, WhitespaceConfig};
use minijinja::syntax::SyntaxConfig;
use regex::{Captures, Regex};

/// Both steps; a source minijinja cannot parse is returned after step 1
/// only, so the real compile reports the syntax error.
pub fn preprocess(source: &str, name: &str) -> String {
    let tagged = rewrite_salt_tags(source, name);
    rewrite_python_semantics(&tagged, name).unwrap_or(tagged)
}

static SALT_TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?s)\{%([-+]?)\s*(?:(import_yaml|import_json|import_text)\s+(.+?)\s+as\s+([A-Za-z_][A-Za-z0-9_]*)(?:\s+(?:with|without)\s+context)?|(load_yaml|load_json|load_text)\s+as\s+([A-Za-z_][A-Za-z0-9_]*)|(endload))\s*([-+]?)%\}",
    )
    .expect("static regex")
});

/// `{% do EXPR %}`: Jinja takes any expression, minijinja only a call.
static DO_TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{%([-+]?)\s*do\s").expect("static regex"));

static RAW_BLOCK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s)\{%[-+]?\s*raw\s*[-+]?%\}.*?\{%[-+]?\s*endraw\s*[-+]?%\}")
        .expect("static regex")
});

fn rewrite_salt_tags(source: &str, name: &str) -> String {
    if !source.contains("import_") && !source.contains("load_") && !source.contains("do") {
        return source.to_string();
    }
    let raw_spans: Vec<(usize, usize)> = RAW_BLOCK
        .find_iter(source)
        .map(|m| (m.start(), m.end()))
        .collect();
    let in_raw = |at: usize| raw_spans.iter().any(|(s, e)| at >= *s && at < *e);
    let mut last = 0;
    let mut with_sets = String::with_capacity(source.len());
    for caps in DO_TAG.captures_iter(source) {
        let Some(whole) = caps.get(0) else { continue };
        if in_raw(whole.start()) {
            continue;
        }
        with_sets.push_str(&source[last..whole.start()]);
        with_sets.push_str(&format!(
            "{{%{} set __do = ",
            caps.get(1).map_or("", |m| m.as_str())
        ));
        last = whole.end();
    }
    with_sets.push_str(&source[last..]);
    let source = with_sets.as_str();
    let raw_spans: Vec<(usize, usize)> = RAW_BLOCK
        .find_iter(source)
        .map(|m| (m.start(), m.end()))
        .collect();
    let mut open_loads: Vec<(String, String)> = Vec::new();
    let mut out = String::with_capacity(source.len() + 64);
    let mut last = 0;
    for caps in SALT_TAG.captures_iter(source) {
        let Some(whole) = caps.get(0) else { continue };
        if raw_spans
            .iter()
            .any(|(s, e)| whole.start() >= *s && whole.start() < *e)
        {
            continue;
        }
        out.push_str(&source[last..whole.start()]);
        last = whole.end();
        out.push_str(&rewrite_one(&caps, name, &mut open_loads));
    }
    out.push_str(&source[last..]);
    out
}

fn rewrite_one(caps: &Captures, name: &str, open_loads: &mut Vec<(String, String)>) -> String {
    let lead = caps.get(1).map_or("", |m| m.as_str());
    let trail = caps.get(8).map_or("", |m| m.as_str());
    let group = |i: usize| caps.get(i).map_or("", |m| m.as_str());
    if let Some(kind) = caps.get(2) {
        let kind = kind.as_str().trim_start_matches("import_");
        // newlines inside the tag stay, so later lines keep their numbers
        return format!(
            "{{%{lead} set {} = __import_{kind}({}, {}) {trail}%}}",
            group(4),
            group(3),
            quote(name)
        );
    }
    if let Some(kind) = caps.get(5) {
        let kind = kind.as_str().trim_start_matches("load_").to_string();
        let var = group(6).to_string();
        let rv = format!("{{%{lead} set {var} {trail}%}}");
        open_loads.push((var, kind));
        return rv;
    }
    match open_loads.pop() {
        Some((var, kind)) => {
            format!("{{%{lead} endset %}}{{% set {var} = {var}|load_{kind} {trail}%}}")
        }
        // an `endload` without its start: leave it for the syntax error
        None => caps
            .get(0)
            .map_or(String::new(), |m| m.as_str().to_string()),
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// One text edit at a byte offset: remove `remove` bytes, then insert `text`.
struct Edit {
    at: usize,
    remove: usize,
    text: &'static str,
}

fn rewrite_python_semantics(source: &str, name: &str) -> Option<String> {
    let tree = parse(source, name, SyntaxConfig, WhitespaceConfig::default()).ok()?;
    let mut w = Walker {
        source,
        edits: Vec::new(),
    };
    w.stmt(&tree);
    if w.edits.is_empty() {
        return None;
    }
    // openers were recorded before their children and closers after, so a
    // stable sort keeps nesting right where offsets coincide
    w.edits.sort_by_key(|e| e.at);
    let mut out = String::with_capacity(source.len() + w.edits.len() * 12);
    let mut pos = 0;
    for e in &w.edits {
        if e.at < pos || e.at > source.len() || !source.is_char_boundary(e.at) {
            return None;
        }
        out.push_str(&source[pos..e.at]);
        out.push_str(e.text);
        pos = e.at + e.remove;
    }
    out.push_str(source.get(pos..)?);
    Some(out)
}

struct Walker<'s> {
    source: &'s str,
    edits: Vec<Edit>,
}

impl Walker<'_> {
    fn insert(&mut self, at: u32, text: &'static str) {
        self.edits.push(Edit {
            at: at as usize,
            remove: 0,
            text,
        });
    }

    fn stmts(&mut self, body: &[ast::Stmt]) {
        for s in body {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &ast::Stmt) {
        match s {
            ast::Stmt::Template(t) => self.stmts(&t.children),
            ast::Stmt::EmitExpr(e) => self.expr(&e.expr),
            ast::Stmt::EmitRaw(_) => {}
            ast::Stmt::ForLoop(f) => {
                self.expr(&f.iter);
                if let Some(e) = &f.filter_expr {
                    self.expr(e);
                }
                self.stmts(&f.body);
                self.stmts(&f.else_body);
            }
            ast::Stmt::IfCond(c) => {
                self.expr(&c.expr);
                self.stmts(&c.true_body);
                self.stmts(&c.false_body);
            }
            ast::Stmt::WithBlock(w) => {
                for (_, e) in &w.assignments {
                    self.expr(e);
                }
                self.stmts(&w.body);
            }
            ast::Stmt::Set(set) => self.expr(&set.expr),
            ast::Stmt::SetBlock(set) => {
                if let Some(f) = &set.filter {
                    self.expr(f);
                }
                self.stmts(&set.body);
            }
            ast::Stmt::AutoEscape(a) => self.stmts(&a.body),
            ast::Stmt::FilterBlock(f) => {
                self.expr(&f.filter);
                self.stmts(&f.body);
            }
            ast::Stmt::Block(b) => self.stmts(&b.body),
            ast::Stmt::Import(i) => self.expr(&i.expr),
            ast::Stmt::FromImport(i) => self.expr(&i.expr),
            ast::Stmt::Extends(e) => self.expr(&e.name),
            ast::Stmt::Include(i) => self.expr(&i.name),
            ast::Stmt::Macro(m) => self.macro_decl(m),
            ast::Stmt::CallBlock(c) => {
                self.call(&c.call);
                self.macro_decl(&c.macro_decl);
            }
            ast::Stmt::Continue(_) | ast::Stmt::Break(_) => {}
            ast::Stmt::Do(d) => self.call(&d.call),
        }
    }

    fn macro_decl(&mut self, m: &ast::Macro) {
        for d in &m.defaults {
            self.expr(d);
        }
        self.stmts(&m.body);
    }

    fn call(&mut self, c: &ast::Call) {
        self.expr(&c.expr);
        self.args(&c.args);
    }

    fn args(&mut self, args: &[ast::CallArg]) {
        for a in args {
            match a {
                ast::CallArg::Pos(e)
                | ast::CallArg::Kwarg(_, e)
                | ast::CallArg::PosSplat(e)
                | ast::CallArg::KwargSplat(e) => self.expr(e),
            }
        }
    }

    fn wrap(
        &mut self,
        span: minijinja::machinery::Span,
        opener: &'static str,
        inner: impl FnOnce(&mut Self),
    ) {
        self.insert(span.start_offset, opener);
        inner(self);
        self.insert(span.end_offset, ")");
    }

    fn expr(&mut self, e: &ast::Expr) {
        match e {
            ast::Expr::Var(_) | ast::Expr::Const(_) => {}
            ast::Expr::Slice(s) => {
                self.expr(&s.expr);
                for part in [&s.start, &s.stop, &s.step].into_iter().flatten() {
                    self.expr(part);
                }
            }
            ast::Expr::UnaryOp(u) => self.expr(&u.expr),
            ast::Expr::BinOp(b) => {
                let (fun, op) = match b.op {
                    ast::BinOpKind::Rem => ("__pymod(", '%'),
                    ast::BinOpKind::Concat => ("__pyconcat(", '~'),
                    ast::BinOpKind::Add => ("__pyadd(", '+'),
                    _ => {
                        self.expr(&b.left);
                        self.expr(&b.right);
                        return;
                    }
                };
                let span = b.span();
                let gap_start = b.left.span().end_offset as usize;
                let gap_end = b.right.span().start_offset as usize;
                let op_at = self
                    .source
                    .get(gap_start..gap_end)
                    .and_then(|gap| gap.find(op))
                    .map(|i| gap_start + i);
                let Some(op_at) = op_at else {
                    self.expr(&b.left);
                    self.expr(&b.right);
                    return;
                };
                self.insert(span.start_offset, fun);
                self.expr(&b.left);
                self.edits.push(Edit {
                    at: op_at,
                    remove: 1,
                    text: ",",
                });
                self.expr(&b.right);
                self.insert(span.end_offset, ")");
            }
            ast::Expr::Compare(c) => {
                self.expr(&c.expr);
                for op in &c.ops {
                    self.expr(&op.expr);
                }
            }
            ast::Expr::IfExpr(i) => {
                self.expr(&i.test_expr);
                self.expr(&i.true_expr);
                if let Some(f) = &i.false_expr {
                    self.expr(f);
                }
            }
            ast::Expr::Filter(f) => {
                if let Some(inner) = &f.expr {
                    self.expr(inner);
                }
                self.args(&f.args);
            }
            ast::Expr::Test(t) => {
                self.expr(&t.expr);
                self.args(&t.args);
            }
            ast::Expr::GetAttr(g) => self.expr(&g.expr),
            ast::Expr::GetItem(g) => {
                self.expr(&g.expr);
                self.expr(&g.subscript_expr);
            }
            ast::Expr::Call(c) => self.call(c),
            ast::Expr::List(l) => {
                let span = l.span();
                let is_tuple = self
                    .source
                    .as_bytes()
                    .get(span.start_offset as usize)
                    .is_some_and(|c| *c == b'(');
                let opener = if is_tuple { "__pytuple(" } else { "__pylist(" };
                self.wrap(span, opener, |w| {
                    for item in &l.items {
                        w.expr(item);
                    }
                });
            }
            ast::Expr::Map(m) => {
                self.wrap(m.span(), "__pydict(", |w| {
                    for (k, v) in m.keys.iter().zip(&m.values) {
                        w.expr(k);
                        w.expr(v);
                    }
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_operators_are_wrapped_on_the_same_line() {
        let src = "{% set d = {'a': [1, 2]} %}\n{{ '%s' % x ~ (1, 2) }}\n{{ a + b }}";
        let out = preprocess(src, "t.sls");
        assert_eq!(
            out,
            "{% set d = __pydict({'a': __pylist([1, 2])}) %}\n{{ __pyconcat(__pymod('%s' , x) , __pytuple((1, 2))) }}\n{{ __pyadd(a , b) }}"
        );
    }

    #[test]
    fn loop_targets_are_not_wrapped() {
        let out = preprocess("{% for k, v in d.items() %}{{ k }}{% endfor %}", "t");
        assert_eq!(out, "{% for k, v in d.items() %}{{ k }}{% endfor %}");
    }

    #[test]
    fn salt_tags_become_sets() {
        let src = "{%- import_yaml tplroot ~ \"/defaults.yaml\" as defaults %}\n{% load_yaml as y -%}\na: 1\n{%- endload %}\nx";
        let out = preprocess(src, "f/map.jinja");
        assert_eq!(
            out,
            "{%- set defaults = __import_yaml(__pyconcat(tplroot , \"/defaults.yaml\"), \"f/map.jinja\") %}\n{% set y -%}\na: 1\n{%- endset %}{% set y = y|load_yaml %}\nx"
        );
    }

    #[test]
    fn raw_blocks_are_left_alone() {
        let src = "{% raw %}{% import_yaml 'x' as y %}{{ [1] }}{% endraw %}";
        assert_eq!(preprocess(src, "t"), src);
    }
}
