//! `archive.*`: making and reading tar and zip archives with the host's
//! `tar`, `zip` and `unzip`, as Salt's `archive` module does. Listing shares
//! `archive.extracted`'s reader (`brine_states::modules::archive`).

use std::path::{Path, PathBuf};

use brine_states::modules::archive::{guess_format, list_contents, Format};
use brine_states::modules::sys::run::{Cmd, Output};
use serde_json::{json, Value};

use super::cmd::shlex_split;
use crate::registry::{as_str, Args, CallCtx, FunctionSpec, ModError, ModFuture};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "archive.cmd_unzip",
        doc: "Extract a zip file with the unzip tool; returns unzip's output lines.\n\n\
              - zip_file: the archive.\n\
              - dest: the directory to extract into.\n\
              - excludes: files not to extract (a list or comma-separated).\n\
              - options: extra unzip options.\n\
              - password: the archive's password.\n\
              - runas: the user to run unzip as.\n\
              - trim_output: keep only this many lines (True: 100).",
        cli_example:
            "brine '*' archive.cmd_unzip /tmp/zipfile.zip /home/strongbad/ excludes=file_1,file_2",
        run: cmd_unzip,
    },
    FunctionSpec {
        name: "archive.cmd_zip",
        doc: "Create a zip file with the zip tool (recursive); returns zip's output lines.\n\n\
              - zip_file: the archive to create.\n\
              - sources: the files and directories to add (a list or comma-separated).\n\
              - cwd: the directory to run in (sources relative to it).\n\
              - runas: the user to run zip as.",
        cli_example: "brine '*' archive.cmd_zip /tmp/zipfile.zip /tmp/sourcefile1,/tmp/sourcefile2",
        run: cmd_zip,
    },
    FunctionSpec {
        name: "archive.is_encrypted",
        doc: "Return True when a zip archive is password-protected. Fails for a file that \
              is not a zip archive.\n\n\
              - name: the archive (a local path).",
        cli_example: "brine '*' archive.is_encrypted /path/to/myfile.zip",
        run: is_encrypted,
    },
    FunctionSpec {
        name: "archive.list",
        doc: "List the contents of a tar or zip archive.\n\n\
              - name: the archive (a local path).\n\
              - archive_format: tar or zip (guessed from the name).\n\
              - strip_components: drop this many leading path components, as tar does.\n\
              - verbose: return {dirs, files, links, top_level_dirs, top_level_files, \
              top_level_links} instead of one list.\n\
              - options, clean, saltenv, source_hash, use_etag: accepted for Salt compatibility.",
        cli_example: "brine '*' archive.list /path/to/myfile.tar.gz\n\
                      brine '*' archive.list /path/to/myfile.zip verbose=True",
        run: list,
    },
    FunctionSpec {
        name: "archive.tar",
        doc: "Run tar with the given options on an archive; returns tar's output lines.\n\n\
              - options: tar's options, e.g. 'czf' to create, 'xf' to extract (required; \
              the f option must come last, the archive name follows it).\n\
              - tarfile: the archive.\n\
              - sources: files to add (a list or comma-separated; glob patterns are expanded).\n\
              - dest: the directory to extract into (-C).\n\
              - cwd: the directory to run in.\n\
              - runas: the user to run tar as.\n\
              - template: accepted for Salt compatibility.",
        cli_example: "brine '*' archive.tar cjvf /tmp/tarfile.tar.bz2 /tmp/file_1,/tmp/file_2\n\
                      brine '*' archive.tar xf foo.tar dest=/target/directory",
        run: tar,
    },
    FunctionSpec {
        name: "archive.unzip",
        doc: "Extract a zip file; returns the list of files extracted.\n\n\
              - zip_file: the archive.\n\
              - dest: the directory to extract into.\n\
              - excludes: files not to extract (a list or comma-separated).\n\
              - password: the archive's password.\n\
              - runas: the user to run unzip as.\n\
              - options, template, trim_output, extract_perms: accepted for Salt compatibility.",
        cli_example:
            "brine '*' archive.unzip /tmp/zipfile.zip /home/strongbad/ excludes=file_1,file_2",
        run: unzip,
    },
    FunctionSpec {
        name: "archive.zip",
        doc: "Create a zip file (directories recursively); returns the archived paths.\n\n\
              - zip_file: the archive to create.\n\
              - sources: the files and directories to add (a list or comma-separated).\n\
              - cwd: the directory to run in (sources relative to it are stored relative).\n\
              - runas: the user to run zip as.\n\
              - template, zip64: accepted for Salt compatibility.",
        cli_example: "brine '*' archive.zip /tmp/zipfile.zip /tmp/sourcefile1,/tmp/sourcefile2",
        run: zip,
    },
];

