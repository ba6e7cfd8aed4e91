//! Retry budgets: a cap on retries relative to first attempts, shared by
//! every clone of a policy.

use std::fmt;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_utils::CachePadded;
use tokio::time::Instant;
// The budget's own synchronization (its stripes and its state) is
// model-checked with loom under `--cfg weir_loom` (TESTING.md).
#[cfg(weir_loom)]
use loom::sync::{Arc, Mutex, atomic::AtomicU64};
#[cfg(not(weir_loom))]
use std::sync::{Arc, Mutex, atomic::AtomicU64};

use crate::error::InvalidPolicy;

/// How many slots the sliding window is divided into.
const SLOTS: usize = 10;

/// A retry budget: retries are allowed up to `ratio` × first attempts over a
/// sliding `window`, plus a floor of `min_per_sec` retries per second.
///
/// This is the budget of Finagle and of tower's `TpsBudget`. Clones share
/// one account, so a budget given to a policy covers every operation and
/// every worker that uses a clone of that policy. Every attempt deposits
/// (see [`deposit`](Self::deposit)); every retry withdraws
/// ([`withdraw`](Self::withdraw)). A retry granted by `withdraw` is
/// expected to deposit when it runs, and that deposit is absorbed: only
/// first attempts fill the budget, so retries never pay for more retries.
///
/// When a dependency fails for everyone, `max_attempts` alone multiplies
/// its load by `max_attempts`; a budget bounds it by `1 + ratio` (plus the
/// floor), whatever the number of callers.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_retry::RetryBudget;
///
/// // 10 % retries over 10 s, no floor.
/// let budget = RetryBudget::new(0.1, Duration::from_secs(10), 0);
/// for _ in 0..20 {
///     budget.deposit();
/// }
/// assert!(budget.withdraw());
/// assert!(budget.withdraw());
/// assert!(!budget.withdraw(), "2 retries for 20 first attempts is 10 %");
/// ```
#[derive(Clone)]
pub struct RetryBudget {
    shared: Arc<Shared>,
}

struct Shared {
    ratio: f64,
    reserve: f64,
    window: Duration,
    slot_len: Duration,
    state: Mutex<State>,
    /// When the budget was made: stripes date their deposits from it.
    base: Instant,
    /// Deposits not yet counted in a slot. A deposit is one atomic add on
    /// its thread's stripe (no lock, no clock read), so a budget costs
    /// nothing measurable on the hot path; the slots take the deposits in
    /// under the lock, on a withdrawal or every [`PUBLISH_EVERY`] deposits.
    stripes: [CachePadded<Stripe>; STRIPES],
}

/// Unpublished deposits of the threads that hash to this stripe.
#[derive(Debug, Default)]
struct Stripe {
    count: AtomicU64,
    /// When the first unpublished deposit was made (nanoseconds since
    /// `base`): the whole group is dated then, which never makes deposits
    /// look more recent than they are.
    since: AtomicU64,
}

const STRIPES: usize = 8;
const PUBLISH_EVERY: u64 = 64;

/// This thread's stripe.
#[cfg(not(weir_loom))]
fn stripe_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    }
    INDEX.with(|i| *i)
}

/// This thread's stripe, under loom: every model thread runs on one OS
/// thread, so stripes are handed out per model thread instead (afresh in
/// each execution, in the order the schedule gives), and the model covers
/// deposits on different stripes racing one take-in.
#[cfg(weir_loom)]
fn stripe_index() -> usize {
    loom::lazy_static! {
        static ref NEXT: AtomicUsize = AtomicUsize::new(0);
    }
    loom::thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    }
    INDEX.with(|i| *i)
}

#[derive(Debug)]
struct State {
    slots: [Slot; SLOTS],
    current: usize,
    current_start: Instant,
    /// Retries granted whose attempt has not deposited yet.
    pending: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    attempts: u64,
    retries: u64,
}

impl RetryBudget {
    /// The reason a policy gives when it gives up because its budget is
    /// spent: the failure's cause is
    /// [`Cause::GaveUp`](weir_core::Cause::GaveUp) with this reason (and
    /// reads "retry budget exhausted; last error: …").
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{Attempt, ErrorClass, Verdict};
    /// use weir_retry::{RetryBudget, RetryPolicy};
    ///
    /// let spent = RetryBudget::new(0.0, Duration::from_secs(10), 0);
    /// let policy = RetryPolicy::constant(Duration::from_millis(1)).budget(spent);
    /// let verdict = policy.decide(&mut Attempt::first(), ErrorClass::Transient, None);
    /// assert_eq!(verdict, Verdict::GiveUp { class: ErrorClass::Transient, reason: RetryBudget::EXHAUSTED });
    /// ```
    pub const EXHAUSTED: &'static str = "retry budget exhausted";

