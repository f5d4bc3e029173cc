//! `file.*`: the path and file queries templates use
//! (`salt['file.join'](root, 'conf.d')`, `salt['file.file_exists'](path)`).
//! Path functions follow Python's `posixpath`; errors read like Python's.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use serde_json::{json, Value};

use crate::registry::{as_str, Args, CallCtx, FunctionSpec, ModError, ModFuture};

/// The functions that change files (`file.write`, `file.replace`, ...).
pub mod write;

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "file.access",
        doc: "Return True if the path can be accessed in the given mode.\n\n\
              - path: an absolute path.\n\
              - mode: `f` (exists), `r`, `w` or `x`.",
        cli_example: "brine '*' file.access /path/to/file f\nbrine '*' file.access /path/to/file x",
        run: access,
    },
    FunctionSpec {
        name: "file.basename",
        doc: "Return the final component of a path (Python's os.path.basename).\n\n\
              - path: the path.",
        cli_example: "brine '*' file.basename 'test/test.config'",
        run: basename,
    },
    FunctionSpec {
        name: "file.directory_exists",
        doc: "Return True if the path is a directory (symlinks followed).\n\n\
              - path: the path; `~` is expanded.",
        cli_example: "brine '*' file.directory_exists /etc",
        run: directory_exists,
    },
    FunctionSpec {
        name: "file.dirname",
        doc: "Return the directory component of a path (Python's os.path.dirname).\n\n\
              - path: the path.",
        cli_example: "brine '*' file.dirname 'test/path/filename.config'",
        run: dirname,
    },
    FunctionSpec {
        name: "file.file_exists",
        doc: "Return True if the path is a regular file (symlinks followed).\n\n\
              - path: the path; `~` is expanded.",
        cli_example: "brine '*' file.file_exists /etc/passwd",
        run: file_exists,
    },
    FunctionSpec {
        name: "file.get_hash",
        doc: "Return the hex digest of a file.\n\n\
              - path: the file.\n\
              - form: sha256 (default), sha1, sha384 or sha512.\n\
              - chunk_size: accepted for Salt compatibility.",
        cli_example: "brine '*' file.get_hash /etc/shadow",
        run: get_hash,
    },
    FunctionSpec {
        name: "file.join",
        doc: "Join path components (Python's os.path.join: an absolute component restarts \
              the path).\n\n\
              - parts: the components.",
        cli_example: "brine '*' file.join '/' 'usr' 'local' 'bin'",
        run: join,
    },
    FunctionSpec {
        name: "file.normpath",
        doc: "Return the path with `.`, `..` and repeated slashes resolved as text \
              (Python's os.path.normpath).\n\n\
              - path: the path.",
        cli_example: "brine '*' file.normpath 'a/b/c/..'",
        run: normpath,
    },
    FunctionSpec {
        name: "file.read",
        doc: "Return the content of a file as text.\n\n\
              - path: the file.\n\
              - binary: accepted for Salt compatibility; the content must be UTF-8.",
        cli_example: "brine '*' file.read /path/to/file",
        run: read,
    },
    FunctionSpec {
        name: "file.readlink",
        doc: "Return the path a symlink points to.\n\n\
              - path: an absolute path to a symlink.\n\
              - canonicalize: resolve every link on the way to the final target (default False).",
        cli_example: "brine '*' file.readlink /path/to/link",
        run: readlink,
    },
    FunctionSpec {
        name: "file.readdir",
        doc: "Return the entries of a directory, '.' and '..' first, then the rest in \
              directory order.\n\n\
              - path: an absolute path to a directory; `~` is expanded.",
        cli_example: "brine '*' file.readdir /etc",
        run: readdir,
    },
    FunctionSpec {
        name: "file.stats",
        doc: "Return a file's inode, uid, gid, user, group, atime, mtime, ctime, size, mode \
              (e.g. '0644'), type (file, dir, link, char, block, pipe, socket) and target.\n\n\
              - path: the file.\n\
              - hash_type: also return its digest as `sum` (e.g. sha256).\n\
              - follow_symlinks: describe the target of a symlink (default True).",
        cli_example: "brine '*' file.stats /etc/passwd",
        run: stats,
    },
];

pub(crate) fn failed(message: impl Into<String>) -> ModError {
    ModError::Failed(message.into())
}

/// Python's `os.path.expanduser` for `~` and `~/...` (the common forms).
pub(crate) fn expanduser(path: &str) -> String {
    let home = || std::env::var("HOME").ok().filter(|h| !h.is_empty());
    if path == "~" {
        return home().unwrap_or_else(|| path.to_string());
    }
    match (path.strip_prefix("~/"), home()) {
        (Some(rest), Some(h)) => format!("{}/{rest}", h.trim_end_matches('/')),
        _ => path.to_string(),
    }
}

