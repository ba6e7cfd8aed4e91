//! Stages: the steps of a pipeline, and the [`Stage`] trait for custom ones.

pub(crate) mod batch;
pub(crate) mod buffer;
pub(crate) mod counted;
pub(crate) mod filter;
pub(crate) mod inline;
pub(crate) mod inspect;
pub(crate) mod map;
pub(crate) mod sequential;
pub(crate) mod source;
pub(crate) mod then;
pub(crate) mod try_map;
pub(crate) mod try_then;

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use tokio_util::sync::WaitForCancellationFutureOwned;

use crate::chunk::{self, ChunkStream, FallibleChunks};
use crate::class::ErrorClass;
use crate::control::RunShared;
use crate::envelope::Envelope;
use crate::failure::{Cause, Failure};
use crate::metrics::{StageMetrics, StageRef};

/// The stream of envelopes a stage receives and returns.
pub type EnvelopeStream<T> = Pin<Box<dyn Stream<Item = Envelope<T>> + Send + 'static>>;

/// The stream of a fallible stage: successes, and failures that keep their item.
pub type FallibleStream<T, I, E> =
    Pin<Box<dyn Stream<Item = Result<Envelope<T>, Failure<I, E>>> + Send + 'static>>;

/// A custom stage: turns the input stream of envelopes into an output
/// stream, with a [`StageContext`] for its name, metrics and shutdown.
///
/// weir counts items in and out of the stage; the stage itself counts the
/// items it drops on purpose with [`StageContext::filter`], which also
/// acknowledges them. An envelope that a stage drops without that is
/// reported as lost by the conservation check. Plug a stage in with
/// [`Pipeline::stage`](crate::Pipeline::stage). Tasks a stage spawns must be
/// owned by its output stream (hold a `JoinSet` in it) so that dropping the
/// pipeline stops them.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use weir_core::prelude::*;
/// use weir_core::sink;
///
/// /// Drops every item equal to the one before it.
/// struct DedupConsecutive;
///
/// impl Stage<u32> for DedupConsecutive {
///     type Output = u32;
///     fn name(&self) -> &str { "dedup" }
///     fn build(self, input: EnvelopeStream<u32>, ctx: StageContext) -> EnvelopeStream<u32> {
///         let mut last = None;
///         input
///             .filter_map(move |env| {
///                 let keep = last != Some(*env.item());
///                 last = Some(*env.item());
///                 let out = if keep { Some(env) } else { ctx.filter(env); None };
///                 std::future::ready(out)
///             })
///             .boxed()
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let (sink, out) = sink::collect();
/// let report = Pipeline::from_iter([1, 1, 2, 2, 2, 3, 1])
///     .stage(DedupConsecutive)
///     .sink(sink)
///     .run()
///     .await?;
/// assert_eq!(out.take(), [1, 2, 3, 1]);
/// assert_eq!(report.filtered(), 3);
/// # Ok(())
/// # }
/// ```
pub trait Stage<In>: Send + 'static {
    /// The item type the stage emits.
    type Output: Send + 'static;

    /// The stage's name, unique within the pipeline.
    fn name(&self) -> &str;

    /// Checks the stage's configuration when the pipeline is built: an
    /// invalid value is a [`BuildError`](crate::BuildError) that `run()`
    /// and `spawn()` return before anything starts, never a panic in the
    /// stage's constructor. The default accepts everything.
    fn validate(&self) -> Result<(), crate::BuildError> {
        Ok(())
    }

    /// Builds the stage when the pipeline starts running.
    fn build(self, input: EnvelopeStream<In>, ctx: StageContext) -> EnvelopeStream<Self::Output>;

    /// Builds the stage on chunks of envelopes (see [`chunk`](crate::chunk)),
    /// which is what the pipeline calls. The default runs
    /// [`build`](Self::build) item by item: its input stream pulls one
    /// item when it is asked for one. A stage that works through runs of
    /// items overrides it, and implements `build` with it
    /// ([`chunk::build_by_chunks`](crate::chunk::build_by_chunks)).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::chunk::{self, ChunkStream, Chunks};
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    ///
    /// /// Adds one to every item, a chunk at a time.
    /// struct AddOne;
    ///
    /// struct AddOneChunks { input: ChunkStream<u64>, chunk: Vec<Envelope<u64>> }
    ///
    /// impl Chunks for AddOneChunks {
    ///     type Item = Envelope<u64>;
    ///     fn poll_chunk(
    ///         self: std::pin::Pin<&mut Self>,
    ///         cx: &mut std::task::Context<'_>,
    ///         want: usize,
    ///         out: &mut Vec<Envelope<u64>>,
    ///     ) -> std::task::Poll<bool> {
    ///         let this = self.get_mut();
    ///         let polled = this.input.as_mut().poll_chunk(cx, want, &mut this.chunk);
    ///         out.extend(this.chunk.drain(..).map(|env| env.map(|x| x + 1)));
    ///         polled
    ///     }
    /// }
    ///
    /// impl Stage<u64> for AddOne {
    ///     type Output = u64;
    ///     fn name(&self) -> &str { "add-one" }
    ///     fn build(self, input: EnvelopeStream<u64>, ctx: StageContext) -> EnvelopeStream<u64> {
    ///         chunk::build_by_chunks(self, input, ctx)
    ///     }
    ///     fn build_chunks(self, input: ChunkStream<u64>, _ctx: StageContext) -> ChunkStream<u64> {
    ///         Box::pin(AddOneChunks { input, chunk: Vec::new() })
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), RunError> {
    /// let (sink, out) = sink::collect();
    /// Pipeline::from_iter(0..4u64).stage(AddOne).sink(sink).run().await?;
    /// assert_eq!(out.take(), [1, 2, 3, 4]);
    /// # Ok(())
    /// # }
    /// ```
    fn build_chunks(self, input: ChunkStream<In>, ctx: StageContext) -> ChunkStream<Self::Output>
    where
        Self: Sized,
        In: Send + 'static,
    {
        Box::pin(chunk::from_stream(self.build(Box::pin(chunk::into_stream(input)), ctx)))
    }
}