    /// A budget allowing retries up to `ratio` × first attempts within any
    /// `window`, plus `min_per_sec` retries per second of the window
    /// whatever the traffic (so a quiet service can still retry).
    ///
    /// A `ratio` that is negative, NaN or infinite, or a zero `window`,
    /// cannot work: it is kept as given and reported by
    /// [`validate`](Self::validate), which
    /// [`RetryPolicy::validate`](crate::RetryPolicy::validate) calls, so a
    /// pipeline refuses a policy with such a budget as a
    /// [`BuildError`](weir_core::BuildError) before anything runs, like any
    /// other bad setting. Used anyway, such a budget allows no retry beyond
    /// its floor; nothing panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_retry::{InvalidPolicy, RetryBudget};
    ///
    /// let budget = RetryBudget::new(0.2, Duration::from_secs(10), 10);
    /// assert_eq!(budget.ratio(), 0.2);
    /// let nan = RetryBudget::new(f64::NAN, Duration::from_secs(10), 10);
    /// assert!(matches!(nan.validate(), Err(InvalidPolicy::InvalidBudgetRatio { .. })));
    /// ```
    pub fn new(ratio: f64, window: Duration, min_per_sec: u32) -> Self {
        let slot_len = (window / SLOTS as u32).max(Duration::from_nanos(1));
        let state =
            State { slots: [Slot::default(); SLOTS], current: 0, current_start: Instant::now(), pending: 0 };
        Self {
            shared: Arc::new(Shared {
                ratio,
                reserve: f64::from(min_per_sec) * window.as_secs_f64(),
                window,
                slot_len,
                base: state.current_start,
                state: Mutex::new(state),
                stripes: Default::default(),
            }),
        }
    }

    /// Checks the settings together; [`RetryPolicy::validate`](crate::RetryPolicy::validate)
    /// calls it for the policy's budget.
    ///
    /// # Errors
    ///
    /// [`InvalidPolicy::InvalidBudgetRatio`] if the ratio is negative, NaN
    /// or infinite; [`InvalidPolicy::ZeroBudgetWindow`] if the window is
    /// zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_retry::{InvalidPolicy, RetryBudget};
    ///
    /// assert_eq!(RetryBudget::new(0.2, Duration::ZERO, 10).validate(), Err(InvalidPolicy::ZeroBudgetWindow));
    /// assert_eq!(RetryBudget::default().validate(), Ok(()));
    /// ```
    pub fn validate(&self) -> Result<(), InvalidPolicy> {
        let ratio = self.shared.ratio;
        if !ratio.is_finite() || ratio < 0.0 {
            return Err(InvalidPolicy::InvalidBudgetRatio { ratio });
        }
        if self.shared.window.is_zero() {
            return Err(InvalidPolicy::ZeroBudgetWindow);
        }
        Ok(())
    }

    /// The fraction of first attempts that may be retried.
    ///
    /// ```
    /// # use weir_retry::RetryBudget;
    /// assert_eq!(RetryBudget::default().ratio(), 0.2);
    /// ```
    pub fn ratio(&self) -> f64 {
        self.shared.ratio
    }

    /// The sliding window over which attempts and retries are counted.
    ///
    /// ```
    /// # use weir_retry::RetryBudget;
    /// assert_eq!(RetryBudget::default().window(), std::time::Duration::from_secs(10));
    /// ```
    pub fn window(&self) -> std::time::Duration {
        self.shared.window
    }

    /// Records one attempt, first or retry; call it before every attempt.
    /// A deposit made while a granted retry is outstanding is taken to be
    /// that retry's and is absorbed, so only first attempts fill the budget.
    ///
    /// The [`Retry`](crate::Retry) layer calls it on every attempt; callers
    /// of [`RetryPolicy::decide`](crate::RetryPolicy::decide) without the
    /// layer call it themselves, through
    /// [`RetryPolicy::deposit`](crate::RetryPolicy::deposit). A granted retry
    /// that is never attempted absorbs one later first attempt instead.
    ///
    /// ```
    /// # use weir_retry::RetryBudget;
    /// let budget = RetryBudget::new(1.0, std::time::Duration::from_secs(1), 0);
    /// assert!(!budget.withdraw());
    /// budget.deposit();
    /// assert!(budget.withdraw());
    /// ```
    pub fn deposit(&self) {
        let stripe = &self.shared.stripes[stripe_index()];
        let before = stripe.count.fetch_add(1, Ordering::Relaxed);
        if before == 0 {
            stripe.since.store(self.nanos_since_base(Instant::now()), Ordering::Relaxed);
        } else if before + 1 >= PUBLISH_EVERY
            && let Ok(mut state) = self.shared.state.try_lock()
        {
            self.take_in(&mut state, Instant::now());
        }
    }

