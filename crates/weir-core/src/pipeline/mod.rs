//! The pipeline builder: [`Pipeline`] and, after a fallible stage,
//! [`Fallible`]. Each returns the other (a fallible stage makes a
//! `Fallible`, a failure route makes a `Pipeline` again), so they are one
//! module.

mod fallible;

pub use fallible::Fallible;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures::{Stream, StreamExt};

use crate::ack::Ack;
use crate::chunk::{self, ChunkStream, Chunks, FallibleChunks};
use crate::envelope::Envelope;
use crate::error::BuildError;
use crate::metrics::StageKind;
use crate::plan::{Assembly, Plan};
use crate::run::{PipelineStream, Runnable};
use crate::sink::Sink;
use crate::stage::counted::{Counted, Passing};
use crate::stage::{self, Stage, StageContext};

type Build<T> = Chained<Envelope<T>>;

/// A build step: makes a stage's (counted) output when the run starts.
type Chained<Item> = Box<dyn FnOnce(&mut Assembly) -> Pin<Box<dyn Chunks<Item = Item> + Send>> + Send>;

/// A pipeline under construction: a source and the named stages after it.
///
/// Nothing runs until [`sink`](Pipeline::sink) connects it and the result
/// is run. Every stage has a name, unique in the pipeline, that reports,
/// tracing events and failures use. Stages that run inline (`map`,
/// `filter`, `then`, …) run on the task that drives the pipeline; stages
/// with workers (fan-out) own their tasks.
///
/// # Examples
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let (sink, out) = sink::collect();
/// let report = Pipeline::from_iter(1..=6)
///     .map("square", |x| x * x)
///     .filter("even", |x| x % 2 == 0)
///     .then("label", |x| async move { format!("#{x}") })
///     .sink(sink)
///     .run()
///     .await?;
/// assert_eq!(out.take(), ["#4", "#16", "#36"]);
/// assert_eq!((report.delivered(), report.filtered()), (3, 3));
/// # Ok(())
/// # }
/// ```
#[must_use = "a pipeline does nothing until it is connected to a sink and run"]
pub struct Pipeline<T> {
    pub(crate) build: Build<T>,
    pub(crate) plan: Plan,
}

impl<T> std::fmt::Debug for Pipeline<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").field("plan", &self.plan).finish_non_exhaustive()
    }
}

/// `Pipeline::from(stream)` is [`Pipeline::new`].
///
/// # Examples
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let report = Pipeline::from(futures::stream::iter(0..3)).sink(sink::drain()).await?;
/// assert_eq!(report.source_items(), 3);
/// # Ok(())
/// # }
/// ```
impl<T, St> From<St> for Pipeline<T>
where
    T: Send + 'static,
    St: Stream<Item = T> + Send + 'static,
{
    fn from(source: St) -> Self {
        Self::new(source)
    }
}

