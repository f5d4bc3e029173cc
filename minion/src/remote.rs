//! `salt://` files on a connected minion: the master's file server through
//! a cache under `<cachedir>/files/<saltenv>/<path>`. A cached file's sha256
//! goes with each request, so an unchanged file is not sent again.
//!
//! A state run asks for each environment's listing (every path with its
//! sha256) once; after that a file whose cached copy has the listed hash is
//! used without asking, and a path the listing lacks is missing without
//! asking. So a converged highstate costs one round trip per environment,
//! not one per file (Salt's worst slowness).
//!
//! [`RemoteFiles`] implements the synchronous [`FileSource`] the state
//! compiler uses from blocking threads, by blocking on the runtime; async
//! callers (execution functions) use its `async` methods directly.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use brine_states::source::clean_rel_path;
use brine_states::{FileSource, LocalRoots, SourceError};
use tokio::runtime::{Handle, RuntimeFlavor};
use tracing::warn;

use crate::config::MinionConfig;
use crate::link::{MasterClient, RequestError};

/// `path -> sha256` of one environment, as the master listed it.
pub type Listing = Arc<BTreeMap<String, String>>;

/// One run's view of the master's file server. Create one per run: the
/// listings it fetches are kept for its lifetime.
pub struct RemoteFiles {
    client: MasterClient,
    handle: Handle,
    /// `<cachedir>/files`.
    cache_dir: PathBuf,
    lists: Mutex<HashMap<String, Listing>>,
    envs: Mutex<Option<Vec<String>>>,
}

impl RemoteFiles {
    pub fn new(client: MasterClient, handle: Handle, cachedir: &Path) -> RemoteFiles {
        RemoteFiles {
            client,
            handle,
            cache_dir: cachedir.join("files"),
            lists: Mutex::new(HashMap::new()),
            envs: Mutex::new(None),
        }
    }

    /// Every file of `saltenv` with its sha256; asked once per run.
    pub async fn listing(&self, saltenv: &str) -> Result<Listing, SourceError> {
        if let Some(l) = lock(&self.lists).get(saltenv) {
            return Ok(l.clone());
        }
        let list = self
            .client
            .file_list(saltenv)
            .await
            .map_err(|e| source_error(saltenv, e))?;
        let list: Listing = Arc::new(list.into_iter().collect());
        lock(&self.lists).insert(saltenv.to_string(), list.clone());
        Ok(list)
    }

    /// Every directory of `saltenv` on the master, empty ones included.
    pub async fn dir_listing(&self, saltenv: &str) -> Result<Vec<String>, SourceError> {
        self.client
            .file_dir_list(saltenv)
            .await
            .map_err(|e| source_error(saltenv, e))
    }

    /// The master's environments; asked once per run.
    pub async fn environments(&self) -> Result<Vec<String>, SourceError> {
        if let Some(e) = lock(&self.envs).as_ref() {
            return Ok(e.clone());
        }
        let envs = self
            .client
            .file_envs()
            .await
            .map_err(|e| SourceError::Remote(e.to_string()))?;
        *lock(&self.envs) = Some(envs.clone());
        Ok(envs)
    }

    /// Makes sure the cache holds the master's current `path` of `saltenv`
    /// and returns where; `Ok(None)` when the master has no such file. The
    /// path goes to the master as given: the master decides what is inside
    /// its roots (and logs what is not).
    pub async fn cache(&self, saltenv: &str, path: &str) -> Result<Option<PathBuf>, SourceError> {
        let local = self.cache_path(saltenv, path);
        let have = match &local {
            Some(p) if p.is_file() => sha256_file(p).ok(),
            _ => None,
        };
        // With this run's listing at hand, a clean path needs no request
        // when the cache is current or the master has no such file. Paths
        // that are not clean still go to the master, which refuses and logs.
        let listed = lock(&self.lists).get(saltenv).cloned();
        if let (Some(list), Some(local)) = (listed, &local) {
            if clean_rel_path(path).ok().as_deref() == Some(path) {
                match list.get(path) {
                    None => return Ok(None),
                    Some(sha) if have.as_deref() == Some(sha.as_str()) => {
                        return Ok(Some(local.clone()))
                    }
                    Some(_) => {}
                }
            }
        }
        let mut blob = self
            .client
            .file_get(saltenv, path, have.as_deref())
            .await
            .map_err(|e| source_error(path, e))?;
        let Some(local) = local else {
            // The master served a path this minion cannot place in its
            // cache: it must not have, so refuse it here too.
            return Err(SourceError::Outside(path.to_string()));
        };
        if matches!(&blob, Some(b) if b.data.is_none()) && !local.is_file() {
            // The cached copy went away since it was hashed: ask for the bytes.
            blob = self
                .client
                .file_get(saltenv, path, None)
                .await
                .map_err(|e| source_error(path, e))?;
        }
        let Some(blob) = blob else {
            return Ok(None);
        };
        let Some(data) = blob.data else {
            return Ok(Some(local));
        };
        if sha256_hex(&data) != blob.sha256 {
            return Err(SourceError::Remote(format!(
                "{path}: the bytes received do not match the master's sha256"
            )));
        }
        write_atomic(&local, &data).map_err(|source| SourceError::Io {
            path: local.display().to_string(),
            source,
        })?;
        Ok(Some(local))
    }

