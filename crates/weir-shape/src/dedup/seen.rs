//! The keys a dedup remembers: a set to look them up and a queue in the
//! order they passed (which is the order they expire in: one TTL for
//! all), within a byte budget counted as the allocator sees it.

use std::collections::VecDeque;
use std::hash::Hash;
use std::mem::size_of;
use std::time::Duration;

use rustc_hash::FxHashSet;
use tokio::time::Instant;

/// What the dedup does with an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Its key did not pass within the TTL: it passes.
    Fresh,
    /// Its key passed within the TTL: it is dropped.
    Repeat,
}

/// A remembered key: when it expires (never, for a TTL past the clock's
/// range), the key, and what it owns on the heap.
type Entry<K> = (Option<Instant>, K, usize);

pub(super) struct Seen<K> {
    set: FxHashSet<K>,
    queue: VecDeque<Entry<K>>,
    ttl: Duration,
    budget: usize,
    /// What the remembered keys own on the heap, both copies.
    heap: usize,
    evicted: u64,
    /// The set's full capacity: the most `capacity()` ever said. That
    /// reports items plus the room left before the table must grow or
    /// rehash, which removals that leave tombstones lower; the table
    /// itself never shrinks.
    full_capacity: usize,
}

/// The bytes of a hash table (std's `HashSet`, hashbrown's layout) whose
/// capacity is `capacity` items of `slot` bytes: its buckets (a power of
/// two: capacity + 1 below 8, else 8/7 of it), a control byte each, and
/// one group's width of control bytes more.
fn table_bytes(capacity: usize, slot: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = if capacity < 8 { capacity + 1 } else { capacity / 7 * 8 };
    buckets * (slot + 1) + 16
}

/// The table's bytes once it grows from `capacity`: twice as many
/// buckets, or from none its first table: four buckets, eight for keys
/// of two or three bytes and sixteen for one-byte keys (hashbrown keeps a
/// small table's allocation from being smaller than a group's width).
fn grown_table_bytes(capacity: usize, slot: usize) -> usize {
    if capacity > 0 {
        return 2 * table_bytes(capacity, slot) - 16;
    }
    let buckets = match slot {
        0 | 1 => 16,
        2 | 3 => 8,
        _ => 4,
    };
    buckets * (slot + 1) + 16
}

/// The least budget that remembers one key of type `K`: the smallest
/// table and queue.
///
/// ```
/// let least = weir_shape::least_budget::<u64>();
/// assert!(least > 0 && least < 1024);
/// ```
pub fn least_budget<K>() -> usize {
    grown_table_bytes(0, size_of::<K>()) + 4 * size_of::<Entry<K>>()
}

impl<K: Hash + Eq + Clone> Seen<K> {
    pub(super) fn new(ttl: Duration, budget: usize) -> Self {
        Self {
            set: FxHashSet::default(),
            queue: VecDeque::new(),
            ttl,
            budget,
            heap: 0,
            evicted: 0,
            full_capacity: 0,
        }
    }

    /// Whether `key` (owning `owned` heap bytes) is a repeat at `now`;
    /// a fresh key is remembered for the TTL, within the budget.
    pub(super) fn admit(&mut self, key: K, owned: usize, now: Instant) -> Verdict {
        self.expire(now);
        if self.set.contains(&key) {
            return Verdict::Repeat;
        }
        if 2 * owned + least_budget::<K>() > self.budget {
            // A key larger than the whole budget: it passes, and is not
            // remembered (forgetting the others would not make room).
            self.evicted += 1;
            return Verdict::Fresh;
        }
        while !self.fits(owned) {
            if !self.forget_oldest() {
                // Even alone it does not fit the tables as they grew: it
                // passes, and is not remembered.
                self.evicted += 1;
                return Verdict::Fresh;
            }
            self.evicted += 1;
        }
        self.set.insert(key.clone());
        self.full_capacity = self.full_capacity.max(self.set.capacity());
        self.queue.push_back((now.checked_add(self.ttl), key, owned));
        self.heap += 2 * owned;
        Verdict::Fresh
    }

    /// Keys remembered now.
    pub(super) fn len(&self) -> usize {
        self.set.len()
    }

    /// The memory the remembered keys take now, as budgeted.
    pub(super) fn bytes(&self) -> usize {
        table_bytes(self.full_capacity, size_of::<K>())
            + self.queue.capacity() * size_of::<Entry<K>>()
            + self.heap
    }

