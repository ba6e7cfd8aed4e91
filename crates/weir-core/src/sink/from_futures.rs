//! Any `futures::Sink` as a weir sink.

use futures::SinkExt;

use super::{Sink, SinkError};

/// Wraps any [`futures::Sink`]: items are fed with `feed` and made durable
/// with `flush`.
///
/// A `futures::Sink` consumes the item it is given, so items of a failed
/// `feed` or `flush` cannot be given back: they are counted as returned in
/// the run's error and stay unacknowledged.
///
/// # Examples
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let (tx, rx) = futures::channel::mpsc::unbounded();
/// let report = Pipeline::from_iter(0..3).sink(sink::from_futures(tx)).run().await?;
/// assert_eq!(report.delivered(), 3);
/// use futures::StreamExt;
/// assert_eq!(rx.collect::<Vec<_>>().await, [0, 1, 2]);
/// # Ok(())
/// # }
/// ```
pub fn from_futures<Si>(sink: Si) -> FromFutures<Si> {
    FromFutures { sink }
}

/// A weir sink over a `futures::Sink`; see [`from_futures`].
#[derive(Debug)]
pub struct FromFutures<Si> {
    sink: Si,
}

impl<T, Si> Sink<T> for FromFutures<Si>
where
    T: Send + 'static,
    Si: futures::Sink<T> + Unpin + Send + 'static,
    Si::Error: std::error::Error + Send + Sync + 'static,
{
    type Error = Si::Error;

    async fn send(&mut self, item: T) -> Result<(), SinkError<T, Si::Error>> {
        self.sink.feed(item).await.map_err(SinkError::lost)
    }

    async fn flush(&mut self) -> Result<(), Si::Error> {
        SinkExt::<T>::flush(&mut self.sink).await
    }
}
