//! The handle that adds streams to a merge and removes them.

use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures::stream::{AbortHandle, Abortable, BoxStream};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

/// Which stream of a merge: what [`Sources::add`] gives, for
/// [`Sources::remove`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SourceId(u64);

/// The merge has ended (its pipeline finished, or it was dropped): no
/// stream can be added any more.
///
/// ```
/// use weir_shape::{Merge, MergeClosed};
///
/// let (merge, sources) = Merge::<u32>::new();
/// drop(merge);
/// assert_eq!(sources.add("late", futures::stream::iter([1])), Err(MergeClosed));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the merge has ended (its pipeline finished or was dropped), so no stream can be added: start a new pipeline"
)]
pub struct MergeClosed;

/// What the handles and the merge share: the open streams, to remove
/// them, and the merge's counts.
#[derive(Default)]
pub(super) struct Shared {
    next_id: AtomicU64,
    open: Mutex<HashMap<SourceId, AbortHandle>>,
    pub(super) added: AtomicU64,
    pub(super) ended: AtomicU64,
    pub(super) removed: AtomicU64,
    pub(super) dropped: AtomicU64,
}

impl Shared {
    fn open(&self) -> MutexGuard<'_, HashMap<SourceId, AbortHandle>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Streams added and not yet gone.
    pub(super) fn open_count(&self) -> usize {
        self.open().len()
    }
}

/// A stream on its way to the merge: its name, and the stream, which
/// leaves the open set when it is dropped.
pub(super) struct Added<T, E> {
    pub(super) name: Arc<str>,
    pub(super) stream: Open<T, E>,
}

/// A stream of the merge, until it is dropped (ended, removed, or with
/// the merge).
pub(super) struct Open<T, E> {
    stream: Abortable<BoxStream<'static, Result<T, E>>>,
    id: SourceId,
    shared: Arc<Shared>,
    ended: bool,
    /// Never reached the merge (it had ended): not counted at all.
    refused: bool,
}

impl<T, E> Stream for Open<T, E> {
    type Item = Result<T, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.stream.poll_next_unpin(cx);
        if let Poll::Ready(None) = polled {
            self.ended = true;
        }
        polled
    }
}

impl<T, E> Drop for Open<T, E> {
    fn drop(&mut self) {
        // A removed stream left the open set (and was counted) already.
        if self.shared.open().remove(&self.id).is_none() || self.refused {
            return;
        }
        let count = if self.ended { &self.shared.ended } else { &self.shared.dropped };
        count.fetch_add(1, Ordering::Relaxed);
    }
}

/// Adds streams to a [`Merge`](super::Merge) and removes them, before or
/// while it runs. Clone it to add from several places (an accept loop per
/// listener). The merge ends once every handle is dropped and every
/// stream has ended.
///
/// # Examples
///
/// See [`Merge`](super::Merge).
pub struct Sources<T, E> {
    tx: mpsc::UnboundedSender<Added<T, E>>,
    shared: Arc<Shared>,
}

impl<T, E> Clone for Sources<T, E> {
    fn clone(&self) -> Self {
        Self { tx: self.tx.clone(), shared: self.shared.clone() }
    }
}

impl<T, E> fmt::Debug for Sources<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sources").field("open", &self.shared.open_count()).finish_non_exhaustive()
    }
}

impl<T: Send + 'static, E: Send + 'static> Sources<T, E> {
    pub(super) fn new(tx: mpsc::UnboundedSender<Added<T, E>>, shared: Arc<Shared>) -> Self {
        Self { tx, shared }
    }

    /// Adds a stream of items under `name` (names need not be unique: the
    /// counts of streams with the same name add up).
    ///
    /// # Errors
    ///
    /// [`MergeClosed`] once the merge has ended; the stream is dropped.
    ///
    /// ```
    /// use weir_shape::Merge;
    ///
    /// let (_merge, sources) = Merge::<u32>::new();
    /// let a = sources.add("device-1", futures::stream::iter([1, 2])).unwrap();
    /// let b = sources.add("device-1", futures::stream::iter([3])).unwrap();
    /// assert_ne!(a, b);
    /// ```
    pub fn add(
        &self,
        name: &str,
        stream: impl Stream<Item = T> + Send + 'static,
    ) -> Result<SourceId, MergeClosed> {
        self.try_add(name, stream.map(Ok))
    }

    /// Adds a stream of `Result`s under `name`: each `Err` is a
    /// [`SourceFailed`](super::SourceFailed) naming it.
    ///
    /// # Errors
    ///
    /// [`MergeClosed`] once the merge has ended; the stream is dropped.
    ///
    /// ```
    /// use std::io;
    /// use weir_shape::Merge;
    ///
    /// let (_merge, sources) = Merge::<u32, io::Error>::new();
    /// let lines = futures::stream::iter([Ok(1), Err(io::Error::other("reset"))]);
    /// sources.try_add("10.0.0.7", lines).unwrap();
    /// ```
    pub fn try_add(
        &self,
        name: &str,
        stream: impl Stream<Item = Result<T, E>> + Send + 'static,
    ) -> Result<SourceId, MergeClosed> {
        let id = SourceId(self.shared.next_id.fetch_add(1, Ordering::Relaxed));
        let (abort, registration) = AbortHandle::new_pair();
        let stream = Abortable::new(stream.boxed(), registration);
        self.shared.open().insert(id, abort);
        let open = Open { stream, id, shared: self.shared.clone(), ended: false, refused: false };
        self.shared.added.fetch_add(1, Ordering::Relaxed);
        if let Err(mpsc::error::SendError(mut added)) =
            self.tx.send(Added { name: name.into(), stream: open })
        {
            // The stream came back; dropped here, it leaves the open set.
            added.stream.refused = true;
            self.shared.added.fetch_sub(1, Ordering::Relaxed);
            return Err(MergeClosed);
        }
        Ok(id)
    }

    /// Stops reading the stream `id`: it is dropped (a socket closes) the
    /// next time the merge runs, and its items already handed out go on
    /// through the pipeline. Returns whether it was still open.
    ///
    /// ```
    /// use weir_shape::Merge;
    ///
    /// let (_merge, sources) = Merge::<u32>::new();
    /// let id = sources.add("a", futures::stream::pending()).unwrap();
    /// assert!(sources.remove(id));
    /// assert!(!sources.remove(id)); // already gone
    /// ```
    pub fn remove(&self, id: SourceId) -> bool {
        let Some(abort) = self.shared.open().remove(&id) else { return false };
        abort.abort();
        self.shared.removed.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// The streams added and not yet gone (ended, removed or dropped).
    pub fn open(&self) -> usize {
        self.shared.open_count()
    }

    /// Whether the merge has ended, so that [`add`](Self::add) fails.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Waits until the merge has ended: an accept loop stops then.
    ///
    /// ```
    /// use weir_shape::Merge;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (merge, sources) = Merge::<u32>::new();
    /// drop(merge);
    /// sources.closed().await;
    /// assert!(sources.is_closed());
    /// # }
    /// ```
    pub async fn closed(&self) {
        self.tx.closed().await;
    }
}
