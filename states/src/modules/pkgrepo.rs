//! `pkgrepo.managed` and `pkgrepo.absent`: package repositories configured
//! as files, as Salt's states: apt source lines (with the repository's
//! signing key written under `/etc/apt/keyrings` and named by
//! `signed-by=`), or yum/dnf `.repo` sections. The backend follows the
//! `os_family` grain; the file root is a parameter so tests use a temp dir.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::ctx::{StateArgs, StateCtx};
use crate::modules::sys::packages::Manager;
use crate::modules::sys::pkgrepo::{
    append_line, edit_line, find_deb, find_yum, render_repo_file, under, write_file, DebSource,
    RepoSection,
};
use crate::modules::sys::{opt_text, scalar_text};
use crate::registry::StateSpec;
use crate::result::StateResult;

pub const STATES: &[StateSpec] = &[
    StateSpec {
        name: "pkgrepo.absent",
        doc: "Ensure that the package repository is not configured.\n\n\
              name: the apt source line (deb URI DIST COMPS), or the yum/dnf repo id",
        run: absent,
        mod_watch: None,
    },
    StateSpec {
        name: "pkgrepo.managed",
        doc: "Ensure that the package repository is configured.\n\n\
              name: the apt source line (deb [opts] URI DIST COMPS), or the yum/dnf repo id\n\
              file: apt: the .list file (default /etc/apt/sources.list); yum: the .repo file\n\
              key_url: apt: where to get the signing key (salt://, http(s)://, a path); written\n\
              under /etc/apt/keyrings (or to signedby) and named in the line as signed-by\n\
              signedby: apt: the key file the line names as signed-by\n\
              clean_file: apt: the file holds this line only\n\
              disabled / enabled: apt: comment the line out / in; yum: enabled=0/1\n\
              refresh: apt: update the package lists after a change (default True)\n\
              humanname, baseurl, mirrorlist, metalink, gpgcheck, gpgkey, ...: yum/dnf settings",
        run: managed,
        mod_watch: None,
    },
];

const TEST_WARNING: &str = "This may cause pkg states to behave differently than stated if this action is repeated without test=True, due to the differences in the configured repositories.";

enum Backend {
    Apt,
    Yum,
}

fn backend(ctx: &StateCtx<'_>) -> Result<Backend, String> {
    match ctx.grains.get("os_family").and_then(Value::as_str) {
        Some("Debian") => Ok(Backend::Apt),
        Some("RedHat") => Ok(Backend::Yum),
        other => Err(format!(
            "pkgrepo is not supported on os_family '{}' (supported: Debian, RedHat)",
            other.unwrap_or("")
        )),
    }
}

pub fn managed(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    managed_at(ctx, args, Path::new("/"))
}

pub fn absent(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    absent_at(ctx, args, Path::new("/"))
}

fn managed_at(ctx: &StateCtx<'_>, args: &StateArgs, root: &Path) -> StateResult {
    let name = args.name.as_str();
    let outcome = match backend(ctx) {
        Ok(Backend::Apt) => apt_managed(ctx, args, root),
        Ok(Backend::Yum) => yum_managed(ctx, args, root),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(Plan::AlreadyConfigured) => {
            StateResult::ok(name, format!("Package repo '{name}' already configured"))
        }
        Ok(Plan::WouldChange(changes)) => StateResult::would(
            name,
            format!("Package repo '{name}' would be configured. {TEST_WARNING}"),
            changes,
        ),
        Ok(Plan::Changed(changes)) => {
            let mut ret = StateResult::ok(name, format!("Configured package repo '{name}'"));
            ret.changes = changes;
            ret
        }
        Err(e) => StateResult::fail(name, format!("Failed to configure repo '{name}': {e}")),
    }
}

/// What managing a repository came to.
enum Plan {
    AlreadyConfigured,
    WouldChange(Map<String, Value>),
    Changed(Map<String, Value>),
}

