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
