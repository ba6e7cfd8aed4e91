//! Keyed windows: per-device per-minute sums of readings on event time,
//! weir's `window` stage against the same aggregation written by hand
//! with a `HashMap` in an async loop (what a user would write), in one run.

use std::collections::HashMap;
use std::time::{Duration, Instant, UNIX_EPOCH};

use futures::StreamExt;
use weir::prelude::*;
use weir::shape::{Window, WindowExt};
use weir::sink;

use crate::table::{Row, Table};

/// (device, value, event time in ms since the epoch)
type Reading = (u32, u64, u64);

const DEVICES: u32 = 1_000;
const MINUTE_MS: u64 = 60_000;

/// `n` readings, devices in turn, event time 1 ms per 10 readings.
fn readings(n: u64) -> Vec<Reading> {
    (0..n).map(|i| ((i % u64::from(DEVICES)) as u32, i % 97, 1_700_000_000_000 + i / 10)).collect()
}

/// The hand-written aggregation: a `HashMap` of open (device, minute)
/// sums, the minutes the watermark passed given out (here: summed into a
/// checksum), the rest at the end. Returns readings/s and the checksum.
pub(crate) fn hand_written(items: &[Reading]) -> (f64, u64) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    runtime.block_on(async {
        let start = Instant::now();
        let mut stream = futures::stream::iter(items.iter().copied());
        let mut open: HashMap<(u32, u64), u64> = HashMap::new();
        let (mut latest, mut closed_until, mut checksum) = (0u64, 0u64, 0u64);
        let give_out = |open: &mut HashMap<(u32, u64), u64>, until: u64, checksum: &mut u64| {
            open.retain(|&(device, minute), sum| {
                let keep = minute + MINUTE_MS > until;
                if !keep {
                    *checksum = checksum.wrapping_add(*sum ^ u64::from(device) ^ minute);
                }
                keep
            });
        };
        while let Some((device, value, t)) = stream.next().await {
            latest = latest.max(t);
            let minute = t / MINUTE_MS * MINUTE_MS;
            if latest / MINUTE_MS * MINUTE_MS > closed_until {
                closed_until = latest / MINUTE_MS * MINUTE_MS;
                give_out(&mut open, closed_until, &mut checksum);
            }
            *open.entry((device, minute)).or_default() += value;
        }
        give_out(&mut open, u64::MAX, &mut checksum);
        (items.len() as f64 / start.elapsed().as_secs_f64(), checksum)
    })
}

/// weir: `window` (per-device, one-minute tumbling, event time, sum) into
/// a sink that checksums each window.
pub(crate) fn weir(items: &[Reading]) -> (f64, u64) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    let items = items.to_vec();
    runtime.block_on(async move {
        let n = items.len();
        let start = Instant::now();
        let window = Window::by_key(|r: &Reading| r.0)
            .sum(|r| r.1)
            .tumbling(Duration::from_secs(60))
            .event_time(|r| UNIX_EPOCH + Duration::from_millis(r.2), Duration::ZERO);
        let checksum = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let sum = checksum.clone();
        let sink = sink::from_fn(move |w: weir::shape::Windowed<u32, u64>| {
            let minute = w.start.duration_since(UNIX_EPOCH).expect("after the epoch").as_millis() as u64;
            let value = w.value ^ u64::from(w.key) ^ minute;
            sum.fetch_add(value, std::sync::atomic::Ordering::Relaxed);
            std::future::ready(Ok::<_, std::convert::Infallible>(()))
        });
        let report = Pipeline::from_iter(items)
            .window("per-minute", window)
            .discard_failures()
            .sink(sink)
            .run()
            .await
            .expect("runs");
        assert!(report.is_conserved(), "{report}");
        (n as f64 / start.elapsed().as_secs_f64(), checksum.load(std::sync::atomic::Ordering::Relaxed))
    })
}

/// The table: best of `runs`, the two alternating.
pub(crate) fn bench(quick: bool) {
    let (n, runs) = if quick { (400_000, 3) } else { (4_000_000, 7) };
    let items = readings(n);
    let (mut baseline, mut measured) = (0.0f64, 0.0f64);
    for _ in 0..runs {
        let (rate, expected) = hand_written(&items);
        baseline = baseline.max(rate);
        let (rate, got) = weir(&items);
        assert_eq!(got, expected, "weir's windows and the hand-written ones differ");
        measured = measured.max(rate);
    }
    let case = format!("per-device per-minute sums, {n} readings, {DEVICES} devices, event time");
    let mut table = Table::default();
    table.push(Row::baseline(&case, "hand-written HashMap aggregation in an async loop", baseline));
    let ratio = measured / baseline;
    table.push(
        Row::measured(&case, "weir: from_iter -> window (tumbling, sum) -> sink", measured)
            .vs("hand-written", baseline)
            .target(">= 0.8x hand-written", ratio >= 0.8),
    );
    print!("{table}");
}