    /// Asks for one retry: `true` (and the retry is counted) if the
    /// budget allows it, `false` if it is spent.
    ///
    /// With `F` first attempts and `R` retries in the window, a retry is
    /// allowed when `R + 1 ≤ min_per_sec × window + ratio × F`.
    ///
    /// ```
    /// # use weir_retry::RetryBudget;
    /// // No deposits, but a floor of 1 retry per second over 2 s.
    /// let budget = RetryBudget::new(0.5, std::time::Duration::from_secs(2), 1);
    /// assert!(budget.withdraw() && budget.withdraw());
    /// assert!(!budget.withdraw());
    /// ```
    pub fn withdraw(&self) -> bool {
        let (ratio, reserve) = (self.shared.ratio, self.shared.reserve);
        self.with_state(|state| {
            let (attempts, retries) = state
                .slots
                .iter()
                .fold((0u64, 0u64), |(a, r), s| (a.saturating_add(s.attempts), r.saturating_add(s.retries)));
            let allowed = reserve + ratio * attempts as f64 >= (retries + 1) as f64;
            if allowed {
                state.slots[state.current].retries += 1;
                state.pending += 1;
            }
            allowed
        })
    }

    fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut state = self.shared.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.take_in(&mut state, Instant::now());
        f(&mut state)
    }

    fn nanos_since_base(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.shared.base).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Rotates the window to `now`, then counts the stripes' deposits in
    /// the slot of the time each group was dated (dropping those older than
    /// the window); deposits that are a granted retry's own attempt are
    /// absorbed.
    fn take_in(&self, state: &mut State, now: Instant) {
        let slot_len = self.shared.slot_len;
        state.rotate(now, slot_len);
        let start = self.nanos_since_base(state.current_start);
        let slot_nanos = u64::try_from(slot_len.as_nanos()).unwrap_or(u64::MAX).max(1);
        for stripe in &self.shared.stripes {
            // Read the date first: a group that starts in between is then
            // dated too early, never too late.
            let since = stripe.since.load(Ordering::Relaxed);
            let mut n = stripe.count.swap(0, Ordering::Relaxed);
            if n == 0 {
                continue;
            }
            let absorbed = n.min(state.pending);
            state.pending -= absorbed;
            n -= absorbed;
            let back = start.saturating_sub(since).div_ceil(slot_nanos);
            match usize::try_from(back) {
                Ok(back) if back < SLOTS => {
                    let slot = (state.current + SLOTS - back) % SLOTS;
                    state.slots[slot].attempts += n;
                }
                _ => {
                    // The group started before the window: assume its
                    // deposits were spread evenly since then and keep the
                    // share that falls in the window, in the oldest slot.
                    let age = u128::from(self.nanos_since_base(now).saturating_sub(since)).max(1);
                    let window = u128::from(slot_nanos) * SLOTS as u128;
                    let share = u64::try_from(u128::from(n) * window / age).unwrap_or(n).min(n);
                    state.slots[(state.current + 1) % SLOTS].attempts += share;
                }
            }
        }
    }
}

impl State {
    /// Moves the window forward to `now`, clearing the slots left behind.
    fn rotate(&mut self, now: Instant, slot_len: Duration) {
        let elapsed = now.saturating_duration_since(self.current_start);
        let steps = elapsed.as_nanos() / slot_len.as_nanos();
        if steps == 0 {
            return;
        }
        let clear = steps.min(SLOTS as u128) as usize;
        for _ in 0..clear {
            self.current = (self.current + 1) % SLOTS;
            self.slots[self.current] = Slot::default();
        }
        let into_slot = elapsed.as_nanos() % slot_len.as_nanos();
        self.current_start = now - Duration::from_nanos(into_slot as u64);
    }
}

