//! gitfs options, named and shaped as Salt's: `gitfs_remotes` entries are a
//! URL or a one-key map from the URL to a list of per-remote options, and the
//! per-remote options override the global `gitfs_*` ones.

use std::time::Duration;

use brine_proto::conf::ConfError;
use serde_yaml::Value;

/// Per-remote options this server understands.
const PER_REMOTE: &[&str] = &["name", "root", "mountpoint", "base"];

#[derive(Debug, Clone, PartialEq)]
pub struct GitfsConfig {
    /// Searched in this order for a file present in several remotes.
    pub remotes: Vec<RemoteConf>,
    /// Seconds between background fetches (`gitfs_update_interval`).
    pub update_interval: Duration,
    /// Only environments matching one of these (glob or regex) are served.
    pub saltenv_whitelist: Vec<String>,
    /// Environments matching one of these are not served.
    pub saltenv_blacklist: Vec<String>,
}

impl Default for GitfsConfig {
    fn default() -> Self {
        GitfsConfig {
            remotes: Vec::new(),
            update_interval: Duration::from_secs(60),
            saltenv_whitelist: Vec::new(),
            saltenv_blacklist: Vec::new(),
        }
    }
}

/// One git remote as the file server sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteConf {
    /// Passed to git as written (a path, `file://`, `https://`, `ssh://` ...).
    pub url: String,
    /// A name for logs and the cache directory (Salt's `name`).
    pub name: Option<String>,
    /// Directory of the repository served as the top of the tree; empty: all.
    pub root: String,
    /// `salt://` prefix the files appear under; empty: none.
    pub mountpoint: String,
    /// Branch (or tag) served as environment `base`.
    pub base: String,
}

impl RemoteConf {
    /// What logs and errors call this remote.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.url)
    }
}

/// The global values per-remote options fall back to.
#[derive(Debug, Clone)]
pub struct RemoteDefaults {
    pub base: String,
    pub root: String,
    pub mountpoint: String,
}

/// `salt://a/b/` and `/a/b` become `a/b`, as Salt strips root and mountpoint.
pub fn strip_dir(s: &str) -> String {
    s.trim()
        .trim_start_matches("salt://")
        .trim_matches('/')
        .to_string()
}

/// Reads `gitfs_remotes`.
pub fn parse_remotes(
    file: &str,
    value: Option<Value>,
    defaults: &RemoteDefaults,
) -> Result<Vec<RemoteConf>, ConfError> {
    let bad = |message: String| ConfError::BadValue {
        file: file.to_string(),
        key: "gitfs_remotes".to_string(),
        message,
    };
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Sequence(items)) => items,
        Some(v @ Value::String(_)) => vec![v],
        Some(other) => return Err(bad(format!("expected a list of remotes, got {other:?}"))),
    };
    let mut remotes = Vec::new();
    for item in items {
        let (url, opts) = match item {
            Value::String(url) => (url, Vec::new()),
            Value::Mapping(m) if m.len() == 1 => {
                let (k, v) = m.into_iter().next().expect("one entry");
                let Value::String(url) = k else {
                    return Err(bad(format!("{k:?} is not a remote URL")));
                };
                {
                    let opts = per_remote_options(&url, v).map_err(bad)?;
                    (url, opts)
                }
            }
            other => {
                return Err(bad(format!(
                    "{other:?} is neither a URL nor a map of one URL to its options"
                )))
            }
        };
        if url.trim().is_empty() {
            return Err(bad("a remote has an empty URL".into()));
        }
        let mut remote = RemoteConf {
            url,
            name: None,
            root: defaults.root.clone(),
            mountpoint: defaults.mountpoint.clone(),
            base: defaults.base.clone(),
        };
        for (key, value) in opts {
            match key.as_str() {
                "name" => remote.name = Some(value),
                "root" => remote.root = strip_dir(&value),
                "mountpoint" => remote.mountpoint = strip_dir(&value),
                "base" => remote.base = value,
                _ => unreachable!("checked by per_remote_options"),
            }
        }
        remotes.push(remote);
    }
    let mut names: Vec<&str> = remotes.iter().filter_map(|r| r.name.as_deref()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(bad(format!("two remotes are named '{}'", w[0])));
    }
    Ok(remotes)
}

