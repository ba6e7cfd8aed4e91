//! The unit that travels between stages: an item with its metadata.

use std::time::{Instant, SystemTime};

use crate::ack::{Ack, Acks};

/// An item on its way through a pipeline, with its [`Meta`]: the
/// acknowledgements of the source items it stands for, their count, and
/// the failure history of a replayed item.
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
    meta: Meta,
}

/// What an [`Envelope`] carries besides its item.
///
/// # Examples
///
/// ```
/// use weir_core::{Envelope, History};
///
/// let first = std::time::SystemTime::UNIX_EPOCH;
/// let env = Envelope::new("replayed").with_history(History::new(3, first));
/// let (item, meta) = env.into_parts();
/// assert_eq!((meta.count(), meta.ack_count()), (1, 0));
/// assert_eq!(meta.history().map(History::attempts), Some(3));
/// ```
#[derive(Debug, Default)]
pub struct Meta {
    count: u64,
    /// Acknowledgements and history, boxed: most items have neither, and
    /// an envelope moves through every stage, so it is kept small.
    extra: Option<Box<Extra>>,
}

#[derive(Debug, Default)]
struct Extra {
    acks: Acks,
    history: Option<History>,
    /// When a watched source marked the item, for latency (see `timing`).
    born: Option<Instant>,
}

impl Drop for Extra {
    fn drop(&mut self) {
        if self.born.is_some() {
            crate::timing::mark_gone();
        }
    }
}

/// The failure history of an item that failed before (a replayed dead
/// letter): if it fails again, its new failure continues this history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    attempts: u32,
    first_failed_at: SystemTime,
}

impl History {
    /// A history of `attempts` earlier attempts, the first failure at `first_failed_at`.
    pub fn new(attempts: u32, first_failed_at: SystemTime) -> Self {
        Self { attempts, first_failed_at }
    }

    /// Attempts made before.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// When the item first failed.
    pub fn first_failed_at(&self) -> SystemTime {
        self.first_failed_at
    }
}

impl Meta {
    /// Metadata for `count` source items with their acknowledgements.
    pub fn new(acks: Acks, count: u64) -> Self {
        let extra = (!acks.is_empty()).then(|| Box::new(Extra { acks, history: None, born: None }));
        Self { count, extra }
    }

    /// How many acknowledgements the envelope carries.
    pub fn ack_count(&self) -> usize {
        self.extra.as_ref().map_or(0, |e| e.acks.len())
    }

    /// How many source items the envelope stands for.
    #[inline]
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The failure history, for a replayed item.
    pub fn history(&self) -> Option<&History> {
        self.extra.as_ref().and_then(|e| e.history.as_ref())
    }

    /// When a watched source marked the item (see [`StageTiming`](crate::StageTiming)).
    #[inline]
    pub(crate) fn born(&self) -> Option<Instant> {
        self.extra.as_ref().and_then(|e| e.born)
    }

    pub(crate) fn mark_born(&mut self, at: Instant) {
        let extra = self.extra.get_or_insert_with(Box::default);
        if extra.born.is_none() {
            crate::timing::mark_made();
        }
        extra.born = Some(at);
    }

    fn set_history(&mut self, history: History) {
        self.extra.get_or_insert_with(Box::default).history = Some(history);
    }

    /// Fires the acknowledgements.
    pub fn ack(self) {
        if let Some(mut extra) = self.extra {
            std::mem::take(&mut extra.acks).fire();
        }
    }

    /// Splits into acknowledgements, count and history.
    #[inline]
    pub fn into_parts(self) -> (Acks, u64, Option<History>) {
        match self.extra {
            None => (Acks::none(), self.count, None),
            Some(mut extra) => (std::mem::take(&mut extra.acks), self.count, extra.history.take()),
        }
    }

    /// Moves the acknowledgements into `acks` and returns the count (for a
    /// sink driver that acknowledges a group of items after a flush).
    #[inline]
    pub(crate) fn drain_into(self, acks: &mut Acks) -> u64 {
        if let Some(mut extra) = self.extra {
            acks.merge(std::mem::take(&mut extra.acks));
        }
        self.count
    }

    /// Adds `other`'s items to these (used by batching; a batch keeps no history).
    #[inline]
    pub fn merge(&mut self, other: Meta) {
        self.count += other.count;
        if let Some(mut theirs) = other.extra {
            let ours = self.extra.get_or_insert_with(Box::default);
            ours.acks.merge(std::mem::take(&mut theirs.acks));
            // A batch is as old as its oldest marked item; the other mark,
            // if any, ends with `theirs`.
            if let Some(b) = theirs.born
                && ours.born.is_none_or(|a| b < a)
            {
                theirs.born = ours.born;
                ours.born = Some(b);
            }
        }
        if let Some(ours) = self.extra.as_mut() {
            ours.history = None;
        }
    }
}

impl<T> Envelope<T> {
    /// Wraps a single source item that carries no acknowledgement.
    pub fn new(item: T) -> Self {
        Self { item, meta: Meta { count: 1, extra: None } }
    }

    /// Wraps a single source item with its acknowledgement.
    pub fn with_ack(item: T, ack: Ack) -> Self {
        Self { item, meta: Meta::new(Acks::from(ack), 1) }
    }

    /// Attaches the failure history of an item that failed before.
    pub fn with_history(mut self, history: History) -> Self {
        self.meta.set_history(history);
        self
    }

    /// Rebuilds an envelope from its parts (see [`into_parts`](Self::into_parts)).
    pub fn from_parts(item: T, meta: Meta) -> Self {
        Self { item, meta }
    }

    /// The item.
    pub fn item(&self) -> &T {
        &self.item
    }

    /// The item, mutably.
    pub fn item_mut(&mut self) -> &mut T {
        &mut self.item
    }

    /// The metadata, mutably (for the latency mark).
    pub(crate) fn meta_mut(&mut self) -> &mut Meta {
        &mut self.meta
    }

    /// The metadata.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// How many source items this envelope stands for.
    pub fn count(&self) -> u64 {
        self.meta.count
    }

    /// Transforms the item and keeps its metadata.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Envelope<U> {
        Envelope { item: f(self.item), meta: self.meta }
    }

    /// Splits the envelope. Whoever holds the [`Meta`] is responsible for
    /// firing its acknowledgements once the outcome is durable, or dropping
    /// them to have the items redelivered.
    pub fn into_parts(self) -> (T, Meta) {
        (self.item, self.meta)
    }

    /// Fires the acknowledgements (the item's outcome is final and durable)
    /// and returns the item.
    pub fn ack(self) -> T {
        self.meta.ack();
        self.item
    }
}
