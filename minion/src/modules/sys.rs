//! `sys.*`: what this minion offers, from the static function table.

use serde_json::{Map, Value};

use crate::registry::{self, as_str, Args, CallCtx, FunctionSpec, ModFuture};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "sys.doc",
        doc: "Return the documentation of functions: {name: doc}.\n\n\
              - names: modules (`cmd`), functions (`cmd.run`) or globs (`cmd.run*`); \
              none: every function.",
        cli_example: "brine '*' sys.doc cmd.run\nbrine '*' sys.doc test 'grains.*'",
        run: doc,
    },
    FunctionSpec {
        name: "sys.list_functions",
        doc: "List the functions this minion offers, sorted.\n\n\
              - names: modules (`sys` matches sys.* but not sysctl.*) or globs (`sys.list_*`); \
              none: every function.",
        cli_example: "brine '*' sys.list_functions\nbrine '*' sys.list_functions sys\nbrine '*' sys.list_functions 'sys.list_*'",
        run: list_functions,
    },
    FunctionSpec {
        name: "sys.list_modules",
        doc: "List the modules this minion offers, sorted.\n\n\
              - names: module names, or globs matched against function names (`s*`); \
              none: every module.",
        cli_example: "brine '*' sys.list_modules\nbrine '*' sys.list_modules 's*'",
        run: list_modules,
    },
    FunctionSpec {
        name: "sys.list_state_functions",
        doc: "List the state functions this minion applies (file.managed, pkg.installed, ...), sorted.\n\n\
              - names: state modules (`file`) or globs (`file.*`); none: every state function.",
        cli_example: "brine '*' sys.list_state_functions\nbrine '*' sys.list_state_functions file pkg",
        run: list_state_functions,
    },
    FunctionSpec {
        name: "sys.list_state_modules",
        doc: "List the state modules this minion applies, sorted.\n\n\
              - names: globs matched against the module names; none: every state module.",
        cli_example: "brine '*' sys.list_state_modules\nbrine '*' sys.list_state_modules 'ssh*'",
        run: list_state_modules,
    },
    FunctionSpec {
        name: "sys.state_doc",
        doc: "Return the documentation of state functions: {name: doc}.\n\n\
              - names: state modules (`file`), functions (`file.managed`) or globs; none: every one.",
        cli_example: "brine '*' sys.state_doc file.managed\nbrine '*' sys.state_doc pkgrepo",
        run: state_doc,
    },
];

/// Python's `fnmatch.fnmatchcase`: `*` any run, `?` one character, `[abc]`,
/// `[a-z]`, `[!a]` one character of (or not of) a set; an unclosed `[` is literal.
pub(crate) fn fnmatch(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matcher with one backtrack point for the last `*`.
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('[') => match class(&p[pi..], n[ni]) {
                Some((true, len)) => Some(len),
                Some((false, _)) => None,
                None => (n[ni] == '[').then_some(1),
            },
            Some(c) => (*c == n[ni]).then_some(1),
            None => None,
        };
        match step {
            Some(len) => {
                pi += len;
                ni += 1;
            }
            None => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Matches `c` against the class at the start of `p` (`[...]`): Some((matched,
/// pattern length)), or None when the `[` is not closed.
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some('!'));
    if negate {
        i += 1;
    }
    let start = i;
    let mut matched = false;
    while i < p.len() {
        if p[i] == ']' && i > start {
            return Some((matched != negate, i + 1));
        }
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            if p[i] <= c && c <= p[i + 2] {
                matched = true;
            }
            i += 3;
        } else {
            if p[i] == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

fn names(args: Args) -> Result<Vec<String>, crate::registry::ModError> {
    let mut a = args.parser();
    let names = a.rest(0);
    a.finish()?;
    names.iter().map(|v| as_str("names", v)).collect()
}

fn module_of(fun: &str) -> &str {
    fun.split('.').next().unwrap_or(fun)
}

/// Salt's selection: a glob (`*` in it, or a `.` for list_functions) matches
/// function names; a bare name selects its module's functions.
fn select(patterns: &[String], dot_is_glob: bool) -> Vec<&'static FunctionSpec> {
    let all = registry::functions();
    if patterns.is_empty() {
        return all.to_vec();
    }
    all.iter()
        .copied()
        .filter(|f| {
            patterns.iter().any(|p| {
                if p.contains('*') || (dot_is_glob && p.contains('.')) {
                    fnmatch(p, f.name)
                } else {
                    let module = p.strip_suffix('.').unwrap_or(p);
                    f.name == p.as_str() || module_of(f.name) == module
                }
            })
        })
        .collect()
}

fn list_functions(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let patterns = names(args)?;
        let funs: Vec<Value> = select(&patterns, true)
            .iter()
            .map(|f| Value::String(f.name.to_string()))
            .collect();
        Ok(Value::Array(funs).into())
    })
}

fn list_modules(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let patterns = names(args)?;
        let mut mods: Vec<&str> = select(&patterns, false)
            .iter()
            .map(|f| module_of(f.name))
            .collect();
        mods.dedup();
        Ok(Value::Array(mods.into_iter().map(|m| Value::String(m.into())).collect()).into())
    })
}

