//! The policy's knobs: where a policy starts, each setting, and the
//! check of the settings together.

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::Duration;

use crate::backoff::Backoff;
use crate::budget::RetryBudget;
use crate::draws::Seeds;
use crate::error::InvalidPolicy;
use crate::jitter::Jitter;
use crate::policy::RetryPolicy;

impl RetryPolicy {
    /// Starts a policy with exponential backoff: the retry after failed
    /// attempt `n` waits `base × factor^(n−1)`, at most the cap. The factor
    /// defaults to 2 and the cap to the larger of `base` and 60 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{Attempt, ErrorClass, Verdict};
    /// use weir_retry::RetryPolicy;
    ///
    /// let policy = RetryPolicy::exponential(Duration::from_millis(100)).max_attempts(10);
    /// let mut attempt = Attempt::first();
    /// let mut delays = Vec::new();
    /// for _ in 0..3 {
    ///     let Verdict::Retry(d) = policy.decide(&mut attempt, ErrorClass::Transient, None) else { panic!() };
    ///     attempt.next();
    ///     delays.push(d.as_millis());
    /// }
    /// assert_eq!(delays, [100, 200, 400]);
    /// ```
    pub fn exponential(base: Duration) -> RetryPolicy {
        Self::starting(base, 2.0, base.max(Duration::from_secs(60)))
    }

    /// Starts a policy with a constant delay between attempts (an
    /// exponential backoff with factor 1). The cap defaults to `delay`; raise
    /// it to honour longer `Retry-After` delays.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{Attempt, ErrorClass, Verdict};
    /// use weir_retry::RetryPolicy;
    ///
    /// let policy = RetryPolicy::constant(Duration::from_millis(50));
    /// let mut attempt = Attempt::first();
    /// assert_eq!(policy.decide(&mut attempt, ErrorClass::Transient, None), Verdict::Retry(Duration::from_millis(50)));
    /// ```
    pub fn constant(delay: Duration) -> RetryPolicy {
        Self::starting(delay, 1.0, delay)
    }

    /// A policy with the defaults and a random seed.
    fn starting(base: Duration, factor: f64, cap: Duration) -> Self {
        let seed = RandomState::new().hash_one(Duration::ZERO);
        Self {
            backoff: Backoff { base, factor, cap },
            jitter: Jitter::None,
            seeds: Arc::new(Seeds::new(seed)),
            max_attempts: 3,
            max_elapsed: None,
            budget: None,
        }
    }

    /// The growth factor of exponential backoff (at least 1; 1 keeps the
    /// delay constant).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use weir_core::{Attempt, ErrorClass, Verdict};
    /// # use weir_retry::RetryPolicy;
    /// let policy = RetryPolicy::exponential(Duration::from_millis(10)).factor(3.0).max_attempts(5);
    /// let mut attempt = Attempt::first();
    /// attempt.next();
    /// assert_eq!(policy.decide(&mut attempt, ErrorClass::Transient, None), Verdict::Retry(Duration::from_millis(30)));
    /// ```
    #[must_use = "a knob returns the changed policy"]
    pub fn factor(mut self, factor: f64) -> Self {
        self.backoff.factor = factor;
        self
    }

    /// The longest delay between attempts, `Retry-After` delays included
    /// (at least the base delay).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use weir_core::{Attempt, ErrorClass, Verdict};
    /// # use weir_retry::RetryPolicy;
    /// let policy = RetryPolicy::exponential(Duration::from_secs(1)).cap(Duration::from_secs(5)).max_attempts(10);
    /// let mut attempt = Attempt::first();
    /// for _ in 0..6 {
    ///     attempt.next();
    /// }
    /// assert_eq!(policy.decide(&mut attempt, ErrorClass::Transient, None), Verdict::Retry(Duration::from_secs(5)));
    /// // An error asking for 1 h waits the cap.
    /// let asked = Some(Duration::from_secs(3600));
    /// assert_eq!(policy.decide(&mut attempt, ErrorClass::Transient, asked), Verdict::Retry(Duration::from_secs(5)));
    /// ```
    #[must_use = "a knob returns the changed policy"]
    pub fn cap(mut self, cap: Duration) -> Self {
        self.backoff.cap = cap;
        self
    }

