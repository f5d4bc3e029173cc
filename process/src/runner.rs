//! Spawning, feeding, reading, timing out and killing one command.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::cancel::Cancel;
use crate::cap::{finish_capped, keep_capped, max_output_bytes};

/// Between SIGTERM and SIGKILL when a command times out (Salt's TimedProc
/// terminates, then kills).
pub const TERM_GRACE: Duration = Duration::from_secs(1);

/// How long output pipes may stay open after the command itself exited: a
/// background child that inherited them (`daemon &`) must not hold the job
/// forever, but a grandchild finishing its last line is still collected.
const PIPE_GRACE: Duration = Duration::from_secs(2);

/// How often a running command's cancellation flags are looked at.
const CANCEL_POLL: Duration = Duration::from_millis(20);

/// One command to run. The caller builds the [`Command`] (program,
/// arguments, environment, directory, user); the runner owns its standard
/// streams and its process group.
pub struct Run {
    command: Command,
    stdin: Option<Vec<u8>>,
    merge_stderr: bool,
    timeout: Option<Duration>,
    cancels: Vec<Cancel>,
    cap: usize,
}

impl Run {
    pub fn new(command: Command) -> Run {
        Run {
            command,
            stdin: None,
            merge_stderr: false,
            timeout: None,
            cancels: Vec::new(),
            cap: max_output_bytes(),
        }
    }

    /// Bytes written to the command's standard input (else /dev/null).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Run {
        self.stdin = Some(bytes.into());
        self
    }

    /// Standard error goes into the same pipe as standard output.
    pub fn merge_stderr(mut self, merge: bool) -> Run {
        self.merge_stderr = merge;
        self
    }

    /// SIGTERM to the group after this long, SIGKILL [`TERM_GRACE`] later.
    pub fn timeout(mut self, limit: Option<Duration>) -> Run {
        self.timeout = limit.filter(|d| !d.is_zero());
        self
    }

    /// Kills the group at once when `cancel` is set. The thread's current
    /// cancellation ([`Cancel::current`]) is always watched as well.
    pub fn cancel(mut self, cancel: Cancel) -> Run {
        self.cancels.push(cancel);
        self
    }

    /// Most bytes kept of each output stream (default: `max_output_bytes`).
    pub fn cap(mut self, cap: usize) -> Run {
        self.cap = cap;
        self
    }
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It exited (or was killed by someone else) on its own.
    Exited,
    /// Its timeout passed and its group was terminated.
    TimedOut,
    /// Its job was cancelled and its group was killed.
    Cancelled,
}

/// What a finished command left.
#[derive(Debug)]
pub struct Finished {
    pub pid: u32,
    pub ending: Ending,
    pub status: Option<ExitStatus>,
    /// Capped, with the truncation marker when cut.
    pub stdout: Vec<u8>,
    /// Empty when merged into `stdout`.
    pub stderr: Vec<u8>,
}

impl Finished {
    /// The exit code, or minus the signal that killed it (as Salt reports).
    pub fn retcode(&self) -> i32 {
        use std::os::unix::process::ExitStatusExt;
        match self.status {
            Some(s) => s.code().unwrap_or_else(|| -s.signal().unwrap_or(0)),
            None => 1,
        }
    }

    pub fn success(&self) -> bool {
        self.ending == Ending::Exited && self.status.is_some_and(|s| s.success())
    }

