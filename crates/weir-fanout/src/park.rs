//! The parking task: items waiting for a retry sleep here, on one timer
//! wheel for the whole stage, and go back to the front of their queue when
//! their delay is over, for whichever worker is free first.
//!
//! A parked item holds no worker (the design's eighth guarantee) and, once
//! due, waits for no worker in particular (the ninth).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio_util::time::DelayQueue;

use crate::dispatch::Dispatch;
use crate::job::Job;

/// The longest an item is parked: the timer wheel takes delays up to about
/// two years; a longer one (a huge cap or Retry-After) waits a year.
const MAX_PARK: Duration = Duration::from_secs(365 * 24 * 3600);

/// An item to park: its queue (the worker's lane), the item and its delay.
pub(crate) type Parked<T> = (usize, Job<T>, Duration);

/// Where workers park items.
pub(crate) type ParkSender<T> = UnboundedSender<Parked<T>>;

/// Runs until every worker is gone. Workers exit only once every item is
/// finished, so nothing is parked then.
///
/// `parked_now` holds how many items are parked, for the stage's
/// `retries_parked` gauge.
pub(crate) async fn park<T>(
    mut incoming: UnboundedReceiver<Parked<T>>,
    queues: Vec<Arc<Dispatch<T>>>,
    parked_now: Arc<AtomicU64>,
) {
    let mut parked: DelayQueue<(usize, Job<T>)> = DelayQueue::new();
    loop {
        tokio::select! {
            biased;
            Some(first) = futures::future::poll_fn(|cx| parked.poll_expired(cx)), if !parked.is_empty() => {
                // Every item due now, in the order they were parked.
                let mut due = vec![first.into_inner()];
                while let Some(Some(next)) = futures::future::poll_fn(|cx| parked.poll_expired(cx)).now_or_never() {
                    due.push(next.into_inner());
                }
                parked_now.store(parked.len() as u64, Relaxed);
                for (lane, queue) in queues.iter().enumerate() {
                    let mine: Vec<Job<T>> =
                        due.extract_if(.., |(l, _)| *l == lane).map(|(_, job)| job).collect();
                    if !mine.is_empty() {
                        queue.give_back(mine.into_iter());
                    }
                }
            }
            next = incoming.recv() => match next {
                Some((lane, job, delay)) => {
                    parked.insert((lane, job), delay.min(MAX_PARK));
                    parked_now.store(parked.len() as u64, Relaxed);
                }
                None => return,
            },
        }
    }
}