impl<T: Send + 'static> Pipeline<T> {
    /// Starts a pipeline from any stream. Its items carry no acknowledgement.
    pub fn new<St>(source: St) -> Self
    where
        St: Stream<Item = T> + Send + 'static,
    {
        Self::from_envelopes(source.map(Envelope::new))
    }

    /// Starts a pipeline from an iterator; items are pulled lazily.
    #[expect(
        clippy::should_implement_trait,
        reason = "FromIterator cannot require the Send + 'static iterator that lazy streaming needs"
    )]
    pub fn from_iter<I>(items: I) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
    {
        Self::new(futures::stream::iter(items))
    }

    /// Starts a pipeline from a stream of items with acknowledgements. Each
    /// [`Ack`] fires once its item's outcome is durable.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), RunError> {
    /// let acked = Arc::new(Mutex::new(Vec::new()));
    /// let log = acked.clone();
    /// let source = futures::stream::iter((0..4).map(move |i| {
    ///     let acked = log.clone();
    ///     (i, Ack::new(move || acked.lock().unwrap().push(i)))
    /// }));
    /// Pipeline::from_acked(source)
    ///     .filter("odd", |x| x % 2 == 1)
    ///     .batch("batch", 10, std::time::Duration::from_millis(5))
    ///     .sink(sink::drain())
    ///     .run()
    ///     .await?;
    /// let mut acked = acked.lock().unwrap().clone();
    /// acked.sort();
    /// assert_eq!(acked, [0, 1, 2, 3]); // filtered and delivered items alike
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_acked<St>(source: St) -> Self
    where
        St: Stream<Item = (T, Ack)> + Send + 'static,
    {
        Self::from_envelopes(source.map(|(item, ack)| Envelope::with_ack(item, ack)))
    }

    /// Starts a pipeline from a stream of `Result`s: a line reader, a frame
    /// decoder, a client library's stream. Each `Err` becomes a
    /// [`Failure`](crate::Failure) of the stage `name` right after the
    /// source, so the result must say what happens to it, like any
    /// failure: dead-letter it, halt on it or discard it, counted in the
    /// report either way. An error is never dropped silently, and the
    /// stream goes on after it: most streams of results (`LinesStream`, a
    /// TCP frame reader) yield an error and then go on or end by
    /// themselves. To stop at the first error, use
    /// [`halt_on_error`](Fallible::halt_on_error).
    ///
    /// The failure keeps no item (`()`): the stream gave none. Its class is
    /// [`ErrorClass::Permanent`](crate::ErrorClass::Permanent): weir cannot
    /// read the same item again. Every `Ok` and every `Err` counts as an
    /// item that left the source.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let lines = futures::stream::iter(vec![
    ///     Ok("a".to_owned()),
    ///     Err(io::Error::other("connection reset")),
    ///     Ok("b".to_owned()),
    /// ]);
    /// let (sink, out) = sink::collect();
    /// let err = Pipeline::try_new("read", lines).halt_on_error().sink(sink).run().await.unwrap_err();
    /// let RunError::Halted { failures, report } = err else { panic!() };
    /// assert_eq!((failures[0].stage(), failures[0].message()), ("read", "connection reset"));
    /// assert_eq!(out.take(), ["a"]); // intake stopped at the error
    /// assert!(report.is_conserved());
    /// # }
    /// ```
    pub fn try_new<St, E>(name: &str, source: St) -> Fallible<T, (), E>
    where
        St: Stream<Item = Result<T, E>> + Send + 'static,
        E: crate::StageError,
    {
        Pipeline::new(source).failing_errors(name)
    }

    /// Starts a pipeline from a [`Source`](crate::Source) of `Result`s,
    /// as [`try_new`](Self::try_new) does from a stream: each `Err` is a
    /// [`Failure`](crate::Failure) of the stage `name` right after the
    /// source (stage `"source"`), with no item, class
    /// [`Permanent`](crate::ErrorClass::Permanent). For sources that take
    /// part in the run and can fail, such as a merge of connections
    /// (`weir_shape::Merge`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use futures::StreamExt;
    /// use weir_core::prelude::*;
    /// use weir_core::{Source, sink};
    ///
    /// struct Lines(Vec<Result<String, io::Error>>);
    ///
    /// impl Source for Lines {
    ///     type Item = Result<String, io::Error>;
    ///     fn start(self, _ctx: StageContext) -> EnvelopeStream<Self::Item> {
    ///         futures::stream::iter(self.0).map(Envelope::new).boxed()
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), RunError> {
    /// let lines = Lines(vec![Ok("a".into()), Err(io::Error::other("reset")), Ok("b".into())]);
    /// let (sink, out) = sink::collect();
    /// let report = Pipeline::try_from_source("read", lines).discard_failures().sink(sink).run().await?;
    /// assert_eq!(out.take(), ["a", "b"]);
    /// assert_eq!(report.stage("read").unwrap().failed, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn try_from_source<S, E>(name: &str, source: S) -> Fallible<T, (), E>
    where
        S: crate::Source<Item = Result<T, E>>,
        E: crate::StageError,
    {
        Pipeline::from_source(source).failing_errors(name)
    }
}

