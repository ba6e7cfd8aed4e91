//! The PostgreSQL sink against a real server started by the test kit:
//! rows stored, duplicates absorbed, acknowledgements after the commit,
//! errors classed and batches given back whole.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{client, count, packet, server};
use weir_core::prelude::*;
use weir_core::{ErrorClass, Sink, SinkError, sink};
use weir_deadletter::SinkDeadLetterExt;
use weir_packet::Packet;
use weir_postgres::{PgError, PgSink};
use weir_retry::{RetryPolicy, RetrySinkExt};
use weir_testkit::AckingSource;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_stored_are_the_rows_in_the_table() {
    let server = server();
    let n = 25_000;
    let sink = PgSink::<Packet>::connect(&server.url()).await.unwrap();
    let counters = sink.counters();
    let report = Pipeline::from_iter((0..n).map(packet))
        .batch("batch", 1_000, Duration::from_millis(20))
        .sink(sink)
        .await
        .unwrap();
    assert!(report.is_conserved());
    assert_eq!(report.delivered(), n);

    let db = client(&server).await;
    assert_eq!(count(&db, "packets").await, n);
    assert_eq!((counters.inserted(), counters.duplicates(), counters.connections()), (n, 0, 1));

    // A row reads back as the packet it came from.
    let p = packet(12_345);
    let row = db
        .query_one(
            "SELECT timestamp_ms, readings FROM packets WHERE device = $1 AND sequence = $2",
            &[&i64::from(p.device()), &(p.sequence() as i64)],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0) as u64, p.timestamp_ms());
    assert_eq!(row.get::<_, Vec<u8>>(1), p.readings().as_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_row_is_absorbed_not_duplicated() {
    let server = server();
    let sink = PgSink::<Packet>::connect(&server.url()).await.unwrap();
    let counters = sink.counters();
    // 10,000 packets, then 2,000 of them again (a retrying client), and
    // duplicates inside one batch too.
    let packets: Vec<Packet> =
        (0..10_000).chain(0..1_000).chain((5_000..5_500).flat_map(|i| [i, i])).map(packet).collect();
    let report =
        Pipeline::from_iter(packets).batch("batch", 700, Duration::from_millis(20)).sink(sink).await.unwrap();
    assert_eq!(report.delivered(), 12_000);
    let db = client(&server).await;
    assert_eq!(count(&db, "packets").await, 10_000);
    assert_eq!((counters.inserted(), counters.duplicates()), (10_000, 2_000));

    // The same run again: everything is a duplicate.
    let mut again = PgSink::<Packet>::connect(&server.url()).await.unwrap();
    again.send((0..10_000).map(packet).collect()).await.unwrap();
    assert_eq!((again.counters().inserted(), again.counters().duplicates()), (0, 10_000));
    assert_eq!(count(&db, "packets").await, 10_000);
}

/// Checks, before each batch, that no acknowledgement fired for a row that
/// is not committed.
struct Probe {
    inner: PgSink<Packet>,
    acks: weir_testkit::AckLog<Packet>,
    db: weir_postgres::tokio_postgres::Client,
    checks: u32,
}

impl Sink<Vec<Packet>> for Probe {
    type Error = PgError;

    async fn send(&mut self, batch: Vec<Packet>) -> Result<(), SinkError<Vec<Packet>, PgError>> {
        let acked = self.acks.len() as u64;
        let stored = count(&self.db, "packets").await;
        assert!(acked <= stored, "{acked} items acknowledged but only {stored} rows committed");
        self.checks += 1;
        self.inner.send(batch).await
    }

    async fn flush(&mut self) -> Result<(), PgError> {
        self.inner.flush().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledgements_fire_only_for_committed_rows() {
    let server = server();
    let db = client(&server).await;
    let sink = PgSink::<Packet>::connect(&server.url()).await.unwrap();
    // Packet 6,666 breaks a constraint: its batch fails for good and the
    // run stops there (no dead-letter route).
    db.batch_execute(
        "ALTER TABLE packets ADD CONSTRAINT not_6666 CHECK (NOT (device = 666 AND sequence = 6))",
    )
    .await
    .unwrap();
    let source = AckingSource::new((0..10_000).map(packet));
    let acks = source.log();
    let probe = Probe { inner: sink, acks: acks.clone(), db: client(&server).await, checks: 0 };
    let err = Pipeline::from_acked(source)
        .batch("batch", 500, Duration::from_millis(20))
        .sink(probe)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("SQLSTATE 23514"), "{err}");

    let stored: BTreeSet<(i64, i64)> = db
        .query("SELECT device, sequence FROM packets", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let acked: BTreeSet<(i64, i64)> =
        acks.fired().iter().map(|p| (i64::from(p.device()), p.sequence() as i64)).collect();
    assert!(!stored.is_empty() && stored.len() < 10_000, "the run stopped part way: {}", stored.len());
    assert_eq!(acked, stored, "exactly the committed rows are acknowledged");
    assert!(!stored.contains(&(666, 6)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_errors_are_retried_and_permanent_ones_dead_letter_the_batch_whole() {
    let server = server();
    let db = client(&server).await;
    let sink = PgSink::<Packet>::connect(&server.url()).await.unwrap();
    let counters = sink.counters();
    // The first two inserts fail with a serialization failure (a
    // sequence is not rolled back with the transaction); packet 6,666
    // breaks a constraint.
    db.batch_execute(
        "CREATE SEQUENCE injected;
         CREATE FUNCTION flaky() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF nextval('injected') <= 2 THEN
             RAISE EXCEPTION 'injected serialization failure' USING ERRCODE = '40001';
           END IF;
           RETURN NULL;
         END $$;
         CREATE TRIGGER flaky BEFORE INSERT ON packets FOR EACH STATEMENT EXECUTE FUNCTION flaky();
         ALTER TABLE packets ADD CONSTRAINT not_6666 CHECK (NOT (device = 666 AND sequence = 6));",
    )
    .await
    .unwrap();
    let policy = RetryPolicy::exponential(Duration::from_millis(5)).max_attempts(5);
    let (dead, records) = sink::collect();
    let report = Pipeline::from_iter((0..10_000).map(packet))
        .batch("batch", 500, Duration::from_millis(20))
        .sink_dead_lettering("store", sink.retry(policy), dead)
        .await
        .unwrap();
    assert!(report.is_conserved());

    let records = records.take();
    assert_eq!(records.len(), 1, "one batch refused");
    let refused = records[0].item();
    assert!(refused.iter().any(|p| (p.device(), p.sequence()) == (666, 6)));
    assert_eq!(records[0].class(), ErrorClass::Permanent);
    assert_eq!(records[0].attempts(), 1, "a permanent error is not retried");
    assert!(records[0].error().contains("23514"), "{}", records[0].error());

    let stored = count(&db, "packets").await;
    assert_eq!(
        stored,
        10_000 - refused.len() as u64,
        "the refused batch is stored not at all, the others whole"
    );
    assert_eq!(report.delivered(), stored);
    assert_eq!(report.dead_lettered(), refused.len() as u64);
    assert_eq!(counters.failed_batches(), 3, "two serialization failures, one constraint");
    assert_eq!(report.stage("store").unwrap().retries, 2 * 500, "each retried batch counts its items");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_errors_are_classed() {
    let server = weir_testkit::postgres::TestServer::builder()
        .fsync(false)
        .setting("max_connections", "4")
        .setting("superuser_reserved_connections", "0")
        .start();
    // No such database: permanent.
    let url = format!("host=127.0.0.1 port={} user=postgres dbname=nope", server.port());
    let err = PgSink::<Packet>::connect(&url).await.unwrap_err();
    assert!(matches!(err, PgError::Refused(_)) && err.class() == ErrorClass::Permanent, "{err:?}");

    // Every slot taken: too many connections, transient.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(client(&server).await);
    }
    let err = PgSink::<Packet>::connect(&server.url()).await.unwrap_err();
    assert!(matches!(err, PgError::TooManyConnections(_)) && err.class().is_retryable(), "{err:?}");
    drop(held);

    // Nobody listening: unreachable, transient.
    let port = server.port();
    drop(server);
    let err =
        PgSink::<Packet>::connect(&format!("host=127.0.0.1 port={port} user=postgres")).await.unwrap_err();
    assert!(matches!(err, PgError::Unreachable(_)) && err.class().is_retryable(), "{err:?}");
    assert!(err.to_string().contains("is the server up"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_sinks_connecting_at_once_all_create_the_table_without_a_race() {
    // N processes on N hosts start together against a fresh database:
    // concurrent `CREATE TABLE IF NOT EXISTS` races in PostgreSQL (a
    // unique violation on pg_type) unless it is serialized.
    for round in 0..5 {
        let server = server();
        let url = server.url();
        let connects = (0..6).map(|_| PgSink::<Packet>::connect(&url));
        let sinks = futures::future::join_all(connects).await;
        for sink in sinks {
            if let Err(e) = sink {
                panic!("round {round}: a sink failed to connect: {e}");
            }
        }
    }
}