/// A list argument: a list, or a comma-separated string (Salt's `_expand_sources`).
fn list_arg(name: &str, v: Option<Value>) -> Result<Vec<String>, ModError> {
    Ok(match v {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| as_str(name, i))
            .collect::<Result<_, _>>()?,
        Some(other) => as_str(name, &other)?
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    })
}

/// Salt's `_expand_sources`: glob patterns expanded, others kept as given.
fn expand(sources: Vec<String>, cwd: Option<&Path>) -> Vec<String> {
    let mut out = Vec::new();
    for s in sources {
        if !s.contains(['*', '?', '[']) {
            out.push(s);
            continue;
        }
        let base = match (Path::new(&s).is_absolute(), cwd) {
            (false, Some(c)) => c.to_path_buf(),
            _ => PathBuf::from("/"),
        };
        let Some(parent) = Path::new(&s).parent() else {
            out.push(s);
            continue;
        };
        let dir = base.join(parent);
        let mut hits: Vec<String> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| parent.join(e.file_name()).to_string_lossy().into_owned())
            .filter(|p| super::sys::fnmatch(&s, p))
            .collect();
        hits.sort();
        if hits.is_empty() {
            out.push(s);
        } else {
            out.extend(hits);
        }
    }
    out
}

/// `program` run as `runas` (through runuser) in `cwd`.
fn tool(program: &str, runas: Option<&str>, cwd: Option<&Path>) -> Cmd {
    let mut cmd = match runas {
        Some(u) => Cmd::new("runuser").args(["-u", u, "--", program]),
        None => Cmd::new(program),
    };
    if let Some(d) = cwd {
        cmd = cmd.cwd(d);
    }
    cmd
}

/// Runs off the async runtime; a failure carries the tool's message.
async fn run(cmd: Cmd) -> Result<Output, ModError> {
    tokio::task::spawn_blocking(move || cmd.run_ok())
        .await
        .map_err(|e| ModError::Failed(e.to_string()))?
        .map_err(ModError::Failed)
}

fn lines(text: &str) -> Value {
    Value::Array(text.lines().map(|l| json!(l)).collect())
}

fn tar(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let options = a.take_str("options", 0)?;
        let tarfile = a.take_str("tarfile", 1)?;
        let sources = list_arg("sources", a.opt("sources", 2)?)?;
        let dest = a.opt_str("dest", 3)?;
        let cwd = a.opt_str("cwd", 4)?.map(PathBuf::from);
        a.opt("template", 5)?;
        let runas = a.opt_str("runas", 6)?;
        a.finish()?;
        if options.trim().is_empty() {
            return Err(ModError::BadArguments(
                "Tar options can not be empty".into(),
            ));
        }
        let mut cmd = tool("tar", runas.as_deref(), cwd.as_deref())
            .args(options.split_whitespace())
            .arg(tarfile)
            .args(expand(sources, cwd.as_deref()));
        if let Some(d) = dest {
            cmd = cmd.args(["-C", &d]);
        }
        let out = run(cmd).await?;
        Ok(lines(&out.stdout).into())
    })
}

/// `zip -r` of `sources`; the tool's output.
async fn zip_tool(
    zip_file: &str,
    sources: Vec<String>,
    cwd: Option<PathBuf>,
    runas: Option<String>,
) -> Result<Output, ModError> {
    if sources.is_empty() {
        return Err(ModError::BadArguments("No sources given to zip".into()));
    }
    let cmd = tool("zip", runas.as_deref(), cwd.as_deref())
        .args(["-r", zip_file])
        .args(expand(sources, cwd.as_deref()));
    run(cmd).await
}

