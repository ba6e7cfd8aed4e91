//! The conformance suite on every stage weir-core ships, each over
//! items, schedules and endings the suite generates. A promise that no
//! case reached would be a test that cannot fail, so each test also
//! checks that every promise was checked.

use std::time::Duration;

use weir_core::Pipeline;
use weir_core::sink;
use weir_testkit::conformance::{self, Passed};

#[derive(Debug, thiserror::Error)]
#[error("{0} is divisible by 5")]
struct Fives(u32);

fn no_fives(x: u32) -> Result<u32, Fives> {
    if x.is_multiple_of(5) { Err(Fives(x)) } else { Ok(x) }
}

/// Every promise the subject makes was checked by some case.
#[track_caller]
fn every_promise(passed: Passed) {
    assert_eq!(passed.unreached(), [], "promises no case reached in {} cases", passed.cases());
}

#[test]
fn map() {
    every_promise(
        conformance::segment("map", |p: Pipeline<u32>| p.map("map", |x| x.wrapping_mul(3))).assert(),
    );
}

#[test]
fn filter() {
    every_promise(
        conformance::segment("filter", |p: Pipeline<u32>| p.filter("filter", |x| x % 3 != 0)).assert(),
    );
}

#[test]
fn inspect() {
    every_promise(conformance::segment("inspect", |p: Pipeline<u32>| p.inspect("inspect", |_| ())).assert());
}

#[test]
fn then() {
    let slow = |x: u32| async move {
        tokio::time::sleep(Duration::from_millis(u64::from(x % 4))).await;
        x
    };
    every_promise(conformance::segment("then", move |p: Pipeline<u32>| p.then("then", slow)).assert());
}

#[test]
fn try_map() {
    every_promise(
        conformance::segment("try_map", |p: Pipeline<u32>| p.try_map("try_map", no_fives).discard_failures())
            .items(0..40u32)
            .assert(),
    );
}

#[test]
fn try_map_halting() {
    // The first failure stops intake; the run ends with it returned.
    every_promise(
        conformance::segment("try_map", |p: Pipeline<u32>| p.try_map("try_map", no_fives).halt_on_error())
            .items(0..40u32)
            .assert(),
    );
}

#[test]
fn try_map_ref() {
    let f = |x: &u32| no_fives(*x);
    every_promise(
        conformance::segment("try_map_ref", move |p: Pipeline<u32>| {
            p.try_map_ref("try_map_ref", f).discard_failures()
        })
        .items(0..40u32)
        .assert(),
    );
}

#[test]
fn try_then() {
    let f = |x: u32| async move {
        tokio::time::sleep(Duration::from_millis(u64::from(x % 3))).await;
        no_fives(x)
    };
    every_promise(
        conformance::segment("try_then", move |p: Pipeline<u32>| {
            p.try_then("try_then", f).discard_failures()
        })
        .items(0..40u32)
        .assert(),
    );
}

#[test]
fn batch() {
    every_promise(
        conformance::segment("batch", |p: Pipeline<u32>| p.batch("batch", 4, Duration::from_millis(50)))
            .bound(3)
            .assert(),
    );
}

#[test]
fn buffer() {
    // The queue, and the one item that waits for room.
    every_promise(conformance::segment("buffer", |p: Pipeline<u32>| p.buffer("buffer", 6)).bound(7).assert());
}

#[test]
fn sinks() {
    every_promise(conformance::sink("collect", || sink::collect::<u32>().0).assert());
    every_promise(conformance::sink::<u32, _, _>("drain", sink::drain).assert());
    let slow = |x: u32| async move {
        tokio::time::sleep(Duration::from_millis(u64::from(x % 3))).await;
        Ok::<_, std::convert::Infallible>(())
    };
    every_promise(conformance::sink("from_fn", move || sink::from_fn(slow)).assert());
    every_promise(conformance::sink("runs", || Runs).assert());
}

#[derive(Debug, thiserror::Error)]
#[error("{0} is refused")]
struct Refused(u32);

/// Takes runs of at most 7 items (waiting a little before some), and
/// gives back the items that are 36 mod 37 with an error.
struct Runs;

impl weir_core::Sink<u32> for Runs {
    type Error = Refused;

    async fn send(&mut self, _: u32) -> Result<(), weir_core::SinkError<u32, Refused>> {
        Ok(())
    }

    async fn send_chunk(
        &mut self,
        items: &mut sink::SendChunk<'_, u32>,
    ) -> Result<(), weir_core::SinkError<u32, Refused>> {
        if items.len().is_multiple_of(2) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        for x in items.take(7) {
            if x % 37 == 36 {
                return Err(weir_core::SinkError::with_item(Refused(x), x));
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Refused> {
        Ok(())
    }
}
