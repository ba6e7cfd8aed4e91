//! Properties of the consumer-group source over random settings, against
//! one real redis-server (a stream per case): every entry ends stored
//! once or filtered, each is acknowledged, nothing stays pending.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{load, number, pending, wait_for};
use proptest::prelude::*;
use weir_core::prelude::*;
use weir_core::sink;
use weir_redis::{Entry, RedisSource};
use weir_testkit::redis::RedisServer;

proptest! {
    // Each case runs against a real server: 12 cases unless PROPTEST_CASES
    // says otherwise (TESTING.md).
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(12),
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_entry_is_stored_or_filtered_once_and_acknowledged(
        n in 1u64..400,
        read_batch in 1usize..64,
        prefetch in 1usize..4,
        batch in 1usize..100,
        skip_every in 2u64..10,
    ) {
        // One server for the cases, kept by the test's thread: a thread
        // local is dropped (and its redis-server stopped) when the thread
        // ends, where a static would leave the process running.
        thread_local! {
            static SERVER: RedisServer = RedisServer::start();
        }
        static CASE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let url = SERVER.with(RedisServer::url);
        let stream = format!("s{}", CASE.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async {
            load(&url, &stream, 0..n).await;
            let source = RedisSource::new(&url, &stream, "g", "c")
                .batch(read_batch)
                .prefetch(prefetch)
                .block(Duration::from_millis(50));
            let counters = source.counters();
            let (collect, out) = sink::collect();
            let handle = Pipeline::from_source(source)
                .filter("skip", move |e: &Entry| !number(e).is_multiple_of(skip_every))
                .batch("batch", batch, Duration::from_millis(2))
                .sink(collect)
                .spawn()
                .unwrap();
            let monitor = handle.monitor();
            wait_for(Duration::from_secs(20), || {
                let r = monitor.report();
                r.delivered() + r.filtered() == n
            })
            .await;
            let report = handle.shutdown().await.unwrap();
            assert!(report.is_conserved());
            let stored: Vec<u64> = out.take().concat().iter().map(number).collect();
            let unique: BTreeSet<u64> = stored.iter().copied().collect();
            assert_eq!(stored.len(), unique.len(), "each stored once");
            assert_eq!(unique, (0..n).filter(|x| !x.is_multiple_of(skip_every)).collect());
            assert_eq!(report.filtered(), (0..n).filter(|x| x.is_multiple_of(skip_every)).count() as u64);
            assert_eq!(counters.acked(), n, "stored and filtered entries alike are acknowledged");
            assert!(pending(&url, &stream, "g").await.is_empty());
        });
    }
}