/// `zip_file`, `sources`, `cwd`, `runas`.
type ZipArgs = (String, Vec<String>, Option<PathBuf>, Option<String>);

fn zip_args(args: Args) -> Result<ZipArgs, ModError> {
    let mut a = args.parser();
    let zip_file = a.take_str("zip_file", 0)?;
    let sources = list_arg("sources", Some(a.take("sources", 1)?))?;
    a.opt("template", 2)?;
    let cwd = a.opt_str("cwd", 3)?.map(PathBuf::from);
    let runas = a.opt_str("runas", 4)?;
    a.kw("zip64");
    a.finish()?;
    Ok((zip_file, sources, cwd, runas))
}

fn cmd_zip(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let (zip_file, sources, cwd, runas) = zip_args(args)?;
        let out = zip_tool(&zip_file, sources, cwd, runas).await?;
        Ok(lines(&out.stdout).into())
    })
}

fn zip(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let (zip_file, sources, cwd, runas) = zip_args(args)?;
        let out = zip_tool(&zip_file, sources, cwd, runas).await?;
        // "  adding: dir/file (deflated 40%)" / "updating: ..."
        let archived: Vec<Value> = out
            .stdout
            .lines()
            .filter_map(|l| {
                let l = l.trim_start();
                let rest = l
                    .strip_prefix("adding: ")
                    .or_else(|| l.strip_prefix("updating: "))?;
                let name = rest.rsplit_once(" (").map(|(n, _)| n).unwrap_or(rest);
                Some(json!(name))
            })
            .collect();
        Ok(Value::Array(archived).into())
    })
}

struct UnzipArgs {
    zip_file: String,
    dest: String,
    excludes: Vec<String>,
    options: Vec<String>,
    runas: Option<String>,
    password: Option<String>,
    trim_output: Option<usize>,
}

fn unzip_args(args: Args) -> Result<UnzipArgs, ModError> {
    let mut a = args.parser();
    let zip_file = a.take_str("zip_file", 0)?;
    let dest = a.take_str("dest", 1)?;
    let excludes = list_arg("excludes", a.opt("excludes", 2)?)?;
    let options = match a.opt_str("options", 3)? {
        Some(o) => shlex_split(&o).map_err(ModError::BadArguments)?,
        None => Vec::new(),
    };
    a.opt("template", 4)?;
    let runas = a.opt_str("runas", 5)?;
    let trim_output = match a.opt("trim_output", 6)? {
        Some(Value::Bool(true)) => Some(100),
        Some(Value::Number(n)) => n.as_u64().map(|n| n as usize),
        _ => None,
    };
    let password = a.opt_str("password", 7)?;
    a.opt("extract_perms", 8)?;
    a.finish()?;
    Ok(UnzipArgs {
        zip_file,
        dest,
        excludes,
        options,
        runas,
        password,
        trim_output,
    })
}

fn unzip_cmd(u: &UnzipArgs) -> Cmd {
    let mut cmd = tool("unzip", u.runas.as_deref(), None).arg("-o");
    if let Some(p) = &u.password {
        cmd = cmd.args(["-P", p]);
    }
    cmd = cmd
        .args(u.options.iter().cloned())
        .arg(&u.zip_file)
        .args(["-d", &u.dest]);
    if !u.excludes.is_empty() {
        cmd = cmd.arg("-x").args(u.excludes.iter().cloned());
    }
    cmd
}

fn cmd_unzip(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let u = unzip_args(args)?;
        let out = run(unzip_cmd(&u)).await?;
        let mut all: Vec<Value> = out.stdout.lines().map(|l| json!(l)).collect();
        if let Some(n) = u.trim_output {
            all.truncate(n);
        }
        Ok(Value::Array(all).into())
    })
}

fn unzip(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let u = unzip_args(args)?;
        let names = run(Cmd::new("unzip").args(["-Z1", &u.zip_file]))
            .await?
            .stdout;
        run(unzip_cmd(&u)).await?;
        let mut extracted: Vec<Value> = names
            .lines()
            .filter(|n| !u.excludes.iter().any(|x| x == n))
            .map(|n| json!(n))
            .collect();
        if let Some(n) = u.trim_output {
            extracted.truncate(n);
        }
        Ok(Value::Array(extracted).into())
    })
}