/// An IO error as Python prints an `OSError`: `[Errno 2] No such file or directory: '/x'`.
pub(crate) fn os_error(e: &std::io::Error, path: &str) -> ModError {
    match e.raw_os_error() {
        Some(code) => failed(format!(
            "[Errno {code}] {}: '{path}'",
            nix::errno::Errno::from_raw(code).desc()
        )),
        None => failed(format!("{e}: '{path}'")),
    }
}

/// `posixpath.join`.
pub fn posix_join(parts: &[String]) -> String {
    let mut path = String::new();
    for (i, b) in parts.iter().enumerate() {
        if b.starts_with('/') {
            path = b.clone();
        } else if i == 0 || path.is_empty() || path.ends_with('/') {
            path.push_str(b);
        } else {
            path.push('/');
            path.push_str(b);
        }
    }
    path
}

/// `posixpath.basename`.
pub fn posix_basename(p: &str) -> &str {
    p.rsplit_once('/').map_or(p, |(_, tail)| tail)
}

/// `posixpath.dirname`.
pub fn posix_dirname(p: &str) -> &str {
    let head = p.rfind('/').map_or("", |i| &p[..=i]);
    if !head.is_empty() && !head.bytes().all(|b| b == b'/') {
        head.trim_end_matches('/')
    } else {
        head
    }
}

/// `posixpath.normpath`.
pub fn posix_normpath(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let initial = if path.starts_with("//") && !path.starts_with("///") {
        2
    } else if path.starts_with('/') {
        1
    } else {
        0
    };
    let mut comps: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        if comp.is_empty() || comp == "." {
            continue;
        }
        if comp != ".." || (initial == 0 && comps.is_empty()) || comps.last() == Some(&"..") {
            comps.push(comp);
        } else if !comps.is_empty() {
            comps.pop();
        }
    }
    let out = format!("{}{}", "/".repeat(initial), comps.join("/"));
    if out.is_empty() {
        ".".into()
    } else {
        out
    }
}

fn one_path(args: Args) -> Result<String, ModError> {
    let mut a = args.parser();
    let path = a.take("path", 0)?;
    a.finish()?;
    as_str("path", &path)
}

fn join(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let parts = a.rest(0);
        a.finish()?;
        if parts.is_empty() {
            return Err(failed("join() missing 1 required positional argument: 'a'"));
        }
        let parts = parts
            .iter()
            .map(|p| as_str("args", p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Value::String(posix_join(&parts)).into())
    })
}

fn basename(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let p = one_path(args)?;
        Ok(json!(posix_basename(&p)).into())
    })
}

fn dirname(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let p = one_path(args)?;
        Ok(json!(posix_dirname(&p)).into())
    })
}

fn normpath(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let p = one_path(args)?;
        Ok(json!(posix_normpath(&p)).into())
    })
}

fn file_exists(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let p = expanduser(&one_path(args)?);
        Ok(json!(Path::new(&p).is_file()).into())
    })
}

fn directory_exists(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let p = expanduser(&one_path(args)?);
        Ok(json!(Path::new(&p).is_dir()).into())
    })
}

fn access(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        use nix::unistd::AccessFlags;
        let mut a = args.parser();
        let path = expanduser(&a.take_str("path", 0)?);
        let mode = a.take("mode", 1)?;
        a.finish()?;
        if !path.starts_with('/') {
            return Err(failed("Path to link must be absolute."));
        }
        let flags = match &mode {
            Value::String(m) if m == "f" => AccessFlags::F_OK,
            Value::String(m) if m == "r" => AccessFlags::R_OK,
            Value::String(m) if m == "w" => AccessFlags::W_OK,
            Value::String(m) if m == "x" => AccessFlags::X_OK,
            Value::Number(n) if n.as_u64() == Some(0) => AccessFlags::F_OK,
            Value::Number(n) if n.as_u64() == Some(4) => AccessFlags::R_OK,
            Value::Number(n) if n.as_u64() == Some(2) => AccessFlags::W_OK,
            Value::Number(n) if n.as_u64() == Some(1) => AccessFlags::X_OK,
            _ => return Err(failed("Invalid mode specified.")),
        };
        Ok(json!(nix::unistd::access(Path::new(&path), flags).is_ok()).into())
    })
}

fn read(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let path = a.take_str("path", 0)?;
        a.opt_bool("binary", 1)?;
        a.finish()?;
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| os_error(&e, &path))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| failed(format!("'{path}' is not valid UTF-8 text")))?;
        Ok(Value::String(text).into())
    })
}

fn readdir(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let path = expanduser(&one_path(args)?);
        if !path.starts_with('/') {
            return Err(failed("Dir path must be absolute."));
        }
        if !Path::new(&path).is_dir() {
            return Err(failed("A valid directory was not specified."));
        }
        let mut entries = vec![json!("."), json!("..")];
        let rd = std::fs::read_dir(&path).map_err(|e| os_error(&e, &path))?;
        for e in rd.flatten() {
            entries.push(json!(e.file_name().to_string_lossy()));
        }
        Ok(Value::Array(entries).into())
    })
}

