//! The static function table: Salt's loader idea, made static and typed.
//! Every execution function is registered once here, keyed `"mod.fun"`,
//! with its documentation and a CLI example (`sys.doc`, `brine-call -d`).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use brine_proto::JobId;
use serde_json::{Map, Value};

use crate::config::MinionConfig;
use crate::exec::RunningJobs;
use crate::grains::GrainsHandle;
use crate::modules;

/// What a function gets besides its arguments.
#[derive(Clone)]
pub struct CallCtx {
    pub config: Arc<MinionConfig>,
    pub grains: GrainsHandle,
    /// Jobs running on this minion (for `saltutil.*`).
    pub running: RunningJobs,
    /// The job this call belongs to (a local call gets a fresh one).
    pub jid: JobId,
    /// The pillar of this call when it is fixed: inside a state run (its
    /// pillar, `pillar=` included) or in tests. `None`: the minion's
    /// in-memory pillar, read through [`CallCtx::pillar`].
    pub fixed_pillar: Option<Arc<Value>>,
    /// The minion's in-memory pillar (`saltutil.refresh_pillar` and state
    /// runs replace it).
    pub pillar_store: crate::pillar_store::PillarStore,
    /// Requests to the connected masters (file server, pillar); `None` for
    /// a local call (`brine-call`).
    pub master: Option<crate::link::MasterClient>,
    /// Set when the job is killed or times out; state runs and renders that
    /// run on blocking threads (which an abort cannot reach) watch it.
    pub cancel: brine_states::Cancel,
    /// The minion's beacons (`beacons.*`).
    pub beacons: crate::beacons::Beacons,
}

impl CallCtx {
    /// The pillar this call reads (`pillar.*`, `config.get`, templates): the
    /// fixed one, else the minion's in-memory pillar, compiled or fetched on
    /// first need, so functions that never read it never wait for it.
    pub async fn pillar(&self) -> Arc<Value> {
        match &self.fixed_pillar {
            Some(p) => p.clone(),
            None => self.pillar_store.get_or_load(self).await,
        }
    }
}

/// Why a function gave no value.
#[derive(Debug, thiserror::Error)]
pub enum ModError {
    /// Missing, extra or ill-typed arguments: the message says which.
    #[error("{0}")]
    BadArguments(String),
    /// The function ran and failed.
    #[error("{0}")]
    Failed(String),
    /// The function gave up after its own time limit (e.g. `cmd.run timeout=5`);
    /// the message says after how long and carries any partial output.
    #[error("{0}")]
    Timeout(String),
}

/// A function's value and the retcode it reports (0 unless the function says otherwise,
/// e.g. `cmd.retcode`, `test.false`).
#[derive(Debug)]
pub struct ModOutput {
    pub value: Value,
    pub retcode: i32,
}

impl From<Value> for ModOutput {
    fn from(value: Value) -> Self {
        ModOutput { value, retcode: 0 }
    }
}

pub type ModResult = Result<ModOutput, ModError>;
pub type ModFuture = Pin<Box<dyn Future<Output = ModResult> + Send>>;
pub type ModFn = fn(CallCtx, Args) -> ModFuture;

/// One registered function.
pub struct FunctionSpec {
    /// `"mod.fun"`.
    pub name: &'static str,
    /// First line: summary; then argument documentation.
    pub doc: &'static str,
    /// e.g. `brine '*' test.echo 'hello'`.
    pub cli_example: &'static str,
    pub run: ModFn,
}

/// Positional and keyword arguments as they came in the job.
#[derive(Clone, Debug, Default)]
pub struct Args {
    pub arg: Vec<Value>,
    pub kwarg: Map<String, Value>,
}

/// Every function this minion offers, sorted by name: the modules' own
/// `FUNCTIONS` slices merged once.
pub fn functions() -> &'static [&'static FunctionSpec] {
    static TABLE: OnceLock<Vec<&'static FunctionSpec>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut all: Vec<&'static FunctionSpec> =
            modules::MODULES.iter().flat_map(|m| m.iter()).collect();
        all.sort_by_key(|f| f.name);
        all
    })
}

/// Looks a function up by `"mod.fun"`.
pub fn lookup(name: &str) -> Option<&'static FunctionSpec> {
    let table = functions();
    table
        .binary_search_by(|f| f.name.cmp(name))
        .ok()
        .map(|i| table[i])
}

// ---- argument handling ------------------------------------------------------------

tokio::task_local! {
    /// The `"mod.fun"` being run on this task, for argument error messages.
    static CURRENT_FUN: &'static str;
}

