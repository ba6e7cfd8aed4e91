//! Bytes → a chain of any of weir's stages and operators (inline stages,
//! a halt on the first failure, batches by count and by weight, buffers,
//! every fan-out mode with faults and panics per item, operations that
//! hang under a time limit, a retry layer, the lent form, broadcast, dead
//! letters with a slow store, a failing one, and one behind a sink retry
//! layer) →
//! one run of the conformance harness under a schedule and an ending
//! (completion, `shutdown()`, `abort()`, a dropped handle or run future,
//! a stalled sink, a panic upstream) on a paused clock. Every promise
//! that ending exercises must hold: conservation against what the harness
//! counted, acknowledgements once each and never for abandoned or
//! returned items, drain, the stages' bound while stalled, no task left in
//! the runtime, panic containment. And, when every item's fate can be told
//! from the item alone (no halt, nothing that depends on a value after a
//! batch), the run must come to the model's exact outcome: each category
//! of the report as the model says (equal after completion, never more
//! otherwise), and, while outputs still name their items, each delivery
//! and acknowledgement matched item by item.
//!
//! Shared by the fuzz target `fuzz/fuzz_targets/composed_endings.rs` and
//! the property test `crates/weir/tests/composed.rs`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use weir_core::Pipeline;
use weir_core::sink;
use weir_deadletter::{DeadLetter, DeadLetterExt, DeadLetterOptions};
use weir_fanout::{FanOut, FanOutExt, Lent};
use weir_retry::{RetryExt, RetryPolicy, RetrySinkExt, TimeoutExt};
use weir_testkit::FlakySink;
use weir_testkit::conformance::{Broken, Fate, Model, Promise, check_bytes_modelled};
use weir_testkit::faults::{Fault, FaultyOp};

const MAX_STAGES: usize = 5;

/// Kinds of stage: `kind % KINDS`; see [`add`].
const KINDS: u8 = 20;

#[derive(Debug, thiserror::Error)]
#[error("{0} is refused")]
struct Refused(u32);

/// The fault an operation meets on item `x`: some fail, some panic, some
/// take a few milliseconds.
fn fault(x: u32) -> Fault {
    match x % 9 {
        3 => Fault::Fail,
        5 => Fault::Panic,
        1 | 7 => Fault::Delay(Duration::from_millis(u64::from(x % 3))),
        _ => Fault::Pass,
    }
}

fn faulty() -> FaultyOp<u32> {
    FaultyOp::new(|x: &u32, _| fault(*x))
}

/// The fault of the operation that may hang: some items never finish.
fn hangs_or(x: u32) -> Fault {
    if x % 5 == 2 { Fault::Hang } else { fault(x) }
}

/// What a fault comes to: an item that fails, panics or hangs (with a
/// time limit) is a failure, discarded here.
fn fate_of(fault: Fault) -> Option<Fate> {
    match fault {
        Fault::Pass | Fault::Delay(_) => None,
        _ => Some(Fate::Discarded),
    }
}

