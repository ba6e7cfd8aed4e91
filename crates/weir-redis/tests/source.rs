//! The consumer-group source against a real redis-server: acknowledgement
//! only after the sink's commit, own pending entries read again, poison
//! entries to the dead-letter stream, a restarted server, graceful
//! shutdown, reclaim from a consumer that stopped.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{group_counts, load, number, pending, wait_for};
use redis::AsyncCommands;
use weir_core::prelude::*;
use weir_core::{Sink, Source, sink};
use weir_deadletter::DeadLetterExt;
use weir_redis::{Entry, RedisSource};
use weir_testkit::redis::RedisServer;

/// A store that commits numbers on flush, and fails every flush while
/// `failing` is set.
#[derive(Clone, Default)]
struct Store {
    committed: Arc<Mutex<Vec<u64>>>,
    unflushed: Vec<u64>,
    failing: Arc<std::sync::atomic::AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("the store is read-only")]
struct ReadOnly;

impl Sink<Vec<Entry>> for Store {
    type Error = ReadOnly;

    async fn send(&mut self, batch: Vec<Entry>) -> Result<(), SinkError<Vec<Entry>, ReadOnly>> {
        self.unflushed.extend(batch.iter().map(number));
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ReadOnly> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            self.unflushed.clear(); // lost with the failed transaction
            return Err(ReadOnly);
        }
        self.committed.lock().unwrap().append(&mut self.unflushed);
        Ok(())
    }
}

impl Store {
    fn committed(&self) -> Vec<u64> {
        self.committed.lock().unwrap().clone()
    }
}

fn source(server: &RedisServer, consumer: &str) -> RedisSource {
    RedisSource::new(server.url(), "s", "g", consumer).block(Duration::from_millis(100))
}

fn run(source: RedisSource, store: Store) -> PipelineHandle {
    Pipeline::from_source(source).batch("batch", 64, Duration::from_millis(5)).sink(store).spawn().unwrap()
}

