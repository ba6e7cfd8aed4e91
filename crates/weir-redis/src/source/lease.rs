//! The source's stream: entries handed to the pipeline, each with an
//! acknowledgement that tells the acknowledging task what became of it.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use tokio::sync::mpsc;
use tokio_util::sync::DropGuard;
use weir_core::{Ack, Envelope};

use crate::entry::Entry;

/// What became of an entry handed to the pipeline.
#[derive(Debug)]
pub(crate) enum Settled {
    /// Its outcome is durable: acknowledge it.
    Done(Bytes),
    /// Its acknowledgement was dropped unfired (the run was aborted or
    /// ended on an error): it stays pending, to be delivered again.
    Released(Bytes),
}

/// An entry's claim to an acknowledgement: fired, it asks for an XACK;
/// dropped unfired, it releases the entry.
struct Lease {
    id: Option<Bytes>,
    settled: mpsc::UnboundedSender<Settled>,
}

impl Lease {
    fn done(mut self) {
        if let Some(id) = self.id.take() {
            // The acknowledging task outlives every lease (it ends when the
            // last sender is gone), so the send cannot fail.
            let _ = self.settled.send(Settled::Done(id));
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let _ = self.settled.send(Settled::Released(id));
        }
    }
}

/// The entries the reading task sends, one by one, each with its lease.
/// Dropping the stream stops the reading task.
pub(crate) struct Leased {
    batches: mpsc::Receiver<Vec<Entry>>,
    batch: std::vec::IntoIter<Entry>,
    settled: mpsc::UnboundedSender<Settled>,
    _stop_reading: DropGuard,
}

impl Leased {
    pub(crate) fn new(
        batches: mpsc::Receiver<Vec<Entry>>,
        settled: mpsc::UnboundedSender<Settled>,
        stop_reading: DropGuard,
    ) -> Self {
        Self { batches, batch: Vec::new().into_iter(), settled, _stop_reading: stop_reading }
    }

    fn lease(&self, entry: Entry) -> Envelope<Entry> {
        let lease = Lease { id: Some(entry.id_bytes().clone()), settled: self.settled.clone() };
        Envelope::with_ack(entry, Ack::new(move || lease.done()))
    }
}

impl Stream for Leased {
    type Item = Envelope<Entry>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(entry) = self.batch.next() {
                return Poll::Ready(Some(self.lease(entry)));
            }
            match self.batches.poll_recv(cx) {
                Poll::Ready(Some(batch)) => self.batch = batch.into_iter(),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.batch.len(), None)
    }
}
