//! The retry policy: when to retry, after what delay, and when to give up.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use weir_core::{Attempt, ErrorClass, Verdict};

use crate::backoff::Backoff;
use crate::budget::RetryBudget;
use crate::draws::{ItemDraws, Seeds};
use crate::jitter::Jitter;

/// A retry policy: backoff, jitter, limits and budget. Start one with
/// [`RetryPolicy::exponential`] or [`RetryPolicy::constant`] and turn its
/// knobs ([`factor`](Self::factor), [`cap`](Self::cap),
/// [`jitter`](Self::jitter), [`seed`](Self::seed),
/// [`max_attempts`](Self::max_attempts),
/// [`max_elapsed`](Self::max_elapsed), [`budget`](Self::budget)): the
/// result is the policy, there is nothing to build.
///
/// Defaults: 3 attempts, no elapsed-time limit, no jitter, no budget.
///
/// # Validation
///
/// A knob given a value that cannot work (a factor below 1 or not finite,
/// a cap below the base delay, zero attempts, a zero `max_elapsed`, a
/// budget with a bad ratio or a zero window) is kept as given and reported
/// by [`validate`](Self::validate). A pipeline
/// checks every retry layer's policy when it is built: `run()` and
/// `spawn()` return [`BuildError::Invalid`](weir_core::BuildError::Invalid)
/// naming the stage, with the [`InvalidPolicy`](crate::InvalidPolicy)
/// message that says what to change, before anything runs.
/// [`Retry::call`](crate::Retry::call), outside a pipeline, checks it too
/// and makes no attempt. Nothing panics: code that calls
/// [`decide`](Self::decide) itself gets decisions within the knobs as
/// given (no retries after zero attempts, delays at most the cap), and
/// should call `validate` first.
///
/// One type for every policy, whatever the errors it will see: which
/// errors are worth retrying is decided where the error type is known, on
/// the retry layer ([`Retry::classify`](crate::Retry::classify),
/// [`Retry::classify_by_trait`](crate::Retry::classify_by_trait), and the
/// same on [`RetrySink`](crate::RetrySink)). So a struct field or a
/// function parameter typed `RetryPolicy` takes any policy.
///
/// Cheap to clone (a few words and an `Arc`); clones share the [`RetryBudget`] and
/// the counter that gives each item its own random stream for jitter
/// (taken once per item, with one atomic add: no lock on the retry path).
/// Attempts have no timeout of their own here: bound each attempt with
/// [`TimeoutExt::timeout`](crate::TimeoutExt::timeout) under the retry,
/// `op.timeout(d).retry(policy)`.
///
/// Wrap an operation with [`RetryExt::retry`](crate::RetryExt::retry), or
/// use [`decide`](Self::decide) directly in code that runs its own attempts.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_retry::{Jitter, RetryPolicy};
///
/// let policy = RetryPolicy::exponential(Duration::from_millis(10))
///     .factor(2.0)
///     .cap(Duration::from_secs(1))
///     .jitter(Jitter::Full)
///     .max_attempts(5)
///     .max_elapsed(Duration::from_secs(10));
/// assert!(policy.validate().is_ok());
/// assert_eq!(policy.get_max_attempts(), 5);
///
/// // A policy is a plain value: a settings struct holds one.
/// struct Settings {
///     retry: RetryPolicy,
/// }
/// let settings = Settings { retry: policy };
/// ```
pub struct RetryPolicy {
    /// The delays, before jitter; the knobs as given.
    pub(crate) backoff: Backoff,
    pub(crate) jitter: Jitter,
    /// Shared by clones: one random stream per item, across them.
    pub(crate) seeds: Arc<Seeds>,
    pub(crate) max_attempts: u32,
    pub(crate) max_elapsed: Option<Duration>,
    pub(crate) budget: Option<RetryBudget>,
}

/// Why a policy decided what it decided, for the tracing events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    Retry,
    NotRetryable,
    MaxAttempts,
    MaxElapsed,
    BudgetExhausted,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Retry => "retry",
            Reason::NotRetryable => "error is not retryable",
            Reason::MaxAttempts => "max attempts reached",
            Reason::MaxElapsed => "max elapsed time would be exceeded",
            Reason::BudgetExhausted => RetryBudget::EXHAUSTED,
        }
    }
}

