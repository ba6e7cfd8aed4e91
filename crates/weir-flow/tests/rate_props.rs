//! Properties of the rate limits on a paused clock, under random rates,
//! bursts, keys and arrivals: no key's items pass faster than its rate
//! allows (in any stretch of time, at most a burst plus one item per
//! interval), the throttle passes each item exactly when a token bucket
//! says it may (no later), and enforcing accounts for every item (passed
//! or refused).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use proptest::prelude::*;
use tokio::time::Instant;
use weir_core::prelude::*;
use weir_core::sink;
use weir_flow::{Limit, Rate, RateLimitExt};
use weir_testkit::faults::run_paused;

/// The GCRA bound: in the stretch from its `i`th to its `j`th pass, a key
/// passes at most `burst` + (stretch / interval) items.
fn within_rate(passes: &[Duration], burst: u32, interval: Duration) -> Result<(), TestCaseError> {
    for i in 0..passes.len() {
        for j in i..passes.len() {
            let allowed = u128::from(burst) + (passes[j] - passes[i]).as_nanos() / interval.as_nanos();
            prop_assert!(
                (j - i + 1) as u128 <= allowed,
                "{} items from {:?} to {:?}, {allowed} allowed",
                j - i + 1,
                passes[i],
                passes[j]
            );
        }
    }
    Ok(())
}

/// A rate, a number of keys and the gaps between arrivals.
fn schedules() -> impl Strategy<Value = (Rate, u32, Vec<u64>)> {
    (1..20u32, 10..1_000u64, 1..8u32, 1..4u32, prop::collection::vec(0..30u64, 1..120)).prop_map(
        |(count, period_ms, burst, keys, gaps_ms)| {
            (Rate::new(count, Duration::from_millis(period_ms)).burst(burst), keys, gaps_ms)
        },
    )
}

/// Item `i` after its gap: its key (`i % keys`) and when it arrived.
fn arrivals(gaps_ms: Vec<u64>, keys: u32, start: Instant) -> impl futures::Stream<Item = (u32, Duration)> {
    futures::stream::iter(gaps_ms.into_iter().enumerate()).then(move |(i, gap)| async move {
        tokio::time::sleep(Duration::from_millis(gap)).await;
        (i as u32 % keys, start.elapsed())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn throttled_keys_keep_their_rate_and_wait_no_longer_than_they_must((rate, keys, gaps_ms) in schedules()) {
        let (interval, burst) = (rate.interval(), rate.get_burst());
        let n = gaps_ms.len();
        let passes = run_paused(async move {
            let start = Instant::now();
            let passes = Arc::new(Mutex::new(Vec::new()));
            let seen = passes.clone();
            let items = arrivals(gaps_ms, keys, start);
            let report = Pipeline::new(items)
                .throttle("throttle", Limit::new(rate).per_key(|x: &(u32, Duration)| x.0))
                .inspect("clock", move |x| seen.lock().unwrap().push((x.0, x.1, start.elapsed())))
                .sink(sink::drain())
                .run()
                .await
                .unwrap();
            assert_eq!(report.delivered(), n as u64);
            passes.lock().unwrap().clone()
        });
        for key in 0..keys {
            let times: Vec<Duration> = passes.iter().filter(|p| p.0 == key).map(|p| p.2).collect();
            within_rate(&times, burst, interval)?;
        }
        // It waits exactly as long as it must: a token bucket per key (of
        // `burst` tokens, one back per interval), run over the same
        // arrivals, in nanoseconds, says when each item passes: when the
        // stage takes it (it arrived, and the item before it passed), or
        // when its key has a token (on the timer's next millisecond),
        // whichever is later.
        let (interval, full) = (interval.as_nanos(), u128::from(burst) * interval.as_nanos());
        let mut buckets = std::collections::HashMap::new();
        let mut previous = 0u128;
        for &(key, arrived, passed) in &passes {
            let taken = arrived.as_nanos().max(previous);
            let (level, at) = buckets.get(&key).copied().unwrap_or((full, 0));
            let now_level = (level + (taken - at)).min(full);
            // tokio's timers fire on whole milliseconds: a wait ends at the
            // first millisecond after the token is back.
            let ms = 1_000_000;
            let pass = if now_level >= interval { taken } else { (taken + (interval - now_level)).div_ceil(ms) * ms };
            let level_at_pass = (now_level + (pass - taken)).min(full) - interval;
            buckets.insert(key, (level_at_pass, pass));
            prop_assert_eq!(passed.as_nanos(), pass, "key {}: arrived {:?}", key, arrived);
            previous = pass;
        }
    }

    #[test]
    fn enforcing_passes_within_the_rate_and_accounts_for_every_item((rate, keys, gaps_ms) in schedules()) {
        let burst = rate.get_burst();
        let n = gaps_ms.len() as u64;
        let (passes, report) = run_paused(async move {
            let start = Instant::now();
            let passes = Arc::new(Mutex::new(Vec::new()));
            let seen = passes.clone();
            let items = arrivals(gaps_ms, keys, start).map(|(key, _)| key);
            let report = Pipeline::new(items)
                .rate_limit("limit", Limit::new(rate).per_key(|key: &u32| *key))
                .discard_failures()
                .inspect("clock", move |key| seen.lock().unwrap().push((*key, start.elapsed())))
                .sink(sink::drain())
                .run()
                .await
                .unwrap();
            (passes.lock().unwrap().clone(), report)
        });
        prop_assert!(report.is_conserved());
        prop_assert_eq!(report.delivered() + report.discarded(), n);
        prop_assert_eq!(report.delivered(), passes.len() as u64);
        for key in 0..keys {
            let times: Vec<Duration> = passes.iter().filter(|p| p.0 == key).map(|p| p.1).collect();
            within_rate(&times, burst, rate.interval())?;
        }
    }
}
