//! Drives a pipeline's items into its sink, flushing after each group of
//! ready items and acknowledging them once flushed.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::ack::Acks;
use crate::chunk::{ChunkStream, ChunksExt, MAX_CHUNK};
use crate::control::RunControl;
use crate::envelope::{Envelope, Meta};
use crate::failure::Cause;
use crate::route::FailureRoute;
use crate::sink::{SendChunk, Sink, SinkError};
use crate::stage::StageContext;
use crate::timing::Phase;

/// Items sent before a flush is forced, while items keep coming ready.
const MAX_UNFLUSHED: usize = 1024;

/// Sends every item to the sink; returns `true` when the sink failed for
/// good (the run is then ended by the error recorded in the run's control).
///
/// An item the sink gives back with its error goes to `route` when there
/// is one (the run goes on), else the run ends. Items lost by a failed
/// flush always end the run: they cannot be routed.
pub(crate) async fn drive<T, Si, R>(
    mut input: ChunkStream<T>,
    mut sink: Si,
    mut route: Option<R>,
    ctx: StageContext,
) -> bool
where
    T: Send + 'static,
    Si: Sink<T>,
    R: FailureRoute<T, Si::Error>,
{
    let control = ctx.control();
    let metrics = ctx.metrics();
    let mut acks = Acks::none();
    let mut unflushed = Unflushed::default();
    let mut chunk = Vec::new();
    // Chunks while sends complete at once; one item at a time while they
    // wait, so that a slow sink holds no more items than it did item by
    // item (backpressure bounds stay exact).
    let mut want = 1;
    let mut ended = false;
    let timing = &metrics.timing;
    // While watched: the marks of the items sent since the last flush.
    let mut marks = Vec::new();
    // Idle while it waits for its input, busy the rest of the time.
    loop {
        if ended {
            break;
        }
        timing.switch_now(Phase::Idle);
        if !input.next_chunk(want, &mut chunk).await {
            break;
        }
        timing.switch_now(Phase::Busy);
        let mut sent = 0;
        loop {
            let mut waited = false;
            if timing.is_watched() && crate::timing::marks_alive() {
                marks.extend(chunk.iter().filter_map(|envelope| envelope.meta().born()));
            }
            // O(1) both ways: the chunk's buffer is kept from call to call.
            let mut pending = VecDeque::from(std::mem::take(&mut chunk));
            while !pending.is_empty() {
                let mut items = SendChunk::new(&mut pending, &mut acks, metrics);
                let outcome = Watched::new(sink.send_chunk(&mut items), &mut waited).await;
                let (done, failed) = items.finish(outcome.is_ok());
                unflushed.items += done.items;
                unflushed.retried += done.retried;
                sent += done.envelopes;
                let error = match outcome {
                    Ok(()) => {
                        assert!(
                            done.envelopes > 0,
                            "Sink::send_chunk returned Ok without taking any of the {} items offered: \
                             take at least one item, or return an error",
                            pending.len()
                        );
                        continue;
                    }
                    Err(err) => {
                        assert!(
                            failed.is_some() || err.item().is_none(),
                            "Sink::send_chunk gave an item back with its error without taking one in that \
                             call: an error can only be the last item taken's (fail a whole run in flush)"
                        );
                        (err, failed)
                    }
                };
                if fail(error, &mut sink, &mut route, &ctx).await {
                    // The send error comes first, so the run's error keeps
                    // the item even if the flush of earlier items fails too.
                    flush(&mut sink, &ctx, &mut acks, &mut unflushed).await;
                    return true;
                }
            }
            chunk = Vec::from(pending);
            want = if waited { 1 } else { MAX_CHUNK };
            if sent >= MAX_UNFLUSHED {
                break;
            }
            // What the input's stages spend making the chunk is theirs:
            // the sink waits for it (idle), as it does in `next_chunk`.
            crate::timing::nested_start();
            let ready = input.ready_chunk(want.min(MAX_UNFLUSHED - sent), &mut chunk);
            if timing.is_watched() {
                timing.busy_to_idle(crate::timing::nested_taken());
            }
            match ready {
                // Counted as it goes through a long stretch of sends before
                // a flush (from here if the run was watched only after it
                // started), so that a sampler sees it.
                Some(true) => timing.switch_now(Phase::Busy),
                Some(false) => {
                    ended = true;
                    break;
                }
                None => break,
            }
        }
        if let Some(handing_on) = route.as_mut().and_then(|route| route.on_idle(&control)) {
            handing_on.await;
        }
        if !flush(&mut sink, &ctx, &mut acks, &mut unflushed).await {
            return true;
        }
        if !marks.is_empty() {
            let now = std::time::Instant::now();
            for born in marks.drain(..) {
                timing.record_latency(born, now);
            }
        }
        // A source and sink that are always ready would never give the
        // thread back: on a current-thread runtime nothing else (a Ctrl-C
        // handler, the caller's `shutdown`) would run. Tokio's budget
        // yields once this task has done its share.
        tokio::task::consume_budget().await;
    }
    timing.close();
    if let Some(route) = route {
        route.finish(&control).await;
    }
    false
}

