//! Property tests over random item counts, worker counts, capacities,
//! per-item delays and failures, in every mode: the output is the image of
//! the input (as a multiset, in order, or in order per key), broadcast
//! consumers each see every item, and every item is accounted for; the
//! `_lent` forms (items lent, not cloned) the same.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use tokio::time::sleep;
use weir_core::prelude::*;
use weir_core::sink;
use weir_fanout::{FanOut, FanOutExt, Lent};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("item {0} failed")]
struct Failed(u32);

/// One item's behaviour: how long its operation takes, and whether it fails.
#[derive(Debug, Clone, Copy)]
struct Plan {
    delay_ms: u64,
    fails: bool,
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Unordered { lent: bool },
    Ordered { lent: bool },
    Keyed { keys: u32, lent: bool },
    Broadcast { consumers: usize },
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![
        any::<bool>().prop_map(|lent| Mode::Unordered { lent }),
        any::<bool>().prop_map(|lent| Mode::Ordered { lent }),
        (1..5u32, any::<bool>()).prop_map(|(keys, lent)| Mode::Keyed { keys, lent }),
        (1..4usize).prop_map(|consumers| Mode::Broadcast { consumers }),
    ]
}

fn plans() -> impl Strategy<Value = Vec<Plan>> {
    prop::collection::vec(
        (0..6u64, prop::bool::weighted(0.1)).prop_map(|(delay_ms, fails)| Plan { delay_ms, fails }),
        0..60,
    )
}

fn f(x: u32) -> u64 {
    u64::from(x) * 2 + 1
}

/// What a run produced.
struct Outcome<T> {
    out: Vec<T>,
    failed: Vec<u32>,
    report: Report,
}

fn run<T: Send + 'static>(pipeline: Fallible<T, u32, Failed>) -> Outcome<T> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    let failed = Arc::new(Mutex::new(Vec::new()));
    let seen = failed.clone();
    let (sink, out) = sink::collect();
    let report = rt
        .block_on(
            pipeline
                .route_failures(move |failure: Failure<u32, Failed>, _| {
                    seen.lock().unwrap().push(*failure.item());
                    failure.settle(Settled::Discarded);
                    std::future::ready(())
                })
                .sink(sink)
                .run(),
        )
        .expect("runs");
    let mut failed = failed.lock().unwrap().clone();
    failed.sort_unstable();
    Outcome { out: out.take(), failed, report }
}

/// The operation: waits the item's delay, then fails it or maps it.
fn op(
    plans: Arc<Vec<Plan>>,
) -> impl Fn(u32) -> futures::future::BoxFuture<'static, Result<u64, Failed>> + Clone {
    move |x: u32| {
        let plan = plans[x as usize];
        Box::pin(async move {
            sleep(Duration::from_millis(plan.delay_ms)).await;
            if plan.fails { Err(Failed(x)) } else { Ok(f(x)) }
        })
    }
}

/// The same operation, on lent items.
fn lent_op(
    plans: Arc<Vec<Plan>>,
) -> impl Fn(Lent<u32>) -> futures::future::BoxFuture<'static, Result<u64, Failed>> + Clone {
    let op = op(plans);
    move |x: Lent<u32>| op(*x)
}

/// `fan_out`, or `fan_out_lent` when `lent`.
fn fan_out(
    source: Pipeline<u32>,
    config: FanOut,
    plans: Arc<Vec<Plan>>,
    lent: bool,
) -> Fallible<u64, u32, Failed> {
    if lent {
        source.fan_out_lent("op", config, lent_op(plans))
    } else {
        source.fan_out("op", config, op(plans))
    }
}

