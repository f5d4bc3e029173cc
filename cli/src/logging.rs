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

/// Every crate of the workspace, so `-l debug` shows all of Brine. A
/// directive's target matches as a prefix: `brine` alone would do, the
/// names are spelled out so a reader sees what is meant (the test checks
/// every workspace crate and binary is shown).
const CRATES: &[&str] = &[
    "brine",
    "brine_cli",
    "brine_master",
    "brine_minion",
    "brine_pki",
    "brine_process",
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

/// The filter for `level` (Salt's name): Brine's crates at that level,
/// everything else at warn; `BRINE_LOG` (an env-filter spec) instead when set.
fn filter(level: &str) -> anyhow::Result<EnvFilter> {
    Ok(match std::env::var("BRINE_LOG") {
        Ok(spec) if !spec.is_empty() => EnvFilter::try_new(spec)?,
        _ => EnvFilter::try_new(spec_for(level)?)?,
    })
}

fn spec_for(level: &str) -> anyhow::Result<String> {
    let l = salt_level(level).map_err(|e| anyhow::anyhow!(e))?;
    let mut spec = String::from("warn");
    for c in CRATES {
        spec.push_str(&format!(",{c}={l}"));
    }
    Ok(spec)
}

fn open_log(path: &Path) -> anyhow::Result<std::fs::File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    Ok(std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?)
}

/// Events with this target go to the log file only (a daemon's fatal error,
/// which it also prints on stderr itself, once).
pub const LOGFILE_ONLY: &str = "brine_logfile";

/// Logging for the daemons, as Salt's: stderr at `console_level` and, with
/// a `log_file`, that file too at its own level (`log_level_logfile`).
pub fn init_daemon(console_level: &str, file: Option<(&Path, &str)>) -> anyhow::Result<()> {
    use tracing_subscriber::filter::{filter_fn, FilterExt};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let console = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_filter(filter(console_level)?.and(filter_fn(|meta| meta.target() != LOGFILE_ONLY)));
    let logfile = match file {
        Some((path, level)) => Some(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(open_log(path)?))
                .with_filter(filter(level)?),
        ),
        None => None,
    };
    tracing_subscriber::registry()
        .with(console)
        .with(logfile)
        .try_init()
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Logging for the commands: stderr at `level`, or only `file` when given.
pub fn init(level: &str, file: Option<&Path>) -> anyhow::Result<()> {
    let filter = filter(level)?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match file {
        Some(path) => {
            let f = open_log(path)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The workspace's crates and binaries, as tracing names their targets.
    fn workspace_targets() -> Vec<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let members = manifest
            .split("members = [")
            .nth(1)
            .and_then(|r| r.split(']').next())
            .unwrap();
        let mut out = Vec::new();
        for m in members.split(',').map(|m| m.trim().trim_matches('"')) {
            if m.is_empty() {
                continue;
            }
            let text = std::fs::read_to_string(root.join(m).join("Cargo.toml")).unwrap();
            let name = text
                .lines()
                .find_map(|l| l.strip_prefix("name = "))
                .unwrap()
                .trim_matches('"');
            out.push(name.replace('-', "_"));
        }
        for bin in std::fs::read_dir(root.join("cli/src/bin")).unwrap() {
            let name = bin.unwrap().file_name().into_string().unwrap();
            out.push(name.trim_end_matches(".rs").replace('-', "_"));
        }
        assert!(out.len() > 10, "{out:?}");
        out
    }

    /// `-l debug` shows every crate's debug lines (brine_states and
    /// brine_proto included) and leaves other crates at warn.
    #[test]
    fn debug_shows_every_brine_crate() {
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::try_new(spec_for("debug").unwrap()).unwrap())
            .with_writer(std::io::sink)
            .finish();
        let targets = workspace_targets();
        tracing::subscriber::with_default(subscriber, || {
            for t in &targets {
                // tracing's target must be static: dispatch on the name.
                let t: &'static str = Box::leak(t.clone().into_boxed_str());
                let meta = tracing::Metadata::new(
                    "event",
                    t,
                    tracing::Level::DEBUG,
                    None,
                    None,
                    None,
                    tracing::field::FieldSet::new(&[], tracing::callsite::Identifier(&CALLSITE)),
                    tracing::metadata::Kind::EVENT,
                );
                assert!(
                    tracing::dispatcher::get_default(|d| d.enabled(&meta)),
                    "{t} at debug is filtered out"
                );
            }
            let other = tracing::Metadata::new(
                "event",
                "rustls::conn",
                tracing::Level::DEBUG,
                None,
                None,
                None,
                tracing::field::FieldSet::new(&[], tracing::callsite::Identifier(&CALLSITE)),
                tracing::metadata::Kind::EVENT,
            );
            assert!(!tracing::dispatcher::get_default(|d| d.enabled(&other)));
        });
    }

    struct Callsite;
    static CALLSITE: Callsite = Callsite;
    impl tracing::callsite::Callsite for Callsite {
        fn set_interest(&self, _: tracing::subscriber::Interest) {}
        fn metadata(&self) -> &tracing::Metadata<'_> {
            unreachable!("not registered")
        }
    }
}
