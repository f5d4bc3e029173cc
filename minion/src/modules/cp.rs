//! `cp.*`: files from the master's file server (or the minion's own
//! `file_roots` with `file_client: local`), as Salt's `cp` module.

use std::path::{Path, PathBuf};

use brine_states::source::clean_rel_path;
use brine_states::{FileSource, LocalRoots, SourceError};
use serde_json::{json, Value};

use crate::registry::{Args, CallCtx, FunctionSpec, ModError, ModFuture};
use crate::remote::{local_roots, sha256_file, RemoteFiles};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "cp.cache_file",
        doc: "Copy a file from the file server into the minion's cache and return its path there \
              (False when the file server has no such file).\n\n\
              - path: a salt:// URL (`?saltenv=` allowed).\n\
              - saltenv: the environment (default base).",
        cli_example: "brine '*' cp.cache_file salt://path/to/file",
        run: cache_file,
    },
    FunctionSpec {
        name: "cp.get_dir",
        doc:
            "Copy a directory from the file server, recursively, and return the files written.\n\n\
              - path: a salt:// URL of a directory.\n\
              - dest: the local directory; the source directory is created inside it.\n\
              - saltenv: the environment (default base).",
        cli_example: "brine '*' cp.get_dir salt://path/to/dir/ /minion/dest",
        run: get_dir,
    },
    FunctionSpec {
        name: "cp.get_file",
        doc: "Copy one file from the file server to the minion and return the destination \
              ('' when the file server has no such file, False when the destination directory \
              is missing and makedirs is not set).\n\n\
              - path: a salt:// URL (`?saltenv=` allowed).\n\
              - dest: the local path; an existing directory or a trailing / keeps the file name.\n\
              - saltenv: the environment (default base).\n\
              - makedirs: create the destination's directories (default False).",
        cli_example: "brine '*' cp.get_file salt://path/to/file /minion/dest",
        run: get_file,
    },
    FunctionSpec {
        name: "cp.hash_file",
        doc: "Return the sha256 of a file on the file server as {hash_type, hsum} \
              ('' when there is no such file).\n\n\
              - path: a salt:// URL.\n\
              - saltenv: the environment (default base).",
        cli_example: "brine '*' cp.hash_file salt://path/to/file",
        run: hash_file,
    },
    FunctionSpec {
        name: "cp.list_master",
        doc: "List the files of an environment on the file server.\n\n\
              - saltenv: the environment (default base).\n\
              - prefix: only paths starting with it.",
        cli_example: "brine '*' cp.list_master",
        run: list_master,
    },
    FunctionSpec {
        name: "cp.list_master_dirs",
        doc: "List the directories of an environment on the file server, empty ones included.\n\n\
              - saltenv: the environment (default base).\n\
              - prefix: only paths starting with it.",
        cli_example: "brine '*' cp.list_master_dirs",
        run: list_master_dirs,
    },
    FunctionSpec {
        name: "cp.list_states",
        doc: "List the SLS names available in an environment on the file server.\n\n\
              - saltenv: the environment (default base).",
        cli_example: "brine '*' cp.list_states",
        run: list_states,
    },
];

/// Where this call's files come from.
enum Files {
    Remote(RemoteFiles),
    Local {
        roots: LocalRoots,
        /// `<cachedir>/files`.
        cache_dir: PathBuf,
    },
}

impl Files {
    /// The master's file server when connected, unless `file_client: local`
    /// (or no master at all, as for `brine-call`): then the own roots.
    fn for_call(ctx: &CallCtx) -> Result<Files, ModError> {
        match &ctx.master {
            Some(client) if ctx.config.file_client != "local" => {
                Ok(Files::Remote(RemoteFiles::new(
                    client.clone(),
                    tokio::runtime::Handle::current(),
                    &ctx.config.cachedir,
                )))
            }
            _ => Ok(Files::Local {
                roots: local_roots(&ctx.config).map_err(ModError::Failed)?,
                cache_dir: ctx.config.cachedir.join("files"),
            }),
        }
    }

    /// `(path, sha256 if known)` of every file of `saltenv`; empty for an
    /// unknown environment, as in Salt.
    async fn list(&self, saltenv: &str) -> Result<Vec<String>, SourceError> {
        let r = match self {
            Files::Remote(r) => r
                .listing(saltenv)
                .await
                .map(|l| l.keys().cloned().collect()),
            Files::Local { roots, .. } => roots.list(saltenv),
        };
        match r {
            Err(SourceError::NoEnv(_)) => Ok(Vec::new()),
            Err(SourceError::Remote(m)) if m.starts_with("no such environment") => Ok(Vec::new()),
            other => other,
        }
    }

