//! Dead-letter sinks: where dead-letter records are stored.

mod finite;
mod from_futures;
mod json_lines;
mod memory;

use std::fmt;
use std::future::Future;

use weir_core::ErrorClass;

use crate::record::DeadLetter;

pub use from_futures::{FromFutures, from_futures};
pub use json_lines::{JsonLines, JsonLinesError};
pub use memory::{Memory, MemoryRecords, memory};

/// Where dead-letter records are stored.
///
/// The dead-letter stage hands a sink the records of failures in batches:
/// all the failures that arrived back-to-back, up to the stage's batch
/// size. [`store`](DeadLetterSink::store) must make the whole batch
/// durable (write and flush it) before it returns `Ok`, because the items'
/// acknowledgements fire right after. On error it gives every record back
/// in the [`StoreError`], so the stage can retry the batch or return the
/// items in the run's error: a record is never dropped. A sink that stored
/// part of a batch before failing should undo it when it can; otherwise
/// the retried records are stored twice (a dead-letter store is
/// at-least-once, never at-most-once).
///
/// [`sync`](DeadLetterSink::sync) is called once, when the pipeline's input
/// has ended, to put everything stored on stable storage (for a file,
/// `fsync`).
///
/// A sink that cannot store some records in a form that reads back (a JSON
/// file and an item holding a NaN) says so in
/// [`check`](DeadLetterSink::check), which the stage calls for each record
/// before it is stored: such a record fails on its own and does not block
/// the others of its batch.
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use weir_core::prelude::*;
/// use weir_core::sink;
/// use weir_deadletter::{DeadLetter, DeadLetterExt, DeadLetterSink, StoreError};
///
/// /// Prints each record's error.
/// struct Print;
///
/// impl<I: Send + 'static> DeadLetterSink<I> for Print {
///     type Error = Infallible;
///     async fn store(&mut self, records: Vec<DeadLetter<I>>) -> Result<(), StoreError<I, Infallible>> {
///         records.iter().for_each(|r| println!("{}: {}", r.stage(), r.error()));
///         Ok(())
///     }
///     async fn sync(&mut self) -> Result<(), Infallible> {
///         Ok(())
///     }
/// }
///
/// # #[derive(Debug, thiserror::Error)] #[error("odd")] struct Odd;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let report = Pipeline::from_iter(0..4)
///     .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(Odd) })
///     .dead_letter(Print)
///     .sink(sink::drain())
///     .run()
///     .await?;
/// assert_eq!(report.dead_lettered(), 2);
/// # Ok(())
/// # }
/// ```
pub trait DeadLetterSink<I>: Send + 'static {
    /// The sink's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Stores a batch of records durably (written and flushed).
    ///
    /// # Errors
    ///
    /// A [`StoreError`] that gives every record back; none of them counts
    /// as stored.
    fn store(
        &mut self,
        records: Vec<DeadLetter<I>>,
    ) -> impl Future<Output = Result<(), StoreError<I, Self::Error>>> + Send;

    /// Checks that `record` can be stored in a form that reads back, before
    /// it is stored. The default accepts every record.
    ///
    /// A record this rejects is not stored and not retried (retrying cannot
    /// help): its item is returned in the run's error as
    /// [`DeadLetterError::Unstorable`](crate::DeadLetterError::Unstorable),
    /// unacknowledged, and intake stops as for
    /// [`halt_on_error`](weir_core::Fallible::halt_on_error), while the
    /// other records of its batch, and failures still draining, are stored
    /// as usual. An item that can be neither processed nor stored is left
    /// for its owner to look at, never dropped.
    ///
    /// # Errors
    ///
    /// The sink's error, saying why the record cannot be stored.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_deadletter::{DeadLetter, DeadLetterError, DeadLetterExt, DeadLetterSink, StoreError};
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("an empty item cannot be stored")]
    /// struct Empty;
    ///
    /// /// Stores non-empty strings.
    /// struct Texts(Vec<String>);
    ///
    /// impl DeadLetterSink<String> for Texts {
    ///     type Error = Empty;
    ///     fn check(&self, record: &DeadLetter<String>) -> Result<(), Empty> {
    ///         if record.item().is_empty() { Err(Empty) } else { Ok(()) }
    ///     }
    ///     async fn store(&mut self, records: Vec<DeadLetter<String>>) -> Result<(), StoreError<String, Empty>> {
    ///         self.0.extend(records.into_iter().map(DeadLetter::into_item));
    ///         Ok(())
    ///     }
    ///     async fn sync(&mut self) -> Result<(), Empty> {
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # #[derive(Debug, thiserror::Error)] #[error("not a number")] struct NotANumber;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = Pipeline::from_iter(["1", "", "x"].map(String::from))
    ///     .try_map("parse", |s: String| s.parse::<u32>().map_err(|_| NotANumber))
    ///     .dead_letter(Texts(Vec::new()))
    ///     .sink(sink::drain())
    ///     .run()
    ///     .await
    ///     .unwrap_err();
    /// let RunError::Sink { error, item, returned, report, .. } = err else { panic!() };
    /// assert!(matches!(error.downcast_ref(), Some(DeadLetterError::Unstorable { .. })));
    /// assert_eq!(item.and_then(|i| i.downcast::<String>().ok()).as_deref().map(String::as_str), Some(""));
    /// assert_eq!((returned, report.dead_lettered()), (1, 1)); // "x" was stored
    /// # }
    /// ```
    fn check(&self, record: &DeadLetter<I>) -> Result<(), Self::Error> {
        let _ = record;
        Ok(())
    }

    /// Puts every record stored so far on stable storage. Called once, when
    /// the pipeline's input has ended.
    ///
    /// # Errors
    ///
    /// The sink's error.
    fn sync(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// A dead-letter sink's error, with the records it could not store.
///
/// Its class says whether retrying can help: a transient error (the disk,
/// the network) is retried by the dead-letter stage's policy; a permanent
/// one (a record that cannot be serialized) is not.
///
/// # Examples
///
/// ```
/// use weir_core::ErrorClass;
/// use weir_deadletter::StoreError;
///
/// let err = StoreError::<u32, _>::transient(std::io::Error::other("disk full"), Vec::new());
/// assert_eq!(err.class(), ErrorClass::Transient);
/// assert_eq!(err.to_string(), "disk full");
/// let (error, records) = err.into_parts();
/// assert!(records.is_empty());
/// ```
pub struct StoreError<I, E> {
    error: E,
    class: ErrorClass,
    records: Vec<DeadLetter<I>>,
}

impl<I, E> StoreError<I, E> {
    /// An error that may go away (retry), giving `records` back.
    pub fn transient(error: E, records: Vec<DeadLetter<I>>) -> Self {
        Self { error, class: ErrorClass::Transient, records }
    }

    /// An error that retrying cannot fix, giving `records` back.
    pub fn permanent(error: E, records: Vec<DeadLetter<I>>) -> Self {
        Self { error, class: ErrorClass::Permanent, records }
    }

    /// The sink's error.
    pub fn error(&self) -> &E {
        &self.error
    }

    /// Whether retrying may help.
    pub fn class(&self) -> ErrorClass {
        self.class
    }

    /// The records given back.
    pub fn records(&self) -> &[DeadLetter<I>] {
        &self.records
    }

    /// The error and the records given back.
    pub fn into_parts(self) -> (E, Vec<DeadLetter<I>>) {
        (self.error, self.records)
    }
}

impl<I, E: fmt::Debug> fmt::Debug for StoreError<I, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreError")
            .field("error", &self.error)
            .field("class", &self.class)
            .field("records", &self.records.len())
            .finish()
    }
}

impl<I, E: fmt::Display> fmt::Display for StoreError<I, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl<I, E: std::error::Error + 'static> std::error::Error for StoreError<I, E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}
