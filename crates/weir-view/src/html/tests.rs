//! The page of a real run.

use std::fmt;
use std::time::Duration;

use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::IntervalStream;
use weir_core::prelude::*;
use weir_core::sink;

use super::render;
use crate::{Sampler, Snapshot};

/// The error of the `check` stage.
#[derive(Debug)]
struct Fifth(u64);

impl fmt::Display for Fifth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is a multiple of five", self.0)
    }
}

impl std::error::Error for Fifth {}

/// A run of 30 items, one every 100 ms, sampled every second, through
/// seven stages (a queue among them); every fifth item is dead-lettered.
async fn run() -> Result<(Snapshot, Report), Box<dyn std::error::Error>> {
    let ticks = IntervalStream::new(tokio::time::interval(Duration::from_millis(100))).take(30);
    let mut count = 0;
    let handle = Pipeline::new(ticks)
        .map("a<b&c", move |_| {
            count += 1;
            count
        })
        .try_map("check", |n: u64| if n.is_multiple_of(5) { Err(Fifth(n)) } else { Ok(n) })
        .route_failures(|failure, _| {
            failure.settle(Settled::DeadLettered);
            std::future::ready(())
        })
        .buffer("queue", 4)
        .map("double", |n| n * 2)
        .map("a stage with a rather long name", |n| n + 1)
        .sink(sink::drain())
        .spawn()?;
    let sampling = Sampler::new().every(Duration::from_secs(1)).start(handle.monitor())?;
    let report = handle.join().await?;
    Ok((sampling.finish(&report).snapshot(), report))
}

/// The texts of the page's `<text>` elements.
fn texts(page: &str) -> Vec<&str> {
    page.split("<text").skip(1).filter_map(|rest| rest.split_once("</text>").map(|(text, _)| text)).collect()
}

#[tokio::test(start_paused = true)]
async fn a_run_renders_as_a_self_contained_page() -> Result<(), Box<dyn std::error::Error>> {
    let (snapshot, report) = run().await?;
    assert!(snapshot.samples.len() >= 2, "{} samples", snapshot.samples.len());
    assert_eq!(report.stages().len(), 7);
    let page = render("ticks <run> & 'more'", &snapshot, &report);
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.trim_end().ends_with("</html>"));
    assert!(page.contains("<svg"));
    assert!(!page.contains("not enough samples"));
    let texts = texts(&page);
    for stage in report.stages() {
        let name = stage.name.replace('&', "&amp;").replace('<', "&lt;");
        assert!(texts.iter().any(|t| t.ends_with(&format!(">{name}"))), "no <text> of {name}");
    }
    for reference in ["http://", "https://", "src=", "href=", "<script", "<link", "url(http"] {
        assert!(!page.contains(reference), "the page refers to {reference}");
    }
    assert!(page.contains("a&lt;b&amp;c") && !page.contains("a<b&c"));
    assert!(page.contains("ticks &lt;run&gt; &amp; &#39;more&#39;"));
    assert!(page.contains(r#"class="conservation ok""#));
    assert!(page.contains("dead letters by class per stage") && !page.contains("No dead letters"));
    assert!(page.contains("queue depth per stage over time") && page.contains("stroke-dasharray"));
    assert_eq!(page, render("ticks <run> & 'more'", &snapshot, &report), "not deterministic");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn an_empty_history_says_there_are_not_enough_samples() -> Result<(), Box<dyn std::error::Error>> {
    let (_, report) = run().await?;
    let page = render("empty", &Snapshot::default(), &report);
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("not enough samples"));
    assert!(page.contains("<svg"), "the stage graph needs no samples");
    assert!(page.contains("from 0 samples"));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_run_without_failures_or_queues_says_so() -> Result<(), Box<dyn std::error::Error>> {
    let handle = Pipeline::from_iter(0..100).map("double", |x| x * 2).sink(sink::drain()).spawn()?;
    let sampling = Sampler::new().start(handle.monitor())?;
    let report = handle.join().await?;
    let mut snapshot = sampling.finish(&report).snapshot();
    let mut later = snapshot.samples[0].clone();
    later.at += 1.0;
    snapshot.samples.push_back(later);
    let page = render("plain", &snapshot, &report);
    assert!(page.contains("No dead letters"));
    assert!(page.contains("No stage has a queue"));
    assert!(!page.contains("not enough samples"));
    Ok(())
}
