//! Reading `ext_pillar` and the options around it from the master config,
//! shaped as Salt writes them:
//!
//! ```yaml
//! ext_pillar_first: false
//! pillar_source_merging_strategy: smart
//! pillar_merge_lists: false
//! ext_pillar:
//!   - cmd_yaml: /usr/local/bin/pillar-for %s
//!   - file_tree:
//!       root_dir: /srv/ext_pillar
//!   - git:
//!     - master https://git.example.com/pillar.git
//!     - dev file:///srv/pillar.git:
//!       - env: dev
//!       - root: pillar
//! ```

use std::path::PathBuf;
use std::time::Duration;

use brine_proto::conf::{ConfError, RawConfig};
use brine_states::pillar::Merging;
use serde_yaml::Value;

use crate::gitfs::conf::strip_dir;

/// Everything the master needs to add external pillars to a minion's pillar.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExtPillarConfig {
    /// The external pillars, compiled in this order.
    pub sources: Vec<Source>,
    /// `ext_pillar_first`: external pillars first, the pillar top's SLS
    /// (which see them as `pillar`) merged over them.
    pub first: bool,
    /// `pillar_source_merging_strategy` and `pillar_merge_lists`.
    pub merging: Merging,
    /// `git_pillar_update_interval`: a git ext_pillar remote is fetched again
    /// when its last fetch is older than this.
    pub git_update_interval: Duration,
}

/// One entry of `ext_pillar`.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// `cmd_yaml: 'command args'`: the command's stdout read as YAML.
    CmdYaml(String),
    /// `cmd_json: 'command args'`: the command's stdout read as JSON.
    CmdJson(String),
    FileTree(FileTree),
    /// `git: [...]`: one group of git_pillar remotes.
    Git(Vec<GitRemote>),
}

impl Source {
    /// The ext_pillar interface name, as Salt's messages give it.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::CmdYaml(_) => "cmd_yaml",
            Source::CmdJson(_) => "cmd_json",
            Source::FileTree(_) => "file_tree",
            Source::Git(_) => "git",
        }
    }
}

/// `file_tree` options (Salt's argument names).
#[derive(Debug, Clone, PartialEq)]
pub struct FileTree {
    /// Absolute, or relative to each pillar root of the minion's pillarenv.
    pub root_dir: PathBuf,
    pub follow_dir_links: bool,
    pub keep_newline: KeepNewline,
    /// Render each file with the pillar renderer (Jinja, then YAML).
    pub template: bool,
}

/// `keep_newline`: for every file, or for the files whose path (relative to
/// the host or nodegroup directory) matches one of the globs.
#[derive(Debug, Clone, PartialEq)]
pub enum KeepNewline {
    All(bool),
    Globs(Vec<String>),
}

/// One git_pillar remote: `'<branch> <url>'`, optionally with per-remote
/// options.
#[derive(Debug, Clone, PartialEq)]
pub struct GitRemote {
    pub url: String,
    /// The branch (or tag) checked out; `__env__`: the minion's pillarenv,
    /// else `git_pillar_base`.
    pub branch: String,
    /// The pillar environment (per-remote `env`); None: `base` for the
    /// `git_pillar_base` branch, the branch name otherwise.
    pub env: Option<String>,
    /// Directory of the repository holding the top file and SLS.
    pub root: String,
    /// Where this remote's files appear for the other remotes of its group.
    pub mountpoint: String,
    pub name: Option<String>,
    /// `git_pillar_base`: the branch that is environment `base`.
    pub base: String,
}

impl GitRemote {
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => format!("{} {}", self.branch, self.url),
        }
    }
}

/// Options other git_pillar implementations take that Brine has no use for
/// (authentication goes through git's own configuration, as for gitfs).
const GIT_IGNORED: &[&str] = &[
    "privkey",
    "pubkey",
    "passphrase",
    "user",
    "password",
    "insecure_auth",
    "ssl_verify",
    "refspecs",
    "fallback",
];

