//! The engine with a fake clock (ms since the epoch passed in).

use serde_json::json;

use crate::item::{parse_cron, parse_date, Item, Trigger};
use crate::scheduler::{RunRecord, Scheduler, Source};

const T0: i64 = 1_800_000_000_000; // 2027-01-15T08:00:00Z

fn sched(items: serde_json::Value) -> Scheduler {
    let mut s = Scheduler::open(None, T0).unwrap();
    let errors = s.set_static(Source::Config, items.as_object().unwrap(), T0);
    assert!(errors.is_empty(), "{errors:?}");
    s
}

fn rec(due: i64, ended: i64, success: bool, attempt: u32) -> RunRecord {
    RunRecord {
        due,
        started: due,
        ended,
        success,
        retcode: if success { 0 } else { 1 },
        jid: None,
        attempt,
    }
}

#[test]
fn intervals_fire_on_a_grid() {
    let mut s = sched(json!({"j": {"function": "test.ping", "minutes": 1, "seconds": 30}}));
    assert_eq!(s.next_fire("j").unwrap(), Some(T0 + 90_000));
    assert!(s.due(T0 + 89_999).is_empty());
    let runs = s.due(T0 + 95_000);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].due, T0 + 90_000);
    // the next one is on the grid, not 90 s after the late loop
    assert_eq!(s.next_fire("j").unwrap(), Some(T0 + 180_000));
}

#[test]
fn cron_fires_at_the_next_match_in_its_time_zone() {
    let item = Item::parse(
        "c",
        &json!({"function": "test.ping", "cron": "30 9 * * *", "timezone": "Europe/Paris"}),
    )
    .unwrap();
    // 08:00Z is 09:00 in Paris (winter): 09:30 Paris is 08:30Z
    assert_eq!(item.next_after(T0), Some(T0 + 30 * 60_000));
    let utc = Item::parse(
        "c",
        &json!({"function": "test.ping", "cron": "*/15 * * * *", "timezone": "UTC"}),
    )
    .unwrap();
    assert_eq!(utc.next_after(T0), Some(T0 + 15 * 60_000));
    assert!(parse_cron("61 * * * *").is_err());
}

#[test]
fn when_dates_fire_once_each_then_never() {
    let mut s = sched(json!({"w": {"function": "test.ping", "timezone": "UTC",
        "when": ["2027-01-15 08:00:10", "01/15/2027 8:01am"]}}));
    assert_eq!(s.next_fire("w").unwrap(), Some(T0 + 10_000));
    assert_eq!(s.due(T0 + 10_000).len(), 1);
    s.finished("w", rec(T0 + 10_000, T0 + 10_500, true, 0));
    assert_eq!(s.next_fire("w").unwrap(), Some(T0 + 60_000));
    assert_eq!(s.due(T0 + 60_000).len(), 1);
    assert_eq!(s.next_fire("w").unwrap(), None);
    assert!(s.due(T0 + 1_000_000).is_empty());
}

#[test]
fn dates_in_common_forms() {
    let tz = Some(chrono_tz::UTC);
    for d in [
        "2027-01-15T08:00:00Z",
        "2027-01-15T08:00:00",
        "2027-01-15 08:00",
        "01/15/2027 8:00am",
        "01/15/2027 08:00 AM",
        "2027-01-15T09:00:00+01:00",
    ] {
        assert_eq!(parse_date(d, tz), Some(T0), "{d}");
    }
    assert_eq!(parse_date("not a date", tz), None);
}

#[test]
fn splay_stays_within_its_bounds() {
    let item = Item::parse(
        "s",
        &json!({"function": "test.ping", "seconds": 10, "splay": {"start": 2, "end": 5}}),
    )
    .unwrap();
    for _ in 0..200 {
        let ms = item.splay_ms();
        assert!((2000..=5000).contains(&ms), "{ms}");
    }
    let plain = Item::parse("s", &json!({"function": "f", "seconds": 1, "splay": 3})).unwrap();
    assert_eq!(plain.splay, Some((0, 3)));
}

#[test]
fn maxrunning_one_skips_a_run_while_one_is_going() {
    let mut s = sched(json!({"m": {"function": "test.sleep", "args": [5], "seconds": 2}}));
    assert_eq!(s.due(T0 + 2000).len(), 1);
    assert_eq!(s.running("m"), 1);
    // due again while the first still runs: skipped
    assert!(s.due(T0 + 4000).is_empty());
    assert_eq!(s.status("m").unwrap().skipped, 1);
    s.finished("m", rec(T0 + 2000, T0 + 5000, true, 0));
    assert_eq!(s.running("m"), 0);
    assert_eq!(s.due(T0 + 6000).len(), 1);
}

#[test]
fn maxrunning_two_allows_two() {
    let mut s = sched(json!({"m": {"function": "f", "seconds": 1, "maxrunning": 2}}));
    assert_eq!(s.due(T0 + 1000).len(), 1);
    assert_eq!(s.due(T0 + 2000).len(), 1);
    assert!(s.due(T0 + 3000).is_empty());
}

