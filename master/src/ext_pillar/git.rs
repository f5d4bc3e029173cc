//! `git` ext_pillar (Salt's git_pillar): each remote's branch is fetched
//! with the gitfs machinery (a bare mirror and an immutable snapshot of the
//! branch's tree under `cachedir/git_pillar`), then its top file and SLS are
//! compiled with the pillar compiler, in order, each merged into the last.
//!
//! A remote is fetched when its pillar is first wanted and again once its
//! last fetch is older than `git_pillar_update_interval`. A fetch that fails
//! is logged and the last fetched tree keeps being used; with nothing ever
//! fetched, the remote is an error in the minion's pillar.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use brine_states::LocalRoots;

use super::conf::GitRemote;
use crate::gitfs::{GitFs, GitfsConfig, RemoteConf};

/// One remote of a `git:` group, with its mirror.
pub struct Remote {
    pub conf: GitRemote,
    fs: GitFs,
    /// When a fetch was last tried (None: never).
    last_try: Mutex<Option<Instant>>,
}

/// One `git:` entry of `ext_pillar`.
pub struct Group {
    pub remotes: Vec<Remote>,
}

impl Group {
    /// Mirrors live under `cachedir/git_pillar/<key>` (see [`cache_key`]).
    pub fn new(cachedir: &Path, remotes: &[GitRemote]) -> Group {
        Group {
            remotes: remotes
                .iter()
                .map(|r| {
                    let dir = cachedir.join("git_pillar").join(cache_key(r));
                    let conf = GitfsConfig {
                        remotes: vec![RemoteConf {
                            url: r.url.clone(),
                            name: r.name.clone(),
                            root: r.root.clone(),
                            mountpoint: r.mountpoint.clone(),
                            // The branch checked out is the mirror's `base`.
                            base: if r.branch == "__env__" {
                                r.base.clone()
                            } else {
                                r.branch.clone()
                            },
                        }],
                        // `__env__` may want any branch; otherwise only one.
                        saltenv_whitelist: if r.branch == "__env__" {
                            Vec::new()
                        } else {
                            vec!["base".into()]
                        },
                        ..GitfsConfig::default()
                    };
                    Remote {
                        conf: r.clone(),
                        fs: GitFs::new(&dir, &conf),
                        last_try: Mutex::new(None),
                    }
                })
                .collect(),
        }
    }

    /// Each remote's pillar roots for `pillarenv` (None: every remote), in
    /// order: (remote, environment, directories: its own first, then the
    /// other remotes of the group in that environment, as Salt's
    /// `git_pillar_includes`). Remotes with a mountpoint only lend their
    /// files. Errors: remotes with nothing to compile from.
    pub fn roots(
        &self,
        pillarenv: Option<&str>,
        every: Duration,
    ) -> (Vec<(String, String, LocalRoots)>, Vec<String>) {
        let mut errors = Vec::new();
        let mut dirs: Vec<Option<(String, PathBuf)>> = Vec::new();
        for r in &self.remotes {
            r.refresh(every);
            let (env, view_env) = r.env(pillarenv);
            let view = r.fs.view();
            let dir = view
                .roots()
                .roots
                .get(&view_env)
                .and_then(|d| d.first().cloned());
            match dir {
                Some(d) => dirs.push(Some((env, d))),
                None => {
                    dirs.push(None);
                    if pillarenv.is_none_or(|p| p == env) {
                        errors.push(format!(
                            "Failed to load ext_pillar git: remote '{}': branch '{}' has not been fetched (see the master log)",
                            r.conf.label(),
                            if r.conf.branch == "__env__" { view_env.as_str() } else { r.conf.branch.as_str() },
                        ));
                    }
                }
            }
        }
        let mut out = Vec::new();
        for (i, r) in self.remotes.iter().enumerate() {
            let Some((env, dir)) = &dirs[i] else { continue };
            if !r.conf.mountpoint.is_empty() {
                continue;
            }
            if pillarenv.is_some_and(|p| p != env) {
                continue;
            }
            let mut list = vec![dir.clone()];
            for (j, other) in dirs.iter().enumerate() {
                if let Some((e, d)) = other {
                    if j != i && e == env {
                        list.push(d.clone());
                    }
                }
            }
            out.push((
                r.conf.label(),
                env.clone(),
                LocalRoots::new(BTreeMap::from([(env.clone(), list)])),
            ));
        }
        (out, errors)
    }
}

impl Remote {
    /// The pillar environment and the mirror environment holding the
    /// branch: `env` if set, else `base` for the base branch, else the
    /// branch; `__env__` follows the pillarenv.
    fn env(&self, pillarenv: Option<&str>) -> (String, String) {
        let c = &self.conf;
        if c.branch == "__env__" {
            let target = pillarenv.unwrap_or("base");
            let view_env = if target == c.base { "base" } else { target };
            return (
                c.env.clone().unwrap_or_else(|| target.to_string()),
                view_env.to_string(),
            );
        }
        let env = match &c.env {
            Some(e) => e.clone(),
            None if c.branch == c.base => "base".to_string(),
            None => c.branch.clone(),
        };
        (env, "base".to_string())
    }

    /// Fetches when never tried or last tried more than `every` ago. Until
    /// a first tree is there, callers wait for the fetch under way (a
    /// master's first compiles must not all miss it); afterwards a fetch
    /// under way is not waited for: the last tree is used meanwhile.
    fn refresh(&self, every: Duration) {
        let have_tree = !self.fs.view().envs().is_empty();
        let mut last = if have_tree {
            match self.last_try.try_lock() {
                Ok(g) => g,
                Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => return,
            }
        } else {
            self.last_try.lock().unwrap_or_else(|p| p.into_inner())
        };
        if last.is_some_and(|t| t.elapsed() < every) {
            return;
        }
        *last = Some(Instant::now());
        match self.fs.update() {
            Ok(()) => tracing::debug!(remote = %self.conf.label(), "git ext_pillar fetched"),
            Err(error) => {
                tracing::error!(remote = %self.conf.label(), %error, "git ext_pillar: fetch failed; using the last fetched tree, if any")
            }
        }
    }
}

/// A cache directory per remote: its URL, branch, root, mountpoint and name.
fn cache_key(r: &GitRemote) -> String {
    let id = format!(
        "{}\0{}\0{}\0{}\0{}",
        r.url,
        r.branch,
        r.root,
        r.mountpoint,
        r.name.as_deref().unwrap_or("")
    );
    brine_states::source::sha256_hex(id.as_bytes())[..24].to_string()
}

/// Removes cache directories of git ext_pillar remotes no longer configured.
pub fn sweep(cachedir: &Path, groups: &[&Group]) {
    let base = cachedir.join("git_pillar");
    let keep: Vec<String> = groups
        .iter()
        .flat_map(|g| g.remotes.iter().map(|r| cache_key(&r.conf)))
        .collect();
    if let Ok(rd) = std::fs::read_dir(&base) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !keep.contains(&name) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}
