//! Writing files the way Salt's `salt.utils.files.copyfile` does: through a
//! temporary file in the same directory, keeping the old file's owner and
//! mode, with an optional `backup: minion` copy in the cachedir.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Replaces `path`'s content with `data`. An existing file keeps its owner and
/// mode; a new one gets 0600 when `restrictive` (a mode is set right after,
/// as Salt does under umask 077), else 0666 less the umask.
pub fn write(
    path: &Path,
    data: &[u8],
    restrictive: bool,
    backup_root: Option<&Path>,
) -> std::io::Result<()> {
    let old = std::fs::metadata(path).ok();
    if let (Some(root), Some(_)) = (backup_root, &old) {
        backup(path, root)?;
    }
    let Some(meta) = old else {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if restrictive { 0o600 } else { 0o666 })
            .open(path)?;
        return f.write_all(data);
    };
    let tmp = temp_path(path);
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(data)?;
        // Only root may give the file away; the old owner is kept when we can.
        let _ = std::os::unix::fs::fchown(&f, Some(meta.uid()), Some(meta.gid()));
        f.set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let base = path
        .file_name()
        .map(|b| b.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{base}.brine-{}-{n}", std::process::id()))
}

/// The process umask, read from `/proc/self/status` (setting it to read it
/// would race with other threads); 022 when unknown.
pub fn umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

/// Salt's `backup_minion`: copies `path` to
/// `<cachedir>/file_backup/<dir>/<name>_<Www_Mmm_dd_HH:MM:SS_micros_YYYY>`.
pub fn backup(path: &Path, cachedir: &Path) -> std::io::Result<PathBuf> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let rel = dir.strip_prefix("/").unwrap_or(dir);
    let root = cachedir.join("file_backup").join(rel);
    std::fs::create_dir_all(&root)?;
    let name = path
        .file_name()
        .map(|b| b.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dest = root.join(format!("{name}_{}", stamp(SystemTime::now())));
    std::fs::copy(path, &dest)?;
    Ok(dest)
}

/// `Mon_Nov_23_10:41:11_123456_2026` in UTC (Salt uses local time).
fn stamp(at: SystemTime) -> String {
    let d = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, day) = civil_from_days(days);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}_{}_{:02}_{:02}:{:02}:{:02}_{:06}_{}",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        day,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_micros(),
        y
    )
}

/// Howard Hinnant's days-to-civil conversion.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stamp_looks_like_salts() {
        let t = UNIX_EPOCH + Duration::from_micros(1_795_000_000_123_456);
        assert_eq!(stamp(t), "Wed_Nov_18_11:06:40_123456_2026");
    }

    #[test]
    fn rewrite_keeps_mode_and_backup_keeps_old_content() {
        let dir = tempfile::TempDir::new().unwrap();
        let f = dir.path().join("conf");
        std::fs::write(&f, "old\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
        let cache = dir.path().join("cache");
        write(&f, b"new\n", false, Some(&cache)).unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "new\n");
        let mode = std::fs::metadata(&f).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o640);
        let rel = dir.path().strip_prefix("/").unwrap();
        let backups: Vec<_> = std::fs::read_dir(cache.join("file_backup").join(rel))
            .unwrap()
            .flatten()
            .collect();
        assert_eq!(backups.len(), 1);
        let b = backups[0].path();
        assert!(b
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("conf_"));
        assert_eq!(std::fs::read_to_string(b).unwrap(), "old\n");
    }
}
