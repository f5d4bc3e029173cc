//! `status.*`: uptime, load and memory, in the shapes Salt's `status` module
//! returns on Linux, read from /proc (Salt also runs `who` for `users`; Brine
//! counts the login records in utmp, which is what `who` reads).

use serde_json::{json, Map, Value};

use crate::grains::time::iso_utc;
use crate::registry::{Args, CallCtx, FunctionSpec, ModError, ModFuture, ModOutput};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "status.loadavg",
        doc: "Return the load averages: {\"1-min\": ..., \"5-min\": ..., \"15-min\": ...}.",
        cli_example: "brine '*' status.loadavg",
        run: loadavg,
    },
    FunctionSpec {
        name: "status.meminfo",
        doc: "Return /proc/meminfo: {\"MemTotal\": {\"value\": \"16318292\", \"unit\": \"kB\"}, ...}.\n\n\
              Values are strings; `unit` is absent for counts such as HugePages_Total, as in Salt.",
        cli_example: "brine '*' status.meminfo",
        run: meminfo,
    },
    FunctionSpec {
        name: "status.uptime",
        doc: "Return how long the host has been up: {seconds, since_iso, since_t, days, time, users}.\n\n\
              `since_iso` and `since_t` give the boot time (UTC, epoch seconds), `time` is \"H:M\" past\n\
              the days (minutes not padded, as Salt prints them), `users` counts login sessions in utmp.",
        cli_example: "brine '*' status.uptime",
        run: uptime,
    },
];

fn read_proc(path: &str) -> Result<String, ModError> {
    std::fs::read_to_string(path).map_err(|e| ModError::Failed(format!("cannot read {path}: {e}")))
}

fn uptime(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        args.parser().finish()?;
        let text = read_proc("/proc/uptime")?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| ModError::Failed(format!("clock before 1970: {e}")))?;
        let mut v = uptime_value(&text, now.as_secs() as i64, now.subsec_micros())
            .ok_or_else(|| ModError::Failed("cannot parse /proc/uptime".into()))?;
        let users = ["/run/utmp", "/var/run/utmp"]
            .iter()
            .find_map(|p| std::fs::read(p).ok())
            .map_or(0, |b| count_user_sessions(&b));
        v["users"] = json!(users);
        Ok(ModOutput::from(v))
    })
}

/// Salt's uptime mapping, without `users`: `seconds` whole seconds up,
/// `since_t`/`since_iso` the boot time, `days` and `time` ("H:M", minutes
/// not padded, exactly as Salt formats it).
fn uptime_value(proc_uptime: &str, now_secs: i64, now_micros: u32) -> Option<Value> {
    let seconds = crate::grains::parse_uptime(proc_uptime)? as i64;
    let since = now_secs - seconds;
    let days = seconds / 86_400;
    let rest = seconds % 86_400;
    Some(json!({
        "seconds": seconds,
        "since_iso": iso_utc(since, now_micros),
        "since_t": since,
        "days": days,
        "time": format!("{}:{}", rest / 3600, rest % 3600 / 60),
    }))
}

/// Login sessions in a utmp file: records of type USER_PROCESS (7) with a
/// user name, as `who` lists them. Linux's record is 384 bytes: `ut_type`
/// (i16) at offset 0, `ut_user` at 44.
fn count_user_sessions(utmp: &[u8]) -> usize {
    const RECORD: usize = 384;
    const USER_PROCESS: i16 = 7;
    utmp.chunks_exact(RECORD)
        .filter(|r| i16::from_ne_bytes([r[0], r[1]]) == USER_PROCESS && r[44] != 0)
        .count()
}

fn loadavg(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        args.parser().finish()?;
        let text = read_proc("/proc/loadavg")?;
        let v = parse_loadavg(&text)
            .ok_or_else(|| ModError::Failed("cannot parse /proc/loadavg".into()))?;
        Ok(ModOutput::from(v))
    })
}

