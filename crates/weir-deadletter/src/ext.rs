//! The `dead_letter` method.

use weir_core::{Fallible, Pipeline, Runnable, Sink};

use crate::options::DeadLetterOptions;
use crate::record::DeadLetter;
use crate::route::DeadLetterRoute;

/// Adds [`dead_letter`](DeadLetterExt::dead_letter) to pipelines whose
/// items may have failed ([`Fallible`]).
pub trait DeadLetterExt<T, I, E>: Sized {
    /// Stores every failure in `store`, as a [`DeadLetter`] record, and
    /// lets successes go on.
    ///
    /// A store is any [`Sink`] of records: [`JsonLines`](crate::JsonLines)
    /// (a file), `weir_core::sink::collect()` (in memory, for tests),
    /// `weir_core::sink::from_futures` (a channel to another task), a
    /// `BoxSink<DeadLetter<I>>` chosen at run time, or your own (a table).
    ///
    /// Failures come from the fallible stage before it: errors, panics,
    /// exhausted retries. Failures that arrive back-to-back are stored as
    /// a group of up to [`DEFAULT_MAX_BATCH`](crate::DEFAULT_MAX_BATCH)
    /// records: each record is sent, then the store is flushed once; a
    /// group is stored as soon as no more failures are waiting. Each
    /// failure's acknowledgement fires, and it is counted as dead-lettered
    /// (per stage and per class, in the report), only once the flush that
    /// covers it succeeded. When the pipeline's input ends the store is
    /// flushed once more (for a file, `fsync`).
    ///
    /// Backpressure: failures wait for the store in a queue of `max_batch`
    /// places; when it is full, the failing stage waits. Successes are not
    /// delayed by the store otherwise. The order of successes is kept.
    ///
    /// A record the store gives back with a transient error, and a flush
    /// that fails, are tried again, up to 10 times in all by default, 50 ms
    /// after the first failure, then doubling up to 5 s (see
    /// [`store_attempts`](DeadLetterOptions::store_attempts); for your own
    /// retry policy, wrap the store in a retry layer). Each retry is
    /// counted in the report, per failure, under its stage's
    /// [`store_retries`](weir_core::StageReport::store_retries). When the
    /// tries are used up, intake stops, the pipeline drains what it can,
    /// every failure not stored (that record, and every later failure) is
    /// counted as *returned*, and the run returns
    /// [`RunError::Sink`](weir_core::RunError::Sink) with a
    /// [`DeadLetterError`](crate::DeadLetterError). A record the store gave
    /// back is returned with its item; records the store holds when a flush
    /// fails for good are returned without. Items returned are not
    /// acknowledged, so an acking source delivers them again.
    ///
    /// A record the store can never take (it gives it back with an error
    /// that is not retryable, see
    /// [`SinkError::with_class`](weir_core::SinkError::with_class): for a
    /// [`JsonLines`](crate::JsonLines) file, an item holding a NaN) fails
    /// on its own, without retries: its item is returned the same way,
    /// with [`DeadLetterError::Unstorable`](crate::DeadLetterError::Unstorable),
    /// and the other records are stored.
    ///
    /// # Cancellation safety
    ///
    /// Dropping the run (or a forced abort after the drain timeout) aborts
    /// the writer task; failures it had not stored are counted as abandoned
    /// and not acknowledged.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_deadletter::DeadLetterExt;
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("{0} is divisible by 3")]
    /// struct Three(u32);
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), RunError> {
    /// let (dead, records) = sink::collect();
    /// let (sink, out) = sink::collect();
    /// let report = Pipeline::from_iter(0..7u32)
    ///     .try_map("check", |x| if x % 3 == 0 { Err(Three(x)) } else { Ok(x) })
    ///     .dead_letter(dead)
    ///     .sink(sink)
    ///     .run()
    ///     .await?;
    /// assert_eq!(out.take(), [1, 2, 4, 5]);
    /// let items: Vec<u32> = records.take().into_iter().map(|r| r.into_item()).collect();
    /// assert_eq!(items, [0, 3, 6]);
    /// assert_eq!(report.dead_lettered_of(ErrorClass::Permanent), 3);
    /// assert_eq!(report.stage("check").unwrap().dead_lettered(), 3);
    /// assert!(report.is_conserved());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// A store of your own: a `Sink` of records.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use weir_core::prelude::*;
    /// use weir_core::{Sink, SinkError, sink};
    /// use weir_deadletter::{DeadLetter, DeadLetterExt};
    ///
    /// /// Prints each record's error when it is flushed.
    /// #[derive(Default)]
    /// struct Print(Vec<String>);
    ///
    /// impl<I: Send + 'static> Sink<DeadLetter<I>> for Print {
    ///     type Error = Infallible;
    ///     async fn send(&mut self, record: DeadLetter<I>) -> Result<(), SinkError<DeadLetter<I>, Infallible>> {
    ///         self.0.push(format!("{}: {}", record.stage(), record.error()));
    ///         Ok(())
    ///     }
    ///     async fn flush(&mut self) -> Result<(), Infallible> {
    ///         self.0.drain(..).for_each(|line| println!("{line}"));
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # #[derive(Debug, thiserror::Error)] #[error("odd")] struct Odd;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), RunError> {
    /// let report = Pipeline::from_iter(0..4)
    ///     .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(Odd) })
    ///     .dead_letter(Print::default())
    ///     .sink(sink::drain())
    ///     .run()
    ///     .await?;
    /// assert_eq!(report.dead_lettered(), 2);
    /// # Ok(())
    /// # }
    /// ```
    fn dead_letter<Si>(self, store: Si) -> Pipeline<T>
    where
        Si: Sink<DeadLetter<I>>,
    {
        self.dead_letter_with(store, DeadLetterOptions::new())
    }

    /// Like [`dead_letter`](DeadLetterExt::dead_letter), with settings:
    /// batch size, tries of the store, name.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_deadletter::{DeadLetterExt, DeadLetterOptions};
    ///
    /// # #[derive(Debug, thiserror::Error)] #[error("odd")] struct Odd;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (dead, records) = sink::collect();
    /// let options = DeadLetterOptions::new().max_batch(16).store_attempts(3).name("odd-numbers");
    /// Pipeline::from_iter(0..10)
    ///     .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(Odd) })
    ///     .dead_letter_with(dead, options)
    ///     .sink(sink::drain())
    ///     .run()
    ///     .await?;
    /// assert_eq!(records.len(), 5);
    /// # Ok(())
    /// # }
    /// ```
    fn dead_letter_with<Si>(self, store: Si, options: DeadLetterOptions) -> Pipeline<T>
    where
        Si: Sink<DeadLetter<I>>;
}

