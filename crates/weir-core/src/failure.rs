//! Failures: items that a stage could not process, kept whole.

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::time::SystemTime;

use crate::ack::Acks;
use crate::class::ErrorClass;
use crate::metrics::StageRef;

/// Why an item failed.
/// # Examples
///
/// ```
/// use weir_core::Cause;
///
/// let cause: Cause<std::fmt::Error> = Cause::Panicked("index out of bounds".to_owned());
/// assert_eq!(cause.to_string(), "operation panicked: index out of bounds");
/// assert!(cause.error().is_none());
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Cause<E> {
    /// The operation returned this error (after its last attempt).
    Error(E),
    /// The operation panicked; the panic message is kept.
    Panicked(String),
    /// The layer that decided gave up for a reason of its own although
    /// the error allowed another attempt (see
    /// [`Verdict::GiveUp`](crate::Verdict::GiveUp)): a retry budget that
    /// was spent, a circuit that was open. The last error is kept.
    GaveUp {
        /// The layer's reason, such as "retry budget exhausted".
        reason: &'static str,
        /// The last attempt's error.
        last: E,
    },
}

impl<E> Cause<E> {
    /// The cause for a caught panic, keeping the panic's message.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::Cause;
    ///
    /// let payload = std::panic::catch_unwind(|| panic!("bad item")).unwrap_err();
    /// let cause: Cause<std::io::Error> = Cause::from_panic(&*payload);
    /// assert_eq!(cause.panic_message(), Some("bad item"));
    /// ```
    pub fn from_panic(payload: &(dyn Any + Send)) -> Self {
        Cause::Panicked(crate::panic::panic_message(payload))
    }

    /// The operation's error, if the cause carries one.
    pub fn error(&self) -> Option<&E> {
        match self {
            Cause::Error(e) | Cause::GaveUp { last: e, .. } => Some(e),
            Cause::Panicked(_) => None,
        }
    }

    /// The reason the deciding layer gave, if it gave up for one of its
    /// own ([`Cause::GaveUp`]).
    ///
    /// ```
    /// use weir_core::Cause;
    ///
    /// let cause = Cause::GaveUp { reason: "circuit open", last: "connection refused" };
    /// assert_eq!(cause.gave_up_reason(), Some("circuit open"));
    /// assert_eq!(cause.error(), Some(&"connection refused"));
    /// assert_eq!(cause.to_string(), "circuit open; last error: connection refused");
    /// assert_eq!(Cause::Error("refused").gave_up_reason(), None);
    /// ```
    pub fn gave_up_reason(&self) -> Option<&'static str> {
        match self {
            Cause::GaveUp { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// The panic message, if the operation panicked.
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            Cause::Panicked(m) => Some(m),
            _ => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for Cause<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Error(e) => write!(f, "{e}"),
            Cause::Panicked(m) => write!(f, "operation panicked: {m}"),
            Cause::GaveUp { reason, last } => write!(f, "{reason}; last error: {last}"),
        }
    }
}

impl<E: Error + 'static> Error for Cause<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.error().map(|e| e as &(dyn Error + 'static))
    }
}

/// An item that a stage could not process, with everything needed to
/// store it, inspect it or process it again: the original item, the cause
/// (with the error's source chain), its class, the number of attempts, the
/// stage's name and the first and last failure times.
///
/// A failure also holds the acknowledgements of its source items; they
/// fire when the failure is dead-lettered or discarded, never when it is
/// dropped.
///
/// # Examples
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// #[derive(Debug, thiserror::Error)]
/// #[error("odd number {0}")]
/// struct Odd(u32);
///
/// let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
/// let kept = seen.clone();
/// let report = Pipeline::from_iter(1..=4u32)
///     .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(Odd(x)) })
///     .inspect_failures(move |f| kept.lock().unwrap().push((*f.item(), f.stage().to_owned(), f.attempts())))
///     .discard_failures()
///     .sink(sink::drain())
///     .run()
///     .await
///     .unwrap();
/// assert_eq!(*seen.lock().unwrap(), [(1, "even".to_owned(), 1), (3, "even".to_owned(), 1)]);
/// assert_eq!(report.discarded(), 2);
/// # }
/// ```
pub struct Failure<I, E>(Box<Inner<I, E>>);

/// A failure's fields, boxed so that a stream of `Result<Envelope<T>,
/// Failure<I, E>>` costs no more per success than a stream of envelopes.
struct Inner<I, E> {
    item: I,
    cause: Cause<E>,
    class: ErrorClass,
    attempts: u32,
    stage: StageRef,
    first_failed_at: SystemTime,
    last_failed_at: SystemTime,
    acks: Acks,
    count: u64,
}

