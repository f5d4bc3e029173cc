//! Where `salt://` files come from: a trait, so the renderer and the state
//! modules work the same masterless (local `file_roots`) and connected (the
//! master's file server through the minion's cache).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// `..`, an absolute path or a symlink leading out of the roots.
    #[error("refused path '{0}': outside the file roots")]
    Outside(String),
    #[error("no such environment '{0}'")]
    NoEnv(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The file server could not be reached or answered an error.
    #[error("file server: {0}")]
    Remote(String),
}

/// Read access to the file roots of every environment.
pub trait FileSource: Send + Sync {
    /// The bytes of `path` (relative, `/`-separated, e.g. `nginx/map.jinja`)
    /// in `saltenv`; `Ok(None)` when no root has it.
    fn read(&self, saltenv: &str, path: &str) -> Result<Option<Vec<u8>>, SourceError>;

    /// Every file of `saltenv`, relative, sorted (`cp.list_master`).
    fn list(&self, saltenv: &str) -> Result<Vec<String>, SourceError>;

    /// The environments, sorted.
    fn envs(&self) -> Vec<String>;

    /// Every directory of `saltenv`, relative, sorted, empty ones included
    /// (`cp.list_master_dirs`, for `file.recurse include_empty`). The default
    /// derives them from [`list`](FileSource::list), so a source that cannot
    /// list directories misses only the empty ones.
    fn list_dirs(&self, saltenv: &str) -> Result<Vec<String>, SourceError> {
        let mut out = std::collections::BTreeSet::new();
        for file in self.list(saltenv)? {
            let mut path = file.as_str();
            while let Some((parent, _)) = path.rsplit_once('/') {
                if !out.insert(parent.to_string()) {
                    break;
                }
                path = parent;
            }
        }
        Ok(out.into_iter().collect())
    }
}

/// Checks a relative `/`-separated path: no `..`, no absolute path, no empty
/// or `.` components, no backslashes or NULs. Returns it cleaned.
pub fn clean_rel_path(path: &str) -> Result<String, SourceError> {
    let p = path.trim_start_matches("salt://");
    let p = p.split('?').next().unwrap_or(p);
    if p.contains('\0') || p.contains('\\') || p.starts_with('/') {
        return Err(SourceError::Outside(path.to_string()));
    }
    let mut out = Vec::new();
    for c in Path::new(p).components() {
        match c {
            Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
            Component::CurDir => {}
            _ => return Err(SourceError::Outside(path.to_string())),
        }
    }
    Ok(out.join("/"))
}

/// `file_roots` on this machine: each environment's roots, searched in order.
#[derive(Debug, Clone, Default)]
pub struct LocalRoots {
    pub roots: BTreeMap<String, Vec<PathBuf>>,
}

impl LocalRoots {
    pub fn new(roots: BTreeMap<String, Vec<PathBuf>>) -> LocalRoots {
        LocalRoots { roots }
    }

    /// What `walker` collects under every root of `saltenv`, sorted, once.
    fn walk_env(
        &self,
        saltenv: &str,
        walker: fn(&Path, &Path, &mut std::collections::BTreeSet<String>),
    ) -> Result<Vec<String>, SourceError> {
        let roots = self
            .roots
            .get(saltenv)
            .ok_or_else(|| SourceError::NoEnv(saltenv.to_string()))?;
        let mut out = std::collections::BTreeSet::new();
        for root in roots {
            walker(root, root, &mut out);
        }
        Ok(out.into_iter().collect())
    }

    /// The file on disk for `path` in `saltenv`, if some root has it and it
    /// does not resolve outside that root (symlinks included).
    pub fn locate(&self, saltenv: &str, path: &str) -> Result<Option<PathBuf>, SourceError> {
        let rel = clean_rel_path(path)?;
        let roots = self
            .roots
            .get(saltenv)
            .ok_or_else(|| SourceError::NoEnv(saltenv.to_string()))?;
        for root in roots {
            let candidate = root.join(&rel);
            if !candidate.is_file() {
                continue;
            }
            let real = candidate.canonicalize().map_err(|source| SourceError::Io {
                path: rel.clone(),
                source,
            })?;
            let real_root = root.canonicalize().map_err(|source| SourceError::Io {
                path: rel.clone(),
                source,
            })?;
            if !real.starts_with(&real_root) {
                return Err(SourceError::Outside(path.to_string()));
            }
            return Ok(Some(candidate));
        }
        Ok(None)
    }
}

impl FileSource for LocalRoots {
    fn read(&self, saltenv: &str, path: &str) -> Result<Option<Vec<u8>>, SourceError> {
        match self.locate(saltenv, path)? {
            None => Ok(None),
            Some(p) => std::fs::read(&p)
                .map(Some)
                .map_err(|source| SourceError::Io {
                    path: path.to_string(),
                    source,
                }),
        }
    }

    fn list(&self, saltenv: &str) -> Result<Vec<String>, SourceError> {
        self.walk_env(saltenv, walk)
    }

    fn envs(&self) -> Vec<String> {
        self.roots.keys().cloned().collect()
    }

    fn list_dirs(&self, saltenv: &str) -> Result<Vec<String>, SourceError> {
        self.walk_env(saltenv, walk_dirs)
    }
}

fn walk_dirs(root: &Path, dir: &Path, out: &mut std::collections::BTreeSet<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            let p = e.path();
            if let Ok(rel) = p.strip_prefix(root) {
                out.insert(rel.to_string_lossy().replace('\\', "/"));
            }
            walk_dirs(root, &p, out);
        }
    }
}

fn walk(root: &Path, dir: &Path, out: &mut std::collections::BTreeSet<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            walk(root, &p, out);
        } else if p.is_file() {
            if let Ok(rel) = p.strip_prefix(root) {
                out.insert(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
}

/// sha256 of `data`, lowercase hex: how the file server and the minion's
/// cache name a file's content.
pub fn sha256_hex(data: &[u8]) -> String {
    crate::modules::file::hashes::digest_hex("sha256", data).unwrap_or_default()
}

/// sha256 of a file's content, lowercase hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    crate::modules::file::hashes::file_digest_hex("sha256", path).map(Option::unwrap_or_default)
}
