//! A sink that fails on purpose.

use std::fmt;
use std::sync::{Arc, Mutex};

use weir_core::{Sink, SinkError};

/// The error of a [`FlakySink`]: the send number (from 0) that failed.
///
/// # Examples
///
/// ```
/// let err = weir_testkit::Flaked(3);
/// assert_eq!(err.to_string(), "send #3 failed on purpose");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("send #{0} failed on purpose")]
pub struct Flaked(pub u64);

type Pattern = Box<dyn FnMut(u64) -> bool + Send>;

/// A sink that fails the sends a pattern picks (by send number, from 0),
/// giving the item back in the error, and keeps the items it accepted.
///
/// # Examples
///
/// ```
/// use weir_core::prelude::*;
/// use weir_testkit::FlakySink;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let sink = FlakySink::failing_when(|n| n == 2);
/// let accepted = sink.accepted();
/// let err = Pipeline::from_iter(10..20u32).sink(sink).run().await.unwrap_err();
/// let RunError::Sink { item, returned, .. } = err else { panic!() };
/// assert_eq!(*item.unwrap().downcast::<u32>().unwrap(), 12); // given back
/// assert_eq!(returned, 1);
/// assert_eq!(*accepted.lock().unwrap(), [10, 11]);
/// # }
/// ```
pub struct FlakySink<T> {
    fails: Pattern,
    sends: u64,
    accepted: Arc<Mutex<Vec<T>>>,
}

impl<T> FlakySink<T> {
    /// Fails the sends for which `fails(send_number)` is true.
    pub fn failing_when(fails: impl FnMut(u64) -> bool + Send + 'static) -> Self {
        Self { fails: Box::new(fails), sends: 0, accepted: Arc::new(Mutex::new(Vec::new())) }
    }

    /// Fails the first `n` sends, then accepts every item (for sinks
    /// behind a retry).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::Sink;
    /// use weir_testkit::{Flaked, FlakySink};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut sink = FlakySink::failing_first(1);
    /// let err = sink.send("a").await.unwrap_err();
    /// assert_eq!((*err.error(), err.into_item()), (Flaked(0), Some("a")));
    /// assert!(sink.send("a").await.is_ok());
    /// # }
    /// ```
    pub fn failing_first(n: u64) -> Self {
        Self::failing_when(move |send| send < n)
    }

    /// The items accepted so far (a shared handle).
    pub fn accepted(&self) -> Arc<Mutex<Vec<T>>> {
        self.accepted.clone()
    }

    /// How many sends were attempted.
    ///
    /// # Examples
    ///
    /// ```
    /// let sink = weir_testkit::FlakySink::<u32>::failing_first(0);
    /// assert_eq!(sink.sends(), 0);
    /// ```
    pub fn sends(&self) -> u64 {
        self.sends
    }
}

impl<T> fmt::Debug for FlakySink<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlakySink").field("sends", &self.sends).finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Sink<T> for FlakySink<T> {
    type Error = Flaked;

    async fn send(&mut self, item: T) -> Result<(), SinkError<T, Flaked>> {
        let n = self.sends;
        self.sends += 1;
        if (self.fails)(n) {
            return Err(SinkError::with_item(Flaked(n), item));
        }
        self.accepted.lock().unwrap_or_else(|e| e.into_inner()).push(item);
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Flaked> {
        Ok(())
    }
}