/// `[{root: x}, {mountpoint: y}]` (Salt's form) or `{root: x, mountpoint: y}`.
fn per_remote_options(url: &str, v: Value) -> Result<Vec<(String, String)>, String> {
    let pairs: Vec<(Value, Value)> = match v {
        Value::Null => Vec::new(),
        Value::Mapping(m) => m.into_iter().collect(),
        Value::Sequence(items) => {
            let mut out = Vec::new();
            for i in items {
                match i {
                    Value::Mapping(m) => out.extend(m),
                    other => {
                        return Err(format!(
                            "remote '{url}': {other:?} is not a one-key map of an option"
                        ))
                    }
                }
            }
            out
        }
        other => {
            return Err(format!(
                "remote '{url}': options must be a list, got {other:?}"
            ))
        }
    };
    let mut out = Vec::new();
    for (k, v) in pairs {
        let key = match k {
            Value::String(s) => s,
            other => return Err(format!("remote '{url}': {other:?} is not an option name")),
        };
        if !PER_REMOTE.contains(&key.as_str()) {
            return Err(format!(
                "remote '{url}': per-remote option '{key}' is not supported (supported: {})",
                PER_REMOTE.join(", ")
            ));
        }
        let value =
            scalar(&v).ok_or_else(|| format!("remote '{url}': option '{key}' must be a string"))?;
        out.push((key, value));
    }
    Ok(out)
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Salt's "stringlist": a list, or one comma-separated string.
pub fn string_list(file: &str, key: &str, value: Option<Value>) -> Result<Vec<String>, ConfError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect()),
        Some(Value::Sequence(items)) => items
            .iter()
            .map(|i| {
                scalar(i).ok_or_else(|| ConfError::BadValue {
                    file: file.to_string(),
                    key: key.to_string(),
                    message: format!("{i:?} is not a string"),
                })
            })
            .collect(),
        Some(other) => Err(ConfError::BadValue {
            file: file.to_string(),
            key: key.to_string(),
            message: format!("expected a list of names, got {other:?}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> RemoteDefaults {
        RemoteDefaults {
            base: "master".into(),
            root: String::new(),
            mountpoint: String::new(),
        }
    }

    fn parse(text: &str) -> Result<Vec<RemoteConf>, ConfError> {
        parse_remotes(
            "master",
            Some(serde_yaml::from_str(text).unwrap()),
            &defaults(),
        )
    }

    #[test]
    fn urls_and_per_remote_options_as_salt_writes_them() {
        let r = parse(
            "- /srv/repo\n- https://example.com/x.git:\n  - name: x\n  - root: salt/\n  - mountpoint: salt://pre/fix\n  - base: main\n",
        )
        .unwrap();
        assert_eq!(r[0].url, "/srv/repo");
        assert_eq!(r[0].base, "master");
        assert_eq!(r[0].label(), "/srv/repo");
        assert_eq!(r[1].url, "https://example.com/x.git");
        assert_eq!(r[1].label(), "x");
        assert_eq!(r[1].root, "salt");
        assert_eq!(r[1].mountpoint, "pre/fix");
        assert_eq!(r[1].base, "main");
    }

    #[test]
    fn unknown_per_remote_options_and_bad_shapes_are_named() {
        let e = parse("- /r:\n  - pubkey: k\n").unwrap_err().to_string();
        assert!(e.contains("gitfs_remotes") && e.contains("pubkey"), "{e}");
        let e = parse("- {a: 1, b: 2}\n").unwrap_err().to_string();
        assert!(e.contains("gitfs_remotes"), "{e}");
        let e = parse("- /a:\n  - name: n\n- /b:\n  - name: n\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("two remotes are named 'n'"), "{e}");
    }

    #[test]
    fn string_lists_take_a_comma_separated_string() {
        let v = Some(Value::String("dev, v1.*".into()));
        assert_eq!(string_list("m", "k", v).unwrap(), vec!["dev", "v1.*"]);
    }
}
