//! The `alerts` option of the master config:
//!
//! ```yaml
//! alerts:
//!   channels:
//!     ops:
//!       type: webhook
//!       url: http://alerts.example.com/hook
//!       template: /etc/brine/alert.json.j2   # or the template text itself
//!       headers: {Authorization: Bearer xyz}
//!       timeout: 10
//!   retry:
//!     max_age: 86400     # seconds an undelivered alert is retried
//!     backoff: 5         # first retry after this, doubling each time
//!     backoff_max: 300
//!   max_spooled: 10000   # alerts kept for delivery at most
//!   max_spooled_bytes: 67108864
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use brine_proto::conf::{ConfError, RawConfig};
use serde::Deserialize;

/// One delivery channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    /// POSTed to (`type: webhook`, the only type).
    pub url: String,
    /// A minijinja (Salt Jinja) template of the JSON body; None: the alert
    /// dict itself.
    pub template: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertsConfig {
    pub channels: BTreeMap<String, Channel>,
    /// An alert not delivered after this long is dropped (and counted,
    /// and logged as an error).
    pub max_age: Duration,
    pub backoff: Duration,
    pub backoff_max: Duration,
    pub max_spooled: usize,
    pub max_spooled_bytes: usize,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            channels: BTreeMap::new(),
            max_age: Duration::from_secs(86400),
            backoff: Duration::from_secs(5),
            backoff_max: Duration::from_secs(300),
            max_spooled: 10_000,
            max_spooled_bytes: 64 << 20,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlerts {
    #[serde(default)]
    channels: BTreeMap<String, RawChannel>,
    #[serde(default)]
    retry: Option<RawRetry>,
    max_spooled: Option<usize>,
    max_spooled_bytes: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChannel {
    #[serde(rename = "type", default = "webhook")]
    kind: String,
    url: String,
    template: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    timeout: Option<f64>,
}

fn webhook() -> String {
    "webhook".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    max_age: Option<f64>,
    backoff: Option<f64>,
    backoff_max: Option<f64>,
}

fn secs(key: &str, v: Option<f64>, default: Duration) -> Result<Duration, String> {
    match v {
        None => Ok(default),
        Some(s) if s > 0.0 && s <= 86_400.0 * 365.0 => Ok(Duration::from_secs_f64(s)),
        Some(s) => Err(format!("{key}: {s} is not a positive number of seconds")),
    }
}

/// A template given as a file path (one line, absolute, no Jinja in it)
/// is read now; anything else is the template text.
fn template_text(name: &str, t: String) -> Result<String, String> {
    let looks_like_path = t.starts_with('/') && !t.contains('\n') && !t.contains("{{");
    if !looks_like_path {
        return Ok(t);
    }
    std::fs::read_to_string(&t)
        .map_err(|e| format!("channels.{name}.template: cannot read {t}: {e}"))
}

pub fn from_raw(raw: &mut RawConfig) -> Result<AlertsConfig, ConfError> {
    let bad = |raw: &RawConfig, message: String| ConfError::BadValue {
        file: raw.file().to_string(),
        key: "alerts".into(),
        message,
    };
    let Some(r) = raw.get::<RawAlerts>("alerts")? else {
        return Ok(AlertsConfig::default());
    };
    let d = AlertsConfig::default();
    let mut c = AlertsConfig {
        max_spooled: r.max_spooled.unwrap_or(d.max_spooled).max(1),
        max_spooled_bytes: r.max_spooled_bytes.unwrap_or(d.max_spooled_bytes).max(1),
        ..d.clone()
    };
    if let Some(retry) = r.retry {
        c.max_age = secs("retry.max_age", retry.max_age, d.max_age).map_err(|m| bad(raw, m))?;
        c.backoff = secs("retry.backoff", retry.backoff, d.backoff).map_err(|m| bad(raw, m))?;
        c.backoff_max =
            secs("retry.backoff_max", retry.backoff_max, d.backoff_max).map_err(|m| bad(raw, m))?;
    }
    for (name, ch) in r.channels {
        // The name is part of spool file names.
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(bad(
                raw,
                format!("channel name '{name}': use letters, digits, '_' and '-'"),
            ));
        }
        if ch.kind != "webhook" {
            return Err(bad(
                raw,
                format!(
                    "channels.{name}: type '{}' is not known (webhook is)",
                    ch.kind
                ),
            ));
        }
        if !(ch.url.starts_with("http://") || ch.url.starts_with("https://")) {
            return Err(bad(
                raw,
                format!("channels.{name}: url '{}' is not http(s)://", ch.url),
            ));
        }
        let template = ch
            .template
            .map(|t| template_text(&name, t))
            .transpose()
            .map_err(|m| bad(raw, m))?;
        let timeout = secs(
            &format!("channels.{name}.timeout"),
            ch.timeout,
            Duration::from_secs(10),
        )
        .map_err(|m| bad(raw, m))?;
        c.channels.insert(
            name,
            Channel {
                url: ch.url,
                template,
                headers: ch.headers,
                timeout,
            },
        );
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> Result<AlertsConfig, ConfError> {
        from_raw(&mut RawConfig::parse("master", text).unwrap())
    }

    #[test]
    fn channels_and_retry() {
        let dir = tempfile::tempdir().unwrap();
        let tpl = dir.path().join("t.j2");
        std::fs::write(&tpl, "{\"text\": {{ title | tojson }}}").unwrap();
        let c = conf(&format!(
            "alerts:\n  channels:\n    ops:\n      url: http://127.0.0.1:9/hook\n      template: {}\n      headers: {{X-Token: abc}}\n      timeout: 2\n    raw:\n      type: webhook\n      url: https://x.example/h\n  retry: {{max_age: 60, backoff: 0.5, backoff_max: 2}}\n",
            tpl.display()
        ))
        .unwrap();
        let ops = &c.channels["ops"];
        assert_eq!(
            ops.template.as_deref(),
            Some("{\"text\": {{ title | tojson }}}")
        );
        assert_eq!(ops.headers["X-Token"], "abc");
        assert_eq!(ops.timeout, Duration::from_secs(2));
        assert_eq!(c.channels["raw"].template, None);
        assert_eq!(c.backoff, Duration::from_millis(500));
        assert_eq!(c.max_age, Duration::from_secs(60));
        assert_eq!(conf("").unwrap(), AlertsConfig::default());
    }

    #[test]
    fn bad_values_name_the_key() {
        for text in [
            "alerts:\n  channels:\n    a: {type: email, url: http://x}\n",
            "alerts:\n  channels:\n    a: {url: ftp://x}\n",
            "alerts:\n  channels:\n    a: {url: http://x, template: /no/such/file.j2}\n",
            "alerts:\n  retry: {backoff: -1}\n",
            "alerts:\n  retyr: {}\n",
            "alerts:\n  channels:\n    ../x: {url: http://x}\n",
        ] {
            let e = conf(text).unwrap_err().to_string();
            assert!(e.contains("alerts"), "{text}: {e}");
        }
    }
}