fn old_new(old: impl Into<Value>, new: impl Into<Value>) -> Value {
    json!({"old": old.into(), "new": new.into()})
}

/// An absolute path argument, taken under `root`.
fn abs_arg(args: &StateArgs, key: &str, root: &Path) -> Result<Option<(String, PathBuf)>, String> {
    match opt_text(args, key) {
        None => Ok(None),
        Some(p) if p.starts_with('/') => Ok(Some((p.clone(), under(root, &p)))),
        Some(p) => Err(format!("{key} must be an absolute path, not '{p}'")),
    }
}

fn apt_managed(ctx: &StateCtx<'_>, args: &StateArgs, root: &Path) -> Result<Plan, String> {
    let name = args.name.as_str();
    let mut wanted = DebSource::parse(name)
        .filter(|s| !s.disabled)
        .ok_or_else(|| format!("'{name}' is not an apt source line (deb URI DIST COMPONENTS)"))?;
    wanted.disabled = args.bool("disabled", false) || !args.bool("enabled", true);

    // the signing key: fetched from key_url, kept where signed-by says
    let key_url = opt_text(args, "key_url");
    let signedby = abs_arg(args, "signedby", root)?
        .or(abs_arg(args, "signed-by", root)?)
        .or_else(|| {
            wanted
                .option("signed-by")
                .map(|p| (p.to_string(), under(root, p)))
        });
    let key = match &key_url {
        None => None,
        Some(url) => {
            let data = crate::modules::file::source::fetch(ctx, url)?
                .ok_or_else(|| format!("key_url {url} does not exist"))?;
            let armored = data.starts_with(b"-----BEGIN PGP");
            let (shown, path) = match &signedby {
                Some(s) => s.clone(),
                None => {
                    let stem = opt_text(args, "file")
                        .and_then(|f| {
                            Path::new(&f)
                                .file_stem()
                                .map(|s| s.to_string_lossy().to_string())
                        })
                        .unwrap_or_else(|| host_of(&wanted.uri));
                    let shown = format!(
                        "/etc/apt/keyrings/{stem}.{}",
                        if armored { "asc" } else { "gpg" }
                    );
                    let path = under(root, &shown);
                    (shown, path)
                }
            };
            Some((shown, path, data))
        }
    };
    if let Some((shown, _)) = &signedby {
        wanted.set_option("signed-by", shown);
    } else if let Some((shown, _, _)) = &key {
        wanted.set_option("signed-by", shown);
    }
    let new_line = wanted.render();

    let (file_shown, file) = abs_arg(args, "file", root)?.unwrap_or_else(|| {
        (
            "/etc/apt/sources.list".to_string(),
            under(root, "/etc/apt/sources.list"),
        )
    });
    let clean_file = args.bool("clean_file", false);
    let found = find_deb(root, &wanted);
    let here = found.iter().find(|f| f.file == file);
    let current = here.or(found.first());

    let mut changes = Map::new();
    let line_ok = match current {
        Some(f) => {
            let same_place = opt_text(args, "file").is_none() || f.file == file;
            if f.source.render() != new_line {
                changes.insert("line".into(), old_new(f.source.render(), new_line.clone()));
            }
            if !same_place {
                changes.insert(
                    "file".into(),
                    old_new(f.file.display().to_string(), file_shown.clone()),
                );
            }
            f.source.render() == new_line && same_place
        }
        None => false,
    };
    let clean_ok =
        !clean_file || std::fs::read_to_string(&file).is_ok_and(|t| t == format!("{new_line}\n"));
    let key_ok = key
        .as_ref()
        .is_none_or(|(_, path, data)| std::fs::read(path).is_ok_and(|have| have == *data));
    if let Some((shown, _, _)) = key.as_ref().filter(|_| !key_ok) {
        changes.insert("key".into(), json!(shown));
    }
    if current.is_none() {
        changes = Map::new();
        changes.insert("repo".into(), json!(name));
    }
    if line_ok && clean_ok && key_ok {
        return Ok(Plan::AlreadyConfigured);
    }
    if !clean_ok && changes.is_empty() {
        changes.insert("file".into(), json!(file_shown));
    }
    if ctx.test {
        return Ok(Plan::WouldChange(changes));
    }

    if let Some((_, path, data)) = key.as_ref().filter(|_| !key_ok) {
        write_file(path, data)?;
    }
    if clean_file {
        write_file(&file, format!("{new_line}\n").as_bytes())?;
        // the same repo elsewhere would now be listed twice
        for other in found.iter().rev().filter(|f| f.file != file) {
            edit_line(&other.file, other.index, None)?;
        }
    } else {
        match current {
            Some(f) if opt_text(args, "file").is_none() || f.file == file => {
                edit_line(&f.file, f.index, Some(&new_line))?
            }
            Some(f) => {
                edit_line(&f.file, f.index, None)?;
                append_line(&file, &new_line)?;
            }
            None => append_line(&file, &new_line)?,
        }
    }
    if args.bool("refresh", true) && args.bool("refresh_db", true) && root == Path::new("/") {
        Manager::Apt.refresh()?;
    }
    Ok(Plan::Changed(changes))
}

