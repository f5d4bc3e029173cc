//! `pip.installed`: Python packages installed with the host's pip (a
//! virtualenv's through `bin_env`), Salt's `pip_state` semantics: what is
//! already installed at a satisfying version is left alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::ctx::{StateArgs, StateCtx};
use crate::modules::sys::run::{which, Cmd};
use crate::modules::sys::{opt_text, str_list};
use crate::registry::StateSpec;
use crate::result::StateResult;

pub const STATES: &[StateSpec] = &[StateSpec {
    name: "pip.installed",
    doc: "Make sure Python packages are installed with pip.\n\n\
          name: a requirement ('foo', 'foo==1.2', 'foo>=1')\n\
          pkgs: a list of requirements (instead of name)\n\
          requirements: a requirements file to install from\n\
          bin_env: a virtualenv directory or a pip executable (default: pip3, else python3 -m pip)\n\
          upgrade: install the newest version even when one is installed\n\
          force_reinstall, no_deps, no_index, pre_releases: as pip's options\n\
          index_url, extra_index_url, find_links: where pip looks for packages\n\
          user: run pip as this user; cwd: run pip in this directory\n\
          extra_args: more options for pip install (a list)",
    run: installed,
    mod_watch: None,
}];

/// The pip to run: `bin_env` (a virtualenv or a pip), else `pip3`, else
/// `python3 -m pip`. The error names what is missing.
fn pip_command(bin_env: Option<&str>, user: Option<&str>) -> Result<Cmd, String> {
    let base = |program: &str| match user {
        Some(u) => Cmd::new("runuser").args(["-u", u, "--", program]),
        None => Cmd::new(program),
    };
    if let Some(env) = bin_env {
        let p = Path::new(env);
        let pip: PathBuf = if p.is_dir() {
            ["bin/pip3", "bin/pip"]
                .iter()
                .map(|b| p.join(b))
                .find(|b| b.is_file())
                .ok_or_else(|| format!("Could not find a pip binary in virtualenv {env}"))?
        } else if p.is_file() {
            p.to_path_buf()
        } else {
            return Err(format!("Could not find a pip binary at {env}"));
        };
        return Ok(base(&pip.to_string_lossy()).env("PIP_DISABLE_PIP_VERSION_CHECK", "1"));
    }
    if which("pip3") {
        return Ok(base("pip3").env("PIP_DISABLE_PIP_VERSION_CHECK", "1"));
    }
    if which("python3") {
        let probe = Cmd::new("python3").args(["-m", "pip", "--version"]).run();
        if probe.is_ok_and(|o| o.success()) {
            return Ok(base("python3")
                .args(["-m", "pip"])
                .env("PIP_DISABLE_PIP_VERSION_CHECK", "1"));
        }
    }
    Err(
        "pip is not available on this minion: no pip3 on PATH and 'python3 -m pip' does \
         not work (install python3-pip, or give bin_env)"
            .into(),
    )
}

