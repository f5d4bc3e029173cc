//! `cmd_yaml` and `cmd_json`: a command run on the master whose standard
//! output, read as YAML or JSON, is the minion's external pillar.
//!
//! The command line is split into words as Python's `shlex.split` does
//! (Salt's `cmd.run` without a shell) and run directly, never through a
//! shell; `%s` in a word is replaced by the minion id, as Salt's `cmd_json`
//! does. A command that cannot start, exits non-zero, outlives
//! [`TIMEOUT`] or writes more than [`MAX_OUTPUT`] is an error, not an
//! empty pillar.

use std::process::Command;
use std::time::Duration;

use brine_process::{Ending, Run};
use serde_json::Value;

/// How long the command may run.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Most bytes of output read; more is an error (a cut document would be
/// misread).
pub const MAX_OUTPUT: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

/// Runs `command_line` for `minion_id` and parses its output.
pub fn run(command_line: &str, minion_id: &str, format: Format) -> Result<Value, String> {
    let words = shlex_split(command_line)
        .map_err(|e| format!("cannot split command '{command_line}': {e}"))?;
    let words: Vec<String> = words
        .into_iter()
        .map(|w| w.replace("%s", minion_id))
        .collect();
    let Some((program, args)) = words.split_first() else {
        return Err("empty command".into());
    };
    let shown = words.join(" ");
    let mut cmd = Command::new(program);
    cmd.args(args);
    let done = brine_process::run(Run::new(cmd).timeout(Some(TIMEOUT)).cap(MAX_OUTPUT + 1))
        .map_err(|e| format!("cannot run '{shown}': {e}"))?;
    if done.ending == Ending::TimedOut {
        return Err(format!(
            "'{shown}' did not finish within {} seconds",
            TIMEOUT.as_secs()
        ));
    }
    if !done.success() {
        let stderr = done.stderr_lossy();
        return Err(format!(
            "'{shown}' exited with code {}{}",
            done.retcode(),
            if stderr.trim().is_empty() {
                String::new()
            } else {
                format!(": {}", stderr.trim())
            }
        ));
    }
    if done.stdout.len() > MAX_OUTPUT {
        return Err(format!(
            "'{shown}' wrote more than {MAX_OUTPUT} bytes of output"
        ));
    }
    let text = String::from_utf8(done.stdout)
        .map_err(|_| format!("the output of '{shown}' is not UTF-8"))?;
    match format {
        Format::Yaml => {
            let node = brine_states::yaml::load(&text)
                .map_err(|e| format!("YAML data from '{shown}' failed to parse: {e}"))?;
            Ok(node.to_json())
        }
        Format::Json => serde_json::from_str(&text)
            .map_err(|e| format!("JSON data from '{shown}' failed to parse: {e}")),
    }
}

pub use brine_process::shlex_split;