/// What a stage knows about the run: its name, its live metrics, and
/// whether the pipeline is shutting down.
///
/// See the [`Stage`] and [`FallibleStage`] examples, which filter and fail
/// items through their context.
#[derive(Debug, Clone)]
pub struct StageContext {
    stage: StageRef,
    shared: Arc<RunShared>,
}

impl StageContext {
    pub(crate) fn new(stage: StageRef, shared: Arc<RunShared>) -> Self {
        Self { stage, shared }
    }

    /// The stage's name.
    pub fn name(&self) -> &str {
        self.stage.name()
    }

    /// The stage's live counters.
    pub fn metrics(&self) -> &StageMetrics {
        self.stage.metrics()
    }

    /// The stage's identity, kept by the failures it makes.
    pub fn stage_ref(&self) -> &StageRef {
        &self.stage
    }

    /// Whether the pipeline stopped taking items from its source. The
    /// stage should finish the items it holds and end when its input ends.
    pub fn is_shutting_down(&self) -> bool {
        self.shared.stop.is_cancelled()
    }

    /// Completes when the pipeline stops taking items from its source.
    pub fn shutting_down(&self) -> WaitForCancellationFutureOwned {
        self.shared.stop.cancelled()
    }

    /// Makes `task` part of the run. A stage that spawns tasks (to run its
    /// upstream in parallel, or a writer) wraps each future in this before
    /// spawning it, and keeps the task's handle in its output stream (a
    /// `JoinSet`, an `AbortOnDropHandle`) so that dropping the stage aborts
    /// it. Whatever ends the run (completion, shutdown, drain deadline,
    /// abort, panic), its report is taken, and `run()`, `shutdown()` and
    /// `abort()` return, only once every tracked task has stopped: the
    /// report is final, no item it counts as abandoned is acknowledged
    /// later.
    ///
    /// # Examples
    ///
    /// A stage that pulls its input on a task of its own, a few items
    /// ahead:
    ///
    /// ```
    /// use futures::StreamExt;
    /// use tokio::task::JoinSet;
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    ///
    /// struct Prefetch;
    ///
    /// impl Stage<u64> for Prefetch {
    ///     type Output = u64;
    ///
    ///     fn name(&self) -> &str {
    ///         "prefetch"
    ///     }
    ///
    ///     fn build(self, mut input: EnvelopeStream<u64>, ctx: StageContext) -> EnvelopeStream<u64> {
    ///         let (tx, rx) = tokio::sync::mpsc::channel(8);
    ///         let mut tasks = JoinSet::new();
    ///         tasks.spawn(ctx.track(async move {
    ///             while let Some(env) = input.next().await {
    ///                 if tx.send(env).await.is_err() {
    ///                     break;
    ///                 }
    ///             }
    ///         }));
    ///         // The output owns the task: dropping the stage aborts it.
    ///         futures::stream::unfold((rx, tasks), |(mut rx, tasks)| async move {
    ///             rx.recv().await.map(|env| (env, (rx, tasks)))
    ///         })
    ///         .boxed()
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), RunError> {
    /// let (sink, out) = sink::collect();
    /// Pipeline::from_iter(0..5u64).stage(Prefetch).sink(sink).run().await?;
    /// assert_eq!(out.take(), [0, 1, 2, 3, 4]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn track<F: std::future::Future>(&self, task: F) -> crate::TrackedFuture<F> {
        self.shared.tasks.track_future(task)
    }

    /// Drops an envelope on purpose: counts its items as filtered and
    /// acknowledges them.
    pub fn filter<T>(&self, envelope: Envelope<T>) {
        self.stage.metrics().record_filtered(envelope.count());
        envelope.ack();
    }

    /// Makes a failure of this stage from the envelope the stage received,
    /// and counts it as failed. Its first and last failure times are now
    /// (or, for a replayed item, the first is its history's); for an item
    /// that was retried, use [`failure_after`](Self::failure_after).
    pub fn failure<I, E>(
        &self,
        envelope: Envelope<I>,
        cause: Cause<E>,
        class: ErrorClass,
        attempts: u32,
    ) -> Failure<I, E>
    where
        E: std::fmt::Display,
    {
        self.make_failure(envelope, cause, class, attempts, None)
    }

    /// Makes a failure of this stage after the attempts `attempt` describes,
    /// and counts it as failed: it records `attempt.number()` attempts and,
    /// when the item was retried, the first attempt's failure as its first
    /// failure time (a replayed item keeps its history's).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use futures::StreamExt;
    /// use weir_core::Attempt;
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("down")]
    /// struct Down;
    ///
    /// /// Fails each item after three attempts, 300 ms apart.
    /// struct ThreeTries;
    ///
    /// impl FallibleStage<u32> for ThreeTries {
    ///     type Output = u32;
    ///     type Error = Down;
    ///     fn name(&self) -> &str { "tries" }
    ///     fn build(self, input: EnvelopeStream<u32>, ctx: StageContext) -> FallibleStream<u32, u32, Down> {
    ///         input
    ///             .then(move |env| {
    ///                 let ctx = ctx.clone();
    ///                 async move {
    ///                     let mut attempt = Attempt::first();
    ///                     for _ in 1..3 {
    ///                         attempt.next();
    ///                         tokio::time::sleep(Duration::from_millis(300)).await;
    ///                     }
    ///                     Err(ctx.failure_after(env, Cause::Error(Down), ErrorClass::Transient, &attempt))
    ///                 }
    ///             })
    ///             .boxed()
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), RunError> {
    /// let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    /// let kept = seen.clone();
    /// Pipeline::from_iter([1u32])
    ///     .try_stage(ThreeTries)
    ///     .inspect_failures(move |f| kept.lock().unwrap().push((f.attempts(), f.last_failed_at().duration_since(f.first_failed_at()).unwrap())))
    ///     .discard_failures()
    ///     .sink(sink::drain())
    ///     .run()
    ///     .await?;
    /// assert_eq!(*seen.lock().unwrap(), [(3, Duration::from_millis(600))]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn failure_after<I, E>(
        &self,
        envelope: Envelope<I>,
        cause: Cause<E>,
        class: ErrorClass,
        attempt: &crate::Attempt,
    ) -> Failure<I, E>
    where
        E: std::fmt::Display,
    {
        // Measured on tokio's clock (which a test may pause and advance),
        // then placed before this failure's wall-clock time.
        let first_failed_ago =
            attempt.first_failed_at().map(|at| tokio::time::Instant::now().saturating_duration_since(at));
        self.make_failure(envelope, cause, class, attempt.number(), first_failed_ago)
    }

    fn make_failure<I, E>(
        &self,
        envelope: Envelope<I>,
        cause: Cause<E>,
        class: ErrorClass,
        attempts: u32,
        first_failed_ago: Option<std::time::Duration>,
    ) -> Failure<I, E>
    where
        E: std::fmt::Display,
    {
        let (item, meta) = envelope.into_parts();
        let (acks, count, history) = meta.into_parts();
        self.stage.metrics().record_failed(count);
        if let Cause::Panicked(_) = cause {
            self.stage.metrics().record_panic(count);
        }
        tracing::warn!(stage = self.stage.name(), attempts, class = %class, cause = %cause, "item failed");
        let failure = Failure::new(item, cause, class, attempts, self.stage.clone(), acks, count);
        match (history, first_failed_ago) {
            (Some(h), _) => {
                failure.with_earlier_attempts(h.attempts()).with_first_failed_at(h.first_failed_at())
            }
            (None, Some(ago)) => {
                let at = failure.last_failed_at().checked_sub(ago).unwrap_or(std::time::UNIX_EPOCH);
                failure.with_first_failed_at(at)
            }
            (None, None) => failure,
        }
    }
}

