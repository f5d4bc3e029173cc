//! `locale_info` (language, encoding, time zone abbreviation) and the
//! calendar helpers the `status` module shares.
//!
//! The time zone abbreviation ("UTC", "CET", "EDT") is what Salt reports; it
//! is read from the TZif file libc itself uses (`$TZ` or `/etc/localtime`),
//! so no libc call with process-global state is needed.

use std::time::{SystemTime, UNIX_EPOCH};

use brine_proto::Grains;
use serde_json::json;

use super::read;

pub(super) fn collect(g: &mut Grains) {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    // A service gets its locale from /etc/locale.conf (systemd) or
    // /etc/default/locale (Debian) when the environment says nothing.
    let configured = || {
        ["/etc/locale.conf", "/etc/default/locale"]
            .iter()
            .filter_map(read)
            .find_map(|t| {
                t.lines()
                    .find_map(|l| l.trim().strip_prefix("LANG="))
                    .map(|v| v.trim_matches(['"', '\'']).to_string())
            })
    };
    let locale = env("LC_ALL")
        .or_else(|| env("LC_CTYPE"))
        .or_else(|| env("LANG"))
        .or_else(configured)
        .unwrap_or_default();
    let (lang, enc) = split_locale(&locale);
    let detected = enc
        .as_deref()
        .map(|e| {
            if e == "UTF-8" {
                "utf-8".to_string()
            } else {
                e.to_lowercase()
            }
        })
        .unwrap_or_else(|| "utf-8".to_string());
    g.insert(
        "locale_info".into(),
        json!({
            "defaultlanguage": lang,
            "defaultencoding": enc,
            "detectedencoding": detected,
            "timezone": timezone(now_secs()),
        }),
    );
}

/// Python's `locale.getlocale()` of a locale name: "en_US.UTF-8" ->
/// ("en_US", "UTF-8"); "C"/"POSIX"/"" -> (None, None).
pub(super) fn split_locale(name: &str) -> (Option<String>, Option<String>) {
    let name = name.split('@').next().unwrap_or("");
    if matches!(name, "" | "C" | "POSIX") {
        return (None, None);
    }
    match name.split_once('.') {
        Some((lang, enc)) => {
            let enc = match enc.to_lowercase().replace('-', "").as_str() {
                "utf8" => "UTF-8".to_string(),
                _ => enc.to_string(),
            };
            (Some(lang.to_string()), Some(enc))
        }
        None => (Some(name.to_string()), None),
    }
}

pub(crate) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The current zone abbreviation; "UTC" when no zone is configured, as libc.
fn timezone(now: i64) -> String {
    let tz = std::env::var("TZ").ok().filter(|t| !t.is_empty());
    let path = match tz.as_deref() {
        Some(t)
            if !t.starts_with(':') && !t.contains('/') && t.chars().any(|c| c.is_ascii_digit()) =>
        {
            // A POSIX rule in TZ itself ("EST5EDT,M3.2.0,M11.1.0").
            return posix_tz_abbrev(t, now).unwrap_or_else(|| "UTC".to_string());
        }
        Some(t) => {
            let t = t.trim_start_matches(':');
            if t.starts_with('/') {
                t.to_string()
            } else {
                format!("/usr/share/zoneinfo/{t}")
            }
        }
        None => "/etc/localtime".to_string(),
    };
    std::fs::read(path)
        .ok()
        .and_then(|b| tzif_abbrev(&b, now))
        .unwrap_or_else(|| "UTC".to_string())
}