/// `https://pkg.example.com/x` -> `pkg.example.com`, for a key file name.
fn host_of(uri: &str) -> String {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    let host = rest.split(['/', ':']).next().unwrap_or("");
    if host.is_empty() {
        "repo".to_string()
    } else {
        host.to_string()
    }
}

/// Salt's yum option names that take a boolean, written as 1/0.
const YUM_BOOL_OPTIONS: &[&str] = &[
    "enabled",
    "gpgcheck",
    "repo_gpgcheck",
    "skip_if_unavailable",
    "sslverify",
    "module_hotfixes",
];

/// Options passed through to the `.repo` section as they are.
const YUM_OPTIONS: &[&str] = &[
    "baseurl",
    "mirrorlist",
    "metalink",
    "gpgkey",
    "priority",
    "cost",
    "exclude",
    "includepkgs",
    "proxy",
    "metadata_expire",
    "sslcacert",
    "type",
];

/// The `.repo` settings the arguments ask for, in a stable order.
fn yum_wanted(args: &StateArgs) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(h) = opt_text(args, "humanname") {
        out.push(("name".to_string(), h));
    }
    for key in YUM_OPTIONS {
        if let Some(v) = args.get(key).filter(|v| !v.is_null()) {
            let text = match v {
                Value::Array(items) => items.iter().map(scalar_text).collect::<Vec<_>>().join(" "),
                other => scalar_text(other),
            };
            out.push((key.to_string(), text));
        }
    }
    for key in YUM_BOOL_OPTIONS {
        if args.get(key).is_some_and(|v| !v.is_null()) {
            let on = args.bool(key, false);
            out.push((key.to_string(), if on { "1" } else { "0" }.to_string()));
        }
    }
    if args.get("disabled").is_some() && args.get("enabled").is_none() {
        let off = args.bool("disabled", false);
        out.push((
            "enabled".to_string(),
            if off { "0" } else { "1" }.to_string(),
        ));
    }
    out
}

