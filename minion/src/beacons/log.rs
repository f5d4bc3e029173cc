//! `log`: lines of a file that match a regex (Salt's `log_beacon`).
//!
//! ```yaml
//! beacons:
//!   log:
//!     - file: /var/log/auth.log
//!     - tags:
//!         sshd/failed:                 # added to the event's tag
//!           regex: '.*Failed password.*'
//! ```
//!
//! Event `brine/beacon/<id>/log/<tag>` with Salt's data `{"tag":
//! "sshd/failed", "match": "yes", "raw": "<the line>", "error": ""}` for
//! each new line that matches (the regex is anchored at the line's start,
//! as Python's `re.match`). Lines already in the file when the beacon
//! starts are not read. The beacon keeps the file open and its offset: a
//! rotated file (renamed, a new one created) is read to its end, then the
//! new one from its start; a truncated file is read again from its start.
//! An evaluation reads at most 1 MiB and sends at most 100 events (the
//! rest of the file waits for the next one; matches over 100 are counted
//! in a log line), and `raw` is cut at 4 KiB.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Instant;

use regex::Regex;
use serde_json::{json, Map, Value};

use super::{Beacon, BeaconEvent};

const MAX_READ: usize = 1 << 20;
const MAX_EVENTS: usize = 100;
const MAX_RAW: usize = 4096;

#[derive(Debug, Clone)]
pub struct Config {
    file: PathBuf,
    tags: Vec<(String, Regex)>,
}

impl Config {
    pub fn parse(params: &Map<String, Value>) -> Result<Config, String> {
        let mut file = None;
        let mut tags = Vec::new();
        for (key, value) in params {
            match key.as_str() {
                "file" => {
                    file =
                        Some(PathBuf::from(value.as_str().ok_or_else(|| {
                            format!("file must be a path, not {value}")
                        })?))
                }
                "tags" => {
                    let m = value.as_object().ok_or_else(|| {
                        format!("tags must map tags to {{regex: ...}}, not {value}")
                    })?;
                    for (tag, opts) in m {
                        let pattern =
                            opts.get("regex").and_then(Value::as_str).ok_or_else(|| {
                                format!("log tag '{tag}' needs a regex (regex: <pattern>)")
                            })?;
                        let re = Regex::new(&format!("^(?:{pattern})"))
                            .map_err(|e| format!("log tag '{tag}': bad regex: {e}"))?;
                        tags.push((tag.clone(), re));
                    }
                }
                other => {
                    return Err(format!(
                        "log has no option '{other}' (it takes file and tags)"
                    ))
                }
            }
        }
        let file = file.ok_or("Configuration for log beacon must contain file option.")?;
        if tags.is_empty() {
            return Err(
                "log needs tags, e.g. 'tags: {myapp/error: {regex: \".*ERROR.*\"}}'".into(),
            );
        }
        Ok(Config { file, tags })
    }
}

pub struct LogBeacon {
    config: Config,
    /// The file being read, its inode, and how far it was read.
    open: Option<(File, u64, u64)>,
    /// The first evaluation starts at the end of what is there.
    started: bool,
    /// Bytes of a line whose end has not been written yet.
    partial: Vec<u8>,
}

impl LogBeacon {
    pub fn new(config: Config) -> LogBeacon {
        LogBeacon {
            config,
            open: None,
            started: false,
            partial: Vec::new(),
        }
    }

    /// Reads what is new in the held file, at most `budget` bytes.
    fn read_new(&mut self, budget: usize) -> Vec<u8> {
        let Some((file, _, offset)) = &mut self.open else {
            return Vec::new();
        };
        let mut buf = Vec::new();
        if file.seek(SeekFrom::Start(*offset)).is_ok() {
            let _ = file.by_ref().take(budget as u64).read_to_end(&mut buf);
        }
        *offset += buf.len() as u64;
        buf
    }

    fn lines_of(&mut self, bytes: Vec<u8>, events: &mut Vec<BeaconEvent>, unsent: &mut usize) {
        self.partial.extend(bytes);
        let Some(last_nl) = self.partial.iter().rposition(|b| *b == b'\n') else {
            if self.partial.len() >= MAX_READ {
                // A line longer than a read: taken as it is.
                let whole = std::mem::take(&mut self.partial);
                self.match_line(&String::from_utf8_lossy(&whole), events, unsent);
            }
            return;
        };
        let rest = self.partial.split_off(last_nl + 1);
        let complete = std::mem::replace(&mut self.partial, rest);
        for line in String::from_utf8_lossy(&complete).lines() {
            self.match_line(line, events, unsent);
        }
    }