fn local_path(name: &str) -> Result<PathBuf, ModError> {
    let path = name.strip_prefix("file://").unwrap_or(name);
    if !Path::new(path).is_absolute() {
        return Err(ModError::Failed(format!(
            "{name}: only local absolute paths (or file://) are supported"
        )));
    }
    if !Path::new(path).is_file() {
        return Err(ModError::Failed(format!("{path} does not exist")));
    }
    Ok(PathBuf::from(path))
}

fn is_encrypted(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        a.opt("clean", 1)?;
        a.opt("saltenv", 2)?;
        a.opt("source_hash", 3)?;
        a.opt("use_etag", 4)?;
        a.finish()?;
        let path = local_path(&name)?;
        let out = tokio::task::spawn_blocking(move || {
            Cmd::new("unzip")
                .arg("-Zv")
                .arg(path.to_string_lossy())
                .run()
        })
        .await
        .map_err(|e| ModError::Failed(e.to_string()))?
        .map_err(ModError::Failed)?;
        if !out.success() {
            return Err(ModError::Failed(format!("{name} is not a ZIP file")));
        }
        let encrypted = out.stdout.lines().any(|l| {
            l.trim_start()
                .strip_prefix("file security status:")
                .is_some_and(|s| s.trim() == "encrypted")
        });
        Ok(Value::Bool(encrypted).into())
    })
}

/// Drops the first `n` path components, as `tar --strip-components`.
fn strip(path: &str, n: usize) -> Option<String> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    (parts.len() > n).then(|| parts[n..].join("/"))
}