    /// Keys forgotten before their TTL to keep within the budget.
    pub(super) fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Forgets the keys whose TTL ended at or before `now`.
    fn expire(&mut self, now: Instant) {
        while self.queue.front().is_some_and(|(expires, _, _)| expires.is_some_and(|at| at <= now)) {
            self.forget_oldest();
        }
    }

    fn forget_oldest(&mut self) -> bool {
        let Some((_, key, owned)) = self.queue.pop_front() else { return false };
        self.set.remove(&key);
        self.heap -= 2 * owned;
        true
    }

    /// Whether one more key, owning `owned` bytes, keeps within the
    /// budget. The set may grow whenever it is over half full (removed
    /// keys leave tombstones, and hashbrown grows rather than rehash in
    /// place past half its capacity); the queue when it is full. While
    /// either grows, its old and new buffers are both allocated: that
    /// moment must fit too.
    fn fits(&self, owned: usize) -> bool {
        let len = self.set.len() + 1;
        let slot = size_of::<K>();
        let capacity = self.full_capacity;
        let table = table_bytes(capacity, slot);
        let table = if len > capacity / 2 { table + grown_table_bytes(capacity, slot) } else { table };
        let entry = size_of::<Entry<K>>();
        let queue = self.queue.capacity() * entry;
        let queue = if len > self.queue.capacity() { queue + (2 * queue).max(4 * entry) } else { queue };
        table + queue + self.heap + 2 * owned <= self.budget
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_repeat_within_the_ttl_is_dropped_and_does_not_extend_it() {
        let start = Instant::now();
        let mut seen = Seen::new(secs(10), 1 << 20);
        assert_eq!(seen.admit(7u64, 0, start), Verdict::Fresh);
        assert_eq!(seen.admit(7, 0, start + secs(9)), Verdict::Repeat);
        assert_eq!(seen.admit(7, 0, start + secs(10)), Verdict::Fresh, "10 s after it passed");
        assert_eq!(seen.len(), 1);
    }

    #[test]
    fn a_ttl_past_the_clock_means_kept_for_as_long_as_the_budget_allows() {
        let start = Instant::now();
        let mut seen = Seen::new(Duration::MAX, 1 << 20);
        assert_eq!(seen.admit(1u64, 0, start), Verdict::Fresh);
        assert_eq!(seen.admit(1, 0, start + secs(10 * 365 * 24 * 3600)), Verdict::Repeat);
    }

    #[test]
    fn the_budget_holds_with_tombstones_from_expiry() {
        // Keys expire as fast as they come: removals leave tombstones,
        // which lower what `capacity()` says; the budget still holds.
        let start = Instant::now();
        let budget = 2048;
        let mut seen = Seen::new(Duration::from_millis(5), budget);
        for i in 0..20_000u64 {
            seen.admit(i, 0, start + Duration::from_millis(i / 4));
            assert!(seen.bytes() <= budget, "{} bytes after key {i}", seen.bytes());
            assert!(seen.full_capacity >= seen.set.capacity());
        }
    }

    #[test]
    fn the_budget_holds_as_keys_come_and_the_oldest_go_first() {
        let start = Instant::now();
        let budget = 4096;
        let mut seen = Seen::new(secs(3600), budget);
        for key in 0..10_000u64 {
            seen.admit(key, 0, start);
            assert!(seen.bytes() <= budget, "{} bytes after key {key}", seen.bytes());
        }
        assert!(seen.evicted() > 9_000);
        // The newest are remembered, the oldest forgotten.
        assert_eq!(seen.admit(9_999, 0, start), Verdict::Repeat);
        assert_eq!(seen.admit(0, 0, start), Verdict::Fresh);
    }

    #[test]
    fn heap_bytes_count_twice_and_a_key_larger_than_the_budget_is_not_kept() {
        let start = Instant::now();
        let mut seen = Seen::new(secs(60), 2048);
        assert_eq!(seen.admit("a".to_owned(), 100, start), Verdict::Fresh);
        assert!(seen.bytes() >= 200);
        assert_eq!(seen.admit("huge".to_owned(), 5_000, start), Verdict::Fresh);
        assert_eq!(seen.admit("huge".to_owned(), 5_000, start), Verdict::Fresh, "not remembered");
        assert_eq!(seen.admit("a".to_owned(), 100, start), Verdict::Repeat, "not forgotten in vain");
        assert_eq!(seen.evicted(), 2, "the huge key, twice");
    }
}
