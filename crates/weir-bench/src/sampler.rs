//! The sampler's cost (issue 16): each fan-out case of the `fanout` table
//! run with and without a sampler (stage timing on, a sample every
//! 100 ms: ten times the default rate), interleaved, best of several runs.
//!
//! ```text
//! cargo run --release -p weir-bench -- sampler          # the table
//! cargo run --release -p weir-bench -- sampler --quick  # 10x fewer items
//! ```

use std::time::Duration;

use crate::table::{Row, Table};
use crate::weir_cases::{self, Mode};
use crate::work::{self, Work};
use crate::{best_pair, rate};

/// How often the sampler samples here: ten times its default.
const EVERY: Duration = Duration::from_millis(100);

pub(crate) fn bench(quick: bool) {
    work::calibrate();
    let n: u64 = if quick { 1_000_000 } else { 10_000_000 };
    let cpu_items: u64 = if quick { 4_000 } else { 40_000 };
    let cases = [
        (format!("3 workers, trivial, cap 10, {n} items"), n, 3, 10, Mode::Unordered, Work::Trivial, 5),
        (format!("3 workers, trivial, cap 1024, {n} items"), n, 3, 1024, Mode::Unordered, Work::Trivial, 9),
        (
            format!("3 workers, trivial, cap 1024, keyed, {n} items"),
            n,
            3,
            1024,
            Mode::Keyed,
            Work::Trivial,
            9,
        ),
        (
            format!("3 workers, trivial, cap 1024, retry layer, {n} items"),
            n,
            3,
            1024,
            Mode::Retrying,
            Work::Trivial,
            9,
        ),
        (
            format!("2 workers, CPU-bound ~20 us/item, cap 64, {cpu_items} items"),
            cpu_items,
            2,
            64,
            Mode::Unordered,
            Work::Cpu(20),
            5,
        ),
    ];
    let mut table = Table::default();
    for (case, items, workers, cap, mode, work, runs) in cases {
        let (plain, sampled) = best_pair(
            runs,
            || rate(items, || weir_cases::fan_out_sampled(items, workers, cap, mode, work, None)),
            || rate(items, || weir_cases::fan_out_sampled(items, workers, cap, mode, work, Some(EVERY))),
        );
        table.push(Row::baseline(&case, "weir fan-out, no sampler", plain));
        table.push(
            Row::measured(&case, "weir fan-out, sampled every 100 ms", sampled)
                .vs("no sampler", plain)
                .target(">= 0.98x no sampler (cost <= 2 %)", sampled >= 0.98 * plain),
        );
    }
    println!("{table}");
}

/// `sampler-one cap10|cap1024|cpu plain|sampled|watched RUNS`: one case,
/// for a profiler (`watched`: stage timing on, no samples taken).
pub(crate) fn one(args: &[String]) {
    work::calibrate();
    let (items, workers, cap, work) = match args.first().map(String::as_str) {
        Some("cap10") => (10_000_000, 3, 10, Work::Trivial),
        Some("cpu") => (40_000, 2, 64, Work::Cpu(20)),
        _ => (10_000_000, 3, 1024, Work::Trivial),
    };
    let every = match args.get(1).map(String::as_str) {
        Some("sampled") => Some(EVERY),
        Some("watched") => Some(Duration::from_secs(3600)),
        _ => None,
    };
    let runs: usize = args.get(2).map_or(5, |n| n.parse().expect("runs"));
    for _ in 0..runs {
        let r =
            rate(items, || weir_cases::fan_out_sampled(items, workers, cap, Mode::Unordered, work, every));
        println!("{:.3} M items/s", r / 1e6);
    }
}