    /// Every directory of `saltenv`; empty for an unknown environment.
    async fn dirs(&self, saltenv: &str) -> Result<Vec<String>, SourceError> {
        let r = match self {
            Files::Remote(r) => r.dir_listing(saltenv).await,
            Files::Local { roots, .. } => roots.list_dirs(saltenv),
        };
        match r {
            Err(SourceError::NoEnv(_)) => Ok(Vec::new()),
            Err(SourceError::Remote(m)) if m.starts_with("no such environment") => Ok(Vec::new()),
            other => other,
        }
    }

    async fn hash(&self, saltenv: &str, path: &str) -> Result<Option<String>, SourceError> {
        match self {
            Files::Remote(r) => {
                let rel = clean_rel_path(path)?;
                Ok(r.listing(saltenv).await?.get(&rel).cloned())
            }
            Files::Local { roots, .. } => match roots.locate(saltenv, path) {
                Ok(Some(p)) => sha256_file(&p).map(Some).map_err(|source| SourceError::Io {
                    path: path.to_string(),
                    source,
                }),
                Ok(None) | Err(SourceError::NoEnv(_)) => Ok(None),
                Err(e) => Err(e),
            },
        }
    }

    /// A local file holding `path`'s current bytes: the cached copy, or the
    /// file in the own roots.
    async fn fetch(&self, saltenv: &str, path: &str) -> Result<Option<PathBuf>, SourceError> {
        match self {
            Files::Remote(r) => r.cache(saltenv, path).await,
            Files::Local { roots, .. } => match roots.locate(saltenv, path) {
                Err(SourceError::NoEnv(_)) => Ok(None),
                other => other,
            },
        }
    }

    /// The copy of `path` in the minion's cache, made if needed.
    async fn cache(&self, saltenv: &str, path: &str) -> Result<Option<PathBuf>, SourceError> {
        match self {
            Files::Remote(r) => r.cache(saltenv, path).await,
            Files::Local { cache_dir, .. } => {
                let Some(src) = self.fetch(saltenv, path).await? else {
                    return Ok(None);
                };
                let dest = cache_dir
                    .join(clean_rel_path(saltenv)?)
                    .join(clean_rel_path(path)?);
                copy_file(&src, &dest, true)?;
                Ok(Some(dest))
            }
        }
    }
}

fn failed(e: SourceError) -> ModError {
    ModError::Failed(e.to_string())
}

/// `salt://path?saltenv=env` into `(env, path)`; `saltenv` is the default.
fn split_source(source: &str, saltenv: Option<String>) -> Result<(String, String), ModError> {
    let Some(rest) = source.strip_prefix("salt://") else {
        return Err(ModError::Failed(format!(
            "'{source}' is not a salt:// URL; only the file server is supported here"
        )));
    };
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let from_query = query.and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("saltenv="))
            .map(str::to_string)
    });
    let env = from_query
        .or(saltenv)
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "base".to_string());
    Ok((env, path.to_string()))
}

fn copy_file(src: &Path, dest: &Path, makedirs: bool) -> Result<(), SourceError> {
    let io = |source| SourceError::Io {
        path: dest.display().to_string(),
        source,
    };
    if makedirs {
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
    }
    std::fs::copy(src, dest).map_err(io)?;
    Ok(())
}

fn list_master(ctx: CallCtx, args: Args) -> ModFuture {
    list_paths(ctx, args, false)
}

fn list_master_dirs(ctx: CallCtx, args: Args) -> ModFuture {
    list_paths(ctx, args, true)
}

/// `(saltenv, prefix)`: the files (or directories) of an environment whose
/// paths start with `prefix`.
fn list_paths(ctx: CallCtx, args: Args, dirs: bool) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let saltenv = a.opt_str("saltenv", 0)?.unwrap_or_else(|| "base".into());
        let prefix = a.opt_str("prefix", 1)?.unwrap_or_default();
        a.finish()?;
        let files = Files::for_call(&ctx)?;
        let paths = if dirs {
            files.dirs(&saltenv).await
        } else {
            files.list(&saltenv).await
        }
        .map_err(failed)?;
        let out: Vec<Value> = paths
            .into_iter()
            .filter(|p| p.starts_with(&prefix))
            .map(Value::String)
            .collect();
        Ok(Value::Array(out).into())
    })
}

