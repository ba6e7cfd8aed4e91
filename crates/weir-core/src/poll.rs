//! Polling helpers for stage authors who move items in groups.

use std::task::{Context, Poll, Waker};

use futures::{Stream, StreamExt};

/// The next item of `stream` if one is ready now, without waiting and
/// without registering for a wake-up; sets `ended` when the stream ends.
///
/// A stage that hands items over in groups takes the first item with
/// `next().await` and the rest with `ready_now`, so a hot stream moves in
/// batches and a cold one item by item. Cheaper than `now_or_never` on
/// `next()`, which builds a future per item.
///
/// # Examples
///
/// ```
/// use weir_core::poll::ready_now;
///
/// let mut items = futures::stream::iter([1, 2]);
/// let mut ended = false;
/// assert_eq!(ready_now(&mut items, &mut ended), Some(1));
/// assert_eq!(ready_now(&mut items, &mut ended), Some(2));
/// assert_eq!(ready_now(&mut items, &mut ended), None);
/// assert!(ended);
///
/// let mut idle = futures::stream::pending::<u32>();
/// assert_eq!(ready_now(&mut idle, &mut ended), None);
/// ```
#[inline]
pub fn ready_now<St: Stream + Unpin>(stream: &mut St, ended: &mut bool) -> Option<St::Item> {
    match stream.poll_next_unpin(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Some(item)) => Some(item),
        Poll::Ready(None) => {
            *ended = true;
            None
        }
        Poll::Pending => None,
    }
}