#[test]
fn failed_runs_are_retried_within_count_and_window() {
    let mut s = sched(json!({"r": {"function": "f", "hours": 1,
        "retry": {"count": 2, "window": 60, "delay": 10}}}));
    let due = T0 + 3_600_000;
    assert_eq!(s.due(due).len(), 1);
    s.finished("r", rec(due, due + 1000, false, 0));
    assert!(s.due(due + 5000).is_empty());
    let retry = s.due(due + 11_000);
    assert_eq!(retry.len(), 1);
    assert_eq!((retry[0].attempt, retry[0].reason), (1, "retry"));
    s.finished("r", rec(due, due + 12_000, false, 1));
    let retry = s.due(due + 22_000);
    assert_eq!(retry[0].attempt, 2);
    // count used up: no third retry
    s.finished("r", rec(due, due + 23_000, false, 2));
    assert_eq!(s.next_wake(due + 24_000), Some(due + 3_600_000));
    // the window bounds retries too
    let mut s = sched(json!({"r": {"function": "f", "hours": 1,
        "retry": {"count": 5, "window": 15, "delay": 10}}}));
    s.due(due);
    s.finished("r", rec(due, due + 6000, false, 0));
    assert!(s.due(due + 20_000).is_empty());
    // a success needs no retry
    s.due(due + 3_600_000);
    s.finished("r", rec(due + 3_600_000, due + 3_601_000, true, 0));
    assert_eq!(s.next_wake(due + 3_601_000), Some(due + 7_200_000));
}

/// A daemon stopped past a due time and started again.
fn restart(catch_up: serde_json::Value, down_for: i64) -> (usize, Scheduler) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("schedule.json");
    let item = json!({"b": {"function": "f", "seconds": 60, "catch_up": catch_up}});
    let mut s = Scheduler::open(Some(path.clone()), T0).unwrap();
    s.set_static(Source::Config, item.as_object().unwrap(), T0);
    assert_eq!(s.due(T0 + 60_000).len(), 1);
    s.finished("b", rec(T0 + 60_000, T0 + 61_000, true, 0));
    s.save().unwrap();
    drop(s);
    // down from T0+61s; the next due (T0+120s) passes while down
    let now = T0 + 61_000 + down_for;
    let mut s = Scheduler::open(Some(path), now).unwrap();
    s.set_static(Source::Config, item.as_object().unwrap(), now);
    let n = s.due(now).len();
    (n, s)
}

#[test]
fn catch_up_runs_a_missed_run_once_within_its_window() {
    let (n, s) = restart(json!(300), 200_000);
    assert_eq!(n, 1);
    assert_eq!(
        s.status("b").unwrap().last_run.as_ref().unwrap().ended,
        T0 + 61_000
    );
    // and the schedule goes on on its grid
    assert_eq!(s.next_fire("b").unwrap(), Some(T0 + 300_000));
}

#[test]
fn without_catch_up_or_past_its_window_a_missed_run_is_skipped() {
    assert_eq!(restart(json!(false), 200_000).0, 0);
    assert_eq!(restart(serde_json::Value::Null, 200_000).0, 0);
    let (n, s) = restart(json!(60), 200_000);
    assert_eq!(n, 0);
    assert_eq!(s.status("b").unwrap().skipped, 1);
}

#[test]
fn run_on_start_and_run_job_run_now() {
    let mut s = sched(
        json!({"a": {"function": "f", "hours": 1, "run_on_start": true},
        "d": {"function": "f", "hours": 1, "enabled": false}}),
    );
    let r = s.due(T0);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].reason, "run_on_start");
    s.run_job("d").unwrap();
    assert_eq!(s.due(T0 + 1)[0].name, "d");
    assert!(s.run_job("nope").is_err());
}

#[test]
fn runtime_items_and_disabled_state_persist() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    let mut s = Scheduler::open(Some(path.clone()), T0).unwrap();
    s.add("x", &json!({"function": "test.ping", "seconds": 5}), T0)
        .unwrap();
    assert!(s
        .add("x", &json!({"function": "test.ping", "seconds": 5}), T0)
        .is_err());
    s.set_job_enabled("x", false, T0).unwrap();
    s.save().unwrap();
    let s = Scheduler::open(Some(path), T0 + 1000).unwrap();
    let items = s.items();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].1["enabled"], json!(false));
    assert!(matches!(s.trigger("x"), Some(Trigger::Interval(5))));
}

#[test]
fn bad_items_name_the_key() {
    let e = Item::parse("j", &json!({"function": "f", "seconds": "x"})).unwrap_err();
    assert_eq!(e.key, "seconds");
    let e = Item::parse(
        "j",
        &json!({"function": "f", "seconds": 1, "timezone": "Mars/Base"}),
    )
    .unwrap_err();
    assert_eq!(e.key, "timezone");
    let e = Item::parse("j", &json!({"function": "f"})).unwrap_err();
    assert_eq!(e.key, "seconds");
    let e = Item::parse("j", &json!({"function": "f", "seconds": 1, "bogus": 1})).unwrap_err();
    assert_eq!(e.key, "bogus");
}
