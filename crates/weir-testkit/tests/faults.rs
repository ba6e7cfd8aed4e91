//! The fault-injecting sink, the acking source and the assertion helpers.

use std::time::Duration;

use weir_core::prelude::*;
use weir_core::sink::{self, Sink};
use weir_core::{Ack, EnvelopeStream};
use weir_testkit::{AckingSource, Flaked, FlakySink, assert_conserved};

#[tokio::test]
async fn flaky_sink_gives_the_failed_item_back_and_acks_only_what_it_took() {
    let source = AckingSource::new(0..10u32);
    let acks = source.log();
    let sink = FlakySink::failing_when(|n| n == 4);
    let accepted = sink.accepted();
    let err = Pipeline::from_acked(source).sink(sink).run().await.unwrap_err();
    let RunError::Sink { error, item, returned, report, .. } = err else {
        panic!("expected Sink, got {err:?}")
    };
    assert_eq!(error.downcast_ref::<Flaked>(), Some(&Flaked(4)));
    assert_eq!(*item.unwrap().downcast::<u32>().unwrap(), 4);
    assert_eq!(returned, 1);
    assert_eq!(*accepted.lock().unwrap(), [0, 1, 2, 3]);
    assert_eq!(acks.fired(), [0, 1, 2, 3]);
    assert_conserved(&report);
}

#[tokio::test]
async fn flaky_sink_failing_first_fails_exactly_n_sends() {
    let mut sink = FlakySink::failing_first(2);
    for n in 0..2 {
        let err = Sink::send(&mut sink, n).await.unwrap_err();
        assert_eq!(*err.error(), Flaked(n));
        assert_eq!(err.into_item(), Some(n));
    }
    Sink::send(&mut sink, 7).await.unwrap();
    assert_eq!(sink.sends(), 3);
    assert_eq!(*sink.accepted().lock().unwrap(), [7]);
}

#[tokio::test(start_paused = true)]
async fn acking_source_records_batches_after_their_flush_only() {
    let source = AckingSource::new(["a", "b", "c"]);
    let acks = source.log();
    let report = Pipeline::from_acked(source)
        .batch("pair", 2, Duration::from_secs(1))
        .sink(sink::drain())
        .run()
        .await
        .unwrap();
    assert_eq!(acks.fired_sorted(), ["a", "b", "c"]);
    assert_eq!(acks.len(), 3);
    assert_conserved(&report);
}

#[test]
fn ack_log_ignores_dropped_acks() {
    let log = weir_testkit::AckLog::default();
    let acks: Vec<Ack> = (0..3).map(|i| log.ack(i)).collect();
    assert!(log.is_empty());
    for (i, ack) in acks.into_iter().enumerate() {
        if i != 1 {
            ack.fire();
        }
    }
    assert_eq!(log.fired(), [0, 2]);
}

/// A stage that loses every item.
struct BlackHole;

impl Stage<u32> for BlackHole {
    type Output = u32;

    fn name(&self) -> &str {
        "black-hole"
    }

    fn build(self, input: EnvelopeStream<u32>, _ctx: StageContext) -> EnvelopeStream<u32> {
        use futures::StreamExt;
        input.filter(|_| std::future::ready(false)).boxed()
    }
}

#[tokio::test]
#[should_panic(expected = "conservation violated (ending Completed; `black-hole` holds 3)")]
async fn assert_conserved_names_the_stage_that_lost_items() {
    let report = Pipeline::from_iter(0..3u32).stage(BlackHole).sink(sink::drain()).run().await.unwrap();
    assert_conserved(&report);
}
