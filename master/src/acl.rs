//! Salt's publisher ACL: which functions a user other than root (or the
//! master's own user) may run, on which minions, and which runners and key
//! (wheel) commands. One mechanism for every caller the master does not
//! trust fully: local users of the CLI socket today, API users later.
//!
//! ```yaml
//! publisher_acl:
//!   fred:                       # a user name, glob or regex
//!     - test.*                  # these functions on every minion
//!     - 'web*':                 # a target (compound) and what may run there
//!       - pkg.list_pkgs
//!       - cmd.run:              # a function with argument conditions
//!           args: ['ls.*']
//!     - '@runner'               # every runner; {'@jobs': [list_jobs]} some
//!     - '@wheel'                # key management
//!   'admins%':                  # members of group `admins`
//!     - .*
//! publisher_acl_blacklist:
//!   users: [root, '^(?!sudo_).*$']
//!   modules: [cmd.*]
//! ```
//!
//! As in Salt (salt/utils/minions.py `auth_check`, `spec_check`,
//! salt/acl), function and argument patterns are regular expressions, user
//! names and blacklist entries match exactly, as globs or as regexes. One
//! difference: a function pattern must match the whole name (Salt's
//! `re.match` only anchors the start, so `test.ping` also allowed
//! `test.ping_anything`).

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::{Map, Value};

/// Who is asking: the user behind a local socket (from the kernel) or,
/// later, an authenticated API user.
#[derive(Clone, Debug)]
pub struct Caller {
    pub name: String,
    /// Groups the user belongs to (primary and supplementary), for `name%` entries.
    pub groups: Vec<String>,
    /// Root or the master's own user: the ACL does not restrict them (the
    /// blacklist still does, as in Salt).
    pub unrestricted: bool,
}

/// What the caller wants to do.
#[derive(Clone, Debug)]
pub enum Action<'a> {
    /// Run `fun` on `minions`, the accepted minions the target `tgt` names.
    Publish {
        tgt: &'a str,
        minions: &'a [String],
        fun: &'a str,
        arg: &'a [Value],
        kwarg: &'a Map<String, Value>,
    },
    /// A master runner (`brine-run jobs.list_jobs`).
    Runner {
        fun: &'a str,
        arg: &'a [Value],
        kwarg: &'a Map<String, Value>,
    },
    /// Key management, as Salt's wheel `key.*` names it (`key.accept`).
    Wheel { fun: &'a str, arg: &'a [Value] },
}

impl Action<'_> {
    pub fn fun(&self) -> &str {
        match self {
            Action::Publish { fun, .. }
            | Action::Runner { fun, .. }
            | Action::Wheel { fun, .. } => fun,
        }
    }
}

/// Why a call is refused; the text is what the caller and the log see.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("user '{user}' is blacklisted (publisher_acl_blacklist)")]
    UserBlacklisted { user: String },
    #[error("function '{fun}' is blacklisted (publisher_acl_blacklist)")]
    FunctionBlacklisted { fun: String },
    #[error("user '{user}' has no entry in publisher_acl")]
    NoEntry { user: String },
    #[error("user '{user}' may not run '{fun}' on target '{tgt}' (publisher_acl)")]
    Publish {
        user: String,
        fun: String,
        tgt: String,
    },
    #[error("user '{user}' may not run the {form} '{fun}' (publisher_acl)")]
    Special {
        user: String,
        form: &'static str,
        fun: String,
    },
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AclConfigError(String);

/// A function pattern with optional argument conditions.
#[derive(Clone, Debug)]
struct FunRule {
    fun: Regex,
    /// Empty: any arguments. Else one of these must hold (Salt's `args`/`kwargs`).
    args: Vec<ArgRule>,
}

#[derive(Clone, Debug)]
struct ArgRule {
    /// Positional conditions; `None` (YAML null) allows any value but the
    /// argument must be there.
    args: Vec<Option<Regex>>,
    kwargs: BTreeMap<String, Option<Regex>>,
}

#[derive(Clone, Debug)]
enum Rule {
    /// A function pattern, allowed on every minion.
    Fun(FunRule),
    /// `{target: [funs]}`, or for runners/wheel `{'@runner': [funs]}`.
    Scoped { scope: String, funs: Vec<FunRule> },
    /// `@runner`, `@wheel`, `@jobs` (a runner module).
    Special(String),
}

#[derive(Clone, Debug)]
enum Principal {
    User(String),
    Group(String),
}

/// `publisher_acl` and `publisher_acl_blacklist` as read from the config.
#[derive(Clone, Debug, Default)]
pub struct PublisherAcl {
    entries: Vec<(Principal, Vec<Rule>)>,
    blacklist_users: Vec<String>,
    blacklist_modules: Vec<String>,
}