impl<T, I, E> DeadLetterExt<T, I, E> for Fallible<T, I, E>
where
    T: Send + 'static,
    I: Send + 'static,
    E: weir_core::StageError,
{
    fn dead_letter_with<Si>(self, store: Si, options: DeadLetterOptions) -> Pipeline<T>
    where
        Si: Sink<DeadLetter<I>>,
    {
        self.route_failures_with(DeadLetterRoute::new(store, options))
    }
}

/// Dead letters for a sink's failures: items a sink gives back with an
/// error (after its own retries) are stored whole instead of ending the
/// run.
pub trait SinkDeadLetterExt<T>: Sized {
    /// Connects `sink`, named `name`, and sends every item it gives back
    /// with an error to `dead_letters` (a store, as for
    /// [`dead_letter`](DeadLetterExt::dead_letter)), as a record of the
    /// sink's stage, classed as the sink's error says (transient unless
    /// the sink set another class); the run goes on. Items the sink cannot give back
    /// (a failed flush) still end the run with
    /// [`RunError::Sink`](weir_core::RunError::Sink).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::prelude::*;
    /// use weir_core::{Sink, SinkError, sink};
    /// use weir_deadletter::SinkDeadLetterExt;
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("row {0} violates a constraint")]
    /// struct Constraint(u32);
    ///
    /// /// Refuses rows above 2, giving them back.
    /// struct Table;
    ///
    /// impl Sink<u32> for Table {
    ///     type Error = Constraint;
    ///     async fn send(&mut self, row: u32) -> Result<(), SinkError<u32, Constraint>> {
    ///         if row > 2 { Err(SinkError::with_item(Constraint(row), row)) } else { Ok(()) }
    ///     }
    ///     async fn flush(&mut self) -> Result<(), Constraint> { Ok(()) }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), RunError> {
    /// let (dead, records) = sink::collect();
    /// let report = Pipeline::from_iter(0..5u32).sink_dead_lettering("table", Table, dead).run().await?;
    /// let records = records.take();
    /// assert_eq!(records.iter().map(|r| *r.item()).collect::<Vec<_>>(), [3, 4]);
    /// assert_eq!(records[0].stage(), "table");
    /// assert_eq!((report.delivered(), report.dead_lettered()), (3, 2));
    /// # Ok(())
    /// # }
    /// ```
    fn sink_dead_lettering<Si, D>(self, name: &str, sink: Si, dead_letters: D) -> Runnable
    where
        Si: Sink<T>,
        D: Sink<DeadLetter<T>>,
    {
        self.sink_dead_lettering_with(name, sink, dead_letters, DeadLetterOptions::new())
    }

    /// Like [`sink_dead_lettering`](SinkDeadLetterExt::sink_dead_lettering),
    /// with the dead-letter stage's settings (batch size, tries of the
    /// store, name), as for
    /// [`dead_letter_with`](DeadLetterExt::dead_letter_with). Invalid
    /// settings are a [`BuildError`](weir_core::BuildError) returned by
    /// `run()` or `spawn()` before anything runs.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::prelude::*;
    /// use weir_core::{Sink, SinkError, sink};
    /// use weir_deadletter::{DeadLetterOptions, SinkDeadLetterExt};
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("row {0} violates a constraint")]
    /// struct Constraint(u32);
    ///
    /// /// Refuses rows above 2, giving them back.
    /// struct Table;
    ///
    /// impl Sink<u32> for Table {
    ///     type Error = Constraint;
    ///     async fn send(&mut self, row: u32) -> Result<(), SinkError<u32, Constraint>> {
    ///         if row > 2 { Err(SinkError::with_item(Constraint(row), row)) } else { Ok(()) }
    ///     }
    ///     async fn flush(&mut self) -> Result<(), Constraint> { Ok(()) }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (dead, records) = sink::collect();
    /// let options = DeadLetterOptions::new().name("refused-rows").max_batch(64).store_attempts(20);
    /// let report = Pipeline::from_iter(0..5u32)
    ///     .sink_dead_lettering_with("table", Table, dead, options)
    ///     .run()
    ///     .await?;
    /// assert_eq!(records.len(), 2);
    /// assert_eq!((report.delivered(), report.dead_lettered()), (3, 2));
    /// # Ok(())
    /// # }
    /// ```
    fn sink_dead_lettering_with<Si, D>(
        self,
        name: &str,
        sink: Si,
        dead_letters: D,
        options: DeadLetterOptions,
    ) -> Runnable
    where
        Si: Sink<T>,
        D: Sink<DeadLetter<T>>;
}

impl<T: Send + 'static> SinkDeadLetterExt<T> for Pipeline<T> {
    fn sink_dead_lettering_with<Si, D>(
        self,
        name: &str,
        sink: Si,
        dead_letters: D,
        options: DeadLetterOptions,
    ) -> Runnable
    where
        Si: Sink<T>,
        D: Sink<DeadLetter<T>>,
    {
        self.sink_routing_failures(name, sink, DeadLetterRoute::new(dead_letters, options))
    }
}
