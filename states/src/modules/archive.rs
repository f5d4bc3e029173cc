//! `archive.extracted`: a tar or zip archive unpacked into a directory when
//! its contents are missing there, through the `tar` and `unzip` tools.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Map};

use crate::ctx::{StateArgs, StateCtx};
use crate::modules::file::source as file_source;
use crate::modules::file::{hashes, remote};
use crate::modules::sys::accounts;
use crate::modules::sys::opt_text;
use crate::modules::sys::run::Cmd;
use crate::registry::StateSpec;
use crate::result::StateResult;

pub const STATES: &[StateSpec] = &[StateSpec {
    name: "archive.extracted",
    doc: "Ensure that an archive is extracted to a directory.\n\n\
          name: the directory to extract into (absolute)\n\
          source: the archive: salt://path, http(s)://, file:// or a local absolute path\n\
          source_hash: digest or hash file of an http(s) source (or skip_verify: True)\n\
          archive_format: tar or zip (guessed from the source name)\n\
          options: extra options for tar\n\
          if_missing: skip when this path exists\n\
          enforce_toplevel: require a single top-level directory (default True)\n\
          user, group: owner of the extracted files",
    run: extracted,
    mod_watch: None,
}];

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Format {
    Tar,
    Zip,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Tar => "tar",
            Format::Zip => "zip",
        }
    }
}

pub fn guess_format(source: &str) -> Option<Format> {
    let lower = source.to_ascii_lowercase();
    let lower = lower.split('?').next().unwrap_or(&lower);
    if lower.ends_with(".zip") {
        return Some(Format::Zip);
    }
    [
        ".tar",
        ".tar.gz",
        ".tgz",
        ".tar.bz2",
        ".tbz",
        ".tbz2",
        ".tar.xz",
        ".txz",
        ".tar.zst",
        ".tar.lzma",
    ]
    .iter()
    .any(|ext| lower.ends_with(ext))
    .then_some(Format::Tar)
}

/// What the archive holds, relative paths without trailing slashes.
#[derive(Debug, Default, PartialEq)]
pub struct Contents {
    pub dirs: Vec<String>,
    pub files: Vec<String>,
    pub links: Vec<String>,
    pub top_level_dirs: Vec<String>,
    pub top_level_files: Vec<String>,
    /// As the extractor names them (Salt's `extracted_files`).
    pub names: Vec<String>,
}

