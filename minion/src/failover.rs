//! `master_type: failover`: connected to exactly one master at a time.
//!
//! The minion walks the master list in order (shuffled once at start with
//! `random_master`) and stays with the first master that gives it a
//! session. That master is held dead, and the next one in the list tried
//! (after the last, the first again), when:
//! - it stays silent for `master_alive_interval` (a suspended VM, a hung
//!   process, a blackholed network), or
//! - its connection is lost and cannot be made again before it has been
//!   silent for `master_alive_interval` (a quick restart is ridden out), or
//! - it cannot be reached at all on arrival (refused, or no answer within
//!   the connect timeout), or keeps this minion's key pending for the
//!   alive interval.
//!
//! After a whole round of the list without a session the minion waits
//! (jittered back-off) and starts again; it never gives up.
//!
//! With `master_failback`, while on a master that is not the first, every
//! `master_failback_interval` it opens a session with each master ahead of
//! the current one, in order; the first that welcomes it becomes the
//! current master (the probe's session is the one used), and the session
//! with the later master is closed.
//!
//! Each master keeps its own link state (spool, seen jobs, outbox): a
//! return for a job from a master the minion has left waits in that
//! master's spool until the minion is back on it.

use std::time::Duration;

use tokio::time::Instant;
use tracing::{debug, info, warn, Instrument};

use crate::link::{enroll, End, Established, Link, LinkCtx, Opened};
use crate::liveness::Backoff;

/// What serving one master came to.
enum Served {
    /// The master is dead (or never answered): move on to the next.
    Dead,
    /// A master earlier in the list welcomed this minion again.
    FailBack(usize, Established),
}

/// Runs the failover walk over `masters` forever.
pub async fn run_failover(ctx: LinkCtx, masters: Vec<String>) {
    if masters.is_empty() {
        warn!("master_type failover with no master listed; nothing to connect to");
        return;
    }
    let mut links = Vec::with_capacity(masters.len());
    for m in masters {
        links.push(Link::open(&ctx, m).await);
    }
    let n = links.len();
    let mut round = Backoff::new(ctx.config.recon_default, ctx.config.recon_max);
    let mut cur = 0usize;
    let mut carried: Option<Established> = None;
    // Masters tried in a row without getting a session from any.
    let mut fruitless = 0usize;
    loop {
        let span = tracing::info_span!("link", master = %links[cur].master);
        let (served, had_session) = serve(&ctx, &mut links, cur, carried.take())
            .instrument(span)
            .await;
        match served {
            Served::FailBack(k, session) => {
                info!(
                    from = %links[cur].master,
                    to = %links[k].master,
                    "failing back to a master earlier in the list"
                );
                cur = k;
                carried = Some(session);
                fruitless = 0;
                round.reset();
            }
            Served::Dead => {
                let next = (cur + 1) % n;
                if had_session {
                    fruitless = 0;
                    round.after_loss();
                } else {
                    fruitless += 1;
                }
                if n > 1 {
                    warn!(
                        from = %links[cur].master,
                        to = %links[next].master,
                        "master not available; failing over to the next master"
                    );
                }
                cur = next;
                if fruitless >= n {
                    // A whole round without a session: wait before the next.
                    fruitless = 0;
                    let pause = round.next_delay();
                    warn!(
                        secs = pause.as_secs_f64(),
                        "no master available; trying the list again after a pause"
                    );
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }
}

/// Serves master `cur` while it lives. Also says whether it gave a session.
async fn serve(
    ctx: &LinkCtx,
    links: &mut [Link],
    cur: usize,
    mut carried: Option<Established>,
) -> (Served, bool) {
    let alive = ctx.config.master_alive_interval;
    let mut backoff = Backoff::new(ctx.config.recon_default, ctx.config.recon_max);
    // Once a session was up: the master may come back until it has been
    // silent for the alive interval. Before: the first failure moves on.
    let mut give_up: Option<Instant> = None;
    let mut had_session = false;
    loop {
        let opened = match carried.take() {
            Some(session) => Ok(Opened::Session(session)),
            None if links[cur].needs_cert => {
                let until = give_up.unwrap_or_else(|| Instant::now() + alive);
                match enroll(ctx, &links[cur].master, Some(until)).await {
                    Ok(true) => {
                        links[cur].needs_cert = false;
                        continue;
                    }
                    Ok(false) => {
                        info!("key not accepted by this master within master_alive_interval");
                        return (Served::Dead, had_session);
                    }
                    Err(error) => {
                        warn!(%error, "cannot reach master for a certificate");
                        return (Served::Dead, had_session);
                    }
                }
            }
            None => links[cur].establish(ctx).await,
        };
        match opened {
            Ok(Opened::Session(session)) => {
                had_session = true;
                backoff.reset();
                let ended = if ctx.config.master_failback && cur > 0 {
                    let (earlier, rest) = links.split_at_mut(cur);
                    let link = &mut rest[0];
                    tokio::select! {
                        ended = link.run(ctx, session) => ended,
                        (k, session) = probe_earlier(ctx, earlier) => {
                            // Dropping the current session closes it.
                            return (Served::FailBack(k, session), had_session);
                        }
                    }
                } else {
                    links[cur].run(ctx, session).await
                };
                links[cur].log_end(ctx, &ended.how);
                match ended.how {
                    End::Silent => return (Served::Dead, had_session),
                    End::Refused(_) => give_up = Some(Instant::now() + alive),
                    End::Lost(_) => give_up = Some(ended.last_heard + alive),
                }
            }
            Ok(Opened::Refused(reason)) => {
                links[cur].refused(&reason);
                continue;
            }
            Ok(Opened::Closed) => debug!("master closed the connection before its welcome"),
            Err(error) => warn!(%error, "cannot connect to master"),
        }
        let Some(until) = give_up else {
            return (Served::Dead, had_session);
        };
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (Served::Dead, had_session);
        }
        tokio::time::sleep(backoff.next_delay().min(left)).await;
    }
}

/// Every `master_failback_interval`, tries the masters ahead of the current
/// one in order; resolves with the first that welcomes this minion.
async fn probe_earlier(ctx: &LinkCtx, earlier: &mut [Link]) -> (usize, Established) {
    let every = ctx
        .config
        .master_failback_interval
        .max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(every).await;
        for (k, link) in earlier.iter_mut().enumerate() {
            let span = tracing::info_span!("failback", master = %link.master);
            match link.establish(ctx).instrument(span).await {
                Ok(Opened::Session(session)) => return (k, session),
                Ok(Opened::Refused(reason)) => {
                    debug!(master = %link.master, %reason, "earlier master refuses this minion; staying")
                }
                Ok(Opened::Closed) => {}
                Err(error) => debug!(master = %link.master, %error, "earlier master still down"),
            }
        }
    }
}
