//! `inotify`: file and directory changes, from the kernel's inotify API
//! (through `nix`, already a dependency).
//!
//! Why the kernel API rather than polling metadata every interval: it
//! reports what happened between two evaluations (a file created and
//! deleted within one interval, a write that kept the size and the
//! second-resolution mtime) with Salt's change names (`IN_CREATE`,
//! `IN_CLOSE_WRITE`...), costs nothing while nothing changes, however many
//! files a directory holds, and needs no new crate. The kernel queues the
//! events between evaluations (bounded by `fs.inotify.max_queued_events`;
//! an overflow is reported as one `IN_Q_OVERFLOW` event).
//!
//! ```yaml
//! beacons:
//!   inotify:
//!     - files:
//!         /etc/nginx:
//!           mask: [create, modify, delete]   # the default
//!           recurse: true
//!           auto_add: true
//!           exclude:
//!             - /etc/nginx/cache
//!             - /etc/nginx/.*\.swp$: {regex: true}
//!     - coalesce: true
//!     - disable_during_state_run: true
//! ```
//!
//! Event `brine/beacon/<id>/inotify/<watched path>` with Salt's data
//! `{"path": "/etc/nginx/nginx.conf", "change": "IN_MODIFY"}` (the tag
//! ends with the watched directory or file, as pyinotify's `event.path`).
//! Watches are set at the first evaluation: what existed then is not
//! reported. `coalesce` (Brine's default: true) sends one event per path
//! and change per interval, so a file written a thousand times in one
//! interval is one event.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use regex::Regex;
use serde_json::{json, Map, Value};

use super::{truthy, Beacon, BeaconEvent};

/// Watches one beacon may hold (each costs the kernel about 1 KiB).
const MAX_WATCHES: usize = 8192;
/// Events one evaluation reads; the rest stay queued in the kernel.
const MAX_EVENTS_PER_EVALUATION: usize = 10_000;
/// Beacon events one evaluation sends at most; the rest are counted.
const MAX_SENT_PER_EVALUATION: usize = 500;

/// Salt's mask names and the kernel's bits, in the order names are joined.
const MASKS: &[(&str, AddWatchFlags)] = &[
    ("access", AddWatchFlags::IN_ACCESS),
    ("modify", AddWatchFlags::IN_MODIFY),
    ("attrib", AddWatchFlags::IN_ATTRIB),
    ("close_write", AddWatchFlags::IN_CLOSE_WRITE),
    ("close_nowrite", AddWatchFlags::IN_CLOSE_NOWRITE),
    ("open", AddWatchFlags::IN_OPEN),
    ("moved_from", AddWatchFlags::IN_MOVED_FROM),
    ("moved_to", AddWatchFlags::IN_MOVED_TO),
    ("create", AddWatchFlags::IN_CREATE),
    ("delete", AddWatchFlags::IN_DELETE),
    ("delete_self", AddWatchFlags::IN_DELETE_SELF),
    ("move_self", AddWatchFlags::IN_MOVE_SELF),
    ("unmount", AddWatchFlags::IN_UNMOUNT),
    ("q_overflow", AddWatchFlags::IN_Q_OVERFLOW),
    ("ignored", AddWatchFlags::IN_IGNORED),
    ("isdir", AddWatchFlags::IN_ISDIR),
];

/// Mask options that change how a watch works rather than what it reports.
const MASK_OPTIONS: &[(&str, AddWatchFlags)] = &[
    ("dont_follow", AddWatchFlags::IN_DONT_FOLLOW),
    ("excl_unlink", AddWatchFlags::from_bits_retain(0x0400_0000)),
    ("oneshot", AddWatchFlags::IN_ONESHOT),
    ("onlydir", AddWatchFlags::IN_ONLYDIR),
];

/// pyinotify's `maskname`: `IN_CREATE`, `IN_CREATE|IN_ISDIR`.
pub fn mask_name(mask: AddWatchFlags) -> String {
    MASKS
        .iter()
        .filter(|(_, bit)| mask.contains(*bit))
        .map(|(n, _)| format!("IN_{}", n.to_uppercase()))
        .collect::<Vec<_>>()
        .join("|")
}

#[derive(Debug, Clone)]
enum Exclude {
    Prefix(String),
    /// Python's fnmatch, as Salt uses for a pattern with `*`.
    Glob(String),
    Regex(Regex),
}