/// Runs `fut` with `name` as the current function (what `ArgParser` names in
/// its messages). The executor wraps every call in it.
pub async fn with_fun<F: Future>(name: &'static str, fut: F) -> F::Output {
    CURRENT_FUN.scope(name, fut).await
}

fn current_fun() -> &'static str {
    CURRENT_FUN.try_with(|f| *f).unwrap_or("function")
}

impl Args {
    pub fn new(arg: Vec<Value>, kwarg: Map<String, Value>) -> Args {
        Args { arg, kwarg }
    }

    /// The arguments of a published job, cleaned the way Salt's minion does:
    /// `__pub_*` keys are dropped, and a positional `{"__kwarg__": true, ...}`
    /// dict (Salt's old way of packing keyword arguments) is merged into
    /// `kwarg`.
    pub fn from_job(arg: Vec<Value>, mut kwarg: Map<String, Value>) -> Args {
        let mut pos = Vec::with_capacity(arg.len());
        for a in arg {
            match a {
                Value::Object(mut m) if m.get("__kwarg__") == Some(&Value::Bool(true)) => {
                    m.remove("__kwarg__");
                    for (k, v) in m {
                        kwarg.entry(k).or_insert(v);
                    }
                }
                other => pos.push(other),
            }
        }
        kwarg.retain(|k, _| !k.starts_with("__pub_"));
        Args { arg: pos, kwarg }
    }

    /// Starts reading the arguments against a Python-like signature.
    pub fn parser(self) -> ArgParser {
        ArgParser {
            fun: current_fun(),
            arg: self.arg.into_iter().map(Some).collect(),
            kwarg: self.kwarg,
            npos: 0,
            nreq: 0,
            varargs: false,
            varkw: false,
        }
    }
}

/// Reads [`Args`] the way Python binds a call to a signature: each parameter
/// can come by position or by keyword, extra or unknown ones are errors
/// (unless `rest`/`rest_kwargs` take them), and the messages are Python's,
/// which Salt users know: `test.echo() takes 1 positional argument but 2
/// were given`, `test.echo() got an unexpected keyword argument 'x'`.
///
/// ```
/// # use brine_minion::registry::{Args, ModError};
/// # fn echo(args: Args) -> Result<(), ModError> {
/// let mut a = args.parser();
/// let text = a.take("text", 0)?;          // required, position 0 or text=...
/// let n = a.opt_i64("count", 1)?;         // optional, position 1 or count=...
/// let quiet = a.kw_bool("quiet")?;        // keyword only
/// a.finish()?;
/// # let _ = (text, n, quiet);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ArgParser {
    fun: &'static str,
    /// Positional arguments; `None` once consumed.
    arg: Vec<Option<Value>>,
    kwarg: Map<String, Value>,
    /// Positional parameters declared so far (highest position + 1).
    npos: usize,
    /// Required positional parameters declared so far.
    nreq: usize,
    varargs: bool,
    varkw: bool,
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

