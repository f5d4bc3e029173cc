//! Pure helpers shared by the master and minion config loaders: Salt-style
//! `root_dir` relocation and typed access to a YAML mapping that remembers
//! which keys were read, so the rest can be warned about. No IO here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    #[error("{file}: not valid YAML: {message}")]
    Yaml { file: String, message: String },
    #[error("{file}: the top level must be a mapping of option names to values")]
    NotMapping { file: String },
    #[error("{file}: option '{key}': {message}")]
    BadValue {
        file: String,
        key: String,
        message: String,
    },
}

/// A parsed config file that records which keys the loader consumed.
pub struct RawConfig {
    file: String,
    map: serde_yaml::Mapping,
    used: BTreeSet<String>,
}

impl RawConfig {
    /// Parses `text` (the contents of `file`); an empty file is an empty mapping.
    pub fn parse(file: &str, text: &str) -> Result<Self, ConfError> {
        let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| ConfError::Yaml {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        let map = match value {
            serde_yaml::Value::Null => serde_yaml::Mapping::new(),
            serde_yaml::Value::Mapping(m) => m,
            _ => {
                return Err(ConfError::NotMapping {
                    file: file.to_string(),
                })
            }
        };
        Ok(RawConfig {
            file: file.to_string(),
            map,
            used: BTreeSet::new(),
        })
    }

    pub fn empty() -> Self {
        RawConfig {
            file: "<defaults>".into(),
            map: Default::default(),
            used: BTreeSet::new(),
        }
    }

    /// Reads an option; `Ok(None)` when absent or null.
    pub fn get<T: DeserializeOwned>(&mut self, key: &str) -> Result<Option<T>, ConfError> {
        self.used.insert(key.to_string());
        match self.map.get(key) {
            None | Some(serde_yaml::Value::Null) => Ok(None),
            Some(v) => {
                serde_yaml::from_value(v.clone())
                    .map(Some)
                    .map_err(|e| ConfError::BadValue {
                        file: self.file.clone(),
                        key: key.to_string(),
                        message: e.to_string(),
                    })
            }
        }
    }

    /// A number of seconds, at least `min` (smaller values are raised to
    /// it), `default` when unset. A negative, infinite or absurdly large
    /// value (over ten years) is refused naming the key, where
    /// `Duration::from_secs_f64` would panic.
    pub fn get_secs(
        &mut self,
        key: &str,
        default: f64,
        min: f64,
    ) -> Result<std::time::Duration, ConfError> {
        const MAX_SECS: f64 = 10.0 * 365.0 * 86400.0;
        let secs = self.get::<f64>(key)?.unwrap_or(default);
        if !(0.0..=MAX_SECS).contains(&secs) {
            return Err(ConfError::BadValue {
                file: self.file.clone(),
                key: key.to_string(),
                message: format!("{secs} is not a number of seconds between 0 and {MAX_SECS}"),
            });
        }
        Ok(std::time::Duration::from_secs_f64(secs.max(min)))
    }

    /// Keys present in the file that no loader read, each with why it has
    /// no effect: the reason `known` gives for it (Salt options Brine knows
    /// of but does not act on), else "unknown option". Start-up warns about
    /// each, so no option is silently dropped.
    pub fn ignored_keys(&self, known: &[(&str, &str)]) -> Vec<IgnoredKey> {
        self.unknown_keys()
            .into_iter()
            .map(|key| {
                let reason = known
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, why)| (*why).to_string())
                    .unwrap_or_else(|| "unknown option".to_string());
                IgnoredKey { key, reason }
            })
            .collect()
    }

    /// Whether the file sets `key` (to anything, null included).
    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// Keys present in the file that no loader read.
    pub fn unknown_keys(&self) -> Vec<String> {
        self.map
            .keys()
            .map(|k| match k {
                serde_yaml::Value::String(s) => s.clone(),
                other => format!("{other:?}"),
            })
            .filter(|k| !self.used.contains(k))
            .collect()
    }

    pub fn file(&self) -> &str {
        &self.file
    }
}

/// A config key the daemon does not act on, and why; shown at start-up as
/// `ignoring 'mine_functions': not supported yet`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredKey {
    pub key: String,
    pub reason: String,
}

impl std::fmt::Display for IgnoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ignoring '{}': {}", self.key, self.reason)
    }
}

/// The reason for a Salt option Brine will have but does not have yet.
pub const NOT_YET: &str = "not supported yet";

