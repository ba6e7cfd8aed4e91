//! Deliberately broken stages: each breaks one promise, and the suite
//! names it with a message that says what happened.

use std::time::Duration;

use futures::StreamExt;
use tokio::task::JoinSet;
use weir_core::{Acks, Envelope, EnvelopeStream, Meta, Stage, StageContext};
use weir_testkit::conformance::{self, Broken, Promise};

/// A stage over `u64` made of a name and a function of its input.
struct Broke<F> {
    name: &'static str,
    build: F,
}

impl<F> Stage<u64> for Broke<F>
where
    F: FnOnce(EnvelopeStream<u64>, StageContext) -> EnvelopeStream<u64> + Send + 'static,
{
    type Output = u64;

    fn name(&self) -> &str {
        self.name
    }

    fn build(self, input: EnvelopeStream<u64>, ctx: StageContext) -> EnvelopeStream<u64> {
        (self.build)(input, ctx)
    }
}

fn broken<F>(name: &'static str, build: F) -> Broken
where
    F: FnOnce(EnvelopeStream<u64>, StageContext) -> EnvelopeStream<u64> + Clone + Send + 'static,
{
    conformance::stage(move || Broke { name, build: build.clone() })
        .items(0..10u64)
        .cases(256)
        .run()
        .expect_err("a broken stage fails the suite")
}

#[track_caller]
fn assert_breaks(broken: &Broken, promise: Promise, says: &str) {
    let message = broken.to_string();
    assert_eq!(broken.promise(), Some(promise), "{message}");
    assert!(message.contains(says), "the message should say {says:?}:\n{message}");
    assert!(message.contains("minimal case: Case {"), "the message shows the case:\n{message}");
}

/// Moves an envelope's item on with the same count and no
/// acknowledgements; returns them.
fn strip(env: Envelope<u64>) -> (Envelope<u64>, Acks) {
    let (item, meta) = env.into_parts();
    let (acks, count, _) = meta.into_parts();
    (Envelope::from_parts(item, Meta::new(Acks::none(), count)), acks)
}

/// Owns the tasks of its stage: dropped with its stream, they go too;
/// a task's panic is raised again when the input ends (as `buffer` does),
/// so that only the promise under test breaks.
fn owned(rx: tokio::sync::mpsc::UnboundedReceiver<Envelope<u64>>, tasks: JoinSet<()>) -> EnvelopeStream<u64> {
    futures::stream::unfold((rx, tasks), |(mut rx, mut tasks)| async move {
        match rx.recv().await {
            Some(env) => Some((env, (rx, tasks))),
            None => {
                while let Some(joined) = tasks.join_next().await {
                    if let Err(error) = joined
                        && error.is_panic()
                    {
                        std::panic::resume_unwind(error.into_panic());
                    }
                }
                None
            }
        }
    })
    .boxed()
}

#[test]
fn a_stage_that_drops_items_uncounted_breaks_conservation() {
    let broken =
        broken("lossy", |input, _| input.filter(|env| std::future::ready(env.item() % 3 != 1)).boxed());
    assert_breaks(&broken, Promise::Conservation, "the report does not account for every item");
}

#[test]
fn a_stage_that_acknowledges_before_the_item_is_finished_breaks_acknowledgement() {
    let broken = broken("early-ack", |input, _| {
        input
            .map(|env| {
                let (env, acks) = strip(env);
                acks.fire();
                env
            })
            .boxed()
    });
    assert_breaks(&broken, Promise::Acknowledgement, "fired for items not finished");
}

#[test]
fn a_stage_that_pulls_its_whole_input_breaks_backpressure() {
    let broken = broken("greedy", |mut input, ctx| {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let mut tasks = JoinSet::new();
        tasks.spawn(ctx.track(async move {
            while let Some(env) = input.next().await {
                let _ = tx.send(env);
            }
        }));
        owned(rx, tasks)
    });
    assert_breaks(&broken, Promise::Backpressure, "held");
}

#[test]
fn a_stage_that_never_ends_breaks_drain() {
    let broken = broken("endless", |input, _| input.chain(futures::stream::pending()).boxed());
    assert_breaks(&broken, Promise::Drain, "did not end within an hour");
}

#[test]
fn a_stage_that_spawns_a_detached_task_breaks_no_leaked_task() {
    let broken = broken("leaky", |input, _| {
        tokio::spawn(async {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        input
    });
    assert_breaks(&broken, Promise::NoLeakedTask, "task(s) still alive after the run ended");
}

#[test]
fn a_stage_that_catches_panics_upstream_breaks_panic_containment() {
    // Ends its output quietly when its input panics.
    let broken = broken("swallow", |input, _| {
        futures::stream::unfold(Some(input), |input| async move {
            let mut input = input?;
            let next = std::panic::AssertUnwindSafe(input.next());
            match futures::FutureExt::catch_unwind(next).await {
                Ok(Some(env)) => Some((env, Some(input))),
                Ok(None) | Err(_) => None,
            }
        })
        .boxed()
    });
    assert_breaks(&broken, Promise::PanicContainment, "the panic was swallowed");
}

#[test]
fn a_stage_that_does_not_build_is_reported_as_such() {
    struct Invalid;
    impl Stage<u64> for Invalid {
        type Output = u64;
        fn name(&self) -> &str {
            "invalid"
        }
        fn validate(&self) -> Result<(), weir_core::BuildError> {
            Err(weir_core::BuildError::Zero { stage: "invalid".into(), what: "the window" })
        }
        fn build(self, input: EnvelopeStream<u64>, _: StageContext) -> EnvelopeStream<u64> {
            input
        }
    }
    let broken = conformance::stage(|| Invalid).cases(4).run().unwrap_err();
    assert_eq!(broken.promise(), None);
    assert!(broken.to_string().contains("does not build, so nothing was checked"), "{broken}");
}
