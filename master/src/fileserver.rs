//! The master's file server and pillar compiler for connected minions.
//!
//! Files come from the backends of `fileserver_backend`, searched in that
//! order: `roots` (the master's `file_roots`) and `gitfs` (snapshots of git
//! branches and tags, see [`crate::gitfs`]). Both are read through
//! [`LocalRoots`] (which refuses `..`, absolute paths and symlinks leading
//! out of a root); a request path is also checked after percent-decoding,
//! so `%2e%2e%2f` is refused like `../`. Hashes are cached by (path, mtime,
//! size) so that a listing does not read every file again.
//!
//! **Invariant:** the minion id used here (for pillar) is the session's,
//! taken from the client certificate, never from a message.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use brine_proto::targeting::MinionFacts;
use brine_proto::{FileBlob, MAX_FRAME_LEN};
use brine_states::compile::SlsRenderer;
use brine_states::pillar::{compile_pillar_merged, CompiledPillar, Merging};
use brine_states::render::ContextRenderer;
use brine_states::source::{clean_rel_path, sha256_file};
use brine_states::{FileSource, LocalRoots, SourceError};

use crate::gitfs::{GitFs, GitfsConfig, UpdateError, View};

/// Room left in a frame for the envelope around a file's bytes.
const FRAME_OVERHEAD: usize = 64 * 1024;

/// Largest file the server sends in one reply.
pub const MAX_FILE_LEN: u64 = (MAX_FRAME_LEN - FRAME_OVERHEAD) as u64;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A path that tries to leave the roots: logged by the caller as an attack.
    #[error("refused path '{0}': outside the file roots")]
    Refused(String),
    #[error("{0}")]
    Source(SourceError),
    #[error("file '{path}' is {len} bytes, over the file server's limit of {limit} bytes")]
    TooLarge { path: String, len: u64, limit: u64 },
}

impl From<SourceError> for ServeError {
    fn from(e: SourceError) -> Self {
        match e {
            SourceError::Outside(p) => ServeError::Refused(p),
            other => ServeError::Source(other),
        }
    }
}

/// sha256 of a file as last seen, valid while mtime and size are unchanged.
#[derive(Clone)]
struct HashEntry {
    mtime: SystemTime,
    len: u64,
    sha256: String,
}

/// A file server backend (`fileserver_backend`), named as Salt's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Roots,
    Gitfs,
}

impl Backend {
    /// `roots`, `gitfs` (or Salt's alias `git`); `None` for others.
    pub fn parse(name: &str) -> Option<Backend> {
        match name.trim() {
            "roots" => Some(Backend::Roots),
            "gitfs" | "git" => Some(Backend::Gitfs),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Roots => "roots",
            Backend::Gitfs => "gitfs",
        }
    }
}

/// One backend's files at the time of a request; a gitfs view is held so
/// the request finishes on the snapshots it started on.
enum Source<'a> {
    Roots(&'a LocalRoots),
    Git(Arc<View>),
}

impl Source<'_> {
    fn roots(&self) -> &LocalRoots {
        match self {
            Source::Roots(r) => r,
            Source::Git(v) => v.roots(),
        }
    }
}

pub struct FileServer {
    files: LocalRoots,
    /// Search order (`fileserver_backend`).
    backends: Vec<Backend>,
    gitfs: Option<GitFs>,
    pillar: LocalRoots,
    hashes: Mutex<HashMap<PathBuf, HashEntry>>,
}

impl FileServer {
    /// A file server with the `roots` backend only.
    pub fn new(
        file_roots: BTreeMap<String, Vec<PathBuf>>,
        pillar_roots: BTreeMap<String, Vec<PathBuf>>,
    ) -> FileServer {
        FileServer {
            files: LocalRoots::new(file_roots),
            backends: vec![Backend::Roots],
            gitfs: None,
            pillar: LocalRoots::new(pillar_roots),
            hashes: Mutex::new(HashMap::new()),
        }
    }

