//! gitfs: the branches and tags of git repositories served as file server
//! environments, as Salt's gitfs does.
//!
//! Each remote is mirrored into a bare repository under the master's
//! cachedir (`gitfs/<hash>/repo`) with `git fetch --prune`. Every branch and
//! tag is an environment (the `base` branch, `master` by default, is `base`).
//! The tree of each commit served is written once into an immutable snapshot
//! directory (`gitfs/<hash>/snapshots/<commit>`), built in a temporary
//! directory and renamed into place, so a reader never sees a half-written
//! tree. An update builds a new [`View`] (environment to snapshot
//! directories, in remote order) and swaps it in; a request holds the `Arc`
//! of the view it started on and finishes on it. Snapshots no longer in any
//! view are deleted at the end of an update once nothing holds them.
//!
//! **Invariant:** a snapshot directory never changes after its rename, so
//! hashes cached by its paths stay valid.
//!
//! A fetch that fails (remote gone, network down) is logged with the remote
//! and the refs fetched last keep being served.

pub mod conf;
pub mod git;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};

use brine_states::{FileSource, LocalRoots};

pub use conf::{GitfsConfig, RemoteConf};
use git::{GitError, Mirror, Refs};

/// One commit's tree on disk. Never modified once built.
#[derive(Debug)]
pub struct Snapshot {
    pub commit: String,
    pub dir: PathBuf,
}

/// What the file server serves from gitfs at one moment.
#[derive(Debug, Default)]
pub struct View {
    /// Each environment's snapshot directories, in remote order.
    roots: LocalRoots,
    /// Keeps the snapshots of this view on disk while it is in use.
    _held: Vec<Arc<Snapshot>>,
}

impl View {
    /// The snapshots as file roots: the same path checks as `file_roots`.
    pub fn roots(&self) -> &LocalRoots {
        &self.roots
    }

    pub fn envs(&self) -> Vec<String> {
        self.roots.envs()
    }
}

/// Why an update did not fully succeed; the failed remotes keep serving
/// what they served before.
#[derive(Debug, thiserror::Error)]
#[error("{}", .failures.iter().map(|(r, e)| format!("gitfs remote '{r}': {e}")).collect::<Vec<_>>().join("; "))]
pub struct UpdateError {
    /// (remote, what went wrong)
    pub failures: Vec<(String, String)>,
}

struct Remote {
    conf: RemoteConf,
    dir: PathBuf,
    state: Mutex<RemoteState>,
}

#[derive(Default)]
struct RemoteState {
    /// Environment to the snapshot it serves now.
    envs: BTreeMap<String, Arc<Snapshot>>,
    /// Snapshots dropped from `envs`, deleted once nothing holds them.
    retired: Vec<(PathBuf, Weak<Snapshot>)>,
    /// Leftovers of an earlier run were cleaned up.
    swept: bool,
}

pub struct GitFs {
    remotes: Vec<Remote>,
    whitelist: Vec<String>,
    blacklist: Vec<String>,
    view: RwLock<Arc<View>>,
    /// One update at a time (background interval and `fileserver.update`).
    updating: Mutex<()>,
}

impl GitFs {
    /// Remotes cached under `cachedir/gitfs`. Cache directories of remotes no
    /// longer configured are removed. Nothing is fetched until [`update`].
    ///
    /// [`update`]: GitFs::update
    pub fn new(cachedir: &Path, conf: &GitfsConfig) -> GitFs {
        let base = cachedir.join("gitfs");
        let remotes: Vec<Remote> = conf
            .remotes
            .iter()
            .map(|r| Remote {
                dir: base.join(remote_key(r)),
                conf: r.clone(),
                state: Mutex::new(RemoteState::default()),
            })
            .collect();
        if let Ok(rd) = std::fs::read_dir(&base) {
            for e in rd.flatten() {
                let p = e.path();
                if !remotes.iter().any(|r| r.dir == p) {
                    tracing::info!(dir = %p.display(), "gitfs: removing the cache of a remote no longer configured");
                    let _ = std::fs::remove_dir_all(&p);
                }
            }
        }
        GitFs {
            remotes,
            whitelist: conf.saltenv_whitelist.clone(),
            blacklist: conf.saltenv_blacklist.clone(),
            view: RwLock::new(Arc::new(View::default())),
            updating: Mutex::new(()),
        }
    }

