//! Sinks: where items end.
//!
//! A sink is anything implementing weir's [`Sink`] trait: its `send` gives
//! the item back inside the error when it cannot take it, so that a failing
//! sink's items are retried, dead-lettered or returned to the caller, never
//! dropped. Adapters make sinks out of async closures ([`from_fn`]), any
//! `futures::Sink` ([`from_futures`]), a tokio channel, and collectors for
//! tests ([`collect`], [`drain`]).

mod boxed;
mod chunk;
mod collect;
mod from_fn;
mod from_futures;

use std::fmt;
use std::future::Future;

use crate::ErrorClass;

pub use boxed::{BoxSink, BoxSinkError};
pub use chunk::SendChunk;
pub use collect::{Collected, Collector, Drain, collect, drain};
pub use from_fn::{FromFn, from_fn};
pub use from_futures::{FromFutures, from_futures};

/// Where a pipeline's items end.
///
/// `send` takes one item (a batch, after [`batch`](crate::Pipeline::batch));
/// `flush` makes every item sent so far durable. weir calls `flush` after a
/// group of ready items and acknowledges them only once it returns `Ok`.
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use weir_core::prelude::*;
/// use weir_core::Sink;
///
/// /// Sums what it receives.
/// struct Sum(u64);
///
/// impl Sink<u64> for Sum {
///     type Error = Infallible;
///     async fn send(&mut self, item: u64) -> Result<(), SinkError<u64, Infallible>> {
///         self.0 += item;
///         Ok(())
///     }
///     async fn flush(&mut self) -> Result<(), Infallible> {
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let report = Pipeline::from_iter(1..=4u64).sink(Sum(0)).run().await?;
/// assert_eq!(report.delivered(), 4);
/// # Ok(())
/// # }
/// ```
pub trait Sink<T>: Send + 'static {
    /// The sink's error (a [`StageError`](crate::StageError)).
    type Error: crate::StageError;

    /// Takes one item. On error the item is given back when the sink still has it.
    fn send(&mut self, item: T) -> impl Future<Output = Result<(), SinkError<T, Self::Error>>> + Send;

    /// Takes a run of ready items in one call: what the pipeline calls.
    ///
    /// The default takes the items one by one through [`send`](Sink::send)
    /// (and notes each one's [`last_attempt`](Sink::last_attempt)), so a
    /// sink need not write it. A sink whose items only go into a buffer
    /// until [`flush`](Sink::flush) overrides it to take the whole run in
    /// one loop, without a future per item; see [`SendChunk`] for the
    /// contract: an error is the item taken last's, and items not taken
    /// are offered again. The pipeline only ever hands a chunk of what is
    /// ready, so a sink that waits holds no more items than through `send`.
    ///
    /// A sink that wraps another should forward it, or keep the default.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use weir_core::prelude::*;
    /// use weir_core::Sink;
    /// use weir_core::sink::SendChunk;
    ///
    /// /// Sums what it receives, a run at a time.
    /// struct Sum(u64);
    ///
    /// impl Sink<u64> for Sum {
    ///     type Error = Infallible;
    ///     async fn send(&mut self, item: u64) -> Result<(), SinkError<u64, Infallible>> {
    ///         self.0 += item;
    ///         Ok(())
    ///     }
    ///     async fn send_chunk(&mut self, items: &mut SendChunk<'_, u64>) -> Result<(), SinkError<u64, Infallible>> {
    ///         self.0 += items.sum::<u64>();
    ///         Ok(())
    ///     }
    ///     async fn flush(&mut self) -> Result<(), Infallible> {
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), RunError> {
    /// let report = Pipeline::from_iter(1..=100u64).sink(Sum(0)).run().await?;
    /// assert_eq!(report.delivered(), 100);
    /// # Ok(())
    /// # }
    /// ```
    fn send_chunk(
        &mut self,
        items: &mut SendChunk<'_, T>,
    ) -> impl Future<Output = Result<(), SinkError<T, Self::Error>>> + Send
    where
        T: Send,
    {
        async move {
            while let Some(item) = items.next() {
                self.send(item).await?;
                if let Some(attempt) = self.last_attempt() {
                    items.note_attempt(attempt);
                }
            }
            Ok(())
        }
    }

    /// Makes every item sent so far durable.
    ///
    /// If it fails, the items sent since the last successful flush are not
    /// acknowledged. A sink that can be flushed again after a failure must
    /// keep those items until a flush succeeds (a retry layer on the sink
    /// relies on it); a sink that loses them on failure should not be
    /// wrapped in a retry layer.
    fn flush(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// The attempts the latest call to [`send`](Sink::send) or
    /// [`flush`](Sink::flush) made, for a sink that retries by itself (a
    /// retry layer such as weir-retry's `RetrySink`): the run counts its
    /// retries in the report, like a stage's, and records them in the
    /// failure of an item the sink gives back (attempts, first failure
    /// time). A retried flush counts a retry for each item it covers (and
    /// each as retried once); the attempts distribution counts sends.
    ///
    /// The default, `None`, means a single attempt. A sink that wraps
    /// another should forward it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use std::time::Duration;
    /// use weir_core::prelude::*;
    /// use weir_core::Sink;
    /// use weir_core::Attempt;
    ///
    /// /// Takes each item on its second try.
    /// #[derive(Default)]
    /// struct SecondTry { last: Option<Attempt> }
    ///
    /// impl Sink<u32> for SecondTry {
    ///     type Error = Infallible;
    ///     async fn send(&mut self, _: u32) -> Result<(), SinkError<u32, Infallible>> {
    ///         let mut attempt = Attempt::first();
    ///         attempt.next(); // the first try failed
    ///         tokio::time::sleep(Duration::from_millis(10)).await;
    ///         self.last = Some(attempt);
    ///         Ok(())
    ///     }
    ///     async fn flush(&mut self) -> Result<(), Infallible> {
    ///         self.last = None;
    ///         Ok(())
    ///     }
    ///     fn last_attempt(&self) -> Option<&Attempt> {
    ///         self.last.as_ref()
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), RunError> {
    /// let report = Pipeline::from_iter(0..3u32).sink(SecondTry::default()).run().await?;
    /// let sink = report.stage("sink").unwrap();
    /// assert_eq!((sink.delivered, sink.retried, sink.retries), (3, 3, 3));
    /// # Ok(())
    /// # }
    /// ```
    fn last_attempt(&self) -> Option<&crate::Attempt> {
        None
    }

    /// Checks the sink's configuration when the pipeline is built, like
    /// [`Operation::validate`](crate::Operation::validate) for an
    /// operation: the pipeline calls it when the sink is connected
    /// ([`Pipeline::sink`](crate::Pipeline::sink) and the other ways to
    /// connect one, a dead-letter store included) and `run()` or `spawn()`
    /// returns the error before anything starts. `stage` is the sink's
    /// stage name, for the error. A sink that wraps another (a retry layer,
    /// a [`BoxSink`]) checks its own settings, then forwards. The default
    /// accepts any configuration.
    ///
    /// # Errors
    ///
    /// A [`BuildError`](crate::BuildError) naming the stage, the setting
    /// and what to change.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use weir_core::prelude::*;
    /// use weir_core::Sink;
    ///
    /// /// Writes rows in groups of `group`.
    /// struct Grouped { group: usize, rows: Vec<u32> }
    ///
    /// impl Sink<u32> for Grouped {
    ///     type Error = Infallible;
    ///     async fn send(&mut self, row: u32) -> Result<(), SinkError<u32, Infallible>> {
    ///         self.rows.push(row);
    ///         Ok(())
    ///     }
    ///     async fn flush(&mut self) -> Result<(), Infallible> { Ok(()) }
    ///     fn validate(&self, stage: &str) -> Result<(), BuildError> {
    ///         if self.group == 0 {
    ///             return Err(BuildError::Zero { stage: stage.to_owned(), what: "the group size" });
    ///         }
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = Pipeline::from_iter(0..3u32)
    ///     .sink_named("rows", Grouped { group: 0, rows: Vec::new() })
    ///     .run()
    ///     .await
    ///     .unwrap_err();
    /// assert!(matches!(err, RunError::Build(BuildError::Zero { stage, .. }) if stage == "rows"));
    /// # }
    /// ```
    fn validate(&self, stage: &str) -> Result<(), crate::BuildError> {
        let _ = stage;
        Ok(())
    }

    /// Publishes the sink's own readings (a circuit breaker's state) into
    /// its stage's reports, through
    /// [`StageMetrics::gauge`](crate::StageMetrics::gauge); called once,
    /// when the pipeline is built, as for
    /// [`Operation::observe`](crate::Operation::observe). A layer
    /// registers its gauges, then asks the sink it wraps. The default
    /// publishes nothing.
    fn observe(&self, metrics: &crate::StageMetrics) {
        let _ = metrics;
    }
}

/// A sink's error, with the item it could not take when it can give it back.
///
/// It also says whether trying the item again can help: its
/// [`class`](SinkError::class) is [`ErrorClass::Transient`] (the store is
/// busy, the network is down) unless the sink says otherwise with
/// [`with_class`](SinkError::with_class), for an item it can never take (a
/// constraint violation, a value its format cannot hold). A retry layer
/// does not retry an item whose class is not retryable, and an item routed
/// to dead letters keeps the class in its record.
///
/// # Examples
///
/// ```
/// use weir_core::{ErrorClass, SinkError};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("disk full")]
/// struct DiskFull;
///
/// let err = SinkError::with_item(DiskFull, 7);
/// assert_eq!(err.to_string(), "disk full");
/// assert_eq!(err.class(), ErrorClass::Transient);
/// assert_eq!(err.into_item(), Some(7));
/// ```
pub struct SinkError<T, E> {
    error: E,
    item: Option<T>,
    class: ErrorClass,
}

impl<T, E> SinkError<T, E> {
    /// An error that gives the item back.
    pub fn with_item(error: E, item: T) -> Self {
        Self { error, item: Some(item), class: ErrorClass::Transient }
    }

    /// An error after which the item is gone (it was consumed).
    pub fn lost(error: E) -> Self {
        Self { error, item: None, class: ErrorClass::Transient }
    }

    /// The same error, classed `class`: [`ErrorClass::Permanent`] (or
    /// [`Poison`](ErrorClass::Poison)) for an item this sink can never
    /// take, so that it is not retried.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{ErrorClass, SinkError};
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("row {0} violates a constraint")]
    /// struct Constraint(u32);
    ///
    /// let err = SinkError::with_item(Constraint(7), 7).with_class(ErrorClass::Permanent);
    /// assert!(!err.class().is_retryable());
    /// assert_eq!(err.item(), Some(&7));
    /// ```
    pub fn with_class(mut self, class: ErrorClass) -> Self {
        self.class = class;
        self
    }

    /// Whether trying the item again may help; [`ErrorClass::Transient`]
    /// unless the sink set it with [`with_class`](SinkError::with_class).
    pub fn class(&self) -> ErrorClass {
        self.class
    }

    /// The sink's error.
    pub fn error(&self) -> &E {
        &self.error
    }

    /// The item, when the sink gave it back.
    pub fn item(&self) -> Option<&T> {
        self.item.as_ref()
    }

    /// The item, when the sink gave it back.
    pub fn into_item(self) -> Option<T> {
        self.item
    }

    /// The error and the item.
    pub fn into_parts(self) -> (E, Option<T>) {
        (self.error, self.item)
    }

    /// The same item and class with its error changed by `f`.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::SinkError;
    ///
    /// let err: SinkError<u32, &str> = SinkError::with_item("full", 7);
    /// let err = err.map_err(|e| e.len());
    /// assert_eq!((*err.error(), err.item()), (4, Some(&7)));
    /// ```
    pub fn map_err<F>(self, f: impl FnOnce(E) -> F) -> SinkError<T, F> {
        SinkError { error: f(self.error), item: self.item, class: self.class }
    }
}

impl<T, E: fmt::Debug> fmt::Debug for SinkError<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkError")
            .field("error", &self.error)
            .field("has_item", &self.item.is_some())
            .field("class", &self.class)
            .finish()
    }
}

impl<T, E: fmt::Display> fmt::Display for SinkError<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl<T, E: std::error::Error + 'static> std::error::Error for SinkError<T, E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

impl<T: Send + 'static> Sink<T> for tokio::sync::mpsc::Sender<T> {
    type Error = tokio::sync::mpsc::error::SendError<()>;

    async fn send(&mut self, item: T) -> Result<(), SinkError<T, Self::Error>> {
        tokio::sync::mpsc::Sender::send(self, item)
            .await
            .map_err(|e| SinkError::with_item(tokio::sync::mpsc::error::SendError(()), e.0))
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}