fn readlink(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let path = expanduser(&a.take_str("path", 0)?);
        let canonicalize = a.opt_bool("canonicalize", 1)?.unwrap_or(false);
        a.finish()?;
        if !path.starts_with('/') {
            return Err(failed(format!("Path to link must be absolute: {path}")));
        }
        let is_link = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
        if !is_link {
            return Err(failed(format!("A valid link was not specified: {path}")));
        }
        let target = if canonicalize {
            std::fs::canonicalize(&path)
        } else {
            std::fs::read_link(&path)
        }
        .map_err(|e| os_error(&e, &path))?;
        Ok(json!(target.display().to_string()).into())
    })
}

/// Hex digest of a file with one of Salt's hash types (md5 to sha512).
pub(crate) fn hash_file(path: &str, form: &str) -> Result<String, ModError> {
    brine_states::modules::file::hashes::file_digest_hex(form, std::path::Path::new(path))
        .map_err(|e| os_error(&e, path))?
        .ok_or_else(|| failed(format!("Invalid hash type: {form}")))
}

fn get_hash(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let path = expanduser(&a.take_str("path", 0)?);
        let form = a.opt_str("form", 1)?.unwrap_or_else(|| "sha256".into());
        a.opt_i64("chunk_size", 2)?;
        a.finish()?;
        Ok(Value::String(hash_file(&path, &form)?).into())
    })
}

