//! Logging for every Brine binary: `tracing`, key/value fields, level from
//! `BRINE_LOG` (an env-filter), else from `-l` / `log_level` (Salt's names).

use std::path::Path;

use tracing_subscriber::EnvFilter;

/// Maps Salt's level names onto tracing's.
fn salt_level(level: &str) -> &str {
    match level {
        "warning" | "warn" => "warn",
        "error" | "critical" | "quiet" => "error",
        "info" => "info",
        "debug" | "profile" => "debug",
        "trace" | "garbage" | "all" => "trace",
        _ => "warn",
    }
}

pub fn init(level: &str, file: Option<&Path>) -> anyhow::Result<()> {
    let filter = match std::env::var("BRINE_LOG") {
        Ok(spec) if !spec.is_empty() => EnvFilter::try_new(spec)?,
        _ => {
            let l = salt_level(level);
            EnvFilter::try_new(format!(
                "warn,brine={l},brine_master={l},brine_minion={l},brine_pki={l},brine_cli={l}"
            ))?
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
        None => builder
            .with_writer(std::io::stderr)
            .try_init()
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    }
    Ok(())
}