impl Exclude {
    fn matches(&self, path: &str) -> bool {
        match self {
            Exclude::Prefix(p) => path.starts_with(p.as_str()),
            Exclude::Glob(g) => brine_states::high::graph::glob_match(g, path),
            Exclude::Regex(r) => r.is_match(path),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Watched {
    path: PathBuf,
    /// What is reported.
    mask: AddWatchFlags,
    /// Bits set on the watch (the mask, its options, what auto_add needs).
    watch_flags: AddWatchFlags,
    recurse: bool,
    auto_add: bool,
    exclude: Vec<Exclude>,
}

#[derive(Debug, Clone)]
pub struct Config {
    files: Vec<Watched>,
    coalesce: bool,
}

impl Config {
    pub fn parse(params: &Map<String, Value>) -> Result<Config, String> {
        let mut files = Vec::new();
        let mut coalesce = true;
        for (key, value) in params {
            match key.as_str() {
                "files" => {
                    let m = value.as_object().ok_or_else(|| {
                        format!("files must map paths to their options, not {value}")
                    })?;
                    for (path, opts) in m {
                        files.push(parse_watched(path, opts)?);
                    }
                }
                "coalesce" => {
                    coalesce = truthy(value)
                        .ok_or_else(|| format!("coalesce must be true or false, not {value}"))?
                }
                other => return Err(format!("inotify has no option '{other}' (it takes files)")),
            }
        }
        if files.is_empty() {
            return Err("inotify requires files, e.g. 'files: {/etc/hosts: {}}'".into());
        }
        Ok(Config { files, coalesce })
    }
}

fn parse_watched(path: &str, opts: &Value) -> Result<Watched, String> {
    if !path.starts_with('/') {
        return Err(format!("inotify path '{path}' must be absolute"));
    }
    let opts = match opts {
        Value::Null => Map::new(),
        Value::Object(o) => o.clone(),
        other => {
            return Err(format!(
                "inotify path '{path}': options must be a dict, not {other}"
            ))
        }
    };
    let flag = |k: &str| -> Result<bool, String> {
        match opts.get(k) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(format!(
                "inotify path '{path}': {k} must be true or false, not {v}"
            )),
        }
    };
    let recurse = flag("recurse")?;
    let auto_add = flag("auto_add")?;
    let (mut mask, mut options) = (AddWatchFlags::empty(), AddWatchFlags::empty());
    match opts.get("mask") {
        None | Some(Value::Null) => {
            mask = AddWatchFlags::IN_CREATE | AddWatchFlags::IN_DELETE | AddWatchFlags::IN_MODIFY
        }
        Some(Value::Array(names)) => {
            for n in names {
                let n = n.as_str().unwrap_or_default();
                if let Some((_, bit)) = MASKS.iter().find(|(m, _)| *m == n) {
                    mask |= *bit;
                } else if let Some((_, bit)) = MASK_OPTIONS.iter().find(|(m, _)| *m == n) {
                    options |= *bit;
                } else {
                    return Err(format!("inotify path '{path}': invalid mask option {n:?}"));
                }
            }
        }
        Some(v) => {
            return Err(format!(
                "inotify path '{path}': mask must be a list, not {v}"
            ))
        }
    }
    let mut exclude = Vec::new();
    match opts.get("exclude") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                exclude.push(match item {
                    Value::String(s) if s.contains('*') => Exclude::Glob(s.clone()),
                    Value::String(s) => Exclude::Prefix(s.clone()),
                    Value::Object(m) if m.len() == 1 => {
                        let (pat, o) = m.iter().next().expect("one key");
                        if o.get("regex").and_then(truthy) == Some(true) {
                            Exclude::Regex(
                                Regex::new(pat)
                                    .map_err(|e| format!("inotify exclude regex '{pat}': {e}"))?,
                            )
                        } else {
                            Exclude::Prefix(pat.clone())
                        }
                    }
                    other => return Err(format!("inotify exclude item {other} is not a path")),
                });
            }
        }
        Some(v) => {
            return Err(format!(
                "inotify path '{path}': exclude must be a list, not {v}"
            ))
        }
    }
    let mut watch_flags = mask | options;
    if auto_add || recurse {
        watch_flags |= AddWatchFlags::IN_CREATE;
    }
    Ok(Watched {
        path: PathBuf::from(path),
        mask,
        watch_flags,
        recurse,
        auto_add,
        exclude,
    })
}

pub struct InotifyBeacon {
    config: Config,
    fd: Option<Inotify>,
    /// Each watch: its path and the configured entry it belongs to.
    watches: HashMap<WatchDescriptor, (PathBuf, usize)>,
    /// Told once that the kernel refused (no more instances or watches).
    warned: bool,
}

impl InotifyBeacon {
    pub fn new(config: Config) -> InotifyBeacon {
        InotifyBeacon {
            config,
            fd: None,
            watches: HashMap::new(),
            warned: false,
        }
    }

