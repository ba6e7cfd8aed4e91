//! Inline stages against the same pipeline written by hand (issue 12): the
//! rows of the issue's table, weir's chain and its hand-written version
//! in one process, trivial work per item. The fan-out alone (cap 1024) is
//! the `fanout` table's, not repeated here.
//!
//! ```text
//! cargo run --release -p weir-bench -- inline                   # the table
//! cargo run --release -p weir-bench -- inline --quick           # 10x fewer items, best of 3
//! cargo run --release -p weir-bench -- inline-one decode weir N # one run, for a profiler
//! ```

use std::convert::Infallible;
use std::fmt;
use std::future::ready;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use weir::Sink;
use weir::prelude::*;
use weir::sink::{self, Collected, SendChunk};
use weir_packet::Packet;

use crate::inline_baselines as hand;
use crate::inline_items::{
    Block, LARGE, SMALL, block, checked, decode_frame, failures, frames, keep, key, work,
};
use crate::rate;
use crate::table::{Row, Table};
use crate::work::Work;

/// Adds a number from every item to a wrapping sum, like the hand-written
/// loops (a sum, not an XOR: the packet rows repeat their block).
struct Sum<F> {
    key: F,
    acc: u64,
    out: Arc<AtomicU64>,
}

impl<F> fmt::Debug for Sum<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sum").field("acc", &self.acc).finish_non_exhaustive()
    }
}

/// A [`Sum`] sink and the handle its total appears in when flushed.
fn sum<F>(key: F) -> (Sum<F>, Arc<AtomicU64>) {
    let out = Arc::new(AtomicU64::new(0));
    (Sum { key, acc: 0, out: out.clone() }, out)
}

impl<T, F> Sink<T> for Sum<F>
where
    T: Send + 'static,
    F: FnMut(&T) -> u64 + Send + 'static,
{
    type Error = Infallible;

    async fn send(&mut self, item: T) -> Result<(), SinkError<T, Infallible>> {
        self.acc = self.acc.wrapping_add((self.key)(&item));
        Ok(())
    }

    /// A run of items in one loop, as a sink that only buffers until its
    /// flush would take them.
    async fn send_chunk(&mut self, items: &mut SendChunk<'_, T>) -> Result<(), SinkError<T, Infallible>> {
        let key = &mut self.key;
        self.acc = items.fold(self.acc, |acc, item| acc.wrapping_add(key(&item)));
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Infallible> {
        self.out.store(self.acc, Ordering::Relaxed);
        Ok(())
    }
}

/// Runs a fallible row, checks its report and dead letters, and returns
/// the sink's sum.
async fn settled<T>(run: Runnable, items: u64, dead: &Collected<T>, out: &AtomicU64) -> u64 {
    let report = run.run().await.expect("runs");
    assert!(report.is_conserved(), "{report}");
    assert_eq!((report.dead_lettered(), dead.len() as u64), (failures(items), failures(items)), "{report}");
    out.load(Ordering::Relaxed)
}

/// One row of the issue's table.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Chain {
    /// map → filter → sink, on one task.
    MapFilter,
    /// try_map (1 % fail) → dead letters → sink.
    TryMap,
    /// 255-byte frames: decode (try_map) → dead letters → sink.
    Decode,
    /// decode → dead letters → fan-out 3 workers → batch 100 → sink,
    /// with frames of this many readings ([`SMALL`] or [`LARGE`]).
    DecodeFanOut(u8),
}

impl Chain {
    /// Every row, in the issue's order.
    const ALL: [Chain; 5] = [
        Chain::MapFilter,
        Chain::TryMap,
        Chain::Decode,
        Chain::DecodeFanOut(SMALL),
        Chain::DecodeFanOut(LARGE),
    ];