/// The abbreviation in force at `now` according to a TZif file: the last
/// transition before `now`, or the file's POSIX footer after the table ends.
pub(crate) fn tzif_abbrev(data: &[u8], now: i64) -> Option<String> {
    let header = |d: &[u8]| -> Option<[usize; 6]> {
        if d.len() < 44 || &d[..4] != b"TZif" {
            return None;
        }
        let mut c = [0usize; 6];
        for (i, v) in c.iter_mut().enumerate() {
            let o = 20 + 4 * i;
            *v = u32::from_be_bytes(d[o..o + 4].try_into().ok()?) as usize;
        }
        Some(c)
    };
    let [isut, isstd, leap, timecnt, typecnt, charcnt] = header(data)?;
    let v1_len = 44 + timecnt * 5 + typecnt * 6 + charcnt + leap * 8 + isstd + isut;
    // Version 2+ files repeat the data with 64-bit times, then a footer.
    let (block, tsize, footer) = if data[4] >= b'2' && data.len() > v1_len + 44 {
        let d = &data[v1_len..];
        let [isut, isstd, leap, timecnt, typecnt, charcnt] = header(d)?;
        let len = 44 + timecnt * 9 + typecnt * 6 + charcnt + leap * 12 + isstd + isut;
        let footer = d
            .get(len..)
            .and_then(|f| std::str::from_utf8(f).ok())
            .map(|f| f.trim().to_string());
        (d, 8usize, footer)
    } else {
        (data, 4usize, None)
    };
    let [_, _, _, timecnt, typecnt, charcnt] = header(block)?;
    let times = 44;
    let idx = times + timecnt * tsize;
    let types = idx + timecnt;
    let chars = types + typecnt * 6;
    let abbrevs = block.get(chars..chars + charcnt)?;
    let time_at = |i: usize| -> Option<i64> {
        let o = times + i * tsize;
        Some(if tsize == 8 {
            i64::from_be_bytes(block.get(o..o + 8)?.try_into().ok()?)
        } else {
            i32::from_be_bytes(block.get(o..o + 4)?.try_into().ok()?) as i64
        })
    };
    let abbrev_of = |t: usize| -> Option<String> {
        let o = types + t * 6;
        let start = *block.get(o + 5)? as usize;
        let rest = abbrevs.get(start..)?;
        let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
        Some(String::from_utf8_lossy(&rest[..end]).to_string())
    };
    let mut last = None;
    for i in 0..timecnt {
        if time_at(i)? <= now {
            last = Some(i);
        } else {
            break;
        }
    }
    if last == Some(timecnt.wrapping_sub(1)) || timecnt == 0 {
        if let Some(abbrev) = footer
            .as_deref()
            .filter(|f| !f.is_empty())
            .and_then(|f| posix_tz_abbrev(f, now))
        {
            return Some(abbrev);
        }
    }
    let ty = match last {
        Some(i) => *block.get(idx + i)? as usize,
        None => 0,
    };
    abbrev_of(ty)
}

/// The abbreviation a POSIX TZ rule ("CET-1CEST,M3.5.0,M10.5.0/3") gives at
/// `now`. Only the `Mm.w.d` rule form is evaluated; other forms give the
/// standard name.
pub(crate) fn posix_tz_abbrev(rule: &str, now: i64) -> Option<String> {
    let mut p = PosixParser {
        s: rule.as_bytes(),
        i: 0,
    };
    let std_name = p.name()?;
    let std_off = p.offset()?;
    if p.done() {
        return Some(std_name);
    }
    let dst_name = p.name()?;
    let dst_off = if p.peek() == Some(b',') || p.done() {
        std_off - 3600
    } else {
        p.offset()?
    };
    if !p.eat(b',') {
        return Some(std_name);
    }
    let (start_rule, start_time) = p.rule()?;
    if !p.eat(b',') {
        return Some(std_name);
    }
    let (end_rule, end_time) = p.rule()?;
    // POSIX offsets are west-positive: local = utc - off.
    let year = civil_from_days((now - std_off).div_euclid(86_400)).0;
    let start = rule_day(year, start_rule)? * 86_400 + start_time + std_off;
    let end = rule_day(year, end_rule)? * 86_400 + end_time + dst_off;
    let in_dst = if start < end {
        now >= start && now < end
    } else {
        now >= start || now < end
    };
    Some(if in_dst { dst_name } else { std_name })
}

struct PosixParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl PosixParser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn done(&self) -> bool {
        self.i >= self.s.len()
    }
    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        if hit {
            self.i += 1;
        }
        hit
    }
    /// "CET" or "<+03>".
    fn name(&mut self) -> Option<String> {
        let start = self.i;
        if self.eat(b'<') {
            while self.peek()? != b'>' {
                self.i += 1;
            }
            self.i += 1;
            return Some(String::from_utf8_lossy(&self.s[start + 1..self.i - 1]).to_string());
        }
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.i += 1;
        }
        (self.i - start >= 3).then(|| String::from_utf8_lossy(&self.s[start..self.i]).to_string())
    }
    fn number(&mut self) -> Option<i64> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()?
            .parse()
            .ok()
    }
    /// "[+-]hh[:mm[:ss]]" in seconds.
    fn offset(&mut self) -> Option<i64> {
        let sign = if self.eat(b'-') {
            -1
        } else {
            self.eat(b'+');
            1
        };
        let mut secs = self.number()? * 3600;
        if self.eat(b':') {
            secs += self.number()? * 60;
            if self.eat(b':') {
                secs += self.number()?;
            }
        }
        Some(sign * secs)
    }
    /// "Mm.w.d[/time]" -> ((month, week, weekday), seconds after midnight).
    fn rule(&mut self) -> Option<((i64, i64, i64), i64)> {
        if !self.eat(b'M') {
            return None;
        }
        let m = self.number()?;
        self.eat(b'.').then_some(())?;
        let w = self.number()?;
        self.eat(b'.').then_some(())?;
        let d = self.number()?;
        let time = if self.eat(b'/') { self.offset()? } else { 7200 };
        Some(((m, w, d), time))
    }
}

