//! The git CLI, run against one bare mirror per remote. Only plumbing
//! commands with machine-readable output are used, so the user's git
//! configuration (credentials, proxies, ssh) still applies but cannot change
//! what is parsed.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use brine_process::{Ending, Run};

use brine_states::source::clean_rel_path;

/// A fetch that takes longer is killed: the next update tries again, and
/// the last fetched refs keep being served meanwhile.
const FETCH_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run git: {0}")]
    Spawn(std::io::Error),
    #[error("git {command} failed: {stderr}")]
    Failed { command: String, stderr: String },
    #[error("git {command} did not finish within {seconds} seconds")]
    TimedOut { command: String, seconds: u64 },
    #[error("git {command}: unexpected output: {message}")]
    Output { command: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> GitError + '_ {
    move |source| GitError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Branch and tag names of a mirror, each with the commit it points to.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Refs {
    pub branches: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

/// A bare repository mirroring one remote's branches and tags.
pub struct Mirror {
    pub dir: PathBuf,
}

impl Mirror {
    pub fn new(dir: PathBuf) -> Mirror {
        Mirror { dir }
    }

    fn git(&self) -> Command {
        let mut cmd = Command::new("git");
        cmd.arg("--git-dir")
            .arg(&self.dir)
            // A daemon has nobody to answer a password prompt.
            .env("GIT_TERMINAL_PROMPT", "0");
        cmd
    }

    /// Creates the bare repository unless it exists.
    pub fn ensure(&self) -> Result<(), GitError> {
        if self.dir.join("HEAD").is_file() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        let mut cmd = Command::new("git");
        cmd.args(["init", "--bare", "--quiet"]).arg(&self.dir);
        output(cmd, "init").map(drop)
    }

    /// Fetches every branch and tag of `url`, dropping those gone upstream.
    pub fn fetch(&self, url: &str) -> Result<(), GitError> {
        let mut cmd = self.git();
        cmd.args([
            "fetch",
            "--quiet",
            "--prune",
            "--force",
            "--no-write-fetch-head",
            "--",
            url,
            "+refs/heads/*:refs/heads/*",
            "+refs/tags/*:refs/tags/*",
        ]);
        run_git(cmd, "fetch", Some(FETCH_TIMEOUT)).map(drop)
    }

    /// The mirror's branches and tags, annotated tags peeled to their commit.
    /// Refs to anything but a commit are left out.
    pub fn refs(&self) -> Result<Refs, GitError> {
        let mut cmd = self.git();
        cmd.args([
            "for-each-ref",
            "--format=%(refname)%00%(objecttype)%00%(objectname)%00%(*objecttype)%00%(*objectname)",
            "refs/heads",
            "refs/tags",
        ]);
        let out = output(cmd, "for-each-ref")?;
        let mut refs = Refs::default();
        for line in String::from_utf8_lossy(&out).lines() {
            let f: Vec<&str> = line.split('\0').collect();
            let [name, ty, id, peeled_ty, peeled_id] = f[..] else {
                return Err(GitError::Output {
                    command: "for-each-ref".into(),
                    message: line.to_string(),
                });
            };
            let commit = match (ty, peeled_ty) {
                ("commit", _) => id,
                ("tag", "commit") => peeled_id,
                _ => continue,
            };
            if let Some(b) = name.strip_prefix("refs/heads/") {
                refs.branches.insert(b.to_string(), commit.to_string());
            } else if let Some(t) = name.strip_prefix("refs/tags/") {
                refs.tags.insert(t.to_string(), commit.to_string());
            }
        }
        Ok(refs)
    }

    /// Writes the files of `commit` under `root` (a directory of the
    /// repository, empty for all) into `dest/mountpoint`. Blob bytes are
    /// written as stored, without attribute filters or line-ending
    /// conversion, as Salt serves them. A missing `root` gives no files.
    pub fn extract(
        &self,
        commit: &str,
        root: &str,
        dest: &Path,
        mountpoint: &str,
    ) -> Result<(), GitError> {
        let top = if mountpoint.is_empty() {
            dest.to_path_buf()
        } else {
            dest.join(mountpoint)
        };
        std::fs::create_dir_all(&top).map_err(io_err(&top))?;
        let treeish = if root.is_empty() {
            format!("{commit}^{{tree}}")
        } else {
            format!("{commit}:{root}")
        };
        let mut cmd = self.git();
        cmd.args(["cat-file", "-t", &treeish]);
        match output(cmd, "cat-file -t") {
            Ok(ty) if ty.trim_ascii() == b"tree" => {}
            // The root is not a directory of this commit: nothing to serve.
            Ok(_) | Err(GitError::Failed { .. }) => return Ok(()),
            Err(e) => return Err(e),
        }
        let mut cmd = self.git();
        cmd.args(["ls-tree", "-r", "-z", &treeish]);
        let listing = output(cmd, "ls-tree")?;
        let mut files: Vec<(String, Vec<(PathBuf, bool)>)> = Vec::new();
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        let mut links: Vec<(String, PathBuf)> = Vec::new();
        for entry in listing.split(|b| *b == 0).filter(|e| !e.is_empty()) {
            let Some(tab) = entry.iter().position(|b| *b == b'\t') else {
                continue;
            };
            let meta = String::from_utf8_lossy(&entry[..tab]);
            let mut parts = meta.split(' ');
            let (Some(mode), Some(kind), Some(id)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let Some(rel) = safe_path(&entry[tab + 1..]) else {
                tracing::debug!(
                    path = %String::from_utf8_lossy(&entry[tab + 1..]),
                    "gitfs: tree entry with an unusable path skipped"
                );
                continue;
            };
            let path = top.join(&rel);
            match (kind, mode) {
                ("blob", "120000") => links.push((id.to_string(), path)),
                ("blob", _) => {
                    let exec = mode == "100755";
                    match index.get(id) {
                        Some(&i) => files[i].1.push((path, exec)),
                        None => {
                            index.insert(id.to_string(), files.len());
                            files.push((id.to_string(), vec![(path, exec)]));
                        }
                    }
                }
                // Submodules ("commit") have no content here, as in Salt.
                _ => {}
            }
        }
        let link_set: std::collections::BTreeSet<&str> =
            links.iter().map(|l| l.0.as_str()).collect();
        // Each blob once: files first, then link targets not also a file.
        let mut wanted: Vec<String> = files.iter().map(|f| f.0.clone()).collect();
        wanted.extend(
            link_set
                .iter()
                .filter(|id| !index.contains_key(**id))
                .map(|id| id.to_string()),
        );
        let mut targets: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        self.read_blobs(&wanted, |id, size, reader| {
            if let Some(&i) = index.get(id) {
                let paths = &files[i].1;
                write_blob(reader, size, paths)?;
                if link_set.contains(id) {
                    let first = &paths[0].0;
                    targets.insert(id.to_string(), std::fs::read(first).map_err(io_err(first))?);
                }
            } else {
                let mut buf = Vec::new();
                reader
                    .take(size)
                    .read_to_end(&mut buf)
                    .map_err(io_err(dest))?;
                targets.insert(id.to_string(), buf);
            }
            Ok(())
        })?;
        // Symlinks last, and never below another symlink: a crafted tree
        // cannot make a later write go through a link.
        for (id, path) in links {
            let Some(target) = targets.get(&id) else {
                continue;
            };
            if has_link_between(dest, &path) || path.symlink_metadata().is_ok() {
                continue;
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io_err(parent))?;
            }
            let target = std::ffi::OsStr::from_bytes(target);
            std::os::unix::fs::symlink(target, &path).map_err(io_err(&path))?;
        }
        Ok(())
    }

    /// Streams the blobs `ids` through `git cat-file --batch`, calling
    /// `each(id, size, reader)`; `each` must consume exactly `size` bytes.
    fn read_blobs(
        &self,
        ids: &[String],
        mut each: impl FnMut(&str, u64, &mut dyn BufRead) -> Result<(), GitError>,
    ) -> Result<(), GitError> {
        if ids.is_empty() {
            return Ok(());
        }
        // Not through the process runner: this is a conversation, blobs are
        // consumed as they stream (a tree may be larger than any cap), and
        // git exits when its input ends.
        let mut cmd = self.git();
        cmd.args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(GitError::Spawn)?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        let input: Vec<u8> = ids
            .iter()
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        // Written from another thread: git answers while we still ask.
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let stdout = child.stdout.take().expect("piped stdout");
        let mut reader = BufReader::new(stdout);
        let result = (|| {
            let bad = |message: String| GitError::Output {
                command: "cat-file --batch".into(),
                message,
            };
            for _ in ids {
                let mut header = String::new();
                reader
                    .read_line(&mut header)
                    .map_err(|e| bad(e.to_string()))?;
                let mut parts = header.split_whitespace();
                let (Some(id), Some(kind), Some(size)) = (parts.next(), parts.next(), parts.next())
                else {
                    return Err(bad(header.trim().to_string()));
                };
                if kind != "blob" {
                    return Err(bad(header.trim().to_string()));
                }
                let size: u64 = size.parse().map_err(|_| bad(header.trim().to_string()))?;
                let id = id.to_string();
                each(&id, size, &mut reader)?;
                let mut nl = [0u8; 1];
                reader.read_exact(&mut nl).map_err(|e| bad(e.to_string()))?;
            }
            Ok(())
        })();
        let _ = writer.join();
        drop(reader);
        let out = child.wait_with_output().map_err(GitError::Spawn)?;
        result?;
        if !out.status.success() {
            return Err(GitError::Failed {
                command: "cat-file --batch".into(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(())
    }
}

/// A tree entry's path if it is usable as a relative file server path: UTF-8,
/// no `..`, `.`, empty or `.git` components.
fn safe_path(raw: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(raw).ok()?;
    let clean = clean_rel_path(s).ok()?;
    if clean != s || clean.is_empty() || clean.split('/').any(|c| c == ".git") {
        return None;
    }
    Some(clean)
}

/// Whether a directory between `top` and `path` is a symlink.
fn has_link_between(top: &Path, path: &Path) -> bool {
    let mut cur = path.parent();
    while let Some(dir) = cur {
        if dir == top || !dir.starts_with(top) {
            return false;
        }
        if dir
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            return true;
        }
        cur = dir.parent();
    }
    false
}

/// Copies `size` bytes from `reader` to the first path, then that file to
/// the others (the same blob at several paths).
fn write_blob(
    reader: &mut dyn BufRead,
    size: u64,
    paths: &[(PathBuf, bool)],
) -> Result<(), GitError> {
    let (first, exec) = &paths[0];
    if let Some(parent) = first.parent() {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    let mut f = std::fs::File::create(first).map_err(io_err(first))?;
    let n = std::io::copy(&mut reader.take(size), &mut f).map_err(io_err(first))?;
    if n != size {
        return Err(GitError::Output {
            command: "cat-file --batch".into(),
            message: format!("blob for {} ended early", first.display()),
        });
    }
    set_exec(first, *exec)?;
    for (path, exec) in &paths[1..] {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        std::fs::copy(first, path).map_err(io_err(path))?;
        set_exec(path, *exec)?;
    }
    Ok(())
}

fn set_exec(path: &Path, exec: bool) -> Result<(), GitError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = if exec { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io_err(path))
}

/// Runs `cmd` through the process runner to completion; its stdout, or
/// `Failed` with its stderr, or `TimedOut`. Git's output is parsed, so it
/// is not capped: a cut listing would be misread.
fn run_git(cmd: Command, what: &str, limit: Option<Duration>) -> Result<Vec<u8>, GitError> {
    let done = brine_process::run(Run::new(cmd).cap(usize::MAX).timeout(limit))
        .map_err(GitError::Spawn)?;
    match done.ending {
        Ending::TimedOut => Err(GitError::TimedOut {
            command: what.to_string(),
            seconds: limit.unwrap_or_default().as_secs(),
        }),
        _ if done.success() => Ok(done.stdout),
        _ => Err(GitError::Failed {
            command: what.to_string(),
            stderr: done.stderr_lossy().trim().to_string(),
        }),
    }
}

fn output(cmd: Command, what: &str) -> Result<Vec<u8>, GitError> {
    run_git(cmd, what, None)
}
