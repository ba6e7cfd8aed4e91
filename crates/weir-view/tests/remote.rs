//! `weir top` in another process reads the sampler's history from the
//! metrics endpoint (`GET /weir/samples`): what it reads is what the
//! sampler recorded; an endpoint without samples, or nothing listening,
//! is a clear error.

use std::time::Duration;

use futures::StreamExt as _;
use weir_core::prelude::*;
use weir_core::sink;
use weir_metrics::{Exporter, SAMPLES_PATH};
use weir_view::top::Feed;
use weir_view::{AttachError, Sample, Sampler};

/// The same sample, read through JSON (floats to within rounding).
fn assert_same(there: &Sample, here: &Sample) {
    assert_eq!(there.conservation, here.conservation);
    assert!((there.at - here.at).abs() < 1e-9, "{} vs {}", there.at, here.at);
    for (a, b) in there.stages.iter().zip(&here.stages) {
        assert_eq!(
            (&a.name, a.received, a.emitted, a.in_flight),
            (&b.name, b.received, b.emitted, b.in_flight)
        );
        assert!((a.out_per_sec - b.out_per_sec).abs() < 1e-6, "{a:?} vs {b:?}");
    }
    assert_eq!(there.stages.len(), here.stages.len());
}

#[tokio::test]
async fn the_remote_feed_reads_what_the_sampler_recorded() {
    let ticks = tokio_stream::wrappers::IntervalStream::new(tokio::time::interval(Duration::from_millis(5)));
    let handle =
        Pipeline::new(ticks.map(|_| 1_u64)).map("double", |x| x * 2).sink(sink::drain()).spawn().unwrap();
    let sampling = Sampler::new().every(Duration::from_millis(50)).start(handle.monitor()).unwrap();
    let history = sampling.history();
    let exporter = Exporter::new(handle.monitor()).samples(move || history.to_json());
    let server = exporter.serve("127.0.0.1:0").await.unwrap();
    tokio::time::sleep(Duration::from_millis(180)).await;

    let url = format!("http://{}", server.local_addr());
    let feed = Feed::remote(&url).unwrap();
    let there = feed.snapshot().await.unwrap();
    let here = sampling.history().snapshot();
    assert!(there.samples.len() >= 2, "{} samples", there.samples.len());
    // Sampled between the two reads at most once more.
    assert!(here.samples.len() - there.samples.len() <= 1);
    assert_same(&there.samples[0], &here.samples[0]);
    assert_eq!(there.keep, 300);
    let names: Vec<&str> = there.samples[0].stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["source", "double", "sink"]);

    // The same path given in full reads the same.
    let full = Feed::remote(&format!("{url}{SAMPLES_PATH}")).unwrap().snapshot().await.unwrap();
    assert_same(&full.samples[0], &here.samples[0]);
    drop(handle);
}

#[tokio::test]
async fn an_endpoint_without_samples_says_what_is_missing() {
    let handle = Pipeline::from_iter(0..10_u64).sink(sink::drain()).spawn().unwrap();
    let server = Exporter::new(handle.monitor()).serve("127.0.0.1:0").await.unwrap();
    let feed = Feed::remote(&format!("http://{}", server.local_addr())).unwrap();
    let error = feed.snapshot().await.unwrap_err();
    assert!(matches!(error, AttachError::Http { .. }), "{error:?}");
    assert!(error.to_string().contains("serves no samples"), "{error}");
    handle.join().await.unwrap();
}

#[tokio::test]
async fn an_endpoint_that_is_not_weir_is_not_a_history() {
    let handle = Pipeline::from_iter(0..10_u64).sink(sink::drain()).spawn().unwrap();
    let exporter = Exporter::new(handle.monitor()).samples(|| "{\"hello\": 1}".to_owned());
    let server = exporter.serve("127.0.0.1:0").await.unwrap();
    let feed = Feed::remote(&format!("http://{}", server.local_addr())).unwrap();
    let error = feed.snapshot().await.unwrap_err();
    assert!(matches!(error, AttachError::NotAHistory { .. }), "{error:?}");
    handle.join().await.unwrap();
}

#[tokio::test]
async fn nothing_listening_is_a_connection_error_that_names_the_flag() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let feed = Feed::remote(&format!("http://{free}")).unwrap();
    let error = feed.snapshot().await.unwrap_err();
    assert!(matches!(error, AttachError::Http { .. }), "{error:?}");
    assert!(error.to_string().contains("--metrics-addr"), "{error}");
}