fn check(plans: Vec<Plan>, workers: usize, capacity: usize, mode: Mode) -> Result<(), TestCaseError> {
    let n = plans.len() as u32;
    let inputs = 0..n;
    let expected_failed: Vec<u32> = inputs.clone().filter(|&x| plans[x as usize].fails).collect();
    let expected_ok: Vec<u64> = inputs.clone().filter(|&x| !plans[x as usize].fails).map(f).collect();
    let plans = Arc::new(plans);
    let config = FanOut::workers(workers).capacity(capacity);
    let source = || Pipeline::from_iter(inputs.clone());
    let (delivered, failed, report) = match mode {
        Mode::Unordered { lent } => {
            let Outcome { mut out, failed, report } = run(fan_out(source(), config, plans, lent));
            out.sort_unstable();
            prop_assert_eq!(&out, &expected_ok);
            (out.len(), failed, report)
        }
        Mode::Ordered { lent } => {
            let Outcome { out, failed, report } = run(fan_out(source(), config.ordered(), plans, lent));
            prop_assert_eq!(&out, &expected_ok);
            (out.len(), failed, report)
        }
        Mode::Keyed { keys, lent } => {
            let key = move |x: &u32| x % keys;
            let Outcome { out, failed, report } = if lent {
                run(source().fan_out_keyed_lent("op", config, key, lent_op(plans.clone())))
            } else {
                run(source().fan_out_keyed("op", config, key, op(plans.clone())))
            };
            let mut per_key: HashMap<u32, Vec<u64>> = HashMap::new();
            for v in &out {
                per_key.entry(((v - 1) / 2) as u32 % keys).or_default().push(*v);
            }
            for k in 0..keys {
                let want: Vec<u64> =
                    expected_ok.iter().copied().filter(|v| ((v - 1) / 2) as u32 % keys == k).collect();
                prop_assert_eq!(per_key.remove(&k).unwrap_or_default(), want, "key {}", k);
            }
            (out.len(), failed, report)
        }
        Mode::Broadcast { consumers } => {
            // Consumer `c` logs every item it sees; a failing item is failed
            // by one consumer only, the others succeed.
            let logs: Vec<Arc<Mutex<Vec<u32>>>> = (0..consumers).map(|_| Arc::default()).collect();
            let consumer = |c: usize, log: Arc<Mutex<Vec<u32>>>, plans: Arc<Vec<Plan>>| {
                move |x: u32| {
                    let plan = plans[x as usize];
                    let log = log.clone();
                    async move {
                        sleep(Duration::from_millis((plan.delay_ms + c as u64) % 6)).await;
                        log.lock().unwrap().push(x);
                        if plan.fails && x as usize % consumers == c {
                            Err(Failed(x))
                        } else {
                            Ok(f(x) * 10 + c as u64)
                        }
                    }
                }
            };
            let ops =
                logs.iter().enumerate().map(|(c, log)| consumer(c, log.clone(), plans.clone())).collect();
            let Outcome { out, failed, report } = run(source().broadcast("op", capacity, ops));
            let want: Vec<Vec<u64>> =
                expected_ok.iter().map(|v| (0..consumers as u64).map(|c| v * 10 + c).collect()).collect();
            prop_assert_eq!(&out, &want);
            for (c, log) in logs.iter().enumerate() {
                prop_assert_eq!(&*log.lock().unwrap(), &inputs.clone().collect::<Vec<_>>(), "consumer {}", c);
            }
            (out.len(), failed, report)
        }
    };
    prop_assert_eq!(&failed, &expected_failed);
    // Conservation: every input is delivered or failed, exactly once.
    prop_assert!(report.is_conserved(), "not conserved:\n{}", report);
    prop_assert_eq!(delivered + failed.len(), n as usize);
    prop_assert_eq!(report.delivered(), delivered as u64);
    prop_assert_eq!(report.discarded(), failed.len() as u64);
    let stage = report.stage("op").expect("stage");
    prop_assert_eq!(
        (stage.received, stage.emitted, stage.failed),
        (u64::from(n), delivered as u64, failed.len() as u64)
    );
    Ok(())
}

proptest! {
    // 256 cases, or PROPTEST_CASES (TESTING.md).
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn every_mode_maps_conserves_and_keeps_its_order(
        plans in plans(),
        workers in 1..6usize,
        capacity in 1..20usize,
        mode in mode(),
    ) {
        check(plans, workers, capacity, mode)?;
    }
}

/// Each mode alone, so that every mode gets its own 32 cases.
mod per_mode {
    use super::*;

    proptest! {
        // 256 cases, or PROPTEST_CASES (TESTING.md).
        #![proptest_config(ProptestConfig::default())]

        #[test]
        fn unordered(plans in plans(), workers in 1..6usize, capacity in 1..20usize, lent in any::<bool>()) {
            check(plans, workers, capacity, Mode::Unordered { lent })?;
        }

        #[test]
        fn ordered(plans in plans(), workers in 1..6usize, capacity in 1..20usize, lent in any::<bool>()) {
            check(plans, workers, capacity, Mode::Ordered { lent })?;
        }

        #[test]
        fn keyed(plans in plans(), workers in 1..6usize, capacity in 1..20usize, keys in 1..5u32, lent in any::<bool>()) {
            check(plans, workers, capacity, Mode::Keyed { keys, lent })?;
        }

        #[test]
        fn broadcast(plans in plans(), capacity in 1..20usize, consumers in 1..4usize) {
            check(plans, 1, capacity, Mode::Broadcast { consumers })?;
        }
    }
}
