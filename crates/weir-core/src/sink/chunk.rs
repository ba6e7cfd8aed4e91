//! The run of ready items a sink takes in one call: [`SendChunk`].

use std::collections::VecDeque;
use std::fmt;

use crate::Attempt;
use crate::ack::Acks;
use crate::envelope::{Envelope, Meta};
use crate::metrics::StageMetrics;

/// The items that are ready for a sink, handed to
/// [`Sink::send_chunk`](super::Sink::send_chunk) as an iterator.
///
/// Each item taken from it counts as sent once the sink takes the next one
/// or returns `Ok`. If `send_chunk` returns an error, the error is the
/// item taken last's, and the item inside it (when the sink gives it back)
/// is routed, dead-lettered or returned exactly as one from
/// [`send`](super::Sink::send). Items the sink does not take stay with the
/// pipeline, which offers them again in the next call.
///
/// A sink that retries by itself says how many attempts the item taken
/// last needed with [`note_attempt`](SendChunk::note_attempt), as it would
/// through [`Sink::last_attempt`](super::Sink::last_attempt) for one item.
///
/// An error can only be the item taken last's: a sink that writes the
/// whole run at once and may fail should do that write in
/// [`flush`](super::Sink::flush), whose failure covers every item since
/// the last flush. Returning an item with an error without taking one
/// in that call is a broken contract, and panics with that message.
/// A sink that overrides `send_chunk` still implements `send` in full:
/// layers that wrap it (a retry, a breaker, a router) call `send`.
///
/// # Examples
///
/// A sink that appends whole runs of rows to its buffer:
///
/// ```
/// use std::convert::Infallible;
/// use weir_core::prelude::*;
/// use weir_core::Sink;
/// use weir_core::sink::SendChunk;
///
/// #[derive(Default)]
/// struct Rows { buffer: Vec<u64>, stored: u64 }
///
/// impl Sink<u64> for Rows {
///     type Error = Infallible;
///     async fn send(&mut self, row: u64) -> Result<(), SinkError<u64, Infallible>> {
///         self.buffer.push(row);
///         Ok(())
///     }
///     async fn send_chunk(&mut self, rows: &mut SendChunk<'_, u64>) -> Result<(), SinkError<u64, Infallible>> {
///         self.buffer.extend(rows);
///         Ok(())
///     }
///     async fn flush(&mut self) -> Result<(), Infallible> {
///         self.stored += self.buffer.drain(..).count() as u64;
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let report = Pipeline::from_iter(0..1000u64).sink(Rows::default()).run().await?;
/// assert_eq!(report.delivered(), 1000);
/// # Ok(())
/// # }
/// ```
pub struct SendChunk<'a, T> {
    pending: &'a mut VecDeque<Envelope<T>>,
    acks: &'a mut Acks,
    metrics: &'a StageMetrics,
    /// The item taken last, not yet known to be sent.
    taken: Option<Meta>,
    /// The attempts it needed, if the sink noted them.
    attempts: Option<u32>,
    sent: Sent,
}

/// What a call sent: envelopes, the items they carry, and how many of
/// those items needed more than one attempt.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Sent {
    pub(crate) envelopes: usize,
    pub(crate) items: u64,
    pub(crate) retried: u64,
}

impl<'a, T> SendChunk<'a, T> {
    pub(crate) fn new(
        pending: &'a mut VecDeque<Envelope<T>>,
        acks: &'a mut Acks,
        metrics: &'a StageMetrics,
    ) -> Self {
        Self { pending, acks, metrics, taken: None, attempts: None, sent: Sent::default() }
    }

