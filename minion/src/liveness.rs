//! Whether a master is alive, and when to try it again.
//!
//! A [`Pulse`] records the last sign of life of one connection: bytes read
//! from it, or a write that had stalled going through (the peer acknowledged
//! data). [`Watched`] wraps the TCP stream under TLS and beats the pulse;
//! the link holds the master dead once the pulse has been flat for
//! `master_alive_interval`, whatever it was doing at the time (waiting for a
//! message, or blocked writing to a peer that stopped reading: a suspended
//! VM keeps its TCP connections open and answers nothing).
//!
//! [`Backoff`] spaces reconnection attempts: jittered, capped, never
//! giving up.

use std::io;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// The last sign of life of one connection.
#[derive(Debug)]
pub struct Pulse {
    origin: Instant,
    /// Milliseconds after `origin`.
    last_ms: AtomicU64,
    /// The connection's socket (-1: none), to look for bytes that arrived
    /// but were not read yet.
    fd: AtomicI32,
}

impl Pulse {
    /// A pulse that beats now.
    pub fn new() -> Pulse {
        Pulse {
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
            fd: AtomicI32::new(-1),
        }
    }

    /// The socket to look at before calling the peer silent. Valid while
    /// the connection is: the pulse lives as long as the session.
    pub fn watch_socket(&self, fd: RawFd) {
        self.fd.store(fd, Ordering::Relaxed);
    }

    /// Whether the peer's bytes already wait in this host's receive queue,
    /// unread: then this process was slow to read (a minion starved of CPU,
    /// or thousands of them in one swarm process), not the peer silent.
    /// Without this, a busy host gave up on a master that had answered,
    /// reconnected, and fed a reconnect storm.
    pub fn unread_waiting(&self) -> bool {
        let fd = self.fd.load(Ordering::Relaxed);
        if fd < 0 {
            return false;
        }
        let mut byte = [0u8; 1];
        let flags = nix::sys::socket::MsgFlags::MSG_PEEK | nix::sys::socket::MsgFlags::MSG_DONTWAIT;
        matches!(nix::sys::socket::recv(fd, &mut byte, flags), Ok(n) if n > 0)
    }

    /// True once the peer has been silent for `limit`, bytes waiting unread
    /// counting as life (and beating the pulse).
    pub fn silent_past(&self, limit: Duration) -> bool {
        if self.silent_for() < limit {
            return false;
        }
        if self.unread_waiting() {
            self.beat();
            return false;
        }
        true
    }

