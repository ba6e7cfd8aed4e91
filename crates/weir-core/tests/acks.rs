//! End-to-end acknowledgements: they fire only for items whose outcome is
//! final (delivered and flushed, filtered, discarded), never for abandoned,
//! halted or returned ones; a batch acks all its items after its flush.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Bad, acking, ms};
use futures::StreamExt;
use weir_core::prelude::*;
use weir_core::sink::{self, Sink};

#[tokio::test(start_paused = true)]
async fn delivered_filtered_and_discarded_items_are_acked() {
    let (source, acks) = acking(futures::stream::iter(0..12));
    let (sink, out) = sink::collect();
    let report = Pipeline::from_acked(source)
        .filter("not-five", |x| *x != 5)
        .try_map("odd", |x| if x % 2 == 1 { Err(Bad(x)) } else { Ok(x) })
        .discard_failures()
        .sink(sink)
        .run()
        .await
        .unwrap();
    assert_eq!(out.take(), [0, 2, 4, 6, 8, 10]);
    assert_eq!(acks.fired(), (0..12).collect::<Vec<_>>(), "every outcome here is final");
    assert_eq!((report.delivered(), report.filtered(), report.discarded()), (6, 1, 5));
}

#[tokio::test(start_paused = true)]
async fn halted_items_are_not_acked() {
    let (source, acks) = acking(futures::stream::iter(0..10));
    let err = Pipeline::from_acked(source)
        .try_map("check", |x| if x == 4 { Err(Bad(x)) } else { Ok(x) })
        .halt_on_error()
        .sink(sink::drain())
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::Halted { .. }), "{err:?}");
    assert_eq!(acks.fired(), [0, 1, 2, 3], "4 is returned to the caller, not acked");
}

#[tokio::test(start_paused = true)]
async fn abandoned_items_are_not_acked() {
    let (source, acks) = acking(futures::stream::iter(0..));
    let handle = Pipeline::from_acked(source)
        .then("stuck", |x| async move {
            if x == 2 {
                std::future::pending::<()>().await;
            }
            x
        })
        .sink(sink::drain())
        .drain_timeout(ms(100))
        .spawn()
        .unwrap();
    tokio::time::sleep(ms(10)).await;
    let report = handle.shutdown().await.unwrap();
    assert_eq!(report.ending(), Ending::Aborted);
    assert_eq!(report.abandoned(), 1);
    assert_eq!(acks.fired(), [0, 1], "the abandoned item 2 stays unacked, for redelivery");
}

#[tokio::test(start_paused = true)]
async fn items_a_sink_failed_on_are_not_acked() {
    #[derive(Debug, thiserror::Error)]
    #[error("refused")]
    struct Refused;

    let (source, acks) = acking(futures::stream::iter(0..10));
    let err = Pipeline::from_acked(source)
        .sink(sink::from_fn(|x: u64| async move { if x == 6 { Err(Refused) } else { Ok(()) } }))
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::Sink { returned: 1, .. }), "{err:?}");
    assert_eq!(acks.fired(), [0, 1, 2, 3, 4, 5]);
}

/// A sink whose flush takes 100 ms; it counts batches sent and flushed.
#[derive(Clone, Default)]
struct SlowFlush {
    sent: Arc<AtomicU64>,
    flushed: Arc<AtomicU64>,
}

impl Sink<Vec<u64>> for SlowFlush {
    type Error = std::convert::Infallible;

    async fn send(&mut self, _batch: Vec<u64>) -> Result<(), SinkError<Vec<u64>, Self::Error>> {
        self.sent.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        tokio::time::sleep(ms(100)).await;
        self.flushed.store(self.sent.load(Ordering::SeqCst), Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_batch_acks_all_its_items_only_after_the_sink_flushed_it() {
    let sink = SlowFlush::default();
    let flushed = sink.flushed.clone();
    // Each ack records the item and how many batches were flushed when it fired.
    let log = Arc::new(Mutex::new(Vec::new()));
    let keep = log.clone();
    let source = futures::stream::iter(0..6u64).map(move |i| {
        let (keep, flushed) = (keep.clone(), flushed.clone());
        (i, Ack::new(move || keep.lock().unwrap().push((i, flushed.load(Ordering::SeqCst)))))
    });
    let sent = sink.sent.clone();
    let handle = Pipeline::from_acked(source)
        .then("pace", |x| async move {
            tokio::time::sleep(ms(10)).await;
            x
        })
        .batch("group", 3, Duration::from_secs(3600))
        .sink(sink)
        .spawn()
        .unwrap();
    // [0, 1, 2] is sent at 30 ms and flushed at 130 ms; meanwhile item 3
    // started (the sink driver polled for more ready items before flushing).
    tokio::time::sleep(ms(50)).await;
    assert_eq!(sent.load(Ordering::SeqCst), 1, "the first batch was sent");
    assert!(log.lock().unwrap().is_empty(), "no ack before its flush completes");
    let report = handle.join().await.unwrap();
    assert_eq!(report.delivered(), 6);
    assert_eq!(report.wall_time(), ms(250), "[3, 4, 5] is sent at 150 ms and flushed at 250 ms");
    let log = log.lock().unwrap().clone();
    assert_eq!(log, [(0, 1), (1, 1), (2, 1), (3, 2), (4, 2), (5, 2)]);
}