    fn add_watch(&mut self, path: &Path, entry: usize) {
        if self.watches.len() >= MAX_WATCHES {
            if !self.warned {
                tracing::warn!(
                    max = MAX_WATCHES,
                    "inotify beacon: too many watches; more directories are not watched"
                );
                self.warned = true;
            }
            return;
        }
        let Some(fd) = &self.fd else { return };
        let flags = self.config.files[entry].watch_flags;
        match fd.add_watch(path, flags) {
            Ok(wd) => {
                self.watches.insert(wd, (path.to_path_buf(), entry));
            }
            Err(error) => tracing::debug!(path = %path.display(), %error, "inotify: cannot watch"),
        }
    }

    /// Watches every configured path that exists and is not watched yet
    /// (a path deleted and created again is watched again).
    fn ensure_watches(&mut self) {
        let watched: HashSet<PathBuf> = self.watches.values().map(|(p, _)| p.clone()).collect();
        for i in 0..self.config.files.len() {
            let w = self.config.files[i].clone();
            if !watched.contains(&w.path) && w.path.exists() {
                self.add_watch(&w.path, i);
                if w.recurse && w.path.is_dir() {
                    let mut stack = vec![w.path.clone()];
                    while let Some(dir) = stack.pop() {
                        let Ok(entries) = std::fs::read_dir(&dir) else {
                            continue;
                        };
                        for e in entries.flatten() {
                            if e.file_type().is_ok_and(|t| t.is_dir()) {
                                let sub = e.path();
                                if !watched.contains(&sub) {
                                    self.add_watch(&sub, i);
                                }
                                stack.push(sub);
                            }
                            if self.watches.len() >= MAX_WATCHES {
                                return;
                            }
                        }
                    }
                }
            }
        }
    }
}