impl ArgParser {
    /// The `"mod.fun"` this parser names in its messages.
    pub fn fun(&self) -> &'static str {
        self.fun
    }

    /// An argument error naming the function, e.g. `bad("timeout must be a number")`.
    pub fn bad(&self, message: impl std::fmt::Display) -> ModError {
        ModError::BadArguments(format!("{}() {message}", self.fun))
    }

    fn get(&mut self, name: &str, pos: usize) -> Result<Option<Value>, ModError> {
        self.npos = self.npos.max(pos + 1);
        let kw = self.kwarg.remove(name);
        let p = self.arg.get_mut(pos).and_then(Option::take);
        match (kw, p) {
            (Some(_), Some(_)) => {
                Err(self.bad(format_args!("got multiple values for argument '{name}'")))
            }
            (Some(v), None) | (None, Some(v)) => Ok(Some(v)),
            (None, None) => Ok(None),
        }
    }

    /// A required parameter at `pos` (or given as `name=`).
    pub fn take(&mut self, name: &str, pos: usize) -> Result<Value, ModError> {
        self.nreq = self.nreq.max(pos + 1);
        match self.get(name, pos)? {
            Some(v) => Ok(v),
            None => Err(self.bad(format_args!(
                "missing 1 required positional argument: '{name}'"
            ))),
        }
    }

    /// An optional parameter at `pos` (or given as `name=`); `None` when
    /// absent or null (Python's `None`).
    pub fn opt(&mut self, name: &str, pos: usize) -> Result<Option<Value>, ModError> {
        Ok(self.get(name, pos)?.filter(|v| !v.is_null()))
    }

    /// A keyword-only parameter; `None` when absent or null.
    pub fn kw(&mut self, name: &str) -> Option<Value> {
        self.kwarg.remove(name).filter(|v| !v.is_null())
    }

    pub fn take_str(&mut self, name: &str, pos: usize) -> Result<String, ModError> {
        let v = self.take(name, pos)?;
        as_str(name, &v)
    }

    pub fn opt_str(&mut self, name: &str, pos: usize) -> Result<Option<String>, ModError> {
        self.opt(name, pos)?.map(|v| as_str(name, &v)).transpose()
    }

    pub fn opt_bool(&mut self, name: &str, pos: usize) -> Result<Option<bool>, ModError> {
        self.opt(name, pos)?.map(|v| as_bool(name, &v)).transpose()
    }

    pub fn opt_i64(&mut self, name: &str, pos: usize) -> Result<Option<i64>, ModError> {
        self.opt(name, pos)?.map(|v| as_i64(name, &v)).transpose()
    }

    pub fn opt_f64(&mut self, name: &str, pos: usize) -> Result<Option<f64>, ModError> {
        self.opt(name, pos)?.map(|v| as_f64(name, &v)).transpose()
    }

    pub fn kw_str(&mut self, name: &str) -> Result<Option<String>, ModError> {
        self.kw(name).map(|v| as_str(name, &v)).transpose()
    }

    pub fn kw_bool(&mut self, name: &str) -> Result<Option<bool>, ModError> {
        self.kw(name).map(|v| as_bool(name, &v)).transpose()
    }

    pub fn kw_i64(&mut self, name: &str) -> Result<Option<i64>, ModError> {
        self.kw(name).map(|v| as_i64(name, &v)).transpose()
    }

    pub fn kw_f64(&mut self, name: &str) -> Result<Option<f64>, ModError> {
        self.kw(name).map(|v| as_f64(name, &v)).transpose()
    }

    /// Python's `*args`: every positional argument from `from` on not taken yet.
    pub fn rest(&mut self, from: usize) -> Vec<Value> {
        self.varargs = true;
        self.arg
            .iter_mut()
            .skip(from)
            .filter_map(Option::take)
            .collect()
    }

    /// Python's `**kwargs`: every keyword argument not taken yet.
    pub fn rest_kwargs(&mut self) -> Map<String, Value> {
        self.varkw = true;
        std::mem::take(&mut self.kwarg)
    }

    /// Accepts and drops keyword arguments that Salt has and Brine does not act on.
    pub fn ignore(&mut self, names: &[&str]) {
        for n in names {
            self.kwarg.remove(*n);
        }
    }

    /// Fails on positional arguments past the signature and on unknown keywords.
    pub fn finish(self) -> Result<(), ModError> {
        let given = self.arg.len();
        if !self.varargs && given > self.npos && self.arg[self.npos..].iter().any(Option::is_some) {
            let takes = if self.nreq == self.npos {
                plural(self.npos, "positional argument")
            } else {
                format!("from {} to {} positional arguments", self.nreq, self.npos)
            };
            let were = if given == 1 { "was" } else { "were" };
            return Err(self.bad(format_args!("takes {takes} but {given} {were} given")));
        }
        if !self.varkw {
            if let Some(k) = self.kwarg.keys().next() {
                return Err(self.bad(format_args!("got an unexpected keyword argument '{k}'")));
            }
        }
        Ok(())
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "None",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a dict",
    }
}

/// A string argument; numbers and booleans read as their text (the CLI
/// types `5` as a number, a function wanting a string still gets `"5"`).
pub fn as_str(name: &str, v: &Value) -> Result<String, ModError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(ModError::BadArguments(format!(
            "argument '{name}' must be a string, not {}",
            type_name(other)
        ))),
    }
}

/// A boolean argument, read like Salt's `is_true`: booleans, numbers
/// (non-zero is true) and the words true/false, yes/no, on/off.
pub fn as_bool(name: &str, v: &Value) -> Result<bool, ModError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Null => Ok(false),
        Value::Number(n) => Ok(n.as_f64().is_some_and(|f| f != 0.0)),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(true),
            "false" | "no" | "off" | "0" | "" | "none" => Ok(false),
            _ => Err(ModError::BadArguments(format!(
                "argument '{name}' must be a boolean, not '{s}'"
            ))),
        },
        other => Err(ModError::BadArguments(format!(
            "argument '{name}' must be a boolean, not {}",
            type_name(other)
        ))),
    }
}