    /// The number of items left to take.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # use weir_core::prelude::*;
    /// # use weir_core::Sink;
    /// # use weir_core::sink::SendChunk;
    /// /// Takes at most 10 items a call; the pipeline offers the rest again.
    /// struct Tens(Vec<u32>);
    ///
    /// impl Sink<u32> for Tens {
    ///     type Error = Infallible;
    ///     async fn send(&mut self, item: u32) -> Result<(), SinkError<u32, Infallible>> {
    ///         self.0.push(item);
    ///         Ok(())
    ///     }
    ///     async fn send_chunk(&mut self, items: &mut SendChunk<'_, u32>) -> Result<(), SinkError<u32, Infallible>> {
    ///         let n = items.len().min(10);
    ///         self.0.extend(items.take(n));
    ///         Ok(())
    ///     }
    ///     async fn flush(&mut self) -> Result<(), Infallible> {
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), RunError> {
    /// let report = Pipeline::from_iter(0..95u32).sink(Tens(Vec::new())).run().await?;
    /// assert_eq!(report.delivered(), 95);
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether every item was taken.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # use weir_core::prelude::*;
    /// # use weir_core::Sink;
    /// # use weir_core::sink::SendChunk;
    /// struct Lines(String);
    ///
    /// impl Sink<u32> for Lines {
    ///     type Error = Infallible;
    ///     async fn send(&mut self, item: u32) -> Result<(), SinkError<u32, Infallible>> {
    ///         self.0.push_str(&format!("{item}\n"));
    ///         Ok(())
    ///     }
    ///     async fn send_chunk(&mut self, items: &mut SendChunk<'_, u32>) -> Result<(), SinkError<u32, Infallible>> {
    ///         while let Some(item) = items.next() {
    ///             self.0.push_str(&item.to_string());
    ///             self.0.push(if items.is_empty() { '\n' } else { ' ' });
    ///         }
    ///         Ok(())
    ///     }
    ///     async fn flush(&mut self) -> Result<(), Infallible> {
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), RunError> {
    /// let report = Pipeline::from_iter(0..5u32).sink(Lines(String::new())).run().await?;
    /// assert_eq!(report.delivered(), 5);
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Records that the item taken last needed `attempt`'s number of
    /// attempts (a sink that retries by itself): the run counts the retries
    /// in the report, as it does for [`Sink::last_attempt`](super::Sink::last_attempt).
    /// Does nothing before the first item is taken. For an item the sink
    /// gives back with an error, the run reads `last_attempt` instead.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # use weir_core::prelude::*;
    /// # use weir_core::{Attempt, Sink};
    /// # use weir_core::sink::SendChunk;
    /// /// Every item takes two tries.
    /// #[derive(Default)]
    /// struct Twice { last: Option<Attempt> }
    ///
    /// fn two_tries() -> Attempt {
    ///     let mut attempt = Attempt::first();
    ///     attempt.next();
    ///     attempt
    /// }
    ///
    /// impl Sink<u32> for Twice {
    ///     type Error = Infallible;
    ///     // Still a whole sink: a layer that wraps it (a retry, a router)
    ///     // may call `send`.
    ///     async fn send(&mut self, _: u32) -> Result<(), SinkError<u32, Infallible>> {
    ///         self.last = Some(two_tries());
    ///         Ok(())
    ///     }
    ///     async fn send_chunk(&mut self, items: &mut SendChunk<'_, u32>) -> Result<(), SinkError<u32, Infallible>> {
    ///         while items.next().is_some() {
    ///             items.note_attempt(&two_tries());
    ///         }
    ///         Ok(())
    ///     }
    ///     async fn flush(&mut self) -> Result<(), Infallible> {
    ///         Ok(())
    ///     }
    ///     fn last_attempt(&self) -> Option<&Attempt> {
    ///         self.last.as_ref()
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), RunError> {
    /// let report = Pipeline::from_iter(0..4u32).sink(Twice::default()).run().await?;
    /// let sink = report.stage("sink").unwrap();
    /// assert_eq!((sink.delivered, sink.retried, sink.retries), (4, 4, 4));
    /// # Ok(())
    /// # }
    /// ```
    pub fn note_attempt(&mut self, attempt: &Attempt) {
        if self.taken.is_some() {
            // Counted once the item counts as sent: a second note for the
            // same item replaces the first.
            self.attempts = Some(attempt.number());
        }
    }

    /// Ends the call: on success the item taken last counts as sent; on
    /// failure its metadata is returned, for the error. Returns what the
    /// call sent.
    pub(crate) fn finish(mut self, ok: bool) -> (Sent, Option<Meta>) {
        let taken = self.taken.take();
        if !ok {
            // The failed item's attempts are read from the sink's
            // `last_attempt`, with its failure.
            self.attempts = None;
            return (self.sent, taken);
        }
        if let Some(meta) = taken {
            self.accept(meta);
        }
        (self.sent, None)
    }

    #[inline]
    fn accept(&mut self, meta: Meta) {
        if let Some(attempts) = self.attempts.take().filter(|n| *n > 1) {
            self.metrics.record_attempts_made(attempts, meta.count());
            self.sent.retried += meta.count();
        }
        self.sent.envelopes += 1;
        self.sent.items += meta.drain_into(self.acks);
    }
}

impl<T> Iterator for SendChunk<'_, T> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        // The item taken before counts as sent only once another is taken:
        // a sink that drained the run and then fails, fails the last one.
        let envelope = self.pending.pop_front()?;
        if let Some(meta) = self.taken.take() {
            self.accept(meta);
        }
        let (item, meta) = envelope.into_parts();
        self.taken = Some(meta);
        Some(item)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.pending.len(), Some(self.pending.len()))
    }
}

impl<T> fmt::Debug for SendChunk<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendChunk").field("left", &self.pending.len()).finish_non_exhaustive()
    }
}
