//! weir's benchmark runner: weir's fan-out and hand-written tokio baselines
//! on the same work, in one process, printed as a table of items/s and
//! ratios (see BENCHMARKS.md).
//!
//! ```text
//! cargo run --release -p weir-bench -- fanout          # the full table
//! cargo run --release -p weir-bench -- fanout --quick  # 10x fewer items
//! cargo run --release -p weir-bench -- sqlite          # rows into SQLite
//! cargo run --release -p weir-bench -- postgres        # PgSink vs a hand-written COPY loop
//! cargo run --release -p weir-bench -- tcp             # the ingest job's TCP intake vs a hand-written server
//! cargo run --release -p weir-bench -- window          # keyed windows vs a hand-written HashMap aggregation
//! cargo run --release -p weir-bench -- redis           # RedisSource consumers vs a hand-written XREADGROUP loop
//! cargo run --release -p weir-bench -- inline          # inline stages vs hand-written code (issue 12)
//! cargo run --release -p weir-bench -- sampler         # the cost of a sampler (weir top, --report) on the fan-out cases
//! ```

mod adaptive;
mod baselines;
mod inline;
mod inline_baselines;
mod inline_items;
mod latency;
mod memory;
mod postgres;
mod procstat;
mod redis;
mod redis_consumer;
mod sampler;
mod seed;
mod sqlite;
mod table;
mod tcp;
mod weir_cases;
mod window;
mod work;

use std::future::Future;
use std::time::Instant;

use table::{Row, Table};
use weir_cases::Mode;
use work::Work;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("fanout") => fanout(args.iter().any(|a| a == "--quick")),
        Some("adaptive") => adaptive::bench(),
        Some("postgres") => postgres::bench(args.iter().any(|a| a == "--quick")),
        Some("tcp") => tcp::bench(args.iter().any(|a| a == "--quick")),
        Some("window") => window::bench(args.iter().any(|a| a == "--quick")),
        Some("redis") => {
            let fsync = args.iter().position(|a| a == "--fsync").and_then(|i| args.get(i + 1));
            let fsync = fsync.map_or("everysec", String::as_str);
            redis::bench(args.iter().any(|a| a == "--quick"), fsync)
        }
        Some("inline") => inline::bench(args.iter().any(|a| a == "--quick")),
        Some("sampler") => sampler::bench(args.iter().any(|a| a == "--quick")),
        Some("sampler-one") => sampler::one(&args[1..]),
        Some("latency") => {
            // `latency N`: the idle-stage latency rows alone, N items each.
            let n: u64 = args.get(1).map_or(20_000, |n| n.parse().expect("items"));
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
            let base = rt.block_on(latency::baseline(n, 3));
            let weir = rt.block_on(latency::weir(n, 3));
            println!(
                "mpmc p50 {:.1?} p99 {:.1?}; weir p50 {:.1?} p99 {:.1?}",
                base.p50, base.p99, weir.p50, weir.p99
            );
        }
        Some("inline-one") => inline::one(&args[1..]),
        Some("redis-consumer") => redis_consumer::main(&args[1..]),
        Some("one") => {
            let n: u64 = args[2].parse().expect("items");
            let workers: usize = args[3].parse().expect("workers");
            let cap: usize = args[4].parse().expect("capacity");
            let r = match args[1].as_str() {
                "mpmc" => rate(n, || baselines::mpmc(n, workers, cap, Work::Trivial)),
                "retry" => rate(n, || weir_cases::fan_out(n, workers, cap, Mode::Retrying, Work::Trivial)),
                "inline" => rate(n, || weir_cases::inline(n)),
                "batched" => rate(n, || baselines::mpmc_batched(n, workers, cap, 64, Work::Trivial)),
                _ => rate(n, || weir_cases::fan_out(n, workers, cap, Mode::Unordered, Work::Trivial)),
            };
            println!("{} {:.2} M items/s", args[1], r / 1e6);
        }
        Some("sqlite") => sqlite_table(args.iter().any(|a| a == "--quick")),
        Some("sqlite-one") => {
            // One case, for a profiler: sqlite-one weir|weir-same|packets|tuned|naive ROWS BATCH
            let rows: u64 = args[2].parse().expect("rows");
            let batch: usize = args[3].parse().expect("batch");
            let r = match args[1].as_str() {
                "naive" => sqlite::hand_written(rows, 1),
                "tuned" => sqlite::hand_written(rows, batch as u64),
                "packets" => sqlite::weir_packets(rows, batch),
                "weir-same" => sqlite::weir(rows, batch, Some(batch)),
                _ => sqlite::weir(rows, batch, None),
            };
            sqlite::clean();
            println!("{} {:.0} rows/s", args[1], r);
        }
        Some("rss-child") => memory::child(args[1].parse().expect("item count")),
        _ => {
            eprintln!(
                "usage: weir-bench fanout [--quick] | latency [N] | sqlite [--quick] | postgres [--quick] | tcp [--quick] | window [--quick] | redis [--quick] [--fsync always|everysec|off] | inline [--quick] | sampler [--quick]"
            );
            std::process::exit(2);
        }
    }
}

