//! `batch:` on a `salt.state`/`salt.function` step, as Salt's `saltutil.cmd`
//! hands it to `salt.cli.batch`: the master's rolling window (the one
//! `brine -b` uses) over the minions the target matches. At most N run at
//! once; the moment one returns, the next starts (after `batch_wait`), each
//! start a job of its own. Every minion's return lands in one outcome, which
//! the step judges as it judges an unbatched job. With `failhard`, a minion
//! returning a non-zero retcode starts no further minion (Salt stops the
//! batch run); those already running still finish and are judged.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use brine_proto::{JobReturn, Missing, MissingReason};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

use super::JobOutcome;
use crate::batch::{BatchWindow, Finish};

/// What one job of a batched step reports to the driver.
#[derive(Debug)]
pub(super) enum SubJobEvent {
    /// A minion returned.
    Return(Box<JobReturn>),
    /// The job ended: `ids` were its minions, `missing` did not return.
    Done {
        ids: Vec<String>,
        missing: Vec<Missing>,
    },
    /// The master could not publish the job (the step fails with this).
    Error(String),
}

/// How a batched step ran: every return, in one outcome, and the batches.
#[derive(Debug)]
pub(super) struct BatchRun {
    pub outcome: JobOutcome,
    /// The minions of each job, in the order the jobs started.
    pub jobs: Vec<Vec<String>>,
    /// The minions `failhard` kept from running.
    pub not_run: Vec<String>,
}

/// Salt's failure for `failhard` in a batch: a non-zero retcode.
fn failed(ret: &JobReturn) -> bool {
    ret.retcode != 0 || ret.error.is_some()
}

/// Drives `window`: `start(ids, tx)` starts one job over `ids`, whose
/// events it sends to `tx`, each job ending with `Done`.
pub(super) async fn drive(
    mut window: BatchWindow,
    failhard: bool,
    mut start: impl FnMut(Vec<String>, UnboundedSender<SubJobEvent>),
) -> Result<BatchRun, String> {
    let (tx, mut events) = unbounded_channel();
    let mut run = BatchRun {
        outcome: JobOutcome {
            returns: Vec::new(),
            missing: Vec::new(),
        },
        jobs: Vec::new(),
        not_run: Vec::new(),
    };
    // the minions started and not yet finished in the window
    let mut pending: HashSet<String> = HashSet::new();
    loop {
        let ids = window.take_startable(Instant::now());
        if !ids.is_empty() {
            pending.extend(ids.iter().cloned());
            run.jobs.push(ids.clone());
            start(ids, tx.clone());
        }
        if window.is_finished() {
            break;
        }
        let event = match window.next_slot_at() {
            Some(at) => tokio::select! {
                e = events.recv() => e,
                _ = tokio::time::sleep_until(at.into()) => continue,
            },
            None => events.recv().await,
        };
        match event {
            None => return Err("the batch run lost its jobs".into()),
            Some(SubJobEvent::Error(message)) => return Err(message),
            Some(SubJobEvent::Return(ret)) => {
                if pending.remove(&ret.id) {
                    let bad = failed(&ret);
                    window.finished(
                        &ret.id,
                        if bad {
                            Finish::Failed
                        } else {
                            Finish::Succeeded
                        },
                    );
                    if bad && failhard {
                        run.not_run.extend(window.abandon_waiting());
                    }
                    run.outcome.returns.push(*ret);
                }
            }
            Some(SubJobEvent::Done { ids, missing }) => {
                for m in missing {
                    if pending.remove(&m.id) {
                        window.finished(&m.id, Finish::DidNotReturn);
                        run.outcome.missing.push(m);
                    }
                }
                // neither returned nor missing: the master dropped them
                // from the job (a key deleted since the target resolved)
                for id in ids {
                    if pending.remove(&id) {
                        window.finished(&id, Finish::DidNotReturn);
                        run.outcome.missing.push(Missing {
                            id,
                            reason: MissingReason::NotConnected,
                        });
                    }
                }
            }
        }
    }
    Ok(run)
}

/// A step's `batch_wait`: seconds, a number or a numeric string.
pub(super) fn batch_wait(v: Option<&serde_json::Value>) -> Result<Duration, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Duration::ZERO);
    };
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("invalid batch_wait '{v}': expected seconds"))
}

/// A step's `batch` as Salt takes it (`str(batch)`): `2`, `'2'` or `'25%'`.
pub(super) fn batch_spec(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One job of a batched step, published through the master's job path
/// (job cache, expected minions) like any job; its replies stream to the
/// driver as they come, so a returning minion frees its slot at once.
pub(super) async fn sub_job(
    master: std::sync::Arc<crate::state::Master>,
    req: crate::jobs::PublishRequest,
    ids: Vec<String>,
    tx: UnboundedSender<SubJobEvent>,
) {
    use brine_pki::channel::read_frame;
    use brine_proto::CliReply;

    let (mut wr, mut rd) = tokio::io::duplex(1 << 16);
    // dropping the writer when the job ends is the reader's end of stream
    let publisher = tokio::spawn(async move {
        crate::jobs::publish(&master, req, &mut wr).await;
    });
    let mut missing = Vec::new();
    loop {
        match read_frame::<CliReply, _>(&mut rd).await {
            Ok(Some(CliReply::Return(ret))) => {
                let _ = tx.send(SubJobEvent::Return(Box::new(ret)));
            }
            Ok(Some(CliReply::Error { message })) => {
                let _ = tx.send(SubJobEvent::Error(message));
                return;
            }
            Ok(Some(CliReply::Done { missing: m, .. })) => missing = m,
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                let _ = tx.send(SubJobEvent::Error(format!(
                    "cannot read the job's replies: {e}"
                )));
                return;
            }
        }
    }
    let _ = publisher.await;
    let _ = tx.send(SubJobEvent::Done { ids, missing });
}
