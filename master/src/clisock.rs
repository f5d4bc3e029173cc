//! The local CLI socket. Whoever can open it may drive the master, so it
//! lives in a directory only the master's user can enter; the caller's user
//! name comes from the kernel (SO_PEERCRED), never from the request. With a
//! `publisher_acl`, every local user may open it and each request of a user
//! other than root (or the master's own) is checked against the ACL
//! ([`crate::acl`]); refusals are logged.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use brine_pki::channel::{read_frame, write_frame};
use brine_proto::{CliReply, CliRequest};
use tokio::net::{UnixListener, UnixStream};
use tracing::{debug, warn};

use crate::acl::{Action, Caller};
use crate::jobs::{expected_minions, publish, resolve_target, PublishRequest};
use crate::state::Master;

/// Binds the socket; `open_to_all` (a `publisher_acl` is configured) lets
/// every local user reach it (directory 0755, socket 0666), else only the
/// master's user (0700, 0600).
pub fn bind(path: &Path, open_to_all: bool) -> std::io::Result<UnixListener> {
    let (dir_mode, sock_mode) = if open_to_all {
        (0o755, 0o666)
    } else {
        (0o700, 0o600)
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(dir_mode))?;
    }
    // A socket left by a master that died: nobody listens on it any more.
    if path.exists() && std::os::unix::net::UnixStream::connect(path).is_err() {
        std::fs::remove_file(path)?;
    }
    let l = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(sock_mode))?;
    Ok(l)
}

