//! Any `futures::Sink` of records as a dead-letter sink.

use futures::SinkExt;

use super::{DeadLetterSink, StoreError};
use crate::record::DeadLetter;

/// Wraps any [`futures::Sink`] of [`DeadLetter`] records (a channel to
/// another task, a framed connection).
///
/// A `futures::Sink` consumes what it is given, so the adapter feeds it
/// copies (hence `I: Clone`) and keeps the records until the batch is
/// flushed: on error it gives them back and the dead-letter stage may
/// retry them. Its errors count as transient.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use weir_core::prelude::*;
/// use weir_core::sink;
/// use weir_deadletter::{DeadLetterExt, from_futures};
///
/// # #[derive(Debug, thiserror::Error)] #[error("odd")] struct Odd;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let (tx, rx) = futures::channel::mpsc::unbounded();
/// Pipeline::from_iter(0..4)
///     .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(Odd) })
///     .dead_letter(from_futures(tx))
///     .sink(sink::drain())
///     .run()
///     .await?;
/// let items: Vec<i32> = rx.map(|r| r.into_item()).collect().await;
/// assert_eq!(items, [1, 3]);
/// # Ok(())
/// # }
/// ```
pub fn from_futures<Si>(sink: Si) -> FromFutures<Si> {
    FromFutures { sink }
}

/// A dead-letter sink over a `futures::Sink`; see [`from_futures`].
#[derive(Debug)]
pub struct FromFutures<Si> {
    sink: Si,
}

impl<Si> FromFutures<Si> {
    /// The wrapped sink.
    pub fn into_inner(self) -> Si {
        self.sink
    }
}

impl<I, Si> DeadLetterSink<I> for FromFutures<Si>
where
    I: Clone + Send + 'static,
    Si: futures::Sink<DeadLetter<I>> + Unpin + Send + 'static,
    Si::Error: std::error::Error + Send + Sync + 'static,
{
    type Error = Si::Error;

    async fn store(&mut self, records: Vec<DeadLetter<I>>) -> Result<(), StoreError<I, Si::Error>> {
        let mut fed = 0;
        while let Some(record) = records.get(fed).cloned() {
            if let Err(e) = self.sink.feed(record).await {
                return Err(StoreError::transient(e, records));
            }
            fed += 1;
        }
        match SinkExt::<DeadLetter<I>>::flush(&mut self.sink).await {
            Ok(()) => Ok(()),
            Err(e) => Err(StoreError::transient(e, records)),
        }
    }

    async fn sync(&mut self) -> Result<(), Si::Error> {
        SinkExt::<DeadLetter<I>>::flush(&mut self.sink).await
    }
}