/// Reads `ext_pillar`, `ext_pillar_first`, `pillar_source_merging_strategy`,
/// `pillar_merge_lists` and the `git_pillar_*` defaults from `raw`.
pub fn from_raw(raw: &mut RawConfig) -> Result<ExtPillarConfig, ConfError> {
    let file = raw.file().to_string();
    let bad = |key: &str, message: String| ConfError::BadValue {
        file: file.clone(),
        key: key.to_string(),
        message,
    };
    let strategy = raw
        .get::<String>("pillar_source_merging_strategy")?
        .unwrap_or_else(|| "smart".into());
    if !Merging::STRATEGIES.contains(&strategy.as_str()) {
        return Err(bad(
            "pillar_source_merging_strategy",
            format!(
                "unknown strategy '{strategy}' (one of: {})",
                Merging::STRATEGIES.join(", ")
            ),
        ));
    }
    let merging = Merging {
        strategy,
        merge_lists: raw.get("pillar_merge_lists")?.unwrap_or(false),
    };
    let first = raw.get("ext_pillar_first")?.unwrap_or(false);
    let git_defaults = GitDefaults {
        base: raw
            .get::<Value>("git_pillar_base")?
            .map(|v| scalar(&v))
            .unwrap_or_else(|| "master".into()),
        branch: raw
            .get::<Value>("git_pillar_branch")?
            .map(|v| scalar(&v))
            .unwrap_or_else(|| "master".into()),
        root: strip_dir(&raw.get::<String>("git_pillar_root")?.unwrap_or_default()),
        env: raw.get::<Value>("git_pillar_env")?.map(|v| scalar(&v)),
    };
    let git_update_interval = raw.get_secs("git_pillar_update_interval", 60.0, 1.0)?;
    let sources = match raw.get::<Value>("ext_pillar")? {
        None => Vec::new(),
        Some(Value::Sequence(items)) => {
            let mut sources = Vec::new();
            for item in items {
                if let Some(s) =
                    parse_source(item, &git_defaults).map_err(|m| bad("ext_pillar", m))?
                {
                    sources.push(s);
                }
            }
            sources
        }
        Some(other) => {
            return Err(bad(
                "ext_pillar",
                format!("The \"ext_pillar\" option is malformed: expected a list, got {other:?}"),
            ))
        }
    };
    Ok(ExtPillarConfig {
        sources,
        first,
        merging,
        git_update_interval,
    })
}

struct GitDefaults {
    base: String,
    branch: String,
    root: String,
    env: Option<String>,
}

/// One `ext_pillar` entry: a one-key map from the interface to its
/// arguments. An interface Brine does not have is skipped with an error in
/// the log, as Salt does (`Specified ext_pillar interface %s is unavailable`).
fn parse_source(item: Value, git: &GitDefaults) -> Result<Option<Source>, String> {
    let Value::Mapping(map) = item else {
        return Err(format!(
            "The \"ext_pillar\" option is malformed: {item:?} is not a one-key mapping"
        ));
    };
    if map.len() != 1 {
        return Err(format!(
            "The \"ext_pillar\" option is malformed: each entry names one interface, got {} keys",
            map.len()
        ));
    }
    let (key, val) = map.into_iter().next().expect("one entry");
    let kind = scalar(&key);
    Ok(Some(match kind.as_str() {
        "cmd_yaml" | "cmd_json" => {
            let command = match val {
                Value::String(s) if !s.trim().is_empty() => s,
                other => return Err(format!("{kind}: expected a command line, got {other:?}")),
            };
            if kind == "cmd_yaml" {
                Source::CmdYaml(command)
            } else {
                Source::CmdJson(command)
            }
        }
        "file_tree" => Source::FileTree(parse_file_tree(val)?),
        "git" => Source::Git(parse_git(val, git)?),
        other => {
            tracing::error!(
                interface = other,
                "Specified ext_pillar interface {other} is unavailable (Brine has cmd_yaml, cmd_json, file_tree and git)"
            );
            return Ok(None);
        }
    }))
}

