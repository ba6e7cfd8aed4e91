//! Sinks that take runs of items (`Sink::send_chunk`) keep every promise of
//! a sink taking one item at a time: order, acknowledgements after the
//! flush only, a refused item routed or returned with its error, the items
//! not taken offered again, and a report that adds up.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use common::acking;
use proptest::prelude::*;
use weir_core::Sink;
use weir_core::prelude::*;
use weir_core::sink::{BoxSink, BoxSinkError, SendChunk};

#[derive(Debug, thiserror::Error)]
#[error("row {0} is refused: the table's check failed")]
struct Refused(u32);

/// Takes at most `most` items a call, refuses (and gives back) the items
/// in `refuse`, and stores what it took at its flush.
struct Chunked {
    most: usize,
    refuse: BTreeSet<u32>,
    buffer: Vec<u32>,
    stored: Arc<Mutex<Vec<u32>>>,
    calls: Arc<Mutex<Vec<usize>>>,
}

impl Chunked {
    fn new(most: usize, refuse: impl IntoIterator<Item = u32>) -> (Self, Arc<Mutex<Vec<u32>>>) {
        let stored = Arc::new(Mutex::new(Vec::new()));
        let sink = Self {
            most,
            refuse: refuse.into_iter().collect(),
            buffer: Vec::new(),
            stored: stored.clone(),
            calls: Arc::default(),
        };
        (sink, stored)
    }
}

impl Sink<u32> for Chunked {
    type Error = Refused;

    async fn send(&mut self, item: u32) -> Result<(), SinkError<u32, Refused>> {
        if self.refuse.contains(&item) {
            return Err(SinkError::with_item(Refused(item), item).with_class(ErrorClass::Permanent));
        }
        self.buffer.push(item);
        Ok(())
    }

