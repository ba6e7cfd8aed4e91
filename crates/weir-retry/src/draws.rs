//! The random draws behind jitter: one reproducible stream per item, and
//! no lock.
//!
//! A policy hands each item, the first time it jitters a delay for it, a
//! seed of its own: the policy's seed mixed with a counter (one atomic add
//! per item, shared by the policy's clones). The item's draw for the retry
//! after attempt `n` is then a pure function of its seed and `n`
//! (SplitMix64, Steele, Lea and Flood, "Fast splittable pseudorandom number
//! generators", OOPSLA 2014). So workers never wait for each other to
//! draw, an item's delays do not depend on how other items' retries
//! interleave with its own, and deciding twice for one attempt draws the
//! same number. The generator is written out here rather than taken from
//! `rand`, whose `SmallRng` may change between versions and platforms: a
//! seeded policy gives the same delays on every build.

use std::sync::atomic::{AtomicU64, Ordering};

/// SplitMix64's increment: the golden ratio in 64-bit fixed point.
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function: a bijection that scatters close inputs.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The `index`-th output of the SplitMix64 stream that starts at `seed`.
fn nth(seed: u64, index: u64) -> u64 {
    mix(seed.wrapping_add(index.wrapping_mul(GAMMA)))
}

/// Gives each item its stream: the policy's seed and how many items came
/// before it.
#[derive(Debug)]
pub(crate) struct Seeds {
    seed: u64,
    items: AtomicU64,
}

impl Seeds {
    pub(crate) fn new(seed: u64) -> Self {
        Self { seed, items: AtomicU64::new(0) }
    }

    /// The stream of the next item to ask.
    pub(crate) fn next_item(&self) -> ItemDraws {
        let rank = self.items.fetch_add(1, Ordering::Relaxed);
        ItemDraws { seed: nth(self.seed, rank) }
    }
}

/// One item's random stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ItemDraws {
    seed: u64,
}

impl ItemDraws {
    /// A uniform sample in `[0, 1)` for the retry after failed attempt
    /// `number`: the same for the same item and number.
    pub(crate) fn unit(self, number: u32) -> f64 {
        // The top 53 bits, the precision of an f64 in [0, 1).
        (nth(self.seed, u64::from(number)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_its_reference_outputs() {
        // The first outputs of SplitMix64 seeded with 0 (the reference
        // implementation: state += GAMMA, then mix).
        let first: Vec<u64> = (1..=3).map(|i| nth(0, i)).collect();
        assert_eq!(first, [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F]);
    }

    #[test]
    fn items_get_distinct_reproducible_streams() {
        let (a, b) = (Seeds::new(7), Seeds::new(7));
        let (a0, a1, b0) = (a.next_item(), a.next_item(), b.next_item());
        assert_eq!(a0.unit(1), b0.unit(1), "same seed, same rank: same draws");
        assert_ne!(a0.unit(1), a1.unit(1), "another item draws another number");
        assert_ne!(a0.unit(1), a0.unit(2), "another attempt draws another number");
    }

    #[test]
    fn units_are_in_zero_one_and_spread() {
        let item = Seeds::new(1).next_item();
        let units: Vec<f64> = (0..10_000).map(|n| item.unit(n)).collect();
        assert!(units.iter().all(|u| (0.0..1.0).contains(u)));
        let mean = units.iter().sum::<f64>() / units.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "mean {mean}");
        let low = units.iter().filter(|u| **u < 0.1).count();
        assert!((800..1200).contains(&low), "{low} of 10 000 below 0.1");
    }
}