    pub fn stdout_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Spawns, retrying briefly on ETXTBSY (a script just written may still be
/// open in a process another thread is forking).
fn spawn_retrying(command: &mut Command) -> std::io::Result<Child> {
    let mut tries = 0;
    loop {
        match command.spawn() {
            Err(e) if e.raw_os_error() == Some(nix::libc::ETXTBSY) && tries < 10 => {
                tries += 1;
                thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

fn signal_group(pid: u32, signal: Signal) {
    if let Ok(pid) = i32::try_from(pid) {
        if pid > 0 {
            let _ = killpg(Pid::from_raw(pid), signal);
        }
    }
}

/// One output stream being read on its own thread.
struct Capture {
    kept: Arc<Mutex<Captured>>,
    finished: mpsc::Receiver<()>,
}

#[derive(Default)]
struct Captured {
    buf: Vec<u8>,
    dropped: u64,
    /// Set when the caller took the output: later bytes are drained, not kept.
    taken: bool,
}

impl Capture {
    fn start(mut pipe: impl Read + Send + 'static, cap: usize) -> std::io::Result<Capture> {
        let kept = Arc::new(Mutex::new(Captured::default()));
        let (done, finished) = mpsc::channel();
        let shared = kept.clone();
        thread::Builder::new()
            .name("brine-output".into())
            .spawn(move || {
                // Read to the end even past the cap, so the command never
                // blocks on a full pipe.
                let mut chunk = vec![0u8; 64 * 1024];
                loop {
                    match pipe.read(&mut chunk) {
                        Ok(0) => break,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(_) => break,
                        Ok(n) => {
                            let mut c = shared.lock().unwrap_or_else(|p| p.into_inner());
                            if !c.taken {
                                let Captured { buf, dropped, .. } = &mut *c;
                                *dropped += keep_capped(buf, &chunk[..n], cap);
                            }
                        }
                    }
                }
                let _ = done.send(());
            })?;
        Ok(Capture { kept, finished })
    }

    /// The output, once the pipe closed or `until` passed.
    fn take(self, until: Instant, cap: usize) -> Vec<u8> {
        let _ = self
            .finished
            .recv_timeout(until.saturating_duration_since(Instant::now()));
        let mut c = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        c.taken = true;
        let mut buf = std::mem::take(&mut c.buf);
        finish_capped(&mut buf, c.dropped, cap);
        buf
    }
}

const VERDICT_EXITED: u8 = 0;
const VERDICT_TIMED_OUT: u8 = 1;
const VERDICT_CANCELLED: u8 = 2;

/// Watches the cancellation flags and the deadline of a running command and
/// kills its group when one of them says so; returns when told it ended.
fn watch(
    pid: u32,
    deadline: Option<Instant>,
    cancels: Vec<Cancel>,
    ended: mpsc::Receiver<()>,
    verdict: Arc<AtomicU8>,
) {
    loop {
        let now = Instant::now();
        let wait = deadline.map_or(CANCEL_POLL, |d| {
            d.saturating_duration_since(now).min(CANCEL_POLL)
        });
        match ended.recv_timeout(wait) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {}
        }
        if cancels.iter().any(Cancel::is_cancelled) {
            verdict.store(VERDICT_CANCELLED, Ordering::SeqCst);
            signal_group(pid, Signal::SIGKILL);
            return;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            verdict.store(VERDICT_TIMED_OUT, Ordering::SeqCst);
            signal_group(pid, Signal::SIGTERM);
            if let Err(RecvTimeoutError::Timeout) = ended.recv_timeout(TERM_GRACE) {
                signal_group(pid, Signal::SIGKILL);
            }
            return;
        }
    }
}

/// Runs a command to its end, its timeout or its cancellation, on this
/// thread (plus one thread per output stream and one watching the clock and
/// the flags). `Err` only when it could not be started.
pub fn run(spec: Run) -> std::io::Result<Finished> {
    let Run {
        mut command,
        stdin,
        merge_stderr,
        timeout,
        mut cancels,
        cap,
    } = spec;
    cancels.extend(Cancel::current());
    if cancels.iter().any(Cancel::is_cancelled) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Interrupted,
            "the job was killed before the command started",
        ));
    }
    let (out_r, out_w) = std::io::pipe()?;
    let (err_r, err_w) = if merge_stderr {
        (None, out_w.try_clone()?)
    } else {
        let (r, w) = std::io::pipe()?;
        (Some(r), w)
    };
    command
        .stdout(out_w)
        .stderr(err_w)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .process_group(0);
    let spawned = spawn_retrying(&mut command);
    // The Command holds our copies of the pipes' write ends: without this
    // drop the readers would never see end-of-file.
    drop(command);
    let mut child = spawned?;
    let pid = child.id();
    let out = Capture::start(out_r, cap);
    let err = err_r.map(|r| Capture::start(r, cap)).transpose();
    let (out, err) = match (out, err) {
        (Ok(o), Ok(e)) => (o, e),
        (Err(e), _) | (_, Err(e)) => {
            signal_group(pid, Signal::SIGKILL);
            let _ = child.wait();
            return Err(e);
        }
    };
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A command that does not read its input is fine (EPIPE): written
        // from its own thread so a command that answers while we still
        // write cannot deadlock with us.
        thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        });
    }
    let verdict = Arc::new(AtomicU8::new(VERDICT_EXITED));
    let deadline = timeout.map(|t| Instant::now() + t);
    let watcher = if deadline.is_some() || !cancels.is_empty() {
        let (tell, ended) = mpsc::channel();
        let v = verdict.clone();
        let handle = thread::Builder::new()
            .name("brine-watch".into())
            .spawn(move || watch(pid, deadline, cancels, ended, v));
        match handle {
            Ok(h) => Some((tell, h)),
            Err(e) => {
                signal_group(pid, Signal::SIGKILL);
                let _ = child.wait();
                return Err(e);
            }
        }
    } else {
        None
    };
    let status = child.wait();
    if let Some((tell, handle)) = watcher {
        let _ = tell.send(());
        let _ = handle.join();
    }
    let ending = match verdict.load(Ordering::SeqCst) {
        VERDICT_TIMED_OUT => Ending::TimedOut,
        VERDICT_CANCELLED => Ending::Cancelled,
        _ => Ending::Exited,
    };
    if ending != Ending::Exited {
        // whatever of the group survived the TERM
        signal_group(pid, Signal::SIGKILL);
    }
    let until = Instant::now() + PIPE_GRACE;
    let stdout = out.take(until, cap);
    let stderr = err.map(|e| e.take(until, cap)).unwrap_or_default();
    Ok(Finished {
        pid,
        ending,
        status: status.ok(),
        stdout,
        stderr,
    })
}

