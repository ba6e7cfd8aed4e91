//! Items lent to an operation: no clone, and the item comes back to its
//! worker after every attempt (for a retry, or to fail with it).

use std::fmt;
use std::future::poll_fn;
use std::ops::Deref;
use std::sync::PoisonError;
use std::task::{Poll, Waker};

use crate::sync::{Arc, Mutex, MutexGuard};

/// An item lent to one attempt of an operation by a fan-out's
/// `_lent` forms ([`fan_out_lent`](crate::FanOutExt::fan_out_lent) and
/// its keyed and per-worker siblings).
///
/// It derefs to the item (`&T`): the operation reads it, and the item
/// goes back to its worker when the `Lent` is dropped, normally when
/// the attempt's future completes, and also when the attempt panics. So
/// the worker still has the original item, without a clone, for another
/// attempt (a retry layer) or for the failure that keeps it. No
/// `T: Clone` is needed anywhere.
///
/// An operation may keep the `Lent` after its future completed (moved
/// into a spawned task, or returned in its output). After a success the
/// worker goes on at once, since a success needs no item, and the item
/// is dropped when the operation lets go of it. After a failure the
/// worker waits for the item, which the failure (or the retry) needs:
/// nothing is lost, and a drain deadline counts the item as abandoned if
/// it never comes back. So a `Lent` must never be part of an operation's
/// error: the worker would wait for an item that the error itself holds.
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use weir_core::prelude::*;
/// use weir_core::sink;
/// use weir_fanout::{FanOut, FanOutExt, Lent};
///
/// /// Not `Clone`: a fan-out that clones could not take it.
/// struct Reading { device: u32, value: i64 }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let store = |r: Lent<Reading>| async move { Ok::<_, Infallible>(r.device as i64 + r.value) };
/// let (sink, out) = sink::collect();
/// Pipeline::from_iter((0..4).map(|i| Reading { device: i, value: 10 }))
///     .fan_out_lent("store", FanOut::workers(2).ordered(), store)
///     .halt_on_error()
///     .sink(sink)
///     .await?;
/// assert_eq!(out.take(), [10, 11, 12, 13]);
/// # Ok(())
/// # }
/// ```
pub struct Lent<T> {
    /// `Some` until the `Lent` is dropped.
    item: Option<T>,
    /// Which of its worker's loans this is: a loan the worker let go of
    /// (its success's output holds the `Lent`) is not taken back.
    loan: u64,
    home: Arc<Home<T>>,
}

impl<T> Deref for Lent<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.item.as_ref().expect("a Lent holds its item until it is dropped")
    }
}

impl<T> AsRef<T> for Lent<T> {
    fn as_ref(&self) -> &T {
        self
    }
}

impl<T: fmt::Debug> fmt::Debug for Lent<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Lent").field(&**self).finish()
    }
}

