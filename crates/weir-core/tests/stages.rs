//! One test per built-in stage, plus custom stages: outputs and the
//! per-stage counts of the report.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{Bad, ms};
use futures::StreamExt;
use weir_core::prelude::*;
use weir_core::sink::{self, Sink};

fn counts(report: &Report, stage: &str) -> (u64, u64, u64, u64, u64) {
    let s = report.stage(stage).unwrap_or_else(|| panic!("no stage {stage} in\n{report}"));
    (s.received, s.emitted, s.filtered, s.failed, s.discarded)
}

#[tokio::test]
async fn map_transforms_each_item_in_order() {
    let (sink, out) = sink::collect();
    let report = Pipeline::from_iter(0..5).map("double", |x| x * 2).sink(sink).run().await.unwrap();
    assert_eq!(out.take(), [0, 2, 4, 6, 8]);
    assert_eq!(counts(&report, "double"), (5, 5, 0, 0, 0));
    assert_eq!(report.source_items(), 5);
    assert_eq!(report.delivered(), 5);
    assert_eq!(report.ending(), Ending::Completed);
    assert!(report.is_conserved());
    let names: Vec<_> = report.stages().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["source", "double", "sink"]);
}

#[tokio::test]
async fn filter_counts_what_it_drops() {
    let (sink, out) = sink::collect();
    let report = Pipeline::from_iter(0..10)
        .filter("even", |x| x % 2 == 0)
        .filter("small", |x| *x < 6)
        .sink(sink)
        .run()
        .await
        .unwrap();
    assert_eq!(out.take(), [0, 2, 4]);
    assert_eq!(counts(&report, "even"), (10, 5, 5, 0, 0));
    assert_eq!(counts(&report, "small"), (5, 3, 2, 0, 0));
    assert_eq!((report.filtered(), report.delivered()), (7, 3));
    assert!(report.is_conserved());
}

