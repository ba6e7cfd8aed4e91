//! The merged stream: streams take turns in the order they became ready.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use futures::stream::{ReadyChunks, SelectAll};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use weir_core::{Envelope, StageContext};

use super::SourceFailed;
use super::sources::{Added, Open, Shared};

/// The counts of the streams added under one name.
#[derive(Default)]
struct NameCounts {
    items: AtomicU64,
    errors: AtomicU64,
}

/// One stream's turns: each is the items it has ready, at most a quantum.
/// `futures`' `SelectAll` runs the turns: it polls only the streams that
/// were woken, in the order they were, and puts a stream that gave a turn
/// at the back of the line.
struct Turns<T, E> {
    stream: ReadyChunks<Open<T, E>>,
    name: Arc<str>,
    counts: Arc<NameCounts>,
}

impl<T, E> Stream for Turns<T, E> {
    type Item = (Arc<str>, Vec<Result<T, E>>);

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(turn) = std::task::ready!(self.stream.poll_next_unpin(cx)) else {
            return Poll::Ready(None);
        };
        let errors = turn.iter().filter(|r| r.is_err()).count() as u64;
        self.counts.items.fetch_add(turn.len() as u64 - errors, Ordering::Relaxed);
        self.counts.errors.fetch_add(errors, Ordering::Relaxed);
        Poll::Ready(Some((self.name.clone(), turn)))
    }
}

/// A turn being given out: its stream's name, and its items left.
type Turn<T, E> = (Arc<str>, std::vec::IntoIter<Result<T, E>>);

/// The merge, running: takes in added streams, and gives their items turn
/// by turn.
pub(super) struct Merging<T, E> {
    added: mpsc::UnboundedReceiver<Added<T, E>>,
    /// Every handle is gone: no stream will be added.
    no_more: bool,
    streams: SelectAll<Turns<T, E>>,
    /// The turn being given out, and its stream's name.
    turn: Option<Turn<T, E>>,
    names: HashMap<Arc<str>, Arc<NameCounts>>,
    quantum: usize,
    ctx: StageContext,
}

// Nothing in it is pinned: its items are only moved, never polled.
impl<T, E> Unpin for Merging<T, E> {}

/// Which of the shared counts a gauge reads.
type Reading = fn(&Shared) -> u64;

impl<T, E> Merging<T, E> {
    pub(super) fn new(
        added: mpsc::UnboundedReceiver<Added<T, E>>,
        shared: Arc<Shared>,
        quantum: usize,
        ctx: StageContext,
    ) -> Self {
        let gauges: [(&str, Reading); 4] = [
            ("sources_added", |s| s.added.load(Ordering::Relaxed)),
            ("sources_open", |s| s.open_count() as u64),
            ("sources_ended", |s| s.ended.load(Ordering::Relaxed)),
            ("sources_removed", |s| s.removed.load(Ordering::Relaxed)),
        ];
        for (name, read) in gauges {
            let shared = shared.clone();
            ctx.metrics().gauge(name, move || read(&shared));
        }
        let streams = SelectAll::new();
        Self { added, no_more: false, streams, turn: None, names: HashMap::new(), quantum, ctx }
    }

    /// Puts an added stream in line, counted under its name.
    fn start(&mut self, Added { name, stream }: Added<T, E>) {
        let counts = match self.names.get(&name) {
            Some(counts) => counts.clone(),
            None => {
                let counts = Arc::new(NameCounts::default());
                let metrics = self.ctx.metrics();
                let reading = counts.clone();
                metrics.gauge(format!("source_items:{name}"), move || reading.items.load(Ordering::Relaxed));
                let reading = counts.clone();
                metrics
                    .gauge(format!("source_errors:{name}"), move || reading.errors.load(Ordering::Relaxed));
                self.names.insert(name.clone(), counts.clone());
                counts
            }
        };
        self.streams.push(Turns { stream: stream.ready_chunks(self.quantum), name, counts });
    }
}

impl<T, E> Stream for Merging<T, E> {
    type Item = Envelope<Result<T, SourceFailed<E>>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some((name, turn)) = &mut this.turn {
                if let Some(result) = turn.next() {
                    let result = result.map_err(|error| SourceFailed { name: name.clone(), error });
                    return Poll::Ready(Some(Envelope::new(result)));
                }
                this.turn = None;
            }
            while !this.no_more {
                match this.added.poll_recv(cx) {
                    Poll::Ready(Some(added)) => this.start(added),
                    Poll::Ready(None) => this.no_more = true,
                    Poll::Pending => break,
                }
            }
            match this.streams.poll_next_unpin(cx) {
                Poll::Ready(Some(turn)) => this.turn = Some((turn.0, turn.1.into_iter())),
                // No stream now; more may be added unless every handle is gone.
                Poll::Ready(None) if this.no_more => return Poll::Ready(None),
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    }
}
