//! What the execution modules backed by the system helpers of
//! `brine_states::modules::sys` share (`user`, `group`, `cron`, `mount`,
//! `hosts`, `ssh`): running blocking work off the async workers.

use crate::registry::ModError;

/// Runs `f` on a blocking thread: the helpers run `useradd`, `crontab`,
/// `mount`... and read files, which must not stall the minion's workers.
pub async fn off_thread<T, F>(f: F) -> Result<T, ModError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ModError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ModError::Failed(format!("worker thread failed: {e}")))?
}

/// Whether tests that change this machine (accounts, crontabs, /etc/hosts,
/// mounts) may run: `BRINE_SYSTEM_TESTS=1` and root.
#[cfg(test)]
pub fn system_tests_enabled(test_name: &str) -> bool {
    let on = std::env::var("BRINE_SYSTEM_TESTS").is_ok_and(|v| v == "1");
    let root = nix::unistd::Uid::effective().is_root();
    if !on || !root {
        println!("{test_name}: skipped, set BRINE_SYSTEM_TESTS=1 and run as root");
    }
    on && root
}

/// Serializes the tests that add or delete accounts: `useradd` and friends
/// fail while another one holds the lock on `/etc/passwd`.
#[cfg(test)]
pub static ACCOUNTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