/// An item the sink did not take: routed when the sink has a route and
/// gave the item back (returns `false`, the run goes on), else recorded as
/// the run's error (returns `true`). `meta` is the item's, `None` when the
/// sink failed before taking any item.
async fn fail<T, Si, R>(
    (err, meta): (SinkError<T, Si::Error>, Option<Meta>),
    sink: &mut Si,
    route: &mut Option<R>,
    ctx: &StageContext,
) -> bool
where
    T: Send + 'static,
    Si: Sink<T>,
    R: FailureRoute<T, Si::Error>,
{
    let count = meta.as_ref().map_or(0, Meta::count);
    let attempt = sink.last_attempt().cloned();
    if let Some(attempt) = &attempt {
        ctx.metrics().record_attempts_made(attempt.number(), count);
    }
    let class = err.class();
    let (error, item) = err.into_parts();
    let control = ctx.control();
    let (error, item) = match (route.as_mut(), item, meta) {
        (Some(route), Some(item), Some(meta)) => {
            let envelope = Envelope::from_parts(item, meta);
            let cause = Cause::Error(error);
            let failure = match &attempt {
                Some(attempt) => ctx.failure_after(envelope, cause, class, attempt),
                None => ctx.failure(envelope, cause, class, 1),
            };
            route.route(failure, &control).await;
            return false;
        }
        (_, item, _) => (error, item),
    };
    ctx.metrics().record_returned(count);
    let item = item.map(|i| Box::new(i) as Box<dyn std::any::Any + Send>);
    control.fail_items(ctx.name(), Box::new(error), item, count);
    true
}

pin_project! {
    /// A future that notes whether it had to wait.
    struct Watched<'a, F> {
        #[pin]
        future: F,
        waited: &'a mut bool,
    }
}

impl<'a, F> Watched<'a, F> {
    fn new(future: F, waited: &'a mut bool) -> Self {
        Self { future, waited }
    }
}

impl<F: Future> Future for Watched<'_, F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let polled = this.future.poll(cx);
        if polled.is_pending() {
            **this.waited = true;
        }
        polled
    }
}

/// The route of a sink without one; never called.
#[derive(Debug)]
pub(crate) enum NoRoute {}

impl<T, E> FailureRoute<T, E> for NoRoute {
    type Future = std::future::Ready<()>;
    type Finish = std::future::Ready<()>;

    fn route(&mut self, _: crate::Failure<T, E>, _: &RunControl) -> Self::Future {
        match *self {}
    }

    fn finish(self, _: &RunControl) -> Self::Finish {
        match self {}
    }
}

/// The items sent since the last flush.
#[derive(Debug, Default)]
struct Unflushed {
    items: u64,
    /// Those whose send was retried (counted as retried already).
    retried: u64,
}

/// Flushes the sink; on success counts the items as delivered and
/// acknowledges them, on failure fails the run with them.
async fn flush<T, Si: Sink<T>>(
    sink: &mut Si,
    ctx: &StageContext,
    acks: &mut Acks,
    unflushed: &mut Unflushed,
) -> bool {
    let Unflushed { items: count, retried } = std::mem::take(unflushed);
    let acks = std::mem::take(acks);
    let flushed = sink.flush().await;
    if let Some(attempt) = sink.last_attempt() {
        ctx.metrics().record_flush_attempts(attempt.number(), count, retried);
    }
    match flushed {
        Ok(()) => {
            ctx.metrics().record_delivered(count);
            acks.fire();
            true
        }
        Err(error) => {
            ctx.metrics().record_returned(count);
            let control: RunControl = ctx.control();
            control.fail_items(ctx.name(), Box::new(error), None, count);
            false
        }
    }
}