impl RetryPolicy {
    /// Decides what happens after failed attempt `attempt.number()`, for an
    /// error of class `class` that may ask for a delay (`retry_after`).
    ///
    /// In order: a [`Permanent`](ErrorClass::Permanent) or
    /// [`Poison`](ErrorClass::Poison) error fails at once with its class;
    /// after `max_attempts` attempts, or if the next attempt would start
    /// after `max_elapsed` from the first one, the item fails as
    /// [`Transient`](ErrorClass::Transient); otherwise the delay is the
    /// error's `retry_after` bounded by the cap, or the jittered backoff, and
    /// the retry is withdrawn from the budget (if any): if it is spent, the
    /// verdict is [`Verdict::GiveUp`] with the reason
    /// [`RetryBudget::EXHAUSTED`].
    ///
    /// `attempt` is not advanced: the caller calls [`Attempt::next`] when
    /// it retries. The policy keeps what it needs of its own decisions for
    /// this item (the delay it chose, which
    /// [`Jitter::Decorrelated`] grows from) in the attempt's extensions, so
    /// pass the same `attempt` for every failure of one item; deciding
    /// twice on the same attempt gives the same answer. Callers that run
    /// attempts themselves (not through [`Retry`](crate::Retry)) and use a
    /// budget call [`deposit`](Self::deposit) before each attempt. Emits a
    /// `DEBUG` tracing event for each decision.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{Attempt, ErrorClass, Verdict};
    /// use weir_retry::RetryPolicy;
    ///
    /// let policy = RetryPolicy::constant(Duration::from_millis(10)).max_attempts(2);
    /// policy.validate()?;
    /// let mut attempt = Attempt::first();
    /// assert_eq!(policy.decide(&mut attempt, ErrorClass::Poison, None), Verdict::Fail(ErrorClass::Poison));
    /// let verdict = policy.decide(&mut attempt, ErrorClass::Transient, None);
    /// assert_eq!(verdict, Verdict::Retry(Duration::from_millis(10)));
    /// attempt.next();
    /// // Two attempts made: that is the maximum.
    /// assert_eq!(policy.decide(&mut attempt, ErrorClass::Transient, None), Verdict::Fail(ErrorClass::Transient));
    /// # Ok::<(), weir_retry::InvalidPolicy>(())
    /// ```
    pub fn decide(&self, attempt: &mut Attempt, class: ErrorClass, retry_after: Option<Duration>) -> Verdict {
        let (verdict, reason) = self.verdict(attempt, class, retry_after);
        trace(attempt, verdict, reason, None);
        verdict
    }

    /// Records an attempt in the policy's budget, if it has one (a no-op
    /// otherwise). [`Retry`](crate::Retry) does it on every attempt.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_retry::{RetryBudget, RetryPolicy};
    ///
    /// let budget = RetryBudget::new(1.0, Duration::from_secs(10), 0);
    /// let policy = RetryPolicy::constant(Duration::from_millis(1)).budget(budget.clone());
    /// policy.deposit();
    /// assert!(budget.withdraw());
    /// ```
    pub fn deposit(&self) {
        if let Some(budget) = &self.budget {
            budget.deposit();
        }
    }

    /// The most attempts an item gets, the first included.
    ///
    /// ```
    /// # use weir_retry::RetryPolicy;
    /// assert_eq!(RetryPolicy::constant(std::time::Duration::ZERO).get_max_attempts(), 3);
    /// ```
    pub fn get_max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The time after the first attempt's start past which no attempt
    /// starts, if limited.
    ///
    /// ```
    /// # use weir_retry::RetryPolicy;
    /// assert_eq!(RetryPolicy::constant(std::time::Duration::ZERO).get_max_elapsed(), None);
    /// ```
    pub fn get_max_elapsed(&self) -> Option<Duration> {
        self.max_elapsed
    }

    /// The longest delay the policy waits (the backoff's cap, which also
    /// bounds `Retry-After` delays).
    ///
    /// ```
    /// # use weir_retry::RetryPolicy;
    /// # use std::time::Duration;
    /// let p = RetryPolicy::exponential(Duration::from_millis(1));
    /// assert_eq!(p.get_cap(), Duration::from_secs(60));
    /// ```
    pub fn get_cap(&self) -> Duration {
        self.backoff.cap
    }

    /// The jitter applied to backoff delays.
    ///
    /// ```
    /// # use weir_retry::{Jitter, RetryPolicy};
    /// assert_eq!(RetryPolicy::constant(std::time::Duration::ZERO).get_jitter(), Jitter::None);
    /// ```
    pub fn get_jitter(&self) -> Jitter {
        self.jitter
    }

    /// The retry budget, if any; clones of the policy share it.
    ///
    /// ```
    /// # use weir_retry::RetryPolicy;
    /// assert!(RetryPolicy::constant(std::time::Duration::ZERO).get_budget().is_none());
    /// ```
    pub fn get_budget(&self) -> Option<&RetryBudget> {
        self.budget.as_ref()
    }

