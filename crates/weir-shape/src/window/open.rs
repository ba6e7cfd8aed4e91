//! The open windows: which windows an item belongs to, each window's
//! running fold, and which windows close when.

use std::collections::BTreeMap;
use std::hash::Hash;
use std::time::Duration;

use rustc_hash::FxHashMap;
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
    /// The starts of the windows holding time `t` that end after
    /// `watermark`, latest first. In nanoseconds as `u64` (good until the
    /// year 2554), with one division: 128-bit division cost more than the
    /// rest of an item's way through the stage.
    pub(super) fn starts(self, t: Duration, watermark: Duration) -> Starts {
        let every = as_nanos(self.every).max(1);
        let size = as_nanos(self.size);
        let (t, watermark) = (as_nanos(t), as_nanos(watermark));
        let last = t / every * every;
        if every == size {
            // Tumbling: the one window holding `t`.
            let open = last.saturating_add(size) > watermark;
            return Starts { last, every, count: u64::from(open) };
        }
        let mut count = 0;
        let mut start = Some(last);
        while let Some(s) = start {
            let end = s.saturating_add(size);
            if end <= t || end <= watermark {
                break;
            }
            count += 1;
            start = s.checked_sub(every);
        }
        Starts { last, every, count }
    }
}

/// The starts [`Shape::starts`] gives: `count` of them, `every` apart,
/// from `last` down.
#[derive(Debug, Clone, Copy)]
pub(super) struct Starts {
    last: u64,
    every: u64,
    count: u64,
}

impl Starts {
    pub(super) fn is_empty(self) -> bool {
        self.count == 0
    }

    pub(super) fn len(self) -> usize {
        self.count as usize
    }

    pub(super) fn iter(self) -> impl Iterator<Item = Duration> {
        (0..self.count).map(move |k| Duration::from_nanos(self.last - k * self.every))
    }
}

fn as_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The open windows, by key and start, and their ends in order.
pub(super) struct Open<K, A> {
    /// Keys are the user's (devices, accounts), not an attacker's: a fast
    /// hash without DoS resistance, as the dedup's.
    windows: FxHashMap<(K, Duration), Acc<A>>,
    by_end: BTreeMap<Duration, Vec<K>>,
    size: Duration,
}

impl<K: Hash + Eq + Clone, A> Open<K, A> {
    pub(super) fn new(size: Duration) -> Self {
        Self { windows: FxHashMap::default(), by_end: BTreeMap::new(), size }
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
            by_end.entry(start.saturating_add(size)).or_default().push(key.clone());
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
        assert_eq!(shape.starts(s(0), s(0)).iter().collect::<Vec<_>>(), [s(0)]);
        assert_eq!(shape.starts(s(59), s(0)).iter().collect::<Vec<_>>(), [s(0)]);
        assert_eq!(shape.starts(s(60), s(0)).iter().collect::<Vec<_>>(), [s(60)]);
    }

    #[test]
    fn sliding_windows_hold_each_time_size_over_every_times() {
        let shape = Shape { size: s(60), every: s(20) };
        assert_eq!(shape.starts(s(65), s(0)).iter().collect::<Vec<_>>(), [s(60), s(40), s(20)]);
        assert_eq!(shape.starts(s(10), s(0)).iter().collect::<Vec<_>>(), [s(0)], "none before the epoch");
        let uneven = Shape { size: s(50), every: s(20) };
        assert_eq!(uneven.starts(s(65), s(0)).iter().collect::<Vec<_>>(), [s(60), s(40), s(20)]);
        assert_eq!(uneven.starts(s(75), s(0)).iter().collect::<Vec<_>>(), [s(60), s(40)]);
        assert_eq!(
            shape.starts(s(65), s(80)).iter().collect::<Vec<_>>(),
            [s(60), s(40)],
            "not those the watermark passed"
        );
        assert!(shape.starts(s(65), s(120)).is_empty());
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