    /// How delays are randomised (see [`Jitter`]); none by default.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use weir_core::{Attempt, ErrorClass, Verdict};
    /// # use weir_retry::{Jitter, RetryPolicy};
    /// let policy = RetryPolicy::constant(Duration::from_secs(1)).jitter(Jitter::Full);
    /// let Verdict::Retry(d) = policy.decide(&mut Attempt::first(), ErrorClass::Transient, None) else { panic!() };
    /// assert!(d <= Duration::from_secs(1));
    /// ```
    #[must_use = "a knob returns the changed policy"]
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Seeds the jitter's random source, so that delays are reproducible
    /// (by default the seed is random).
    ///
    /// Each item draws from a random stream of its own, made from the seed
    /// and the item's rank: the order in which the policy (or a clone of
    /// it) first jitters a delay for an item. The stream is indexed by the
    /// attempt number, so an item's delays do not depend on how other
    /// items' retries interleave with its own, and no lock is taken to
    /// draw. With one worker, or [`Retry::call`](crate::Retry::call) item
    /// after item, a seeded policy gives the same delays on every run; with
    /// many workers, the same delays per rank.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use weir_core::{Attempt, ErrorClass, Verdict};
    /// # use weir_retry::{Jitter, RetryPolicy};
    /// let make = || RetryPolicy::exponential(Duration::from_secs(1)).jitter(Jitter::Full).seed(42);
    /// // The delays `policy` chooses for 5 items that fail 3 times each.
    /// let delays = |policy: &RetryPolicy| -> Vec<Vec<Duration>> {
    ///     (0..5)
    ///         .map(|_| {
    ///             let mut attempt = Attempt::first();
    ///             (0..2)
    ///                 .map(|_| {
    ///                     let Verdict::Retry(d) = policy.decide(&mut attempt, ErrorClass::Transient, None) else { panic!() };
    ///                     attempt.next();
    ///                     d
    ///                 })
    ///                 .collect()
    ///         })
    ///         .collect()
    /// };
    /// let first_run = delays(&make());
    /// assert_eq!(delays(&make()), first_run);
    /// assert_ne!(first_run[0], first_run[1], "each item has its own stream");
    /// ```
    #[must_use = "a knob returns the changed policy"]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seeds = Arc::new(Seeds::new(seed));
        self
    }

    /// The most attempts an item gets, the first included (at least 1; 1
    /// means no retries). 3 by default.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use weir_retry::{RetryExt, RetryPolicy};
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("down")]
    /// struct Down;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let policy = RetryPolicy::constant(Duration::from_millis(10)).max_attempts(4);
    /// let counter = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    /// let calls = counter.clone();
    /// let always_fails = move |_: ()| {
    ///     calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    ///     async { Err::<(), _>(Down) }
    /// };
    /// let err = always_fails.retry(policy).call(()).await.unwrap_err();
    /// assert_eq!(err.exhausted().map(|e| e.attempts), Some(4));
    /// assert_eq!(counter.load(std::sync::atomic::Ordering::SeqCst), 4);
    /// # }
    /// ```
    #[must_use = "a knob returns the changed policy"]
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// No attempt starts later than `max_elapsed` after the first attempt
    /// started: a retry whose delay would end past it is not made. With each
    /// attempt bounded by a timeout (`op.timeout(d).retry(policy)`), an
    /// item takes at most `max_elapsed` plus one attempt timeout. Unlimited
    /// by default.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use weir_core::{Attempt, ErrorClass, Verdict};
    /// # use weir_retry::RetryPolicy;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let policy = RetryPolicy::constant(Duration::from_secs(1))
    ///     .max_attempts(100)
    ///     .max_elapsed(Duration::from_secs(5));
    /// let mut attempt = Attempt::first();
    /// tokio::time::advance(Duration::from_millis(4500)).await;
    /// // The retry would start at 5.5 s.
    /// assert_eq!(policy.decide(&mut attempt, ErrorClass::Transient, None), Verdict::Fail(ErrorClass::Transient));
    /// # }
    /// ```
    #[must_use = "a knob returns the changed policy"]
    pub fn max_elapsed(mut self, max_elapsed: Duration) -> Self {
        self.max_elapsed = Some(max_elapsed);
        self
    }

    /// Limits retries with a [`RetryBudget`], shared by every clone of the
    /// policy (and by every policy given a clone of the budget). When it is
    /// spent, the verdict is [`Verdict::GiveUp`](weir_core::Verdict::GiveUp)
    /// with the reason [`RetryBudget::EXHAUSTED`].
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use weir_core::{Attempt, ErrorClass, Verdict};
    /// # use weir_retry::{RetryBudget, RetryPolicy};
    /// let budget = RetryBudget::new(0.5, Duration::from_secs(10), 0);
    /// let policy = RetryPolicy::constant(Duration::from_millis(1)).budget(budget);
    /// policy.deposit();
    /// policy.deposit();
    /// assert!(matches!(policy.decide(&mut Attempt::first(), ErrorClass::Transient, None), Verdict::Retry(_)));
    /// assert_eq!(
    ///     policy.decide(&mut Attempt::first(), ErrorClass::Transient, None),
    ///     Verdict::GiveUp { class: ErrorClass::Transient, reason: RetryBudget::EXHAUSTED },
    /// );
    /// ```
    #[must_use = "a knob returns the changed policy"]
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Checks the knobs together. A pipeline calls it for every retry
    /// layer when it is built (through
    /// [`Operation::validate`](weir_core::Operation::validate) and
    /// [`Sink::validate`](weir_core::Sink::validate)), and
    /// [`Retry::call`](crate::Retry::call) before its first attempt; call
    /// it yourself when you read a policy from a file or flags and want to
    /// report a mistake early, or before using [`decide`](Self::decide)
    /// directly.
    ///
    /// # Errors
    ///
    /// [`InvalidPolicy`], whose message says what to change, if the
    /// factor is below 1 or not finite, the cap is below the base delay,
    /// `max_attempts` is 0, `max_elapsed` is zero, or the budget is
    /// invalid ([`RetryBudget::validate`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_retry::{InvalidPolicy, RetryPolicy};
    ///
    /// let policy = RetryPolicy::exponential(Duration::from_secs(2)).cap(Duration::from_secs(1));
    /// let err = policy.validate().unwrap_err();
    /// assert!(matches!(err, InvalidPolicy::CapBelowBase { .. }));
    /// assert_eq!(err.to_string(), "delay cap 1s is below the base delay 2s: raise the cap or lower the base delay");
    /// assert_eq!(RetryPolicy::constant(Duration::ZERO).max_attempts(0).validate(), Err(InvalidPolicy::ZeroAttempts));
    /// assert_eq!(RetryPolicy::constant(Duration::ZERO).validate(), Ok(()));
    /// ```
    pub fn validate(&self) -> Result<(), InvalidPolicy> {
        let Backoff { base, factor, cap } = self.backoff;
        if !factor.is_finite() {
            return Err(InvalidPolicy::FactorNotFinite { factor });
        }
        if factor < 1.0 {
            return Err(InvalidPolicy::FactorBelowOne { factor });
        }
        if cap < base {
            return Err(InvalidPolicy::CapBelowBase { cap, base });
        }
        if self.max_attempts == 0 {
            return Err(InvalidPolicy::ZeroAttempts);
        }
        if self.max_elapsed == Some(Duration::ZERO) {
            return Err(InvalidPolicy::ZeroMaxElapsed);
        }
        self.budget.as_ref().map_or(Ok(()), RetryBudget::validate)
    }
}