impl<I, E> Failure<I, E> {
    pub(crate) fn new(
        item: I,
        cause: Cause<E>,
        class: ErrorClass,
        attempts: u32,
        stage: StageRef,
        acks: Acks,
        count: u64,
    ) -> Self {
        let now = SystemTime::now();
        Self(Box::new(Inner {
            item,
            cause,
            class,
            attempts,
            stage,
            first_failed_at: now,
            last_failed_at: now,
            acks,
            count,
        }))
    }

    /// Sets the first failure time, when the item had failed before (retries, replay).
    pub fn with_first_failed_at(mut self, at: SystemTime) -> Self {
        self.0.first_failed_at = at;
        self
    }

    /// Adds `earlier` attempts made before this one (replay of a dead letter).
    pub fn with_earlier_attempts(mut self, earlier: u32) -> Self {
        self.0.attempts = self.0.attempts.saturating_add(earlier);
        self
    }

    /// The original item, as the failing stage received it.
    pub fn item(&self) -> &I {
        &self.0.item
    }

    /// Why it failed.
    pub fn cause(&self) -> &Cause<E> {
        &self.0.cause
    }

    /// Its classification.
    pub fn class(&self) -> ErrorClass {
        self.0.class
    }

    /// How many attempts were made, the failing one included.
    pub fn attempts(&self) -> u32 {
        self.0.attempts
    }

    /// The name of the stage where it failed.
    pub fn stage(&self) -> &str {
        self.0.stage.name()
    }

    /// When the item first failed.
    pub fn first_failed_at(&self) -> SystemTime {
        self.0.first_failed_at
    }

    /// When the item last failed.
    pub fn last_failed_at(&self) -> SystemTime {
        self.0.last_failed_at
    }

    /// How many source items this failure stands for (more than one for a batch).
    pub fn count(&self) -> u64 {
        self.0.count
    }

    /// The cause's message followed by its source chain, outermost first.
    pub fn error_chain(&self) -> Vec<String>
    where
        E: Error + 'static,
    {
        let mut chain = vec![self.0.cause.to_string()];
        let mut next = self.0.cause.error().and_then(Error::source);
        while let Some(e) = next {
            chain.push(e.to_string());
            next = e.source();
        }
        chain
    }

    /// Returns the item and fires nothing: the caller now owns the outcome,
    /// and the source items stay unacknowledged.
    pub fn into_item(self) -> I {
        self.0.item
    }

    /// Transforms the item and keeps everything else (cause, counts, times
    /// and the unfired acknowledgements). A dead-letter stage uses it to
    /// move the item into its record while it keeps the failure, to settle
    /// it once the record is stored.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), RunError> {
    /// # #[derive(Debug, thiserror::Error)] #[error("odd")] struct Odd;
    /// Pipeline::from_iter([1u32])
    ///     .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(Odd) })
    ///     .route_failures(|failure, _| async move {
    ///         let mut item = None;
    ///         let rest = failure.map_item(|x| item = Some(x));
    ///         assert_eq!(item, Some(1));
    ///         rest.settle(Settled::Discarded);
    ///     })
    ///     .sink(sink::drain())
    ///     .run()
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn map_item<J>(self, f: impl FnOnce(I) -> J) -> Failure<J, E> {
        let inner = *self.0;
        Failure(Box::new(Inner {
            item: f(inner.item),
            cause: inner.cause,
            class: inner.class,
            attempts: inner.attempts,
            stage: inner.stage,
            first_failed_at: inner.first_failed_at,
            last_failed_at: inner.last_failed_at,
            acks: inner.acks,
            count: inner.count,
        }))
    }

