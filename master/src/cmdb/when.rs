//! Times as operators type them: `2h` (ago), `now`, unix seconds, or a
//! date and time in UTC (`2026-12-04T10:00:00`, `2026-12-04 10:00`,
//! `2026-12-04`, RFC 3339 with an offset).

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Unix milliseconds for `text`, relative to `now_ms` for `2h`-style
/// durations.
pub fn parse_when(text: &str, now_ms: i64) -> Result<i64, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("now") {
        return Ok(now_ms);
    }
    if let Some(ms) = parse_ago(t) {
        return Ok(now_ms - ms);
    }
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()) {
        let n: i64 = t.parse().map_err(|_| bad(t))?;
        // Milliseconds have 13 digits today; seconds 10.
        return Ok(if t.len() >= 13 { n } else { n * 1000 });
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.timestamp_millis());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(t, fmt) {
            return Ok(Utc.from_utc_datetime(&naive).timestamp_millis());
        }
    }
    if let Ok(day) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        let naive = day.and_hms_opt(0, 0, 0).ok_or_else(|| bad(t))?;
        return Ok(Utc.from_utc_datetime(&naive).timestamp_millis());
    }
    Err(bad(t))
}

fn bad(t: &str) -> String {
    format!(
        "'{t}' is not a time: give a duration ago (30m, 2h, 1d, 1w), now, unix seconds, \
         or a UTC date and time (2026-12-04T10:00:00, 2026-12-04 10:00, 2026-12-04)"
    )
}

/// `90s`, `30m`, `2h`, `1d`, `1w` (also combined: `1h30m`) in ms.
fn parse_ago(t: &str) -> Option<i64> {
    let mut total = 0i64;
    let mut num = String::new();
    let mut any = false;
    for c in t.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            's' => 1_000,
            'm' => 60_000,
            'h' => 3_600_000,
            'd' => 86_400_000,
            'w' => 7 * 86_400_000,
            _ => return None,
        };
        let n: i64 = num.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        num.clear();
        any = true;
    }
    (any && num.is_empty()).then_some(total)
}

/// Unix ms as the history shows it: ISO 8601 in UTC.
pub fn iso(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_400_000_000;

    #[test]
    fn durations_dates_and_unix_times() {
        assert_eq!(parse_when("2h", NOW), Ok(NOW - 7_200_000));
        assert_eq!(parse_when("1h30m", NOW), Ok(NOW - 5_400_000));
        assert_eq!(parse_when("now", NOW), Ok(NOW));
        assert_eq!(parse_when("1796400000", NOW), Ok(1_796_400_000_000));
        assert_eq!(
            parse_when("2026-12-04T10:00:00", NOW),
            Ok(Utc
                .with_ymd_and_hms(2026, 12, 4, 10, 0, 0)
                .unwrap()
                .timestamp_millis())
        );
        assert_eq!(
            parse_when("2026-12-04 10:00", NOW),
            parse_when("2026-12-04T10:00:00", NOW)
        );
        assert_eq!(
            parse_when("2026-12-04T11:00:00+01:00", NOW),
            parse_when("2026-12-04T10:00:00", NOW)
        );
        assert!(parse_when("yesterday", NOW)
            .unwrap_err()
            .contains("not a time"));
        assert!(parse_when("2x", NOW).is_err());
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
    }
}
