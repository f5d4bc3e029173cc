//! Reboot, shut down, halt and power off: the `shutdown` command line for a
//! request, built apart from running it so tests never take a host down.
//! Every request must say when (a delay or `force`): a bare
//! `system.reboot` aimed at `'*'` is refused, not obeyed.

use super::run::Cmd;

/// What to do to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerAction {
    Reboot,
    Shutdown,
    Halt,
    Poweroff,
}

impl PowerAction {
    /// `system.<name>`.
    pub fn name(self) -> &'static str {
        match self {
            PowerAction::Reboot => "reboot",
            PowerAction::Shutdown => "shutdown",
            PowerAction::Halt => "halt",
            PowerAction::Poweroff => "poweroff",
        }
    }

    fn shutdown_flag(self) -> &'static str {
        match self {
            PowerAction::Reboot => "-r",
            PowerAction::Shutdown => "-h",
            PowerAction::Halt => "-H",
            PowerAction::Poweroff => "-P",
        }
    }
}

/// When to do it, as the caller said.
#[derive(Debug, Clone, Default)]
pub struct When {
    /// Salt's `at_time`: minutes from now, or a `hh:mm` / `+m` / `now` time.
    pub at_time: Option<String>,
    /// Seconds from now (rounded up to whole minutes: `shutdown` counts in
    /// minutes).
    pub in_seconds: Option<i64>,
    /// Do it now.
    pub force: bool,
}

/// The `shutdown` time argument for `at_time`.
fn time_spec(at_time: &str) -> Result<String, String> {
    let t = at_time.trim();
    if t == "now" {
        return Ok("now".to_string());
    }
    if let Ok(minutes) = t.trim_start_matches('+').parse::<u64>() {
        return Ok(if minutes == 0 {
            "now".to_string()
        } else {
            format!("+{minutes}")
        });
    }
    let clock = t.split_once(':').is_some_and(|(h, m)| {
        h.parse::<u8>().is_ok_and(|h| h < 24)
            && m.len() == 2
            && m.parse::<u8>().is_ok_and(|m| m < 60)
    });
    if clock {
        Ok(t.to_string())
    } else {
        Err(format!(
            "at_time '{at_time}' is not minutes, '+minutes', 'hh:mm' or 'now'"
        ))
    }
}

/// The command for `action` at `when`, or why it is refused.
pub fn plan(action: PowerAction, when: &When) -> Result<Cmd, String> {
    let name = action.name();
    let spec = match (&when.at_time, when.in_seconds) {
        (Some(_), Some(_)) => {
            return Err(format!(
                "system.{name}: give at_time or in_seconds, not both"
            ))
        }
        (Some(t), None) => Some(time_spec(t)?),
        (None, Some(s)) if s < 0 => {
            return Err(format!("system.{name}: in_seconds must not be negative"))
        }
        (None, Some(s)) => Some(match (s as u64).div_ceil(60) {
            0 => "now".to_string(),
            m => format!("+{m}"),
        }),
        (None, None) if when.force => None,
        (None, None) => {
            return Err(format!(
                "system.{name} refused: say when, so that a bare call cannot take hosts down by accident: \
                 give at_time=MINUTES (as Salt), in_seconds=SECONDS, or force=True to {name} now"
            ))
        }
    };
    Ok(match spec {
        Some(spec) => Cmd::new("shutdown").arg(action.shutdown_flag()).arg(spec),
        // now, with Salt's own commands
        None => match action {
            PowerAction::Reboot => Cmd::new("shutdown").args(["-r", "now"]),
            PowerAction::Shutdown => Cmd::new("shutdown").args(["-h", "now"]),
            PowerAction::Halt => Cmd::new("halt"),
            PowerAction::Poweroff => Cmd::new("poweroff"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(action: PowerAction, when: When) -> Result<String, String> {
        plan(action, &when).map(|c| c.display())
    }

    #[test]
    fn a_bare_call_is_refused_with_the_arguments_to_give() {
        let err = line(PowerAction::Reboot, When::default()).unwrap_err();
        assert!(err.starts_with("system.reboot refused: say when"), "{err}");
        assert!(
            err.contains("at_time=MINUTES")
                && err.contains("in_seconds=SECONDS")
                && err.contains("force=True")
        );
        assert!(line(PowerAction::Halt, When::default())
            .unwrap_err()
            .contains("force=True to halt now"));
    }

    #[test]
    fn command_lines() {
        let at = |t: &str| When {
            at_time: Some(t.into()),
            ..When::default()
        };
        assert_eq!(
            line(PowerAction::Reboot, at("5")).unwrap(),
            "shutdown -r +5"
        );
        assert_eq!(
            line(PowerAction::Shutdown, at("23:30")).unwrap(),
            "shutdown -h 23:30"
        );
        assert_eq!(
            line(PowerAction::Poweroff, at("0")).unwrap(),
            "shutdown -P now"
        );
        assert!(line(PowerAction::Reboot, at("soon")).is_err());
        assert!(line(PowerAction::Reboot, at("25:00")).is_err());
        let secs = |s: i64| When {
            in_seconds: Some(s),
            ..When::default()
        };
        assert_eq!(line(PowerAction::Halt, secs(61)).unwrap(), "shutdown -H +2");
        assert_eq!(
            line(PowerAction::Reboot, secs(0)).unwrap(),
            "shutdown -r now"
        );
        assert!(line(PowerAction::Reboot, secs(-1)).is_err());
        let force = When {
            force: true,
            ..When::default()
        };
        assert_eq!(
            line(PowerAction::Reboot, force.clone()).unwrap(),
            "shutdown -r now"
        );
        assert_eq!(line(PowerAction::Halt, force.clone()).unwrap(), "halt");
        assert_eq!(line(PowerAction::Poweroff, force).unwrap(), "poweroff");
        let both = When {
            at_time: Some("1".into()),
            in_seconds: Some(60),
            force: false,
        };
        assert!(line(PowerAction::Reboot, both)
            .unwrap_err()
            .contains("not both"));
    }
}