/// The option names a config loader's source reads with `raw.get("key")`
/// or `raw.get::<T>("key")` (tests check each is documented in the example
/// config). Only the part before `#[cfg(test)]` counts.
pub fn keys_read_in(source: &str) -> Vec<String> {
    let code: String = source
        .split("#[cfg(test)]")
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let mut out = Vec::new();
    for part in code.split("raw.get").skip(1) {
        // The quote must follow the call directly, not appear later on.
        if let Some(start) = part
            .find("(\"")
            .filter(|&i| !part[..i].contains([';', '{', ')']))
        {
            let rest = &part[start + 2..];
            if let Some(end) = rest.find('"') {
                out.push(rest[..end].to_string());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Environments and their directories (`file_roots`, `pillar_roots`), in
/// search order within each environment.
pub type Roots = BTreeMap<String, Vec<PathBuf>>;

/// Reads `file_roots`/`pillar_roots` the way Salt does: a mapping of
/// environment to a directory or a list of them; a bare list or string means
/// `base`; absent (`None` or null) means `{base: [default]}`. The error says
/// what is wrong without the key's name (the caller adds it).
pub fn roots_from_yaml(value: Option<&serde_yaml::Value>, default: &str) -> Result<Roots, String> {
    use serde_yaml::Value as Y;
    let dirs = |env: &str, v: &Y| -> Result<Vec<PathBuf>, String> {
        match v {
            Y::Null => Ok(Vec::new()),
            Y::String(s) => Ok(vec![PathBuf::from(s)]),
            Y::Sequence(items) => items
                .iter()
                .map(|i| match i {
                    Y::String(s) => Ok(PathBuf::from(s)),
                    other => Err(format!(
                        "environment '{env}': {other:?} is not a directory path"
                    )),
                })
                .collect(),
            other => Err(format!(
                "environment '{env}': expected a list of directories, got {other:?}"
            )),
        }
    };
    let mut roots = Roots::new();
    match value {
        None | Some(Y::Null) => {
            roots.insert("base".into(), vec![PathBuf::from(default)]);
        }
        Some(Y::Mapping(m)) => {
            for (env, v) in m {
                // YAML 1.1 reads an environment named `2024` or `yes` as a
                // number or a bool; Salt turns it back into text.
                let env = match env {
                    Y::String(s) => s.clone(),
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => if *b { "True" } else { "False" }.to_string(),
                    other => return Err(format!("{other:?} is not an environment name")),
                };
                let d = dirs(&env, v)?;
                roots.insert(env, d);
            }
        }
        Some(v @ (Y::Sequence(_) | Y::String(_))) => {
            roots.insert("base".into(), dirs("base", v)?);
        }
        Some(other) => {
            return Err(format!(
                "expected a mapping of environments to directories, got {other:?}"
            ))
        }
    }
    Ok(roots)
}

/// Salt's rule for `root_dir`: every configured path lives under it, unless
/// it is already there.
pub fn under_root(root_dir: &Path, path: &Path) -> PathBuf {
    if root_dir == Path::new("/") || path.starts_with(root_dir) {
        return path.to_path_buf();
    }
    let rel = path.strip_prefix("/").unwrap_or(path);
    root_dir.join(rel)
}

/// Accepts a YAML scalar or a list of scalars as a list of strings (Salt lets
/// `master: host` and `master: [a, b]` both stand).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_bounded_with_a_clear_error_instead_of_a_panic() {
        let mut raw =
            RawConfig::parse("master", "a: 2.5\nb: .inf\nc: -1\nd: 1e300\ne: 0.01\n").unwrap();
        let d = std::time::Duration::from_secs_f64;
        assert_eq!(raw.get_secs("a", 9.0, 0.0).unwrap(), d(2.5));
        assert_eq!(raw.get_secs("unset", 9.0, 0.0).unwrap(), d(9.0));
        assert_eq!(
            raw.get_secs("e", 9.0, 0.1).unwrap(),
            d(0.1),
            "raised to the minimum"
        );
        for key in ["b", "c", "d"] {
            let e = raw.get_secs(key, 9.0, 0.0).unwrap_err().to_string();
            assert!(e.contains(key) && e.contains("seconds"), "{e}");
        }
    }

    #[test]
    fn root_dir_relocates_paths() {
        let root = Path::new("/tmp/r");
        assert_eq!(
            under_root(root, Path::new("/etc/brine/pki")),
            Path::new("/tmp/r/etc/brine/pki")
        );
        assert_eq!(
            under_root(root, Path::new("/tmp/r/x")),
            Path::new("/tmp/r/x")
        );
        assert_eq!(
            under_root(Path::new("/"), Path::new("/etc")),
            Path::new("/etc")
        );
    }

    #[test]
    fn unknown_keys_are_reported() {
        let mut c = RawConfig::parse("minion", "id: a\nbogus: 1\n").unwrap();
        let id: Option<String> = c.get("id").unwrap();
        assert_eq!(id.as_deref(), Some("a"));
        assert_eq!(c.unknown_keys(), vec!["bogus".to_string()]);
        let ignored = c.ignored_keys(&[("other", NOT_YET)]);
        assert_eq!(ignored.len(), 1);
        assert_eq!(ignored[0].to_string(), "ignoring 'bogus': unknown option");
    }

    #[test]
    fn known_keys_say_why_they_are_ignored() {
        let c = RawConfig::parse("minion", "mine_functions: {}\n").unwrap();
        let ignored = c.ignored_keys(&[("mine_functions", NOT_YET)]);
        assert_eq!(
            ignored[0].to_string(),
            "ignoring 'mine_functions': not supported yet"
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        let mut c = RawConfig::parse("minion", "master_port: [1]\n").unwrap();
        let err = c.get::<u16>("master_port").unwrap_err().to_string();
        assert!(err.contains("master_port"), "{err}");
    }
}
