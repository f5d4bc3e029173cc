//! Test doubles: a temp root with `salt://` files, a template renderer that
//! substitutes `{{ key }}` from the context, and a caller that knows nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::caller::{CallError, ExecCaller};
use crate::ctx::{StateArgs, StateCtx, TemplateRenderer};
use crate::registry::lookup;
use crate::result::StateResult;
use crate::source::LocalRoots;

pub struct Subst;

impl TemplateRenderer for Subst {
    fn render(
        &self,
        engine: &str,
        text: &str,
        _source_path: &str,
        extra: &Map<String, Value>,
    ) -> Result<String, String> {
        if engine != "jinja" {
            return Err(format!(
                "Specified template format {engine} is not supported"
            ));
        }
        let mut out = text.to_string();
        for (k, v) in extra {
            let shown = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out = out.replace(&format!("{{{{ {k} }}}}"), &shown);
        }
        if out.contains("{{") {
            return Err("Jinja variable is undefined".to_string());
        }
        Ok(out)
    }
}

pub struct NoCalls;

impl ExecCaller for NoCalls {
    fn call(&self, fun: &str, _: Vec<Value>, _: Map<String, Value>) -> Result<Value, CallError> {
        Err(CallError::Unknown(fun.to_string()))
    }
    fn has(&self, _: &str) -> bool {
        false
    }
}

/// A temp dir with `srv/` as the `base` file root, `cache/` as cachedir and
/// `t/` as the place states act on.
pub struct Kit {
    pub tmp: tempfile::TempDir,
    pub roots: LocalRoots,
    pub grains: Map<String, Value>,
    pub pillar: Value,
}

impl Kit {
    pub fn new() -> Kit {
        let tmp = tempfile::TempDir::new().unwrap();
        std::fs::create_dir_all(tmp.path().join("srv")).unwrap();
        std::fs::create_dir_all(tmp.path().join("t")).unwrap();
        let mut roots = BTreeMap::new();
        roots.insert("base".to_string(), vec![tmp.path().join("srv")]);
        Kit {
            roots: LocalRoots::new(roots),
            tmp,
            grains: Map::new(),
            pillar: Value::Object(Map::new()),
        }
    }

    /// A path under `t/`, as a string for `name`.
    pub fn path(&self, rel: &str) -> String {
        self.tmp
            .path()
            .join("t")
            .join(rel)
            .to_string_lossy()
            .into_owned()
    }

    pub fn root(&self) -> PathBuf {
        self.tmp.path().join("t")
    }

    /// Puts a file in the `salt://` root.
    pub fn serve(&self, rel: &str, text: &str) {
        let p = self.tmp.path().join("srv").join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub fn run(&self, fun: &str, name: &str, args: Value, test: bool) -> StateResult {
        let ctx = StateCtx {
            test,
            saltenv: "base".into(),
            grains: &self.grains,
            pillar: &self.pillar,
            files: &self.roots,
            templates: &Subst,
            caller: &NoCalls,
            cachedir: self.tmp.path().join("cache"),
            cancel: Default::default(),
            run: Default::default(),
        };
        let args = StateArgs {
            name: name.to_string(),
            args: args.as_object().cloned().unwrap_or_default(),
        };
        let spec = lookup(fun).unwrap_or_else(|| panic!("{fun} is not registered"));
        (spec.run)(&ctx, &args)
    }
}

/// Every path under `dir` with its content (files), target (links) or `/`
/// (dirs), and mode: to assert a dry run changed nothing.
pub fn snapshot(dir: &Path) -> Vec<(String, String)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let what = if meta.is_symlink() {
                format!("-> {}", std::fs::read_link(&p).unwrap().display())
            } else if meta.is_dir() {
                stack.push(p.clone());
                "/".to_string()
            } else {
                String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned()
            };
            out.push((
                p.display().to_string(),
                format!("{what} {:o} {}:{}", meta.mode(), meta.uid(), meta.gid()),
            ));
        }
    }
    out.sort();
    out
}