fn yum_managed(ctx: &StateCtx<'_>, args: &StateArgs, root: &Path) -> Result<Plan, String> {
    let id = args.name.as_str();
    if id.is_empty() || id.contains(['[', ']', '/', '\n']) {
        return Err(format!("'{id}' is not a repository id"));
    }
    let wanted = yum_wanted(args);
    let (file, mut sections) = match find_yum(root, id) {
        Some(found) => found,
        None => {
            if !wanted
                .iter()
                .any(|(k, _)| matches!(k.as_str(), "baseurl" | "mirrorlist" | "metalink"))
            {
                return Err(format!(
                    "Repository {id} not found and neither baseurl nor mirrorlist specified"
                ));
            }
            let file = match opt_text(args, "file") {
                Some(f) if f.starts_with('/') => under(root, &f),
                Some(f) => under(root, "/etc/yum.repos.d").join(f),
                None => under(root, "/etc/yum.repos.d").join(format!("{id}.repo")),
            };
            let existing = std::fs::read_to_string(&file)
                .map(|t| crate::modules::sys::pkgrepo::parse_repo_file(&t))
                .unwrap_or_default();
            (file, existing)
        }
    };
    let pos = match sections.iter().position(|s| s.id == id) {
        Some(p) => p,
        None => {
            sections.push(RepoSection {
                id: id.to_string(),
                options: vec![("name".to_string(), id.to_string())],
            });
            sections.len() - 1
        }
    };
    let is_new = find_yum(root, id).is_none();
    let mut changes = Map::new();
    for (k, v) in &wanted {
        let old = sections[pos].get(k).map(str::to_string);
        if old.as_deref() != Some(v.as_str()) {
            changes.insert(
                k.clone(),
                old_new(old.map_or(Value::Null, Value::String), v.clone()),
            );
            sections[pos].set(k, v);
        }
    }
    if is_new {
        changes = Map::new();
        changes.insert("repo".into(), json!(id));
    } else if changes.is_empty() {
        return Ok(Plan::AlreadyConfigured);
    }
    if ctx.test {
        return Ok(Plan::WouldChange(changes));
    }
    write_file(&file, render_repo_file(&sections).as_bytes())?;
    Ok(Plan::Changed(changes))
}