    /// The peer showed it is alive.
    pub fn beat(&self) {
        let ms = self.origin.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// When the peer last showed it is alive.
    pub fn last(&self) -> Instant {
        self.origin + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }

    /// How long the peer has been silent.
    pub fn silent_for(&self) -> Duration {
        Instant::now().saturating_duration_since(self.last())
    }

    /// Resolves once the peer has been silent for `limit` (at once if it
    /// already has); a beat meanwhile pushes the deadline back.
    pub async fn flatline(&self, limit: Duration) {
        loop {
            let deadline = self.last() + limit;
            if Instant::now() >= deadline && self.silent_past(limit) {
                return;
            }
            let deadline = self.last() + limit;
            tokio::time::sleep_until(deadline).await;
        }
    }
}

impl Default for Pulse {
    fn default() -> Self {
        Pulse::new()
    }
}

/// A stream that beats `pulse` when bytes arrive, and when a write that had
/// to wait (the send buffer was full) goes through: only the peer's
/// acknowledgements drain the buffer, so that is a sign of life too. A
/// write that never waited says nothing (the kernel took it, whether or not
/// anyone is there).
pub struct Watched<S> {
    inner: S,
    pulse: std::sync::Arc<Pulse>,
    write_waited: bool,
}

impl<S> Watched<S> {
    pub fn new(inner: S, pulse: std::sync::Arc<Pulse>) -> Watched<S> {
        Watched {
            inner,
            pulse,
            write_waited: false,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.pulse.beat();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Pending => {
                this.write_waited = true;
                Poll::Pending
            }
            Poll::Ready(Ok(n)) => {
                if this.write_waited && n > 0 {
                    this.write_waited = false;
                    this.pulse.beat();
                }
                Poll::Ready(Ok(n))
            }
            other => other,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// ±25 % so that a fleet does not retry in lock-step.
pub fn jitter(d: Duration) -> Duration {
    let f = 0.75 + fastrand::f64() * 0.5;
    d.mul_f64(f)
}

/// Waits between attempts to reach a master: `first` plus a random part,
/// uniform over a window that doubles with each failed attempt from
/// `first` up to `max`. The attempts go on for ever (a minion never gives
/// up on its masters, Salt #50791).
///
/// After a connection is lost the window is `max` at once: when a master
/// restarts, every minion loses it at the same moment, and a fleet waiting
/// `first` ± a little would come back as one wave. Spread over the whole
/// window (Salt's `recon_randomize`), 10,000 minions with the defaults come
/// back at ~1,000 a second over ten seconds.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    window: Duration,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Backoff {
        let first = first.max(Duration::from_millis(10));
        Backoff {
            first,
            max: max.max(first),
            window: first,
        }
    }

    /// A connection was made: the next failure starts small again.
    pub fn reset(&mut self) {
        self.window = self.first;
    }

    /// A connection was lost: spread the next attempt over the widest window.
    pub fn after_loss(&mut self) {
        self.window = self.max;
    }

    pub fn next_delay(&mut self) -> Duration {
        let d = self.first + self.window.mul_f64(fastrand::f64());
        self.window = (self.window * 2).min(self.max);
        d
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bytes_waiting_unread_are_life_not_silence() {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let (mut peer, ours) = std::os::unix::net::UnixStream::pair().unwrap();
        let pulse = Pulse::new();
        pulse.watch_socket(ours.as_raw_fd());
        assert!(pulse.silent_past(Duration::ZERO), "nothing sent: silent");
        peer.write_all(b"x").unwrap();
        assert!(
            !pulse.silent_past(Duration::ZERO),
            "a byte waits unread: the peer spoke, this side was slow"
        );
    }

    use super::*;
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn flatline_waits_for_silence_and_a_beat_pushes_it_back() {
        let pulse = Arc::new(Pulse::new());
        let limit = Duration::from_secs(10);
        let start = Instant::now();
        let p = pulse.clone();
        let beater = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(6)).await;
            p.beat();
        });
        pulse.flatline(limit).await;
        beater.await.unwrap();
        // silent from 6 s on: dead at 16 s, not at 10 s
        assert_eq!(start.elapsed(), Duration::from_secs(16));
        assert!(pulse.silent_for() >= limit);
        // already silent: at once
        let t = Instant::now();
        pulse.flatline(limit).await;
        assert_eq!(t.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_read_beat_and_small_writes_do_not() {
        let (a, mut b) = tokio::io::duplex(64);
        let pulse = Arc::new(Pulse::new());
        let mut w = Watched::new(a, pulse.clone());
        tokio::time::sleep(Duration::from_secs(5)).await;
        // a write the buffer takes at once says nothing about the peer
        w.write_all(b"ping").await.unwrap();
        assert_eq!(pulse.silent_for(), Duration::from_secs(5));
        b.write_all(b"pong").await.unwrap();
        let mut buf = [0u8; 4];
        w.read_exact(&mut buf).await.unwrap();
        assert_eq!(pulse.silent_for(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_write_that_drains_beats() {
        let (a, mut b) = tokio::io::duplex(16);
        let pulse = Arc::new(Pulse::new());
        let mut w = Watched::new(a, pulse.clone());
        let writer = tokio::spawn(async move {
            w.write_all(&[7u8; 64]).await.unwrap();
        });
        // the peer reads only after 3 s: the write waits, then drains
        tokio::time::sleep(Duration::from_secs(3)).await;
        let mut buf = vec![0u8; 64];
        b.read_exact(&mut buf).await.unwrap();
        writer.await.unwrap();
        assert_eq!(pulse.silent_for(), Duration::ZERO);
    }

    #[test]
    fn backoff_is_capped_jittered_and_never_ends() {
        let first = Duration::from_secs(1);
        let max = Duration::from_secs(10);
        let mut b = Backoff::new(first, max);
        for _ in 0..1000 {
            let d = b.next_delay();
            assert!(d >= first && d <= first + max, "{d:?}");
        }
        // the window grows: the first wait is within 2 s, later ones spread to 11 s
        let mut b = Backoff::new(first, max);
        assert!(b.next_delay() <= first * 2);
        b.reset();
        assert!(b.next_delay() <= first * 2);
        // a zero recon_default still waits
        let mut z = Backoff::new(Duration::ZERO, Duration::ZERO);
        assert!(z.next_delay() >= Duration::from_millis(10));
    }

    /// A fleet that lost its master at the same moment comes back spread
    /// over the whole window, not as one wave.
    #[test]
    fn a_fleet_after_a_loss_is_spread_over_recon_max() {
        let (first, max) = (Duration::from_secs(1), Duration::from_secs(10));
        let mut per_second = [0usize; 11];
        let fleet = 10_000;
        for _ in 0..fleet {
            let mut b = Backoff::new(first, max);
            b.after_loss();
            let d = b.next_delay();
            assert!(d >= first && d <= first + max, "{d:?}");
            per_second[d.as_secs() as usize] += 1;
        }
        // nothing comes in the first second; each later second gets about a
        // tenth of the fleet, none more than a fifth
        assert_eq!(per_second[0], 0);
        for (s, n) in per_second.iter().enumerate().skip(1) {
            assert!(*n < fleet / 5, "second {s}: {n} of {fleet}: {per_second:?}");
        }
        assert!(
            per_second[1..].iter().all(|n| *n > fleet / 20),
            "{per_second:?}"
        );
    }
}
