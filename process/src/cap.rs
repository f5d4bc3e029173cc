//! The output cap: how much of one output stream a command keeps.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The default: far above what a person reads, far below what would strain
/// the minion or the return path.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 8 * 1024 * 1024;

/// The minion sets it once at start from `max_output_bytes`.
static MAX_OUTPUT_BYTES: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_OUTPUT_BYTES);

pub fn set_max_output_bytes(cap: usize) {
    MAX_OUTPUT_BYTES.store(cap.max(1024), Ordering::Relaxed);
}

pub fn max_output_bytes() -> usize {
    MAX_OUTPUT_BYTES.load(Ordering::Relaxed)
}

/// Keeps what fits of a chunk read from a stream: appends at most up to
/// `cap` to `buf` and returns how many bytes were dropped.
pub fn keep_capped(buf: &mut Vec<u8>, chunk: &[u8], cap: usize) -> u64 {
    let keep = chunk.len().min(cap.saturating_sub(buf.len()));
    buf.extend_from_slice(&chunk[..keep]);
    (chunk.len() - keep) as u64
}

/// After a stream ended with `dropped` bytes over the cap: cuts `buf` at a
/// character boundary and appends the marker saying how much was cut.
pub fn finish_capped(buf: &mut Vec<u8>, mut dropped: u64, cap: usize) {
    if dropped == 0 {
        return;
    }
    let keep = match std::str::from_utf8(buf) {
        Ok(_) => buf.len(),
        Err(e) => e.valid_up_to().max(buf.len().saturating_sub(3)),
    };
    dropped += (buf.len() - keep) as u64;
    buf.truncate(keep);
    buf.extend_from_slice(
        format!("\n... [output truncated: {dropped} more bytes over the limit of {cap} bytes (max_output_bytes)]").as_bytes(),
    );
}