/// Runs `f` on a fresh multi-thread runtime (like the anchors) and returns items/s.
fn rate<F, Fut>(items: u64, f: F) -> f64
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = u64>,
{
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let t = Instant::now();
    let acc = rt.block_on(f());
    let secs = t.elapsed().as_secs_f64();
    std::hint::black_box(acc);
    items as f64 / secs
}

/// Best of `runs` runs of each of two cases, interleaved (and in turns
/// first) so that a slow spell of the machine falls on both alike.
fn best_pair<F: FnMut() -> f64, G: FnMut() -> f64>(runs: usize, mut f: F, mut g: G) -> (f64, f64) {
    let (mut a, mut b) = (0.0_f64, 0.0_f64);
    for run in 0..runs {
        if run % 2 == 0 {
            a = a.max(f());
            b = b.max(g());
        } else {
            b = b.max(g());
            a = a.max(f());
        }
    }
    (a, b)
}

/// Best of `runs` runs, to damp the noise of a shared machine.
fn best<F: FnMut() -> f64>(runs: usize, mut f: F) -> f64 {
    (0..runs).map(|_| f()).fold(0.0, f64::max)
}

fn fanout(quick: bool) {
    work::calibrate();
    let n: u64 = if quick { 1_000_000 } else { 10_000_000 };
    let mut table = Table::default();
    for cap in [10usize, 1024] {
        // Best of several runs: the machine is shared and a run of 3
        // threads on 2 cores varies by +-20 %; the fast cases get more runs.
        let runs = if cap == 10 { 3 } else { 7 };
        let case = format!("3 workers, trivial, cap {cap}, {n} items");
        let mpmc = best(runs, || rate(n, || baselines::mpmc(n, 3, cap, Work::Trivial)));
        let batched = best(runs, || rate(n, || baselines::mpmc_batched(n, 3, cap, 64, Work::Trivial)));
        let buffered = best(runs, || rate(n, || baselines::buffer_unordered(n, 3, Work::Trivial)));
        table.push(Row::baseline(&case, "mpmc, one item per message", mpmc));
        table.push(Row::baseline(&case, "mpmc, Vec batches of 64", batched));
        table.push(Row::baseline(&case, "futures buffer_unordered(3)", buffered));
        let seed = if cap == 10 { seed::rate(n / 10, 3) } else { None };
        if let Some(seed) = seed {
            table.push(Row::baseline(&case, "asyncio seed (python3, Queue(maxsize=10)), n/10 items", seed));
        }
        let mut unordered = 0.0;
        for (label, mode) in [
            ("weir unordered", Mode::Unordered),
            ("weir ordered", Mode::Ordered),
            ("weir keyed", Mode::Keyed),
            ("weir unordered + retry layer, nothing fails", Mode::Retrying),
        ] {
            let weir = best(runs, || rate(n, || weir_cases::fan_out(n, 3, cap, mode, Work::Trivial)));
            let mut row = Row::measured(&case, label, weir).vs("mpmc", mpmc).vs("batched", batched);
            if let Some(seed) = seed {
                row = row.vs("asyncio seed", seed);
            }
            if matches!(mode, Mode::Retrying) {
                row = row
                    .vs("weir unordered", unordered)
                    .target(">= 0.9x weir unordered", weir >= 0.9 * unordered);
            }
            if matches!(mode, Mode::Unordered) {
                unordered = weir;
                row = if cap == 1024 {
                    row.target(">= 6x mpmc and >= 0.5x batched", weir >= 6.0 * mpmc && weir >= 0.5 * batched)
                } else {
                    row.target(">= 1.0x mpmc", weir >= mpmc)
                };
            }
            table.push(row);
        }
    }
    let runs = 3;
    let cpu_items: u64 = if quick { 4_000 } else { 40_000 };
    let case = format!("CPU-bound ~20 us/item, cap 64, {cpu_items} items");
    let one = best(runs, || {
        rate(cpu_items, || weir_cases::fan_out(cpu_items, 1, 64, Mode::Unordered, Work::Cpu(20)))
    });
    let two = best(runs, || {
        rate(cpu_items, || weir_cases::fan_out(cpu_items, 2, 64, Mode::Unordered, Work::Cpu(20)))
    });
    let base2 = best(runs, || rate(cpu_items, || baselines::mpmc(cpu_items, 2, 64, Work::Cpu(20))));
    table.push(Row::baseline(&case, "mpmc, 2 workers", base2));
    table.push(Row::measured(&case, "weir, 1 worker", one));
    table.push(
        Row::measured(&case, "weir, 2 workers", two)
            .vs("1 worker", one)
            .vs("mpmc", base2)
            .target("speed-up 1 -> 2 workers >= 1.8x", two >= 1.8 * one),
    );
    let lat_n: u64 = if quick { 2_000 } else { 20_000 };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let base = rt.block_on(latency::baseline(lat_n, 3));
    let weir = rt.block_on(latency::weir(lat_n, 3));
    drop(rt);
    table.latency("idle stage, one item at a time", "mpmc baseline", base);
    table.latency("idle stage, one item at a time", "weir unordered", weir);
    let small = memory::peak_rss(n / 10);
    let large = memory::peak_rss(n);
    table.memory(n / 10, small, n, large);
    println!("{table}");
}

