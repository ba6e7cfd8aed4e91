//! Fair merge: one pipeline from many sources, added and removed while it
//! runs.

mod merging;
mod sources;

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;

use futures::StreamExt;
use tokio::sync::mpsc;
use weir_core::{BuildError, EnvelopeStream, Pipeline, Source, StageContext};

use merging::Merging;
use sources::{Added, Shared};
pub use sources::{MergeClosed, SourceId, Sources};

/// A source that merges many streams into one pipeline, fairly, with
/// streams added and removed while it runs: the connections a server
/// accepts, the partitions a consumer is assigned.
///
/// [`Merge::new`] gives the merge and its [`Sources`] handle:
/// [`add`](Sources::add) a stream of items, or
/// [`try_add`](Sources::try_add) a stream of `Result`s, each under a name,
/// before or during the run; [`remove`](Sources::remove) one to stop
/// reading it (it is dropped: a socket closes). A stream that ends leaves
/// the merge by itself. The merge ends once every [`Sources`] handle is
/// dropped and every stream has ended; until then it waits for more.
///
/// **Fair.** The streams with items ready take turns, in the order they
/// became ready: each turn takes the items its stream has ready, at most
/// [`quantum`](Merge::quantum) of them, and the stream goes to the back
/// of the line. A stream that always has items (a hot connection) gets one
/// turn per round like the others, so a stream that becomes ready waits
/// for at most the rest of the turn being given out and one turn of each
/// stream in line before it (chained `select`s are exponentially
/// unfair, tokio#2319; a `select` loop can starve its later branches,
/// futures-rs#1414). Only streams that were woken are polled: a merge of
/// ten thousand idle connections costs nothing per item.
///
/// **Backpressure.** A stream is read only when the pipeline asks for
/// items: when the pipeline is saturated, no stream is read, and a
/// socket's own flow control slows its sender. The merge holds at most one
/// turn's items (`quantum`) besides what the streams buffer themselves.
///
/// **Failures.** The merge is a [`Source`] of `Result`s: an `Err` from a
/// stream is a [`SourceFailed`] naming the stream, a failure of that
/// stream only: [`Pipeline::try_from_source`] makes it a failure to
/// dead-letter, discard or halt on, and the other streams go on. The
/// stream that failed is read on (most streams end by themselves after
/// an error, as a frame reader does); [`remove`](Sources::remove) it to
/// stop. A merge of streams that cannot fail
/// ([`Merge::<T>::new`](Merge::new), `E` = [`Infallible`]) gives a plain
/// [`Pipeline`] with [`into_pipeline`](Merge::into_pipeline).
///
/// **Counts.** The source stage's reports carry, as gauges, each name's
/// counts, `source_items:NAME` (items) and `source_errors:NAME` (errors),
/// summed over the streams added under that name and counted as the
/// pipeline takes them, and the merge's own: `sources_added`,
/// `sources_open`, `sources_ended` (ended by themselves),
/// `sources_removed` and `sources_dropped` (open when the merge ended).
/// Name streams by what you want counted (a device, a peer's host), not
/// by something unique to each (a peer's port); past
/// [`max_names`](Merge::max_names) names, the rest count as `other`.
/// When a run stops (shutdown), what the merge read ahead and did not
/// hand out, at most one turn, is dropped with it, uncounted.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use futures::StreamExt;
/// use weir_core::prelude::*;
/// use weir_core::sink;
/// use weir_shape::Merge;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), RunError> {
/// let (merge, sources) = Merge::<u64>::new();
/// // A hot source that always has items, and a slow one.
/// sources.add("hot", futures::stream::iter(0..1000)).unwrap();
/// let slow = futures::stream::iter(1000..1003).then(|i| async move {
///     tokio::time::sleep(Duration::from_millis(1)).await;
///     i
/// });
/// sources.add("slow", slow).unwrap();
/// drop(sources); // no more sources: the merge ends when these do
///
/// let (sink, out) = sink::collect();
/// let report = merge.into_pipeline().sink(sink).run().await?;
/// assert_eq!(out.take().len(), 1003);
/// let source = report.stage("source").unwrap();
/// assert_eq!(source.gauge("source_items:hot"), Some(1000));
/// assert_eq!(source.gauge("source_items:slow"), Some(3));
/// # Ok(())
/// # }
/// ```
pub struct Merge<T, E = Infallible> {
    added: mpsc::UnboundedReceiver<Added<T, E>>,
    shared: Arc<Shared>,
    quantum: usize,
    max_names: usize,
}