    /// What is served now; hold it for the length of a request.
    pub fn view(&self) -> Arc<View> {
        self.view.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Fetches every remote, extracts new commits and swaps the new view in.
    /// Blocks (runs git); call it off the async runtime.
    pub fn update(&self) -> Result<(), UpdateError> {
        let _one = lock(&self.updating);
        let mut failures = Vec::new();
        for remote in &self.remotes {
            if let Err(error) = self.update_remote(remote) {
                tracing::warn!(remote = %remote.conf.label(), %error, "gitfs update failed; serving the last fetched refs");
                failures.push((remote.conf.label().to_string(), error.to_string()));
            }
        }
        let mut roots: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        let mut held = Vec::new();
        for remote in &self.remotes {
            let state = lock(&remote.state);
            for (env, snap) in &state.envs {
                roots.entry(env.clone()).or_default().push(snap.dir.clone());
                held.push(snap.clone());
            }
        }
        let view = Arc::new(View {
            roots: LocalRoots::new(roots),
            _held: held,
        });
        let old = std::mem::replace(
            &mut *self.view.write().unwrap_or_else(|p| p.into_inner()),
            view,
        );
        drop(old);
        for remote in &self.remotes {
            delete_unused(&mut lock(&remote.state));
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(UpdateError { failures })
        }
    }

    fn update_remote(&self, remote: &Remote) -> Result<(), GitError> {
        let mirror = Mirror::new(remote.dir.join("repo"));
        mirror.ensure()?;
        // On failure the mirror keeps the refs of the last good fetch, and
        // those are served (none if it never fetched).
        let fetched = mirror.fetch(&remote.conf.url);
        let refs = mirror.refs()?;
        let wanted = env_commits(&refs, &remote.conf.base)
            .into_iter()
            .filter(|(env, _)| exposed(env, &self.whitelist, &self.blacklist))
            .collect::<BTreeMap<_, _>>();
        let snaps_dir = remote.dir.join("snapshots");
        std::fs::create_dir_all(&snaps_dir).map_err(|source| GitError::Io {
            path: snaps_dir.display().to_string(),
            source,
        })?;
        let mut state = lock(&remote.state);
        let mut by_commit: BTreeMap<String, Arc<Snapshot>> = state
            .envs
            .values()
            .map(|s| (s.commit.clone(), s.clone()))
            .collect();
        let mut next = BTreeMap::new();
        let mut build_error = None;
        for (env, commit) in wanted {
            let snap = match by_commit.get(&commit) {
                Some(s) => s.clone(),
                None => {
                    let built = match revive(&mut state, &commit) {
                        Some(s) => Ok(s),
                        None => {
                            build_snapshot(&mirror, &remote.conf, &snaps_dir, &commit).map(Arc::new)
                        }
                    };
                    match built {
                        Ok(s) => {
                            by_commit.insert(commit.clone(), s.clone());
                            s
                        }
                        // This environment keeps what it served (if anything).
                        Err(e) => {
                            build_error.get_or_insert(e);
                            match state.envs.get(&env) {
                                Some(old) => old.clone(),
                                None => continue,
                            }
                        }
                    }
                }
            };
            next.insert(env, snap);
        }
        let keep: BTreeSet<&str> = next.values().map(|s| s.commit.as_str()).collect();
        let old = std::mem::take(&mut state.envs);
        let mut retired: Vec<(PathBuf, Weak<Snapshot>)> = Vec::new();
        for s in old.values() {
            if !keep.contains(s.commit.as_str()) && !retired.iter().any(|r| r.0 == s.dir) {
                retired.push((s.dir.clone(), Arc::downgrade(s)));
            }
        }
        drop(old);
        state.retired.extend(retired);
        if !state.swept {
            // Leftovers of an earlier run (and interrupted builds): nothing in
            // this process can hold them.
            if let Ok(rd) = std::fs::read_dir(&snaps_dir) {
                for e in rd.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if !keep.contains(name.as_str()) {
                        let _ = std::fs::remove_dir_all(e.path());
                    }
                }
            }
            state.swept = true;
        }
        state.envs = next;
        match build_error {
            Some(e) => Err(e),
            None => fetched,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Directory name of a remote's cache: its URL and the options that shape
/// its snapshots, so a changed `root` or `mountpoint` starts afresh.
fn remote_key(r: &RemoteConf) -> String {
    let id = format!("{}\0{}\0{}", r.url, r.root, r.mountpoint);
    // 24 hex digits are plenty to keep a handful of remotes apart.
    brine_states::source::sha256_hex(id.as_bytes())[..24].to_string()
}

/// Environment to commit, as Salt maps refs: the `base` ref (a branch, else
/// a tag) is `base`; every other branch and tag is an environment of its
/// name, a branch winning over a tag of the same name. A ref named `base`
/// that is not the base ref is not served (Salt resolves `base` to the base
/// ref).
pub fn env_commits(refs: &Refs, base: &str) -> BTreeMap<String, String> {
    let mut envs = BTreeMap::new();
    for (name, commit) in refs.tags.iter().chain(refs.branches.iter()) {
        if name != base && name != "base" {
            envs.insert(name.clone(), commit.clone());
        }
    }
    if let Some(c) = refs.branches.get(base).or_else(|| refs.tags.get(base)) {
        envs.insert("base".to_string(), c.clone());
    }
    envs
}

/// Salt's `check_whitelist_blacklist` on an environment name: each entry is
/// a glob or a regular expression matching the whole name.
pub fn exposed(env: &str, whitelist: &[String], blacklist: &[String]) -> bool {
    let matches = |pat: &String| {
        globset::Glob::new(pat).is_ok_and(|g| g.compile_matcher().is_match(env))
            || regex::Regex::new(&format!(r"\A(?:{pat})\z")).is_ok_and(|r| r.is_match(env))
    };
    if blacklist.iter().any(matches) {
        return false;
    }
    whitelist.is_empty() || whitelist.iter().any(matches)
}

/// A retired snapshot of `commit` still held by some old view, or left on
/// disk since: taken back instead of built again.
fn revive(state: &mut RemoteState, commit: &str) -> Option<Arc<Snapshot>> {
    let i = state
        .retired
        .iter()
        .position(|(dir, _)| dir.file_name().is_some_and(|n| n == commit))?;
    let (_, weak) = state.retired.remove(i);
    weak.upgrade()
}

/// Deletes retired snapshots nothing holds any more.
fn delete_unused(state: &mut RemoteState) {
    state.retired.retain(|(dir, weak)| {
        if weak.strong_count() > 0 {
            return true;
        }
        if let Err(error) = std::fs::remove_dir_all(dir) {
            if error.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(dir = %dir.display(), %error, "gitfs: cannot remove an old snapshot");
            }
        }
        false
    });
}

/// The snapshot of `commit`: reused when its directory exists (complete, as
/// it is renamed into place only when done), else built.
fn build_snapshot(
    mirror: &Mirror,
    conf: &RemoteConf,
    snaps_dir: &Path,
    commit: &str,
) -> Result<Snapshot, GitError> {
    let dir = snaps_dir.join(commit);
    if dir.is_dir() {
        return Ok(Snapshot {
            commit: commit.to_string(),
            dir,
        });
    }
    let tmp = snaps_dir.join(format!(".tmp-{commit}-{}", fastrand::u64(..)));
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| GitError::Io { path, source }
    };
    let built = mirror
        .extract(commit, &conf.root, &tmp, &conf.mountpoint)
        .and_then(|()| std::fs::rename(&tmp, &dir).map_err(io(&dir)));
    if let Err(e) = built {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    tracing::debug!(remote = %conf.label(), %commit, "gitfs snapshot built");
    Ok(Snapshot {
        commit: commit.to_string(),
        dir,
    })
}

#[cfg(test)]
mod tests;
