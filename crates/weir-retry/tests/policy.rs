//! Policy decisions: jitter bounds, invalid policies, limits.

use std::time::Duration;

use proptest::prelude::*;
use weir_core::{Attempt, BuildError, ErrorClass, Operation, Verdict};
use weir_retry::{InvalidPolicy, Jitter, RetryError, RetryExt, RetryPolicy, TimeoutExt};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The delays a policy chooses for `n` consecutive failures of one item.
fn delays(policy: &RetryPolicy, n: usize) -> Vec<Duration> {
    let mut attempt = Attempt::first();
    let mut out = Vec::new();
    for _ in 0..n {
        match policy.decide(&mut attempt, ErrorClass::Transient, None) {
            Verdict::Retry(d) => {
                attempt.next();
                out.push(d);
            }
            other => panic!("expected a retry, got {other:?}"),
        }
    }
    out
}

#[tokio::test(start_paused = true)]
async fn exact_delays_without_jitter() {
    let policy = RetryPolicy::exponential(ms(10)).factor(3.0).cap(ms(1000)).max_attempts(10);
    assert_eq!(delays(&policy, 6), [ms(10), ms(30), ms(90), ms(270), ms(810), ms(1000)]);
}

#[tokio::test(start_paused = true)]
async fn seeded_jitter_is_reproducible_and_actually_random() {
    let make = |seed| RetryPolicy::exponential(ms(100)).jitter(Jitter::Full).seed(seed).max_attempts(50);
    let a = delays(&make(1), 40);
    assert_eq!(a, delays(&make(1), 40));
    assert_ne!(a, delays(&make(2), 40));
    let distinct: std::collections::HashSet<_> = a.iter().collect();
    assert!(distinct.len() > 30, "full jitter should rarely repeat a delay");
}