fn stats(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        use std::os::unix::fs::FileTypeExt;
        let mut a = args.parser();
        let path = expanduser(&a.take_str("path", 0)?);
        let hash_type = a.opt_str("hash_type", 1)?;
        let follow = a.opt_bool("follow_symlinks", 2)?.unwrap_or(true);
        a.finish()?;
        let meta = if follow {
            // A broken symlink still has an owner: Salt falls back to lstat.
            std::fs::metadata(&path).or_else(|_| std::fs::symlink_metadata(&path))
        } else {
            std::fs::symlink_metadata(&path)
        }
        .map_err(|_| failed(format!("Path not found: {path}")))?;
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            "dir"
        } else if ft.is_char_device() {
            "char"
        } else if ft.is_block_device() {
            "block"
        } else if ft.is_symlink() {
            "link"
        } else if ft.is_fifo() {
            "pipe"
        } else if ft.is_socket() {
            "socket"
        } else {
            "file"
        };
        let user = nix::unistd::User::from_uid(meta.uid().into())
            .ok()
            .flatten()
            .map_or_else(|| json!(meta.uid()), |u| json!(u.name));
        let group = nix::unistd::Group::from_gid(meta.gid().into())
            .ok()
            .flatten()
            .map_or_else(|| json!(meta.gid()), |g| json!(g.name));
        let secs = |s: i64, ns: i64| s as f64 + ns as f64 / 1e9;
        let target = if follow {
            std::fs::canonicalize(&path)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| posix_normpath(&path))
        } else {
            posix_normpath(&path)
        };
        let mut ret = json!({
            "inode": meta.ino(),
            "uid": meta.uid(),
            "gid": meta.gid(),
            "group": group,
            "user": user,
            "atime": secs(meta.atime(), meta.atime_nsec()),
            "mtime": secs(meta.mtime(), meta.mtime_nsec()),
            "ctime": secs(meta.ctime(), meta.ctime_nsec()),
            "size": meta.size(),
            "mode": format!("{:04o}", meta.permissions().mode() & 0o7777),
        });
        if let (Some(form), Value::Object(m)) = (hash_type.filter(|h| !h.is_empty()), &mut ret) {
            m.insert("sum".into(), json!(hash_file(&path, &form)?));
        }
        if let Value::Object(m) = &mut ret {
            m.insert("type".into(), json!(kind));
            m.insert("target".into(), json!(target));
        }
        Ok(ret.into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{test_ctx, ModFn};

    async fn run(f: ModFn, name: &'static str, arg: Value, kw: Value) -> Result<Value, String> {
        crate::registry::test_call(test_ctx(), f, name, arg, kw).await
    }

    #[test]
    fn posixpath_semantics() {
        let j = |p: &[&str]| posix_join(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(j(&["/", "usr", "local", "bin"]), "/usr/local/bin");
        assert_eq!(j(&["/var", "/etc", "x"]), "/etc/x");
        assert_eq!(j(&["a/", "b", ""]), "a/b/");
        assert_eq!(j(&["", "b"]), "b");
        assert_eq!(posix_basename("test/test.config"), "test.config");
        assert_eq!(posix_basename("dir/"), "");
        assert_eq!(posix_dirname("test/path/filename.config"), "test/path");
        assert_eq!(posix_dirname("/a"), "/");
        assert_eq!(posix_dirname("a//b"), "a");
        assert_eq!(posix_dirname("file"), "");
        assert_eq!(posix_normpath("a/b/c/.."), "a/b");
        assert_eq!(posix_normpath("/../a//./b/"), "/a/b");
        assert_eq!(posix_normpath("//a"), "//a");
        assert_eq!(posix_normpath("///a"), "/a");
        assert_eq!(posix_normpath("../../a"), "../../a");
        assert_eq!(posix_normpath(""), ".");
        assert_eq!(posix_normpath("a/.."), ".");
    }

    #[tokio::test]
    async fn path_functions_through_the_registry() {
        assert_eq!(
            run(
                join,
                "file.join",
                json!(["/", "usr", "local", "bin"]),
                json!({})
            )
            .await,
            Ok(json!("/usr/local/bin"))
        );
        assert_eq!(
            run(join, "file.join", json!([]), json!({})).await,
            Err("join() missing 1 required positional argument: 'a'".into())
        );
        assert_eq!(
            run(basename, "file.basename", json!(["a/b.c"]), json!({})).await,
            Ok(json!("b.c"))
        );
        assert_eq!(
            run(dirname, "file.dirname", json!(["a/b.c"]), json!({})).await,
            Ok(json!("a"))
        );
        assert_eq!(
            run(normpath, "file.normpath", json!(["a/./b/../c"]), json!({})).await,
            Ok(json!("a/c"))
        );
        assert_eq!(
            run(basename, "file.basename", json!([]), json!({})).await,
            Err("file.basename() missing 1 required positional argument: 'path'".into())
        );
    }

    #[tokio::test]
    async fn file_queries_on_a_temp_tree() {
        let dir = tempfile::TempDir::new().unwrap();
        let file = dir.path().join("f.txt");
        std::fs::write(&file, "hello\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let f = file.display().to_string();
        let d = dir.path().display().to_string();
        let l = link.display().to_string();
        assert_eq!(
            run(file_exists, "file.file_exists", json!([f]), json!({})).await,
            Ok(json!(true))
        );
        assert_eq!(
            run(file_exists, "file.file_exists", json!([d]), json!({})).await,
            Ok(json!(false))
        );
        assert_eq!(
            run(
                directory_exists,
                "file.directory_exists",
                json!([d]),
                json!({})
            )
            .await,
            Ok(json!(true))
        );
        assert_eq!(
            run(read, "file.read", json!([f]), json!({})).await,
            Ok(json!("hello\n"))
        );
        let missing = format!("{d}/nope");
        assert_eq!(
            run(read, "file.read", json!([missing]), json!({})).await,
            Err(format!("[Errno 2] No such file or directory: '{missing}'"))
        );
        assert_eq!(
            run(readlink, "file.readlink", json!([l]), json!({})).await,
            Ok(json!(f))
        );
        assert_eq!(
            run(readlink, "file.readlink", json!([f]), json!({})).await,
            Err(format!("A valid link was not specified: {f}"))
        );
        assert_eq!(
            run(readlink, "file.readlink", json!(["rel/link"]), json!({})).await,
            Err("Path to link must be absolute: rel/link".into())
        );
        // sha256 of "hello\n".
        let sha = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
        assert_eq!(
            run(get_hash, "file.get_hash", json!([f]), json!({})).await,
            Ok(json!(sha))
        );
        assert_eq!(
            run(get_hash, "file.get_hash", json!([f, "md4"]), json!({})).await,
            Err("Invalid hash type: md4".into())
        );
        assert_eq!(
            run(access, "file.access", json!([f, "f"]), json!({})).await,
            Ok(json!(true))
        );
        assert_eq!(
            run(access, "file.access", json!([missing, "f"]), json!({})).await,
            Ok(json!(false))
        );
        assert_eq!(
            run(access, "file.access", json!([f, "q"]), json!({})).await,
            Err("Invalid mode specified.".into())
        );
        let st = run(
            stats,
            "file.stats",
            json!([l]),
            json!({"hash_type": "sha256"}),
        )
        .await
        .unwrap();
        assert_eq!(st["mode"], json!("0640"));
        assert_eq!(st["size"], json!(6));
        assert_eq!(st["type"], json!("file"));
        assert_eq!(st["sum"], json!(sha));
        assert_eq!(st["target"], json!(f));
        let st = run(
            stats,
            "file.stats",
            json!([l]),
            json!({"follow_symlinks": false}),
        )
        .await
        .unwrap();
        assert_eq!(st["type"], json!("link"));
        assert_eq!(
            run(stats, "file.stats", json!([missing]), json!({})).await,
            Err(format!("Path not found: {missing}"))
        );
    }
}
