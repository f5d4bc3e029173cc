//! What every Brine binary's `main` shares: the `-c` flag, the client
//! commands' runtime and error exit, the daemons' shutdown signal.

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;

/// `-c DIR`: the config directory holding `master` / `minion`, as Salt's
/// tools take it.
#[derive(clap::Args, Debug, Clone)]
pub struct ConfigDirArg {
    /// Config directory holding the `master` and `minion` files.
    #[arg(
        short = 'c',
        long = "config-dir",
        default_value = "/etc/brine",
        env = "BRINE_CONFIG_DIR"
    )]
    pub config_dir: PathBuf,
}

/// The exit code of a usage error (sysexits' `EX_USAGE`): an unknown flag, a
/// missing argument, a bad log level, a config directory that is not one.
/// Distinct from `brine`'s job codes (2: no minion matched, 11, 20, 21).
pub const EX_USAGE: u8 = 64;

/// The default config directory (used when `-c` is not given).
pub const DEFAULT_CONFIG_DIR: &str = "/etc/brine";

/// Parses the command line; `--help` and `--version` exit 0, every usage
/// error exits [`EX_USAGE`] (clap's own default would be 2).
pub fn parse_args<T: clap::Parser>() -> T {
    match T::try_parse() {
        Ok(args) => args,
        Err(error) => {
            let _ = error.print();
            let code = if error.use_stderr() {
                EX_USAGE as i32
            } else {
                0
            };
            std::process::exit(code);
        }
    }
}

impl ConfigDirArg {
    /// A config directory given explicitly (or the default, if it exists)
    /// must be a directory: a typo must not silently start a daemon on
    /// default system paths.
    pub fn check(&self) -> Result<(), String> {
        let dir = &self.config_dir;
        let explicit = dir.as_os_str() != DEFAULT_CONFIG_DIR;
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(format!(
                "config directory {} is not a directory",
                dir.display()
            )),
            Err(_) if !explicit => Ok(()),
            Err(e) => Err(format!("config directory {}: {e}", dir.display())),
        }
    }

    /// [`ConfigDirArg::check`], exiting with [`EX_USAGE`] on failure.
    pub fn check_or_exit(&self, program: &str) {
        if let Err(message) = self.check() {
            eprintln!("{program}: {message}");
            std::process::exit(EX_USAGE as i32);
        }
    }
}

/// Runs a client command on a single-thread runtime: its exit code, or the
/// error printed and exit code 1.
pub fn run_client<F>(command: F) -> ExitCode
where
    F: Future<Output = anyhow::Result<u8>>,
{
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("starting the runtime: {e}"))
        .and_then(|rt| rt.block_on(command));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("Error: {error:#}");
            ExitCode::from(1)
        }
    }
}

/// Resolves on SIGTERM or SIGINT: a daemon's orderly stop.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