/// Days since the epoch of the `w`th weekday `d` (0 = Sunday) of month `m`
/// (week 5 = the last one).
fn rule_day(year: i64, (m, w, d): (i64, i64, i64)) -> Option<i64> {
    if !(1..=12).contains(&m) || !(1..=5).contains(&w) || !(0..=6).contains(&d) {
        return None;
    }
    let first = days_from_civil(year, m as u32, 1);
    // 1970-01-01 was a Thursday (4).
    let first_wd = (first + 4).rem_euclid(7);
    let mut day = first + (d - first_wd).rem_euclid(7) + (w - 1) * 7;
    let next_month = if m == 12 {
        days_from_civil(year + 1, 1, 1)
    } else {
        days_from_civil(year, m as u32 + 1, 1)
    };
    while day >= next_month {
        day -= 7;
    }
    Some(day)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day count since 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Python's `datetime.isoformat()` of a naive UTC time: seconds, with
/// `.ffffff` only when the microseconds are not zero.
pub(crate) fn iso_utc(secs: i64, micros: u32) -> String {
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let base = format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
        s / 3600,
        s % 3600 / 60,
        s % 60
    );
    if micros == 0 {
        base
    } else {
        format!("{base}.{micros:06}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_as_python() {
        assert_eq!(
            split_locale("en_US.UTF-8"),
            (Some("en_US".into()), Some("UTF-8".into()))
        );
        assert_eq!(
            split_locale("de_DE.utf8@euro"),
            (Some("de_DE".into()), Some("UTF-8".into()))
        );
        assert_eq!(split_locale("C"), (None, None));
        assert_eq!(
            split_locale("C.UTF-8"),
            (Some("C".into()), Some("UTF-8".into()))
        );
    }

    #[test]
    fn calendar() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2024, 3, 1), 19_783);
        assert_eq!(civil_from_days(19_783), (2024, 3, 1));
        assert_eq!(iso_utc(1_714_736_472, 0), "2024-05-03T11:41:12");
        assert_eq!(iso_utc(1_714_736_472, 120), "2024-05-03T11:41:12.000120");
    }

    #[test]
    fn posix_rules() {
        let cet = "CET-1CEST,M3.5.0,M10.5.0/3";
        // 2024-01-15 and 2024-07-15, noon UTC.
        assert_eq!(posix_tz_abbrev(cet, 1_705_320_000).as_deref(), Some("CET"));
        assert_eq!(posix_tz_abbrev(cet, 1_721_044_800).as_deref(), Some("CEST"));
        // DST starts 2024-03-31 01:00 UTC.
        assert_eq!(posix_tz_abbrev(cet, 1_711_846_799).as_deref(), Some("CET"));
        assert_eq!(posix_tz_abbrev(cet, 1_711_846_800).as_deref(), Some("CEST"));
        assert_eq!(posix_tz_abbrev("UTC0", 0).as_deref(), Some("UTC"));
        assert_eq!(posix_tz_abbrev("<+03>-3", 0).as_deref(), Some("+03"));
        // Southern hemisphere: DST spans the new year.
        let nz = "NZST-12NZDT,M9.5.0,M4.1.0/3";
        assert_eq!(posix_tz_abbrev(nz, 1_705_320_000).as_deref(), Some("NZDT"));
        assert_eq!(posix_tz_abbrev(nz, 1_721_044_800).as_deref(), Some("NZST"));
    }

    /// A minimal version-2 TZif file: no transitions, one type, a footer.
    fn tzif(abbrev: &str, footer: &str) -> Vec<u8> {
        let block = |v: &mut Vec<u8>| {
            v.extend_from_slice(b"TZif2");
            v.extend_from_slice(&[0u8; 15]);
            let chars = abbrev.len() as u32 + 1;
            for n in [0u32, 0, 0, 0, 1, chars] {
                v.extend_from_slice(&n.to_be_bytes());
            }
            v.extend_from_slice(&0i32.to_be_bytes());
            v.extend_from_slice(&[0, 0]);
            v.extend_from_slice(abbrev.as_bytes());
            v.push(0);
        };
        let mut v = Vec::new();
        block(&mut v);
        block(&mut v);
        v.extend_from_slice(format!("\n{footer}\n").as_bytes());
        v
    }

    #[test]
    fn tzif_files() {
        assert_eq!(
            tzif_abbrev(&tzif("UTC", "UTC0"), 1_700_000_000).as_deref(),
            Some("UTC")
        );
        let cet = tzif("CET", "CET-1CEST,M3.5.0,M10.5.0/3");
        assert_eq!(tzif_abbrev(&cet, 1_721_044_800).as_deref(), Some("CEST"));
        assert_eq!(tzif_abbrev(b"not a tzif file", 0), None);
        // The system's own zone file parses, whatever it is.
        if let Ok(b) = std::fs::read("/etc/localtime") {
            assert!(tzif_abbrev(&b, now_secs()).is_some());
        }
    }
}