/// SLS names from file paths, as Salt's `list_states`: `web/init.sls` is `web`.
fn sls_names(paths: &[String]) -> Vec<String> {
    let mut out: Vec<String> = paths
        .iter()
        .filter_map(|p| {
            if let Some(dir) = p.strip_suffix("/init.sls") {
                Some(dir.replace('/', "."))
            } else {
                p.strip_suffix(".sls").map(|s| s.replace('/', "."))
            }
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn list_states(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let saltenv = a.opt_str("saltenv", 0)?.unwrap_or_else(|| "base".into());
        a.finish()?;
        let files = Files::for_call(&ctx)?;
        let list = files.list(&saltenv).await.map_err(failed)?;
        Ok(json!(sls_names(&list)).into())
    })
}

fn get_file(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let path = a.take_str("path", 0)?;
        let dest = a.take_str("dest", 1)?;
        let saltenv = a.opt_str("saltenv", 2)?;
        let makedirs = a.opt_bool("makedirs", 3)?.unwrap_or(false);
        if a.opt("template", 4)?.is_some() {
            return Err(a.bad("template rendering of file names is not supported"));
        }
        let _gzip = a.opt("gzip", 5)?;
        a.finish()?;
        let (env, rel) = split_source(&path, saltenv)?;
        let files = Files::for_call(&ctx)?;
        let Some(src) = files.fetch(&env, &rel).await.map_err(failed)? else {
            return Ok(json!("").into());
        };
        let mut dest = PathBuf::from(dest);
        if dest.is_dir() || dest.as_os_str().to_string_lossy().ends_with('/') {
            let name = rel.rsplit('/').next().unwrap_or(&rel);
            dest = dest.join(name);
        }
        if !makedirs
            && !dest
                .parent()
                .is_some_and(|p| p.as_os_str().is_empty() || p.is_dir())
        {
            return Ok(json!(false).into());
        }
        copy_file(&src, &dest, makedirs).map_err(failed)?;
        Ok(json!(dest.display().to_string()).into())
    })
}

fn get_dir(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let path = a.take_str("path", 0)?;
        let dest = a.take_str("dest", 1)?;
        let saltenv = a.opt_str("saltenv", 2)?;
        if a.opt("template", 3)?.is_some() {
            return Err(a.bad("template rendering of file names is not supported"));
        }
        let _gzip = a.opt("gzip", 4)?;
        a.finish()?;
        let (env, rel) = split_source(&path, saltenv)?;
        let rel = clean_rel_path(&rel).map_err(failed)?;
        // As in Salt, the source directory itself is created under dest:
        // everything above it is dropped.
        let parent = rel.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        let files = Files::for_call(&ctx)?;
        let mut written = Vec::new();
        for file in files.list(&env).await.map_err(failed)? {
            let inside = rel.is_empty() || file.starts_with(&format!("{rel}/"));
            if !inside {
                continue;
            }
            let Some(src) = files.fetch(&env, &file).await.map_err(failed)? else {
                continue;
            };
            let tail = file
                .strip_prefix(parent)
                .map(|t| t.trim_start_matches('/'))
                .unwrap_or(&file);
            let target = Path::new(&dest).join(tail);
            copy_file(&src, &target, true).map_err(failed)?;
            written.push(Value::String(target.display().to_string()));
        }
        Ok(Value::Array(written).into())
    })
}

fn cache_file(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let path = a.take_str("path", 0)?;
        let saltenv = a.opt_str("saltenv", 1)?;
        a.ignore(&["source_hash", "verify_ssl", "use_etag"]);
        a.finish()?;
        let (env, rel) = split_source(&path, saltenv)?;
        let files = Files::for_call(&ctx)?;
        match files.cache(&env, &rel).await.map_err(failed)? {
            Some(p) => Ok(json!(p.display().to_string()).into()),
            None => Ok(json!(false).into()),
        }
    })
}

