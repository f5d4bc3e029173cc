//! `brine-key`: accept, reject, delete. Rejecting or deleting an accepted key
//! cuts the minion off at once and rotates the publication key.

use brine_proto::{CliReply, KeyCommand, KeyState};
use globset::Glob;
use tracing::info;

use crate::state::Master;

pub async fn key_command(master: &Master, cmd: KeyCommand) -> CliReply {
    match run(master, cmd).await {
        Ok(r) => r,
        Err(message) => CliReply::Error { message },
    }
}

fn matcher(glob: &str) -> Result<globset::GlobMatcher, String> {
    Glob::new(glob)
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("bad key glob '{glob}': {e}"))
}

async fn run(master: &Master, cmd: KeyCommand) -> Result<CliReply, String> {
    let act = match &cmd {
        KeyCommand::Accept { .. } => "accept",
        KeyCommand::Reject { .. } => "reject",
        KeyCommand::Delete { .. } => "delete",
        KeyCommand::List | KeyCommand::Finger { .. } => "",
    };
    let reply = run_command(master, cmd).await?;
    if let CliReply::Keys { changed, .. } = &reply {
        for id in changed {
            master.events.fire(
                "brine/key",
                serde_json::json!({"id": id, "act": act, "result": true}),
            );
        }
    }
    Ok(reply)
}

async fn run_command(master: &Master, cmd: KeyCommand) -> Result<CliReply, String> {
    let store_err = |e: crate::store::StoreError| e.to_string();
    let mut changed = Vec::new();
    match cmd {
        KeyCommand::List => {}
        KeyCommand::Finger { glob } => {
            let m = matcher(&glob)?;
            let keys = master
                .keys()
                .into_iter()
                .filter(|k| m.is_match(&k.id))
                .map(|k| k.entry())
                .collect();
            return Ok(CliReply::Keys {
                keys,
                changed,
                master_finger: master.pki.ca_fingerprint(),
            });
        }
        KeyCommand::Accept {
            glob,
            include_rejected,
        } => {
            let m = matcher(&glob)?;
            for mut k in master.keys() {
                let eligible = k.state == KeyState::Pending
                    || (include_rejected && k.state == KeyState::Rejected);
                if eligible && m.is_match(&k.id) {
                    k.state = KeyState::Accepted;
                    master.put_key(k.clone()).await.map_err(store_err)?;
                    master.wake_pending(&k.id);
                    info!(minion_id = %k.id, "key accepted");
                    changed.push(k.id);
                }
            }
        }
        KeyCommand::Reject {
            glob,
            include_accepted,
        } => {
            let m = matcher(&glob)?;
            let mut rotate = false;
            for mut k in master.keys() {
                let was_accepted = k.state == KeyState::Accepted;
                let eligible = k.state == KeyState::Pending || (include_accepted && was_accepted);
                if eligible && m.is_match(&k.id) {
                    k.state = KeyState::Rejected;
                    master.put_key(k.clone()).await.map_err(store_err)?;
                    master.wake_pending(&k.id);
                    if was_accepted {
                        master.cut_off(&k.id, "this minion's key was rejected");
                        rotate = true;
                    }
                    info!(minion_id = %k.id, "key rejected");
                    changed.push(k.id);
                }
            }
            if rotate {
                master.rotate_epoch();
            }
        }
        KeyCommand::Delete { glob } => {
            let m = matcher(&glob)?;
            let mut rotate = false;
            for k in master.keys() {
                if m.is_match(&k.id) {
                    master.remove_key(&k.id).await.map_err(store_err)?;
                    master.wake_pending(&k.id);
                    if k.state == KeyState::Accepted {
                        master.cut_off(&k.id, "this minion's key was deleted");
                        rotate = true;
                    }
                    info!(minion_id = %k.id, "key deleted");
                    changed.push(k.id);
                }
            }
            if rotate {
                master.rotate_epoch();
            }
        }
    }
    let keys = master.keys().into_iter().map(|k| k.entry()).collect();
    Ok(CliReply::Keys {
        keys,
        changed,
        master_finger: master.pki.ca_fingerprint(),
    })
}