/// [`run`] from async code: the command runs on a blocking thread, and
/// dropping the future (an aborted job) kills its process group.
pub async fn run_async(spec: Run) -> std::io::Result<Finished> {
    struct KillOnDrop(Cancel);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            self.0.cancel();
        }
    }
    let on_drop = Cancel::default();
    let spec = spec.cancel(on_drop.clone());
    let guard = KillOnDrop(on_drop);
    let result = tokio::task::spawn_blocking(move || run(spec))
        .await
        .map_err(std::io::Error::other);
    std::mem::forget(guard);
    result?
}

/// Starts a command detached: its own process group, no output, not killed
/// with the job. Reaped by a thread of its own when it exits.
pub fn spawn_detached(mut command: Command) -> std::io::Result<u32> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    let mut child = spawn_retrying(&mut command)?;
    let pid = child.id();
    thread::Builder::new()
        .name("brine-reaper".into())
        .spawn(move || {
            let _ = child.wait();
        })?;
    Ok(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Run {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(script);
        Run::new(c)
    }

    #[test]
    fn collects_both_streams_status_and_stdin() {
        let f = run(sh("cat; echo err >&2; exit 3").stdin("hello")).unwrap();
        assert_eq!(f.ending, Ending::Exited);
        assert_eq!(f.retcode(), 3);
        assert_eq!(f.stdout, b"hello");
        assert_eq!(f.stderr, b"err\n");
        assert!(!f.success());
        let merged = run(sh("echo a; echo b >&2").merge_stderr(true)).unwrap();
        assert_eq!(merged.stdout, b"a\nb\n");
        assert!(merged.stderr.is_empty());
    }

    #[test]
    fn a_missing_program_is_an_error() {
        let e = run(Run::new(Command::new("/nonexistent/prog"))).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn output_is_capped_with_a_marker_and_the_command_is_not_blocked() {
        let f = run(sh("head -c 300000 /dev/zero | tr '\\0' x").cap(1024)).unwrap();
        assert!(f.success());
        let text = f.stdout_lossy();
        assert!(text.starts_with(&"x".repeat(1024)));
        assert!(
            text.contains("[output truncated: 298976 more bytes"),
            "{text}"
        );
    }

    #[test]
    fn timeout_terminates_the_whole_group() {
        let started = Instant::now();
        let f = run(sh("sleep 30 & echo started; wait").timeout(Some(Duration::from_millis(300))))
            .unwrap();
        assert_eq!(f.ending, Ending::TimedOut);
        assert_eq!(f.stdout, b"started\n");
        assert!(started.elapsed() < Duration::from_secs(10));
        // the background sleep was in the group: gone once reaped
        let gone = (0..100).any(|_| {
            thread::sleep(Duration::from_millis(20));
            nix::sys::signal::killpg(Pid::from_raw(f.pid as i32), None).is_err()
        });
        assert!(gone, "the group outlived its timeout");
    }

    #[test]
    fn cancel_kills_at_once_and_the_threads_flag_is_watched() {
        let cancel = Cancel::default();
        let c2 = cancel.clone();
        let killer = thread::spawn(move || {
            thread::sleep(Duration::from_millis(200));
            c2.cancel();
        });
        let f = cancel.scope(|| run(sh("sleep 30")).unwrap());
        killer.join().unwrap();
        assert_eq!(f.ending, Ending::Cancelled);
        assert_eq!(f.retcode(), -9);
        let e = cancel.scope(|| run(sh("true")).unwrap_err());
        assert_eq!(e.kind(), std::io::ErrorKind::Interrupted);
    }

    #[test]
    fn a_background_child_holding_the_pipe_does_not_hold_the_caller() {
        let started = Instant::now();
        let f = run(sh("echo hi; sleep 30 &")).unwrap();
        assert!(f.success());
        assert_eq!(f.stdout, b"hi\n");
        assert!(started.elapsed() < Duration::from_secs(10));
        signal_group(f.pid, Signal::SIGKILL);
    }

    #[tokio::test]
    async fn dropping_the_async_run_kills_the_group() {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg("echo $$; exec sleep 30");
        let marker = std::env::temp_dir().join(format!("brine-process-{}", std::process::id()));
        let _ = std::fs::remove_file(&marker);
        let fut = run_async(Run::new(c));
        // abort after a while, as kill_job aborts a job's task
        let _ = tokio::time::timeout(Duration::from_millis(300), fut).await;
        // the watcher polls every CANCEL_POLL: give it a few
        let mut gone = false;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let out = std::process::Command::new("pgrep")
                .args(["-f", "^sleep 30$", "-P", &std::process::id().to_string()])
                .output();
            if out.map(|o| o.stdout.is_empty()).unwrap_or(true) {
                gone = true;
                break;
            }
        }
        assert!(gone, "the sleep outlived its dropped run");
    }
}