    fn match_line(&self, line: &str, events: &mut Vec<BeaconEvent>, unsent: &mut usize) {
        for (tag, re) in &self.config.tags {
            if re.is_match(line) {
                if events.len() >= MAX_EVENTS {
                    *unsent += 1;
                    continue;
                }
                let mut raw = line.to_string();
                if raw.len() > MAX_RAW {
                    let mut cut = MAX_RAW;
                    while !raw.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    raw.truncate(cut);
                }
                events.push(BeaconEvent::new(
                    tag.clone(),
                    json!({"tag": tag, "match": "yes", "raw": raw, "error": ""}),
                ));
            }
        }
    }
}

impl Beacon for LogBeacon {
    fn evaluate(&mut self, _now: Instant) -> Vec<BeaconEvent> {
        let first = !self.started;
        self.started = true;
        let mut events = Vec::new();
        let mut unsent = 0;
        let mut budget = MAX_READ;
        let current = std::fs::metadata(&self.config.file).ok();
        // Rotated (another file at the path now): finish the old one first.
        if let (Some((_, ino, _)), Some(meta)) = (&self.open, &current) {
            if *ino != meta.ino() {
                let rest = self.read_new(budget);
                budget -= rest.len();
                self.lines_of(rest, &mut events, &mut unsent);
                if !self.partial.is_empty() {
                    let last = std::mem::take(&mut self.partial);
                    self.match_line(&String::from_utf8_lossy(&last), &mut events, &mut unsent);
                }
                self.open = None;
            }
        }
        if self.open.is_none() {
            if let Some(meta) = &current {
                if let Ok(f) = File::open(&self.config.file) {
                    // Lines there before the beacon started are not news.
                    let start = if first { meta.len() } else { 0 };
                    self.open = Some((f, meta.ino(), start));
                }
            }
        }
        if let (Some((_, _, offset)), Some(meta)) = (&mut self.open, &current) {
            if meta.len() < *offset {
                tracing::info!(file = %self.config.file.display(), "log beacon: file truncated; reading it from the start");
                *offset = 0;
                self.partial.clear();
            }
        }
        let new = self.read_new(budget);
        self.lines_of(new, &mut events, &mut unsent);
        if unsent > 0 {
            tracing::warn!(file = %self.config.file.display(), unsent, "log beacon: more matching lines than one evaluation sends; those not sent");
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn append(path: &std::path::Path, text: &str) {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }

    fn raws(ev: &[BeaconEvent]) -> Vec<String> {
        ev.iter()
            .map(|e| format!("{}:{}", e.suffix, e.data["raw"].as_str().unwrap()))
            .collect()
    }

    #[test]
    fn new_matching_lines_across_rotation_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("app.log");
        append(&f, "ERROR old line\n");
        let config = Config::parse(
            &super::super::flatten(&json!([
                {"file": f},
                {"tags": {"app/error": {"regex": "ERROR"}, "app/any": {"regex": ".*disk"}}}
            ]))
            .unwrap(),
        )
        .unwrap();
        let mut b = LogBeacon::new(config);
        let now = Instant::now();
        assert!(b.evaluate(now).is_empty(), "what was there is not news");
        append(
            &f,
            "info fine\nERROR disk full\nan ERROR not at the start\nERROR half",
        );
        assert_eq!(
            raws(&b.evaluate(now)),
            ["app/error:ERROR disk full", "app/any:ERROR disk full"]
        );
        append(&f, " written\n");
        assert_eq!(raws(&b.evaluate(now)), ["app/error:ERROR half written"]);
        assert!(b.evaluate(now).is_empty());
        // rotation: the old file's last lines, then the new file's
        append(&f, "ERROR before rotate\n");
        std::fs::rename(&f, dir.path().join("app.log.1")).unwrap();
        append(&f, "ERROR after rotate\n");
        assert_eq!(
            raws(&b.evaluate(now)),
            [
                "app/error:ERROR before rotate",
                "app/error:ERROR after rotate"
            ]
        );
        // truncation (copytruncate)
        std::fs::write(&f, "").unwrap();
        append(&f, "ERROR x\n");
        assert_eq!(raws(&b.evaluate(now)), ["app/error:ERROR x"]);
        let e = &b.evaluate(now);
        assert!(e.is_empty());
    }

    #[test]
    fn a_file_created_later_is_read_from_its_start_and_errors_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("later.log");
        let config = Config::parse(
            &super::super::flatten(&json!({"file": f, "tags": {"t": {"regex": "boom"}}})).unwrap(),
        )
        .unwrap();
        let mut b = LogBeacon::new(config);
        assert!(b.evaluate(Instant::now()).is_empty());
        append(&f, "boom\n");
        assert_eq!(raws(&b.evaluate(Instant::now())), ["t:boom"]);
        let p = |v: Value| Config::parse(&super::super::flatten(&v).unwrap()).unwrap_err();
        assert!(p(json!({"tags": {"t": {"regex": "x"}}})).contains("must contain file"));
        assert!(p(json!({"file": "/x", "tags": {"t": {"regex": "("}}})).contains("bad regex"));
        assert!(p(json!({"file": "/x"})).contains("needs tags"));
    }
}
