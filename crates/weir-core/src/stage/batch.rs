//! The `batch` stage: groups items into `Vec`s, flushing on whichever comes
//! first: the item limit, the weight limit, or the time since the batch's
//! first item. The partial batch is flushed when the input ends (so also at
//! shutdown). A batch carries the acknowledgements of all its items.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures::Stream;
use futures::stream::{Fuse, StreamExt};
use pin_project_lite::pin_project;
use tokio::time::{Sleep, sleep};

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
    /// Stream for [`Pipeline::batch`](crate::Pipeline::batch).
    #[must_use = "streams do nothing unless polled"]
    pub(crate) struct Batch<St, T, W> {
        #[pin]
        stream: Fuse<St>,
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

impl<St, T, W> Batch<St, T, W>
where
    St: Stream<Item = Envelope<T>>,
    W: FnMut(&T) -> usize,
{
    pub(crate) fn new(stream: St, limits: Limits, weigh: W) -> Self {
        Self {
            stream: stream.fuse(),
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

impl<St, T, W> Stream for Batch<St, T, W>
where
    St: Stream<Item = Envelope<T>>,
    W: FnMut(&T) -> usize,
{
    type Item = Envelope<Vec<T>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            let next = match this.carry.take() {
                Some(carried) => Some(carried),
                None => match this.stream.as_mut().poll_next(cx) {
                    Poll::Ready(Some(env)) => {
                        let w = (this.weigh)(env.item());
                        Some((env, w))
                    }
                    Poll::Ready(None) => None,
                    Poll::Pending => {
                        if this.items.is_empty() || !*this.timed {
                            return Poll::Pending;
                        }
                        ready!(this.deadline.as_mut().poll(cx));
                        return Poll::Ready(Some(take(this.items, this.meta, this.weight)));
                    }
                },
            };
            let Some((env, w)) = next else {
                if this.items.is_empty() {
                    return Poll::Ready(None);
                }
                return Poll::Ready(Some(take(this.items, this.meta, this.weight)));
            };
            if !this.items.is_empty() && this.weight.saturating_add(w) > this.limits.max_weight {
                *this.carry = Some((env, w));
                return Poll::Ready(Some(take(this.items, this.meta, this.weight)));
            }
            if this.items.is_empty() {
                let deadline = deadline_after(this.limits.max_wait);
                *this.timed = deadline.is_some();
                if let Some(at) = deadline {
                    this.deadline.as_mut().reset(at);
                }
            }
            let (item, meta) = env.into_parts();
            this.items.push(item);
            this.meta.merge(meta);
            *this.weight = this.weight.saturating_add(w);
            if this.items.len() >= this.limits.max_items || *this.weight >= this.limits.max_weight {
                return Poll::Ready(Some(take(this.items, this.meta, this.weight)));
            }
        }
    }
}

fn take<T>(items: &mut Vec<T>, meta: &mut Meta, weight: &mut usize) -> Envelope<Vec<T>> {
    *weight = 0;
    Envelope::from_parts(std::mem::take(items), std::mem::take(meta))
}
