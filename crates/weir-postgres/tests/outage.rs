//! The server stops mid-run and comes back: the retry layer tries the
//! failed batches again, and in the end nothing is lost and nothing is
//! stored twice.

mod common;

use std::time::Duration;

use common::{client, count, packet, server};
use futures::StreamExt;
use weir_core::prelude::*;
use weir_packet::Packet;
use weir_postgres::PgSink;
use weir_retry::{RetryPolicy, RetrySinkExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stopped_and_restarted_mid_run() {
    let mut server = server();
    let url = server.url();
    let n: u64 = 40_000;
    let sink = PgSink::<Packet>::connect(&url).await.unwrap();
    let counters = sink.counters();

    // The source holds its second half back until the server is down, so
    // the outage surely falls in the middle of the run.
    let (down_tx, down_rx) = tokio::sync::watch::channel(false);
    let source = futures::stream::iter(0..n).then(move |i| {
        let mut down = down_rx.clone();
        async move {
            if i == n / 2 {
                down.wait_for(|d| *d).await.expect("the outage thread signals");
            }
            packet(i)
        }
    });
    let watcher = counters.clone();
    let outage = std::thread::spawn(move || {
        while watcher.batches() < 5 {
            std::thread::sleep(Duration::from_millis(5));
        }
        server.stop().expect("stop");
        down_tx.send(true).expect("the source waits");
        std::thread::sleep(Duration::from_millis(1_500));
        server.restart().expect("restart");
        server
    });

    let policy =
        RetryPolicy::exponential(Duration::from_millis(20)).cap(Duration::from_millis(250)).max_attempts(100);
    let report = Pipeline::new(source)
        .batch("batch", 1_000, Duration::from_millis(10))
        .sink(sink.retry(policy))
        .await
        .expect("the retries outlast the outage");
    let server = outage.join().expect("outage thread");

    let db = client(&server).await;
    assert_eq!(count(&db, "packets").await, n, "nothing lost");
    assert_eq!(report.delivered(), n, "each item delivered once");
    assert!(report.is_conserved());
    assert_eq!(counters.inserted(), n, "each row inserted once");
    assert!(counters.failed_batches() > 0, "the outage failed some tries");
    assert!(counters.connections() >= 2, "the sink reconnected");
    let sink = report.stage("sink").unwrap();
    assert!(sink.retries > 0, "the report counts the retries: {sink:?}");
}
