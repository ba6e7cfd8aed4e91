//! How a worker gives each item to its operation: a clone, or the item
//! itself, lent.

use std::future::Future;

use crate::job::Job;
use crate::lent::{Home, Lent};
use crate::sync::Arc;

/// How a fan-out stage gives each item to its operation, chosen by the
/// method that builds it: [`Cloning`] for [`fan_out`](crate::FanOutExt::fan_out)
/// and its siblings, [`Lending`] for the `_lent` forms. Sealed: these two
/// are the only ones.
///
/// ```
/// use weir_fanout::{Cloning, Handing, Lending, Lent};
///
/// fn input_of<H: Handing<String>>() -> &'static str { std::any::type_name::<H::Input>() }
/// assert_eq!(input_of::<Cloning>(), std::any::type_name::<String>());
/// assert_eq!(input_of::<Lending>(), std::any::type_name::<Lent<String>>());
/// ```
pub trait Handing<T>: sealed::Sealed + Send + Sync + 'static {
    /// What the operation takes: `T` ([`Cloning`]) or [`Lent<T>`] ([`Lending`]).
    type Input: Send + 'static;
    /// A worker's state.
    #[doc(hidden)]
    type Worker: sealed::HandWorker<T, Input = Self::Input>;
    /// A new worker's state.
    #[doc(hidden)]
    fn worker() -> Self::Worker;
}

/// Each attempt gets a clone of the item (`T: Clone`); the worker keeps
/// the original for a retry or a failure. The operation takes `T`.
///
/// ```
/// let _ = weir_fanout::FanOutStage::new("double", weir_fanout::FanOut::workers(2), |x: u32| async move {
///     Ok::<_, std::convert::Infallible>(x * 2)
/// });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Cloning;

/// Each attempt borrows the item itself, through a [`Lent`] that brings
/// it back to the worker when dropped: no clone, no `T: Clone`. The
/// operation takes `Lent<T>`.
///
/// ```
/// use weir_fanout::{FanOut, FanOutStage, Lent};
///
/// let _ = FanOutStage::lending("length", FanOut::workers(2), |s: Lent<String>| async move {
///     Ok::<_, std::convert::Infallible>(s.len())
/// });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Lending;

impl<T: Clone + Send + 'static> Handing<T> for Cloning {
    type Input = T;
    type Worker = Cloning;
    fn worker() -> Cloning {
        Cloning
    }
}

impl<T: Send + 'static> Handing<T> for Lending {
    type Input = Lent<T>;
    type Worker = sealed::Lender<T>;
    fn worker() -> sealed::Lender<T> {
        sealed::Lender::new()
    }
}

pub(crate) mod sealed {
    use super::*;

    /// Only this crate's hands are [`Handing`](super::Handing)s.
    pub trait Sealed {}
    impl Sealed for Cloning {}
    impl Sealed for Lending {}

    /// One worker's way of giving items out and getting them back.
    pub trait HandWorker<T>: Send + 'static {
        /// What the operation takes.
        type Input: Send + 'static;
        /// A copy of `item` for an attempt, when this hand copies (the
        /// job then stays whole); `None` when it lends.
        fn copy(&self, item: &T) -> Option<Self::Input>;
        /// Lends `item` to an attempt (when [`copy`](Self::copy) gave
        /// `None`).
        fn lend(&mut self, item: T) -> Self::Input;
        /// Whether the lent item is back after the attempt (else the
        /// attempt kept it: [`wait`](Self::wait) for it).
        fn is_back(&mut self) -> bool;
        /// Waits until the lent item is back.
        fn wait(&mut self) -> impl Future<Output = ()> + Send;
        /// Gives up the lent item for good (a success's output holds it):
        /// when it comes back, it is dropped, not taken for the next one.
        fn let_go(&mut self);
        /// `job` with its lent item, once it is back.
        fn back(&mut self, job: Job<()>) -> Job<T>;
    }

    impl<T: Clone + Send + 'static> HandWorker<T> for Cloning {
        type Input = T;
        #[inline(always)]
        fn copy(&self, item: &T) -> Option<T> {
            Some(item.clone())
        }
        fn lend(&mut self, item: T) -> T {
            item
        }
        fn is_back(&mut self) -> bool {
            true
        }
        fn wait(&mut self) -> impl Future<Output = ()> + Send {
            std::future::ready(())
        }
        fn let_go(&mut self) {}
        fn back(&mut self, _: Job<()>) -> Job<T> {
            unreachable!("a cloning hand copies")
        }
    }

    /// A lending worker: its home, and the item taken back from it.
    #[derive(Debug)]
    pub struct Lender<T> {
        home: Arc<Home<T>>,
        back: Option<T>,
        /// The current loan's number.
        loan: u64,
    }

    impl<T> Lender<T> {
        pub(crate) fn new() -> Self {
            Self { home: Home::new(), back: None, loan: 0 }
        }
    }

    impl<T: Send + 'static> HandWorker<T> for Lender<T> {
        type Input = Lent<T>;
        #[inline(always)]
        fn copy(&self, _: &T) -> Option<Lent<T>> {
            None
        }
        fn lend(&mut self, item: T) -> Lent<T> {
            Home::lend(&self.home, item, self.loan)
        }
        fn is_back(&mut self) -> bool {
            self.back = self.home.take();
            self.back.is_some()
        }
        async fn wait(&mut self) {
            self.back = Some(self.home.wait().await);
        }
        fn let_go(&mut self) {
            self.loan = self.home.let_go();
        }
        fn back(&mut self, job: Job<()>) -> Job<T> {
            job.with(self.back.take().expect("the worker waits until its lent item is back"))
        }
    }
}