    /// The file server `config` describes. gitfs serves nothing until its
    /// first [`update_gitfs`](FileServer::update_gitfs).
    pub fn from_config(config: &crate::MasterConfig) -> FileServer {
        Self::with_backends(
            config.file_roots.clone(),
            config.pillar_roots.clone(),
            &config.fileserver_backend,
            &config.cachedir,
            &config.gitfs,
        )
    }

    pub fn with_backends(
        file_roots: BTreeMap<String, Vec<PathBuf>>,
        pillar_roots: BTreeMap<String, Vec<PathBuf>>,
        backends: &[Backend],
        cachedir: &Path,
        gitfs: &GitfsConfig,
    ) -> FileServer {
        let mut fs = Self::new(file_roots, pillar_roots);
        fs.backends = backends.to_vec();
        if backends.contains(&Backend::Gitfs) && !gitfs.remotes.is_empty() {
            fs.gitfs = Some(GitFs::new(cachedir, gitfs));
        }
        fs
    }

    /// The gitfs backend, when configured with remotes.
    pub fn gitfs(&self) -> Option<&GitFs> {
        self.gitfs.as_ref()
    }

    /// Fetches the gitfs remotes now (blocks; run it off the runtime).
    /// `Ok` when gitfs is not configured.
    pub fn update_gitfs(&self) -> Result<(), UpdateError> {
        let Some(g) = &self.gitfs else {
            return Ok(());
        };
        let result = g.update();
        // Hashes of snapshots just deleted are of no further use.
        lock(&self.hashes).retain(|path, _| path.exists());
        result
    }