#[tokio::test]
async fn inspect_sees_every_item_and_changes_nothing() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let (sink, out) = sink::collect();
    let report = Pipeline::from_iter(["a", "b", "c"])
        .inspect("look", move |s| log.lock().unwrap().push(s.to_string()))
        .sink(sink)
        .run()
        .await
        .unwrap();
    assert_eq!(out.take(), ["a", "b", "c"]);
    assert_eq!(*seen.lock().unwrap(), ["a", "b", "c"]);
    assert_eq!(counts(&report, "look"), (3, 3, 0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn then_runs_one_item_at_a_time_in_order() {
    let active = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (a, m) = (active.clone(), most.clone());
    let (sink, out) = sink::collect();
    let start = tokio::time::Instant::now();
    let report = Pipeline::from_iter([30u64, 10, 20])
        .then("slow", move |x| {
            let (a, m) = (a.clone(), m.clone());
            async move {
                let now = a.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(ms(x)).await;
                a.fetch_sub(1, Ordering::SeqCst);
                x + 1
            }
        })
        .sink(sink)
        .run()
        .await
        .unwrap();
    assert_eq!(out.take(), [31, 11, 21], "input order is kept");
    assert_eq!(most.load(Ordering::SeqCst), 1, "then is sequential");
    assert_eq!(start.elapsed(), ms(60), "the delays add up: nothing ran concurrently");
    assert_eq!(counts(&report, "slow"), (3, 3, 0, 0, 0));
}

#[tokio::test]
async fn try_map_turns_errors_and_panics_into_counted_failures() {
    let causes = Arc::new(Mutex::new(Vec::new()));
    let log = causes.clone();
    let (sink, out) = sink::collect();
    let report = Pipeline::from_iter(0..6u64)
        .try_map("check", |x| match x {
            2 => Err(Bad(x)),
            4 => panic!("four is cursed"),
            _ => Ok(x * 10),
        })
        .inspect_failures(move |f| {
            let what = match f.cause() {
                Cause::Error(e) => format!("error {e}"),
                Cause::Panicked(m) => format!("panic {m}"),
                other => format!("{other}"),
            };
            log.lock().unwrap().push((*f.item(), what, f.stage().to_owned(), f.class()));
        })
        .discard_failures()
        .sink(sink)
        .run()
        .await
        .unwrap();
    assert_eq!(out.take(), [0, 10, 30, 50]);
    assert_eq!(
        *causes.lock().unwrap(),
        [
            (2, "error item 2 is bad".to_owned(), "check".to_owned(), ErrorClass::Permanent),
            (4, "panic four is cursed".to_owned(), "check".to_owned(), ErrorClass::Poison),
        ]
    );
    assert_eq!(counts(&report, "check"), (6, 4, 0, 2, 2));
    assert_eq!(report.stage("check").unwrap().panicked, 1);
    assert_eq!((report.failed(), report.discarded(), report.delivered()), (2, 2, 4));
    assert!(report.is_conserved());
}

#[tokio::test(start_paused = true)]
async fn try_then_fails_items_asynchronously_and_keeps_order() {
    let failed = Arc::new(Mutex::new(Vec::new()));
    let log = failed.clone();
    let (sink, out) = sink::collect();
    let report = Pipeline::from_iter(0..5u64)
        .try_then("fetch", |x| async move {
            tokio::time::sleep(ms(10 * (5 - x))).await;
            if x % 2 == 1 { Err(Bad(x)) } else { Ok(x.to_string()) }
        })
        .inspect_failures(move |f| log.lock().unwrap().push((*f.item(), f.attempts())))
        .discard_failures()
        .sink(sink)
        .run()
        .await
        .unwrap();
    assert_eq!(out.take(), ["0", "2", "4"]);
    assert_eq!(*failed.lock().unwrap(), [(1, 1), (3, 1)]);
    assert_eq!(counts(&report, "fetch"), (5, 3, 0, 2, 2));
    assert!(report.is_conserved());
}

#[tokio::test]
async fn a_panic_in_an_inline_stage_stops_the_run_with_its_message() {
    let err = Pipeline::from_iter(0..5)
        .map("boom", |x| if x == 3 { panic!("three") } else { x })
        .sink(sink::drain())
        .run()
        .await
        .unwrap_err();
    let RunError::Panicked { message, report } = err else { panic!("expected Panicked, got {err:?}") };
    assert_eq!(message, "three");
    assert_eq!(report.ending(), Ending::Aborted);
    // The sink took 0 alone, then asked for a chunk: 1 to 4 came, `boom`
    // handed on 1 and 2 and panicked on 3. The item that panicked and the
    // one taken with it are abandoned in `boom`.
    assert_eq!(report.stage("boom").unwrap().in_flight, 2, "{report}");
    // 0, 1 and 2 reached the sink but were not flushed: abandoned, not delivered.
    assert_eq!(report.stage("sink").unwrap().in_flight, 3, "{report}");
    assert_eq!((report.source_items(), report.delivered(), report.abandoned()), (5, 0, 5));
    assert!(report.is_conserved());
}

/// Keeps one item in `every`, counts the others as filtered, and labels the rest.
struct KeepEvery {
    every: u64,
}

impl Stage<u64> for KeepEvery {
    type Output = String;

    fn name(&self) -> &str {
        "keep-every"
    }

    fn build(self, input: EnvelopeStream<u64>, ctx: StageContext) -> EnvelopeStream<String> {
        let every = self.every;
        input
            .filter_map(move |env| {
                let out = if env.item() % every == 0 {
                    Some(env.map(|x| format!("#{x}")))
                } else {
                    ctx.filter(env);
                    None
                };
                std::future::ready(out)
            })
            .boxed()
    }
}

#[tokio::test]
async fn custom_stage_is_counted_like_a_builtin() {
    let (sink, out) = sink::collect();
    let report = Pipeline::from_iter(0..10u64).stage(KeepEvery { every: 3 }).sink(sink).run().await.unwrap();
    assert_eq!(out.take(), ["#0", "#3", "#6", "#9"]);
    assert_eq!(counts(&report, "keep-every"), (10, 4, 6, 0, 0));
    assert!(report.is_conserved());
}

/// A faulty stage that drops odd items without counting them.
struct Leaky;

impl Stage<u64> for Leaky {
    type Output = u64;

    fn name(&self) -> &str {
        "leaky"
    }

    fn build(self, input: EnvelopeStream<u64>, _ctx: StageContext) -> EnvelopeStream<u64> {
        input.filter(|env| std::future::ready(env.item() % 2 == 0)).boxed()
    }
}

#[tokio::test]
async fn conservation_check_catches_a_stage_that_loses_items() {
    let report = Pipeline::from_iter(0..10u64).stage(Leaky).sink(sink::drain()).run().await.unwrap();
    assert_eq!(report.stage("leaky").unwrap().in_flight, 5);
    assert!(!report.is_conserved(), "lost items must be reported:\n{report}");
    assert!(report.to_string().contains("NOT CONSERVED"));
}

/// Fails items above a limit; rejects a limit of zero when built.
struct Limit(u64);

impl FallibleStage<u64> for Limit {
    type Output = u64;
    type Error = Bad;

    fn name(&self) -> &str {
        "limit"
    }

    fn validate(&self) -> Result<(), BuildError> {
        if self.0 == 0 {
            return Err(BuildError::Zero { stage: "limit".into(), what: "limit" });
        }
        Ok(())
    }

    fn build(self, input: EnvelopeStream<u64>, ctx: StageContext) -> FallibleStream<u64, u64, Bad> {
        let limit = self.0;
        input
            .map(move |env| {
                let x = *env.item();
                if x <= limit {
                    Ok(env)
                } else {
                    Err(ctx.failure(env, Cause::Error(Bad(x)), ErrorClass::Permanent, 1))
                }
            })
            .boxed()
    }
}

#[tokio::test]
async fn custom_fallible_stage_must_handle_its_failures() {
    let (sink, out) = sink::collect();
    let report =
        Pipeline::from_iter(0..10u64).try_stage(Limit(6)).discard_failures().sink(sink).run().await.unwrap();
    assert_eq!(out.take(), [0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(counts(&report, "limit"), (10, 7, 0, 3, 3));
    assert!(report.is_conserved());

    let err =
        Pipeline::from_iter(0..10u64).try_stage(Limit(0)).discard_failures().sink(sink::drain()).run().await;
    assert!(matches!(err, Err(RunError::Build(BuildError::Zero { what: "limit", .. }))), "{err:?}");
}

#[tokio::test]
async fn route_failures_sees_each_failure_with_its_item() {
    let routed = Arc::new(Mutex::new(Vec::new()));
    let log = routed.clone();
    let report = Pipeline::from_iter(0..6u64)
        .try_map("odd", |x| if x % 2 == 1 { Err(Bad(x)) } else { Ok(x) })
        .route_failures(move |failure, _control| {
            log.lock().unwrap().push(failure.settle(Settled::Discarded));
            std::future::ready(())
        })
        .sink(sink::drain())
        .run()
        .await
        .unwrap();
    assert_eq!(*routed.lock().unwrap(), [1, 3, 5]);
    assert_eq!((report.discarded(), report.delivered()), (3, 3));
    assert!(report.is_conserved());
}

/// Review regression: an upstream panic on a buffer's task must end the
/// run with `Panicked`, never `Ok` with an item missing (the channel closes
/// before the panic is recorded).
#[test]
fn a_panic_behind_a_buffer_is_always_reported() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for _ in 0..300 {
        let result = rt.block_on(
            Pipeline::from_iter(0..4)
                .map("explode", |x| if x == 3 { panic!("boom") } else { x })
                .buffer("queue", 4)
                .sink(sink::drain())
                .run(),
        );
        assert!(matches!(result, Err(RunError::Panicked { .. })), "{result:?}");
    }
    std::panic::set_hook(hook);
}

/// Review regression: when a send fails and the flush of earlier items
/// fails too, the run's error still carries the item the sink gave back.
#[tokio::test]
async fn the_given_back_item_survives_a_failing_flush() {
    #[derive(Debug, thiserror::Error)]
    #[error("e{0}")]
    struct E(u32);
    struct FlushFails;
    impl Sink<u32> for FlushFails {
        type Error = E;
        async fn send(&mut self, x: u32) -> Result<(), SinkError<u32, E>> {
            if x == 1 { Err(SinkError::with_item(E(x), x)) } else { Ok(()) }
        }
        async fn flush(&mut self) -> Result<(), E> {
            Err(E(99))
        }
    }
    let err = Pipeline::from_iter([0u32, 1]).sink(FlushFails).run().await.unwrap_err();
    let RunError::Sink { error, item, returned, report, .. } = err else { panic!("a sink error") };
    assert_eq!(error.to_string(), "e1");
    assert_eq!(item.and_then(|i| i.downcast::<u32>().ok()).map(|b| *b), Some(1));
    assert_eq!(returned, 2);
    assert!(report.is_conserved(), "{report}");
}
