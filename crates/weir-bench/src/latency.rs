//! Latency of single items through an idle stage: weir against the
//! hand-written mpmc baseline.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use weir::prelude::*;
use weir_fanout::{FanOut, FanOutExt};

/// p50 and p99 of one item's trip through an idle stage.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Latency {
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
}

fn summarize(h: &Histogram<u64>) -> Latency {
    Latency {
        p50: Duration::from_nanos(h.value_at_quantile(0.5)),
        p99: Duration::from_nanos(h.value_at_quantile(0.99)),
    }
}

/// Sends `n` items one at a time and times each round trip.
async fn measure(
    n: u64,
    tx: async_channel::Sender<u64>,
    rx: &mut tokio::sync::mpsc::Receiver<u64>,
) -> Latency {
    let mut h = Histogram::<u64>::new(3).expect("histogram");
    for i in 0..n {
        let t = Instant::now();
        tx.send(i).await.expect("pipeline alive");
        rx.recv().await.expect("item comes back");
        h.record(t.elapsed().as_nanos() as u64).expect("in range");
    }
    summarize(&h)
}

pub(crate) async fn weir(n: u64, workers: usize) -> Latency {
    let (tx, source) = async_channel::bounded::<u64>(16);
    let (back, mut rx) = tokio::sync::mpsc::channel::<u64>(16);
    let handle =
        Pipeline::new(source)
            .fan_out("work", FanOut::workers(workers).capacity(1024), |i: u64| async move {
                Ok::<_, Infallible>(i)
            })
            .halt_on_error()
            .sink(back)
            .spawn()
            .expect("valid pipeline");
    let latency = measure(n, tx, &mut rx).await;
    drop(handle);
    latency
}

pub(crate) async fn baseline(n: u64, workers: usize) -> Latency {
    let (tx, rx_in) = async_channel::bounded::<u64>(1024);
    let (back, mut rx) = tokio::sync::mpsc::channel::<u64>(16);
    let (otx, mut orx) = tokio::sync::mpsc::channel::<u64>(1024);
    for _ in 0..workers {
        let rx_in = rx_in.clone();
        let otx = otx.clone();
        tokio::spawn(async move {
            while let Ok(i) = rx_in.recv().await {
                if otx.send(i).await.is_err() {
                    break;
                }
            }
        });
    }
    let collector = tokio::spawn(async move {
        while let Some(i) = orx.recv().await {
            if back.send(i).await.is_err() {
                break;
            }
        }
    });
    let latency = measure(n, tx, &mut rx).await;
    collector.abort();
    latency
}
