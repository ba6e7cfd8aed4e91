//! The stage keeps every promise of a weir stage: one line per check,
//! from the testkit's conformance suite.

use weir_dedup::Dedup;
use weir_testkit::conformance;

#[test]
fn dedup_keeps_every_promise() {
    conformance::check(|| Dedup::by_key("dedup", 4, |x: &u64| *x));
}

#[test]
fn every_promise_is_reached_with_repeated_keys() {
    // Keys from a small range repeat, so items are dropped (and counted)
    // as well as passed on.
    let passed = conformance::stage(|| Dedup::by_key("dedup", 3, |x: &u8| x % 4)).items(0..8u8).assert();
    assert_eq!(passed.unreached(), [], "promises no case reached in {} cases", passed.cases());
}
