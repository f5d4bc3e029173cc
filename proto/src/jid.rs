//! Job ids in Salt's format: 20 digits, `YYYYMMDDhhmmssffffff` (local time,
//! microseconds). Unique per master: the generator never hands out the same
//! or an earlier id twice, even when the clock stands still or steps back.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use chrono::{Local, NaiveDateTime, TimeZone};
use serde::{Deserialize, Serialize};

/// A 20-digit job id. Ordered like the time it encodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JobId(u128);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid jid '{0}': expected 20 digits YYYYMMDDhhmmssffffff")]
pub struct JidError(pub String);

impl JobId {
    /// Builds the jid for a wall-clock instant given in microseconds since the epoch.
    pub fn from_micros(micros: i64) -> JobId {
        let secs = micros.div_euclid(1_000_000);
        let frac = micros.rem_euclid(1_000_000) as u128;
        let dt = Local
            .timestamp_opt(secs, 0)
            .single()
            .unwrap_or_else(|| Local.timestamp_opt(0, 0).unwrap());
        let digits: u128 = dt.format("%Y%m%d%H%M%S").to_string().parse().unwrap_or(0);
        JobId(digits * 1_000_000 + frac)
    }

    /// The numeric value (also the 20-digit decimal form).
    pub fn as_u128(self) -> u128 {
        self.0
    }

    /// Unix time in milliseconds this jid encodes (local time interpretation).
    pub fn unix_millis(self) -> Option<i64> {
        let s = format!("{:020}", self.0);
        let naive = NaiveDateTime::parse_from_str(&s[..14], "%Y%m%d%H%M%S").ok()?;
        let dt = Local.from_local_datetime(&naive).earliest()?;
        let micros: i64 = s[14..].parse().ok()?;
        Some(dt.timestamp_millis() + micros / 1000)
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:020}", self.0)
    }
}

impl FromStr for JobId {
    type Err = JidError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(JidError(s.to_string()));
        }
        let v: u128 = s.parse().map_err(|_| JidError(s.to_string()))?;
        let jid = JobId(v);
        // Month/day/hour sanity: reject ids that cannot be a timestamp.
        let month: u32 = s[4..6].parse().unwrap_or(0);
        let day: u32 = s[6..8].parse().unwrap_or(0);
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return Err(JidError(s.to_string()));
        }
        Ok(jid)
    }
}

impl TryFrom<String> for JobId {
    type Error = JidError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<JobId> for String {
    fn from(j: JobId) -> String {
        j.to_string()
    }
}

/// Hands out strictly increasing jids for one master process.
#[derive(Debug, Default)]
pub struct JidGenerator {
    last: Mutex<u128>,
}

impl JidGenerator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn next(&self) -> JobId {
        let now = chrono::Utc::now().timestamp_micros();
        let candidate = JobId::from_micros(now).0;
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let next = if candidate > *last {
            candidate
        } else {
            *last + 1
        };
        *last = next;
        JobId(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jid_is_twenty_digits_and_round_trips() {
        let g = JidGenerator::new();
        let j = g.next();
        let s = j.to_string();
        assert_eq!(s.len(), 20);
        assert!(s.starts_with("20"));
        assert_eq!(s.parse::<JobId>().unwrap(), j);
    }

    #[test]
    fn jids_strictly_increase() {
        let g = JidGenerator::new();
        let mut last = g.next();
        for _ in 0..10_000 {
            let n = g.next();
            assert!(n > last, "{n} after {last}");
            last = n;
        }
    }

    #[test]
    fn jid_encodes_the_time() {
        let micros = 1_700_000_000_123_456i64;
        let j = JobId::from_micros(micros);
        assert_eq!(j.to_string().len(), 20);
        assert!(j.to_string().ends_with("123456"));
        assert_eq!(j.unix_millis(), Some(1_700_000_000_123));
    }

    #[test]
    fn bad_jids_are_rejected() {
        for bad in [
            "",
            "123",
            "2026112305113012345x",
            "20261323051130123456",
            "202611230511301234567",
        ] {
            assert!(bad.parse::<JobId>().is_err(), "{bad}");
        }
    }
}
