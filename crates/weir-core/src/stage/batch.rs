//! The `batch` stage: groups items into `Vec`s, flushing on whichever comes
//! first: the item limit, the weight limit, or the time since the batch's
//! first item. The partial batch is flushed when the input ends (so also at
//! shutdown). A batch carries the acknowledgements of all its items.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Sleep, sleep};

use crate::chunk::{Chunks, MAX_CHUNK};
use crate::envelope::{Envelope, Meta};
use crate::time::deadline_after;

/// The limits of a batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_items: usize,
    pub(crate) max_weight: usize,
    pub(crate) max_wait: Duration,
}

pin_project! {
    /// Chunks for [`Pipeline::batch`](crate::Pipeline::batch).
    #[must_use = "chunks do nothing unless polled"]
    pub(crate) struct Batch<C, T, W> {
        input: C,
        // Items pulled and not yet in a batch, the next one last.
        inbox: Vec<Envelope<T>>,
        ended: bool,
        #[pin]
        deadline: Sleep,
        // Whether `deadline` applies to the batch being filled: not when
        // `max_wait` is so long that it means "never".
        timed: bool,
        limits: Limits,
        weigh: W,
        items: Vec<T>,
        meta: Meta,
        weight: usize,
        carry: Option<(Envelope<T>, usize)>,
    }
}

impl<C, T, W> Batch<C, T, W>
where
    C: Chunks<Item = Envelope<T>>,
    W: FnMut(&T) -> usize,
{
    pub(crate) fn new(input: C, limits: Limits, weigh: W) -> Self {
        Self {
            input,
            inbox: Vec::new(),
            ended: false,
            deadline: sleep(Duration::ZERO),
            timed: false,
            limits,
            weigh,
            items: Vec::new(),
            meta: Meta::default(),
            weight: 0,
            carry: None,
        }
    }
}

impl<C, T, W> Chunks for Batch<C, T, W>
where
    C: Chunks<Item = Envelope<T>> + Unpin,
    W: FnMut(&T) -> usize,
{
    type Item = Envelope<Vec<T>>;

    fn poll_chunk(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        want: usize,
        out: &mut Vec<Envelope<Vec<T>>>,
    ) -> Poll<bool> {
        let mut this = self.project();
        let before = out.len();
        loop {
            if out.len() - before >= want.max(1) {
                return Poll::Ready(true);
            }
            if this.limits.max_weight == usize::MAX && this.carry.is_none() && !this.inbox.is_empty() {
                // No weight limit (`batch`): the ready items join the batch
                // in one move, with no weighing.
                if this.items.is_empty() {
                    *this.timed = start_clock(this.limits.max_wait, this.deadline.as_mut());
                }
                let n = (this.limits.max_items - this.items.len()).min(this.inbox.len());
                let from = this.inbox.len() - n;
                let (items, meta) = (&mut *this.items, &mut *this.meta);
                items.extend(this.inbox.drain(from..).rev().map(|env| {
                    let (item, m) = env.into_parts();
                    meta.merge(m);
                    item
                }));
                if this.items.len() >= this.limits.max_items {
                    out.push(take(this.items, this.meta, this.weight));
                }
                continue;
            }
            let next = this.carry.take().or_else(|| {
                let env = this.inbox.pop()?;
                let w = (this.weigh)(env.item());
                Some((env, w))
            });
            if let Some((env, w)) = next {
                if !this.items.is_empty() && this.weight.saturating_add(w) > this.limits.max_weight {
                    *this.carry = Some((env, w));
                    out.push(take(this.items, this.meta, this.weight));
                    continue;
                }
                if this.items.is_empty() {
                    *this.timed = start_clock(this.limits.max_wait, this.deadline.as_mut());
                }
                let (item, meta) = env.into_parts();
                this.items.push(item);
                this.meta.merge(meta);
                *this.weight = this.weight.saturating_add(w);
                if this.items.len() >= this.limits.max_items || *this.weight >= this.limits.max_weight {
                    out.push(take(this.items, this.meta, this.weight));
                }
                continue;
            }
            if *this.ended {
                if !this.items.is_empty() {
                    out.push(take(this.items, this.meta, this.weight));
                }
                return Poll::Ready(out.len() > before);
            }
            let room = this.limits.max_items.saturating_sub(this.items.len()).clamp(1, MAX_CHUNK);
            match Pin::new(&mut *this.input).poll_chunk(cx, room, this.inbox) {
                Poll::Ready(true) => this.inbox.reverse(),
                Poll::Ready(false) => *this.ended = true,
                Poll::Pending => {
                    if out.len() > before {
                        return Poll::Ready(true);
                    }
                    if this.items.is_empty() || !*this.timed {
                        return Poll::Pending;
                    }
                    ready!(this.deadline.as_mut().poll(cx));
                    out.push(take(this.items, this.meta, this.weight));
                    return Poll::Ready(true);
                }
            }
        }
    }
}

/// Starts the clock of a batch that just got its first item: its deadline
/// is `max_wait` from now; `false` when `max_wait` means "never".
fn start_clock(max_wait: Duration, deadline: Pin<&mut Sleep>) -> bool {
    let at = deadline_after(max_wait);
    if let Some(at) = at {
        deadline.reset(at);
    }
    at.is_some()
}

fn take<T>(items: &mut Vec<T>, meta: &mut Meta, weight: &mut usize) -> Envelope<Vec<T>> {
    *weight = 0;
    Envelope::from_parts(std::mem::take(items), std::mem::take(meta))
}
