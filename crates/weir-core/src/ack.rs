//! End-to-end acknowledgements.
//!
//! A source may attach an [`Ack`] to each item. weir fires it exactly once,
//! and only after the item's final outcome is durable: the sink flushed it,
//! the dead-letter sink stored it, or a stage filtered or explicitly
//! discarded it. An item that is abandoned (forced abort) or returned in an
//! error is never acknowledged, so an acking source redelivers it
//! (at-least-once).
//!
//! Sources that attach nothing pay nothing: an [`Acks`] without
//! acknowledgements is an empty enum variant, moved along with the item.
//!
//! There is no synchronization here to model-check (TESTING.md): an
//! acknowledgement is a `FnOnce` owned by its item's envelope and fired by
//! value, so "exactly once" is the type system's, whatever thread fires
//! it. What the tests check is when: after the outcome is durable, and
//! never for an abandoned item (the conformance suite, counting from
//! outside).

use std::fmt;

/// One acknowledgement, fired at most once.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use weir_core::Ack;
///
/// let fired = Arc::new(AtomicUsize::new(0));
/// let counter = fired.clone();
/// let ack = Ack::new(move || {
///     counter.fetch_add(1, Ordering::SeqCst);
/// });
/// ack.fire();
/// assert_eq!(fired.load(Ordering::SeqCst), 1);
/// ```
pub struct Ack(Box<dyn FnOnce() + Send + 'static>);

impl Ack {
    /// Creates an acknowledgement that runs `f` when the item's outcome is durable.
    pub fn new(f: impl FnOnce() + Send + 'static) -> Self {
        Self(Box::new(f))
    }

    /// Fires the acknowledgement.
    pub fn fire(self) {
        (self.0)();
    }
}

impl fmt::Debug for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ack")
    }
}

/// The acknowledgements an item (or a batch of items) carries.
///
/// Dropping an `Acks` without calling [`fire`](Acks::fire) leaves its items
/// unacknowledged, which is what an abandoned item must be.
///
/// # Examples
///
/// ```
/// use weir_core::{Ack, Acks};
///
/// let mut acks = Acks::none();
/// assert!(acks.is_empty());
/// acks.push(Ack::new(|| ()));
/// acks.merge(Acks::from(Ack::new(|| ())));
/// assert_eq!(acks.len(), 2);
/// acks.fire();
/// ```
#[derive(Default)]
pub struct Acks(Inner);

#[derive(Default)]
enum Inner {
    #[default]
    None,
    One(Ack),
    Many(Vec<Ack>),
}

impl Acks {
    /// No acknowledgement: what items from plain streams carry.
    #[inline]
    pub const fn none() -> Self {
        Self(Inner::None)
    }

    /// Number of acknowledgements held.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.0 {
            Inner::None => 0,
            Inner::One(_) => 1,
            Inner::Many(v) => v.len(),
        }
    }

    /// Whether no acknowledgement is held.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds one acknowledgement.
    pub fn push(&mut self, ack: Ack) {
        self.0 = match std::mem::take(&mut self.0) {
            Inner::None => Inner::One(ack),
            Inner::One(first) => Inner::Many(vec![first, ack]),
            Inner::Many(mut v) => {
                v.push(ack);
                Inner::Many(v)
            }
        };
    }

    /// Moves all of `other`'s acknowledgements into `self` (used by batching).
    #[inline]
    pub fn merge(&mut self, other: Acks) {
        match other.0 {
            Inner::None => {}
            Inner::One(ack) => self.push(ack),
            Inner::Many(v) => v.into_iter().for_each(|ack| self.push(ack)),
        }
    }

    /// Fires every acknowledgement held.
    pub fn fire(self) {
        match self.0 {
            Inner::None => {}
            Inner::One(ack) => ack.fire(),
            Inner::Many(v) => v.into_iter().for_each(Ack::fire),
        }
    }
}

impl From<Ack> for Acks {
    fn from(ack: Ack) -> Self {
        Self(Inner::One(ack))
    }
}

impl From<Option<Ack>> for Acks {
    fn from(ack: Option<Ack>) -> Self {
        ack.map_or_else(Acks::none, Acks::from)
    }
}

impl fmt::Debug for Acks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acks").field("len", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counting(n: &Arc<AtomicUsize>) -> Ack {
        let n = n.clone();
        Ack::new(move || {
            n.fetch_add(1, Ordering::SeqCst);
        })
    }

    #[test]
    fn merge_keeps_every_ack_and_fires_each_once() {
        let n = Arc::new(AtomicUsize::new(0));
        let mut a = Acks::from(counting(&n));
        let mut b = Acks::none();
        for _ in 0..3 {
            b.push(counting(&n));
        }
        a.merge(b);
        a.merge(Acks::none());
        assert_eq!(a.len(), 4);
        a.fire();
        assert_eq!(n.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn dropping_does_not_fire() {
        let n = Arc::new(AtomicUsize::new(0));
        drop(Acks::from(counting(&n)));
        assert_eq!(n.load(Ordering::SeqCst), 0);
    }
}