/// Adds stage `i` of kind `kind` (parameters `a`, `b`); returns the most
/// envelopes (of its input) it may hold while its downstream is stalled.
fn add(p: Pipeline<u32>, i: usize, kind: u8, a: u8, b: u8) -> (Pipeline<u32>, u64) {
    let name = format!("{i}-{kind}");
    let m = u32::from(a % 5) + 2;
    let r = u32::from(b) % m;
    // The items a fallible stage refuses.
    let refuse = move |x: u32| if x % m == r { Err(Refused(x)) } else { Ok(x) };
    let small = usize::from(a % 4) + 1;
    let config = FanOut::workers(usize::from(b % 3) + 1).capacity(small);
    let fan_bound = (config.capacity_items() + config.worker_count()) as u64;
    match kind % KINDS {
        0 => (p.map(&name, move |x| x.wrapping_add(u32::from(a))), 0),
        1 => (p.filter(&name, move |x| x % m != r), 0),
        2 => (p.try_map(&name, refuse).discard_failures(), 0),
        3 => {
            let store = sink::from_fn(|letter: DeadLetter<u32>| async move {
                tokio::time::sleep(Duration::from_millis(u64::from(*letter.item() % 3))).await;
                Ok::<_, std::convert::Infallible>(())
            });
            let options = DeadLetterOptions::new().max_batch(small);
            let p = p.try_map(&name, refuse);
            (p.dead_letter_with(store, options), small as u64)
        }
        4 => {
            let p = p.batch(&name, small, Duration::from_millis(3));
            (
                p.map(&format!("{name}-sum"), |v: Vec<u32>| v.iter().fold(0u32, |s, x| s.wrapping_add(*x))),
                small as u64 - 1,
            )
        }
        5 => {
            let p = p.batch_weighted(&name, small + 2, small, Duration::from_millis(3), |x: &u32| {
                (x % 3) as usize
            });
            (
                p.map(&format!("{name}-sum"), |v: Vec<u32>| v.iter().fold(0u32, |s, x| s.wrapping_add(*x))),
                small as u64 + 1,
            )
        }
        6 => (p.buffer(&name, small), small as u64 + 1),
        7 => (p.fan_out(&name, config, faulty()).discard_failures(), fan_bound),
        8 => (p.fan_out(&name, config.ordered(), faulty()).discard_failures(), fan_bound),
        9 => (p.fan_out_keyed(&name, config, move |x: &u32| x % m, faulty()).discard_failures(), fan_bound),
        10 => {
            // Fails the first call for each item, and every call for a
            // seventh of them: retried after 1 ms, up to 3 attempts.
            let seen = Arc::new(Mutex::new(HashSet::new()));
            let op = FaultyOp::new(move |x: &u32, _| {
                let first = seen.lock().unwrap().insert(*x);
                if first || x.is_multiple_of(7) { Fault::Fail } else { Fault::Pass }
            });
            let policy = RetryPolicy::constant(Duration::from_millis(1)).max_attempts(3);
            (p.fan_out(&name, config, op.retry(policy)).discard_failures(), fan_bound)
        }
        11 => {
            let op = faulty();
            let lent = move |x: Lent<u32>| weir_core::Operation::apply(&op, *x);
            (p.fan_out_lent(&name, config, lent).discard_failures(), fan_bound)
        }
        12 => {
            let p = p.broadcast(&name, small, vec![faulty(), faulty()]).discard_failures();
            (p.map(&format!("{name}-first"), |v: Vec<u32>| v[0]), small as u64)
        }
        13 => {
            let wait = move |x: u32| async move {
                tokio::time::sleep(Duration::from_millis(u64::from(x % 3))).await;
                x
            };
            (p.then(&name, wait), 0)
        }
        14 => {
            let check = move |x: u32| async move {
                tokio::task::yield_now().await;
                refuse(x)
            };
            (p.try_then(&name, check).discard_failures(), 0)
        }
        15 => (p.inspect(&name, |_| ()), 0),
        16 => {
            // A store that fails every third send: the dead-letter writer
            // stores the record again.
            let store = FlakySink::<DeadLetter<u32>>::failing_when(|n| n % 3 == 1);
            let options = DeadLetterOptions::new().max_batch(small);
            let p = p.try_map(&name, refuse);
            (p.dead_letter_with(store, options), small as u64)
        }
        18 => {
            // Some items hang: each attempt has 4 ms.
            let op = FaultyOp::new(|x: &u32, _| hangs_or(*x)).timeout(Duration::from_millis(4));
            (p.fan_out(&name, config, op).discard_failures(), fan_bound)
        }
        19 => {
            // A store that fails every other send, behind a retry layer of
            // its own: two attempts, then the dead-letter writer's retry.
            let store = FlakySink::<DeadLetter<u32>>::failing_when(|n| n % 2 == 0)
                .retry(RetryPolicy::constant(Duration::from_millis(1)).max_attempts(2));
            let options = DeadLetterOptions::new().max_batch(small);
            let p = p.try_map(&name, refuse);
            (p.dead_letter_with(store, options), small as u64)
        }
        // The first failure stops intake and ends the run, returned.
        _ => (p.try_map(&name, refuse).halt_on_error(), 0),
    }
}