/// A custom stage that may fail items, such as a fan-out of workers.
///
/// Its output carries successes and [`Failure`]s; plug it in with
/// [`Pipeline::try_stage`](crate::Pipeline::try_stage), and the pipeline
/// must then decide what happens to failures. Make failures with
/// [`StageContext::failure`] so that they are counted.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use weir_core::prelude::*;
/// use weir_core::sink;
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("{0} is too large")]
/// struct TooLarge(u32);
///
/// /// Fails items above a limit.
/// struct Limit(u32);
///
/// impl FallibleStage<u32> for Limit {
///     type Output = u32;
///     type Error = TooLarge;
///     fn name(&self) -> &str { "limit" }
///     fn build(self, input: EnvelopeStream<u32>, ctx: StageContext) -> FallibleStream<u32, u32, TooLarge> {
///         let limit = self.0;
///         input
///             .map(move |env| {
///                 let x = *env.item();
///                 if x <= limit { Ok(env) } else { Err(ctx.failure(env, Cause::Error(TooLarge(x)), ErrorClass::Permanent, 1)) }
///             })
///             .boxed()
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let report = Pipeline::from_iter(0..10u32).try_stage(Limit(6)).discard_failures().sink(sink::drain()).run().await?;
/// assert_eq!((report.delivered(), report.discarded()), (7, 3));
/// # Ok(())
/// # }
/// ```
pub trait FallibleStage<In>: Send + 'static {
    /// The item type of successes.
    type Output: Send + 'static;
    /// The error of failures: a real error type (see
    /// [`StageError`](crate::StageError)), checked where the stage is
    /// written rather than where its failures are handled.
    type Error: crate::StageError;

    /// The stage's name, unique within the pipeline.
    fn name(&self) -> &str;

    /// Checks the stage's configuration when the pipeline is built.
    fn validate(&self) -> Result<(), crate::BuildError> {
        Ok(())
    }

    /// Builds the stage when the pipeline starts running.
    fn build(
        self,
        input: EnvelopeStream<In>,
        ctx: StageContext,
    ) -> FallibleStream<Self::Output, In, Self::Error>;

    /// Builds the stage on chunks, which is what the pipeline calls; see
    /// [`Stage::build_chunks`]. The default runs [`build`](Self::build)
    /// item by item; a stage that overrides it implements `build` with
    /// [`chunk::build_fallible_by_chunks`](crate::chunk::build_fallible_by_chunks).
    fn build_chunks(
        self,
        input: ChunkStream<In>,
        ctx: StageContext,
    ) -> FallibleChunks<Self::Output, In, Self::Error>
    where
        Self: Sized,
        In: Send + 'static,
    {
        Box::pin(chunk::from_stream(self.build(Box::pin(chunk::into_stream(input)), ctx)))
    }
}

