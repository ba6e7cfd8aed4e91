//! The limiter's state: one theoretical arrival time per key (GCRA), the
//! key's counts, and the eviction of keys whose bucket is full again.

use std::collections::hash_map::Entry;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rustc_hash::FxHashMap;
use tokio::time::Instant;

use super::{InvalidRate, Rate};

/// The fewest keys before a sweep for full buckets.
const SWEEP_FROM: usize = 1024;

/// What happened to one key's items, while its state is kept.
///
/// ```
/// use weir_flow::KeyCounts;
///
/// assert_eq!(KeyCounts::default().passed, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyCounts {
    /// Items that passed.
    pub passed: u64,
    /// Items that waited before passing (throttled).
    pub waited: u64,
    /// Items refused (enforced).
    pub limited: u64,
}

/// Totals over every key, evicted ones included.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Totals {
    pub(crate) evicted: u64,
}

/// Why an item may not pass now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Its key has room after this long.
    Wait(Duration),
    /// It costs more than a burst: it could never pass.
    Never { cost: u32, burst: u32 },
    /// Its key's quota is a rate that cannot work.
    Invalid(InvalidRate),
}

struct State {
    /// When the key's bucket would be full again (its theoretical arrival
    /// time); at or before now, the key is as good as unseen.
    tat: Instant,
    interval: Duration,
    burst: u32,
    counts: KeyCounts,
}

struct Inner<K> {
    keys: FxHashMap<K, State>,
    /// Keys left by the last sweep: the next sweep comes at twice as many.
    after_sweep: usize,
    totals: Totals,
}

pub(crate) struct Keys<K>(Mutex<Inner<K>>);

impl<K> Default for Keys<K> {
    fn default() -> Self {
        Self(Mutex::new(Inner { keys: FxHashMap::default(), after_sweep: 0, totals: Totals::default() }))
    }
}

impl<K: Hash + Eq + Clone> Keys<K> {
    fn lock(&self) -> MutexGuard<'_, Inner<K>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes `cost` units from `key`'s bucket (its rate from `rate` when
    /// the key is new), or says why not. `clamp`: a cost above the burst
    /// takes a full bucket instead of being refused for ever.
    pub(crate) fn take(
        &self,
        key: &K,
        cost: u32,
        clamp: bool,
        rate: impl FnOnce() -> Rate,
        now: Instant,
    ) -> Result<(), Refusal> {
        let mut inner = self.lock();
        inner.sweep(now);
        let state = match inner.keys.entry(key.clone()) {
            Entry::Occupied(state) => state.into_mut(),
            Entry::Vacant(vacant) => {
                let rate = rate();
                rate.validate().map_err(Refusal::Invalid)?;
                vacant.insert(State {
                    tat: now,
                    interval: rate.interval(),
                    burst: rate.burst_units(),
                    counts: KeyCounts::default(),
                })
            }
        };
        let cost = match (cost > state.burst, clamp) {
            (true, true) => state.burst,
            (true, false) => return Err(Refusal::Never { cost, burst: state.burst }),
            (false, _) => cost,
        };
        let next = state.tat.max(now) + state.interval * cost;
        let room_until = now + state.interval * state.burst;
        if next <= room_until {
            state.tat = next;
            state.counts.passed += 1;
            Ok(())
        } else {
            Err(Refusal::Wait(next - room_until))
        }
    }

    /// Counts an item of `key` that waited before it passed.
    pub(crate) fn waited(&self, key: &K) {
        let mut inner = self.lock();
        if let Some(state) = inner.keys.get_mut(key) {
            state.counts.waited += 1;
        }
    }

    /// Counts an item of `key` refused.
    pub(crate) fn limited(&self, key: &K) {
        let mut inner = self.lock();
        if let Some(state) = inner.keys.get_mut(key) {
            state.counts.limited += 1;
        }
    }

    pub(crate) fn counts(&self, key: &K) -> Option<KeyCounts> {
        self.lock().keys.get(key).map(|state| state.counts)
    }

    pub(crate) fn busiest(&self, n: usize) -> Vec<(K, KeyCounts)> {
        let inner = self.lock();
        let mut keys: Vec<(K, KeyCounts)> =
            inner.keys.iter().map(|(key, state)| (key.clone(), state.counts)).collect();
        keys.sort_by_key(|(_, counts)| std::cmp::Reverse(counts.waited + counts.limited));
        keys.truncate(n);
        keys
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().keys.len()
    }

    pub(crate) fn totals(&self) -> Totals {
        self.lock().totals
    }
}

impl<K: Hash + Eq> Inner<K> {
    /// Drops the keys whose bucket is full again, once there are twice as
    /// many keys as the last sweep left (and at least [`SWEEP_FROM`]): an
    /// amortized constant cost per item, and memory bounded by the keys
    /// active within one burst's time.
    fn sweep(&mut self, now: Instant) {
        if self.keys.len() < SWEEP_FROM.max(2 * self.after_sweep) {
            return;
        }
        let before = self.keys.len();
        self.keys.retain(|_, state| state.tat > now);
        self.totals.evicted += (before - self.keys.len()) as u64;
        self.after_sweep = self.keys.len();
    }
}