    /// The name `inline-one` takes.
    fn name(self) -> &'static str {
        match self {
            Chain::MapFilter => "map-filter",
            Chain::TryMap => "try-map",
            Chain::Decode => "decode",
            Chain::DecodeFanOut(SMALL) => "fan-out-50",
            Chain::DecodeFanOut(_) => "fan-out-255",
        }
    }

    /// The readings per packet of the frames it decodes.
    fn readings(self) -> u8 {
        match self {
            Chain::DecodeFanOut(readings) => readings,
            _ => LARGE,
        }
    }

    /// The table's case, and the labels of the hand-written and weir lines.
    fn labels(self, items: u64) -> (String, &'static str, &'static str) {
        let bytes = 30 + 5 * u32::from(self.readings());
        let (case, hand, weir) = match self {
            Chain::MapFilter => (
                "map -> filter -> sink, one task",
                "futures combinators: iter.map.filter.fold",
                "weir: from_iter.map.filter.sink",
            ),
            Chain::TryMap => (
                "try_map (1 % fail) -> dead letters -> sink",
                "plain loop, errors kept aside in a Vec",
                "weir: try_map.dead_letter(collect).sink",
            ),
            Chain::Decode => (
                "frames: decode (1 % malformed) -> dead letters -> sink",
                "plain loop, bad frames kept aside in a Vec",
                "weir: try_map_ref(decode).dead_letter(collect).sink",
            ),
            Chain::DecodeFanOut(_) => (
                "frames: decode -> dead letters -> fan-out 3 workers -> batch 100 -> sink",
                "async-channel batches of 64 + 3 worker tasks + a collector task batching 100",
                "weir: try_map_ref(decode).dead_letter.fan_out(3, cap 1024).batch(100).sink",
            ),
        };
        let case = match self {
            Chain::Decode | Chain::DecodeFanOut(_) => format!("{bytes}-byte {case}"),
            _ => case.to_owned(),
        };
        (format!("{case}, {items} items"), hand, weir)
    }

    /// The issue's target, as a ratio weir / hand-written.
    fn target(self) -> Option<f64> {
        match self {
            Chain::MapFilter => Some(0.25),
            Chain::TryMap => None,
            Chain::Decode | Chain::DecodeFanOut(_) => Some(0.8),
        }
    }

    /// Runs weir's version; returns the sink's sum.
    pub(crate) async fn weir(self, items: u64, block: Block) -> u64 {
        match self {
            Chain::MapFilter => {
                let (sink, out) = sum(|v: &u64| *v);
                let pipeline = Pipeline::from_iter(0..items).map("work", |i| Work::Trivial.run(i));
                let report = pipeline.filter("keep", keep).sink(sink).run().await.expect("runs");
                assert!(report.is_conserved() && report.delivered() + report.filtered() == items, "{report}");
                out.load(Ordering::Relaxed)
            }
            Chain::TryMap => {
                let ((dead, letters), (sink, out)) = (sink::collect(), sum(|v: &u64| *v));
                let pipeline = Pipeline::from_iter(0..items).try_map("work", checked);
                settled(pipeline.dead_letter(dead).sink(sink), items, &letters, &out).await
            }
            Chain::Decode => {
                let ((dead, letters), (sink, out)) = (sink::collect(), sum(key));
                let pipeline = Pipeline::from_iter(frames(block, items)).try_map_ref("decode", decode_frame);
                settled(pipeline.dead_letter(dead).sink(sink), items, &letters, &out).await
            }
            Chain::DecodeFanOut(_) => {
                let (dead, letters) = sink::collect();
                let (sink, out) = sum(|b: &Vec<u64>| b.iter().fold(0u64, |a, v| a.wrapping_add(*v)));
                let op = |p: Packet| ready(Ok::<u64, Infallible>(work(&p)));
                let pipeline = Pipeline::from_iter(frames(block, items)).try_map_ref("decode", decode_frame);
                let pipeline =
                    pipeline.dead_letter(dead).fan_out("work", FanOut::workers(3).capacity(1024), op);
                let pipeline = pipeline.discard_failures().batch("batch", 100, Duration::from_millis(10));
                settled(pipeline.sink(sink), items, &letters, &out).await
            }
        }
    }

    /// Runs the hand-written version; returns its sum.
    pub(crate) async fn hand(self, items: u64, block: Block) -> u64 {
        match self {
            Chain::MapFilter => hand::map_filter(items).await,
            Chain::TryMap => hand::try_map(items).await,
            Chain::Decode => hand::decode(frames(block, items), items).await,
            Chain::DecodeFanOut(_) => hand::decode_fan_out(frames(block, items), items).await,
        }
    }
}

/// The table: every row, hand-written and weir runs alternating, best of
/// `runs` each.
pub(crate) fn bench(quick: bool) {
    let (items, runs) = if quick { (200_000, 3) } else { (2_000_000, 9) };
    let blocks = [block(SMALL), block(LARGE)];
    let block = |chain: Chain| blocks[usize::from(chain.readings() == LARGE)].clone();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    for chain in Chain::ALL {
        let (w, h) = rt.block_on(async {
            (chain.weir(10_000, block(chain)).await, chain.hand(10_000, block(chain)).await)
        });
        assert_eq!(w, h, "{}: weir and the hand-written version disagree", chain.name());
    }
    drop(rt);
    let mut table = Table::default();
    for chain in Chain::ALL {
        let (case, hand_label, weir_label) = chain.labels(items);
        // Alternating, so that a change of the machine's load hits both.
        let (mut hand, mut weir) = (0.0f64, 0.0f64);
        for _ in 0..runs {
            hand = hand.max(rate(items, || chain.hand(items, block(chain))));
            weir = weir.max(rate(items, || chain.weir(items, block(chain))));
        }
        table.push(Row::baseline(&case, hand_label, hand));
        let mut row = Row::measured(&case, weir_label, weir).vs("hand-written", hand);
        if let Some(t) = chain.target() {
            row = row.target(&format!(">= {t}x hand-written"), weir >= t * hand);
        }
        table.push(row);
    }
    println!("{table}");
    println!(
        "fan-out alone, cap 1024 (the issue's last row, target >= 6x mpmc and >= 0.5x batched): `weir-bench fanout`, not repeated here."
    );
}

/// `inline-one map-filter|try-map|decode|fan-out-50|fan-out-255 weir|hand ITEMS`:
/// one run, for a profiler.
pub(crate) fn one(args: &[String]) {
    const USAGE: &str =
        "usage: weir-bench inline-one map-filter|try-map|decode|fan-out-50|fan-out-255 weir|hand ITEMS";
    let [row, side, items] = args else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    let Some(chain) = Chain::ALL.into_iter().find(|c| c.name() == row) else {
        eprintln!("no row named {row:?}; {USAGE}");
        std::process::exit(2);
    };
    let Ok(items) = items.parse::<u64>() else {
        eprintln!("ITEMS is a count, not {items:?}; {USAGE}");
        std::process::exit(2);
    };
    let block = block(chain.readings());
    let r = match side.as_str() {
        "hand" => rate(items, || chain.hand(items, block)),
        _ => rate(items, || chain.weir(items, block)),
    };
    println!("{row} {side} {:.2} M items/s", r / 1e6);
}
