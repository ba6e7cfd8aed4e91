//! Operations: the user's per-item async functions that fan-out runs and
//! retry wraps.

use std::future::Future;
use std::time::Duration;

use crate::class::ErrorClass;
use crate::error::BuildError;
use crate::extensions::Extensions;
use crate::failure::Cause;
use crate::metrics::StageMetrics;

/// A per-item async function `Fn(In) -> Future<Output = Result<Out, E>>`,
/// the thing a fan-out runs and a retry layer wraps.
///
/// Every `Fn(In) -> impl Future<Output = Result<Out, E>>` closure is an
/// operation. Layers (such as `weir-retry`'s `Retry`) implement it too and
/// decide, through [`on_failure`](Operation::on_failure), whether a failed
/// attempt is retried and after what delay; the runner (a fan-out, or
/// [`call`]) then schedules the next attempt without holding a worker.
///
/// # Examples
///
/// ```
/// use weir_core::{Operation, operation};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let double = |x: u32| async move { Ok::<_, std::num::TryFromIntError>(x * 2) };
/// assert_eq!(double.apply(21).await.unwrap(), 42);
/// assert_eq!(operation::call(&double, 4).await.unwrap(), 8);
/// # }
/// ```
pub trait Operation<In>: Send + Sync + 'static {
    /// What a successful attempt returns.
    type Output: Send + 'static;
    /// What a failed attempt returns.
    type Error: Send + 'static;
    /// One attempt.
    type Future: Future<Output = Result<Self::Output, Self::Error>> + Send + 'static;

    /// Makes one attempt.
    fn apply(&self, input: In) -> Self::Future;

    /// Decides what happens after a failed attempt; `attempt` describes the
    /// attempts made so far, and the layer may keep per-item state of its
    /// own in it (its [extensions](Attempt::extension_or_insert_with)).
    /// The runner calls [`Attempt::next`] when the verdict is a retry. The
    /// default fails at once, as permanent.
    fn on_failure(&self, attempt: &mut Attempt, error: &Self::Error) -> Verdict {
        let _ = (attempt, error);
        Verdict::Fail(ErrorClass::Permanent)
    }

    /// Checks the operation's configuration when the pipeline is built,
    /// like [`FallibleStage::validate`](crate::FallibleStage::validate):
    /// the stage that runs the operation (a fan-out) returns the error from
    /// `run()` or `spawn()` before anything starts. `stage` is that stage's
    /// name, for the error. A layer checks its own settings, then asks the
    /// operation it wraps. The default accepts any configuration; outside
    /// a pipeline ([`call`]) nothing calls it.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the stage, the setting and what to change.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{BuildError, Operation};
    ///
    /// /// Looks items up in one of `shards` shards.
    /// struct Lookup { shards: u64 }
    ///
    /// impl Operation<u64> for Lookup {
    ///     type Output = u64;
    ///     type Error = std::convert::Infallible;
    ///     type Future = std::future::Ready<Result<u64, Self::Error>>;
    ///     fn apply(&self, key: u64) -> Self::Future { std::future::ready(Ok(key % self.shards)) }
    ///     fn validate(&self, stage: &str) -> Result<(), BuildError> {
    ///         if self.shards == 0 {
    ///             return Err(BuildError::Zero { stage: stage.to_owned(), what: "the shard count" });
    ///         }
    ///         Ok(())
    ///     }
    /// }
    ///
    /// assert!(matches!(Lookup { shards: 0 }.validate("lookup"), Err(BuildError::Zero { .. })));
    /// assert!(Lookup { shards: 4 }.validate("lookup").is_ok());
    /// ```
    fn validate(&self, stage: &str) -> Result<(), BuildError> {
        let _ = stage;
        Ok(())
    }

    /// Publishes the operation's own readings (a circuit breaker's
    /// state, a concurrency limit) into the reports of the stage that runs
    /// it, through [`StageMetrics::gauge`]; the stage calls it once, when
    /// it is built. A layer registers its gauges, then asks the operation
    /// it wraps. The default publishes nothing.
    ///
    /// A fan-out asks each worker's operation, and a gauge registered
    /// again under the same name replaces the earlier one: right for
    /// layers whose clones share their state (one breaker or limit for
    /// all workers, as `fan_out` gives them), while workers built with
    /// layers of their own (`fan_out_with`, a breaker each) report the
    /// last worker's readings; name such gauges per worker.
    ///
    /// ```
    /// use std::future::Ready;
    /// use weir_core::{Operation, StageMetrics};
    ///
    /// /// Counts the calls it had.
    /// #[derive(Default)]
    /// struct Counted(std::sync::Arc<std::sync::atomic::AtomicU64>);
    ///
    /// impl Operation<u64> for Counted {
    ///     type Output = u64;
    ///     type Error = std::convert::Infallible;
    ///     type Future = Ready<Result<u64, Self::Error>>;
    ///     fn apply(&self, x: u64) -> Self::Future {
    ///         self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    ///         std::future::ready(Ok(x))
    ///     }
    ///     fn observe(&self, metrics: &StageMetrics) {
    ///         let calls = self.0.clone();
    ///         metrics.gauge("calls", move || calls.load(std::sync::atomic::Ordering::Relaxed));
    ///     }
    /// }
    /// # Counted::default().observe(&StageMetrics::default());
    /// ```
    fn observe(&self, metrics: &StageMetrics) {
        let _ = metrics;
    }
}

