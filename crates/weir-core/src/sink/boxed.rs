//! A sink chosen at run time.

use std::fmt;

use futures::future::BoxFuture;

use super::{SendChunk, Sink, SinkError};
use crate::error::BoxError;

/// A sink whose type is chosen at run time: SQLite or PostgreSQL from a
/// command-line flag, a file or a channel from a config. Any [`Sink`] boxes
/// into it; its error is the sink's own, boxed (downcast it to tell which).
///
/// Items still come back with the error, so a boxed sink's items are
/// retried, dead-lettered or returned like any sink's. The cost is one
/// allocation per call: per run of ready items
/// ([`send_chunk`](Sink::send_chunk)) and per `flush`.
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use weir_core::prelude::*;
/// use weir_core::sink;
/// use weir_core::sink::BoxSink;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// // In a program: a command-line flag or a config value.
/// let to_memory = std::env::var("STORE").map_or(true, |store| store == "memory");
/// let (collect, out) = sink::collect();
/// let store: BoxSink<u32> = if to_memory {
///     BoxSink::new(collect)
/// } else {
///     BoxSink::new(sink::from_fn(|row: u32| async move {
///         println!("{row}");
///         Ok::<_, Infallible>(())
///     }))
/// };
/// Pipeline::from_iter(0..3u32).sink(store).await?;
/// assert_eq!(out.take(), [0, 1, 2]);
/// # Ok(())
/// # }
/// ```
pub struct BoxSink<T> {
    inner: Box<dyn DynSink<T>>,
}

impl<T: Send + 'static> BoxSink<T> {
    /// Boxes `sink`.
    pub fn new<Si: Sink<T>>(sink: Si) -> Self {
        Self { inner: Box::new(sink) }
    }
}

impl<T> fmt::Debug for BoxSink<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoxSink").finish_non_exhaustive()
    }
}

/// The error of a [`BoxSink`]: the boxed sink's own error, with its chain
/// of causes.
///
/// # Examples
///
/// ```
/// use weir_core::sink::BoxSinkError;
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("disk full")]
/// struct DiskFull;
///
/// let err = BoxSinkError::new(DiskFull);
/// assert_eq!(err.to_string(), "disk full");
/// assert!(err.get_ref().is::<DiskFull>());
/// ```
#[derive(Debug)]
pub struct BoxSinkError(BoxError);

impl BoxSinkError {
    /// Boxes `error`.
    pub fn new(error: impl Into<BoxError>) -> Self {
        Self(error.into())
    }

    /// The sink's own error, to downcast.
    pub fn get_ref(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }

    /// The sink's own error, boxed.
    pub fn into_inner(self) -> BoxError {
        self.0
    }
}

impl fmt::Display for BoxSinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for BoxSinkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// [`Sink`] with boxed futures, so that it can be a trait object.
trait DynSink<T>: Send + 'static {
    fn send_boxed(&mut self, item: T) -> BoxFuture<'_, Result<(), SinkError<T, BoxSinkError>>>;
    fn send_chunk_boxed<'a>(
        &'a mut self,
        items: &'a mut SendChunk<'_, T>,
    ) -> BoxFuture<'a, Result<(), SinkError<T, BoxSinkError>>>;
    fn flush_boxed(&mut self) -> BoxFuture<'_, Result<(), BoxSinkError>>;
    fn last_attempt_dyn(&self) -> Option<&crate::Attempt>;
    fn validate_dyn(&self, stage: &str) -> Result<(), crate::BuildError>;
    fn observe_dyn(&self, metrics: &crate::StageMetrics);
}

impl<T: Send + 'static, Si: Sink<T>> DynSink<T> for Si {
    fn send_boxed(&mut self, item: T) -> BoxFuture<'_, Result<(), SinkError<T, BoxSinkError>>> {
        Box::pin(async move { self.send(item).await.map_err(|e| e.map_err(BoxSinkError::new)) })
    }

    fn send_chunk_boxed<'a>(
        &'a mut self,
        items: &'a mut SendChunk<'_, T>,
    ) -> BoxFuture<'a, Result<(), SinkError<T, BoxSinkError>>> {
        Box::pin(async move { self.send_chunk(items).await.map_err(|e| e.map_err(BoxSinkError::new)) })
    }

    fn flush_boxed(&mut self) -> BoxFuture<'_, Result<(), BoxSinkError>> {
        Box::pin(async move { self.flush().await.map_err(BoxSinkError::new) })
    }

    fn last_attempt_dyn(&self) -> Option<&crate::Attempt> {
        self.last_attempt()
    }

    fn validate_dyn(&self, stage: &str) -> Result<(), crate::BuildError> {
        self.validate(stage)
    }

    fn observe_dyn(&self, metrics: &crate::StageMetrics) {
        self.observe(metrics);
    }
}

impl<T: Send + 'static> Sink<T> for BoxSink<T> {
    type Error = BoxSinkError;

    async fn send(&mut self, item: T) -> Result<(), SinkError<T, BoxSinkError>> {
        self.inner.send_boxed(item).await
    }

    /// The boxed sink's, so that a sink taking runs of items keeps doing
    /// so boxed (one allocation per run instead of one per item).
    async fn send_chunk(&mut self, items: &mut SendChunk<'_, T>) -> Result<(), SinkError<T, BoxSinkError>> {
        self.inner.send_chunk_boxed(items).await
    }

    async fn flush(&mut self) -> Result<(), BoxSinkError> {
        self.inner.flush_boxed().await
    }

    /// The boxed sink's (so that a boxed retrying sink's retries are counted).
    fn last_attempt(&self) -> Option<&crate::Attempt> {
        self.inner.last_attempt_dyn()
    }

    /// The boxed sink's (so that a boxed sink's settings are checked).
    fn validate(&self, stage: &str) -> Result<(), crate::BuildError> {
        self.inner.validate_dyn(stage)
    }

    fn observe(&self, metrics: &crate::StageMetrics) {
        self.inner.observe_dyn(metrics);
    }
}