pub async fn serve(master: Arc<Master>, listener: UnixListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let master = master.clone();
                tokio::spawn(async move { handle(master, stream).await });
            }
            Err(error) => {
                warn!(%error, "accept failed on the cli socket");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// The caller behind the socket, from the kernel's credentials: its name,
/// its groups, and whether it is root or the master's own user.
fn caller(stream: &UnixStream) -> Caller {
    let Ok(cred) = stream.peer_cred() else {
        return Caller {
            name: "unknown".into(),
            groups: Vec::new(),
            unrestricted: false,
        };
    };
    let uid = cred.uid();
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten();
    let name = user
        .as_ref()
        .map(|u| u.name.clone())
        .unwrap_or_else(|| format!("uid:{uid}"));
    let gids = match &user {
        Some(u) => std::ffi::CString::new(u.name.clone())
            .ok()
            .and_then(|n| nix::unistd::getgrouplist(&n, u.gid).ok())
            .unwrap_or_else(|| vec![u.gid]),
        None => vec![nix::unistd::Gid::from_raw(cred.gid())],
    };
    let groups = gids
        .into_iter()
        .filter_map(|g| nix::unistd::Group::from_gid(g).ok().flatten())
        .map(|g| g.name)
        .collect();
    Caller {
        name,
        groups,
        unrestricted: uid == 0 || uid == nix::unistd::geteuid().as_raw(),
    }
}

/// Accepted minions a publication may reach: those the inventory says
/// match, and, when the target reads grains or pillar, those whose grains
/// or pillar the master does not hold yet (they decide for themselves when
/// the job arrives). `tgt` is the target with nodegroups expanded.
pub(crate) fn reachable_minions(
    master: &Master,
    tgt: &str,
    tgt_type: brine_proto::targeting::TargetType,
    expr: &brine_proto::targeting::TargetExpr,
) -> Vec<String> {
    use brine_proto::targeting::TargetType as T;
    let reads_pillar = matches!(tgt_type, T::Pillar | T::PillarPcre)
        || (tgt_type == T::Compound && (tgt.contains("I@") || tgt.contains("J@")));
    let mut out = expected_minions(master, expr);
    for id in master.accepted_ids() {
        let unknown = (expr.needs_grains() && master.grains(&id).is_none())
            || (reads_pillar && master.pillar(&id).is_none());
        if unknown && !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

/// Checks `action` against the publisher ACL; a refusal is logged and
/// returned as the reply.
async fn authorize(
    master: &Master,
    caller: &Caller,
    action: &Action<'_>,
) -> Result<(), Box<CliReply>> {
    let minions_of = |tgt: &str| -> Result<Vec<String>, String> {
        let (_, _, expr) =
            resolve_target(master, tgt, brine_proto::targeting::TargetType::Compound)?;
        Ok(expected_minions(master, &expr))
    };
    let Err(denied) = master
        .config
        .publisher_acl
        .check(caller, action, &minions_of)
    else {
        return Ok(());
    };
    let tgt = match action {
        Action::Publish { tgt, .. } => *tgt,
        _ => "",
    };
    warn!(user = %caller.name, tgt = %tgt, fun = %action.fun(), "refused: {denied}");
    let audited = crate::audit::record(
        master,
        &caller.name,
        LOCAL,
        action,
        crate::audit::Outcome::Denied,
        &denied.to_string(),
    )
    .await;
    if let Err(error) = audited {
        tracing::error!(%error, "a refusal could not be written to the audit log");
    }
    Err(Box::new(CliReply::Error {
        message: format!("authorization error: {denied}"),
    }))
}

/// The audit log's source for requests on this socket.
const LOCAL: &str = "local";

/// Records an allowed request in the audit log; an action that cannot be
/// recorded is not run (the reply says why).
async fn audit_allowed(
    master: &Master,
    caller: &Caller,
    action: &Action<'_>,
) -> Result<(), Box<CliReply>> {
    crate::audit::record(
        master,
        &caller.name,
        LOCAL,
        action,
        crate::audit::Outcome::Allowed,
        "",
    )
    .await
    .map_err(|message| Box::new(CliReply::Error { message }))
}

/// Salt's wheel name of a key command, which `@wheel` entries allow.
fn wheel_name(cmd: &brine_proto::KeyCommand) -> (&'static str, Vec<serde_json::Value>) {
    use brine_proto::KeyCommand as K;
    match cmd {
        K::List => ("key.list_all", Vec::new()),
        K::Accept { glob, .. } => ("key.accept", vec![glob.clone().into()]),
        K::Reject { glob, .. } => ("key.reject", vec![glob.clone().into()]),
        K::Delete { glob } => ("key.delete", vec![glob.clone().into()]),
        K::Finger { glob } => ("key.finger", vec![glob.clone().into()]),
    }
}

async fn handle(master: Arc<Master>, stream: UnixStream) {
    let caller = caller(&stream);
    let (mut rd, mut wr) = stream.into_split();
    let req = match read_frame::<CliRequest, _>(&mut rd).await {
        Ok(Some(r)) => r,
        Ok(None) => return,
        Err(error) => {
            debug!(%error, "bad cli request");
            let message = format!("bad request: {error}");
            let _ = write_frame(&mut wr, &CliReply::Error { message }).await;
            return;
        }
    };
    let reply = match req {
        CliRequest::Publish {
            tgt,
            tgt_type,
            fun,
            arg,
            kwarg,
            timeout,
            detach,
        } => {
            let checked = !caller.unrestricted || master.config.publisher_acl.has_blacklist();
            let reached = if checked {
                resolve_target(&master, &tgt, tgt_type)
                    .map(|(t, tt, expr)| reachable_minions(&master, &t, tt, &expr))
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
            let action = Action::Publish {
                tgt: &tgt,
                minions: &reached,
                fun: &fun,
                arg: &arg,
                kwarg: &kwarg,
            };
            if checked {
                if let Err(reply) = authorize(&master, &caller, &action).await {
                    let _ = write_frame(&mut wr, &*reply).await;
                    return;
                }
            }
            if let Err(reply) = audit_allowed(&master, &caller, &action).await {
                let _ = write_frame(&mut wr, &*reply).await;
                return;
            }
            let user = caller.name;
            let req = PublishRequest {
                tgt,
                tgt_type,
                fun,
                arg,
                kwarg,
                timeout,
                detach,
                user,
            };
            publish(&master, req, &mut wr).await;
            return;
        }
        // Which minions a target names (brine --batch): any user the ACL
        // names may ask; its publications are checked one by one.
        CliRequest::Resolve { .. }
            if !caller.unrestricted && !master.config.publisher_acl.names(&caller) =>
        {
            CliReply::Error {
                message: format!(
                    "authorization error: {}",
                    crate::acl::Denied::NoEntry {
                        user: caller.name.clone()
                    }
                ),
            }
        }
        CliRequest::Resolve { tgt, tgt_type } => match resolve_target(&master, &tgt, tgt_type) {
            Ok((_, _, expr)) => CliReply::Minions {
                ids: expected_minions(&master, &expr),
            },
            Err(message) => CliReply::Error { message },
        },
        CliRequest::Key(cmd) => {
            let (fun, arg) = wheel_name(&cmd);
            let action = Action::Wheel { fun, arg: &arg };
            match authorize(&master, &caller, &action).await {
                Ok(()) => {
                    // Listing keys changes nothing: only changes are audited.
                    let changes = !matches!(
                        cmd,
                        brine_proto::KeyCommand::List | brine_proto::KeyCommand::Finger { .. }
                    );
                    match changes {
                        true => match audit_allowed(&master, &caller, &action).await {
                            Ok(()) => crate::keys::key_command(&master, cmd).await,
                            Err(reply) => *reply,
                        },
                        false => crate::keys::key_command(&master, cmd).await,
                    }
                }
                Err(reply) => *reply,
            }
        }
        CliRequest::Events { tag } => {
            let action = Action::Runner {
                fun: "state.event",
                arg: &[],
                kwarg: &serde_json::Map::new(),
            };
            match authorize(&master, &caller, &action).await {
                Err(reply) => *reply,
                Ok(()) => {
                    stream_events(&master, tag, rd, wr).await;
                    return;
                }
            }
        }
        CliRequest::Runner { fun, arg, kwarg } => {
            // Issuing API certificates is key management: it needs the
            // `@wheel` permission brine-key's other actions need, not the
            // `@runner` one that lets a user read the job cache.
            // A wheel action has no kwargs of its own: they travel as its
            // last argument, so the audit log keeps the user named.
            let wheel_arg: Vec<serde_json::Value>;
            let action = if fun.starts_with("api_cert.") {
                wheel_arg = arg
                    .iter()
                    .cloned()
                    .chain(std::iter::once(serde_json::Value::Object(kwarg.clone())))
                    .collect();
                Action::Wheel {
                    fun: &fun,
                    arg: &wheel_arg,
                }
            } else {
                Action::Runner {
                    fun: &fun,
                    arg: &arg,
                    kwarg: &kwarg,
                }
            };
            match authorize(&master, &caller, &action).await {
                Err(reply) => *reply,
                Ok(()) => {
                    if let Err(reply) = audit_allowed(&master, &caller, &action).await {
                        let _ = write_frame(&mut wr, &*reply).await;
                        return;
                    }
                    let m = master.clone();
                    let user = caller.name.clone();
                    let jid = master.jids.next();
                    crate::events::fire_run_new(&master.events, jid, &fun, &arg, &kwarg, &user);
                    let (f, u) = (fun.clone(), user.clone());
                    // API client certificates: only on this socket, never
                    // through the HTTP API's runners.
                    let reply = if fun.starts_with("api_cert.") {
                        crate::api::certs::runner(&m, &fun, &kwarg).await
                    } else {
                        tokio::task::spawn_blocking(move || {
                            crate::runners::run(&m, &u, &f, &arg, &kwarg)
                        })
                        .await
                        .unwrap_or_else(|e| CliReply::Error {
                            message: format!("runner failed: {e}"),
                        })
                    };
                    crate::events::fire_run_ret(&master.events, jid, &fun, &user, &reply);
                    reply
                }
            }
        }
    };
    let _ = write_frame(&mut wr, &reply).await;
}

/// Streams the bus to the caller (`brine-run state.event`) until it hangs
/// up. The bus never waits for this reader: when it falls behind, the
/// events it missed are counted and it is told so.
async fn stream_events(
    master: &Master,
    tag: Option<String>,
    mut rd: tokio::net::unix::OwnedReadHalf,
    mut wr: tokio::net::unix::OwnedWriteHalf,
) {
    let mut sub = master.events.subscribe();
    let mut hangup = [0u8; 1];
    loop {
        let received = tokio::select! {
            r = sub.recv() => r,
            // The caller sends nothing more: a read returning means it left.
            _ = tokio::io::AsyncReadExt::read(&mut rd, &mut hangup) => return,
        };
        let reply = match received {
            crate::events::Received::Missed(count) => CliReply::EventsMissed { count },
            crate::events::Received::Event(e) => {
                if tag
                    .as_deref()
                    .is_some_and(|t| !crate::events::tag_matches(t, &e.tag))
                {
                    continue;
                }
                CliReply::Event {
                    tag: e.tag.clone(),
                    data: e.data.clone(),
                }
            }
        };
        if write_frame(&mut wr, &reply).await.is_err() {
            return;
        }
    }
}