fn sqlite_table(quick: bool) {
    let rows: u64 = if quick { 100_000 } else { 1_000_000 };
    let naive_rows = rows / 10;
    let runs = 3;
    let mut table = Table::default();
    let case = |what: &str| format!("{rows} rows into SQLite (WAL, NORMAL), {what}");
    let naive = best(runs, || sqlite::hand_written(naive_rows, 1));
    table.push(Row::baseline(
        &case("autocommit"),
        &format!("naive loop: one insert per row ({naive_rows} rows)"),
        naive,
    ));
    let mut tuned_10k = 0.0;
    for txn in [1_000u64, 10_000, 100_000] {
        let case = case(&format!("{txn} rows per transaction"));
        let tuned = best(runs, || sqlite::hand_written(rows, txn));
        table.push(Row::baseline(
            &case,
            "tuned loop (anchors): prepared insert, one transaction per batch",
            tuned,
        ));
        // weir's batches are at most 10,000 rows; its transactions as the case says.
        let batch = txn.min(10_000) as usize;
        let label = if txn <= 10_000 {
            format!("weir batch({batch}) -> SqliteSink.transaction_rows({txn})")
        } else {
            format!(
                "weir batch({batch}) -> SqliteSink, default (a transaction per flush, at most {txn} rows)"
            )
        };
        let weir = best(runs, || sqlite::weir(rows, batch, (txn <= 10_000).then_some(txn as usize)));
        table.push(
            Row::measured(&case, &label, weir)
                .vs("tuned", tuned)
                .vs("naive", naive)
                .target(">= 0.85x tuned", weir >= 0.85 * tuned),
        );
        if txn == 10_000 {
            tuned_10k = tuned;
        } else if txn == 100_000 {
            // The issue's target: against the anchors' best loop (10,000 rows per transaction).
            table.push(
                Row::measured(&case, "(the same weir run, against the anchors' 10,000-row loop)", weir)
                    .vs("tuned 10k", tuned_10k)
                    .target(
                        ">= 250k rows/s and >= 0.85x tuned 10k",
                        weir >= 250_000.0 && weir >= 0.85 * tuned_10k,
                    ),
            );
            let packets = best(runs, || sqlite::weir_packets(rows, batch));
            table.push(
                Row::measured(
                    &case,
                    &format!("weir batch({batch}) -> SqliteSink<Packet>, default (readings as a BLOB)"),
                    packets,
                )
                .vs("tuned", tuned),
            );
        }
    }
    sqlite::clean();
    println!("{table}");
}