fn list(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        let archive_format = a.opt_str("archive_format", 1)?;
        a.opt("options", 2)?;
        let strip_components = a.opt_i64("strip_components", 3)?.unwrap_or(0).max(0) as usize;
        a.opt("clean", 4)?;
        let verbose = a.opt_bool("verbose", 5)?.unwrap_or(false);
        a.opt("saltenv", 6)?;
        a.opt("source_hash", 7)?;
        a.opt("use_etag", 8)?;
        a.finish()?;
        let path = local_path(&name)?;
        let format = match archive_format.as_deref() {
            Some("tar") => Format::Tar,
            Some("zip") => Format::Zip,
            Some(other) => {
                return Err(ModError::Failed(format!(
                    "Unsupported archive format '{other}' (tar and zip are)"
                )))
            }
            None => guess_format(&name).ok_or_else(|| {
                ModError::Failed(format!(
                    "Unable to guess archive format for {name}, please pass an archive_format"
                ))
            })?,
        };
        let contents = tokio::task::spawn_blocking(move || list_contents(&path, format))
            .await
            .map_err(|e| ModError::Failed(e.to_string()))?
            .map_err(|e| ModError::Failed(format!("Unable to list contents of {name}: {e}")))?;
        let fix = |items: &[String], dir: bool| -> Vec<Value> {
            items
                .iter()
                .filter_map(|i| strip(i, strip_components))
                .map(|i| json!(if dir { format!("{i}/") } else { i }))
                .collect()
        };
        let dirs = fix(&contents.dirs, true);
        let files = fix(&contents.files, false);
        let links = fix(&contents.links, false);
        if !verbose {
            let mut all: Vec<Value> = dirs.into_iter().chain(files).chain(links).collect();
            all.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            return Ok(Value::Array(all).into());
        }
        let top = |list: &[Value]| -> Vec<Value> {
            list.iter()
                .filter(|v| {
                    let s = v.as_str().unwrap_or("").trim_end_matches('/');
                    !s.contains('/')
                })
                .cloned()
                .collect()
        };
        Ok(json!({
            "dirs": dirs, "files": files, "links": links,
            "top_level_dirs": top(&dirs), "top_level_files": top(&files), "top_level_links": top(&links),
        })
        .into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{test_call, test_ctx};

    async fn call(
        f: crate::registry::ModFn,
        name: &'static str,
        arg: Value,
        kw: Value,
    ) -> Result<Value, String> {
        test_call(test_ctx(), f, name, arg, kw).await
    }

    #[tokio::test]
    async fn tar_zip_list_unzip_round_trips() {
        let tmp = tempfile::TempDir::new().unwrap();
        let t = tmp.path();
        std::fs::create_dir_all(t.join("src/sub")).unwrap();
        std::fs::write(t.join("src/a.txt"), "a").unwrap();
        std::fs::write(t.join("src/sub/b.txt"), "b").unwrap();
        let s = |p: &str| t.join(p).to_string_lossy().into_owned();
        call(
            tar,
            "archive.tar",
            json!(["czf", s("x.tar.gz"), "src"]),
            json!({"cwd": s("")}),
        )
        .await
        .unwrap();
        let l = call(list, "archive.list", json!([s("x.tar.gz")]), json!({}))
            .await
            .unwrap();
        assert_eq!(l, json!(["src/", "src/a.txt", "src/sub/", "src/sub/b.txt"]));
        let v = call(
            list,
            "archive.list",
            json!([s("x.tar.gz")]),
            json!({"verbose": true, "strip_components": 1}),
        )
        .await
        .unwrap();
        assert_eq!(v["top_level_files"], json!(["a.txt"]));
        assert_eq!(v["top_level_dirs"], json!(["sub/"]));
        std::fs::create_dir_all(t.join("out")).unwrap();
        call(
            tar,
            "archive.tar",
            json!(["xzf", s("x.tar.gz")]),
            json!({"dest": s("out")}),
        )
        .await
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(t.join("out/src/sub/b.txt")).unwrap(),
            "b"
        );
        let e = call(tar, "archive.tar", json!(["", s("x.tar")]), json!({}))
            .await
            .unwrap_err();
        assert_eq!(e, "Tar options can not be empty");

        let z = call(
            zip,
            "archive.zip",
            json!([s("x.zip"), "src/a.txt,src/sub"]),
            json!({"cwd": s("")}),
        )
        .await
        .unwrap();
        assert_eq!(z, json!(["src/a.txt", "src/sub/", "src/sub/b.txt"]));
        assert_eq!(
            call(
                is_encrypted,
                "archive.is_encrypted",
                json!([s("x.zip")]),
                json!({})
            )
            .await
            .unwrap(),
            json!(false)
        );
        let e = call(
            is_encrypted,
            "archive.is_encrypted",
            json!([s("x.tar.gz")]),
            json!({}),
        )
        .await
        .unwrap_err();
        assert!(e.ends_with("is not a ZIP file"), "{e}");
        let u = call(
            unzip,
            "archive.unzip",
            json!([s("x.zip"), s("uz")]),
            json!({"excludes": "src/a.txt"}),
        )
        .await
        .unwrap();
        assert_eq!(u, json!(["src/sub/", "src/sub/b.txt"]));
        assert!(t.join("uz/src/sub/b.txt").is_file());
        assert!(!t.join("uz/src/a.txt").exists());
        let out = call(
            cmd_unzip,
            "archive.cmd_unzip",
            json!([s("x.zip"), s("uz2")]),
            json!({}),
        )
        .await
        .unwrap();
        assert!(out
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("b.txt")));
        let out = call(
            cmd_zip,
            "archive.cmd_zip",
            json!([s("y.zip"), [s("src/a.txt")]]),
            json!({}),
        )
        .await
        .unwrap();
        assert!(out[0].as_str().unwrap().contains("adding:"), "{out}");
    }

    #[tokio::test]
    async fn a_password_protected_zip_is_encrypted() {
        let tmp = tempfile::TempDir::new().unwrap();
        let t = tmp.path();
        std::fs::write(t.join("a"), "a").unwrap();
        let ok = std::process::Command::new("zip")
            .args(["-q", "-P", "pw", "enc.zip", "a"])
            .current_dir(t)
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let p = t.join("enc.zip").to_string_lossy().into_owned();
        assert_eq!(
            call(is_encrypted, "archive.is_encrypted", json!([p]), json!({}))
                .await
                .unwrap(),
            json!(true)
        );
        let u = call(
            unzip,
            "archive.unzip",
            json!([p, t.join("d").to_string_lossy()]),
            json!({"password": "pw"}),
        )
        .await
        .unwrap();
        assert_eq!(u, json!(["a"]));
        assert_eq!(std::fs::read_to_string(t.join("d/a")).unwrap(), "a");
    }
}
