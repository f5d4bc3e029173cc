//! Publishing a job and gathering its returns for the CLI that asked.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use brine_pki::channel::{read_frame, write_frame};
use brine_proto::targeting::{
    expand_nodegroup, expand_nodegroups_in_compound, MinionFacts, TargetExpr, TargetType,
};
use brine_proto::{CliReply, Grains, Job, Missing, MissingReason, Unstored};
use serde_json::{Map, Value};
use tokio::io::AsyncWrite;
use tracing::{info, warn, Instrument};

use crate::state::{ActiveJob, JobEvent, Master};
use crate::store::{now_ms, JobRecord};

/// Turns what the user typed into a target the minions can evaluate:
/// nodegroups become compounds (minions do not know the master's nodegroups).
pub fn resolve_target(
    master: &Master,
    tgt: &str,
    tgt_type: TargetType,
) -> Result<(String, TargetType, TargetExpr), String> {
    let groups = &master.config.nodegroups;
    let (tgt, tgt_type) = match tgt_type {
        TargetType::Nodegroup => (
            expand_nodegroup(tgt, groups).map_err(|e| e.to_string())?,
            TargetType::Compound,
        ),
        TargetType::Compound => (
            expand_nodegroups_in_compound(tgt, groups).map_err(|e| e.to_string())?,
            TargetType::Compound,
        ),
        t => (tgt.to_string(), t),
    };
    let expr = TargetExpr::parse(&tgt, tgt_type).map_err(|e| e.to_string())?;
    Ok((tgt, tgt_type, expr))
}

/// Accepted minions the inventory says match. A minion whose grains are not
/// known yet only counts for targets that need none.
pub fn expected_minions(master: &Master, expr: &TargetExpr) -> Vec<String> {
    // only the grains the target reads are decoded, once per minion
    let keys = expr.grain_keys();
    let needs_grains = expr.needs_grains();
    master
        .accepted_ids()
        .into_iter()
        .filter(|id| {
            let grains = match master.grains_select(id, &keys) {
                Some(g) => g,
                None if needs_grains => return false,
                None => Grains::new(),
            };
            let pillar = master.pillar(id);
            expr.matches(&MinionFacts {
                id,
                grains: &grains,
                pillar: pillar.as_deref(),
            })
        })
        .collect()
}

pub struct PublishRequest {
    pub tgt: String,
    pub tgt_type: TargetType,
    pub fun: String,
    pub arg: Vec<Value>,
    pub kwarg: Map<String, Value>,
    pub timeout: Option<u64>,
    pub detach: bool,
    pub user: String,
}

pub async fn publish<W: AsyncWrite + Unpin>(master: &Arc<Master>, req: PublishRequest, wr: &mut W) {
    let (tgt, tgt_type, expr) = match resolve_target(master, &req.tgt, req.tgt_type) {
        Ok(x) => x,
        Err(message) => {
            let _ = write_frame(wr, &CliReply::Error { message }).await;
            return;
        }
    };
    let expected = expected_minions(master, &expr);
    if expected.is_empty() {
        let _ = write_frame(wr, &CliReply::NoMatch).await;
        return;
    }
    let timeout = req.timeout.unwrap_or(master.config.timeout);
    let job = Job {
        jid: master.jids.next(),
        tgt,
        tgt_type,
        fun: req.fun,
        arg: req.arg,
        kwarg: req.kwarg,
        user: req.user,
        timeout,
        master: master.config.id.clone(),
        issued_ms: now_ms(),
    };
    let span = tracing::info_span!("job", jid = %job.jid, fun = %job.fun);
    gather(master, job, expr, expected, req.detach, wr)
        .instrument(span)
        .await
}

