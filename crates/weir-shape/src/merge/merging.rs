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

/// The name the streams past `max_names` names are counted under.
const OTHER: &str = "other";

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
    type Item = Turn<T, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(turn) = std::task::ready!(self.stream.poll_next_unpin(cx)) else {
            return Poll::Ready(None);
        };
        Poll::Ready(Some(Turn {
            name: self.name.clone(),
            counts: self.counts.clone(),
            items: turn.into_iter(),
        }))
    }
}

/// A turn being given out: its stream's name and counts, and its items
/// left (counted as they are given out: a turn cut short by the end of
/// the run counts only what the pipeline took).
struct Turn<T, E> {
    name: Arc<str>,
    counts: Arc<NameCounts>,
    items: std::vec::IntoIter<Result<T, E>>,
}

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
    max_names: usize,
    quantum: usize,
    ctx: StageContext,
}

// Nothing in it is pinned: its items are only moved, never polled.
impl<T, E> Unpin for Merging<T, E> {}

impl<T, E> Merging<T, E> {
    pub(super) fn new(
        added: mpsc::UnboundedReceiver<Added<T, E>>,
        shared: Arc<Shared>,
        quantum: usize,
        max_names: usize,
        ctx: StageContext,
    ) -> Self {
        ctx.metrics().gauges(
            &shared,
            &[
                ("sources_added", |s| s.added.load(Ordering::Relaxed)),
                ("sources_open", |s| s.open_count() as u64),
                ("sources_ended", |s| s.ended.load(Ordering::Relaxed)),
                ("sources_removed", |s| s.removed.load(Ordering::Relaxed)),
                ("sources_dropped", |s| s.dropped.load(Ordering::Relaxed)),
            ],
        );
        let streams = SelectAll::new();
        Self { added, no_more: false, streams, turn: None, names: HashMap::new(), max_names, quantum, ctx }
    }

    /// Puts an added stream in line, counted under its name (or under
    /// `other` once `max_names` names are counted).
    fn start(&mut self, Added { name, stream }: Added<T, E>) {
        let counted = if self.names.len() < self.max_names || self.names.contains_key(&name) {
            name.clone()
        } else {
            Arc::from(OTHER)
        };
        let counts = match self.names.get(&counted) {
            Some(counts) => counts.clone(),
            None => {
                let name = &counted;
                let counts = Arc::new(NameCounts::default());
                let metrics = self.ctx.metrics();
                let reading = counts.clone();
                metrics.gauge(format!("source_items:{name}"), move || reading.items.load(Ordering::Relaxed));
                let reading = counts.clone();
                metrics
                    .gauge(format!("source_errors:{name}"), move || reading.errors.load(Ordering::Relaxed));
                self.names.insert(counted.clone(), counts.clone());
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
            if let Some(turn) = &mut this.turn {
                if let Some(result) = turn.items.next() {
                    let result = match result {
                        Ok(item) => {
                            turn.counts.items.fetch_add(1, Ordering::Relaxed);
                            Ok(item)
                        }
                        Err(error) => {
                            turn.counts.errors.fetch_add(1, Ordering::Relaxed);
                            Err(SourceFailed { name: turn.name.clone(), error })
                        }
                    };
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
                Poll::Ready(Some(turn)) => this.turn = Some(turn),
                // No stream now; more may be added unless every handle is gone.
                Poll::Ready(None) if this.no_more => return Poll::Ready(None),
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    }
}
