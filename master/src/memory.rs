//! Giving freed memory back to the system.
//!
//! glibc's allocator keeps what a program frees for later reuse. After a
//! connect storm (10,000 TLS handshakes) or a job whose 10,000 returns were
//! decoded, the master had freed most of that memory but stayed at its peak
//! RSS for the rest of its run, which is what an operator's monitoring sees.
//! Two settings fix this without changing allocator:
//! - fewer malloc arenas: glibc makes up to 8 per core, one per thread that
//!   contends, and the master's blocking pool has many threads; each arena
//!   keeps its own free memory. Four are enough for two runtime workers.
//! - a periodic `malloc_trim(0)`, which returns free pages from every arena
//!   (also those in the middle of a heap) to the kernel. It walks the free
//!   lists only, so an idle master pays almost nothing for it.

use std::time::Duration;

/// How often freed memory is handed back.
pub const TRIM_INTERVAL: Duration = Duration::from_secs(10);

/// Caps glibc's arenas. Call before the runtime's threads start. glibc's
/// own `MALLOC_ARENA_MAX`, when set, is left to decide.
#[allow(unsafe_code)]
pub fn limit_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; no other thread
    // allocates yet when this runs at startup, and glibc locks it anyway.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 4);
    }
}

/// Returns freed memory to the system now; true if any was released.
#[allow(unsafe_code)]
pub fn trim() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes the allocator's own locks; it is safe to
    // call from any thread at any time.
    unsafe {
        return libc::malloc_trim(0) == 1;
    }
    #[allow(unreachable_code)]
    false
}

/// Trims every [`TRIM_INTERVAL`] on a blocking thread (a trim of a large
/// heap takes milliseconds, which must not stall a runtime worker).
pub async fn trim_loop() {
    let mut tick = tokio::time::interval(TRIM_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let _ = tokio::task::spawn_blocking(trim).await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn freed_memory_is_returned() {
        // 64 MiB in small blocks (below the mmap threshold, so they live in
        // the heap and stay resident after free until trimmed).
        let blocks: Vec<Vec<u8>> = (0..16384).map(|i| vec![i as u8; 4096]).collect();
        let before = resident_kib();
        drop(blocks);
        super::trim();
        let after = resident_kib();
        assert!(
            before.saturating_sub(after) > 32 * 1024,
            "RSS {before} KiB -> {after} KiB after trim"
        );
    }

    fn resident_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}
