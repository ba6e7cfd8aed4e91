//! An in-memory acking source that records which acknowledgements fired.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::Stream;
use weir_core::Ack;

/// A source of items that each carry an [`Ack`]; its [`AckLog`] records the
/// items whose acknowledgement fired, in firing order. Plug it in with
/// [`Pipeline::from_acked`](weir_core::Pipeline::from_acked).
///
/// # Examples
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
/// use weir_testkit::AckingSource;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let source = AckingSource::new(0..6u32);
/// let acks = source.log();
/// Pipeline::from_acked(source).filter("even", |x| x % 2 == 0).sink(sink::drain()).run().await?;
/// assert_eq!(acks.fired_sorted(), [0, 1, 2, 3, 4, 5]); // filtered items are acked too
/// # Ok(())
/// # }
/// ```
pub struct AckingSource<T> {
    items: std::vec::IntoIter<T>,
    log: AckLog<T>,
}

impl<T: Clone + Send + 'static> AckingSource<T> {
    /// A source of `items`, in order.
    pub fn new(items: impl IntoIterator<Item = T>) -> Self {
        Self { items: items.into_iter().collect::<Vec<_>>().into_iter(), log: AckLog::default() }
    }

    /// The log of fired acknowledgements (a shared handle).
    pub fn log(&self) -> AckLog<T> {
        self.log.clone()
    }
}

impl<T> fmt::Debug for AckingSource<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AckingSource").field("remaining", &self.items.len()).finish()
    }
}

impl<T: Clone + Send + 'static> Stream for AckingSource<T> {
    type Item = (T, Ack);

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = self.items.next();
        Poll::Ready(item.map(|item| {
            let ack = self.log.ack(item.clone());
            (item, ack)
        }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.items.size_hint()
    }
}

// The source never pins its items.
impl<T> Unpin for AckingSource<T> {}

/// The items whose acknowledgement fired; see [`AckingSource`].
///
/// # Examples
///
/// ```
/// use weir_testkit::AckLog;
///
/// let log = AckLog::default();
/// log.ack("a").fire();
/// drop(log.ack("b")); // dropped without firing: not recorded
/// assert_eq!(log.fired(), ["a"]);
/// ```
pub struct AckLog<T>(Arc<Mutex<Vec<T>>>);

impl<T> Default for AckLog<T> {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(Vec::new())))
    }
}

impl<T> Clone for AckLog<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> fmt::Debug for AckLog<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AckLog").field("fired", &self.len()).finish()
    }
}

impl<T: Clone + Send + 'static> AckLog<T> {
    /// An acknowledgement that records `item` in this log when it fires.
    pub fn ack(&self, item: T) -> Ack {
        let log = self.0.clone();
        Ack::new(move || log.lock().unwrap_or_else(|e| e.into_inner()).push(item))
    }

    /// The items acknowledged so far, in firing order.
    pub fn fired(&self) -> Vec<T> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The items acknowledged so far, sorted.
    pub fn fired_sorted(&self) -> Vec<T>
    where
        T: Ord,
    {
        let mut fired = self.fired();
        fired.sort();
        fired
    }
}

impl<T> AckLog<T> {
    /// How many acknowledgements fired.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether none fired.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
