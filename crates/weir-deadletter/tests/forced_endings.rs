//! A forced ending's report is final for dead letters too: an item the
//! report counts as abandoned is never stored or acknowledged after
//! `abort()` returned, and an item stored before is counted as
//! dead-lettered.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::Notify;
use weir_core::prelude::*;
use weir_deadletter::{DeadLetter, DeadLetterExt, DeadLetterSink, StoreError};

#[derive(Debug, thiserror::Error)]
#[error("odd item {0}")]
struct Odd(u64);

/// Stores records by counting them; the first store blocks its thread
/// (as a synchronous write would) after telling the test.
#[derive(Clone, Default)]
struct SlowStore {
    stored: Arc<AtomicU64>,
    entered: Arc<Notify>,
}

impl DeadLetterSink<u64> for SlowStore {
    type Error = Infallible;

    async fn store(&mut self, records: Vec<DeadLetter<u64>>) -> Result<(), StoreError<u64, Infallible>> {
        if self.stored.load(SeqCst) == 0 {
            self.entered.notify_one();
            std::thread::sleep(Duration::from_millis(300));
        }
        self.stored.fetch_add(records.len() as u64, SeqCst);
        Ok(())
    }

    async fn sync(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_reported_abandoned_is_never_stored_or_acknowledged_after_abort() {
    let store = SlowStore::default();
    let acked = Arc::new(AtomicU64::new(0));
    let a = acked.clone();
    let source = futures::stream::iter([1u64]).map(move |x| {
        let a = a.clone();
        (
            x,
            Ack::new(move || {
                a.fetch_add(1, SeqCst);
            }),
        )
    });
    let handle = Pipeline::from_acked(source)
        .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(Odd(x)) })
        .dead_letter(store.clone())
        .sink(sink::drain())
        .spawn()
        .expect("valid");
    store.entered.notified().await;
    let report = handle.abort().await.expect("an abort is no error");
    let at_return = (store.stored.load(SeqCst), acked.load(SeqCst));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        (store.stored.load(SeqCst), acked.load(SeqCst)),
        at_return,
        "nothing stored or acknowledged after abort() returned"
    );
    assert_eq!(report.dead_lettered(), at_return.0, "the report counts what was stored: {report}");
    assert_eq!(report.abandoned(), 1 - at_return.0, "{report}");
    assert_eq!(at_return.1, at_return.0, "acknowledged exactly when stored");
    assert!(report.is_conserved(), "{report}");
}
