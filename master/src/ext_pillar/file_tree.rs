//! `file_tree`: Salt's file tree external pillar. Under `root_dir`,
//! `hosts/<minion_id>/` and `nodegroups/<nodegroup>/` (for each nodegroup of
//! the master config the minion is in) are read as pillar: a directory is a
//! mapping, a file a key whose value is its content (one trailing newline
//! removed unless `keep_newline` says otherwise). Host data is merged over
//! nodegroup data.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::conf::{FileTree, KeepNewline};
use super::Minion;

/// Renders a file's text as a template (`template: true`).
pub type Render<'a> = &'a dyn Fn(&str, &str) -> Result<Value, String>;

/// The pillar `tree` gives `minion`; errors say what could not be read.
pub fn compile(tree: &FileTree, minion: &Minion<'_>, render: Render<'_>) -> (Value, Vec<String>) {
    let mut errors = Vec::new();
    let dirs: Vec<PathBuf> = if tree.root_dir.is_absolute() {
        vec![tree.root_dir.clone()]
    } else {
        // Relative to each pillar root of the pillarenv, as Salt since 2018.3.
        let Some(env) = minion.saltenv else {
            errors.push(format!(
                "file_tree: root_dir {} is relative but pillarenv is not set",
                tree.root_dir.display()
            ));
            return (Value::Object(Map::new()), errors);
        };
        let Some(roots) = minion.pillar_roots.roots.get(env) else {
            errors.push(format!(
                "file_tree: root_dir is relative but no pillar_roots are specified for pillarenv {env}"
            ));
            return (Value::Object(Map::new()), errors);
        };
        let mut dirs: Vec<PathBuf> = Vec::new();
        for root in roots {
            let d = root.join(&tree.root_dir);
            if dirs.last() != Some(&d) {
                dirs.push(d);
            }
        }
        dirs
    };
    let mut pillar = Value::Object(Map::new());
    for dir in dirs {
        let one = one_root(tree, &dir, minion, render, &mut errors);
        brine_states::data::update(&mut pillar, one, false);
    }
    (pillar, errors)
}

fn one_root(
    tree: &FileTree,
    root: &Path,
    minion: &Minion<'_>,
    render: Render<'_>,
    errors: &mut Vec<String>,
) -> Value {
    let mut pillar = Value::Object(Map::new());
    if !root.is_dir() {
        errors.push(format!(
            "file_tree: root_dir {} does not exist or is not a directory",
            root.display()
        ));
        return pillar;
    }
    let groups_dir = root.join("nodegroups");
    if groups_dir.is_dir() && !minion.nodegroups.is_empty() {
        let mut names: Vec<String> = std::fs::read_dir(&groups_dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        for name in names {
            if !minion.nodegroups.contains_key(&name) {
                continue;
            }
            match minion.in_nodegroup(&name) {
                Ok(true) => {
                    let data = construct(tree, &groups_dir.join(&name), render, errors);
                    brine_states::data::update(&mut pillar, data, false);
                }
                Ok(false) => {}
                Err(e) => errors.push(format!("file_tree: nodegroup {name}: {e}")),
            }
        }
    }
    let host_dir = root.join("hosts").join(minion.id);
    if host_dir.exists() {
        if host_dir.is_dir() {
            let data = construct(tree, &host_dir, render, errors);
            brine_states::data::update(&mut pillar, data, false);
        } else {
            errors.push(format!(
                "file_tree: {} exists, but is not a directory",
                host_dir.display()
            ));
        }
    }
    pillar
}

/// The pillar of one host or nodegroup directory.
fn construct(tree: &FileTree, top: &Path, render: Render<'_>, errors: &mut Vec<String>) -> Value {
    let mut out = Map::new();
    walk(tree, top, "", render, errors, &mut out, 0);
    Value::Object(out)
}

/// Deeper than this is taken for a symlink loop (followed links are not
/// checked for cycles, as in Salt, but must not hang the master).
const MAX_DEPTH: usize = 64;

fn walk(
    tree: &FileTree,
    dir: &Path,
    prefix: &str,
    render: Render<'_>,
    errors: &mut Vec<String>,
    node: &mut Map<String, Value>,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        errors.push(format!(
            "file_tree: {}: nested too deep (a symlink loop?)",
            dir.display()
        ));
        return;
    }
    let mut entries: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.flatten().collect(),
        Err(e) => {
            errors.push(format!("file_tree: \"{}\": {e}", dir.display()));
            return;
        }
    };
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let Ok(ft) = entry.file_type() else { continue };
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let is_dir = ft.is_dir() || (ft.is_symlink() && tree.follow_dir_links && path.is_dir());
        if is_dir {
            let mut sub = Map::new();
            walk(tree, &path, &rel, render, errors, &mut sub, depth + 1);
            node.insert(name, Value::Object(sub));
            continue;
        }
        if !path.is_file() {
            if !(ft.is_symlink() && path.is_dir()) {
                tracing::error!(path = %path.display(), "file_tree: not a regular file");
            }
            continue;
        }
        let mut contents = match std::fs::read(&path) {
            Ok(c) => c,
            Err(e) => {
                errors.push(format!("file_tree: Error reading {}: {e}", path.display()));
                continue;
            }
        };
        if contents.ends_with(b"\n") && strip_newline(&tree.keep_newline, &rel) {
            contents.pop();
        }
        let text = String::from_utf8_lossy(&contents).into_owned();
        let value = if tree.template {
            match render(&rel, &text) {
                Ok(v) => v,
                Err(e) => {
                    errors.push(format!("file_tree: rendering {}: {e}", path.display()));
                    continue;
                }
            }
        } else {
            Value::String(text)
        };
        node.insert(name, value);
    }
}

/// Salt's `_check_newline`: whether the trailing newline of the file at
/// `rel` goes.
fn strip_newline(keep: &KeepNewline, rel: &str) -> bool {
    match keep {
        KeepNewline::All(keep) => !keep,
        KeepNewline::Globs(globs) => {
            // Salt matches `os.path.join(prefix, name)`, where the prefix of
            // the top directory is `.`: both spellings match.
            let dotted = format!("./{rel}");
            !globs.iter().any(|g| {
                globset::GlobBuilder::new(g)
                    .literal_separator(false)
                    .build()
                    .is_ok_and(|g| {
                        let m = g.compile_matcher();
                        m.is_match(rel) || (!rel.contains('/') && m.is_match(&dotted))
                    })
            })
        }
    }
}