impl<F, Fut, In, Out, E> Operation<In> for F
where
    F: Fn(In) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Out, E>> + Send + 'static,
    Out: Send + 'static,
    E: Send + 'static,
{
    type Output = Out;
    type Error = E;
    type Future = Fut;

    fn apply(&self, input: In) -> Fut {
        self(input)
    }
}

/// The attempts made so far for one item, kept between attempts.
///
/// Whoever runs an operation (a fan-out worker, [`call`], a sink that
/// retries) keeps one per item and hands it to
/// [`on_failure`](Operation::on_failure) after each failed attempt. Besides
/// the attempt count and times, it holds **extensions**: per-item state of
/// the layer that decides, one value per type (a retry layer's random
/// draws, a circuit breaker's probe ticket). Core never looks inside them;
/// they follow the item from attempt to attempt and are cloned with it.
///
/// # Examples
///
/// ```
/// use weir_core::Attempt;
///
/// let mut attempt = Attempt::first();
/// assert_eq!(attempt.number(), 1);
/// assert!(attempt.first_failed_at().is_none());
/// attempt.next();
/// assert_eq!(attempt.number(), 2);
/// assert!(attempt.first_failed_at().is_some());
/// ```
#[derive(Debug, Clone)]
pub struct Attempt {
    number: u32,
    first_at: tokio::time::Instant,
    first_failed_at: Option<tokio::time::Instant>,
    extensions: Extensions,
}

impl Attempt {
    /// The state before the first attempt's outcome is known.
    ///
    /// ```
    /// assert_eq!(weir_core::Attempt::first().number(), 1);
    /// ```
    pub fn first() -> Self {
        Self::starting_at(tokio::time::Instant::now())
    }

    /// The state of an item whose first attempt started at `first_at`.
    ///
    /// ```
    /// let start = tokio::time::Instant::now();
    /// assert_eq!(weir_core::Attempt::starting_at(start).first_at(), start);
    /// ```
    pub fn starting_at(first_at: tokio::time::Instant) -> Self {
        Self { number: 1, first_at, first_failed_at: None, extensions: Extensions::default() }
    }

    /// The number of the attempt that just failed (1 for the first).
    ///
    /// ```
    /// let mut attempt = weir_core::Attempt::first();
    /// attempt.next();
    /// assert_eq!(attempt.number(), 2);
    /// ```
    pub fn number(&self) -> u32 {
        self.number
    }

    /// When the first attempt started.
    ///
    /// ```
    /// let attempt = weir_core::Attempt::first();
    /// assert!(attempt.first_at() <= tokio::time::Instant::now());
    /// ```
    pub fn first_at(&self) -> tokio::time::Instant {
        self.first_at
    }

    /// Time since the first attempt started.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let attempt = weir_core::Attempt::first();
    /// tokio::time::advance(std::time::Duration::from_secs(2)).await;
    /// assert_eq!(attempt.elapsed(), std::time::Duration::from_secs(2));
    /// # }
    /// ```
    pub fn elapsed(&self) -> Duration {
        self.first_at.elapsed()
    }

    /// When the first attempt failed, once a retry followed it (`None`
    /// before that: the failing attempt is the first).
    ///
    /// ```
    /// let mut attempt = weir_core::Attempt::first();
    /// assert!(attempt.first_failed_at().is_none());
    /// attempt.next();
    /// assert!(attempt.first_failed_at().is_some());
    /// ```
    pub fn first_failed_at(&self) -> Option<tokio::time::Instant> {
        self.first_failed_at
    }

    /// Records that the attempt that just failed is retried. Call it when
    /// the failure happens: the first call also records the first
    /// failure's time ([`first_failed_at`](Self::first_failed_at)), which a
    /// failure's record keeps. What a layer needs to remember of its own
    /// decisions (the delay it chose, for instance) it keeps in an
    /// [extension](Self::extension_or_insert_with).
    ///
    /// ```
    /// let mut attempt = weir_core::Attempt::first();
    /// attempt.next();
    /// assert_eq!(attempt.number(), 2);
    /// ```
    pub fn next(&mut self) {
        self.first_failed_at.get_or_insert_with(tokio::time::Instant::now);
        self.number = self.number.saturating_add(1);
    }