    /// The backends in search order, `only` those when given.
    fn sources(&self, only: Option<&[Backend]>) -> Vec<Source<'_>> {
        self.backends
            .iter()
            .filter(|b| only.is_none_or(|o| o.contains(b)))
            .filter_map(|b| match b {
                Backend::Roots => Some(Source::Roots(&self.files)),
                Backend::Gitfs => self.gitfs.as_ref().map(|g| Source::Git(g.view())),
            })
            .collect()
    }

    /// Every file of `saltenv` with its sha256, sorted by path. Files whose
    /// symlinks lead out of the roots are left out.
    pub fn list(&self, saltenv: &str) -> Result<Vec<(String, String)>, ServeError> {
        self.list_in(saltenv, None)
    }

    /// [`list`](FileServer::list) over `only` these backends when given.
    /// A path in several backends is the first one's, as `get` serves it.
    pub fn list_in(
        &self,
        saltenv: &str,
        only: Option<&[Backend]>,
    ) -> Result<Vec<(String, String)>, ServeError> {
        let mut out = BTreeMap::new();
        let mut known_env = false;
        for source in self.sources(only) {
            let roots = source.roots();
            let rels = match roots.list(saltenv) {
                Ok(r) => r,
                Err(SourceError::NoEnv(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            known_env = true;
            for rel in rels {
                if out.contains_key(&rel) {
                    continue;
                }
                let disk = match roots.locate(saltenv, &rel) {
                    Ok(Some(p)) => p,
                    Ok(None) | Err(SourceError::Outside(_)) => continue,
                    Err(e) => return Err(e.into()),
                };
                match self.sha256_of(&disk) {
                    Ok((sha, _)) => {
                        out.insert(rel, sha);
                    }
                    // Removed between the walk and now: not in the listing.
                    Err(ServeError::Source(SourceError::Io { source, .. }))
                        if source.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if !known_env {
            return Err(SourceError::NoEnv(saltenv.to_string()).into());
        }
        Ok(out.into_iter().collect())
    }

    /// Every directory of `saltenv` in any backend, empty ones included,
    /// sorted; directories whose symlinks lead out are not followed.
    pub fn dir_list(&self, saltenv: &str) -> Result<Vec<String>, ServeError> {
        let mut out = std::collections::BTreeSet::new();
        let mut known_env = false;
        for source in self.sources(None) {
            match source.roots().list_dirs(saltenv) {
                Ok(dirs) => {
                    known_env = true;
                    out.extend(dirs);
                }
                Err(SourceError::NoEnv(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        if !known_env {
            return Err(SourceError::NoEnv(saltenv.to_string()).into());
        }
        Ok(out.into_iter().collect())
    }

    /// The file server's environments, sorted: every backend's.
    pub fn envs(&self) -> Vec<String> {
        self.envs_in(None)
    }

    /// [`envs`](FileServer::envs) of `only` these backends when given.
    pub fn envs_in(&self, only: Option<&[Backend]>) -> Vec<String> {
        let mut all = std::collections::BTreeSet::new();
        for source in self.sources(only) {
            all.extend(source.roots().envs());
        }
        all.into_iter().collect()
    }

    /// One file of `saltenv`. `Ok(None)`: no root has it. When `have_sha256`
    /// is the file's hash, the blob carries no bytes.
    pub fn get(
        &self,
        saltenv: &str,
        path: &str,
        have_sha256: Option<&str>,
    ) -> Result<Option<FileBlob>, ServeError> {
        let rel = check_request_path(path)?;
        let sources = self.sources(None);
        let mut found = None;
        let mut known_env = false;
        for source in &sources {
            match source.roots().locate(saltenv, &rel) {
                Ok(Some(p)) => {
                    found = Some(p);
                    break;
                }
                Ok(None) => known_env = true,
                Err(SourceError::NoEnv(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let Some(disk) = found else {
            if !known_env {
                return Err(SourceError::NoEnv(saltenv.to_string()).into());
            }
            return Ok(None);
        };
        let (sha256, len) = self.sha256_of(&disk)?;
        if have_sha256.is_some_and(|h| h.eq_ignore_ascii_case(&sha256)) {
            return Ok(Some(FileBlob { sha256, data: None }));
        }
        if len > MAX_FILE_LEN {
            return Err(ServeError::TooLarge {
                path: rel,
                len,
                limit: MAX_FILE_LEN,
            });
        }
        let data = std::fs::read(&disk).map_err(|source| io_error(&rel, source))?;
        // The file may have changed since it was hashed: hash what is sent.
        let sha256 = sha256_hex(&data);
        Ok(Some(FileBlob {
            sha256,
            data: Some(data),
        }))
    }

    /// The pillar of the minion `facts` describes, from the pillar roots;
    /// only environment `saltenv` when given (Salt's `pillarenv`).
    pub fn pillar(
        &self,
        facts: &MinionFacts<'_>,
        saltenv: Option<&str>,
        renderer: &dyn SlsRenderer,
        nodegroups: &BTreeMap<String, brine_proto::targeting::NodegroupDef>,
    ) -> CompiledPillar {
        self.pillar_merged(facts, saltenv, renderer, nodegroups, &Merging::default())
    }

    /// [`FileServer::pillar`] merging sources as `merging` says
    /// (`pillar_source_merging_strategy`, `pillar_merge_lists`).
    pub fn pillar_merged(
        &self,
        facts: &MinionFacts<'_>,
        saltenv: Option<&str>,
        renderer: &dyn SlsRenderer,
        nodegroups: &BTreeMap<String, brine_proto::targeting::NodegroupDef>,
        merging: &Merging,
    ) -> CompiledPillar {
        match saltenv {
            None => compile_pillar_merged(&self.pillar, renderer, facts, merging, None, nodegroups),
            Some(env) => {
                let only: BTreeMap<String, Vec<PathBuf>> = self
                    .pillar
                    .roots
                    .get(env)
                    .map(|dirs| BTreeMap::from([(env.to_string(), dirs.clone())]))
                    .unwrap_or_default();
                compile_pillar_merged(
                    &LocalRoots::new(only),
                    renderer,
                    facts,
                    merging,
                    Some(env),
                    nodegroups,
                )
            }
        }
    }

    /// sha256 and size of `disk`, from the cache while mtime and size match.
    fn sha256_of(&self, disk: &Path) -> Result<(String, u64), ServeError> {
        let rel = disk.display().to_string();
        let meta = std::fs::metadata(disk).map_err(|source| io_error(&rel, source))?;
        let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let len = meta.len();
        if let Some(e) = lock(&self.hashes).get(disk) {
            if e.mtime == mtime && e.len == len {
                return Ok((e.sha256.clone(), len));
            }
        }
        let sha256 = sha256_file(disk).map_err(|source| io_error(&rel, source))?;
        lock(&self.hashes).insert(
            disk.to_path_buf(),
            HashEntry {
                mtime,
                len,
                sha256: sha256.clone(),
            },
        );
        Ok((sha256, len))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn io_error(path: &str, source: std::io::Error) -> ServeError {
    ServeError::Source(SourceError::Io {
        path: path.to_string(),
        source,
    })
}

/// The relative path a request names, or `Refused`. Checked as sent and
/// after percent-decoding, so an encoded `..` or separator cannot slip past
/// (the lookup itself uses the path as sent, so a file really named `a%20b`
/// is still served).
pub fn check_request_path(path: &str) -> Result<String, ServeError> {
    let refused = || ServeError::Refused(path.to_string());
    if path.is_empty() {
        return Err(refused());
    }
    let decoded = percent_decode(path).ok_or_else(refused)?;
    if decoded != path {
        clean_rel_path(&decoded).map_err(|_| refused())?;
    }
    let rel = clean_rel_path(path).map_err(|_| refused())?;
    if rel.is_empty() {
        return Err(refused());
    }
    Ok(rel)
}

/// `%XX` decoded repeatedly until nothing changes (double encoding included);
/// `None` when the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let mut cur = s.to_string();
    for _ in 0..4 {
        let b = cur.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 2 < b.len() {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    out.push(v);
                    i += 3;
                    continue;
                }
            }
            out.push(b[i]);
            i += 1;
        }
        let next = String::from_utf8(out).ok()?;
        if next == cur {
            return Some(cur);
        }
        cur = next;
    }
    Some(cur)
}

pub use brine_states::source::sha256_hex;

/// The renderer of pillar SLS on the master: Jinja then YAML with the
/// minion's grains (from the master's store) and an empty pillar.
/// `functions` are the templates' `salt[...]`; without them a call is a
/// render error naming the function.
pub fn pillar_renderer<'a>(
    files: &'a dyn FileSource,
    grains: &'a serde_json::Map<String, serde_json::Value>,
    opts: &'a serde_json::Value,
    functions: Option<&'a dyn brine_states::ExecCaller>,
) -> ContextRenderer<'a> {
    static EMPTY_PILLAR: std::sync::LazyLock<serde_json::Value> =
        std::sync::LazyLock::new(|| serde_json::Value::Object(serde_json::Map::new()));
    ContextRenderer {
        files,
        caller: functions.unwrap_or(&NoFunctions),
        grains,
        pillar: &EMPTY_PILLAR,
        opts,
    }
}

struct NoFunctions;

impl brine_states::ExecCaller for NoFunctions {
    fn call(
        &self,
        fun: &str,
        _args: Vec<serde_json::Value>,
        _kwargs: serde_json::Map<String, serde_json::Value>,
    ) -> Result<serde_json::Value, brine_states::CallError> {
        Err(brine_states::CallError::Unknown(format!(
            "{fun} (execution functions are not available to pillar rendered on the master)"
        )))
    }

    fn has(&self, _fun: &str) -> bool {
        false
    }
}

impl FileServer {
    /// The pillar roots, for the renderer's imports.
    pub fn pillar_roots(&self) -> &LocalRoots {
        &self.pillar
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn server(dir: &Path) -> FileServer {
        let files = dir.join("files");
        let pillar = dir.join("pillar");
        std::fs::create_dir_all(files.join("a")).unwrap();
        std::fs::create_dir_all(&pillar).unwrap();
        std::fs::write(files.join("a/b.txt"), "hello\n").unwrap();
        std::fs::write(files.join("top.sls"), "base: {'*': [a]}\n").unwrap();
        FileServer::new(
            BTreeMap::from([("base".to_string(), vec![files])]),
            BTreeMap::from([("base".to_string(), vec![pillar])]),
        )
    }

    const HELLO_SHA: &str = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";

    #[test]
    fn lists_files_with_their_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let fs = server(dir.path());
        let list = fs.list("base").unwrap();
        assert_eq!(list[0], ("a/b.txt".to_string(), HELLO_SHA.to_string()));
        assert_eq!(list.len(), 2);
        assert!(matches!(
            fs.list("nope"),
            Err(ServeError::Source(SourceError::NoEnv(_)))
        ));
    }

    #[test]
    fn a_changed_file_is_hashed_again() {
        let dir = tempfile::tempdir().unwrap();
        let fs = server(dir.path());
        assert_eq!(fs.list("base").unwrap()[0].1, HELLO_SHA);
        std::fs::write(dir.path().join("files/a/b.txt"), "hello, longer\n").unwrap();
        assert_ne!(fs.list("base").unwrap()[0].1, HELLO_SHA);
    }

    #[test]
    fn get_sends_bytes_unless_the_minion_has_them() {
        let dir = tempfile::tempdir().unwrap();
        let fs = server(dir.path());
        let blob = fs.get("base", "a/b.txt", None).unwrap().unwrap();
        assert_eq!(blob.data.as_deref(), Some(&b"hello\n"[..]));
        assert_eq!(blob.sha256, HELLO_SHA);
        let blob = fs.get("base", "a/b.txt", Some(HELLO_SHA)).unwrap().unwrap();
        assert_eq!(blob.data, None);
        let blob = fs.get("base", "a/b.txt", Some("00")).unwrap().unwrap();
        assert!(blob.data.is_some());
        assert!(fs.get("base", "a/missing", None).unwrap().is_none());
    }

    #[test]
    fn paths_leaving_the_roots_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let fs = server(dir.path());
        std::fs::write(dir.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), dir.path().join("files/link"))
            .unwrap();
        for bad in [
            "../secret",
            "a/../../secret",
            "/etc/passwd",
            "%2e%2e/secret",
            "%2E%2E%2Fsecret",
            "a%2f..%2f..%2fsecret",
            "%252e%252e/secret",
            "..\\secret",
            "a/b.txt\0",
            "link",
            "",
        ] {
            let r = fs.get("base", bad, None);
            assert!(matches!(r, Err(ServeError::Refused(_))), "{bad:?}: {r:?}");
        }
        // The escaping symlink is not listed either.
        let names: Vec<_> = fs.list("base").unwrap().into_iter().map(|e| e.0).collect();
        assert_eq!(names, vec!["a/b.txt", "top.sls"]);
    }

    #[test]
    fn a_file_named_with_a_percent_is_served() {
        let dir = tempfile::tempdir().unwrap();
        let fs = server(dir.path());
        std::fs::write(dir.path().join("files/a%20b"), "x").unwrap();
        let blob = fs.get("base", "a%20b", None).unwrap().unwrap();
        assert_eq!(blob.data.as_deref(), Some(&b"x"[..]));
    }

    #[test]
    fn pillar_is_compiled_for_the_minion() {
        let dir = tempfile::tempdir().unwrap();
        let fs = server(dir.path());
        let p = dir.path().join("pillar");
        std::fs::write(
            p.join("top.sls"),
            "base:\n  'web*':\n    - web\n  'db*':\n    - db\n",
        )
        .unwrap();
        std::fs::write(p.join("web.sls"), "role: web\nport: 80\n").unwrap();
        std::fs::write(p.join("db.sls"), "role: db\n").unwrap();
        let grains = brine_proto::Grains::new();
        let facts = MinionFacts {
            id: "web1",
            grains: &grains,
            pillar: None,
        };
        let opts = json!({});
        let r = pillar_renderer(fs.pillar_roots(), facts.grains, &opts, None);
        let c = fs.pillar(&facts, None, &r, &BTreeMap::new());
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        assert_eq!(c.pillar, json!({"role": "web", "port": 80}));
        let c = fs.pillar(&facts, Some("dev"), &r, &BTreeMap::new());
        assert_eq!(c.pillar, json!({}));
    }

    /// A git repository with `web.sls` on master and a `dev` branch.
    fn git_repo(dir: &Path) -> PathBuf {
        let repo = dir.join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        let git = |args: &[&str]| {
            let out = std::process::Command::new("git")
                .arg("-C")
                .arg(&repo)
                .args([
                    "-c",
                    "user.name=T",
                    "-c",
                    "user.email=t@e",
                    "-c",
                    "commit.gpgsign=false",
                ])
                .args(args)
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
        };
        git(&["init", "--quiet", "--initial-branch=master"]);
        std::fs::write(repo.join("web.sls"), "from git\n").unwrap();
        std::fs::write(repo.join("git-only.txt"), "g\n").unwrap();
        git(&["add", "-A"]);
        git(&["commit", "--quiet", "-m", "x"]);
        git(&["branch", "dev"]);
        repo
    }

    fn with_backends(dir: &Path, backends: &[Backend]) -> FileServer {
        let repo = git_repo(dir);
        let files = dir.join("files");
        std::fs::create_dir_all(&files).unwrap();
        std::fs::write(files.join("web.sls"), "from roots\n").unwrap();
        let gitfs = GitfsConfig {
            remotes: vec![crate::gitfs::RemoteConf {
                url: repo.display().to_string(),
                name: None,
                root: String::new(),
                mountpoint: String::new(),
                base: "master".into(),
            }],
            ..GitfsConfig::default()
        };
        let fs = FileServer::with_backends(
            BTreeMap::from([("base".to_string(), vec![files])]),
            BTreeMap::new(),
            backends,
            &dir.join("cache"),
            &gitfs,
        );
        fs.update_gitfs().unwrap();
        fs
    }

    fn content(fs: &FileServer, env: &str, path: &str) -> String {
        let blob = fs.get(env, path, None).unwrap().unwrap();
        String::from_utf8(blob.data.unwrap()).unwrap()
    }

    #[test]
    fn backends_are_searched_in_the_configured_order() {
        let dir = tempfile::tempdir().unwrap();
        let fs = with_backends(dir.path(), &[Backend::Roots, Backend::Gitfs]);
        assert_eq!(fs.envs(), vec!["base", "dev"]);
        assert_eq!(content(&fs, "base", "web.sls"), "from roots\n");
        assert_eq!(content(&fs, "base", "git-only.txt"), "g\n");
        assert_eq!(content(&fs, "dev", "web.sls"), "from git\n");
        let list = fs.list("base").unwrap();
        let names: Vec<_> = list.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names, vec!["git-only.txt", "web.sls"]);
        // The listed hash is the served file's: the roots one.
        assert_eq!(list[1].1, sha256_hex(b"from roots\n"));
        assert_eq!(fs.envs_in(Some(&[Backend::Roots])), vec!["base"]);
        assert!(matches!(
            fs.get("nope", "web.sls", None),
            Err(ServeError::Source(SourceError::NoEnv(_)))
        ));

        let dir = tempfile::tempdir().unwrap();
        let fs = with_backends(dir.path(), &[Backend::Gitfs, Backend::Roots]);
        assert_eq!(content(&fs, "base", "web.sls"), "from git\n");
        let dir = tempfile::tempdir().unwrap();
        let fs = with_backends(dir.path(), &[Backend::Gitfs]);
        assert_eq!(fs.list("base").unwrap().len(), 2);
    }

    #[test]
    fn git_paths_leaving_the_snapshot_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let fs = with_backends(dir.path(), &[Backend::Gitfs]);
        for bad in [
            "../../../../etc/passwd",
            "%2e%2e/%2e%2e/etc/passwd",
            "/etc/passwd",
        ] {
            let r = fs.get("dev", bad, None);
            assert!(matches!(r, Err(ServeError::Refused(_))), "{bad:?}: {r:?}");
        }
    }
}
