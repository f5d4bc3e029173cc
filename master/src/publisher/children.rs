//! Publisher child processes: the master's side (start, feed, restart)
//! and the child's (`child_main`).
//!
//! The master binds the publish port and hands the listening socket to
//! each child as descriptor 3, with one end of a socket pair as
//! descriptor 4. Publications go down the pair as frames (a 4-byte
//! big-endian length, then the sealed bytes, already public); each child
//! sends every frame to its own subscribers. A child ends when the pair
//! closes (its master is gone) and dies with the master's process.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use command_fds::{CommandFdExt, FdMapping};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::mpsc;

/// Descriptor numbers a child finds its listener and its feed at.
const LISTENER_FD: i32 = 3;
const FEED_FD: i32 = 4;
/// Wait before starting a child again after it died.
const RESTART_AFTER: Duration = Duration::from_secs(1);
/// Largest frame a child accepts from its master.
const MAX_FEED_FRAME: usize = brine_proto::MAX_FRAME_LEN + 64 * 1024;

/// Starts `count` children and returns the queue that feeds them all.
pub(super) fn start(
    listener: std::net::TcpListener,
    exe: PathBuf,
    args: Vec<String>,
    count: usize,
) -> mpsc::Sender<Vec<u8>> {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(super::QUEUE);
    let listener = OwnedFd::from(listener);
    let mut feeds = Vec::new();
    for n in 0..count.max(1) {
        let (feed_tx, feed_rx) = mpsc::channel::<std::sync::Arc<Vec<u8>>>(super::QUEUE);
        feeds.push(feed_tx);
        let listener = match listener.try_clone() {
            Ok(l) => l,
            Err(error) => {
                tracing::error!(%error, "cannot share the publish socket with a publisher process");
                continue;
            }
        };
        tokio::spawn(supervise(n, listener, exe.clone(), args.clone(), feed_rx));
    }
    tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            let bytes = std::sync::Arc::new(bytes);
            for feed in &feeds {
                // Each child gets every publication; one that is being
                // restarted gets it once it is back (its queue waits).
                let _ = feed.send(bytes.clone()).await;
            }
        }
    });
    tx
}

/// Keeps child `n` running and fed.
async fn supervise(
    n: usize,
    listener: OwnedFd,
    exe: PathBuf,
    args: Vec<String>,
    mut feed: mpsc::Receiver<std::sync::Arc<Vec<u8>>>,
) {
    loop {
        match spawn_child(&listener, &exe, &args) {
            Ok((mut child, pair)) => {
                tracing::info!(child = n, pid = child.id(), "publisher process started");
                let ended = feed_child(pair, &mut feed).await;
                let _ = child.kill();
                let status = tokio::task::spawn_blocking(move || child.wait()).await;
                if ended {
                    return;
                }
                tracing::error!(
                    child = n,
                    ?status,
                    "publisher process ended; starting it again"
                );
            }
            Err(error) => {
                tracing::error!(child = n, %error, "cannot start a publisher process")
            }
        }
        tokio::time::sleep(RESTART_AFTER).await;
    }
}

fn spawn_child(
    listener: &OwnedFd,
    exe: &PathBuf,
    args: &[String],
) -> std::io::Result<(std::process::Child, UnixStream)> {
    let (ours, theirs) = StdUnixStream::pair()?;
    let mut cmd = Command::new(exe);
    cmd.args(args);
    cmd.fd_mappings(vec![
        FdMapping {
            parent_fd: listener.try_clone()?,
            child_fd: LISTENER_FD,
        },
        FdMapping {
            parent_fd: OwnedFd::from(theirs),
            child_fd: FEED_FD,
        },
    ])
    .map_err(|e| std::io::Error::other(e.to_string()))?;
    let child = cmd.spawn()?;
    ours.set_nonblocking(true)?;
    Ok((child, UnixStream::from_std(ours)?))
}

/// Writes publications to a child until it goes away (false) or the master
/// stops publishing (true).
async fn feed_child(
    mut pair: UnixStream,
    feed: &mut mpsc::Receiver<std::sync::Arc<Vec<u8>>>,
) -> bool {
    let mut gone = [0u8; 1];
    loop {
        tokio::select! {
            next = feed.recv() => {
                let Some(bytes) = next else { return true };
                let len = (bytes.len() as u32).to_be_bytes();
                if pair.write_all(&len).await.is_err() || pair.write_all(&bytes).await.is_err() {
                    return false;
                }
            }
            // A child never writes: readable means it closed its end.
            _ = pair.read(&mut gone) => return false,
        }
    }
}

/// The child's life: publish every frame read from descriptor 4 on the PUB
/// socket over the listener at descriptor 3, until descriptor 4 closes.
pub fn child_main() -> std::io::Result<()> {
    // The child must not outlive its master (it would hold the port).
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    raise_open_files();
    let (listener, feed) = inherited()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let tx = super::serve(listener)
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        feed.set_nonblocking(true)?;
        let mut feed = UnixStream::from_std(feed)?;
        loop {
            let mut len = [0u8; 4];
            if feed.read_exact(&mut len).await.is_err() {
                return Ok(());
            }
            let len = u32::from_be_bytes(len) as usize;
            if len > MAX_FEED_FRAME {
                return Err(std::io::Error::other(format!(
                    "publication of {len} bytes from the master"
                )));
            }
            let mut bytes = vec![0u8; len];
            feed.read_exact(&mut bytes).await?;
            if tx.send(bytes).await.is_err() {
                return Ok(());
            }
        }
    })
}

/// The listener and the feed the master mapped to descriptors 3 and 4.
#[allow(unsafe_code)]
fn inherited() -> std::io::Result<(std::net::TcpListener, StdUnixStream)> {
    use std::os::fd::FromRawFd;
    for fd in [LISTENER_FD, FEED_FD] {
        nix::sys::stat::fstat(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }).map_err(|e| {
            std::io::Error::other(format!(
                "descriptor {fd} is not open: run only by brine-master ({e})"
            ))
        })?;
    }
    // SAFETY: descriptors 3 and 4 were just checked to be open; the master
    // mapped them into this process for it alone (command-fds), and nothing
    // else in this process owns them.
    let listener = unsafe { std::net::TcpListener::from_raw_fd(LISTENER_FD) };
    let feed = unsafe { StdUnixStream::from_raw_fd(FEED_FD) };
    Ok((listener, feed))
}

fn raise_open_files() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}