    /// This item's extension of type `T`, if a layer stored one.
    ///
    /// # Examples
    ///
    /// A layer that allows each item one retry only while a shared ticket
    /// count lasts keeps, per item, whether it already holds a ticket:
    ///
    /// ```
    /// use weir_core::Attempt;
    ///
    /// #[derive(Debug, Clone, PartialEq)]
    /// struct Ticket(u32);
    ///
    /// let mut attempt = Attempt::first();
    /// assert_eq!(attempt.extension::<Ticket>(), None);
    /// attempt.insert_extension(Ticket(7));
    /// assert_eq!(attempt.extension::<Ticket>(), Some(&Ticket(7)));
    /// ```
    pub fn extension<T: Clone + Send + Sync + 'static>(&self) -> Option<&T> {
        self.extensions.get()
    }

    /// This item's extension of type `T`, mutably, if a layer stored one.
    ///
    /// ```
    /// let mut attempt = weir_core::Attempt::first();
    /// attempt.insert_extension(1u64);
    /// *attempt.extension_mut::<u64>().unwrap() += 1;
    /// assert_eq!(attempt.extension::<u64>(), Some(&2));
    /// ```
    pub fn extension_mut<T: Clone + Send + Sync + 'static>(&mut self) -> Option<&mut T> {
        self.extensions.get_mut()
    }

    /// Stores `value` as this item's extension of type `T`, returning the
    /// one it replaces. Use a type of your own (not `u64` or `Duration`),
    /// so that two layers never share a value by accident.
    ///
    /// ```
    /// #[derive(Debug, Clone, PartialEq)]
    /// struct Probe(bool);
    ///
    /// let mut attempt = weir_core::Attempt::first();
    /// assert_eq!(attempt.insert_extension(Probe(false)), None);
    /// assert_eq!(attempt.insert_extension(Probe(true)), Some(Probe(false)));
    /// ```
    pub fn insert_extension<T: Clone + Send + Sync + 'static>(&mut self, value: T) -> Option<T> {
        self.extensions.insert(value)
    }

    /// This item's extension of type `T`, stored first from `make` if
    /// there is none: the usual way for a layer to reach its per-item
    /// state in [`on_failure`](Operation::on_failure).
    ///
    /// ```
    /// #[derive(Debug, Clone, Default)]
    /// struct Seen(u32);
    ///
    /// let mut attempt = weir_core::Attempt::first();
    /// attempt.extension_or_insert_with(Seen::default).0 += 1;
    /// attempt.extension_or_insert_with(Seen::default).0 += 1;
    /// assert_eq!(attempt.extension::<Seen>().unwrap().0, 2);
    /// // Extensions follow the item: a clone keeps them.
    /// assert_eq!(attempt.clone().extension::<Seen>().unwrap().0, 2);
    /// ```
    pub fn extension_or_insert_with<T: Clone + Send + Sync + 'static>(
        &mut self,
        make: impl FnOnce() -> T,
    ) -> &mut T {
        self.extensions.get_or_insert_with(make)
    }
}