impl Beacon for InotifyBeacon {
    fn evaluate(&mut self, _now: Instant) -> Vec<BeaconEvent> {
        if self.fd.is_none() {
            match Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC) {
                Ok(fd) => self.fd = Some(fd),
                Err(error) => {
                    if !self.warned {
                        tracing::warn!(%error, "inotify beacon: the kernel refused an inotify instance; tried again each interval");
                        self.warned = true;
                    }
                    return Vec::new();
                }
            }
            self.ensure_watches();
            return Vec::new();
        }
        let mut raw = Vec::new();
        if let Some(fd) = &self.fd {
            while raw.len() < MAX_EVENTS_PER_EVALUATION {
                match fd.read_events() {
                    Ok(batch) if !batch.is_empty() => raw.extend(batch),
                    _ => break,
                }
            }
        }
        let mut events = Vec::new();
        let mut seen = HashSet::new();
        let mut unsent = 0usize;
        let mut new_dirs = Vec::new();
        for ev in raw {
            if ev.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                events.push(BeaconEvent::new(
                    "",
                    json!({"path": "", "change": "IN_Q_OVERFLOW"}),
                ));
                continue;
            }
            let Some((watch_path, entry)) = self.watches.get(&ev.wd).cloned() else {
                continue;
            };
            if ev.mask.contains(AddWatchFlags::IN_IGNORED) {
                // The watch is gone (its file was deleted or unmounted).
                self.watches.remove(&ev.wd);
                continue;
            }
            let w = &self.config.files[entry];
            let full = match &ev.name {
                Some(n) => watch_path.join(n),
                None => watch_path.clone(),
            };
            if w.auto_add
                && ev
                    .mask
                    .contains(AddWatchFlags::IN_CREATE | AddWatchFlags::IN_ISDIR)
            {
                new_dirs.push((full.clone(), entry));
            }
            if !ev.mask.intersects(w.mask) {
                continue;
            }
            let full_s = full.to_string_lossy().to_string();
            if w.exclude.iter().any(|x| x.matches(&full_s)) {
                tracing::debug!(path = %full_s, "inotify: excluded");
                continue;
            }
            let change = mask_name(ev.mask & (w.mask | AddWatchFlags::IN_ISDIR));
            if self.config.coalesce && !seen.insert((full_s.clone(), change.clone())) {
                continue;
            }
            if events.len() >= MAX_SENT_PER_EVALUATION {
                unsent += 1;
                continue;
            }
            let tag = watch_path.to_string_lossy().to_string();
            events.push(BeaconEvent::new(
                tag,
                json!({"path": full_s, "change": change}),
            ));
        }
        if unsent > 0 {
            tracing::warn!(
                unsent,
                "inotify beacon: too many changes in one interval; some not sent"
            );
        }
        for (dir, entry) in new_dirs {
            if dir.file_name() != Some(OsStr::new("")) {
                self.add_watch(&dir, entry);
            }
        }
        self.ensure_watches();
        events
    }

    /// Closes the inotify instance: what a state run changes is not
    /// reported after it; the next evaluation watches anew.
    fn pause(&mut self) {
        self.fd = None;
        self.watches.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beacon(v: Value) -> InotifyBeacon {
        InotifyBeacon::new(Config::parse(&super::super::flatten(&v).unwrap()).unwrap())
    }

    fn changes(ev: &[BeaconEvent]) -> Vec<(String, String, String)> {
        ev.iter()
            .map(|e| {
                (
                    e.suffix.clone(),
                    e.data["path"].as_str().unwrap().to_string(),
                    e.data["change"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn creates_modifies_and_deletes_in_a_watched_dir() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap().to_string();
        std::fs::write(dir.path().join("old"), "x").unwrap();
        let mut b = beacon(json!([{"files": {&d: {"exclude": [format!("{d}/skip")]}}}]));
        let now = Instant::now();
        assert!(
            b.evaluate(now).is_empty(),
            "first evaluation sets the watches"
        );
        assert!(b.evaluate(now).is_empty(), "nothing happened");
        std::fs::write(dir.path().join("new"), "1").unwrap();
        std::fs::write(dir.path().join("skip"), "1").unwrap();
        std::fs::remove_file(dir.path().join("old")).unwrap();
        let got = changes(&b.evaluate(now));
        assert_eq!(
            got,
            vec![
                (d.clone(), format!("{d}/new"), "IN_CREATE".into()),
                (d.clone(), format!("{d}/new"), "IN_MODIFY".into()),
                (d.clone(), format!("{d}/old"), "IN_DELETE".into()),
            ]
        );
        assert!(b.evaluate(now).is_empty(), "each change once");
        // many writes in one interval: one event (coalesce)
        for i in 0..50 {
            std::fs::write(dir.path().join("new"), format!("{i}")).unwrap();
        }
        assert_eq!(
            changes(&b.evaluate(now)),
            vec![(d.clone(), format!("{d}/new"), "IN_MODIFY".into())]
        );
    }

    #[test]
    fn recurse_auto_add_and_masks() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap().to_string();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let mut b = beacon(json!({"files": {&d: {
            "mask": ["close_write", "create"], "recurse": true, "auto_add": true
        }}}));
        let now = Instant::now();
        assert!(b.evaluate(now).is_empty());
        std::fs::write(dir.path().join("sub/f"), "1").unwrap();
        std::fs::create_dir(dir.path().join("made")).unwrap();
        let got = changes(&b.evaluate(now));
        assert_eq!(
            got,
            vec![
                (format!("{d}/sub"), format!("{d}/sub/f"), "IN_CREATE".into()),
                (
                    format!("{d}/sub"),
                    format!("{d}/sub/f"),
                    "IN_CLOSE_WRITE".into()
                ),
                (d.clone(), format!("{d}/made"), "IN_CREATE|IN_ISDIR".into()),
            ]
        );
        std::fs::write(dir.path().join("made/g"), "1").unwrap();
        let got = changes(&b.evaluate(now));
        assert_eq!(
            got[0].1,
            format!("{d}/made/g"),
            "auto_add watched the new dir"
        );
    }

    #[test]
    fn a_file_that_appears_later_is_watched_then() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("late.conf");
        let fs = f.to_str().unwrap().to_string();
        let mut b = beacon(json!({"files": {&fs: {"mask": ["modify"]}}}));
        let now = Instant::now();
        assert!(b.evaluate(now).is_empty());
        std::fs::write(&f, "a").unwrap();
        assert!(b.evaluate(now).is_empty(), "not there before: now watched");
        std::fs::write(&f, "b").unwrap();
        assert_eq!(
            changes(&b.evaluate(now)),
            vec![(fs.clone(), fs.clone(), "IN_MODIFY".into())]
        );
    }

    #[test]
    fn changes_while_paused_are_not_reported() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap().to_string();
        let mut b = beacon(json!({"files": {&d: {}}}));
        let now = Instant::now();
        assert!(b.evaluate(now).is_empty());
        b.pause();
        std::fs::write(dir.path().join("by-the-state-run"), "1").unwrap();
        assert!(b.evaluate(now).is_empty(), "watches set anew");
        std::fs::write(dir.path().join("after"), "1").unwrap();
        let got = changes(&b.evaluate(now));
        assert_eq!(got[0].1, format!("{d}/after"));
        assert!(got.iter().all(|c| !c.1.ends_with("by-the-state-run")));
    }

    #[test]
    fn bad_options_are_named() {
        let p = |v: Value| Config::parse(&super::super::flatten(&v).unwrap()).unwrap_err();
        assert!(p(json!({"files": {"/x": {"mask": ["poke"]}}})).contains("invalid mask option"));
        assert!(p(json!({"files": {"rel": {}}})).contains("absolute"));
        assert!(p(json!({"files": {"/x": {"recurse": "maybe"}}})).contains("recurse"));
        assert!(p(json!({"coalesce": true})).contains("requires files"));
    }
}