/// "0.52 0.58 0.59 1/467 12345" -> `{"1-min": 0.52, "5-min": 0.58, "15-min": 0.59}`.
fn parse_loadavg(text: &str) -> Option<Value> {
    let mut it = text.split_whitespace().map(|w| w.parse::<f64>().ok());
    let (a, b, c) = (it.next()??, it.next()??, it.next()??);
    Some(json!({"1-min": a, "5-min": b, "15-min": c}))
}

fn meminfo(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        args.parser().finish()?;
        let text = read_proc("/proc/meminfo")?;
        Ok(ModOutput::from(parse_meminfo(&text)))
    })
}

/// Salt's `status.meminfo` on Linux.
fn parse_meminfo(text: &str) -> Value {
    let mut out = Map::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(key), Some(value)) = (words.next(), words.next()) else {
            continue;
        };
        let mut entry = Map::new();
        entry.insert("value".into(), json!(value));
        if let Some(unit) = words.next() {
            entry.insert("unit".into(), json!(unit));
        }
        out.insert(key.replace(':', ""), Value::Object(entry));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_as_salt() {
        // Up 2 days, 3 hours, 5 minutes and 9 seconds.
        let up = 2 * 86_400 + 3 * 3600 + 5 * 60 + 9;
        let v = uptime_value(&format!("{up}.42 1000.00\n"), 1_714_736_472, 250_000).unwrap();
        assert_eq!(
            v,
            json!({
                "seconds": up,
                "since_iso": "2024-05-01T08:36:03.250000",
                "since_t": 1_714_736_472 - up,
                "days": 2,
                "time": "3:5",
            })
        );
        assert!(uptime_value("", 0, 0).is_none());
    }

    #[test]
    fn utmp_counts_user_processes() {
        let mut file = vec![0u8; 384 * 3];
        // A boot record, a logged-in user, a dead process.
        file[0..2].copy_from_slice(&2i16.to_ne_bytes());
        file[384..386].copy_from_slice(&7i16.to_ne_bytes());
        file[384 + 44] = b'r';
        file[768..770].copy_from_slice(&8i16.to_ne_bytes());
        assert_eq!(count_user_sessions(&file), 1);
        assert_eq!(count_user_sessions(&[]), 0);
    }

    #[test]
    fn loadavg_and_meminfo() {
        assert_eq!(
            parse_loadavg("0.52 0.58 0.59 1/467 12345\n").unwrap(),
            json!({"1-min": 0.52, "5-min": 0.58, "15-min": 0.59})
        );
        assert!(parse_loadavg("x").is_none());
        let v = parse_meminfo("MemTotal:       16318292 kB\nHugePages_Total:       0\n\n");
        assert_eq!(
            v,
            json!({
                "MemTotal": {"value": "16318292", "unit": "kB"},
                "HugePages_Total": {"value": "0"}
            })
        );
    }

    #[test]
    fn functions_are_sorted_and_documented() {
        let names: Vec<_> = FUNCTIONS.iter().map(|f| f.name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert!(FUNCTIONS
            .iter()
            .all(|f| f.name.starts_with("status.") && f.cli_example.contains(f.name)));
    }

    /// Through the registry, as a job would call them.
    #[tokio::test]
    async fn registered_and_runnable() {
        for name in ["status.uptime", "status.loadavg", "status.meminfo"] {
            let f = crate::registry::lookup(name).expect("registered");
            let out = (f.run)(crate::registry::test_ctx(), Args::default())
                .await
                .expect(name);
            assert!(out.value.is_object(), "{name}: {}", out.value);
            assert_eq!(out.retcode, 0);
        }
        let f = crate::registry::lookup("status.loadavg").expect("registered");
        let args = Args {
            arg: vec![json!(1)],
            kwarg: Default::default(),
        };
        let res = (f.run)(crate::registry::test_ctx(), args).await;
        assert!(matches!(res, Err(ModError::BadArguments(_))));
    }
}