impl<T: Send + 'static, E: Send + 'static> Merge<T, E> {
    /// A merge with no stream yet, and the handle that adds them.
    ///
    /// ```
    /// use weir_shape::Merge;
    ///
    /// let (merge, sources) = Merge::<String, std::io::Error>::new();
    /// let id = sources.add("a", futures::stream::iter(["x".to_owned()])).unwrap();
    /// assert_eq!(sources.open(), 1);
    /// assert!(sources.remove(id));
    /// assert_eq!(sources.open(), 0);
    /// # drop(merge);
    /// ```
    pub fn new() -> (Self, Sources<T, E>) {
        let (tx, added) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::default());
        let merge = Self { added, shared: shared.clone(), quantum: 32, max_names: 1024 };
        (merge, Sources::new(tx, shared))
    }

    /// The most items one stream gives per turn (32 by default): higher
    /// amortizes the cost of a turn over more items, lower interleaves
    /// the streams more finely.
    ///
    /// ```
    /// use weir_shape::Merge;
    ///
    /// let (merge, _sources) = Merge::<u32>::new();
    /// let merge = merge.quantum(1); // strict round robin, item by item
    /// assert!(merge.validate().is_ok());
    /// ```
    pub fn quantum(mut self, items: usize) -> Self {
        self.quantum = items;
        self
    }

    /// The most names counted apart (1,024 by default): streams added
    /// under further names are counted under `other` (their errors still
    /// name them), so that names a client chooses (its address) cannot
    /// grow the reports without bound.
    ///
    /// ```
    /// use weir_shape::Merge;
    ///
    /// let (merge, _sources) = Merge::<u32>::new();
    /// let merge = merge.max_names(64);
    /// # drop(merge);
    /// ```
    pub fn max_names(mut self, names: usize) -> Self {
        self.max_names = names;
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// [`InvalidMerge`], whose message says what to change.
    pub fn validate(&self) -> Result<(), InvalidMerge> {
        if self.quantum == 0 {
            return Err(InvalidMerge::ZeroQuantum);
        }
        Ok(())
    }

    fn merging(self, ctx: StageContext) -> Merging<T, E> {
        Merging::new(self.added, self.shared, self.quantum, self.max_names, ctx)
    }
}

impl<T: Send + 'static> Merge<T, Infallible> {
    /// A pipeline from this merge of streams that cannot fail; the source
    /// stage is `"source"`.
    ///
    /// # Examples
    ///
    /// See [`Merge`].
    pub fn into_pipeline(self) -> Pipeline<T> {
        Pipeline::from_source(Infallibly(self))
    }
}

impl<T, E> fmt::Debug for Merge<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Merge").field("quantum", &self.quantum).finish_non_exhaustive()
    }
}

impl<T: Send + 'static, E: Send + 'static> Source for Merge<T, E> {
    type Item = Result<T, SourceFailed<E>>;

    fn validate(&self) -> Result<(), BuildError> {
        Merge::validate(self).map_err(|e| BuildError::invalid("source", e))
    }

    fn start(self, ctx: StageContext) -> EnvelopeStream<Self::Item> {
        self.merging(ctx).boxed()
    }
}

/// A merge of streams that cannot fail, as a source of plain items.
struct Infallibly<T>(Merge<T, Infallible>);

impl<T: Send + 'static> Source for Infallibly<T> {
    type Item = T;

    fn validate(&self) -> Result<(), BuildError> {
        Source::validate(&self.0)
    }

    fn start(self, ctx: StageContext) -> EnvelopeStream<T> {
        self.0
            .merging(ctx)
            .map(|envelope| {
                envelope.map(|result| match result {
                    Ok(item) => item,
                    Err(failed) => match failed.error {},
                })
            })
            .boxed()
    }
}

/// An error from one of a [`Merge`]'s streams, with the stream's name.
///
/// ```
/// use std::io;
/// use weir_shape::SourceFailed;
///
/// let failed = SourceFailed { name: "10.0.0.7".into(), error: io::Error::other("connection reset") };
/// assert_eq!(failed.to_string(), "source 10.0.0.7: connection reset");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("source {name}: {error}")]
pub struct SourceFailed<E> {
    /// The name the stream was added under.
    pub name: Arc<str>,
    /// What it gave.
    #[source]
    pub error: E,
}

/// A [`Merge`] that cannot work; the pipeline refuses it when it is built.
///
/// ```
/// use weir_shape::{InvalidMerge, Merge};
///
/// let (merge, _sources) = Merge::<u32>::new();
/// assert_eq!(merge.quantum(0).validate(), Err(InvalidMerge::ZeroQuantum));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidMerge {
    /// A turn would take no item: nothing would ever be read.
    #[error("the merge's quantum is zero, so no stream would ever be read: give at least 1")]
    ZeroQuantum,
}
