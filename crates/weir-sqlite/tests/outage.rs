//! A database outage: another connection holds the write lock for a while.
//! The sink's writes fail as transient, the retry layer retries them, and
//! every row is stored once.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{count, packets};
use weir_core::prelude::*;
use weir_core::{Classify, ErrorClass};
use weir_retry::{RetryPolicy, RetrySinkExt};
use weir_sqlite::{SqliteError, SqliteSink, rusqlite};

/// Takes the database's write lock now and holds it for `hold` on another
/// thread; `released` turns true when it lets go.
fn lock_for(path: &std::path::Path, hold: Duration) -> (std::thread::JoinHandle<()>, Arc<AtomicBool>) {
    let db = rusqlite::Connection::open(path).unwrap();
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    let released = Arc::new(AtomicBool::new(false));
    let flag = released.clone();
    let holder = std::thread::spawn(move || {
        std::thread::sleep(hold);
        flag.store(true, Ordering::SeqCst);
        db.execute_batch("COMMIT").unwrap();
    });
    (holder, released)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_is_retried_until_it_frees_then_every_row_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ingest.db");
    let sink = SqliteSink::builder(&path).busy_timeout(Duration::from_millis(20)).open().unwrap();
    let counters = sink.counters();
    let policy = RetryPolicy::constant(Duration::from_millis(25)).max_attempts(100);

    let (holder, released) = lock_for(&path, Duration::from_millis(300));
    let report = Pipeline::from_iter(packets(0, 5_000))
        .batch("batch", 500, Duration::from_millis(20))
        .sink(sink.retry(policy).classify_by_trait())
        .run()
        .await
        .unwrap();
    holder.join().unwrap();

    assert!(released.load(Ordering::SeqCst));
    let sink = report.stage("sink").unwrap();
    assert!(sink.retries >= 2, "the sink was retried while the lock was held: {report}");
    assert_eq!(report.delivered(), 5_000);
    assert_eq!(count(&path, "packets"), 5_000);
    assert_eq!((counters.stored(), counters.duplicates()), (5_000, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_retry_layer_a_busy_database_returns_the_batch_unstored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ingest.db");
    let sink = SqliteSink::builder(&path).busy_timeout(Duration::from_millis(10)).open().unwrap();
    let (holder, _) = lock_for(&path, Duration::from_millis(500));
    let err = Pipeline::from_iter(packets(0, 100))
        .batch("batch", 100, Duration::from_millis(20))
        .sink(sink)
        .run()
        .await
        .unwrap_err();
    holder.join().unwrap();

    let RunError::Sink { error, item, returned, .. } = err else { panic!("{err}") };
    let error = error.downcast_ref::<SqliteError>().unwrap();
    assert!(matches!(error, SqliteError::Busy { .. }), "{error}");
    assert_eq!(error.class(), ErrorClass::Transient);
    assert!(error.to_string().contains("retry"), "the message says what to do: {error}");
    let batch = item.expect("the batch is given back").downcast::<Vec<weir_packet::Packet>>().unwrap();
    assert_eq!((batch.len(), returned), (100, 100));
    assert_eq!(count(&path, "packets"), 0);
}