#[tokio::test(start_paused = true)]
async fn huge_attempt_numbers_neither_overflow_nor_panic() {
    for jitter in [Jitter::None, Jitter::Full, Jitter::Equal, Jitter::Decorrelated] {
        let policy = RetryPolicy::exponential(ms(1))
            .factor(10.0)
            .cap(Duration::MAX)
            .jitter(jitter)
            .max_attempts(u32::MAX);
        let mut attempt = Attempt::first();
        for _ in 0..200 {
            attempt.next();
        }
        let Verdict::Retry(d) = policy.decide(&mut attempt, ErrorClass::Transient, None) else {
            panic!("should retry");
        };
        assert!(d <= Duration::MAX);
        if jitter == Jitter::None {
            assert_eq!(d, Duration::MAX);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_bounded_by_the_cap_and_skips_jitter() {
    let policy = RetryPolicy::exponential(ms(100)).cap(ms(800)).jitter(Jitter::Full);
    let mut attempt = Attempt::first();
    assert_eq!(policy.decide(&mut attempt, ErrorClass::Transient, Some(ms(5000))), Verdict::Retry(ms(800)));
    assert_eq!(policy.decide(&mut attempt, ErrorClass::Transient, Some(ms(250))), Verdict::Retry(ms(250)));
}

#[tokio::test(start_paused = true)]
async fn non_transient_classes_fail_with_their_class() {
    let policy = RetryPolicy::constant(ms(1)).max_attempts(100);
    for class in [ErrorClass::Permanent, ErrorClass::Poison] {
        assert_eq!(policy.decide(&mut Attempt::first(), class, Some(ms(1))), Verdict::Fail(class));
    }
}

#[test]
fn invalid_policies_are_rejected_with_a_message_saying_what_to_change() {
    let base = || RetryPolicy::exponential(ms(100));
    let cases: Vec<(Result<(), InvalidPolicy>, InvalidPolicy, &str)> = vec![
        (base().factor(0.9).validate(), InvalidPolicy::FactorBelowOne { factor: 0.9 }, "at least 1.0"),
        (base().factor(-2.0).validate(), InvalidPolicy::FactorBelowOne { factor: -2.0 }, "at least 1.0"),
        (
            base().factor(f64::INFINITY).validate(),
            InvalidPolicy::FactorNotFinite { factor: f64::INFINITY },
            "finite",
        ),
        (
            base().cap(ms(99)).validate(),
            InvalidPolicy::CapBelowBase { cap: ms(99), base: ms(100) },
            "raise the cap",
        ),
        (base().max_attempts(0).validate(), InvalidPolicy::ZeroAttempts, "at least 1 attempt"),
        (base().max_elapsed(Duration::ZERO).validate(), InvalidPolicy::ZeroMaxElapsed, "positive duration"),
    ];
    for (result, expected, hint) in cases {
        let err = result.unwrap_err();
        assert_eq!(err, expected);
        assert!(err.to_string().contains(hint), "{err} should say {hint:?}");
    }
    // NaN is never equal to itself: match the variant.
    let nan = base().factor(f64::NAN).validate().unwrap_err();
    assert!(matches!(nan, InvalidPolicy::FactorNotFinite { factor } if factor.is_nan()));
    // A zero attempt timeout is refused too, now by the timeout layer when
    // the pipeline is built (the policy has no timeout of its own).
    let op = (|x: u32| async move { Ok::<_, std::io::Error>(x) }).timeout(Duration::ZERO);
    let zero = op.retry(base()).validate("lookup").unwrap_err();
    assert!(
        matches!(&zero, BuildError::Invalid { stage, message } if stage == "lookup" && message.contains("positive duration")),
        "{zero}"
    );
    // The edges are valid.
    assert!(base().factor(1.0).cap(ms(100)).max_attempts(1).validate().is_ok());
    assert!(RetryPolicy::constant(Duration::ZERO).validate().is_ok());
}

fn jitters() -> impl Strategy<Value = Jitter> {
    prop_oneof![Just(Jitter::None), Just(Jitter::Full), Just(Jitter::Equal), Just(Jitter::Decorrelated)]
}

proptest! {
    /// Every delay lies inside its jitter's bounds, computed from the
    /// un-jittered backoff of the same policy.
    #[test]
    fn delays_lie_inside_the_jitter_bounds(
        base_ms in 0u64..10_000,
        extra_ms in 0u64..100_000,
        factor in 1.0f64..10.0,
        jitter in jitters(),
        seed in any::<u64>(),
        n in 1usize..40,
    ) {
        let (base, cap) = (ms(base_ms), ms(base_ms + extra_ms));
        let build = |jitter| RetryPolicy::exponential(base)
            .factor(factor)
            .cap(cap)
            .jitter(jitter)
            .seed(seed)
            .max_attempts(u32::MAX);
        let plain = delays(&build(Jitter::None), n);
        let jittered = delays(&build(jitter), n);
        let mut previous = None::<Duration>;
        for (d, j) in plain.iter().zip(&jittered) {
            prop_assert!(*j <= cap);
            match jitter {
                Jitter::None => prop_assert_eq!(j, d),
                Jitter::Full => prop_assert!(j <= d),
                Jitter::Equal => prop_assert!(*j >= *d / 2 && j <= d),
                _ => {
                    prop_assert!(*j >= base);
                    prop_assert!(*j <= previous.unwrap_or(base).max(base).saturating_mul(3));
                }
            }
            previous = Some(*j);
        }
    }

    /// Across any sequence of transient failures, the policy allows at most
    /// `max_attempts − 1` retries.
    #[test]
    fn retries_never_exceed_max_attempts(max_attempts in 1u32..200, jitter in jitters()) {
        let policy = RetryPolicy::exponential(ms(1)).jitter(jitter).max_attempts(max_attempts);
        let mut attempt = Attempt::first();
        let mut retries = 0u32;
        while let Verdict::Retry(_) = policy.decide(&mut attempt, ErrorClass::Transient, None) {
            attempt.next();
            retries += 1;
            prop_assert!(retries < max_attempts);
        }
        prop_assert_eq!(retries, max_attempts - 1);
    }
}

/// Decorrelated jitter grows each delay from the one the policy chose for
/// the same item before (kept in the item's `Attempt`, not in core): over
/// many retries it leaves `[base, 3 × base]`, and each delay stays within
/// three times the previous one.
#[tokio::test(start_paused = true)]
async fn decorrelated_jitter_grows_from_the_items_previous_delay() {
    let policy = RetryPolicy::exponential(ms(10))
        .cap(Duration::from_secs(100))
        .jitter(Jitter::Decorrelated)
        .seed(3)
        .max_attempts(100);
    let chosen = delays(&policy, 60);
    assert!(chosen.iter().any(|d| *d > ms(30)), "never grew past 3 × base: {chosen:?}");
    for pair in chosen.windows(2) {
        assert!(pair[1] <= pair[0] * 3 && pair[1] >= ms(10), "{pair:?}");
    }
    // Deciding twice for the same attempt gives the same delay: the draw
    // is the item's, for that attempt, not the next number of a shared
    // generator.
    let mut attempt = Attempt::first();
    for _ in 0..10 {
        let first = policy.decide(&mut attempt, ErrorClass::Transient, None);
        assert_eq!(policy.decide(&mut attempt, ErrorClass::Transient, None), first);
        attempt.next();
    }
}

/// Each item draws from a stream of its own (the policy's seed and the
/// item's rank), without a lock: items deciding on many threads at once,
/// their retries interleaved every which way, get exactly the delay
/// sequences that the same items get one after the other.
#[test]
fn seeded_delays_are_per_item_whatever_the_threads_that_draw_them() {
    const THREADS: usize = 8;
    const ITEMS: usize = 16;
    const RETRIES: usize = 5;
    let make = || RetryPolicy::exponential(ms(100)).jitter(Jitter::Full).seed(11).max_attempts(100);
    /// Every item of `items` fails `RETRIES` times, in turns: the first
    /// failure of each, then the second of each, and so on.
    fn in_turns(policy: &RetryPolicy, items: usize) -> Vec<Vec<Duration>> {
        let mut attempts: Vec<Attempt> = (0..items).map(|_| Attempt::first()).collect();
        let mut out = vec![Vec::new(); items];
        for _ in 0..RETRIES {
            for (attempt, delays) in attempts.iter_mut().zip(&mut out) {
                let Verdict::Retry(d) = policy.decide(attempt, ErrorClass::Transient, None) else { panic!() };
                attempt.next();
                delays.push(d);
            }
        }
        out
    }

    let mut alone = in_turns(&make(), THREADS * ITEMS);
    let policy = make();
    let mut together: Vec<Vec<Duration>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let policy = policy.clone();
                scope.spawn(move || in_turns(&policy, ITEMS))
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    alone.sort();
    together.sort();
    assert_eq!(together, alone, "the same sequences, whichever thread drew them");
    alone.dedup();
    assert_eq!(alone.len(), THREADS * ITEMS, "every item has a sequence of its own");
}

/// Outside a pipeline, a retried call checks its policy first: an invalid
/// one is a typed error, and no attempt is made.
#[tokio::test(start_paused = true)]
async fn an_invalid_policy_fails_a_standalone_call_without_an_attempt() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counted = calls.clone();
    let op = move |x: u32| {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move { Ok::<_, std::io::Error>(x) }
    };
    let retried = op.retry(RetryPolicy::exponential(ms(100)).cap(ms(10)));
    let err = retried.call(1).await.unwrap_err();
    assert!(matches!(err, RetryError::InvalidPolicy(InvalidPolicy::CapBelowBase { .. })), "{err:?}");
    assert!(err.to_string().starts_with("invalid retry policy: delay cap 10ms"), "{err}");
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 0);
}

proptest! {
    /// Whatever its knobs, valid or not, a policy decides without
    /// panicking, never waits longer than its cap, and never retries past
    /// `max_attempts`: code that skips `validate` gets no surprise.
    #[test]
    fn any_knobs_decide_without_panicking(
        base in 0u64..10_000,
        cap in 0u64..10_000,
        factor in prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY), -10.0f64..10.0],
        max_attempts in 0u32..5,
        max_elapsed in proptest::option::of(0u64..10_000),
        jitter in jitters(),
        asked in proptest::option::of(0u64..100_000),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        rt.block_on(async {
            let mut policy = RetryPolicy::exponential(ms(base)).cap(ms(cap)).factor(factor).max_attempts(max_attempts).jitter(jitter);
            if let Some(max) = max_elapsed {
                policy = policy.max_elapsed(ms(max));
            }
            let mut attempt = Attempt::first();
            let mut retries = 0u32;
            while let Verdict::Retry(d) = policy.decide(&mut attempt, ErrorClass::Transient, asked.map(ms)) {
                prop_assert!(d <= ms(cap), "{d:?} > cap {cap} ms");
                retries += 1;
                prop_assert!(retries < max_attempts.max(1), "retried past max_attempts");
                attempt.next();
            }
            Ok(())
        })?;
    }
}