impl Default for RetryBudget {
    /// Tower's defaults: 20 % retries over 10 s, plus 10 retries a second.
    ///
    /// ```
    /// # use weir_retry::RetryBudget;
    /// let budget = RetryBudget::default();
    /// assert!(budget.withdraw(), "the floor allows retries before any deposit");
    /// ```
    fn default() -> Self {
        Self::new(0.2, Duration::from_secs(10), 10)
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("ratio", &self.shared.ratio)
            .field("reserve", &self.shared.reserve)
            .field("window", &self.shared.window)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(weir_loom)))]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn steady_low_traffic_keeps_its_in_window_share() {
        // 50 deposits 400 ms apart (one group, older than the 10 s window):
        // about half fall in the window and pay for retries.
        let budget = RetryBudget::new(0.5, Duration::from_secs(10), 0);
        for _ in 0..50 {
            budget.deposit();
            tokio::time::advance(Duration::from_millis(400)).await;
        }
        let mut granted = 0;
        while budget.withdraw() {
            granted += 1;
        }
        assert!((10..=13).contains(&granted), "{granted} retries for ~25 in-window deposits at 50 %");
    }

    #[tokio::test(start_paused = true)]
    async fn deposits_expire_with_the_window() {
        let budget = RetryBudget::new(1.0, Duration::from_secs(10), 0);
        budget.deposit();
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(budget.withdraw(), "the deposit is still in the window");
        budget.deposit();
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(!budget.withdraw(), "both deposits left the window");
    }

    #[tokio::test(start_paused = true)]
    async fn retries_do_not_pay_for_retries() {
        let budget = RetryBudget::new(0.5, Duration::from_secs(10), 0);
        budget.deposit();
        budget.deposit();
        assert!(budget.withdraw());
        // The retry's own attempt deposits, but it is not a first attempt.
        budget.deposit();
        assert!(!budget.withdraw());
    }

    #[tokio::test(start_paused = true)]
    async fn clones_share_the_account() {
        let a = RetryBudget::new(1.0, Duration::from_secs(1), 0);
        let b = a.clone();
        a.deposit();
        assert!(b.withdraw());
        assert!(!a.withdraw());
    }

    #[test]
    fn invalid_budgets_are_rejected() {
        let w = Duration::from_secs(1);
        for ratio in [-0.1, f64::NAN, f64::INFINITY] {
            let budget = RetryBudget::new(ratio, w, 1);
            assert!(matches!(budget.validate(), Err(InvalidPolicy::InvalidBudgetRatio { .. })));
        }
        assert_eq!(RetryBudget::new(0.2, Duration::ZERO, 1).validate(), Err(InvalidPolicy::ZeroBudgetWindow));
    }
}

/// Model checking (loom, `--cfg weir_loom`; TESTING.md): deposits made on
/// two threads (each on a stripe of its own) while a third takes them in
/// are each counted once, in every interleaving of the stripes' counts,
/// their dates and the take-in.
#[cfg(all(test, weir_loom))]
mod loom_budget {
    use loom::thread;

    use super::*;

    impl RetryBudget {
        /// First attempts counted in the window.
        fn attempts(&self) -> u64 {
            self.with_state(|state| state.slots.iter().map(|slot| slot.attempts).sum())
        }
    }

    #[test]
    fn concurrent_deposits_are_each_counted_once() {
        loom::model(|| {
            let budget = RetryBudget::new(1.0, Duration::from_secs(60), 0);
            let depositors: Vec<_> = (0..2)
                .map(|_| {
                    let budget = budget.clone();
                    thread::spawn(move || budget.deposit())
                })
                .collect();
            let midway = budget.attempts();
            for depositor in depositors {
                depositor.join().unwrap();
            }
            assert!(midway <= 2);
            assert_eq!(budget.attempts(), 2, "every deposit counted, once");
        });
    }

    #[test]
    fn model_threads_deposit_on_stripes_of_their_own() {
        loom::model(|| {
            let other = thread::spawn(stripe_index);
            let mine = stripe_index();
            assert_ne!(other.join().unwrap(), mine);
        });
    }

    #[test]
    fn a_withdrawal_racing_deposits_never_overdraws() {
        loom::model(|| {
            let budget = RetryBudget::new(1.0, Duration::from_secs(60), 0);
            let depositor = {
                let budget = budget.clone();
                thread::spawn(move || budget.deposit())
            };
            let early = budget.withdraw();
            depositor.join().unwrap();
            // One first attempt at ratio 1 allows one retry in all, whether
            // it was granted before the deposit was taken in or after.
            let late = budget.withdraw();
            assert!(!(early && late), "two retries for one attempt");
            assert!(early || late, "the deposit's retry was never allowed");
        });
    }
}