/// What happens after a failed attempt.
///
/// Core knows three answers: try again, fail with the error, or give up
/// for a reason of the deciding layer's own. The last is how a layer
/// declines an attempt that the error itself would allow (a retry budget
/// that is spent, a circuit breaker that is open, a rate limit that is
/// reached) without core knowing about budgets, breakers or limits: the
/// layer names its reason, and the failure's [`Cause::GaveUp`] keeps it
/// with the last error.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::{Attempt, ErrorClass, Operation, Verdict};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("down")]
/// struct Down;
///
/// /// Retries once after 10 ms, then gives up.
/// struct Once;
///
/// impl Operation<u32> for Once {
///     type Output = u32;
///     type Error = Down;
///     type Future = std::future::Ready<Result<u32, Down>>;
///     fn apply(&self, _: u32) -> Self::Future { std::future::ready(Err(Down)) }
///     fn on_failure(&self, attempt: &mut Attempt, _: &Down) -> Verdict {
///         if attempt.number() < 2 { Verdict::Retry(Duration::from_millis(10)) } else { Verdict::Fail(ErrorClass::Transient) }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let exhausted = weir_core::operation::call(&Once, 1).await.unwrap_err();
/// assert_eq!(exhausted.attempts, 2);
/// # }
/// ```
///
/// A circuit breaker, written outside core, gives up with a reason of its
/// own:
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use weir_core::{Attempt, Cause, ErrorClass, Operation, Verdict};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("connection refused")]
/// struct Refused;
///
/// struct Breaker { open: AtomicBool }
///
/// impl Operation<u32> for Breaker {
///     type Output = u32;
///     type Error = Refused;
///     type Future = std::future::Ready<Result<u32, Refused>>;
///     fn apply(&self, _: u32) -> Self::Future {
///         self.open.store(true, Ordering::Relaxed); // trips on the first failure
///         std::future::ready(Err(Refused))
///     }
///     fn on_failure(&self, _: &mut Attempt, _: &Refused) -> Verdict {
///         if self.open.load(Ordering::Relaxed) {
///             return Verdict::GiveUp { class: ErrorClass::Transient, reason: "circuit open" };
///         }
///         Verdict::Retry(std::time::Duration::ZERO)
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let breaker = Breaker { open: AtomicBool::new(false) };
/// let failed = weir_core::operation::call(&breaker, 1).await.unwrap_err();
/// assert!(matches!(failed.cause, Cause::GaveUp { reason: "circuit open", .. }));
/// assert_eq!(failed.cause.to_string(), "circuit open; last error: connection refused");
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Try again after this delay.
    Retry(Duration),
    /// Give up: the item fails with this class, its cause the error.
    Fail(ErrorClass),
    /// Give up for a reason of the deciding layer's own, although the
    /// error would allow another attempt: the item fails with `class`, and
    /// its cause is [`Cause::GaveUp`] with `reason` and the last error.
    GiveUp {
        /// The failure's class (usually [`ErrorClass::Transient`]: the
        /// item may succeed later, when the layer allows it again).
        class: ErrorClass,
        /// What the layer calls its reason, short and lowercase, read
        /// before "; last error: …" (for example "retry budget exhausted"
        /// or "circuit open").
        reason: &'static str,
    },
}

/// The outcome of [`call`] when the item failed for good.
///
/// See [`call`] (and [`Verdict`] for an example).
#[derive(Debug)]
#[non_exhaustive]
pub struct Exhausted<E> {
    /// Why the last attempt failed.
    pub cause: Cause<E>,
    /// The failure's class.
    pub class: ErrorClass,
    /// How many attempts were made.
    pub attempts: u32,
}

impl<E: std::fmt::Display> std::fmt::Display for Exhausted<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "failed after {} attempt(s) ({}): {}", self.attempts, self.class, self.cause)
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Exhausted<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.cause)
    }
}

/// Turns the verdict on a failed attempt into the failure's cause and class.
///
/// # Examples
///
/// ```
/// use weir_core::operation::give_up;
/// use weir_core::{Cause, ErrorClass, Verdict};
///
/// let (cause, class) = give_up(Verdict::GiveUp { class: ErrorClass::Transient, reason: "rate limited" }, "down");
/// assert!(matches!(cause, Cause::GaveUp { reason: "rate limited", last: "down" }));
/// assert_eq!(class, ErrorClass::Transient);
/// let (cause, class) = give_up(Verdict::Fail(ErrorClass::Permanent), "bad request");
/// assert!(matches!(cause, Cause::Error("bad request")));
/// assert_eq!(class, ErrorClass::Permanent);
/// ```
pub fn give_up<E>(verdict: Verdict, error: E) -> (Cause<E>, ErrorClass) {
    match verdict {
        Verdict::GiveUp { class, reason } => (Cause::GaveUp { reason, last: error }, class),
        Verdict::Fail(class) => (Cause::Error(error), class),
        Verdict::Retry(_) => (Cause::Error(error), ErrorClass::Transient),
    }
}

/// Runs one item through `op` outside a pipeline, with the retries its
/// [`on_failure`](Operation::on_failure) asks for, sleeping between
/// attempts. Retrying needs the item again, hence `In: Clone`.
///
/// # Errors
///
/// [`Exhausted`] with the last error when the operation gave up.
pub async fn call<Op, In>(op: &Op, input: In) -> Result<Op::Output, Exhausted<Op::Error>>
where
    Op: Operation<In>,
    In: Clone,
{
    let mut attempt = Attempt::first();
    loop {
        let error = match op.apply(input.clone()).await {
            Ok(out) => return Ok(out),
            Err(error) => error,
        };
        match op.on_failure(&mut attempt, &error) {
            Verdict::Retry(delay) => {
                attempt.next();
                tokio::time::sleep(delay).await;
            }
            verdict => {
                let (cause, class) = give_up(verdict, error);
                return Err(Exhausted { cause, class, attempts: attempt.number() });
            }
        }
    }
}