fn parse_file_tree(val: Value) -> Result<FileTree, String> {
    let Value::Mapping(opts) = val else {
        return Err(format!(
            "file_tree: expected a mapping of options (root_dir: ...), got {val:?}"
        ));
    };
    let mut tree = FileTree {
        root_dir: PathBuf::new(),
        follow_dir_links: false,
        keep_newline: KeepNewline::All(false),
        template: false,
    };
    for (k, v) in opts {
        let k = scalar(&k);
        match k.as_str() {
            "root_dir" => tree.root_dir = PathBuf::from(scalar(&v)),
            "follow_dir_links" => tree.follow_dir_links = boolean(&k, &v)?,
            "template" => tree.template = boolean(&k, &v)?,
            "debug" => {}
            "keep_newline" => {
                tree.keep_newline = match v {
                    Value::Bool(b) => KeepNewline::All(b),
                    Value::Sequence(globs) => {
                        KeepNewline::Globs(globs.iter().map(scalar).collect())
                    }
                    other => {
                        return Err(format!(
                            "file_tree: keep_newline must be either True/False or a list of file globs, got {other:?}"
                        ))
                    }
                }
            }
            "render_default" | "renderer_blacklist" | "renderer_whitelist" => {
                tracing::warn!(
                    option = %k,
                    "file_tree: {k} is not supported; templates render with Jinja then YAML"
                );
            }
            other => return Err(format!("file_tree: unknown option '{other}'")),
        }
    }
    if tree.root_dir.as_os_str().is_empty() {
        return Err("file_tree: no root_dir specified".into());
    }
    Ok(tree)
}

/// `git:` takes a list of remotes, each `'<branch> <url>'` (or just a URL:
/// `git_pillar_branch`), or a one-key map from that string to a list of
/// one-key option maps.
fn parse_git(val: Value, defaults: &GitDefaults) -> Result<Vec<GitRemote>, String> {
    let items = match val {
        Value::Sequence(items) => items,
        Value::String(s) => vec![Value::String(s)],
        other => return Err(format!("git: expected a list of remotes, got {other:?}")),
    };
    let mut remotes = Vec::new();
    for item in items {
        let (line, opts) = match item {
            Value::String(s) => (s, Vec::new()),
            Value::Mapping(m) if m.len() == 1 => {
                let (k, v) = m.into_iter().next().expect("one entry");
                let opts = match v {
                    Value::Sequence(list) => list,
                    Value::Mapping(m) => m
                        .into_iter()
                        .map(|(k, v)| {
                            let mut one = serde_yaml::Mapping::new();
                            one.insert(k, v);
                            Value::Mapping(one)
                        })
                        .collect(),
                    Value::Null => Vec::new(),
                    other => {
                        return Err(format!(
                            "git: options of remote '{}' must be a list, got {other:?}",
                            scalar(&k)
                        ))
                    }
                };
                (scalar(&k), opts)
            }
            other => return Err(format!("git: {other:?} is not a remote")),
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        let (branch, url) = match words[..] {
            [url] => (defaults.branch.clone(), url.to_string()),
            [branch, url] => (branch.to_string(), url.to_string()),
            _ => {
                return Err(format!(
                    "git: remote '{line}' is not '<branch> <url>' (or a URL)"
                ))
            }
        };
        let mut remote = GitRemote {
            url,
            branch,
            env: defaults.env.clone(),
            root: defaults.root.clone(),
            mountpoint: String::new(),
            name: None,
            base: defaults.base.clone(),
        };
        for opt in opts {
            let Value::Mapping(m) = opt else {
                return Err(format!("git: remote '{line}': {opt:?} is not an option"));
            };
            for (k, v) in m {
                let k = scalar(&k);
                let v = scalar(&v);
                match k.as_str() {
                    "env" => remote.env = Some(v),
                    "root" => remote.root = strip_dir(&v),
                    "mountpoint" => remote.mountpoint = strip_dir(&v),
                    "name" => remote.name = Some(v),
                    "all_saltenvs" => {
                        return Err(format!(
                            "git: remote '{line}': all_saltenvs is not supported"
                        ))
                    }
                    k if GIT_IGNORED.contains(&k) => tracing::warn!(
                        remote = %line,
                        option = k,
                        "git ext_pillar: option not supported (git's own configuration applies); ignored"
                    ),
                    other => return Err(format!("git: remote '{line}': unknown option '{other}'")),
                }
            }
        }
        remotes.push(remote);
    }
    Ok(remotes)
}

fn boolean(key: &str, v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(format!(
            "file_tree: {key} must be true or false, got {other:?}"
        )),
    }
}

/// A YAML scalar as text (`git_pillar_base: 2024` is the branch "2024").
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}