impl PublisherAcl {
    /// Reads the two options (either may be absent).
    pub fn from_yaml(
        acl: Option<&serde_yaml::Value>,
        blacklist: Option<&serde_yaml::Value>,
    ) -> Result<PublisherAcl, AclConfigError> {
        use serde_yaml::Value as Y;
        let mut out = PublisherAcl::default();
        match acl {
            None | Some(Y::Null) => {}
            Some(Y::Mapping(m)) => {
                for (who, rules) in m {
                    let who = scalar(who).ok_or_else(|| {
                        AclConfigError(format!("{who:?} is not a user or group name"))
                    })?;
                    let principal = match who.strip_suffix('%') {
                        Some(group) => Principal::Group(group.to_string()),
                        None => Principal::User(who.clone()),
                    };
                    let rules = match rules {
                        Y::Null => Vec::new(),
                        Y::Sequence(items) => items
                            .iter()
                            .map(|i| rule(i).map_err(|e| AclConfigError(format!("'{who}': {e}"))))
                            .collect::<Result<_, _>>()?,
                        other => {
                            return Err(AclConfigError(format!(
                                "'{who}': expected a list of functions or targets, got {other:?}"
                            )))
                        }
                    };
                    out.entries.push((principal, rules));
                }
            }
            Some(other) => {
                return Err(AclConfigError(format!(
                    "expected a mapping of users to lists, got {other:?}"
                )))
            }
        }
        match blacklist {
            None | Some(Y::Null) => {}
            Some(Y::Mapping(m)) => {
                for (k, v) in m {
                    let list = match v {
                        Y::Null => Vec::new(),
                        Y::Sequence(items) => items
                            .iter()
                            .map(|i| {
                                scalar(i).ok_or_else(|| {
                                    AclConfigError(format!(
                                        "publisher_acl_blacklist: {i:?} is not a name or pattern"
                                    ))
                                })
                            })
                            .collect::<Result<_, _>>()?,
                        other => {
                            return Err(AclConfigError(format!(
                                "publisher_acl_blacklist: expected a list, got {other:?}"
                            )))
                        }
                    };
                    match scalar(k).as_deref() {
                        Some("users") => out.blacklist_users = list,
                        Some("modules") => out.blacklist_modules = list,
                        _ => {
                            return Err(AclConfigError(format!(
                                "publisher_acl_blacklist: {k:?} is neither 'users' nor 'modules'"
                            )))
                        }
                    }
                }
            }
            Some(other) => {
                return Err(AclConfigError(format!(
                "publisher_acl_blacklist: expected {{users: [...], modules: [...]}}, got {other:?}"
            )))
            }
        }
        Ok(out)
    }

    /// Whether any user has an entry (then non-root users may reach the
    /// CLI socket at all).
    pub fn has_entries(&self) -> bool {
        !self.entries.is_empty()
    }

    /// Whether some entry names `caller` (its user or one of its groups).
    pub fn names(&self, caller: &Caller) -> bool {
        !self.rules_for(caller).is_empty()
    }

    /// Whether `publisher_acl_blacklist` lists anything (it binds root too).
    pub fn has_blacklist(&self) -> bool {
        !self.blacklist_users.is_empty() || !self.blacklist_modules.is_empty()
    }

    /// Decides whether `caller` may do `action`. `minions_of(tgt)` resolves
    /// an ACL entry's (compound) target to the accepted minions it names; a
    /// publication may only reach minions an allowing entry's target also
    /// reaches.
    pub fn check(
        &self,
        caller: &Caller,
        action: &Action<'_>,
        minions_of: &dyn Fn(&str) -> Result<Vec<String>, String>,
    ) -> Result<(), Denied> {
        if self
            .blacklist_users
            .iter()
            .any(|p| expr_match(&caller.name, p))
        {
            return Err(Denied::UserBlacklisted {
                user: caller.name.clone(),
            });
        }
        // Salt blacklists modules for publications only.
        if let Action::Publish { fun, .. } = action {
            if self.blacklist_modules.iter().any(|p| expr_match(fun, p)) {
                return Err(Denied::FunctionBlacklisted {
                    fun: fun.to_string(),
                });
            }
        }
        if caller.unrestricted {
            return Ok(());
        }
        let rules = self.rules_for(caller);
        if rules.is_empty() {
            return Err(Denied::NoEntry {
                user: caller.name.clone(),
            });
        }
        let allowed = match action {
            Action::Publish {
                minions,
                fun,
                arg,
                kwarg,
                ..
            } => publish_allowed(&rules, minions, fun, arg, kwarg, minions_of),
            Action::Runner { fun, arg, kwarg } => {
                special_allowed(&rules, "runner", fun, arg, Some(kwarg))
            }
            Action::Wheel { fun, arg } => special_allowed(&rules, "wheel", fun, arg, None),
        };
        if allowed {
            return Ok(());
        }
        Err(match action {
            Action::Publish { tgt, fun, .. } => Denied::Publish {
                user: caller.name.clone(),
                fun: fun.to_string(),
                tgt: tgt.to_string(),
            },
            Action::Runner { fun, .. } => Denied::Special {
                user: caller.name.clone(),
                form: "runner",
                fun: fun.to_string(),
            },
            Action::Wheel { fun, .. } => Denied::Special {
                user: caller.name.clone(),
                form: "key command",
                fun: fun.to_string(),
            },
        })
    }