/// An integer argument; `"5"` is read as 5, as Python's `int()` would.
pub fn as_i64(name: &str, v: &Value) -> Result<i64, ModError> {
    let bad = || ModError::BadArguments(format!("argument '{name}' must be an integer, not {v}"));
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            })
            .ok_or_else(bad),
        Value::String(s) => s.trim().parse().map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// A number argument; `"2.5"` is read as 2.5.
pub fn as_f64(name: &str, v: &Value) -> Result<f64, ModError> {
    let bad = || ModError::BadArguments(format!("argument '{name}' must be a number, not {v}"));
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(bad),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// A list of strings: a list, or one comma-separated string (Salt's `split_input`).
pub fn as_str_list(name: &str, v: &Value) -> Result<Vec<String>, ModError> {
    match v {
        Value::Array(items) => items.iter().map(|i| as_str(name, i)).collect(),
        Value::String(s) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()),
        other => Ok(vec![as_str(name, other)?]),
    }
}

// ---- documentation ------------------------------------------------------------------

/// What `sys.doc` returns for one function: its doc and CLI example, as Salt's
/// docstrings read.
pub fn doc_text(spec: &FunctionSpec) -> String {
    let example: Vec<String> = spec
        .cli_example
        .lines()
        .map(|l| format!("    {l}"))
        .collect();
    format!(
        "{}\n\nCLI Example:\n\n{}",
        spec.doc.trim_end(),
        example.join("\n")
    )
}

/// Every function's documentation as markdown: what `brine-call -d` prints and
/// `docs/modules.md` holds.
pub fn render_docs() -> String {
    let mut out = String::new();
    out.push_str("# Execution modules\n\n");
    out.push_str(
        "Every function a Brine minion offers, by module. `brine-call -d` prints this page, \
         `brine '*' sys.doc [NAME]` returns the same text per function.\n\n",
    );
    out.push_str(
        "<!-- Generated from the function table (minion/src/modules/*.rs); do not edit. \
         Regenerate with `BRINE_BLESS=1 cargo test -p brine-minion docs`. -->\n",
    );
    let mut module = "";
    for f in functions() {
        let m = f.name.split('.').next().unwrap_or(f.name);
        if m != module {
            module = m;
            out.push_str(&format!("\n## {m}\n"));
        }
        out.push_str(&format!(
            "\n### {}\n\n{}\n\n```sh\n{}\n```\n",
            f.name,
            f.doc.trim_end(),
            f.cli_example.trim_end()
        ));
    }
    out
}

/// A context for unit tests of module functions: default config, these grains.
#[cfg(test)]
pub(crate) fn test_ctx_with(grains: brine_proto::Grains) -> CallCtx {
    let config = MinionConfig::from_raw(
        std::path::Path::new("/nonexistent/brine"),
        brine_proto::conf::RawConfig::empty(),
    )
    .expect("default config");
    CallCtx {
        config: Arc::new(config),
        grains: GrainsHandle::from_grains(grains),
        running: RunningJobs::default(),
        jid: brine_proto::jid::JidGenerator::new().next(),
        fixed_pillar: Some(Arc::new(Value::Object(Map::new()))),
        pillar_store: Default::default(),
        master: None,
        cancel: Default::default(),
        beacons: Default::default(),
    }
}

#[cfg(test)]
pub(crate) fn test_ctx() -> CallCtx {
    test_ctx_with(brine_proto::Grains::new())
}

