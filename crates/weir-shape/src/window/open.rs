//! The open windows: which windows an item belongs to, each window's
//! running fold, and which windows close when.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::time::Duration;

use weir_core::Meta;

/// A window's running aggregate and the items folded into it.
pub(super) struct Acc<A> {
    pub(super) value: A,
    pub(super) items: u64,
    /// The acknowledgements and counts of the items whose last window
    /// this is: they fire when its output is delivered.
    pub(super) meta: Meta,
}

/// A window that closed: its key, bounds (since the Unix epoch) and result.
pub(super) struct Closed<K, A> {
    pub(super) key: K,
    pub(super) start: Duration,
    pub(super) end: Duration,
    pub(super) acc: Acc<A>,
}

/// Window sizes: `size` long, one starting every `every` (tumbling when
/// they are equal).
#[derive(Debug, Clone, Copy)]
pub(super) struct Shape {
    pub(super) size: Duration,
    pub(super) every: Duration,
}

impl Shape {
    /// The starts of the windows holding time `t`, latest first.
    pub(super) fn starts(self, t: Duration) -> impl Iterator<Item = Duration> {
        let every = self.every.as_nanos();
        let t = t.as_nanos();
        let last = t / every * every;
        let size = self.size.as_nanos();
        (0..)
            .map(move |k| last.checked_sub(k * every))
            .take_while(move |start| start.is_some_and(|start| start + size > t))
            .map(|start| nanos(start.unwrap_or(0)))
    }
}

fn nanos(n: u128) -> Duration {
    Duration::new((n / 1_000_000_000) as u64, (n % 1_000_000_000) as u32)
}

/// The open windows, by key and start, and their ends in order.
pub(super) struct Open<K, A> {
    windows: HashMap<(K, Duration), Acc<A>>,
    by_end: BTreeMap<Duration, Vec<K>>,
    size: Duration,
}

impl<K: Hash + Eq + Clone, A> Open<K, A> {
    pub(super) fn new(size: Duration) -> Self {
        Self { windows: HashMap::new(), by_end: BTreeMap::new(), size }
    }

    pub(super) fn len(&self) -> usize {
        self.windows.len()
    }

    pub(super) fn contains(&self, key: &K, start: Duration) -> bool {
        self.windows.contains_key(&(key.clone(), start))
    }

    /// The window `key`, `start`, opened with `init` if it is not open.
    pub(super) fn entry(&mut self, key: &K, start: Duration, init: impl FnOnce() -> A) -> &mut Acc<A> {
        let size = self.size;
        let by_end = &mut self.by_end;
        self.windows.entry((key.clone(), start)).or_insert_with(|| {
            by_end.entry(start + size).or_default().push(key.clone());
            Acc { value: init(), items: 0, meta: Meta::default() }
        })
    }

    /// The earliest end of an open window.
    pub(super) fn next_end(&self) -> Option<Duration> {
        self.by_end.keys().next().copied()
    }

    /// Closes the windows that end at or before `until`, earliest first.
    pub(super) fn close_until(&mut self, until: Duration, out: &mut impl FnMut(Closed<K, A>)) {
        while let Some(entry) = self.by_end.first_entry() {
            if *entry.key() > until {
                break;
            }
            let (end, keys) = entry.remove_entry();
            let start = end - self.size;
            for key in keys {
                if let Some(acc) = self.windows.remove(&(key.clone(), start)) {
                    out(Closed { key, start, end, acc });
                }
            }
        }
    }

    /// Closes the windows with the earliest end (to make room).
    pub(super) fn close_earliest(&mut self, out: &mut impl FnMut(Closed<K, A>)) {
        if let Some(end) = self.next_end() {
            self.close_until(end, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn tumbling_windows_hold_each_time_once() {
        let shape = Shape { size: s(60), every: s(60) };
        assert_eq!(shape.starts(s(0)).collect::<Vec<_>>(), [s(0)]);
        assert_eq!(shape.starts(s(59)).collect::<Vec<_>>(), [s(0)]);
        assert_eq!(shape.starts(s(60)).collect::<Vec<_>>(), [s(60)]);
    }

    #[test]
    fn sliding_windows_hold_each_time_size_over_every_times() {
        let shape = Shape { size: s(60), every: s(20) };
        assert_eq!(shape.starts(s(65)).collect::<Vec<_>>(), [s(60), s(40), s(20)]);
        assert_eq!(shape.starts(s(10)).collect::<Vec<_>>(), [s(0)], "none before the epoch");
        let uneven = Shape { size: s(50), every: s(20) };
        assert_eq!(uneven.starts(s(65)).collect::<Vec<_>>(), [s(60), s(40), s(20)]);
        assert_eq!(uneven.starts(s(75)).collect::<Vec<_>>(), [s(60), s(40)]);
    }

    #[test]
    fn windows_close_in_order_of_their_ends() {
        let mut open: Open<&str, u32> = Open::new(s(10));
        open.entry(&"b", s(10), || 0).value += 1;
        open.entry(&"a", s(0), || 0).value += 2;
        open.entry(&"a", s(10), || 0).value += 3;
        let mut closed = Vec::new();
        open.close_until(s(15), &mut |c| closed.push((c.key, c.start, c.acc.value)));
        assert_eq!(closed, [("a", s(0), 2)]);
        open.close_until(s(20), &mut |c| closed.push((c.key, c.start, c.acc.value)));
        assert_eq!(closed[1..].len(), 2);
        assert_eq!(open.len(), 0);
    }
}