    /// Every rule of the entries naming the caller or one of its groups.
    fn rules_for(&self, caller: &Caller) -> Vec<&Rule> {
        self.entries
            .iter()
            .filter(|(who, _)| match who {
                Principal::User(p) => expr_match(&caller.name, p),
                Principal::Group(g) => caller.groups.iter().any(|cg| cg == g),
            })
            .flat_map(|(_, rules)| rules.iter())
            .collect()
    }
}

/// Salt's `auth_check`: a bare function pattern allows it everywhere; a
/// `{target: funs}` entry allows it when every minion of the caller's
/// target is one of the entry's.
fn publish_allowed(
    rules: &[&Rule],
    wanted: &[String],
    fun: &str,
    arg: &[Value],
    kwarg: &Map<String, Value>,
    minions_of: &dyn Fn(&str) -> Result<Vec<String>, String>,
) -> bool {
    for rule in rules {
        match rule {
            Rule::Fun(f) if f.fun.is_match(fun) && f.args_ok(arg, Some(kwarg)) => return true,
            Rule::Scoped { scope, funs } if !scope.starts_with('@') => {
                if !funs
                    .iter()
                    .any(|f| f.fun.is_match(fun) && f.args_ok(arg, Some(kwarg)))
                {
                    continue;
                }
                let Ok(allowed) = minions_of(scope) else {
                    continue;
                };
                if wanted.iter().all(|m| allowed.contains(m)) {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

/// Salt's `spec_check`: `@runner`/`@runners` (or `@wheel`) allows every
/// one, `@jobs` every function of that module; `{'@runner': [funs]}`
/// matches the full name, `{'@jobs': [funs]}` the function's name.
fn special_allowed(
    rules: &[&Rule],
    form: &str,
    fun: &str,
    arg: &[Value],
    kwarg: Option<&Map<String, Value>>,
) -> bool {
    let Some((module, fun_name)) = fun.split_once('.') else {
        return false;
    };
    let is_form = |s: &str| s == form || s.strip_suffix('s') == Some(form);
    for rule in rules {
        match rule {
            Rule::Special(s) => {
                if s == module || is_form(s) {
                    return true;
                }
            }
            Rule::Scoped { scope, funs } => {
                let Some(s) = scope.strip_prefix('@') else {
                    continue;
                };
                if s == module && funs.iter().any(|f| f.matches(fun_name, arg, kwarg)) {
                    return true;
                }
                if is_form(s) && funs.iter().any(|f| f.matches(fun, arg, kwarg)) {
                    return true;
                }
            }
            Rule::Fun(_) => {}
        }
    }
    false
}

impl FunRule {
    fn matches(&self, fun: &str, arg: &[Value], kwarg: Option<&Map<String, Value>>) -> bool {
        self.fun.is_match(fun) && self.args_ok(arg, kwarg)
    }

    /// Salt's `__args_check`: some condition holds for every argument it names.
    fn args_ok(&self, arg: &[Value], kwarg: Option<&Map<String, Value>>) -> bool {
        if self.args.is_empty() {
            return true;
        }
        self.args.iter().any(|cond| {
            let positional = cond
                .args
                .iter()
                .enumerate()
                .all(|(i, re)| match arg.get(i) {
                    None => false,
                    Some(v) => re.as_ref().is_none_or(|re| re.is_match(&text(v))),
                });
            positional
                && cond
                    .kwargs
                    .iter()
                    .all(|(k, re)| match kwarg.and_then(|kw| kw.get(k)) {
                        None => false,
                        Some(v) => re.as_ref().is_none_or(|re| re.is_match(&text(v))),
                    })
        })
    }
}

/// An argument as Salt compares it: its text (`str(arg)`).
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A whole-string regex from an ACL pattern.
fn anchored(pattern: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| format!("'{pattern}' is not a valid regular expression: {e}"))
}

/// Salt's `expr_match`: equal, a shell glob, or a whole-string regex.
fn expr_match(text: &str, pattern: &str) -> bool {
    if text == pattern {
        return true;
    }
    if let Ok(g) = globset::GlobBuilder::new(pattern)
        .literal_separator(false)
        .build()
    {
        if g.compile_matcher().is_match(text) {
            return true;
        }
    }
    anchored(pattern).is_ok_and(|re| re.is_match(text))
}

fn scalar(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn rule(item: &serde_yaml::Value) -> Result<Rule, String> {
    use serde_yaml::Value as Y;
    match item {
        Y::String(s) if s.starts_with('@') => Ok(Rule::Special(s[1..].to_string())),
        Y::String(s) => Ok(Rule::Fun(FunRule {
            fun: anchored(s)?,
            args: Vec::new(),
        })),
        Y::Mapping(m) if m.len() == 1 => {
            let (k, v) = m.iter().next().expect("one entry");
            let scope = scalar(k).ok_or_else(|| format!("{k:?} is not a target"))?;
            let funs = match v {
                Y::Sequence(items) => items.iter().map(fun_rule).collect::<Result<_, _>>()?,
                one => vec![fun_rule(one)?],
            };
            Ok(Rule::Scoped { scope, funs })
        }
        other => Err(format!(
            "{other:?} is neither a function pattern nor {{target: [functions]}}"
        )),
    }
}

fn fun_rule(item: &serde_yaml::Value) -> Result<FunRule, String> {
    use serde_yaml::Value as Y;
    match item {
        Y::String(s) => Ok(FunRule {
            fun: anchored(s)?,
            args: Vec::new(),
        }),
        Y::Mapping(m) if m.len() == 1 => {
            let (k, v) = m.iter().next().expect("one entry");
            let fun = scalar(k).ok_or_else(|| format!("{k:?} is not a function pattern"))?;
            let conds = match v {
                Y::Sequence(items) => items.iter().map(arg_rule).collect::<Result<_, _>>()?,
                one => vec![arg_rule(one)?],
            };
            Ok(FunRule {
                fun: anchored(&fun)?,
                args: conds,
            })
        }
        other => Err(format!("{other:?} is not a function pattern")),
    }
}

fn arg_rule(item: &serde_yaml::Value) -> Result<ArgRule, String> {
    use serde_yaml::Value as Y;
    let pattern = |v: &Y| -> Result<Option<Regex>, String> {
        match v {
            Y::Null => Ok(None),
            other => {
                let s = scalar(other).ok_or_else(|| format!("{other:?} is not a pattern"))?;
                anchored(&s).map(Some)
            }
        }
    };
    let Y::Mapping(m) = item else {
        return Err(format!(
            "{item:?}: argument conditions are {{args: [...], kwargs: {{...}}}}"
        ));
    };
    let mut out = ArgRule {
        args: Vec::new(),
        kwargs: BTreeMap::new(),
    };
    for (k, v) in m {
        match (scalar(k).as_deref(), v) {
            (Some("args"), Y::Sequence(items)) => {
                out.args = items.iter().map(pattern).collect::<Result<_, _>>()?
            }
            (Some("kwargs"), Y::Mapping(kw)) => {
                for (name, p) in kw {
                    let name = scalar(name).ok_or_else(|| format!("{name:?} is not a name"))?;
                    out.kwargs.insert(name, pattern(p)?);
                }
            }
            _ => {
                return Err(format!(
                    "{k:?}: argument conditions are {{args: [...], kwargs: {{...}}}}"
                ))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(text: &str) -> PublisherAcl {
        let v: serde_yaml::Value = serde_yaml::from_str(text).unwrap();
        PublisherAcl::from_yaml(v.get("publisher_acl"), v.get("publisher_acl_blacklist")).unwrap()
    }

    fn user(name: &str, groups: &[&str]) -> Caller {
        Caller {
            name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            unrestricted: false,
        }
    }

    /// Minions: web1, web2, db1; a target is a glob on the id here.
    fn minions(tgt: &str) -> Result<Vec<String>, String> {
        let all = ["web1", "web2", "db1"];
        let g = globset::Glob::new(tgt)
            .map_err(|e| e.to_string())?
            .compile_matcher();
        Ok(all
            .iter()
            .filter(|m| g.is_match(m))
            .map(|m| m.to_string())
            .collect())
    }

    fn publish(acl: &PublisherAcl, who: &Caller, tgt: &str, fun: &str, arg: &[Value]) -> bool {
        let kwarg = Map::new();
        let targeted = minions(tgt).unwrap();
        acl.check(
            who,
            &Action::Publish {
                tgt,
                minions: &targeted,
                fun,
                arg,
                kwarg: &kwarg,
            },
            &minions,
        )
        .is_ok()
    }

    const ACL: &str = "
publisher_acl:
  fred:
    - test.*
    - 'web*':
      - pkg.list_pkgs
      - cmd.run:
          args: ['ls( .*)?']
  'ops%':
    - '@runner'
  'dev.*':
    - {'@jobs': [list_jobs]}
    - {'@wheel': [key.list_all]}
publisher_acl_blacklist:
  users: [mallory]
  modules: [cmd.script]
";

    #[test]
    fn functions_are_allowed_everywhere_or_on_their_target() {
        let a = acl(ACL);
        let fred = user("fred", &[]);
        assert!(publish(&a, &fred, "*", "test.ping", &[]));
        assert!(publish(&a, &fred, "web*", "pkg.list_pkgs", &[]));
        assert!(publish(&a, &fred, "web1", "pkg.list_pkgs", &[]));
        // db1 is outside the entry's target.
        assert!(!publish(&a, &fred, "*", "pkg.list_pkgs", &[]));
        assert!(!publish(&a, &fred, "db1", "pkg.list_pkgs", &[]));
        // The whole name must match.
        assert!(!publish(&a, &fred, "web1", "pkg.list_pkgs_evil", &[]));
        assert!(!publish(&a, &fred, "web1", "state.apply", &[]));
    }

    #[test]
    fn argument_conditions_hold() {
        let a = acl(ACL);
        let fred = user("fred", &[]);
        assert!(publish(
            &a,
            &fred,
            "web1",
            "cmd.run",
            &[Value::from("ls -l")]
        ));
        assert!(!publish(
            &a,
            &fred,
            "web1",
            "cmd.run",
            &[Value::from("rm -rf /")]
        ));
        assert!(!publish(&a, &fred, "web1", "cmd.run", &[]));
    }

    #[test]
    fn unknown_users_and_the_blacklist_are_refused_root_is_not() {
        let a = acl(ACL);
        let err = a
            .check(
                &user("eve", &[]),
                &Action::Runner {
                    fun: "jobs.list_jobs",
                    arg: &[],
                    kwarg: &Map::new(),
                },
                &minions,
            )
            .unwrap_err();
        assert_eq!(err.to_string(), "user 'eve' has no entry in publisher_acl");
        let root = Caller {
            unrestricted: true,
            ..user("root", &[])
        };
        assert!(publish(&a, &root, "*", "cmd.run", &[]));
        assert!(!publish(&a, &root, "*", "cmd.script", &[]));
        let mallory = Caller {
            unrestricted: true,
            ..user("mallory", &[])
        };
        assert!(!publish(&a, &mallory, "*", "test.ping", &[]));
    }

    #[test]
    fn runners_and_wheel_follow_salts_spec_check() {
        let a = acl(ACL);
        let runner = |who: &Caller, fun: &str| {
            a.check(
                who,
                &Action::Runner {
                    fun,
                    arg: &[],
                    kwarg: &Map::new(),
                },
                &minions,
            )
            .is_ok()
        };
        let wheel = |who: &Caller, fun: &str| {
            a.check(who, &Action::Wheel { fun, arg: &[] }, &minions)
                .is_ok()
        };
        let ops = user("olga", &["ops"]);
        assert!(runner(&ops, "manage.status"));
        assert!(!wheel(&ops, "key.accept"));
        let dev = user("dev1", &[]);
        assert!(runner(&dev, "jobs.list_jobs"));
        assert!(!runner(&dev, "jobs.lookup_jid"));
        assert!(wheel(&dev, "key.list_all"));
        assert!(!wheel(&dev, "key.delete"));
        // fred's function rules do not open runners.
        assert!(!runner(&user("fred", &[]), "jobs.list_jobs"));
    }

    #[test]
    fn bad_acls_are_named() {
        let v: serde_yaml::Value = serde_yaml::from_str("fred: [{'a': 1, 'b': 2}]").unwrap();
        assert!(PublisherAcl::from_yaml(Some(&v), None).is_err());
        let v: serde_yaml::Value = serde_yaml::from_str("fred: ['(']").unwrap();
        let err = PublisherAcl::from_yaml(Some(&v), None).unwrap_err();
        assert!(err.to_string().contains("regular expression"), "{err}");
        let v: serde_yaml::Value = serde_yaml::from_str("people: [a]").unwrap();
        assert!(PublisherAcl::from_yaml(None, Some(&v)).is_err());
    }
}