/// Publishes `req` for a caller inside the master (the HTTP API, the
/// scheduler): the frames the CLI socket would get, read back from an
/// in-memory pipe and handed to `each` until it returns false or the job
/// is done.
pub async fn publish_each(
    master: &Arc<Master>,
    req: PublishRequest,
    mut each: impl FnMut(CliReply) -> bool,
) {
    let (mut rd, mut wr) = tokio::io::duplex(1 << 20);
    let m = master.clone();
    let task = tokio::spawn(async move { publish(&m, req, &mut wr).await });
    while let Ok(Some(reply)) = read_frame::<CliReply, _>(&mut rd).await {
        if !each(reply) {
            break;
        }
    }
    drop(rd);
    let _ = task.await;
}

async fn gather<W: AsyncWrite + Unpin>(
    master: &Arc<Master>,
    job: Job,
    expr: TargetExpr,
    expected: Vec<String>,
    detach: bool,
    wr: &mut W,
) {
    // A jid another master of the cluster took first: take the next one.
    let mut job = job;
    let mut attempts = 0;
    loop {
        let record = JobRecord {
            job: job.clone(),
            expected: expected.clone(),
        };
        match master.store.put_job(record).await {
            Ok(crate::store::Written::Stored) => break,
            Ok(crate::store::Written::Duplicate) if attempts < 16 => {
                attempts += 1;
                job.jid = master.jids.next();
            }
            Ok(crate::store::Written::Duplicate) => {
                let message = "cannot record the job: no free jid".to_string();
                let _ = write_frame(wr, &CliReply::Error { message }).await;
                return;
            }
            Err(error) => {
                let message = format!("cannot record the job, so it was not published: {error}");
                let _ = write_frame(wr, &CliReply::Error { message }).await;
                return;
            }
        }
    }
    // The job is on disk before anyone hears of it (above): a jid the CLI
    // prints can always be looked up, even if the master dies right after.
    let jid = job.jid;
    let connected_at_publish: HashSet<String> = expected
        .iter()
        .filter(|id| master.is_connected(id))
        .cloned()
        .collect();
    let mut route = master.add_route(jid);
    if master.store.is_shared() {
        // Another master may have relayed the job and stored a return
        // between the commit above and this route: read what is there.
        if let Err(error) = master.pull_returns(jid, None).await {
            warn!(%error, "cannot read returns from the shared store");
        }
    }
    let sealed = match master.sealer.seal(&master.config.id, &master.epoch(), &job) {
        Ok(b) => b,
        Err(error) => {
            master.remove_route(jid);
            let message = format!("cannot seal the job: {error}");
            let _ = write_frame(wr, &CliReply::Error { message }).await;
            return;
        }
    };
    let active = Arc::new(ActiveJob {
        expected: expected.iter().cloned().collect(),
        expr: expr.clone(),
    });
    master.add_active(jid, active);
    master.mark_published();
    if master.publish_tx.send(sealed).await.is_err() {
        warn!("publisher is gone");
    }
    info!(user = %job.user, tgt = %job.tgt, expected = expected.len(), "job published");
    crate::events::fire_job_new(&master.events, &job, &expected);
    crate::counters::Counters::bump(&master.counters.jobs_published);
    let reply = CliReply::Published {
        jid,
        expected: expected.clone(),
    };
    if write_frame(wr, &reply).await.is_err() || detach {
        master.remove_route(jid);
        master.remove_active(jid);
        return;
    }
    // A timeout beyond what an Instant can hold (a typo of many digits)
    // waits a year rather than overflowing the deadline.
    let now = tokio::time::Instant::now();
    let deadline = now
        .checked_add(Duration::from_secs(job.timeout))
        .unwrap_or(now + Duration::from_secs(365 * 86_400));
    let mut waiting: BTreeSet<String> = expected.into_iter().collect();
    let mut started: HashSet<String> = HashSet::new();
    let mut returned: HashSet<String> = HashSet::new();
    let mut unstored: Vec<Unstored> = Vec::new();
    while !waiting.is_empty() {
        tokio::select! {
            ev = route.recv() => match ev {
                Some(JobEvent::Started(id)) => { started.insert(id); }
                Some(JobEvent::Unstored { id, error }) => {
                    // The minion keeps it and retries; still waiting.
                    unstored.retain(|u| u.id != id);
                    unstored.push(Unstored { id, error });
                }
                Some(JobEvent::Returned(ret)) => {
                    // Once per minion: in a cluster a return may be heard
                    // both here and from the shared store.
                    if !returned.insert(ret.id.clone()) {
                        continue;
                    }
                    unstored.retain(|u| u.id != ret.id);
                    waiting.remove(&ret.id);
                    if write_frame(wr, &CliReply::Return(*ret)).await.is_err() {
                        master.remove_route(jid);
                        master.remove_active(jid);
                        return;
                    }
                }
                None => break,
            },
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    master.remove_route(jid);
    master.remove_active(jid);
    // In a cluster a minion connected only to another master is connected:
    // read where the rest are (only when some did not return).
    let elsewhere: HashSet<String> = if master.store.is_shared() && !waiting.is_empty() {
        match master.store.load_presence().await {
            Ok(rows) => rows
                .into_iter()
                .filter(|p| p.connected && p.master != master.config.id)
                .map(|p| p.id)
                .collect(),
            Err(error) => {
                warn!(%error, "cannot read the cluster's presence");
                HashSet::new()
            }
        }
    } else {
        HashSet::new()
    };
    let missing = waiting
        .into_iter()
        .filter(|id| !unstored.iter().any(|u| &u.id == id))
        .map(|id| {
            let here = connected_at_publish.contains(&id) && master.is_connected(&id);
            let reason = if !here && !elsewhere.contains(&id) {
                MissingReason::NotConnected
            } else if started.contains(&id) || master.is_running(jid, &id) {
                MissingReason::StillRunning
            } else {
                MissingReason::TimedOut
            };
            Missing { id, reason }
        })
        .collect::<Vec<_>>();
    if !missing.is_empty() {
        info!(missing = missing.len(), "job finished with minions missing");
    }
    if !unstored.is_empty() {
        warn!(
            unstored = unstored.len(),
            "job finished with returns the store could not take"
        );
    }
    let _ = write_frame(wr, &CliReply::Done { missing, unstored }).await;
}

/// Records a `brine-call` made on minion `ret.id` (Salt's `salt-call`
/// against its master) in the job cache: a job of that minion alone, by
/// user `brine-call`, with its return, under a jid this master assigns.
/// `jobs.list_jobs` and `jobs.lookup_jid` then show it like any job.
pub async fn record_call(
    master: &Arc<Master>,
    arg: Vec<Value>,
    kwarg: Map<String, Value>,
    mut ret: brine_proto::JobReturn,
    user: Option<&str>,
) -> Result<brine_proto::JobId, String> {
    let id = ret.id.clone();
    // A minion names only one of these two: it cannot pass as a CLI user.
    let user = match user {
        Some("schedule") => "schedule",
        _ => "brine-call",
    };
    for _ in 0..16 {
        let job = Job {
            jid: master.jids.next(),
            tgt: id.clone(),
            tgt_type: TargetType::List,
            fun: ret.fun.clone(),
            arg: arg.clone(),
            kwarg: kwarg.clone(),
            user: user.into(),
            timeout: 0,
            master: master.config.id.clone(),
            issued_ms: ret.started_ms,
        };
        let jid = job.jid;
        let record = JobRecord {
            job,
            expected: vec![id.clone()],
        };
        match master.store.put_job(record).await {
            Ok(crate::store::Written::Stored) => {}
            // Another master of the cluster took this jid: the next one.
            Ok(crate::store::Written::Duplicate) => continue,
            Err(error) => return Err(format!("cannot record the call: {error}")),
        }
        ret.jid = jid;
        return match master.job_returned(ret).await {
            crate::state::ReturnVerdict::Stored | crate::state::ReturnVerdict::Duplicate => {
                info!(%jid, minion_id = %id, "brine-call recorded");
                Ok(jid)
            }
            crate::state::ReturnVerdict::Refused(reason)
            | crate::state::ReturnVerdict::Deferred(reason) => Err(reason),
        };
    }
    Err("cannot record the call: no free jid".into())
}