fn absent_at(ctx: &StateCtx<'_>, args: &StateArgs, root: &Path) -> StateResult {
    let name = args.name.as_str();
    let removal = match backend(ctx) {
        Ok(Backend::Apt) => {
            let Some(wanted) = DebSource::parse(name) else {
                return StateResult::fail(
                    name,
                    format!(
                        "Failed to configure repo '{name}': '{name}' is not an apt source line"
                    ),
                );
            };
            let found = find_deb(root, &wanted);
            if found.is_empty() {
                None
            } else {
                Some(Box::new(move || {
                    // from the end, so earlier line numbers stay right
                    for f in found.iter().rev() {
                        edit_line(&f.file, f.index, None)?;
                    }
                    Ok(())
                })
                    as Box<dyn FnOnce() -> Result<(), String>>)
            }
        }
        Ok(Backend::Yum) => find_yum(root, name).map(|(file, sections)| {
            let id = name.to_string();
            Box::new(move || {
                let left: Vec<RepoSection> = sections.into_iter().filter(|s| s.id != id).collect();
                if left.is_empty() {
                    std::fs::remove_file(&file).map_err(|e| format!("{}: {e}", file.display()))
                } else {
                    write_file(&file, render_repo_file(&left).as_bytes())
                }
            }) as Box<dyn FnOnce() -> Result<(), String>>
        }),
        Err(e) => return StateResult::fail(name, e),
    };
    let Some(remove) = removal else {
        return StateResult::ok(name, format!("Package repo {name} is absent"));
    };
    if ctx.test {
        return StateResult::would(
            name,
            format!("Package repo '{name}' will be removed. {TEST_WARNING}"),
            Map::new(),
        );
    }
    match remove() {
        Ok(()) => {
            let mut ret = StateResult::ok(name, format!("Removed repo {name}"));
            ret.changes.insert("repo".into(), json!(name));
            ret
        }
        Err(e) => {
            tracing::debug!(error = %e, "repo removal failed");
            StateResult::fail(name, format!("Failed to remove repo {name}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::sys::testutil::{args, TestEnv};

    fn env_for(dir: &Path, family: &str) -> TestEnv {
        let mut env = TestEnv::new(dir.join("salt"), dir.join("cache"));
        env.grains.insert("os_family".into(), json!(family));
        env
    }

    fn read(root: &Path, abs: &str) -> String {
        std::fs::read_to_string(under(root, abs)).unwrap_or_default()
    }

    const LINE: &str = "deb https://pkg.example.com/debian bookworm main";

    #[test]
    fn apt_line_with_key_in_its_own_file() {
        let dir = tempfile::TempDir::new().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(dir.path().join("salt")).unwrap();
        std::fs::write(
            dir.path().join("salt/example.asc"),
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\nabc\n",
        )
        .unwrap();
        let env = env_for(dir.path(), "Debian");
        let a = args(
            LINE,
            json!({"file": "/etc/apt/sources.list.d/example.list", "key_url": "salt://example.asc"}),
        );
        let want = "deb [signed-by=/etc/apt/keyrings/example.asc] https://pkg.example.com/debian bookworm main\n";

        let dry = managed_at(&env.ctx(true), &a, &root);
        assert_eq!(dry.result, None);
        assert!(dry.comment.starts_with(&format!(
            "Package repo '{LINE}' would be configured. This may cause"
        )));
        assert_eq!(Value::Object(dry.changes), json!({"repo": LINE}));
        assert!(!root.exists(), "dry run wrote files");

        let done = managed_at(&env.ctx(false), &a, &root);
        assert_eq!(done.result, Some(true), "{}", done.comment);
        assert_eq!(done.comment, format!("Configured package repo '{LINE}'"));
        assert_eq!(Value::Object(done.changes), json!({"repo": LINE}));
        assert_eq!(read(&root, "/etc/apt/sources.list.d/example.list"), want);
        assert!(read(&root, "/etc/apt/keyrings/example.asc").starts_with("-----BEGIN PGP"));

        let again = managed_at(&env.ctx(false), &a, &root);
        assert_eq!(
            again.comment,
            format!("Package repo '{LINE}' already configured")
        );
        assert!(again.changes.is_empty());

        // a new key is written and reported
        std::fs::write(
            dir.path().join("salt/example.asc"),
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\nnew\n",
        )
        .unwrap();
        let rekey = managed_at(&env.ctx(false), &a, &root);
        assert_eq!(
            Value::Object(rekey.changes),
            json!({"key": "/etc/apt/keyrings/example.asc"})
        );
        assert!(read(&root, "/etc/apt/keyrings/example.asc").contains("new"));

        // disabled: the line is commented out in place
        let mut off = a.clone();
        off.args.insert("disabled".into(), json!(true));
        let r = managed_at(&env.ctx(false), &off, &root);
        assert_eq!(r.result, Some(true), "{}", r.comment);
        assert_eq!(
            read(&root, "/etc/apt/sources.list.d/example.list"),
            format!("# {want}")
        );

        let gone_dry = absent_at(&env.ctx(true), &args(LINE, json!({})), &root);
        assert_eq!(gone_dry.result, None);
        assert!(gone_dry
            .comment
            .starts_with(&format!("Package repo '{LINE}' will be removed.")));
        let gone = absent_at(&env.ctx(false), &args(LINE, json!({})), &root);
        assert_eq!(gone.comment, format!("Removed repo {LINE}"));
        assert_eq!(Value::Object(gone.changes), json!({"repo": LINE}));
        assert!(
            !under(&root, "/etc/apt/sources.list.d/example.list").exists(),
            "empty list file kept"
        );
        let none = absent_at(&env.ctx(false), &args(LINE, json!({})), &root);
        assert_eq!(
            (none.result, none.comment.clone()),
            (Some(true), format!("Package repo {LINE} is absent"))
        );
    }

    #[test]
    fn apt_line_changed_in_place_and_clean_file() {
        let dir = tempfile::TempDir::new().unwrap();
        let root = dir.path().join("root");
        let env = env_for(dir.path(), "Debian");
        write_file(
            &under(&root, "/etc/apt/sources.list"),
            format!("deb http://deb.debian.org/debian bookworm main\n{LINE}\n").as_bytes(),
        )
        .unwrap();
        let with_key = "deb [signed-by=/usr/share/keyrings/x.gpg] https://pkg.example.com/debian bookworm main";
        let r = managed_at(&env.ctx(false), &args(with_key, json!({})), &root);
        assert_eq!(r.result, Some(true), "{}", r.comment);
        assert_eq!(
            Value::Object(r.changes),
            json!({"line": {"old": LINE, "new": with_key}})
        );
        assert_eq!(
            read(&root, "/etc/apt/sources.list"),
            format!("deb http://deb.debian.org/debian bookworm main\n{with_key}\n")
        );

        let list = "/etc/apt/sources.list.d/ex.list";
        write_file(&under(&root, list), b"deb http://old.example.com/ x y\n").unwrap();
        let r = managed_at(
            &env.ctx(false),
            &args(LINE, json!({"file": list, "clean_file": true})),
            &root,
        );
        assert_eq!(r.result, Some(true), "{}", r.comment);
        assert_eq!(read(&root, list), format!("{LINE}\n"));
        assert_eq!(
            read(&root, "/etc/apt/sources.list"),
            "deb http://deb.debian.org/debian bookworm main\n",
            "the repo moved to its own file"
        );
        let bad = managed_at(&env.ctx(false), &args("not a line", json!({})), &root);
        assert_eq!(bad.result, Some(false));
        assert!(bad
            .comment
            .starts_with("Failed to configure repo 'not a line': "));
    }

    #[test]
    fn yum_repo_files() {
        let dir = tempfile::TempDir::new().unwrap();
        let root = dir.path().join("root");
        let env = env_for(dir.path(), "RedHat");
        let a = args(
            "brine-extra",
            json!({"humanname": "Brine Extra", "baseurl": "https://repo.example.com/el9/", "gpgcheck": true,
                   "gpgkey": "https://repo.example.com/key.asc", "enabled": true}),
        );
        let dry = managed_at(&env.ctx(true), &a, &root);
        assert_eq!(dry.result, None);
        assert!(!root.exists());
        let done = managed_at(&env.ctx(false), &a, &root);
        assert_eq!(done.result, Some(true), "{}", done.comment);
        assert_eq!(Value::Object(done.changes), json!({"repo": "brine-extra"}));
        assert_eq!(
            read(&root, "/etc/yum.repos.d/brine-extra.repo"),
            "[brine-extra]\nname=Brine Extra\nbaseurl=https://repo.example.com/el9/\n\
             gpgkey=https://repo.example.com/key.asc\nenabled=1\ngpgcheck=1\n"
        );
        let again = managed_at(&env.ctx(false), &a, &root);
        assert_eq!(
            again.comment,
            "Package repo 'brine-extra' already configured"
        );
        let mut off = a.clone();
        off.args.insert("enabled".into(), json!(false));
        let r = managed_at(&env.ctx(false), &off, &root);
        assert_eq!(
            Value::Object(r.changes),
            json!({"enabled": {"old": "1", "new": "0"}})
        );

        let missing = managed_at(&env.ctx(false), &args("nourl", json!({})), &root);
        assert_eq!(
            missing.comment,
            "Failed to configure repo 'nourl': Repository nourl not found and neither baseurl nor mirrorlist specified"
        );
        let gone = absent_at(&env.ctx(false), &args("brine-extra", json!({})), &root);
        assert_eq!(gone.comment, "Removed repo brine-extra");
        assert!(!under(&root, "/etc/yum.repos.d/brine-extra.repo").exists());
        let none = absent_at(&env.ctx(false), &args("brine-extra", json!({})), &root);
        assert_eq!(none.comment, "Package repo brine-extra is absent");
    }

    #[test]
    fn unsupported_family_fails() {
        let dir = tempfile::TempDir::new().unwrap();
        let env = env_for(dir.path(), "Arch");
        let r = managed_at(&env.ctx(false), &args(LINE, json!({})), dir.path());
        assert_eq!(r.result, Some(false));
        assert!(r
            .comment
            .contains("pkgrepo is not supported on os_family 'Arch'"));
    }
}
