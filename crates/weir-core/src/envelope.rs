//! The unit that travels between stages: an item with its acknowledgements.

use crate::ack::{Ack, Acks};

/// An item on its way through a pipeline, with the acknowledgements of the
/// source items it stands for and their count.
///
/// A plain item stands for one source item; a batch made by
/// [`Pipeline::batch`](crate::Pipeline::batch) stands for all the items in
/// it, so that every report counts source items, not envelopes. Custom
/// [`Stage`](crate::Stage)s receive and return envelopes so that
/// acknowledgements survive them.
///
/// # Examples
///
/// ```
/// use weir_core::Envelope;
///
/// let env = Envelope::new(20).map(|x| x + 1);
/// assert_eq!(env.count(), 1);
/// assert_eq!(*env.item(), 21);
/// ```
#[derive(Debug)]
pub struct Envelope<T> {
    item: T,
    acks: Acks,
    count: u64,
}

impl<T> Envelope<T> {
    /// Wraps a single source item that carries no acknowledgement.
    pub fn new(item: T) -> Self {
        Self { item, acks: Acks::none(), count: 1 }
    }

    /// Wraps a single source item with its acknowledgement.
    pub fn with_ack(item: T, ack: Ack) -> Self {
        Self { item, acks: Acks::from(ack), count: 1 }
    }

    /// Rebuilds an envelope from its parts (see [`into_parts`](Self::into_parts)).
    pub fn from_parts(item: T, acks: Acks, count: u64) -> Self {
        Self { item, acks, count }
    }

    /// The item.
    pub fn item(&self) -> &T {
        &self.item
    }

    /// The item, mutably.
    pub fn item_mut(&mut self) -> &mut T {
        &mut self.item
    }

    /// How many source items this envelope stands for.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Transforms the item and keeps its acknowledgements.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Envelope<U> {
        Envelope { item: f(self.item), acks: self.acks, count: self.count }
    }

    /// Splits the envelope. Whoever holds the [`Acks`] is responsible for
    /// firing them once the outcome is durable, or dropping them to have
    /// the items redelivered.
    pub fn into_parts(self) -> (T, Acks, u64) {
        (self.item, self.acks, self.count)
    }

    /// Fires the acknowledgements (the item's outcome is final and durable)
    /// and returns the item.
    pub fn ack(self) -> T {
        self.acks.fire();
        self.item
    }
}