    async fn send_chunk(&mut self, items: &mut SendChunk<'_, u32>) -> Result<(), SinkError<u32, Refused>> {
        self.calls.lock().unwrap().push(items.len());
        for item in items.take(self.most) {
            if self.refuse.contains(&item) {
                return Err(SinkError::with_item(Refused(item), item).with_class(ErrorClass::Permanent));
            }
            self.buffer.push(item);
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Refused> {
        self.stored.lock().unwrap().append(&mut self.buffer);
        Ok(())
    }
}

/// Collects the routed failures' items.
fn route() -> (impl weir_core::FailureRoute<u32, Refused>, Arc<Mutex<Vec<u32>>>) {
    let routed = Arc::new(Mutex::new(Vec::new()));
    let log = routed.clone();
    let route = weir_core::route::from_fn(move |failure: Failure<u32, Refused>, _| {
        log.lock().unwrap().push(*failure.item());
        failure.settle(Settled::Discarded);
        std::future::ready(())
    });
    (route, routed)
}

#[tokio::test]
async fn every_item_is_taken_in_runs_and_stored_in_order() {
    let (sink, stored) = Chunked::new(usize::MAX, []);
    let calls = sink.calls.clone();
    let report = Pipeline::from_iter(0..5000u32).sink(sink).run().await.expect("runs");
    assert_eq!(*stored.lock().unwrap(), (0..5000).collect::<Vec<_>>());
    assert_eq!(report.delivered(), 5000);
    assert!(report.is_conserved(), "{report}");
    let calls = calls.lock().unwrap();
    assert!(calls.len() < 5000 / 8, "runs, not items: {} calls for 5000 items", calls.len());
}

#[tokio::test]
async fn items_a_sink_does_not_take_are_offered_again() {
    let (sink, stored) = Chunked::new(3, []);
    let calls = sink.calls.clone();
    let report = Pipeline::from_iter(0..100u32).sink(sink).run().await.expect("runs");
    assert_eq!(*stored.lock().unwrap(), (0..100).collect::<Vec<_>>());
    assert_eq!(report.delivered(), 100);
    let calls = calls.lock().unwrap();
    assert!(calls.len() >= 100 / 3, "at most 3 a call: {} calls", calls.len());
    assert!(calls.windows(2).any(|w| w[1] + 3 == w[0]), "a call offered what the last left: {calls:?}");
}

#[tokio::test]
async fn a_refused_item_is_routed_and_the_rest_of_its_run_is_stored() {
    let (sink, stored) = Chunked::new(usize::MAX, [3, 4, 50]);
    let (route, routed) = route();
    let report =
        Pipeline::from_iter(0..100u32).sink_routing_failures("table", sink, route).run().await.expect("runs");
    let expected: Vec<u32> = (0..100).filter(|i| ![3, 4, 50].contains(i)).collect();
    assert_eq!(*stored.lock().unwrap(), expected);
    assert_eq!(*routed.lock().unwrap(), [3, 4, 50]);
    assert_eq!((report.delivered(), report.discarded()), (97, 3));
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test]
async fn a_refused_item_without_a_route_ends_the_run_with_the_item_and_what_was_sent_is_stored() {
    let (sink, stored) = Chunked::new(usize::MAX, [7]);
    let err = Pipeline::from_iter(0..100u32).sink(sink).run().await.unwrap_err();
    let RunError::Sink { error, item, returned, report, .. } = err else {
        panic!("not a sink error: {err:?}")
    };
    assert!(error.to_string().contains("row 7"), "{error}");
    assert_eq!(item.and_then(|i| i.downcast::<u32>().ok()).map(|i| *i), Some(7));
    assert_eq!(returned, 1);
    assert_eq!(*stored.lock().unwrap(), (0..7).collect::<Vec<_>>(), "the items before it were flushed");
    assert_eq!(report.delivered(), 7);
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test]
async fn acknowledgements_fire_for_stored_items_only_after_the_flush() {
    let (source, acks) = acking(futures::stream::iter(0..64u64));
    let (sink, stored) = Chunked::new(5, [10, 11]);
    let (route, _routed) = route();
    let report = Pipeline::from_acked(source)
        .map("narrow", |x| x as u32)
        .sink_routing_failures("table", sink, route)
        .run()
        .await
        .expect("runs");
    let fired: BTreeSet<u64> = acks.fired().into_iter().collect();
    assert_eq!(fired, (0..64).collect(), "stored and discarded items are final");
    assert_eq!(stored.lock().unwrap().len(), 62);
    assert_eq!((report.delivered(), report.discarded()), (62, 2));
}

/// Fails before it takes anything.
struct Down;

impl Sink<u32> for Down {
    type Error = Refused;

    async fn send(&mut self, _: u32) -> Result<(), SinkError<u32, Refused>> {
        Err(SinkError::lost(Refused(0)))
    }

    async fn send_chunk(&mut self, _: &mut SendChunk<'_, u32>) -> Result<(), SinkError<u32, Refused>> {
        Err(SinkError::lost(Refused(0)))
    }

    async fn flush(&mut self) -> Result<(), Refused> {
        Ok(())
    }
}

#[tokio::test]
async fn a_sink_that_fails_before_taking_anything_ends_the_run_and_loses_no_item() {
    let (source, acks) = acking(futures::stream::iter(0..10u64));
    let err = Pipeline::from_acked(source).map("narrow", |x| x as u32).sink(Down).run().await.unwrap_err();
    let RunError::Sink { item, returned, report, .. } = err else { panic!("not a sink error: {err:?}") };
    assert!(item.is_none());
    assert_eq!((returned, report.delivered()), (0, 0), "nothing was taken, so nothing is returned");
    assert!(report.is_conserved(), "{report}");
    assert!(acks.fired().is_empty(), "no item reached a final outcome");
}

/// Returns `Ok` without taking anything: a broken sink.
struct Idle;

impl Sink<u32> for Idle {
    type Error = Refused;

    async fn send(&mut self, _: u32) -> Result<(), SinkError<u32, Refused>> {
        Ok(())
    }

    async fn send_chunk(&mut self, _: &mut SendChunk<'_, u32>) -> Result<(), SinkError<u32, Refused>> {
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Refused> {
        Ok(())
    }
}

#[tokio::test]
async fn a_sink_that_takes_nothing_and_says_ok_is_a_loud_error_not_a_hang() {
    let err = Pipeline::from_iter(0..10u32).sink(Idle).run().await.unwrap_err();
    assert!(err.to_string().contains("take at least one item"), "{err}");
}

#[tokio::test]
async fn a_boxed_sink_takes_runs_too() {
    let (sink, stored) = Chunked::new(usize::MAX, [2]);
    let calls = sink.calls.clone();
    let routed = Arc::new(Mutex::new(Vec::new()));
    let log = routed.clone();
    let route = weir_core::route::from_fn(move |failure: Failure<u32, BoxSinkError>, _| {
        let cause = failure.cause().error().map(|e| e.get_ref().is::<Refused>());
        log.lock().unwrap().push((*failure.item(), cause));
        failure.settle(Settled::Discarded);
        std::future::ready(())
    });
    let report = Pipeline::from_iter(0..300u32)
        .sink_routing_failures("table", BoxSink::new(sink), route)
        .run()
        .await
        .expect("runs");
    assert_eq!(*routed.lock().unwrap(), [(2, Some(true))], "routed with the sink's own error");
    assert_eq!(stored.lock().unwrap().len(), 299);
    assert_eq!((report.delivered(), report.discarded()), (299, 1));
    assert!(calls.lock().unwrap().len() < 300 / 8, "runs, not items, through the box");
}

proptest! {
    /// Any run size the sink takes, any set of refused items, any number of
    /// items: stored in order, the refused ones routed in order, nothing
    /// lost or twice, and the report adds up.
    #[test]
    fn runs_taken_partly_and_refused_items_conserve_everything(
        n in 0u32..600,
        most in 1usize..40,
        refuse in proptest::collection::btree_set(0u32..600, 0..30),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (sink, stored) = Chunked::new(most, refuse.iter().copied());
        let (route, routed) = route();
        let report = rt
            .block_on(Pipeline::from_iter(0..n).sink_routing_failures("table", sink, route).run())
            .expect("runs");
        let refused: Vec<u32> = refuse.iter().copied().filter(|i| *i < n).collect();
        let kept: Vec<u32> = (0..n).filter(|i| !refuse.contains(i)).collect();
        prop_assert_eq!(&*stored.lock().unwrap(), &kept);
        prop_assert_eq!(&*routed.lock().unwrap(), &refused);
        prop_assert_eq!(report.delivered(), kept.len() as u64);
        prop_assert_eq!(report.discarded(), refused.len() as u64);
        prop_assert!(report.is_conserved(), "{}", report);
    }
}

/// Takes the whole run into a batch, then fails on writing it, giving the
/// last item back: the last item is the failed one, the others were taken.
struct DrainsThenFails {
    runs: usize,
}

impl Sink<u32> for DrainsThenFails {
    type Error = Refused;

    async fn send(&mut self, _: u32) -> Result<(), SinkError<u32, Refused>> {
        Ok(())
    }

    async fn send_chunk(&mut self, items: &mut SendChunk<'_, u32>) -> Result<(), SinkError<u32, Refused>> {
        self.runs += 1;
        let batch: Vec<u32> = items.collect();
        match batch.last() {
            Some(&last) if self.runs == 1 => Err(SinkError::with_item(Refused(last), last)),
            _ => Ok(()),
        }
    }

    async fn flush(&mut self) -> Result<(), Refused> {
        Ok(())
    }
}

#[tokio::test]
async fn a_sink_that_drained_its_run_and_fails_fails_the_last_item_not_a_ghost() {
    let (source, acks) = acking(futures::stream::iter(0..10u64));
    let err = Pipeline::from_acked(source)
        .map("narrow", |x| x as u32)
        .sink(DrainsThenFails { runs: 0 })
        .run()
        .await
        .unwrap_err();
    let RunError::Sink { item, returned, report, .. } = err else { panic!("not a sink error: {err:?}") };
    let item = item.and_then(|i| i.downcast::<u32>().ok()).map(|i| *i);
    assert_eq!(returned, 1);
    let item = item.expect("the item came back");
    assert!(!acks.fired().contains(&u64::from(item)), "the returned item {item} is not acknowledged");
    assert_eq!(report.delivered() + 1, report.source_items() - report.abandoned(), "{report}");
    assert!(report.is_conserved(), "{report}");
}

/// Gives back an item it did not take in that call.
struct GivesBackAGhost;

impl Sink<u32> for GivesBackAGhost {
    type Error = Refused;

    async fn send(&mut self, _: u32) -> Result<(), SinkError<u32, Refused>> {
        Ok(())
    }

    async fn send_chunk(&mut self, _: &mut SendChunk<'_, u32>) -> Result<(), SinkError<u32, Refused>> {
        Err(SinkError::with_item(Refused(99), 99))
    }

    async fn flush(&mut self) -> Result<(), Refused> {
        Ok(())
    }
}

#[tokio::test]
async fn an_error_for_an_item_not_taken_is_a_loud_error() {
    let err = Pipeline::from_iter(0..10u32).sink(GivesBackAGhost).run().await.unwrap_err();
    assert!(err.to_string().contains("an error can only be the last item taken's"), "{err}");
}
