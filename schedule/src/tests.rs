use super::*;
use serde_json::json;

const T0: i64 = 1_796_000_000_000; // a fixed "now"

fn sched(items: Value, path: Option<&Path>) -> Scheduler {
    Scheduler::load(path, items.as_object().unwrap(), T0)
}

#[test]
fn intervals_fire_each_period_and_maxrunning_never_overlaps() {
    let mut s = sched(
        json!({"backup": {"function": "test.sleep", "seconds": 10}}),
        None,
    );
    assert!(s.start(T0).is_empty(), "not at start without run_on_start");
    assert!(s.tick(T0 + 9_000).is_empty());
    let due = s.tick(T0 + 10_000);
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].reason, "scheduled");
    s.started(&due[0], T0 + 10_000);
    // Still running at the next due time: skipped, not overlapped.
    assert!(s.tick(T0 + 20_000).is_empty());
    assert_eq!(
        s.run_state("backup").unwrap().last_skipped_ms,
        Some(T0 + 20_000)
    );
    s.finished("backup", true, T0 + 25_000);
    assert_eq!(s.tick(T0 + 30_000).len(), 1);
}

#[test]
fn cron_when_and_timezones() {
    let (item, _) = Item::parse(
        "c",
        &json!({"function": "f", "cron": "30 2 * * *", "timezone": "Europe/Paris"}),
    )
    .unwrap();
    // 2026-12-04 00:00 UTC -> next 02:30 Paris (UTC+1) = 01:30 UTC.
    let midnight = chrono::DateTime::parse_from_rfc3339("2026-12-04T00:00:00Z")
        .unwrap()
        .timestamp_millis();
    let next = item.next_after(midnight, midnight).unwrap();
    assert_eq!(next - midnight, 90 * 60_000);
    let (item, _) = Item::parse(
        "w",
        &json!({"function": "f", "when": ["2026-12-24T03:00:00", "12/31/2026 11:00pm"]}),
    )
    .unwrap();
    let xmas = chrono::DateTime::parse_from_rfc3339("2026-12-24T03:00:00Z")
        .unwrap()
        .timestamp_millis();
    assert_eq!(item.next_after(midnight, midnight), Some(xmas));
    assert!(item.next_after(xmas, midnight).unwrap() > xmas);
    assert_eq!(
        item.next_after(xmas + 30 * 86_400_000, midnight),
        None,
        "each date runs once"
    );
    assert!(Item::parse("x", &json!({"function": "f"}))
        .unwrap_err()
        .contains("nothing of when"));
    assert!(Item::parse("x", &json!({"function": "f", "cron": "* *"}))
        .unwrap_err()
        .contains("five fields"));
    assert!(Item::parse(
        "x",
        &json!({"function": "f", "seconds": 5, "timezone": "Mars/Base"})
    )
    .unwrap_err()
    .contains("timezone"));
    let (_, warnings) =
        Item::parse("x", &json!({"function": "f", "seconds": 5, "range": {}})).unwrap();
    assert!(warnings[0].contains("'range'"), "{warnings:?}");
}

#[test]
fn splay_stays_within_bounds() {
    let (item, _) = Item::parse(
        "s",
        &json!({"function": "f", "seconds": 60, "splay": {"start": 5, "end": 10}}),
    )
    .unwrap();
    for _ in 0..200 {
        let ms = item.splay_ms();
        assert!((5_000..=10_000).contains(&ms), "{ms}");
    }
}

#[test]
fn failed_runs_are_retried_within_the_window() {
    let mut s = sched(
        json!({"j": {"function": "f", "minutes": 10, "retry": {"count": 2, "delay": 5, "window": 60}}}),
        None,
    );
    s.start(T0);
    let due = s.tick(T0 + 600_000);
    s.started(&due[0], T0 + 600_000);
    s.finished("j", false, T0 + 601_000);
    assert!(s.tick(T0 + 604_000).is_empty());
    let retry = s.tick(T0 + 606_000);
    assert_eq!((retry.len(), retry[0].reason), (1, "retry"));
    s.started(&retry[0], T0 + 606_000);
    s.finished("j", false, T0 + 607_000);
    let again = s.tick(T0 + 612_000);
    assert_eq!(again.len(), 1);
    s.started(&again[0], T0 + 612_000);
    s.finished("j", false, T0 + 613_000);
    assert!(s.tick(T0 + 620_000).is_empty(), "two retries, no more");
}

#[test]
fn missed_runs_are_caught_up_within_the_window_or_skipped_and_state_persists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("schedule.json");
    let items = json!({
        "backup": {"function": "f", "hours": 1, "catch_up": 7200},
        "check": {"function": "f", "hours": 1},
    });
    let mut s = sched(items.clone(), Some(&path));
    s.start(T0);
    s.add("later", json!({"function": "g", "minutes": 5}), T0)
        .unwrap();
    s.save().unwrap();
    // The daemon is down for 90 minutes: both items missed a run.
    let later = T0 + 90 * 60_000;
    let mut s = sched(items.clone(), Some(&path));
    let due = s.start(later);
    let names: Vec<&str> = due.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        ["backup"],
        "caught up within catch_up; check skipped"
    );
    assert_eq!(due[0].reason, "catch_up");
    assert_eq!(
        s.run_state("check").unwrap().last_skipped_ms,
        Some(T0 + 3_600_000)
    );
    assert!(s.has("later"), "runtime items persist");
    s.save().unwrap();
    // Down for four hours: beyond the catch_up window too.
    let mut s = sched(items, Some(&path));
    let due = s.start(later + 4 * 3_600_000);
    assert!(due.is_empty(), "{due:?}");
}

#[test]
fn runtime_changes_and_listing() {
    let mut s = sched(json!({"a": {"function": "test.ping", "seconds": 30}}), None);
    s.start(T0);
    assert!(s
        .add("a", json!({"function": "x", "seconds": 1}), T0)
        .is_err());
    let diff = s
        .modify("a", json!({"seconds": 60}).as_object().unwrap(), T0)
        .unwrap();
    assert_eq!(diff["new"]["seconds"], 60);
    s.set_job_enabled("a", false, T0).unwrap();
    assert!(s.tick(T0 + 3_600_000).is_empty(), "disabled");
    assert!(s.run_now("a", false).is_err());
    assert_eq!(s.run_now("a", true).unwrap().reason, "run_job");
    let listed = s.list();
    assert_eq!(listed["a"]["enabled"], false);
    s.delete("a").unwrap();
    assert!(s.list().is_empty());
    assert!(matches!(s.delete("a"), Err(ScheduleError::Unknown(_))));
    s.set_enabled(false);
    assert!(!s.enabled());
}