fn hash_file(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let path = a.take_str("path", 0)?;
        let saltenv = a.opt_str("saltenv", 1)?;
        a.finish()?;
        let (env, rel) = split_source(&path, saltenv)?;
        let files = Files::for_call(&ctx)?;
        match files.hash(&env, &rel).await {
            Ok(Some(hsum)) => Ok(json!({"hash_type": "sha256", "hsum": hsum}).into()),
            // As Salt: a missing or unreachable file hashes to ''.
            Ok(None) | Err(SourceError::Outside(_)) => Ok(json!("").into()),
            Err(e) => Err(failed(e)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::test_ctx;
    use std::sync::Arc;

    /// A ctx whose own file_roots (no master) hold `a/b.txt`, `web.sls`,
    /// `db/init.sls`.
    fn local_ctx(dir: &Path) -> CallCtx {
        let roots = dir.join("srv");
        std::fs::create_dir_all(roots.join("a/sub")).unwrap();
        std::fs::create_dir_all(roots.join("db")).unwrap();
        std::fs::write(roots.join("a/b.txt"), "hello\n").unwrap();
        std::fs::write(roots.join("a/sub/c.txt"), "x\n").unwrap();
        std::fs::write(roots.join("web.sls"), "t: {}\n").unwrap();
        std::fs::write(roots.join("db/init.sls"), "").unwrap();
        let mut ctx = test_ctx();
        let mut config = (*ctx.config).clone();
        config.file_roots = serde_yaml::from_str(&format!("base: [{}]", roots.display())).unwrap();
        config.cachedir = dir.join("cache");
        ctx.config = Arc::new(config);
        ctx
    }

    async fn call(run: fn(CallCtx, Args) -> ModFuture, ctx: &CallCtx, arg: Value) -> Value {
        let arg = arg.as_array().unwrap().clone();
        run(ctx.clone(), Args::new(arg, Default::default()))
            .await
            .unwrap()
            .value
    }

    #[tokio::test]
    async fn lists_files_and_states_like_salt() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = local_ctx(dir.path());
        assert_eq!(
            call(list_master, &ctx, json!([])).await,
            json!(["a/b.txt", "a/sub/c.txt", "db/init.sls", "web.sls"])
        );
        assert_eq!(
            call(list_master, &ctx, json!(["base", "a/"]))
                .await
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(call(list_master, &ctx, json!(["nope"])).await, json!([]));
        assert_eq!(
            call(list_states, &ctx, json!([])).await,
            json!(["db", "web"])
        );
    }

    #[tokio::test]
    async fn get_file_copies_and_answers_as_salt_does() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = local_ctx(dir.path());
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let dest = out.join("x.txt");
        let v = call(
            get_file,
            &ctx,
            json!(["salt://a/b.txt", dest.to_str().unwrap()]),
        )
        .await;
        assert_eq!(v, json!(dest.to_str().unwrap()));
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "hello\n");
        // A directory keeps the file name.
        let v = call(
            get_file,
            &ctx,
            json!(["salt://a/b.txt", format!("{}/", out.display())]),
        )
        .await;
        assert_eq!(v, json!(out.join("b.txt").to_str().unwrap()));
        let missing_dir = out.join("nodir/y.txt");
        let v = call(
            get_file,
            &ctx,
            json!(["salt://a/b.txt", missing_dir.to_str().unwrap()]),
        )
        .await;
        assert_eq!(v, json!(false));
        let v = call(
            get_file,
            &ctx,
            json!(["salt://nope", dest.to_str().unwrap()]),
        )
        .await;
        assert_eq!(v, json!(""));
        let err = get_file(
            ctx.clone(),
            Args::new(
                vec![json!("salt://../etc/passwd"), json!(dest.to_str().unwrap())],
                Default::default(),
            ),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("outside the file roots"), "{err}");
    }

    #[tokio::test]
    async fn hash_cache_and_get_dir() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = local_ctx(dir.path());
        assert_eq!(
            call(hash_file, &ctx, json!(["salt://a/b.txt"])).await,
            json!({"hash_type": "sha256", "hsum": "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"})
        );
        assert_eq!(
            call(hash_file, &ctx, json!(["salt://nope"])).await,
            json!("")
        );
        let cached = dir.path().join("cache/files/base/a/b.txt");
        assert_eq!(
            call(cache_file, &ctx, json!(["salt://a/b.txt"])).await,
            json!(cached.to_str().unwrap())
        );
        assert_eq!(std::fs::read_to_string(&cached).unwrap(), "hello\n");
        assert_eq!(
            call(cache_file, &ctx, json!(["salt://nope"])).await,
            json!(false)
        );
        let dest = dir.path().join("out/dir");
        let v = call(get_dir, &ctx, json!(["salt://a", dest.to_str().unwrap()])).await;
        assert_eq!(
            v,
            json!([
                dest.join("a/b.txt").to_str().unwrap(),
                dest.join("a/sub/c.txt").to_str().unwrap()
            ])
        );
        let v = call(
            get_dir,
            &ctx,
            json!(["salt://a/sub", dest.to_str().unwrap()]),
        )
        .await;
        assert_eq!(v, json!([dest.join("sub/c.txt").to_str().unwrap()]));
    }

    #[test]
    fn sources_name_their_environment() {
        assert_eq!(
            split_source("salt://a/b?saltenv=dev", None).unwrap(),
            ("dev".to_string(), "a/b".to_string())
        );
        assert_eq!(
            split_source("salt://a", Some("prod".into())).unwrap(),
            ("prod".to_string(), "a".to_string())
        );
        assert!(split_source("/etc/passwd", None).is_err());
    }
}