/// How many of its input's envelopes one envelope of the stage's output
/// may carry: a batch's size, else one.
fn grows(kind: u8, a: u8) -> u64 {
    let small = u64::from(a % 4) + 1;
    match kind % KINDS {
        4 => small,
        5 => small + 2,
        _ => 1,
    }
}

/// What stage `kind` (parameters `a`, `b`) does to item `x`: passes it
/// on as a value (`Ok`), or ends it (`Err`); `None` for a halt, whose
/// effect depends on when the failure comes.
fn step(kind: u8, a: u8, b: u8, x: u32) -> Option<Result<u32, Fate>> {
    let m = u32::from(a % 5) + 2;
    let refused = x % m == u32::from(b) % m;
    let ended = match kind % KINDS {
        0 => return Some(Ok(x.wrapping_add(u32::from(a)))),
        1 => refused.then_some(Fate::Filtered),
        2 | 14 => refused.then_some(Fate::Discarded),
        3 | 16 | 19 => refused.then_some(Fate::DeadLettered),
        4 | 5 | 6 | 13 | 15 => None,
        7 | 8 | 9 | 11 | 12 => fate_of(fault(x)),
        10 => x.is_multiple_of(7).then_some(Fate::Discarded),
        18 => fate_of(hangs_or(x)),
        _ => return None,
    };
    Some(ended.map_or(Ok(x), Err))
}

/// The exact outcome of the chain `specs` for `items`, when it can be
/// told from the items alone: traced (each output names its item) while
/// no batch merges items; `None` with a halt, or with a stage after a
/// batch whose effect depends on the value (the batches' sums depend on
/// when items come).
fn model(specs: &[(u8, u8, u8)], items: &[u32]) -> Option<Model> {
    let mut items: Vec<Result<u32, Fate>> = items.iter().map(|x| Ok(*x)).collect();
    let mut batched = false;
    for &(kind, a, b) in specs {
        let kind = kind % KINDS;
        if batched {
            // Past a batch: only stages that end no item.
            if !matches!(kind, 0 | 4 | 5 | 6 | 13 | 15) {
                return None;
            }
            continue;
        }
        batched = matches!(kind, 4 | 5);
        for item in &mut items {
            if let Ok(x) = *item {
                *item = step(kind, a, b, x)?;
            }
        }
    }
    let model = Model::new(items.iter().map(|item| item.err().unwrap_or(Fate::Delivered)));
    Some(if batched { model } else { model.traced() })
}

/// Panics the operations inject on purpose are not crashes; any other
/// panic still reaches libFuzzer's hook.
pub(crate) fn expected_panics_are_not_crashes() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info.payload().downcast_ref::<String>().map(String::as_str);
            if !message.is_some_and(|m| m.starts_with("fault injected")) {
                previous(info);
            }
        }));
    });
}

/// Decodes `data` into a chain of up to [`MAX_STAGES`] stages and a case,
/// runs it, and checks every promise and the model; the promises checked,
/// or the one broken.
pub(crate) fn check(data: &[u8]) -> Result<Vec<Promise>, Broken> {
    let (count, rest) = data.split_first().unwrap_or((&0, &[]));
    let stages = usize::from(*count) % (MAX_STAGES + 1);
    let (chain, case) = rest.split_at((stages * 3).min(rest.len()));
    let specs: Vec<(u8, u8, u8)> = chain
        .chunks(3)
        .map(|c| (c[0], c.get(1).copied().unwrap_or(0), c.get(2).copied().unwrap_or(0)))
        .collect();
    // The stages' bound in source items (what the harness counts): what
    // each holds, in envelopes that carry as many source items as the
    // batches before it put in one.
    let (mut bound, mut per_envelope) = (0u64, 1u64);
    for (i, &(kind, a, b)) in specs.iter().enumerate() {
        bound += add(Pipeline::from_iter(Vec::<u32>::new()), i, kind, a, b).1 * per_envelope;
        per_envelope *= grows(kind, a);
    }
    let chain = specs.clone();
    let build = move |mut p: Pipeline<u32>| {
        for (i, &(kind, a, b)) in chain.iter().enumerate() {
            p = add(p, i, kind, a, b).0;
        }
        p
    };
    check_bytes_modelled(case, bound, build, |items| model(&specs, items))
}