/// The state table's entries chosen by Salt's rule for `sys.list_state_functions`
/// (a glob or a dotted name matches function names; a bare name selects a module).
fn select_states(patterns: &[String]) -> Vec<&'static brine_states::registry::StateSpec> {
    let all = brine_states::registry::states();
    all.iter()
        .copied()
        .filter(|s| {
            patterns.is_empty()
                || patterns.iter().any(|p| {
                    if p.contains('*') || p.contains('.') {
                        fnmatch(p, s.name)
                    } else {
                        module_of(s.name) == p.as_str()
                    }
                })
        })
        .collect()
}

fn list_state_functions(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let patterns = names(args)?;
        let funs = select_states(&patterns)
            .iter()
            .map(|s| Value::String(s.name.to_string()))
            .collect();
        Ok(Value::Array(funs).into())
    })
}

fn list_state_modules(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let patterns = names(args)?;
        let mut mods: Vec<&str> = brine_states::registry::states()
            .iter()
            .map(|s| module_of(s.name))
            .filter(|m| patterns.is_empty() || patterns.iter().any(|p| fnmatch(p, m)))
            .collect();
        mods.dedup();
        Ok(Value::Array(mods.into_iter().map(|m| Value::String(m.into())).collect()).into())
    })
}

fn state_doc(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let patterns = names(args)?;
        let docs: Map<String, Value> = select_states(&patterns)
            .iter()
            .map(|s| (s.name.to_string(), Value::String(s.doc.to_string())))
            .collect();
        Ok(Value::Object(docs).into())
    })
}

fn doc(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let patterns = names(args)?;
        let docs: Map<String, Value> = select(&patterns, false)
            .iter()
            .map(|f| (f.name.to_string(), Value::String(registry::doc_text(f))))
            .collect();
        Ok(Value::Object(docs).into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{test_ctx, with_fun, ModFn};
    use serde_json::json;

    async fn call(f: ModFn, name: &'static str, arg: Vec<Value>) -> Value {
        with_fun(name, f(test_ctx(), Args::new(arg, Map::new())))
            .await
            .unwrap()
            .value
    }

    #[test]
    fn fnmatch_like_python() {
        assert!(fnmatch("sys.list_*", "sys.list_modules"));
        assert!(fnmatch("*", ""));
        assert!(fnmatch("t?st.p*g", "test.ping"));
        assert!(fnmatch("[st]*", "sys.doc"));
        assert!(!fnmatch("[!st]*", "sys.doc"));
        assert!(fnmatch("cmd.run[_a-z]*", "cmd.run_all"));
        assert!(fnmatch("a[", "a["));
        assert!(!fnmatch("sys", "sysctl.get"));
        assert!(fnmatch("*.*ing", "test.ping"));
        assert!(!fnmatch("*.*ing", "test.pinga"));
    }

    #[tokio::test]
    async fn list_functions_by_module_or_glob() {
        let v = call(list_functions, "sys.list_functions", vec![json!("sys")]).await;
        assert_eq!(
            v,
            json!([
                "sys.doc",
                "sys.list_functions",
                "sys.list_modules",
                "sys.list_state_functions",
                "sys.list_state_modules",
                "sys.state_doc"
            ])
        );
        let v = call(
            list_functions,
            "sys.list_functions",
            vec![json!("sys.list_*s")],
        )
        .await;
        assert_eq!(
            v,
            json!([
                "sys.list_functions",
                "sys.list_modules",
                "sys.list_state_functions",
                "sys.list_state_modules"
            ])
        );
        let all = call(list_functions, "sys.list_functions", vec![]).await;
        assert_eq!(all.as_array().unwrap().len(), registry::functions().len());
        assert!(all.as_array().unwrap().contains(&json!("cmd.run")));
    }

    #[tokio::test]
    async fn state_functions_modules_and_doc() {
        let v = call(
            list_state_functions,
            "sys.list_state_functions",
            vec![json!("pkgrepo")],
        )
        .await;
        assert_eq!(v, json!(["pkgrepo.absent", "pkgrepo.managed"]));
        let v = call(list_state_functions, "sys.list_state_functions", vec![]).await;
        assert!(
            v.as_array().unwrap().contains(&json!("file.managed")),
            "{v}"
        );
        let v = call(
            list_state_modules,
            "sys.list_state_modules",
            vec![json!("ssh*")],
        )
        .await;
        assert_eq!(v, json!(["ssh_auth", "ssh_known_hosts"]));
        let v = call(state_doc, "sys.state_doc", vec![json!("mount.mounted")]).await;
        assert!(
            v["mount.mounted"].as_str().unwrap().starts_with("Verify"),
            "{v}"
        );
    }

    #[tokio::test]
    async fn list_modules_and_doc() {
        let v = call(list_modules, "sys.list_modules", vec![]).await;
        for m in ["cmd", "grains", "saltutil", "sys", "test"] {
            assert!(v.as_array().unwrap().contains(&json!(m)), "{v}");
        }
        let v = call(list_modules, "sys.list_modules", vec![json!("te*")]).await;
        assert_eq!(v, json!(["test"]));
        let v = call(doc, "sys.doc", vec![json!("test.ping")]).await;
        let text = v["test.ping"].as_str().unwrap();
        assert!(
            text.contains("CLI Example:\n\n    brine '*' test.ping"),
            "{text}"
        );
        assert_eq!(v.as_object().unwrap().len(), 1);
        let v = call(doc, "sys.doc", vec![json!("nosuchmodule")]).await;
        assert_eq!(v, json!({}));
    }
}