    /// The decision and its reason, without tracing.
    pub(crate) fn verdict(
        &self,
        attempt: &mut Attempt,
        class: ErrorClass,
        retry_after: Option<Duration>,
    ) -> (Verdict, Reason) {
        if !class.is_retryable() {
            return (Verdict::Fail(class), Reason::NotRetryable);
        }
        let attempt_number = attempt.number();
        if attempt_number >= self.max_attempts {
            return (Verdict::Fail(ErrorClass::Transient), Reason::MaxAttempts);
        }
        let delay = match retry_after {
            Some(asked) => asked.min(self.backoff.cap),
            None => self.backoff_delay(attempt),
        };
        if let Some(max) = self.max_elapsed
            && attempt.elapsed().saturating_add(delay) > max
        {
            return (Verdict::Fail(ErrorClass::Transient), Reason::MaxElapsed);
        }
        if let Some(budget) = &self.budget
            && !budget.withdraw()
        {
            let reason = Reason::BudgetExhausted;
            return (Verdict::GiveUp { class: ErrorClass::Transient, reason: reason.as_str() }, reason);
        }
        if self.jitter == Jitter::Decorrelated {
            self.per_item(attempt).chosen.record(attempt_number, delay);
        }
        (Verdict::Retry(delay), Reason::Retry)
    }

    fn backoff_delay(&self, attempt: &mut Attempt) -> Duration {
        let number = attempt.number();
        let delay = self.backoff.delay(number);
        if self.jitter == Jitter::None {
            return delay;
        }
        let item = *self.per_item(attempt);
        let (base, cap) = (self.backoff.base, self.backoff.cap);
        self.jitter.apply(delay, base, cap, item.chosen.before(number), item.draws.unit(number))
    }

    /// What the policy keeps for this item, made on its first jittered retry.
    fn per_item<'a>(&self, attempt: &'a mut Attempt) -> &'a mut PerItem {
        attempt
            .extension_or_insert_with(|| PerItem { draws: self.seeds.next_item(), chosen: Chosen::default() })
    }
}

/// Emits the tracing event for one decision.
pub(crate) fn trace(attempt: &Attempt, verdict: Verdict, reason: Reason, error: Option<&dyn fmt::Display>) {
    let error = error.map(tracing::field::display);
    match verdict {
        Verdict::Retry(delay) => {
            tracing::debug!(attempt = attempt.number(), ?delay, error, "attempt failed, retrying");
        }
        Verdict::Fail(class) => tracing::debug!(
            attempt = attempt.number(),
            class = class.as_str(),
            reason = reason.as_str(),
            error,
            "attempt failed, giving up"
        ),
        Verdict::GiveUp { class, reason } => tracing::debug!(
            attempt = attempt.number(),
            class = class.as_str(),
            reason,
            error,
            "attempt failed, giving up"
        ),
        _ => tracing::debug!(attempt = attempt.number(), reason = reason.as_str(), error, "attempt failed"),
    }
}

/// What a jittering policy keeps for one item between its attempts, in
/// the item's [`Attempt`] extensions: its random stream and the delays it
/// chose. Core never looks inside.
#[derive(Debug, Clone, Copy)]
struct PerItem {
    draws: ItemDraws,
    chosen: Chosen,
}

/// The delays a policy chose for one item: [`Jitter::Decorrelated`] grows
/// each delay from the previous one. Keyed by attempt number, so that
/// deciding twice for the same attempt gives the same delay.
#[derive(Debug, Clone, Copy, Default)]
struct Chosen {
    /// The latest delay chosen, and the attempt it followed.
    latest: Option<(u32, Duration)>,
    /// The delay chosen before `latest`'s attempt.
    earlier: Option<Duration>,
}

impl Chosen {
    /// The delay chosen after the attempt before `number`.
    fn before(&self, number: u32) -> Option<Duration> {
        match self.latest {
            Some((at, delay)) if at < number => Some(delay),
            _ => self.earlier,
        }
    }

    fn record(&mut self, number: u32, delay: Duration) {
        self.earlier = self.before(number);
        self.latest = Some((number, delay));
    }
}

impl Clone for RetryPolicy {
    fn clone(&self) -> Self {
        Self {
            backoff: self.backoff,
            jitter: self.jitter,
            seeds: Arc::clone(&self.seeds),
            max_attempts: self.max_attempts,
            max_elapsed: self.max_elapsed,
            budget: self.budget.clone(),
        }
    }
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self;
        f.debug_struct("RetryPolicy")
            .field("base", &s.backoff.base)
            .field("factor", &s.backoff.factor)
            .field("cap", &s.backoff.cap)
            .field("jitter", &s.jitter)
            .field("max_attempts", &s.max_attempts)
            .field("max_elapsed", &s.max_elapsed)
            .field("budget", &s.budget)
            .finish_non_exhaustive()
    }
}