/// Calls `f` as `name` in `ctx` with JSON arguments (a list and a map), for
/// unit tests: the value, or the error's text.
#[cfg(test)]
pub(crate) async fn test_call(
    ctx: CallCtx,
    f: ModFn,
    name: &'static str,
    arg: Value,
    kwarg: Value,
) -> Result<Value, String> {
    let arg = arg.as_array().cloned().unwrap_or_default();
    let kwarg = kwarg.as_object().cloned().unwrap_or_default();
    with_fun(name, f(ctx, Args::new(arg, kwarg)))
        .await
        .map(|o| o.value)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(arg: Value, kwarg: Value) -> Args {
        let Value::Array(arg) = arg else { panic!() };
        let Value::Object(kwarg) = kwarg else {
            panic!()
        };
        Args::new(arg, kwarg)
    }

    async fn parse_echo(a: Args) -> Result<Value, ModError> {
        with_fun("test.echo", async move {
            let mut p = a.parser();
            let text = p.take("text", 0)?;
            p.finish()?;
            Ok(text)
        })
        .await
    }

    #[tokio::test]
    async fn positional_or_keyword_like_python() {
        assert_eq!(
            parse_echo(args(json!(["hi"]), json!({}))).await.unwrap(),
            json!("hi")
        );
        assert_eq!(
            parse_echo(args(json!([]), json!({"text": 5})))
                .await
                .unwrap(),
            json!(5)
        );
        let msg = |r: Result<Value, ModError>| r.unwrap_err().to_string();
        assert_eq!(
            msg(parse_echo(args(json!(["a", "b"]), json!({}))).await),
            "test.echo() takes 1 positional argument but 2 were given"
        );
        assert_eq!(
            msg(parse_echo(args(json!([]), json!({}))).await),
            "test.echo() missing 1 required positional argument: 'text'"
        );
        assert_eq!(
            msg(parse_echo(args(json!(["a"]), json!({"x": 1}))).await),
            "test.echo() got an unexpected keyword argument 'x'"
        );
        assert_eq!(
            msg(parse_echo(args(json!(["a"]), json!({"text": "b"}))).await),
            "test.echo() got multiple values for argument 'text'"
        );
    }

    #[tokio::test]
    async fn optional_parameters_and_rest() {
        let r = with_fun("grains.get", async {
            let mut p = args(json!(["k", "d", ":", "extra"]), json!({})).parser();
            p.take("key", 0)?;
            p.opt("default", 1)?;
            p.opt_str("delimiter", 2)?;
            p.finish()
        })
        .await;
        assert_eq!(
            r.unwrap_err().to_string(),
            "grains.get() takes from 1 to 3 positional arguments but 4 were given"
        );
        let mut p = args(json!(["a", 1, true]), json!({"k": "v", "n": null})).parser();
        assert_eq!(p.take_str("first", 0).unwrap(), "a");
        assert_eq!(p.opt("n", 5).unwrap(), None, "null is Python's None");
        assert_eq!(p.rest(1), vec![json!(1), json!(true)]);
        assert_eq!(
            p.rest_kwargs(),
            json!({"k": "v"}).as_object().unwrap().clone()
        );
        p.finish().unwrap();
    }

    #[test]
    fn salt_style_coercions() {
        assert_eq!(as_i64("n", &json!("5")).unwrap(), 5);
        assert_eq!(as_i64("n", &json!(5.0)).unwrap(), 5);
        assert!(as_i64("n", &json!("five")).is_err());
        assert_eq!(as_f64("n", &json!("2.5")).unwrap(), 2.5);
        assert_eq!(as_str("s", &json!(5)).unwrap(), "5");
        assert!(as_str("s", &json!([1])).is_err());
        assert!(as_bool("b", &json!("yes")).unwrap());
        assert!(!as_bool("b", &json!(0)).unwrap());
        assert!(as_bool("b", &json!("maybe")).is_err());
        assert_eq!(
            as_str_list("l", &json!("0, 1,2")).unwrap(),
            vec!["0", "1", "2"]
        );
    }

    #[test]
    fn pub_kwargs_are_stripped_and_kwarg_dicts_merged() {
        let a = Args::from_job(
            vec![json!("x"), json!({"__kwarg__": true, "cwd": "/tmp"})],
            json!({"__pub_jid": "1", "env": {}})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert_eq!(a.arg, vec![json!("x")]);
        assert_eq!(Value::Object(a.kwarg), json!({"cwd": "/tmp", "env": {}}));
    }

    #[test]
    fn names_are_unique_and_documented() {
        let all = functions();
        assert!(all.len() > 20, "{}", all.len());
        for w in all.windows(2) {
            assert_ne!(w[0].name, w[1].name, "registered twice");
        }
        for f in all {
            let (m, fun) = f.name.split_once('.').unwrap_or(("", ""));
            assert!(
                !m.is_empty() && !fun.is_empty() && !fun.contains('.'),
                "bad name {}",
                f.name
            );
            assert!(!f.doc.trim().is_empty(), "{} has no doc", f.name);
            assert!(
                f.cli_example.contains(f.name),
                "{}: example does not call it",
                f.name
            );
            assert!(
                f.cli_example.starts_with("brine"),
                "{}: example is not a command",
                f.name
            );
            assert!(std::ptr::eq(lookup(f.name).unwrap(), *f));
        }
        assert!(lookup("no.such").is_none());
    }

    /// `docs/modules.md` is `render_docs()`; after changing a module's table,
    /// regenerate it with `BRINE_BLESS=1 cargo test -p brine-minion docs`.
    #[test]
    fn docs_file_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/modules.md");
        let want = render_docs();
        if std::env::var_os("BRINE_BLESS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &want).unwrap();
            return;
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "docs/modules.md is out of date: regenerate it with `BRINE_BLESS=1 cargo test -p brine-minion docs`"
        );
    }
}
