//! Rows the table refuses: not retried, dead-lettered whole, and the sink
//! goes on with the other batches.

mod common;

use std::time::Duration;

use common::{Measure, count};
use weir_core::prelude::*;
use weir_core::{ErrorClass, sink};
use weir_deadletter::SinkDeadLetterExt;
use weir_retry::{RetryPolicy, RetrySinkExt};
use weir_sqlite::SqliteSink;

/// 100 measures, 10 per batch; the batch of id 35 holds `bad`.
fn measures(bad: i64) -> Pipeline<Vec<Measure>> {
    let rows = (0..100).map(move |id| Measure { id, value: if id == 35 { bad } else { id } });
    Pipeline::from_iter(rows).batch("batch", 10, Duration::from_millis(20))
}

#[tokio::test]
async fn a_constraint_violation_is_permanent_not_retried_and_dead_lettered_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("measures.db");
    let sink = SqliteSink::open(&path).unwrap();
    let counters = sink.counters();
    // Even a policy that calls every error transient does not retry it:
    // the batch comes back classed permanent.
    let policy = RetryPolicy::constant(Duration::from_millis(5)).max_attempts(5);
    let (dead, records) = sink::collect();
    let report = measures(-1).sink_dead_lettering("store", sink.retry(policy), dead).run().await.unwrap();

    let records = records.take();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.class(), ErrorClass::Permanent);
    assert!(record.error().contains("CHECK constraint failed"), "{}", record.error());
    assert!(record.error().contains("retrying as they are cannot help"), "{}", record.error());
    assert_eq!(record.item().iter().map(|m| m.id).collect::<Vec<_>>(), (30..40).collect::<Vec<_>>());
    assert_eq!(report.stage("store").unwrap().retries, 0);
    assert_eq!((report.delivered(), report.dead_lettered()), (90, 10));
    assert_eq!(count(&path, "measures"), 90);
    assert_eq!(counters.stored(), 90);
}

#[tokio::test]
async fn a_panicking_bind_is_poison_and_the_sink_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("measures.db");
    let (dead, records) = sink::collect();
    let report = measures(i64::MIN)
        .sink_dead_lettering("store", SqliteSink::open(&path).unwrap(), dead)
        .run()
        .await
        .unwrap();
    let records = records.take();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].class(), ErrorClass::Poison);
    assert!(records[0].error().contains("measure 35 has no value"), "{}", records[0].error());
    assert_eq!((report.delivered(), report.dead_lettered()), (90, 10));
    assert_eq!(count(&path, "measures"), 90);
}

#[tokio::test]
async fn a_refused_batch_does_not_undo_the_batches_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("measures.db");
    // One transaction for everything: the refused batch rolls back the
    // batches sent before it in the same transaction; the sink writes
    // them again.
    let sink = SqliteSink::builder(&path).transaction_rows(1_000).open().unwrap();
    let counters = sink.counters();
    let (dead, records) = sink::collect();
    let report = measures(-1).sink_dead_lettering("store", sink, dead).run().await.unwrap();
    assert_eq!(records.take().len(), 1);
    assert_eq!(report.delivered(), 90);
    assert_eq!(count(&path, "measures"), 90);
    assert_eq!((counters.stored(), counters.duplicates()), (90, 0));
    assert!(counters.commits() < 9, "batches shared transactions, else this test shows nothing");
}