/// Like [`run`], with every entry taking `each` to go through, so that
/// the run is still going when the test strikes.
fn run_slowly(source: RedisSource, each: Duration, store: Store) -> PipelineHandle {
    Pipeline::from_source(source)
        .then("slow", move |e: Entry| async move {
            tokio::time::sleep(each).await;
            e
        })
        .batch("batch", 64, Duration::from_millis(5))
        .sink(store)
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_are_acknowledged_only_after_the_sink_commits() {
    let server = RedisServer::start();
    let url = server.url();
    load(&url, "s", 0..200).await;

    // A store whose commits fail: the run ends on the error, nothing is acknowledged.
    let store = Store::default();
    store.failing.store(true, std::sync::atomic::Ordering::SeqCst);
    let failing = source(&server, "c1");
    let counters = failing.counters();
    let err = run(failing, store.clone()).join().await.unwrap_err();
    assert!(matches!(err, RunError::Sink { .. }), "{err}");
    assert_eq!(counters.acked(), 0);
    let (read, still_pending) = group_counts(&url, "s", "g").await;
    assert!(read > 0);
    assert_eq!(still_pending, read, "every entry read is still pending");
    assert!(store.committed().is_empty());

    // The same consumer, restarted with a working store, finishes them all.
    let store = Store::default();
    let again = source(&server, "c1");
    let counters = again.counters();
    let handle = run(again, store.clone());
    wait_for(Duration::from_secs(20), || store.committed().len() >= 200).await;
    let report = handle.shutdown().await.unwrap();
    assert!(report.is_conserved());
    let committed: BTreeSet<u64> = store.committed().into_iter().collect();
    assert_eq!(committed, (0..200).collect());
    assert_eq!(counters.redelivered(), read, "its own pending entries came first");
    assert_eq!(counters.acked(), 200);
    assert!(pending(&url, "s", "g").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_entry_goes_to_the_dead_letter_stream_after_max_deliveries() {
    let server = RedisServer::start();
    let url = server.url();
    load(&url, "s", 0..10).await;
    // Entry 9 hangs whoever takes it; each run is aborted, so it is never
    // acknowledged, and each start delivers it again.
    let mut stored = BTreeSet::new();
    for round in 1..=4u64 {
        let (collect, out) = sink::collect();
        let src = source(&server, "c1").max_deliveries(3);
        let counters = src.counters();
        let handle = Pipeline::from_source(src)
            .then("process", |e: Entry| async move {
                if number(&e) == 9 {
                    std::future::pending::<()>().await;
                }
                e
            })
            .sink(collect)
            .spawn()
            .unwrap();
        let expected = if round == 1 { 9 } else { 0 };
        let before = stored.len();
        wait_for(Duration::from_secs(10), || out.len() >= expected).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let report = handle.abort().await.unwrap();
        stored.extend(out.take().iter().map(number));
        assert!(report.is_conserved());
        if round < 4 {
            assert_eq!(counters.dead_lettered(), 0, "round {round}");
            assert_eq!(pending(&url, "s", "g").await, BTreeSet::from([9]), "round {round}");
        } else {
            // The fourth delivery is one more than max_deliveries (3).
            assert_eq!(counters.dead_lettered(), 1);
            assert_eq!(stored.len(), before, "the poison entry never reached the pipeline again");
        }
    }
    assert_eq!(stored, (0..9).collect());
    assert!(pending(&url, "s", "g").await.is_empty(), "dead-lettered and acknowledged");
    let mut conn = common::conn(&url).await;
    let dead: redis::streams::StreamRangeReply = conn.xrange_all("s:dead").await.unwrap();
    assert_eq!(dead.ids.len(), 1);
    let record = &dead.ids[0];
    let field = |name: &str| record.get::<String>(name).unwrap();
    assert_eq!(field("n"), "9", "the original fields are kept");
    assert_eq!(field("weir.deliveries"), "4");
    assert_eq!(
        (field("weir.stream"), field("weir.group"), field("weir.consumer")),
        ("s".into(), "g".into(), "c1".into())
    );
    assert!(field("weir.error").contains("more than max_deliveries (3)"), "{}", field("weir.error"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_redis_server_loses_nothing() {
    let mut server = RedisServer::start();
    let url = server.url();
    load(&url, "s", 0..3000).await;
    let store = Store::default();
    let src = source(&server, "c1").batch(50);
    let counters = src.counters();
    // A slow store, so that the restart falls mid-run.
    let handle = run_slowly(src, Duration::from_micros(300), store.clone());
    wait_for(Duration::from_secs(20), || store.committed().len() >= 300).await;
    server.restart().unwrap();
    load(&url, "s", 3000..4000).await; // the producer goes on, too
    wait_for(Duration::from_secs(60), || store.committed().iter().collect::<BTreeSet<_>>().len() >= 4000)
        .await;
    let report = handle.shutdown().await.unwrap();
    assert!(report.is_conserved());
    assert!(counters.reconnects() >= 1, "it reconnected");
    let committed: BTreeSet<u64> = store.committed().into_iter().collect();
    assert_eq!(committed, (0..4000).collect(), "nothing lost");
    assert!(pending(&url, "s", "g").await.is_empty(), "everything stored was acknowledged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_leaves_no_entry_acknowledged_but_unstored() {
    let server = RedisServer::start();
    let url = server.url();
    load(&url, "s", 0..5000).await;
    let store = Store::default();
    let handle = run_slowly(source(&server, "c1").batch(100), Duration::from_micros(200), store.clone());
    wait_for(Duration::from_secs(20), || store.committed().len() >= 500).await;
    let report = handle.shutdown().await.unwrap();
    assert!(report.is_conserved());
    let stored: BTreeSet<u64> = store.committed().into_iter().collect();
    assert!(stored.len() < 5000, "shut down mid-run");
    // Delivered to the group = every entry up to the last one read; acknowledged = delivered - pending.
    let (read, _) = group_counts(&url, "s", "g").await;
    let still_pending = pending(&url, "s", "g").await;
    let acknowledged: BTreeSet<u64> = (0..read).filter(|n| !still_pending.contains(n)).collect();
    assert_eq!(acknowledged, stored, "acknowledged exactly what was stored");
    assert_eq!(report.delivered(), stored.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_consumers_entries_are_reclaimed_by_another() {
    let server = RedisServer::start();
    let url = server.url();
    load(&url, "s", 0..100).await;
    // c1 takes entries and stops without an outcome for them (aborted).
    let handle = Pipeline::from_source(source(&server, "c1").batch(40))
        .then("stuck", |e: Entry| async move {
            std::future::pending::<()>().await;
            e
        })
        .sink(sink::drain())
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(10), || handle.monitor().report().source_items() > 0).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    handle.abort().await.unwrap();
    let left = pending(&url, "s", "g").await;
    assert!(!left.is_empty());

    // c2 reads the rest, and takes over c1's entries once idle 300 ms.
    let store = Store::default();
    let src =
        source(&server, "c2").claim_idle(Duration::from_millis(300)).claim_every(Duration::from_millis(100));
    let counters = src.counters();
    let handle = run(src, store.clone());
    wait_for(Duration::from_secs(20), || store.committed().len() >= 100).await;
    let report = handle.shutdown().await.unwrap();
    assert!(report.is_conserved());
    assert_eq!(store.committed().into_iter().collect::<BTreeSet<_>>(), (0..100).collect());
    assert_eq!(store.committed().len(), 100, "each stored once");
    assert_eq!(counters.reclaimed(), left.len() as u64);
    assert!(pending(&url, "s", "g").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_entry_is_dead_lettered_and_acknowledged() {
    #[derive(Debug, thiserror::Error)]
    #[error("field n is not a number")]
    struct NotANumber;

    let server = RedisServer::start();
    let url = server.url();
    load(&url, "s", 0..5).await;
    let mut conn = common::conn(&url).await;
    let _: String = conn.xadd("s", "*", &[("n", "five")]).await.unwrap();
    let (dead, dead_letters) = sink::collect();
    let (collect, out) = sink::collect();
    let handle = Pipeline::from_source(source(&server, "c1"))
        .try_map("decode", |e: Entry| {
            std::str::from_utf8(&e.field("n").cloned().unwrap_or_default())
                .ok()
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or(NotANumber)
        })
        .dead_letter(dead)
        .sink(collect)
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(10), || out.len() == 5 && dead_letters.len() == 1).await;
    let report = handle.shutdown().await.unwrap();
    assert_eq!((report.delivered(), report.dead_lettered()), (5, 1));
    let record: weir_deadletter::DeadLetter<Entry> = dead_letters.take().remove(0);
    assert_eq!(record.item().field("n").map(|v| &v[..]), Some(&b"five"[..]));
    assert!(pending(&url, "s", "g").await.is_empty(), "the dead letter was acknowledged once stored");
}

#[tokio::test]
async fn bad_settings_are_build_errors() {
    let cases = [
        RedisSource::new("http://nope", "s", "g", "c"),
        RedisSource::new("redis://127.0.0.1/", "s", "g", "c").batch(0),
        RedisSource::new("redis://127.0.0.1/", "s", "g", "").max_deliveries(1),
        RedisSource::new("redis://127.0.0.1/", "s", "g", "c").max_deliveries(0),
        RedisSource::new("redis://127.0.0.1/", "s", "g", "c").block(Duration::ZERO),
        RedisSource::new("redis://127.0.0.1/", "s", "g", "c").dead_letter_stream("s"),
        RedisSource::new("redis://127.0.0.1/", "s", "g", "c")
            .start_id(weir_redis::StartId::After("garbage".into())),
        RedisSource::new("redis://127.0.0.1/", "s", "g", "c").batch(usize::MAX),
    ];
    for case in cases {
        let err = case.validate().unwrap_err();
        assert!(err.to_string().contains("source"), "{err}");
        let run = Pipeline::from_source(case).sink(sink::drain()).run().await;
        assert!(matches!(run, Err(RunError::Build(_))));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_password_ends_the_run_at_once_instead_of_reconnecting() {
    let server = RedisServer::start();
    let mut conn = common::conn(&server.url()).await;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("s3cret")
        .query_async(&mut conn)
        .await
        .unwrap();
    let wrong = server.url().replace("redis://", "redis://:wrong@");
    for url in [server.url(), wrong] {
        let started = std::time::Instant::now();
        let run =
            Pipeline::from_source(RedisSource::new(&url, "s", "g", "c")).sink(sink::drain()).run().await;
        let err = run.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5), "failed fast, not after the reconnect policy");
        let text = format!("{err} {:?}", std::error::Error::source(&err));
        assert!(
            text.contains("NOAUTH") || text.contains("WRONGPASS") || text.contains("uthentication"),
            "{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_entries_stay_with_their_consumer_and_are_not_counted_again() {
    let server = RedisServer::start();
    let url = server.url();
    load(&url, "s", 0..300).await;
    // c1 takes everything (6 batches of 50 in hand: 2 read ahead, the rest
    // waiting for room) and needs 900 ms a batch: 3 x claim_idle.
    let settings = |src: RedisSource| {
        src.batch(50)
            .prefetch(2)
            .claim_idle(Duration::from_millis(300))
            .claim_every(Duration::from_millis(50))
    };
    let slow = settings(source(&server, "c1")).max_deliveries(1);
    let slow_counts = slow.counters();
    let slow_store = Store::default();
    let slow_handle = Pipeline::from_source(slow)
        .batch("batch", 50, Duration::from_millis(5))
        .then("slow", |b: Vec<Entry>| async move {
            tokio::time::sleep(Duration::from_millis(900)).await;
            b
        })
        .sink(slow_store.clone())
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(10), || slow_counts.read() == 300).await;
    // c2 has nothing to read, and looks for idle entries every 50 ms.
    let idle = settings(source(&server, "c2"));
    let idle_counts = idle.counters();
    let idle_store = Store::default();
    let idle_handle = run(idle, idle_store.clone());
    wait_for(Duration::from_secs(60), || slow_store.committed().len() >= 300).await;
    slow_handle.shutdown().await.unwrap();
    idle_handle.shutdown().await.unwrap();
    let mut all = slow_store.committed();
    all.sort_unstable();
    assert_eq!(all, (0..300).collect::<Vec<_>>(), "c1 stored each entry once");
    assert!(idle_store.committed().is_empty(), "c2 took none of c1's entries");
    assert_eq!(idle_counts.reclaimed(), 0);
    assert_eq!(slow_counts.dead_lettered(), 0, "max_deliveries 1 was never passed");
    assert!(pending(&url, "s", "g").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_entry_whose_dead_letter_cannot_be_written_stays_pending() {
    let server = RedisServer::start();
    let url = server.url();
    load(&url, "s", 0..3).await;
    let mut conn = common::conn(&url).await;
    let _: () = conn.set("s:dead", "not a stream").await.unwrap();
    // Deliver once, abandon, then start again with max_deliveries 1.
    let handle = Pipeline::from_source(source(&server, "c1"))
        .then("stuck", |e: Entry| async move {
            std::future::pending::<()>().await;
            e
        })
        .sink(sink::drain())
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(10), || handle.monitor().report().source_items() > 0).await;
    handle.abort().await.unwrap();
    let err = Pipeline::from_source(source(&server, "c1").max_deliveries(1))
        .sink(sink::drain())
        .run()
        .await
        .unwrap_err();
    assert!(format!("{err}").contains("WRONGTYPE") || format!("{:?}", err).contains("WRONGTYPE"), "{err:?}");
    assert_eq!(
        pending(&url, "s", "g").await,
        (0..3).collect(),
        "nothing acknowledged without its dead letter"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_during_an_outage_returns_within_seconds() {
    let mut server = RedisServer::start();
    let url = server.url();
    load(&url, "s", 0..2000).await;
    let store = Store::default();
    let src = source(&server, "c1").batch(100);
    let counters = src.counters();
    let handle = run_slowly(src, Duration::from_millis(1), store.clone());
    wait_for(Duration::from_secs(20), || store.committed().len() >= 200).await;
    server.stop().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let report = handle.abort().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    assert!(report.is_conserved());
    // What was stored while Redis was down could not be acknowledged.
    assert_eq!(
        counters.acked() + counters.ack_failures(),
        report.delivered(),
        "every delivered entry was acknowledged or counted as not"
    );
    let _ = url;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_deleted_mid_run_ends_the_run_with_what_to_do() {
    let server = RedisServer::start();
    let url = server.url();
    load(&url, "s", 0..10).await;
    let (collect, out) = sink::collect();
    let handle = Pipeline::from_source(source(&server, "c1")).sink(collect).spawn().unwrap();
    wait_for(Duration::from_secs(10), || out.len() == 10).await;
    let mut conn = common::conn(&url).await;
    let _: () = redis::cmd("XGROUP").arg("DESTROY").arg("s").arg("g").query_async(&mut conn).await.unwrap();
    let err = handle.join().await.unwrap_err();
    let RunError::Sink { error, .. } = &err else { panic!("{err:?}") };
    let text = error.to_string();
    assert!(text.contains("consumer group \"g\" of stream \"s\" is gone"), "{text}");
}