/// PEP 503 name normalization: case and `-_.` runs do not matter.
fn normalize(name: &str) -> String {
    let mut out = String::new();
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// A requirement: name, extras dropped, and its version clauses.
#[derive(Debug, PartialEq)]
struct Requirement {
    name: String,
    clauses: Vec<(String, String)>,
}

fn parse_requirement(spec: &str) -> Requirement {
    let spec = spec.split(';').next().unwrap_or(spec).trim();
    let end = spec
        .find(|c: char| "<>=!~[ (".contains(c))
        .unwrap_or(spec.len());
    let name = normalize(&spec[..end]);
    let rest = spec[end..].trim();
    let rest = match rest.strip_prefix('[') {
        Some(r) => r.split_once(']').map(|(_, v)| v).unwrap_or(""),
        None => rest,
    };
    let clauses = rest
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .filter_map(|c| {
            let c = c.trim();
            let op_len = c.find(|ch: char| !"<>=!~".contains(ch))?;
            (op_len > 0).then(|| (c[..op_len].to_string(), c[op_len..].trim().to_string()))
        })
        .collect();
    Requirement { name, clauses }
}

/// A release number for comparison: numeric parts; anything after the
/// first non-numeric part sorts as an earlier (pre-)release.
fn version_key(v: &str) -> (Vec<u64>, bool) {
    let mut nums = Vec::new();
    let mut final_release = true;
    for part in v.trim().trim_start_matches('v').split('.') {
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty() {
            final_release = false;
            break;
        }
        nums.push(digits.parse().unwrap_or(0));
        if digits.len() != part.len() {
            final_release = false;
            break;
        }
    }
    while nums.last() == Some(&0) {
        nums.pop();
    }
    (nums, final_release)
}

fn satisfies(installed: &str, clauses: &[(String, String)]) -> bool {
    let have = version_key(installed);
    clauses.iter().all(|(op, want)| {
        if op == "==" && want.ends_with(".*") {
            let prefix = version_key(want.trim_end_matches(".*")).0;
            return have.0.starts_with(&prefix);
        }
        let w = version_key(want);
        match op.as_str() {
            "==" | "===" => have == w,
            "!=" => have != w,
            ">=" => have >= w,
            "<=" => have <= w,
            ">" => have > w,
            "<" => have < w,
            "~=" => {
                let mut prefix = w.0.clone();
                prefix.pop();
                have >= w && have.0.starts_with(&prefix)
            }
            _ => false,
        }
    })
}

/// Installed distributions, normalized name -> version.
fn installed_packages(pip: &Cmd, cwd: Option<&str>) -> Result<BTreeMap<String, String>, String> {
    let mut cmd = pip.clone().args(["list", "--format=json"]);
    if let Some(d) = cwd {
        cmd = cmd.cwd(d);
    }
    let out = cmd.run_ok()?;
    let list: Vec<Value> = serde_json::from_str(out.stdout.trim())
        .map_err(|e| format!("Unable to read pip list output: {e}"))?;
    Ok(list
        .iter()
        .filter_map(|p| {
            Some((
                normalize(p.get("name")?.as_str()?),
                p.get("version")?.as_str()?.to_string(),
            ))
        })
        .collect())
}

/// `pip install`'s options from the state's arguments.
fn install_options(args: &StateArgs) -> Vec<String> {
    let mut o = Vec::new();
    for (flag, opt) in [
        ("upgrade", "--upgrade"),
        ("force_reinstall", "--force-reinstall"),
        ("ignore_installed", "--ignore-installed"),
        ("no_deps", "--no-deps"),
        ("no_index", "--no-index"),
        ("pre_releases", "--pre"),
        ("no_cache_dir", "--no-cache-dir"),
    ] {
        if args.bool(flag, false) {
            o.push(opt.to_string());
        }
    }
    for (key, opt) in [
        ("index_url", "--index-url"),
        ("extra_index_url", "--extra-index-url"),
        ("find_links", "--find-links"),
        ("target", "--target"),
        ("proxy", "--proxy"),
        ("timeout", "--timeout"),
    ] {
        if let Some(v) = opt_text(args, key) {
            o.push(format!("{opt}={v}"));
        }
    }
    if let Some(extra) = str_list(args, "extra_args") {
        o.extend(extra);
    }
    o
}

/// Salt's lines of pip output that mean nothing was installed.
const REQUIREMENTS_NOCHANGE: &[&str] = &[
    "Requirement already satisfied",
    "Requirement already up-to-date",
    "Requirement not upgraded",
    "Collecting",
    "Cloning",
    "Cleaning up...",
    "Looking in indexes",
    "Looking in links",
    "Processing",
];

fn installed(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    // Salt: with `requirements` and no `pkgs`, `name` is only the label.
    let pkgs: Vec<String> = match str_list(args, "pkgs") {
        Some(p) => p,
        None if args.get("requirements").is_some() => Vec::new(),
        None => vec![name.to_string()],
    };
    let requirements = opt_text(args, "requirements");
    let user = opt_text(args, "user");
    let cwd = opt_text(args, "cwd");
    let pip = match pip_command(opt_text(args, "bin_env").as_deref(), user.as_deref()) {
        Ok(p) => p,
        Err(e) => return StateResult::fail(name, e),
    };
    let upgrade = args.bool("upgrade", false);
    let force = args.bool("force_reinstall", false) || args.bool("ignore_installed", false);
    let have = match installed_packages(&pip, cwd.as_deref()) {
        Ok(h) => h,
        Err(e) => {
            return StateResult::fail(name, format!("Unable to list installed packages: {e}"))
        }
    };
    let mut already = Vec::new();
    let mut targets = Vec::new();
    for spec in &pkgs {
        let req = parse_requirement(spec);
        match have.get(&req.name) {
            Some(v) if !upgrade && !force && satisfies(v, &req.clauses) => {
                already.push(format!("Python package {spec} was already installed"));
            }
            _ => targets.push(spec.clone()),
        }
    }
    if targets.is_empty() && requirements.is_none() {
        let last = format!(
            "All specified packages are already installed{}",
            if upgrade { " and up-to-date" } else { "" }
        );
        let mut comment = already.join("\n");
        if !comment.is_empty() {
            comment.push('\n');
        }
        comment.push_str(&last);
        return StateResult::ok(name, comment);
    }
    if ctx.test {
        let mut lines = Vec::new();
        if !targets.is_empty() {
            lines.push(format!(
                "Python package(s) set to be installed:\n{}",
                targets.join("\n")
            ));
        }
        if let Some(r) = &requirements {
            lines.push(format!("Requirements file {r} will be processed."));
        }
        return StateResult::would(name, lines.join("\n"), Default::default());
    }
    let mut cmd = pip.clone().args(["install"]).args(install_options(args));
    if let Some(r) = &requirements {
        cmd = cmd.args(["-r", r]);
    }
    cmd = cmd.args(targets.iter().cloned());
    if let Some(d) = &cwd {
        cmd = cmd.cwd(d);
    }
    let out = match cmd.run() {
        Ok(o) => o,
        Err(e) => return StateResult::fail(name, e),
    };
    if !out.success() {
        let what = if targets.is_empty() {
            requirements.clone().unwrap_or_default()
        } else {
            targets.join(", ")
        };
        return StateResult::fail(
            name,
            format!(
                "Failed to install packages: {what}. Error: {} {}",
                out.stdout.trim(),
                out.stderr.trim()
            ),
        );
    }
    let mut ret = StateResult::new(name);
    let mut comments = Vec::new();
    if let Some(r) = &requirements {
        let changed = out.stdout.lines().any(|l| {
            let l = l.trim();
            !l.is_empty() && !REQUIREMENTS_NOCHANGE.iter().any(|p| l.starts_with(p))
        });
        if changed {
            ret.changes.insert("requirements".into(), json!(true));
            comments.push(format!("Successfully processed requirements file {r}."));
        } else {
            comments.push("Requirements were already installed.".to_string());
        }
    }
    if !targets.is_empty() {
        let now = installed_packages(&pip, cwd.as_deref()).unwrap_or_default();
        for spec in &targets {
            let req = parse_requirement(spec);
            match now.get(&req.name) {
                Some(v) => {
                    ret.changes
                        .insert(format!("{}=={v}", req.name), json!("Installed"));
                }
                None => {
                    ret.changes.insert(spec.clone(), json!("Absent"));
                    ret.result = Some(false);
                }
            }
        }
        comments.push(if ret.result == Some(false) {
            "There was no error installing package(s) but some packages are still not \
             installed."
                .to_string()
        } else {
            "All packages were successfully installed".to_string()
        });
    }
    ret.comment = comments.join("\n");
    ret
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::file::testkit::Kit;

    #[test]
    fn requirements_and_versions() {
        assert_eq!(
            parse_requirement("Foo_Bar[x]>=1.2, <2"),
            Requirement {
                name: "foo-bar".into(),
                clauses: vec![(">=".into(), "1.2".into()), ("<".into(), "2".into())]
            }
        );
        assert!(satisfies("1.2.0", &[("==".into(), "1.2".into())]));
        assert!(satisfies("1.4", &[("~=".into(), "1.2".into())]));
        assert!(!satisfies("2.0", &[("~=".into(), "1.2".into())]));
        assert!(satisfies("1.10", &[(">".into(), "1.9".into())]));
        assert!(satisfies("3.1.4", &[("==".into(), "3.1.*".into())]));
        assert!(!satisfies("1.0rc1", &[(">=".into(), "1.0".into())]));
    }

    #[test]
    fn a_missing_pip_is_named() {
        let kit = Kit::new();
        let r = kit.run(
            "pip.installed",
            "foo",
            json!({"bin_env": kit.path("no-venv")}),
            false,
        );
        assert_eq!(r.result, Some(false));
        assert!(
            r.comment.contains("Could not find a pip binary at"),
            "{}",
            r.comment
        );
    }

    /// A wheel built by hand in a temp dir, installed into a fresh
    /// virtualenv with no index: no network anywhere.
    #[test]
    fn installs_a_local_wheel_into_a_virtualenv() {
        if !which("python3") {
            eprintln!("skipped: no python3");
            return;
        }
        let kit = Kit::new();
        let venv = kit.path("venv");
        let made = Cmd::new("python3").args(["-m", "venv", &venv]).run();
        if !made.as_ref().is_ok_and(|o| o.success()) {
            eprintln!("skipped: python3 -m venv failed: {made:?}");
            return;
        }
        let wheels = kit.path("wheels");
        std::fs::create_dir_all(&wheels).unwrap();
        let script = format!(
            "import zipfile\n\
             z = zipfile.ZipFile('{wheels}/brinetoy-1.0-py3-none-any.whl', 'w')\n\
             z.writestr('brinetoy/__init__.py', 'X = 1\\n')\n\
             z.writestr('brinetoy-1.0.dist-info/METADATA', 'Metadata-Version: 2.1\\nName: brinetoy\\nVersion: 1.0\\n')\n\
             z.writestr('brinetoy-1.0.dist-info/WHEEL', 'Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n')\n\
             z.writestr('brinetoy-1.0.dist-info/RECORD', '')\n\
             z.close()\n"
        );
        assert!(Cmd::new("python3")
            .args(["-c", &script])
            .run()
            .unwrap()
            .success());
        let args = json!({"bin_env": venv, "no_index": true, "find_links": wheels});
        let r = kit.run("pip.installed", "brinetoy==1.0", args.clone(), true);
        assert_eq!(r.result, None, "{}", r.comment);
        assert!(r.comment.contains("set to be installed"));
        let r = kit.run("pip.installed", "brinetoy==1.0", args.clone(), false);
        assert_eq!(r.result, Some(true), "{}", r.comment);
        assert_eq!(r.changes["brinetoy==1.0"], json!("Installed"));
        assert_eq!(r.comment, "All packages were successfully installed");
        let r = kit.run("pip.installed", "BrineToy>=0.9", args.clone(), false);
        assert_eq!(r.result, Some(true));
        assert!(r.changes.is_empty());
        assert!(
            r.comment
                .ends_with("All specified packages are already installed"),
            "{}",
            r.comment
        );
        let r = kit.run("pip.installed", "nosuchpkg", args, false);
        assert_eq!(r.result, Some(false));
        assert!(
            r.comment
                .starts_with("Failed to install packages: nosuchpkg."),
            "{}",
            r.comment
        );
    }
}
