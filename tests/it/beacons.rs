//! Beacons on a real minion, seen on the master's bus through `brine-run
//! state.event`: a memory threshold crossed before the minion is
//! connected (the event waits in its queue), a file created in a watched
//! directory and a disk usage threshold crossed (the threshold lowered at
//! runtime with `beacons.modify`) each give exactly one event, with Salt's
//! data, while the condition that caused it lasts.

use std::time::Duration;

use brine_tests::events::{EventStream, SeenEvent};
use brine_tests::Cluster;
use serde_json::json;

/// Waits `n` beacon intervals (1 s each here), so that a beacon that would
/// fire on every evaluation would have fired again.
fn let_intervals_pass(n: u64) {
    std::thread::sleep(Duration::from_secs(n));
}

fn count(stream: &EventStream, glob: &str, pred: impl Fn(&SeenEvent) -> bool) -> usize {
    stream.matching(glob).iter().filter(|e| pred(e)).count()
}

#[test]
fn a_crossing_gives_one_event_on_the_masters_bus() {
    let watched = tempfile::tempdir().unwrap();
    let w = watched.path().display().to_string();
    let beacons = format!(
        "beacons:\n\
         \x20 watch:\n\
         \x20   - beacon_module: inotify\n\
         \x20   - files: {{'{w}': {{mask: [create]}}}}\n\
         \x20   - interval: 1\n\
         \x20 diskusage:\n\
         \x20   - /: 100%\n\
         \x20   - interval: 1\n\
         \x20 memusage:\n\
         \x20   - percent: 0%\n\
         \x20   - interval: 1\n"
    );
    let c = Cluster::builder().minion_with("m1", "", &beacons).start();
    let bus = EventStream::start(&c.master_conf(), Some("brine/beacon/*"));
    // memusage is over 0 % from the minion's first evaluation, before its
    // key is accepted: the event waits in the minion's queue and reaches
    // the bus once it is connected, once.
    c.accept_all();
    c.wait_answering(&["m1"]);
    let ev = bus.wait_tag("brine/beacon/m1/memusage/");
    assert!(ev.data["memusage"].as_f64().is_some(), "{:?}", ev.data);

    let (out, listed) = c.brine_json(&["m1", "beacons.list", "return_yaml=False"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        listed["m1"]["diskusage"],
        json!([{"/": "100%"}, {"interval": 1}])
    );

    // A file appears in the watched directory: one event, Salt's data.
    let file = format!("{w}/hello.txt");
    std::fs::write(&file, "hi").unwrap();
    let ev = bus.wait_tag(&format!("brine/beacon/m1/watch/{w}"));
    assert_eq!(ev.data["path"], json!(file));
    assert_eq!(ev.data["change"], "IN_CREATE");
    assert_eq!(ev.data["id"], "m1");
    let_intervals_pass(3);
    let is_hello = |e: &SeenEvent| e.data["path"] == json!(file);
    assert_eq!(count(&bus, "brine/beacon/m1/watch/*", is_hello), 1);

    // Under 100 %: nothing. The threshold lowered to 0 % at runtime: the
    // usage is above it from the next evaluation on, and that is one event.
    assert_eq!(count(&bus, "brine/beacon/m1/diskusage/*", |_| true), 0);
    let (out, modified) = c.brine_json(&[
        "m1",
        "beacons.modify",
        "diskusage",
        "[{'/': '0%'}, {'interval': 1}]",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(modified["m1"]["result"], json!(true), "{modified}");
    let ev = bus.wait_tag("brine/beacon/m1/diskusage//");
    assert_eq!(ev.data["mount"], "/");
    let usage = ev.data["diskusage"].as_f64().expect("a percentage");
    assert!((0.0..=100.0).contains(&usage), "{usage}");
    let_intervals_pass(4);
    assert_eq!(
        count(&bus, "brine/beacon/m1/diskusage/*", |_| true),
        1,
        "one event per crossing, none while above: {:?}",
        bus.matching("brine/beacon/m1/diskusage/*")
    );
    assert_eq!(count(&bus, "brine/beacon/m1/memusage/*", |_| true), 1);

    // Disabled, the watch stops; enabled again, it reports the next file.
    let (_, off) = c.brine_json(&["m1", "beacons.disable_beacon", "watch"]);
    assert_eq!(off["m1"]["comment"], "Disabled beacon watch on minion.");
    let_intervals_pass(2);
    std::fs::write(format!("{w}/unseen.txt"), "x").unwrap();
    let (_, on) = c.brine_json(&["m1", "beacons.enable_beacon", "watch"]);
    assert_eq!(on["m1"]["result"], json!(true));
    let_intervals_pass(3);
    std::fs::write(format!("{w}/seen.txt"), "x").unwrap();
    bus.wait(Duration::from_secs(20), |e| {
        e.data["path"] == json!(format!("{w}/seen.txt"))
    });
    assert_eq!(
        count(&bus, "brine/beacon/m1/watch/*", |e| e.data["path"]
            == json!(format!("{w}/unseen.txt"))),
        0
    );
}
