//! What the sink stores: every row once, duplicates absorbed and counted,
//! acknowledgements only after the commit, a failed commit written again
//! whole.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Child, count, packets};
use weir_core::prelude::*;
use weir_core::{Ack, ErrorClass};
use weir_packet::Packet;
use weir_retry::{RetryPolicy, RetrySinkExt};
use weir_sqlite::{SqliteError, SqliteSink, rusqlite};

fn batched<T: Send + 'static>(items: Vec<T>, size: usize) -> Pipeline<Vec<T>> {
    Pipeline::from_iter(items).batch("batch", size, Duration::from_millis(20))
}

#[tokio::test]
async fn rows_stored_are_the_rows_in_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ingest.db");
    let sink = SqliteSink::open(&path).unwrap();
    let counters = sink.counters();
    let report = batched(packets(0, 10_000), 500).sink(sink).run().await.unwrap();

    assert_eq!(report.delivered(), 10_000);
    assert_eq!(count(&path, "packets"), 10_000);
    assert_eq!((counters.stored(), counters.duplicates()), (10_000, 0));
    // The columns hold what the packet held.
    let db = rusqlite::Connection::open(&path).unwrap();
    let (ts, readings): (i64, Vec<u8>) = db
        .query_row(
            "SELECT timestamp_ms, readings FROM packets WHERE device = 3 AND sequence = 9993",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(ts, 1_700_000_009_993);
    assert_eq!(readings, packets(9993, 1)[0].readings().as_bytes());
}

#[tokio::test]
async fn a_sequence_above_i64_max_is_stored_with_its_bits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ingest.db");
    let high = Packet::new(1, u64::MAX, u64::MAX - 1, []);
    batched(vec![high.clone(), Packet::new(1, 0, 0, [])], 10)
        .sink(SqliteSink::open(&path).unwrap())
        .run()
        .await
        .unwrap();
    let db = rusqlite::Connection::open(&path).unwrap();
    let (seq, ts): (i64, i64) = db
        .query_row("SELECT sequence, timestamp_ms FROM packets WHERE sequence < 0", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((seq as u64, ts as u64), (u64::MAX, u64::MAX - 1));
    assert_eq!(count(&path, "packets"), 2);
}

#[tokio::test]
async fn duplicates_are_absorbed_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ingest.db");
    // 1,000 packets, then 300 of them again: some in the batch of their
    // first copy, most in later batches.
    let mut input = packets(0, 1_000);
    input.splice(100..100, packets(50, 100));
    input.extend(packets(700, 200));
    let sink = SqliteSink::open(&path).unwrap();
    let counters = sink.counters();
    let report = batched(input, 128).sink(sink).run().await.unwrap();
    assert_eq!(report.delivered(), 1_300);
    assert_eq!(count(&path, "packets"), 1_000);
    assert_eq!((counters.stored(), counters.duplicates()), (1_000, 300));

    // A redelivery in a later run, by another sink on the same file.
    let again = SqliteSink::open(&path).unwrap();
    let counters = again.counters();
    batched(packets(900, 200), 64).sink(again).run().await.unwrap();
    assert_eq!(count(&path, "packets"), 1_100);
    assert_eq!((counters.stored(), counters.duplicates()), (100, 100));
}

#[tokio::test]
async fn a_transaction_is_committed_early_past_its_row_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ingest.db");
    let sink = SqliteSink::builder(&path).transaction_rows(100).open().unwrap();
    let counters = sink.counters();
    // One group of ready batches: without the limit, one commit.
    batched(packets(0, 1_000), 50).sink(sink).run().await.unwrap();
    assert_eq!(count(&path, "packets"), 1_000);
    assert_eq!(counters.stored(), 1_000);
    assert!(counters.commits() >= 10, "{} commits", counters.commits());
}

#[tokio::test]
async fn acknowledgements_fire_only_after_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ingest.db");
    let sink = SqliteSink::open(&path).unwrap();
    // At each acknowledgement, look for the packet's row from outside.
    let observer = Arc::new(Mutex::new(rusqlite::Connection::open(&path).unwrap()));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let source = packets(0, 2_000).into_iter().map(|p| {
        let (observer, seen) = (observer.clone(), seen.clone());
        let key = (i64::from(p.device()), p.sequence() as i64);
        let ack = Ack::new(move || {
            let stored: i64 = observer
                .lock()
                .unwrap()
                .query_row("SELECT count(*) FROM packets WHERE device = ?1 AND sequence = ?2", key, |r| {
                    r.get(0)
                })
                .unwrap();
            seen.lock().unwrap().push(stored);
        });
        (p, ack)
    });
    let source: Vec<_> = source.collect();
    let report = Pipeline::from_acked(futures::stream::iter(source))
        .batch("batch", 300, Duration::from_millis(20))
        .sink(sink)
        .run()
        .await
        .unwrap();
    assert_eq!(report.delivered(), 2_000);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2_000, "every packet acknowledged");
    assert!(seen.iter().all(|&stored| stored == 1), "a packet was acknowledged before its row was committed");
}

#[tokio::test]
async fn a_failed_commit_acknowledges_nothing_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("family.db");
    // Children of a parent that does not exist: the deferred foreign key
    // fails the commit, not the inserts.
    let children: Vec<Child> = (0..500).map(|id| Child { id, parent: 1 }).collect();
    let acked = Arc::new(Mutex::new(0u32));
    let source = children.into_iter().map(|c| {
        let acked = acked.clone();
        (c, Ack::new(move || *acked.lock().unwrap() += 1))
    });
    let source: Vec<_> = source.collect();
    let err = Pipeline::from_acked(futures::stream::iter(source))
        .batch("batch", 100, Duration::from_millis(20))
        .sink(SqliteSink::open(&path).unwrap())
        .run()
        .await
        .unwrap_err();
    let RunError::Sink { error, returned, .. } = err else { panic!("{err}") };
    let error = error.downcast_ref::<SqliteError>().expect("the sink's own error");
    assert!(matches!(error, SqliteError::Constraint { .. }), "{error}");
    assert!(error.to_string().contains("FOREIGN KEY"), "{error}");
    assert!(returned > 0);
    assert_eq!(*acked.lock().unwrap(), 0, "nothing was committed, so nothing is acknowledged");
    assert_eq!(count(&path, "children"), 0);
}

#[tokio::test]
async fn a_failed_commit_is_rolled_back_and_written_again_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("family.db");
    let children: Vec<Child> = (0..1_000).map(|id| Child { id, parent: 1 }).collect();
    let sink = SqliteSink::open(&path).unwrap();
    let counters = sink.counters();
    // The first commit fails; while the sink waits to retry, someone
    // inserts the missing parent. The retried flush writes the rolled-back
    // batches again and commits them once.
    let fixer = path.clone();
    let policy = RetryPolicy::constant(Duration::from_millis(5)).max_attempts(3);
    let sink = sink.retry(policy).classify(move |error: &SqliteError| {
        assert!(matches!(error, SqliteError::Constraint { .. }), "{error}");
        let db = rusqlite::Connection::open(&fixer).unwrap();
        db.execute("INSERT OR IGNORE INTO parents (id) VALUES (1)", []).unwrap();
        ErrorClass::Transient
    });
    let report = batched(children, 100).sink(sink).run().await.unwrap();
    assert_eq!(report.delivered(), 1_000);
    assert!(report.stage("sink").unwrap().retries > 0, "the commit failed once");
    assert_eq!(count(&path, "children"), 1_000);
    assert_eq!((counters.stored(), counters.duplicates()), (1_000, 0));
}
