//! The conformance suite (weir-testkit) on a fallible stage whose
//! failures go to dead letters, stored by a slow store on the route's own
//! task: every ending, acknowledgements once each (a dead letter's after
//! it is stored), no task left behind.

use std::time::Duration;

use weir_core::Pipeline;
use weir_core::sink;
use weir_deadletter::{DEFAULT_MAX_BATCH, DeadLetter, DeadLetterExt};
use weir_testkit::conformance;

#[derive(Debug, thiserror::Error)]
#[error("{0} is divisible by 3")]
struct Threes(u32);

#[test]
fn dead_letters_keep_every_promise() {
    let check = |x: u32| if x.is_multiple_of(3) { Err(Threes(x)) } else { Ok(x) };
    let store = || {
        sink::from_fn(|letter: DeadLetter<u32>| async move {
            tokio::time::sleep(Duration::from_millis(u64::from(*letter.item() % 4))).await;
            Ok::<_, std::convert::Infallible>(())
        })
    };
    let passed = conformance::segment("dead letters", move |p: Pipeline<u32>| {
        p.try_map("check", check).dead_letter(store())
    })
    .items(0..40u32)
    // Failures wait in groups of up to `max_batch` for the writer; a
    // group is handed on when the pipeline is idle, so while the sink is
    // stalled the stage holds the failures it pulled.
    .bound(DEFAULT_MAX_BATCH as u64)
    .assert();
    assert_eq!(passed.unreached(), [], "promises no case reached in {} cases", passed.cases());
}