impl StageContext {
    /// The outcome of one attempt at `envelope`'s item, made by `catch_unwind`:
    /// the new envelope, or a failure of this stage (an `Err` is permanent,
    /// a panic is poison).
    #[inline]
    pub(crate) fn conclude<T, U, E: std::fmt::Display>(
        &self,
        envelope: Envelope<T>,
        outcome: std::thread::Result<Result<U, E>>,
    ) -> Result<Envelope<U>, Failure<T, E>> {
        match outcome {
            Ok(Ok(out)) => Ok(envelope.map(|_| out)),
            outcome => Err(self.fail(envelope, outcome)),
        }
    }

    /// The failure of an attempt that did not succeed (an `Err` is
    /// permanent, a panic is poison); kept out of line, off the path of
    /// the items that succeed.
    #[cold]
    #[inline(never)]
    fn fail<T, U, E: std::fmt::Display>(
        &self,
        envelope: Envelope<T>,
        outcome: std::thread::Result<Result<U, E>>,
    ) -> Failure<T, E> {
        let (cause, class) = match outcome {
            Ok(Ok(_)) => unreachable!("a success is no failure"),
            Ok(Err(e)) => (Cause::Error(e), ErrorClass::Permanent),
            Err(payload) => (Cause::from_panic(&*payload), ErrorClass::Poison),
        };
        self.failure(envelope, cause, class, 1)
    }

    /// A handle that can stop the run's intake or fail the run.
    pub fn control(&self) -> crate::RunControl {
        crate::RunControl(self.shared.clone())
    }

    /// A tracing span for this stage, to instrument the tasks it spawns.
    pub fn span(&self) -> tracing::Span {
        tracing::info_span!("weir.stage", stage = self.stage.name())
    }
}