impl Contents {
    /// From `(name, kind)` pairs, kind `d`, `l` or anything else for files.
    fn from_entries(entries: &[(String, char)]) -> Contents {
        let mut c = Contents::default();
        for (raw, kind) in entries {
            let path = raw
                .trim_start_matches("./")
                .trim_end_matches('/')
                .to_string();
            if path.is_empty() || path == "." {
                continue;
            }
            c.names.push(raw.clone());
            let is_dir = *kind == 'd' || raw.ends_with('/');
            match (is_dir, *kind) {
                (true, _) => c.dirs.push(path.clone()),
                (false, 'l') => c.links.push(path.clone()),
                _ => c.files.push(path.clone()),
            }
            match path.split_once('/') {
                Some((top, _)) => push_unique(&mut c.top_level_dirs, format!("{top}/")),
                None if is_dir => push_unique(&mut c.top_level_dirs, format!("{path}/")),
                None => push_unique(&mut c.top_level_files, path.clone()),
            }
        }
        c
    }
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// What `archive` holds, read with `tar -t` / `unzip -Z1` (shared with the
/// `archive.list` execution function).
pub fn list_contents(archive: &Path, format: Format) -> Result<Contents, String> {
    let path = archive.to_string_lossy().to_string();
    let entries: Vec<(String, char)> = match format {
        Format::Tar => {
            let names = Cmd::new("tar").args(["-tf", &path]).run_ok()?.stdout;
            let verbose = Cmd::new("tar").args(["-tvf", &path]).run_ok()?.stdout;
            // The verbose listing gives each entry's type, line for line.
            let kinds: Vec<char> = verbose
                .lines()
                .map(|l| l.chars().next().unwrap_or('-'))
                .collect();
            names
                .lines()
                .enumerate()
                .map(|(i, n)| (n.to_string(), kinds.get(i).copied().unwrap_or('-')))
                .collect()
        }
        Format::Zip => Cmd::new("unzip")
            .args(["-Z1", &path])
            .run_ok()?
            .stdout
            .lines()
            .map(|n| (n.to_string(), if n.ends_with('/') { 'd' } else { '-' }))
            .collect(),
    };
    Ok(Contents::from_entries(&entries))
}

/// A local copy of `source` to read; the flag says it is a temporary copy to
/// delete afterwards.
fn fetch_source(
    ctx: &StateCtx<'_>,
    args: &StateArgs,
    source: &str,
) -> Result<(PathBuf, bool), String> {
    if remote::is_remote(source) {
        return fetch_remote(ctx, args, source);
    }
    if source.starts_with("salt://") {
        let rel = source.trim_start_matches("salt://");
        let bytes = ctx
            .files
            .read(&ctx.saltenv, rel)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("Source file '{source}' does not exist"))?;
        let base = Path::new(rel)
            .file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_default();
        // Unique per call: states may run concurrently in one process.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp =
            std::env::temp_dir().join(format!("brine-archive-{}-{n}-{base}", std::process::id()));
        std::fs::write(&tmp, bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
        return Ok((tmp, true));
    }
    let local = source.strip_prefix("file://").unwrap_or(source);
    if !local.starts_with('/') {
        return Err(format!("Invalid source \"{source}\""));
    }
    if !Path::new(local).is_file() {
        return Err(format!("Source file '{source}' does not exist"));
    }
    Ok((PathBuf::from(local), false))
}

/// An `http(s)://` archive, as Salt's `file.cached` gets it: `source_hash`
/// required unless `skip_verify`, kept in the minion cache and reused while
/// it matches.
fn fetch_remote(
    ctx: &StateCtx<'_>,
    args: &StateArgs,
    source: &str,
) -> Result<(PathBuf, bool), String> {
    let skip_verify = args.bool("skip_verify", false);
    let sum = match opt_text(args, "source_hash") {
        Some(hash) if !skip_verify => Some(
            file_source::source_sum(
                ctx,
                "",
                source,
                &hash,
                opt_text(args, "source_hash_name").as_deref(),
            )
            .map_err(|e| match e {
                file_source::SumError::Invalid(msg) | file_source::SumError::Fetch(msg) => msg,
            })?,
        ),
        None if !skip_verify => {
            return Err(format!(
                "Unable to verify upstream hash of source file {source}, please set source_hash or set skip_verify to True"
            ))
        }
        _ => None,
    };
    let (data, _) = remote::fetch_cached(
        &ctx.cachedir,
        &ctx.saltenv,
        source,
        sum.as_ref(),
        skip_verify,
        true,
    )
    .map_err(|e| e.to_string())?;
    let cached = remote::cache_path(&ctx.cachedir, &ctx.saltenv, source)
        .filter(|p| p.is_file())
        .ok_or_else(|| {
            format!("Failed to cache {source}, check minion log for more information")
        })?;
    if let Some(sum) = sum {
        let actual = hashes::digest_hex(&sum.hash_type, &data).unwrap_or_default();
        if actual != sum.hsum {
            return Err(format!(
                "File is cached to {}, but the hash ({actual}) does not match the specified hash ({})",
                cached.display(),
                sum.hsum
            ));
        }
    }
    Ok((cached, false))
}

/// Removes the temporary copy of a fetched source when dropped.
struct TempSource(Option<PathBuf>);

impl Drop for TempSource {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn lstat_kind(path: &Path) -> Option<std::fs::FileType> {
    std::fs::symlink_metadata(path).ok().map(|m| m.file_type())
}

pub fn extracted(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.trim_end_matches('/').to_string();
    let name = if name.is_empty() {
        "/".to_string()
    } else {
        name
    };
    let mut ret = StateResult::new(args.name.as_str());
    let fail = |msg: String| StateResult::fail(args.name.as_str(), msg);
    if !name.starts_with('/') {
        return fail(format!("{name} is not an absolute path"));
    }
    let dest = PathBuf::from(&name);
    if dest.exists() && !dest.is_dir() {
        return fail(format!("{name} exists and is not a directory"));
    }
    let if_missing = opt_text(args, "if_missing");
    if let Some(p) = &if_missing {
        if !p.starts_with('/') {
            return fail("Value for 'if_missing' is not an absolute path".into());
        }
        if Path::new(p).exists() {
            return StateResult::ok(args.name.as_str(), format!("Path {p} exists"));
        }
    }
    let user = opt_text(args, "user");
    let group = opt_text(args, "group");
    let uid = match &user {
        None => None,
        Some(u) => match accounts::user_info(u) {
            Some(info) => Some(info.uid),
            None => return fail(format!("User {u} does not exist")),
        },
    };
    let gid = match &group {
        None => None,
        Some(g) => match accounts::group_to_gid(g) {
            Some(gid) => Some(gid),
            None => return fail(format!("Group {g} does not exist")),
        },
    };
    let Some(source) = opt_text(args, "source") else {
        return fail("Invalid source \"None\"".into());
    };
    let format = match opt_text(args, "archive_format").as_deref() {
        Some("tar") => Format::Tar,
        Some("zip") => Format::Zip,
        Some(other) => return fail(format!("Invalid archive_format '{other}'. Either set it to a supported value (tar, zip) or remove this argument and the archive format will be guessed based on file extension.")),
        None => match guess_format(&source) {
            Some(f) => f,
            None => return fail("Could not guess archive_format from the value of the 'source' argument. Please set this archive_format to one of the following: tar, zip".to_string()),
        },
    };
    if ctx.test && remote::is_remote(&source) {
        return StateResult::would(
            args.name.as_str(),
            format!("Archive {source} would be cached (if necessary) and checked to discover if extraction is needed"),
            Map::new(),
        );
    }
    let (archive, temporary) = match fetch_source(ctx, args, &source) {
        Ok(found) => found,
        Err(e) => return fail(e),
    };
    let _cleanup = TempSource(temporary.then(|| archive.clone()));
    let contents = match list_contents(&archive, format) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    if args.bool("enforce_toplevel", true)
        && (contents.top_level_dirs.len() > 1 || !contents.top_level_files.is_empty())
    {
        return fail(format!(
            "Archive does not have a single top-level directory. To allow this archive to be extracted, set 'enforce_toplevel' to False. To avoid a '{0}-bomb' it may also be advisable to set a top-level directory by adding it to the 'name' value (for example, setting 'name' to {1}/some_dir instead of {1}).",
            format.name(),
            name
        ));
    }

    let mut missing = false;
    let mut incorrect = Vec::new();
    let checks = [
        (&contents.dirs, 'd'),
        (&contents.files, 'f'),
        (&contents.links, 'l'),
    ];
    for (paths, kind) in checks {
        for p in paths {
            match lstat_kind(&dest.join(p)) {
                None => missing = true,
                Some(t) => {
                    let ok = match kind {
                        'd' => t.is_dir(),
                        'l' => t.is_symlink(),
                        _ => !t.is_dir() && !t.is_symlink(),
                    };
                    if !ok {
                        incorrect.push(p.clone());
                    }
                }
            }
        }
    }
    if !incorrect.is_empty() {
        let mut msg = format!("The below paths (relative to {name}) exist, but are the incorrect type (file instead of directory, symlink instead of file, etc.).");
        for p in &incorrect {
            msg += &format!("\n- {p}");
        }
        return fail(msg);
    }
    let explanation = if missing {
        ", due to absence of one or more files/dirs"
    } else {
        ""
    };

    if missing {
        if ctx.test {
            return StateResult::would(
                args.name.as_str(),
                format!("Archive {source} would be extracted to {name}{explanation}"),
                Map::new(),
            );
        }
        let created = !dest.exists();
        if created {
            if let Err(e) = std::fs::create_dir_all(&dest) {
                return fail(format!("{name}: {e}"));
            }
        }
        let archive_text = archive.to_string_lossy().to_string();
        let result = match format {
            Format::Tar => {
                let options = opt_text(args, "options").unwrap_or_default();
                Cmd::new("tar")
                    .args(options.split_whitespace().map(str::to_string))
                    .args(["-xf", archive_text.as_str(), "-C", name.as_str()])
                    .run_ok()
            }
            Format::Zip => Cmd::new("unzip")
                .args(["-o", "-q", archive_text.as_str(), "-d", name.as_str()])
                .run_ok(),
        };
        if let Err(e) = result {
            return fail(e);
        }
        if contents.names.is_empty() {
            return fail(format!("No files were extracted from {source}"));
        }
        if created {
            ret.changes
                .insert("directories_created".into(), json!([name]));
        }
        let shown: Vec<String> = match format {
            // Python's tarfile names carry no trailing slash.
            Format::Tar => contents
                .names
                .iter()
                .map(|n| n.trim_end_matches('/').to_string())
                .collect(),
            Format::Zip => contents.names.clone(),
        };
        ret.changes.insert("extracted_files".into(), json!(shown));
        ret.comment = format!("{source} extracted to {name}{explanation}");
    } else {
        ret.comment = "All files in archive are already present".to_string();
    }

    if uid.is_some() || gid.is_some() {
        let tops: Vec<PathBuf> = contents
            .top_level_dirs
            .iter()
            .chain(&contents.top_level_files)
            .map(|t| dest.join(t.trim_end_matches('/')))
            .collect();
        let mut wrong = Vec::new();
        for top in &tops {
            collect_wrong_owner(top, uid, gid, &mut wrong);
        }
        if !wrong.is_empty() {
            if ctx.test {
                ret.result = None;
                ret.comment += ". Ownership would be updated on one or more files/directories.";
            } else {
                let owner = format!(
                    "{}:{}",
                    uid.map(|u| u.to_string()).unwrap_or_default(),
                    gid.map(|g| g.to_string()).unwrap_or_default()
                );
                let owner = owner.trim_end_matches(':').to_string();
                let paths: Vec<String> = wrong
                    .iter()
                    .map(|p| p.to_string_lossy().to_string())
                    .collect();
                if let Err(e) = Cmd::new("chown").arg("-h").arg(owner).args(paths).run_ok() {
                    return fail(e);
                }
                ret.changes.insert("updated ownership".into(), json!(true));
            }
        }
    }
    ret
}

fn collect_wrong_owner(path: &Path, uid: Option<u32>, gid: Option<u32>, out: &mut Vec<PathBuf>) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if uid.is_some_and(|u| meta.uid() != u) || gid.is_some_and(|g| meta.gid() != g) {
        out.push(path.to_path_buf());
    }
    if meta.is_dir() {
        if let Ok(entries) = std::fs::read_dir(path) {
            for e in entries.flatten() {
                collect_wrong_owner(&e.path(), uid, gid, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::sys::run::which;
    use crate::modules::sys::testutil::{args, TestEnv};
    use serde_json::Value;

    fn make_tree(root: &Path) {
        std::fs::create_dir_all(root.join("app/sub")).unwrap();
        std::fs::write(root.join("app/a.txt"), "a").unwrap();
        std::fs::write(root.join("app/sub/b.txt"), "b").unwrap();
    }

    #[test]
    fn contents_classify_top_level() {
        let c = Contents::from_entries(&[
            ("app/".into(), 'd'),
            ("app/a.txt".into(), '-'),
            ("app/l".into(), 'l'),
            ("top.txt".into(), '-'),
        ]);
        assert_eq!(c.top_level_dirs, vec!["app/"]);
        assert_eq!(c.top_level_files, vec!["top.txt"]);
        assert_eq!(c.links, vec!["app/l"]);
        assert_eq!(guess_format("salt://x/y.tar.gz"), Some(Format::Tar));
        assert_eq!(guess_format("/x/y.ZIP"), Some(Format::Zip));
        assert_eq!(guess_format("/x/y.rar"), None);
    }

    #[test]
    fn extracts_an_http_archive_checked_against_source_hash() {
        let dir = tempfile::TempDir::new().unwrap();
        let build = dir.path().join("build");
        make_tree(&build);
        let tarball = dir.path().join("app.tar.gz");
        Cmd::new("tar")
            .args([
                "-czf",
                &tarball.to_string_lossy(),
                "-C",
                &build.to_string_lossy(),
                "app",
            ])
            .run_ok()
            .unwrap();
        let bytes = std::fs::read(&tarball).unwrap();
        let sha = hashes::digest_hex("sha256", &bytes).unwrap();
        let server = crate::modules::file::http_tests::Server::start();
        server.set("/dl/app.tar.gz", &bytes);
        let url = server.url("/dl/app.tar.gz");
        let env = TestEnv::new(dir.path().join("roots"), dir.path().join("cache"));
        let dest = dir.path().join("dest");
        let run = |extra: Value, test: bool| {
            let mut a = json!({"source": url});
            a.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            extracted(&env.ctx(test), &args(&dest.to_string_lossy(), a))
        };

        let r = run(json!({}), false);
        assert_eq!(r.comment, format!("Unable to verify upstream hash of source file {url}, please set source_hash or set skip_verify to True"));
        let dry = run(json!({"source_hash": sha}), true);
        assert_eq!(dry.result, None);
        assert_eq!(server.gets("/dl/app.tar.gz"), 0, "a dry run downloaded");

        let bad = run(
            json!({"source_hash": format!("sha256={}", "0".repeat(64))}),
            false,
        );
        assert_eq!(bad.result, Some(false));
        assert!(
            bad.comment.starts_with("File is cached to "),
            "{}",
            bad.comment
        );
        assert!(!dest.exists());

        let done = run(json!({"source_hash": sha}), false);
        assert_eq!(done.result, Some(true), "{}", done.comment);
        assert_eq!(
            std::fs::read_to_string(dest.join("app/a.txt")).unwrap(),
            "a"
        );
        let again = run(json!({"source_hash": sha}), false);
        assert_eq!(again.comment, "All files in archive are already present");
        // Only the first run downloaded: its copy was cached (as Salt does,
        // even though the hash given then was wrong) and matches the right one.
        assert_eq!(server.gets("/dl/app.tar.gz"), 1);
    }

    #[test]
    fn extracts_a_tar_from_salt_url_once() {
        let dir = tempfile::TempDir::new().unwrap();
        let roots = dir.path().join("roots");
        let build = dir.path().join("build");
        make_tree(&build);
        std::fs::create_dir_all(&roots).unwrap();
        let tarball = roots.join("app.tar.gz");
        Cmd::new("tar")
            .args([
                "-czf",
                &tarball.to_string_lossy(),
                "-C",
                &build.to_string_lossy(),
                "app",
            ])
            .run_ok()
            .unwrap();
        let dest = dir.path().join("dest");
        let env = TestEnv::new(roots.clone(), dir.path().join("cache"));
        let a = args(
            &dest.to_string_lossy(),
            json!({"source": "salt://app.tar.gz"}),
        );

        let dry = extracted(&env.ctx(true), &a);
        assert_eq!(dry.result, None);
        assert_eq!(
            dry.comment,
            format!("Archive salt://app.tar.gz would be extracted to {}, due to absence of one or more files/dirs", dest.display())
        );
        assert!(!dest.exists(), "dry run extracted");

        let done = extracted(&env.ctx(false), &a);
        assert_eq!(done.result, Some(true), "{}", done.comment);
        assert_eq!(
            done.comment,
            format!(
                "salt://app.tar.gz extracted to {}, due to absence of one or more files/dirs",
                dest.display()
            )
        );
        assert_eq!(
            done.changes["directories_created"],
            json!([dest.to_string_lossy()])
        );
        let mut files: Vec<String> =
            serde_json::from_value(done.changes["extracted_files"].clone()).unwrap();
        files.sort();
        assert_eq!(files, vec!["app", "app/a.txt", "app/sub", "app/sub/b.txt"]);
        assert_eq!(
            std::fs::read_to_string(dest.join("app/sub/b.txt")).unwrap(),
            "b"
        );

        let again = extracted(&env.ctx(false), &a);
        assert_eq!(
            (again.result, again.comment.as_str()),
            (Some(true), "All files in archive are already present")
        );
        assert!(again.changes.is_empty());

        let skip = extracted(
            &env.ctx(false),
            &args(
                &dest.to_string_lossy(),
                json!({"source": "salt://app.tar.gz", "if_missing": dest.join("app").to_string_lossy()}),
            ),
        );
        assert_eq!(
            skip.comment,
            format!("Path {} exists", dest.join("app").display())
        );
    }

    #[test]
    fn refuses_a_tar_bomb_unless_told() {
        let dir = tempfile::TempDir::new().unwrap();
        std::fs::write(dir.path().join("x.txt"), "x").unwrap();
        std::fs::write(dir.path().join("y.txt"), "y").unwrap();
        let tarball = dir.path().join("bomb.tar");
        Cmd::new("tar")
            .args([
                "-cf",
                &tarball.to_string_lossy(),
                "-C",
                &dir.path().to_string_lossy(),
                "x.txt",
                "y.txt",
            ])
            .run_ok()
            .unwrap();
        let dest = dir.path().join("out");
        let env = TestEnv::new(dir.path().into(), dir.path().into());
        let src = tarball.to_string_lossy().to_string();
        let r = extracted(
            &env.ctx(false),
            &args(&dest.to_string_lossy(), json!({"source": src})),
        );
        assert_eq!(r.result, Some(false));
        assert!(
            r.comment
                .starts_with("Archive does not have a single top-level directory."),
            "{}",
            r.comment
        );
        assert!(!dest.exists());
        let r = extracted(
            &env.ctx(false),
            &args(
                &dest.to_string_lossy(),
                json!({"source": src, "enforce_toplevel": false}),
            ),
        );
        assert_eq!(r.result, Some(true), "{}", r.comment);
        assert!(dest.join("y.txt").is_file());
    }

    #[test]
    fn extracts_a_zip() {
        if !which("zip") || !which("unzip") {
            println!("extracts_a_zip: skipped, zip or unzip is not installed");
            return;
        }
        let dir = tempfile::TempDir::new().unwrap();
        make_tree(&dir.path().join("build"));
        let zipfile = dir.path().join("app.zip");
        Cmd::new("zip")
            .args(["-q", "-r", &zipfile.to_string_lossy(), "app"])
            .cwd(dir.path().join("build"))
            .run_ok()
            .unwrap();
        let dest = dir.path().join("dest");
        let env = TestEnv::new(dir.path().into(), dir.path().into());
        let a = args(
            &dest.to_string_lossy(),
            json!({"source": format!("file://{}", zipfile.display())}),
        );
        let done = extracted(&env.ctx(false), &a);
        assert_eq!(done.result, Some(true), "{}", done.comment);
        let files = done.changes["extracted_files"].as_array().unwrap();
        assert!(files.contains(&Value::String("app/".into())), "{files:?}");
        assert!(files.contains(&Value::String("app/sub/b.txt".into())));
        assert_eq!(
            std::fs::read_to_string(dest.join("app/a.txt")).unwrap(),
            "a"
        );
        let again = extracted(&env.ctx(false), &a);
        assert_eq!(again.comment, "All files in archive are already present");
    }

    #[test]
    fn bad_arguments_fail_with_salts_words() {
        let env = TestEnv::new("/nonexistent".into(), std::env::temp_dir());
        let r = extracted(
            &env.ctx(false),
            &args("relative/dir", json!({"source": "/x.tar"})),
        );
        assert_eq!(r.comment, "relative/dir is not an absolute path");
        let r = extracted(
            &env.ctx(false),
            &args("/tmp/brine-none", json!({"source": "/nonexistent/x.tar"})),
        );
        assert_eq!(r.comment, "Source file '/nonexistent/x.tar' does not exist");
    }
}