    /// Where `path` of `saltenv` lives in the cache; `None` for a path that
    /// would land outside it.
    fn cache_path(&self, saltenv: &str, path: &str) -> Option<PathBuf> {
        let env = clean_rel_path(saltenv).ok()?;
        let rel = clean_rel_path(path).ok()?;
        if env.is_empty() || env.contains('/') || rel.is_empty() {
            return None;
        }
        Some(self.cache_dir.join(env).join(rel))
    }

    /// Runs `f` to completion from synchronous code: on a blocking thread
    /// or, on a multi-thread runtime, from a worker (which is handed over).
    fn block<F: Future>(&self, f: F) -> F::Output {
        match self.handle.runtime_flavor() {
            RuntimeFlavor::MultiThread => tokio::task::block_in_place(|| self.handle.block_on(f)),
            _ => self.handle.block_on(f),
        }
    }
}

impl FileSource for RemoteFiles {
    fn read(&self, saltenv: &str, path: &str) -> Result<Option<Vec<u8>>, SourceError> {
        let cached = self.block(async {
            // One listing per environment and run; without it (the master
            // could not list), every file is asked for on its own.
            if let Err(error) = self.listing(saltenv).await {
                tracing::debug!(%error, saltenv, "no listing; asking per file");
            }
            self.cache(saltenv, path).await
        })?;
        match cached {
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
        Ok(self.block(self.listing(saltenv))?.keys().cloned().collect())
    }

    fn list_dirs(&self, saltenv: &str) -> Result<Vec<String>, SourceError> {
        self.block(self.dir_listing(saltenv))
    }

    fn envs(&self) -> Vec<String> {
        self.block(self.environments()).unwrap_or_else(|error| {
            warn!(%error, "cannot list the master's environments");
            Vec::new()
        })
    }
}

fn source_error(path: &str, e: RequestError) -> SourceError {
    match e {
        RequestError::Master(msg) if msg.starts_with("refused path") => {
            SourceError::Outside(path.to_string())
        }
        RequestError::Master(msg) if msg.starts_with("no such environment") => {
            SourceError::Remote(msg)
        }
        other => SourceError::Remote(other.to_string()),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Writes through a temporary file in the same directory, so a reader never
/// sees half a file.
fn write_atomic(dest: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        dest.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        fastrand::u64(..)
    ));
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, dest).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

pub use brine_states::source::{sha256_file, sha256_hex};

/// The minion's own `file_roots` (for `file_client: local`): `{env: [dirs]}`
/// or a bare list meaning `base`; `{base: [/srv/salt]}` when unset. As in
/// Salt, `root_dir` does not relocate them.
pub fn local_roots(config: &MinionConfig) -> Result<LocalRoots, String> {
    roots_from_yaml(&config.file_roots, "/srv/salt").map(LocalRoots::new)
}

pub fn roots_from_yaml(
    value: &serde_yaml::Value,
    default: &str,
) -> Result<BTreeMap<String, Vec<PathBuf>>, String> {
    brine_proto::conf::roots_from_yaml(Some(value), default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_paths_stay_in_the_cache() {
        let rf = RemoteFiles::new(
            MasterClient::new(&[]),
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .handle()
                .clone(),
            Path::new("/c"),
        );
        assert_eq!(
            rf.cache_path("base", "a/b.txt"),
            Some(PathBuf::from("/c/files/base/a/b.txt"))
        );
        assert_eq!(rf.cache_path("base", "../x"), None);
        assert_eq!(rf.cache_path("base", "/etc/passwd"), None);
        assert_eq!(rf.cache_path("../base", "x"), None);
        assert_eq!(rf.cache_path("a/b", "x"), None);
    }

    #[test]
    fn without_a_master_requests_fail_clearly() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let rf = RemoteFiles::new(MasterClient::new(&[]), rt.handle().clone(), dir.path());
        let err = rf.read("base", "a").unwrap_err();
        assert_eq!(err.to_string(), "file server: not connected to any master");
        assert!(rf.envs().is_empty());
    }

    #[test]
    fn local_roots_read_a_mapping_or_a_list() {
        let v: serde_yaml::Value = serde_yaml::from_str("base: [/a]\ndev: /b\n").unwrap();
        let r = roots_from_yaml(&v, "/srv/salt").unwrap();
        assert_eq!(r["dev"], vec![PathBuf::from("/b")]);
        let v: serde_yaml::Value = serde_yaml::from_str("[/a, /b]").unwrap();
        assert_eq!(roots_from_yaml(&v, "/srv/salt").unwrap()["base"].len(), 2);
        let r = roots_from_yaml(&serde_yaml::Value::Null, "/srv/salt").unwrap();
        assert_eq!(r["base"], vec![PathBuf::from("/srv/salt")]);
        assert!(roots_from_yaml(&serde_yaml::Value::Bool(true), "/srv/salt").is_err());
    }
}
