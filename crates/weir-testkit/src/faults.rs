//! Fault-injecting operations: fail, panic, hang or wait, on a schedule
//! the test decides, so a property test knows what each item must become.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use weir_core::Operation;

/// What one attempt does.
///
/// ```
/// use weir_testkit::faults::{Fault, FaultyOp, run_paused};
///
/// let op = FaultyOp::<u8>::cycling(vec![Fault::Fail, Fault::Pass]);
/// assert!(run_paused(weir_core::Operation::apply(&op, 1)).is_err());
/// assert_eq!(run_paused(weir_core::Operation::apply(&op, 2)).unwrap(), 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Succeeds at once.
    Pass,
    /// Succeeds after this long (virtual time under a paused clock).
    Delay(Duration),
    /// Fails with [`Injected`].
    Fail,
    /// Panics.
    Panic,
    /// Never completes: for drain deadlines, aborts and drops.
    Hang,
}

/// The error of an attempt that [`Fault::Fail`]ed: the operation's call
/// number (every attempt counts, retries included).
///
/// ```
/// use weir_testkit::faults::Injected;
///
/// assert_eq!(Injected { call: 3 }.to_string(), "fault injected on call #3");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("fault injected on call #{call}")]
pub struct Injected {
    /// The operation's call number, from 0.
    pub call: u64,
}

type Schedule<T> = dyn Fn(&T, u64) -> Fault + Send + Sync;

/// An [`Operation`] that passes its item through, or fails, panics, hangs
/// or waits first, as its schedule says for that item and call.
///
/// The schedule sees the item and the call number (from 0, counting
/// every attempt, retries included), so a test can fail item 7 twice
/// then let it through, or panic every tenth call.
///
/// # Examples
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
/// use weir_fanout::{FanOut, FanOutExt};
/// use weir_testkit::faults::{Fault, FaultyOp};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), RunError> {
/// // Multiples of 5 fail, multiples of 7 panic: both become failures
/// // that keep their items.
/// let op = FaultyOp::new(|x: &u32, _call| match x {
///     x if x % 5 == 0 => Fault::Fail,
///     x if x % 7 == 0 => Fault::Panic,
///     _ => Fault::Pass,
/// });
/// let calls = op.calls();
/// let (sink, out) = sink::collect();
/// let report = Pipeline::from_iter(1..=20u32)
///     .fan_out("store", FanOut::workers(2).ordered(), op)
///     .discard_failures()
///     .sink(sink)
///     .await?;
/// assert_eq!(report.discarded(), 4 + 2); // 5, 10, 15, 20; 7, 14
/// assert_eq!(out.take().len(), 14);
/// assert_eq!(calls.get(), 20);
/// # Ok(())
/// # }
/// ```
pub struct FaultyOp<T> {
    schedule: Arc<Schedule<T>>,
    calls: Calls,
}

impl<T> FaultyOp<T> {
    /// An operation that does what `schedule(item, call)` says.
    pub fn new(schedule: impl Fn(&T, u64) -> Fault + Send + Sync + 'static) -> Self {
        Self { schedule: Arc::new(schedule), calls: Calls::default() }
    }

    /// An operation that does `faults[call % len]`, whatever the item
    /// (passes when `faults` is empty).
    ///
    /// ```
    /// use weir_testkit::faults::{Fault, FaultyOp};
    ///
    /// let op = FaultyOp::<u32>::cycling(vec![Fault::Pass, Fault::Fail]);
    /// # let _ = op;
    /// ```
    pub fn cycling(faults: Vec<Fault>) -> Self {
        Self::new(
            move |_, call| {
                if faults.is_empty() { Fault::Pass } else { faults[(call % faults.len() as u64) as usize] }
            },
        )
    }

    /// A shared count of the calls made so far.
    ///
    /// ```
    /// let op = weir_testkit::faults::FaultyOp::<u8>::cycling(vec![]);
    /// assert_eq!(op.calls().get(), 0);
    /// ```
    pub fn calls(&self) -> Calls {
        self.calls.clone()
    }
}

impl<T> FaultyOp<(T, Fault)> {
    /// An operation on scripted items (from
    /// [`strategy::scripted`](crate::strategy::scripted)): every attempt
    /// of an item meets the fault the item carries (so under a retry
    /// layer a failing item fails each attempt, and is retried until the
    /// policy gives up).
    ///
    /// ```
    /// use weir_testkit::faults::{Fault, FaultyOp};
    ///
    /// let op = FaultyOp::<(u32, Fault)>::scripted();
    /// # let _ = op;
    /// ```
    pub fn scripted() -> Self {
        Self::new(|(_, fault), _| *fault)
    }
}

impl<T> Clone for FaultyOp<T> {
    fn clone(&self) -> Self {
        Self { schedule: self.schedule.clone(), calls: self.calls.clone() }
    }
}

impl<T> fmt::Debug for FaultyOp<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyOp").field("calls", &self.calls.get()).finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Operation<T> for FaultyOp<T> {
    type Output = T;
    type Error = Injected;
    type Future = BoxFuture<'static, Result<T, Injected>>;

    fn apply(&self, item: T) -> Self::Future {
        let call = self.calls.0.fetch_add(1, Ordering::SeqCst);
        let fault = (self.schedule)(&item, call);
        Box::pin(async move {
            match fault {
                Fault::Pass => Ok(item),
                Fault::Delay(d) => {
                    tokio::time::sleep(d).await;
                    Ok(item)
                }
                Fault::Fail => Err(Injected { call }),
                Fault::Panic => panic!("fault injected: panic on call #{call}"),
                Fault::Hang => std::future::pending().await,
            }
        })
    }
}

/// How many calls a [`FaultyOp`] made (shared by its clones).
///
/// ```
/// let op = weir_testkit::faults::FaultyOp::<u8>::cycling(vec![]);
/// assert_eq!(op.calls().get(), 0);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Calls(Arc<AtomicU64>);

impl Calls {
    /// The calls so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Runs `future` to completion on a fresh current-thread runtime whose
/// clock is paused: timers fire as soon as nothing else can run, so a
/// test of retries and timeouts takes no real time and repeats exactly.
/// For plain `#[test]` functions and proptest bodies, which are not
/// async.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let waited = weir_testkit::faults::run_paused(async {
///     let start = tokio::time::Instant::now();
///     tokio::time::sleep(Duration::from_secs(3600)).await;
///     start.elapsed()
/// });
/// assert_eq!(waited, Duration::from_secs(3600)); // at once, in real time
/// ```
pub fn run_paused<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime builds")
        .block_on(future)
}
