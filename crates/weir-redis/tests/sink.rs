//! The XADD sink against a real redis-server.

mod common;

use std::time::Duration;

use redis::AsyncCommands;
use weir_core::prelude::*;
use weir_core::{ErrorClass, Sink};
use weir_redis::{RedisError, RedisSink};
use weir_testkit::redis::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_item_is_in_the_stream_once_the_run_returns() {
    let server = RedisServer::start();
    let sink = RedisSink::new(server.url(), "out", |n: &u32, f| {
        f.field("n", n.to_string()).field("bin", n.to_le_bytes());
    });
    let counters = sink.counters();
    let report = Pipeline::from_iter(0..10_000u32).sink(sink).run().await.unwrap();
    assert_eq!(report.delivered(), 10_000);
    assert_eq!(counters.added(), 10_000);
    let mut conn = common::conn(&server.url()).await;
    assert_eq!(conn.xlen::<_, u64>("out").await.unwrap(), 10_000);
    let first: redis::streams::StreamRangeReply = conn.xrange_count("out", "-", "+", 1).await.unwrap();
    let bin: Vec<u8> = first.ids[0].get("bin").unwrap();
    assert_eq!(bin, 0u32.to_le_bytes(), "binary values go through as they are");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_len_trims_the_stream_to_about_that_many() {
    let server = RedisServer::start();
    let sink = RedisSink::new(server.url(), "out", |n: &u32, f| {
        f.field("n", n.to_string());
    })
    .max_len(1000);
    Pipeline::from_iter(0..20_000u32).sink(sink).run().await.unwrap();
    let len: u64 = common::conn(&server.url()).await.xlen("out").await.unwrap();
    // `~` trims whole nodes (100 entries by default): about 1000, never 20 000.
    assert!((1000..1200).contains(&len), "{len}");
}

#[tokio::test]
async fn an_item_without_fields_is_given_back_as_permanent() {
    let mut sink = RedisSink::new("redis://127.0.0.1:1/", "out", |_: &u32, _| {});
    let err = sink.send(7).await.unwrap_err();
    assert!(matches!(err.error(), RedisError::NoFields));
    assert_eq!((err.class(), err.item()), (ErrorClass::Permanent, Some(&7)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_during_an_outage_is_sent_again_after_it() {
    let mut server = RedisServer::start();
    let mut sink = RedisSink::new(server.url(), "out", |n: &u32, f| {
        f.field("n", n.to_string());
    });
    let counters = sink.counters();
    for n in 0..10 {
        sink.send(n).await.unwrap();
    }
    sink.flush().await.unwrap();
    server.stop().unwrap();
    for n in 10..20 {
        sink.send(n).await.unwrap();
    }
    let port = server.port();
    let restart = tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_millis(500));
        server.restart().unwrap();
        server
    });
    sink.flush().await.unwrap(); // reconnects with backoff until the server is back
    let server = restart.await.unwrap();
    assert_eq!(server.port(), port);
    assert_eq!(counters.added(), 20);
    assert!(counters.reconnects() >= 1);
    let len: u64 = common::conn(&server.url()).await.xlen("out").await.unwrap();
    assert_eq!(len, 20);
}

#[tokio::test]
async fn a_bad_url_is_a_build_error() {
    let sink = RedisSink::new("http://nope", "out", |n: &u32, f| {
        f.field("n", n.to_string());
    });
    let err = Pipeline::from_iter(0..1u32).sink(sink).run().await.unwrap_err();
    assert!(matches!(err, RunError::Build(_)), "{err}");
}
