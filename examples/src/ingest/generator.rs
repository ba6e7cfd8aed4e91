//! A seeded generator of telemetry frames: the ingest job's default
//! source, and the `send` client's traffic.

use bytes::Bytes;
use weir_packet::{Malformation, Packet, Reading};

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Generator {
    /// Packets to generate (duplicates included).
    pub packets: u64,
    /// Devices they come from, round-robin.
    pub devices: u32,
    /// The share of frames broken on purpose, each way the decoder
    /// names in turn (0.01 = 1 %).
    pub malformed: f64,
    /// The share of good packets sent a second time, as a retrying
    /// client would.
    pub duplicates: f64,
    /// The seed: the same seed generates the same frames.
    pub seed: u64,
}

impl Default for Generator {
    fn default() -> Self {
        Self { packets: 1_000_000, devices: 1_000, malformed: 0.0, duplicates: 0.0, seed: 1 }
    }
}

/// One generated frame and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// The frame's bytes.
    pub frame: Bytes,
    /// What the frame is.
    pub kind: Kind,
}

/// What a generated frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A packet seen for the first time.
    Good,
    /// A good packet sent again.
    Duplicate,
    /// Broken on purpose.
    Malformed(Malformation),
}

/// What a run of the generator produced, to reconcile with a store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Distinct good packets.
    pub good: u64,
    /// Good packets sent again.
    pub duplicates: u64,
    /// Malformed frames, by decoder reason.
    pub malformed: std::collections::BTreeMap<&'static str, u64>,
}

impl Tally {
    /// Counts `kind`.
    pub fn count(&mut self, kind: Kind) {
        match kind {
            Kind::Good => self.good += 1,
            Kind::Duplicate => self.duplicates += 1,
            Kind::Malformed(m) => *self.malformed.entry(m.reason()).or_default() += 1,
        }
    }

    /// Every frame counted.
    pub fn total(&self) -> u64 {
        self.good + self.duplicates + self.malformed.values().sum::<u64>()
    }
}

impl Generator {
    /// The frames, lazily.
    pub fn frames(&self) -> impl Iterator<Item = Generated> + Send + use<> {
        let plan = *self;
        let mut rng = SplitMix64(plan.seed);
        let mut next_good = 0u64;
        let mut broken = 0usize;
        (0..plan.packets).map(move |_| {
            let roll = rng.unit();
            if roll < plan.malformed {
                let kind = Malformation::ALL[broken % Malformation::ALL.len()];
                broken += 1;
                let packet = packet(next_good, plan.devices, &mut rng);
                return Generated { frame: kind.frame(&packet), kind: Kind::Malformed(kind) };
            }
            if next_good > 0 && roll < plan.malformed + plan.duplicates {
                // A packet already sent, again: the same bytes.
                let earlier = rng.next() % next_good;
                let mut again = SplitMix64(plan.seed ^ earlier.wrapping_mul(0x9e37_79b9_7f4a_7c15));
                let packet = packet(earlier, plan.devices, &mut again);
                return Generated { frame: packet.encode(), kind: Kind::Duplicate };
            }
            let n = next_good;
            next_good += 1;
            let mut fields = SplitMix64(plan.seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            Generated { frame: packet(n, plan.devices, &mut fields).encode(), kind: Kind::Good }
        })
    }

    /// What [`frames`](Self::frames) will produce, counted.
    pub fn tally(&self) -> Tally {
        let mut tally = Tally::default();
        for generated in self.frames() {
            tally.count(generated.kind);
        }
        tally
    }
}

/// The `n`-th distinct packet: device `n % devices`, its sequence
/// `n / devices`, four readings drawn from `rng`.
fn packet(n: u64, devices: u32, rng: &mut SplitMix64) -> Packet {
    let devices = u64::from(devices.max(1));
    let device = u32::try_from(n % devices).expect("below a u32 device count");
    let readings = (0..4u8).map(|sensor| Reading::new(sensor, (rng.unit() * 100.0) as f32));
    Packet::new(device, n / devices, 1_700_000_000_000 + n, readings)
}

/// A small, fast, seedable generator (SplitMix64): the same seed gives
/// the same frames on every platform and version.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_generates_the_same_frames_and_duplicates_are_exact_copies() {
        let plan = Generator { packets: 2_000, devices: 10, malformed: 0.06, duplicates: 0.1, seed: 7 };
        let a: Vec<_> = plan.frames().collect();
        assert_eq!(a, plan.frames().collect::<Vec<_>>());
        let goods: std::collections::HashSet<_> =
            a.iter().filter(|g| g.kind == Kind::Good).map(|g| g.frame.clone()).collect();
        for dup in a.iter().filter(|g| g.kind == Kind::Duplicate) {
            assert!(goods.contains(&dup.frame), "a duplicate resends a good packet's bytes");
        }
        let tally = plan.tally();
        assert_eq!(tally.total(), 2_000);
        assert_eq!(tally.malformed.len(), Malformation::ALL.len(), "every way of breaking a frame");
        assert!((80..160).contains(&tally.malformed.values().sum::<u64>()), "{tally:?}");
        assert!((120..280).contains(&tally.duplicates), "{tally:?}");
    }

    #[test]
    fn every_generated_frame_decodes_as_its_kind_says() {
        let plan = Generator { packets: 600, devices: 7, malformed: 0.2, duplicates: 0.1, seed: 3 };
        for g in plan.frames() {
            match (g.kind, weir_packet::decode(g.frame.clone())) {
                (Kind::Malformed(m), Err(e)) => assert_eq!(e.reason(), m.reason()),
                (Kind::Good | Kind::Duplicate, Ok(_)) => {}
                (kind, result) => panic!("{kind:?} decoded to {result:?}"),
            }
        }
    }
}
