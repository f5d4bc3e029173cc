//! The event bus's bound (`event_bus_max_bytes`) is the memory its ring
//! really holds, measured by a counting allocator (its own test binary, so
//! nothing else allocates while it counts): before this was checked, the
//! ring counted an event's encoded size plus 256 bytes, and a ring bounded
//! at 64 MiB held over 250 MiB of small minion events.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use brine_master::events::EventBus;
use serde_json::json;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// A global allocator is unsafe by definition; this one only counts and
// hands every call to the system's.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Bytes requested from the allocator, live now (malloc's own headers
/// and rounding are not in it; the bus's estimate includes them).
fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// A minion's custom event as the master puts it on the bus.
fn minion_event(i: u64) -> serde_json::Value {
    json!({"id": format!("bench-{:03}", i % 1000), "cmd": "_minion_event",
           "tag": "bench/event", "data": {"n": i, "sent_at": 1.7e9}, "pretag": null})
}

#[test]
fn the_ring_holds_no_more_memory_than_its_bound() {
    // One test in this binary: no other thread allocates while it counts.
    let bound = 4 << 20;
    let bus = EventBus::new(bound, 1 << 20);
    let before = live();
    for i in 0..50_000u64 {
        bus.fire_keyed(
            "bench/event",
            minion_event(i),
            Some(format!("bench-{:03}/{:032x}", i % 1000, i)),
        );
        if i % 10 == 0 {
            bus.fire(
                format!("brine/beacon/bench-{:03}/diskusage//", i % 1000),
                json!({"diskusage": 95.0, "mount": "/", "id": "bench-001"}),
            );
        }
    }
    let held = (live() - before) as usize;
    let (events, counted) = bus.held();
    assert!(counted <= bound);
    // full: the ring pushed events out
    assert!(events < 50_000, "{events}");
    // the real memory is within the bound (the estimate counts malloc's
    // headers, which the counter does not see), and not far below it
    assert!(held <= bound, "held {held} bytes for a bound of {bound}");
    assert!(
        held >= bound / 2,
        "held {held} bytes for a bound of {bound}"
    );
}
