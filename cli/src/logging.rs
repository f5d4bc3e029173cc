//! Logging for every Brine binary: `tracing`, key/value fields, level from
//! `BRINE_LOG` (an env-filter), else from `-l` / `log_level` (Salt's names).

use std::path::Path;

use tracing_subscriber::EnvFilter;

/// Salt's level names, as `-l` and `log_level` take them.
pub const LEVELS: &[&str] = &[
    "all", "garbage", "trace", "debug", "profile", "info", "warning", "warn", "error", "critical",
    "quiet",
];

/// Maps Salt's level names onto tracing's; an unknown name is an error
/// naming the valid ones.
pub fn salt_level(level: &str) -> Result<&'static str, String> {
    Ok(match level {
        "warning" | "warn" => "warn",
        "error" | "critical" | "quiet" => "error",
        "info" => "info",
        "debug" | "profile" => "debug",
        "trace" | "garbage" | "all" => "trace",
        other => {
            return Err(format!(
                "unknown log level '{other}'; use one of: {}",
                LEVELS.join(", ")
            ))
        }
    })
}

/// Every crate of the workspace, so `-l debug` shows all of Brine.
const CRATES: &[&str] = &[
    "brine",
    "brine_cli",
    "brine_master",
    "brine_minion",
    "brine_pki",
    "brine_proto",
    "brine_states",
];

/// Checks `level` and exits with the usage code if it is not one.
pub fn check_level_or_exit(program: &str, level: &str) {
    if let Err(message) = salt_level(level) {
        eprintln!("{program}: {message}");
        std::process::exit(crate::entry::EX_USAGE as i32);
    }
}

pub fn init(level: &str, file: Option<&Path>) -> anyhow::Result<()> {
    let filter = match std::env::var("BRINE_LOG") {
        Ok(spec) if !spec.is_empty() => EnvFilter::try_new(spec)?,
        _ => {
            let l = salt_level(level).map_err(|e| anyhow::anyhow!(e))?;
            let mut spec = String::from("warn");
            for c in CRATES {
                spec.push_str(&format!(",{c}={l}"));
            }
            EnvFilter::try_new(spec)?
        }
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match file {
        Some(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            builder
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(f))
                .try_init()
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        // Colour only on a terminal: a log piped to a file stays plain text.
        None => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .try_init()
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    }
    Ok(())
}