    /// Counts, in its stage's report
    /// ([`StageReport::store_retries`](crate::StageReport::store_retries)),
    /// that storing this failure failed and is tried again: for a failure
    /// route with a store of its own, such as a dead-letter stage, whose
    /// retries would otherwise only be traced.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    ///
    /// # #[derive(Debug, thiserror::Error)] #[error("odd")] struct Odd;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), RunError> {
    /// let report = Pipeline::from_iter(0..4)
    ///     .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(Odd) })
    ///     .route_failures(|failure, _| async move {
    ///         failure.record_store_retry(); // the first try to store it failed
    ///         failure.settle(Settled::DeadLettered);
    ///     })
    ///     .sink(sink::drain())
    ///     .run()
    ///     .await?;
    /// assert_eq!(report.stage("even").unwrap().store_retries, 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn record_store_retry(&self) {
        self.0.stage.metrics().record_store_retry(self.0.count);
    }

    /// Fires the acknowledgements, for a failure whose outcome is now
    /// durable (stored as a dead letter, or explicitly discarded), and
    /// counts it under `outcome` in the report.
    pub fn settle(self, outcome: Settled) -> I {
        let inner = *self.0;
        let metrics = inner.stage.metrics();
        match outcome {
            Settled::DeadLettered => metrics.record_dead_lettered(inner.class, inner.count),
            Settled::Discarded => metrics.record_discarded(inner.count),
        }
        inner.acks.fire();
        inner.item
    }

    pub(crate) fn origin(&self) -> &StageRef {
        &self.0.stage
    }

    pub(crate) fn erase(self) -> ErasedFailure
    where
        I: Send + 'static,
        E: Error + Send + Sync + 'static,
    {
        let message = self.error_chain().join(": ");
        ErasedFailure {
            stage: self.0.stage.name().to_owned(),
            message,
            class: self.0.class,
            attempts: self.0.attempts,
            count: self.0.count,
            item: Box::new(self.0.item),
        }
    }
}

/// The final outcome of a failure, for [`Failure::settle`].
///
/// See [`Failure::settle`]; for example, a route that discards:
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
///
/// # #[derive(Debug, thiserror::Error)] #[error("odd")] struct Odd;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let report = Pipeline::from_iter(0..4)
///     .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(Odd) })
///     .route_failures(|failure, _| {
///         failure.settle(Settled::Discarded);
///         std::future::ready(())
///     })
///     .sink(sink::drain())
///     .run()
///     .await?;
/// assert_eq!(report.discarded(), 2);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Settled {
    /// Stored by a dead-letter sink.
    DeadLettered,
    /// Explicitly discarded.
    Discarded,
}

impl<I, E: fmt::Debug> fmt::Debug for Failure<I, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failure")
            .field("stage", &self.0.stage.name())
            .field("cause", &self.0.cause)
            .field("class", &self.0.class)
            .field("attempts", &self.0.attempts)
            .field("count", &self.0.count)
            .finish_non_exhaustive()
    }
}

impl<I, E: fmt::Display> fmt::Display for Failure<I, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stage `{}` failed after {} attempt(s) ({}): {}",
            self.0.stage.name(),
            self.0.attempts,
            self.0.class,
            self.0.cause
        )
    }
}

/// A failure whose item and error types were erased, as returned in a
/// [`RunError`](crate::RunError) when a pipeline halts on an error.
///
/// The original item can be taken back with
/// [`into_item`](ErasedFailure::into_item).
///
/// # Examples
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
///
/// # #[derive(Debug, thiserror::Error)] #[error("bad {0}")] struct Bad(u32);
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let err = Pipeline::from_iter([7u32])
///     .try_map("check", |x| Err::<u32, _>(Bad(x)))
///     .halt_on_error()
///     .sink(sink::drain())
///     .run()
///     .await
///     .unwrap_err();
/// let RunError::Halted { failures, .. } = err else { panic!() };
/// let failure = failures.into_iter().next().unwrap();
/// assert_eq!((failure.stage(), failure.message()), ("check", "bad 7"));
/// assert_eq!(failure.into_item::<u32>().unwrap(), 7);
/// # }
/// ```
pub struct ErasedFailure {
    stage: String,
    message: String,
    class: ErrorClass,
    attempts: u32,
    count: u64,
    item: Box<dyn Any + Send>,
}

impl ErasedFailure {
    /// The stage where the item failed.
    pub fn stage(&self) -> &str {
        &self.stage
    }

    /// The error message and its source chain, joined by `": "`.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error's class.
    pub fn class(&self) -> ErrorClass {
        self.class
    }

    /// The number of attempts made.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// How many source items it stands for.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The original item, if it is of type `I`; otherwise `self` is given back.
    pub fn into_item<I: 'static>(self) -> Result<I, Self> {
        match self.item.downcast::<I>() {
            Ok(item) => Ok(*item),
            Err(item) => Err(Self { item, ..self }),
        }
    }
}

impl fmt::Debug for ErasedFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErasedFailure")
            .field("stage", &self.stage)
            .field("message", &self.message)
            .field("class", &self.class)
            .field("attempts", &self.attempts)
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for ErasedFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stage `{}` failed after {} attempt(s) ({}): {}",
            self.stage, self.attempts, self.class, self.message
        )
    }
}

impl Error for ErasedFailure {}
