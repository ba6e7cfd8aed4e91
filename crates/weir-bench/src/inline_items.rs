//! The items of the inline rows (issue 12) and the per-item work, the
//! same on weir's side and the hand-written side.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use weir_packet::{Malformation, Packet, Reading};

use crate::work::Work;

/// One item in this many fails (1 %): `try_map`'s errors, malformed frames.
pub(crate) const BAD_EVERY: u64 = 100;

/// Distinct frames in the block the packet rows cycle through.
const BLOCK: u64 = 1000;

/// Readings of the "256-byte" packets: 30 + 5 × 45 = 255-byte frames, the
/// largest below 256 (frames grow in steps of 5 bytes).
pub(crate) const LARGE: u8 = 45;

/// Readings of the ingest job's packets (the TCP and Redis cases): 50-byte
/// frames.
pub(crate) const SMALL: u8 = 4;

/// Pre-encoded frames, each in an allocation of its own, shared by runs.
pub(crate) type Block = Arc<[Bytes]>;

/// `BLOCK` frames of `readings` readings (30 + 5 × `readings` bytes);
/// every `BAD_EVERY`-th is malformed, cycling through every
/// [`Malformation`] (a truncated frame is shorter, one with a bad reading
/// longer).
pub(crate) fn block(readings: u8) -> Block {
    let mut kinds = Malformation::ALL.iter().cycle();
    (0..BLOCK)
        .map(|i| {
            let readings = (0..readings).map(|s| Reading::new(s, i as f32 + f32::from(s)));
            let packet = Packet::new((i % 100) as u32, i, 1_700_000_000_000 + i, readings);
            match i % BAD_EVERY {
                0 => kinds.next().expect("cycles").frame(&packet),
                _ => packet.encode(),
            }
        })
        .collect()
}

/// `items` frames from the block, each a clone of its `Bytes` (as a
/// reader hands out frames it owns); the same source on both sides.
pub(crate) fn frames(block: Block, items: u64) -> impl Iterator<Item = Bytes> + Send + 'static {
    (0..items).map(move |i| block[(i % BLOCK) as usize].clone())
}

/// The failures in `items` items of any fallible row.
pub(crate) fn failures(items: u64) -> u64 {
    items.div_ceil(BAD_EVERY)
}

/// The error of [`checked`]'s unlucky items.
#[derive(Debug)]
pub(crate) struct Unlucky(pub(crate) u64);

impl fmt::Display for Unlucky {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "item {} is unlucky", self.0)
    }
}

impl std::error::Error for Unlucky {}

/// The trivial work, failing for one item in `BAD_EVERY`.
pub(crate) fn checked(i: u64) -> Result<u64, Unlucky> {
    if i.is_multiple_of(BAD_EVERY) { Err(Unlucky(i)) } else { Ok(Work::Trivial.run(i)) }
}

/// The filter of the first row: keeps 7 items in 8.
pub(crate) fn keep(v: &u64) -> bool {
    v & 7 != 0
}

/// What a packet adds to the checksum.
pub(crate) fn key(p: &Packet) -> u64 {
    p.sequence() ^ u64::from(p.device())
}

/// Decodes a frame that stays where it is (for `try_map_ref`): `decode`
/// takes a `Bytes`, so it gets a clone, as in the hand-written loops,
/// which keep the frame for its dead letter too.
pub(crate) fn decode_frame(frame: &Bytes) -> Result<Packet, weir_packet::DecodeError> {
    weir_packet::decode(frame.clone())
}

/// The fan-out's work on a packet.
pub(crate) fn work(p: &Packet) -> u64 {
    Work::Trivial.run(key(p))
}
