//! `brine-swarm`'s one shortcut: identical publication bytes are verified
//! and decrypted once per swarm process. On real hosts that work runs in
//! parallel, one copy on each host's own CPU; in a swarm of 10,000 minions
//! on one machine it would be 10,000 signature checks of the same bytes.
//! Every simulated minion still parses the publication it received on its
//! own socket, checks its age and master, matches the target itself, runs
//! the function and returns on its own session. `brine-minion` never uses
//! this cache.

use std::collections::VecDeque;
use std::sync::Mutex;

use brine_pki::sealing::{open, SealError};
use brine_proto::{EpochKey, Job, SealedPublication};
use ring::digest::{Context, SHA256};

/// Opened publications remembered (jobs in flight at once, with room).
const ENTRIES: usize = 256;

#[derive(Default)]
pub struct OpenCache {
    opened: Mutex<VecDeque<([u8; 32], Job)>>,
}

impl OpenCache {
    /// [`open`], answered from the cache when exactly these bytes were
    /// opened under exactly this signing key and epoch key before. Failures
    /// are not cached: each minion checks a bad publication itself.
    pub fn open(
        &self,
        p: &SealedPublication,
        signing_key: &[u8],
        key: &EpochKey,
    ) -> Result<Job, SealError> {
        let digest = identity(p, signing_key, key);
        if let Some(job) = self
            .lock()
            .iter()
            .find(|(d, _)| *d == digest)
            .map(|(_, j)| j.clone())
        {
            return Ok(job);
        }
        let job = open(p, signing_key, key)?;
        let mut opened = self.lock();
        if opened.len() >= ENTRIES {
            opened.pop_front();
        }
        opened.push_back((digest, job.clone()));
        Ok(job)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<([u8; 32], Job)>> {
        self.opened.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Everything the outcome of opening depends on, hashed (each field
/// length-prefixed, so no two inputs run together the same way).
fn identity(p: &SealedPublication, signing_key: &[u8], key: &EpochKey) -> [u8; 32] {
    let mut h = Context::new(&SHA256);
    let epoch_key_epoch = key.epoch.to_be_bytes();
    let pub_epoch = p.epoch.to_be_bytes();
    for part in [
        signing_key,
        &epoch_key_epoch,
        &key.key,
        p.master.as_bytes(),
        &pub_epoch,
        &p.nonce,
        &p.ciphertext,
        &p.signature,
    ] {
        h.update(&(part.len() as u64).to_be_bytes());
        h.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(h.finish().as_ref());
    out
}
