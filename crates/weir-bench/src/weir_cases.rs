//! weir's side of each benchmark case.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use weir::Sink;
use weir::prelude::*;
use weir_fanout::{FanOut, FanOutExt};
use weir_view::Sampler;

use crate::work::Work;

/// How the fan-out distributes items.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    Unordered,
    Ordered,
    Keyed,
    /// Unordered, the operation wrapped in a retry layer (nothing fails).
    Retrying,
}

/// XORs every item it receives, like the baselines' collectors.
#[derive(Debug, Default)]
pub(crate) struct XorSink {
    acc: u64,
    out: Arc<AtomicU64>,
}

impl Sink<u64> for XorSink {
    type Error = Infallible;

    async fn send(&mut self, item: u64) -> Result<(), SinkError<u64, Infallible>> {
        self.acc ^= item;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Infallible> {
        self.out.store(self.acc, Ordering::Relaxed);
        Ok(())
    }
}

fn op(work: Work) -> impl Fn(u64) -> Ready<Result<u64, Infallible>> + Send + Sync + Clone + 'static {
    move |i| ready(Ok(work.run(i)))
}

/// Runs `items` items through a weir fan-out stage into an XOR sink.
pub(crate) async fn fan_out(items: u64, workers: usize, cap: usize, mode: Mode, work: Work) -> u64 {
    fan_out_sampled(items, workers, cap, mode, work, None).await
}

/// [`fan_out`], with a sampler taking a sample every `sampled` while it
/// runs (stage timing on), as `weir top` and `--report` do.
pub(crate) async fn fan_out_sampled(
    items: u64,
    workers: usize,
    cap: usize,
    mode: Mode,
    work: Work,
    sampled: Option<Duration>,
) -> u64 {
    let sink = XorSink::default();
    let out = sink.out.clone();
    let source = Pipeline::new(futures::stream::iter(0..items));
    let config = FanOut::workers(workers).capacity(cap);
    let run = match mode {
        Mode::Unordered => source.fan_out("work", config, op(work)).discard_failures().sink(sink),
        Mode::Ordered => source.fan_out("work", config.ordered(), op(work)).discard_failures().sink(sink),
        Mode::Retrying => {
            let policy = RetryPolicy::exponential(std::time::Duration::from_millis(10))
                .max_attempts(5)
                .budget(RetryBudget::default());
            source.fan_out("work", config, op(work).retry(policy)).discard_failures().sink(sink)
        }
        Mode::Keyed => {
            source.fan_out_keyed("work", config, |i: &u64| *i % 1024, op(work)).discard_failures().sink(sink)
        }
    };
    let handle = run.spawn().expect("the benchmark pipeline starts");
    let sampling =
        sampled.map(|every| Sampler::new().every(every).start(handle.monitor()).expect("a sampler"));
    let report = handle.join().await.expect("the benchmark pipeline runs");
    assert!(report.is_conserved() && report.delivered() == items, "{report}");
    if let Some(sampling) = sampling {
        let history = sampling.finish(&report);
        assert!(!history.snapshot().samples.is_empty(), "sampled");
    }
    out.load(Ordering::Relaxed)
}

/// A pipeline without fan-out: the cost of weir's inline path alone.
pub(crate) async fn inline(items: u64) -> u64 {
    let sink = XorSink::default();
    let out = sink.out.clone();
    let report = Pipeline::new(futures::stream::iter(0..items))
        .map("work", |i| Work::Trivial.run(i))
        .sink(sink)
        .run()
        .await
        .expect("runs");
    assert_eq!(report.delivered(), items);
    out.load(Ordering::Relaxed)
}
