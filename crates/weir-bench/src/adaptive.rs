//! Adaptive concurrency against fixed worker counts, on a simulated
//! database (weir-testkit's `SimDatabase`: it serves K requests at a time
//! in 5 ms each, plus up to 20 % jitter; K = 48, unknown to weir; down
//! from 10 s to 15 s), on a paused clock: 30 s of virtual time per case,
//! deterministic. Fixed counts are swept by powers of two; the adaptive
//! limit runs without configuration over 256 workers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use weir::fanout::{FanOut, FanOutExt};
use weir::flow::{Adaptive, AdaptiveExt};
use weir::prelude::*;
use weir::sink;
use weir_testkit::sim::SimDatabase;

const K: u32 = 48;
const BASE: Duration = Duration::from_millis(5);
const RUN: Duration = Duration::from_secs(30);
const OUTAGE: (Duration, Duration) = (Duration::from_secs(10), Duration::from_secs(15));
/// Throughput is counted per bucket of this length.
const BUCKET: Duration = Duration::from_millis(100);

/// One case's results.
struct Outcome {
    label: String,
    /// Writes per second of the run, outage included.
    throughput: f64,
    p99: Duration,
    /// From the outage's end until a bucket reaches 90 % of the mean
    /// throughput before it.
    recovery: Option<Duration>,
    /// The adaptive limit every 250 ms.
    limits: Vec<u32>,
}

async fn case(workers: usize, adaptive: Option<Adaptive>) -> Outcome {
    let db = SimDatabase::new(K, BASE).jitter(0.2).outage(OUTAGE.0, OUTAGE.1);
    let start = tokio::time::Instant::now();
    let buckets = Arc::new(Mutex::new(vec![0u64; (RUN.as_millis() / BUCKET.as_millis()) as usize + 1]));
    let latency = Arc::new(Mutex::new(Histogram::<u64>::new(3).expect("histogram")));
    let write = {
        let (db, buckets, latency) = (db.clone(), buckets.clone(), latency.clone());
        move |_: u64| {
            let (db, buckets, latency) = (db.clone(), buckets.clone(), latency.clone());
            async move {
                let took = db.write().await?;
                let bucket = (start.elapsed().as_millis() / BUCKET.as_millis()) as usize;
                if let Some(count) = buckets.lock().expect("buckets").get_mut(bucket) {
                    *count += 1;
                }
                latency.lock().expect("latency").record(took.as_micros() as u64).expect("in range");
                Ok::<_, weir_testkit::sim::Down>(())
            }
        }
    };
    let config = FanOut::workers(workers).capacity(workers * 2);
    let source = Pipeline::from_iter(0u64..);
    let handle = match &adaptive {
        Some(limit) => {
            source.fan_out("db", config, write.adaptive(limit.clone())).discard_failures().sink(sink::drain())
        }
        None => source.fan_out("db", config, write).discard_failures().sink(sink::drain()),
    }
    .spawn()
    .expect("builds");
    let mut limits = Vec::new();
    while start.elapsed() < RUN {
        tokio::time::sleep(Duration::from_millis(250)).await;
        limits.push(adaptive.as_ref().map_or(workers as u32, Adaptive::limit));
    }
    handle.abort().await.ok();
    let buckets = buckets.lock().expect("buckets").clone();
    let before: Vec<u64> = buckets[20..(OUTAGE.0.as_millis() / BUCKET.as_millis()) as usize].to_vec();
    let mean_before = before.iter().sum::<u64>() as f64 / before.len() as f64;
    let end = (OUTAGE.1.as_millis() / BUCKET.as_millis()) as usize;
    let recovery =
        buckets[end..].iter().position(|b| *b as f64 >= 0.9 * mean_before).map(|i| BUCKET * (i as u32 + 1));
    let label = match adaptive {
        Some(_) => "adaptive (no configuration)".to_owned(),
        None => format!("fixed {workers}"),
    };
    let p99 = Duration::from_micros(latency.lock().expect("latency").value_at_quantile(0.99));
    Outcome { label, throughput: db.writes() as f64 / RUN.as_secs_f64(), p99, recovery, limits }
}

fn paused<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime")
        .block_on(future)
}

/// Runs every case and prints the table, then the adaptive limit's
/// curve.
pub(crate) fn bench() {
    let mut fixed: Vec<Outcome> =
        [1, 2, 4, 8, 16, 32, 64, 128, 256].into_iter().map(|c| paused(case(c, None))).collect();
    let adaptive = paused(case(256, Some(Adaptive::new())));
    let best = fixed.iter().max_by(|a, b| a.throughput.total_cmp(&b.throughput)).expect("cases");
    let (best_throughput, best_p99, best_label) = (best.throughput, best.p99, best.label.clone());
    println!(
        "simulated database: K = {K} at a time, {BASE:?} each (+ up to 20 % jitter), down {OUTAGE:?}; {RUN:?} per case, paused clock"
    );
    println!("{:<28} {:>12} {:>9} {:>10} {:>12}", "case", "writes/s", "vs best", "p99", "recovery");
    fixed.push(adaptive);
    for o in &fixed {
        let recovery = o.recovery.map_or("never".to_owned(), |r| format!("{r:?}"));
        println!(
            "{:<28} {:>12.0} {:>8.2}x {:>10.1?} {:>12}",
            o.label,
            o.throughput,
            o.throughput / best_throughput,
            o.p99,
            recovery
        );
    }
    let adaptive = fixed.last().expect("adaptive");
    let within = adaptive.throughput >= 0.9 * best_throughput;
    let recovered = adaptive.recovery.is_some_and(|r| r <= Duration::from_secs(2));
    let latency = adaptive.p99 <= best_p99;
    println!(
        "targets: throughput within 10 % of the best fixed ({best_label}): {}; recovery within 2 s: {}; p99 no worse than the best fixed: {}",
        yes(within),
        yes(recovered),
        yes(latency)
    );
    println!("the adaptive limit every 250 ms (outage from 10 s to 15 s):");
    for (second, limits) in adaptive.limits.chunks(4).enumerate() {
        let limits: Vec<String> = limits.iter().map(u32::to_string).collect();
        println!("  {:>2} s: {}", second, limits.join(" "));
    }
}

fn yes(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}
