//! Operations: the user's per-item async functions that fan-out runs and
//! retry wraps.

use std::future::Future;
use std::time::Duration;

use crate::class::ErrorClass;
use crate::failure::Cause;

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
    /// attempts made so far and may be updated (for example with the delay
    /// chosen). The default fails at once, as permanent.
    fn on_failure(&self, attempt: &mut Attempt, error: &Self::Error) -> Verdict {
        let _ = (attempt, error);
        Verdict::Fail(ErrorClass::Permanent)
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
/// # Examples
///
/// ```
/// use weir_core::Attempt;
///
/// let mut attempt = Attempt::first();
/// assert_eq!(attempt.number(), 1);
/// assert!(attempt.first_failed_at().is_none());
/// attempt.next(std::time::Duration::from_millis(10));
/// assert_eq!(attempt.number(), 2);
/// assert!(attempt.first_failed_at().is_some());
/// ```
#[derive(Debug, Clone)]
pub struct Attempt {
    number: u32,
    first_at: tokio::time::Instant,
    first_failed_at: Option<tokio::time::Instant>,
    last_delay: Option<Duration>,
}

impl Attempt {
    /// The state before the first attempt's outcome is known.
    pub fn first() -> Self {
        Self::starting_at(tokio::time::Instant::now())
    }

    /// The state of an item whose first attempt started at `first_at`.
    pub fn starting_at(first_at: tokio::time::Instant) -> Self {
        Self { number: 1, first_at, first_failed_at: None, last_delay: None }
    }

    /// The number of the attempt that just failed (1 for the first).
    pub fn number(&self) -> u32 {
        self.number
    }

    /// When the first attempt started.
    pub fn first_at(&self) -> tokio::time::Instant {
        self.first_at
    }

    /// Time since the first attempt started.
    pub fn elapsed(&self) -> Duration {
        self.first_at.elapsed()
    }

    /// The delay before the latest retry, if there was one.
    pub fn last_delay(&self) -> Option<Duration> {
        self.last_delay
    }

    /// When the first attempt failed, once a retry followed it (`None`
    /// before that: the failing attempt is the first).
    pub fn first_failed_at(&self) -> Option<tokio::time::Instant> {
        self.first_failed_at
    }

    /// Records that the attempt that just failed is retried after `delay`.
    /// Call it when the failure happens: the first call also records the
    /// first failure's time ([`first_failed_at`](Self::first_failed_at)),
    /// which a failure's record keeps.
    pub fn next(&mut self, delay: Duration) {
        self.first_failed_at.get_or_insert_with(tokio::time::Instant::now);
        self.number = self.number.saturating_add(1);
        self.last_delay = Some(delay);
    }
}

/// What happens after a failed attempt.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::{Attempt, ErrorClass, Operation, Verdict};
///
/// /// Retries once after 10 ms, then gives up.
/// struct Once;
///
/// impl Operation<u32> for Once {
///     type Output = u32;
///     type Error = &'static str;
///     type Future = std::future::Ready<Result<u32, &'static str>>;
///     fn apply(&self, _: u32) -> Self::Future { std::future::ready(Err("down")) }
///     fn on_failure(&self, attempt: &mut Attempt, _: &&'static str) -> Verdict {
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Try again after this delay.
    Retry(Duration),
    /// Give up: the item fails with this class.
    Fail(ErrorClass),
    /// A retry was due, but the retry budget is spent: fail now.
    BudgetExhausted,
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
/// let (cause, class) = give_up(Verdict::BudgetExhausted, "down");
/// assert!(matches!(cause, Cause::BudgetExhausted("down")));
/// assert_eq!(class, ErrorClass::Transient);
/// ```
pub fn give_up<E>(verdict: Verdict, error: E) -> (Cause<E>, ErrorClass) {
    match verdict {
        Verdict::BudgetExhausted => (Cause::BudgetExhausted(error), ErrorClass::Transient),
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
                attempt.next(delay);
                tokio::time::sleep(delay).await;
            }
            verdict => {
                let (cause, class) = give_up(verdict, error);
                return Err(Exhausted { cause, class, attempts: attempt.number() });
            }
        }
    }
}
