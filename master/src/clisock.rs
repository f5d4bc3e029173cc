//! The local CLI socket. Whoever can open it may drive the master, so it
//! lives in a directory only the master's user can enter; the caller's user
//! name comes from the kernel (SO_PEERCRED), never from the request.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use brine_pki::channel::{read_frame, write_frame};
use brine_proto::{CliReply, CliRequest};
use tokio::net::{UnixListener, UnixStream};
use tracing::{debug, warn};

use crate::jobs::{expected_minions, publish, resolve_target, PublishRequest};
use crate::state::Master;

pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    // A socket left by a master that died: nobody listens on it any more.
    if path.exists() && std::os::unix::net::UnixStream::connect(path).is_err() {
        std::fs::remove_file(path)?;
    }
    let l = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
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

fn user_name(stream: &UnixStream) -> String {
    let Ok(cred) = stream.peer_cred() else {
        return "unknown".into();
    };
    let uid = cred.uid();
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| format!("uid:{uid}"))
}

async fn handle(master: Arc<Master>, stream: UnixStream) {
    let user = user_name(&stream);
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
        CliRequest::Resolve { tgt, tgt_type } => match resolve_target(&master, &tgt, tgt_type) {
            Ok((_, _, expr)) => CliReply::Minions {
                ids: expected_minions(&master, &expr),
            },
            Err(message) => CliReply::Error { message },
        },
        CliRequest::Key(cmd) => crate::keys::key_command(&master, cmd).await,
        CliRequest::Runner { fun, arg, kwarg } => {
            let m = master.clone();
            tokio::task::spawn_blocking(move || crate::runners::run(&m, &user, &fun, &arg, &kwarg))
                .await
                .unwrap_or_else(|e| CliReply::Error {
                    message: format!("runner failed: {e}"),
                })
        }
    };
    let _ = write_frame(&mut wr, &reply).await;
}