impl<T: Send + 'static, E: crate::StageError> Pipeline<Result<T, E>> {
    /// The stage `name` that turns each `Err` into a failure with no item.
    fn failing_errors(self, name: &str) -> Fallible<T, (), E> {
        let (build, plan) = self.chain(name, |input, ctx| {
            stage::inline::Inline::new(
                input,
                move |chunk: std::vec::Drain<'_, Envelope<Result<T, E>>>, out: &mut Vec<_>| {
                    out.extend(chunk.map(|env| {
                        let (result, meta) = env.into_parts();
                        match result {
                            Ok(item) => Ok(Envelope::from_parts(item, meta)),
                            Err(error) => Err(ctx.failure(
                                Envelope::from_parts((), meta),
                                crate::Cause::Error(error),
                                crate::ErrorClass::Permanent,
                                1,
                            )),
                        }
                    }));
                },
            )
        });
        Fallible { build, plan }
    }
}

impl<T: Send + 'static> Pipeline<T> {
    /// Starts a pipeline from a stream of envelopes (for sources that build
    /// their own, such as replays or broker consumers).
    pub fn from_envelopes<St>(source: St) -> Self
    where
        St: Stream<Item = Envelope<T>> + Send + 'static,
    {
        Self::starting(Ok(()), move |_| source)
    }

    /// Starts a pipeline from a [`Source`](crate::Source): a source that
    /// takes part in the run, such as a broker consumer whose
    /// acknowledgements are sent by a task of its own. Its
    /// [`validate`](crate::Source::validate) runs when the pipeline is
    /// built, and it [`start`](crate::Source::start)s, with the source
    /// stage's context, when the run starts.
    ///
    /// # Examples
    ///
    /// See [`Source`](crate::Source).
    pub fn from_source<S>(source: S) -> Self
    where
        S: crate::Source<Item = T>,
    {
        Self::starting(source.validate(), move |ctx| source.start(ctx))
    }

    /// The source stage: `start` makes the source's stream when the run
    /// starts; the stream stops being pulled once intake stops.
    fn starting<St, F>(valid: Result<(), BuildError>, start: F) -> Self
    where
        St: Stream<Item = Envelope<T>> + Send + 'static,
        F: FnOnce(StageContext) -> St + Send + 'static,
    {
        let build: Build<T> = Box::new(move |asm: &mut Assembly| {
            let ctx = asm.stage("source", StageKind::Source);
            let stage = ctx.stage_ref().clone();
            let source = stage::source::StopOnCancel::new(start(ctx), asm.shared.clone());
            Box::pin(Counted::new(chunk::from_stream(source), stage))
        });
        let mut plan = Plan::default();
        plan.add("source");
        plan.check(valid);
        Self { build, plan }
    }

    /// Adds a stage that `make` builds from its input and its context
    /// when the pipeline runs; the stage's output is counted (its input is
    /// the previous stage's counted output). Returns the new build step
    /// and the plan, for a [`Pipeline`] or a [`Fallible`].
    fn chain<S, F>(mut self, name: &str, make: F) -> (Chained<S::Item>, Plan)
    where
        S: Chunks + Send + 'static,
        S::Item: Passing,
        F: FnOnce(ChunkStream<T>, StageContext) -> S + Send + 'static,
    {
        self.plan.add(name);
        let name = name.to_owned();
        let upstream = self.build;
        let build: Chained<S::Item> = Box::new(move |asm: &mut Assembly| {
            let input = upstream(asm);
            let ctx = asm.stage(&name, StageKind::Transform);
            let stage = ctx.stage_ref().clone();
            Box::pin(Counted::new(make(input, ctx), stage)) as Pin<Box<dyn Chunks<Item = S::Item> + Send>>
        });
        (build, self.plan)
    }

    /// Adds an infallible stage; see [`chain`](Self::chain).
    fn push<U, F>(self, name: &str, make: F) -> Pipeline<U>
    where
        U: Send + 'static,
        F: FnOnce(ChunkStream<T>, StageContext) -> ChunkStream<U> + Send + 'static,
    {
        let (build, plan) = self.chain(name, make);
        Pipeline { build, plan }
    }

    /// Adds a fallible stage; see [`chain`](Self::chain).
    fn push_fallible<U, E, F>(self, name: &str, make: F) -> Fallible<U, T, E>
    where
        U: Send + 'static,
        E: Send + 'static,
        F: FnOnce(ChunkStream<T>, StageContext) -> FallibleChunks<U, T, E> + Send + 'static,
    {
        let (build, plan) = self.chain(name, make);
        Fallible { build, plan }
    }

    /// Transforms each item with a synchronous, infallible function.
    ///
    /// A panic in `f` stops the run with [`RunError::Panicked`](crate::RunError::Panicked);
    /// use [`try_map`](Self::try_map) to turn panics into per-item failures.
    pub fn map<U, F>(self, name: &str, f: F) -> Pipeline<U>
    where
        U: Send + 'static,
        F: FnMut(T) -> U + Send + 'static,
    {
        self.push(name, move |input, ctx| stage::map::build(input, ctx, f))
    }

    /// Keeps the items `keep` accepts. The others are counted as filtered
    /// (an explicit outcome, part of the conservation check) and acknowledged.
    pub fn filter<F>(self, name: &str, keep: F) -> Pipeline<T>
    where
        F: FnMut(&T) -> bool + Send + 'static,
    {
        self.push(name, move |input, ctx| stage::filter::build(input, ctx, keep))
    }

    /// Looks at each item as it passes.
    pub fn inspect<F>(self, name: &str, f: F) -> Pipeline<T>
    where
        F: FnMut(&T) + Send + 'static,
    {
        self.push(name, move |input, ctx| stage::inspect::build(input, ctx, f))
    }

    /// Transforms each item with an async, infallible function, one item at
    /// a time, in order. For concurrency use a fan-out stage.
    pub fn then<U, F, Fut>(self, name: &str, f: F) -> Pipeline<U>
    where
        U: Send + 'static,
        F: FnMut(T) -> Fut + Send + 'static,
        Fut: Future<Output = U> + Send + 'static,
    {
        self.push(name, move |input, ctx| stage::then::build(input, ctx, f))
    }

    /// Transforms each item with a synchronous, fallible function. An `Err`
    /// or a panic becomes a [`Failure`](crate::Failure) that keeps the
    /// original item, which is why `T: Clone` (cheap with `Arc` or `Bytes`):
    /// `f` takes its item, so it is called with a clone of each one. When
    /// `f` can borrow the item, [`try_map_ref`](Self::try_map_ref) clones
    /// nothing.
    /// `E` must be an error type ([`StageError`](crate::StageError)); a
    /// bare `String` is refused here, with a message that says what to do.
    ///
    /// The result must decide what happens to failures before it can reach
    /// a sink:
    ///
    /// ```compile_fail
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// # #[derive(Debug, thiserror::Error)] #[error("bad")] struct Bad;
    /// let _ = Pipeline::from_iter(0..3)
    ///     .try_map("parse", |x| if x > 0 { Ok(x) } else { Err(Bad) })
    ///     .sink(sink::drain()); // error: failures are not handled
    /// ```
    pub fn try_map<U, E, F>(self, name: &str, mut f: F) -> Fallible<U, T, E>
    where
        T: Clone,
        U: Send + 'static,
        E: crate::StageError,
        F: FnMut(T) -> Result<U, E> + Send + 'static,
    {
        self.push_fallible(name, move |input, ctx| {
            stage::try_map::build(input, ctx, move |item: &T| f(item.clone()))
        })
    }

    /// Transforms each item with a synchronous, fallible function that
    /// borrows it, like [`try_map`](Self::try_map) but without its
    /// `T: Clone` bound: the item stays where it is, kept for its failure,
    /// so nothing is cloned. Use it when the function can read its input
    /// (a parser, a decoder of a borrowed buffer) or when cloning `T`
    /// costs (an owned `Vec<u8>` or `String`).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("not a number")]
    /// struct NotANumber;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let lines = vec![String::from("1"), String::from("x"), String::from("3")];
    /// let (sink, out) = sink::collect();
    /// let err = Pipeline::from_iter(lines)
    ///     .try_map_ref("parse", |s: &String| s.parse::<u32>().map_err(|_| NotANumber))
    ///     .halt_on_error()
    ///     .sink(sink)
    ///     .run()
    ///     .await
    ///     .unwrap_err();
    /// let RunError::Halted { failures, .. } = err else { panic!() };
    /// // The failure keeps the line itself, moved rather than cloned.
    /// assert_eq!(failures.into_iter().next().unwrap().into_item::<String>().unwrap(), "x");
    /// assert_eq!(out.take()[0], 1);
    /// # }
    /// ```
    pub fn try_map_ref<U, E, F>(self, name: &str, f: F) -> Fallible<U, T, E>
    where
        U: Send + 'static,
        E: crate::StageError,
        F: FnMut(&T) -> Result<U, E> + Send + 'static,
    {
        self.push_fallible(name, move |input, ctx| stage::try_map::build(input, ctx, f))
    }

    /// Transforms each item with an async, fallible function, one at a
    /// time, in order; failures as in [`try_map`](Self::try_map).
    pub fn try_then<U, E, F, Fut>(self, name: &str, f: F) -> Fallible<U, T, E>
    where
        T: Clone,
        U: Send + 'static,
        E: crate::StageError,
        F: FnMut(T) -> Fut + Send + 'static,
        Fut: Future<Output = Result<U, E>> + Send + 'static,
    {
        self.push_fallible(name, move |input, ctx| stage::try_then::build(input, ctx, f))
    }

    /// Groups items into batches of at most `max_items`, flushing a partial
    /// batch `max_wait` after its first item arrived, and when the input
    /// ends (so at shutdown too). A batch acknowledges all its items once
    /// the sink flushed it. `max_items` of zero is a build error. Any
    /// `max_wait` works: one of [`NEVER_AFTER`](crate::time::NEVER_AFTER)
    /// or more (such as `Duration::MAX`) means batches are cut by size and
    /// at the end of the input only.
    pub fn batch(self, name: &str, max_items: usize, max_wait: Duration) -> Pipeline<Vec<T>> {
        self.batch_weighted(name, max_items, usize::MAX, max_wait, |_| 0)
    }

    /// Like [`batch`](Self::batch), with a weight limit as well (for
    /// example bytes): the batch is flushed before an item would take it
    /// over `max_weight`, and as soon as it reaches it. An item heavier
    /// than `max_weight` travels alone. With a `max_weight` of `usize::MAX`
    /// no weight can cut a batch, and `weigh` is not called.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), RunError> {
    /// let (sink, out) = sink::collect();
    /// Pipeline::from_iter(["aaaa", "bb", "cc", "dddddd", "e"])
    ///     .batch_weighted("by-size", 100, 6, Duration::from_millis(50), |s: &&str| s.len())
    ///     .sink(sink)
    ///     .run()
    ///     .await?;
    /// assert_eq!(out.take(), [vec!["aaaa", "bb"], vec!["cc"], vec!["dddddd"], vec!["e"]]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn batch_weighted<W>(
        mut self,
        name: &str,
        max_items: usize,
        max_weight: usize,
        max_wait: Duration,
        weigh: W,
    ) -> Pipeline<Vec<T>>
    where
        W: FnMut(&T) -> usize + Send + 'static,
    {
        if max_items == 0 {
            self.plan.fail(BuildError::Zero { stage: name.to_owned(), what: "max_items" });
        }
        if max_weight == 0 {
            self.plan.fail(BuildError::Zero { stage: name.to_owned(), what: "max_weight" });
        }
        let limits = stage::batch::Limits { max_items, max_weight, max_wait };
        self.push(name, move |input, _ctx| Box::pin(stage::batch::Batch::new(input, limits, weigh)))
    }

    /// A bounded queue of `capacity` items between the stages before it
    /// (which then run on a task of their own, pulling from the source
    /// while the queue has room) and the stages after it. When the queue is
    /// full, upstream waits: the classic producer/consumer buffer, without
    /// a sentinel. The stage then holds `capacity` items, plus the one
    /// item that waits for room. A capacity of zero is a build error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use std::time::Duration;
    /// use tokio::time::{Instant, sleep};
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), RunError> {
    /// let start = Instant::now();
    /// let producer = async_stream::stream! {
    ///     for i in 0..3 {
    ///         yield i;
    ///         sleep(Duration::from_millis(100)).await;
    ///     }
    /// };
    /// Pipeline::new(producer)
    ///     .buffer("queue", 10)
    ///     .sink(sink::from_fn(|_: i32| async {
    ///         sleep(Duration::from_millis(200)).await;
    ///         Ok::<_, Infallible>(())
    ///     }))
    ///     .run()
    ///     .await?;
    /// // The producer ran ahead while the consumer worked: 3 x 200 ms, not 3 x 300 ms.
    /// assert_eq!(start.elapsed(), Duration::from_millis(600));
    /// # Ok(())
    /// # }
    /// ```
    pub fn buffer(mut self, name: &str, capacity: usize) -> Pipeline<T> {
        let capacity = self.queue_capacity(name, capacity);
        self.push(name, move |input, ctx| stage::buffer::build(input, ctx, capacity))
    }

    /// Checks the capacity of stage `name`'s queue: zero, or more than a
    /// tokio queue holds, is a build error. Returns a capacity a queue can
    /// be made with (the build fails before it is used when it is wrong).
    fn queue_capacity(&mut self, name: &str, capacity: usize) -> usize {
        if capacity == 0 {
            self.plan.fail(BuildError::Zero { stage: name.to_owned(), what: "the capacity" });
        }
        let limit = tokio::sync::Semaphore::MAX_PERMITS;
        if capacity > limit {
            let message = format!("a capacity of {capacity} items is more than the {limit} a queue can hold");
            self.plan.fail(BuildError::Invalid { stage: name.to_owned(), message });
        }
        capacity.clamp(1, limit)
    }

    /// Plugs in a custom [`Stage`]; its [`validate`](Stage::validate) runs
    /// when the pipeline is built.
    pub fn stage<S>(mut self, stage: S) -> Pipeline<S::Output>
    where
        S: Stage<T>,
    {
        let name = stage.name().to_owned();
        self.plan.check(stage.validate());
        self.push(&name, move |input, ctx| stage.build_chunks(input, ctx))
    }

    /// Plugs in a custom stage that may fail items (fan-out is one).
    pub fn try_stage<S>(mut self, stage: S) -> Fallible<S::Output, T, S::Error>
    where
        S: crate::stage::FallibleStage<T>,
    {
        let name = stage.name().to_owned();
        self.plan.check(stage.validate());
        self.push_fallible(&name, move |input, ctx| stage.build_chunks(input, ctx))
    }

    /// Connects the pipeline to its sink. The result is ready to run.
    ///
    /// The sink is named `"sink"` in reports; use
    /// [`sink_named`](Self::sink_named) to name it.
    pub fn sink<Si>(self, sink: Si) -> Runnable
    where
        Si: Sink<T>,
    {
        self.sink_named("sink", sink)
    }

    /// Connects the pipeline to its sink, named `name` in reports.
    ///
    /// When the sink fails, intake stops and the run returns
    /// [`RunError::Sink`](crate::RunError::Sink) with the item the sink
    /// gave back; items still upstream are abandoned (not acknowledged).
    /// To keep going instead, give the sink's failures a route with
    /// [`sink_routing_failures`](Self::sink_routing_failures).
    pub fn sink_named<Si>(self, name: &str, sink: Si) -> Runnable
    where
        Si: Sink<T>,
    {
        self.connect::<Si, crate::run::drive::NoRoute>(name, sink, None)
    }

    /// Connects the pipeline to its sink and sends every item the sink
    /// gives back with an error (after the sink's own retries, if it has
    /// any) to `route` as a [`Failure`](crate::Failure) of the sink's
    /// stage, classed as the [`SinkError`](crate::SinkError) says
    /// (transient unless the sink set another class), and goes on. The `weir-deadletter` crate's
    /// `sink_dead_lettering` builds on it. Items a sink cannot give back
    /// (a failed flush, a `futures::Sink`) still end the run. The route's
    /// [`validate`](crate::FailureRoute::validate) error, if any, is
    /// returned by `run()` or `spawn()` before anything starts.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::prelude::*;
    /// use weir_core::Sink;
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("row {0} violates a constraint")]
    /// struct Constraint(u32);
    ///
    /// /// Refuses odd rows, giving them back.
    /// struct Table(Vec<u32>);
    ///
    /// impl Sink<u32> for Table {
    ///     type Error = Constraint;
    ///     async fn send(&mut self, row: u32) -> Result<(), SinkError<u32, Constraint>> {
    ///         if row % 2 == 1 { return Err(SinkError::with_item(Constraint(row), row)) }
    ///         self.0.push(row);
    ///         Ok(())
    ///     }
    ///     async fn flush(&mut self) -> Result<(), Constraint> { Ok(()) }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), RunError> {
    /// let refused = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    /// let keep = refused.clone();
    /// let report = Pipeline::from_iter(0..6u32)
    ///     .sink_routing_failures("table", Table(Vec::new()), weir_core::route::from_fn(move |failure: Failure<u32, Constraint>, _| {
    ///         keep.lock().unwrap().push(*failure.item());
    ///         failure.settle(Settled::Discarded);
    ///         std::future::ready(())
    ///     }))
    ///     .run()
    ///     .await?;
    /// assert_eq!(*refused.lock().unwrap(), [1, 3, 5]);
    /// assert_eq!((report.delivered(), report.discarded()), (3, 3));
    /// # Ok(())
    /// # }
    /// ```
    pub fn sink_routing_failures<Si, R>(self, name: &str, sink: Si, route: R) -> Runnable
    where
        Si: Sink<T>,
        R: crate::FailureRoute<T, Si::Error>,
    {
        self.connect(name, sink, Some(route))
    }

    /// Runs the pipeline on a task of its own and returns its output as a
    /// [`Stream`] for the rest of the program, through a queue of
    /// `capacity` items: when the program stops reading, the pipeline
    /// waits (backpressure). The end stage is named `"stream"` in reports.
    /// An item counts as delivered, and its acknowledgement fires, when the
    /// program takes it. The stream ends when the pipeline has ended;
    /// [`PipelineStream::finish`] then returns the run's report (or error).
    /// Dropping the stream aborts the pipeline.
    ///
    /// # Errors
    ///
    /// The configuration error, if any (a `capacity` of zero is one);
    /// nothing is spawned then.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use weir_core::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut squares = Pipeline::from_iter(1..=4).map("square", |x| x * x).into_stream(16)?;
    /// let mut got = Vec::new();
    /// while let Some(x) = squares.next().await {
    ///     got.push(x);
    /// }
    /// assert_eq!(got, [1, 4, 9, 16]);
    /// let report = squares.finish().await?;
    /// assert_eq!(report.delivered(), 4);
    /// assert!(report.is_conserved());
    /// # Ok(())
    /// # }
    /// ```
    pub fn into_stream(mut self, capacity: usize) -> Result<PipelineStream<T>, BuildError> {
        const NAME: &str = "stream";
        let capacity = self.queue_capacity(NAME, capacity);
        let (tx, rx) = tokio::sync::mpsc::channel(capacity);
        let taken = std::sync::Arc::new(crate::run::stream::Taken::default());
        let counted = taken.clone();
        self.plan.add(NAME);
        let upstream = self.build;
        let runnable = Runnable::new(
            Box::new(move |asm: &mut Assembly| {
                let input = upstream(asm);
                asm.stage(NAME, StageKind::Sink);
                Box::pin(crate::run::stream::hand_over(input, tx, counted))
            }),
            self.plan,
        );
        Ok(PipelineStream::new(rx, taken, runnable.spawn()?))
    }

    fn connect<Si, R>(mut self, name: &str, sink: Si, route: Option<R>) -> Runnable
    where
        Si: Sink<T>,
        R: crate::FailureRoute<T, Si::Error>,
    {
        self.plan.add(name);
        self.plan.check(sink.validate(name));
        if let Some(route) = &route {
            self.plan.check(route.validate());
        }
        let name = name.to_owned();
        let upstream = self.build;
        Runnable::new(
            Box::new(move |asm: &mut Assembly| {
                let input = upstream(asm);
                let ctx = asm.stage(&name, StageKind::Sink);
                sink.observe(ctx.metrics());
                Box::pin(crate::run::drive::drive(input, sink, route, ctx))
            }),
            self.plan,
        )
    }
}
