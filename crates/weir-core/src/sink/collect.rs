//! Sinks for tests and for ends that keep nothing.

use std::convert::Infallible;
use std::fmt;
use std::sync::{Arc, Mutex};

use super::{SendChunk, Sink, SinkError};

/// Creates a sink that keeps every item, and the handle to read them.
///
/// # Examples
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let (sink, items) = sink::collect();
/// Pipeline::from_iter(["a", "b"]).sink(sink).run().await?;
/// assert_eq!(items.take(), ["a", "b"]);
/// # Ok(())
/// # }
/// ```
pub fn collect<T>() -> (Collector<T>, Collected<T>) {
    let items = Arc::new(Mutex::new(Vec::new()));
    (Collector { items: items.clone() }, Collected { items })
}

/// A sink that keeps every item; see [`collect`].
///
/// Clones keep their items in the same list, in arrival order: one list
/// for several stages' dead letters, for instance.
///
/// # Examples
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let (sink, items) = sink::collect();
/// Pipeline::from_iter([1, 2]).sink(sink.clone()).run().await?;
/// Pipeline::from_iter([3]).sink(sink).run().await?;
/// assert_eq!(items.take(), [1, 2, 3]);
/// # Ok(())
/// # }
/// ```
pub struct Collector<T> {
    items: Arc<Mutex<Vec<T>>>,
}

impl<T> Clone for Collector<T> {
    fn clone(&self) -> Self {
        Self { items: self.items.clone() }
    }
}

/// The items a [`Collector`] kept; see [`collect`].
#[derive(Clone)]
pub struct Collected<T> {
    items: Arc<Mutex<Vec<T>>>,
}

impl<T> Collected<T> {
    /// Takes the items collected so far, in arrival order.
    pub fn take(&self) -> Vec<T> {
        std::mem::take(&mut *self.items.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// How many items were collected so far.
    pub fn len(&self) -> usize {
        self.items.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether nothing was collected yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> fmt::Debug for Collector<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Collector").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Collected<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Collected").field("len", &self.len()).finish()
    }
}

impl<T: Send + 'static> Sink<T> for Collector<T> {
    type Error = Infallible;

    async fn send(&mut self, item: T) -> Result<(), SinkError<T, Infallible>> {
        self.items.lock().unwrap_or_else(|e| e.into_inner()).push(item);
        Ok(())
    }

    /// The whole run under one lock.
    async fn send_chunk(&mut self, items: &mut SendChunk<'_, T>) -> Result<(), SinkError<T, Infallible>> {
        self.items.lock().unwrap_or_else(|e| e.into_inner()).extend(items);
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

/// Creates a sink that accepts and drops every item (counted as delivered).
///
/// # Examples
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let report = Pipeline::from_iter(0..3).sink(sink::drain()).run().await?;
/// assert_eq!(report.delivered(), 3);
/// # Ok(())
/// # }
/// ```
pub fn drain() -> Drain {
    Drain(())
}

/// A sink that drops every item; see [`drain`].
#[derive(Debug, Clone, Copy)]
pub struct Drain(());

impl<T: Send + 'static> Sink<T> for Drain {
    type Error = Infallible;

    async fn send(&mut self, _item: T) -> Result<(), SinkError<T, Infallible>> {
        Ok(())
    }

    async fn send_chunk(&mut self, items: &mut SendChunk<'_, T>) -> Result<(), SinkError<T, Infallible>> {
        items.for_each(drop);
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}
