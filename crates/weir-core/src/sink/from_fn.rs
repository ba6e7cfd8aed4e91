//! A sink made of an async closure.

use std::fmt;
use std::future::Future;

use super::{Sink, SinkError};

/// Creates a sink that calls `f` for each item and awaits it.
///
/// The closure takes the item by value, so an item whose call fails is
/// gone; it is counted as returned in the run's error, and its
/// acknowledgement does not fire (an acking source redelivers it).
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use weir_core::prelude::*;
/// use weir_core::sink;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), RunError> {
/// let report = Pipeline::from_iter(0..3)
///     .sink(sink::from_fn(|item: i32| async move {
///         println!("consumed {item}");
///         Ok::<_, Infallible>(())
///     }))
///     .run()
///     .await?;
/// assert_eq!(report.delivered(), 3);
/// # Ok(())
/// # }
/// ```
pub fn from_fn<F>(f: F) -> FromFn<F> {
    FromFn { f }
}

/// A sink that calls a closure; see [`from_fn`].
pub struct FromFn<F> {
    f: F,
}

impl<F> fmt::Debug for FromFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FromFn").finish_non_exhaustive()
    }
}

impl<T, F, Fut, E> Sink<T> for FromFn<F>
where
    T: Send + 'static,
    F: FnMut(T) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
    E: crate::StageError,
{
    type Error = E;

    async fn send(&mut self, item: T) -> Result<(), SinkError<T, E>> {
        (self.f)(item).await.map_err(SinkError::lost)
    }

    async fn flush(&mut self) -> Result<(), E> {
        Ok(())
    }
}
