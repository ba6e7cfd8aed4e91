//! The conformance suite on the dedup: every ending, acknowledgements of
//! repeats, backpressure, no task left behind.

use std::time::Duration;

use weir_core::Pipeline;
use weir_shape::{Dedup, DedupExt};
use weir_testkit::conformance;

#[test]
fn the_dedup_keeps_every_promise() {
    let dedup = || Dedup::by_key(|x: &u8| *x % 7).ttl(Duration::from_millis(5)).budget_bytes(1024);
    let passed = conformance::segment("dedup", move |p: Pipeline<u8>| p.dedup("dedup", dedup())).assert();
    assert_eq!(passed.unreached(), [], "promises no case reached in {} cases", passed.cases());
}

#[test]
fn the_router_keeps_every_promise() {
    let router = || {
        weir_shape::Router::new()
            .route("odd", |x: &u8| !x.is_multiple_of(2), weir_core::sink::collect().0)
            .route("big", |x: &u8| *x > 200, weir_core::sink::drain())
            .unmatched(weir_core::sink::collect().0)
    };
    let passed = conformance::sink("router", router).assert();
    assert_eq!(passed.unreached(), [], "promises no case reached in {} cases", passed.cases());
}

#[test]
fn the_window_keeps_every_promise() {
    // A window holds its items (and their acknowledgements) until it comes
    // out, so while the sink is stalled it may hold every item of a case.
    let window = || {
        weir_shape::Window::by_key(|x: &u8| *x % 3)
            .count()
            .tumbling(Duration::from_millis(5))
            .max_open(2)
            .on_overflow(weir_shape::Overflow::CloseEarliest)
    };
    let passed = conformance::segment("window", move |p: Pipeline<u8>| {
        weir_shape::WindowExt::window(p, "window", window()).discard_failures()
    })
    .max_items(24)
    .bound(24)
    .assert();
    assert_eq!(passed.unreached(), [], "promises no case reached in {} cases", passed.cases());
}