impl<T> Drop for Lent<T> {
    fn drop(&mut self) {
        if let Some(item) = self.item.take() {
            let (waker, stale) = {
                let mut slot = self.home.lock();
                if slot.loan == self.loan {
                    slot.item = Some(item);
                    (slot.waker.take(), None)
                } else {
                    (None, Some(item))
                }
            };
            // A loan let go of: its item is dropped here, outside the lock.
            drop(stale);
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

/// Where a worker's lent item comes back to: one per worker, which lends
/// one item at a time. Aligned to its own cache lines: the workers' homes
/// are made together, and one worker's lock must not move another's line
/// between cores (false sharing cost 5 % of a fan-out's time).
#[repr(align(128))]
pub(crate) struct Home<T>(Mutex<Slot<T>>);

impl<T> fmt::Debug for Home<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Home").field("back", &self.lock().item.is_some()).finish()
    }
}

struct Slot<T> {
    item: Option<T>,
    /// The worker, when it waits for an item still out.
    waker: Option<Waker>,
    /// The loan the worker takes back.
    loan: u64,
}

impl<T> Home<T> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(Slot { item: None, waker: None, loan: 0 })))
    }

    fn lock(&self) -> MutexGuard<'_, Slot<T>> {
        // Nothing panics while the slot is locked; a poisoned lock still
        // holds a consistent slot.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lends `item` as the current loan (the worker lends one at a time;
    /// only [`let_go`](Self::let_go) moves to the next loan, so the fast
    /// path takes no lock here).
    pub(crate) fn lend(home: &Arc<Self>, item: T, loan: u64) -> Lent<T> {
        Lent { item: Some(item), loan, home: home.clone() }
    }

    /// Gives up the current loan: its item, when it comes back, is
    /// dropped. Returns the next loan's number.
    pub(crate) fn let_go(&self) -> u64 {
        let mut slot = self.lock();
        slot.loan += 1;
        slot.waker = None;
        slot.loan
    }

    /// The item lent last, if it is back.
    pub(crate) fn take(&self) -> Option<T> {
        self.lock().item.take()
    }

    /// The item lent last, once it is back.
    pub(crate) async fn wait(&self) -> T {
        poll_fn(|cx| {
            let mut slot = self.lock();
            match slot.item.take() {
                Some(item) => Poll::Ready(item),
                None => {
                    slot.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }
}

#[cfg(all(test, not(weir_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_lent_brings_its_item_home() {
        let home = Home::new();
        let lent = Home::lend(&home, String::from("item"), 0);
        assert_eq!(lent.len(), 4);
        assert!(home.take().is_none(), "still out");
        drop(lent);
        assert_eq!(home.take().as_deref(), Some("item"));
        assert!(home.take().is_none(), "taken once");
    }

    #[test]
    fn a_lent_dropped_by_a_panic_brings_its_item_home() {
        let home = Home::new();
        let lent = Home::lend(&home, 7u32, 0);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _held = lent;
            panic!("boom");
        }));
        assert!(caught.is_err());
        assert_eq!(home.take(), Some(7));
    }

    #[test]
    fn an_item_let_go_of_is_dropped_when_it_comes_back() {
        let home = Home::new();
        let kept = Home::lend(&home, String::from("first"), 0);
        let next = home.let_go();
        assert_eq!(next, 1);
        let lent = Home::lend(&home, String::from("second"), next);
        drop(kept); // the first loan's item comes back late
        assert!(home.take().is_none(), "a stale item is not taken for the current loan");
        drop(lent);
        assert_eq!(home.take().as_deref(), Some("second"));
    }

    #[cfg(not(weir_loom))]
    #[tokio::test]
    async fn the_worker_waits_for_an_item_kept_past_its_attempt() {
        let home = Home::new();
        let lent = Home::lend(&home, 3u8, 0);
        let kept = tokio::spawn(async move {
            tokio::task::yield_now().await;
            drop(lent);
        });
        assert_eq!(home.wait().await, 3);
        kept.await.unwrap();
    }
}

/// Model checking (loom, `--cfg weir_loom`; TESTING.md): the item comes
/// home exactly once, and a worker waiting for it is woken, in every
/// interleaving of the worker and the thread that drops the `Lent`.
#[cfg(all(test, weir_loom))]
mod loom_home {
    use loom::thread;

    use super::*;

    #[test]
    fn a_lent_item_comes_home_once_and_wakes_its_worker() {
        loom::model(|| {
            let home = Home::new();
            let lent = Home::lend(&home, 7u32, 0);
            let elsewhere = thread::spawn(move || drop(lent));
            // The worker's way: take it if it is back, else wait for it.
            let item = match home.take() {
                Some(item) => item,
                None => loom::future::block_on(home.wait()),
            };
            assert_eq!(item, 7);
            elsewhere.join().unwrap();
            assert!(home.take().is_none(), "the item came home once");
        });
    }

    #[test]
    fn items_lent_one_after_another_each_come_home() {
        loom::model(|| {
            let home = Home::new();
            for n in 0..2u32 {
                let lent = Home::lend(&home, n, 0);
                let elsewhere = thread::spawn(move || assert_eq!(*lent, n));
                let item = loom::future::block_on(home.wait());
                assert_eq!(item, n);
                elsewhere.join().unwrap();
            }
        });
    }
}
